r"""Notebook 07's 2-D theory: the exact guided score of labelled moons, the tilted target it is said to
sample, and the guidance sweep (mass on the class, distance from the data) for the exact and a trained model.

tests/test_guidance_2d.py checks the formulas (finite differences of the log-density, the s = 0 / s = 1 limits)
and the trained MLP against the exact score. 0-indexed t as in ``core.schedules``.

Notation (symbol -> name):

    q_t(x), q_t(x | c), q_t(c | x)     ``core.ideal``: log_q_t, class_posterior (the noised training set)
    \epsilon(x, c), \epsilon(x, null)  ``core.ideal.IdealDenoiser(data, sched, labels)(x, t, y)``
    s                                   the guidance scale (0: unconditional, 1: conditional)
    \tilde\epsilon = \epsilon(x, null) + s (\epsilon(x, c) - \epsilon(x, null))   exact_guided_eps
    \log q_t(x) + s \log q_t(c | x)     guided_log_density (the guided score is its gradient)
    p_0(x) p_0(c | x)^s / Z            tilted_target (importance-reweighted training points)

* Bayes: \nabla \log q_t(x | c) = \nabla \log q_t(x) + \nabla \log q_t(c | x), and with
  score = -\epsilon / \sqrt{1 - \bar\alpha_t}:
  -\tilde\epsilon / \sqrt{1 - \bar\alpha_t} = \nabla [(1 - s) \log q_t(x) + s \log q_t(x | c)]
                                            = \nabla [\log q_t(x) + s \log q_t(c | x)].
* The family q_t(x) q_t(c | x)^s / Z_t is NOT the forward-noised p_0(x) p_0(c | x)^s for s \notin \{0, 1\}: noising
  (a convolution) does not commute with raising a factor to a power, so a sampler following the guided score
  does not sample the tilted target; :func:`guidance_sweep` measures the gap (MMD to the tilted target).
"""
from __future__ import annotations

import math

import torch

from ...core.checks import check_int, check_number, check_point_sets
from ...core.forward import q_sample
from ...core.guidance import Guided, guided_eps
from ...core.ideal import class_posterior, log_q_t, optimal_eps
from ...core.metrics import mmd_rbf
from ...core.moons import assign_moon, moons_arc_distances, off_moons_fraction
from ...core.sampling import ddim_sample
from ...core.schedules import NoiseSchedule
from ...core.stats import wilson_interval

__all__ = ["MOON_NAMES", "exact_guided_eps", "guided_log_density", "tilted_target", "tilt_then_noise", "eps_agreement",
           "sample_guided", "guidance_sweep"]

MOON_NAMES = ("outer moon", "inner moon")  # make_moons' labels 0 and 1 (core.data.make_moons_data(return_labels=True))


def _class_points(data: torch.Tensor, labels: torch.Tensor, c: int) -> torch.Tensor:
    check_point_sets(data, data, ("data", "data"), min_points=1)
    if not isinstance(labels, torch.Tensor) or tuple(labels.shape) != (data.shape[0],):
        raise ValueError(f"labels must be a ({data.shape[0]},) tensor, one class per point, got "
                         f"{tuple(getattr(labels, 'shape', ()))}")
    pts = data[labels.to(data.device) == c]
    if isinstance(c, bool) or not isinstance(c, int) or pts.shape[0] == 0:
        raise ValueError(f"c must be a class that has points, one of {sorted(set(labels.tolist()))}, got {c!r}")
    return pts


def exact_guided_eps(x_t: torch.Tensor, t, data: torch.Tensor, labels: torch.Tensor, c: int, s: float,
                     sched: NoiseSchedule) -> torch.Tensor:
    r"""The guided noise prediction of the ideal denoiser of a labelled data set, in closed form:
    \tilde\epsilon = \epsilon_u + s (\epsilon_c - \epsilon_u), with \epsilon_c = E[\epsilon | x_t] over the points of
    class c and \epsilon_u over all points (``core.ideal.optimal_eps``).
    Shapes: x_t (M, D); t int or (M,) -> (M, D) float64."""
    check_number("s", s, lo=0)
    eps_c = optimal_eps(x_t, t, _class_points(data, labels, c), sched)
    eps_u = optimal_eps(x_t, t, data, sched)
    return guided_eps(eps_c, eps_u, s)


def guided_log_density(x_t: torch.Tensor, t: int, data: torch.Tensor, labels: torch.Tensor, c: int, s: float,
                       sched: NoiseSchedule) -> torch.Tensor:
    r"""(1 - s) \log q_t(x_t) + s \log q_t(x_t | c) = \log q_t(x_t) + s \log q_t(c | x_t) + const: the log of the
    unnormalised density q_t(x) q_t(c | x)^s whose gradient the guided score is. Shapes: x_t (M, D) -> (M,) float64."""
    check_number("s", s, lo=0)
    return (1 - s) * log_q_t(x_t, t, data, sched) + s * log_q_t(x_t, t, _class_points(data, labels, c), sched)


def tilted_target(data: torch.Tensor, labels: torch.Tensor, c: int, s: float, sched: NoiseSchedule, n: int,
                  generator: torch.Generator | None = None, t: int = 0) -> dict:
    r"""Draws from the tilted target p_0(x) p_0(c | x)^s / Z, computed directly: the training points (each
    with mass 1/N under p_0) reweighted by p_0(c | x_i)^s, with p_0(c | x) = q_t(c | x) of the training set
    at step ``t`` (0: the data itself, a noise std of \sqrt{1 - \bar\alpha_0}), then ``n`` draws with
    replacement. Returns ``{"samples" (n, D) float32, "weights" (N,) float64, "ess"}``; ``ess`` =
    1 / \sum w_i^2, the effective number of distinct points the target rests on."""
    check_number("s", s, lo=0)
    check_int("n", n, 1)
    num_classes = int(labels.max()) + 1
    _class_points(data, labels, c)
    post = class_posterior(data, t, data, labels, num_classes, sched)[:, c]  # (N,)
    logw = s * post.clamp(min=1e-300).log()  # p_0(c|x)^s with p_0(x_i) = 1/N
    w = torch.softmax(logw, 0)
    idx = torch.multinomial(w, n, replacement=True, generator=generator)
    return {"samples": data[idx].float(), "weights": w, "ess": (1 / w.pow(2).sum()).item()}


def tilt_then_noise(data: torch.Tensor, labels: torch.Tensor, c: int, s: float, t: int, sched: NoiseSchedule,
                    lim: float = 2.5, n_grid: int = 121) -> dict:
    r"""The two densities at step t that guidance would need to be equal, on an ``n_grid``^2 grid over
    [-lim, lim]^2 (each normalised to sum to 1 over the grid):

    * ``guided``: q_t(x) q_t(c | x)^s, the density whose score the guided sampler follows at step t;
    * ``noised``: the tilted target p_0(x) p_0(c | x)^s (:func:`tilted_target`'s weights) pushed through
      q(x_t | x_0), i.e. the mixture of N(\sqrt{\bar\alpha_t} x_0^i, (1 - \bar\alpha_t) I) with those weights.

    Returns ``{"x", "y" (n_grid,), "guided", "noised" (n_grid, n_grid) float64, "tv"}``; ``tv`` is the total
    variation distance 1/2 \sum |guided - noised| on the grid (0 for s = 0 and s = 1 up to rounding)."""
    check_int("n_grid", n_grid, 2)
    g = torch.linspace(-lim, lim, n_grid, dtype=torch.float64, device="cpu")
    pts = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)  # (n, n, 2) -> (n^2, 2)
    log_guided = guided_log_density(pts, t, data, labels, c, s, sched)
    w = tilted_target(data, labels, c, s, sched, 1, torch.Generator(device="cpu"))["weights"]  # (N,) point masses
    keep = w > 0
    ab = float(sched.alpha_bars.detach().to("cpu", torch.float64)[t])
    Y = data.detach().to("cpu", torch.float64)[keep]
    d2 = torch.cdist(pts, math.sqrt(ab) * Y).pow(2)  # (n^2, N') squared distances to the scaled points
    log_noised = torch.logsumexp(-d2 / (2 * (1 - ab)) + w[keep].log()[None, :], dim=1)
    guided = torch.softmax(log_guided, 0).reshape(n_grid, n_grid)
    noised = torch.softmax(log_noised, 0).reshape(n_grid, n_grid)
    return {"x": g, "y": g, "guided": guided, "noised": noised, "tv": 0.5 * (guided - noised).abs().sum().item()}


def eps_agreement(model, ideal, data: torch.Tensor, labels: torch.Tensor, sched: NoiseSchedule, ts=(50, 300, 600),
                  n: int = 2000, generator: torch.Generator | None = None) -> dict:
    r"""How close a conditional network's noise prediction is to the exact one, per step t and label y
    (each class, and the null label K = all points): mean ||\epsilon_\theta(x_t, t, y) - \epsilon^*(x_t, t, y)|| over
    mean ||\epsilon^*(x_t, t, y)||, at ``n`` points x_t ~ q_t(x | y) (the training points of label y, noised).
    Returns ``{(t, y): relative error}``."""
    check_int("n", n, 1)
    k = ideal.config.num_classes
    out = {}
    for t in ts:
        for y in range(k + 1):
            pts = data if y == k else _class_points(data, labels, y)
            idx = torch.randint(0, pts.shape[0], (n,), generator=generator, device="cpu")
            x_t, _ = q_sample(pts[idx], int(t), sched, torch.randn(n, pts.shape[1], generator=generator, device="cpu"))
            tt, yy = torch.full((n,), int(t), device="cpu"), torch.full((n,), y, device="cpu")
            with torch.no_grad():
                e_net, e_star = model(x_t, tt, yy).double(), ideal(x_t, tt, yy).double()
            out[(int(t), y)] = ((e_net - e_star).norm(dim=1).mean() / e_star.norm(dim=1).mean()).item()
    return out


def sample_guided(model, sched: NoiseSchedule, c: int, s: float, n: int, steps: int = 100,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    r"""``n`` samples of class ``c`` at guidance scale ``s``: ``Guided(model, c, s)`` through the series' DDIM
    sampler with \eta = 1 (ancestral sampling on ``steps`` respaced timesteps). ``model``: a class-conditional
    TimeMLP or ``core.ideal.IdealDenoiser``. Shapes: -> (n, 2) float32."""
    check_int("n", n, 1)
    x_T = torch.randn((n, 2), generator=generator, device="cpu")
    return ddim_sample(Guided(model, c, s), sched, x_T, steps=steps, eta=1.0, generator=generator).x0


def guidance_sweep(models: dict, data: torch.Tensor, labels: torch.Tensor, sched: NoiseSchedule, c: int,
                   scales=(0, 1, 2, 4, 8), n: int = 1000, steps: int = 100, seed: int = 0) -> dict:
    r"""For each model (``{"name": model}``) and each scale s in ``scales``: ``n`` guided samples of class ``c``
    (:func:`sample_guided`, the same starting noise for every model and scale) and what they measure:

    * ``mass``: the share on moon c (``core.moons.assign_moon``) with its 95 % Wilson interval ``mass_lo/hi``
      (``core.tradeoff.wilson_interval``);
    * ``off``: the share farther than 0.2 from both moon arcs (``core.moons.off_moons_fraction``) with its interval;
    * ``nn``: the mean distance to the nearest training point, with its standard error ``nn_se``;
    * ``arc``: the median distance to the nearer moon arc (make_moons units), the cloud's width, with its
      distribution-free 95 % interval ``arc_lo/hi`` (order statistics n/2 -+ 0.98 sqrt(n)): a width that falls
      as s grows is a cloud getting sharper, less diverse;
    * ``mmd``: MMD^2 to n draws of the tilted target p_0(x) p_0(c|x)^s (:func:`tilted_target`), beside
      ``mmd_floor``: MMD^2 between two independent draws of that target (what n points alone give).

    Returns ``{"rows": [dict per (model, s)], "samples": {(name, s): (n, 2)}, "targets": {s: (n, 2)}}``.
    """
    check_int("n", n, 2)
    rows, samples, targets = [], {}, {}
    Y = data.detach().to("cpu", torch.float32)
    for s in scales:
        g = torch.Generator(device="cpu").manual_seed(seed + 1)
        tgt = tilted_target(Y, labels, c, s, sched, 2 * n, generator=g)["samples"]
        targets[s], floor = tgt[:n], mmd_rbf(tgt[:n], tgt[n:])
        for name, model in models.items():
            x = sample_guided(model, sched, c, s, n, steps, torch.Generator(device="cpu").manual_seed(seed))
            samples[(name, s)] = x
            k_mass = int((assign_moon(x) == c).sum())
            k_off = round(off_moons_fraction(x) * n)
            d = torch.cdist(x.double(), Y.double()).min(1).values  # (n,) distance to the nearest training point
            a = moons_arc_distances(x).min(1).values  # (n, 2) -> (n,) distance to the nearer arc
            mass_ci, off_ci = wilson_interval(k_mass, n), wilson_interval(k_off, n)  # 95 %
            a_sorted, r = a.sort().values, 0.98 * math.sqrt(n)  # the median's rank is Binomial(n, 1/2): sd sqrt(n)/2
            rows.append({"model": name, "s": s, "n": n,
                         "mass": k_mass / n, "mass_lo": mass_ci[0], "mass_hi": mass_ci[1],
                         "off": k_off / n, "off_lo": off_ci[0], "off_hi": off_ci[1],
                         "nn": d.mean().item(), "nn_se": (d.std() / math.sqrt(n)).item(),
                         "arc": a.median().item(), "arc_lo": a_sorted[max(0, math.floor(n / 2 - r))].item(),
                         "arc_hi": a_sorted[min(n - 1, math.ceil(n / 2 + r))].item(),
                         "mmd": mmd_rbf(x, tgt[:n]), "mmd_floor": floor})
    return {"rows": rows, "samples": samples, "targets": targets}

