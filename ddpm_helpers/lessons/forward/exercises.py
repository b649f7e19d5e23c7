r"""Notebooks 01-02's exercise self-checks: one forward step, the signal left at the end, the closed
form ``q_sample`` and two steps in one.

Each exercise declares its cases, its reference and its catalogue of typical mistakes, built from the
formula's terms (each term's missing or extra square root, alpha for alpha_bar, index t-1 or t+1, a
sign, the other term's coefficient, Python's ``x ** 1/2``); ``check_<name>(my_<name>)`` hands it to
:func:`ddpm_helpers.ui.checking.check_answer`, which prints the verdict and returns True/False.

Notation (symbol -> name), 0-indexed t as in ``core.schedules``:

    beta_t                betas[t]                     alpha_t = 1 - beta_t: alphas[t]
    \bar\alpha_t          alpha_bars[t]                prod_{s<=t} alpha_s
    \bar\alpha_{t-1}      alpha_bars_prev[t]           (1 at t = 0)
    \epsilon              noise
"""
from __future__ import annotations

import math

import torch

from ...core.forward import forward_step, q_sample
from ...core.schedules import NoiseSchedule
from ...ui.checking import HALF_POWER, Exercise, Term, as_f64, numbers, stack_parts, term_slips
from ...ui.slips import SHIFT_BACK, SHIFT_ON

__all__ = ["check_forward_step", "check_signal_left", "check_q_sample", "check_two_steps"]

r = math.sqrt

_SHRINK_IS_NOISE = "x_{t-1}'s coefficient is √(1-β_t); you used √β_t, the noise's."
_NOISE_IS_SHRINK = "ε's coefficient is √β_t; you used √(1-β_t), x_{t-1}'s."


def _forward_step() -> Exercise:
    g = torch.Generator().manual_seed(1)
    cases = [(torch.randn(4, 1, 6, 6, generator=g, device="cpu"), b, torch.randn(4, 1, 6, 6, generator=g, device="cpu"))
             for b in (0.3, 0.05)]
    cases.append((torch.randn(5, 2, generator=g, device="cpu"), 0.6, torch.randn(5, 2, generator=g, device="cpu")))

    def reference(x, b, n):
        return forward_step(x, 0, NoiseSchedule.from_betas([b]), noise=n)

    terms = {
        "shrink": Term(lambda x, b, n: r(1 - b), [
            (lambda x, b, n: 1 - b, "x_{t-1}'s coefficient is √(1-β_t), not 1-β_t (missing square root): the "
                                    "variance then drifts below 1 instead of settling at 1."),
            (lambda x, b, n: 1.0, "x_{t-1} is not shrunk: multiply it by √(1-β_t). Without the shrink the variance "
                                  "grows by β_t every step and never settles at 1 (see the exploding-variance plot)."),
            (lambda x, b, n: r(b), _SHRINK_IS_NOISE),
            (lambda x, b, n: 1 - r(b),
             "x_{t-1}'s coefficient is √(1-β_t), not 1 - √β_t: the root covers all of 1-β_t."),
            (lambda x, b, n: (1 - b) / 2, HALF_POWER)]),
        "noise": Term(lambda x, b, n: r(b), [
            (lambda x, b, n: b, "The noise is scaled by β_t, but β_t is its VARIANCE: scale ε by √β_t (missing "
                                "square root on β_t)."),
            (lambda x, b, n: 1.0, "The noise is not scaled: ε must be multiplied by √β_t (wrong noise scale)."),
            (lambda x, b, n: r(1 - b), _NOISE_IS_SHRINK),
            (lambda x, b, n: -r(b), "You subtracted the noise. In distribution that is the same (ε and -ε are both "
                                    "N(0, I)), but with the given noise the formula is "
                                    "x_t = √(1-β_t) x_{t-1} + √β_t ε."),
            (lambda x, b, n: b / 2, HALF_POWER)]),
    }
    swapped = "The two coefficients are swapped: x_{t-1} gets √(1-β_t) and the noise gets √β_t."
    mistakes, _ = term_slips(lambda v, x, b, n: v["shrink"] * x + v["noise"] * n, terms,
                             named={f"{_SHRINK_IS_NOISE} {_NOISE_IS_SHRINK}": swapped})
    return Exercise("your forward step", cases, reference, mistakes, noise="noise")


def _alpha_bars(T, b0, b1):
    return torch.cumprod(1 - torch.linspace(b0, b1, T, dtype=torch.float64, device="cpu"), 0)


def _signal_left() -> Exercise:
    cases = [(300, 1e-4, 0.02), (10, 0.1, 0.3), (5, 0.2, 0.4)]

    def reference(T, b0, b1):
        return NoiseSchedule.linear(T, b0, b1).alpha_bars.double()[-1].sqrt()

    def betas(T, b0, b1):
        return torch.linspace(b0, b1, T, dtype=torch.float64, device="cpu")

    mistakes = [
        (lambda T, b0, b1: _alpha_bars(T, b0, b1)[-1],
         "You returned ᾱ_T itself; the fraction of the image left (the coefficient of x_0) is √ᾱ_T."),
        (lambda T, b0, b1: (1 - _alpha_bars(T, b0, b1)[-1]).sqrt(),
         "You returned √(1-ᾱ_T), the NOISE coefficient; the signal left is √ᾱ_T."),
        (lambda T, b0, b1: 1 - _alpha_bars(T, b0, b1)[-1],
         "You returned 1-ᾱ_T, the noise's share of the variance; the signal left is √ᾱ_T."),
        (lambda T, b0, b1: _alpha_bars(T, b0, b1)[-1] / 2, HALF_POWER),
        (lambda T, b0, b1: r(1 - b1),
         "You used the last α_T = 1-β_T alone; the signal left is the square root of the PRODUCT of all "
         "α_s, s = 1..T (ᾱ_T)."),
        (lambda T, b0, b1: r(1 - b0),
         "You took the first entry of the cumulative product (α_1 alone); the signal left after T steps uses "
         "the LAST entry, ᾱ_T."),
        (lambda T, b0, b1: _alpha_bars(T, b0, b1)[-2].sqrt() if T > 1 else 1.0,
         "Off by one: your product stops one step early (T-1 factors). ᾱ_T multiplies all T of the α_s."),
        (lambda T, b0, b1: _alpha_bars(T + 1, b0, b1)[-1].sqrt(),
         "Off by one: your product has T+1 factors (linspace with T+1 points). ᾱ_T multiplies T of the α_s."),
        (lambda T, b0, b1: (1 - betas(T, b0, b1).sum()).clamp(min=0).sqrt(),
         "You subtracted the summed betas; ᾱ_T is a product ∏(1-β_s), not 1 - Σβ_s."),
        (lambda T, b0, b1: (-betas(T, b0, b1).sum() / 2).exp(),
         "ᾱ_T ≈ exp(-Σβ_s) is only an approximation (good for tiny β): multiply the (1-β_s) exactly."),
        (lambda T, b0, b1: betas(T, b0, b1).prod().sqrt(),
         "You multiplied the β_s; ᾱ_T multiplies the α_s = 1-β_s."),
    ]
    return Exercise("your signal fraction", cases, reference, mistakes, read=numbers(1, "one number"))


def _col(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (x.ndim - 1)))  # (B,) -> (B, 1, ..., 1)


def _first_if_pair(out):
    """ddpm_helpers' ``q_sample`` returns ``(x_t, noise)``; an answer doing the same is read as x_t."""
    return out[0] if isinstance(out, tuple) and out and isinstance(out[0], torch.Tensor) else out


def _schedule_slips(of: str, root: bool) -> list:
    """The index slips of a coefficient ``(1 - )alpha_bars[t]`` (``of`` is "ab" or "1-ab"), rooted or not:
    alpha for alpha_bar, alpha_bars_prev, t-1 (wrapping at 0) and t+1 (out of range at T-1)."""
    def coef(pick):
        def f(x0, t, s, n):
            v = pick(s, t)
            v = v if of == "ab" else 1 - v
            return v.sqrt() if root else v
        return f
    where, right, wrong = (("x_0's coefficient", "√ᾱ_t", "√α_t") if of == "ab" else
                           ("The noise coefficient", "√(1-ᾱ_t)", "√(1-α_t)"))
    return [
        (coef(lambda s, t: s.alphas.double()[t]),
         f"{where}: {wrong} where {right} belongs. α_t is ONE step; ᾱ_t, the product of all steps up to t, "
         f"jumps from x_0."),
        (coef(lambda s, t: s.alpha_bars_prev.double()[t]),
         "Off by one: you used ᾱ_{t-1} (alpha_bars_prev). With 0-indexed t, alpha_bars[t] already includes step t."),
        (coef(lambda s, t: s.alpha_bars.double()[t - 1]), SHIFT_BACK),
        (coef(lambda s, t: s.alpha_bars.double()[t + 1]), SHIFT_ON),
    ]


def _q_sample() -> Exercise:
    g = torch.Generator().manual_seed(2)
    lin, cos = NoiseSchedule.linear(300), NoiseSchedule.cosine(200)
    cases = [(torch.randn(*shape, generator=g, device="cpu"), torch.tensor(t, device="cpu"), sched,
              torch.randn(*shape, generator=g, device="cpu"))
             for shape, t, sched in (((4, 1, 5, 4), [3, 40, 170, 299], lin),
                                     ((6, 2), [0, 10, 50, 100, 200, 299], lin),
                                     ((3, 1, 4, 4), [0, 99, 190], cos))]

    def reference(x0, t, s, n):
        return q_sample(x0, t, s, noise=n)[0]

    def ab(x0, t, s, n):
        return s.alpha_bars.double()[t]

    terms = {
        "signal": Term(lambda *c: ab(*c).sqrt(), [
            (ab, "Missing square root on ᾱ_t in front of x_0: the coefficient is √ᾱ_t (ᾱ_t is a share of VARIANCE)."),
            (lambda *c: (1 - ab(*c)).sqrt(), "x_0's coefficient is √ᾱ_t; you used √(1-ᾱ_t), the noise's."),
            (lambda *c: torch.ones_like(ab(*c)), "x_0 is not scaled: multiply it by √ᾱ_t."),
            (lambda *c: ab(*c) / 2, HALF_POWER)] + _schedule_slips("ab", root=True)),
        "noise": Term(lambda *c: (1 - ab(*c)).sqrt(), [
            (lambda *c: 1 - ab(*c), "Missing square root on the noise coefficient: it is √(1-ᾱ_t)."),
            (lambda *c: ab(*c).sqrt(), "The noise coefficient is √(1-ᾱ_t), not √ᾱ_t."),
            (lambda *c: 1 - ab(*c).sqrt(), "The noise coefficient is √(1-ᾱ_t), not 1 - √ᾱ_t: the root covers all "
                                           "of 1-ᾱ_t."),
            (lambda *c: torch.ones_like(ab(*c)), "The noise is not scaled: multiply it by √(1-ᾱ_t)."),
            (lambda *c: -(1 - ab(*c)).sqrt(), "You subtracted the noise: with the given noise the formula is "
                                              "x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε."),
            (lambda *c: (1 - ab(*c)) / 2, HALF_POWER)] + _schedule_slips("1-ab", root=True)),
    }
    mistakes, _ = term_slips(lambda v, x0, t, s, n: _col(v["signal"], x0) * x0 + _col(v["noise"], x0) * n, terms)
    mistakes.insert(0, (
        lambda x0, t, s, n: s.alpha_bars[t] ** 0.5 * x0 + (1 - s.alpha_bars[t]) ** 0.5 * n,
        "t is broadcast over the wrong axis: alpha_bars[t] has shape (B,), and multiplying it with a "
        "(B, 1, H, W) tensor lines it up with the LAST axis (width), not the batch. Reshape it to "
        "(B, 1, 1, 1) first, e.g. a = sched.alpha_bars[t].reshape(-1, *[1] * (x0.ndim - 1))."))
    hint = ("If it is a shape error: alpha_bars[t] has shape (B,); reshape it to (B, 1, ..., 1) so it "
            "broadcasts over the batch axis, e.g. .reshape(-1, *[1] * (x0.ndim - 1)).")
    return Exercise("your q_sample", cases, reference, mistakes, read=_first_if_pair, noise="noise", hint_on_error=hint)


def _two_steps() -> Exercise:
    cases = [(0.1, 0.3), (0.02, 0.5), (0.4, 0.2), (0.25, 0.05)]

    def a12(b1, b2):
        return (1 - b1) * (1 - b2)

    def reference(b1, b2):
        return as_f64([r(a12(b1, b2)), r(1 - a12(b1, b2))])

    parts = {
        "mean_coef": Term(lambda b1, b2: r(a12(b1, b2)), [
            (a12, "mean_coef: missing square root, it is √α₁·√α₂ = √(α₁α₂)."),
            (lambda b1, b2: r(1 - b2), "mean_coef: both steps shrink x₀, so it is √α₂·√α₁, not √α₂ alone."),
            (lambda b1, b2: r(1 - b1), "mean_coef: both steps shrink x₀, so it is √α₁·√α₂, not √α₁ alone."),
            (lambda b1, b2: r(1 - b1) + r(1 - b2), "mean_coef: the two shrinks MULTIPLY (x₀ is shrunk by √α₁, then "
                                                   "by √α₂), they do not add."),
            (lambda b1, b2: r(1 - b1 - b2), "mean_coef: it is √(α₁α₂) = √((1-β₁)(1-β₂)), not √(1-β₁-β₂)."),
            (lambda b1, b2: r(1 - a12(b1, b2)), "mean_coef: √(1-α₁α₂) is the std; the mean coefficient is √(α₁α₂)."),
            (lambda b1, b2: a12(b1, b2) / 2, HALF_POWER)]),
        "std": Term(lambda b1, b2: r(1 - a12(b1, b2)), [
            (lambda b1, b2: r(b2) + r(1 - b2) * r(b1),
             "std: you added the standard deviations; for independent Gaussians the VARIANCES add: "
             "α₂β₁ + β₂ = 1 - α₁α₂, then take the square root."),
            (lambda b1, b2: r(b1 + b2),
             "std: the first step's noise is shrunk by √α₂ in step 2, so its variance is α₂β₁, not β₁."),
            (lambda b1, b2: r(b1) + r(b2),
             "std: the standard deviations do not add; the variances α₂β₁ and β₂ do (step 1's noise shrunk by √α₂)."),
            (lambda b1, b2: 1 - a12(b1, b2),
             "std: you returned the variance 1 - α₁α₂; the standard deviation is its square root."),
            (lambda b1, b2: r(b2), "std: step 1's noise is still there, shrunk by √α₂: the variance is α₂β₁ + β₂."),
            (lambda b1, b2: r(a12(b1, b2)), "std: √(α₁α₂) is the mean coefficient; the std is √(1-α₁α₂)."),
            (lambda b1, b2: (1 - a12(b1, b2)) / 2, HALF_POWER)]),
    }
    mistakes, _ = term_slips(stack_parts, parts)
    return Exercise(
        "your two steps", cases, reference, mistakes, read=numbers(2, "a pair (mean_coef, std) of numbers"),
        parts=list(parts), praise="two steps are one Gaussian jump with mean √(α₁α₂) x₀ and variance 1 - α₁α₂.",
        unexplained="mean_coef: x₀ is shrunk by √α₁ in step 1 and by √α₂ in step 2. std: add the variances "
                    "α₂β₁ (step 1's noise, shrunk) and β₂, then take √.")


EXERCISES = {"forward_step": _forward_step, "signal_left": _signal_left, "q_sample": _q_sample,
             "two_steps": _two_steps}


def check_forward_step(fn) -> bool:
    r"""Notebook 01. ``fn(x_prev, beta_t, noise) -> x_t`` must implement Ho et al. 2020, eq. 2:
    x_t = \sqrt{1 - beta_t} x_{t-1} + \sqrt{beta_t} \epsilon, with ``beta_t`` a float."""
    return _forward_step().check(fn)


def check_signal_left(fn) -> bool:
    r"""Notebook 01. ``fn(T, beta_start, beta_end) -> float``: the fraction of x_0 left at the last
    step of a linear schedule, \sqrt{\bar\alpha_{T-1}} (0-indexed; the paper's \sqrt{\bar\alpha_T})."""
    return _signal_left().check(fn)


def check_q_sample(fn) -> bool:
    r"""Notebook 02. ``fn(x0, t, sched, noise) -> x_t`` must implement Ho et al. 2020, eq. 4:
    x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon, with ``t`` a (B,) long tensor
    (one timestep per item, t = 0 and T-1 among them) broadcast over any trailing shape."""
    return _q_sample().check(fn)


def check_two_steps(fn) -> bool:
    r"""Notebook 02. ``fn(beta_1, beta_2) -> (mean_coef, std)`` such that two forward steps give
    x_2 = mean_coef x_0 + std \epsilon in distribution:
    mean_coef = \sqrt{alpha_1 alpha_2}, std = \sqrt{1 - alpha_1 alpha_2}."""
    return _two_steps().check(fn)
