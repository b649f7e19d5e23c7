r"""Notebook 06's exercise self-checks: DDIM's sigma_t, the DDIM update, slerp between two noises, and
two derivations on paper (sigma_t^2 at eta = 1 for a jump, the betas of a respaced schedule).

Each exercise declares its cases, its reference and its catalogue of typical mistakes, built from the
formula's terms (a missing or extra square root, alpha_bar_t for alpha_bar_prev, sigma for sigma^2, a
sign, a missing term, a ratio upside down, Python's ``x ** 1/2``); ``check_<name>(my_<name>)`` hands it
to :func:`ddpm_helpers.ui.checking.check_answer`, which prints the verdict and returns True/False.

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
from ...ui.checking import HALF_POWER, Exercise, Term, as_f64, numbers, term_slips

__all__ = ["check_ddim_sigma", "check_ddim_update", "check_slerp", "check_sigma_eta1", "check_respaced_betas"]

r = math.sqrt


def _sigma_ref(ab, ab_prev, eta):
    return eta * r((1 - ab_prev) / (1 - ab)) * r(1 - ab / ab_prev)


def _ddim_sigma() -> Exercise:
    cases = [(0.3, 0.5, 1.0), (0.05, 0.3, 0.5), (0.9, 0.95, 1.0), (0.2, 0.6, 0.0), (0.01, 0.02, 0.5), (0.5, 1.0, 0.5)]
    terms = {  # sigma_t = eta * ratio * jump
        "eta": Term(lambda ab, abp, eta: eta, [
            (lambda *c: 1.0, "eta is ignored: sigma_t must scale with eta, and be 0 at eta = 0 (deterministic DDIM)."),
            (lambda ab, abp, eta: eta**2, "eta enters once, linearly: it scales sigma_t, not sigma_t^2."),
            (lambda ab, abp, eta: r(eta), "eta scales sigma_t itself, not through a square root.")]),
        "ratio": Term(lambda ab, abp, eta: r((1 - abp) / (1 - ab)), [
            (lambda ab, abp, eta: r((1 - ab) / (1 - abp)),
             "The first ratio is upside down: sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)), which is below 1."),
            (lambda ab, abp, eta: (1 - abp) / (1 - ab),
             "Missing square root on (1 - alpha_bar_prev) / (1 - alpha_bar_t)."),
            (lambda *c: 1.0, "The factor sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) is missing.")]),
        "jump": Term(lambda ab, abp, eta: r(1 - ab / abp), [
            (lambda *c: 1.0, "The second factor sqrt(1 - alpha_bar_t / alpha_bar_prev) is missing."),
            (lambda ab, abp, eta: 1 - ab / abp, "Missing square root on 1 - alpha_bar_t / alpha_bar_prev."),
            (lambda ab, abp, eta: r(ab / abp), "sqrt(alpha_bar_t / alpha_bar_prev) is the jump's sqrt(alpha'); sigma_t "
                                               "needs sqrt(1 - alpha_bar_t / alpha_bar_prev), its sqrt(beta')."),
            (lambda ab, abp, eta: r(1 - ab), "The second factor is sqrt(1 - alpha_bar_t / alpha_bar_prev), not "
                                             "sqrt(1 - alpha_bar_t)."),
            (lambda ab, abp, eta: (1 - ab / abp) / 2, HALF_POWER)]),
    }
    mistakes, _ = term_slips(lambda v, *c: v["eta"] * v["ratio"] * v["jump"], terms)
    negative = ("1 - alpha_bar_prev / alpha_bar_t is negative (alpha_bar falls with t, so alpha_bar_prev > "
                "alpha_bar_t): the second root is sqrt(1 - alpha_bar_t / alpha_bar_prev).")
    mistakes += [(lambda ab, abp, eta: _sigma_ref(ab, abp, eta) ** 2,
                  "That is sigma_t^2, the variance; return the standard deviation sigma_t (missing square root)."),
                 (lambda ab, abp, eta: eta * r((1 - abp) / (1 - ab)) * r(1 - abp / ab), negative),
                 # under one root: sqrt(0 * negative) is 0 at alpha_bar_prev = 1, not an error
                 (lambda ab, abp, eta: eta * r((1 - abp) / (1 - ab) * (1 - abp / ab)), negative)]
    return Exercise("your sigma_t", cases, _sigma_ref, mistakes,
                    hint_on_error="A math domain error means a square root of a negative number: inside "
                                  "the second root it is 1 - alpha_bar_t / alpha_bar_prev (>= 0, since "
                                  "alpha_bar decreases with t), not 1 - alpha_bar_prev / alpha_bar_t.")


def _x0_hat(x, e, ab):
    return (x - r(1 - ab) * e) / r(ab)


def _ddim_ref(x_t, eps, ab, ab_prev, sigma, z):
    x_t, eps, z = x_t.double(), eps.double(), z.double()
    return r(ab_prev) * _x0_hat(x_t, eps, ab) + r(1 - ab_prev - sigma**2) * eps + sigma * z


def _ddim_update() -> Exercise:
    g = torch.Generator().manual_seed(61)
    cases = [(torch.randn(2, 1, 3, 3, generator=g, device="cpu"), torch.randn(2, 1, 3, 3, generator=g, device="cpu"),
              ab, abp,
              _sigma_ref(ab, abp, eta), torch.randn(2, 1, 3, 3, generator=g, device="cpu"))
             for ab, abp, eta in ((0.3, 0.5, 1.0), (0.05, 0.4, 0.5), (0.7, 0.9, 0.3))]

    def c(f):  # a coefficient from the case's scalars (alpha_bar_t, alpha_bar_prev, sigma_t)
        return lambda x, e, ab, abp, s, z: f(ab, abp, s)
    terms = {  # x_coef * (x_t - x0_eps * eps) + direction * eps + noise * z, x_coef = sqrt(ab_prev) / sqrt(ab_t)
        "x_coef": Term(c(lambda ab, abp, s: r(abp) / r(ab)), [
            (c(lambda ab, abp, s: r(abp)), "x0_hat divides by sqrt(alpha_bar_t): x0_hat = (x_t - sqrt(1 - alpha_bar_t) "
                                           "eps) / sqrt(alpha_bar_t)."),
            (c(lambda ab, abp, s: r(abp) / ab), "Missing square root: x0_hat divides by sqrt(alpha_bar_t), not "
                                                "alpha_bar_t."),
            (c(lambda ab, abp, s: 1.0), "x0_hat divides by sqrt(alpha_bar_t) (the noise level of x_t), and the step "
                                        "multiplies it by sqrt(alpha_bar_PREV) (the level it lands at): you used the "
                                        "same alpha_bar in both places, so they cancel."),
            (c(lambda ab, abp, s: abp / r(ab)),
             "Missing square root: the first term is sqrt(alpha_bar_prev) * x0_hat."),
            (c(lambda ab, abp, s: 1 / r(ab)), "x0_hat must be scaled by sqrt(alpha_bar_prev): the step lands at noise "
                                              "level alpha_bar_prev.")]),
        "x0_eps": Term(c(lambda ab, abp, s: r(1 - ab)), [
            (c(lambda ab, abp, s: -r(1 - ab)), "Wrong sign of the noise in x0_hat: x0_hat = (x_t - sqrt(1 - "
                                               "alpha_bar_t) eps) / sqrt(alpha_bar_t)."),
            (c(lambda ab, abp, s: 1.0), "x0_hat removes sqrt(1 - alpha_bar_t) eps, not eps itself."),
            (c(lambda ab, abp, s: 1 - ab), "Missing square root: x0_hat removes sqrt(1 - alpha_bar_t) eps."),
            (c(lambda ab, abp, s: r(1 - abp)), "x0_hat removes sqrt(1 - alpha_bar_t) eps (the noise in x_t), not "
                                               "sqrt(1 - alpha_bar_prev) eps."),
            (c(lambda ab, abp, s: 0.0), "x0_hat must remove the noise from x_t: (x_t - sqrt(1 - alpha_bar_t) eps) / "
                                        "sqrt(alpha_bar_t).")]),
        "direction": Term(c(lambda ab, abp, s: r(1 - abp - s**2)), [
            (c(lambda ab, abp, s: r(1 - abp)),
             "The direction term must be sqrt(1 - alpha_bar_prev - sigma_t^2) * eps: the fresh noise sigma_t z takes "
             "its share of the variance, otherwise the result is too noisy."),
            (c(lambda ab, abp, s: r(1 - abp - s)), "The direction term is sqrt(1 - alpha_bar_prev - sigma_t^2): "
                                                   "subtract the VARIANCE sigma_t^2, not sigma_t."),
            (c(lambda ab, abp, s: 1 - abp - s**2), "Missing square root on the direction term: "
                                                   "sqrt(1 - alpha_bar_prev - sigma_t^2) * eps."),
            (c(lambda ab, abp, s: r(1 - ab - s**2)), "The direction term is sqrt(1 - alpha_bar_PREV - sigma_t^2): the "
                                                     "noise level the step lands at, not alpha_bar_t."),
            (c(lambda ab, abp, s: 0.0), "The direction term sqrt(1 - alpha_bar_prev - sigma_t^2) * eps is missing: it "
                                        "puts back the noise that belongs at alpha_bar_prev."),
            (c(lambda ab, abp, s: (1 - abp - s**2) / 2), HALF_POWER)]),
        "noise": Term(c(lambda ab, abp, s: s), [
            (c(lambda ab, abp, s: 0.0), "The fresh noise sigma_t * z is missing (it vanishes only at eta = 0)."),
            (c(lambda ab, abp, s: s**2), "The fresh noise is sigma_t * z: sigma_t is a standard deviation, "
                                         "do not square it."),
            (c(lambda ab, abp, s: 1.0), "The fresh noise is sigma_t * z: scale z by sigma_t.")]),
    }

    def assemble(v, x, e, ab, abp, s, z):
        x, e, z = x.double(), e.double(), z.double()
        return v["x_coef"] * (x - v["x0_eps"] * e) + v["direction"] * e + v["noise"] * z
    mistakes, _ = term_slips(assemble, terms)
    mistakes += [
        (lambda x, e, ab, abp, s, z: _x0_hat(x.double(), e.double(), ab),
         "You returned x0_hat: the whole predicted noise subtracted in one step. DDIM moves to the noise level "
         "alpha_bar_prev: it re-adds the direction sqrt(1 - alpha_bar_prev - sigma_t^2) eps (and sigma_t z)."),
        (lambda x, e, ab, abp, s, z: _ddim_ref(x, e, abp, ab, s, z),
         "alpha_bar_t and alpha_bar_prev are swapped: x0_hat uses alpha_bar_t (the noise level of x_t), the rest "
         "alpha_bar_prev (the level the step lands at)."),
    ]
    return Exercise("your DDIM update", cases, _ddim_ref, mistakes, noise="z")


def _omega(z0, z1):
    return torch.arccos((z0 @ z1) / (z0.norm() * z1.norm()))


def _slerp_ref(z0, z1, alpha):
    z0, z1 = z0.double(), z1.double()
    om = _omega(z0, z1)
    return (torch.sin((1 - alpha) * om) * z0 + torch.sin(alpha * om) * z1) / torch.sin(om)


def _slerp_with(z0, z1, a, om):
    return (torch.sin((1 - a) * om) * z0 + torch.sin(a * om) * z1) / torch.sin(om)


def _slerp() -> Exercise:
    g = torch.Generator().manual_seed(62)
    cases = [(torch.randn(16, generator=g, dtype=torch.float64, device="cpu"),
              torch.randn(16, generator=g, dtype=torch.float64, device="cpu"), a) for a in (0.25, 0.5, 0.9)]
    cosine = lambda z0, z1: (z0 @ z1) / (z0.norm() * z1.norm())  # noqa: E731
    mistakes = [
        (lambda z0, z1, a: (1 - a) * z0 + a * z1,
         "That is the straight line (lerp): between two Gaussian noises its midpoint is about 1/sqrt(2) too "
         "short, a noise level the model never saw. Follow the arc instead."),
        (lambda z0, z1, a: _slerp_ref(z1, z0, a), "The weights are swapped: alpha = 0 must give z0 and alpha = 1 z1."),
        (lambda z0, z1, a: _slerp_ref(z0, z1, a) * torch.sin(_omega(z0, z1)),
         "Divide both sine weights by sin(Omega)."),
        (lambda z0, z1, a: _slerp_with(z0, z1, a, torch.arccos((z0 @ z1).clamp(-1, 1))),
         "The angle needs the normalised dot product: cos(Omega) = z0.z1 / (|z0| |z1|)."),
        (lambda z0, z1, a: _slerp_with(z0, z1, a, cosine(z0, z1)),
         "You used cos(Omega) itself as the angle: Omega = arccos(z0.z1 / (|z0| |z1|))."),
        (lambda z0, z1, a: _slerp_ref(z0 / z0.norm(), z1 / z1.norm(), a),
         "You normalised z0 and z1 to unit length: slerp keeps their lengths (a Gaussian noise has length about "
         "sqrt(dim)), so interpolate the vectors themselves."),
        (lambda z0, z1, a: (torch.cos((1 - a) * _omega(z0, z1)) * z0 + torch.cos(a * _omega(z0, z1)) * z1)
         / torch.sin(_omega(z0, z1)),
         "The weights are sines, sin((1 - alpha) Omega) and sin(alpha Omega), not cosines."),
    ]
    return Exercise("your slerp", cases, _slerp_ref, mistakes)


def _sigma2_eta1_ref(ab, ab_prev):
    return (1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)


def _sigma_eta1() -> Exercise:
    # (alpha_bar_t, alpha_bar_prev, beta_t of the single step at t): one-step pairs and jumps, the first step
    # (alpha_bar_prev = 1) among them
    cases = [(0.49, 0.5, 0.02), (0.3, 0.9, 0.02), (0.05, 0.4, 0.01), (0.9, 0.95, 1 - 0.9 / 0.95), (0.2, 1.0, 0.05)]
    terms = {  # sigma^2 = ratio * jump
        "ratio": Term(lambda ab, abp, b: (1 - abp) / (1 - ab), [
            (lambda ab, abp, b: (1 - ab) / (1 - abp),
             "The first ratio is upside down: (1 - alpha_bar_prev) / (1 - alpha_bar_t) <= 1.")]),
        "jump": Term(lambda ab, abp, b: 1 - ab / abp, [
            (lambda ab, abp, b: b,
             "You used beta_t, the ONE-step beta at t. For a step that jumps from t to t_prev the step's beta is "
             "beta' = 1 - alpha_bar_t / alpha_bar_prev (equal to beta_t only when t_prev = t - 1)."),
            (lambda ab, abp, b: 1 - abp / ab, "The jump's beta' is 1 - alpha_bar_t / alpha_bar_prev (>= 0), not "
                                              "1 - alpha_bar_prev / alpha_bar_t."),
            (lambda ab, abp, b: ab / abp, "alpha_bar_t / alpha_bar_prev is the jump's alpha'; sigma_t^2 needs its "
                                          "beta' = 1 - alpha_bar_t / alpha_bar_prev.")]),
    }
    mistakes, _ = term_slips(lambda v, *c: v["ratio"] * v["jump"], terms)
    mistakes += [
        (lambda ab, abp, b: 1 - ab / abp,
         "The factor (1 - alpha_bar_prev) / (1 - alpha_bar_t) is missing: that leaves beta', the forward "
         "variance of the (respaced) step, not the posterior variance tilde beta'."),
        (lambda ab, abp, b: r(_sigma2_eta1_ref(ab, abp)),
         "That is sigma_t; return its square, the variance sigma_t^2."),
        (lambda ab, abp, b: b,
         "That is beta_t, Ho et al.'s upper choice of variance; eta = 1 gives the posterior variance tilde beta'."),
    ]
    return Exercise("your sigma_t^2", cases, lambda ab, abp, b: _sigma2_eta1_ref(ab, abp), mistakes,
                    read=numbers(1, "one number (sigma_t^2)"))


def _respaced_ref(alpha_bars, timesteps):
    ab = as_f64(alpha_bars)[list(timesteps)]
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64, device="cpu"), ab[:-1]])
    return 1 - ab / ab_prev


def _one_step_betas(ab):
    return _respaced_ref(ab, range(len(ab)))  # every timestep kept: the schedule's own betas


def _respaced_betas() -> Exercise:
    lin, cos = NoiseSchedule.linear(1000), NoiseSchedule.cosine(100)
    cases = [(lin.alpha_bars.double(), [249, 499, 749, 999]),
             (lin.alpha_bars.double(), [0, 9, 99, 999]),  # t = 0 and T-1 kept
             (cos.alpha_bars.double(), list(range(4, 100, 5)))]

    def kept(ab, ts):
        return as_f64(ab)[list(ts)]
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
        (lambda ab, ts: torch.cat([kept(ab, ts)[:1], _respaced_ref(ab, ts)[1:]]),
         "beta'_0 must be 1 - alpha_bar_{tau_0} (alpha_bar before the first step is 1), not alpha_bar_{tau_0}."),
        (lambda ab, ts: torch.cat([torch.zeros(1, dtype=torch.float64, device="cpu"), _respaced_ref(ab, ts)[1:]]),
         "beta'_0 is 0: alpha_bar before the first kept step is 1, not alpha_bar_{tau_0} itself, so "
         "beta'_0 = 1 - alpha_bar_{tau_0}."),
        (lambda ab, ts: 1 - kept(ab, ts) / torch.roll(kept(ab, ts), 1),
         "torch.roll wraps around: your alpha_bar before the first kept step is the LAST kept one. It is 1 "
         "(nothing noised yet), so beta'_0 = 1 - alpha_bar_{tau_0}."),
        (lambda ab, ts: 1 - kept(ab, ts),
         "That is 1 - alpha_bar_{tau_k}, the total variance at tau_k; beta'_k is the variance added by the k-th "
         "step alone: 1 - alpha_bar_{tau_k} / alpha_bar_{tau_{k-1}}."),
        (lambda ab, ts: 1 - 1 / (1 - _respaced_ref(ab, ts)),
         "The ratio is upside down (your betas are negative): alpha_bar falls with t, so "
         "1 - beta'_k = alpha_bar_{tau_k} / alpha_bar_{tau_{k-1}} < 1."),
        (lambda ab, ts: 1 - _respaced_ref(ab, ts),
         "That is alpha'_k = alpha_bar_{tau_k} / alpha_bar_{tau_{k-1}}; the betas are 1 - alpha'_k."),
        (lambda ab, ts: _respaced_ref(ab, ts).flip(0),
         "Your betas are in reverse order: beta'_k belongs to the k-th kept timestep, smallest first."),
    ]
    return Exercise("your respaced betas", cases, _respaced_ref, mistakes,
                    hint_on_error="Index alpha_bars with the kept timesteps (a list of ints) and compare "
                                  "each with the one kept before it.")


EXERCISES = {"ddim_sigma": _ddim_sigma, "ddim_update": _ddim_update, "slerp": _slerp, "sigma_eta1": _sigma_eta1,
             "respaced_betas": _respaced_betas}


def check_ddim_sigma(fn) -> bool:
    r"""Notebook 06. ``fn(alpha_bar_t, alpha_bar_prev, eta)`` must return Song et al. 2021, eq. 16:
    sigma_t = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_prev) (floats)."""
    return _ddim_sigma().check(fn)


def check_ddim_update(fn) -> bool:
    r"""Notebook 06. ``fn(x_t, eps, alpha_bar_t, alpha_bar_prev, sigma_t, z)`` must return Song et al. 2021,
    eq. 12: sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev - sigma_t^2) eps + sigma_t z, with
    x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
    return _ddim_update().check(fn)


def check_slerp(fn) -> bool:
    r"""Notebook 06. ``fn(z0, z1, alpha)`` for two 1-D vectors must return
    sin((1 - alpha) Omega) / sin(Omega) z0 + sin(alpha Omega) / sin(Omega) z1, cos(Omega) = z0.z1 / (|z0| |z1|)."""
    return _slerp().check(fn)


def check_sigma_eta1(fn) -> bool:
    r"""Notebook 06, derivation. ``fn(alpha_bar_t, alpha_bar_prev, beta_t) -> sigma_t^2`` at eta = 1 (floats),
    for a DDIM step from t to an earlier t_prev (any jump), simplified:

        \sigma_t^2(eta=1) = (1 - \bar\alpha_{prev}) / (1 - \bar\alpha_t) (1 - \bar\alpha_t / \bar\alpha_{prev})
                          = \tilde\beta' (Song et al. 2021, eq. 16),

    the posterior variance of the respaced step whose beta is beta' = 1 - \bar\alpha_t / \bar\alpha_{prev};
    for t_prev = t - 1, beta' = beta_t and it is \tilde\beta_t. ``beta_t`` is the ONE-step beta at t (a trap
    when the step jumps: it is not the step's beta then).
    """
    return _sigma_eta1().check(fn)


def check_respaced_betas(fn) -> bool:
    r"""Notebook 06, derivation. ``fn(alpha_bars, timesteps) -> betas'``: the betas of the respaced schedule
    that keeps the increasing ``timesteps`` \tau_0 < ... < \tau_{K-1} (Nichol & Dhariwal 2021, sec. 4):

        beta'_k = 1 - \bar\alpha_{\tau_k} / \bar\alpha_{\tau_{k-1}},  \bar\alpha_{\tau_{-1}} = 1
        (so beta'_0 = 1 - \bar\alpha_{\tau_0}),

    so that the product of (1 - beta'_j), j <= k, is \bar\alpha_{\tau_k}: the kept noise levels are unchanged.
    ``alpha_bars`` is a (T,) float64 tensor, ``timesteps`` a list of ints; return a (K,) tensor.
    """
    return _respaced_betas().check(fn)
