"""Every check names the mistake (issue 21, section 3; notebook 07's, issue 23), for all exercises of the seven
notebooks.

* the catalogue: each exercise's variants (reference, accepted forms, mistakes) differ from each other on
  its cases, by more than 10x the check's tolerance, so the first variant that reproduces an answer is the
  only one; each mistake is valid on at least one case; fed to its check, each mistake is named by its own
  message, and each accepted form passes;
* equal answers pass: numpy, float32, float64, Python floats, and hand-written math / numpy / torch forms;
* the engine's own diagnoses, for every exercise: None (a forgotten return), an exception on one case
  (named with its inputs), fresh random numbers, a wrong dtype or device, NaN;
* the slips issue 21 lists, written as a student would, are each named.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from ddpm_helpers.lessons.ddim import exercises as ddim_ex
from ddpm_helpers.lessons.elbo import exercises as elbo_ex
from ddpm_helpers.lessons.forward import exercises as forward_ex
from ddpm_helpers.lessons.guidance import exercises as guidance_ex
from ddpm_helpers.lessons.moons import exercises as moons_ex
from ddpm_helpers.lessons.unet import exercises as unet_ex
from ddpm_helpers.ui.checking import as_f64, check_answer

MODULES = [forward_ex, moons_ex, unet_ex, elbo_ex, ddim_ex, guidance_ex]
EXERCISES = {name: make for m in MODULES for name, make in m.EXERCISES.items()}
IDS = list(EXERCISES)
R = math.sqrt
# variants allowed to be invalid (raise or give NaN) on every case: they match only an answer that raises the
# same exception (or gives NaN) everywhere
ALWAYS_INVALID = {("ddim_sigma", "1 - alpha_bar_prev / alpha_bar_t is negative")}


def verdict(check, answer, capsys):
    ok = check(answer)
    return ok, capsys.readouterr().out


def test_every_check_has_a_catalogued_exercise():
    checks = {n[len("check_"):] for m in MODULES for n in m.__all__ if n.startswith("check_")}
    assert checks == set(EXERCISES), checks ^ set(EXERCISES)


def outcome(fn, case):
    """What a variant gives on a case: a float64 tensor, or "invalid" (an exception, NaN or infinity)."""
    try:
        v = as_f64(fn(*case))
    except Exception:
        return "invalid"
    return v if bool(torch.isfinite(v).all()) else "invalid"


def alike(a, b, ex, margin=10.0):
    for x, y in zip(a, b):
        if isinstance(x, str) or isinstance(y, str):
            if x is not y and not (isinstance(x, str) and isinstance(y, str)):
                return False
            continue
        x, y = (v.reshape(()) if v.numel() == 1 else v for v in (x, y))
        if x.shape != y.shape or not torch.allclose(x, y, rtol=margin * ex.rtol, atol=margin * ex.atol):
            return False
    return True


@pytest.mark.parametrize("key", IDS)
def test_catalogue_variants_are_told_apart_on_the_cases(key):
    ex = EXERCISES[key]()
    named = [("the reference", ex.reference)] + [(m, v) for v, m in ex.accepted] + [(m, v) for v, m in ex.mistakes]
    assert len(ex.mistakes) >= 5, f"{key}: only {len(ex.mistakes)} mistakes catalogued"
    outs = [[outcome(v, c) for c in ex.cases] for _, v in named]
    assert all(not isinstance(o, str) for o in outs[0]), f"{key}: the reference fails on a case"
    for (msg, _), out in zip(named, outs):
        if all(isinstance(o, str) for o in out):
            assert any(key == k and frag in msg for k, frag in ALWAYS_INVALID), f"{key}: invalid everywhere: {msg}"
    same = [(named[i][0], named[j][0]) for i, j in itertools.combinations(range(len(named)), 2)
            if alike(outs[i], outs[j], ex)]
    assert not same, f"{key}: {len(same)} pairs of variants coincide on the cases, e.g. {same[:3]}"


@pytest.mark.parametrize("key", IDS)
def test_every_catalogued_mistake_is_named_and_every_accepted_form_passes(key, capsys):
    ex = EXERCISES[key]()
    for variant, msg in ex.mistakes:
        ok, out = verdict(ex.check, variant, capsys)
        assert not ok and out.strip() == "❌ " + " ".join(msg.split()), (key, msg, out)
    for variant, msg in ex.accepted:
        ok, out = verdict(ex.check, variant, capsys)
        assert ok and " ".join(msg.split()) in out, (key, msg, out)


# ----------------------------------------------------------------------------- equal answers pass
def forms(ref):
    """The reference's result as numpy float64, float32 tensor, float64 tensor, Python numbers, a list."""
    yield lambda *a: as_f64(ref(*a)).numpy()
    yield lambda *a: as_f64(ref(*a)).float()
    yield lambda *a: as_f64(ref(*a))
    yield lambda *a: as_f64(ref(*a)).tolist()
    yield lambda *a: np.float64(as_f64(ref(*a)).reshape(-1)[0]) if as_f64(ref(*a)).numel() == 1 else as_f64(ref(*a))


@pytest.mark.parametrize("key", IDS)
def test_answers_of_any_numeric_type_pass(key, capsys):
    ex = EXERCISES[key]()
    for answer in forms(ex.reference):
        ok, out = verdict(ex.check, answer, capsys)
        assert ok, (key, out)


def _col(v, x):
    return v.reshape(-1, *[1] * (x.ndim - 1))


def _kl_torch(m1, v1, m2, v2):
    return 0.5 * (torch.log(torch.as_tensor(v2 / v1)) + (v1 + (m1 - m2) ** 2) / v2 - 1)


HAND_WRITTEN = {  # exercise -> answers a student could write, each mathematically right
    "forward_step": [lambda x, b, n: math.sqrt(1 - b) * x + math.sqrt(b) * n,
                     lambda x, b, n: np.sqrt(1 - b) * x.numpy() + np.sqrt(b) * n.numpy(),
                     lambda x, b, n: torch.sqrt(torch.tensor(1 - b)) * x.double() + torch.tensor(b).sqrt() * n],
    "signal_left": [lambda T, b0, b1: math.prod(1 - b for b in np.linspace(b0, b1, T)) ** 0.5,
                    lambda T, b0, b1: torch.cumprod(1 - torch.linspace(b0, b1, T), 0)[-1].sqrt()],
    "q_sample": [lambda x0, t, s, n: (_col(s.alpha_bars[t], x0).sqrt() * x0 + _col(1 - s.alpha_bars[t], x0).sqrt() * n,
                                      n),
                 lambda x0, t, s, n: s.alpha_bars.double()[t].sqrt().view(-1, *[1] * (x0.ndim - 1)) * x0
                 + (1 - s.alpha_bars.double()[t]).sqrt().view(-1, *[1] * (x0.ndim - 1)) * n],
    "two_steps": [lambda b1, b2: (R((1 - b1) * (1 - b2)), R(1 - (1 - b1) * (1 - b2))),
                  lambda b1, b2: np.sqrt([(1 - b1) * (1 - b2), (1 - b2) * b1 + b2]),
                  lambda b1, b2: [torch.tensor((1 - b1) * (1 - b2)).sqrt(),
                                  torch.tensor(1 - (1 - b1) * (1 - b2)).sqrt()]],
    "reverse_step": [
        lambda x, e, t, s, z: (x - s.betas[t].item() / R(1 - s.alpha_bars[t].item()) * e) / R(s.alphas[t].item())
        + (R(s.betas[t].item() * (1 - s.alpha_bars_prev[t].item()) / (1 - s.alpha_bars[t].item())) * z if t else 0),
        lambda x, e, t, s, z: (x - s.betas[t] / (1 - s.alpha_bars[t]).sqrt() * e) * s.alphas[t].rsqrt()
        + (t > 0) * s.posterior_variance[t].sqrt() * z],
    "predict_x0": [lambda x, e, t, s: (x - R(1 - s.alpha_bars[t].item()) * e) / R(s.alpha_bars[t].item()),
                   lambda x, e, t, s: x * s.alpha_bars[t].rsqrt() - (1 / s.alpha_bars[t] - 1).sqrt() * e],
    "sinusoidal_embedding": [
        lambda t, d: torch.cat([torch.sin(t[:, None] * 10000 ** (-torch.arange(0, d, 2) / d)),
                                torch.cos(t[:, None] * 10000 ** (-torch.arange(0, d, 2) / d))], 1),
        lambda t, d: np.concatenate([np.sin(np.outer(t.numpy(), np.exp(-np.log(1e4) * np.arange(d // 2) / (d // 2)))),
                                     np.cos(np.outer(t.numpy(), np.exp(-np.log(1e4) * np.arange(d // 2) / (d // 2))))],
                                    1)],
    "time_injection": [lambda h, e: h + e.view(*e.shape, 1, 1), lambda h, e: h + e.unsqueeze(-1).unsqueeze(-1)],
    "nearest_distance": [lambda s, tr: torch.cdist(s.reshape(1, -1), tr.flatten(1)).min().item(),
                         lambda s, tr: min(np.linalg.norm((im - s).numpy()) for im in tr)],
    "gaussian_kl": [_kl_torch, lambda m1, v1, m2, v2: 0.5 * (torch.log(torch.as_tensor(v2))
                                                             - torch.log(torch.as_tensor(v1)))
                    + (v1 + (m1 - m2) ** 2) / (2 * v2) - 0.5],
    "posterior_mean_eps": [lambda x, e, b, a, ab: (x - b / math.sqrt(1 - ab) * e) / math.sqrt(a),
                           lambda x, e, b, a, ab: x / np.sqrt(a) - b / np.sqrt(a * (1 - ab)) * e],
    "elbo_weight": [lambda b, a, ab, s2: b**2 / (2 * s2 * a * (1 - ab)),
                    lambda b, a, ab, s2: np.float64(b) ** 2 / 2 / s2 / a / (1 - ab)],
    "posterior_variance": [lambda b, abp: 1 / ((1 - b) / b + 1 / (1 - abp)),
                           lambda b, abp: (1 - abp) / (1 - (1 - b) * abp) * b],
    "eps_form_coefs": [lambda b, abp: (1 / R(1 - b), -b / (R(1 - b) * R(1 - (1 - b) * abp))),
                       lambda b, abp: np.array([1, -b / R(1 - (1 - b) * abp)]) / np.sqrt(1 - b)],
    "w_snr_form": [lambda ab, abp: 0.5 * ((abp / (1 - abp)) / (ab / (1 - ab)) - 1),
                   lambda ab, abp: (1 - ab / abp) / (2 * (ab / abp) * (1 - abp))],
    "ddim_sigma": [lambda ab, abp, eta: eta * math.sqrt((1 - abp) / (1 - ab)) * math.sqrt(1 - ab / abp),
                   lambda ab, abp, eta: eta * torch.tensor((1 - abp) / (1 - ab) * (1 - ab / abp)).sqrt()],
    "ddim_update": [lambda x, e, ab, abp, s, z: R(abp) * (x - R(1 - ab) * e) / R(ab) + R(1 - abp - s**2) * e + s * z,
                    lambda x, e, ab, abp, s, z: np.sqrt(abp / ab) * x.numpy()
                    + (np.sqrt(1 - abp - s**2) - np.sqrt(abp * (1 - ab) / ab)) * e.numpy() + s * z.numpy()],
    "slerp": [lambda z0, z1, a: (torch.sin((1 - a) * torch.arccos(z0 @ z1 / (z0.norm() * z1.norm()))) * z0
                                 + torch.sin(a * torch.arccos(z0 @ z1 / (z0.norm() * z1.norm()))) * z1)
              / torch.sin(torch.arccos(z0 @ z1 / (z0.norm() * z1.norm())))],
    "sigma_eta1": [lambda ab, abp, b: (1 - abp) / (1 - ab) * (1 - ab / abp),
                   lambda ab, abp, b: ((R((1 - abp) / (1 - ab)) * R(1 - ab / abp)) ** 2)],
    "respaced_betas": [lambda ab, ts: [1 - ab[t].item() / (ab[ts[k - 1]].item() if k else 1.0)
                                       for k, t in enumerate(ts)],
                       lambda ab, ts: 1 - ab[ts] / torch.cat([torch.ones(1, dtype=ab.dtype), ab[ts][:-1]])],
    "classifier_guided_eps": [lambda e, gr, ab, s: e - s * math.sqrt(1 - ab) * gr,
                              lambda e, gr, ab, s: -math.sqrt(1 - ab) * (-e / math.sqrt(1 - ab) + s * gr)],
    "guided_eps": [lambda ec, eu, s: (1 - s) * eu + s * ec, lambda ec, eu, s: s * ec - (s - 1) * eu,
                   lambda ec, eu, s: torch.lerp(eu, ec, s),
                   lambda ec, eu, s: ec.numpy() + (s - 1) * (ec.numpy() - eu.numpy())],
    "drop_labels": [lambda y, p, k, u, training: torch.where(u < p, k, y) if training else y,
                    lambda y, p, k, u, training: y.masked_fill((u < p) & training, k),
                    lambda y, p, k, u, training: [k if training and ui < p else yi for yi, ui in zip(y.tolist(),
                                                                                               u.tolist())],
                    lambda y, p, k, u, training: torch.where(u <= p, torch.full_like(y, k), y) if training else y],
    "null_label": [lambda k: (k + 1, k), lambda k: [k + 1, k], lambda k: torch.tensor([k + 1, k])],
}


@pytest.mark.parametrize("key", IDS)
def test_hand_written_equal_forms_pass(key, capsys):
    assert HAND_WRITTEN.get(key), f"{key}: no hand-written forms"
    for answer in HAND_WRITTEN[key]:
        ok, out = verdict(EXERCISES[key]().check, answer, capsys)
        assert ok and "Correct" in out, (key, out)


# ----------------------------------------------------------------------------- the engine's own diagnoses
@pytest.mark.parametrize("key", IDS)
def test_a_forgotten_return_is_named(key, capsys):
    def no_return(*args):
        args[0] * 2  # noqa: B018 (the student's last line computes and drops the result)
    ok, out = verdict(EXERCISES[key]().check, no_return, capsys)
    assert not ok and "returned None: did you forget `return`?" in out, out


@pytest.mark.parametrize("key", IDS)
def test_an_exception_on_one_case_names_that_case(key, capsys):
    ex = EXERCISES[key]()
    calls = []

    def fails_last(*args):
        calls.append(1)
        if len(calls) == len(ex.cases):
            raise RuntimeError("boom")
        return ex.reference(*args)
    ok, out = verdict(ex.check, fails_last, capsys)
    last = ex.cases[-1]
    small = [a for a in last if isinstance(a, (int, float)) and not isinstance(a, bool)]
    assert not ok and "raised RuntimeError on the case" in out and ": boom." in out, out
    assert all(f"= {a:.4g}" in out if isinstance(a, float) else f"= {a}" in out for a in small), (small, out)


def test_math_log_on_the_tensor_case_names_the_case_and_the_fix(capsys):
    ok, out = verdict(elbo_ex.check_gaussian_kl, lambda mean1, var1, mean2, var2:
                      0.5 * (math.log(var2 / var1) + (var1 + (mean1 - mean2) ** 2) / var2 - 1), capsys)
    assert not ok and "raised ValueError on the case mean1 = tensor([0, 1]), var1 = tensor([1, 0.25])" in out, out
    assert "only one element tensors" in out and "use torch.log" in out, out


@pytest.mark.parametrize("key, good", [
    ("forward_step", lambda x, b, n: R(1 - b) * x + R(b) * n),
    ("q_sample", lambda x0, t, s, n: _col(s.alpha_bars[t], x0).sqrt() * x0 + _col(1 - s.alpha_bars[t], x0).sqrt() * n),
    ("reverse_step", lambda x, e, t, s, z: ((x - s.betas[t] / (1 - s.alpha_bars[t]).sqrt() * e) / s.alphas[t].sqrt()
                                           + (t > 0) * s.posterior_variance[t].sqrt() * z)),
    ("ddim_update", lambda x, e, ab, abp, s, z: R(abp) * (x - R(1 - ab) * e) / R(ab) + R(1 - abp - s**2) * e + s * z),
])
def test_fresh_noise_is_named_and_the_generators_are_left_alone(key, good, capsys):
    noise_arg = {"reverse_step": "z", "ddim_update": "z"}.get(key, "noise")
    local = torch.Generator().manual_seed(0)
    before = torch.get_rng_state()
    for draw in (torch.randn_like, lambda v: torch.randn(v.shape, generator=local),
                 lambda v: torch.as_tensor(np.random.randn(*v.shape), dtype=v.dtype)):
        def fresh(*args, draw=draw):
            args = list(args)
            args[-1] = draw(args[-1])
            return good(*args)
        ok, out = verdict(EXERCISES[key]().check, fresh, capsys)
        assert not ok and f"draws fresh random numbers: use the `{noise_arg}` argument" in out, out
    assert torch.equal(before, torch.get_rng_state())  # the check puts the generator back


def test_random_numbers_where_the_formula_has_none(capsys):
    ok, out = verdict(moons_ex.check_predict_x0, lambda x, e, t, s: x + 0.01 * torch.randn_like(x), capsys)
    assert not ok and "draws random numbers, but this formula has none" in out, out


def test_dtype_device_shape_and_nan_are_named(capsys):
    def good(x, b, n):
        return R(1 - b) * x + R(b) * n
    ok, out = verdict(forward_ex.check_forward_step, lambda x, b, n: good(x, b, n).half(), capsys)
    assert not ok and "right to about 3 digits" in out and "torch.float16" in out, out
    ok, out = verdict(forward_ex.check_forward_step, lambda x, b, n: good(x, b, n).long(), capsys)
    assert not ok and "integer result (torch.int64)" in out, out
    ok, out = verdict(forward_ex.check_forward_step, lambda x, b, n: good(x, b, n).to("meta"), capsys)
    assert not ok and "returned a tensor on meta" in out, out
    ok, out = verdict(forward_ex.check_forward_step, lambda x, b, n: good(x, b, n)[None], capsys)
    assert not ok and "returned shape (1, 4, 1, 6, 6), expected (4, 1, 6, 6)" in out, out
    ok, out = verdict(elbo_ex.check_posterior_variance, lambda beta_t, alpha_bar_prev: math.nan if beta_t > 0.5
                      else (1 - alpha_bar_prev) / (1 - (1 - beta_t) * alpha_bar_prev) * beta_t, capsys)
    assert not ok and "gave NaN or infinity on the case beta_t = 0.6, alpha_bar_prev = 0.7" in out, out


def test_an_answer_wrong_on_one_case_names_it(capsys):
    ok, out = verdict(forward_ex.check_forward_step,
                      lambda x_prev, beta_t, noise: (R(1 - beta_t) * x_prev + R(beta_t) * noise) * (1.1 if beta_t > 0.5
                                                                                                 else 1), capsys)
    assert not ok and "on the case x_prev = a (5, 2) tensor, beta_t = 0.6, noise = a (5, 2) tensor" in out, out


# ----------------------------------------------------------------------------- issue 21's list, as students write it
def _q(ab_of, noise_coef=None):
    """q_sample with alpha_bar taken by ``ab_of(s, t)``; ``noise_coef(s, t, a)`` replaces sqrt(1 - a)."""
    def f(x0, t, s, n):
        a = _col(ab_of(s, t), x0)
        return a.sqrt() * x0 + (noise_coef(s, t, a) if noise_coef else (1 - a).sqrt()) * n
    return f


ISSUE_LIST = [
    (moons_ex.check_reverse_step, lambda x, e, t, s, z: (x - s.betas[t] / (1 - s.alphas[t]).sqrt() * e)
     / s.alpha_bars[t].sqrt() + (t > 0) * s.posterior_variance[t].sqrt() * z,
     ["1/√ᾱ_t where 1/√α_t belongs", "β_t/√(1-α_t) (= √β_t) where β_t/√(1-ᾱ_t) belongs"]),
    (forward_ex.check_q_sample, _q(lambda s, t: s.alpha_bars[t - 1]), ["at t = 0, [t-1] wraps around to [-1]"]),
    (forward_ex.check_q_sample, _q(lambda s, t: s.alpha_bars[t + 1]), ["at t = T-1, [t+1] is out of range"]),
    (forward_ex.check_q_sample, _q(lambda s, t: s.alpha_bars[t], lambda s, t, a: _col(1 - s.alphas[t], a).sqrt()),
     ["The noise coefficient: √(1-α_t) where √(1-ᾱ_t) belongs"]),
    (forward_ex.check_q_sample, _q(lambda s, t: s.alpha_bars[t], lambda s, t, a: 1 - a),
     ["Missing square root on the noise coefficient"]),
    (moons_ex.check_predict_x0,
     lambda x, e, t, s: (x - (1 - s.alpha_bars[t - 1]).sqrt() * e) / s.alpha_bars[t - 1].sqrt(),
     ["[t-1] wraps around to [-1]"]),
    (moons_ex.check_reverse_step, lambda x, e, t, s, z: (x - s.betas[t] / (1 - s.alpha_bars[t]).sqrt() * e)
     / s.alphas[t].sqrt() + (t > 0) * s.posterior_variance[t] * z, ["σ_t is the standard DEVIATION"]),
    (elbo_ex.check_elbo_weight, lambda b, a, ab, s2: b**2 / (2 * R(s2) * a * (1 - ab)),
     ["not by the standard deviation"]),
    (elbo_ex.check_gaussian_kl, lambda m1, v1, m2, v2: _kl_torch(m1, v1, m2, v2) - torch.log(torch.as_tensor(v2 / v1)),
     ["Wrong sign of the log term"]),
    (elbo_ex.check_gaussian_kl, lambda m1, v1, m2, v2: _kl_torch(m2, v2, m1, v1), ["the arguments are swapped"]),
    (forward_ex.check_forward_step, lambda x, b, n: (1 - b) ** 1/2 * x + b ** 1/2 * n, ["`x ** 1/2` is (x ** 1) / 2"]),
    (forward_ex.check_forward_step, lambda x, b, n: R(b) * x + R(1 - b) * n, ["coefficients are swapped"]),
    (ddim_ex.check_ddim_update, lambda x, e, ab, abp, s, z: R(abp) * (x - R(1 - ab) * e) / R(ab) + R(1 - abp) * e
     + s * z, ["sqrt(1 - alpha_bar_prev - sigma_t^2)"]),
    (ddim_ex.check_ddim_sigma, lambda ab, abp, eta: eta * torch.tensor((1 - abp) / (1 - ab) * (1 - abp / ab)).sqrt(),
     ["1 - alpha_bar_prev / alpha_bar_t is negative"]),  # torch gives NaN where math.sqrt raises: same slip
]


@pytest.mark.parametrize("check, answer, words", ISSUE_LIST)
def test_the_slips_issue_21_lists_are_named(check, answer, words, capsys):
    ok, out = verdict(check, answer, capsys)
    assert not ok and all(w in out for w in words), out


def test_the_engine_accepts_only_what_it_can_read(capsys):
    ex = EXERCISES["signal_left"]()
    ok, out = verdict(lambda fn: check_answer(fn, ex), lambda T, b0, b1: [0.1, 0.2], capsys)
    assert not ok and "return one number, got [0.1, 0.2]" in out, out


# ----------------------------------------------------------------------------- issue 23's list (notebook 07)
G = guidance_ex
ISSUE_23_LIST = [
    (G.check_guided_eps, lambda ec, eu, s: eu - s * (ec - eu), ["Wrong sign", "steers AWAY from the class"]),
    (G.check_guided_eps, lambda ec, eu, s: s * eu + (1 - s) * ec, ["The scale is on the wrong term"]),
    (G.check_guided_eps, lambda ec, eu, s: (1 + s) * ec - s * eu, ["Ho & Salimans' form", "conventions are mixed"]),
    (G.check_guided_eps, lambda ec, eu, s: eu + (s - 1) * (ec - eu), ["You used s - 1 (Ho & Salimans' w)"]),
    (G.check_guided_eps, lambda ec, eu, s: s * (ec - eu), ["The unconditional term in front is missing"]),
    (G.check_guided_eps, lambda ec, eu, s: eu + s * ec - eu, ["parentheses around (eps_cond - eps_uncond)"]),
    (G.check_drop_labels, lambda y, p, k, u, training: torch.where(u < p, k, y),
     ["You also drop labels at sampling (training = False)"]),
    (G.check_drop_labels, lambda y, p, k, u, training: torch.full_like(y, k) if training else y,
     ["You replace EVERY label by the null label"]),
    (G.check_drop_labels, lambda y, p, k, u, training: torch.where(u > p, k, y) if training else y,
     ["with probability 1 - p", "probability of DROPPING"]),
    (G.check_drop_labels, lambda y, p, k, u, training: torch.where(u < p, 0, y) if training else y,
     ["You replace dropped labels by 0", "class 0"]),
    (G.check_drop_labels, lambda y, p, k, u, training: torch.where(torch.rand(y.shape) < p, k, y) if training else y,
     ["draws fresh random numbers: use the `u` argument"]),
    (G.check_null_label, lambda k: (k + 1, 0), ["0 is the index of class 0", "guidance towards it does nothing"]),
    (G.check_null_label, lambda k: (k + 1, k - 1), ["K - 1 is the index of class K - 1"]),
    (G.check_null_label, lambda k: (k, k - 1), ["A table of K rows has no row to spare"]),
    (G.check_null_label, lambda k: (k, k), ["raises IndexError for K", "K + 1 rows"]),
    (G.check_classifier_guided_eps, lambda e, gr, ab, s: e + s * math.sqrt(1 - ab) * gr, ["Wrong sign"]),
    (G.check_classifier_guided_eps, lambda e, gr, ab, s: e - s * gr / math.sqrt(1 - ab), ["conversion is inverted"]),
]


@pytest.mark.parametrize("check, answer, words", ISSUE_23_LIST)
def test_the_slips_issue_23_lists_are_named(check, answer, words, capsys):
    ok, out = verdict(check, answer, capsys)
    assert not ok and all(w in out for w in words), out


def test_label_dropout_is_told_from_its_mirror_at_sampling(capsys):
    """Dropping at sampling is named only if a case runs with training=False and some u < p; dropping only at
    sampling (the flag inverted) is a different message."""
    ex = G.EXERCISES["drop_labels"]()
    assert any(not tr and bool((u < p).any()) for _, p, _, u, tr in ex.cases)
    assert any(tr and 0 < p < 1 and bool((u < p).any()) and bool((u >= p).any()) for _, p, _, u, tr in ex.cases)
    ok, out = verdict(ex.check, lambda y, p, k, u, training: y if training else torch.where(u < p, k, y), capsys)
    assert not ok and "The flag is inverted" in out, out
