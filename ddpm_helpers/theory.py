r"""The theory behind the loss, in closed form: what the network estimates, and why the steps are small.

Notebooks 03 and 05 call these; tests/test_theory.py checks each against brute force or Monte Carlo.
0-indexed t as in ``schedules``: x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon.

Notation (symbol -> name):

    SNR(t) = \bar\alpha_t / (1 - \bar\alpha_t)    sched.snr[t]
    w_t                                          elbo_weights_snr(sched)[t - 1]  (t >= 1)
    E[x_0 | x_t]  (Tweedie's denoiser)           optimal_x0(x_t, t, data, sched)
    E[\epsilon | x_t]                            optimal_eps(x_t, t, data, sched)
    \nabla \log q_t(x_t) = -E[\epsilon|x_t] / \sqrt{1 - \bar\alpha_t}   score_from_eps(eps, t, sched)
    \pi_k, m_k, v_k                              weights, means, variances of a 1-D Gaussian mixture

* ELBO weights through the SNR (the discrete-time bound of Kingma et al. 2021, "Variational
  diffusion models", written in the noise parameterisation): with \sigma_t^2 = \tilde\beta_t,
  w_t = \beta_t / (2 \alpha_t (1 - \bar\alpha_{t-1})) = 1/2 (SNR(t-1) / SNR(t) - 1).
* Sum over t = T times a uniform average (why Algorithm 1 of Ho et al. 2020 draws t ~ U):
  \sum_t L_t = T E_{t ~ U}[L_t]; importance sampling t ~ p_t with weight 1/p_t (Nichol & Dhariwal
  2021, sec. 3.3, p_t \propto \sqrt{E[L_t^2]}) estimates the same sum with less variance.
* The optimal denoiser of an *empirical* data set {x_0^i}_{i=1..N} (each point with mass 1/N):
  q(x_t) = 1/N \sum_i N(x_t; \sqrt{\bar\alpha_t} x_0^i, (1 - \bar\alpha_t) I), so
  E[x_0 | x_t] = \sum_i w_i(x_t) x_0^i,  w_i \propto N(x_t; \sqrt{\bar\alpha_t} x_0^i, (1 - \bar\alpha_t) I)
  (a softmax over the points), and the MSE-optimal noise prediction is E[\epsilon | x_t]. The loss
  no network can beat at step t (per coordinate, D dimensions):
  floor(t) = E ||\epsilon - E[\epsilon | x_t]||^2 / D = \bar\alpha_t / (1 - \bar\alpha_t) E[tr Cov(x_0 | x_t)] / D.
* The exact reverse step of 1-D mixture data from step t to an earlier step s (Bayes with Gaussians):
  q(x_s | x_t) \propto q(x_t | x_s) q(x_s), with q(x_t | x_s) = N(\sqrt{a} x_s, 1 - a), a = \bar\alpha_t / \bar\alpha_s,
  is again a Gaussian mixture; it is close to one Gaussian only when the jump is small.
* The moons' geometry (scikit-learn's ``make_moons``, noise-free): the outer moon is the upper half
  of the unit circle around (0, 0), the inner moon the lower half of the unit circle around (1, 0.5);
  n // 2 points on the outer one, the rest on the inner one.
"""
from __future__ import annotations

import math

import torch

from .core.checks import check_int
from .core.forward import check_timesteps
from .core.sampling import predict_noise
from .core.schedules import NoiseSchedule

__all__ = ["float64_schedule", "elbo_weights_snr", "sum_over_t_estimate", "importance_proposal",
           "optimal_x0", "optimal_eps", "score_from_eps", "loss_floor", "loss_against_floor", "denoiser_fields",
           "mixture_marginal",
           "exact_reverse_step", "mixture_pdf", "gaussian_fit_kl", "moons_arc_distances", "assign_moon",
           "moons_mass_split"]


# ----------------------------------------------------------------------------- schedules in float64
def float64_schedule(sched: NoiseSchedule) -> NoiseSchedule:
    r"""The same schedule with every quantity re-derived in float64 from ``sched.betas`` and *kept*
    in float64 (a ``NoiseSchedule`` normally stores float32). For measuring what float32 storage
    costs: \bar\alpha_{t-1} \alpha_t and \bar\alpha_t stored separately in float32 disagree by
    ~1e-8, which is large beside 1 - \bar\alpha_t ~ 2e-4 at the first steps.

    Shapes: every field (T,) float64.
    """
    b = sched.betas.detach().to("cpu", torch.float64)
    alphas = 1.0 - b
    ab = torch.cumprod(alphas, 0)
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64, device="cpu"), ab[:-1]])
    return NoiseSchedule(b, alphas, ab, ab_prev, b * (1 - ab_prev) / (1 - ab), ab / (1 - ab),
                         ab_prev.sqrt() * b / (1 - ab), alphas.sqrt() * (1 - ab_prev) / (1 - ab), sched.kind)


# ----------------------------------------------------------------------------- the ELBO's weights and its sum over t
def elbo_weights_snr(sched: NoiseSchedule) -> torch.Tensor:
    r"""w_t = 1/2 (SNR(t-1) / SNR(t) - 1) for t = 1..T-1 (sigma_t^2 = \tilde\beta_t), computed from
    \bar\alpha alone in float64. Equal to ``elbo.elbo_weights(sched, "posterior")[1:]``: with
    SNR(t-1)/SNR(t) = (1 - \bar\alpha_t) / (\alpha_t (1 - \bar\alpha_{t-1})),
    the bracket is (1 - \bar\alpha_t - \alpha_t + \bar\alpha_t) / (\alpha_t (1 - \bar\alpha_{t-1}))
    = \beta_t / (\alpha_t (1 - \bar\alpha_{t-1})). The decoder term t = 0 has no SNR(t-1) (it is
    infinite) and is not included.

    Shapes: -> (T - 1,) float64, entry i is w at t = i + 1.
    """
    if sched.T < 2:
        raise ValueError(f"sched must have T >= 2 for an SNR ratio between neighbours, got T={sched.T}")
    ab = torch.cumprod(1.0 - sched.betas.detach().to("cpu", torch.float64), 0)
    snr = ab / (1 - ab)
    return 0.5 * (snr[:-1] / snr[1:] - 1)


def importance_proposal(second_moments) -> torch.Tensor:
    r"""Nichol & Dhariwal 2021, sec. 3.3: sample t with p_t \propto \sqrt{E[L_t^2]}.

    Shapes: (T,) non-negative -> (T,) float64 summing to 1.
    """
    m = torch.as_tensor(second_moments, dtype=torch.float64, device="cpu")
    if m.ndim != 1 or m.numel() < 1 or not torch.all(torch.isfinite(m)) or torch.any(m < 0) or m.sum() <= 0:
        raise ValueError("second_moments must be a 1-D sequence of finite values >= 0, not all 0, "
                         f"got shape {tuple(m.shape)}")
    p = m.sqrt()
    return p / p.sum()


def sum_over_t_estimate(per_t, n: int, generator=None, proposal=None) -> tuple[float, float]:
    r"""Estimate S = \sum_t L_t from ``n`` random timesteps, as training does.

    Uniform (``proposal=None``): S = T E_{t ~ U}[L_t], the estimate T * mean(L_{t_i}) (Algorithm 1
    of Ho et al. 2020 draws t uniformly; its loss is S / T up to the weights). Importance sampling:
    t ~ p, S = E_{t ~ p}[L_t / p_t] (Nichol & Dhariwal 2021, eq. 18). Both are unbiased.
    Returns ``(estimate, standard_error)``.

    Shapes: per_t (T,), proposal (T,) or None -> two floats.
    """
    L = torch.as_tensor(per_t, dtype=torch.float64, device="cpu")
    if L.ndim != 1 or L.numel() < 1:
        raise ValueError(f"per_t must be a 1-D sequence (one value per timestep), got shape {tuple(L.shape)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (number of sampled timesteps), got {n!r}")
    T = L.numel()
    if proposal is None:
        t = torch.randint(0, T, (n,), generator=generator, device="cpu")
        vals = T * L[t]  # (n,)
    else:
        p = torch.as_tensor(proposal, dtype=torch.float64, device="cpu")
        if p.shape != L.shape or torch.any(p <= 0) or abs(p.sum().item() - 1) > 1e-9:
            raise ValueError(f"proposal must be ({T},) probabilities > 0 summing to 1, got shape "
                             f"{tuple(p.shape)} and sum {p.sum().item():.6g}")
        t = torch.multinomial(p, n, replacement=True, generator=generator)
        vals = L[t] / p[t]
    return vals.mean().item(), (vals.std() / math.sqrt(n)).item()


# ----------------------------------------------------------------------------- the optimal denoiser of a data set
def _check_points(x: torch.Tensor, data: torch.Tensor) -> None:
    for name, v in (("x_t", x), ("data", data)):
        if not isinstance(v, torch.Tensor) or v.ndim != 2 or v.shape[0] < 1:
            raise ValueError(f"{name} must be a (N, D) tensor with N >= 1, got {tuple(getattr(v, 'shape', ()))}")
    if x.shape[1] != data.shape[1]:
        raise ValueError(f"x_t and data must have the same dimension D, got {x.shape[1]} and {data.shape[1]}")


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
    r"""Tweedie's denoiser of the empirical data set: E[x_0 | x_t] = \sum_i w_i(x_t) x_0^i (module docstring).

    With ``return_trace=True`` also returns tr Cov(x_0 | x_t) = \sum_i w_i ||x_0^i - E[x_0|x_t]||^2.
    Computed in float64, ``chunk`` rows of x_t at a time.

    Shapes: x_t (M, D); t int or (M,); data (N, D) -> (M, D) float64 [, (M,) float64].
    """
    _check_points(x_t, data)
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
    _check_points(x_t, data)
    ab = _alpha_bar_rows(t, sched, x_t.shape[0])  # (M, 1)
    x0 = optimal_x0(x_t, t, data, sched)
    return (x_t.detach().to("cpu", torch.float64) - ab.sqrt() * x0) / (1 - ab).sqrt()


def score_from_eps(eps: torch.Tensor, t: int, sched: NoiseSchedule) -> torch.Tensor:
    r"""The score of the noisy marginal, \nabla_{x_t} \log q_t(x_t) = -E[\epsilon | x_t] / \sqrt{1 - \bar\alpha_t}
    (Tweedie's formula, Efron 2011; the link to denoising: Vincent 2011). Shapes: like eps."""
    ab = float(sched.alpha_bars[_int_t(t, sched)])
    return -eps / math.sqrt(1 - ab)


def _noised_draws(data: torch.Tensor, sched: NoiseSchedule, t: int | None, n: int, generator):
    """n draws as in training, on the CPU in float64: the data ``Y`` (N, D), indices (n,), timesteps (n,)
    (``t`` fixed, or uniform when None), noise (n, D), \bar\alpha_t (n, 1) and x_t (n, D) by the closed form."""
    check_int("n", n, 2, what="Monte Carlo draws")
    _check_points(data, data)
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
    (:func:`optimal_eps`) and the network's (``sampling.predict_noise``), for ``diagrams.plot_denoiser_fields``.

    Returns ``{"optimal (training set)": {t: (points, eps)}, "trained network": {t: (points, eps)},
    "relative_difference": {t: mean ||eps_net - eps_opt|| / mean ||eps_opt||}}``.
    Shapes: points (n_grid^2, 2), eps (n_grid^2, 2).
    """
    from .core.sampling import predict_noise

    if isinstance(n_grid, bool) or not isinstance(n_grid, int) or n_grid < 2:
        raise ValueError(f"n_grid must be an integer >= 2 (points per axis), got {n_grid!r}")
    g = torch.linspace(-lim, lim, n_grid, device="cpu")
    pts = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)  # (n_grid, n_grid, 2) -> (G, 2)
    opt, net, rel = {}, {}, {}
    for t in ts:
        e_opt = optimal_eps(pts, int(t), data, sched)
        e_net = predict_noise(model, pts, int(t)).double()
        opt[t], net[t] = (pts, e_opt), (pts, e_net)
        rel[t] = ((e_net - e_opt).norm(dim=1).mean() / e_opt.norm(dim=1).mean()).item()
    return {"optimal (training set)": opt, "trained network": net, "relative_difference": rel}


# --------------------------------------------------------------------- the exact reverse step of 1-D mixture data
def _mixture(weights, means, variances):
    w, m, v = (torch.as_tensor(a, dtype=torch.float64, device="cpu") for a in (weights, means, variances))
    if not (w.ndim == m.ndim == v.ndim == 1 and w.shape == m.shape == v.shape and w.numel() >= 1):
        raise ValueError(f"weights, means, variances must be 1-D of one length K, got shapes "
                         f"{tuple(w.shape)}, {tuple(m.shape)}, {tuple(v.shape)}")
    if torch.any(w < 0) or abs(w.sum().item() - 1) > 1e-9 or torch.any(v < 0):
        raise ValueError(f"weights must be >= 0 and sum to 1, variances >= 0; got weights {w.tolist()}, "
                         f"variances {v.tolist()}")
    return w, m, v


def _check_abar(name: str, a: float) -> float:
    if not (isinstance(a, (int, float)) and 0 < a <= 1):
        raise ValueError(f"{name} must be an alpha_bar in (0, 1], got {a!r}")
    return float(a)


def mixture_marginal(ab: float, weights, means, variances):
    r"""q(x_t) for 1-D data x_0 ~ \sum_k \pi_k N(m_k, v_k) after the closed-form jump with \bar\alpha_t = ``ab``:
    \sum_k \pi_k N(\sqrt{ab} m_k, ab v_k + 1 - ab). Returns ``(weights, means, variances)``, each (K,)."""
    ab = _check_abar("ab", ab)
    w, m, v = _mixture(weights, means, variances)
    return w, math.sqrt(ab) * m, ab * v + 1 - ab


def exact_reverse_step(x_t: float, ab_s: float, ab_t: float, weights, means, variances):
    r"""The exact reverse step q(x_s | x_t) from \bar\alpha_t = ``ab_t`` back to \bar\alpha_s = ``ab_s`` > ab_t
    for 1-D mixture data x_0 ~ \sum_k \pi_k N(m_k, v_k). With a = ab_t / ab_s and q(x_s) = \sum_k \pi_k N(M_k, V_k)
    (:func:`mixture_marginal`), Bayes component by component gives a mixture with

        weight_k \propto \pi_k N(x_t; \sqrt{a} M_k, a V_k + 1 - a),
        variance_k = 1 / (1 / V_k + a / (1 - a)),
        mean_k = variance_k (M_k / V_k + \sqrt{a} x_t / (1 - a)).

    ``ab_s = 1`` is the step back to x_0 itself. Returns ``(weights, means, variances)``, each (K,) float64.
    """
    ab_s, ab_t = _check_abar("ab_s", ab_s), _check_abar("ab_t", ab_t)
    if not ab_t < ab_s:
        raise ValueError(f"ab_t must be smaller than ab_s (x_t is noisier than x_s), got ab_t={ab_t}, ab_s={ab_s}")
    if not (isinstance(x_t, (int, float)) and math.isfinite(x_t)):
        raise ValueError(f"x_t must be a finite number, got {x_t!r}")
    pi, M, V = mixture_marginal(ab_s, weights, means, variances)
    a = ab_t / ab_s
    # 1. the component weights: how well each component explains x_t
    log_w = torch.log(pi) + torch.distributions.Normal(math.sqrt(a) * M, (a * V + 1 - a).sqrt()).log_prob(
        torch.tensor(x_t, dtype=torch.float64, device="cpu"))
    w = torch.softmax(log_w, 0)
    # 2. per component: precisions add, means are precision-weighted (V_k = 0 is a point mass)
    var = torch.where(V > 0, 1 / (1 / V.clamp(min=1e-300) + a / (1 - a)), torch.zeros_like(V))
    mean = torch.where(V > 0, var * (M / V.clamp(min=1e-300) + math.sqrt(a) * x_t / (1 - a)), M)
    return w, mean, var


def mixture_pdf(x, weights, means, variances) -> torch.Tensor:
    """Density of a 1-D Gaussian mixture (all variances > 0). Shapes: x (G,) -> (G,) float64."""
    w, m, v = _mixture(weights, means, variances)
    if torch.any(v <= 0):
        raise ValueError(f"variances must be > 0 for a density, got {v.tolist()}")
    x = torch.as_tensor(x, dtype=torch.float64, device="cpu")
    return (w * torch.distributions.Normal(m, v.sqrt()).log_prob(x[..., None]).exp()).sum(-1)


def gaussian_fit_kl(weights, means, variances, grid_points: int = 20001) -> float:
    r"""D_KL(q || N(\mu, \sigma^2)) of a 1-D mixture q against the Gaussian with q's mean and variance
    (the best single Gaussian in this direction of the KL), by quadrature on a grid. 0 when q is one Gaussian."""
    w, m, v = _mixture(weights, means, variances)
    mu = (w * m).sum()
    var = (w * (v + m**2)).sum() - mu**2
    sd = var.sqrt().item()
    grid = torch.linspace(mu.item() - 12 * sd, mu.item() + 12 * sd, grid_points, dtype=torch.float64, device="cpu")
    q = mixture_pdf(grid, w, m, v)
    log_p = torch.distributions.Normal(mu, var.sqrt()).log_prob(grid)
    integrand = torch.where(q > 0, q * (q.clamp(min=1e-300).log() - log_p), torch.zeros_like(q))
    return torch.trapezoid(integrand, grid).item()


# ----------------------------------------------------------------------------- the moons: which moon is a point on?
def moons_arc_distances(x: torch.Tensor, standardized: bool = True) -> torch.Tensor:
    r"""Distance of each point to the two noise-free moon arcs of ``make_moons`` (module docstring),
    measured in make_moons' own coordinates (``standardized=True`` first undoes ``make_moons_data``'s
    standardisation). Outer arc: |p| = 1, y >= 0; inner arc: |p - (1, 0.5)| = 1, y <= 0.5. A point whose
    angle lies outside the half circle is nearest to one of its two ends.

    Shapes: (N, 2) -> (N, 2) float64, column 0 the outer moon, column 1 the inner moon.
    """
    from .core.data import MOONS_MEAN, MOONS_STD

    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must be a (N, 2) tensor of 2-D points, got {tuple(getattr(x, 'shape', ()))}")
    p = x.detach().to("cpu", torch.float64)
    if standardized:
        p = (p * torch.tensor(MOONS_STD, dtype=torch.float64, device="cpu")
             + torch.tensor(MOONS_MEAN, dtype=torch.float64, device="cpu"))
    out = []
    for center, upper in (((0.0, 0.0), True), ((1.0, 0.5), False)):
        q = p - torch.tensor(center, dtype=torch.float64, device="cpu")
        on_side = q[:, 1] >= 0 if upper else q[:, 1] <= 0  # the angle lies within the half circle
        radial = (q.norm(dim=1) - 1).abs()
        # the arc's two ends, relative to its centre
        ends = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64, device="cpu")
        to_end = torch.cdist(q, ends).min(1).values
        out.append(torch.where(on_side, radial, to_end))
    return torch.stack(out, 1)


def assign_moon(x: torch.Tensor, standardized: bool = True) -> torch.Tensor:
    """0 for points nearer the outer (upper) moon, 1 for the inner (lower) one. Shapes: (N, 2) -> (N,) long."""
    d = moons_arc_distances(x, standardized)
    return (d[:, 1] < d[:, 0]).long()


def moons_mass_split(x: torch.Tensor, standardized: bool = True, z: float = 1.96) -> dict:
    r"""The fraction of points on the outer moon, with its binomial standard error \sqrt{p(1-p)/n} and
    the Wilson score interval at ``z`` (1.96: 95 %). The data put exactly half on each moon.

    Returns ``{"n", "outer", "se", "lo", "hi"}``.
    """
    moon = assign_moon(x, standardized)
    n = moon.numel()
    if n < 1:
        raise ValueError("x must hold at least one point")
    p = (moon == 0).double().mean().item()
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return {"n": n, "outer": p, "se": math.sqrt(p * (1 - p) / n), "lo": center - half, "hi": center + half}
