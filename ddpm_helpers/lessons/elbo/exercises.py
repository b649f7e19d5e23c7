r"""Notebook 05's exercise self-checks: the Gaussian KL, the posterior mean through the noise, the ELBO
weight w_t, and three derivations on paper (the posterior variance by completing the square, the
eps-form coefficients, w_t through the SNR).

Each exercise declares its cases, its reference and its catalogue of typical mistakes, built from the
formula's terms (a sign, a missing or extra square root, the variance for the standard deviation,
alpha for alpha_bar, a factor 2, a missing term, a ratio upside down); ``check_<name>(my_<name>)``
hands it to :func:`ddpm_helpers.ui.checking.check_answer`, which prints the verdict and returns
True/False. A derivation's answer is a formula in a few scalars: it is compared with the closed form
at several points, boundary values included.

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

from ...ui.checking import Exercise, Term, as_f64, numbers, stack_parts, term_slips
from ...ui.slips import MEAN_NAMED, mean_terms

__all__ = ["check_gaussian_kl", "check_posterior_mean_eps", "check_elbo_weight", "check_posterior_variance",
           "check_eps_form_coefs", "check_w_snr_form"]

r = math.sqrt


def _kl_ref(m1, v1, m2, v2):
    m1, v1, m2, v2 = (as_f64(a) for a in (m1, v1, m2, v2))
    return 0.5 * (torch.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1)


def _on_f64(f):
    """A term of the KL written on float64 tensors, so floats and tensors both work."""
    return lambda *case: f(*(as_f64(a) for a in case))


_LOG_FLIP = ("Wrong sign of the log term: it is + log(var2/var1), not log(var1/var2) (a wider second Gaussian "
             "makes the KL larger).")
_TRACE_FLIP = "The ratio is upside down: (var1 + (mean1 - mean2)^2) / var2, divided by the SECOND variance."


def _gaussian_kl() -> Exercise:
    cases = [(0.3, 0.5, -0.2, 1.3), (0.0, 1.0, 0.0, 2.0), (2.0, 0.1, -1.0, 4.0), (1.0, 2.0, 1.5, 0.7),
             tuple(torch.tensor(v, device="cpu") for v in ([0.0, 1.0], [1.0, 0.25], [0.5, 1.0], [2.0, 0.25]))]
    terms = {
        "half": Term(lambda *c: 0.5, [(lambda *c: 1.0, "Twice too large: the whole bracket is multiplied by 1/2.")]),
        "log": Term(_on_f64(lambda m1, v1, m2, v2: torch.log(v2 / v1)), [
            (_on_f64(lambda m1, v1, m2, v2: torch.log(v1 / v2)), _LOG_FLIP),
            (_on_f64(lambda m1, v1, m2, v2: 0.5 * torch.log(v2 / v1)),
             "The log term is halved twice: 1/2 log(var2/var1) = log(sigma2/sigma1); use one form, not both."),
            (lambda *c: 0.0, "The log term log(var2/var1) is missing."),
            (_on_f64(lambda m1, v1, m2, v2: 2 * torch.log(v2 / v1)),
             "The log term is doubled: with the bracket's 1/2 it is 1/2 log(var2/var1) = log(sigma2/sigma1), "
             "not log(var2/var1)."),
            (_on_f64(lambda m1, v1, m2, v2: v2 / v1),
             "The log is missing: the term is log(var2/var1), not var2/var1.")]),
        "trace": Term(_on_f64(lambda m1, v1, m2, v2: (v1 + (m1 - m2) ** 2) / v2), [
            (_on_f64(lambda m1, v1, m2, v2: (v1.sqrt() + (m1 - m2) ** 2) / v2),
             "The trace term needs the variance var1, not the standard deviation sqrt(var1) (missing square)."),
            (_on_f64(lambda m1, v1, m2, v2: (v1 + (m1 - m2) ** 2) / v2.sqrt()),
             "Divide by the variance var2, not by the standard deviation sqrt(var2)."),
            (_on_f64(lambda m1, v1, m2, v2: (v1 + (m1 - m2).abs()) / v2), "The mean difference enters SQUARED: "
                                                                          "(mean1 - mean2)^2."),
            (_on_f64(lambda m1, v1, m2, v2: v1 / v2), "The mean term (mean1 - mean2)^2 / var2 is missing."),
            (_on_f64(lambda m1, v1, m2, v2: (v2 + (m1 - m2) ** 2) / v1), _TRACE_FLIP),
            (_on_f64(lambda m1, v1, m2, v2: v1 / v2 + (m1 - m2) ** 2), "Divide the mean term by var2 too: "
                                                                       "(var1 + (mean1 - mean2)^2) / var2.")]),
        "const": Term(lambda *c: -1.0, [
            (lambda *c: 0.0, "The -1 inside the bracket is missing: the KL of a Gaussian with itself must be 0."),
            (lambda *c: 1.0, "It is -1 inside the bracket, not +1: the KL of a Gaussian with itself must be 0.")]),
    }
    swapped = ("You computed D_KL(N2 || N1): the arguments are swapped. The KL is not symmetric; the expectation is "
               "under the FIRST Gaussian, so var1 sits in the numerator of the trace term and of the log's "
               "denominator.")
    mistakes, _ = term_slips(lambda v, *c: v["half"] * (v["log"] + v["trace"] + v["const"]), terms,
                             named={f"{_LOG_FLIP} {_TRACE_FLIP}": swapped})
    mistakes.append((_on_f64(lambda m1, v1, m2, v2: 0.5 * (2 * torch.log(v2 / v1) + (v1**2 + (m1 - m2) ** 2) / v2**2
                                                           - 1)),
                     "You treated var1 and var2 as standard deviations (squared them): they are already variances."))
    return Exercise("your Gaussian KL", cases, _kl_ref, mistakes)


def _mu_ref(x_t, eps, beta, alpha, alpha_bar):
    return (x_t.double() - beta / r(1 - alpha_bar) * eps.double()) / r(alpha)


def _posterior_mean_eps() -> Exercise:
    g = torch.Generator().manual_seed(51)
    cases = [(torch.randn(4, 2, generator=g, device="cpu"), torch.randn(4, 2, generator=g, device="cpu"), b, 1 - b, ab)
             for b, ab in ((0.02, 0.3), (0.004, 0.8), (0.015, 0.05))]
    mistakes, _ = term_slips(lambda v, x, e, *_: v["scale"] * (x.double() - v["eps"] * e.double()),
                             mean_terms(lambda x, e, b, a, ab: (b, a, ab)), named=MEAN_NAMED)
    return Exercise("your posterior mean", cases, _mu_ref, mistakes)


def _w_ref(beta, alpha, alpha_bar, sigma2):
    return beta**2 / (2 * sigma2 * alpha * (1 - alpha_bar))


def _elbo_weight() -> Exercise:
    cases = [(0.02, 0.98, 0.3, 0.015), (1e-3, 0.999, 0.9, 5e-4), (0.01, 0.99, 0.05, 0.01), (0.3, 0.7, 0.01, 0.2),
             (0.1, 0.9, 0.5, 0.05)]
    terms = {  # w_t = beta^2 / (two * var * alpha * noise)
        "beta": Term(lambda b, a, ab, s2: b**2, [
            (lambda b, a, ab, s2: b, "beta_t must be squared: the noise coefficient beta_t / sqrt(alpha_t (1 - "
                                     "alpha_bar_t)) of the mean enters squared.")]),
        "two": Term(lambda *c: 2.0, [
            (lambda *c: 1.0, "Twice too large: the Gaussian KL contributes 1 / (2 sigma_t^2), with the 2."),
            (lambda *c: 0.5, "Four times too small: the 2 of 1 / (2 sigma_t^2) belongs in the denominator.")]),
        "var": Term(lambda b, a, ab, s2: s2, [
            (lambda b, a, ab, s2: r(s2), "Divide by the variance sigma_t^2, not by the standard deviation sigma_t."),
            (lambda b, a, ab, s2: s2**2, "sigma2_t is already the variance: do not square it again.")]),
        "alpha": Term(lambda b, a, ab, s2: a, [
            (lambda b, a, ab, s2: ab, "alpha_bar_t where alpha_t belongs: the 1/sqrt(alpha_t) of the mean, squared, "
                                      "gives 1/alpha_t."),
            (lambda b, a, ab, s2: r(a),
             "alpha_t must not be square-rooted: the mean's 1/sqrt(alpha_t) enters squared."),
            (lambda *c: 1.0,
             "The factor alpha_t in the denominator is missing (the mean's 1/sqrt(alpha_t), squared).")]),
        "noise": Term(lambda b, a, ab, s2: 1 - ab, [
            (lambda b, a, ab, s2: r(1 - ab), "(1 - alpha_bar_t) must not be square-rooted: it is the square of the "
                                             "mean's 1/sqrt(1 - alpha_bar_t)."),
            (lambda b, a, ab, s2: 1 - a, "1 - alpha_t where 1 - alpha_bar_t belongs: the noise in x_t has variance "
                                         "1 - alpha_bar_t (all steps up to t)."),
            (lambda b, a, ab, s2: ab, "alpha_bar_t where 1 - alpha_bar_t belongs.")]),
    }
    mistakes, _ = term_slips(lambda v, *c: v["beta"] / (v["two"] * v["var"] * v["alpha"] * v["noise"]), terms)
    mistakes.append((lambda b, a, ab, s2: 2 * s2 * a * (1 - ab) / b**2,
                     "Upside down: w_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t))."))
    return Exercise("your w_t", cases, _w_ref, mistakes)


def _tilde_beta_ref(beta, ab_prev):
    return (1 - ab_prev) / (1 - (1 - beta) * ab_prev) * beta


def _posterior_variance() -> Exercise:
    cases = [(0.02, 0.5), (1e-4, 0.9999), (0.3, 0.2), (0.05, 0.01), (0.6, 0.7)]
    terms = {  # 1 / tilde beta = forward + prior: the precisions of the two Gaussian factors in x_{t-1}
        "forward": Term(lambda b, abp: (1 - b) / b, [
            (lambda b, abp: 1 / b,
             "You added the precision 1/beta_t for the forward factor. Read as a function of x_{t-1}, "
             "q(x_t | x_{t-1}) = N(x_t; sqrt(alpha_t) x_{t-1}, beta_t) is N(x_{t-1}; x_t / sqrt(alpha_t), "
             "beta_t / alpha_t): its precision is alpha_t / beta_t (the 1/sqrt(alpha_t) rescaling squares into the "
             "variance)."),
            (lambda b, abp: b / (1 - b), "beta_t / alpha_t is the forward factor's VARIANCE; its precision is "
                                         "alpha_t / beta_t.")]),
        "prior": Term(lambda b, abp: 1 / (1 - abp), [
            (lambda b, abp: 1 - abp, "1 - alpha_bar_{t-1} is the VARIANCE of q(x_{t-1} | x_0); its precision is "
                                     "1 / (1 - alpha_bar_{t-1})."),
            (lambda b, abp: 1 / abp, "q(x_{t-1} | x_0) has variance 1 - alpha_bar_{t-1}, so its precision is "
                                     "1 / (1 - alpha_bar_{t-1}), not 1 / alpha_bar_{t-1}."),
            (lambda b, abp: 1 / (1 - (1 - b) * abp), "1 - alpha_bar_t where 1 - alpha_bar_{t-1} belongs: the second "
                                                     "factor is q(x_{t-1} | x_0).")]),
        "invert": Term(lambda b, abp: (lambda p: 1 / p), [
            (lambda b, abp: (lambda p: p), "That is the PRECISION 1/tilde beta_t; the variance is its reciprocal."),
            (lambda b, abp: (lambda p: 1 / r(p)), "That is the standard deviation sqrt(tilde beta_t); return the "
                                                  "variance 1 / (sum of the precisions).")]),
    }
    mistakes, _ = term_slips(lambda v, *c: v["invert"](v["forward"] + v["prior"]), terms)
    mistakes += [
        (lambda b, abp: b / (1 - b) + (1 - abp),
         "You added the VARIANCES beta_t/alpha_t and 1 - alpha_bar_{t-1}. A product of two Gaussian densities in "
         "the same variable adds the PRECISIONS: 1/tilde beta = alpha_t/beta_t + 1/(1 - alpha_bar_{t-1})."),
        (lambda b, abp: b + (1 - abp),
         "You added the variances beta_t and 1 - alpha_bar_{t-1}. A product of Gaussian densities in x_{t-1} "
         "adds precisions (1/variances), and the forward factor's variance in x_{t-1} is beta_t/alpha_t."),
        (lambda b, abp: b,
         "That is beta_t, the forward step's variance (Ho et al.'s other fixed choice sigma_t^2 = beta_t), not "
         "the posterior variance: conditioning on x_0 shrinks it by (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)."),
        (lambda b, abp: (1 - (1 - b) * abp) / (1 - abp) * b,
         "The ratio is upside down: tilde beta_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t, which is "
         "below beta_t (knowing x_0 can only reduce the uncertainty)."),
        (lambda b, abp: (1 - abp) / (1 - (1 - b) * abp),
         "The factor beta_t is missing: tilde beta_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t."),
    ]
    return Exercise("your tilde beta_t", cases, _tilde_beta_ref, mistakes, read=numbers(1, "one number (tilde beta_t)"),
                    hint_on_error="A ZeroDivisionError: alpha_t = 1 - beta_t and alpha_bar_t = alpha_t * "
                                  "alpha_bar_{t-1}; none of the denominators is 0 for these inputs.")


def _eps_coefs_ref(beta, ab_prev):
    a = 1 - beta
    ab = a * ab_prev
    return as_f64([1 / r(a), -beta / (r(a) * r(1 - ab))])


def _with_coefs(formula):
    """A value written in terms of (b, a, ab, c0, ct): alpha_t, alpha_bar_t and the posterior mean's
    coefficients c0 (of x_0) and ct (of x_t)."""
    def f(b, abp):
        a = 1 - b
        ab = a * abp
        return formula(b, a, ab, r(abp) * b / (1 - ab), r(a) * (1 - abp) / (1 - ab))
    return f


def _eps_form_coefs() -> Exercise:
    cases = [(0.02, 0.5), (1e-3, 0.95), (0.3, 0.2), (0.05, 0.01)]
    parts = {
        "c_x": Term(_with_coefs(lambda b, a, ab, c0, ct: 1 / r(a)), [
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
             "1 / sqrt(alpha_bar_t) is the coefficient of x0_hat; one reverse step undoes ONE forward step: "
             "1 / sqrt(alpha_t)."),
            (_with_coefs(lambda b, a, ab, c0, ct: r(a)), "c_x is 1 / sqrt(alpha_t), not sqrt(alpha_t).")]),
        "c_eps": Term(_with_coefs(lambda b, a, ab, c0, ct: -b / (r(a) * r(1 - ab))), [
            (_with_coefs(lambda b, a, ab, c0, ct: b / (r(a) * r(1 - ab))),
             "Wrong sign of c_eps: x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t) SUBTRACTS the noise."),
            (_with_coefs(lambda b, a, ab, c0, ct: -b / r(1 - ab)),
             "c_eps misses the 1 / sqrt(alpha_t): the mean is "
             "(1/sqrt(alpha_t)) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps), so both terms carry it."),
            (_with_coefs(lambda b, a, ab, c0, ct: -b / (r(a) * (1 - ab))),
             "c_eps: c0 sqrt(1 - alpha_bar_t) / sqrt(alpha_bar_t) leaves sqrt(1 - alpha_bar_t) in the denominator, "
             "not (1 - alpha_bar_t)."),
            (_with_coefs(lambda b, a, ab, c0, ct: -b / (r(ab) * r(1 - ab))),
             "c_eps: 1 / sqrt(alpha_t), not 1 / sqrt(alpha_bar_t), in front (one reverse step undoes one forward "
             "step)."),
            (_with_coefs(lambda b, a, ab, c0, ct: -b / (r(a) * r(1 - a))),
             "c_eps: sqrt(1 - alpha_bar_t), not sqrt(1 - alpha_t), in the denominator: the noise in x_t has variance "
             "1 - alpha_bar_t."),
            (_with_coefs(lambda b, a, ab, c0, ct: -c0 * r(1 - ab)),
             "c_eps: the x_0 you substitute carries 1 / sqrt(alpha_bar_t): c_eps = -c0 sqrt(1 - alpha_bar_t) / "
             "sqrt(alpha_bar_t).")]),
    }
    mistakes, _ = term_slips(stack_parts, parts)
    return Exercise("your (c_x, c_eps)", cases, _eps_coefs_ref, mistakes,
                    read=numbers(2, "a pair of numbers (c_x, c_eps)"), parts=list(parts))


def _snr(ab):
    return ab / (1 - ab)


def _w_snr_ref(ab, ab_prev):
    return 0.5 * (_snr(ab_prev) / _snr(ab) - 1)


def _w_snr_form() -> Exercise:
    cases = [(0.3, 0.5), (0.9, 0.95), (0.05, 0.4), (0.98, 0.9999), (0.001, 0.002)]
    terms = {  # w_t = half * (ratio + one)
        "half": Term(lambda *c: 0.5, [
            (lambda *c: 1.0, "Twice too large: the Gaussian KL carries 1 / (2 sigma_t^2), so "
                             "w_t = 1/2 (SNR(t-1)/SNR(t) - 1).")]),
        "ratio": Term(lambda ab, abp: _snr(abp) / _snr(ab), [
            (lambda ab, abp: _snr(ab) / _snr(abp),
             "The SNR ratio is upside down (your w_t is negative): SNR falls with t, so SNR(t-1) / SNR(t) > 1."),
            (lambda ab, abp: abp / ab, "alpha_bar_{t-1} / alpha_bar_t is not the SNR ratio: SNR(t) = alpha_bar_t / "
                                       "(1 - alpha_bar_t)."),
            (lambda ab, abp: r(_snr(abp) / _snr(ab)), "SNR(t) = alpha_bar_t / (1 - alpha_bar_t) is a ratio of "
                                                      "VARIANCES: no square root.")]),
        "one": Term(lambda *c: -1.0, [
            (lambda *c: 0.0, "The -1 is missing: beta_t / (alpha_t (1 - alpha_bar_{t-1})) = SNR(t-1)/SNR(t) - 1 "
                             "(write SNR(t-1)/SNR(t) = (1 - alpha_bar_t) / (alpha_t (1 - alpha_bar_{t-1})) and "
                             "subtract 1)."),
            (lambda *c: 1.0, "It is SNR(t-1)/SNR(t) MINUS 1, not plus 1.")]),
    }
    mistakes, _ = term_slips(lambda v, *c: v["half"] * (v["ratio"] + v["one"]), terms)
    mistakes += [
        (lambda ab, abp: 0.5 * (_snr(abp) - _snr(ab)),
         "That is 1/2 (SNR(t-1) - SNR(t)), Kingma et al.'s weight for the x_0-prediction loss. The eps-loss is "
         "||x_0 - x0_hat||^2 SNR(t), so its weight is divided by SNR(t): 1/2 (SNR(t-1)/SNR(t) - 1)."),
        (lambda ab, abp: 0.5 * math.log(_snr(abp) / _snr(ab)),
         "That is half the log-SNR difference, not the SNR ratio minus 1 (they agree only for tiny steps)."),
    ]
    return Exercise("your w_t", cases, _w_snr_ref, mistakes, read=numbers(1, "one number (w_t)"))


EXERCISES = {"gaussian_kl": _gaussian_kl, "posterior_mean_eps": _posterior_mean_eps, "elbo_weight": _elbo_weight,
             "posterior_variance": _posterior_variance, "eps_form_coefs": _eps_form_coefs, "w_snr_form": _w_snr_form}


def check_gaussian_kl(fn) -> bool:
    r"""Notebook 05. ``fn(mean1, var1, mean2, var2)`` must return D_KL(N(mean1, var1) || N(mean2, var2))
    = 1/2 [log(var2/var1) + (var1 + (mean1 - mean2)^2)/var2 - 1] (floats or tensors, elementwise)."""
    return _gaussian_kl().check(fn)


def check_posterior_mean_eps(fn) -> bool:
    r"""Notebook 05. ``fn(x_t, eps, beta_t, alpha_t, alpha_bar_t)`` must return Ho et al. 2020, eq. 11:
    1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) (tensors x_t, eps; floats for the rest)."""
    return _posterior_mean_eps().check(fn)


def check_elbo_weight(fn) -> bool:
    r"""Notebook 05. ``fn(beta_t, alpha_t, alpha_bar_t, sigma2_t)`` must return Ho et al. 2020, eq. 12:
    w_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t)) (floats)."""
    return _elbo_weight().check(fn)


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
    return _posterior_variance().check(fn)


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
    return _eps_form_coefs().check(fn)


def check_w_snr_form(fn) -> bool:
    r"""Notebook 05, derivation. ``fn(alpha_bar_t, alpha_bar_prev) -> w_t`` (floats): the ELBO weight of the
    eps-loss, w_t = beta_t^2 / (2 \sigma_t^2 alpha_t (1 - \bar\alpha_t)) (Ho et al. 2020, eq. 12) with
    \sigma_t^2 = \tilde\beta_t, written through notebook 01's SNR(t) = \bar\alpha_t / (1 - \bar\alpha_t):

        w_t = beta_t / (2 alpha_t (1 - \bar\alpha_{t-1})) = 1/2 (SNR(t-1) / SNR(t) - 1)

    (Kingma et al. 2021, eq. 13, in eps form).
    """
    return _w_snr_form().check(fn)
