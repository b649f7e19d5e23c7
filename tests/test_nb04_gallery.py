"""Notebook 04's troubleshooting gallery with the shipped U-Net, at the notebook's quick-mode budget: every bug
row looks broken in the way its explanation says, measured, and the mechanisms the explanations give hold.

"Looks broken" is measured against correct samples: the statistic a row's explanation names
(``troubleshooting.SYMPTOMS``: the black background, saturation, the brightest pixel, speckle, brightness) is
averaged over the row's n images and must lie outside the whole range that every set of n correct samples from
a pool spans (all 220 three-image subsets of 12 correct samples drawn with another seed). A row inside that
range could be a set of correct samples; the correct row itself must be inside on every statistic.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

from ddpm_helpers import UNET_RECIPE, UNet, UNetConfig, ddim_sample, load_fashion_mnist, load_pretrained, train
from ddpm_helpers.lessons.unet import troubleshooting as tr

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_unet_fashion_mnist.ipynb"
N, STEPS = 3, 50          # the notebook's quick budget: n=budget(6, 3), steps=budget(250, 50)
POOL = 12                 # correct samples (seed 1) whose 3-image subsets span "what correct rows look like"


def test_the_notebook_runs_the_gallery_at_this_budget():
    src = "".join("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"])
    assert f"n=budget(6, {N})" in src and f"steps=budget(250, {STEPS})" in src


@pytest.fixture(scope="module")
def unet():
    model, sched, _ = load_pretrained("fashion_unet")
    return model, sched


@pytest.fixture(scope="module")
def gallery(unet, fashion_dir):
    model, sched = unet
    x_train, _ = load_fashion_mnist("train")
    # the notebook's quick training run (6 steps at batch 16 with the recipe): its live weights feed one row
    live = train(UNet(UNetConfig(base_channels=32)), x_train, sched, steps=6, seed=0, progress=False,
                 **{**UNET_RECIPE, "batch_size": 16, "warmup": 6}).model
    return tr.troubleshooting_gallery(model, sched, n=N, steps=STEPS, seed=0, live_model=live)


@pytest.fixture(scope="module")
def correct_ranges(unet):
    model, sched = unet
    stats = tr.image_statistics(tr.sample_correct(model, sched, n=POOL, steps=STEPS, seed=1).x0)
    subsets = torch.tensor(list(itertools.combinations(range(POOL), N)))  # (220, 3)
    return {k: (v[subsets].mean(1).min().item(), v[subsets].mean(1).max().item()) for k, v in stats.items()}


def test_the_correct_row_looks_like_correct_samples(gallery, correct_ranges):
    s = tr.image_statistics(gallery["correct"][1])
    for k, (lo, hi) in correct_ranges.items():
        assert lo <= s[k].mean().item() <= hi, (k, s[k].mean().item(), lo, hi)


@pytest.mark.parametrize("key", list(tr.SYMPTOMS))
def test_every_bug_row_is_outside_what_correct_rows_span(gallery, correct_ranges, key):
    stat, way = tr.SYMPTOMS[key]
    value = tr.image_statistics(gallery[key][1])[stat].mean().item()
    lo, hi = correct_ranges[stat]
    assert (value < lo) if way == "low" else (value > hi), (key, stat, value, lo, hi)
    fmt = "+.2f" if stat in ("brightness", "peak") else ".2f"
    assert f"**{value:{fmt}}**" in tr.gallery_statistics_markdown({key: gallery[key]})  # the table marks it


def test_the_statistics_measure_what_they_name():
    x = torch.full((2, 1, 4, 4), -1.0)
    x[1, 0, 0, 0] = 3.0                      # one saturated white pixel in image 1
    s = tr.image_statistics(x)
    assert s["background"].tolist() == [1.0, 15 / 16] and s["saturated"].tolist() == [0.0, 1 / 16]
    assert s["peak"].tolist() == [-1.0, 3.0] and s["speckle"][0].item() == 0.0
    # speckle: image 1 differs from its neighbours by 4 at 1 of 12 horizontal and 1 of 12 vertical pairs
    assert s["speckle"][1].item() == pytest.approx(4 / 12, rel=1e-6)
    with pytest.raises(ValueError, match="x must be an"):
        tr.image_statistics(torch.zeros(4, 4))


def test_wrong_axis_noise_factor_is_the_ratio_of_the_two_coefficients(linear1000):
    ts, f = tr.wrong_axis_noise_factor(linear1000, linear1000.T)
    b, ab = linear1000.host64.betas, linear1000.host64.alpha_bars
    # with all T steps: the buggy coefficient sqrt(beta_t) over the correct beta_t / sqrt(1 - abar_t)
    want = b.sqrt() / (b / (1 - ab).sqrt())
    # the schedule's float64 tables on both sides; the function re-forms beta'_k as a ratio of cumulative
    # products, which loses a few float64 ulps times T
    torch.testing.assert_close(f, want, rtol=1e-9, atol=0)
    assert ts == list(range(1000))
    late = f[100:]
    assert 7.0 < late.min().item() < 7.1 and 10.0 < late.max().item() < 10.1  # 7.1-10.1x for t >= 100
    _, f50 = tr.wrong_axis_noise_factor(linear1000, STEPS)
    assert 1.6 < f50[5:].min().item() and f50.max().item() < 2.5  # 1.7-2.4x at the quick gallery's 50 steps


def test_wrong_axis_removes_the_noise_too_early(unet):
    # the mechanism in the docstring: x's spread falls far below the noise level of its t within the first steps
    # (the correct sampler keeps it near 1 until its last quarter), and the sample ends faint
    model, sched = unet
    good = tr._ancestral(model, sched, 2, STEPS, 0, tr._step_correct, return_trajectory=True).trajectory
    bad = tr._ancestral(model, sched, 2, STEPS, 0, tr._step_schedule_wrong_axis, return_trajectory=True).trajectory
    spread_good, spread_bad = good.flatten(2).std(2).mean(1), bad.flatten(2).std(2).mean(1)  # (STEPS + 1,)
    assert spread_good[:STEPS // 2].min() > 0.9   # sqrt(abar x0-variance + 1 - abar) stays near 1 at large t
    assert spread_bad[2:STEPS // 2].max() < 0.75  # the bug: a quarter of the noise gone after two steps


def test_uniform_noise_only_in_x_T_leaves_garments_with_the_ancestral_sampler(unet, gallery, correct_ranges):
    # the docstring's second paragraph: x_T alone from torch.rand still gives garments with DDPM's fresh noise (no
    # saturation, background and speckle like correct samples), only brighter than the correct row from the same
    # seed; deterministic DDIM (eta = 0) decodes the same kind of uniform x_T to a white image
    model, sched = unet
    s = tr.image_statistics(tr._ancestral(model, sched, N, STEPS, 0, tr._step_correct, uniform="x_T").x0)
    for k in ("saturated", "background", "speckle"):
        lo, hi = correct_ranges[k]
        assert lo <= s[k].mean().item() <= hi, (k, s[k].mean().item(), lo, hi)
    right = tr.image_statistics(gallery["correct"][1])
    assert s["brightness"].mean() > right["brightness"].mean() + 0.1  # measured: -0.14 against -0.39
    x_T = torch.rand((N, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    white = ddim_sample(model, sched, x_T, steps=STEPS, eta=0.0).x0
    assert (white > 1.1).float().mean() > 0.9


def test_uniform_argument_is_checked(unet):
    model, sched = unet
    with pytest.raises(ValueError, match="uniform must be 'none', 'x_T' or 'all'.*'z'"):
        tr._ancestral(model, sched, 1, 2, 0, tr._step_correct, uniform="z")


def test_the_wrong_axis_sentence_reports_both_budgets(gallery):
    text = gallery["schedule_wrong_axis"][2]
    assert f"with this gallery's {STEPS} steps" in text and "7.1–10.1x with all 1000" in text
