r"""Notebook 03's experiments: the loss beside its baselines, and a way to get sampling wrong (the other, the
naive skip, is ``core.sampling.naive_skip_sample``: notebook 06 uses it too).

* :func:`loss_baselines`: the noise-prediction loss of three reference predictors on ``q_sample``'s draws;
* :func:`subtract_full_noise`: the classic blunder x_{t-1} = x_t - \hat\epsilon, iterated.

Notation (symbol -> name), 0-indexed t as in ``core.schedules``:

    \bar\alpha_t          alpha_bars[t]
    \epsilon, \hat\epsilon noise, eps        the noise in x_t and a prediction of it
"""
from __future__ import annotations

import numpy as np
import torch

from ...core.checks import check_int, check_x_T
from ...core.forward import extract, q_sample
from ...core.sampling import Sample, reverse_loop, timestep_pairs
from ...core.schedules import NoiseSchedule

__all__ = ["loss_baselines", "subtract_full_noise"]


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


def subtract_full_noise(model, sched: NoiseSchedule, x_T: torch.Tensor, steps: int | None = None) -> Sample:
    r"""The classic blunder, iterated: x_{t-1} = x_t - \hat\epsilon(x_t, t) at every step from t = T-1.

    \hat\epsilon estimates the UNSCALED noise in x_t (the \epsilon of x_t = \sqrt{\bar\alpha_t} x_0 +
    \sqrt{1-\bar\alpha_t} \epsilon). At t = T-1, x_t is almost all noise, so x_t - \hat\epsilon ~
    \sqrt{\bar\alpha_t} x_0 ~ 0: the first step collapses the cloud to the origin, and nothing brings it
    back. ``steps`` (default T) steps are taken, through the one reverse loop; the trajectory is kept.

    Shapes: x_T (N, 2) (any device) -> Sample: trajectory (steps + 1, N, 2), x_T first.
    """
    x_T = check_x_T(x_T)
    steps = check_int("steps", sched.T if steps is None else steps, 1, sched.T)
    ts = range(sched.T - 1, sched.T - 1 - steps, -1)
    return reverse_loop(model, x_T, timestep_pairs(ts), lambda x, eps, t, t_prev, z: x - eps,
                        return_trajectory=True, desc="x - eps")
