r"""Notebook 06's theory: why DDIM works with a DDPM-trained model: the non-Markovian forward process q_sigma,
the eta = 1 identity on any sub-grid, the three samplers that skip steps, and DDIM's geometry.

Song et al. 2021 (sec. 3.1, eq. 7) define, for any noise scales sigma, a forward process whose
reverse conditionals are

    q_sigma(x_{t'} | x_t, x_0) = N( \sqrt{\bar\alpha_{t'}} x_0
                                    + \sqrt{1 - \bar\alpha_{t'} - \sigma^2}
                                      (x_t - \sqrt{\bar\alpha_t} x_0) / \sqrt{1 - \bar\alpha_t},
                                    \sigma^2 I ),

and whose marginals q_sigma(x_t | x_0) = N(\sqrt{\bar\alpha_t} x_0, (1 - \bar\alpha_t) I) are the SAME as
DDPM's for every sigma (their Lemma 1). L_simple only ever sees those marginals, so one trained
eps-model serves every member of the family: eta = 1 is DDPM (on the full grid and, with respaced
betas, on any sub-grid), eta = 0 is deterministic DDIM. Replacing x_0 by \hat x_0(x_t) in the mean
gives the DDIM update (eq. 12, :func:`~ddpm_helpers.core.reverse.ddim_step`).

Notation (symbol -> name), 0-indexed t as in ``core.schedules``; t' < t is the next (earlier) timestep:

    \bar\alpha_t, \bar\alpha_{t'}   alpha_bars[t], alpha_bars[t_prev]   (t_prev = -1: 1.0)
    \sigma                          ddim_sigma(t, t_prev, sched, eta)    Song et al. eq. 16
    \tau_k, beta'_k                 respace(sched, steps)                kept timesteps, respaced betas (core.respace)
"""
from __future__ import annotations

import math
from dataclasses import replace

import torch

from ...core.checks import check_int, check_number, check_step
from ...core.forward import q_sample
from ...core.respace import Respaced, respace
from ...core.reverse import ddim_sigma, ddim_terms, predict_x0
from ...core.sampling import Sample, ddim_sample, ddpm_sample, naive_skip_sample
from ...core.schedules import NoiseSchedule

__all__ = ["q_sigma_posterior", "q_sigma_forward", "q_sigma_marginal_check", "respaced_ddpm_sample",
           "skip_comparison", "ddim_geometry"]


def _abar(sched: NoiseSchedule, t: int) -> float:
    return 1.0 if t < 0 else float(sched.host64.alpha_bars[t])


def q_sigma_posterior(x_t: torch.Tensor, x0: torch.Tensor, t: int, t_prev: int, sched: NoiseSchedule,
                      eta: float) -> tuple[torch.Tensor, float]:
    r"""Song et al. 2021, eq. 7: the mean and variance of q_sigma(x_{t'} | x_t, x_0), with \sigma from eq. 16,

        mean = \sqrt{\bar\alpha_{t'}} x_0
               + \sqrt{1 - \bar\alpha_{t'} - \sigma^2} (x_t - \sqrt{\bar\alpha_t} x_0) / \sqrt{1 - \bar\alpha_t},
        var  = \sigma^2.

    The fraction (x_t - \sqrt{\bar\alpha_t} x_0) / \sqrt{1 - \bar\alpha_t} is the noise \epsilon that made x_t.
    With t' = t - 1 and eta = 1 this is DDPM's posterior q(x_{t-1} | x_t, x_0) (Ho et al. eqs. 6-7).

    Shapes: x_t, x0 (B, ...) -> mean (B, ...), var a float.
    """
    t, t_prev = check_step(t, t_prev, sched.T)
    eta = check_number("eta", eta, lo=0.0, what="0: deterministic, 1: DDPM's posterior variance")
    if x_t.shape != x0.shape:
        raise ValueError(f"x_t and x0 must have the same shape, got {tuple(x_t.shape)} and {tuple(x0.shape)}")
    ab = _abar(sched, t)
    sigma = ddim_sigma(t, t_prev, sched, eta)
    # 1. the noise that made x_t from x_0
    eps = (x_t - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
    # 2. x_0 scaled to level t', plus that noise scaled to the variance left after sigma^2 (eq. 12's terms)
    x0_term, direction = ddim_terms(x0, eps, _abar(sched, t_prev), sigma)
    return x0_term + direction, sigma**2


def q_sigma_forward(t: int, t_prev: int, sched: NoiseSchedule, eta: float) -> dict:
    r"""The forward direction of q_sigma, q_sigma(x_t | x_{t'}, x_0), by Bayes' rule, as a Gaussian
    N(a x_{t'} + c x_0, v I). Given x_0, write x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon and
    x_{t'} = \sqrt{\bar\alpha_{t'}} x_0 + k \epsilon + \sigma z with k = \sqrt{1 - \bar\alpha_{t'} - \sigma^2}
    (eq. 7); the pair is jointly Gaussian with Cov(x_t, x_{t'} | x_0) = k \sqrt{1 - \bar\alpha_t}, so conditioning
    gives

        a = k \sqrt{1 - \bar\alpha_t} / (1 - \bar\alpha_{t'}),
        c = \sqrt{\bar\alpha_t} - a \sqrt{\bar\alpha_{t'}},
        v = (1 - \bar\alpha_t) (1 - k^2 / (1 - \bar\alpha_{t'})).

    The process is Markov exactly when c = 0: at eta = 1 (\sigma^2 the posterior variance of the jump, where it is
    DDPM's step N(\sqrt{\bar\alpha_t / \bar\alpha_{t'}} x_{t'}, (1 - \bar\alpha_t / \bar\alpha_{t'}) I)),
    and not for eta < 1. Returns ``{"coef_prev": a, "coef_x0": c, "var": v, "sigma": \sigma}`` (floats, float64).
    """
    t, t_prev = check_step(t, t_prev, sched.T)
    if t_prev < 0:
        raise ValueError(f"t_prev must be a timestep 0..{t - 1} (x_{{t'}} is a noisy sample), got {t_prev}")
    eta = check_number("eta", eta, lo=0.0, hi=1.0, what="0: deterministic DDIM, 1: DDPM")
    ab, abp = _abar(sched, t), _abar(sched, t_prev)
    sigma2 = eta**2 * (1 - abp) / (1 - ab) * (1 - ab / abp)  # eq. 16, in float64 from the float64 alpha_bars
    k2 = max(1 - abp - sigma2, 0.0)
    a = math.sqrt(k2) * math.sqrt(1 - ab) / (1 - abp)
    return {"coef_prev": a, "coef_x0": math.sqrt(ab) - a * math.sqrt(abp), "var": (1 - ab) * (1 - k2 / (1 - abp)),
            "sigma": math.sqrt(sigma2)}


def q_sigma_marginal_check(x0: torch.Tensor, t: int, t_prev: int, sched: NoiseSchedule, etas=(0.0, 0.5, 1.0),
                           draws: int = 20, generator: torch.Generator | None = None) -> list[dict]:
    r"""Monte Carlo check of Song et al.'s Lemma 1 for one step: draw x_t ~ q(x_t | x_0) (Ho et al. eq. 4),
    then x_{t'} ~ q_sigma(x_{t'} | x_t, x_0) (:func:`q_sigma_posterior`); the residual
    r = x_{t'} - \sqrt{\bar\alpha_{t'}} x_0 must have mean 0 and variance 1 - \bar\alpha_{t'} for EVERY eta,
    the marginal q(x_{t'} | x_0) a model trained with L_simple has seen.

    Returns one dict per eta: eta, sigma2, mean (of r), var (of r, measured), var_expected,
    var_se (the standard error of the measured variance, sqrt(2/(N-1)) var_expected for N numbers).
    Shapes: x0 (B, ...); ``draws`` x_t per data point.
    """
    check_int("draws", draws, 1, what="x_t drawn per data point")
    x0 = x0.double().repeat(draws, *([1] * (x0.ndim - 1)))  # (B, ...) -> (draws * B, ...)
    abp = _abar(sched, t_prev)
    src = generator.device if generator is not None else x0.device  # draw where the generator lives
    rows = []
    for eta in etas:
        x_t, _ = q_sample(x0, torch.full((x0.shape[0],), t, dtype=torch.long, device=x0.device), sched,
                          noise=torch.randn(x0.shape, generator=generator, dtype=torch.float64, device=src))
        mean, var = q_sigma_posterior(x_t.double(), x0, t, t_prev, sched, eta)
        z = torch.randn(x0.shape, generator=generator, dtype=torch.float64, device=src).to(x0.device)
        x_prev = mean + math.sqrt(var) * z
        r = (x_prev - math.sqrt(abp) * x0).flatten()
        n = r.numel()
        rows.append({"eta": float(eta), "sigma2": var, "mean": r.mean().item(), "var": r.var().item(),
                     "var_expected": 1 - abp, "var_se": math.sqrt(2 / (n - 1)) * (1 - abp)})
    return rows


def respaced_ddpm_sample(model, sched: NoiseSchedule, x_T: torch.Tensor, steps: int, *,
                         generator: torch.Generator | None = None, return_trajectory: bool = False) -> Sample:
    r"""Ho et al. 2020, Algorithm 2 on the respaced schedule (Nichol & Dhariwal 2021, sec. 4): keep the
    timesteps \tau_0 < ... < \tau_{K-1} of :func:`~ddpm_helpers.core.sampling.ddim_timesteps` ("trailing"), give the
    k-th kept step the beta that covers the whole jump, beta'_k = 1 - \bar\alpha_{\tau_k} / \bar\alpha_{\tau_{k-1}}
    (:func:`~ddpm_helpers.core.respace.respace`), and call the model at the original \tau_k
    (:class:`~ddpm_helpers.core.respace.Respaced`). This skips steps CORRECTLY: it is DDIM with eta = 1 on the
    sub-grid (eq. 16 with t' = \tau_{k-1} gives \sigma^2 = \tilde\beta'_k).

    It is :func:`~ddpm_helpers.core.sampling.ddpm_sample` on the K-step schedule, drawing z in the same order as
    ``ddim_sample`` with eta > 0, so the same generator seed gives both samplers the same noise.
    Shapes: x_T (B, ...) -> Sample: x0 (B, ...); timesteps the \tau_k; trajectory (steps + 1, B, ...), x_T first.
    """
    sub, ts = respace(sched, steps)  # ts increasing; sub.betas[k] = beta'_k
    s = ddpm_sample(Respaced(model, ts), sub, x_T, generator=generator, return_trajectory=return_trajectory)
    return replace(s, timesteps=tuple(ts[k] for k in s.timesteps))  # step indices k -> the model's \tau_k


def skip_comparison(model, sched: NoiseSchedule, x_T: torch.Tensor, steps: int, seed: int = 0) -> dict[str, Sample]:
    r"""The three ways to sample in ``steps`` model calls, from ONE x_T (notebook 06, the 2-D section):

    * "naive skip": Algorithm 2's one-step update at t = T-1, T-1-k, ... (k = T // steps), the mistake of
      notebook 03 (:func:`~ddpm_helpers.core.sampling.naive_skip_sample`);
    * "respaced DDPM": Algorithm 2 with the respaced betas (:func:`respaced_ddpm_sample`) = DDIM eta = 1;
    * "DDIM eta=0": deterministic DDIM on the same "trailing" timesteps.

    Returns {name: Sample} with trajectories (len(timesteps) + 1, B, ...) on the CPU.
    """
    check_int("steps", steps, 1, sched.T, hi_name="T")
    return {"naive skip": naive_skip_sample(model, sched, x_T, sched.T // steps,
                                            generator=torch.Generator().manual_seed(seed), return_trajectory=True),
            "respaced DDPM": respaced_ddpm_sample(model, sched, x_T, steps,
                                                  generator=torch.Generator().manual_seed(seed),
                                                  return_trajectory=True),
            "DDIM eta=0": ddim_sample(model, sched, x_T, steps=steps, eta=0.0, return_trajectory=True)}


def ddim_geometry(x_t: torch.Tensor, eps: torch.Tensor, t: int, t_prev: int, sched: NoiseSchedule, eta: float,
                  noise: torch.Tensor) -> dict:
    r"""The three terms of one DDIM step (Song et al. 2021, eq. 12), as vectors that add up to x_{t'}:

        x_{t'} = \sqrt{\bar\alpha_{t'}} \hat x_0   +   \sqrt{1 - \bar\alpha_{t'} - \sigma^2} \hat\epsilon   +   \sigma z
                 ("x0_term")                          ("direction", pointing to x_t)                       ("noise")

    Returns a dict with x0_hat, x0_term, direction, noise, x_prev (their sum), sigma, and the two scalar
    coefficients coef_x0 = \sqrt{\bar\alpha_{t'}} and coef_direction = \sqrt{1 - \bar\alpha_{t'} - \sigma^2}.
    Shapes: x_t, eps, noise (B, ...) -> each term (B, ...).
    """
    t, t_prev = check_step(t, t_prev, sched.T)
    eta = check_number("eta", eta, lo=0.0, what="0: deterministic DDIM, 1: DDPM-like")
    abp = _abar(sched, t_prev)
    sigma = ddim_sigma(t, t_prev, sched, eta)
    # 1. the predicted x_0
    x0_hat = predict_x0(x_t, eps, t, sched)
    # 2. scaled to level t', and 3. the direction pointing to x_t (eq. 12's two terms)
    x0_term, direction = ddim_terms(x0_hat, eps, abp, sigma)
    # 4. fresh noise
    fresh = sigma * noise
    coef_x0, coef_direction = ddim_terms(1.0, 1.0, abp, sigma)  # the two coefficients: the terms of unit inputs
    return {"x0_hat": x0_hat, "x0_term": x0_term, "direction": direction, "noise": fresh,
            "x_prev": x0_term + direction + fresh, "sigma": sigma, "coef_x0": coef_x0, "coef_direction": coef_direction}
