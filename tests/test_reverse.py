"""Reverse steps and samplers: predict_x0, the posterior, DDPM's and DDIM's steps, ddpm/ddim_sample."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ddpm_helpers.core.forward import q_sample
from ddpm_helpers.core.reverse import ddim_sigma, ddim_step, ddpm_step, predict_x0, q_posterior
from ddpm_helpers.core.sampling import ddim_sample, ddim_timesteps, ddpm_sample
from ddpm_helpers.core.schedules import NoiseSchedule


# ----------------------------------------------------------------------------- predict_x0
@pytest.mark.parametrize("t", [0, 10, 500, 900])
def test_predict_x0_inverts_q_sample(sched1000, t):
    g = torch.Generator().manual_seed(t)
    x0 = torch.randn(8, 1, 4, 4, generator=g)
    x_t, eps = q_sample(x0, t, sched1000, generator=g)
    # float32 round-off in x_t (~1e-7 * |x_t|) is divided by sqrt(alpha_bar_t) when undoing it
    atol = 5e-6 / math.sqrt(sched1000.alpha_bars[t].item())
    torch.testing.assert_close(predict_x0(x_t, eps, t, sched1000), x0, atol=atol, rtol=1e-5)


def test_predict_x0_per_item_t(linear1000):
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(4, 2, generator=g)
    t = torch.tensor([0, 100, 700, 50])
    x_t, eps = q_sample(x0, t, linear1000, generator=g)
    torch.testing.assert_close(predict_x0(x_t, eps, t, linear1000), x0, atol=1e-4, rtol=1e-5)


def test_predict_x0_with_wrong_noise_is_wrong(linear1000):
    x0 = torch.zeros(2, 2)
    x_t, eps = q_sample(x0, 500, linear1000, generator=torch.Generator().manual_seed(0))
    assert (predict_x0(x_t, torch.zeros_like(eps), 500, linear1000) - x0).abs().max() > 0.5


# ----------------------------------------------------------------------------- q_posterior
@pytest.mark.parametrize("sched, t", [
    (NoiseSchedule.linear(10, 0.05, 0.3), 4),   # large betas: a wide posterior
    (NoiseSchedule.linear(1000), 1),            # the second step of the real schedule
    (NoiseSchedule.cosine(1000), 300),
])
def test_q_posterior_matches_brute_force_bayes(sched, t):
    r"""q(x_{t-1} | x_t, x_0) \propto q(x_t | x_{t-1}) q(x_{t-1} | x_0), evaluated on a fine grid."""
    x0, xt = 0.8, -0.4
    beta = sched.betas[t].double().item()
    ab_prev = sched.alpha_bars_prev[t].double().item()
    prior_m, prior_v = math.sqrt(ab_prev) * x0, 1 - ab_prev          # q(x_{t-1} | x_0), eq. 4
    tilde_v = sched.posterior_variance[t].item()
    # the posterior lies between the prior mean and x_t / sqrt(alpha_t); cover both generously
    ends = (prior_m, xt / math.sqrt(1 - beta))
    sd = math.sqrt(max(prior_v, beta))
    grid = np.linspace(min(ends) - 20 * sd, max(ends) + 20 * sd, 400001)
    log_p = (-(xt - math.sqrt(1 - beta) * grid) ** 2 / (2 * beta)     # q(x_t | x_{t-1}), eq. 2
             - (grid - prior_m) ** 2 / (2 * prior_v))
    w = np.exp(log_p - log_p.max())
    w /= w.sum()
    mean = (w * grid).sum()
    var = (w * (grid - mean) ** 2).sum()
    assert (grid[1] - grid[0]) < math.sqrt(var) / 50, "the grid must resolve the posterior"
    m, v = q_posterior(torch.tensor([[x0]]), torch.tensor([[xt]]), t, sched)
    # q_posterior's coefficients divide by 1 - alpha_bar_t formed from the float32 alpha_bar_t:
    # relative round-off eps32 / (1 - alpha_bar_t) (5e-4 at linear t = 1); allow twice that
    rel = 2 * float(np.finfo(np.float32).eps) / (1 - sched.alpha_bars[t].double().item()) + 1e-5
    assert m.item() == pytest.approx(mean, rel=rel, abs=1e-6)
    assert float(v) == pytest.approx(var, rel=1e-3)
    assert float(v) == pytest.approx(tilde_v, rel=1e-6)


def test_q_posterior_at_t0_returns_x0(linear1000):
    x0 = torch.tensor([[0.3, -0.7]])
    xt = torch.tensor([[0.31, -0.69]])
    m, v = q_posterior(x0, xt, 0, linear1000)
    # exact in real arithmetic (coef_x0 = beta_0 / (1 - alpha_bar_0) = 1, coef_xt = 0); in float32
    # 1 - alpha_bar_0 = 1e-4 carries a relative error up to eps32 / 1e-4 = 1.2e-3
    torch.testing.assert_close(m, x0, rtol=2.4e-3, atol=1e-6)
    assert float(v) == 0.0


def test_q_posterior_per_item_t(cosine1000):
    g = torch.Generator().manual_seed(4)
    x0, xt = torch.randn(3, 1, 2, 2, generator=g), torch.randn(3, 1, 2, 2, generator=g)
    t = torch.tensor([1, 500, 998])
    m, v = q_posterior(x0, xt, t, cosine1000)
    assert v.shape == (3, 1, 1, 1)
    for i in range(3):
        mi, vi = q_posterior(x0[i:i + 1], xt[i:i + 1], int(t[i]), cosine1000)
        torch.testing.assert_close(m[i:i + 1], mi)
        torch.testing.assert_close(v[i].reshape(()), vi)


# ----------------------------------------------------------------------------- ddpm_step
def _xe(seed=0, shape=(4, 1, 3, 3)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), 0.5 * torch.randn(shape, generator=g)


@pytest.mark.parametrize("variance", ["posterior", "beta"])
@pytest.mark.parametrize("t", [1, 37, 999])
def test_ddpm_step_noise_scale(linear1000, variance, t):
    x, eps = _xe(t)
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(99))
    mean = ddpm_step(x, eps, t, linear1000, noise=torch.zeros_like(x), variance=variance)
    out = ddpm_step(x, eps, t, linear1000, noise=z, variance=variance)
    var = (linear1000.posterior_variance if variance == "posterior" else linear1000.betas)[t].item()
    torch.testing.assert_close(out - mean, math.sqrt(var) * z, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("variance", ["posterior", "beta"])
def test_ddpm_step_empirical_std_with_generator(cosine1000, variance):
    t, n = 20, 20000
    x = torch.zeros(n, 1)
    eps = torch.zeros(n, 1)
    out = ddpm_step(x, eps, t, cosine1000, variance=variance, generator=torch.Generator().manual_seed(1))
    var = (cosine1000.posterior_variance if variance == "posterior" else cosine1000.betas)[t].double().item()
    # sample-variance standard error: sqrt(2 / (n - 1)) * var; allow 5 of them
    assert out.double().var().item() == pytest.approx(var, abs=5 * math.sqrt(2 / (n - 1)) * var)
    assert out.mean().abs().item() < 5 * math.sqrt(var / n)


def test_ddpm_step_beta_and_posterior_differ_only_in_noise(linear1000):
    x, eps = _xe(5)
    z = torch.ones_like(x)
    a = ddpm_step(x, eps, 3, linear1000, noise=z, variance="posterior")
    b = ddpm_step(x, eps, 3, linear1000, noise=z, variance="beta")
    diff = (math.sqrt(linear1000.betas[3].item()) - math.sqrt(linear1000.posterior_variance[3].item()))
    torch.testing.assert_close(b - a, torch.full_like(x, diff), atol=1e-6, rtol=1e-4)
    assert diff > 0.002


def test_ddpm_step_no_noise_at_t0(linear1000):
    x, eps = _xe(6)
    a = ddpm_step(x, eps, 0, linear1000, noise=100 * torch.ones_like(x), variance="beta")
    b = ddpm_step(x, eps, 0, linear1000, generator=torch.Generator().manual_seed(0))
    c = ddpm_step(x, eps, 0, linear1000, generator=torch.Generator().manual_seed(1))
    # exact: the t = 0 step returns its mean before any noise or variance enters, so the three run the same ops
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(b, c, rtol=0, atol=0)
    # the t = 0 step returns x_0-hat: the mean of the step is predict_x0 there
    torch.testing.assert_close(a, predict_x0(x, eps, 0, linear1000), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("t", [1, 200, 999])
def test_ddpm_step_mean_equals_posterior_mean_of_predicted_x0(cosine1000, t):
    """Algorithm 2's mean (eq. 11) is the posterior mean (eq. 7) evaluated at x0_hat (eq. 15)."""
    x, eps = _xe(t)
    mean = ddpm_step(x, eps, t, cosine1000, noise=torch.zeros_like(x))
    post, _ = q_posterior(predict_x0(x, eps, t, cosine1000), x, t, cosine1000)
    torch.testing.assert_close(mean, post, atol=2e-5, rtol=1e-4)
    # the clipping route takes the same path when nothing needs clipping
    small = 0.01 * x
    eps_small = (small - math.sqrt(cosine1000.alpha_bars[t].item()) * 0.5 * torch.tanh(x)) \
        / math.sqrt(1 - cosine1000.alpha_bars[t].item())  # chosen so that x0_hat = 0.5 tanh(x), in [-1, 1]
    z = torch.zeros_like(x)
    torch.testing.assert_close(ddpm_step(small, eps_small, t, cosine1000, noise=z, clip_x0=True),
                               ddpm_step(small, eps_small, t, cosine1000, noise=z), atol=2e-5, rtol=1e-4)


def test_ddpm_step_clip_changes_result_when_x0_out_of_range(linear1000):
    x = torch.full((1, 2), 3.0)
    eps = torch.zeros(1, 2)  # x0_hat = 3 / sqrt(ab) >> 1
    z = torch.zeros_like(x)
    a = ddpm_step(x, eps, 10, linear1000, noise=z, clip_x0=True)
    b = ddpm_step(x, eps, 10, linear1000, noise=z)
    expected, _ = q_posterior(torch.ones_like(x), x, 10, linear1000)
    torch.testing.assert_close(a, expected)
    assert (b - a).abs().min() > 1e-3


# ----------------------------------------------------------------------------- DDIM
def test_ddim_sigma_eta1_is_posterior_variance(sched1000):
    """Song et al. eq. 16 with eta = 1 and t_prev = t - 1 equals tilde beta_t, for every t > 0."""
    sig2 = np.array([ddim_sigma(t, t - 1, sched1000, 1.0) ** 2 for t in range(1, 1000)])
    pv = sched1000.posterior_variance[1:].double().numpy()
    # ddim_sigma works from the float32 alpha_bars (relative round-off eps32 each), so its three
    # differences 1 - ab_prev, 1 - ab and 1 - ab / ab_prev (= beta_t) carry relative errors of about
    # eps32 / (1 - ab_prev), eps32 / (1 - ab) and 2 eps32 / beta_t; allow twice their sum
    ab = sched1000.alpha_bars.double().numpy()
    beta = sched1000.betas.double().numpy()
    eps32 = np.finfo(np.float32).eps
    tol = 2 * eps32 * (1 / (1 - ab[:-1]) + 1 / (1 - ab[1:]) + 2 / beta[1:]) + 1e-6
    np.testing.assert_array_less(np.abs(sig2 / pv - 1), tol)
    assert ddim_sigma(500, 499, sched1000, 0.0) == 0.0
    assert ddim_sigma(500, 499, sched1000, 0.5) == pytest.approx(0.5 * math.sqrt(pv[499]), rel=1e-4)


def test_ddim_step_eta1_one_step_equals_ddpm_step(sched1000):
    """With t_prev = t - 1 and eta = 1, DDIM's update is DDPM's posterior update (same noise)."""
    x, eps = _xe(11, (3, 2))
    z = torch.randn(3, 2, generator=torch.Generator().manual_seed(12))
    for t in (1, 2, 50, 500, 999):
        a = ddim_step(x, eps, t, t - 1, sched1000, eta=1.0, noise=z)
        b = ddpm_step(x, eps, t, sched1000, noise=z)
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    # the last step: both return x0_hat
    torch.testing.assert_close(ddim_step(x, eps, 0, -1, sched1000, eta=1.0, noise=z),
                               ddpm_step(x, eps, 0, sched1000, noise=z), atol=1e-5, rtol=1e-5)


def test_ddim_step_eta0_formula_and_deterministic(linear1000):
    x, eps = _xe(13)
    t, tp = 600, 400
    a = ddim_step(x, eps, t, tp, linear1000, eta=0.0, generator=torch.Generator().manual_seed(0))
    b = ddim_step(x, eps, t, tp, linear1000, eta=0.0, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)  # exact: sigma = 0 at eta = 0, the generator never enters
    abp = linear1000.alpha_bars[tp].item()
    expected = math.sqrt(abp) * predict_x0(x, eps, t, linear1000) + math.sqrt(1 - abp) * eps
    torch.testing.assert_close(a, expected, atol=1e-5, rtol=1e-5)


def test_ddim_step_eta0_keeps_a_q_sample_on_its_line(cosine1000):
    """Given the true noise, a deterministic DDIM step lands exactly on q_sample(x0, t_prev, same noise)."""
    g = torch.Generator().manual_seed(14)
    x0 = torch.randn(5, 2, generator=g)
    x_t, eps = q_sample(x0, 700, cosine1000, generator=g)
    x_prev = ddim_step(x_t, eps, 700, 250, cosine1000, eta=0.0)
    target, _ = q_sample(x0, 250, cosine1000, noise=eps)
    torch.testing.assert_close(x_prev, target, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ddim_step(x_t, eps, 700, -1, cosine1000), x0, atol=1e-4, rtol=1e-4)


def test_ddim_step_noise_scale(linear1000):
    x, eps = _xe(15)
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(16))
    t, tp, eta = 500, 300, 0.7
    no = ddim_step(x, eps, t, tp, linear1000, eta=eta, noise=torch.zeros_like(x))
    yes = ddim_step(x, eps, t, tp, linear1000, eta=eta, noise=z)
    torch.testing.assert_close(yes - no, ddim_sigma(t, tp, linear1000, eta) * z, atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------- samplers
SMALL = NoiseSchedule.linear(40, 1e-3, 0.2)   # a short chain keeps the sampler tests fast


def seeded(shape, seed):
    """x_T and the generator that drew it (it goes on to draw every step's noise), as a sampler's arguments."""
    g = torch.Generator().manual_seed(seed)
    return {"x_T": torch.randn(shape, generator=g), "generator": g}


def test_ddpm_sample_reproducible_and_shapes(tiny_model):
    shape = (3, 1, 4, 4)
    r = ddpm_sample(tiny_model, SMALL, **seeded(shape, 0), return_trajectory=True)
    a, traj = r.x0, r.trajectory
    b = ddpm_sample(tiny_model, SMALL, **seeded(shape, 0)).x0
    c = ddpm_sample(tiny_model, SMALL, **seeded(shape, 1)).x0
    # exact below: the same call with the same seed and shapes (the same kernels), and a trajectory holds copies
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    assert a.shape == shape and a.dtype == torch.float32
    assert traj.shape == (SMALL.T + 1, *shape)
    torch.testing.assert_close(traj[-1], a, rtol=0, atol=0)
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(0))  # the generator's first draw
    torch.testing.assert_close(traj[0], x_T, rtol=0, atol=0)


def test_ddpm_sample_accepts_x_T(tiny_model):
    x_T = torch.tensor([[1.0, -1.0], [0.5, 2.0]])
    r = ddpm_sample(tiny_model, SMALL, x_T, generator=torch.Generator().manual_seed(3), return_trajectory=True)
    a, traj = r.x0, r.trajectory
    torch.testing.assert_close(traj[0], x_T, rtol=0, atol=0)
    b = ddpm_sample(tiny_model, SMALL, x_T + 1, generator=torch.Generator().manual_seed(3)).x0
    assert not torch.allclose(a, b)
    assert torch.equal(x_T, torch.tensor([[1.0, -1.0], [0.5, 2.0]])), "x_T must not be modified in place"


def test_ddpm_sample_matches_manual_loop(tiny_model):
    """Algorithm 2 by hand: x_T from the generator, then a ddpm_step with fresh noise for t > 0."""
    shape = (2, 3)
    g = torch.Generator().manual_seed(8)
    x = torch.randn(shape, generator=g)
    for t in range(SMALL.T - 1, -1, -1):
        eps = tiny_model(x, torch.full((2,), t))
        z = torch.randn(shape, generator=g) if t > 0 else None
        x = ddpm_step(x, eps, t, SMALL, noise=z)
    out = ddpm_sample(tiny_model, SMALL, **seeded(shape, 8)).x0
    torch.testing.assert_close(out, x.detach(), atol=1e-6, rtol=1e-6)


def test_ddim_sample_eta0_deterministic_and_shapes(tiny_model):
    shape = (3, 2)
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    r = ddim_sample(tiny_model, SMALL, x_T, steps=8, generator=torch.Generator().manual_seed(0), return_trajectory=True)
    a, traj = r.x0, r.trajectory
    b = ddim_sample(tiny_model, SMALL, x_T, steps=8, generator=torch.Generator().manual_seed(5)).x0
    torch.testing.assert_close(a, b, rtol=0, atol=0)  # exact: eta = 0 draws no noise; the trajectory holds copies
    assert traj.shape == (9, *shape)
    torch.testing.assert_close(traj[0], x_T, rtol=0, atol=0)
    torch.testing.assert_close(traj[-1], a, rtol=0, atol=0)


def test_ddim_sample_eta1_reproducible(tiny_model):
    shape = (2, 1, 2, 2)
    run = lambda seed: ddim_sample(tiny_model, SMALL, **seeded(shape, seed), steps=10, eta=1.0).x0  # noqa: E731
    torch.testing.assert_close(run(4), run(4), rtol=0, atol=0)
    assert not torch.allclose(run(4), run(5))


@pytest.mark.parametrize("sched", [SMALL, NoiseSchedule.cosine(60)])
def test_ddim_all_steps_eta1_equals_ddpm(tiny_model, sched):
    """DDIM with steps = T and eta = 1 is DDPM with the posterior variance (same x_T, same noise)."""
    shape = (4, 2)
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(9))
    a = ddim_sample(tiny_model, sched, x_T, steps=sched.T, eta=1.0, generator=torch.Generator().manual_seed(10)).x0
    b = ddpm_sample(tiny_model, sched, x_T, generator=torch.Generator().manual_seed(10)).x0
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    # and a different noise stream gives a different answer, so the match above is not trivial
    c = ddpm_sample(tiny_model, sched, x_T, generator=torch.Generator().manual_seed(11)).x0
    assert (a - c).abs().max() > 1e-2


def test_ddim_timesteps():
    assert ddim_timesteps(1000, 50)[:3] == [999, 979, 959] and ddim_timesteps(1000, 50)[-1] == 19
    assert ddim_timesteps(1000, 50, "leading")[:2] == [980, 960] and ddim_timesteps(1000, 50, "leading")[-1] == 0
    for spacing in ("trailing", "leading"):
        assert ddim_timesteps(40, 40, spacing) == list(range(39, -1, -1))
        ts = ddim_timesteps(1000, 30, spacing)
        assert len(ts) == 30 and all(a > b for a, b in zip(ts, ts[1:]))
        assert 0 <= ts[-1] and ts[0] <= 999
    assert ddim_timesteps(1000, 1) == [999]


def test_sampler_restores_training_mode(tiny_model):
    tiny_model.train()
    ddim_sample(tiny_model, SMALL, torch.randn((1, 2)), steps=2)
    assert tiny_model.training
    tiny_model.eval()
    ddpm_sample(tiny_model, SMALL, torch.randn((1, 2)))
    assert not tiny_model.training
