r"""Notebook 03's exercise self-checks: one reverse step and recovering x_0 from a noise estimate.

Each exercise declares its cases, its reference and its catalogue of typical mistakes, built from the
formula's terms (a missing or extra square root, alpha for alpha_bar, index t-1 or t+1, a sign, the
variance for the standard deviation, Python's ``x ** 1/2``); ``check_<name>(my_<name>)`` hands it to
:func:`ddpm_helpers.ui.checking.check_answer`, which prints the verdict and returns True/False.
Both checks run the boundary timesteps t = 0, 1 and T-1 besides random ones, so off-by-one slips
at the ends of the chain are caught (at t = 0, alpha_bars[t-1] wraps around to the last entry).

Notation (symbol -> name), 0-indexed t as in ``core.schedules``:

    beta_t, alpha_t       betas[t], alphas[t]
    \bar\alpha_t          alpha_bars[t]
    \tilde\beta_t         posterior_variance[t]        sigma_t^2 of the reverse step
    \hat\epsilon          eps_hat                      the model's noise estimate
    z                     z                            fresh N(0, I) noise of the step
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ...core.reverse import ddpm_step, predict_x0
from ...core.schedules import NoiseSchedule
from ...ui.checking import HALF_POWER, Exercise, Term, term_slips
from ...ui.slips import MEAN_NAMED, SHIFT_BACK, SHIFT_ON, mean_terms

__all__ = ["check_reverse_step", "check_predict_x0"]

r = math.sqrt

_NO_NOISE_AT_1 = ("No noise added at t = 1: the noise is skipped only on the very last step, t = 0 here (0-indexed). "
                  "`if t > 1` is the paper's 1-indexed rule (Algorithm 2: z = 0 when t = 1) applied to 0-indexed t, "
                  "an off-by-one that drops one step of noise. Use `if t > 0`.")


def _at(s: NoiseSchedule, name: str, t: int) -> float:
    """A schedule entry as a Python float (an IndexError past T-1, the last entry at t = -1, as in the answer)."""
    return getattr(s, name).double()[t].item()


def _sym(shift: int = 0) -> Callable:
    return lambda x, e, t, s, z: tuple(_at(s, name, t + shift) for name in ("betas", "alphas", "alpha_bars"))


def _reverse(mean_shift: int = 0, sigma: Callable | None = None, first_noisy_t: int = 1, noise_at_0: bool = False):
    """A reverse step built from its parts: the mean at t + ``mean_shift`` plus ``sigma(*case)`` z, the noise
    added for t >= ``first_noisy_t`` (and at t = 0 too with ``noise_at_0``)."""
    sigma = sigma or (lambda x, e, t, s, z: r(_at(s, "posterior_variance", t)))

    def step(x, e, t, s, z):
        b, a, ab = _sym(mean_shift)(x, e, t, s, z)
        out = (x.double() - b / r(1 - ab) * e.double()) / r(a)
        return out + sigma(x, e, t, s, z) * z.double() if (t >= first_noisy_t or noise_at_0) else out
    return step


def _reverse_step() -> Exercise:
    g = torch.Generator().manual_seed(3)
    s = NoiseSchedule.linear(100)
    cases = [(torch.randn(8, 2, generator=g, device="cpu"), torch.randn(8, 2, generator=g, device="cpu"), t, s,
              torch.randn(8, 2, generator=g, device="cpu"))
             for t in (60, 3, 0, 1, s.T - 1)]

    def reference(x, e, t, s, z):
        return ddpm_step(x, e, t, s, noise=z)

    def sd(name, shift=0, root=True):
        return lambda x, e, t, s, z: (r if root else float)(_at(s, name, t + shift))
    terms = mean_terms(_sym())
    # alpha_bars[t-1] or [t+1] in the noise coefficient (alpha_{t+-1} alone is within 1e-4 of alpha_t: not told
    # apart; every index shifted together is a whole mistake below)
    eps_shift = [(lambda *c, k=k: _sym()(*c)[0] / r(1 - _sym(k)(*c)[2]), msg)
                 for k, msg in ((-1, SHIFT_BACK), (1, SHIFT_ON))]
    terms["eps"] = Term(terms["eps"].right, [*terms["eps"].slips, *eps_shift])
    terms["sigma"] = Term(sd("posterior_variance"), [
        (sd("posterior_variance", root=False), "σ_t is the standard DEVIATION: use √β̃_t (sqrt of "
                                               "posterior_variance[t]), not β̃_t."),
        (lambda *c: 0.0, "No noise added: for t > 0 add σ_t z with σ_t = √β̃_t. Without it, sampling collapses toward "
                         "the mean (too little spread)."),
        (sd("betas", root=False), "σ_t is a standard deviation: √β_t (or √β̃_t), not the variance β_t."),
        (lambda *c: 1.0, "The noise z is not scaled: add σ_t z with σ_t = √β̃_t."),
        (lambda x, e, t, s, z: r(1 - _at(s, "alpha_bars", t)), "√(1-ᾱ_t) is the noise level of x_t; the step adds "
                                                               "fresh noise of std σ_t = √β̃_t.")],
        also_right=[(sd("betas"), "You used σ_t² = β_t (Ho et al.'s other choice, 'fixed_large'). That is also valid; "
                                  "this series uses the posterior variance β̃_t, so your samples will be slightly "
                                  "noisier.")])

    def assemble(v, x, e, t, s, z):
        out = v["scale"] * (x.double() - v["eps"] * e.double())
        return out + v["sigma"] * z.double() if t > 0 else out
    mistakes, accepted = term_slips(assemble, terms, named=MEAN_NAMED)

    def wrapped_sigma(x, e, t, s, z):  # sqrt((1 - alpha_bars[t-1]) / (1 - alpha_bars[t]) beta_t): [t-1] is [-1] at 0
        return r((1 - _at(s, "alpha_bars", t - 1)) / (1 - _at(s, "alpha_bars", t)) * _at(s, "betas", t))
    mistakes += [
        (_reverse(sigma=sd("betas"), noise_at_0=True),
         "Noise added at t = 0: the last step must return the mean alone (Algorithm 2: z = 0 when t = 1 in the "
         "paper's numbering, t = 0 here), or the final samples keep a layer of noise."),
        (_reverse(sigma=wrapped_sigma, noise_at_0=True),
         "Noise added at t = 0, where the last step must return the mean alone. Your σ_0 is not 0 there because "
         "at t = 0, alpha_bars[t-1] wraps around to alpha_bars[-1], the LAST step (β̃_0 = 0)."),
        (_reverse(first_noisy_t=2), _NO_NOISE_AT_1),
        (_reverse(sigma=sd("betas"), first_noisy_t=2), _NO_NOISE_AT_1),
        (_reverse(-1, sigma=sd("posterior_variance", -1)), SHIFT_BACK),
        (_reverse(1, sigma=sd("posterior_variance", 1)), SHIFT_ON),
    ]
    return Exercise("your reverse step", cases, reference, mistakes, accepted, noise="z")


def _predict_x0() -> Exercise:
    g = torch.Generator().manual_seed(4)
    s = NoiseSchedule.linear(100)
    cases = [(torch.randn(8, 2, generator=g, device="cpu"), torch.randn(8, 2, generator=g, device="cpu"), t, s)
             for t in (70, 20, 1, 0, s.T - 1)]  # the boundary timesteps 0, 1, T-1 included

    def reference(x, e, t, s):
        return predict_x0(x, e, t, s)

    def q(name, shift=0):
        return lambda x, e, t, s: _at(s, name, t + shift)
    ab, a = q("alpha_bars"), q("alphas")
    terms = {
        "scale": Term(lambda *c: 1 / r(ab(*c)), [
            (lambda *c: 1.0, "Missing the division by √ᾱ_t: x₀ was shrunk by √ᾱ_t on the way in."),
            (lambda *c: 1 / ab(*c), "Missing square root: divide by √ᾱ_t, not by ᾱ_t."),
            (lambda *c: 1 / r(a(*c)), "1/√α_t where 1/√ᾱ_t belongs: x_t holds x₀ shrunk by ALL steps up to t (ᾱ_t), "
                                      "not one (α_t)."),
            (lambda *c: r(ab(*c)), "Divide by √ᾱ_t, do not multiply: x₀ was shrunk by √ᾱ_t on the way in."),
            (lambda *c: 1 / (2 * ab(*c)), HALF_POWER),
            (lambda *c: 1 / r(q("alpha_bars", -1)(*c)), SHIFT_BACK),
            (lambda *c: 1 / r(q("alpha_bars", 1)(*c)), SHIFT_ON)]),
        "eps": Term(lambda *c: r(1 - ab(*c)), [
            (lambda *c: 1.0, "x₀ = x_t - ε̂ is the classic blunder: the noise enters x_t scaled by √(1-ᾱ_t), so "
                             "subtract √(1-ᾱ_t)·ε̂, not ε̂."),
            (lambda *c: 1 - ab(*c), "Missing square root: the noise coefficient is √(1-ᾱ_t), not 1-ᾱ_t."),
            (lambda *c: r(1 - a(*c)), "√(1-α_t) where √(1-ᾱ_t) belongs: the noise in x_t has variance 1-ᾱ_t (all "
                                      "steps up to t), not 1-α_t (one step)."),
            (lambda *c: -r(1 - ab(*c)), "Wrong sign: SUBTRACT the noise √(1-ᾱ_t)·ε̂ from x_t."),
            (lambda *c: r(ab(*c)), "The noise coefficient is √(1-ᾱ_t), not √ᾱ_t."),
            (lambda x, e, t, s: _at(s, "betas", t) / r(1 - ab(x, e, t, s)),
             "β_t/√(1-ᾱ_t) is the reverse STEP's noise coefficient; x̂_0 removes all the noise, √(1-ᾱ_t)·ε̂."),
            (lambda *c: (1 - ab(*c)) / 2, HALF_POWER),
            (lambda *c: r(1 - q("alpha_bars", -1)(*c)), SHIFT_BACK),
            (lambda *c: r(1 - q("alpha_bars", 1)(*c)), SHIFT_ON)]),
    }
    mistakes, _ = term_slips(lambda v, x, e, t, s: v["scale"] * (x.double() - v["eps"] * e.double()), terms)
    return Exercise("your predict_x0", cases, reference, mistakes)


EXERCISES = {"reverse_step": _reverse_step, "predict_x0": _predict_x0}


def check_reverse_step(fn) -> bool:
    r"""Notebook 03. ``fn(x_t, eps_hat, t, sched, z) -> x_{t-1}``: Ho et al. 2020, Algorithm 2, line 4,
    x_{t-1} = 1/\sqrt{alpha_t} (x_t - beta_t/\sqrt{1 - \bar\alpha_t} \hat\epsilon) + \sigma_t z with
    \sigma_t^2 = \tilde\beta_t (posterior variance), and no noise at t = 0. ``t`` is an int.

    The cases include the boundary timesteps t = 0, 1 and T-1 (not only random ones), so the seed blog's
    slip of the paper's 1-indexed ``if t > 1`` applied to 0-indexed t (no noise at t = 1) is caught."""
    return _reverse_step().check(fn)


def check_predict_x0(fn) -> bool:
    r"""Notebook 03. ``fn(x_t, eps_hat, t, sched) -> x0_hat``: the closed form solved for x_0,
    \hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t} \hat\epsilon) / \sqrt{\bar\alpha_t}, ``t`` an int."""
    return _predict_x0().check(fn)
