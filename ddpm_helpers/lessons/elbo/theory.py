r"""Notebook 05's theory beyond the bound itself: the ELBO weights through the SNR, the sum over t and its
estimators, float64 schedules, and the exact reverse step of 1-D mixture data (why the steps are small).

tests/test_theory.py checks each function against brute force or Monte Carlo. The bound itself (the
Gaussian KL, the eps form, w_t) is ``lessons.elbo.bound``. 0-indexed t as in ``core.schedules``.

Notation (symbol -> name):

    SNR(t) = \bar\alpha_t / (1 - \bar\alpha_t)    sched.snr[t]
    w_t                                          elbo_weights_snr(sched)[t - 1]  (t >= 1)
    \pi_k, m_k, v_k                              weights, means, variances of a 1-D Gaussian mixture

* ELBO weights through the SNR (the discrete-time bound of Kingma et al. 2021, "Variational
  diffusion models", written in the noise parameterisation): with \sigma_t^2 = \tilde\beta_t,
  w_t = \beta_t / (2 \alpha_t (1 - \bar\alpha_{t-1})) = 1/2 (SNR(t-1) / SNR(t) - 1).
* Sum over t = T times a uniform average (why Algorithm 1 of Ho et al. 2020 draws t ~ U):
  \sum_t L_t = T E_{t ~ U}[L_t]; importance sampling t ~ p_t with weight 1/p_t (Nichol & Dhariwal
  2021, sec. 3.3, p_t \propto \sqrt{E[L_t^2]}) estimates the same sum with less variance.
* The exact reverse step of 1-D mixture data from step t to an earlier step s (Bayes with Gaussians):
  q(x_s | x_t) \propto q(x_t | x_s) q(x_s), with q(x_t | x_s) = N(\sqrt{a} x_s, 1 - a), a = \bar\alpha_t / \bar\alpha_s,
  is again a Gaussian mixture; it is close to one Gaussian only when the jump is small.
"""
from __future__ import annotations

import math

import torch

from ...core.checks import check_int, check_number
from ...core.schedules import NoiseSchedule

__all__ = ["float64_schedule", "elbo_weights_snr", "sum_over_t_estimate", "importance_proposal",
           "mixture_marginal", "exact_reverse_step", "mixture_pdf", "gaussian_fit_kl"]


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
    \bar\alpha alone in float64. Equal to ``bound.elbo_weights(sched, "posterior")[1:]``: with
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
    check_int("n", n, 2, what="number of sampled timesteps")
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


def mixture_marginal(ab: float, weights, means, variances):
    r"""q(x_t) for 1-D data x_0 ~ \sum_k \pi_k N(m_k, v_k) after the closed-form jump with \bar\alpha_t = ``ab``:
    \sum_k \pi_k N(\sqrt{ab} m_k, ab v_k + 1 - ab). Returns ``(weights, means, variances)``, each (K,)."""
    ab = check_number("ab", ab, lo=0.0, hi=1.0, lo_open=True, what="an alpha_bar")
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
    ab_s, ab_t = (check_number(name, v, lo=0.0, hi=1.0, lo_open=True, what="an alpha_bar")
                  for name, v in (("ab_s", ab_s), ("ab_t", ab_t)))
    if not ab_t < ab_s:
        raise ValueError(f"ab_t must be smaller than ab_s (x_t is noisier than x_s), got ab_t={ab_t}, ab_s={ab_s}")
    x_t = check_number("x_t", x_t)
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
