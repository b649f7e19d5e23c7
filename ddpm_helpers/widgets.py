"""Slider panels for the notebooks. Each builder RETURNS the panel so tests can drive it.

Every panel is a :class:`Panel`: an ``ipywidgets.VBox`` with

* ``panel.controls``: a dict ``name -> widget`` (set ``panel.controls["t"].value = 10`` from
  Python and the picture redraws, exactly as when a student drags the slider),
* ``panel.output``: the ``ipywidgets.Output`` that holds the current picture,
* ``panel.figure``: the matplotlib figure, and ``panel.image()``: its pixels (for tests).

The default picture is rendered at construction time, into the output and into the panel's own
``image/png`` representation, so where no widget frontend runs (nbval, a static render on
GitHub) the notebook still shows the picture.
"""
from __future__ import annotations

import base64
import contextlib

import ipywidgets as W
import numpy as np
import torch

from .plots import figure_to_array, figure_to_png, new_figure

__all__ = ["Panel", "forward_process_panel", "chain_jump_panel", "reverse_sampling_panel"]


class Panel(W.VBox):
    """A row of controls above an output area, redrawn by ``draw(figure, **values)`` on every change.

    ``draw`` receives the figure and the current value of every control by name; if it raises a
    ``ValueError`` (a bad slider combination such as beta_start > beta_end) the message is shown
    in the figure instead of a picture.
    """

    def __init__(self, controls: dict, draw, figsize=(14, 4), dpi: int = 80, on_change=None):
        self.output = W.Output()
        rows = list(controls.values())
        super().__init__([W.HBox(rows[:3]), W.HBox(rows[3:]), self.output] if len(rows) > 3
                         else [W.HBox(rows), self.output])
        self.controls = controls
        self.figure = new_figure(figsize=figsize)
        self.dpi = dpi
        self._draw = draw
        self._on_change_hook = on_change
        self._holding = False
        self._png = b""
        for w in controls.values():
            w.observe(self._changed, names="value")
        self.render()

    def values(self) -> dict:
        """The current value of every control, by name."""
        return {k: w.value for k, w in self.controls.items()}

    @contextlib.contextmanager
    def hold(self):
        """Change several controls without redrawing in between; redraw once at the end."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        self.render()

    def _changed(self, change):
        if self._holding:
            return
        if self._on_change_hook is not None:
            with self.hold():
                self._on_change_hook(self, change)
            return
        self.render()

    def render(self) -> None:
        """Redraw the figure from the controls and put it into the output area."""
        try:
            self._draw(self.figure, **self.values())
        except ValueError as e:
            self.figure.clear()
            self.figure.text(0.5, 0.5, f"ValueError: {e}", ha="center", va="center", wrap=True,
                             fontsize=13, color="crimson")
        self._png = figure_to_png(self.figure, dpi=self.dpi)
        b64 = base64.b64encode(self._png).decode("ascii")
        self.output.outputs = ({"output_type": "display_data", "metadata": {},
                                "data": {"image/png": b64, "text/plain": "<panel picture>"}},)

    def image(self) -> np.ndarray:
        """The current picture's pixels. Shapes: -> (H, W, 4) uint8."""
        return figure_to_array(self.figure)

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs) or {}
        data["image/png"] = base64.b64encode(self._png).decode("ascii")  # static fallback
        return data


def _int_slider(name, value, lo, hi, step=1, width="420px"):
    return W.IntSlider(value=value, min=lo, max=hi, step=step, description=name, continuous_update=False,
                       layout=W.Layout(width=width), style={"description_width": "initial"})


# --- notebooks 01-03 ---
def _schedule(kind: str, T: int, beta_start: float, beta_end: float):
    from .core.schedules import NoiseSchedule

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
    from .core.forward import q_sample

    x0 = x0.reshape(1, 1, *x0.shape[-2:]).float()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), device="cpu")
    controls = {
        "t": _int_slider("timestep t", t, 0, T - 1),
        "kind": W.Dropdown(options=["linear", "cosine"], value=kind, description="schedule"),
        "T": _int_slider("T", T, 10, 2000, step=10, width="320px"),
        "beta_start": W.FloatLogSlider(value=beta_start, base=10, min=-5, max=-1.5, description="β_start",
                                       readout_format=".1e", continuous_update=False),
        "beta_end": W.FloatLogSlider(value=beta_end, base=10, min=-3, max=-0.5, description="β_end",
                                     readout_format=".3f", continuous_update=False),
    }

    def draw(fig, t, kind, T, beta_start, beta_end):
        from .plots import draw_forward_panel

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
    from .experiments import iterate_chain
    from .core.forward import q_sample
    from .plots import draw_chain_jump_panel

    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be an integer >= 1, got {copies!r}")
    x0 = x0.reshape(1, 1, *x0.shape[-2:]).float().expand(copies, -1, -1, -1).contiguous()
    controls = {
        "t": _int_slider("timestep t", t, 0, T - 1),
        "kind": W.Dropdown(options=["linear", "cosine"], value=kind, description="schedule"),
    }

    def draw(fig, t, kind):
        sched = _schedule(kind, T, 1e-4, 0.02)
        g = torch.Generator().manual_seed(seed)
        chain = iterate_chain(x0, t, sched, generator=g)
        jump, _ = q_sample(x0, t, sched, generator=g)
        draw_chain_jump_panel(fig, chain, jump, t, sched)

    return Panel(controls, draw, figsize=(15, 4.2))


def reverse_sampling_panel(model, sched, n: int = 500, ks=(1, 2, 5, 20), ref: torch.Tensor | None = None,
                           floor: float | None = None, seed: int = 0) -> Panel:
    """Notebook 03: the point cloud during reverse sampling, from x_T (progress 0) to the samples
    (progress T). ``k`` picks the sampler: k = 1 is ancestral sampling (every step); k > 1 is the
    naive skip of :func:`~ddpm_helpers.experiments.naive_skip_sample` (T/k updates). All runs start
    from the same x_T. The title gives the Chamfer distance to ``ref`` (fresh data) as a multiple
    of ``floor`` when given.

    Controls: ``progress`` (timesteps of the reverse run done, 0..T) and ``k``.
    """
    from .experiments import naive_skip_sample, naive_skip_timesteps
    from .core.metrics import chamfer_distance
    from .plots import draw_reverse_panel

    T = sched.T
    x_T = torch.randn((n, 2), generator=torch.Generator().manual_seed(seed), device="cpu")
    cache = {}

    def run(k):
        if k not in cache:
            g = torch.Generator().manual_seed(seed + 1)
            _, traj, ts = naive_skip_sample(model, sched, n, k, x_T=x_T, generator=g, return_trajectory=True)
            cache[k] = (traj, ts)
        return cache[k]

    controls = {
        "progress": _int_slider("reverse progress (timesteps done)", T, 0, T, width="520px"),
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


# --- notebook 04 ---
def x0_prediction_panel(model, sched, x0: torch.Tensor, t: int = 500, seed: int = 0) -> Panel:
    r"""Notebook 04: noise one clean image to step t with ``q_sample`` and show the model's
    \hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t} \hat\epsilon) / \sqrt{\bar\alpha_t} beside x_0, x_t and the error.

    Controls: ``t`` (0..T-1) and ``seed`` (which noise draw). Shapes: x0 (1, H, W) or (1, 1, H, W).
    """
    from .core.forward import q_sample
    from .plots import draw_x0_panel
    from .core.reverse import predict_x0

    from .core.sampling import predict_noise

    x0 = x0.reshape(1, 1, *x0.shape[-2:]).float().cpu()
    controls = {
        "t": _int_slider("timestep t", t, 0, sched.T - 1, width="520px"),
        "seed": _int_slider("noise draw", seed, 0, 9, width="300px"),
    }

    def draw(fig, t, seed):
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), device="cpu")
        x_t, _ = q_sample(x0, t, sched, noise=noise)
        eps = predict_noise(model, x_t, t)  # on the model's device, in eval mode; back on the CPU
        draw_x0_panel(fig, x0[0], x_t[0], predict_x0(x_t, eps, t, sched)[0], t, sched)

    return Panel(controls, draw, figsize=(14, 4.2))


__all__ += ["x0_prediction_panel"]


# --- notebooks 05-06 ---
# 05: the posterior at t (grid Bayes vs formula); the ELBO weights per schedule.
# 06: DDIM samples from one fixed x_T as the number of steps and eta change.
__all__ += ["posterior_panel", "elbo_weights_panel", "ddim_panel"]


def posterior_panel(sched=None, x0: float = 0.7, eps: float = 0.8, t: int = 10) -> Panel:
    r"""Notebook 05: slider ``t`` (and ``x0``): q(x_{t-1} | x_t, x_0) by grid Bayes against the formula, with
    x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} eps for one fixed eps (so only t or x_0 moves it)."""
    from .plots import plot_posterior_bayes
    from .core.schedules import NoiseSchedule

    sched = sched if sched is not None else NoiseSchedule.linear(1000)
    controls = {"t": _int_slider("t", t, 1, sched.T - 1, width="520px"),
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
    from .plots import plot_elbo_weights
    from .core.schedules import NoiseSchedule

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


def ddim_panel(model, sched, x_T: torch.Tensor | None = None, n: int = 8, steps_options=(2, 5, 10, 20, 50, 100),
               steps: int = 10, eta: float = 0.0, seed: int = 0, spacing: str = "trailing") -> Panel:
    """Notebook 06: ``steps`` and ``eta`` sliders and a ``spacing`` toggle ("trailing": the timesteps start
    at t = T-1; "leading", the DDIM paper's: they start at (steps-1) * (T // steps), far below T-1 for few
    steps, so the model is asked to denoise pure noise as if it were much less noisy). DDIM samples from ONE
    fixed x_T (and one fixed stream of per-step noise). At eta = 0 only the steps and the spacing change
    the picture; eta > 0 mixes in fresh noise.

    Shapes: x_T (n, C, H, W) (drawn from ``seed`` when None, 1x28x28 images).
    """
    from .plots import plot_image_rows
    from .core.sampling import ddim_sample, ddim_timesteps

    if x_T is None:
        x_T = torch.randn((n, 1, 28, 28), generator=torch.Generator().manual_seed(seed), device="cpu")
    steps_options = list(steps_options)
    if steps not in steps_options:
        raise ValueError(f"steps must be one of steps_options={steps_options}, got {steps!r}")
    if spacing not in ("trailing", "leading"):
        raise ValueError(f"spacing must be 'trailing' or 'leading', got {spacing!r}")
    controls = {"steps": W.SelectionSlider(options=steps_options, value=steps, description="steps",
                                           continuous_update=False),
                "eta": W.FloatSlider(value=eta, min=0.0, max=1.0, step=0.25, description="eta",
                                     continuous_update=False),
                "spacing": W.ToggleButtons(options=["trailing", "leading"], value=spacing, description="spacing")}

    def draw(fig, steps, eta, spacing):
        ts = ddim_timesteps(sched.T, steps, spacing)
        x = ddim_sample(model, sched, tuple(x_T.shape), steps=steps, eta=eta, x_T=x_T, spacing=spacing,
                        generator=torch.Generator().manual_seed(seed + 1), progress=False)
        plot_image_rows({"x_T": x_T, f"x_0\n{steps} steps\neta={eta:g}": x},
                        title=f"DDIM from one fixed x_T: {steps} steps, eta = {eta:g}, {spacing} spacing "
                              f"(t = {ts[0]} first, {ts[-1]} last)", fig=fig)

    return Panel(controls, draw, figsize=(max(8.0, 1.4 * x_T.shape[0] + 2.5), 4.0))
