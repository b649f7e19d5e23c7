"""Figures for the notebooks: each function builds one picture and returns it.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot, so nothing piles up in
pyplot's figure list and a notebook cell that ends with the call shows the figure once.
Every figure has a title and labelled axes and uses fonts readable on a projector (>= 12 pt).

Two sizes, one helper (:func:`style`, :func:`fit_figsize`, used by :func:`new_figure` and every builder
here): ``notebook`` (the default) and ``presentation``, chosen by ``$DDPM_FIGURES`` when a figure is made.
``presentation`` (set by ``make present`` for live RISE slides and by ``make slides`` when it runs the
notebooks; docs/teaching.md) scales every font by ``PRESENTATION_FONT_SCALE`` and shrinks a figure,
aspect kept, into ``SLIDE_FIGURE_INCHES`` at ``SLIDE_DPI``, so that with the code line above it a figure
fits a 1280x720 slide (the static decks' slide, which reveal.js scales to 1920x1080 and any other screen).
"""
from __future__ import annotations

import math
import os

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["STYLE", "FIGURE_MODES", "figure_mode", "style", "fit_figsize", "new_figure",
           "figure_to_array", "figure_to_png", "image_row", "plot_chain_variance",
           "plot_schedules", "terminal_snr_markdown", "plot_pixel_histogram", "plot_chain_vs_jump",
           "plot_loss_curve", "plot_bucket_losses", "scatter_clouds", "moons_animation", "plot_skip_damage",
           "draw_forward_panel", "draw_chain_jump_panel", "draw_reverse_panel"]

STYLE = {"font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13, "xtick.labelsize": 12,
         "ytick.labelsize": 12, "legend.fontsize": 12, "figure.titlesize": 15}

# Presentation size: fonts x1.25 (ticks 15 pt), and every figure shrunk into 12 x 5 inches at 100 dpi
# (1200 x 500 px), which leaves room for a heading and a code line on a 1280 x 720 slide.
FIGURE_MODES = ("notebook", "presentation")
PRESENTATION_FONT_SCALE = 1.25
SLIDE_FIGURE_INCHES = (12.0, 5.0)
SLIDE_DPI = 100


def figure_mode(mode: str | None = None) -> str:
    """``mode``, or ``$DDPM_FIGURES`` when it is None (unset or empty: ``"notebook"``)."""
    chosen = mode if mode is not None else (os.environ.get("DDPM_FIGURES", "").strip().lower() or "notebook")
    if chosen not in FIGURE_MODES:
        where = "mode" if mode is not None else "$DDPM_FIGURES"
        raise ValueError(f"{where}={chosen!r}; allowed: {', '.join(map(repr, FIGURE_MODES))}")
    return chosen


def style(mode: str | None = None) -> dict:
    """The matplotlib rc settings of ``mode`` (see :func:`figure_mode`): STYLE, or STYLE's fonts scaled."""
    if figure_mode(mode) == "notebook":
        return dict(STYLE)
    return {k: v * PRESENTATION_FONT_SCALE for k, v in STYLE.items()}


def fit_figsize(figsize, mode: str | None = None) -> tuple:
    """``figsize`` as given (notebook), or scaled down, aspect kept, into ``SLIDE_FIGURE_INCHES``
    (presentation; a figure already inside the box is kept as it is)."""
    w, h = (float(v) for v in figsize)
    if w <= 0 or h <= 0:
        raise ValueError(f"figsize={tuple(figsize)!r}; both sides must be > 0 inches")
    if figure_mode(mode) == "notebook":
        return (w, h)
    k = min(1.0, SLIDE_FIGURE_INCHES[0] / w, SLIDE_FIGURE_INCHES[1] / h)
    return (w * k, h * k)


def new_figure(figsize=(12, 4), mode: str | None = None, **kw) -> Figure:
    """A pyplot-free figure with the series' font sizes and constrained layout, at the size of ``mode``
    (default ``$DDPM_FIGURES``: notebook or presentation)."""
    mode = figure_mode(mode)
    if mode == "presentation":
        kw.setdefault("dpi", SLIDE_DPI)
    with matplotlib.rc_context(style(mode)):
        return Figure(figsize=fit_figsize(figsize, mode), layout="constrained", **kw)


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render ``fig`` and return its pixels. Shapes: -> (H, W, 4) uint8 RGBA."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def figure_to_png(fig: Figure, dpi: int = 80) -> bytes:
    """Render ``fig`` to PNG bytes (for widget outputs and static fallbacks)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _img(x: torch.Tensor) -> np.ndarray:
    """(1, H, W) or (H, W) in [-1, 1] -> (H, W) numpy for imshow."""
    x = torch.as_tensor(x, device="cpu").detach().float().cpu()
    return x.reshape(x.shape[-2], x.shape[-1]).numpy()


# --- notebooks 01-03 ---
def image_row(images, titles=None, suptitle: str = "", vmin: float = -1.5, vmax: float = 1.5,
              size: float = 2.2) -> Figure:
    """A row of grayscale images (each (1, H, W) or (H, W)), shown on a common scale [vmin, vmax].

    Pixel values beyond [-1, 1] are noise overshoot; a fixed scale keeps frames comparable.
    """
    n = len(images)
    with matplotlib.rc_context(style()):
        fig = new_figure(figsize=(max(size * n, 6), size + 0.9))
        axes = fig.subplots(1, n, squeeze=False)[0]
        for i, (ax, im) in enumerate(zip(axes, images)):
            ax.imshow(_img(im), cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if titles is not None:
                ax.set_title(titles[i], fontsize=12)
        if suptitle:
            fig.suptitle(suptitle)
    return fig


def plot_chain_variance(sched, measured: dict | None = None, var0: float = 1.0, title: str = "") -> Figure:
    """Var[x_t] with and without the sqrt(1 - beta_t) shrink: theory lines (from
    :func:`~ddpm_helpers.experiments.chain_variance`), plus measured points ``{label: (ts, vars)}``."""
    from .experiments import chain_variance

    with matplotlib.rc_context(style()):
        fig = new_figure(figsize=(12, 4.2))
        ax1, ax2 = fig.subplots(1, 2)
        t = np.arange(sched.T)
        for ax, shrink in ((ax1, True), (ax2, False)):
            v = chain_variance(sched, var0=var0, shrink=shrink).numpy()
            ax.plot(t, v, lw=2.5, label="theory")
            for label, (ts, vs) in (measured or {}).items():
                if ("no shrink" in label) != (not shrink):
                    continue
                ax.plot(ts, vs, "o", ms=5, label=label)
            ax.axhline(1.0, color="gray", ls="--", lw=1, label="variance 1 (N(0, 1))")
            ax.set_xlabel("timestep t (0-indexed)")
            ax.set_ylabel("Var[x_t] per pixel")
            ax.legend()
        ax1.set_title(r"with the shrink: $x_t=\sqrt{1-\beta_t}\,x_{t-1}+\sqrt{\beta_t}\,\epsilon$")
        ax2.set_title(r"without it: $x_t=x_{t-1}+\sqrt{\beta_t}\,\epsilon$")
        fig.suptitle(title or f"Variance of the chain ({sched.kind}, T={sched.T}, Var[x_0]={var0:g})")
    return fig


def plot_schedules(scheds: dict, t_mark: int | None = None, fig: Figure | None = None) -> Figure:
    """beta_t, alpha_bar_t (and its square root) and the SNR in dB for each ``{label: schedule}``,
    with each schedule's 0 dB crossing marked and an optional current timestep ``t_mark``."""
    from .experiments import snr_zero_db_crossing

    with matplotlib.rc_context(style()):
        fig = fig or new_figure(figsize=(14, 4.2))
        axes = fig.subplots(1, 3)
        for k, (label, s) in enumerate(scheds.items()):
            c = f"C{k}"
            t = np.arange(s.T)
            axes[0].plot(t, s.betas.numpy(), c, lw=2, label=label)
            axes[1].plot(t, s.alpha_bars.numpy(), c, lw=2, label=rf"{label}: $\bar\alpha_t$")
            axes[1].plot(t, s.alpha_bars.sqrt().numpy(), c, lw=1.5, ls=":", label=rf"{label}: $\sqrt{{\bar\alpha_t}}$")
            db = s.snr_db().numpy()
            axes[2].plot(t, db, c, lw=2, label=label)
            t0 = snr_zero_db_crossing(s)
            if t0 is not None:
                axes[2].plot([t0], [0], "o", color=c, ms=8)
                axes[2].annotate(f"0 dB at t={t0}", (t0, 0), textcoords="offset points",
                                 xytext=(6, 8 + 16 * k), color=c, fontsize=12)
        axes[2].axhline(0, color="gray", lw=1, ls="--")
        if t_mark is not None:
            for ax in axes:
                ax.axvline(t_mark, color="crimson", lw=1.5, label=f"t = {t_mark}" if ax is axes[0] else None)
        axes[0].set(title=r"noise per step $\beta_t$ (log scale)", xlabel="timestep t", ylabel=r"$\beta_t$",
                    yscale="log")
        axes[1].set(title=r"signal kept $\bar\alpha_t$", xlabel="timestep t", ylabel="fraction")
        axes[2].set(title="SNR = ᾱ/(1-ᾱ) in dB", xlabel="timestep t", ylabel="SNR (dB)")
        for ax in axes:
            ax.legend(fontsize=11)
    return fig


def terminal_snr_markdown(rows: list[dict]) -> str:
    """A Markdown table of :func:`~ddpm_helpers.experiments.terminal_snr_table` rows."""
    lines = ["| T | β_end | √ᾱ at t = T-1 (signal left) | SNR (dB) |", "|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['T']} | {r['beta_end']:g} | {r['signal']:.4f} | {r['snr_db']:.1f} |")
    return "\n".join(lines)


def plot_pixel_histogram(ax, x: torch.Tensor, title: str = "") -> None:
    """Histogram of the values in ``x`` against the standard normal density, on ``ax``."""
    v = torch.as_tensor(x, device="cpu").detach().float().flatten().cpu().numpy()
    ax.hist(v, bins=40, range=(-4, 4), density=True, color="C0", alpha=0.7, label="pixels of x_t")
    g = np.linspace(-4, 4, 200)
    ax.plot(g, np.exp(-g**2 / 2) / math.sqrt(2 * math.pi), "k", lw=2, label="N(0, 1)")
    ax.set(xlabel="pixel value", ylabel="density", title=title or "pixel histogram")
    ax.legend(fontsize=11)


def plot_chain_vs_jump(chain: torch.Tensor, jump: torch.Tensor, t: int, pixel=None) -> Figure:
    """Compare many chain draws and many jump draws of x_t: histograms of one coordinate (or all
    values when ``pixel`` is None) with the two-sample Kolmogorov-Smirnov p-value."""
    from scipy.stats import ks_2samp

    a = chain.reshape(chain.shape[0], -1)
    b = jump.reshape(jump.shape[0], -1)
    if pixel is not None:
        a, b = a[:, pixel], b[:, pixel]
    a, b = a.flatten().numpy(), b.flatten().numpy()
    p = ks_2samp(a, b).pvalue
    with matplotlib.rc_context(style()):
        fig = new_figure(figsize=(9, 4))
        ax = fig.subplots()
        lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
        ax.hist(a, bins=50, range=(lo, hi), density=True, alpha=0.55, label=f"chain: {t + 1} steps")
        ax.hist(b, bins=50, range=(lo, hi), density=True, alpha=0.55, label="jump: one q_sample")
        ax.set(xlabel="value of x_t" + ("" if pixel is None else f" at pixel {pixel}"), ylabel="density",
               title=f"Chain vs jump at t={t}: KS two-sample p = {p:.2f}")
        ax.legend()
    return fig


def plot_loss_curve(result, smooth: int = 50, title: str = "Training loss") -> Figure:
    """The per-step training loss and its running mean over ``smooth`` steps."""
    with matplotlib.rc_context(style()):
        fig = new_figure(figsize=(10, 4))
        ax = fig.subplots()
        l = np.asarray(result.losses)
        ax.plot(l, color="C0", alpha=0.3, lw=1, label="loss per step")
        if len(l) >= smooth:
            m = np.convolve(l, np.ones(smooth) / smooth, mode="valid")
            ax.plot(np.arange(smooth - 1, len(l)), m, color="C0", lw=2.5, label=f"mean of {smooth} steps")
        ax.set(xlabel="optimizer step", ylabel="MSE(ε̂, ε)", title=title, yscale="log")
        ax.legend()
    return fig


def plot_bucket_losses(result, baselines: dict | None = None, last: int = 5) -> Figure:
    """Loss per timestep bucket (mean of the last ``last`` records of ``result.bucket_losses``)
    beside baselines ``{label: (T_buckets,) values}`` from
    :func:`~ddpm_helpers.experiments.loss_baselines`."""
    edges = np.asarray(result.bucket_edges)
    centers = (edges[:-1] + edges[1:]) / 2
    with matplotlib.rc_context(style()):
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


def scatter_clouds(clouds: dict, ref: torch.Tensor | None = None, scores: dict | None = None,
                   suptitle: str = "", lim: float = 3.0, size: float = 3.6) -> Figure:
    """One scatter panel per ``{label: (N, 2) points}``, fresh data ``ref`` in light grey behind,
    and an optional score line per panel (``scores[label]``)."""
    n = len(clouds)
    with matplotlib.rc_context(style()):
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


def moons_animation(trajectory: torch.Tensor, timesteps=None, frames: int = 40, ref: torch.Tensor | None = None,
                    lim: float = 3.0, interval: int = 120):
    """An animation of a 2-D point cloud flowing from x_T back to x_0, as embeddable HTML
    (matplotlib's ``FuncAnimation.to_jshtml()``). ``frames`` evenly spaced states are shown.

    Shapes: trajectory (S + 1, N, 2), x_T first; timesteps (S,) the timestep of each update.
    Returns an ``IPython.display.HTML``.
    """
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise ValueError(f"frames must be an integer >= 2, got {frames!r}")
    traj = torch.as_tensor(trajectory, device="cpu").detach().cpu()
    idx = np.unique(np.linspace(0, traj.shape[0] - 1, frames).round().astype(int))
    with matplotlib.rc_context(style()):
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


def plot_skip_damage(ks, chamfers, floor: float, mmds=None, mmd_floor: float | None = None) -> Figure:
    """Sample quality (Chamfer distance as a multiple of the real-vs-real floor) against the
    naive skip size k."""
    with matplotlib.rc_context(style()):
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


# ---- panel pictures (drawn into an existing figure by the widgets) ----
def draw_forward_panel(fig: Figure, x_t: torch.Tensor, sched, t: int) -> None:
    """Notebook 01's panel: the noisy image, its histogram against N(0, 1) and the schedule
    (sqrt(alpha_bar_t) and SNR in dB) with t marked."""
    with matplotlib.rc_context(style()):
        fig.clear()
        a_img, a_hist, a_ab, a_snr = fig.subplots(1, 4, width_ratios=[1, 1.3, 1.3, 1.3])
        ab = sched.alpha_bars[t].item()
        a_img.imshow(_img(x_t), cmap="gray", vmin=-2.5, vmax=2.5, interpolation="nearest")
        a_img.set(xticks=[], yticks=[], title=f"x_t at t={t}\n√ᾱ_t={math.sqrt(ab):.3f}")
        plot_pixel_histogram(a_hist, x_t, title=f"pixels, std={x_t.float().std().item():.2f}")
        ts = np.arange(sched.T)
        a_ab.plot(ts, sched.alpha_bars.sqrt().numpy(), lw=2, label="√ᾱ_t (signal)")
        a_ab.plot(ts, (1 - sched.alpha_bars).sqrt().numpy(), lw=2, label="√(1-ᾱ_t) (noise)")
        a_ab.axvline(t, color="crimson", lw=1.5)
        a_ab.set(xlabel="timestep t", ylabel="coefficient", title=f"{sched.kind} schedule, T={sched.T}")
        a_ab.legend(fontsize=11)
        db = sched.snr_db().numpy()
        a_snr.plot(ts, db, lw=2, color="C2")
        a_snr.axhline(0, color="gray", ls="--", lw=1)
        a_snr.axvline(t, color="crimson", lw=1.5)
        a_snr.plot([t], [db[t]], "o", color="crimson")
        a_snr.set(xlabel="timestep t", ylabel="SNR (dB)", title=f"SNR at t: {db[t]:.1f} dB")


def draw_chain_jump_panel(fig: Figure, chain: torch.Tensor, jump: torch.Tensor, t: int, sched) -> None:
    """Notebook 02's panel: one chain draw and one jump draw side by side, and the histograms of
    many draws of both with the KS two-sample p-value. Shapes: chain, jump (M, 1, H, W)."""
    from scipy.stats import ks_2samp

    with matplotlib.rc_context(style()):
        fig.clear()
        a1, a2, a3 = fig.subplots(1, 3, width_ratios=[1, 1, 1.6])
        for ax, x, name in ((a1, chain, f"chain ({t + 1} steps)"), (a2, jump, "jump (1 q_sample)")):
            ax.imshow(_img(x[0]), cmap="gray", vmin=-2.5, vmax=2.5, interpolation="nearest")
            ax.set(xticks=[], yticks=[], title=name)
        a, b = chain.flatten().numpy(), jump.flatten().numpy()
        p = ks_2samp(a, b).pvalue
        a3.hist(a, bins=50, range=(-4, 4), density=True, alpha=0.55, label="chain")
        a3.hist(b, bins=50, range=(-4, 4), density=True, alpha=0.55, label="jump")
        a3.set(xlabel="pixel value", ylabel="density",
               title=f"{sched.kind}, t={t}: mean {a.mean():.3f} vs {b.mean():.3f}, "
                     f"var {a.var():.3f} vs {b.var():.3f}\nKS p = {p:.2f}")
        a3.legend(fontsize=11)


def draw_reverse_panel(fig: Figure, x: torch.Tensor, label: str, ref: torch.Tensor | None, score: str,
                       lim: float = 3.0) -> None:
    """Notebook 03's panel: the point cloud at one reverse step, fresh moons behind it."""
    with matplotlib.rc_context(style()):
        fig.clear()
        ax = fig.subplots()
        if ref is not None:
            ax.scatter(ref[:, 0], ref[:, 1], s=3, color="0.8", label="fresh moons")
        ax.scatter(x[:, 0], x[:, 1], s=4, color="C0", label="samples")
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="x₁", ylabel="x₂",
               title=f"{label}\n{score}")
        ax.legend(loc="upper right", fontsize=11)


# --- notebook 04 ---
# U-Net anatomy, samples, filmstrips, memorization, mode coverage and the troubleshooting gallery.
def _nb04_styled(fn):
    """Run a figure builder under the series' font sizes (axes made later pick them up too)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(style()):
            return fn(*args, **kwargs)
    return wrapper


def _nb04_fig(figsize):
    return new_figure(figsize=figsize)


def _nb04_gray(ax, img, title=None, fontsize=12):
    """Show one (1, H, W) or (H, W) image in [-1, 1] on a black-to-white scale."""
    ax.imshow(_img(img), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=fontsize)


@_nb04_styled
def plot_time_embedding(dim: int = 32, T: int = 1000, show_t=None):
    """Left: the sinusoidal embedding of every t as a heat map (t down, dimension across).
    Right: the embedding vectors of a few t (default 0, T/4, T/2, T-1) as curves. Returns the figure."""
    import torch

    from .core.models import sinusoidal_embedding

    if show_t is None:
        show_t = (0, T // 4, T // 2, T - 1)
    if any(not 0 <= t < T for t in show_t):
        raise ValueError(f"show_t must hold timesteps in 0..{T - 1}, got {show_t}")

    emb = sinusoidal_embedding(torch.arange(T), dim)  # (T, dim)
    fig = _nb04_fig((15, 5))
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


@_nb04_styled
def plot_sample_grid(images, nrow: int = 8, title: str = "Samples", scale: float = 1.1):
    """A grid of images in [-1, 1] (torchvision's ``make_grid``). Shapes: images (N, 1, H, W)."""
    from torchvision.utils import make_grid

    n = images.shape[0]
    ncol = min(nrow, n)
    rows = (n + ncol - 1) // ncol
    grid = make_grid(images.detach().cpu().clamp(-1, 1), nrow=ncol, padding=2, pad_value=1.0)  # (3, H', W')
    fig = _nb04_fig((scale * ncol + 0.5, scale * rows + 0.8))
    ax = fig.add_subplot()
    ax.imshow(grid[0].numpy(), cmap="gray", vmin=-1, vmax=1)
    ax.set_axis_off()
    ax.set_title(title)
    return fig


@_nb04_styled
def plot_filmstrip(frames, timesteps, x0_preds=None, title: str = "Denoising one sample, t = T-1 -> 0"):
    """Top row: x_t at the given timesteps; bottom row (when given): the model's x0-prediction there.

    Shapes: frames (K, 1, H, W); x0_preds (K, 1, H, W) or None; timesteps K ints (or K ready-made labels).
    """
    k = len(timesteps)
    rows = 1 if x0_preds is None else 2
    fig = _nb04_fig((1.7 * k + 1.5, 1.9 * rows + 0.7))
    axes = fig.subplots(rows, k, squeeze=False)
    for j, t in enumerate(timesteps):
        _nb04_gray(axes[0, j], frames[j], t if isinstance(t, str) else f"t = {t}")
        if x0_preds is not None:
            _nb04_gray(axes[1, j], x0_preds[j])
    axes[0, 0].set_ylabel("$x_t$", fontsize=14)
    if x0_preds is not None:
        axes[1, 0].set_ylabel(r"$\hat x_0(x_t, t)$", fontsize=14)
    fig.suptitle(title)
    return fig


@_nb04_styled
def plot_loss_per_timestep(timesteps, losses, bucket_edges=None, bucket_losses=None,
                           title: str = "Noise-prediction loss per timestep"):
    """The loss L_t of a trained model against t (log scale), optionally with the training run's
    per-bucket losses (the last record) as steps."""
    import numpy as np

    fig = _nb04_fig((11, 4.8))
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


@_nb04_styled
def plot_nearest_neighbours(samples, neighbours, distances, floor=None, ncols: int = 8,
                            title: str = "Each sample (top) and its nearest training image (bottom)"):
    """Memorization check: samples over their nearest training images, with the L2 distance.

    Shapes: samples, neighbours (N, 1, H, W); distances (N,).
    """
    n = min(ncols, samples.shape[0])
    fig = _nb04_fig((1.8 * n + 0.5, 4.6))
    axes = fig.subplots(2, n, squeeze=False)
    for j in range(n):
        _nb04_gray(axes[0, j], samples[j], "sample")
        _nb04_gray(axes[1, j], neighbours[j], f"d = {float(distances[j]):.1f}")
    sub = "" if floor is None else f"  (test images to their nearest training image: median d = {floor:.1f})"
    fig.suptitle(title + sub, fontsize=13)
    return fig


@_nb04_styled
def plot_class_histogram(counts, reference=None, title: str = "Mode coverage: classes of the samples"):
    """Bar chart of the classifier's class counts (as fractions), beside a reference histogram."""
    import numpy as np

    from .core.data import FASHION_CLASSES

    counts = np.asarray(counts, dtype=float)
    fig = _nb04_fig((12, 4.8))
    ax = fig.add_subplot()
    x = np.arange(len(FASHION_CLASSES))
    w = 0.4 if reference is not None else 0.8
    ax.bar(x - (w / 2 if reference is not None else 0), counts / counts.sum(), width=w,
           label=f"samples (n = {int(counts.sum())})")
    if reference is not None:
        ref = np.asarray(reference, dtype=float)
        ax.bar(x + w / 2, ref / ref.sum(), width=w, label="test set", alpha=0.7)
    ax.axhline(0.1, color="k", ls="--", lw=1, label="uniform (0.1)")
    ax.set_xticks(x, FASHION_CLASSES, rotation=30, ha="right")
    ax.set_ylabel("fraction of images")
    ax.set_title(title)
    ax.legend()
    return fig


@_nb04_styled
def plot_troubleshooting_gallery(gallery: dict, title: str = "The loss is low but the samples are noise: classic bugs"):
    """One row per sampler variant from ``troubleshooting.troubleshooting_gallery``: the bug's name
    on the left, its samples on the right (all displayed as [-1, 1] images)."""
    items = list(gallery.items())
    n = max(x.shape[0] for _, (_, x, _) in items)
    fig = _nb04_fig((2.0 * n + 4.5, 1.9 * len(items) + 0.6))
    axes = fig.subplots(len(items), n + 1, squeeze=False,
                        gridspec_kw={"width_ratios": [2.2] + [1] * n})
    for i, (key, (name, x, _)) in enumerate(items):
        axes[i, 0].set_axis_off()
        axes[i, 0].text(1.0, 0.5, name, ha="right", va="center", fontsize=13,
                        color="green" if key == "correct" else "firebrick", transform=axes[i, 0].transAxes)
        for j in range(n):
            if j < x.shape[0]:
                _nb04_gray(axes[i, j + 1], x[j].clamp(-1, 1))
            else:
                axes[i, j + 1].set_axis_off()
    fig.suptitle(title)
    return fig


def draw_x0_panel(fig: Figure, x0: torch.Tensor, x_t: torch.Tensor, x0_hat: torch.Tensor, t: int, sched) -> None:
    """Notebook 04's panel: the clean image, x_t, the model's x0-prediction and its error, at one t."""
    with matplotlib.rc_context(style()):
        fig.clear()
        axes = fig.subplots(1, 4)
        ab = sched.alpha_bars[t].item()
        err = (x0_hat - x0).pow(2).mean().sqrt().item()
        _nb04_gray(axes[0], x0, "clean $x_0$", fontsize=13)
        axes[1].imshow(_img(x_t), cmap="gray", vmin=-2.5, vmax=2.5, interpolation="nearest")
        axes[1].set(xticks=[], yticks=[])
        axes[1].set_title(f"$x_t$, t = {t}\n" + rf"$\sqrt{{\bar\alpha_t}}$ = {math.sqrt(ab):.3f}", fontsize=13)
        _nb04_gray(axes[2], x0_hat.clamp(-1, 1), r"model's $\hat x_0$", fontsize=13)
        axes[3].imshow(_img(x0_hat - x0), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        axes[3].set(xticks=[], yticks=[])
        axes[3].set_title(f"$\\hat x_0 - x_0$ (RMS {err:.2f})", fontsize=13)


__all__ += ["plot_time_embedding", "plot_sample_grid", "plot_filmstrip", "plot_loss_per_timestep",
            "plot_nearest_neighbours", "plot_class_histogram", "plot_troubleshooting_gallery", "draw_x0_panel"]


# --- notebooks 05-06 ---
# 05: the posterior by Bayes, the ELBO weights w_t, L_simple against the bound on the moons.
# 06: rows of images (DDIM steps/eta, interpolation, inversion) and the speed-quality plot.
# Each takes an optional ``fig`` to draw into (the slider panels reuse one figure).
__all__ += ["plot_posterior_bayes", "plot_elbo_weights", "plot_moons_comparison", "plot_weighted_bucket_losses",
            "plot_image_rows", "plot_speed_quality"]


def _nb0506_fig(fig, figsize):
    if fig is None:
        return new_figure(figsize=figsize)
    fig.clear()
    return fig


def plot_posterior_bayes(x0: float, x_t: float, t: int, sched, fig: Figure | None = None) -> Figure:
    r"""q(x_{t-1} | x_t, x_0) two ways: brute-force Bayes on a grid (prior x likelihood, normalised)
    against the closed form N(\tilde\mu_t, \tilde\beta_t) of :func:`ddpm_helpers.q_posterior`.

    Draws the prior q(x_{t-1} | x_0), the likelihood q(x_t | x_{t-1}) as a function of x_{t-1}
    (normalised to integrate to 1), the grid posterior (shaded) and the formula (dots).
    """
    from .elbo import posterior_on_grid
    from .core.reverse import q_posterior

    post = posterior_on_grid(x0, x_t, t, sched)
    grid = post["grid"]
    ab_prev = sched.alpha_bars_prev[t].double()
    alpha, beta = sched.alphas[t].double(), sched.betas[t].double()
    prior = torch.distributions.Normal(ab_prev.sqrt() * x0, (1 - ab_prev).sqrt()).log_prob(grid).exp()
    like = torch.distributions.Normal(x_t / alpha.sqrt(), (beta / alpha).sqrt()).log_prob(grid).exp()
    mean, var = q_posterior(torch.tensor([x0], dtype=torch.float64), torch.tensor([x_t], dtype=torch.float64),
                            t, sched)
    formula = torch.distributions.Normal(mean[0], var.reshape(-1)[0].sqrt()).log_prob(grid).exp()
    sd = math.sqrt(post["variance"])
    lo, hi = post["mean"] - 6 * sd, post["mean"] + 6 * sd  # zoom on the posterior
    keep = (grid >= lo) & (grid <= hi)
    g = grid[keep].numpy()
    with matplotlib.rc_context(style()):
        fig = _nb0506_fig(fig, (12, 4.5))
        ax = fig.subplots()
        ax.plot(g, prior[keep].numpy(), color="tab:blue", lw=2.5, label=r"prior $q(x_{t-1}\mid x_0)$")
        ax.plot(g, like[keep].numpy(), color="tab:orange", lw=2.5,
                label=r"likelihood $q(x_t\mid x_{t-1})$ (normalised)")
        ax.fill_between(g, post["density"][keep].numpy(), color="tab:green", alpha=0.3,
                        label="posterior: grid Bayes")
        step = max(1, int(keep.sum()) // 40)
        ax.plot(g[::step], formula[keep].numpy()[::step], "k.", ms=8,
                label=r"posterior: formula $\mathcal{N}(\tilde\mu_t, \tilde\beta_t)$")
        ax.set_xlim(lo, hi)
        ax.set(xlabel=r"$x_{t-1}$", ylabel="probability density")
        ax.set_title(f"t = {t} ({sched.kind}), x_0 = {x0:g}, x_t = {x_t:.3f}: mean {post['mean']:.4f} (grid) vs "
                     f"{mean.item():.4f} (formula)")
        ax.legend(loc="upper right", fontsize=11)
    return fig


def plot_elbo_weights(scheds: dict, variances=("posterior", "beta"), normalized: bool = False,
                      fig: Figure | None = None) -> Figure:
    r"""w_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - \bar\alpha_t)) over t, log scale, for each schedule
    (``{name: NoiseSchedule}``) and variance choice, with L_simple's w_t = 1 for reference.
    ``normalized=True`` plots the mean-1 training weights (:func:`ddpm_helpers.elbo.elbo_loss_weights`)."""
    from .elbo import elbo_loss_weights, elbo_weights

    styles = {"posterior": "-", "beta": "--"}
    with matplotlib.rc_context(style()):
        fig = _nb0506_fig(fig, (12, 4.5))
        ax = fig.subplots()
        for i, (name, s) in enumerate(scheds.items()):
            for v in variances:
                w = elbo_loss_weights(s, v) if normalized else elbo_weights(s, v)
                label = name + (r", $\sigma_t^2=\tilde\beta_t$" if v == "posterior" else r", $\sigma_t^2=\beta_t$")
                ax.semilogy(np.arange(s.T), w.double().numpy(), styles.get(v, "-"), color=f"C{i}", lw=2.5,
                            label=label)
        ax.axhline(1.0, color="k", lw=1.5, ls=":", label=r"$L_\mathrm{simple}$: $w_t = 1$")
        ax.set(xlabel="timestep t (0 = least noise)",
               ylabel="training weight (mean 1)" if normalized else r"$w_t$ (log scale)")
        ax.set_title("ELBO weight of each timestep" + (", normalised to mean 1" if normalized else ""))
        ax.legend(fontsize=11)
    return fig


def plot_moons_comparison(samples: dict, reference: torch.Tensor, scores: dict | None = None) -> Figure:
    """Side-by-side scatter plots ``{name: (N, 2) samples}`` over real moons data (grey), a score line each."""
    k = len(samples)
    ref = reference.detach().cpu().numpy()
    with matplotlib.rc_context(style()):
        fig = new_figure(figsize=(6.5 * k, 6))
        axes = fig.subplots(1, k, squeeze=False)[0]
        for ax, (name, x) in zip(axes, samples.items()):
            x = x.detach().cpu().numpy()
            ax.scatter(ref[:, 0], ref[:, 1], s=4, color="0.75", label="real data")
            ax.scatter(x[:, 0], x[:, 1], s=4, color="tab:red", alpha=0.6, label="samples")
            ax.set(xlim=(-2.5, 2.5), ylim=(-2.5, 2.5), aspect="equal", xlabel="x₁ (standardised)",
                   ylabel="x₂ (standardised)")
            ax.set_title(name + (f"\n{scores[name]}" if scores and name in scores else ""), fontsize=12)
            ax.legend(fontsize=11, loc="upper right", markerscale=3)
    return fig


def plot_weighted_bucket_losses(results: dict, last: int = 5) -> Figure:
    """The training loss per timestep bucket (weights included) at the end of several runs
    (``{name: TrainResult}``; mean of the last ``last`` records)."""
    with matplotlib.rc_context(style()):
        fig = new_figure(figsize=(12, 4.5))
        ax = fig.subplots()
        for name, r in results.items():
            edges = np.asarray(r.bucket_edges)
            centers = 0.5 * (edges[:-1] + edges[1:])
            ax.semilogy(centers, np.asarray(r.bucket_losses)[-last:].mean(0), "o-", lw=2.5, ms=7, label=name)
        ax.set(xlabel="timestep t (bucket centre)", ylabel="training loss (log scale)",
               title="Training loss per timestep bucket, end of training")
        ax.legend()
    return fig


def plot_image_rows(rows: dict, title: str = "", col_labels=None, size: float = 1.4,
                    fig: Figure | None = None) -> Figure:
    """Rows of images ``{row label: (K, 1, H, W) in [-1, 1]}``, each labelled on the left."""
    names = list(rows)
    k = max(int(r.shape[0]) for r in rows.values())
    with matplotlib.rc_context(style()):
        fig = _nb0506_fig(fig, (max(8.0, size * k + 2.5), size * len(names) + 1.0))
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
                    ax.imshow(_img(imgs[j]), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
                if j == 0:
                    ax.set_ylabel(name, fontsize=12, rotation=0, ha="right", va="center")
                if i == 0 and col_labels is not None and j < len(col_labels):
                    ax.set_title(str(col_labels[j]), fontsize=12)
        if title:
            fig.suptitle(title)
    return fig


def plot_speed_quality(rows: list, floor: dict | None = None, metric: str = "fid") -> Figure:
    """Quality against wall time, one marker per row of ``speed_quality_table`` (DDIM joined by eta,
    numbers = steps; DDPM a black star), the real-against-real ``floor`` dashed. Log-log axes."""
    with matplotlib.rc_context(style()):
        fig = new_figure(figsize=(12, 5.5))
        ax = fig.subplots()
        etas = sorted({r["eta"] for r in rows if r["sampler"] == "DDIM"})
        for i, eta in enumerate(etas):
            rs = sorted((r for r in rows if r["sampler"] == "DDIM" and r["eta"] == eta), key=lambda r: r["steps"])
            ax.plot([r["seconds"] for r in rs], [r[metric] for r in rs], "o-", color=f"C{i}", lw=2.5, ms=8,
                    label=f"DDIM, eta = {eta:g}")
            for r in rs:
                ax.annotate(str(r["steps"]), (r["seconds"], r[metric]), textcoords="offset points", xytext=(5, 5),
                            fontsize=12, color=f"C{i}")
        for r in rows:
            if r["sampler"] == "DDPM":
                ax.plot(r["seconds"], r[metric], "k*", ms=18, label=f"DDPM, {r['steps']} steps")
        if floor is not None:
            ax.axhline(floor[metric], color="0.4", ls="--", lw=1.5, label=f"real vs real (n = {floor['n']})")
        n = rows[0]["n"] if rows else 0
        ax.set_xscale("log")
        if all(r[metric] > 0 for r in rows) and (floor is None or floor[metric] > 0):
            ax.set_yscale("log")
        ax.set(xlabel=f"wall time to sample {n} images (s, log scale)", ylabel=f"{metric.upper()} (lower is better)",
               title=f"Speed against quality, n = {n} samples per sampler (numbers: steps)")
        ax.legend()
    return fig


def quality_markdown(rows: dict) -> str:
    """A Markdown table of FID/KID results: ``{label: image_quality-style dict}`` (fid, kid, kid_std, n)."""
    lines = ["| images | n | FID | KID (x 1e3) |", "|---|---|---|---|"]
    for label, q in rows.items():
        lines.append(f"| {label} | {q['n']} | {q['fid']:.2f} | {1e3 * q['kid']:.1f} ± {1e3 * q['kid_std']:.1f} |")
    return "\n".join(lines)


__all__ += ["quality_markdown"]


# ----------------------------------------------------------------------------- notebook 06: skipping on the moons
__all__ += ["plot_skip_comparison", "plot_ddim_geometry"]


def plot_skip_comparison(results: dict, ref: torch.Tensor | None = None, scores: dict | None = None,
                         paths: int = 8, lim: float = 3.0, size: float = 4.2) -> Figure:
    """Notebook 06: one panel per sampler of ``ddim_theory.skip_comparison`` ({name: (x_0, trajectory,
    timesteps)}): the final samples over fresh data ``ref`` (grey), and the paths of the first ``paths``
    points from x_T (hollow circle) to x_0 (dot). ``scores[name]`` is printed under each title.

    Shapes: x_0 (N, 2); trajectory (S + 1, N, 2), x_T first."""
    n = len(results)
    with matplotlib.rc_context(style()):
        fig = new_figure(figsize=(size * n, size + 1.0))
        axes = fig.subplots(1, n, squeeze=False)[0]
        for ax, (name, (x0, traj, ts)) in zip(axes, results.items()):
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


def plot_ddim_geometry(x_t: torch.Tensor, geos: dict, x0: torch.Tensor | None = None, ref: torch.Tensor | None = None,
                       title: str = "", size: float = 5.0) -> Figure:
    r"""Notebook 06: one DDIM step of ONE 2-D point drawn as vectors, one panel per ``{label: ddim_geometry(...)}``:
    x_{t'} = \sqrt{\bar\alpha_{t'}} \hat x_0 (blue) + direction \sqrt{1 - \bar\alpha_{t'} - \sigma^2} \hat\epsilon (orange)
    + fresh noise \sigma z (green), tip to tail from the origin; x_t, \hat x_0 (and the true x_0) marked.

    Shapes: x_t (2,) or (1, 2); each geometry's tensors (1, 2) or (2,)."""
    def v(a):
        return torch.as_tensor(a, device="cpu").detach().cpu().reshape(-1)[:2].double().numpy()

    n = len(geos)
    xt = v(x_t)
    with matplotlib.rc_context(style()):
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


# ----------------------------------------------------------------------------- FID/KID with error bars (04, 06)
__all__ += ["quality_ci_markdown", "quality_reading"]


def quality_reading(q: dict, floor: dict) -> str:
    """One sentence that reads a FID/KID against the floor at the same n, with both error bars
    (``metrics.image_quality_ci`` and ``metrics.real_floor_spread`` dicts)."""
    if q["n"] != floor["n"]:
        raise ValueError(f"compare at equal n: the samples have n={q['n']}, the floor n={floor['n']}")
    sd = math.hypot(q.get("fid_std", 0.0), floor.get("fid_std", 0.0))
    gap = q["fid"] - floor["fid"]
    if q["fid"] < floor["fid"] and abs(gap) <= 2 * sd:
        fid = (f"FID {q['fid']:.2f} is below the floor {floor['fid']:.2f}, but by less than 2 error bars "
               f"({2 * sd:.2f}): at n = {q['n']} the two are indistinguishable (FID's bias and noise at small n, "
               f"not a sampler better than real data)")
    elif abs(gap) <= 2 * sd:
        fid = (f"FID {q['fid']:.2f} is within 2 error bars ({2 * sd:.2f}) of the floor {floor['fid']:.2f}: "
               f"indistinguishable from real images at n = {q['n']}")
    elif gap < 0:
        fid = (f"FID {q['fid']:.2f} is more than 2 error bars below the floor {floor['fid']:.2f}: look for a bug "
               f"(samples copied from the reference set?)")
    else:
        fid = (f"FID {q['fid']:.2f} is {q['fid'] / max(floor['fid'], 1e-12):.1f}x the floor {floor['fid']:.2f}, "
               f"{gap / max(sd, 1e-12):.1f} error bars above it")
    kid = q["kid"]
    if kid < 0:
        kid_s = (f"KID {1e3 * kid:.1f}e-3 is negative: KID is an unbiased estimate of a squared distance that is "
                 f">= 0, so a negative value means 'zero within noise' (± {1e3 * q.get('kid_std', 0):.1f}e-3)")
    else:
        kid_s = f"KID {1e3 * kid:.1f}e-3 ± {1e3 * q.get('kid_std', 0):.1f}e-3"
    return f"{fid}; {kid_s}."


def quality_ci_markdown(rows: dict, floor: dict) -> str:
    """A Markdown table of ``{label: image_quality_ci dict}`` beside the floor (``real_floor_spread``) at the
    same n: n, FID ± its bootstrap spread, FID / floor, KID x 1e3 ± spread, and the floor row with its
    spread over independent draws of real images."""
    lines = ["| images | n | FID ± sd | FID / floor | KID (x 1e3) ± sd |", "|---|---|---|---|---|"]
    for label, q in rows.items():
        if q["n"] != floor["n"]:
            raise ValueError(f"{label}: compare at equal n, got n={q['n']} against a floor at n={floor['n']}")
        lines.append(f"| {label} | {q['n']} | {q['fid']:.2f} ± {q.get('fid_std', float('nan')):.2f} | "
                     f"{q['fid'] / max(floor['fid'], 1e-12):.2f} | {1e3 * q['kid']:.1f} ± "
                     f"{1e3 * q.get('kid_std', float('nan')):.1f} |")
    lines.append(f"| floor: {floor.get('seeds', 1)} draws of real training images | {floor['n']} | "
                 f"{floor['fid']:.2f} ± {floor.get('fid_std', float('nan')):.2f} | 1.00 | {1e3 * floor['kid']:.1f} ± "
                 f"{1e3 * floor.get('kid_std', float('nan')):.1f} |")
    return "\n".join(lines)
