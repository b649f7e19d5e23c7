"""Notebook 07's 2-D half (ddpm_helpers.core.ideal, ddpm_helpers.lessons.guidance): the exact guided score of a
labelled data set is the gradient of log q_t(x) + s log q_t(c | x) (finite differences), its s = 0 / s = 1 limits,
the noise-aware classifier q_t(c | x) is Bayes' rule on the mixture, the tilted target's weights, and a conditional
TimeMLP trained as in the notebook's quick mode matches the exact score where it should (t >= 300) and puts the
same mass on the class at s = 0, 1 and 4.
"""
from __future__ import annotations

import math

import pytest
import torch

from ddpm_helpers import NoiseSchedule, TimeMLP, make_moons_data, q_sample, train
from ddpm_helpers.core.guidance import Guided
from ddpm_helpers.core.ideal import IdealDenoiser, class_posterior, log_q_t, optimal_eps, score_from_eps
from ddpm_helpers.core.moons import assign_moon
from ddpm_helpers.core.stats import wilson_interval
from ddpm_helpers.lessons.guidance import (eps_agreement, exact_guided_eps, guided_log_density, sample_guided,
                                          tilt_then_noise, tilted_target)

LIN = NoiseSchedule.linear(1000)


def _labelled(n=12, seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    data = torch.randn(n, 2, generator=g, dtype=torch.float64, device="cpu")
    labels = torch.arange(n, device="cpu") % 2
    return data, labels


def test_labelled_moons_are_the_same_points_with_their_moon():
    x, y = make_moons_data(2000, seed=4, return_labels=True)
    assert torch.equal(x, make_moons_data(2000, seed=4))  # the same draw, labels only added
    assert y.dtype == torch.long and sorted(y.unique().tolist()) == [0, 1] and y.sum().item() == 1000
    # 0 = outer moon, 1 = inner moon, as core.moons.assign_moon reads them (noise 0.05 is far below the gap)
    assert (assign_moon(x) == y).double().mean().item() > 0.999


@pytest.mark.parametrize("t", [50, 300, 700])
@pytest.mark.parametrize("s", [0.0, 0.5, 1.0, 3.0])
def test_exact_guided_score_is_the_gradient_of_the_guided_log_density(t, s):
    """-eps~ / sqrt(1 - ab) = grad[(1 - s) log q_t(x) + s log q_t(x | c)], by central differences in float64."""
    data, labels = _labelled()
    x = 1.2 * torch.randn(6, 2, generator=torch.Generator(device="cpu").manual_seed(t), dtype=torch.float64,
                          device="cpu")
    score = score_from_eps(exact_guided_eps(x, t, data, labels, 1, s, LIN), t, LIN)
    h = 1e-4 * math.sqrt(1 - float(LIN.alpha_bars[t]))  # a step far below the noise's std
    fd = torch.stack([(guided_log_density(x + h * e, t, data, labels, 1, s, LIN)
                       - guided_log_density(x - h * e, t, data, labels, 1, s, LIN)) / (2 * h)
                      for e in torch.eye(2, dtype=torch.float64, device="cpu")], dim=1)
    # central differences err by h^2/6 f''' (about 1e-8 of the score at this h) plus float64 rounding of
    # log-sum-exps of size ~10 divided by h (about 1e-10 relative): 1e-6 of the score's scale suffices
    assert torch.allclose(score, fd, rtol=1e-6, atol=1e-6 * score.abs().max().item())


def test_s0_is_unconditional_and_s1_is_conditional():
    data, labels = _labelled()
    x = torch.randn(5, 2, generator=torch.Generator(device="cpu").manual_seed(1), dtype=torch.float64, device="cpu")
    t = 200
    # eps_u + s (eps_c - eps_u) at s = 0 / 1: one float64 multiply-add away from eps_u / eps_c
    assert torch.allclose(exact_guided_eps(x, t, data, labels, 0, 0.0, LIN), optimal_eps(x, t, data, LIN),
                          rtol=0, atol=1e-12)
    assert torch.allclose(exact_guided_eps(x, t, data, labels, 0, 1.0, LIN),
                          optimal_eps(x, t, data[labels == 0], LIN), rtol=0, atol=1e-12)
    # the core's Guided wrapper around the ideal denoiser is the same formula (float32 out: 1e-5 relative)
    ideal = IdealDenoiser(data, LIN, labels)
    for s in (0.0, 1.0, 2.5):
        got = Guided(ideal, 0, s)(x.float(), torch.full((5,), t, device="cpu"))
        want = exact_guided_eps(x, t, data, labels, 0, s, LIN)
        assert torch.allclose(got.double(), want, rtol=1e-5, atol=1e-5), s


def test_class_posterior_is_bayes_on_the_mixture():
    data, labels = _labelled(n=9)
    x = torch.randn(4, 2, generator=torch.Generator(device="cpu").manual_seed(2), dtype=torch.float64, device="cpu")
    t = 120
    post = class_posterior(x, t, data, labels, 2, LIN)
    for c in (0, 1):
        prior = (labels == c).double().mean().item()
        bayes = torch.exp(log_q_t(x, t, data[labels == c], LIN) + math.log(prior) - log_q_t(x, t, data, LIN))
        assert torch.allclose(post[:, c], bayes, rtol=1e-10, atol=1e-12)
    assert torch.allclose(post.sum(1), torch.ones(4, dtype=torch.float64, device="cpu"), atol=1e-12)


def test_tilted_target_weights():
    data, labels = make_moons_data(400, seed=3, return_labels=True)
    g = torch.Generator(device="cpu").manual_seed(0)
    w0 = tilted_target(data, labels, 1, 0.0, LIN, 10, g)["weights"]
    assert torch.allclose(w0, torch.full_like(w0, 1 / 400))  # s = 0: p_0 itself
    for s in (1.0, 4.0):  # the moons do not overlap: p_0(c|x) is 1 on moon c and ~0 elsewhere, for every s > 0
        out = tilted_target(data, labels, 1, s, LIN, 10, g)
        assert torch.allclose(out["weights"], (labels == 1).double() / (labels == 1).sum(), atol=1e-12)
        assert abs(out["ess"] - (labels == 1).sum().item()) < 1e-6
        assert (assign_moon(out["samples"]) == 1).all()


def test_tilting_commutes_with_noising_only_at_s0_and_s1():
    """The guided density q_t(x) q_t(c|x)^s against the tilted target noised to t: the same at s = 0 and 1 (total
    variation on the grid at float64 rounding), different otherwise (measured 0.11-0.47 at t = 300, s = 0.5..8)."""
    data, labels = make_moons_data(300, seed=5, return_labels=True)
    for s in (0.0, 1.0):
        assert tilt_then_noise(data, labels, 1, s, 300, LIN, n_grid=41)["tv"] < 1e-9, s
    for s in (0.5, 4.0):
        assert tilt_then_noise(data, labels, 1, s, 300, LIN, n_grid=41)["tv"] > 0.05, s


def test_bad_input_names_the_argument():
    data, labels = _labelled()
    x = torch.zeros(2, 2, dtype=torch.float64, device="cpu")
    with pytest.raises(ValueError, match="c must be a class"):
        exact_guided_eps(x, 10, data, labels, 5, 1.0, LIN)
    with pytest.raises(ValueError, match="s must be"):
        exact_guided_eps(x, 10, data, labels, 0, -1.0, LIN)
    with pytest.raises(ValueError, match="labels must"):
        IdealDenoiser(data, LIN, labels[:3])
    with pytest.raises(ValueError, match="labels must lie"):
        class_posterior(x, 10, data, labels + 1, 2, LIN)


# ----------------------------------------------------------------------------- the trained MLP against the exact score
@pytest.fixture(scope="module")
def moons_models():
    """As notebook 07's quick mode: 1000 labelled moons, a conditional TimeMLP, 1500 steps, label dropout 0.1."""
    data, labels = make_moons_data(1000, seed=0, return_labels=True)
    mlp = TimeMLP(num_classes=2)
    res = train(mlp, data, LIN, labels=labels, label_dropout=0.1, steps=1500, batch_size=256, lr=2e-3, seed=0,
                progress=False)
    return data, labels, IdealDenoiser(data, LIN, labels), res.ema


@pytest.mark.parametrize("t", [300, 600])
def test_mlp_matches_the_exact_score_at_moderate_and_large_t(moons_models, t):
    """Where the noised training set is smooth (t >= 300) the MLP's eps(x, t, y) is the exact one within 10 %
    (mean error over mean length, at points drawn from q_t(x | y)); measured on a 2-core AMD EPYC, 2026-12-03:
    0.033/0.035/0.073 at t = 300 (classes 0, 1, null) and 0.010/0.008/0.021 at t = 600. At small t the exact
    score of 1000 points is a field of spikes (it memorises) that no smooth network follows: 0.19/0.17/0.63 at
    t = 50, so no claim is made there."""
    data, labels, ideal, mlp = moons_models
    gen = torch.Generator(device="cpu").manual_seed(1)
    for y in (0, 1, 2):
        pts = data if y == 2 else data[labels == y]
        idx = torch.randint(0, len(pts), (2000,), generator=gen, device="cpu")
        x_t, _ = q_sample(pts[idx], t, LIN, torch.randn(2000, 2, generator=gen, device="cpu"))
        tt, yy = torch.full((2000,), t, device="cpu"), torch.full((2000,), y, device="cpu")
        with torch.no_grad():
            e_mlp, e_exact = mlp(x_t, tt, yy), ideal(x_t, tt, yy)
        rel = ((e_mlp - e_exact).norm(dim=1).mean() / e_exact.norm(dim=1).mean()).item()
        assert rel < 0.10, f"t = {t}, label {y}: relative error {rel:.3f}"
    # the notebook's eps_agreement measures the same thing (other draws: within the 10 % too)
    agree = eps_agreement(mlp, ideal, data, labels, LIN, ts=(t,), n=2000, generator=gen)
    assert set(agree) == {(t, 0), (t, 1), (t, 2)} and max(agree.values()) < 0.10, agree


@pytest.mark.parametrize("s", [0.0, 1.0, 4.0])
def test_mlp_and_exact_put_the_same_mass_on_the_class(moons_models, s):
    """The share of guided samples on the inner moon, exact against MLP, n = 1000 each. At s = 0 (about 0.5) and
    s = 4 (about 1) their 95 % Wilson intervals overlap. At s = 1 the exact sampler puts every sample on the moon
    and the MLP leaks a few to the other one (0.2-0.9 % measured: a real, if small, error of the network, which
    n = 1000 resolves), so there both must exceed 0.98. At s = 0.5 they differ (0.97 against 0.92, measured):
    partial guidance depends on small-t scores, where the two differ (previous test)."""
    data, labels, ideal, mlp = moons_models
    shares = {}
    for name, model in (("exact", ideal), ("MLP", mlp)):
        x = sample_guided(model, LIN, 1, s, 1000, steps=50, generator=torch.Generator(device="cpu").manual_seed(0))
        shares[name] = wilson_interval(int((assign_moon(x) == 1).sum()), 1000)
    (lo_e, hi_e), (lo_m, hi_m) = shares["exact"], shares["MLP"]
    if s == 1:
        assert lo_e > 0.98 and lo_m > 0.98, shares
    else:
        assert lo_e <= hi_m and lo_m <= hi_e, f"s = {s}: exact {shares['exact']}, MLP {shares['MLP']}"
