r"""Notebook 07, section 3: the class-conditional FashionMNIST U-Net, guided, and guidance's trade-off.

* :func:`class_grid_figure`: guided samples of all ten classes, one grid per scale, from the same x_T; each
  image framed green when the shipped classifier puts it in its row's class, red when not.
* :func:`fashion_guidance_panel`: a class and a scale slider; a row at s = 0 and a row at s from the same x_T.
* :func:`load_tradeoff` (the shipped ``fashion_cond_unet.tradeoff.json``, measured by
  ``python -m ddpm_helpers.cli.conditional evaluate``), :func:`tradeoff_figure` (accuracy against mean
  per-class KID across s, error bars and the real-data floor, a live re-measurement beside it) and
  :func:`tradeoff_reading` (what the curve says, in numbers read from it).

The measurements themselves are the core's (:mod:`ddpm_helpers.core.tradeoff`); full mode's own model comes
from :func:`ddpm_helpers.core.guidance.train_conditional`.
"""
from __future__ import annotations

import json

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ...core.checks import check_int
from ...core.data import FASHION_CLASSES
from ...core.metrics import classifier_features
from ...core.paths import WEIGHTS_DIR
from ...core.tradeoff import TRADEOFF_SCALES, guided_samples
from ...ui.panels import Panel
from ...ui.style import new_figure, styled

__all__ = ["TRADEOFF_JSON", "load_tradeoff", "classified_as", "class_grid_figure", "fashion_guidance_panel",
           "tradeoff_figure", "tradeoff_reading"]

TRADEOFF_JSON = WEIGHTS_DIR / "fashion_cond_unet.tradeoff.json"
_GREEN, _RED = np.array([0.1, 0.7, 0.2]), np.array([0.9, 0.1, 0.1])


def load_tradeoff() -> dict:
    """The trade-off measured on the shipped conditional U-Net (``cli.conditional evaluate``; its command,
    hardware, date, n and seconds are in the dict)."""
    if not TRADEOFF_JSON.is_file():
        raise FileNotFoundError(f"{TRADEOFF_JSON} is missing: run python -m ddpm_helpers.cli.conditional evaluate")
    return json.loads(TRADEOFF_JSON.read_text())


def classified_as(x: torch.Tensor, classifier: nn.Module | None = None) -> torch.Tensor:
    """The shipped classifier's class for each image. Shapes: (N, 1, 28, 28) -> (N,) long."""
    return classifier_features(x, classifier, return_logits=True)[1].argmax(1)


def _tiles(x: torch.Tensor, y: torch.Tensor, pred: torch.Tensor, n: int, pad: int = 2) -> np.ndarray:
    """One RGB array: a row per class in ``y`` (n images each, in order), each image framed green (classified
    as its row's class) or red. Shapes: x (C * n, 1, 28, 28) -> (C * (28 + 2 pad), n * (28 + 2 pad), 3)."""
    classes = sorted(set(y.tolist()))
    side = x.shape[-1] + 2 * pad
    out = np.ones((len(classes) * side, n * side, 3))
    gray = ((x.detach().float().cpu().clamp(-1, 1) + 1) / 2).squeeze(1).numpy()  # (N, 28, 28) in [0, 1]
    for i, c in enumerate(classes):
        for j, k in enumerate(torch.nonzero(y == c).squeeze(1)[:n].tolist()):
            tile = out[i * side:(i + 1) * side, j * side:(j + 1) * side]
            tile[:] = _GREEN if int(pred[k]) == c else _RED
            tile[pad:-pad, pad:-pad] = gray[k][:, :, None]
    return out


@styled
def class_grid_figure(samples: dict, y: torch.Tensor, classifier: nn.Module | None = None,
                      fig: Figure | None = None) -> Figure:
    """One grid per entry of ``samples`` (``{s: images}``, every entry with the labels ``y``, class by class):
    a row per class, framed green where the classifier agrees with the row's class, red where not; each
    title gives the scale and how many of the samples the classifier puts in their own class.
    Shapes: samples {s: (C * n, 1, 28, 28)}, y (C * n,)."""
    if not samples or any(x.shape[0] != y.shape[0] for x in samples.values()):
        raise ValueError(f"samples must map each scale to images with the {y.shape[0]} labels of y, got "
                         f"{ {s: tuple(x.shape) for s, x in samples.items()} }")
    classes = sorted(set(y.tolist()))
    n = int(torch.bincount(y).max())
    fig = new_figure(figsize=(max(5.0, 0.75 * n + 2.2) * len(samples), 0.75 * len(classes) + 1.2), fig=fig)
    axes = np.atleast_1d(fig.subplots(1, len(samples)))
    side = samples[next(iter(samples))].shape[-1] + 4
    for ax, (s, x) in zip(axes, samples.items()):
        pred = classified_as(x, classifier)
        ax.imshow(_tiles(x, y, pred, n), interpolation="nearest")
        ax.set_yticks([(i + 0.5) * side for i in range(len(classes))],
                      [FASHION_CLASSES[c] for c in classes] if ax is axes[0] else [""] * len(classes))
        ax.set_xticks([])
        hits = int((pred == y).sum())
        ax.set_title(f"s = {s:g}: {hits} of {len(y)} classified\nas their row's class", fontsize=13)
    fig.suptitle("Guided samples (DDIM 20, same x_T in every grid): green frame = the classifier agrees, red = not")
    return fig


def fashion_guidance_panel(model: nn.Module, sched, c: int = 9, s: float = 2.0, n: int = 6, seed: int = 0,
                           scales=(*TRADEOFF_SCALES, 8.0)) -> Panel:
    """Notebook 07: a class dropdown and a scale slider; ``n`` samples of class ``c`` at s = 0 (unconditional)
    above ``n`` at scale ``s``, from the same x_T (DDIM 20 steps, x0 clipped), framed as in
    :func:`class_grid_figure`. Runs are cached, so returning to a setting costs nothing."""
    check_int("c", c, 0, len(FASHION_CLASSES) - 1, what="a FashionMNIST class")
    check_int("n", n, 1, 16)
    scales = [float(v) for v in scales]
    if float(s) not in scales:
        raise ValueError(f"s must be one of the slider's scales {tuple(scales)}, got {s!r}")
    cache = {}

    def run(c, s):
        key = (c, s) if s else (None, 0.0)  # s = 0 ignores the class: one run serves every class
        if key not in cache:
            cache[key] = guided_samples(model, sched, s, n, classes=[c], seed=seed)[0]
        return cache[key]

    controls = {"c": W.Dropdown(options=[(name, k) for k, name in enumerate(FASHION_CLASSES)], value=c,
                                description="class"),
                "s": W.SelectionSlider(options=scales, value=float(s), description="scale s",
                                       continuous_update=False)}

    def draw(fig, c, s):
        y = torch.full((n,), c, dtype=torch.long, device="cpu")
        class_grid_figure({0.0: run(c, 0.0), s: run(c, s)} if s else {0.0: run(c, 0.0)}, y, fig=fig)
        fig.suptitle(f"{FASHION_CLASSES[c]}: unconditional (s = 0) and guided (s = {s:g}) from the same x_T")

    return Panel(controls, draw, figsize=(2 * max(5.0, 0.75 * n + 2.2), 2.6))


@styled
def tradeoff_figure(shipped: dict, live: dict | None = None, fig: Figure | None = None) -> Figure:
    """Left: the classifier's accuracy on the samples against their mean per-class KID, one point per scale s
    (Wilson 95 % interval vertically, ± 1 bootstrap spread horizontally), with the real-data floor (KID ± 2
    spreads over draws, the classifier's accuracy on real images); ``live`` (a ``core.tradeoff.score_tradeoff``
    dict measured in the notebook) beside it. Right: each class's KID against s."""
    fig = new_figure(figsize=(16, 5.5), fig=fig)
    ax, ax2 = fig.subplots(1, 2, width_ratios=[1.2, 1])
    lows = []
    for m, color, label in ((shipped, "C0", "shipped"), (live, "C3", "this run")):
        if m is None:
            continue
        rows, n = m["rows"], m["n_per_class"]
        kid = np.array([1e3 * r["kid_mean"] for r in rows])
        acc = np.array([100 * r["accuracy"] for r in rows])
        yerr = np.array([[a - 100 * r["acc_lo"], 100 * r["acc_hi"] - a] for a, r in zip(acc, rows)]).T
        ax.errorbar(kid, acc, yerr=yerr, xerr=[1e3 * r["kid_mean_std"] for r in rows], fmt="o-", color=color,
                    capsize=3, label=f"{label}: n = {n} per class")
        for k, a, r in zip(kid, acc, rows):
            ax.annotate(f"s={r['scale']:g}", (k, a), textcoords="offset points", xytext=(6, -14), color=color)
        fl = m["floor"]
        lo, hi = 1e3 * (fl["kid_mean"] - 2 * fl["kid_mean_std"]), 1e3 * (fl["kid_mean"] + 2 * fl["kid_mean_std"])
        lows.append(lo)
        floor_label = f"{label}: real images' KID (floor ± 2 sd, n = {n})"
        if m is shipped:
            ax.axvspan(lo, hi, color=color, alpha=0.12, label=floor_label)
        else:  # lines, not a band: at a small n the band can cover the whole axis
            ax.axvline(lo, color=color, ls="--", lw=1, label=floor_label)
            ax.axvline(hi, color=color, ls="--", lw=1)
        ax.axhline(100 * fl["accuracy"], color=color, ls=":", label=f"{label}: classifier on real images")
    ax.set_xscale("symlog", linthresh=10)  # linear near the floor (KID can be < 0), logarithmic above
    ax.set_xlim(left=min([-10.0] + [2 * v for v in lows]))  # the floor bands' lower edges in view, no more
    ax.set(xlabel="mean per-class KID (x 1e-3, symlog; lower = closer to the class's test images)",
           ylabel="samples classified as their label (%)",
           title=f"Guidance's trade-off (recommended s = {shipped['recommended']['scale']:g})")
    ax.legend(fontsize=10, loc="lower right")
    scales = [r["scale"] for r in shipped["rows"]]
    for i, name in enumerate(FASHION_CLASSES):
        ax2.plot(scales, [1e3 * r["per_class"][i]["kid"] for r in shipped["rows"]], "o-", ms=3, lw=1,
                 color=f"C{i}", label=name)
    ax2.axhspan(0, 1e3 * max(pc["kid"] + 2 * pc["kid_std"] for pc in shipped["floor"]["per_class"]),
                color="0.85", label="real images (the highest\nclass floor + 2 sd)")
    ax2.set_yscale("symlog", linthresh=10)
    ax2.set(xlabel="guidance scale s", ylabel="KID of the class (x 1e-3, symlog)",
            title=f"Each class's KID (shipped, n = {shipped['n_per_class']} per class)")
    ax2.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def tradeoff_reading(m: dict) -> str:
    """What a trade-off dict says, in its own numbers: accuracy at s = 0 and at the recommended scale with their
    intervals, the mean per-class KID of every scale against the floor, and where it is lowest."""
    rows = {r["scale"]: r for r in m["rows"]}
    s0, rec = rows[min(rows)], rows[m["recommended"]["scale"]]
    best = min(m["rows"], key=lambda r: r["kid_mean"])
    fl = m["floor"]

    def acc(r):
        return f"{100 * r['accuracy']:.1f} % (95 % interval {100 * r['acc_lo']:.1f}–{100 * r['acc_hi']:.1f})"
    kids = ", ".join(f"{1e3 * r['kid_mean']:.0f} ± {1e3 * r['kid_mean_std']:.0f} at s = {r['scale']:g}"
                     for r in m["rows"])
    return (f"n = {m['n_per_class']} per class, {s0['n']} per scale. At s = {s0['scale']:g} the classifier finds "
            f"{acc(s0)} of the samples in their label's class; at the recommended s = {rec['scale']:g}, "
            f"{acc(rec)} (real images: {100 * fl['accuracy']:.1f} %). Mean per-class KID (x 1e-3; real images "
            f"{1e3 * fl['kid_mean']:.0f} ± {1e3 * fl['kid_mean_std']:.0f}): {kids}; lowest at s = {best['scale']:g}. "
            f"Rule: {m['recommended']['rule']}.")
