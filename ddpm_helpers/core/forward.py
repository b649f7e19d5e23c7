r"""The forward (noising) process q.

Notation (symbol -> name), 0-indexed t as in ``schedules``:

    x_0                 x0          clean data
    x_t                 x_t         data after t + 1 noising steps
    \epsilon            noise       standard normal, same shape as the data
    \sqrt{\bar\alpha_t} alpha_bars[t] ** 0.5

Two ways to reach x_t:

* one Markov step at a time (Ho et al. 2020, eq. 2):
  q(x_t | x_{t-1}) = N(\sqrt{1 - beta_t} x_{t-1}, beta_t I)      -> :func:`forward_step`
* one jump from x_0 (Ho et al. 2020, eq. 4):
  q(x_t | x_0) = N(\sqrt{\bar\alpha_t} x_0, (1 - \bar\alpha_t) I)  -> :func:`q_sample`
"""
from __future__ import annotations

import torch

from .checks import check_timesteps
from .schedules import NoiseSchedule

__all__ = ["forward_step", "q_sample", "extract", "noise_like", "compute_dtype"]


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    r"""The dtype the maths of the series runs in for data ``x``: float32, or float64 for float64 data.

    Half-precision data (bf16/fp16) are promoted: with \bar\alpha_t = 0.9999 at small t, bf16 would
    round \bar\alpha_t to 1 and the noise term \sqrt{1 - \bar\alpha_t} to 0.
    """
    return torch.promote_types(x.dtype, torch.float32) if x.dtype.is_floating_point else torch.float32


def extract(values: torch.Tensor, t: int | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Pick ``values[t]`` and shape it to broadcast against ``x``.

    A single timestep (0-d ``t``) gives a 0-d float64 tensor on the CPU: a host scalar that
    multiplies a tensor on any device without a copy or a sync (the sampler steps keep the
    schedule on the CPU for this). A batch of timesteps gives ``(B, 1, ..., 1)`` on ``x``'s device
    in :func:`compute_dtype` of ``x``.

    Shapes: values (T,); t () or (B,); x (B, ...) -> () or (B, 1, ..., 1).
    """
    if isinstance(t, int):
        t = torch.tensor(t, device="cpu")
    if t.ndim == 0:
        return values[t].to("cpu", torch.float64)
    out = values.to(x.device)[t.to(x.device)].to(compute_dtype(x))
    return out.reshape(-1, *([1] * (x.ndim - 1)))  # (B,) -> (B, 1, ..., 1)


def noise_like(x: torch.Tensor, noise: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """``noise`` after checking its shape, or fresh N(0, I) noise shaped like ``x`` on ``x``'s
    device in :func:`compute_dtype` of ``x`` (drawn on the generator's device, then moved, so a CPU
    generator gives the same numbers on every machine)."""
    if noise is None:
        src = generator.device if generator is not None else x.device
        return torch.randn(x.shape, generator=generator, device=src).to(x.device, compute_dtype(x))
    if noise.shape != x.shape:
        raise ValueError(f"noise must have the data's shape {tuple(x.shape)}, got {tuple(noise.shape)}")
    return noise.to(x.device, compute_dtype(x))


def _batch(x: torch.Tensor) -> int | None:
    return x.shape[0] if x.ndim >= 1 else None


def forward_step(x_prev: torch.Tensor, t: int | torch.Tensor, sched: NoiseSchedule,
                 noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""One Markov step, Ho et al. 2020, eq. 2:

        x_t = \sqrt{1 - beta_t} x_{t-1} + \sqrt{beta_t} \epsilon,   \epsilon ~ N(0, I).

    With 0-indexed ``t``, ``x_prev`` is the data after ``t`` steps (``x_prev = x_0`` at ``t = 0``).
    Computed in float32 (float64 for float64 data), whatever the input's precision.

    Shapes: x_prev (B, ...); t int or (B,); noise like x_prev -> x_t like x_prev.
    """
    t = check_timesteps(t, sched.T, _batch(x_prev))
    x_prev = x_prev.to(compute_dtype(x_prev))
    noise = noise_like(x_prev, noise, generator)
    beta = extract(sched.betas, t, x_prev)
    return (1 - beta).sqrt() * x_prev + beta.sqrt() * noise


def q_sample(x0: torch.Tensor, t: int | torch.Tensor, sched: NoiseSchedule, noise: torch.Tensor | None = None,
             generator: torch.Generator | None = None, *, check: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Jump straight to step t, Ho et al. 2020, eq. 4:

        x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon.

    Returns ``(x_t, noise)``; the noise is what a denoiser learns to predict. Both are float32
    (float64 for float64 data) whatever the input's precision and whether ``t`` is an int or a
    tensor. ``check=False`` skips validating ``t`` (for loops that drew it from 0..T-1 themselves).

    Shapes: x0 (B, ...) (2-D points (B, 2) or images (B, C, H, W)); t int or (B,);
    noise like x0 -> (x_t, noise), both like x0.
    """
    if check:
        t = check_timesteps(t, sched.T, _batch(x0))
    x0 = x0.to(compute_dtype(x0))
    noise = noise_like(x0, noise, generator)
    ab = extract(sched.alpha_bars, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise, noise
