r"""Figures of notebook 05: from the ELBO to the mean squared error.

* :func:`plot_posterior_bayes`: q(x_{t-1} | x_t, x_0) by brute-force Bayes on a grid against the formula.
* :func:`plot_elbo_weights`: the ELBO's weight w_t of each timestep, per schedule and variance choice.
* :func:`plot_exact_reverse_step`: the true reverse step of two-mode data beside one Gaussian.
* :func:`plot_moons_comparison`, :func:`plot_weighted_bucket_losses`: L_simple against the bound on the moons.

The graphical model and the mass split that notebook 05 shares with notebooks 01 and 03 are in
:mod:`ddpm_helpers.ui.figures`.

Those that take ``fig`` draw into it (cleared): the slider panels redraw one figure.

===============================  ==========================================
symbol                           name
===============================  ==========================================
\tilde\mu_t, \tilde\beta_t        ``q_posterior(x0, x_t, t, sched)``
\sigma_t^2                       ``"posterior"`` (\tilde\beta_t) or ``"beta"`` (beta_t)
w_t                              ``elbo_weights(sched, variance)``
===============================  ==========================================

Every figure is made through :mod:`ddpm_helpers.ui.style` (``@styled``, ``new_figure``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from ...core.reverse import q_posterior
from ...ui.style import new_figure, styled
from .bound import elbo_loss_weights, elbo_weights, posterior_factor_variances, posterior_on_grid
from .theory import exact_reverse_step, gaussian_fit_kl, mixture_pdf

__all__ = ["plot_posterior_bayes", "plot_elbo_weights", "plot_exact_reverse_step", "plot_moons_comparison",
           "plot_weighted_bucket_losses"]


@styled
def plot_posterior_bayes(x0: float, x_t: float, t: int, sched, fig: Figure | None = None) -> Figure:
    r"""q(x_{t-1} | x_t, x_0) two ways: brute-force Bayes on a grid (prior x likelihood, normalised)
    against the closed form N(\tilde\mu_t, \tilde\beta_t) of :func:`ddpm_helpers.q_posterior`.

    Draws the prior q(x_{t-1} | x_0), the likelihood q(x_t | x_{t-1}) as a function of x_{t-1}
    (normalised to integrate to 1), the grid posterior (shaded) and the formula (dots).
    """
    post = posterior_on_grid(x0, x_t, t, sched)
    grid = post["grid"]
    ab_prev = sched.alpha_bars_prev[t].double()
    alpha, beta = sched.alphas[t].double(), sched.betas[t].double()
    prior = torch.distributions.Normal(ab_prev.sqrt() * x0, (1 - ab_prev).sqrt()).log_prob(grid).exp()
    like = torch.distributions.Normal(x_t / alpha.sqrt(), (beta / alpha).sqrt()).log_prob(grid).exp()
    mean, var = q_posterior(torch.tensor([x0], dtype=torch.float64, device="cpu"),
                            torch.tensor([x_t], dtype=torch.float64, device="cpu"),
                            t, sched)
    formula = torch.distributions.Normal(mean[0], var.reshape(-1)[0].sqrt()).log_prob(grid).exp()
    sd = math.sqrt(post["variance"])
    lo, hi = post["mean"] - 6 * sd, post["mean"] + 6 * sd  # zoom on the posterior
    keep = (grid >= lo) & (grid <= hi)
    g = grid[keep].numpy()
    fig = new_figure((12, 4.5), fig=fig)
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
    v = posterior_factor_variances(t, sched)
    ax.set_title(f"t = {t} ({sched.kind}), x_0 = {x0:g}, x_t = {x_t:.3f}: mean {post['mean']:.4f} (grid) vs "
                 f"{mean.item():.4f} (formula)\nvariance of the prior {v['prior']:.2e}, of the likelihood "
                 f"{v['likelihood']:.2e}: ratio {v['ratio']:.1f}")
    ax.legend(loc="upper right", fontsize=11)
    return fig


@styled
def plot_elbo_weights(scheds: dict, variances=("posterior", "beta"), normalized: bool = False,
                      fig: Figure | None = None) -> Figure:
    r"""w_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - \bar\alpha_t)) over t, log scale, for each schedule
    (``{name: NoiseSchedule}``) and variance choice, with L_simple's w_t = 1 for reference.
    ``normalized=True`` plots the mean-1 training weights (:func:`elbo_loss_weights`)."""
    styles = {"posterior": "-", "beta": "--"}
    fig = new_figure((12, 4.5), fig=fig)
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


@styled
def plot_moons_comparison(samples: dict, reference: torch.Tensor, scores: dict | None = None) -> Figure:
    """Side-by-side scatter plots ``{name: (N, 2) samples}`` over real moons data (grey), a score line each."""
    k = len(samples)
    ref = reference.detach().cpu().numpy()
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


@styled
def plot_weighted_bucket_losses(results: dict, last: int = 5) -> Figure:
    """The training loss per timestep bucket (weights included) at the end of several runs
    (``{name: TrainResult}``; mean of the last ``last`` records)."""
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


@styled
def plot_exact_reverse_step(x_t: float, jumps: dict, weights, means, variances) -> Figure:
    r"""The exact q(x_s | x_t) of 1-D mixture data (:func:`exact_reverse_step`) beside the best single
    Gaussian (same mean and variance), one panel per jump ``{label: (ab_s, ab_t)}``; the title gives
    D_KL(exact || Gaussian fit)."""
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
