"""Derivation self-checks (notebooks 05 and 06) and the reverse step's boundary timesteps.

Each check accepts the correct formula, names each typical slip, and reports an unsolved stub as
"not solved" (returns False, raises nothing). The reference formulas are pinned against the
package's schedule (tilde beta, the eps-form coefficients, the ELBO weight, DDIM's sigma, respace).
"""
import math

import pytest
import torch

from ddpm_helpers.core.reverse import ddim_sigma
from ddpm_helpers.core.schedules import NoiseSchedule
from ddpm_helpers.lessons.ddim import exercises as ddim_ex
from ddpm_helpers.lessons.elbo import elbo_weights
from ddpm_helpers.lessons.elbo import exercises as elbo_ex
from ddpm_helpers.lessons.moons import exercises as moons_ex
from ddpm_helpers.core.respace import respace

R = math.sqrt


def run(check, answer, capsys):
    ok = check(answer)
    return ok, capsys.readouterr().out


def todo(*args):
    raise NotImplementedError("exercise")


# ------------------------------------------------------------------ the references are the package's maths
def test_references_match_the_package():
    s = NoiseSchedule.linear(1000)
    b, ab, abp = s.betas.double(), s.alpha_bars.double(), s.alpha_bars_prev.double()
    for t in (1, 2, 10, 500, 999):
        assert math.isclose(float(elbo_ex._tilde_beta_ref(b[t].item(), abp[t].item())),
                            s.posterior_variance.double()[t].item(), rel_tol=1e-3)  # float32 inputs
        # c_x x_t + c_eps eps == the posterior mean of x_0(x_t, eps)
        cx, ce = elbo_ex._eps_coefs_ref(b[t].item(), abp[t].item()).tolist()
        assert math.isclose(cx, 1 / R(1 - b[t].item()), rel_tol=1e-12)
        c0, ct = s.posterior_mean_coef_x0.double()[t].item(), s.posterior_mean_coef_xt.double()[t].item()
        assert math.isclose(c0 / R(ab[t].item()) + ct, cx, rel_tol=1e-4)
        assert math.isclose(-c0 * R(1 - ab[t].item()) / R(ab[t].item()), ce, rel_tol=1e-4)
        # sigma(eta=1)^2 = tilde beta on the full grid, and the same as ddim_sigma on any jump
        assert math.isclose(float(ddim_ex._sigma2_eta1_ref(ab[t].item(), abp[t].item())),
                            s.posterior_variance.double()[t].item(), rel_tol=1e-3)  # float32 alpha_bars
        ab64 = s.host64.alpha_bars  # ddim_sigma reads the schedule's float64 tables
        assert math.isclose(float(ddim_ex._sigma2_eta1_ref(ab64[t].item(), ab64[t // 3].item())),
                            ddim_sigma(t, t // 3, s, 1.0) ** 2, rel_tol=1e-12)
    # w_t in SNR form equals eq. 12 with sigma^2 = tilde beta (elbo_weights, t >= 1)
    w = elbo_weights(s, variance="posterior").double()
    for t in (1, 10, 349, 999):
        assert math.isclose(float(elbo_ex._w_snr_ref(ab[t].item(), abp[t].item())), w[t].item(), rel_tol=1e-3)
    # respaced betas == core.respace.respace
    sub, ts = respace(s, 10)
    assert torch.allclose(ddim_ex._respaced_ref(ab, ts), sub.betas.double(), rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ 05: tilde beta by completing the square
TB = [
    (lambda b, abp: 1 / ((1 - b) / b + 1 / (1 - abp)), True, "Correct"),
    (lambda b, abp: (1 - abp) / (1 - (1 - b) * abp) * b, True, "Correct"),
    (lambda b, abp: 1 / (1 / b + 1 / (1 - abp)), False, "precision is alpha_t / beta_t"),
    (lambda b, abp: b / (1 - b) + (1 - abp), False, "added the VARIANCES"),
    (lambda b, abp: (1 - b) / b + 1 / (1 - abp), False, "PRECISION"),
    (lambda b, abp: b, False, "forward step's variance"),
    (lambda b, abp: (1 - (1 - b) * abp) / (1 - abp) * b, False, "upside down"),
    (lambda b, abp: R((1 - abp) / (1 - (1 - b) * abp) * b), False, "standard deviation"),
    (lambda b, abp: 0.5 * b, False, "none of the usual mistakes"),
    (todo, False, "Not solved yet"),
    (None, False, "Not solved yet"),
]


@pytest.mark.parametrize("answer,ok,words", TB)
def test_check_posterior_variance(answer, ok, words, capsys):
    got, out = run(elbo_ex.check_posterior_variance, answer, capsys)
    assert got is ok and words in out, out


# ------------------------------------------------------------------ 05: the eps-form coefficients
def _coefs(cx, ce):
    def f(b, abp):
        a = 1 - b
        ab = a * abp
        c0, ct = R(abp) * b / (1 - ab), R(a) * (1 - abp) / (1 - ab)
        return cx(a, ab, c0, ct), ce(b, a, ab, c0, ct)
    return f


GOOD_E = lambda b, a, ab, c0, ct: -c0 * R(1 - ab) / R(ab)  # noqa: E731
EPS = [
    (_coefs(lambda a, ab, c0, ct: c0 / R(ab) + ct, GOOD_E), True, "Correct"),
    (_coefs(lambda a, ab, c0, ct: torch.tensor(1 / R(a)), lambda b, a, ab, c0, ct: torch.tensor(-b / R(a * (1 - ab)))),
     True, "Correct"),  # tensors: both components are compared, not only the first
    (_coefs(lambda a, ab, c0, ct: ct, GOOD_E), False, "Add c0 / sqrt(alpha_bar_t)"),
    (_coefs(lambda a, ab, c0, ct: c0 + ct, GOOD_E), False, "not c0 + ct"),
    (_coefs(lambda a, ab, c0, ct: 1 / a, GOOD_E), False, "Missing square root"),
    (_coefs(lambda a, ab, c0, ct: 1 / R(ab), GOOD_E), False, "ONE forward step"),
    (_coefs(lambda a, ab, c0, ct: 1 / R(a), lambda b, a, ab, c0, ct: b / R(a * (1 - ab))), False, "Wrong sign"),
    (_coefs(lambda a, ab, c0, ct: 1 / R(a), lambda b, a, ab, c0, ct: -b / R(1 - ab)), False, "both terms carry it"),
    (_coefs(lambda a, ab, c0, ct: torch.tensor(1 / R(a)), lambda b, a, ab, c0, ct: torch.tensor(0.0)), False,
     "none of the usual mistakes"),
    (lambda b, abp: 1.0, False, "return a pair of numbers (c_x, c_eps), got 1.0"),
    (todo, False, "Not solved yet"),
]


@pytest.mark.parametrize("answer,ok,words", EPS)
def test_check_eps_form_coefs(answer, ok, words, capsys):
    got, out = run(elbo_ex.check_eps_form_coefs, answer, capsys)
    assert got is ok and words in out, out


# ------------------------------------------------------------------ 05: w_t through the SNR
def snr(ab):
    return ab / (1 - ab)


WS = [
    (lambda ab, abp: 0.5 * (snr(abp) / snr(ab) - 1), True, "Correct"),
    (lambda ab, abp: (1 - ab / abp) / (2 * (ab / abp) * (1 - abp)), True, "Correct"),  # beta / (2 alpha (1 - abp))
    (lambda ab, abp: snr(abp) / snr(ab) - 1, False, "Twice too large"),
    (lambda ab, abp: 0.5 * (snr(ab) / snr(abp) - 1), False, "upside down"),
    (lambda ab, abp: 0.5 * snr(abp) / snr(ab), False, "The -1 is missing"),
    (lambda ab, abp: 0.5 * (snr(abp) - snr(ab)), False, "x_0-prediction loss"),
    (lambda ab, abp: 0.5 * math.log(snr(abp) / snr(ab)), False, "log-SNR"),
    (todo, False, "Not solved yet"),
]


@pytest.mark.parametrize("answer,ok,words", WS)
def test_check_w_snr_form(answer, ok, words, capsys):
    got, out = run(elbo_ex.check_w_snr_form, answer, capsys)
    assert got is ok and words in out, out


# ------------------------------------------------------------------ 06: sigma(eta = 1)^2
SIG = [
    (lambda ab, abp, b: (1 - abp) / (1 - ab) * (1 - ab / abp), True, "Correct"),
    (lambda ab, abp, b: ddim_like(ab, abp) ** 2, True, "Correct"),
    (lambda ab, abp, b: (1 - abp) / (1 - ab) * b, False, "ONE-step beta"),
    (lambda ab, abp, b: (1 - ab) / (1 - abp) * (1 - ab / abp), False, "upside down"),
    (lambda ab, abp, b: 1 - ab / abp, False, "is missing"),
    (lambda ab, abp, b: R((1 - abp) / (1 - ab) * (1 - ab / abp)), False, "return its square"),
    (lambda ab, abp, b: b, False, "upper choice"),
    (todo, False, "Not solved yet"),
]


def ddim_like(ab, abp):
    return R((1 - abp) / (1 - ab)) * R(1 - ab / abp)


@pytest.mark.parametrize("answer,ok,words", SIG)
def test_check_sigma_eta1(answer, ok, words, capsys):
    got, out = run(ddim_ex.check_sigma_eta1, answer, capsys)
    assert got is ok and words in out, out


# ------------------------------------------------------------------ 06: respaced betas
def _one_step(ab):
    return 1 - ab / torch.cat([torch.ones(1, dtype=ab.dtype), ab[:-1]])


RB = [
    (lambda ab, ts: 1 - ab[ts] / torch.cat([torch.ones(1, dtype=ab.dtype), ab[ts][:-1]]), True, "Correct"),
    (lambda ab, ts: torch.tensor([1 - ab[t] / (ab[ts[k - 1]] if k else 1.0) for k, t in enumerate(ts)]),
     True, "Correct"),
    (lambda ab, ts: _one_step(ab)[ts], False, "one-step betas"),
    (lambda ab, ts: torch.stack([_one_step(ab)[(ts[k - 1] + 1 if k else 0):t + 1].sum() for k, t in enumerate(ts)]),
     False, "summed the skipped betas"),
    (lambda ab, ts: (1 - ab[ts] / torch.cat([torch.ones(1, dtype=ab.dtype), ab[ts][:-1]]))[1:], False,
     "first kept step is missing"),
    (lambda ab, ts: 1 - ab[ts], False, "total variance"),
    (lambda ab, ts: 1 - torch.cat([torch.ones(1, dtype=ab.dtype), ab[ts][:-1]]) / ab[ts], False, "upside down"),
    (lambda ab, ts: torch.stack([1 - ab[t] / ab[t - 1] if t > 0 else 1 - ab[0] for t in ts]), False,
     "one-step betas"),  # dividing by the previous timestep of the full grid is the same slip
    (todo, False, "Not solved yet"),
]


@pytest.mark.parametrize("answer,ok,words", RB)
def test_check_respaced_betas(answer, ok, words, capsys):
    got, out = run(ddim_ex.check_respaced_betas, answer, capsys)
    assert got is ok and words in out, out


# ------------------------------------------------------------------ 03: the reverse step's boundary timesteps
def _rev(last_noisy=1, sigma="post"):
    """Algorithm 2 with noise added for t >= last_noisy (0-indexed); last_noisy=2 is the `if t > 1` slip."""
    def f(x, e, t, s, z):
        b, a, ab = s.betas[t], s.alphas[t], s.alpha_bars[t]
        m = (x - b / (1 - ab).sqrt() * e) / a.sqrt()
        sd = s.posterior_variance[t].sqrt() if sigma == "post" else b.sqrt()
        return m + sd * z if t >= last_noisy else m
    return f


@pytest.mark.parametrize("answer,ok,words", [
    (_rev(), True, "Correct"),
    (_rev(last_noisy=2), False, "No noise added at t = 1"),
    (_rev(last_noisy=2, sigma="beta"), False, "No noise added at t = 1"),
    (_rev(last_noisy=50), False, "none of the usual mistakes"),
])
def test_check_reverse_step_catches_the_one_indexed_slip(answer, ok, words, capsys):
    got, out = run(moons_ex.check_reverse_step, answer, capsys)
    assert got is ok and words in out, out


def test_reverse_step_check_exercises_the_boundary_timesteps(monkeypatch):
    seen = set()

    def spy(x, e, t, s, z):
        seen.add((int(t), s.T))
        return _rev()(x, e, t, s, z)

    moons_ex.check_reverse_step(spy)
    T = next(iter(seen))[1]
    assert {0, 1, T - 1} <= {t for t, _ in seen}, seen
    seen.clear()
    moons_ex.check_predict_x0(lambda x, e, t, s: seen.add((int(t), s.T)) or
                        (x - (1 - s.alpha_bars[t]).sqrt() * e) / s.alpha_bars[t].sqrt())
    assert {0, 1, T - 1} <= {t for t, _ in seen}, seen
