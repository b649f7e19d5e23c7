"""Numbers and formulas taught in notebooks 01-03, pinned (lessons.forward.experiments, lessons.moons.experiments)."""
import math

import pytest
import torch

from ddpm_helpers import NoiseSchedule, TimeMLP, ddpm_sample, q_sample
from ddpm_helpers.lessons.forward.experiments import (chain_snapshots, chain_variance, iterate_chain,
                                                      pixel_correlation, sample_moments, snr_zero_db_crossing,
                                                      terminal_snr_table)
from ddpm_helpers.lessons.moons import experiments as moons_experiments
from ddpm_helpers.core.sampling import naive_skip_sample, naive_skip_timesteps
from ddpm_helpers.lessons.moons.experiments import loss_baselines, subtract_full_noise


def test_terminal_snr_numbers_stated_in_notebook_01():
    rows = {(r["T"], r["beta_end"]): r for r in terminal_snr_table(Ts=(300, 1000), beta_ends=(0.02,))}
    assert rows[(300, 0.02)]["signal"] == pytest.approx(0.2192, abs=5e-4)
    assert rows[(300, 0.02)]["snr_db"] == pytest.approx(-12.97, abs=0.02)
    assert rows[(1000, 0.02)]["signal"] == pytest.approx(0.006358, rel=2e-3)   # sqrt(4.04e-5)
    assert rows[(1000, 0.02)]["snr_db"] == pytest.approx(-43.94, abs=0.02)


def test_zero_db_crossings_linear_and_cosine():
    lin, cos = NoiseSchedule.linear(1000), NoiseSchedule.cosine(1000)
    assert snr_zero_db_crossing(lin) == 259
    assert snr_zero_db_crossing(cos) == 496
    for s, t0 in ((lin, 259), (cos, 496)):
        assert s.snr_db()[t0 - 1] > 0 > s.snr_db()[t0]
    assert snr_zero_db_crossing(NoiseSchedule.linear(10, 1e-4, 1e-3)) is None


def test_chain_variance_formulas_match_recursion_and_simulation():
    s = NoiseSchedule.linear(1000)
    v_shrink, v_plain = chain_variance(s, 0.35), chain_variance(s, 0.35, shrink=False)
    v, w = 0.35, 0.35
    for b in s.betas.double():
        v, w = (1 - b) * v + b, w + b
    assert v_shrink[-1].item() == pytest.approx(v.item(), rel=1e-9)
    assert v_plain[-1].item() == pytest.approx(w.item(), rel=1e-9)
    assert v_plain[-1].item() == pytest.approx(0.35 + 10.05, abs=1e-3)       # sum of linear betas = 10.05
    assert v_shrink[-1].item() == pytest.approx(1.0, abs=1e-4)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4000, 2, generator=g) * math.sqrt(0.35)
    for shrink, theory in ((True, v_shrink), (False, v_plain)):
        x = iterate_chain(x0, 499, s, shrink=shrink, generator=g)
        assert x.var().item() == pytest.approx(theory[499].item(), rel=0.06)


def test_two_independent_gaussians_add_variances_and_chain_matches_jump():
    from scipy.stats import ks_2samp

    s = NoiseSchedule.linear(1000)
    g = torch.Generator().manual_seed(1)
    x0 = torch.tensor([[0.8, -0.5]]).expand(8000, 2)
    for t in (0, 1, 250):
        chain = iterate_chain(x0, t, s, generator=g)
        jump, _ = q_sample(x0, t, s, generator=g)
        ab = s.alpha_bars[t].item()
        assert chain[:, 0].mean().item() == pytest.approx(0.8 * math.sqrt(ab), abs=4 * math.sqrt((1 - ab) / 8000))
        assert chain[:, 0].var().item() == pytest.approx(1 - ab, rel=0.08)
        assert ks_2samp(chain[:, 0].numpy(), jump[:, 0].numpy()).pvalue > 1e-3
    # a wrong chain (no shrink) is told apart by the same test
    bad = iterate_chain(x0, 250, s, shrink=False, generator=g)
    jump, _ = q_sample(x0, 250, s, generator=g)
    assert ks_2samp(bad[:, 0].numpy(), jump[:, 0].numpy()).pvalue < 1e-6


def test_iterate_chain_returns_x_t_and_chain_snapshots_keep_one_chain():
    """One shape per kind of result: iterate_chain gives x_t (a tensor, whatever the arguments); the states on
    the way come from chain_snapshots, which runs ONE chain (its last state is iterate_chain's x_t)."""
    s = NoiseSchedule.linear(100)
    x0 = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    x_t = iterate_chain(x0, 60, s, generator=torch.Generator().manual_seed(1))
    assert isinstance(x_t, torch.Tensor) and x_t.shape == x0.shape
    kept = chain_snapshots(x0, [60, 0, 30, 30], s, generator=torch.Generator().manual_seed(1))
    assert [t for t, _ in kept] == [0, 30, 60] and all(x.shape == x0.shape for _, x in kept)
    # the same forward_step calls on the same shapes from the same generator state: the same numbers
    assert torch.equal(kept[-1][1], x_t)
    first = iterate_chain(x0, 0, s, generator=torch.Generator().manual_seed(1))
    assert torch.equal(kept[0][1], first)
    no_shrink = chain_snapshots(x0, range(0, 100, 50), s, shrink=False, generator=torch.Generator().manual_seed(1))
    plain = iterate_chain(x0, 50, s, shrink=False, generator=torch.Generator().manual_seed(1))
    assert torch.equal(no_shrink[-1][1], plain)
    for bad, match in ((150, "at"), ([], "at least one"), ([0, -1], "at must lie"), ([0.5], "at must be an int")):
        with pytest.raises(ValueError, match=match):
            chain_snapshots(x0, bad, s)


def test_sample_moments_standard_errors_match_the_spread_of_repeated_estimates():
    """SE(s^2) from the fourth moment is right for any distribution: for exponential draws (m_4 = 9 sigma^4)
    the Gaussian formula s^2 sqrt(2 / n) would be half the true spread."""
    g = torch.Generator().manual_seed(0)
    n, reps = 400, 3000
    x = torch.empty(reps, n, dtype=torch.float64).exponential_(1.0, generator=g)   # variance 1, m_4 = 9
    stats = [sample_moments(row) for row in x]
    var = torch.tensor([m["var"] for m in stats])
    mean = torch.tensor([m["mean"] for m in stats])
    # the spread of 3000 estimates is known to about 1/sqrt(2 * 3000) = 1.3 %; the SEs scatter less than that
    assert var.std().item() == pytest.approx(sum(m["var_se"] for m in stats) / reps, rel=0.08)
    assert mean.std().item() == pytest.approx(sum(m["mean_se"] for m in stats) / reps, rel=0.05)
    assert var.std().item() > 1.7 * math.sqrt(2 / n)                                 # not the Gaussian formula
    assert var.mean().item() == pytest.approx(1.0, abs=4 * var.std().item() / math.sqrt(reps))  # unbiased
    with pytest.raises(ValueError, match="at least 4"):
        sample_moments(torch.ones(3))


def test_notebook_02_chain_and_jump_agree_within_three_standard_errors():
    """Notebook 02's table at its quick-mode size: every mean and variance of chain and jump lies within 3 SE of
    the theory (the notebook's verdict), and the same test rejects the chain without its shrink."""
    s = NoiseSchedule.linear(1000)
    g = torch.Generator().manual_seed(0)
    N = 10_000
    x0 = torch.tensor([[0.8, -0.5]]).expand(N, 2)
    zs, bad_z = [], []
    for t in (0, 1, 10, 250, 999):
        ab = s.alpha_bars[t].item()
        for x in (iterate_chain(x0, t, s, generator=g), q_sample(x0, t, s, generator=g)[0]):
            m = sample_moments(x[:, 0])
            zs += [(m["mean"] - 0.8 * math.sqrt(ab)) / m["mean_se"], (m["var"] - (1 - ab)) / m["var_se"]]
        if t >= 250:  # before that sum(beta_s) and 1 - alpha_bar_t differ by less than the noise of the estimate
            m = sample_moments(iterate_chain(x0, t, s, shrink=False, generator=g)[:, 0])
            bad_z.append((m["var"] - (1 - ab)) / m["var_se"])
    assert max(abs(z) for z in zs) < 3, zs
    assert min(abs(z) for z in bad_z) > 3, bad_z


def test_pixel_correlation():
    a = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert pixel_correlation(a, a) == pytest.approx(1.0, abs=1e-12)
    assert pixel_correlation(3 * a + 2, a) == pytest.approx(1.0, abs=1e-12)
    assert pixel_correlation(-a, a) == pytest.approx(-1.0, abs=1e-12)
    with pytest.raises(ValueError, match="same number"):
        pixel_correlation(a, a[:, :4])
    with pytest.raises(ValueError, match="constant"):
        pixel_correlation(torch.zeros(8, 8), a)


def test_notebook_01_terminal_signal_hidden_in_one_draw_plain_in_the_mean(fashion_dir):
    """Notebook 01, section 4, on its ankle boot: with T = 300 one draw of x_T hardly correlates with x_0 (the
    boot is hard to see), the mean of 64 draws does (the boot is plain), and with T = 1000 neither does."""
    from ddpm_helpers import load_fashion_mnist

    x0 = load_fashion_mnist("train", root=fashion_dir, n=1)[0]         # (1, 1, 28, 28), the ankle boot
    K = 64
    noise = torch.randn(K, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    corr = {}
    for T in (300, 1000):
        s = NoiseSchedule.linear(T, 1e-4, 0.02)
        draws, _ = q_sample(x0.expand(K, -1, -1, -1), T - 1, s, noise=noise)
        one = [pixel_correlation(d, x0) for d in draws[:8]]
        corr[T] = (max(one), pixel_correlation(draws.mean(0), x0))
    # a pure-noise image correlates with x_0 by about +-1/sqrt(784) = 0.036; theory for T = 300: one draw 0.18,
    # the mean of 64 draws 0.83
    assert corr[300][0] < 0.3 and corr[300][1] > 0.7, corr
    assert corr[1000][0] < 0.15 and corr[1000][1] < 0.2, corr


def test_loss_baselines_are_one_two_zero():
    """Notebook 03: on q_sample's draws, predicting zero scores E[eps^2] = 1, predicting independent noise
    E[(z - eps)^2] = 2, and the true noise (read back from x_t with x_0 known) 0, in every bucket."""
    s = NoiseSchedule.linear(100)
    data = 3 * torch.randn(500, 2, generator=torch.Generator().manual_seed(1)) + 2  # far from N(0, I): x_0 matters
    n = 20000
    b = loss_baselines(data, s, [0, 50, 100], n=n, generator=torch.Generator().manual_seed(0))
    assert list(b) == ["predict zero", "predict random noise", "predict the true noise"]
    # per bucket 2n squared N(0, 1) numbers: E = 1 (var 2) and E = 2 (var 8); 5 standard errors
    assert b["predict zero"] == pytest.approx([1, 1], abs=5 * math.sqrt(2 / (2 * n)))
    assert b["predict random noise"] == pytest.approx([2, 2], abs=5 * math.sqrt(8 / (2 * n)))
    assert b["predict the true noise"] == pytest.approx([0, 0], abs=1e-9)


def test_loss_baselines_measure_q_sample_draws(monkeypatch):
    """The baselines are measured on what q_sample returns: a q_sample whose noise had std 2 would give
    4 and 4 + 1 = 5, and one whose x_t was not made from the noise it returns breaks the true-noise oracle."""
    s = NoiseSchedule.linear(100)
    data = torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    real_q_sample = moons_experiments.q_sample

    def loud_q_sample(x0, t, sched, noise=None, generator=None):
        return real_q_sample(x0, t, sched, noise=2 * torch.randn(x0.shape, generator=generator), generator=generator)

    def inconsistent_q_sample(x0, t, sched, noise=None, generator=None):
        x_t, _ = real_q_sample(x0, t, sched, generator=generator)
        return x_t, torch.randn(x0.shape, generator=generator)  # not the noise inside x_t

    monkeypatch.setattr(moons_experiments, "q_sample", loud_q_sample)
    b = loss_baselines(data, s, [0, 50, 100], n=20000, generator=torch.Generator().manual_seed(0))
    assert b["predict zero"] == pytest.approx([4, 4], abs=0.15)
    assert b["predict random noise"] == pytest.approx([5, 5], abs=0.2)
    assert b["predict the true noise"] == pytest.approx([0, 0], abs=1e-9)
    monkeypatch.setattr(moons_experiments, "q_sample", inconsistent_q_sample)
    b = loss_baselines(data, s, [0, 50, 100], n=20000, generator=torch.Generator().manual_seed(0))
    assert b["predict the true noise"] == pytest.approx([2, 2], abs=0.1)


def test_naive_skip_timesteps_and_k1_equals_ddpm_sample():
    assert naive_skip_timesteps(100, 20) == [99, 79, 59, 39, 19, 0]
    assert naive_skip_timesteps(100, 1) == list(range(99, -1, -1))
    assert naive_skip_timesteps(10, 3) == [9, 6, 3, 0]
    with pytest.raises(ValueError, match="k"):
        naive_skip_timesteps(100, 0)
    torch.manual_seed(0)
    m, s = TimeMLP(hidden=32, blocks=1), NoiseSchedule.linear(50)
    x_T = torch.randn(64, 2)
    a = naive_skip_sample(m, s, x_T, 1, generator=torch.Generator().manual_seed(5)).x0
    b = ddpm_sample(m, s, x_T, generator=torch.Generator().manual_seed(5)).x0
    torch.testing.assert_close(a, b)
    r = naive_skip_sample(m, s, x_T, 20, return_trajectory=True)
    traj, ts = r.trajectory, list(r.timesteps)
    assert ts == [49, 29, 9, 0] and traj.shape == (5, 64, 2)


class Oracle(torch.nn.Module):
    """A noise predictor given in closed form: eps_hat = fn(x_t, alpha_bar_t), alpha_bar_t of shape (B, 1)."""

    def __init__(self, s, fn):
        super().__init__()
        self.s, self.fn = s, fn
        self.p = torch.nn.Parameter(torch.zeros(1))  # so that next(model.parameters()) finds a device

    def forward(self, x, t):
        return self.fn(x, self.s.alpha_bars[t][:, None])


def test_naive_skip_leaves_noise_in_for_an_ideal_denoiser():
    """Data x_0 ~ N(0, 0.25) has the exact noise predictor eps_hat = sqrt(1-ab) x_t / (0.25 ab + 1 - ab).
    Ancestral sampling (k=1) recovers std 0.5; naive skipping leaves noise in, more so for larger k."""
    s = NoiseSchedule.linear(1000)
    o = Oracle(s, lambda x, ab: (1 - ab).sqrt() * x / (0.25 * ab + 1 - ab))
    g = torch.Generator().manual_seed(0)
    stds = {k: naive_skip_sample(o, s, torch.randn((4000, 2), generator=g), k, generator=g).x0.std().item()
            for k in (1, 2, 5, 20)}
    assert stds[1] == pytest.approx(0.5, abs=0.02)
    assert stds[1] < stds[2] < stds[5] < stds[20]
    assert stds[20] > 0.85


def test_subtract_full_noise_collapses_to_the_origin():
    s = NoiseSchedule.linear(1000)
    o = Oracle(s, lambda x, ab: x / (1 - ab).sqrt())
    traj = subtract_full_noise(o, s, torch.randn(100, 2), steps=5).trajectory
    assert traj.shape == (6, 100, 2)
    assert traj[1].abs().max().item() < 0.05
    with pytest.raises(ValueError, match="steps"):
        subtract_full_noise(o, s, torch.randn(10, 2), steps=0)
