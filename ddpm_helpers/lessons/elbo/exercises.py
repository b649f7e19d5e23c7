r"""Notebook 05's exercise self-checks: the Gaussian KL, the posterior mean through the noise, the ELBO
weight w_t, and three derivations on paper (the posterior variance by completing the square, the
eps-form coefficients, w_t through the SNR).

Each ``check_<name>(my_<name>)`` describes its exercise (cases, reference, typical mistakes) and hands
it to :func:`ddpm_helpers.ui.checking.check_answer`, which prints the verdict and returns True/False.
A derivation's answer is a formula in a few scalars: it is compared with the closed form at several
points, boundary values included.

Notation (symbol -> name), 0-indexed t as in ``core.schedules``:

    beta_t, alpha_t       beta_t, alpha_t = 1 - beta_t
    \bar\alpha_t          alpha_bar_t
    \bar\alpha_{t-1}      alpha_bar_prev
    \tilde\beta_t         tilde beta_t = (1 - \bar\alpha_{t-1}) / (1 - \bar\alpha_t) beta_t
    \sigma_t^2            sigma2_t, the reverse step's variance
    SNR(t)                \bar\alpha_t / (1 - \bar\alpha_t)
    w_t                   the ELBO weight of the eps-loss (Ho et al. 2020, eq. 12)
"""
from __future__ import annotations

import math

import torch

from ...ui.checking import as_f64, check_answer, numbers

__all__ = ["check_gaussian_kl", "check_posterior_mean_eps", "check_elbo_weight", "check_posterior_variance",
           "check_eps_form_coefs", "check_w_snr_form"]

r = math.sqrt


def _kl_ref(m1, v1, m2, v2):
    m1, v1, m2, v2 = (as_f64(a) for a in (m1, v1, m2, v2))
    return 0.5 * (torch.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1)


def check_gaussian_kl(fn) -> bool:
    r"""Notebook 05. ``fn(mean1, var1, mean2, var2)`` must return D_KL(N(mean1, var1) || N(mean2, var2))
    = 1/2 [log(var2/var1) + (var1 + (mean1 - mean2)^2)/var2 - 1] (floats or tensors, elementwise)."""
    cases = [(0.3, 0.5, -0.2, 1.3), (0.0, 1.0, 0.0, 2.0), (2.0, 0.1, -1.0, 4.0), (1.0, 2.0, 1.5, 0.7),
             tuple(torch.tensor(v, device="cpu") for v in ([0.0, 1.0], [1.0, 0.25], [0.5, 1.0], [2.0, 0.25]))]
    mistakes = [
        (lambda m1, v1, m2, v2: _kl_ref(m2, v2, m1, v1),
         "You computed D_KL(N2 || N1): the arguments are swapped. The KL is not symmetric; the expectation is "
         "under the FIRST Gaussian, so var1 sits in the numerator of the trace term and of the log's denominator."),
        (lambda m1, v1, m2, v2: _kl_ref(m1, v1, m2, v2) + 0.5,
         "The -1 inside the bracket is missing: the KL of a Gaussian with itself must be 0."),
        (lambda m1, v1, m2, v2: 2 * _kl_ref(m1, v1, m2, v2),
         "Twice too large: the whole bracket is multiplied by 1/2."),
        (lambda m1, v1, m2, v2: _kl_ref(m1, v1, m2, v2) - 0.25 * torch.log(as_f64(v2) / as_f64(v1)),
         "The log term is halved twice: 1/2 log(var2/var1) = log(sigma2/sigma1); use one form, not both."),
        (lambda m1, v1, m2, v2: 0.5 * (torch.log(as_f64(v2) / as_f64(v1))
                                       + (as_f64(v1).sqrt() + (as_f64(m1) - m2) ** 2) / v2 - 1),
         "The trace term needs the variance var1, not the standard deviation sqrt(var1) (missing square)."),
    ]
    return check_answer(fn, "your Gaussian KL", cases, _kl_ref, mistakes=mistakes)


def _mu_ref(x_t, eps, beta, alpha, alpha_bar):
    return (x_t.double() - beta / r(1 - alpha_bar) * eps.double()) / r(alpha)


def check_posterior_mean_eps(fn) -> bool:
    r"""Notebook 05. ``fn(x_t, eps, beta_t, alpha_t, alpha_bar_t)`` must return Ho et al. 2020, eq. 11:
    1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) (tensors x_t, eps; floats for the rest)."""
    g = torch.Generator().manual_seed(51)
    cases = [(torch.randn(4, 2, generator=g, device="cpu"), torch.randn(4, 2, generator=g, device="cpu"), b, 1 - b, ab)
             for b, ab in ((0.02, 0.3), (0.004, 0.8), (0.015, 0.05))]
    mistakes = [
        (lambda x, e, b, a, ab: (x + b / r(1 - ab) * e) / r(a),
         "Wrong sign on the noise term: the mean SUBTRACTS beta_t / sqrt(1 - alpha_bar_t) * eps."),
        (lambda x, e, b, a, ab: (x - b / (1 - ab) * e) / r(a),
         "Missing square root: the noise coefficient is beta_t / sqrt(1 - alpha_bar_t), "
         "not beta_t / (1 - alpha_bar_t)."),
        (lambda x, e, b, a, ab: (x - b / r(1 - ab) * e) / a,
         "Missing square root: divide by sqrt(alpha_t), not by alpha_t."),
        (lambda x, e, b, a, ab: (x - b / r(1 - ab) * e) / r(ab),
         "You divided by sqrt(alpha_bar_t); one reverse step undoes ONE forward step, so it is 1/sqrt(alpha_t)."),
        (lambda x, e, b, a, ab: (x - r(1 - ab) * e) / r(ab),
         "You returned x0_hat: the whole predicted noise subtracted in one step. The posterior mean removes only "
         "beta_t / sqrt(1 - alpha_bar_t) of the noise and rescales by 1/sqrt(alpha_t)."),
        (lambda x, e, b, a, ab: x - b / r(1 - ab) * e,
         "The rescaling by 1/sqrt(alpha_t) is missing."),
    ]
    return check_answer(fn, "your posterior mean", cases, _mu_ref, mistakes=mistakes)


def _w_ref(beta, alpha, alpha_bar, sigma2):
    return beta**2 / (2 * sigma2 * alpha * (1 - alpha_bar))


def check_elbo_weight(fn) -> bool:
    r"""Notebook 05. ``fn(beta_t, alpha_t, alpha_bar_t, sigma2_t)`` must return Ho et al. 2020, eq. 12:
    w_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t)) (floats)."""
    cases = [(0.02, 0.98, 0.3, 0.015), (1e-3, 0.999, 0.9, 5e-4), (0.01, 0.99, 0.05, 0.01), (0.3, 0.7, 0.01, 0.2)]
    mistakes = [
        (lambda b, a, ab, s2: b**2 / (s2 * a * (1 - ab)),
         "Twice too large: the Gaussian KL contributes 1 / (2 sigma_t^2), with the 2."),
        (lambda b, a, ab, s2: b / (2 * s2 * a * (1 - ab)),
         "beta_t must be squared: the noise coefficient beta_t / sqrt(alpha_t (1 - alpha_bar_t)) of the mean "
         "enters squared."),
        (lambda b, a, ab, s2: b**2 / (2 * s2 * ab * (1 - ab)),
         "alpha_bar_t where alpha_t belongs: the 1/sqrt(alpha_t) of the mean, squared, gives 1/alpha_t."),
        (lambda b, a, ab, s2: b**2 / (2 * s2 * a * r(1 - ab)),
         "(1 - alpha_bar_t) must not be square-rooted: it is the square of the mean's 1/sqrt(1 - alpha_bar_t)."),
        (lambda b, a, ab, s2: b**2 / (2 * r(s2) * a * (1 - ab)),
         "Divide by the variance sigma_t^2, not by the standard deviation sigma_t."),
        (lambda b, a, ab, s2: 2 * s2 * a * (1 - ab) / b**2,
         "Upside down: w_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t))."),
    ]
    return check_answer(fn, "your w_t", cases, _w_ref, mistakes=mistakes)


def _tilde_beta_ref(beta, ab_prev):
    return (1 - ab_prev) / (1 - (1 - beta) * ab_prev) * beta


def check_posterior_variance(fn) -> bool:
    r"""Notebook 05, derivation. ``fn(beta_t, alpha_bar_prev) -> tilde beta_t`` (floats), found by completing
    the square in x_{t-1} (Ho et al. 2020, eq. 7): the precisions of the two Gaussian factors add,

        q(x_t | x_{t-1}) as a function of x_{t-1}: N(x_t / \sqrt{alpha_t}, beta_t / alpha_t),
                                                   precision alpha_t / beta_t,
        q(x_{t-1} | x_0): variance 1 - \bar\alpha_{t-1}, precision 1 / (1 - \bar\alpha_{t-1}),
        1 / \tilde\beta_t = alpha_t / beta_t + 1 / (1 - \bar\alpha_{t-1})
        =>  \tilde\beta_t = (1 - \bar\alpha_{t-1}) / (1 - \bar\alpha_t) beta_t,
            \bar\alpha_t = alpha_t \bar\alpha_{t-1}.
    """
    cases = [(0.02, 0.5), (1e-4, 0.9999), (0.3, 0.2), (0.05, 0.01), (0.6, 0.7)]
    mistakes = [
        (lambda b, abp: 1 / (1 / b + 1 / (1 - abp)),
         "You added the precision 1/beta_t for the forward factor. Read as a function of x_{t-1}, "
         "q(x_t | x_{t-1}) = N(x_t; sqrt(alpha_t) x_{t-1}, beta_t) is "
         "N(x_{t-1}; x_t / sqrt(alpha_t), beta_t / alpha_t): "
         "its precision is alpha_t / beta_t (the 1/sqrt(alpha_t) rescaling squares into the variance)."),
        (lambda b, abp: b / (1 - b) + (1 - abp),
         "You added the VARIANCES beta_t/alpha_t and 1 - alpha_bar_{t-1}. A product of two Gaussian densities in "
         "the same variable adds the PRECISIONS: 1/tilde beta = alpha_t/beta_t + 1/(1 - alpha_bar_{t-1})."),
        (lambda b, abp: b + (1 - abp),
         "You added the variances beta_t and 1 - alpha_bar_{t-1}. A product of Gaussian densities in x_{t-1} "
         "adds precisions (1/variances), and the forward factor's variance in x_{t-1} is beta_t/alpha_t."),
        (lambda b, abp: (1 - b) / b + 1 / (1 - abp),
         "That is the PRECISION 1/tilde beta_t; the variance is its reciprocal."),
        (lambda b, abp: b,
         "That is beta_t, the forward step's variance (Ho et al.'s other fixed choice sigma_t^2 = beta_t), not "
         "the posterior variance: conditioning on x_0 shrinks it by (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)."),
        (lambda b, abp: (1 - (1 - b) * abp) / (1 - abp) * b,
         "The ratio is upside down: tilde beta_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t, which is "
         "below beta_t (knowing x_0 can only reduce the uncertainty)."),
        (lambda b, abp: r(_tilde_beta_ref(b, abp)),
         "That is the standard deviation sqrt(tilde beta_t); return the variance."),
    ]
    return check_answer(fn, "your tilde beta_t", cases, _tilde_beta_ref, mistakes=mistakes,
                        read=numbers(1, "one number (tilde beta_t)"),
                        hint_on_error="A ZeroDivisionError: alpha_t = 1 - beta_t and alpha_bar_t = alpha_t * "
                                      "alpha_bar_{t-1}; none of the denominators is 0 for these inputs.")


def _eps_coefs_ref(beta, ab_prev):
    a = 1 - beta
    ab = a * ab_prev
    return as_f64([1 / r(a), -beta / (r(a) * r(1 - ab))])


def _mean_coefs(b, abp):
    """alpha_t, alpha_bar_t and the posterior mean's coefficients c0 (of x_0) and ct (of x_t)."""
    a = 1 - b
    ab = a * abp
    return a, ab, r(abp) * b / (1 - ab), r(a) * (1 - abp) / (1 - ab)


def _with_coefs(formula):
    """A mistake on one coefficient, written in terms of (b, a, ab, c0, ct)."""
    return lambda b, abp: formula(b, *_mean_coefs(b, abp))


def check_eps_form_coefs(fn) -> bool:
    r"""Notebook 05, derivation. ``fn(beta_t, alpha_bar_prev) -> (c_x, c_eps)``: substitute
    x_0 = (x_t - \sqrt{1 - \bar\alpha_t} \epsilon) / \sqrt{\bar\alpha_t} into the posterior mean (Ho et al. 2020, eq. 7)

        \tilde\mu_t = \sqrt{\bar\alpha_{t-1}} beta_t / (1 - \bar\alpha_t) x_0
                      + \sqrt{alpha_t} (1 - \bar\alpha_{t-1}) / (1 - \bar\alpha_t) x_t

    and collect terms: \tilde\mu_t = c_x x_t + c_eps \epsilon with c_x = 1 / \sqrt{alpha_t} and
    c_eps = -beta_t / (\sqrt{alpha_t} \sqrt{1 - \bar\alpha_t}) (eq. 11). The x_t coefficient is
    [beta_t + alpha_t (1 - \bar\alpha_{t-1})] / (\sqrt{alpha_t} (1 - \bar\alpha_t))
    = (1 - \bar\alpha_t) / (\sqrt{alpha_t} (1 - \bar\alpha_t)).
    """
    cases = [(0.02, 0.5), (1e-3, 0.95), (0.3, 0.2), (0.05, 0.01)]
    parts = {
        "c_x": [
            (_with_coefs(lambda b, a, ab, c0, ct: ct),
             "c_x is only the x_t coefficient of the posterior mean; the substituted x_0 also contains x_t "
             "(x_0 = x_t / sqrt(alpha_bar_t) - ...). Add c0 / sqrt(alpha_bar_t): the sum simplifies to "
             "1 / sqrt(alpha_t)."),
            (_with_coefs(lambda b, a, ab, c0, ct: c0 + ct),
             "The x_t inside x_0 carries 1 / sqrt(alpha_bar_t): c_x = c0 / sqrt(alpha_bar_t) + ct, not c0 + ct."),
            (_with_coefs(lambda b, a, ab, c0, ct: 1 / a),
             "Missing square root: c_x = 1 / sqrt(alpha_t). (Check: the numerator "
             "beta_t + alpha_t (1 - alpha_bar_{t-1}) equals 1 - alpha_bar_t, which cancels.)"),
            (_with_coefs(lambda b, a, ab, c0, ct: 1 / r(ab)),
             "1 / sqrt(alpha_bar_t) is the coefficient of x_0-hat; one reverse step undoes ONE forward step: "
             "1 / sqrt(alpha_t)."),
        ],
        "c_eps": [
            (_with_coefs(lambda b, a, ab, c0, ct: b / (r(a) * r(1 - ab))),
             "Wrong sign of c_eps: x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t) SUBTRACTS the noise."),
            (_with_coefs(lambda b, a, ab, c0, ct: -b / r(1 - ab)),
             "c_eps misses the 1 / sqrt(alpha_t): the mean is "
             "(1/sqrt(alpha_t)) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps), so both terms carry it."),
            (_with_coefs(lambda b, a, ab, c0, ct: -b / (r(a) * (1 - ab))),
             "c_eps: c0 sqrt(1 - alpha_bar_t) / sqrt(alpha_bar_t) leaves sqrt(1 - alpha_bar_t) in the denominator, "
             "not (1 - alpha_bar_t)."),
        ],
    }
    return check_answer(fn, "your (c_x, c_eps)", cases, _eps_coefs_ref, parts=parts,
                        read=numbers(2, "a pair of numbers (c_x, c_eps)"))


def _snr(ab):
    return ab / (1 - ab)


def _w_snr_ref(ab, ab_prev):
    return 0.5 * (_snr(ab_prev) / _snr(ab) - 1)


def check_w_snr_form(fn) -> bool:
    r"""Notebook 05, derivation. ``fn(alpha_bar_t, alpha_bar_prev) -> w_t`` (floats): the ELBO weight of the
    eps-loss, w_t = beta_t^2 / (2 \sigma_t^2 alpha_t (1 - \bar\alpha_t)) (Ho et al. 2020, eq. 12) with
    \sigma_t^2 = \tilde\beta_t, written through notebook 01's SNR(t) = \bar\alpha_t / (1 - \bar\alpha_t):

        w_t = beta_t / (2 alpha_t (1 - \bar\alpha_{t-1})) = 1/2 (SNR(t-1) / SNR(t) - 1)

    (Kingma et al. 2021, eq. 13, in eps form).
    """
    cases = [(0.3, 0.5), (0.9, 0.95), (0.05, 0.4), (0.98, 0.9999), (0.001, 0.002)]
    mistakes = [
        (lambda ab, abp: 2 * _w_snr_ref(ab, abp),
         "Twice too large: the Gaussian KL carries 1 / (2 sigma_t^2), so w_t = 1/2 (SNR(t-1)/SNR(t) - 1)."),
        (lambda ab, abp: 0.5 * (_snr(ab) / _snr(abp) - 1),
         "The SNR ratio is upside down (your w_t is negative): SNR falls with t, so SNR(t-1) / SNR(t) > 1."),
        (lambda ab, abp: 0.5 * _snr(abp) / _snr(ab),
         "The -1 is missing: beta_t / (alpha_t (1 - alpha_bar_{t-1})) = SNR(t-1)/SNR(t) - 1 (write "
         "SNR(t-1)/SNR(t) = (1 - alpha_bar_t) / (alpha_t (1 - alpha_bar_{t-1})) and subtract 1)."),
        (lambda ab, abp: 0.5 * (_snr(abp) - _snr(ab)),
         "That is 1/2 (SNR(t-1) - SNR(t)), Kingma et al.'s weight for the x_0-prediction loss. The eps-loss is "
         "||x_0 - x0_hat||^2 SNR(t), so its weight is divided by SNR(t): 1/2 (SNR(t-1)/SNR(t) - 1)."),
        (lambda ab, abp: 0.5 * math.log(_snr(abp) / _snr(ab)),
         "That is half the log-SNR difference, not the SNR ratio minus 1 (they agree only for tiny steps)."),
    ]
    return check_answer(fn, "your w_t", cases, _w_snr_ref, mistakes=mistakes, read=numbers(1, "one number (w_t)"))
