"""Shipped weights: they load offline, stay within their size limits, and their model cards are true.

The U-Net card's metrics come from ``ddpm_helpers/weights/fashion_unet.metrics.json`` (written by
``python -m ddpm_helpers.cli.pretrained evaluate-unet``). This test re-measures the small regeneration
check stored there (same sampler, n and seed) from the shipped weights, and checks that the card's
markdown is the one written from that JSON.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from ddpm_helpers.cli.pretrained import metrics_markdown, regenerate_check, write_metrics_card
from ddpm_helpers.core.checkpoints import PRETRAINED, load_checkpoint, load_pretrained
from ddpm_helpers.core.paths import WEIGHTS_DIR
from ddpm_helpers.core.classifier import FashionClassifier, classifier_accuracy
from ddpm_helpers.core.models import UNet

LIMITS_MB = {"fashion_unet": 20, "fashion_cond_unet": 20, "fashion_classifier": 5}


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_shipped_weights_load_offline_within_size(name):
    path = WEIGHTS_DIR / f"{name}.pt"
    assert path.stat().st_size / 1e6 <= LIMITS_MB[name]
    model, sched, meta = load_pretrained(name)
    card = (WEIGHTS_DIR / f"{name}.md").read_text()
    # the command recorded when the weights were trained (before the cli/ layout: ddpm_helpers.pretrained)
    assert meta["command"] in card and re.search(r"python -m ddpm_helpers\.(cli\.)?(pretrained|conditional)",
                                                 meta["command"])
    assert "hardware" in card and str(meta["train_seconds"]) in card
    if name in ("fashion_unet", "fashion_cond_unet"):
        assert isinstance(model, UNet) and sched.T == 1000
        labels = torch.tensor([9, 10]) if model.config.num_classes else None  # a class and the null label
        x = model(torch.zeros(2, 1, 28, 28), torch.tensor([0, 999]), labels)
        assert x.shape == (2, 1, 28, 28) and torch.isfinite(x).all()
        assert model.config.num_classes == (10 if name == "fashion_cond_unet" else 0)
    else:
        assert isinstance(model, FashionClassifier) and sched is None


def test_load_pretrained_unknown_name():
    with pytest.raises(ValueError, match="fashion_unet"):
        load_pretrained("imagenet_unet")


def test_classifier_card_accuracy_is_true(fashion_dir):
    from ddpm_helpers.core.data import load_fashion_mnist

    model, _, meta = load_pretrained("fashion_classifier")
    x, y = load_fashion_mnist("test")
    acc = classifier_accuracy(model, x, y)
    assert acc == pytest.approx(meta["test_accuracy"], abs=2e-4)
    assert f"{meta['test_accuracy']:.4f}" in (WEIGHTS_DIR / "fashion_classifier.md").read_text()


@pytest.fixture(scope="module")
def unet_metrics():
    path = WEIGHTS_DIR / "fashion_unet.metrics.json"
    assert path.is_file(), ("fashion_unet.metrics.json is missing: run "
                            "python -m ddpm_helpers.cli.pretrained evaluate-unet")
    return json.loads(path.read_text())


def test_unet_metrics_belong_to_the_shipped_weights(unet_metrics):
    _, _, meta = load_pretrained("fashion_unet")
    assert unet_metrics["weights_steps"] == meta["steps"], (
        "fashion_unet.pt was retrained after its metrics were measured: run "
        "python -m ddpm_helpers.cli.pretrained evaluate-unet")
    card = (WEIGHTS_DIR / "fashion_unet.md").read_text()
    assert metrics_markdown(unet_metrics) in card, "the card's metrics section is not the one written from the JSON"
    for r in unet_metrics["samplers"].values():
        floor = unet_metrics["floors"][str(r["n"])]
        assert r["n"] >= 2 and sum(r["class_histogram"]) == r["n"] and floor["fid"] >= 0


def test_unet_card_metrics_regenerate(unet_metrics, fashion_dir):
    model, sched, _ = load_pretrained("fashion_unet")
    stored = unet_metrics["check"]
    fresh = regenerate_check(model, sched, stored)
    # same weights, sampler (deterministic DDIM), seed and n: only float round-off differs between machines
    assert fresh["n"] == stored["n"]
    assert fresh["fid"] == pytest.approx(stored["fid"], rel=0.03, abs=0.05)
    assert fresh["kid"] == pytest.approx(stored["kid"], rel=0.05, abs=5e-4)
    assert np.abs(np.array(fresh["class_histogram"]) - stored["class_histogram"]).max() <= 1


def test_write_metrics_card_replaces_the_section(tmp_path):
    m = {"command": "python -m ddpm_helpers.cli.pretrained evaluate-unet", "hardware": "cpu", "threads": 1,
         "date": "today", "n_reference": 10000,
         "samplers": {"ddim50": {"n": 8, "fid": 1.5, "kid": 0.001, "kid_std": 0.0005, "seconds": 3,
                                 "class_histogram": [1] * 8 + [0, 0]}},
         "floors": {"8": {"fid": 1.0, "kid": 0.0, "kid_std": 0.001}},
         "check": {"sampler": "ddim20", "n": 8, "seed": 1, "fid": 2.0, "kid": 0.002, "class_histogram": [0] * 10}}
    card = tmp_path / "x.md"
    card.write_text("# x\n\n## Training\n\n- steps: 1\n\n## Metrics\n\nold numbers\n")
    write_metrics_card(card, m)
    text = card.read_text()
    assert "old numbers" not in text and "- steps: 1" in text and "| 8 | 1.50 | 1.00 |" in text
    assert text.count("## Metrics") == 1


def test_unet_card_training_section_is_the_checkpoint(fashion_dir):
    """The card's training facts and its quality-during-training table are what the checkpoint recorded."""
    from ddpm_helpers.core.metrics import real_floor

    _, _, meta = load_pretrained("fashion_unet")
    card = (WEIGHTS_DIR / "fashion_unet.md").read_text()
    facts = dict(re.findall(r"^- \*\*(\w+)\*\*: (.+)$", card, re.MULTILINE))
    for key in ("steps", "batch_size", "lr", "lr_decay", "min_snr_gamma", "precision", "amx", "train_seconds"):
        assert facts[key] == str(meta[key]), (key, facts[key], meta[key])
    curve = meta.get("curve") or []
    rows = [line for line in card.splitlines() if re.match(r"^\| \d+ \| ", line)]
    assert len(rows) == len(curve)
    for line, p in zip(rows, curve):
        assert line == f"| {p['step']} | {p['minutes']:.1f} | {p['fid']:.2f} | {1e3 * p['kid']:.1f} |"
    if curve:
        n = curve[0]["n"]
        assert f"the floor at this n, {n} training images: FID {real_floor(n)['fid']:.2f}" in card


def test_train_unet_command_takes_the_recipe_flags(tmp_path, fashion_dir):
    """``train-unet``: the recipe's flags (shared with benchmarks/time_to_quality.py) reach the training run,
    and the checkpoint and its card record them."""
    from ddpm_helpers.cli.pretrained import main

    out = tmp_path / "tiny_unet.pt"
    main(["train-unet", "--steps", "3", "--minutes", "5", "--curve-every", "0", "--base-channels", "8",
          "--batch-size", "4", "--lr", "1e-3", "--warmup", "2", "--no-ema-warmup", "--min-snr-gamma", "3",
          "--amp", "off", "--threads", "1", "--out", str(out)])
    model, sched, meta = load_checkpoint(out)
    assert meta["steps"] == 3 and meta["batch_size"] == 4 and meta["lr"] == 1e-3 and meta["warmup"] == 2
    assert meta["ema_warmup"] is False and meta["min_snr_gamma"] == 3 and meta["precision"] == "off"
    assert model.config.base_channels == 8 and sched.T == 1000
    assert "- **ema_warmup**: False" in out.with_suffix(".md").read_text()
