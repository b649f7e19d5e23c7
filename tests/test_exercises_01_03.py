"""Self-checks of notebooks 01-03: each accepts a correct answer and names each typical mistake."""
import math

import pytest
import torch

from ddpm_helpers.lessons.forward import check_forward_step, check_q_sample, check_signal_left, check_two_steps
from ddpm_helpers.lessons.moons import check_predict_x0, check_reverse_step


def run(check, answer, capsys):
    ok = check(answer)
    return ok, capsys.readouterr().out


def todo(*args):
    raise NotImplementedError("exercise")


# ---------------------------------------------------------------- 01: forward step
R = math.sqrt
FORWARD = [
    (lambda x, b, n: R(1 - b) * x + R(b) * n, True, "Correct"),
    (lambda x, b, n: R(1 - b) * x + b * n, False, "missing square root on β_t"),
    (lambda x, b, n: x + R(b) * n, False, "not shrunk"),
    (lambda x, b, n: (1 - b) * x + R(b) * n, False, "not 1-β_t (missing square root)"),
    (lambda x, b, n: R(1 - b) * x + n, False, "wrong noise scale"),
    (lambda x, b, n: R(1 - b) * x - R(b) * n, False, "subtracted the noise"),
    (lambda x, b, n: 2 * x, False, "none of the usual mistakes"),
    (todo, False, "Not solved yet"),
]


@pytest.mark.parametrize("answer,ok,words", FORWARD)
def test_check_forward_step(answer, ok, words, capsys):
    got, out = run(check_forward_step, answer, capsys)
    assert got is ok and words in out


def _ab(T, b0, b1):
    return torch.cumprod(1 - torch.linspace(b0, b1, T, dtype=torch.float64), 0)


SIGNAL = [
    (lambda T, b0, b1: _ab(T, b0, b1)[-1].sqrt().item(), True, "Correct"),
    (lambda T, b0, b1: _ab(T, b0, b1)[-1].item(), False, "ᾱ_T itself"),
    (lambda T, b0, b1: (1 - _ab(T, b0, b1)[-1]).sqrt().item(), False, "NOISE coefficient"),
    (lambda T, b0, b1: _ab(T, b0, b1)[-2].sqrt().item(), False, "Off by one"),
    (lambda T, b0, b1: R(1 - b1), False, "last α_T"),
    (None, False, "Not solved yet"),
]


@pytest.mark.parametrize("answer,ok,words", SIGNAL)
def test_check_signal_left(answer, ok, words, capsys):
    got, out = run(check_signal_left, answer, capsys)
    assert got is ok and words in out


# ---------------------------------------------------------------- 02: q_sample, two steps
def _col(v, x):
    return v.reshape(-1, *[1] * (x.ndim - 1))


QS = [
    (lambda x0, t, s, n: _col(s.alpha_bars[t], x0).sqrt() * x0 + _col(1 - s.alpha_bars[t], x0).sqrt() * n,
     True, "Correct"),
    (lambda x0, t, s, n: (_col(s.alpha_bars[t], x0).sqrt() * x0 + _col(1 - s.alpha_bars[t], x0).sqrt() * n, n),
     True, "Correct"),  # returning (x_t, noise) like ddpm_helpers is fine
    (lambda x0, t, s, n: s.alpha_bars[t].sqrt() * x0 + (1 - s.alpha_bars[t]).sqrt() * n, False, "wrong axis"),
    (lambda x0, t, s, n: _col(s.alpha_bars[t], x0) * x0 + _col(1 - s.alpha_bars[t], x0) * n, False,
     "Missing square root on ᾱ_t in front of x_0"),
    (lambda x0, t, s, n: _col(s.alphas[t], x0).sqrt() * x0 + _col(1 - s.alphas[t], x0).sqrt() * n, False,
     "√(1-α_t) where √(1-ᾱ_t) belongs"),
    (lambda x0, t, s, n: _col(s.alpha_bars_prev[t], x0).sqrt() * x0 + _col(1 - s.alpha_bars_prev[t], x0).sqrt() * n,
     False, "Off by one"),
    (lambda x0, t, s, n: s.alpha_bars[t][None].sqrt() @ x0, False, "raised"),
    (todo, False, "Not solved yet"),
]


@pytest.mark.parametrize("answer,ok,words", QS)
def test_check_q_sample(answer, ok, words, capsys):
    got, out = run(check_q_sample, answer, capsys)
    assert got is ok and words in out


TWO = [
    (lambda b1, b2: (R((1 - b1) * (1 - b2)), R(1 - (1 - b1) * (1 - b2))), True, "Correct"),
    (lambda b1, b2: (R((1 - b1) * (1 - b2)), R(b2) + R(1 - b2) * R(b1)), False, "VARIANCES add"),
    (lambda b1, b2: (R((1 - b1) * (1 - b2)), R(b1 + b2)), False, "shrunk by √α₂"),
    (lambda b1, b2: (R((1 - b1) * (1 - b2)), 1 - (1 - b1) * (1 - b2)), False, "returned the variance"),
    (lambda b1, b2: ((1 - b1) * (1 - b2), R(1 - (1 - b1) * (1 - b2))), False, "mean_coef: missing square root"),
    (lambda b1, b2: 0.5, False, "pair"),
    (None, False, "Not solved yet"),
]


@pytest.mark.parametrize("answer,ok,words", TWO)
def test_check_two_steps(answer, ok, words, capsys):
    got, out = run(check_two_steps, answer, capsys)
    assert got is ok and words in out


def test_a_pair_with_two_slips_names_both(capsys):
    """The engine combines the mistakes of each part of an answer made of several numbers."""
    got, out = run(check_two_steps, lambda b1, b2: ((1 - b1) * (1 - b2), R(b1 + b2)), capsys)
    assert got is False and "mean_coef: missing square root" in out and "shrunk by √α₂" in out, out
    got, out = run(check_two_steps, lambda b1, b2: (0.3, 0.2), capsys)
    assert got is False and "none of the usual mistakes" in out and "wrong: mean_coef, std" in out, out


def test_an_answer_editing_its_inputs_in_place_is_judged_fairly(capsys):
    """The engine hands the student copies: an in-place answer cannot change the reference's inputs."""
    got, out = run(check_forward_step, lambda x, b, n: x.mul_(R(1 - b)).add_(R(b) * n), capsys)
    assert got is True and "Correct" in out, out
    got, out = run(check_forward_step, "not a function", capsys)
    assert got is False and "must be a function" in out, out


# ---------------------------------------------------------------- 03: reverse step, predict_x0
def _step(sign=-1, full=False, rescale=True, sigma="post", noise_at_0=False):
    def f(x, e, t, s, z):
        b, a, ab = s.betas[t], s.alphas[t], s.alpha_bars[t]
        m = x + sign * (e if full else b / (1 - ab).sqrt() * e)
        if rescale:
            m = m / a.sqrt()
        sd = {"post": s.posterior_variance[t].sqrt(), "beta": b.sqrt(), "var": s.posterior_variance[t]}[sigma]
        return m + sd * z if (t > 0 or noise_at_0) else m
    return f


REV = [
    (_step(), True, "Correct"),
    (_step(sigma="beta"), True, "also valid"),
    (_step(sign=+1), False, "Wrong sign"),
    (_step(full=True), False, "whole predicted noise"),
    (_step(full=True, rescale=False), False, "whole predicted noise"),
    (_step(rescale=False), False, "Missing the 1/√α_t"),
    (_step(sigma="beta", noise_at_0=True), False, "Noise added at t = 0"),
    (_step(sigma="var"), False, "standard DEVIATION"),
    (todo, False, "Not solved yet"),
]


@pytest.mark.parametrize("answer,ok,words", REV)
def test_check_reverse_step(answer, ok, words, capsys):
    got, out = run(check_reverse_step, answer, capsys)
    assert got is ok and words in out


X0 = [
    (lambda x, e, t, s: (x - (1 - s.alpha_bars[t]).sqrt() * e) / s.alpha_bars[t].sqrt(), True, "Correct"),
    (lambda x, e, t, s: x - e, False, "classic blunder"),
    (lambda x, e, t, s: x - (1 - s.alpha_bars[t]).sqrt() * e, False, "Missing the division"),
    (lambda x, e, t, s: (x - (1 - s.alphas[t]).sqrt() * e) / s.alphas[t].sqrt(), False, "1/√α_t where 1/√ᾱ_t"),
    (lambda x, e, t, s: (x + (1 - s.alpha_bars[t]).sqrt() * e) / s.alpha_bars[t].sqrt(), False, "Wrong sign"),
    (todo, False, "Not solved yet"),
]


@pytest.mark.parametrize("answer,ok,words", X0)
def test_check_predict_x0(answer, ok, words, capsys):
    got, out = run(check_predict_x0, answer, capsys)
    assert got is ok and words in out
