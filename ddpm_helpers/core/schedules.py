r"""Noise schedules: the betas and everything derived from them.

Index convention (the same as diffusers): ``t`` runs ``0 .. T-1``.
Ho et al. (2020) write ``t = 1 .. T``; their ``beta_t`` is our ``betas[t - 1]``
and their ``\bar\alpha_t`` is our ``alpha_bars[t - 1]``. So here

    alpha_bars[t] = prod_{s=0}^{t} (1 - betas[s])

includes step ``t`` itself: ``q_sample(x0, t)`` returns the image after ``t + 1``
noising steps, and ``t = T - 1`` is the last, noisiest step.

Notation (symbol -> name):

    beta_t              betas[t]
    alpha_t = 1-beta_t  alphas[t]
    \bar\alpha_t        alpha_bars[t]
    \bar\alpha_{t-1}    alpha_bars_prev[t]   (1.0 at t = 0: nothing noised yet)
    \tilde\beta_t       posterior_variance[t] (0.0 at t = 0)
    \tilde\mu_t coefs   posterior_mean_coef_x0[t], posterior_mean_coef_xt[t]
    SNR(t)              snr[t] = alpha_bars[t] / (1 - alpha_bars[t])

Everything is derived in float64 and stored as float32 (moved with ``.to(device)``); the float64 tables stay
on the host as ``host64``, where the sampler steps read their scalars.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch

from .checks import check_int, check_number

__all__ = ["NoiseSchedule"]


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """An immutable table of schedule quantities, one float32 entry per timestep.

    Build it with :meth:`linear`, :meth:`cosine` or :meth:`from_betas`; move it
    with :meth:`to`, which returns a new schedule.

    Shapes: every tensor field is ``(T,)``.
    """

    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor
    alpha_bars_prev: torch.Tensor
    posterior_variance: torch.Tensor
    snr: torch.Tensor
    posterior_mean_coef_x0: torch.Tensor  # sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t)   (1 at t = 0)
    posterior_mean_coef_xt: torch.Tensor  # sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) (0 at t = 0)
    kind: str = "custom"  # "linear", "cosine" or "custom": for plots, reprs and checkpoints

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_betas(cls, betas: Sequence[float] | torch.Tensor, kind: str = "custom") -> NoiseSchedule:
        r"""Derive every quantity from ``betas`` (any 1-D sequence in (0, 1)).

        alpha_t = 1 - beta_t;  \bar\alpha_t = \prod_{s<=t} alpha_s;
        \tilde\beta_t = (1 - \bar\alpha_{t-1}) / (1 - \bar\alpha_t) * beta_t   (Ho et al. 2020, eq. 7).
        """
        b = torch.as_tensor(betas, dtype=torch.float64, device="cpu").detach()
        if b.ndim != 1 or b.numel() < 1:
            raise ValueError(
                f"betas must be a 1-D sequence with at least one entry, got shape {tuple(b.shape)}"
            )
        if not torch.isfinite(b).all():
            raise ValueError("betas must be finite, got NaN or infinity at index "
                             f"{int((~torch.isfinite(b)).nonzero()[0])}")
        bad = (b <= 0) | (b >= 1)
        if bad.any():
            i = int(bad.nonzero()[0])
            raise ValueError(f"every beta must lie in the open interval (0, 1), got betas[{i}] = {b[i].item():g}")
        alphas = 1.0 - b
        alpha_bars = torch.cumprod(alphas, dim=0)
        alpha_bars_prev = torch.cat([torch.ones(1, dtype=torch.float64, device="cpu"), alpha_bars[:-1]])
        posterior_variance = b * (1.0 - alpha_bars_prev) / (1.0 - alpha_bars)
        snr = alpha_bars / (1.0 - alpha_bars)
        coef_x0 = alpha_bars_prev.sqrt() * b / (1.0 - alpha_bars)  # Ho et al. 2020, eq. 7
        coef_xt = alphas.sqrt() * (1.0 - alpha_bars_prev) / (1.0 - alpha_bars)
        exact = cls(b, alphas, alpha_bars, alpha_bars_prev, posterior_variance, snr, coef_x0, coef_xt, kind)
        stored = cls(*(getattr(exact, f.name).to(torch.float32) for f in fields(cls) if f.name != "kind"), kind)
        object.__setattr__(stored, "_host64", exact)  # the float64 tables it was derived with, kept on the host
        return stored

    @classmethod
    def linear(cls, T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
        """Ho et al. 2020, sec. 4: betas rise linearly from ``beta_start`` to ``beta_end``."""
        T = _check_T(T)
        for name, v in (("beta_start", beta_start), ("beta_end", beta_end)):
            check_number(name, v, lo=0, hi=1, lo_open=True, hi_open=True)
        if beta_start > beta_end:
            raise ValueError(
                f"beta_start must not exceed beta_end, got beta_start={beta_start} > beta_end={beta_end}"
            )
        return cls.from_betas(torch.linspace(beta_start, beta_end, T, dtype=torch.float64, device="cpu"), kind="linear")

    @classmethod
    def cosine(cls, T: int, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
        r"""Nichol & Dhariwal 2021, eq. 17:

        f(u) = cos((u / T + s) / (1 + s) * pi / 2)^2,   \bar\alpha(u) = f(u) / f(0),
        beta_t = min(1 - \bar\alpha(t + 1) / \bar\alpha(t), max_beta)   for t = 0 .. T-1.

        The same as diffusers' ``beta_schedule="squaredcos_cap_v2"``.
        """
        T = _check_T(T)
        check_number("s", s, lo=0)
        u = torch.arange(T + 1, dtype=torch.float64, device="cpu")
        f = torch.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
        return cls.from_betas(betas, kind="cosine")

    def __post_init__(self):
        float64_host = all(getattr(self, f.name).dtype == torch.float64 and getattr(self, f.name).device.type == "cpu"
                           for f in fields(self) if f.name != "kind")
        object.__setattr__(self, "_host64", self if float64_host else None)

    # ------------------------------------------------------------------ helpers
    @property
    def host64(self) -> NoiseSchedule:
        """The same tables in float64 on the CPU, the values this schedule was derived with. Sampler steps read
        their scalars here (a Python float each: no device sync, and MPS, which has no float64, is never asked);
        a schedule built without :meth:`from_betas` (a checkpoint's) derives them from its betas once."""
        if self._host64 is None:
            exact = NoiseSchedule.from_betas(self.betas.detach().to("cpu", torch.float64), self.kind)._host64
            object.__setattr__(self, "_host64", exact)
        return self._host64

    @property
    def T(self) -> int:
        """Number of diffusion steps."""
        return self.betas.shape[0]

    @property
    def device(self) -> torch.device:
        return self.betas.device

    def to(self, device: torch.device | str) -> NoiseSchedule:
        """Return a copy with every tensor on ``device`` (this schedule is unchanged)."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for k, v in moved.items():
            if isinstance(v, torch.Tensor):
                moved[k] = v.to(device)
        out = NoiseSchedule(**moved)
        if out._host64 is None:
            object.__setattr__(out, "_host64", self._host64)  # the float64 tables stay on the host
        return out

    def snr_db(self) -> torch.Tensor:
        """SNR in decibels, ``10 log10(snr)``. Shapes: (T,)."""
        return 10 * torch.log10(self.snr)

    def __repr__(self) -> str:
        return (f"NoiseSchedule(kind={self.kind!r}, T={self.T}, beta[0]={self.betas[0].item():.3g}, "
                f"beta[T-1]={self.betas[-1].item():.3g}, alpha_bar[T-1]={self.alpha_bars[-1].item():.3g}, "
                f"device={self.device})")


def _check_T(T: int) -> int:
    return check_int("T", T, lo=1, what="the number of diffusion steps")
