r"""Pictures for the theory sections of notebooks 01, 03 and 05 (matplotlib, no image files).

* :func:`draw_diffusion_chain`: the forward chain q and the reverse chain p_theta as a graphical model.
* :func:`plot_diffusing_cloud`: the moons cloud under q(x_t | x_0) at several t, coloured by moon.
* :func:`plot_exact_reverse_step`: the exact reverse step of 1-D two-mode data for a small and a large jump.
* :func:`plot_denoiser_fields`: the optimal denoiser of the training set beside the learned one.
* :func:`plot_loss_floor`: the learned model's loss per t beside the optimal denoiser's floor.
* :func:`plot_mass_split`: the fraction of points on each moon, with binomial 95 % intervals.

Each returns a ``matplotlib.figure.Figure`` built without pyplot (see ``plots.new_figure``).
"""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from .plots import new_figure, style

__all__ = ["draw_diffusion_chain", "plot_diffusing_cloud", "plot_exact_reverse_step", "plot_denoiser_fields",
           "plot_loss_floor", "plot_mass_split"]


def draw_diffusion_chain() -> Figure:
    r"""The DDPM graphical model (Ho et al. 2020, fig. 2): nodes x_T ... x_t, x_{t-1} ... x_0, the fixed
    forward steps q(x_t | x_{t-1}) (dashed, left to right in time) below, the learned reverse steps
    p_theta(x_{t-1} | x_t) above."""
    from matplotlib.patches import Circle, FancyArrowPatch

    names = [r"$x_T$", r"$\cdots$", r"$x_t$", r"$x_{t-1}$", r"$\cdots$", r"$x_0$"]
    xs = np.linspace(0.6, 11.4, len(names))
    with matplotlib.rc_context(style()):
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


def plot_diffusing_cloud(x0: torch.Tensor, sched, ts=(0, 50, 100, 200, 400, 999), generator=None,
                         lim: float = 3.5) -> Figure:
    r"""The moons under the forward process: one panel per t of
    x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1-\bar\alpha_t}\epsilon (one jump, notebook 02), points coloured
    by the moon their x_0 lies on (``theory.assign_moon``), with the circle of radius 2 (two standard
    deviations of N(0, I)) for reference. Shapes: x0 (N, 2) standardised moons."""
    from .core.forward import q_sample
    from .theory import assign_moon

    moon = assign_moon(x0).numpy()
    with matplotlib.rc_context(style()):
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


def plot_exact_reverse_step(x_t: float, jumps: dict, weights, means, variances) -> Figure:
    r"""The exact q(x_s | x_t) of 1-D mixture data (``theory.exact_reverse_step``) beside the best single
    Gaussian (same mean and variance), one panel per jump ``{label: (ab_s, ab_t)}``; the title gives
    D_KL(exact || Gaussian fit)."""
    from .theory import exact_reverse_step, gaussian_fit_kl, mixture_pdf

    with matplotlib.rc_context(style()):
        fig = new_figure(figsize=(5.0 * len(jumps), 4.5))
        axes = fig.subplots(1, len(jumps), squeeze=False)[0]
        for ax, (label, (ab_s, ab_t)) in zip(axes, jumps.items()):
            w, m, v = exact_reverse_step(x_t, ab_s, ab_t, weights, means, variances)
            mu = (w * m).sum()
            sd = ((w * (v + m**2)).sum() - mu**2).sqrt()
            grid = torch.linspace(float(mu - 4.5 * sd), float(mu + 4.5 * sd), 1500, dtype=torch.float64, device="cpu")
            ax.fill_between(grid.numpy(), mixture_pdf(grid, w, m, v).numpy(), color="tab:green", alpha=0.35,
                            label=r"exact $q(x_s\mid x_t)$")
            gauss = torch.distributions.Normal(mu, sd).log_prob(grid).exp()
            ax.plot(grid.numpy(), gauss.numpy(), "k--", lw=2, label="one Gaussian, same mean and variance")
            kl = gaussian_fit_kl(w, m, v)
            ax.set(xlabel=r"$x_s$", ylabel="probability density")
            ax.set_title(f"{label}\nKL(exact ‖ Gaussian) = {kl:.2g} nats", fontsize=13)
        axes[len(jumps) // 2].legend(fontsize=11, loc="upper left")
        fig.suptitle(f"The true reverse step from x_t = {x_t:g} for two-mode data")
    return fig


def plot_denoiser_fields(fields: dict, ts, lim: float = 3.0, ref: torch.Tensor | None = None) -> Figure:
    r"""Rows of quiver plots, one row per ``{label: {t: (grid_points (G, 2), eps_hat (G, 2))}}`` and one
    column per t: the arrows show the *direction* of -\hat\epsilon (all drawn the same length), the way the
    reverse step moves a point (the score's direction); its size is printed separately, it spans orders of magnitude."""
    rows = list(fields.items())
    with matplotlib.rc_context(style()):
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


def plot_loss_floor(ts, floor, floor_se, model=None, model_se=None, title: str = "") -> Figure:
    """L_simple per timestep (per coordinate) of the optimal denoiser (the floor, with +-2 s.e.) and,
    when given, of the trained model on the same kind of draws."""
    ts = np.asarray(ts)
    with matplotlib.rc_context(style()):
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


def plot_mass_split(splits: dict, title: str = "") -> Figure:
    """Horizontal bars: the fraction of points on the outer moon for each ``{label: theory.moons_mass_split(x)}``,
    with its 95 % Wilson interval, against the data's exact 1/2."""
    labels = list(splits)
    with matplotlib.rc_context(style()):
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
