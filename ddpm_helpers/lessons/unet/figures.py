r"""Figures of notebook 04: a U-Net on FashionMNIST.

* :func:`plot_time_embedding`: the sinusoidal time embedding.
* :func:`plot_sample_grid`, :func:`plot_filmstrip`, :func:`plot_loss_per_timestep`: samples, one sample
  denoised step by step, and the loss per timestep (the loss curve over steps:
  :func:`ddpm_helpers.ui.figures.plot_loss_curve`).
* :func:`plot_nearest_neighbours`, :func:`plot_class_histogram`: memorization and mode coverage.
* :func:`plot_troubleshooting_gallery`: the samples of each classic sampler bug.
* The U-Net's diagram is :mod:`.diagram`'s; FID/KID tables and readings are :mod:`ddpm_helpers.ui.tables`'.
* :func:`draw_x0_panel`: the picture of the x0-prediction slider panel.

=====================  ==========================
symbol                 name
=====================  ==========================
x_t                    ``q_sample(x0, t, sched)``
\hat x_0(x_t, t)        ``predict_x0(x_t, eps_hat, t, sched)``
=====================  ==========================

Every figure is made through :mod:`ddpm_helpers.ui.style` (``@styled``, ``new_figure``, ``show_image``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from ...core.data import FASHION_CLASSES
from ...core.models import sinusoidal_embedding
from ...ui.style import new_figure, show_image, styled
from .quality import class_shares

__all__ = ["plot_time_embedding", "plot_sample_grid", "plot_filmstrip", "plot_loss_per_timestep",
           "plot_nearest_neighbours", "plot_class_histogram", "plot_troubleshooting_gallery", "draw_x0_panel"]


@styled
def plot_time_embedding(dim: int = 32, T: int = 1000, show_t=None) -> Figure:
    """Left: the sinusoidal embedding of every t as a heat map (t down, dimension across).
    Right: the embedding vectors of a few t (default 0, T/4, T/2, T-1) as curves. Returns the figure."""
    if show_t is None:
        show_t = (0, T // 4, T // 2, T - 1)
    if any(not 0 <= t < T for t in show_t):
        raise ValueError(f"show_t must hold timesteps in 0..{T - 1}, got {show_t}")

    emb = sinusoidal_embedding(torch.arange(T, device="cpu"), dim)  # (T, dim)
    fig = new_figure((15, 5))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    im = ax1.imshow(emb.numpy(), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax1.set_xlabel(f"embedding dimension (sin: 0..{dim // 2 - 1}, cos: {dim // 2}..{dim - 1})")
    ax1.set_ylabel("timestep t")
    ax1.set_title(f"Sinusoidal time embedding, dim = {dim}")
    fig.colorbar(im, ax=ax1, fraction=0.04)
    for t in show_t:
        ax2.plot(emb[t].numpy(), marker="o", ms=3, label=f"t = {t}")
    ax2.set_xlabel("embedding dimension")
    ax2.set_ylabel("value")
    ax2.set_title("Each t gets its own vector")
    ax2.legend(fontsize=11)
    return fig


@styled
def plot_sample_grid(images, nrow: int = 8, title: str = "Samples", scale: float = 1.1) -> Figure:
    """A grid of images in [-1, 1] (torchvision's ``make_grid``). Shapes: images (N, 1, H, W)."""
    from torchvision.utils import make_grid  # heavy (torchvision): imported when a grid is drawn

    n = images.shape[0]
    ncol = min(nrow, n)
    rows = (n + ncol - 1) // ncol
    grid = make_grid(images.detach().cpu().clamp(-1, 1), nrow=ncol, padding=2, pad_value=1.0)  # (3, H', W')
    fig = new_figure((scale * ncol + 0.5, scale * rows + 0.8))
    ax = fig.add_subplot()
    ax.imshow(grid[0].numpy(), cmap="gray", vmin=-1, vmax=1)
    ax.set_axis_off()
    ax.set_title(title)
    return fig


@styled
def plot_filmstrip(frames, timesteps, x0_preds=None, title: str = "Denoising one sample, t = T-1 -> 0") -> Figure:
    """Top row: x_t at the given timesteps; bottom row (when given): the model's x0-prediction there.

    Shapes: frames (K, 1, H, W); x0_preds (K, 1, H, W) or None; timesteps K ints (or K ready-made labels).
    """
    k = len(timesteps)
    rows = 1 if x0_preds is None else 2
    fig = new_figure((1.7 * k + 1.5, 1.9 * rows + 0.7))
    axes = fig.subplots(rows, k, squeeze=False)
    for j, t in enumerate(timesteps):
        show_image(axes[0, j], frames[j], t if isinstance(t, str) else f"t = {t}", fontsize=12)
        if x0_preds is not None:
            show_image(axes[1, j], x0_preds[j])
    axes[0, 0].set_ylabel("$x_t$", fontsize=14)
    if x0_preds is not None:
        axes[1, 0].set_ylabel(r"$\hat x_0(x_t, t)$", fontsize=14)
    fig.suptitle(title)
    return fig


@styled
def plot_loss_per_timestep(timesteps, losses, bucket_edges=None, bucket_losses=None,
                           title: str = "Noise-prediction loss per timestep") -> Figure:
    """The loss L_t of a trained model against t (log scale), optionally with the training run's
    per-bucket losses (the last record) as steps."""
    fig = new_figure((11, 4.8))
    ax = fig.add_subplot()
    ax.plot(list(timesteps), np.asarray(losses), marker="o", label="shipped model, fixed test batch")
    if bucket_edges is not None and bucket_losses is not None and len(bucket_losses):
        ax.stairs(np.asarray(bucket_losses)[-1], bucket_edges, baseline=None, lw=2,
                  label="this notebook's training run (last record, per bucket)")
    ax.set_yscale("log")
    ax.set_xlabel("timestep t")
    ax.set_ylabel(r"$\|\epsilon - \epsilon_\theta(x_t, t)\|^2$ per pixel")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


@styled
def plot_nearest_neighbours(samples, neighbours, distances, floor=None, ncols: int = 8,
                            title: str = "Each sample (top) and its nearest training image (bottom)") -> Figure:
    """Memorization check: samples over their nearest training images, with the L2 distance.

    Shapes: samples, neighbours (N, 1, H, W); distances (N,).
    """
    n = min(ncols, samples.shape[0])
    fig = new_figure((1.8 * n + 0.5, 4.6))
    axes = fig.subplots(2, n, squeeze=False)
    for j in range(n):
        show_image(axes[0, j], samples[j], "sample", fontsize=12)
        show_image(axes[1, j], neighbours[j], f"d = {float(distances[j]):.1f}", fontsize=12)
    sub = "" if floor is None else f"  (test images to their nearest training image: median d = {floor:.1f})"
    fig.suptitle(title + sub, fontsize=13)
    return fig


@styled
def plot_class_histogram(counts, reference=None, title: str = "Mode coverage: classes of the samples", card=None,
                         level: float = 0.95) -> Figure:
    """Bar chart of the classifier's class counts as fractions, each with its Wilson interval at ``level``
    (:func:`class_shares`), beside a ``reference`` histogram (e.g. the test set) and, when given, ``card``: a
    larger pre-measured histogram (the model card's) with its intervals."""
    sets = [("samples", counts)] + ([("model card", card)] if card is not None else [])
    n_bars = len(sets) + (reference is not None)
    fig = new_figure((12, 4.8))
    ax = fig.add_subplot()
    x = np.arange(len(FASHION_CLASSES))
    w = 0.8 / n_bars
    for i, (name, c) in enumerate(sets):
        sh = class_shares(c, level)
        err = np.stack([sh["share"] - sh["lo"], sh["hi"] - sh["share"]])  # (2, classes)
        ax.bar(x + (i - (n_bars - 1) / 2) * w, sh["share"], width=w, yerr=err, capsize=3, color=f"C{i}",
               error_kw={"elinewidth": 1.2}, label=f"{name} (n = {sh['n']}), {100 * level:.0f} % intervals")
    if reference is not None:
        ref = np.asarray(reference, dtype=float)
        ax.bar(x + (n_bars - 1) / 2 * w, ref / ref.sum(), width=w, color="0.65",
               label=f"test set (n = {int(ref.sum())})")
    ax.axhline(0.1, color="k", ls="--", lw=1, label="10 %")
    ax.set_xticks(x, FASHION_CLASSES, rotation=30, ha="right")
    ax.set_ylabel("fraction of images")
    ax.set_title(title)
    ax.legend(fontsize=10)
    return fig


@styled
def plot_troubleshooting_gallery(gallery: dict,
                                 title: str = "The loss is low but the samples are noise: classic bugs") -> Figure:
    """One row per sampler variant from :func:`troubleshooting_gallery`: the bug's name
    on the left, its samples on the right (all displayed as [-1, 1] images)."""
    items = list(gallery.items())
    n = max(x.shape[0] for _, (_, x, _) in items)
    fig = new_figure((2.0 * n + 4.5, 1.9 * len(items) + 0.6))
    axes = fig.subplots(len(items), n + 1, squeeze=False,
                        gridspec_kw={"width_ratios": [2.2] + [1] * n})
    for i, (key, (name, x, _)) in enumerate(items):
        axes[i, 0].set_axis_off()
        axes[i, 0].text(1.0, 0.5, name, ha="right", va="center", fontsize=13,
                        color="green" if key == "correct" else "firebrick", transform=axes[i, 0].transAxes)
        for j in range(n):
            if j < x.shape[0]:
                show_image(axes[i, j + 1], x[j].clamp(-1, 1))
            else:
                axes[i, j + 1].set_axis_off()
    fig.suptitle(title)
    return fig


@styled
def draw_x0_panel(fig: Figure, x0: torch.Tensor, x_t: torch.Tensor, x0_hat: torch.Tensor, t: int, sched) -> None:
    """Notebook 04's panel: the clean image, x_t, the model's x0-prediction and its error, at one t."""
    fig = new_figure(fig=fig)
    axes = fig.subplots(1, 4)
    ab = sched.alpha_bars[t].item()
    err = (x0_hat - x0).pow(2).mean().sqrt().item()
    show_image(axes[0], x0, "clean $x_0$", fontsize=13)
    show_image(axes[1], x_t, f"$x_t$, t = {t}\n" + rf"$\sqrt{{\bar\alpha_t}}$ = {math.sqrt(ab):.3f}",
               vmin=-2.5, vmax=2.5, fontsize=13)
    show_image(axes[2], x0_hat.clamp(-1, 1), r"model's $\hat x_0$", fontsize=13)
    show_image(axes[3], x0_hat - x0, f"$\\hat x_0 - x_0$ (RMS {err:.2f})", cmap="RdBu_r", fontsize=13)
