r"""Figures of notebook 07's 2-D half: guided clouds of labelled moons, and the guidance sweep.

* :func:`plot_tilt_then_noise`: the density the guided score belongs to at step t beside the tilted target
  noised to step t, their difference, and their total variation distance against s.
* :func:`plot_guided_clouds`: one column per scale s; rows: the tilted target p_0(x) p_0(c|x)^s computed
  directly, the exact guided sampler, the trained conditional MLP (``lessons.guidance.guidance_sweep``'s output).
* :func:`plot_guidance_sweep`: against s, the mass on the class (95 % Wilson intervals), MMD^2 to the tilted
  target beside its n-point floor, and the share of samples off the moons (95 % Wilson intervals).
* :func:`draw_guidance_panel`: the picture of the class/scale slider panel (``lessons.guidance.panels``).

Every figure is made through :mod:`ddpm_helpers.ui.style` (``@styled``, ``new_figure``).
"""
from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from ...ui.style import new_figure, styled
from .theory import MOON_NAMES

__all__ = ["plot_tilt_then_noise", "plot_guided_clouds", "plot_guidance_sweep", "draw_guidance_panel"]

_COLORS = {"exact": "C0", "MLP": "C3"}


def _scatter(ax, x, data, color, title, lim=2.5):
    ax.scatter(data[:, 0], data[:, 1], s=2, color="0.85")
    x = torch.as_tensor(x, device="cpu").detach()
    ax.scatter(x[:, 0], x[:, 1], s=3, color=color)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
    ax.set_title(title, fontsize=12)


def _bars(p: np.ndarray, rows: list, key: str) -> list:
    """Error-bar lengths below and above each share from its interval ``key_lo``/``key_hi`` (>= 0: at a share
    of 0 or 1 the interval's end equals it up to rounding)."""
    lo, hi = np.array([r[key + "_lo"] for r in rows]), np.array([r[key + "_hi"] for r in rows])
    return [np.clip(p - lo, 0, None), np.clip(hi - p, 0, None)]


@styled
def plot_tilt_then_noise(pair: dict, s: float, t: int, tv: dict) -> Figure:
    """``pair``: ``tilt_then_noise(...)`` at scale ``s`` and step ``t``: the noised tilted target, the guided
    density and their difference as images; ``tv``: ``{t: ([s, ...], [tv, ...])}`` drawn as lines."""
    fig = new_figure(figsize=(17, 4.6))
    axes = fig.subplots(1, 4)
    ext = (pair["x"][0].item(), pair["x"][-1].item(), pair["y"][0].item(), pair["y"][-1].item())
    hi = max(pair["noised"].max().item(), pair["guided"].max().item())
    for ax, key, title in ((axes[0], "noised", f"tilted target, noised to t = {t}"),
                           (axes[1], "guided", f"q_t(x) q_t(c|x)^s at t = {t}")):
        ax.imshow(pair[key].numpy(), origin="lower", extent=ext, cmap="viridis", vmin=0, vmax=hi)
        ax.set(title=f"{title}\n(s = {s:g})", xlabel="x₁", ylabel="x₂")
    diff = (pair["guided"] - pair["noised"]).numpy()
    m = np.abs(diff).max()
    im = axes[2].imshow(diff, origin="lower", extent=ext, cmap="RdBu_r", vmin=-m, vmax=m)
    axes[2].set(title=f"guided − noised target\nTV = {pair['tv']:.3f}", xlabel="x₁", ylabel="x₂")
    fig.colorbar(im, ax=axes[2], shrink=0.8)
    for k, (tt, (ss, vals)) in enumerate(tv.items()):
        axes[3].plot(ss, vals, marker="o", color=f"C{k}", label=f"t = {tt}")
    axes[3].set(xlabel="guidance scale s", ylabel="total variation distance",
                title="Tilting and noising commute\nonly at s = 0 and s = 1")
    axes[3].legend(fontsize=11)
    return fig


@styled
def plot_guided_clouds(sweep: dict, data: torch.Tensor, c: int, scales=None, fig: Figure | None = None) -> Figure:
    """Rows: the tilted target, then each model of the sweep; columns: the scales. Each title gives the
    share on moon c and MMD^2 to the tilted target as a multiple of its floor. Training points in grey."""
    rows = sweep["rows"]
    scales = list(scales if scales is not None else dict.fromkeys(r["s"] for r in rows))
    names = list(dict.fromkeys(r["model"] for r in rows))
    fig = new_figure(figsize=(2.9 * len(scales), 3.0 * (1 + len(names)) + 0.6), fig=fig)
    axes = fig.subplots(1 + len(names), len(scales), squeeze=False)
    for j, s in enumerate(scales):
        _scatter(axes[0, j], sweep["targets"][s], data, "C2", f"tilted target, s = {s:g}")
        for i, name in enumerate(names, start=1):
            r = next(r for r in rows if r["model"] == name and r["s"] == s)
            _scatter(axes[i, j], sweep["samples"][(name, s)], data, _COLORS.get(name, f"C{i}"),
                     f"{name}, s = {s:g}\non moon: {r['mass']:.2f}, MMD² {r['mmd'] / r['mmd_floor']:.1f}× floor")
    fig.suptitle(f"Guided samples of the {MOON_NAMES[c]} (class {c}) against the tilted target "
                 f"p₀(x) p₀(c|x)^s, n = {rows[0]['n']} each")
    return fig


@styled
def plot_guidance_sweep(sweep: dict, data_off: float | None = None) -> Figure:
    """Three panels against the scale s, one line per model: the share on the class (95 % Wilson
    interval), MMD^2 to the tilted target (with the floor: two draws of the target), and the share off
    the moons (farther than 0.2 from both arcs; 95 % Wilson interval; ``data_off``: the training points')."""
    rows = sweep["rows"]
    names = list(dict.fromkeys(r["model"] for r in rows))
    fig = new_figure(figsize=(16, 4.6))
    ax_mass, ax_mmd, ax_off = fig.subplots(1, 3)
    for k, name in enumerate(names):
        rs = [r for r in rows if r["model"] == name]
        s = np.array([r["s"] for r in rs], dtype=float) + 0.04 * (k - (len(names) - 1) / 2)  # side by side
        col = _COLORS.get(name, f"C{k}")
        m = np.array([r["mass"] for r in rs])
        ax_mass.errorbar(s, m, yerr=_bars(m, rs, "mass"), marker="o", capsize=4, color=col, label=name)
        ax_mmd.plot(s, [r["mmd"] for r in rs], marker="o", color=col, label=name)
        o = np.array([r["off"] for r in rs])
        ax_off.errorbar(s, o, yerr=_bars(o, rs, "off"), marker="o", capsize=4, color=col, label=name)
    ref = [r for r in rows if r["model"] == names[0]]
    ax_mmd.plot([r["s"] for r in ref], [r["mmd_floor"] for r in ref], "k--", label="floor (target vs target)")
    if data_off is not None:
        ax_off.axhline(data_off, color="k", ls="--", label="training points")
    n = rows[0]["n"]
    ax_mass.set(xlabel="guidance scale s", ylabel="share of samples on the class's moon", ylim=(0, 1.05),
                title=f"Mass on the class (n = {n}, 95 % interval)")
    ax_mmd.set(xlabel="guidance scale s", ylabel="MMD² to the tilted target", yscale="log",
               title="Distance to p₀(x) p₀(c|x)^s")
    ax_off.set(xlabel="guidance scale s", ylabel="share > 0.2 from both arcs",
               title=f"Off the moons (n = {n}, 95 % interval)")
    for ax in (ax_mass, ax_mmd, ax_off):
        ax.legend(fontsize=11)
    return fig


def draw_guidance_panel(fig: Figure, clouds: dict, data: torch.Tensor, c: int, s: float, notes: dict) -> None:
    """The panel's picture: one scatter per ``{name: (n, 2) samples}`` with ``notes[name]`` under its title."""
    fig = new_figure(fig=fig)
    axes = fig.subplots(1, len(clouds), squeeze=False)[0]
    for k, (ax, (name, x)) in enumerate(zip(axes, clouds.items())):
        _scatter(ax, x, data, _COLORS.get(name, f"C{k}"), f"{name}: {MOON_NAMES[c]}, s = {s:g}\n{notes[name]}",
                 lim=2.5)
