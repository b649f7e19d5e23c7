"""Notebook 05's maths, step by step: Gaussian KL, the posterior by Bayes, the eps form, w_t.

Every check compares a closed form against something computed without it (Monte Carlo, a
numerical grid, the KL itself), so a wrong sign, a missing square root or an off-by-one in t fails.
"""
from __future__ import annotations

import math

import pytest
import torch

from ddpm_helpers.core.reverse import ddpm_step, predict_x0, q_posterior
from ddpm_helpers.core.schedules import NoiseSchedule
from ddpm_helpers.lessons.elbo.bound import (elbo_loss_weights, elbo_weights, gaussian_kl, gaussian_kl_monte_carlo,
                                             kl_term, posterior_factor_variances, posterior_mean_from_eps,
                                             posterior_on_grid, reverse_variances)
from ddpm_helpers.lessons.elbo.theory import float64_schedule


# ----------------------------------------------------------------------------- Gaussian KL
@pytest.mark.parametrize("m1,v1,m2,v2", [(0.3, 0.5, -0.2, 1.3), (0.0, 1.0, 0.0, 1.0), (2.0, 0.1, -1.0, 4.0),
                                         (1.0, 2.0, 1.5, 0.7)])
def test_gaussian_kl_matches_monte_carlo(m1, v1, m2, v2):
    exact = gaussian_kl(m1, v1, m2, v2).item()
    mc, se = gaussian_kl_monte_carlo(m1, v1, m2, v2, n=200_000, generator=torch.Generator().manual_seed(0))
    assert abs(mc - exact) < 5 * se + 1e-12, (exact, mc, se)


def test_gaussian_kl_pinned_and_properties():
    # 1/2 [log(1.3/0.5) + (0.5 + 0.25)/1.3 - 1]
    assert gaussian_kl(0.3, 0.5, -0.2, 1.3).item() == pytest.approx(0.5 * (math.log(2.6) + 0.75 / 1.3 - 1), rel=1e-12)
    assert gaussian_kl(1.0, 2.0, 1.0, 2.0).item() == 0.0
    # equal variances: a scaled squared error
    assert gaussian_kl(1.0, 0.3, -0.5, 0.3).item() == pytest.approx(1.5**2 / (2 * 0.3), rel=1e-12)
    # not symmetric
    assert gaussian_kl(0.0, 1.0, 0.0, 2.0).item() != pytest.approx(gaussian_kl(0.0, 2.0, 0.0, 1.0).item())


def test_gaussian_kl_bad_input():
    with pytest.raises(ValueError, match="var1"):
        gaussian_kl(0.0, -1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="var2"):
        gaussian_kl(0.0, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="n must be"):
        gaussian_kl_monte_carlo(0.0, 1.0, 0.0, 1.0, n=1)


# ----------------------------------------------------------------------------- posterior by Bayes
@pytest.mark.parametrize("t,x0,x_t", [(1, 0.7, 0.69), (10, 0.7, 0.6), (100, -1.2, 0.3), (500, 0.7, -0.4),
                                      (999, 1.5, 0.1)])
def test_posterior_formula_matches_grid_bayes(sched1000, t, x0, x_t):
    grid = posterior_on_grid(x0, x_t, t, sched1000)
    mean, var = q_posterior(torch.tensor([x0], dtype=torch.float64), torch.tensor([x_t], dtype=torch.float64),
                            t, sched1000)
    std = math.sqrt(var.item())
    # the schedule is stored in float32: at t = 1, 1 - alpha_bar ~ 2e-4 carries ~1e-4 relative error,
    # which moves the formula's mean by up to ~2.5% of a posterior standard deviation; from t = 100 on
    # the two agree to better than 1e-4 standard deviations
    tol = 0.05 if t < 10 else (2e-3 if t < 100 else 1e-4)
    assert abs(grid["mean"] - mean.item()) < tol * std, (grid["mean"], mean.item(), std)
    assert grid["variance"] == pytest.approx(var.item(), rel=2e-3)
    assert torch.trapezoid(grid["density"], grid["grid"]).item() == pytest.approx(1.0, abs=1e-9)


def test_posterior_grid_detects_a_wrong_formula(linear1000):
    """The grid must be able to tell a subtly wrong posterior (alpha_bar_t for alpha_bar_(t-1))."""
    t, x0, x_t = 100, -1.2, 0.3
    g = posterior_on_grid(x0, x_t, t, linear1000)
    s = linear1000
    wrong = (s.alpha_bars[t].sqrt() * s.betas[t] / (1 - s.alpha_bars[t]) * x0
             + s.alphas[t].sqrt() * (1 - s.alpha_bars_prev[t]) / (1 - s.alpha_bars[t]) * x_t).item()
    std = math.sqrt(s.posterior_variance[t].item())
    assert abs(g["mean"] - wrong) > 1e-4 * std  # the tolerance used above at t >= 100
    # a missing square root on alpha_t is far outside it
    no_sqrt = (s.alpha_bars_prev[t].sqrt() * s.betas[t] / (1 - s.alpha_bars[t]) * x0
               + s.alphas[t] * (1 - s.alpha_bars_prev[t]) / (1 - s.alpha_bars[t]) * x_t).item()
    assert abs(g["mean"] - no_sqrt) > 1e-3 * std


def test_posterior_grid_bad_input(linear1000):
    with pytest.raises(ValueError, match="t must be >= 1"):
        posterior_on_grid(0.0, 0.0, 0, linear1000)
    with pytest.raises(ValueError, match="t must lie in"):
        posterior_on_grid(0.0, 0.0, 1000, linear1000)
    with pytest.raises(ValueError, match="x0 must be a finite number"):
        posterior_on_grid(float("nan"), 0.0, 5, linear1000)


# ----------------------------------------------------------------------------- the eps form
def test_mean_identity_on_random_tensors(sched1000):
    g = torch.Generator().manual_seed(0)
    x_t = torch.randn(64, 3, 5, generator=g)
    eps = torch.randn(64, 3, 5, generator=g)
    t = torch.randint(1, 1000, (64,), generator=g)
    lhs, _ = q_posterior(predict_x0(x_t, eps, t, sched1000), x_t, t, sched1000)
    rhs = posterior_mean_from_eps(x_t, eps, t, sched1000)
    scale = rhs.abs().max()
    assert torch.allclose(lhs, rhs, atol=1e-4 * scale.item()), (lhs - rhs).abs().max()


def test_mean_from_eps_is_ddpm_step_mean(linear1000):
    g = torch.Generator().manual_seed(1)
    x_t, eps = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    for t in (1, 37, 999):
        got = posterior_mean_from_eps(x_t, eps, t, linear1000)
        want = ddpm_step(x_t, eps, t, linear1000, noise=torch.zeros_like(x_t))
        assert torch.allclose(got, want, atol=1e-5)


def test_kl_term_is_weighted_mse(sched1000):
    """KL(q || p_theta) - KL(q || p_theta with eps_hat = eps) == w_t ||eps - eps_hat||^2 (Ho et al. eq. 12)."""
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(32, 4, generator=g)
    eps, eps_hat = torch.randn(32, 4, generator=g), torch.randn(32, 4, generator=g)
    t = torch.randint(1, 1000, (32,), generator=g)
    for variance in ("posterior", "beta"):
        kl = kl_term(x0, eps, eps_hat, t, sched1000, variance) - kl_term(x0, eps, eps, t, sched1000, variance)
        w = elbo_weights(sched1000, variance)[t]
        mse = (eps - eps_hat).double().pow(2).sum(1)
        assert torch.allclose(kl, w * mse, rtol=2e-3), (kl / (w * mse))
    # with the posterior variance and eps_hat = eps the KL is exactly zero
    assert kl_term(x0, eps, eps, t, sched1000).abs().max() < 1e-6


def test_kl_identity_is_exact_in_float64_and_float32_rounding_explains_the_rest(linear1000):
    """Notebook 05, section 6: the same draws as its cell. With the schedule kept in float64 the KL and w_t * MSE
    agree to float64 rounding (amplified by the cancellation in mu_tilde - mu_theta: ~1e-10); the stored float32
    schedule leaves a gap of ~1e-3, largest at small t, where its rounding is not small beside 1 - alpha_bar_t."""
    from ddpm_helpers import make_moons_data

    g = torch.Generator().manual_seed(0)
    x0 = make_moons_data(512, seed=3)
    eps = torch.randn(512, 2, generator=g)
    eps_hat = eps + 0.3 * torch.randn(512, 2, generator=g)
    t = torch.randint(1, 1000, (512,), generator=g)
    mse = (eps.double() - eps_hat.double()).pow(2).sum(1)   # the difference in float64, as kl_term forms it
    for variance in ("posterior", "beta"):
        gap = {}
        for name, s in (("64", float64_schedule(linear1000)), ("32", linear1000)):
            kl = kl_term(x0, eps, eps_hat, t, s, variance) - kl_term(x0, eps, eps, t, s, variance)
            rel = (kl - elbo_weights(s, variance)[t] * mse).abs() / (elbo_weights(s, variance)[t] * mse)
            gap[name] = (rel.max().item(), int(t[rel.argmax()]))
        assert gap["64"][0] < 1e-6, gap
        assert gap["32"][0] > 1e-4 and gap["32"][1] < 20, gap


def test_posterior_factor_variances_at_the_drawn_t(linear1000):
    """Notebook 05, section 3's pictures: at t = 1 prior and likelihood are about equally sharp (variance ratio near 1);
    by t = 10 the likelihood is several times sharper. Pinned from the closed forms in float64."""
    b, ab = linear1000.betas.double(), linear1000.alpha_bars.double()
    for t in (1, 10, 100):
        v = posterior_factor_variances(t, linear1000)
        assert v["prior"] == pytest.approx(1 - ab[t - 1].item(), rel=1e-12)
        # alpha_t is stored in float32 (relative rounding 6e-8), here recomputed as 1 - beta_t in float64
        assert v["likelihood"] == pytest.approx((b[t] / (1 - b[t])).item(), rel=2e-7)
        assert v["ratio"] == pytest.approx(v["prior"] / v["likelihood"], rel=1e-12)
    assert 0.5 < posterior_factor_variances(1, linear1000)["ratio"] < 2        # 0.83: "about equally sharp"
    assert posterior_factor_variances(10, linear1000)["ratio"] > 4             # 6.3: "several times sharper"
    assert posterior_factor_variances(1, linear1000)["ratio"] == pytest.approx(1e-4 / (1.199e-4 / (1 - 1.199e-4)),
                                                                                 rel=1e-3)
    with pytest.raises(ValueError, match="t must be >= 1"):
        posterior_factor_variances(0, linear1000)


def test_kl_term_bad_input(linear1000):
    x = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="t must be >= 1"):
        kl_term(x, x, x, 0, linear1000)
    with pytest.raises(ValueError, match="eps_hat must have"):
        kl_term(x, x, torch.zeros(2, 3), 5, linear1000)


# ----------------------------------------------------------------------------- w_t
def test_elbo_weights_pinned_linear(linear1000):
    s = linear1000.betas.double(), linear1000.alphas.double(), linear1000.alpha_bars.double()
    w = elbo_weights(linear1000, "posterior")
    beta, alpha, ab = s
    ab_prev = linear1000.alpha_bars_prev.double()
    # the posterior form simplifies to beta_t / (2 alpha_t (1 - alpha_bar_(t-1))) for t >= 1
    assert torch.allclose(w[1:], beta[1:] / (2 * alpha[1:] * (1 - ab_prev[1:])), rtol=1e-3)
    assert w[1].item() == pytest.approx(0.5997, rel=2e-3)
    assert w[999].item() == pytest.approx(0.02 / (2 * 0.98 * (1 - ab_prev[999].item())), rel=1e-4)
    # t = 0: the decoder term, with sigma_0^2 clipped to tilde beta at t = 1
    assert w[0].item() == pytest.approx(beta[0].item() ** 2 / (2 * linear1000.posterior_variance[1].item()
                                                               * alpha[0].item() * (1 - ab[0].item())), rel=1e-6)
    wb = elbo_weights(linear1000, "beta")
    assert wb[0].item() == pytest.approx(1 / (2 * alpha[0].item()), rel=1e-3)  # beta^2 / (2 beta alpha beta)
    assert torch.all(wb <= w + 1e-12)  # beta_t >= tilde beta_t, so the "beta" weights are smaller


def test_elbo_weights_equal_half_snr_difference(linear1000):
    """Kingma et al. 2021: with sigma_t^2 = tilde beta_t, w_t = (SNR(t-1) - SNR(t)) / (2 SNR(t)) (eps units)."""
    snr = linear1000.snr.double()
    w = elbo_weights(linear1000)
    expect = (snr[:-1] - snr[1:]) / (2 * snr[1:])
    assert torch.allclose(w[1:], expect, rtol=5e-3)


def test_elbo_loss_weights(linear1000, cosine1000):
    for s in (linear1000, cosine1000):
        lw = elbo_loss_weights(s)
        assert lw.dtype == torch.float32 and lw.shape == (1000,)
        assert lw.double().mean().item() == pytest.approx(1.0, rel=1e-5)
        raw = elbo_weights(s)
        assert torch.allclose(lw.double() / raw, (lw.double() / raw)[0].expand(1000), rtol=1e-5)
    assert torch.allclose(elbo_loss_weights(linear1000, normalize="none").double(), elbo_weights(linear1000), rtol=1e-6)
    # the bound puts far more weight on small t than L_simple does
    lw = elbo_loss_weights(linear1000)
    assert lw[0] > 50 and lw[500] < 1


def test_weights_bad_input(linear1000):
    with pytest.raises(ValueError, match="variance must be"):
        elbo_weights(linear1000, "fixed_small")
    with pytest.raises(ValueError, match="normalize must be"):
        elbo_loss_weights(linear1000, normalize="sum")
    with pytest.raises(ValueError, match="T >= 2"):
        reverse_variances(NoiseSchedule.linear(1), "posterior")
