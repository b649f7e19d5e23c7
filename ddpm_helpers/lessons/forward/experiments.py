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

from ...core.checks import check_int, check_number, check_timesteps
from ...core.forward import compute_dtype, extract, forward_step, noise_like, q_sample
from ...core.schedules import NoiseSchedule

__all__ = ["forward_step_no_shrink", "iterate_chain", "chain_snapshots", "sample_moments", "pixel_correlation",
           "chain_variance", "terminal_snr_table", "snr_zero_db_crossing", "time_chain_vs_jump"]


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


def _chain(x0: torch.Tensor, t: int, sched: NoiseSchedule, shrink: bool, generator):
    """The one loop of the chain: yield ``(s, x_s)`` after each step s = 0 .. t (validated by the callers)."""
    step = forward_step if shrink else forward_step_no_shrink
    x = x0
    for s in range(t + 1):
        x = step(x, s, sched, generator=generator)
        yield s, x


def iterate_chain(x0: torch.Tensor, t: int, sched: NoiseSchedule, shrink: bool = True,
                  generator=None) -> torch.Tensor:
    r"""Run the Markov chain x_0 -> x_t one :func:`~ddpm_helpers.core.forward.forward_step` at a time
    (Ho et al. 2020, eq. 2), i.e. ``t + 1`` steps s = 0 .. t, and return x_t.

    ``shrink=False`` uses :func:`forward_step_no_shrink` instead. The states on the way:
    :func:`chain_snapshots`.

    Shapes: x0 (B, ...); t int -> x_t (B, ...), like x0.
    """
    t = int(check_timesteps(t, sched.T))
    x = x0
    for _, x_s in _chain(x0, t, sched, shrink, generator):
        x = x_s
    return x


def chain_snapshots(x0: torch.Tensor, at, sched: NoiseSchedule, shrink: bool = True,
                    generator=None) -> list[tuple[int, torch.Tensor]]:
    r"""Run ONE chain x_0 -> x_{max(at)} as :func:`iterate_chain` does and keep the states after the steps in
    ``at`` (0-indexed timesteps, each in 0..T-1, e.g. ``range(0, T, 200)``): ``[(s, x_s), ...]`` in increasing s.

    Shapes: x0 (B, ...) -> a list of (int, tensor (B, ...)) pairs.
    """
    try:
        keep = sorted({int(check_timesteps(s, sched.T, name="at")) for s in at})
    except TypeError:
        raise ValueError(f"at must be an iterable of timesteps in 0..{sched.T - 1}, got {at!r}") from None
    if not keep:
        raise ValueError(f"at must name at least one timestep in 0..{sched.T - 1}, got {at!r}")
    wanted = set(keep)
    return [(s, x) for s, x in _chain(x0, keep[-1], sched, shrink, generator) if s in wanted]


def sample_moments(x: torch.Tensor) -> dict:
    r"""The sample mean and the unbiased sample variance of the values in ``x``, each with its standard error.

        SE(mean)^2 = s^2 / n,
        SE(s^2)^2  = m_4 / n - s^4 (n - 3) / (n (n - 1)),   m_4 = mean((x - mean)^4),

    the variance of the variance estimate for any distribution with a fourth moment (for a Gaussian,
    m_4 = 3 s^4 and SE(s^2) ~ s^2 \sqrt{2 / (n - 1)}). Computed in float64.

    Shapes: x any shape with n >= 4 values -> ``{"n", "mean", "mean_se", "var", "var_se"}`` (floats).
    """
    v = torch.as_tensor(x, device="cpu").detach().to(torch.float64).flatten()
    n = v.numel()
    if n < 4:
        raise ValueError(f"x must hold at least 4 values for a variance and its standard error, got {n}")
    mean = v.mean()
    d = v - mean
    var = d.pow(2).sum() / (n - 1)
    m4 = d.pow(4).mean()
    var_se2 = m4 / n - var ** 2 * (n - 3) / (n * (n - 1))
    return {"n": n, "mean": mean.item(), "mean_se": (var / n).sqrt().item(),
            "var": var.item(), "var_se": var_se2.clamp(min=0).sqrt().item()}


def pixel_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    r"""Pearson's correlation between the pixels of two images of the same size: 1 when ``a`` is ``b`` up to
    contrast and brightness, about 0 (within about 1 / \sqrt{pixels}) when nothing of ``b`` is in ``a``.
    Notebook 01 uses it to say how much of x_0 one can see in x_T. Computed in float64.

    Shapes: a, b any shapes with the same number of elements (at least 2) -> float.
    """
    u = torch.as_tensor(a, device="cpu").detach().to(torch.float64).flatten()
    v = torch.as_tensor(b, device="cpu").detach().to(torch.float64).flatten()
    if u.numel() != v.numel() or u.numel() < 2:
        raise ValueError(f"a and b must hold the same number (>= 2) of pixels, got {u.numel()} and {v.numel()}")
    u, v = u - u.mean(), v - v.mean()
    den = (u.norm() * v.norm()).item()
    if den == 0:
        raise ValueError("a and b must both vary: the correlation of a constant image is undefined")
    return (u @ v).item() / den


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
