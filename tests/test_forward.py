"""The forward process: one Markov step at a time (eq. 2) against the closed-form jump (eq. 4).

Statistical tolerances: with N independent draws of a scalar of variance v, the sample mean has
standard error sqrt(v / N) and the sample variance sqrt(2 / (N - 1)) * v (Gaussian data). We allow
5 standard errors, so a correct implementation fails about once in 10^6 runs, while a wrong one
(e.g. alpha_bar in place of beta, or a step off by one) misses by tens of standard errors.
"""
from __future__ import annotations

import math

import pytest
import torch

from ddpm_helpers.core.forward import forward_step, q_sample
from ddpm_helpers.core.schedules import NoiseSchedule

N = 20000
X0 = torch.tensor([-1.5, 0.0, 0.7, 2.0])  # a few scalars, each checked separately


def _check_moments(samples: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, what: str):
    """samples (N, D); mean, var (D,): 5-standard-error agreement for both moments."""
    n = samples.shape[0]
    m = samples.double().mean(0)
    v = samples.double().var(0)
    se_m = (var / n).sqrt()
    se_v = var * math.sqrt(2 / (n - 1))
    assert ((m - mean).abs() < 5 * se_m).all(), f"{what}: means {m} vs {mean} (se {se_m})"
    assert ((v - var).abs() < 5 * se_v).all(), f"{what}: variances {v} vs {var} (se {se_v})"


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("t", [0, 10, 40, 250])
def test_chain_matches_jump_in_distribution(kind, t):
    sched = NoiseSchedule.linear(1000) if kind == "linear" else NoiseSchedule.cosine(1000)
    g = torch.Generator().manual_seed(1234 + t)
    x = X0.expand(N, -1).clone()  # (D,) -> (N, D)
    for s in range(t + 1):  # steps 0..t: t + 1 noising steps
        x = forward_step(x, s, sched, generator=g)
    ab = sched.alpha_bars[t].double()
    mean, var = ab.sqrt() * X0.double(), (1 - ab).expand(len(X0))
    _check_moments(x, mean, var, f"chain of {t + 1} forward_steps ({kind})")
    # the jump reaches the same distribution
    xj, _ = q_sample(X0.expand(N, -1), t, sched, generator=g)
    _check_moments(xj, mean, var, f"q_sample at t={t} ({kind})")


def test_chain_one_step_off_is_detected():
    """The moment check is sharp enough to tell t from t+1 steps at small t (variance 0.0022 against
    0.0025 at t = 10: 14 standard errors apart), so a real off-by-one would fail the test above."""
    sched = NoiseSchedule.linear(1000)
    t = 10
    g = torch.Generator().manual_seed(7)
    xj, _ = q_sample(X0.expand(N, -1), t + 1, sched, generator=g)
    ab = sched.alpha_bars[t].double()
    with pytest.raises(AssertionError):
        _check_moments(xj, ab.sqrt() * X0.double(), (1 - ab).expand(len(X0)), "off by one")


def test_forward_step_formula_with_given_noise(linear1000):
    x = torch.tensor([[0.3, -1.2]])
    z = torch.tensor([[0.5, 2.0]])
    t = 100
    b = linear1000.betas[t].item()
    expected = math.sqrt(1 - b) * x + math.sqrt(b) * z
    torch.testing.assert_close(forward_step(x, t, linear1000, noise=z), expected)


def test_q_sample_formula_and_returns_noise(cosine1000):
    x0 = torch.tensor([[0.3, -1.2], [1.0, 0.0]])
    z = torch.tensor([[0.5, 2.0], [-1.0, 0.25]])
    x_t, noise = q_sample(x0, 300, cosine1000, noise=z)
    ab = cosine1000.alpha_bars[300].item()
    torch.testing.assert_close(x_t, math.sqrt(ab) * x0 + math.sqrt(1 - ab) * z)
    assert noise is z


def test_q_sample_per_item_t_images(linear1000):
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(5, 1, 4, 4, generator=g)
    z = torch.randn(5, 1, 4, 4, generator=g)
    t = torch.tensor([0, 10, 500, 999, 10])
    x_t, _ = q_sample(x0, t, linear1000, noise=z)
    assert x_t.shape == x0.shape
    eps32 = torch.finfo(torch.float32).eps
    for i in range(5):
        one, _ = q_sample(x0[i:i + 1], int(t[i]), linear1000, noise=z[i:i + 1])
        ab = linear1000.alpha_bars[t[i]]
        # Not bit for bit: a batch of t takes sqrt(1 - abar_t) in float32, one int t in float64 (extract's host
        # scalar), rounded once. The coefficients differ by at most an ulp (eps32 relatively), and the products
        # and the sum round again (u = eps32 / 2 each): within 2 eps32 of each term's size, on any CPU.
        bound = 2 * eps32 * (ab.sqrt() * x0[i:i + 1].abs() + (1 - ab).sqrt() * z[i:i + 1].abs())
        assert ((x_t[i:i + 1] - one).abs() <= bound).all(), i
        torch.testing.assert_close(x_t[i], ab.sqrt() * x0[i] + (1 - ab).sqrt() * z[i])


def test_q_sample_per_item_t_points(cosine1000):
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(4, 2, generator=g)
    z = torch.randn(4, 2, generator=g)
    t = torch.tensor([999, 0, 3, 400])
    x_t, _ = q_sample(x0, t, cosine1000, noise=z)
    ab = cosine1000.alpha_bars[t][:, None]  # (B,) -> (B, 1)
    torch.testing.assert_close(x_t, ab.sqrt() * x0 + (1 - ab).sqrt() * z)


def test_forward_step_per_item_t(linear1000):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 1, 2, 2, generator=g)
    z = torch.randn(3, 1, 2, 2, generator=g)
    t = torch.tensor([5, 600, 999])
    out = forward_step(x, t, linear1000, noise=z)
    for i in range(3):
        torch.testing.assert_close(out[i:i + 1], forward_step(x[i:i + 1], int(t[i]), linear1000, noise=z[i:i + 1]))


def test_zero_dim_tensor_t_and_generator_reproducible(linear1000):
    x0 = torch.ones(3, 2)
    a, na = q_sample(x0, torch.tensor(17), linear1000, generator=torch.Generator().manual_seed(5))
    b, nb = q_sample(x0, 17, linear1000, generator=torch.Generator().manual_seed(5))
    # exact: a 0-d tensor t and an int t take the same path (one host scalar), with the same noise
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(na, nb, rtol=0, atol=0)


def test_last_step_is_almost_pure_noise(linear1000):
    x0 = torch.full((1, 3), 5.0)
    z = torch.tensor([[0.1, -0.2, 0.3]])
    x_t, _ = q_sample(x0, 999, linear1000, noise=z)
    torch.testing.assert_close(x_t, z, atol=5 * 0.0064 + 1e-4, rtol=0)  # sqrt(4.04e-5) * 5 = 0.032
