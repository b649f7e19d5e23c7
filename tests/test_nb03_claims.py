"""Notebook 03's claims about its trained model, measured at the quick-mode budget the notebook runs in CI.

The summary says most samples land on the moons (Chamfer within a small factor of the real-against-real floor, a
few percent of the points between the moons) and that the mass split is measured; section 2 says the network's
field points the optimal way at t = 10 while its length differs far from the data. With 1000 training steps
(the old quick budget) the samples were 1.9x the Chamfer floor with many points between the moons, so the
budget is part of the claim: the first test ties the notebook to it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ddpm_helpers import NoiseSchedule, TimeMLP, ddpm_sample, make_moons_data, train
from ddpm_helpers.core.metrics import chamfer_distance, moons_floor
from ddpm_helpers.core.moons import moons_mass_split, off_moons_fraction
from ddpm_helpers.lessons.moons import denoiser_fields

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_moons_denoiser.ipynb"
QUICK_STEPS, N_SAMPLES = 2000, 1000   # the notebook's budget(3000, 2000) training steps, budget(2000, 1000) points


def test_notebook_trains_with_the_measured_budget():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert f"steps=budget(3000, {QUICK_STEPS})" in code and f"budget(2000, {N_SAMPLES})" in code


@pytest.fixture(scope="module")
def quick_run():
    """The notebook's run in quick mode: the same data, seeds, model, training and sampler."""
    data = make_moons_data(10000, seed=0)
    sched = NoiseSchedule.linear(1000)
    torch.manual_seed(0)   # setup_notebook(0) seeds torch; TimeMLP() is the first draw after it
    result = train(TimeMLP(), data, sched, steps=QUICK_STEPS, batch_size=256, lr=2e-3, seed=0, progress=False)
    x_T = torch.randn((N_SAMPLES, 2), generator=torch.Generator().manual_seed(1))
    samples = ddpm_sample(result.ema, sched, x_T, generator=torch.Generator().manual_seed(2)).x0
    return data, sched, result, samples


def test_quick_samples_land_on_the_moons(quick_run):
    data, _, _, samples = quick_run
    ref = make_moons_data(N_SAMPLES, seed=123)
    ratio = chamfer_distance(samples, ref) / moons_floor(n=N_SAMPLES)["chamfer"]
    # measured on this CPU: 1.23x and 2.1 % at 2000 steps (3000: 1.17x, 1.3 %; 1000: 1.9x); seeds 1-3 gave 1.18-1.24x
    assert ratio < 1.5, ratio
    assert off_moons_fraction(samples) < 0.05
    split = moons_mass_split(samples)
    assert split["lo"] <= 0.5 <= split["hi"], split


def test_quick_field_points_the_optimal_way_but_differs_in_length_at_t10(quick_run):
    data, sched, result, _ = quick_run
    f = denoiser_fields(result.ema, data, sched, (10, 600))
    # the notebook's words: directions agree (cosine near 1), lengths differ much at t = 10, agree at t = 600
    assert f["direction_cosine"][10] > 0.85 and f["direction_cosine"][600] > 0.95
    assert f["relative_difference"][10] > 0.5 and f["relative_difference"][600] < 0.1
