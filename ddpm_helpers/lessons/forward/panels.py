r"""Slider panels of notebooks 01 (the forward process) and 02 (its closed form).

* :func:`forward_process_panel`: one image noised to step t; move t, the schedule and its betas.
* :func:`chain_jump_panel`: the chain of t + 1 steps against one ``q_sample`` jump, for any t.

Each returns a :class:`~ddpm_helpers.ui.panels.Panel`; its pictures are drawn by
:func:`~.figures.draw_forward_panel` and :func:`~.figures.draw_chain_jump_panel`.
"""
from __future__ import annotations

import ipywidgets as W
import torch

from ...core.checks import check_int
from ...core.forward import q_sample
from ...core.schedules import NoiseSchedule
from ...ui.panels import Panel, int_slider
from .experiments import iterate_chain
from .figures import draw_chain_jump_panel, draw_forward_panel

__all__ = ["forward_process_panel", "chain_jump_panel"]


def _schedule(kind: str, T: int, beta_start: float, beta_end: float) -> NoiseSchedule:
    """The schedule a panel's ``kind`` dropdown names (cosine ignores the betas)."""
    if kind == "linear":
        return NoiseSchedule.linear(T, beta_start, beta_end)
    if kind == "cosine":
        return NoiseSchedule.cosine(T)
    raise ValueError(f"kind must be 'linear' or 'cosine', got {kind!r}")


def forward_process_panel(x0: torch.Tensor, t: int = 100, kind: str = "linear", T: int = 1000,
                          beta_start: float = 1e-4, beta_end: float = 0.02, seed: int = 0) -> Panel:
    """Notebook 01: one image noised to step t by ``q_sample`` (with fixed noise, so moving a slider
    changes only what the slider controls). Shows x_t, its pixel histogram against N(0, 1), and
    sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t) and the SNR in dB with t marked.

    Controls: ``t``, ``kind`` ("linear"/"cosine"; cosine ignores the betas), ``T``, ``beta_start``,
    ``beta_end``. Shapes: x0 (1, H, W) or (1, 1, H, W).
    """
    x0 = x0.reshape(1, 1, *x0.shape[-2:]).float()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), device="cpu")
    controls = {
        "t": int_slider("timestep t", t, 0, T - 1),
        "kind": W.Dropdown(options=["linear", "cosine"], value=kind, description="schedule"),
        "T": int_slider("T", T, 10, 2000, step=10, width="320px"),
        "beta_start": W.FloatLogSlider(value=beta_start, base=10, min=-5, max=-1.5, description="β_start",
                                       readout_format=".1e", continuous_update=False),
        "beta_end": W.FloatLogSlider(value=beta_end, base=10, min=-3, max=-0.5, description="β_end",
                                     readout_format=".3f", continuous_update=False),
    }

    def draw(fig, t, kind, T, beta_start, beta_end):
        sched = _schedule(kind, T, beta_start, beta_end)
        t = min(t, T - 1)
        x_t, _ = q_sample(x0, t, sched, noise=noise)
        draw_forward_panel(fig, x_t[0], sched, t)

    def on_change(panel, change):
        if change["owner"] is panel.controls["T"]:
            panel.controls["t"].max = change["new"] - 1  # clamps t when T shrinks

    return Panel(controls, draw, figsize=(16, 4.2), on_change=on_change)


def chain_jump_panel(x0: torch.Tensor, t: int = 200, kind: str = "linear", T: int = 1000, copies: int = 32,
                     seed: int = 0) -> Panel:
    """Notebook 02: ``copies`` draws of x_t reached by the chain (t + 1 ``forward_step`` calls) and
    by one ``q_sample`` jump, side by side, with histograms of all pixel values of both and the
    two-sample KS p-value. Controls: ``t`` and ``kind``. Shapes: x0 (1, H, W) or (1, 1, H, W).
    """
    check_int("copies", copies, lo=1)
    x0 = x0.reshape(1, 1, *x0.shape[-2:]).float().expand(copies, -1, -1, -1).contiguous()
    controls = {
        "t": int_slider("timestep t", t, 0, T - 1),
        "kind": W.Dropdown(options=["linear", "cosine"], value=kind, description="schedule"),
    }

    def draw(fig, t, kind):
        sched = _schedule(kind, T, 1e-4, 0.02)
        g = torch.Generator().manual_seed(seed)
        chain = iterate_chain(x0, t, sched, generator=g)
        jump, _ = q_sample(x0, t, sched, generator=g)
        draw_chain_jump_panel(fig, chain, jump, t, sched)

    return Panel(controls, draw, figsize=(15, 4.2))
