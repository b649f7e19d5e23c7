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

from .schedules import NoiseSchedule

__all__ = ["forward_step", "q_sample", "extract", "check_timesteps"]


def check_timesteps(t, T: int, batch: int | None = None, name: str = "t") -> torch.Tensor:
    """Validate ``t`` and return it as a long tensor: 0-d for an int, ``(B,)`` for a batch.

    ``t`` may be a Python int, a 0-d integer tensor, or a 1-D integer tensor with one entry per
    item of the batch (``batch`` entries, when given). Every value must lie in ``0 .. T-1``.
    """
    if isinstance(t, bool):
        raise ValueError(f"{name} must be an integer timestep in 0..{T - 1}, got the bool {t!r}")
    if isinstance(t, int):
        tt = torch.tensor(t)
    elif isinstance(t, torch.Tensor):
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise ValueError(f"{name} must hold integers (torch.long), got dtype {t.dtype}; "
                             f"use t.long() or torch.randint")
        if t.ndim > 1:
            raise ValueError(f"{name} must be an int or a 1-D tensor of shape (B,), got shape {tuple(t.shape)}")
        tt = t.long()
    else:
        raise ValueError(f"{name} must be an int or an integer tensor, got {type(t).__name__} {t!r}")
    if tt.ndim == 1 and batch is not None and tt.shape[0] != batch:
        raise ValueError(f"{name} has {tt.shape[0]} entries but the batch has {batch} items; "
                         f"give one timestep per item (shape ({batch},)) or a single int")
    if tt.numel() and (int(tt.min()) < 0 or int(tt.max()) > T - 1):
        bad = int(tt.min()) if int(tt.min()) < 0 else int(tt.max())
        raise ValueError(f"{name} must lie in 0..{T - 1} (0-indexed, T={T}), got {bad}")
    return tt


def extract(values: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Pick ``values[t]`` and shape it to broadcast against ``x``.

    Shapes: values (T,); t () or (B,); x (B, ...) -> () or (B, 1, ..., 1).
    """
    out = values.to(x.device)[t.to(x.device)]
    if t.ndim == 0:
        return out.to(x.dtype if x.dtype.is_floating_point else torch.float32)
    return out.reshape(-1, *([1] * (x.ndim - 1)))  # (B,) -> (B, 1, ..., 1)


def _noise_like(x: torch.Tensor, noise, generator) -> torch.Tensor:
    if noise is None:
        return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if noise.shape != x.shape:
        raise ValueError(f"noise must have the data's shape {tuple(x.shape)}, got {tuple(noise.shape)}")
    return noise


def _batch(x: torch.Tensor) -> int | None:
    return x.shape[0] if x.ndim >= 1 else None


def forward_step(x_prev: torch.Tensor, t, sched: NoiseSchedule, noise=None, generator=None) -> torch.Tensor:
    r"""One Markov step, Ho et al. 2020, eq. 2:

        x_t = \sqrt{1 - beta_t} x_{t-1} + \sqrt{beta_t} \epsilon,   \epsilon ~ N(0, I).

    With 0-indexed ``t``, ``x_prev`` is the data after ``t`` steps (``x_prev = x_0`` at ``t = 0``).

    Shapes: x_prev (B, ...); t int or (B,); noise like x_prev -> x_t like x_prev.
    """
    t = check_timesteps(t, sched.T, _batch(x_prev))
    noise = _noise_like(x_prev, noise, generator)
    beta = extract(sched.betas, t, x_prev)
    return (1 - beta).sqrt() * x_prev + beta.sqrt() * noise


def q_sample(x0: torch.Tensor, t, sched: NoiseSchedule, noise=None, generator=None):
    r"""Jump straight to step t, Ho et al. 2020, eq. 4:

        x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon.

    Returns ``(x_t, noise)``; the noise is what a denoiser learns to predict.

    Shapes: x0 (B, ...) (2-D points (B, 2) or images (B, C, H, W)); t int or (B,);
    noise like x0 -> (x_t, noise), both like x0.
    """
    t = check_timesteps(t, sched.T, _batch(x0))
    noise = _noise_like(x0, noise, generator)
    ab = extract(sched.alpha_bars, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise, noise
