r"""Notebook 06's exercise self-checks: DDIM's sigma_t, the DDIM update, slerp between two noises, and
two derivations on paper (sigma_t^2 at eta = 1 for a jump, the betas of a respaced schedule).

Each ``check_<name>(my_<name>)`` describes its exercise (cases, reference, typical mistakes) and hands
it to :func:`ddpm_helpers.ui.checking.check_answer`, which prints the verdict and returns True/False.

Notation (symbol -> name), 0-indexed t as in ``core.schedules``; a DDIM step goes from t to an
earlier t_prev (t - 1 or a jump):

    \bar\alpha_t          alpha_bar_t
    \bar\alpha_{prev}     alpha_bar_prev                    (1 before the first step)
    \sigma_t              sigma_t = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev)
    \hat x_0              x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)
    \tau_k                timesteps[k], the kept timesteps of a respaced schedule
    \Omega                the angle between z0 and z1 (slerp)
"""
from __future__ import annotations

import math

import torch

from ...core.schedules import NoiseSchedule
from ...ui.checking import as_f64, check_answer, numbers

__all__ = ["check_ddim_sigma", "check_ddim_update", "check_slerp", "check_sigma_eta1", "check_respaced_betas"]

r = math.sqrt


def _sigma_ref(ab, ab_prev, eta):
    return eta * r((1 - ab_prev) / (1 - ab)) * r(1 - ab / ab_prev)


def check_ddim_sigma(fn) -> bool:
    r"""Notebook 06. ``fn(alpha_bar_t, alpha_bar_prev, eta)`` must return Song et al. 2021, eq. 16:
    sigma_t = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_prev) (floats)."""
    cases = [(0.3, 0.5, 1.0), (0.05, 0.3, 0.5), (0.9, 0.95, 1.0), (0.2, 0.6, 0.0), (0.01, 0.02, 0.5), (0.5, 1.0, 0.5)]
    mistakes = [
        (lambda ab, abp, eta: _sigma_ref(ab, abp, 1.0),
         "eta is ignored: sigma_t must scale with eta, and be 0 at eta = 0 (deterministic DDIM)."),
        (lambda ab, abp, eta: _sigma_ref(ab, abp, eta) ** 2,
         "That is sigma_t^2, the variance; return the standard deviation sigma_t (missing square root)."),
        (lambda ab, abp, eta: eta * _sigma_ref(ab, abp, eta),
         "eta enters once, linearly: it scales sigma_t, not sigma_t^2."),
        (lambda ab, abp, eta: eta * r((1 - ab) / (1 - abp)) * r(1 - ab / abp),
         "The first ratio is upside down: sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)), which is below 1."),
        (lambda ab, abp, eta: eta * r((1 - abp) / (1 - ab)),
         "The second factor sqrt(1 - alpha_bar_t / alpha_bar_prev) is missing."),
    ]
    return check_answer(fn, "your sigma_t", cases, _sigma_ref, mistakes=mistakes,
                        hint_on_error="A math domain error means a square root of a negative number: inside "
                                      "the second root it is 1 - alpha_bar_t / alpha_bar_prev (>= 0, since "
                                      "alpha_bar decreases with t), not 1 - alpha_bar_prev / alpha_bar_t.")


def _x0_hat(x, e, ab):
    return (x - r(1 - ab) * e) / r(ab)


def _ddim_ref(x_t, eps, ab, ab_prev, sigma, z):
    x_t, eps, z = x_t.double(), eps.double(), z.double()
    return r(ab_prev) * _x0_hat(x_t, eps, ab) + r(1 - ab_prev - sigma**2) * eps + sigma * z


def check_ddim_update(fn) -> bool:
    r"""Notebook 06. ``fn(x_t, eps, alpha_bar_t, alpha_bar_prev, sigma_t, z)`` must return Song et al. 2021,
    eq. 12: sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev - sigma_t^2) eps + sigma_t z, with
    x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
    g = torch.Generator().manual_seed(61)
    cases = [(torch.randn(2, 1, 3, 3, generator=g, device="cpu"), torch.randn(2, 1, 3, 3, generator=g, device="cpu"),
              ab, abp,
              _sigma_ref(ab, abp, eta), torch.randn(2, 1, 3, 3, generator=g, device="cpu"))
             for ab, abp, eta in ((0.3, 0.5, 1.0), (0.05, 0.4, 0.5), (0.7, 0.9, 0.3))]
    mistakes = [
        (lambda x, e, ab, abp, s, z: r(abp) * _x0_hat(x, e, ab) + r(1 - abp) * e + s * z,
         "The direction term must be sqrt(1 - alpha_bar_prev - sigma_t^2) * eps: the fresh noise sigma_t z takes "
         "its share of the variance, otherwise the result is too noisy."),
        (lambda x, e, ab, abp, s, z: r(abp) * (x + r(1 - ab) * e) / r(ab) + r(1 - abp - s**2) * e + s * z,
         "Wrong sign of the noise in x0_hat: x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."),
        (lambda x, e, ab, abp, s, z: r(abp) * x + r(1 - abp - s**2) * e + s * z,
         "You scaled x_t itself; the first term is sqrt(alpha_bar_prev) times the PREDICTED x0_hat."),
        (lambda x, e, ab, abp, s, z: abp * _x0_hat(x, e, ab) + r(1 - abp - s**2) * e + s * z,
         "Missing square root: the first term is sqrt(alpha_bar_prev) * x0_hat."),
        (lambda x, e, ab, abp, s, z: r(abp) * _x0_hat(x, e, ab) + r(1 - abp - s**2) * e,
         "The fresh noise sigma_t * z is missing (it vanishes only at eta = 0)."),
        (lambda x, e, ab, abp, s, z: _x0_hat(x, e, ab),
         "You returned x0_hat: the whole predicted noise subtracted in one step. DDIM moves to the noise level "
         "alpha_bar_prev: it re-adds the direction sqrt(1 - alpha_bar_prev - sigma_t^2) eps (and sigma_t z)."),
    ]
    return check_answer(fn, "your DDIM update", cases, _ddim_ref, mistakes=mistakes)


def _omega(z0, z1):
    return torch.arccos((z0 @ z1) / (z0.norm() * z1.norm()))


def _slerp_ref(z0, z1, alpha):
    z0, z1 = z0.double(), z1.double()
    om = _omega(z0, z1)
    return (torch.sin((1 - alpha) * om) * z0 + torch.sin(alpha * om) * z1) / torch.sin(om)


def _slerp_unnormalised_angle(z0, z1, a):
    om = torch.arccos((z0 @ z1).clamp(-1, 1))
    return (torch.sin((1 - a) * om) * z0 + torch.sin(a * om) * z1) / torch.sin(om)


def check_slerp(fn) -> bool:
    r"""Notebook 06. ``fn(z0, z1, alpha)`` for two 1-D vectors must return
    sin((1 - alpha) Omega) / sin(Omega) z0 + sin(alpha Omega) / sin(Omega) z1, cos(Omega) = z0.z1 / (|z0| |z1|)."""
    g = torch.Generator().manual_seed(62)
    cases = [(torch.randn(16, generator=g, dtype=torch.float64, device="cpu"),
              torch.randn(16, generator=g, dtype=torch.float64, device="cpu"), a) for a in (0.25, 0.5, 0.9)]
    mistakes = [
        (lambda z0, z1, a: (1 - a) * z0 + a * z1,
         "That is the straight line (lerp): between two Gaussian noises its midpoint is about 1/sqrt(2) too "
         "short, a noise level the model never saw. Follow the arc instead."),
        (lambda z0, z1, a: _slerp_ref(z1, z0, a), "The weights are swapped: alpha = 0 must give z0 and alpha = 1 z1."),
        (lambda z0, z1, a: _slerp_ref(z0, z1, a) * torch.sin(_omega(z0, z1)),
         "Divide both sine weights by sin(Omega)."),
        (_slerp_unnormalised_angle,
         "The angle needs the normalised dot product: cos(Omega) = z0.z1 / (|z0| |z1|)."),
    ]
    return check_answer(fn, "your slerp", cases, _slerp_ref, mistakes=mistakes)


def _sigma2_eta1_ref(ab, ab_prev):
    return (1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)


def check_sigma_eta1(fn) -> bool:
    r"""Notebook 06, derivation. ``fn(alpha_bar_t, alpha_bar_prev, beta_t) -> sigma_t^2`` at eta = 1 (floats),
    for a DDIM step from t to an earlier t_prev (any jump), simplified:

        \sigma_t^2(eta=1) = (1 - \bar\alpha_{prev}) / (1 - \bar\alpha_t) (1 - \bar\alpha_t / \bar\alpha_{prev})
                          = \tilde\beta' (Song et al. 2021, eq. 16),

    the posterior variance of the respaced step whose beta is beta' = 1 - \bar\alpha_t / \bar\alpha_{prev};
    for t_prev = t - 1, beta' = beta_t and it is \tilde\beta_t. ``beta_t`` is the ONE-step beta at t (a trap
    when the step jumps: it is not the step's beta then).
    """
    # (alpha_bar_t, alpha_bar_prev, beta_t of the single step at t): one-step pairs and jumps, the first step
    # (alpha_bar_prev = 1) among them
    cases = [(0.49, 0.5, 0.02), (0.3, 0.9, 0.02), (0.05, 0.4, 0.01), (0.9, 0.95, 1 - 0.9 / 0.95), (0.2, 1.0, 0.05)]
    mistakes = [
        (lambda ab, abp, b: (1 - abp) / (1 - ab) * b,
         "You used beta_t, the ONE-step beta at t. For a step that jumps from t to t_prev the step's beta is "
         "beta' = 1 - alpha_bar_t / alpha_bar_prev (equal to beta_t only when t_prev = t - 1)."),
        (lambda ab, abp, b: (1 - ab) / (1 - abp) * (1 - ab / abp),
         "The first ratio is upside down: (1 - alpha_bar_prev) / (1 - alpha_bar_t) <= 1."),
        (lambda ab, abp, b: 1 - ab / abp,
         "The factor (1 - alpha_bar_prev) / (1 - alpha_bar_t) is missing: that leaves beta', the forward "
         "variance of the (respaced) step, not the posterior variance tilde beta'."),
        (lambda ab, abp, b: r(_sigma2_eta1_ref(ab, abp)),
         "That is sigma_t; return its square, the variance sigma_t^2."),
        (lambda ab, abp, b: b,
         "That is beta_t, Ho et al.'s upper choice of variance; eta = 1 gives the posterior variance tilde beta'."),
    ]
    return check_answer(fn, "your sigma_t^2", cases, lambda ab, abp, b: _sigma2_eta1_ref(ab, abp),
                        mistakes=mistakes, read=numbers(1, "one number (sigma_t^2)"))


def _respaced_ref(alpha_bars, timesteps):
    ab = as_f64(alpha_bars)[list(timesteps)]
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64, device="cpu"), ab[:-1]])
    return 1 - ab / ab_prev


def _one_step_betas(ab):
    return _respaced_ref(ab, range(len(ab)))  # every timestep kept: the schedule's own betas


def check_respaced_betas(fn) -> bool:
    r"""Notebook 06, derivation. ``fn(alpha_bars, timesteps) -> betas'``: the betas of the respaced schedule
    that keeps the increasing ``timesteps`` \tau_0 < ... < \tau_{K-1} (Nichol & Dhariwal 2021, sec. 4):

        beta'_k = 1 - \bar\alpha_{\tau_k} / \bar\alpha_{\tau_{k-1}},  \bar\alpha_{\tau_{-1}} = 1
        (so beta'_0 = 1 - \bar\alpha_{\tau_0}),

    so that the product of (1 - beta'_j), j <= k, is \bar\alpha_{\tau_k}: the kept noise levels are unchanged.
    ``alpha_bars`` is a (T,) float64 tensor, ``timesteps`` a list of ints; return a (K,) tensor.
    """
    lin, cos = NoiseSchedule.linear(1000), NoiseSchedule.cosine(100)
    cases = [(lin.alpha_bars.double(), [249, 499, 749, 999]),
             (lin.alpha_bars.double(), [0, 9, 99, 999]),  # t = 0 and T-1 kept
             (cos.alpha_bars.double(), list(range(4, 100, 5)))]
    mistakes = [
        (lambda ab, ts: _one_step_betas(ab)[list(ts)],
         "You kept the one-step betas beta_{tau_k}: each removes one step's worth of noise, so the respaced "
         "chain stops far above the data (naive skipping). beta'_k must cover the whole jump: "
         "1 - alpha_bar_{tau_k} / alpha_bar_{tau_{k-1}}."),
        (lambda ab, ts: torch.stack([_one_step_betas(ab)[(ts[k - 1] + 1 if k else 0):ts[k] + 1].sum()
                                     for k in range(len(ts))]),
         "You summed the skipped betas. Noise levels multiply, they do not add: 1 - beta'_k must be the "
         "PRODUCT of the skipped alphas, alpha_bar_{tau_k} / alpha_bar_{tau_{k-1}}."),
        (lambda ab, ts: _respaced_ref(ab, ts)[1:],
         "The first kept step is missing: with alpha_bar_{tau_{-1}} = 1, beta'_0 = 1 - alpha_bar_{tau_0}, "
         "and the result has one beta per kept timestep."),
        (lambda ab, ts: torch.cat([ab[[ts[0]]], _respaced_ref(ab, ts)[1:]]),
         "beta'_0 must be 1 - alpha_bar_{tau_0} (alpha_bar before the first step is 1), not alpha_bar_{tau_0}."),
        (lambda ab, ts: 1 - ab[list(ts)],
         "That is 1 - alpha_bar_{tau_k}, the total variance at tau_k; beta'_k is the variance added by the k-th "
         "step alone: 1 - alpha_bar_{tau_k} / alpha_bar_{tau_{k-1}}."),
        (lambda ab, ts: 1 - 1 / (1 - _respaced_ref(ab, ts)),
         "The ratio is upside down (your betas are negative): alpha_bar falls with t, so "
         "1 - beta'_k = alpha_bar_{tau_k} / alpha_bar_{tau_{k-1}} < 1."),
    ]
    return check_answer(fn, "your respaced betas", cases, _respaced_ref, mistakes=mistakes,
                        hint_on_error="Index alpha_bars with the kept timesteps (a list of ints) and compare "
                                      "each with the one kept before it.")
