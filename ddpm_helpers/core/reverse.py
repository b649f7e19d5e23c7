r"""One reverse (denoising) step: the posterior, DDPM's step and DDIM's step.

Notation (symbol -> name), 0-indexed t as in ``schedules``:

    \hat\epsilon          eps            the model's noise prediction
    \hat x_0              predict_x0()   x_0 recovered from x_t and eps
    \tilde\mu_t           mean           posterior mean of q(x_{t-1} | x_t, x_0)
    \tilde\beta_t         posterior_variance[t]
    \sigma_t              sigma          noise scale of one reverse step
    \eta                  eta            DDIM's stochasticity (0: deterministic, 1: DDPM-like)

Sampler steps take ``t`` as a Python int and read the schedule's scalars as Python floats from its
float64 host tables (``sched.host64``), casting where they multiply a tensor: a step costs no device
sync on any device, MPS (which has no float64) included. Results are float32 (float64 for float64
inputs). Public functions check their arguments once (``core.checks``); the helpers they share do not.

Reverse variance: ``variance="posterior"`` uses sigma_t^2 = \tilde\beta_t (Ho et al. call it
the lower bound; diffusers' "fixed_small"); ``variance="beta"`` uses sigma_t^2 = beta_t
(the upper bound; "fixed_large"). Both give similar samples for large T.
"""
from __future__ import annotations

import math
from typing import Literal

import torch

from .checks import check_number, check_step, check_timestep, check_timesteps
from .forward import compute_dtype, extract, noise_like
from .schedules import NoiseSchedule

__all__ = ["predict_x0", "q_posterior", "ddpm_step", "ddim_terms", "ddim_step", "ddim_sigma"]


def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, t: int | torch.Tensor, sched: NoiseSchedule) -> torch.Tensor:
    r"""Invert the closed form (Ho et al. 2020, eq. 4 solved for x_0; their eq. 15):

        \hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t} \hat\epsilon) / \sqrt{\bar\alpha_t}.

    Shapes: x_t, eps (B, ...); t int or (B,) -> like x_t.
    """
    t = check_timesteps(t, sched.T, x_t.shape[0] if x_t.ndim else None)
    x_t = x_t.to(compute_dtype(x_t))
    ab = float(sched.host64.alpha_bars[t]) if t.ndim == 0 else extract(sched.alpha_bars, t, x_t)
    return _x0_hat(x_t, eps, ab)


def _x0_hat(x_t: torch.Tensor, eps: torch.Tensor, ab) -> torch.Tensor:
    """:func:`predict_x0` for a checked ``t``; ``ab`` a float or a tensor broadcasting against x_t."""
    ab = torch.as_tensor(ab, dtype=torch.float64, device="cpu") if isinstance(ab, float) else ab
    return (x_t - (1 - ab).sqrt() * eps.to(x_t.dtype)) / ab.sqrt()


def q_posterior(x0: torch.Tensor, x_t: torch.Tensor, t: int | torch.Tensor,
                sched: NoiseSchedule) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The forward-process posterior, Ho et al. 2020, eqs. 6-7:

        q(x_{t-1} | x_t, x_0) = N(\tilde\mu_t, \tilde\beta_t I),
        \tilde\mu_t = \sqrt{\bar\alpha_{t-1}} beta_t / (1 - \bar\alpha_t) x_0
                      + \sqrt{alpha_t} (1 - \bar\alpha_{t-1}) / (1 - \bar\alpha_t) x_t,
        \tilde\beta_t = (1 - \bar\alpha_{t-1}) / (1 - \bar\alpha_t) beta_t.

    Returns ``(mean, variance)``; the variance broadcasts against x_t.

    Shapes: x0, x_t (B, ...); t int or (B,) -> mean like x_t, variance () (a CPU scalar) or (B, 1, ..., 1).
    """
    t = check_timesteps(t, sched.T, x_t.shape[0] if x_t.ndim else None)
    x_t, x0 = x_t.to(compute_dtype(x_t)), x0.to(compute_dtype(x_t))
    # the coefficients are derived in float64 in the schedule (exact 1 and 0 at t = 0)
    coef_x0 = extract(sched.posterior_mean_coef_x0, t, x_t)
    coef_xt = extract(sched.posterior_mean_coef_xt, t, x_t)
    var = extract(sched.posterior_variance, t, x_t).to(dtype=x_t.dtype)  # a 0-d host scalar for an int t
    return coef_x0 * x0 + coef_xt * x_t, var


def _check_eps(x_t: torch.Tensor, eps: torch.Tensor) -> None:
    if eps.shape != x_t.shape:
        raise ValueError(f"eps must have x_t's shape {tuple(x_t.shape)}, got {tuple(eps.shape)}")


def ddpm_step(x_t: torch.Tensor, eps: torch.Tensor, t: int | torch.Tensor, sched: NoiseSchedule,
              noise: torch.Tensor | None = None, variance: Literal["posterior", "beta"] = "posterior",
              clip_x0: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""One step of Ho et al. 2020, Algorithm 2 (line 4):

        x_{t-1} = 1/\sqrt{alpha_t} (x_t - beta_t / \sqrt{1 - \bar\alpha_t} \hat\epsilon) + \sigma_t z,

    with z ~ N(0, I), and no noise at t == 0 (the last step returns the mean).
    ``variance`` picks sigma_t^2: "posterior" (\tilde\beta_t) or "beta" (beta_t).
    With ``clip_x0=True`` the same mean is computed through \hat x_0 clipped to [-1, 1]
    (what Ho et al.'s code does for images); without clipping the two routes are identical.

    Shapes: x_t, eps (B, ...); t int -> x_{t-1} like x_t.
    """
    t = check_timestep(t, sched.T)
    if variance not in ("posterior", "beta"):
        raise ValueError(f"variance must be 'posterior' (tilde beta_t) or 'beta' (beta_t), got {variance!r}")
    _check_eps(x_t, eps)
    x_t = x_t.to(compute_dtype(x_t))
    eps = eps.to(x_t.dtype)
    h = sched.host64  # float64 scalars, read on the host
    beta, ab = float(h.betas[t]), float(h.alpha_bars[t])
    if clip_x0:
        # 1. predict x_0 and clip it to the data range
        x0 = _x0_hat(x_t, eps, ab).clamp(-1, 1)
        # 2. the posterior mean given that x_0 (Ho et al. eq. 7)
        mean = (float(h.posterior_mean_coef_x0[t]) * x0 + float(h.posterior_mean_coef_xt[t]) * x_t)
    else:
        # 1. remove the scaled noise estimate: beta_t / sqrt(1 - alpha_bar_t) * eps
        # 2. rescale by 1 / sqrt(alpha_t)
        mean = (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(1 - beta)
    # 3. add sigma_t z, except on the final step
    if t == 0:
        return mean
    var = float(h.posterior_variance[t]) if variance == "posterior" else beta
    return mean + math.sqrt(var) * noise_like(x_t, noise, generator)


def ddim_sigma(t: int, t_prev: int, sched: NoiseSchedule, eta: float) -> float:
    r"""Song et al. 2021, eq. 16:

        \sigma_t = eta \sqrt{(1 - \bar\alpha_{prev}) / (1 - \bar\alpha_t)} \sqrt{1 - \bar\alpha_t / \bar\alpha_{prev}}.

    With eta = 1 and t_prev = t - 1 this is \sqrt{\tilde\beta_t}. Host float64 arithmetic on the
    schedule's float64 tables (``sched.host64``; MPS has no float64, so nothing runs on the device).
    """
    ab = float(sched.host64.alpha_bars[t])
    ab_prev = 1.0 if t_prev < 0 else float(sched.host64.alpha_bars[t_prev])
    return eta * math.sqrt((1 - ab_prev) / (1 - ab)) * math.sqrt(1 - ab / ab_prev)


def ddim_terms(x0_hat: torch.Tensor, eps: torch.Tensor, ab_prev: float,
               sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The two deterministic terms of DDIM's update, Song et al. 2021, eq. 12, written once for the series:

        x_{prev} = \sqrt{\bar\alpha_{prev}} \hat x_0  +  \sqrt{1 - \bar\alpha_{prev} - \sigma_t^2} \hat\epsilon
                   ("predicted x_0", first)            ("direction pointing to x_t", second)
                   +  \sigma_t z

    ``ab_prev``: \bar\alpha at the step's end (1.0 at x_0); ``sigma``: :func:`ddim_sigma`. The noise term
    \sigma_t z is the caller's. DDIM inversion uses it with the step's upper end as ``ab_prev`` and sigma 0.

    Shapes: x0_hat, eps (B, ...) -> two tensors like x0_hat (floats in, floats out: the coefficients).
    """
    return math.sqrt(ab_prev) * x0_hat, math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, t: int | torch.Tensor, t_prev: int | torch.Tensor,
              sched: NoiseSchedule, eta: float = 0.0, noise: torch.Tensor | None = None, clip_x0: bool = False,
              generator: torch.Generator | None = None) -> torch.Tensor:
    r"""One step of DDIM, Song et al. 2021, eq. 12 (:func:`ddim_terms`), from step t to step t_prev < t:

        x_{prev} = \sqrt{\bar\alpha_{prev}} \hat x_0
                   + \sqrt{1 - \bar\alpha_{prev} - \sigma_t^2} \hat\epsilon
                   + \sigma_t z,

    with \hat x_0 from :func:`predict_x0` and \sigma_t from :func:`ddim_sigma`.
    ``t_prev = -1`` is the final step, where \bar\alpha_{prev} = 1.

    Shapes: x_t, eps (B, ...); t, t_prev ints -> x_prev like x_t.
    """
    t, t_prev = check_step(t, t_prev, sched.T)
    eta = check_number("eta", eta, lo=0, what="0: deterministic DDIM, 1: DDPM-like")
    _check_eps(x_t, eps)
    x_t = x_t.to(compute_dtype(x_t))
    eps = eps.to(x_t.dtype)
    # 1. alpha_bar at both ends of the step
    ab = float(sched.host64.alpha_bars[t])
    ab_prev = 1.0 if t_prev < 0 else float(sched.host64.alpha_bars[t_prev])
    # 2. predicted x_0 ("predicted x_0" term of eq. 12)
    x0 = _x0_hat(x_t, eps, ab)
    if clip_x0:  # clip, then re-derive the noise that matches the clipped x_0
        x0 = x0.clamp(-1, 1)
        eps = (x_t - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
    # 3. the noise scale sigma_t (eq. 16)
    sigma = ddim_sigma(t, t_prev, sched, eta)
    # 4. the scaled x_0 and the "direction pointing to x_t"
    x0_term, direction = ddim_terms(x0, eps, ab_prev, sigma)
    # 5. random noise, only when eta > 0
    if sigma > 0:
        return x0_term + direction + sigma * noise_like(x_t, noise, generator)
    return x0_term + direction
