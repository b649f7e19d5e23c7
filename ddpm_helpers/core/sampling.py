r"""Samplers: run a trained noise predictor from x_T ~ N(0, I) back to x_0, through ONE reverse loop.

* :func:`reverse_loop`: the one loop every sampler in the series runs (DDPM, DDIM, the naive-skip
  and full-noise blunders, the troubleshooting gallery, DDIM inversion, the panels). It calls the
  model once per listed timestep and hands ``eps_hat`` to a step function.
* :func:`ddpm_sample`: Ho et al. 2020, Algorithm 2, every step t = T-1 .. 0.
* :func:`ddim_sample`: Song et al. 2021, a subsequence of ``steps`` timesteps.
* :func:`predict_noise`: one model call, device-safe, for the notebooks' "what does the model see" cells.
* Small helpers: :func:`draw_noise`, :func:`start_noise` (and ``runtime.model_device`` / ``runtime.eval_mode``).

Devices (the contract):
  - the model runs where its parameters are (:func:`model_device`); ``x_T``, noise and timesteps
    may come from anywhere and are moved there;
  - per-step tensors (the (B,) timestep batch, the noise) are built on the model's device; the
    schedule stays on the CPU and its scalars are read as host floats (float64 arithmetic), so a
    step costs no host-device sync beyond the model call;
  - **everything a sampler returns (x_0, trajectories) is a float32 tensor on the CPU**, moved
    once at the end, ready for plots, metrics and numpy.
Noise: drawn from ``generator`` on the generator's device and moved (a CPU generator gives the
same samples on every machine); with ``generator=None`` it is drawn on the model's device.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .checks import check_int, check_number
from .reverse import ddim_step, ddpm_step
from .runtime import eval_mode, model_device, small_model_threads
from .schedules import NoiseSchedule

__all__ = ["draw_noise", "start_noise", "reverse_loop", "predict_noise", "ddpm_sample",
           "ddim_sample", "ddim_timesteps"]

# step(x, eps, i, z) -> x_next: ``i`` indexes the loop's timesteps, ``z`` is the step's fresh noise or None
StepFn = Callable[[torch.Tensor, torch.Tensor, int, "torch.Tensor | None"], torch.Tensor]
# x_0, or (x_0, trajectory) with return_trajectory=True
SamplerResult = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def draw_noise(shape: Sequence[int], generator: torch.Generator | None, device: torch.device | str) -> torch.Tensor:
    """Standard normal float32 noise of ``shape`` on ``device``, drawn on the generator's device
    (so a seeded CPU generator gives the same numbers on every machine) or, without a generator,
    directly on ``device``."""
    src = generator.device if generator is not None else torch.device(device)
    return torch.randn(tuple(shape), generator=generator, device=src).to(device, non_blocking=True)


def start_noise(x_T: torch.Tensor | None, shape: Sequence[int], generator: torch.Generator | None,
                device: torch.device | str) -> torch.Tensor:
    """A sampler's starting point on ``device``: ``x_T`` (checked against ``shape``, copied as float32)
    or, when it is None, fresh noise from :func:`draw_noise`."""
    shape = tuple(shape)
    if x_T is None:
        return draw_noise(shape, generator, device)
    if not isinstance(x_T, torch.Tensor) or tuple(x_T.shape) != shape:
        raise ValueError(f"x_T must have shape {shape} (a tensor), got {tuple(getattr(x_T, 'shape', ()))}")
    return x_T.to(device, torch.float32).clone()


def reverse_loop(model: nn.Module, x_T: torch.Tensor, timesteps: Sequence[int], step: StepFn, *,
                 noise_at: Callable[[int], bool] | None = None, noises: torch.Tensor | None = None,
                 generator: torch.Generator | None = None, return_trajectory: bool = False,
                 progress: bool = False, desc: str = "sampling",
                 device: torch.device | str | None = None) -> SamplerResult:
    r"""The one reverse loop of the series. For i, t in enumerate(timesteps):

        1. \hat\epsilon = model(x, t)          (t as a (B,) long tensor on the model's device)
        2. z = fresh noise if ``noise_at(i)`` (or ``noises[i]`` when pre-drawn), else None
        3. x = step(x, \hat\epsilon, i, z)

    under :func:`eval_mode` (inference mode; the model's mode is restored afterwards).
    ``x_T`` may live on any device; it is moved to the model's (``device`` overrides it).
    ``noises``: a pre-drawn ``(len(timesteps), B, ...)`` tensor (any device), so several variants
    of a sampler can share the very same z (the troubleshooting gallery).
    Returns x_0, or ``(x_0, trajectory)`` with ``return_trajectory=True``; both float32 on the CPU.

    Shapes: x_T (B, ...) -> x_0 (B, ...); trajectory (len(timesteps) + 1, B, ...), x_T first.
    """
    timesteps = [int(t) for t in timesteps]
    device = torch.device(device) if device is not None else model_device(model)
    x = x_T.to(device, torch.float32)
    if noises is not None and tuple(noises.shape) != (len(timesteps), *x.shape):
        raise ValueError(f"noises must have shape {(len(timesteps), *x.shape)} (one per step), "
                         f"got {tuple(noises.shape)}")
    traj = [x] if return_trajectory else None  # kept on the device; one copy to the CPU at the end
    with eval_mode(model), small_model_threads(model, device):  # one CPU thread for the 2-D MLP
        for i, t in enumerate(tqdm(timesteps, desc=desc, disable=not progress, leave=False)):
            # 1. the model's noise estimate at this timestep
            tb = torch.full((x.shape[0],), t, device=device, dtype=torch.long)  # () -> (B,)
            eps = model(x, tb).float()
            # 2. the step's fresh noise, if it takes any
            if noises is not None:
                z = noises[i].to(device, torch.float32, non_blocking=True)
            elif noise_at is not None and noise_at(i):
                z = draw_noise(x.shape, generator, device)
            else:
                z = None
            # 3. the update
            x = step(x, eps, i, z)
            if return_trajectory:
                traj.append(x)
    if return_trajectory:
        return _to_host(x), _to_host(torch.stack(traj))
    return _to_host(x)


def _to_host(x: torch.Tensor) -> torch.Tensor:
    """The one copy of a sampler's result to the CPU (float32). tests/test_devices.py replaces it to
    keep results on a stand-in device."""
    return x.float().cpu()


@torch.inference_mode()
def predict_noise(model: nn.Module, x_t: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
    r"""\hat\epsilon = model(x_t, t), one call, wherever the model lives; the result is float32 on the CPU.

    ``t``: one int for the whole batch or a (B,) integer tensor. The model's train/eval mode is
    restored afterwards. Shapes: x_t (B, ...) -> (B, ...).
    """
    device = model_device(model)
    if isinstance(t, bool) or not isinstance(t, (int, torch.Tensor)):
        raise ValueError(f"t must be an int or a (B,) integer tensor, got {t!r}")
    tb = (torch.full((x_t.shape[0],), t, dtype=torch.long, device=device) if isinstance(t, int)
          else t.to(device, torch.long).expand(x_t.shape[0]))
    with eval_mode(model):
        return _to_host(model(x_t.to(device, torch.float32), tb))


def ddim_timesteps(T: int, steps: int, spacing: Literal["trailing", "leading"] = "trailing") -> list[int]:
    """The DDIM timestep subsequence, from noisiest to cleanest.

    "trailing" (the default) starts at t = T-1, the level the model was trained to start from:
    ``round(arange(T, 0, -T/steps)) - 1``, e.g. T=1000, steps=50 -> 999, 979, ..., 19.
    "leading" is the DDIM paper's ``arange(0, steps) * (T // steps)`` reversed -> 980, 960, ..., 0.
    Both are diffusers' ``timestep_spacing`` options. ``steps = T`` gives every step either way.
    """
    check_int("steps", steps, 1, T, hi_name="T")
    if spacing == "trailing":
        ts = np.round(np.arange(T, 0, -T / steps)).astype(np.int64) - 1
    elif spacing == "leading":
        ts = (np.arange(0, steps) * (T // steps))[::-1]
    else:
        raise ValueError(f"spacing must be 'trailing' or 'leading', got {spacing!r}")
    return [int(t) for t in ts]


def ddpm_sample(model: nn.Module, sched: NoiseSchedule, shape: Sequence[int], *, x_T: torch.Tensor | None = None,
                generator: torch.Generator | None = None, variance: Literal["posterior", "beta"] = "posterior",
                clip_x0: bool = False,
                return_trajectory: bool = False, progress: bool = True,
                device: torch.device | str | None = None) -> SamplerResult:
    r"""Ancestral sampling, Ho et al. 2020, Algorithm 2: T model calls, t = T-1 .. 0.

    ``x_T``: the starting noise (drawn from ``generator`` when omitted). ``generator`` also draws
    the noise of every step, so a seeded generator makes the whole run reproducible.
    Returns x_0, or ``(x_0, trajectory)`` with ``return_trajectory=True``, on the CPU.

    Shapes: shape = (B, ...) -> x_0 (B, ...); trajectory (T + 1, B, ...), x_T first.
    """
    if variance not in ("posterior", "beta"):
        raise ValueError(f"variance must be 'posterior' (tilde beta_t) or 'beta' (beta_t), got {variance!r}")
    device = torch.device(device) if device is not None else model_device(model)
    x = start_noise(x_T, shape, generator, device)
    host = sched.to("cpu")  # scalars read on the host: no sync per step
    ts = list(range(sched.T - 1, -1, -1))

    def step(x, eps, i, z):
        return ddpm_step(x, eps, ts[i], host, noise=z, variance=variance, clip_x0=clip_x0)

    return reverse_loop(model, x, ts, step, noise_at=lambda i: ts[i] > 0, generator=generator,
                        return_trajectory=return_trajectory, progress=progress, desc="DDPM", device=device)


def ddim_sample(model: nn.Module, sched: NoiseSchedule, shape: Sequence[int], steps: int = 50, eta: float = 0.0, *,
                x_T: torch.Tensor | None = None, generator: torch.Generator | None = None,
                spacing: Literal["trailing", "leading"] = "trailing",
                clip_x0: bool = False, return_trajectory: bool = False, progress: bool = True,
                device: torch.device | str | None = None) -> SamplerResult:
    r"""DDIM sampling, Song et al. 2021, eq. 12, over ``steps`` timesteps from :func:`ddim_timesteps`.

    ``eta = 0`` is deterministic (the same x_T always gives the same x_0); ``eta = 1`` with
    ``steps = T`` is DDPM with the posterior variance. Returns x_0 (or ``(x_0, trajectory)``) on the CPU.

    Shapes: shape = (B, ...) -> x_0 (B, ...); trajectory (steps + 1, B, ...), x_T first.
    """
    ts = ddim_timesteps(sched.T, steps, spacing)
    eta = check_number("eta", eta, lo=0.0, what="0: deterministic DDIM, 1: DDPM-like")
    device = torch.device(device) if device is not None else model_device(model)
    x = start_noise(x_T, shape, generator, device)
    host = sched.to("cpu")
    prev = ts[1:] + [-1]

    def step(x, eps, i, z):
        return ddim_step(x, eps, ts[i], prev[i], host, eta=eta, noise=z, clip_x0=clip_x0)

    return reverse_loop(model, x, ts, step, noise_at=(lambda i: True) if eta > 0 else None, generator=generator,
                        return_trajectory=return_trajectory, progress=progress, desc=f"DDIM {steps} steps",
                        device=device)
