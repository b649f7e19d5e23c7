"""Slider panel of notebook 06: :func:`ddim_panel`, DDIM samples from one fixed x_T as the number of
steps, eta and the timestep spacing change.

It returns a :class:`~ddpm_helpers.ui.panels.Panel`; its picture is drawn by
:func:`~.figures.plot_image_rows` into the panel's figure.
"""
from __future__ import annotations

import ipywidgets as W
import torch

from ...core.sampling import ddim_sample, ddim_timesteps, start_noise
from ...ui.panels import Panel
from .figures import plot_image_rows

__all__ = ["ddim_panel"]


def ddim_panel(model, sched, x_T: torch.Tensor | None = None, n: int = 8, steps_options=(2, 5, 10, 20, 50, 100),
               steps: int = 10, eta: float = 0.0, seed: int = 0, spacing: str = "trailing") -> Panel:
    """Notebook 06: ``steps`` and ``eta`` sliders and a ``spacing`` toggle ("trailing": the timesteps start
    at t = T-1; "leading", the DDIM paper's: they start at (steps-1) * (T // steps), far below T-1 for few
    steps, so the model is asked to denoise pure noise as if it were much less noisy). DDIM samples from ONE
    fixed x_T (and one fixed stream of per-step noise). At eta = 0 only the steps and the spacing change
    the picture; eta > 0 mixes in fresh noise.

    Shapes: x_T (n, C, H, W) (drawn from ``seed`` when None, in the model's sample shape).
    """
    steps_options = list(steps_options)
    if steps not in steps_options:
        raise ValueError(f"steps must be one of steps_options={steps_options}, got {steps!r}")
    if spacing not in ("trailing", "leading"):
        raise ValueError(f"spacing must be 'trailing' or 'leading', got {spacing!r}")
    if x_T is None:
        x_T = start_noise(model, n, torch.Generator().manual_seed(seed))
    controls = {"steps": W.SelectionSlider(options=steps_options, value=steps, description="steps",
                                           continuous_update=False),
                "eta": W.FloatSlider(value=eta, min=0.0, max=1.0, step=0.25, description="eta",
                                     continuous_update=False),
                "spacing": W.ToggleButtons(options=["trailing", "leading"], value=spacing, description="spacing")}

    def draw(fig, steps, eta, spacing):
        ts = ddim_timesteps(sched.T, steps, spacing)
        x = ddim_sample(model, sched, x_T, steps=steps, eta=eta, spacing=spacing,
                        generator=torch.Generator().manual_seed(seed + 1)).x0
        plot_image_rows({"x_T": x_T, f"x_0\n{steps} steps\neta={eta:g}": x},
                        title=f"DDIM from one fixed x_T: {steps} steps, eta = {eta:g}, {spacing} spacing "
                              f"(t = {ts[0]} first, {ts[-1]} last)", fig=fig)

    return Panel(controls, draw, figsize=(max(8.0, 1.4 * x_T.shape[0] + 2.5), 4.0))
