"""Notebook 06's cross-check (lessons/ddim/crosscheck.py): diffusers' DDIMScheduler beside ours, and the
notebook going on where diffusers is not installed (a plain `pip install`, the floors environment)."""
from __future__ import annotations

import sys

import pytest
import torch

from ddpm_helpers.core.sampling import ddim_sample, ddim_timesteps
from ddpm_helpers.core.schedules import NoiseSchedule
from ddpm_helpers.lessons.ddim.crosscheck import MISSING, diffusers_ddim_sample


def test_crosscheck_matches_our_sampler(tiny_model):
    pytest.importorskip("diffusers")
    x_T = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(5))
    ours = ddim_sample(tiny_model, NoiseSchedule.linear(1000), x_T, steps=10, eta=0.0).x0
    x, timesteps = diffusers_ddim_sample(tiny_model, x_T, steps=10)
    assert timesteps == ddim_timesteps(1000, 10)
    # ten deterministic steps; the two schedules' alpha_bars differ by float32 round-off (< 2e-6 relative,
    # tests/test_diffusers_parity.py), amplified by 1/sqrt(alpha_bar) at t = 999: 1e-3 is well above that
    torch.testing.assert_close(x, ours, rtol=1e-3, atol=1e-3)
    assert (x - x_T).abs().max() > 0.1, "the run must actually move the sample"


def test_crosscheck_without_diffusers_says_so_and_returns_none(tiny_model, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # `import diffusers` raises ImportError
    assert diffusers_ddim_sample(tiny_model, torch.zeros(1, 1, 4, 4), steps=2) is None
    out = capsys.readouterr().out
    assert out.strip() == MISSING and "pip install diffusers" in out
