r"""Samplers: run a trained noise predictor from x_T ~ N(0, I) back to x_0, through ONE reverse loop.

The contract every sampler of the series keeps:

* a sampler takes the model, the schedule and ``x_T``; the shape of the samples is ``x_T``'s
  (draw it with :func:`start_noise`, which reads a model's sample shape from its config);
* :func:`reverse_loop` walks ``(t, t_prev)`` pairs (``t_prev = -1`` after the last step), calls the
  model once at each ``t`` and hands ``step(x, eps, t, t_prev, noise)`` the model's \hat\epsilon
  and the step's fresh noise (None on the final step and for deterministic samplers);
* every sampler returns a :class:`Sample` (``x0``, ``timesteps``, and ``trajectory`` /
  ``x0_preds`` when asked); progress bars are off unless ``progress=True``.

Samplers here: :func:`ddpm_sample` (Ho et al. 2020, Algorithm 2), :func:`ddim_sample`
(Song et al. 2021) and :func:`naive_skip_sample` (the wrong way to skip steps, notebooks 03 and 06);
the lessons' samplers (the blunders, respaced DDPM, DDIM inversion) run the same loop with their own
step, and ``core.respace`` runs any sampler on fewer steps.

Devices: the model runs where its parameters are (``runtime.model_device``); ``x_T`` and the
noise may come from anywhere and are moved there; per-step tensors are built there; the schedule's
scalars are read on the host, so a step costs no host-device sync beyond the model call. What a
sampler returns is float32 on the CPU, copied once at the end. Noise comes from ``generator``, drawn
on the generator's device and moved (a seeded CPU generator gives the same samples on every machine).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .checks import check_int, check_number, check_x_T
from .reverse import ddim_step, ddpm_step, predict_x0
from .runtime import eval_mode, model_device, small_model_threads
from .schedules import NoiseSchedule

__all__ = ["Sample", "sample_shape", "start_noise", "draw_noise", "gaussian_noise", "timestep_pairs",
           "reverse_loop", "predict_noise", "ddpm_sample", "ddim_sample", "ddim_timesteps", "naive_skip_timesteps",
           "naive_skip_sample"]

# step(x, eps, t, t_prev, noise) -> the next x; noise is the step's fresh z or None
StepFn = Callable[[torch.Tensor, torch.Tensor, int, int, "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class Sample:
    """What every sampler returns (float32 tensors on the CPU).

    Shapes: x0 (B, ...), the loop's end point (x_0; x_T for DDIM inversion); timesteps: the K
    timesteps the model was called at, in loop order; trajectory (K + 1, B, ...), x_T first, or
    None; x0_preds (K, B, ...), \\hat x_0 at each step, or None.
    """

    x0: torch.Tensor
    timesteps: tuple[int, ...]
    trajectory: torch.Tensor | None = None
    x0_preds: torch.Tensor | None = None


def sample_shape(model: nn.Module) -> tuple[int, ...]:
    """The shape of one sample of ``model``, read from its config (a wrapper's ``.model`` is followed):
    ``(dim,)`` for a TimeMLP, ``(in_channels, image_size, image_size)`` for a UNet."""
    m = model
    while getattr(m, "config", None) is None and isinstance(getattr(m, "model", None), nn.Module):
        m = m.model
    cfg = getattr(m, "config", None)
    if hasattr(cfg, "image_size") and hasattr(cfg, "in_channels"):
        return (cfg.in_channels, cfg.image_size, cfg.image_size)
    if hasattr(cfg, "dim"):
        return (cfg.dim,)
    raise ValueError(f"model must carry a config with 'dim' (TimeMLP) or 'in_channels' and 'image_size' (UNet) "
                     f"to infer the sample shape, got {type(model).__name__}; draw x_T yourself instead")


def draw_noise(shape: Sequence[int], generator: torch.Generator | None, device: torch.device | str) -> torch.Tensor:
    """Standard normal float32 noise of ``shape`` on ``device``, drawn on the generator's device
    (so a seeded CPU generator gives the same numbers on every machine) or, without a generator,
    directly on ``device``."""
    src = generator.device if generator is not None else torch.device(device)
    return torch.randn(tuple(shape), generator=generator, device=src).to(device, non_blocking=True)


def start_noise(model: nn.Module, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` starting points x_T ~ N(0, I) for ``model``: shape ``(n, *sample_shape(model))``, drawn and left on
    the generator's device (on the model's without one; a sampler moves x_T to the model). Shapes: -> (n, ...)."""
    check_int("n", n, 1, what="number of samples")
    return draw_noise((n, *sample_shape(model)), generator,
                      generator.device if generator is not None else model_device(model))


def gaussian_noise(shape: Sequence[int], generator: torch.Generator | None,
                   device: torch.device | str) -> Iterator[torch.Tensor]:
    """Endless fresh N(0, I) draws of ``shape`` (:func:`draw_noise`), one per ``next``: a sampler's noise
    for :func:`reverse_loop`, drawn only when a step takes it."""
    while True:
        yield draw_noise(shape, generator, device)


def timestep_pairs(timesteps: Sequence[int]) -> list[tuple[int, int]]:
    """``(t, t_prev)`` for each timestep, ``t_prev`` the next one in the list and -1 after the last:
    [999, 979, ..., 19] -> (999, 979), (979, 959), ..., (19, -1)."""
    ts = [int(t) for t in timesteps]
    return list(zip(ts, ts[1:] + [-1]))


def reverse_loop(model: nn.Module, x_T: torch.Tensor, pairs: Sequence[tuple[int, int]], step: StepFn, *,
                 noise: Iterator[torch.Tensor] | None = None, return_trajectory: bool = False,
                 x0_preds_from: NoiseSchedule | None = None, progress: bool = False,
                 desc: str = "sampling") -> Sample:
    r"""The one reverse loop of the series. For each (t, t_prev) in ``pairs``:

        1. \hat\epsilon = model(x, t)          (t as a (B,) long tensor on the model's device)
        2. z = next(noise), unless this is the final step (t_prev = -1) or ``noise`` is None
        3. x = step(x, \hat\epsilon, t, t_prev, z)

    under ``runtime.eval_mode`` (inference mode; the model's mode is restored afterwards). ``x_T`` may
    live on any device; it is moved to the model's. ``noise``: an iterator of per-step z (any device),
    e.g. :func:`gaussian_noise` or pre-drawn tensors, so several variants can share the very same z.
    ``x0_preds_from``: the schedule to record \hat x_0(x, t) with at each step (None: not recorded).
    DDIM inversion walks its pairs upwards (x at level t_prev goes to level t).

    Shapes: x_T (B, ...) -> Sample with x0 (B, ...), trajectory (K + 1, B, ...), x0_preds (K, B, ...).
    """
    device = model_device(model)
    x = x_T.to(device, torch.float32)
    traj = [x] if return_trajectory else None  # kept on the device; one copy to the CPU at the end
    preds = [] if x0_preds_from is not None else None
    with eval_mode(model), small_model_threads(model, device):  # one CPU thread for the 2-D MLP
        for t, t_prev in tqdm(pairs, desc=desc, disable=not progress, leave=False):
            # 1. the model's noise estimate at this timestep
            eps = model(x, torch.full((x.shape[0],), t, device=device, dtype=torch.long)).float()  # () -> (B,)
            # 2. the step's fresh noise, if it takes any
            z = next(noise).to(device, torch.float32) if noise is not None and t_prev >= 0 else None
            if preds is not None:
                preds.append(predict_x0(x, eps, t, x0_preds_from))
            # 3. the update
            x = step(x, eps, t, t_prev, z)
            if traj is not None:
                traj.append(x)
    # the one copy to the host
    return Sample(x.float().cpu(), tuple(int(t) for t, _ in pairs),
                  torch.stack(traj).float().cpu() if traj is not None else None,
                  torch.stack(preds).float().cpu() if preds is not None else None)


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
        return model(x_t.to(device, torch.float32), tb).float().cpu()


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


def ddpm_sample(model: nn.Module, sched: NoiseSchedule, x_T: torch.Tensor, *,
                generator: torch.Generator | None = None, variance: Literal["posterior", "beta"] = "posterior",
                clip_x0: bool = False, return_trajectory: bool = False, return_x0_preds: bool = False,
                progress: bool = False) -> Sample:
    r"""Ancestral sampling, Ho et al. 2020, Algorithm 2: T model calls, t = T-1 .. 0.

    ``x_T``: the starting noise (:func:`start_noise`); ``generator`` draws the noise of every step, so
    a seeded generator makes the run reproducible. ``variance``: sigma_t^2 = \tilde\beta_t ("posterior")
    or beta_t ("beta"). Shapes: x_T (B, ...) -> Sample, x0 (B, ...); trajectory (T + 1, B, ...).
    """
    if variance not in ("posterior", "beta"):
        raise ValueError(f"variance must be 'posterior' (tilde beta_t) or 'beta' (beta_t), got {variance!r}")
    x_T = check_x_T(x_T)
    host = sched.to("cpu")  # scalars read on the host: no sync per step

    def step(x, eps, t, t_prev, z):
        return ddpm_step(x, eps, t, host, noise=z, variance=variance, clip_x0=clip_x0)

    return reverse_loop(model, x_T, timestep_pairs(range(sched.T - 1, -1, -1)), step,
                        noise=gaussian_noise(x_T.shape, generator, model_device(model)),
                        return_trajectory=return_trajectory, x0_preds_from=host if return_x0_preds else None,
                        progress=progress, desc="DDPM")


def ddim_sample(model: nn.Module, sched: NoiseSchedule, x_T: torch.Tensor, steps: int = 50, eta: float = 0.0, *,
                generator: torch.Generator | None = None, spacing: Literal["trailing", "leading"] = "trailing",
                clip_x0: bool = False, return_trajectory: bool = False, return_x0_preds: bool = False,
                progress: bool = False) -> Sample:
    r"""DDIM sampling, Song et al. 2021, eq. 12, over ``steps`` timesteps from :func:`ddim_timesteps`.

    ``eta = 0`` is deterministic (the same x_T always gives the same x_0); ``eta = 1`` with
    ``steps = T`` is DDPM with the posterior variance; ``generator`` draws the noise when eta > 0.
    Shapes: x_T (B, ...) -> Sample, x0 (B, ...); trajectory (steps + 1, B, ...), x_T first.
    """
    pairs = timestep_pairs(ddim_timesteps(sched.T, steps, spacing))
    eta = check_number("eta", eta, lo=0.0, what="0: deterministic DDIM, 1: DDPM-like")
    x_T = check_x_T(x_T)
    host = sched.to("cpu")

    def step(x, eps, t, t_prev, z):
        return ddim_step(x, eps, t, t_prev, host, eta=eta, noise=z, clip_x0=clip_x0)

    noise = gaussian_noise(x_T.shape, generator, model_device(model)) if eta > 0 else None
    return reverse_loop(model, x_T, pairs, step, noise=noise, return_trajectory=return_trajectory,
                        x0_preds_from=host if return_x0_preds else None, progress=progress,
                        desc=f"DDIM {steps} steps")


def naive_skip_timesteps(T: int, k: int) -> list[int]:
    """The timesteps of a naive k-skip: T-1, T-1-k, T-1-2k, ..., then 0 if it was not reached.

    k = 1 gives every step (ordinary ancestral sampling)."""
    check_int("k", k, 1, T, what="timesteps skipped per step", hi_name="T")
    ts = list(range(T - 1, -1, -k))
    if ts[-1] != 0:
        ts.append(0)
    return ts


def naive_skip_sample(model: nn.Module, sched: NoiseSchedule, x_T: torch.Tensor, k: int, *,
                      generator: torch.Generator | None = None, return_trajectory: bool = False) -> Sample:
    r"""Ancestral sampling that WRONGLY skips steps (the foil that motivates DDIM in notebook 06).

    At each timestep t of :func:`naive_skip_timesteps` it applies the one-step update of
    Ho et al. 2020, Algorithm 2 (:func:`~ddpm_helpers.core.reverse.ddpm_step`, posterior variance),

        x_{next} = 1/\sqrt{alpha_t} (x_t - beta_t / \sqrt{1 - \bar\alpha_t} \hat\epsilon) + \sigma_t z,

    as if the next timestep were t - 1, although it is t - k. Each update removes only one
    step's worth of noise, so with k > 1 most of the noise is never removed. k = 1 is exactly
    :func:`~ddpm_helpers.core.sampling.ddpm_sample`. Runs through the one reverse loop.

    Shapes: x_T (n, dim) -> Sample: x0 (n, dim); trajectory (len(timesteps) + 1, n, dim), x_T first.
    """
    x_T = check_x_T(x_T)
    host = sched.to("cpu")

    # the ONE-step update, used for a k-step jump (the mistake): t_prev is ignored
    def step(x, eps, t, t_prev, z):
        return ddpm_step(x, eps, t, host, noise=z)

    return reverse_loop(model, x_T, timestep_pairs(naive_skip_timesteps(sched.T, k)), step,
                        noise=gaussian_noise(x_T.shape, generator, model_device(model)),
                        return_trajectory=return_trajectory, desc=f"naive skip k={k}")
