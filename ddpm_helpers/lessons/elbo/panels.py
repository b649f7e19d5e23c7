r"""Slider panels of notebook 05.

* :func:`posterior_panel`: q(x_{t-1} | x_t, x_0) by grid Bayes against the formula, for any t and x_0.
* :func:`elbo_weights_panel`: the ELBO weights w_t per schedule and variance choice.

Each returns a :class:`~ddpm_helpers.ui.panels.Panel`; its picture is drawn by
:func:`~.figures.plot_posterior_bayes` or :func:`~.figures.plot_elbo_weights` into the panel's figure.
"""
from __future__ import annotations

import ipywidgets as W

from ...core.schedules import NoiseSchedule
from ...ui.panels import Panel, int_slider
from .figures import plot_elbo_weights, plot_posterior_bayes

__all__ = ["posterior_panel", "elbo_weights_panel"]


def posterior_panel(sched: NoiseSchedule | None = None, x0: float = 0.7, eps: float = 0.8, t: int = 10) -> Panel:
    r"""Notebook 05: slider ``t`` (and ``x0``): q(x_{t-1} | x_t, x_0) by grid Bayes against the formula, with
    x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} eps for one fixed eps (so only t or x_0 moves it)."""
    sched = sched if sched is not None else NoiseSchedule.linear(1000)
    controls = {"t": int_slider("t", t, 1, sched.T - 1, width="520px"),
                "x0": W.FloatSlider(value=x0, min=-2.0, max=2.0, step=0.1, description="x_0",
                                    continuous_update=False)}

    def draw(fig, t, x0):
        ab = float(sched.alpha_bars[t])  # a host float: works for a schedule on any device
        x_t = ab ** 0.5 * x0 + (1 - ab) ** 0.5 * eps
        plot_posterior_bayes(x0, x_t, t, sched, fig=fig)

    return Panel(controls, draw, figsize=(12, 4.5))


def elbo_weights_panel(T: int = 1000) -> Panel:
    """Notebook 05: dropdowns ``schedule`` (linear/cosine/both) and ``variance`` (sigma_t^2 choice) and a
    ``normalized`` checkbox (the mean-1 training weights): w_t over t."""
    scheds = {"linear": NoiseSchedule.linear(T), "cosine": NoiseSchedule.cosine(T)}
    controls = {"schedule": W.Dropdown(options=["linear", "cosine", "both"], value="both", description="schedule"),
                "variance": W.Dropdown(options=["posterior", "beta", "both"], value="posterior",
                                       description="σ_t²"),
                "normalized": W.Checkbox(value=False, description="mean-1 training weights")}

    def draw(fig, schedule, variance, normalized):
        chosen = scheds if schedule == "both" else {schedule: scheds[schedule]}
        vs = ("posterior", "beta") if variance == "both" else (variance,)
        plot_elbo_weights(chosen, vs, normalized=normalized, fig=fig)

    return Panel(controls, draw, figsize=(12, 4.5))
