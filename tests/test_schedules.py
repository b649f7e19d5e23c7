"""NoiseSchedule: pinned reference numbers, float64 derivation, immutability, moving.

Reference numbers are hand computations of the formulas (0-indexed t, as in diffusers):
alpha_bars[t] = prod_{s<=t} (1 - betas[s]) with betas = linspace(1e-4, 0.02, T).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from ddpm_helpers.core.schedules import NoiseSchedule


# ----------------------------------------------------------------------------- pinned numbers
@pytest.mark.parametrize("t, expected, half_unit", [
    (10, 0.99781, 5e-6), (250, 0.52142, 5e-6), (500, 0.07780, 5e-6), (999, 4.04e-5, 5e-8),
])
def test_linear_alpha_bar_pinned(linear1000, t, expected, half_unit):
    # within half a unit of the last pinned digit
    assert linear1000.alpha_bars[t].item() == pytest.approx(expected, abs=half_unit)


def test_cosine_alpha_bar_pinned(cosine1000):
    assert cosine1000.alpha_bars[500].item() == pytest.approx(0.49229, abs=5e-6)
    # cosine keeps far more signal half-way than linear (Nichol & Dhariwal's point)
    assert cosine1000.alpha_bars[500] > 6 * NoiseSchedule.linear(1000).alpha_bars[500]


def test_linear_posterior_variance_pinned(linear1000):
    # float64 hand computation of Ho et al. eq. 7 at t = 487 (0-indexed); diffusers pins 0.00979
    b = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    ab = np.cumprod(1 - b)
    t = 487
    expected = b[t] * (1 - ab[t - 1]) / (1 - ab[t])
    assert expected == pytest.approx(0.0097916, rel=1e-4)
    assert linear1000.posterior_variance[t].item() == pytest.approx(expected, rel=1e-6)


def test_first_entries(sched1000):
    assert sched1000.posterior_variance[0].item() == 0.0
    assert sched1000.alpha_bars_prev[0].item() == 1.0
    torch.testing.assert_close(sched1000.alpha_bars_prev[1:], sched1000.alpha_bars[:-1], rtol=0, atol=0)


def test_linear_betas_endpoints(linear1000):
    assert linear1000.betas[0].item() == pytest.approx(1e-4, rel=1e-6)
    assert linear1000.betas[-1].item() == pytest.approx(0.02, rel=1e-6)
    assert (linear1000.betas[1:] > linear1000.betas[:-1]).all()


def test_cosine_betas_match_formula(cosine1000):
    T, s = 1000, 0.008
    f = lambda u: math.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 1, 250, 500, 998):
        expected = min(1 - f(t + 1) / f(t), 0.999)
        assert cosine1000.betas[t].item() == pytest.approx(expected, rel=1e-6)
    # the last beta is capped at max_beta
    assert cosine1000.betas[-1].item() == pytest.approx(0.999, rel=1e-6)
    # alpha_bar(t) = f(t + 1) / f(0) while no beta is capped
    assert cosine1000.alpha_bars[500].item() == pytest.approx(f(501) / f(0), rel=1e-5)


# ----------------------------------------------------------------------------- derived quantities
def test_float64_derivation_exact(sched1000):
    b = sched1000.betas.double()  # float32 betas: linear/cosine were made in float64 first
    # rebuild from the float64 betas exactly as the formulas say, then cast once: the library's own torch ops on
    # the same shapes, so the same kernels and the same bits on any CPU (this checks where the casts are)
    b64 = (torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64) if sched1000.kind == "linear"
           else _cosine_betas64(1000))
    assert torch.equal(b64.float(), sched1000.betas)
    ab64 = torch.cumprod(1 - b64, 0)
    assert torch.equal(ab64.float(), sched1000.alpha_bars)
    assert torch.equal((1 - b64).float(), sched1000.alphas)
    # a float32 cumprod would NOT match exactly: the derivation really is in float64
    assert not torch.equal(torch.cumprod(1 - b, 0).float(), sched1000.alpha_bars)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), ab64[:-1]])
    assert torch.equal((b64 * (1 - prev) / (1 - ab64)).float(), sched1000.posterior_variance)
    assert torch.equal((ab64 / (1 - ab64)).float(), sched1000.snr)


def _cosine_betas64(T, s=0.008):
    u = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=0.999)


def test_snr(sched1000):
    ab = sched1000.alpha_bars.double()
    # snr was derived in float64; recomputing it from the float32 alpha_bars loses up to
    # eps32 * ab / (1 - ab) relatively (the cancellation in 1 - ab), plus the final cast
    eps32 = torch.finfo(torch.float32).eps
    rel = ((sched1000.snr.double() - ab / (1 - ab)) / (ab / (1 - ab))).abs()
    assert (rel <= eps32 * ab / (1 - ab) + 2 * eps32).all()
    assert (sched1000.snr[1:] < sched1000.snr[:-1]).all(), "SNR must fall monotonically with t"
    torch.testing.assert_close(sched1000.snr_db(), 10 * torch.log10(sched1000.snr))


def test_dtype_shape_T(sched1000):
    for f in dataclasses.fields(sched1000):
        v = getattr(sched1000, f.name)
        if isinstance(v, torch.Tensor):
            assert v.dtype == torch.float32, f.name
            assert v.shape == (1000,), f.name
    assert sched1000.T == 1000
    assert NoiseSchedule.linear(7).T == 7
    assert isinstance(sched1000.T, int)


def test_from_betas_custom():
    s = NoiseSchedule.from_betas([0.1, 0.2, 0.5])
    assert s.kind == "custom" and s.T == 3
    np.testing.assert_allclose(s.alpha_bars.numpy(), [0.9, 0.72, 0.36], rtol=1e-6)
    # tilde beta_1 = beta_1 (1 - ab_0) / (1 - ab_1) = 0.2 * 0.1 / 0.28
    assert s.posterior_variance[1].item() == pytest.approx(0.2 * 0.1 / 0.28, rel=1e-6)
    assert s.posterior_variance[2].item() == pytest.approx(0.5 * 0.28 / 0.64, rel=1e-6)


def test_T_equals_one():
    s = NoiseSchedule.linear(1, beta_start=0.01, beta_end=0.01)
    assert s.T == 1 and s.posterior_variance[0].item() == 0.0


# ----------------------------------------------------------------------------- immutability and .to
def test_immutable(linear1000):
    with pytest.raises(dataclasses.FrozenInstanceError):
        linear1000.betas = torch.zeros(1000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        linear1000.kind = "cosine"


def test_to_returns_new_equal_object(linear1000):
    before = linear1000.betas
    moved = linear1000.to("cpu")
    assert moved is not linear1000
    assert linear1000.betas is before, "to() must not reassign the original's tensors"
    assert moved.kind == linear1000.kind and moved.T == linear1000.T
    assert moved.device == torch.device("cpu")
    for f in dataclasses.fields(linear1000):
        a, b = getattr(linear1000, f.name), getattr(moved, f.name)
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), f.name
        else:
            assert a == b


def test_repr_mentions_kind_and_T(cosine1000):
    r = repr(cosine1000)
    assert "cosine" in r and "T=1000" in r
