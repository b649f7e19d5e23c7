r"""Notebooks 01-02's experiments: the measurements and foils around the forward process.

Nothing here is part of the DDPM algorithm (that is ``core.forward``): the chain without its shrink,
the closed-form variance of the chain, terminal-SNR tables, the 0 dB crossing and the chain-against-jump
timing that shows why ``q_sample`` jumps straight to x_t.

Notation (symbol -> name), 0-indexed t as in ``core.schedules``:

    beta_t                betas[t]
    \bar\alpha_t          alpha_bars[t]
    Var[x_t]              chain_variance(...)[t]     per-coordinate variance after t + 1 steps
    \sqrt{\bar\alpha_t}   signal                     fraction of x_0 left in x_t
    SNR(t)                alpha_bars[t] / (1 - alpha_bars[t]); in dB 10 log10 SNR(t)
"""
from __future__ import annotations

import math
import time

import torch

from ...core.checks import check_int, check_number
from ...core.forward import check_timesteps, compute_dtype, extract, forward_step, noise_like, q_sample
from ...core.schedules import NoiseSchedule

__all__ = ["forward_step_no_shrink", "iterate_chain", "chain_variance", "terminal_snr_table",
           "snr_zero_db_crossing", "time_chain_vs_jump"]


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
    var0 = check_number("var0", var0, lo=0.0)
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
    check_int("repeats", repeats, 1)

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
