r"""Figures of notebooks 01 (the forward process) and 02 (its closed form).

* The forward chain q and the reverse chain p_theta as a graphical model is
  :func:`ddpm_helpers.ui.figures.draw_diffusion_chain` (notebook 05 draws it too).
* :func:`image_row`, :func:`plot_chain_variance`, :func:`plot_schedules`, :func:`terminal_snr_markdown`,
  :func:`plot_terminal_signal`: an image noised step by step, why the chain shrinks, what the schedules
  keep of the signal, and what is left of it at the last step.
* :func:`plot_chain_vs_jump`: many steps of the chain against one jump of ``q_sample``.
* :func:`draw_forward_panel`, :func:`draw_chain_jump_panel`: the pictures of the two slider panels.

=====================  ==========================
symbol                 name
=====================  ==========================
beta_t                 ``sched.betas[t]``
\bar\alpha_t           ``sched.alpha_bars[t]``
SNR_t                  ``sched.snr[t]`` (``snr_db()`` in dB)
=====================  ==========================

Every figure is made through :mod:`ddpm_helpers.ui.style` (``@styled``, ``new_figure``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from ...ui.style import new_figure, show_image, styled
from ...ui.tables import markdown_table
from .experiments import chain_variance, pixel_correlation, snr_zero_db_crossing

__all__ = ["image_row", "plot_chain_variance", "plot_schedules", "terminal_snr_markdown",
           "plot_terminal_signal", "plot_pixel_histogram", "plot_chain_vs_jump", "draw_forward_panel",
           "draw_chain_jump_panel"]


@styled
def image_row(images, titles=None, suptitle: str = "", vmin: float = -1.5, vmax: float = 1.5,
              size: float = 2.2) -> Figure:
    """A row of grayscale images (each (1, H, W) or (H, W)), shown on a common scale [vmin, vmax].

    Pixel values beyond [-1, 1] are noise overshoot; a fixed scale keeps frames comparable.
    """
    n = len(images)
    fig = new_figure(figsize=(max(size * n, 6), size + 0.9))
    axes = fig.subplots(1, n, squeeze=False)[0]
    for i, (ax, im) in enumerate(zip(axes, images)):
        show_image(ax, im, None if titles is None else titles[i], vmin=vmin, vmax=vmax, fontsize=12)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


@styled
def plot_chain_variance(sched, measured: dict | None = None, var0: float = 1.0, title: str = "") -> Figure:
    """Var[x_t] with and without the sqrt(1 - beta_t) shrink: theory lines (from
    :func:`chain_variance`), plus measured points ``{label: (ts, vars)}``."""
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


@styled
def plot_schedules(scheds: dict, t_mark: int | None = None, fig: Figure | None = None) -> Figure:
    """beta_t, alpha_bar_t (and its square root) and the SNR in dB for each ``{label: schedule}``,
    with each schedule's 0 dB crossing marked and an optional current timestep ``t_mark``."""
    fig = new_figure((14, 4.2), fig=fig)
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
    axes[1].set(title=r"signal: variance share $\bar\alpha_t$, amplitude $\sqrt{\bar\alpha_t}$", xlabel="timestep t",
                ylabel="fraction")
    axes[2].set(title="SNR = ᾱ/(1-ᾱ) in dB", xlabel="timestep t", ylabel="SNR (dB)")
    for ax in axes:
        ax.legend(fontsize=11)
    return fig


def terminal_snr_markdown(rows: list[dict]) -> str:
    """A Markdown table of :func:`terminal_snr_table` rows: T, beta_end, the signal left at t = T-1
    and the SNR there in dB."""
    return markdown_table(["T", "β_end", "√ᾱ at t = T-1 (signal left)", "SNR (dB)"],
                          [[r["T"], f"{r['beta_end']:g}", f"{r['signal']:.4f}", f"{r['snr_db']:.1f}"] for r in rows],
                          align="rrrr")


@styled
def plot_terminal_signal(x0: torch.Tensor, x_T: dict) -> Figure:
    r"""What is left of x_0 at the last step, for each ``{label: draws}`` (draws: K samples of x_T from the one
    image x_0, fresh noise each): x_0, then per label one draw on the fixed scale [-2.5, 2.5] and the mean of
    the K draws, which keeps \sqrt{\bar\alpha_T} x_0 while the noise shrinks by \sqrt{K}. The mean is
    contrast-stretched to +-3 of its own standard deviations (its title says so), so a flat mean shows as
    noise, not as grey. Each title gives the pixel correlation with x_0 (:func:`pixel_correlation`).

    Shapes: x0 (1, H, W) or (H, W); each draws (K, 1, H, W) with K >= 2.
    """
    n = 1 + 2 * len(x_T)
    fig = new_figure(figsize=(3.0 * n, 4.2))
    axes = fig.subplots(1, n, squeeze=False)[0]
    show_image(axes[0], x0, "x_0", fontsize=12)
    for k, (label, draws) in enumerate(x_T.items()):
        one, mean = draws[0], draws.mean(0)
        spread = 3 * mean.float().std().item()
        show_image(axes[1 + 2 * k], one, f"{label}: one draw of x_T\ncorr. with x_0 {pixel_correlation(one, x0):.2f}",
                   vmin=-2.5, vmax=2.5, fontsize=12)
        show_image(axes[2 + 2 * k], mean, f"{label}: mean of {draws.shape[0]} draws\n(stretched) corr. "
                   f"{pixel_correlation(mean, x0):.2f}", vmin=mean.mean().item() - spread,
                   vmax=mean.mean().item() + spread, fontsize=12)
    fig.suptitle(r"What is left of $x_0$ at the last step: $\sqrt{\bar\alpha_T}\,x_0$ under the noise")
    return fig


def plot_pixel_histogram(ax, x: torch.Tensor, title: str = "") -> None:
    """Histogram of the values in ``x`` against the standard normal density, on ``ax``."""
    v = torch.as_tensor(x, device="cpu").detach().float().flatten().cpu().numpy()
    ax.hist(v, bins=40, range=(-4, 4), density=True, color="C0", alpha=0.7, label="pixels of x_t")
    g = np.linspace(-4, 4, 200)
    ax.plot(g, np.exp(-g**2 / 2) / math.sqrt(2 * math.pi), "k", lw=2, label="N(0, 1)")
    ax.set(xlabel="pixel value", ylabel="density", title=title or "pixel histogram")
    ax.legend(fontsize=11)


@styled
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
    fig = new_figure(figsize=(9, 4))
    ax = fig.subplots()
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    ax.hist(a, bins=50, range=(lo, hi), density=True, alpha=0.55, label=f"chain: {t + 1} steps")
    ax.hist(b, bins=50, range=(lo, hi), density=True, alpha=0.55, label="jump: one q_sample")
    ax.set(xlabel="value of x_t" + ("" if pixel is None else f" at pixel {pixel}"), ylabel="density",
           title=f"Chain vs jump at t={t}: KS two-sample p = {p:.2f}")
    ax.legend()
    return fig


@styled
def draw_forward_panel(fig: Figure, x_t: torch.Tensor, sched, t: int) -> None:
    """Notebook 01's panel: the noisy image, its histogram against N(0, 1) and the schedule
    (sqrt(alpha_bar_t) and SNR in dB) with t marked."""
    fig = new_figure(fig=fig)
    a_img, a_hist, a_ab, a_snr = fig.subplots(1, 4, width_ratios=[1, 1.3, 1.3, 1.3])
    ab = sched.alpha_bars[t].item()
    show_image(a_img, x_t, f"x_t at t={t}\n√ᾱ_t={math.sqrt(ab):.3f}", vmin=-2.5, vmax=2.5)
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


@styled
def draw_chain_jump_panel(fig: Figure, chain: torch.Tensor, jump: torch.Tensor, t: int, sched) -> None:
    """Notebook 02's panel: one chain draw and one jump draw side by side, and the histograms of
    many draws of both with the KS two-sample p-value. Shapes: chain, jump (M, 1, H, W)."""
    from scipy.stats import ks_2samp

    fig = new_figure(fig=fig)
    a1, a2, a3 = fig.subplots(1, 3, width_ratios=[1, 1, 1.6])
    for ax, x, name in ((a1, chain, f"chain ({t + 1} steps)"), (a2, jump, "jump (1 q_sample)")):
        show_image(ax, x[0], name, vmin=-2.5, vmax=2.5)
    a, b = chain.flatten().numpy(), jump.flatten().numpy()
    p = ks_2samp(a, b).pvalue
    a3.hist(a, bins=50, range=(-4, 4), density=True, alpha=0.55, label="chain")
    a3.hist(b, bins=50, range=(-4, 4), density=True, alpha=0.55, label="jump")
    a3.set(xlabel="pixel value", ylabel="density",
           title=f"{sched.kind}, t={t}: mean {a.mean():.3f} vs {b.mean():.3f}, "
                 f"var {a.var():.3f} vs {b.var():.3f}\nKS p = {p:.2f}")
    a3.legend(fontsize=11)
