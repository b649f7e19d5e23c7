r"""Notebook 03's theory: what the network estimates, the loss no network can beat, and which moon a point is on.

tests/test_theory.py checks each function against brute force or Monte Carlo.
0-indexed t as in ``core.schedules``: x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon.

Notation (symbol -> name):

    SNR(t) = \bar\alpha_t / (1 - \bar\alpha_t)    sched.snr[t]
    E[x_0 | x_t]  (the posterior mean)           optimal_x0(x_t, t, data, sched)
    E[\epsilon | x_t]                            optimal_eps(x_t, t, data, sched)
    q_t                                          the density of x_t (the data pushed through q(x_t | x_0))
    \nabla \log q_t(x_t) = -E[\epsilon|x_t] / \sqrt{1 - \bar\alpha_t}   score_from_eps(eps, t, sched) (Tweedie)

* The optimal denoiser of an *empirical* data set {x_0^i}_{i=1..N} (each point with mass 1/N):
  q(x_t) = 1/N \sum_i N(x_t; \sqrt{\bar\alpha_t} x_0^i, (1 - \bar\alpha_t) I), so
  E[x_0 | x_t] = \sum_i w_i(x_t) x_0^i,  w_i \propto N(x_t; \sqrt{\bar\alpha_t} x_0^i, (1 - \bar\alpha_t) I)
  (a softmax over the points), and the MSE-optimal noise prediction is E[\epsilon | x_t]. The loss
  no network can beat at step t (per coordinate, D dimensions):
  floor(t) = E ||\epsilon - E[\epsilon | x_t]||^2 / D = \bar\alpha_t / (1 - \bar\alpha_t) E[tr Cov(x_0 | x_t)] / D.
* Which moon a point is on, and the mass split of a cloud of samples (notebooks 03 and 05):
  :mod:`ddpm_helpers.core.moons`.
"""
from __future__ import annotations

import math

import torch

from ...core.checks import check_int, check_point_sets
from ...core.forward import check_timesteps
from ...core.sampling import predict_noise
from ...core.schedules import NoiseSchedule

__all__ = ["optimal_x0", "optimal_eps", "score_from_eps", "loss_floor", "loss_against_floor", "denoiser_fields",
           "nearest_neighbour_distances"]


# ----------------------------------------------------------------------------- the optimal denoiser of a data set
def _posterior_weights(x_t: torch.Tensor, ab: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    r"""w_i(x_t) \propto N(x_t; \sqrt{\bar\alpha_t} x_0^i, (1 - \bar\alpha_t) I), one \bar\alpha per row.

    ||x - s y||^2 = ||x||^2 - 2 s x.y + s^2 ||y||^2 with s = \sqrt{\bar\alpha_t}, so rows at different t share
    one matrix product. Shapes: x_t (M, D), ab (M, 1), data (N, D) -> (M, N).
    """
    d2 = (x_t.pow(2).sum(1, keepdim=True) - 2 * ab.sqrt() * (x_t @ data.T)
          + ab * data.pow(2).sum(1)[None, :]).clamp(min=0)  # (M, N) squared distances
    return torch.softmax(-d2 / (2 * (1 - ab)), dim=1)


def _alpha_bar_rows(t, sched: NoiseSchedule, m: int) -> torch.Tensor:
    r"""\bar\alpha_t as an (m, 1) float64 column, for an int t or an (m,) tensor of timesteps."""
    abars = sched.alpha_bars.detach().to("cpu", torch.float64)
    if isinstance(t, int) and not isinstance(t, bool):
        return abars[_int_t(t, sched)].expand(m).reshape(m, 1)
    tt = check_timesteps(t, sched.T, m)
    return abars[tt.cpu()].expand(m).reshape(m, 1)


def _int_t(t, sched: NoiseSchedule) -> int:
    """A validated int timestep (validated by ``check_timesteps``, but read from the Python int)."""
    check_timesteps(t, sched.T)
    return int(t) if isinstance(t, int) else int(t.item())


def optimal_x0(x_t: torch.Tensor, t, data: torch.Tensor, sched: NoiseSchedule, chunk: int = 1024,
               return_trace: bool = False):
    r"""The posterior mean of the empirical data set: E[x_0 | x_t] = \sum_i w_i(x_t) x_0^i (module docstring),
    the MSE-optimal denoiser.

    With ``return_trace=True`` also returns tr Cov(x_0 | x_t) = \sum_i w_i ||x_0^i - E[x_0|x_t]||^2.
    Computed in float64, ``chunk`` rows of x_t at a time.

    Shapes: x_t (M, D); t int or (M,); data (N, D) -> (M, D) float64 [, (M,) float64].
    """
    check_point_sets(x_t, data, ("x_t", "data"), min_points=1)
    X, Y = x_t.detach().to("cpu", torch.float64), data.detach().to("cpu", torch.float64)
    ab = _alpha_bar_rows(t, sched, X.shape[0])  # (M, 1)
    means, traces = [], []
    for lo in range(0, X.shape[0], chunk):
        w = _posterior_weights(X[lo:lo + chunk], ab[lo:lo + chunk], Y)  # (m, N)
        m = w @ Y  # (m, N) @ (N, D) -> (m, D)
        means.append(m)
        if return_trace:
            traces.append((w * torch.cdist(m, Y).pow(2)).sum(1))  # (m,)
    mean = torch.cat(means)
    return (mean, torch.cat(traces)) if return_trace else mean


def optimal_eps(x_t: torch.Tensor, t, data: torch.Tensor, sched: NoiseSchedule) -> torch.Tensor:
    r"""E[\epsilon | x_t] = (x_t - \sqrt{\bar\alpha_t} E[x_0 | x_t]) / \sqrt{1 - \bar\alpha_t}: the noise
    prediction that minimises L_simple at step t on this data set. Shapes: x_t (M, D); t int or (M,) -> (M, D) float64.
    """
    check_point_sets(x_t, data, ("x_t", "data"), min_points=1)
    ab = _alpha_bar_rows(t, sched, x_t.shape[0])  # (M, 1)
    x0 = optimal_x0(x_t, t, data, sched)
    return (x_t.detach().to("cpu", torch.float64) - ab.sqrt() * x0) / (1 - ab).sqrt()


def score_from_eps(eps: torch.Tensor, t: int, sched: NoiseSchedule) -> torch.Tensor:
    r"""The score of the noisy marginal q_t, \nabla_{x_t} \log q_t(x_t) = -E[\epsilon | x_t] / \sqrt{1 - \bar\alpha_t}.

    Tweedie's formula (Efron 2011), E[x_0|x_t] = (x_t + (1 - \bar\alpha_t) \nabla \log q_t(x_t)) / \sqrt{\bar\alpha_t},
    with E[x_0 | x_t] = (x_t - \sqrt{1 - \bar\alpha_t} E[\epsilon | x_t]) / \sqrt{\bar\alpha_t} (linearity of the
    expectation) gives it (the link to denoising: Vincent 2011). Shapes: like eps."""
    ab = float(sched.alpha_bars[_int_t(t, sched)])
    return -eps / math.sqrt(1 - ab)


def _noised_draws(data: torch.Tensor, sched: NoiseSchedule, t: int | None, n: int, generator):
    """n draws as in training, on the CPU in float64: the data ``Y`` (N, D), indices (n,), timesteps (n,)
    (``t`` fixed, or uniform when None), noise (n, D), \bar\alpha_t (n, 1) and x_t (n, D) by the closed form."""
    check_int("n", n, 2, what="Monte Carlo draws")
    check_point_sets(data, data, ("data", "data"), min_points=1)
    Y = data.detach().to("cpu", torch.float64)
    N, D = Y.shape
    idx = torch.randint(0, N, (n,), generator=generator, device="cpu")
    ts = (torch.randint(0, sched.T, (n,), generator=generator, device="cpu") if t is None
          else torch.full((n,), _int_t(t, sched), dtype=torch.long, device="cpu"))
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
