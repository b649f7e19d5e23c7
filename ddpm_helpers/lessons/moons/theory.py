r"""Notebook 03's theory: the loss no network can beat, the learned denoiser beside the optimal one, spacings.

tests/test_theory.py checks each function against brute force or Monte Carlo.
0-indexed t as in ``core.schedules``: x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon.

Notation (symbol -> name):

    SNR(t) = \bar\alpha_t / (1 - \bar\alpha_t)    sched.snr[t]
    E[x_0 | x_t], E[\epsilon | x_t]               ``core.ideal``: optimal_x0, optimal_eps (the optimal denoiser of
                                                  an empirical data set, in closed form; score_from_eps: Tweedie)

* The loss no network trained on the data set {x_0^i} can beat at step t (per coordinate, D dimensions):
  floor(t) = E ||\epsilon - E[\epsilon | x_t]||^2 / D = \bar\alpha_t / (1 - \bar\alpha_t) E[tr Cov(x_0 | x_t)] / D.
* Which moon a point is on, and the mass split of a cloud of samples (notebooks 03 and 05):
  :mod:`ddpm_helpers.core.moons`.
"""
from __future__ import annotations

import math

import torch

from ...core.checks import check_int, check_point_sets, check_timesteps
from ...core.ideal import optimal_eps, optimal_x0
from ...core.sampling import predict_noise
from ...core.schedules import NoiseSchedule

__all__ = ["loss_floor", "loss_against_floor", "denoiser_fields", "nearest_neighbour_distances"]


# ----------------------------------------------------------------------------- the loss floor
def _noised_draws(data: torch.Tensor, sched: NoiseSchedule, t: int | None, n: int, generator):
    """n draws as in training, on the CPU in float64: the data ``Y`` (N, D), indices (n,), timesteps (n,)
    (``t`` fixed, or uniform when None), noise (n, D), \bar\alpha_t (n, 1) and x_t (n, D) by the closed form."""
    check_int("n", n, 2, what="Monte Carlo draws")
    check_point_sets(data, data, ("data", "data"), min_points=1)
    Y = data.detach().to("cpu", torch.float64)
    N, D = Y.shape
    idx = torch.randint(0, N, (n,), generator=generator, device="cpu")
    ts = (torch.randint(0, sched.T, (n,), generator=generator, device="cpu") if t is None
          else torch.full((n,), int(check_timesteps(t, sched.T)), dtype=torch.long, device="cpu"))
    eps = torch.randn(n, D, generator=generator, dtype=torch.float64, device="cpu")
    ab = sched.alpha_bars.detach().to("cpu", torch.float64)[ts][:, None]  # (n,) -> (n, 1)
    return Y, idx, ts, eps, ab, ab.sqrt() * Y[idx] + (1 - ab).sqrt() * eps


def loss_floor(data: torch.Tensor, sched: NoiseSchedule, t: int | None = None, n: int = 2000, generator=None,
               method: str = "posterior") -> tuple[float, float]:
    r"""The L_simple value (per coordinate) of the optimal denoiser of ``data``: no network trained on
    this data set can reach a lower expected loss. Monte Carlo over x_0 ~ data (uniform), \epsilon, and
    t (fixed, or uniform over 0..T-1 when ``t=None``), ``n`` draws. ``method``:

    * "direct": the average of ||\epsilon - E[\epsilon | x_t]||^2 / D, the loss itself;
    * "posterior": the average of \bar\alpha_t / (1 - \bar\alpha_t) tr Cov(x_0 | x_t) / D, the same
      expectation with the inner average over x_0 done exactly (lower variance).

    Returns ``(mean, standard_error)``. Shapes: data (N, D) -> two floats.
    """
    if method not in ("direct", "posterior"):
        raise ValueError(f"method must be 'direct' or 'posterior', got {method!r}")
    # 1. x_0 from the data set, t fixed or uniform, eps ~ N(0, I), x_t by the closed form
    Y, _, ts, eps, ab, x_t = _noised_draws(data, sched, t, n, generator)
    D = Y.shape[1]
    # 2. the optimal prediction's error (all timesteps in one pass)
    x0_hat, trace = optimal_x0(x_t, ts, Y, sched, return_trace=True)
    if method == "direct":
        eps_hat = (x_t - ab.sqrt() * x0_hat) / (1 - ab).sqrt()
        vals = (eps - eps_hat).pow(2).sum(1) / D
    else:
        vals = ab[:, 0] / (1 - ab[:, 0]) * trace / D
    return vals.mean().item(), (vals.std() / math.sqrt(n)).item()


def loss_against_floor(model, data: torch.Tensor, sched: NoiseSchedule, t: int | None = None, n: int = 2000,
                       generator=None) -> dict:
    r"""A trained noise predictor's L_simple (per coordinate) and the floor of the optimal denoiser of
    ``data``, on the *same* draws of (x_0 ~ data, t, \epsilon), so that their difference is paired:

        model: ||\epsilon - \hat\epsilon_\theta(x_t, t)||^2 / D,   floor: ||\epsilon - E[\epsilon | x_t]||^2 / D.

    ``t`` fixed, or uniform over 0..T-1 (as in training) when None. The model is called through
    ``sampling.predict_noise`` (on its own device). Returns ``{"model", "model_se", "floor", "floor_se",
    "gap", "gap_se"}`` (means and standard errors over the n draws).
    """
    # 1. the draws, as in training
    Y, _, ts, eps, ab, x_t = _noised_draws(data, sched, t, n, generator)
    D = Y.shape[1]
    # 2. the network's prediction and the optimal one
    eps_model = predict_noise(model, x_t.float(), ts).double()
    eps_opt = optimal_eps(x_t, ts, Y, sched)
    # 3. the two losses per draw and their paired difference
    m = (eps - eps_model).pow(2).sum(1) / D
    f = (eps - eps_opt).pow(2).sum(1) / D
    out = {}
    for name, v in (("model", m), ("floor", f), ("gap", m - f)):
        out[name], out[name + "_se"] = v.mean().item(), (v.std() / math.sqrt(n)).item()
    return out


def denoiser_fields(model, data: torch.Tensor, sched: NoiseSchedule, ts, lim: float = 3.0, n_grid: int = 15) -> dict:
    r"""\hat\epsilon on a square grid of points, at each t in ``ts``: the optimal one of ``data``
    (:func:`optimal_eps`) and the network's (``core.sampling.predict_noise``), for ``plot_denoiser_fields``
    (``lessons.moons.figures``).

    Returns ``{"optimal (training set)": {t: (points, eps)}, "trained network": {t: (points, eps)},
    "relative_difference": {t: mean ||eps_net - eps_opt|| / mean ||eps_opt||},
    "direction_cosine": {t: mean cos(angle(eps_net, eps_opt))}}``: the cosine says whether the arrows point
    the same way (1: everywhere), the relative difference also weighs their lengths.
    Shapes: points (n_grid^2, 2), eps (n_grid^2, 2).
    """
    check_int("n_grid", n_grid, 2, what="points per axis")
    g = torch.linspace(-lim, lim, n_grid, device="cpu")
    pts = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)  # (n_grid, n_grid, 2) -> (G, 2)
    opt, net, rel, cos = {}, {}, {}, {}
    for t in ts:
        e_opt = optimal_eps(pts, int(t), data, sched)
        e_net = predict_noise(model, pts, int(t)).double()
        opt[t], net[t] = (pts, e_opt), (pts, e_net)
        rel[t] = ((e_net - e_opt).norm(dim=1).mean() / e_opt.norm(dim=1).mean()).item()
        cos[t] = torch.nn.functional.cosine_similarity(e_net, e_opt, dim=1).mean().item()
    return {"optimal (training set)": opt, "trained network": net, "relative_difference": rel,
            "direction_cosine": cos}


def nearest_neighbour_distances(points: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """The distance from each point to its nearest OTHER point of the set: the spacing of a training set,
    the length below which its optimal denoiser can tell the points apart. Computed in float64, ``chunk``
    rows at a time. Shapes: (N, D) with N >= 2 -> (N,) float64."""
    check_point_sets(points, points, ("points", "points"), min_points=2)
    P = points.detach().to("cpu", torch.float64)
    out = [torch.cdist(P[lo:lo + chunk], P).topk(2, dim=1, largest=False).values[:, 1]  # [:, 0] is the point itself
           for lo in range(0, P.shape[0], chunk)]
    return torch.cat(out)
