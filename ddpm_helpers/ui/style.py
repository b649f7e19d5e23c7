"""The one figure style of the series: every figure the notebooks show is made here.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot, so nothing piles up in
pyplot's figure list and a notebook cell that ends with the call shows the figure once.
Every figure has a title and labelled axes and uses fonts readable on a projector (>= 12 pt).

How a figure function uses it::

    @styled                                   # the series' fonts while the figure is built
    def plot_something(..., fig=None):
        fig = new_figure((12, 4), fig=fig)    # a new figure, or a panel's figure cleared
        ax = fig.subplots()
        show_image(ax, x0, "clean $x_0$")     # a grayscale image in [-1, 1], no ticks

Two sizes: ``notebook`` (the default) and ``presentation``, chosen by ``$DDPM_FIGURES`` when a figure
is made (:func:`figure_mode`). ``presentation`` (set by ``make present`` for live RISE slides and by
``make slides`` when it runs the notebooks; docs/teaching.md) scales every font by
``PRESENTATION_FONT_SCALE`` and shrinks a figure, aspect kept, into ``SLIDE_FIGURE_INCHES`` at
``SLIDE_DPI``, so that with the code line above it a figure fits a 1280x720 slide (the static decks'
slide, which reveal.js scales to 1920x1080 and any other screen).
"""
from __future__ import annotations

import functools
import io
import os

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["STYLE", "FIGURE_MODES", "PRESENTATION_FONT_SCALE", "SLIDE_FIGURE_INCHES", "SLIDE_DPI",
           "figure_mode", "style", "fit_figsize", "styled", "new_figure", "figure_to_array", "figure_to_png",
           "image_array", "show_image"]

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


def styled(build):
    """Decorator: run the figure function ``build`` under the series' font sizes (:func:`style` of the
    current mode), so every title, label, tick and legend made while it runs picks them up."""
    @functools.wraps(build)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(style()):
            return build(*args, **kwargs)
    return wrapper


def new_figure(figsize=(12, 4), mode: str | None = None, fig: Figure | None = None, **kw) -> Figure:
    """A pyplot-free figure with the series' font sizes and constrained layout, at the size of ``mode``
    (default ``$DDPM_FIGURES``: notebook or presentation). With ``fig`` (a slider panel's figure, which
    is drawn again on every change) that figure is cleared and returned instead of a new one."""
    if fig is not None:
        fig.clear()
        return fig
    mode = figure_mode(mode)
    if mode == "presentation":
        kw.setdefault("dpi", SLIDE_DPI)
    with matplotlib.rc_context(style(mode)):
        return Figure(figsize=fit_figsize(figsize, mode), layout="constrained", **kw)


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render ``fig`` and return its pixels. Shapes: -> (H, W, 4) uint8 RGBA."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def figure_to_png(fig: Figure, dpi: int = 80) -> bytes:
    """Render ``fig`` to PNG bytes (for widget outputs and static fallbacks)."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def image_array(x: torch.Tensor) -> np.ndarray:
    """One image as a numpy array for ``imshow``, wherever the tensor lives.
    Shapes: (1, H, W) or (H, W) -> (H, W)."""
    x = torch.as_tensor(x, device="cpu").detach().float().cpu()
    return x.reshape(x.shape[-2], x.shape[-1]).numpy()


def show_image(ax, image: torch.Tensor, title: str | None = None, vmin: float = -1.0, vmax: float = 1.0,
               cmap: str = "gray", fontsize: float | None = None) -> None:
    """Show one image on ``ax`` on the fixed scale [vmin, vmax] (default [-1, 1], black to white), without
    ticks, with an optional title. Shapes: image (1, H, W) or (H, W)."""
    ax.imshow(image_array(image), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, **({} if fontsize is None else {"fontsize": fontsize}))
