r"""Notebook 05's bound: from the variational bound (ELBO) to the mean-squared error on the noise.

Ho et al. 2020, eq. 5 (paper's 1-indexed t) writes the negative ELBO as

    L = E_q[ D_KL(q(x_T | x_0) || p(x_T))                                  (L_T: no parameters)
           + sum_{t>1} D_KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t))   (L_{t-1})
           - log p_theta(x_0 | x_1) ]                                        (L_0: the decoder)

and, with p_theta(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I) and the noise
parameterisation of mu_theta (eq. 11), each L_{t-1} becomes a weighted MSE (eq. 12):

    L_{t-1} - C = E[ w_t || eps - eps_theta(x_t, t) ||^2 ],
    w_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - \bar\alpha_t)).

Dropping w_t gives L_simple (eq. 14). This module holds each step as a pure function so that
notebook 05 and the tests can check it numerically.

Index convention: 0-indexed t as in ``core.schedules`` (the paper's t is our t + 1). Our ``t >= 1``
are the paper's L_{t-1} terms (t > 1); our ``t = 0`` is the paper's t = 1, the decoder L_0.

Notation (symbol -> name):

    \mu_1, \sigma_1^2 / \mu_2, \sigma_2^2   mean1, var1 / mean2, var2 of two Gaussians
    \tilde\mu_t(x_t, x_0)                  q_posterior(x0, x_t, t, sched)[0]
    \mu_\theta(x_t, t)                     posterior_mean_from_eps(x_t, eps, t, sched)
    \sigma_t^2                             reverse_variances(sched, variance)[t]
    w_t                                    elbo_weights(sched, variance)[t]

The t = 0 term. With a Gaussian decoder p_theta(x_0 | x_1) = N(mu_theta(x_1, 1), sigma_1^2 I)
(paper's index), -log p_theta(x_0 | x_1) = ||x_0 - mu_theta||^2 / (2 sigma_1^2) + C, and since
\bar\alpha_1 = alpha_1 this is *the same formula* w_t || eps - eps_theta ||^2 at our t = 0. The
posterior variance \tilde\beta is 0 there (x_0 is known exactly), so for ``variance="posterior"``
we use the clipped value \tilde\beta at our t = 1 in its place, as improved-diffusion's
``posterior_log_variance_clipped`` does (Nichol & Dhariwal 2021). Ho et al. use a discrete
decoder for 8-bit pixels instead; for 2-D points a Gaussian decoder is the natural choice.
"""
from __future__ import annotations

import math

import torch

from ...core.checks import check_int, check_number, check_timesteps
from ...core.forward import extract
from ...core.reverse import q_posterior
from ...core.schedules import NoiseSchedule

__all__ = ["gaussian_kl", "gaussian_kl_monte_carlo", "posterior_factor_variances", "posterior_on_grid",
           "posterior_mean_from_eps", "reverse_variances", "elbo_weights", "elbo_loss_weights", "kl_term"]


def _as_tensor(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64, device="cpu")  # the maths of notebook 05 runs on the CPU


def _check_variances(**named) -> None:
    for name, v in named.items():
        if not torch.all(torch.isfinite(v)) or not torch.all(v > 0):
            raise ValueError(f"{name} must be a positive, finite variance, got {v.flatten()[:4].tolist()}")


# ----------------------------------------------------------------------------- Gaussian KL
def gaussian_kl(mean1, var1, mean2, var2) -> torch.Tensor:
    r"""KL divergence between two (diagonal) Gaussians, element by element:

        D_KL(N(\mu_1, \sigma_1^2) || N(\mu_2, \sigma_2^2))
            = 1/2 [ log(\sigma_2^2 / \sigma_1^2) + (\sigma_1^2 + (\mu_1 - \mu_2)^2) / \sigma_2^2 - 1 ].

    With equal variances \sigma^2 it is (\mu_1 - \mu_2)^2 / (2 \sigma^2): a squared error.
    (Ho et al. 2020, sec. 3.2; e.g. Bishop, PRML, exercise 1.30.) Computed in float64.

    Shapes: all four arguments broadcast together -> their broadcast shape.
    """
    m1, v1, m2, v2 = (_as_tensor(a) for a in (mean1, var1, mean2, var2))
    _check_variances(var1=v1, var2=v2)
    return 0.5 * (torch.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1.0)


def gaussian_kl_monte_carlo(mean1, var1, mean2, var2, n: int = 100_000, generator=None):
    r"""Monte Carlo estimate of the same KL: D_KL(q || p) = E_{x ~ q}[log q(x) - log p(x)].

    Draws ``n`` samples of x ~ N(mean1, var1) and averages the log-density ratio with
    ``torch.distributions.Normal``. Returns ``(estimate, standard_error)``.

    Shapes: scalars (or 0-d tensors) -> two floats.
    """
    check_int("n", n, 2, what="number of Monte Carlo draws")
    m1, v1, m2, v2 = (_as_tensor(a) for a in (mean1, var1, mean2, var2))
    _check_variances(var1=v1, var2=v2)
    if any(a.numel() != 1 for a in (m1, v1, m2, v2)):
        raise ValueError("gaussian_kl_monte_carlo takes scalar means and variances (one 1-D Gaussian each)")
    q = torch.distributions.Normal(m1, v1.sqrt())
    p = torch.distributions.Normal(m2, v2.sqrt())
    # 1. x ~ q, drawn from the generator so a seed reproduces the estimate
    x = m1 + v1.sqrt() * torch.randn(n, generator=generator, dtype=torch.float64, device="cpu")
    # 2. the log-density ratio, averaged
    r = q.log_prob(x) - p.log_prob(x)  # (n,)
    return r.mean().item(), (r.std() / math.sqrt(n)).item()


# ----------------------------------------------------------------------------- the posterior by Bayes
def posterior_factor_variances(t: int, sched: NoiseSchedule) -> dict:
    r"""The variances of the two factors whose product is q(x_{t-1} | x_t, x_0), both as densities of x_{t-1}:

        prior       q(x_{t-1} | x_0):  1 - \bar\alpha_{t-1},
        likelihood  q(x_t | x_{t-1}):  beta_t / alpha_t,

    and ``ratio`` = prior / likelihood (near 1: equally sharp; large: the likelihood is sharper and the
    posterior follows it). ``t >= 1``. Returns ``{"prior", "likelihood", "ratio"}`` (floats, from the float64
    cast of the stored schedule).
    """
    t = int(check_timesteps(t, sched.T))
    if t < 1:
        raise ValueError(f"t must be >= 1 for the posterior q(x_(t-1) | x_t, x_0) (x_(t-1) is x_0 at t=0), got {t}")
    prior = 1 - sched.alpha_bars_prev[t].double().item()
    like = (sched.betas[t].double() / sched.alphas[t].double()).item()
    return {"prior": prior, "likelihood": like, "ratio": prior / like}


def posterior_on_grid(x0: float, x_t: float, t: int, sched: NoiseSchedule, grid=None):
    r"""q(x_{t-1} | x_t, x_0) for 1-D data by brute-force Bayes on a grid of x_{t-1} values:

        q(x_{t-1} | x_t, x_0) \propto q(x_t | x_{t-1}) q(x_{t-1} | x_0)
                                = N(x_t; \sqrt{alpha_t} x_{t-1}, beta_t)
                                  N(x_{t-1}; \sqrt{\bar\alpha_{t-1}} x_0, 1 - \bar\alpha_{t-1}),

    normalised numerically (the Markov property makes q(x_t | x_{t-1}, x_0) = q(x_t | x_{t-1})).
    No formula for the answer is used: compare the result with :func:`ddpm_helpers.q_posterior`.
    ``t`` must be >= 1 (at t = 0, x_{t-1} is x_0 itself). ``grid`` defaults to 4001 points
    covering both factors to 8 standard deviations.

    Returns a dict: ``grid`` (G,), ``density`` (G,) integrating to 1, ``mean`` and ``variance``
    (floats, moments of the normalised density). Computed in float64.
    """
    t = int(check_timesteps(t, sched.T))
    if t < 1:
        raise ValueError(f"t must be >= 1 for the posterior q(x_(t-1) | x_t, x_0) (x_(t-1) is x_0 at t=0), got {t}")
    x0, x_t = check_number("x0", x0, what="1-D data"), check_number("x_t", x_t, what="1-D data")
    beta = sched.betas[t].double()
    alpha = sched.alphas[t].double()
    ab_prev = sched.alpha_bars_prev[t].double()
    # 1. the prior q(x_{t-1} | x_0) and the likelihood q(x_t | x_{t-1}) as functions of x_{t-1}
    prior_m, prior_v = ab_prev.sqrt() * x0, 1 - ab_prev
    like_m, like_v = x_t / alpha.sqrt(), beta / alpha  # the likelihood, read as a density in x_{t-1}
    if grid is None:
        lo = min(prior_m - 8 * prior_v.sqrt(), like_m - 8 * like_v.sqrt())
        hi = max(prior_m + 8 * prior_v.sqrt(), like_m + 8 * like_v.sqrt())
        grid = torch.linspace(float(lo), float(hi), 4001, dtype=torch.float64, device="cpu")
    grid = _as_tensor(grid)
    if grid.ndim != 1 or grid.numel() < 3:
        raise ValueError(f"grid must be a 1-D sequence of at least 3 points, got shape {tuple(grid.shape)}")
    log_prior = torch.distributions.Normal(prior_m, prior_v.sqrt()).log_prob(grid)
    log_like = torch.distributions.Normal(alpha.sqrt() * grid, beta.sqrt()).log_prob(_as_tensor(x_t))
    # 2. multiply (add logs), subtract the max for stability, normalise with the trapezoid rule
    log_post = log_prior + log_like
    dens = torch.exp(log_post - log_post.max())
    dens = dens / torch.trapezoid(dens, grid)
    # 3. the first two moments of the normalised density
    mean = torch.trapezoid(grid * dens, grid)
    var = torch.trapezoid((grid - mean) ** 2 * dens, grid)
    return {"grid": grid, "density": dens, "mean": mean.item(), "variance": var.item()}


# ----------------------------------------------------------------------------- the eps form
def posterior_mean_from_eps(x_t: torch.Tensor, eps: torch.Tensor, t, sched: NoiseSchedule) -> torch.Tensor:
    r"""The posterior mean with x_0 written through the noise, Ho et al. 2020, eq. 10-11:

        \tilde\mu_t(x_t, x_0(x_t, \epsilon)) = 1/\sqrt{alpha_t} (x_t - beta_t / \sqrt{1 - \bar\alpha_t} \epsilon),

    where x_0(x_t, \epsilon) = (x_t - \sqrt{1 - \bar\alpha_t} \epsilon) / \sqrt{\bar\alpha_t}.
    With the model's \hat\epsilon in place of \epsilon this is \mu_\theta(x_t, t).

    Shapes: x_t, eps (B, ...); t int or (B,) -> like x_t.
    """
    t = check_timesteps(t, sched.T, x_t.shape[0] if x_t.ndim else None)
    if eps.shape != x_t.shape:
        raise ValueError(f"eps must have x_t's shape {tuple(x_t.shape)}, got {tuple(eps.shape)}")
    beta = extract(sched.betas, t, x_t)
    alpha = extract(sched.alphas, t, x_t)
    ab = extract(sched.alpha_bars, t, x_t)
    return (x_t - beta / (1 - ab).sqrt() * eps) / alpha.sqrt()


def reverse_variances(sched: NoiseSchedule, variance: str = "posterior") -> torch.Tensor:
    r"""The reverse-process variances \sigma_t^2 used in the bound, one per t (float64).

    "posterior": \sigma_t^2 = \tilde\beta_t, with t = 0 clipped to \tilde\beta at t = 1 (see the
    module docstring); "beta": \sigma_t^2 = beta_t. Shapes: -> (T,).
    """
    if variance == "posterior":
        v = sched.posterior_variance.double().clone()
        if sched.T < 2:
            raise ValueError("variance='posterior' needs T >= 2 (the t=0 value is clipped to the t=1 value)")
        v[0] = v[1]
    elif variance == "beta":
        v = sched.betas.double().clone()
    else:
        raise ValueError(f"variance must be 'posterior' (tilde beta_t) or 'beta' (beta_t), got {variance!r}")
    return v


def elbo_weights(sched: NoiseSchedule, variance: str = "posterior") -> torch.Tensor:
    r"""The weight of each term of the bound in noise form, Ho et al. 2020, eq. 12:

        w_t = beta_t^2 / (2 \sigma_t^2 alpha_t (1 - \bar\alpha_t)),

    with \sigma_t^2 from :func:`reverse_variances`. For ``variance="posterior"`` this simplifies to
    w_t = beta_t / (2 alpha_t (1 - \bar\alpha_{t-1})) for t >= 1. Index t = 0 is the decoder term
    L_0 (module docstring). Unnormalised: these are the true ELBO weights per dimension.

    Shapes: -> (T,) float64.
    """
    var = reverse_variances(sched, variance)
    beta, alpha, ab = sched.betas.double(), sched.alphas.double(), sched.alpha_bars.double()
    return beta**2 / (2 * var * alpha * (1 - ab))


def elbo_loss_weights(sched: NoiseSchedule, variance: str = "posterior", normalize: str = "mean") -> torch.Tensor:
    r"""The weights to pass to ``train(..., loss_weights=...)`` to train on the bound itself.

    :func:`elbo_weights` rescaled so that their mean over t is 1 (``normalize="mean"``): with t
    drawn uniformly, the weighted loss then has the same average scale as L_simple, so the same
    learning rate works, and only the *relative* weighting of the timesteps differs. Rescaling by
    a constant does not move the optimum. L_T is dropped (it has no parameters); t = 0 carries
    the decoder term L_0. ``normalize="none"`` returns the raw weights.

    Shapes: -> (T,) float32.
    """
    w = elbo_weights(sched, variance)
    if normalize == "mean":
        w = w / w.mean()
    elif normalize != "none":
        raise ValueError(f"normalize must be 'mean' or 'none', got {normalize!r}")
    return w.float()


def kl_term(x0: torch.Tensor, eps: torch.Tensor, eps_hat: torch.Tensor, t, sched: NoiseSchedule,
            variance: str = "posterior") -> torch.Tensor:
    r"""One term of the bound, computed *as a KL* (not through w_t), per example:

        L_{t-1} = D_KL(q(x_{t-1} | x_t, x_0) || N(\mu_\theta(x_t, t), \sigma_t^2 I)),
        x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon,   \mu_\theta from eps_hat (eq. 11),

    summed over the data dimensions. Only for t >= 1 (for t = 0 the term is a decoder likelihood,
    not a KL). The check in notebook 05: ``kl_term(eps_hat) - kl_term(eps_hat=eps)`` equals
    ``w_t * ||eps - eps_hat||^2``.

    Shapes: x0, eps, eps_hat (B, ...); t int or (B,) -> (B,) float64.
    """
    tt = check_timesteps(t, sched.T, x0.shape[0] if x0.ndim else None)
    if int(tt.min()) < 1:
        raise ValueError(f"t must be >= 1 for a KL term (t=0 is the decoder term L_0), got {int(tt.min())}")
    for name, v in (("eps", eps), ("eps_hat", eps_hat)):
        if v.shape != x0.shape:
            raise ValueError(f"{name} must have x0's shape {tuple(x0.shape)}, got {tuple(v.shape)}")
    x0, eps, eps_hat = x0.double(), eps.double(), eps_hat.double()  # float64 data, float32 schedule
    ab = extract(sched.alpha_bars.double(), tt, x0)
    # 1. the noisy point from the closed form
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    # 2. the true posterior N(mu_tilde, tilde beta_t)
    mu_q, _ = q_posterior(x0, x_t, tt, sched)
    var_q = extract(sched.posterior_variance.double(), tt, x0)
    # 3. the model's reverse step N(mu_theta, sigma_t^2)
    mu_p = posterior_mean_from_eps(x_t, eps_hat, tt, sched)
    var_p = extract(reverse_variances(sched, variance), tt, x0)
    # 4. KL per dimension, summed over everything but the batch
    kl = gaussian_kl(mu_q, var_q, mu_p, var_p)
    return kl.flatten(1).sum(1) if kl.ndim > 1 else kl
