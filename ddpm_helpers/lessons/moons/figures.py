r"""Figures of notebook 03: a denoiser for the 2-D two moons.

* :func:`plot_bucket_losses`: the training loss per timestep beside three baselines (the loss curve over
  steps, :func:`ddpm_helpers.ui.figures.plot_loss_curve`, is shared with notebook 04).
* :func:`scatter_clouds`, :func:`moons_animation`, :func:`plot_skip_damage`: samples, the reverse
  process as an animation, and what naive step skipping costs.
* :func:`plot_diffusing_cloud`, :func:`plot_denoiser_fields`, :func:`plot_loss_floor`: the theory pictures
  (the optimal denoiser and its loss floor; the mass per moon is :func:`ddpm_helpers.ui.figures.plot_mass_split`,
  shared with notebook 05).
* :func:`draw_reverse_panel`: the picture of the reverse-sampling slider panel.

=====================  ==========================
symbol                 name
=====================  ==========================
x_t                    ``q_sample(x0, t, sched)``
\hat\epsilon(x_t, t)    the network's noise prediction
=====================  ==========================

Every figure is made through :mod:`ddpm_helpers.ui.style` (``@styled``, ``new_figure``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from IPython.display import HTML
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from ...core.checks import check_int
from ...core.forward import q_sample
from ...core.moons import assign_moon
from ...ui.style import new_figure, styled

__all__ = ["plot_bucket_losses", "scatter_clouds", "moons_animation", "plot_skip_damage",
           "draw_reverse_panel", "plot_diffusing_cloud", "plot_denoiser_fields", "plot_loss_floor"]


@styled
def plot_bucket_losses(result, baselines: dict | None = None, last: int = 5) -> Figure:
    """Loss per timestep bucket (mean of the last ``last`` records of ``result.bucket_losses``)
    beside baselines ``{label: (T_buckets,) values}`` from :func:`loss_baselines`."""
    edges = np.asarray(result.bucket_edges)
    centers = (edges[:-1] + edges[1:]) / 2
    fig = new_figure(figsize=(10, 4.5))
    ax = fig.subplots()
    ax.plot(centers, np.asarray(result.bucket_losses)[-last:].mean(0), "o-", lw=2.5, ms=7,
            label="trained model")
    styles = ["--", ":", "-."]
    for i, (label, v) in enumerate((baselines or {}).items()):
        ax.plot(centers, np.asarray(v), styles[i % 3], color=f"C{i + 1}", lw=2, label=label)
    ax.set(xlabel="timestep t (bucket centre)", ylabel="MSE(ε̂, ε)",
           title="Loss per timestep beside three baselines")
    ax.legend(loc="center right")
    return fig


@styled
def scatter_clouds(clouds: dict, ref: torch.Tensor | None = None, scores: dict | None = None,
                   suptitle: str = "", lim: float = 3.0, size: float = 3.6) -> Figure:
    """One scatter panel per ``{label: (N, 2) points}``, fresh data ``ref`` in light grey behind,
    and an optional score line per panel (``scores[label]``)."""
    n = len(clouds)
    fig = new_figure(figsize=(max(size * n, 6), size + 0.8))
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (label, x) in zip(axes, clouds.items()):
        if ref is not None:
            ax.scatter(ref[:, 0], ref[:, 1], s=3, color="0.8")
        x = torch.as_tensor(x, device="cpu").detach().cpu()
        ax.scatter(x[:, 0], x[:, 1], s=3, color="C0")
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="x₁", ylabel="x₂")
        ax.set_title(label + (f"\n{scores[label]}" if scores and label in scores else ""), fontsize=12)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


@styled
def moons_animation(trajectory: torch.Tensor, timesteps=None, frames: int = 40, ref: torch.Tensor | None = None,
                    lim: float = 3.0, interval: int = 120):
    """An animation of a 2-D point cloud flowing from x_T back to x_0, as embeddable HTML
    (matplotlib's ``FuncAnimation.to_jshtml()``). ``frames`` evenly spaced states are shown.

    Shapes: trajectory (S + 1, N, 2), x_T first; timesteps (S,) the timestep of each update.
    Returns an ``IPython.display.HTML``.
    """
    check_int("frames", frames, lo=2)
    traj = torch.as_tensor(trajectory, device="cpu").detach().cpu()
    idx = np.unique(np.linspace(0, traj.shape[0] - 1, frames).round().astype(int))
    fig = new_figure(figsize=(5, 5), dpi=72)
    ax = fig.subplots()
    if ref is not None:
        ax.scatter(ref[:, 0], ref[:, 1], s=3, color="0.8")
    sc = ax.scatter(traj[0, :, 0], traj[0, :, 1], s=4, color="C0")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="x₁", ylabel="x₂")
    title = ax.set_title("")

    def label(i):
        if i == 0:
            return "x_T: pure noise"
        if timesteps is not None:
            return f"after the step at t = {timesteps[i - 1]}"
        return f"reverse step {i}"

    def update(j):
        i = idx[j]
        sc.set_offsets(traj[i].numpy())
        title.set_text(label(i))
        return sc, title

    anim = FuncAnimation(fig, update, frames=len(idx), interval=interval, blit=False)
    html = anim.to_jshtml(default_mode="once")
    return HTML(html)


@styled
def plot_skip_damage(ks, chamfers, floor: float, mmds=None, mmd_floor: float | None = None) -> Figure:
    """Sample quality (Chamfer distance as a multiple of the real-vs-real floor) against the
    naive skip size k."""
    fig = new_figure(figsize=(10 if mmds is None else 13, 4.2))
    axes = fig.subplots(1, 1 if mmds is None else 2, squeeze=False)[0]
    pairs = [(axes[0], chamfers, floor, "Chamfer")]
    if mmds is not None:
        pairs.append((axes[1], mmds, mmd_floor, "MMD²"))
    for ax, vals, fl, name in pairs:
        r = np.asarray(vals) / fl
        ax.bar([str(k) for k in ks], r, color="C3")
        ax.axhline(1, color="k", ls="--", lw=1.5, label="real vs real floor")
        for i, v in enumerate(r):
            ax.annotate(f"{v:.1f}×", (i, v), ha="center", va="bottom", fontsize=12)
        ax.set(xlabel="k (timesteps skipped per update)", ylabel=f"{name} / floor", yscale="log",
               title=f"Naive step skipping: {name} vs the floor")
        ax.legend()
    return fig


@styled
def draw_reverse_panel(fig: Figure, x: torch.Tensor, label: str, ref: torch.Tensor | None, score: str,
                       lim: float = 3.0) -> None:
    """Notebook 03's panel: the point cloud at one reverse step, fresh moons behind it."""
    fig = new_figure(fig=fig)
    ax = fig.subplots()
    if ref is not None:
        ax.scatter(ref[:, 0], ref[:, 1], s=3, color="0.8", label="fresh moons")
    ax.scatter(x[:, 0], x[:, 1], s=4, color="C0", label="samples")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="x₁", ylabel="x₂",
           title=f"{label}\n{score}")
    ax.legend(loc="upper right", fontsize=11)


@styled
def plot_diffusing_cloud(x0: torch.Tensor, sched, ts=(0, 50, 100, 200, 400, 999), generator=None,
                         lim: float = 3.5) -> Figure:
    r"""The moons under the forward process: one panel per t of
    x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1-\bar\alpha_t}\epsilon (one jump, notebook 02), points coloured
    by the moon their x_0 lies on (:func:`assign_moon`), with the circle of radius 2 (two standard
    deviations of N(0, I)) for reference. Shapes: x0 (N, 2) standardised moons."""
    moon = assign_moon(x0).numpy()
    fig = new_figure(figsize=(3.0 * len(ts), 3.8))
    axes = fig.subplots(1, len(ts), squeeze=False)[0]
    circle = np.linspace(0, 2 * math.pi, 200)
    for ax, t in zip(axes, ts):
        x_t, _ = q_sample(x0, int(t), sched, generator=generator)
        for k, color in ((0, "tab:orange"), (1, "tab:purple")):
            ax.scatter(x_t[moon == k, 0], x_t[moon == k, 1], s=2, color=color)
        ax.plot(2 * np.cos(circle), 2 * np.sin(circle), color="0.4", lw=1, ls=":")
        snr_db = 10 * math.log10(float(sched.snr[int(t)]))
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
        ax.set_title(f"t = {t}\nSNR {snr_db:+.0f} dB", fontsize=13)
    axes[0].set(xlabel="x₁", ylabel="x₂")
    fig.suptitle("The moons diffusing forward (orange: outer moon, purple: inner; dotted: radius 2 of N(0, I))")
    return fig


@styled
def plot_denoiser_fields(fields: dict, ts, lim: float = 3.0, ref: torch.Tensor | None = None) -> Figure:
    r"""Rows of quiver plots, one row per ``{label: {t: (grid_points (G, 2), eps_hat (G, 2))}}`` and one
    column per t: the arrows show the *direction* of -\hat\epsilon (all drawn the same length), the way the
    reverse step moves a point (the score's direction); its size is printed separately, it spans orders of magnitude."""
    rows = list(fields.items())
    fig = new_figure(figsize=(3.6 * len(ts), 3.7 * len(rows) + 0.4))
    axes = fig.subplots(len(rows), len(ts), squeeze=False)
    for i, (label, per_t) in enumerate(rows):
        for j, t in enumerate(ts):
            ax = axes[i, j]
            pts, eps = (torch.as_tensor(a, device="cpu").detach().double() for a in per_t[t])
            step = 2 * lim / max(1.0, math.sqrt(pts.shape[0]) - 1)  # grid spacing
            u = -eps / eps.norm(dim=1, keepdim=True).clamp(min=1e-12) * 0.8 * step  # (G, 2), unit direction
            if ref is not None:
                ax.scatter(ref[:, 0], ref[:, 1], s=1, color="0.75")
            ax.quiver(pts[:, 0], pts[:, 1], u[:, 0], u[:, 1], color="C0" if i == 0 else "C3",
                      angles="xy", scale_units="xy", scale=1, width=0.006)
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
            ax.set_title(f"{label}\nt = {t}", fontsize=12)
    fig.suptitle(r"Direction of $-\hat\epsilon(x_t, t)$ (where a reverse step moves a point): "
                 "optimal for the training set against the trained network")
    return fig


@styled
def plot_loss_floor(ts, floor, floor_se, model=None, model_se=None, title: str = "") -> Figure:
    """L_simple per timestep (per coordinate) of the optimal denoiser (the floor, with +-2 s.e.) and,
    when given, of the trained model on the same kind of draws."""
    ts = np.asarray(ts)
    fig = new_figure(figsize=(11, 4.5))
    ax = fig.subplots()
    f, fse = np.asarray(floor), np.asarray(floor_se)
    ax.errorbar(ts, f, yerr=2 * fse, fmt="o-", lw=2.5, ms=6, capsize=4, color="k",
                label="optimal denoiser of the training set (the floor), ±2 s.e.")
    if model is not None:
        ax.errorbar(ts, np.asarray(model), yerr=None if model_se is None else 2 * np.asarray(model_se),
                    fmt="s-", lw=2, ms=6, capsize=4, color="C0", label="trained network, ±2 s.e.")
    ax.set(xlabel="timestep t", ylabel="MSE(ε̂, ε) per coordinate", ylim=(0, None),
           title=title or "The loss no network can beat, per timestep")
    ax.legend()
    return fig
