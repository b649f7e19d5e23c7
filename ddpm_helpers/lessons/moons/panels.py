"""Slider panel of notebook 03: :func:`reverse_sampling_panel`, the moons cloud during reverse sampling,
ancestral or with naive step skipping.

It returns a :class:`~ddpm_helpers.ui.panels.Panel`; its picture is drawn by
:func:`~.figures.draw_reverse_panel`.
"""
from __future__ import annotations

import ipywidgets as W
import torch

from ...core.metrics import chamfer_distance
from ...core.sampling import naive_skip_sample, naive_skip_timesteps
from ...ui.panels import Panel, int_slider
from .figures import draw_reverse_panel

__all__ = ["reverse_sampling_panel"]


def reverse_sampling_panel(model, sched, n: int = 500, ks=(1, 2, 5, 20), ref: torch.Tensor | None = None,
                           floor: float | None = None, seed: int = 0) -> Panel:
    """Notebook 03: the point cloud during reverse sampling, from x_T (progress 0) to the samples
    (progress T). ``k`` picks the sampler: k = 1 is ancestral sampling (every step); k > 1 is the
    naive skip of :func:`~ddpm_helpers.core.sampling.naive_skip_sample` (T/k updates). All runs start
    from the same x_T. The title gives the Chamfer distance to ``ref`` (fresh data) as a multiple
    of ``floor`` when given.

    Controls: ``progress`` (timesteps of the reverse run done, 0..T) and ``k``.
    """
    T = sched.T
    x_T = torch.randn((n, 2), generator=torch.Generator().manual_seed(seed), device="cpu")
    cache = {}

    def run(k):
        if k not in cache:
            g = torch.Generator().manual_seed(seed + 1)
            s = naive_skip_sample(model, sched, x_T, k, generator=g, return_trajectory=True)
            cache[k] = (s.trajectory, s.timesteps)
        return cache[k]

    controls = {
        "progress": int_slider("reverse progress (timesteps done)", T, 0, T, width="520px"),
        "k": W.Dropdown(options=[(f"k={k} ({len(naive_skip_timesteps(T, k))} steps)", k) for k in ks], value=ks[0],
                        description="skip k"),
    }

    def draw(fig, progress, k):
        traj, ts = run(k)
        j = sum(1 for t in ts if t >= T - progress)  # updates done once `progress` timesteps are covered
        x = traj[j]
        label = "x_T: pure noise" if j == 0 else f"k={k}: after {j} of {len(ts)} updates (last at t={ts[j - 1]})"
        score = ""
        if ref is not None:
            c = chamfer_distance(x, ref)
            score = f"Chamfer to fresh moons {c:.3f}" + (f" = {c / floor:.2f}× floor" if floor else "")
        draw_reverse_panel(fig, x, label, ref, score)

    return Panel(controls, draw, figsize=(7, 6.5))
