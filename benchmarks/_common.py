"""Shared bits of the benchmark scripts: hardware, commit, JSON output, interleaved timing."""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch

from ddpm_helpers.core.checkpoints import load_checkpoint, load_pretrained
from ddpm_helpers.core.runtime import hardware_summary
from ddpm_helpers.ui.tables import markdown_table

# $DDPM_BENCH_RESULTS redirects the JSON (the smoke tests use it so they never touch results/)
RESULTS = Path(os.environ.get("DDPM_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")


def environment(device: torch.device) -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = "unknown"
    return {"hardware": hardware_summary(device), "device": str(device), "torch": torch.__version__,
            "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
            "date": datetime.datetime.now().isoformat(timespec="seconds"), "commit": commit}


def load_model(weights: str, device: torch.device):
    """``(model, sched, meta)`` from shipped weights by name ("fashion_unet") or a checkpoint file's path."""
    if weights == "fashion_unet":
        return load_pretrained(weights, device=device)
    if not Path(weights).is_file():
        raise ValueError(f"--weights must be 'fashion_unet' or a checkpoint file, got {weights!r}")
    model, sched, meta = load_checkpoint(weights, device=device)
    if sched is None:
        raise ValueError(f"--weights {weights!r} holds no noise schedule; "
                         "save it with save_checkpoint(path, model, sched)")
    return model, sched, meta


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=float))
    print(f"wrote {path}")
    return path


def interleave(fns: dict, rounds: int, sync=lambda: None) -> dict:
    """Time each callable ``rounds`` times, round-robin, so a noisy machine hits them alike.

    Returns {name: [seconds, ...]}.
    """
    out = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            out[k].append(time.perf_counter() - t0)
    return out


def median(xs):
    return statistics.median(xs)


def table(rows: list[dict], cols: list[str]) -> str:
    """``rows`` as a Markdown table with the columns ``cols`` (a missing value is an empty cell)."""
    return markdown_table(cols, [[r.get(c, "") for c in cols] for r in rows])
