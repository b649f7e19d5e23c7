r"""Samplers: run a trained noise predictor from x_T ~ N(0, I) back to x_0.

* :func:`ddpm_sample`: Ho et al. 2020, Algorithm 2, every step t = T-1 .. 0.
* :func:`ddim_sample`: Song et al. 2021, a subsequence of ``steps`` timesteps.

Both call ``model(x_t, t) -> eps_hat`` with ``t`` a (B,) long tensor, under
``torch.inference_mode()``, with the model in eval mode (its previous mode is restored).
Pass the EMA model from :func:`ddpm_helpers.train` for the best samples.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from tqdm.auto import tqdm

from .reverse import ddim_step, ddpm_step
from .schedules import NoiseSchedule

__all__ = ["ddpm_sample", "ddim_sample", "ddim_timesteps"]


def ddim_timesteps(T: int, steps: int, spacing: str = "trailing") -> list[int]:
    """The DDIM timestep subsequence, from noisiest to cleanest.

    "trailing" (the default) starts at t = T-1, the level the model was trained to start from:
    ``round(arange(T, 0, -T/steps)) - 1``, e.g. T=1000, steps=50 -> 999, 979, ..., 19.
    "leading" is the DDIM paper's ``arange(0, steps) * (T // steps)`` reversed -> 980, 960, ..., 0.
    Both are diffusers' ``timestep_spacing`` options. ``steps = T`` gives every step either way.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an integer in 1..T={T}, got {steps!r}")
    if spacing == "trailing":
        ts = np.round(np.arange(T, 0, -T / steps)).astype(np.int64) - 1
    elif spacing == "leading":
        ts = (np.arange(0, steps) * (T // steps))[::-1]
    else:
        raise ValueError(f"spacing must be 'trailing' or 'leading', got {spacing!r}")
    return [int(t) for t in ts]


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module):
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _randn(shape, generator, device) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device (so a CPU generator gives the same
    numbers on any machine), then moved to ``device``."""
    src = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=src).to(device)


def _start(sched, shape, x_T, generator, device):
    shape = tuple(shape)
    if x_T is None:
        x = _randn(shape, generator, device)
    else:
        if tuple(x_T.shape) != shape:
            raise ValueError(f"x_T must have shape {shape}, got {tuple(x_T.shape)}")
        x = x_T.clone()
    return x.to(device, torch.float32), sched.to(device)


def _model_device(model) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _run(model, steps_list, step_fn, x, trajectory, progress, desc):
    traj = [x.cpu()] if trajectory else None
    x0_traj = [] if trajectory else None
    with _eval_mode(model):
        for t, t_prev in tqdm(steps_list, desc=desc, disable=not progress, leave=False):
            tb = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)  # () -> (B,)
            eps = model(x, tb).float()
            x = step_fn(x, eps, t, t_prev)
            if trajectory:
                traj.append(x.cpu())
    if trajectory:
        return x, torch.stack(traj)  # (steps + 1, *shape), from x_T to x_0
    return x


def ddpm_sample(model, sched: NoiseSchedule, shape, *, x_T=None, generator=None, variance="posterior",
                clip_x0: bool = False, return_trajectory: bool = False, progress: bool = True, device=None):
    r"""Ancestral sampling, Ho et al. 2020, Algorithm 2: T model calls, t = T-1 .. 0.

    ``x_T``: the starting noise (drawn from ``generator`` when omitted). ``generator`` also draws
    the noise of every step, so a seeded generator makes the whole run reproducible.
    Returns x_0, or ``(x_0, trajectory)`` with ``return_trajectory=True``.

    Shapes: shape = (B, ...) -> x_0 (B, ...); trajectory (T + 1, B, ...) on the CPU, x_T first.
    """
    device = torch.device(device) if device is not None else _model_device(model)
    x, sched_d = _start(sched, shape, x_T, generator, device)

    def step(x, eps, t, _):
        z = _randn(x.shape, generator, device) if t > 0 else None
        return ddpm_step(x, eps, t, sched_d, noise=z, variance=variance, clip_x0=clip_x0)

    pairs = [(t, t - 1) for t in range(sched.T - 1, -1, -1)]
    return _run(model, pairs, step, x, return_trajectory, progress, "DDPM")


def ddim_sample(model, sched: NoiseSchedule, shape, steps: int = 50, eta: float = 0.0, *, x_T=None,
                generator=None, spacing: str = "trailing", clip_x0: bool = False,
                return_trajectory: bool = False, progress: bool = True, device=None):
    r"""DDIM sampling, Song et al. 2021, eq. 12, over ``steps`` timesteps from :func:`ddim_timesteps`.

    ``eta = 0`` is deterministic (the same x_T always gives the same x_0); ``eta = 1`` with
    ``steps = T`` is DDPM with the posterior variance.

    Shapes: shape = (B, ...) -> x_0 (B, ...); trajectory (steps + 1, B, ...) on the CPU, x_T first.
    """
    ts = ddim_timesteps(sched.T, steps, spacing)
    if not (isinstance(eta, (int, float)) and eta >= 0):
        raise ValueError(f"eta must be a number >= 0, got {eta!r}")
    device = torch.device(device) if device is not None else _model_device(model)
    x, sched_d = _start(sched, shape, x_T, generator, device)

    def step(x, eps, t, t_prev):
        z = _randn(x.shape, generator, device) if eta > 0 else None
        return ddim_step(x, eps, t, t_prev, sched_d, eta=eta, noise=z, clip_x0=clip_x0)

    pairs = list(zip(ts, ts[1:] + [-1]))
    return _run(model, pairs, step, x, return_trajectory, progress, f"DDIM {steps} steps")
