"""A model's sample quality, as training and the benchmarks measure it: seeded samples in batches, scored.

* :func:`draw_samples`: ``n`` DDIM or DDPM samples drawn in batches from one seeded CPU generator, the model
  in float32 or (for a cheap curve) under bf16 autocast; every card metric and benchmark point samples this way.
* :func:`quality_curve`: a :func:`~ddpm_helpers.core.training.train` callback that measures the EMA weights'
  FID and KID (:func:`~ddpm_helpers.core.metrics.image_quality`) every few minutes of training.

The shipped weights' cards (``cli.pretrained``) and ``benchmarks/time_to_quality.py`` use both.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from .metrics import image_quality
from .runtime import AutocastModel
from .sampling import ddim_sample, ddpm_sample, start_noise
from .schedules import NoiseSchedule

__all__ = ["draw_samples", "quality_curve"]


def draw_samples(model: nn.Module, sched: NoiseSchedule, n: int, sampler: str = "ddim", steps: int = 50, *,
                 eta: float = 0.0, clip_x0: bool = False, precision: str = "off", seed: int = 0,
                 batch_size: int = 250) -> torch.Tensor:
    """``n`` samples on the CPU, drawn in batches with one seeded CPU generator.

    ``sampler``: "ddim" (``steps``, ``eta``, ``clip_x0``) or "ddpm" (Algorithm 2, all T steps). ``precision``:
    the model's precision while sampling ("off": float32, as for every card metric; "bf16": the
    benchmarks' cheap quality curve, :class:`~ddpm_helpers.core.runtime.AutocastModel`).
    Shapes: -> (n, *the model's sample shape), on the CPU.
    """
    if sampler not in ("ddim", "ddpm"):
        raise ValueError(f"sampler must be 'ddim' or 'ddpm', got {sampler!r}")
    net = model if precision == "off" else AutocastModel(model, precision)
    gen, out = torch.Generator().manual_seed(seed), []
    for start in range(0, n, batch_size):
        x_T = start_noise(model, min(batch_size, n - start), gen)
        if sampler == "ddim":
            out.append(ddim_sample(net, sched, x_T, steps=steps, eta=eta, clip_x0=clip_x0, generator=gen).x0)
        else:
            out.append(ddpm_sample(net, sched, x_T, generator=gen).x0)
    return torch.cat(out).cpu()


def quality_curve(sched: NoiseSchedule, every_minutes: float, n: int = 512, steps: int = 20, precision: str = "off",
                  clip_x0: bool = True, points: list | None = None):
    """A :func:`~ddpm_helpers.core.training.train` callback that measures the EMA weights' FID and KID
    every ``every_minutes`` of training time (n DDIM samples of ``steps`` steps, seed 0) and appends
    ``{"step", "minutes", "fid", "kid", "n", "sampler_steps", "precision", "eval_seconds"}`` to ``points``
    (returned as ``callback.points``)."""
    points = [] if points is None else points
    next_at = [every_minutes]

    def callback(step, model, ema, seconds):
        if seconds / 60 < next_at[0]:
            return
        next_at[0] += every_minutes
        t0 = time.perf_counter()
        q = image_quality(draw_samples(ema, sched, n, "ddim", steps, clip_x0=clip_x0, precision=precision))
        points.append({"step": step, "minutes": round(seconds / 60, 2), "fid": q["fid"], "kid": q["kid"], "n": n,
                       "sampler_steps": steps, "precision": precision,
                       "eval_seconds": round(time.perf_counter() - t0, 1)})
        print(f"  {step} steps, {seconds / 60:.1f} min of training: FID {q['fid']:.2f} KID {q['kid']:.4f} "
              f"(n={n}, DDIM-{steps}, {precision})", flush=True)

    callback.points = points
    return callback
