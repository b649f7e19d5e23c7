r"""Small experiments the notebooks run to *show* why DDPM is built the way it is.

Nothing here is part of the DDPM algorithm itself (that lives in ``forward``, ``reverse`` and
``sampling``); these are the foils and the measurements around it: the chain without its
shrink, the closed-form variance of the chain, terminal-SNR tables, the 0 dB crossing, the
chain-against-jump timing, and the naive step skipping that motivates DDIM.

Notation (symbol -> name), 0-indexed t as in ``schedules``:

    beta_t                betas[t]
    \bar\alpha_t          alpha_bars[t]
    Var[x_t]              chain_variance(...)[t]     per-coordinate variance after t + 1 steps
    \sqrt{\bar\alpha_t}   signal                     fraction of x_0 left in x_t
    SNR(t)                alpha_bars[t] / (1 - alpha_bars[t]); in dB 10 log10 SNR(t)
    k                     skip                       timesteps jumped per naive reverse step
"""
from __future__ import annotations

import math
import time

import torch

from .core.checks import check_int
from .core.forward import check_timesteps, compute_dtype, extract, forward_step, noise_like, q_sample
from .core.reverse import ddpm_step
from .core.runtime import model_device
from .core.sampling import reverse_loop, start_noise
from .core.schedules import NoiseSchedule

__all__ = ["forward_step_no_shrink", "iterate_chain", "chain_variance", "terminal_snr_table",
           "snr_zero_db_crossing", "time_chain_vs_jump", "loss_baselines", "naive_skip_timesteps",
           "naive_skip_sample", "subtract_full_noise"]


# --- notebooks 01-03 ---
def forward_step_no_shrink(x_prev: torch.Tensor, t, sched: NoiseSchedule, noise=None, generator=None):
    r"""The WRONG forward step, without the \sqrt{1 - beta_t} shrink (a foil for notebook 01):

        x_t = x_{t-1} + \sqrt{beta_t} \epsilon.

    Its variance grows as Var[x_0] + \sum_{s<=t} beta_s instead of settling at 1.

    Shapes: x_prev (B, ...); t int or (B,) -> like x_prev.
    """
    t = check_timesteps(t, sched.T, x_prev.shape[0] if x_prev.ndim else None)
    x_prev = x_prev.to(compute_dtype(x_prev))
    noise = noise_like(x_prev, noise, generator)
    return x_prev + extract(sched.betas, t, x_prev).sqrt() * noise


def iterate_chain(x0: torch.Tensor, t: int, sched: NoiseSchedule, shrink: bool = True, generator=None,
                  every: int | None = None):
    r"""Run the Markov chain x_0 -> x_t one :func:`~ddpm_helpers.core.forward.forward_step` at a time
    (Ho et al. 2020, eq. 2), i.e. ``t + 1`` steps s = 0 .. t.

    ``shrink=False`` uses :func:`forward_step_no_shrink` instead. With ``every=n`` also return
    the states after steps 0, n, 2n, ... (and t) as ``(x_t, [(s, x_s), ...])``.

    Shapes: x0 (B, ...); t int -> x_t like x0.
    """
    t = int(check_timesteps(t, sched.T))
    step = forward_step if shrink else forward_step_no_shrink
    x, keep = x0, []
    for s in range(t + 1):
        x = step(x, s, sched, generator=generator)
        if every is not None and (s % every == 0 or s == t):
            keep.append((s, x))
    return (x, keep) if every is not None else x


def chain_variance(sched: NoiseSchedule, var0: float = 1.0, shrink: bool = True) -> torch.Tensor:
    r"""Per-coordinate variance of x_t after t + 1 chain steps, for x_0 with variance ``var0``.

    With the shrink (independent noise, Var[a X + b Y] = a^2 Var X + b^2 Var Y):
        Var[x_t] = (1 - beta_t) Var[x_{t-1}] + beta_t  =>  Var[x_t] = \bar\alpha_t var0 + 1 - \bar\alpha_t -> 1.
    Without it:
        Var[x_t] = Var[x_{t-1}] + beta_t               =>  Var[x_t] = var0 + \sum_{s<=t} beta_s.

    Shapes: -> (T,) float64.
    """
    if not (isinstance(var0, (int, float)) and math.isfinite(var0) and var0 >= 0):
        raise ValueError(f"var0 must be a finite number >= 0, got {var0!r}")
    betas = sched.betas.double()
    if shrink:
        ab = torch.cumprod(1 - betas, 0)
        return ab * var0 + 1 - ab
    return var0 + torch.cumsum(betas, 0)


def terminal_snr_table(Ts=(100, 300, 1000), beta_ends=(0.01, 0.02, 0.05), beta_start: float = 1e-4) -> list[dict]:
    r"""How much of x_0 is left at the last step t = T-1 of a linear schedule, for each (T, beta_end).

    Rows: ``{"T", "beta_end", "signal": \sqrt{\bar\alpha_{T-1}}, "snr_db": 10 log10 SNR(T-1)}``.
    Example: T = 300, beta_end = 0.02 leaves \sqrt{\bar\alpha} ~ 0.22 of the image.
    """
    rows = []
    for T in Ts:
        for be in beta_ends:
            s = NoiseSchedule.linear(T, beta_start, be)
            ab = s.alpha_bars.double()[-1].item()
            rows.append({"T": T, "beta_end": be, "signal": math.sqrt(ab),
                         "snr_db": 10 * math.log10(ab / (1 - ab))})
    return rows


def snr_zero_db_crossing(sched: NoiseSchedule) -> int | None:
    r"""The first t with SNR(t) < 1 (0 dB), i.e. \bar\alpha_t < 1/2: from here on x_t holds more
    noise than signal. None when the schedule never gets there. Linear T=1000: 259; cosine: 496."""
    below = (sched.alpha_bars.double() < 0.5).nonzero()
    return int(below[0]) if below.numel() else None


def time_chain_vs_jump(x0: torch.Tensor, t: int, sched: NoiseSchedule, repeats: int = 3) -> dict:
    """Wall-clock seconds (best of ``repeats``) to reach x_t by the chain (t + 1 steps) and by one
    :func:`~ddpm_helpers.core.forward.q_sample` jump. Returns ``{"chain_s", "jump_s", "ratio"}``."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")

    def best(fn):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    chain_s = best(lambda: iterate_chain(x0, t, sched))
    jump_s = best(lambda: q_sample(x0, t, sched))
    return {"chain_s": chain_s, "jump_s": jump_s, "ratio": chain_s / max(jump_s, 1e-9)}


def loss_baselines(data: torch.Tensor, sched: NoiseSchedule, edges, n: int = 2000, generator=None) -> dict:
    r"""The noise-prediction loss MSE(\hat\epsilon, \epsilon) of three reference predictors, measured
    per timestep bucket on ``q_sample`` draws exactly like the training loss:

    * "predict zero":         \hat\epsilon = 0        -> E[\epsilon^2] = 1,
    * "predict random noise": \hat\epsilon = z ~ N(0, I) independent of \epsilon -> E[(z - \epsilon)^2] = 2,
    * "predict the true noise": \hat\epsilon = \epsilon -> 0.

    ``edges`` are the bucket edges (``TrainResult.bucket_edges``); ``n`` draws per bucket.
    Returns ``{label: (buckets,) numpy array}``.
    """
    import numpy as np

    edges = [int(e) for e in edges]
    out = {"predict zero": [], "predict random noise": [], "predict the true noise": []}
    for lo, hi in zip(edges[:-1], edges[1:]):
        # 1. a batch at timesteps inside the bucket, corrupted by the closed form
        idx = torch.randint(0, data.shape[0], (n,), generator=generator)
        t = torch.randint(lo, max(hi, lo + 1), (n,), generator=generator)
        eps = torch.randn(data[idx].shape, generator=generator, device=data.device)
        q_sample(data[idx], t, sched, noise=eps)  # the same corruption the model sees (validates t)
        # 2. the three predictions and their MSE
        z = torch.randn(eps.shape, generator=generator, device=data.device)
        for label, pred in (("predict zero", torch.zeros_like(eps)), ("predict random noise", z),
                            ("predict the true noise", eps)):
            out[label].append((pred - eps).pow(2).mean().item())
    return {k: np.array(v) for k, v in out.items()}


def naive_skip_timesteps(T: int, k: int) -> list[int]:
    """The timesteps of a naive k-skip: T-1, T-1-k, T-1-2k, ..., then 0 if it was not reached.

    k = 1 gives every step (ordinary ancestral sampling)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= T:
        raise ValueError(f"k (timesteps skipped per step) must be an integer in 1..T={T}, got {k!r}")
    ts = list(range(T - 1, -1, -k))
    if ts[-1] != 0:
        ts.append(0)
    return ts


def naive_skip_sample(model, sched: NoiseSchedule, n: int, k: int, *, x_T: torch.Tensor | None = None,
                      generator: torch.Generator | None = None, return_trajectory: bool = False):
    r"""Ancestral sampling that WRONGLY skips steps (the foil that motivates DDIM, notebook 06).

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
