r"""Figures of notebook 06: DDIM, step skipping and what determinism buys.

* :func:`plot_image_rows`: rows of images (DDIM steps and eta, interpolation, inversion); it draws into
  ``fig`` (cleared) when given, as the DDIM slider panel does.
* :func:`plot_speed_quality`: quality against cost (model calls) for every sampler of the speed-quality
  table, with FID's spread at that n.
* :func:`plot_skip_comparison`: three ways to skip steps on the moons, paths from x_T to x_0.
* :func:`plot_ddim_geometry`: one DDIM step of one 2-D point as a sum of three vectors.

=====================  ==========================
symbol                 name
=====================  ==========================
\sigma_t(\eta)         ``ddim_sigma(t, t_prev, sched, eta)``
\hat x_0               ``predict_x0(x_t, eps_hat, t, sched)``
t'                     the next timestep of the DDIM run
=====================  ==========================

Every figure is made through :mod:`ddpm_helpers.ui.style` (``@styled``, ``new_figure``).
"""
from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from ...ui.style import image_array, new_figure, styled

__all__ = ["plot_image_rows", "plot_speed_quality", "plot_skip_comparison", "plot_ddim_geometry"]


@styled
def plot_image_rows(rows: dict, title: str = "", col_labels=None, size: float = 1.4,
                    fig: Figure | None = None) -> Figure:
    """Rows of images ``{row label: (K, 1, H, W) in [-1, 1]}``, each labelled on the left."""
    names = list(rows)
    k = max(int(r.shape[0]) for r in rows.values())
    fig = new_figure((max(8.0, size * k + 2.5), size * len(names) + 1.0), fig=fig)
    axes = fig.subplots(len(names), k, squeeze=False)
    for i, name in enumerate(names):
        imgs = rows[name].detach().cpu().float()
        for j in range(k):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(False)
            if j < imgs.shape[0]:
                ax.imshow(image_array(imgs[j]), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            if j == 0:
                ax.set_ylabel(name, fontsize=12, rotation=0, ha="right", va="center")
            if i == 0 and col_labels is not None and j < len(col_labels):
                ax.set_title(str(col_labels[j]), fontsize=12)
    if title:
        fig.suptitle(title)
    return fig


@styled
def plot_speed_quality(rows: list, floor: dict | None = None, metric: str = "fid") -> Figure:
    """Quality against cost, one marker per row of ``speed_quality_table``: x = model calls (log scale; rows with
    the same calls are nudged apart), DDIM joined by eta with the steps written beside each marker, DDPM a black
    star. With ``floor`` (``real_floor_spread`` at the same n) every FID carries an error bar of ± the floor's
    spread between draws of n real images (how far FID moves at this n with nothing wrong), and the floor is
    drawn as a band of ± 2 sqrt 2 times that spread (closer than that, two FIDs cannot be told apart)."""
    fig = new_figure(figsize=(12, 5.5))
    ax = fig.subplots()
    bar = floor.get(f"{metric}_std") if floor is not None else None
    etas = sorted({r["eta"] for r in rows if r["sampler"] == "DDIM"})
    for i, eta in enumerate(etas):
        rs = sorted((r for r in rows if r["sampler"] == "DDIM" and r["eta"] == eta), key=lambda r: r["steps"])
        xs = [r["model_calls"] * 1.06 ** (i - (len(etas) - 1) / 2) for r in rs]  # nudged apart, log axis
        ax.errorbar(xs, [r[metric] for r in rs], yerr=bar, fmt="o-", color=f"C{i}", lw=2.5, ms=8, capsize=4,
                    label=f"DDIM, eta = {eta:g}")
        for x, r in zip(xs, rs):
            ax.annotate(str(r["steps"]), (x, r[metric]), textcoords="offset points", xytext=(5, 5),
                        fontsize=12, color=f"C{i}")
    for r in rows:
        if r["sampler"] == "DDPM":
            ax.errorbar(r["model_calls"], r[metric], yerr=bar, fmt="k*", ms=18, capsize=4,
                        label=f"DDPM, {r['steps']} steps")
    if floor is not None:
        ax.axhline(floor[metric], color="0.4", ls="--", lw=1.5, label=f"real vs real (n = {floor['n']})")
        if bar:
            ax.axhspan(floor[metric] - 2 * 2**0.5 * bar, floor[metric] + 2 * 2**0.5 * bar, color="0.85", zorder=0,
                       label="± 2√2 × its spread: cannot be told apart from real")
    n = rows[0]["n"] if rows else 0
    ax.set_xscale("log")
    calls = sorted({r["model_calls"] for r in rows})
    ax.set_xticks(calls, [str(c) for c in calls])
    ax.minorticks_off()
    ax.set(xlabel="model calls per image (log scale)", ylabel=f"{metric.upper()} (lower is better)",
           title=f"Cost against quality, n = {n} samples per sampler (numbers: steps"
                 + (f"; error bars: ± FID's spread between draws of {n} real images)" if bar else ")"))
    ax.legend(fontsize=10)
    return fig


@styled
def plot_skip_comparison(results: dict, ref: torch.Tensor | None = None, scores: dict | None = None,
                         paths: int = 8, lim: float = 3.0, size: float = 4.2) -> Figure:
    """Notebook 06: one panel per sampler of :func:`skip_comparison` ({name: Sample with its
    trajectory}): the final samples over fresh data ``ref`` (grey), and the paths of the first ``paths``
    points from x_T (hollow circle) to x_0 (dot). ``scores[name]`` is printed under each title.

    Shapes: x_0 (N, 2); trajectory (S + 1, N, 2), x_T first."""
    n = len(results)
    fig = new_figure(figsize=(size * n, size + 1.0))
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (name, run) in zip(axes, results.items()):
        x0, traj, ts = run.x0, run.trajectory, run.timesteps
        if ref is not None:
            ax.scatter(ref[:, 0], ref[:, 1], s=3, color="0.85", zorder=0)
        x0 = torch.as_tensor(x0, device="cpu").detach().cpu()
        ax.scatter(x0[:, 0], x0[:, 1], s=3, color="C0", alpha=0.5, zorder=1)
        tr = torch.as_tensor(traj, device="cpu").detach().cpu()[:, :paths]  # (S + 1, paths, 2)
        for j in range(tr.shape[1]):
            ax.plot(tr[:, j, 0], tr[:, j, 1], "-", color=f"C{1 + j % 8}", lw=1.2, alpha=0.9, zorder=2)
            ax.scatter(tr[0, j, 0], tr[0, j, 1], s=30, facecolors="none", edgecolors=f"C{1 + j % 8}", zorder=3)
            ax.scatter(tr[-1, j, 0], tr[-1, j, 1], s=18, color=f"C{1 + j % 8}", zorder=3)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="x₁", ylabel="x₂")
        ax.set_title(f"{name} ({len(ts)} model calls)" + (f"\n{scores[name]}" if scores and name in scores else ""),
                     fontsize=12)
    fig.suptitle("Same x_T, three ways to skip: paths x_T (○) → x_0 (●), samples over the data (grey)")
    return fig


@styled
def plot_ddim_geometry(x_t: torch.Tensor, geos: dict, x0: torch.Tensor | None = None, ref: torch.Tensor | None = None,
                       title: str = "", size: float = 5.0) -> Figure:
    r"""Notebook 06: one DDIM step of ONE 2-D point drawn as vectors, one panel per ``{label: ddim_geometry(...)}``:
    x_{t'} = \sqrt{\bar\alpha_{t'}} \hat x_0 (blue) + direction \sqrt{1 - \bar\alpha_{t'} - \sigma^2} \hat\epsilon
    (orange) + fresh noise \sigma z (green), tip to tail from the origin; x_t, \hat x_0 (and the true x_0) marked.

    Shapes: x_t (2,) or (1, 2); each geometry's tensors (1, 2) or (2,)."""
    def v(a):
        return torch.as_tensor(a, device="cpu").detach().cpu().reshape(-1)[:2].double().numpy()

    n = len(geos)
    xt = v(x_t)
    fig = new_figure(figsize=(size * n + 1.5, size + 2.6))
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (label, g) in zip(axes, geos.items()):
        if ref is not None:
            ax.scatter(ref[:, 0], ref[:, 1], s=2, color="0.88", zorder=0)
        start = np.zeros(2)
        for key, color, name in (("x0_term", "C0", "√ᾱ_t' x̂₀"), ("direction", "C1", "√(1-ᾱ_t'-σ²) ε̂"),
                                 ("noise", "C2", "σ z")):
            d = v(g[key])
            if np.linalg.norm(d) > 1e-9:
                ax.annotate("", xy=start + d, xytext=start,
                            arrowprops=dict(arrowstyle="-|>", color=color, lw=2.5, mutation_scale=18))
            ax.plot([], [], color=color, lw=2.5, label=f"{name}  (|·| = {np.linalg.norm(d):.2f})")
            start = start + d
        ax.scatter(*xt, s=90, marker="s", color="k", label="x_t", zorder=4)
        ax.scatter(*v(g["x0_hat"]), s=110, marker="*", color="C3", label="x̂₀", zorder=4)
        ax.scatter(*v(g["x_prev"]), s=70, marker="o", color="C4", label="x_t' (the sum)", zorder=4)
        if x0 is not None:
            ax.scatter(*v(x0), s=70, marker="x", color="k", label="true x₀", zorder=4)
        pts = np.stack([xt, v(g["x0_hat"]), v(g["x_prev"]), np.zeros(2)] + ([v(x0)] if x0 is not None else []))
        lo, hi = pts.min(0) - 0.6, pts.max(0) + 0.6
        span = max(hi - lo)
        mid = (hi + lo) / 2
        ax.set(xlim=(mid[0] - span / 2, mid[0] + span / 2), ylim=(mid[1] - span / 2, mid[1] + span / 2),
               aspect="equal", xlabel="x₁", ylabel="x₂")
        ax.set_title(f"{label}: σ = {g['sigma']:.3f}", fontsize=12)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=9, frameon=False)
    fig.suptitle(title or "One DDIM step = scaled x̂₀ + direction to x_t + fresh noise (tip to tail from 0)")
    return fig
