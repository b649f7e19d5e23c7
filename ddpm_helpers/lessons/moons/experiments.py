r"""Notebook 03's experiments: the loss beside its baselines, and two ways to get sampling wrong.

* :func:`loss_baselines`: the noise-prediction loss of three reference predictors on ``q_sample``'s draws;
* :func:`naive_skip_sample`: ancestral sampling that skips steps naively (the foil that motivates DDIM);
* :func:`subtract_full_noise`: the classic blunder x_{t-1} = x_t - \hat\epsilon, iterated.

Notation (symbol -> name), 0-indexed t as in ``core.schedules``:

    \bar\alpha_t          alpha_bars[t]
    \epsilon, \hat\epsilon noise, eps        the noise in x_t and a prediction of it
    k                     skip               timesteps jumped per naive reverse step
"""
from __future__ import annotations

import numpy as np
import torch

from ...core.checks import check_int
from ...core.forward import extract, q_sample
from ...core.reverse import ddpm_step
from ...core.runtime import model_device
from ...core.sampling import reverse_loop, start_noise
from ...core.schedules import NoiseSchedule

__all__ = ["loss_baselines", "naive_skip_timesteps", "naive_skip_sample", "subtract_full_noise"]


def loss_baselines(data: torch.Tensor, sched: NoiseSchedule, edges, n: int = 2000,
                   generator: torch.Generator | None = None) -> dict:
    r"""The noise-prediction loss MSE(\hat\epsilon, \epsilon) of three reference predictors, per timestep
    bucket, measured on ``q_sample``'s draws exactly as training draws them: x_0 from ``data``, t uniform
    in the bucket, ``(x_t, \epsilon) = q_sample(x_0, t)`` (Ho et al. 2020, eq. 4), and \epsilon, the noise
    q_sample put into x_t, as the target:

    * "predict zero":           \hat\epsilon = 0                      -> E[\epsilon^2] = 1,
    * "predict random noise":   \hat\epsilon = z ~ N(0, I), independent of \epsilon -> E[(z - \epsilon)^2] = 1 + 1 = 2,
    * "predict the true noise": \hat\epsilon = (x_t - \sqrt{\bar\alpha_t} x_0) / \sqrt{1 - \bar\alpha_t}, the noise
      read back out of x_t by an oracle that knows x_0 -> 0 (the unreachable ideal).

    ``edges`` are the bucket edges (``TrainResult.bucket_edges``); ``n`` draws per bucket.
    Returns ``{label: (buckets,) numpy array}``, per coordinate.
    """
    check_int("n", n, 1, what="draws per bucket")
    edges = [int(e) for e in edges]
    src = generator.device if generator is not None else torch.device("cpu")  # draw where the generator lives
    out = {"predict zero": [], "predict random noise": [], "predict the true noise": []}
    for lo, hi in zip(edges[:-1], edges[1:]):
        # 1. x_0 from the data set and t inside the bucket
        idx = torch.randint(0, data.shape[0], (n,), generator=generator, device=src).to(data.device)
        t = torch.randint(lo, max(hi, lo + 1), (n,), generator=generator, device=src).to(data.device)
        x0 = data[idx]
        # 2. the corruption the model sees: x_t and the noise that made it
        x_t, eps = q_sample(x0, t, sched, generator=generator)
        # 3. the three predictions, and their MSE against q_sample's noise
        ab = extract(sched.alpha_bars.double(), t, x_t.double())  # (n,) -> (n, 1)
        preds = {"predict zero": torch.zeros_like(eps),
                 "predict random noise": torch.randn(eps.shape, generator=generator, device=src).to(eps.device),
                 "predict the true noise": (x_t.double() - ab.sqrt() * x0.double()) / (1 - ab).sqrt()}
        for label, pred in preds.items():
            out[label].append((pred.double() - eps.double()).pow(2).mean().item())
    return {k: np.array(v) for k, v in out.items()}


def naive_skip_timesteps(T: int, k: int) -> list[int]:
    """The timesteps of a naive k-skip: T-1, T-1-k, T-1-2k, ..., then 0 if it was not reached.

    k = 1 gives every step (ordinary ancestral sampling)."""
    check_int("k", k, 1, T, what="timesteps skipped per step", hi_name="T")
    ts = list(range(T - 1, -1, -k))
    if ts[-1] != 0:
        ts.append(0)
    return ts


def naive_skip_sample(model, sched: NoiseSchedule, n: int, k: int, *, x_T: torch.Tensor | None = None,
                      generator: torch.Generator | None = None, return_trajectory: bool = False):
    r"""Ancestral sampling that WRONGLY skips steps (the foil that motivates DDIM in notebook 06).

    At each timestep t of :func:`naive_skip_timesteps` it applies the one-step update of
    Ho et al. 2020, Algorithm 2 (:func:`~ddpm_helpers.core.reverse.ddpm_step`, posterior variance),

        x_{next} = 1/\sqrt{alpha_t} (x_t - beta_t / \sqrt{1 - \bar\alpha_t} \hat\epsilon) + \sigma_t z,

    as if the next timestep were t - 1, although it is t - k. Each update removes only one
    step's worth of noise, so with k > 1 most of the noise is never removed. k = 1 is exactly
    :func:`~ddpm_helpers.core.sampling.ddpm_sample`. Runs through the one reverse loop
    (:func:`~ddpm_helpers.core.sampling.reverse_loop`) on the model's device; returns CPU tensors.

    Returns x_0, or ``(x_0, trajectory, timesteps)`` with ``return_trajectory=True``, where
    trajectory[0] = x_T and trajectory[i + 1] is the state after the update at timesteps[i].

    Shapes: -> x_0 (n, dim); trajectory (len(timesteps) + 1, n, dim).
    """
    check_int("n", n, 1, what="number of samples")
    ts = naive_skip_timesteps(sched.T, k)
    dim = getattr(getattr(model, "config", None), "dim", 2)
    host = sched.to("cpu")
    # 1. start from pure noise x_T ~ N(0, I)
    x = start_noise(x_T, (n, dim), generator, model_device(model))

    # 2. the ONE-step update, used for a k-step jump (the mistake)
    def step(x, eps, i, z):
        return ddpm_step(x, eps, ts[i], host, noise=z)

    out = reverse_loop(model, x, ts, step, noise_at=lambda i: ts[i] > 0, generator=generator,
                       return_trajectory=return_trajectory, desc=f"naive skip k={k}")
    return (*out, ts) if return_trajectory else out


def subtract_full_noise(model, sched: NoiseSchedule, x_T: torch.Tensor, steps: int | None = None) -> torch.Tensor:
    r"""The classic blunder, iterated: x_{t-1} = x_t - \hat\epsilon(x_t, t) at every step from t = T-1.

    \hat\epsilon estimates the UNSCALED noise in x_t (the \epsilon of x_t = \sqrt{\bar\alpha_t} x_0 +
    \sqrt{1-\bar\alpha_t} \epsilon). At t = T-1, x_t is almost all noise, so x_t - \hat\epsilon ~
    \sqrt{\bar\alpha_t} x_0 ~ 0: the first step collapses the cloud to the origin, and nothing brings it
    back. ``steps`` (default T) steps are taken, through the one reverse loop.

    Shapes: x_T (N, 2) (any device) -> trajectory (steps + 1, N, 2) on the CPU, x_T first.
    """
    steps = check_int("steps", sched.T if steps is None else steps, 1, sched.T)
    ts = list(range(sched.T - 1, sched.T - 1 - steps, -1))
    _, traj = reverse_loop(model, x_T, ts, lambda x, eps, i, z: x - eps, return_trajectory=True,
                           desc="x - eps")
    return traj
