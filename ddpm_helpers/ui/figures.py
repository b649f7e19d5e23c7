r"""The figures more than one notebook draws: the graphical model, the training loss, the moons' mass split.

* :func:`draw_diffusion_chain`: the forward chain q and the reverse chain p_theta as a graphical model
  (notebooks 01 and 05).
* :func:`plot_loss_curve`: the training loss per step and its running mean (notebooks 03 and 04).
* :func:`plot_mass_split`: the share of points on each moon with its interval,
  from :func:`ddpm_helpers.core.moons.moons_mass_split` (notebooks 03 and 05).

Every figure is made through :mod:`ddpm_helpers.ui.style` (``@styled``, ``new_figure``).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch

from .style import new_figure, styled

__all__ = ["draw_diffusion_chain", "plot_loss_curve", "plot_mass_split"]


@styled
def draw_diffusion_chain() -> Figure:
    r"""The DDPM graphical model (Ho et al. 2020, fig. 2): nodes x_T ... x_t, x_{t-1} ... x_0, the fixed
    forward steps q(x_t | x_{t-1}) (dashed, left to right in time) below, the learned reverse steps
    p_theta(x_{t-1} | x_t) above."""
    names = [r"$x_T$", r"$\cdots$", r"$x_t$", r"$x_{t-1}$", r"$\cdots$", r"$x_0$"]
    xs = np.linspace(0.6, 11.4, len(names))
    fig = new_figure(figsize=(12, 4.2))
    ax = fig.subplots()
    ax.set(xlim=(0, 12), ylim=(-2.1, 2.1), aspect="equal")
    ax.set_axis_off()
    for x, name in zip(xs, names):
        if name != r"$\cdots$":
            ax.add_patch(Circle((x, 0), 0.5, fc="white", ec="black", lw=2))
        ax.text(x, 0, name, ha="center", va="center", fontsize=17)

    def arrow(i, j, y, color, ls, label, y_label):
        # arc3 with rad < 0 bends a left-to-right arrow upwards and a right-to-left one downwards
        ax.add_patch(FancyArrowPatch((xs[i], y), (xs[j], y), connectionstyle="arc3,rad=-0.4",
                                     arrowstyle="-|>", mutation_scale=22, lw=2, color=color, ls=ls))
        if label:
            ax.text((xs[i] + xs[j]) / 2, y_label, label, ha="center", va="center", fontsize=14, color=color)

    for i in range(len(xs) - 1):  # reverse, learned: x_T -> x_0, above the nodes
        arrow(i, i + 1, 0.5, "tab:blue", "-", r"$p_\theta(x_{t-1}\mid x_t)$" if i == 2 else "", 1.3)
    for i in range(len(xs) - 1, 0, -1):  # forward, fixed: x_0 -> x_T, below the nodes
        arrow(i, i - 1, -0.5, "tab:red", "--", r"$q(x_t\mid x_{t-1})$" if i == 3 else "", -1.3)
    ax.text(xs[0], 1.75, "pure noise\n" + r"$p(x_T) = \mathcal{N}(0, I)$", ha="center", fontsize=13)
    ax.text(xs[-1], 1.75, "data\n" + r"$q(x_0)$", ha="center", fontsize=13)
    ax.set_title("The forward chain q (red, fixed: adds noise) and the reverse chain "
                 r"$p_\theta$ (blue, learned: removes it)")
    return fig


@styled
def plot_loss_curve(result, smooth: int = 50, title: str = "Training loss") -> Figure:
    """The per-step training loss and its running mean over ``smooth`` steps."""
    fig = new_figure(figsize=(10, 4))
    ax = fig.subplots()
    losses = np.asarray(result.losses)
    ax.plot(losses, color="C0", alpha=0.3, lw=1, label="loss per step")
    if len(losses) >= smooth:
        m = np.convolve(losses, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(smooth - 1, len(losses)), m, color="C0", lw=2.5, label=f"mean of {smooth} steps")
    ax.set(xlabel="optimizer step", ylabel="MSE(ε̂, ε)", title=title, yscale="log")
    ax.legend()
    return fig


@styled
def plot_mass_split(splits: dict, title: str = "") -> Figure:
    """Horizontal bars: the fraction of points on the outer moon for each ``{label: moons_mass_split(x)}``,
    with its 95 % Wilson interval, against the data's exact 1/2."""
    labels = list(splits)
    fig = new_figure(figsize=(10, 0.8 * len(labels) + 1.8))
    ax = fig.subplots()
    y = np.arange(len(labels))
    p = np.array([splits[k]["outer"] for k in labels])
    lo = np.array([splits[k]["lo"] for k in labels])
    hi = np.array([splits[k]["hi"] for k in labels])
    ax.barh(y, p, color="tab:orange", alpha=0.8, label="outer moon")
    ax.barh(y, 1 - p, left=p, color="tab:purple", alpha=0.6, label="inner moon")
    ax.errorbar(p, y, xerr=[p - lo, hi - p], fmt="none", ecolor="k", capsize=6, lw=2, label="95 % interval")
    ax.axvline(0.5, color="k", ls="--", lw=1.5)
    ax.set_yticks(y, [f"{k} (n = {splits[k]['n']})" for k in labels])
    ax.set(xlim=(0, 1), xlabel="fraction of the points on the outer moon (data: exactly 0.5)",
           title=title or "How the mass is split between the two moons")
    ax.legend(loc="lower right", fontsize=11)
    return fig
