r"""Notebook 03's exercise self-checks: one reverse step and recovering x_0 from a noise estimate.

Each ``check_<name>(my_<name>)`` describes its exercise (cases, reference, typical mistakes) and hands
it to :func:`ddpm_helpers.ui.checking.check_answer`, which prints the verdict and returns True/False.
Both checks run the boundary timesteps t = 0, 1 and T-1 besides random ones, so off-by-one slips
at the ends of the chain are caught.

Notation (symbol -> name), 0-indexed t as in ``core.schedules``:

    beta_t, alpha_t       betas[t], alphas[t]
    \bar\alpha_t          alpha_bars[t]
    \tilde\beta_t         posterior_variance[t]        sigma_t^2 of the reverse step
    \hat\epsilon          eps_hat                      the model's noise estimate
    z                     z                            fresh N(0, I) noise of the step
"""
from __future__ import annotations

import math

import torch

from ...core.reverse import ddpm_step, predict_x0
from ...core.schedules import NoiseSchedule
from ...ui.checking import check_answer

__all__ = ["check_reverse_step", "check_predict_x0"]

r = math.sqrt

_NO_NOISE_AT_1 = ("No noise added at t = 1: the noise is skipped only on the very last step, t = 0 here (0-indexed). "
                  "`if t > 1` is the paper's 1-indexed rule (Algorithm 2: z = 0 when t = 1) applied to 0-indexed t, "
                  "an off-by-one that drops one step of noise. Use `if t > 0`.")


def _scalars(t: int, s: NoiseSchedule) -> tuple[float, float, float]:
    return s.betas[t].item(), s.alphas[t].item(), s.alpha_bars[t].item()


def _posterior_std(t: int, s: NoiseSchedule) -> float:
    return r(s.posterior_variance[t].item())


def _beta_std(t: int, s: NoiseSchedule) -> float:
    return r(s.betas[t].item())


def _right_mean(x, e, b, a, ab):
    return (x - b / r(1 - ab) * e) / r(a)


def _reverse_step(mean=_right_mean, sigma=_posterior_std, first_noisy_t=1, noise_at_0=False):
    """A reverse step built from its parts: ``mean(x, e, beta, alpha, alpha_bar) + sigma(t, s) z``,
    the noise added for t >= ``first_noisy_t`` (and at t = 0 too with ``noise_at_0``)."""
    def step(x, e, t, s, z):
        out = mean(x, e, *_scalars(t, s))
        if t >= first_noisy_t or noise_at_0:
            out = out + sigma(t, s) * z
        return out
    return step


def check_reverse_step(fn) -> bool:
    r"""Notebook 03. ``fn(x_t, eps_hat, t, sched, z) -> x_{t-1}``: Ho et al. 2020, Algorithm 2, line 4,
    x_{t-1} = 1/\sqrt{alpha_t} (x_t - beta_t/\sqrt{1 - \bar\alpha_t} \hat\epsilon) + \sigma_t z with
    \sigma_t^2 = \tilde\beta_t (posterior variance), and no noise at t = 0. ``t`` is an int.

    The cases include the boundary timesteps t = 0, 1 and T-1 (not only random ones), so the seed blog's
    slip of the paper's 1-indexed ``if t > 1`` applied to 0-indexed t (no noise at t = 1) is caught."""
    g = torch.Generator().manual_seed(3)
    s = NoiseSchedule.linear(100)
    cases = [(torch.randn(8, 2, generator=g, device="cpu"), torch.randn(8, 2, generator=g, device="cpu"), t, s,
              torch.randn(8, 2, generator=g, device="cpu"))
             for t in (60, 3, 0, 1, s.T - 1)]

    def reference(x, e, t, s, z):
        return ddpm_step(x, e, t, s, noise=z)

    accepted = [(_reverse_step(sigma=_beta_std),
                 "You used σ_t² = β_t (Ho et al.'s other choice, 'fixed_large'). That is also valid; this "
                 "series uses the posterior variance β̃_t, so your samples will be slightly noisier.")]
    mistakes = [
        (_reverse_step(lambda x, e, b, a, ab: (x + b / r(1 - ab) * e) / r(a)),
         "Wrong sign of the noise term: SUBTRACT the scaled noise estimate, x_t - β_t/√(1-ᾱ_t)·ε̂ "
         "(you added it, which pushes x further into the noise)."),
        (_reverse_step(lambda x, e, b, a, ab: (x - e) / r(a)),
         "You subtracted the whole predicted noise ε̂. One step removes only the fraction "
         "β_t/√(1-ᾱ_t) of it; ε̂ is the noise accumulated over ALL steps up to t."),
        (_reverse_step(lambda x, e, b, a, ab: x - e),
         "You subtracted the whole predicted noise ε̂ and did not rescale by 1/√α_t. One step removes "
         "only β_t/√(1-ᾱ_t)·ε̂, then divides by √α_t."),
        (_reverse_step(lambda x, e, b, a, ab: x - b / r(1 - ab) * e),
         "Missing the 1/√α_t rescaling: the forward step shrank x by √α_t, so the reverse step must "
         "divide by it."),
        (_reverse_step(sigma=_beta_std, noise_at_0=True),
         "Noise added at t = 0: the last step must return the mean alone (Algorithm 2: z = 0 when t = 1 "
         "in the paper's numbering, t = 0 here), or the final samples keep a layer of noise."),
        (_reverse_step(first_noisy_t=2), _NO_NOISE_AT_1),
        (_reverse_step(sigma=_beta_std, first_noisy_t=2), _NO_NOISE_AT_1),
        (_reverse_step(sigma=lambda t, s: s.posterior_variance[t].item()),
         "σ_t is the standard DEVIATION: use √β̃_t (sqrt of posterior_variance[t]), not β̃_t."),
        (_reverse_step(sigma=lambda t, s: 0.0),
         "No noise added: for t > 0 add σ_t z with σ_t = √β̃_t. Without it, sampling collapses toward "
         "the mean (too little spread)."),
    ]
    return check_answer(fn, "your reverse step", cases, reference, mistakes=mistakes, accepted=accepted)


def check_predict_x0(fn) -> bool:
    r"""Notebook 03. ``fn(x_t, eps_hat, t, sched) -> x0_hat``: the closed form solved for x_0,
    \hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t} \hat\epsilon) / \sqrt{\bar\alpha_t}, ``t`` an int."""
    g = torch.Generator().manual_seed(4)
    s = NoiseSchedule.linear(100)
    cases = [(torch.randn(8, 2, generator=g, device="cpu"), torch.randn(8, 2, generator=g, device="cpu"), t, s)
             for t in (70, 20, 1, 0, s.T - 1)]  # the boundary timesteps 0, 1, T-1 included

    def reference(x, e, t, s):
        return predict_x0(x, e, t, s)

    def ab(t, s):
        return s.alpha_bars[t].item()

    mistakes = [
        (lambda x, e, t, s: x - e,
         "x₀ = x_t - ε̂ is the classic blunder: x_t is √ᾱ_t x₀ + √(1-ᾱ_t) ε, so remove √(1-ᾱ_t)·ε̂ "
         "and then divide by √ᾱ_t."),
        (lambda x, e, t, s: (x - e) / r(ab(t, s)),
         "The noise enters x_t scaled by √(1-ᾱ_t): subtract √(1-ᾱ_t)·ε̂, not ε̂."),
        (lambda x, e, t, s: x - r(1 - ab(t, s)) * e,
         "Missing the division by √ᾱ_t: x₀ was shrunk by √ᾱ_t on the way in."),
        (lambda x, e, t, s: (x - r(1 - s.alphas[t].item()) * e) / r(s.alphas[t].item()),
         "You used α_t (one step) instead of ᾱ_t (all steps up to t)."),
        (lambda x, e, t, s: (x + r(1 - ab(t, s)) * e) / r(ab(t, s)),
         "Wrong sign: SUBTRACT the noise √(1-ᾱ_t)·ε̂ from x_t."),
        (lambda x, e, t, s: (x - (1 - ab(t, s)) * e) / ab(t, s),
         "Missing square roots: the coefficients are √ᾱ_t and √(1-ᾱ_t)."),
    ]
    return check_answer(fn, "your predict_x0", cases, reference, mistakes=mistakes)
