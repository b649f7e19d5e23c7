r"""Notebooks 01-02's exercise self-checks: one forward step, the signal left at the end, the closed
form ``q_sample`` and two steps in one.

Each ``check_<name>(my_<name>)`` describes its exercise (cases, reference, typical mistakes) and hands
it to :func:`ddpm_helpers.ui.checking.check_answer`, which prints the verdict and returns True/False.

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
from ...ui.checking import as_f64, check_answer, numbers

__all__ = ["check_forward_step", "check_signal_left", "check_q_sample", "check_two_steps"]

r = math.sqrt


def check_forward_step(fn) -> bool:
    r"""Notebook 01. ``fn(x_prev, beta_t, noise) -> x_t`` must implement Ho et al. 2020, eq. 2:
    x_t = \sqrt{1 - beta_t} x_{t-1} + \sqrt{beta_t} \epsilon, with ``beta_t`` a float."""
    g = torch.Generator().manual_seed(1)
    cases = [(torch.randn(4, 1, 6, 6, generator=g, device="cpu"), b, torch.randn(4, 1, 6, 6, generator=g, device="cpu"))
             for b in (0.3, 0.05)]
    cases.append((torch.randn(5, 2, generator=g, device="cpu"), 0.6, torch.randn(5, 2, generator=g, device="cpu")))

    def reference(x, b, n):
        return forward_step(x, 0, NoiseSchedule.from_betas([b]), noise=n)

    mistakes = [
        (lambda x, b, n: r(1 - b) * x + b * n,
         "The noise is scaled by β_t, but β_t is its VARIANCE: scale ε by √β_t (missing square root on β_t)."),
        (lambda x, b, n: x + r(b) * n,
         "x_{t-1} is not shrunk: multiply it by √(1-β_t). Without the shrink the variance grows by β_t "
         "every step and never settles at 1 (see the exploding-variance plot)."),
        (lambda x, b, n: (1 - b) * x + r(b) * n,
         "The shrink is (1-β_t) but must be √(1-β_t) (missing square root): the variance then drifts "
         "below 1 instead of settling at 1."),
        (lambda x, b, n: r(1 - b) * x + n,
         "The noise is not scaled: ε must be multiplied by √β_t (wrong noise scale)."),
        (lambda x, b, n: r(b) * x + r(1 - b) * n,
         "The two coefficients are swapped: x_{t-1} gets √(1-β_t) and the noise gets √β_t."),
        (lambda x, b, n: r(1 - b) * x - r(b) * n,
         "You subtracted the noise. In distribution that is the same (ε and -ε are both N(0, I)), but "
         "with the given noise the formula is x_t = √(1-β_t) x_{t-1} + √β_t ε."),
    ]
    return check_answer(fn, "your forward step", cases, reference, mistakes=mistakes)


def _alpha_bars(T, b0, b1):
    return torch.cumprod(1 - torch.linspace(b0, b1, T, dtype=torch.float64, device="cpu"), 0)


def check_signal_left(fn) -> bool:
    r"""Notebook 01. ``fn(T, beta_start, beta_end) -> float``: the fraction of x_0 left at the last
    step of a linear schedule, \sqrt{\bar\alpha_{T-1}} (0-indexed; the paper's \sqrt{\bar\alpha_T})."""
    cases = [(300, 1e-4, 0.02), (10, 0.1, 0.3), (5, 0.2, 0.4)]

    def reference(T, b0, b1):
        return NoiseSchedule.linear(T, b0, b1).alpha_bars.double()[-1].sqrt()

    mistakes = [
        (lambda T, b0, b1: _alpha_bars(T, b0, b1)[-1],
         "You returned ᾱ_T itself; the fraction of the image left (the coefficient of x_0) is √ᾱ_T."),
        (lambda T, b0, b1: (1 - _alpha_bars(T, b0, b1)[-1]).sqrt(),
         "You returned √(1-ᾱ_T), the NOISE coefficient; the signal left is √ᾱ_T."),
        (lambda T, b0, b1: r(1 - b1),
         "You used the last α_T = 1-β_T alone; the signal left is the square root of the PRODUCT of all "
         "α_s, s = 1..T (ᾱ_T)."),
        (lambda T, b0, b1: _alpha_bars(T, b0, b1)[-2].sqrt() if T > 1 else 1.0,
         "Off by one: your product stops one step early (T-1 factors). ᾱ_T multiplies all T of the α_s."),
        (lambda T, b0, b1: (1 - torch.linspace(b0, b1, T, dtype=torch.float64, device="cpu").sum()).clamp(min=0).sqrt(),
         "You subtracted the summed betas; ᾱ_T is a product ∏(1-β_s), not 1 - Σβ_s."),
    ]
    return check_answer(fn, "your signal fraction", cases, reference, mistakes=mistakes, read=numbers(1, "one number"))


def _col(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (x.ndim - 1)))  # (B,) -> (B, 1, ..., 1)


def _first_if_pair(out):
    """ddpm_helpers' ``q_sample`` returns ``(x_t, noise)``; an answer doing the same is read as x_t."""
    return out[0] if isinstance(out, tuple) and out and isinstance(out[0], torch.Tensor) else out


def check_q_sample(fn) -> bool:
    r"""Notebook 02. ``fn(x0, t, sched, noise) -> x_t`` must implement Ho et al. 2020, eq. 4:
    x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon, with ``t`` a (B,) long tensor
    (one timestep per item, t = 0 and T-1 among them) broadcast over any trailing shape."""
    g = torch.Generator().manual_seed(2)
    lin, cos = NoiseSchedule.linear(300), NoiseSchedule.cosine(200)
    cases = [(torch.randn(*shape, generator=g, device="cpu"), torch.tensor(t, device="cpu"), sched,
              torch.randn(*shape, generator=g, device="cpu"))
             for shape, t, sched in (((4, 1, 5, 4), [3, 40, 170, 299], lin),
                                     ((6, 2), [0, 10, 50, 100, 200, 299], lin),
                                     ((3, 1, 4, 4), [5, 99, 190], cos))]

    def reference(x0, t, s, n):
        return q_sample(x0, t, s, noise=n)[0]

    def closed_form(coef_x0, coef_noise):
        """x_t = coef_x0[t] x0 + coef_noise[t] noise, the per-item coefficients taken from the schedule."""
        return lambda x0, t, s, n: _col(coef_x0(s)[t], x0) * x0 + _col(coef_noise(s)[t], x0) * n

    mistakes = [
        (lambda x0, t, s, n: s.alpha_bars[t] ** 0.5 * x0 + (1 - s.alpha_bars[t]) ** 0.5 * n,
         "t is broadcast over the wrong axis: alpha_bars[t] has shape (B,), and multiplying it with a "
         "(B, 1, H, W) tensor lines it up with the LAST axis (width), not the batch. Reshape it to "
         "(B, 1, 1, 1) first, e.g. a = sched.alpha_bars[t].reshape(-1, *[1] * (x0.ndim - 1))."),
        (closed_form(lambda s: s.alpha_bars, lambda s: 1 - s.alpha_bars),
         "Missing square roots: the coefficients are √ᾱ_t and √(1-ᾱ_t) (ᾱ_t and 1-ᾱ_t are variances)."),
        (closed_form(lambda s: s.alpha_bars, lambda s: (1 - s.alpha_bars).sqrt()),
         "Missing square root on ᾱ_t in front of x_0: the coefficient is √ᾱ_t."),
        (closed_form(lambda s: s.alpha_bars.sqrt(), lambda s: 1 - s.alpha_bars),
         "Missing square root on the noise coefficient: it is √(1-ᾱ_t)."),
        (closed_form(lambda s: s.alphas.sqrt(), lambda s: (1 - s.alphas).sqrt()),
         "You used α_t (one step) instead of ᾱ_t (the product over all steps up to t): that is a single "
         "forward step, not the jump from x_0."),
        (closed_form(lambda s: s.alpha_bars_prev.sqrt(), lambda s: (1 - s.alpha_bars_prev).sqrt()),
         "Off by one: you used ᾱ_{t-1} (alpha_bars_prev). With 0-indexed t, alpha_bars[t] already "
         "includes step t."),
        (closed_form(lambda s: s.alpha_bars.sqrt(), lambda s: s.alpha_bars.sqrt()),
         "The noise coefficient is √(1-ᾱ_t), not √ᾱ_t."),
    ]
    hint = ("If it is a shape error: alpha_bars[t] has shape (B,); reshape it to (B, 1, ..., 1) so it "
            "broadcasts over the batch axis, e.g. .reshape(-1, *[1] * (x0.ndim - 1)).")
    return check_answer(fn, "your q_sample", cases, reference, mistakes=mistakes, read=_first_if_pair,
                        hint_on_error=hint)


def check_two_steps(fn) -> bool:
    r"""Notebook 02. ``fn(beta_1, beta_2) -> (mean_coef, std)`` such that two forward steps give
    x_2 = mean_coef x_0 + std \epsilon in distribution:
    mean_coef = \sqrt{alpha_1 alpha_2}, std = \sqrt{1 - alpha_1 alpha_2}."""
    cases = [(0.1, 0.3), (0.02, 0.5), (0.4, 0.2)]

    def reference(b1, b2):
        return as_f64([r((1 - b1) * (1 - b2)), r(1 - (1 - b1) * (1 - b2))])

    parts = {
        "mean_coef": [
            (lambda b1, b2: (1 - b1) * (1 - b2), "mean_coef: missing square root, it is √α₁·√α₂ = √(α₁α₂)."),
            (lambda b1, b2: r(1 - b2), "mean_coef: both steps shrink x₀, so it is √α₂·√α₁, not √α₂ alone."),
        ],
        "std": [
            (lambda b1, b2: r(b2) + r(1 - b2) * r(b1),
             "std: you added the standard deviations; for independent Gaussians the VARIANCES add: "
             "α₂β₁ + β₂ = 1 - α₁α₂, then take the square root."),
            (lambda b1, b2: r(b1 + b2),
             "std: the first step's noise is shrunk by √α₂ in step 2, so its variance is α₂β₁, not β₁."),
            (lambda b1, b2: 1 - (1 - b1) * (1 - b2),
             "std: you returned the variance 1 - α₁α₂; the standard deviation is its square root."),
        ],
    }
    return check_answer(
        fn, "your two steps", cases, reference, parts=parts, read=numbers(2, "a pair (mean_coef, std) of numbers"),
        praise="two steps are one Gaussian jump with mean √(α₁α₂) x₀ and variance 1 - α₁α₂.",
        unexplained="mean_coef: x₀ is shrunk by √α₁ in step 1 and by √α₂ in step 2. std: add the variances "
                    "α₂β₁ (step 1's noise, shrunk) and β₂, then take √.")
