"""Slider panel of notebook 07's 2-D half: :func:`guidance_panel`, guided samples of the labelled moons from
the exact guided score and from a trained conditional MLP, side by side, for a class and a scale.

It returns a :class:`~ddpm_helpers.ui.panels.Panel`; its picture is drawn by
:func:`~.figures.draw_guidance_panel`.
"""
from __future__ import annotations

import ipywidgets as W
import torch

from ...core.checks import check_int
from ...core.moons import assign_moon
from ...ui.panels import Panel
from .figures import draw_guidance_panel
from .theory import MOON_NAMES, sample_guided

__all__ = ["guidance_panel"]


def guidance_panel(models: dict, data: torch.Tensor, sched, c: int = 1, s: float = 1.0,
                   scales=(0.0, 0.5, 1.0, 2.0, 4.0, 8.0), n: int = 300, steps: int = 50, seed: int = 0) -> Panel:
    """Notebook 07: ``n`` guided samples per model (``{"exact": IdealDenoiser, "MLP": TimeMLP}``) of class ``c``
    at scale ``s``, from the same starting noise; each title gives the share on the chosen moon.
    Runs are cached, so returning to a setting costs nothing.

    Controls: ``c`` (the moon) and ``s`` (the guidance scale, one of ``scales``).
    """
    check_int("n", n, 1)
    if s not in scales:
        raise ValueError(f"s must be one of the slider's scales {tuple(scales)}, got {s!r}")
    cache = {}

    def run(name, c, s):
        if (name, c, s) not in cache:
            g = torch.Generator(device="cpu").manual_seed(seed)
            cache[(name, c, s)] = sample_guided(models[name], sched, c, s, n, steps, g)
        return cache[(name, c, s)]

    controls = {
        "c": W.Dropdown(options=[(f"{MOON_NAMES[k]} (class {k})", k) for k in (0, 1)], value=c, description="class"),
        "s": W.SelectionSlider(options=list(scales), value=s, description="scale s", continuous_update=False,
                               layout=W.Layout(width="420px")),
    }

    def draw(fig, c, s):
        clouds = {name: run(name, c, s) for name in models}
        notes = {name: f"on the {MOON_NAMES[c]}: {(assign_moon(x) == c).double().mean().item():.2f} (n = {n})"
                 for name, x in clouds.items()}
        draw_guidance_panel(fig, clouds, data, c, s, notes)

    return Panel(controls, draw, figsize=(11, 5.6))
