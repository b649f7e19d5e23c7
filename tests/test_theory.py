"""The theory of notebooks 03 and 05 (lessons.moons.theory, lessons.elbo.theory), each formula against something
computed without it.

* w_t = 1/2 (SNR(t-1)/SNR(t) - 1) against the ELBO weights of ``elbo.elbo_weights`` (Ho et al. eq. 12);
* sum_t L_t = T E_{t~U}[L_t] and the importance-sampled estimate (Nichol & Dhariwal 2021) against the exact sum;
* the optimal denoiser of a data set against brute-force Bayes (explicit Gaussian densities, a loop);
* the loss floor two ways (direct and through the posterior covariance) and against 1-D quadrature;
* the exact 1-D reverse step against Bayes on a grid and against Monte Carlo of the forward chain;
* the moons' arcs against a dense sampling of the arcs, the moon assignment against sklearn's labels.
"""
from __future__ import annotations

import math

import pytest
import torch

from ddpm_helpers import NoiseSchedule, make_moons_data
from ddpm_helpers.core.ideal import optimal_eps, optimal_x0, score_from_eps
from ddpm_helpers.core.moons import assign_moon, moons_arc_distances, moons_mass_split, off_moons_fraction
from ddpm_helpers.lessons.elbo import plot_exact_reverse_step
from ddpm_helpers.lessons.elbo.bound import elbo_weights
from ddpm_helpers.lessons.elbo.theory import (elbo_weights_snr, exact_reverse_step, float64_schedule, gaussian_fit_kl,
                                              importance_proposal, mixture_marginal, mixture_pdf, sum_over_t_estimate)
from ddpm_helpers.lessons.moons import plot_denoiser_fields, plot_diffusing_cloud, plot_loss_floor
from ddpm_helpers.lessons.moons.theory import (denoiser_fields, loss_against_floor, loss_floor,
                                               nearest_neighbour_distances)
from ddpm_helpers.ui.figures import draw_diffusion_chain, plot_mass_split

LIN = NoiseSchedule.linear(1000)
COS = NoiseSchedule.cosine(1000)
MIX = ((0.3, 0.7), (-1.0, 1.0), (0.01, 0.04))


# ----------------------------------------------------------------------------- w_t through the SNR
@pytest.mark.parametrize("sched", [LIN, COS], ids=["linear", "cosine"])
def test_snr_form_of_the_elbo_weights(sched):
    w_snr = elbo_weights_snr(sched)
    w64 = elbo_weights(float64_schedule(sched), "posterior")[1:]
    assert w_snr.shape == (sched.T - 1,)
    assert torch.allclose(w_snr, w64, rtol=1e-9, atol=0)
    # against the float32-stored schedule the identity holds to float32 rounding of 1 - alpha_bar
    w32 = elbo_weights(sched, "posterior")[1:]
    assert ((w_snr - w32).abs() / w32).max() < 1e-3


def test_elbo_weight_values_the_notebook_states():
    w = elbo_weights(float64_schedule(LIN))
    # w_t * t at t = 10, 50, 100 (not 1/2: w_t does not fall like 1/(2t))
    assert [round(float(w[t] * t), 2) for t in (10, 50, 100)] == [0.79, 0.95, 1.02]
    assert int(w[1:].argmin()) + 1 == 349 and float(w[349]) == pytest.approx(0.00498, abs=1e-5)
    assert float(w[999]) == pytest.approx(0.0102, abs=1e-4)
    assert float(w[:10].sum() / w.sum()) == pytest.approx(0.251, abs=1e-3)
    assert float(w.max()) <= 1.0  # linear + tilde beta: T L_simple + C still bounds -log p
    assert float(elbo_weights(float64_schedule(COS))[999]) == pytest.approx(499.5, abs=0.1)


def test_float64_schedule_is_float64_and_consistent():
    s = float64_schedule(LIN)
    assert s.alpha_bars.dtype == torch.float64 and s.T == 1000
    assert torch.equal(s.betas, LIN.betas.double())
    assert torch.allclose(s.alpha_bars_prev[1:] * s.alphas[1:], s.alpha_bars[1:], rtol=1e-15, atol=0)
    assert torch.allclose(s.alpha_bars.float(), LIN.alpha_bars, rtol=1e-6)


def test_snr_weights_need_two_steps():
    with pytest.raises(ValueError, match="T >= 2"):
        elbo_weights_snr(NoiseSchedule.linear(1))


# ----------------------------------------------------------------------------- the sum over t
def test_uniform_and_importance_sampled_t_estimate_the_sum():
    per_t = elbo_weights(LIN) * torch.linspace(0.2, 1.0, 1000, dtype=torch.float64)
    exact = per_t.sum().item()
    g = torch.Generator().manual_seed(0)
    est, se = sum_over_t_estimate(per_t, 20_000, g)
    assert abs(est - exact) < 4 * se
    p = importance_proposal(per_t**2)
    est_is, se_is = sum_over_t_estimate(per_t, 20_000, g, proposal=p)
    assert abs(est_is - exact) < 4 * se_is + 1e-9
    # p_t proportional to L_t itself (deterministic L_t >= 0): zero variance, the exact sum every time
    assert est_is == pytest.approx(exact, rel=1e-9) and se_is < 1e-9 * exact
    assert se_is < se
    # cosine: w_999 ~ 500 makes uniform t noisy; importance sampling removes it
    pc = elbo_weights(COS)
    _, se_u = sum_over_t_estimate(pc, 2000, g)
    _, se_i = sum_over_t_estimate(pc, 2000, g, proposal=importance_proposal(pc**2))
    assert se_i < se_u / 5


def test_sum_over_t_bad_input():
    with pytest.raises(ValueError, match="n must be"):
        sum_over_t_estimate(torch.ones(5), 1)
    with pytest.raises(ValueError, match="proposal"):
        sum_over_t_estimate(torch.ones(5), 10, proposal=torch.ones(5))
    with pytest.raises(ValueError, match="second_moments"):
        importance_proposal(torch.tensor([-1.0, 1.0]))


# ----------------------------------------------------------------------------- the optimal denoiser
def _brute_force_x0(x_t, t, data, sched):
    ab = float(sched.alpha_bars[t])
    out = []
    for x in x_t.tolist():
        dens = [math.exp(-sum((xi - math.sqrt(ab) * yi) ** 2 for xi, yi in zip(x, y)) / (2 * (1 - ab)))
                for y in data.tolist()]
        z = sum(dens)
        out.append([sum(d * y[k] for d, y in zip(dens, data.tolist())) / z for k in range(data.shape[1])])
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("t", [30, 200, 600])
def test_optimal_x0_matches_brute_force_bayes(t):
    g = torch.Generator().manual_seed(t)
    data = torch.randn(7, 2, generator=g)
    x_t = 1.5 * torch.randn(5, 2, generator=g)
    assert torch.allclose(optimal_x0(x_t, t, data, LIN, chunk=2), _brute_force_x0(x_t, t, data, LIN), atol=1e-10)
    ab = float(LIN.alpha_bars[t])
    eps = optimal_eps(x_t, t, data, LIN)
    x0 = optimal_x0(x_t, t, data, LIN)
    assert torch.allclose(math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps, x_t.double(), atol=1e-10)
    assert torch.allclose(score_from_eps(eps, t, LIN), -eps / math.sqrt(1 - ab))


def test_score_is_the_gradient_of_the_log_marginal():
    """Tweedie: -E[eps | x_t] / sqrt(1 - ab) = grad log q_t, with q_t the Gaussian mixture over the data."""
    data = torch.tensor([[0.0, 1.0], [1.0, -1.0], [-1.0, 0.5]], dtype=torch.float64)
    t = 150
    ab = float(LIN.alpha_bars[t])
    x = torch.tensor([[0.3, -0.2]], dtype=torch.float64, requires_grad=True)
    comps = torch.distributions.MultivariateNormal(math.sqrt(ab) * data, (1 - ab) * torch.eye(2, dtype=torch.float64))
    log_q = torch.logsumexp(comps.log_prob(x[:, None, :]), dim=1) - math.log(3)
    (grad,) = torch.autograd.grad(log_q.sum(), x)
    assert torch.allclose(score_from_eps(optimal_eps(x.detach(), t, data, LIN), t, LIN), grad, atol=1e-10)


def test_one_point_data_set_has_zero_floor_and_is_denoised_exactly():
    data = torch.tensor([[0.5, -0.25]])
    x_t = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(optimal_x0(x_t, 500, data, LIN), data.double().expand(4, 2))
    floor, _ = loss_floor(data, LIN, 100, n=100, generator=torch.Generator().manual_seed(0))
    assert floor == pytest.approx(0, abs=1e-12)


def test_loss_floor_two_ways_agree_on_the_moons():
    data = make_moons_data(400, seed=0)
    for t in (20, 250):
        a, sa = loss_floor(data, LIN, t, n=3000, generator=torch.Generator().manual_seed(1), method="direct")
        b, sb = loss_floor(data, LIN, t, n=3000, generator=torch.Generator().manual_seed(2), method="posterior")
        assert abs(a - b) < 4 * math.hypot(sa, sb), (t, a, sa, b, sb)
        assert sb < sa  # the inner average done exactly has the lower variance


@pytest.mark.parametrize("t", [150, 300])
def test_loss_floor_matches_quadrature_for_two_points(t):
    r"""Data {-1, +1} in 1-D: Var(x_0 | x_t) = 1 - tanh(\sqrt{ab} x_t / (1 - ab))^2; the floor is
    ab / (1 - ab) times its average over q(x_t), computed here on a grid."""
    ab = float(LIN.alpha_bars[t])
    grid = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    q = 0.5 * (torch.distributions.Normal(-math.sqrt(ab), math.sqrt(1 - ab)).log_prob(grid).exp()
               + torch.distributions.Normal(math.sqrt(ab), math.sqrt(1 - ab)).log_prob(grid).exp())
    var = 1 - torch.tanh(math.sqrt(ab) * grid / (1 - ab)) ** 2
    exact = ab / (1 - ab) * torch.trapezoid(q * var, grid).item()
    data = torch.tensor([[-1.0], [1.0]])
    est, se = loss_floor(data, LIN, t, n=20_000, generator=torch.Generator().manual_seed(t))
    assert abs(est - exact) < 4 * se, (exact, est, se)
    direct, se_d = loss_floor(data, LIN, t, n=20_000, generator=torch.Generator().manual_seed(t + 1), method="direct")
    assert abs(direct - exact) < 4 * se_d


def test_floor_at_t0_is_lowered_by_memorising_a_finite_training_set():
    """Notebook 03: at t = 0 the noise (0.01) is about the spacing of 10 000 training points, so their optimal
    denoiser memorises them: the floor lies below 1, the lower the fewer the points, and for 1000 points it is
    far below the floor at t = 10 (not monotone in t). 1000 draws: standard errors of 0.003-0.015."""
    data = make_moons_data(10000, seed=0)
    g = torch.Generator().manual_seed(0)
    f = {(n, t): loss_floor(data[:n], LIN, t, n=1000, generator=g)[0] for n in (1000, 10000) for t in (0, 10)}
    assert f[(1000, 0)] < f[(1000, 10)] - 0.3, f
    assert f[(1000, 0)] < f[(10000, 0)] - 0.3, f
    assert f[(10000, 0)] < 0.9 and abs(f[(10000, 0)] - f[(10000, 10)]) < 0.06, f  # "about equal" with 10 000
    nn = nearest_neighbour_distances(data)
    assert 0.006 < nn.median().item() < 0.010  # the spacing the notebook prints, against the noise 0.01 at t = 0


def test_nearest_neighbour_distances_against_brute_force():
    p = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    d = torch.cdist(p.double(), p.double()) + torch.eye(50, dtype=torch.float64) * 1e9
    assert torch.allclose(nearest_neighbour_distances(p, chunk=7), d.min(1).values, atol=1e-12)
    with pytest.raises(ValueError, match="N >= 2"):
        nearest_neighbour_distances(torch.zeros(1, 2))


def test_off_moons_fraction():
    data = make_moons_data(20000, seed=3)
    assert off_moons_fraction(data) < 5e-4                     # 4 noise sds: about 1 real point in 10 000
    far = data + torch.tensor([0.0, 0.7])                       # shifted 0.35 in make_moons' units (std 0.5 in y)
    assert off_moons_fraction(far) > 0.3
    mid = torch.zeros(10, 2) + torch.tensor([[0.0, 0.0]])       # the origin of the standardised plane
    d = moons_arc_distances(mid).min(1).values[0].item()
    assert off_moons_fraction(mid, max_distance=d - 1e-6) == 1.0 and off_moons_fraction(mid, max_distance=d + 1e-6) == 0
    with pytest.raises(ValueError, match="max_distance"):
        off_moons_fraction(data, max_distance=0)


def test_loss_floor_bad_input():
    with pytest.raises(ValueError, match="method"):
        loss_floor(torch.zeros(3, 2), LIN, 5, method="exact")
    with pytest.raises(ValueError, match="n must be"):
        loss_floor(torch.zeros(3, 2), LIN, 5, n=1)
    with pytest.raises(ValueError, match="same dimension"):
        optimal_x0(torch.zeros(2, 3), 5, torch.zeros(3, 2), LIN)


# ----------------------------------------------------------------------------- the exact 1-D reverse step
@pytest.mark.parametrize("x_t,ab_s,ab_t", [(0.3, 0.99, 0.98), (0.3, 0.6, 0.1), (-0.8, 1.0, 0.3), (1.5, 0.5, 0.49)])
def test_exact_reverse_step_matches_bayes_on_a_grid(x_t, ab_s, ab_t):
    w, m, v = exact_reverse_step(x_t, ab_s, ab_t, *MIX)
    grid = torch.linspace(-6, 6, 400_001, dtype=torch.float64)
    prior = mixture_pdf(grid, *mixture_marginal(ab_s, *MIX))
    a = ab_t / ab_s
    like = torch.distributions.Normal(math.sqrt(a) * grid, math.sqrt(1 - a)).log_prob(torch.tensor(x_t)).exp()
    post = prior * like
    post = post / torch.trapezoid(post, grid)
    formula = mixture_pdf(grid, w, m, v)
    assert torch.trapezoid((post - formula).abs(), grid).item() < 1e-6
    mean = torch.trapezoid(grid * post, grid).item()
    assert (w * m).sum().item() == pytest.approx(mean, abs=1e-7)


def test_exact_reverse_step_reproduces_the_forward_joint_by_monte_carlo():
    """Draw (x_s, x_t) forward; re-draw x_s from the exact q(x_s | x_t): the x_s distribution must not change."""
    g = torch.Generator().manual_seed(0)
    n, ab_s, ab_t = 4000, 0.8, 0.2
    w, m, v = (torch.tensor(a, dtype=torch.float64) for a in MIX)
    k = torch.multinomial(w, n, replacement=True, generator=g)
    x0 = m[k] + v[k].sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
    x_s = math.sqrt(ab_s) * x0 + math.sqrt(1 - ab_s) * torch.randn(n, generator=g, dtype=torch.float64)
    a = ab_t / ab_s
    x_t = math.sqrt(a) * x_s + math.sqrt(1 - a) * torch.randn(n, generator=g, dtype=torch.float64)
    redraw = torch.empty(n, dtype=torch.float64)
    for i, xt in enumerate(x_t.tolist()):
        pw, pm, pv = exact_reverse_step(xt, ab_s, ab_t, *MIX)
        j = torch.multinomial(pw, 1, generator=g)
        redraw[i] = pm[j] + pv[j].sqrt() * torch.randn(1, generator=g, dtype=torch.float64)
    se = x_s.std().item() / math.sqrt(n)
    assert abs(redraw.mean().item() - x_s.mean().item()) < 5 * math.sqrt(2) * se
    assert redraw.var().item() == pytest.approx(x_s.var().item(), rel=0.1)
    assert (redraw > 0).double().mean().item() == pytest.approx((x_s > 0).double().mean().item(), abs=0.04)


def test_small_jumps_are_nearly_gaussian_large_ones_are_not():
    ab = float64_schedule(LIN).alpha_bars
    mix = ((0.5, 0.5), (-1.0, 1.0), (0.01, 0.01))
    one = gaussian_fit_kl(*exact_reverse_step(0.3, ab[199].item(), ab[200].item(), *mix))
    far = gaussian_fit_kl(*exact_reverse_step(0.3, 1.0, ab[200].item(), *mix))
    assert one < 1e-5 and far > 1.0


def test_gaussian_fit_kl_closed_forms():
    assert gaussian_fit_kl((1.0,), (0.3,), (2.0,)) == pytest.approx(0.0, abs=1e-9)
    # two far-apart narrow modes at +-1 with variance v: KL = 1/2 log((1 + v) / v) - log 2
    v = 0.01
    assert gaussian_fit_kl((0.5, 0.5), (-1.0, 1.0), (v, v)) == pytest.approx(0.5 * math.log((1 + v) / v) - math.log(2),
                                                                           abs=1e-4)


def test_exact_reverse_step_bad_input():
    with pytest.raises(ValueError, match="ab_t must be smaller"):
        exact_reverse_step(0.0, 0.3, 0.5, *MIX)
    with pytest.raises(ValueError, match="ab_s"):
        exact_reverse_step(0.0, 1.5, 0.5, *MIX)
    with pytest.raises(ValueError, match="weights"):
        exact_reverse_step(0.0, 0.9, 0.5, (0.5, 0.6), (0.0, 1.0), (1.0, 1.0))


# ----------------------------------------------------------------------------- the moons
def test_arc_distances_match_a_dense_sampling_of_the_arcs():
    th = torch.linspace(0, math.pi, 200_001, dtype=torch.float64)
    outer = torch.stack([th.cos(), th.sin()], 1)
    inner = torch.stack([1 - th.cos(), 1 - th.sin() - 0.5], 1)  # sklearn's make_moons
    p = 2.5 * torch.randn(300, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.5
    d = moons_arc_distances(p, standardized=False)
    assert torch.allclose(d[:, 0], torch.cdist(p, outer).min(1).values, atol=1e-4)
    assert torch.allclose(d[:, 1], torch.cdist(p, inner).min(1).values, atol=1e-4)


def test_assign_moon_recovers_sklearn_labels():
    from sklearn.datasets import make_moons

    x, y = make_moons(5000, noise=0.05, random_state=0)
    pred = assign_moon(torch.from_numpy(x), standardized=False).numpy()
    assert (pred == y).mean() > 0.999
    data = make_moons_data(5000, seed=0)  # standardised: the same points after the transform
    assert (assign_moon(data).numpy() == y).mean() > 0.999
    split = moons_mass_split(data)
    assert split["n"] == 5000 and split["outer"] == pytest.approx(0.5, abs=1e-3)


def test_mass_split_binomial_interval_pinned():
    # 30 of 100 points on the outer moon: Wilson 95 % interval [0.2189, 0.3958], s.e. sqrt(0.21 / 100)
    data = make_moons_data(200, noise=0.0, seed=0)
    moon = assign_moon(data)
    x = torch.cat([data[moon == 0][:30], data[moon == 1][:70]])
    s = moons_mass_split(x)
    assert s["outer"] == pytest.approx(0.3) and s["se"] == pytest.approx(math.sqrt(0.21 / 100))
    assert s["lo"] == pytest.approx(0.2189, abs=1e-4) and s["hi"] == pytest.approx(0.3958, abs=2e-4)


def test_moons_bad_input():
    with pytest.raises(ValueError, match="x must be a"):
        moons_arc_distances(torch.zeros(4, 3))


# ------------------------------------------------------------------------ a network against the floor, and the pictures
class _OptimalDenoiser(torch.nn.Module):
    """A 'network' that is the optimal denoiser of its data set: its gap to the floor must be 0."""

    def __init__(self, data, sched):
        super().__init__()
        self.data, self.sched = data, sched
        self.dummy = torch.nn.Parameter(torch.zeros(1))  # gives the module a device

    def forward(self, x, t):
        out = torch.empty_like(x)
        for tt in t.unique().tolist():
            sel = t == tt
            out[sel] = optimal_eps(x[sel], tt, self.data, self.sched).float()
        return out


class _Scaled(torch.nn.Module):
    def __init__(self, inner, k):
        super().__init__()
        self.inner, self.k = inner, k

    def forward(self, x, t):
        return self.k * self.inner(x, t)


class _Zero(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, t):
        return torch.zeros_like(x)


def test_loss_against_floor_pairs_the_draws():
    data = make_moons_data(300, seed=0)
    r = loss_against_floor(_OptimalDenoiser(data, LIN), data, LIN, 100, n=500,
                           generator=torch.Generator().manual_seed(0))
    assert abs(r["gap"]) < 1e-4 and r["gap_se"] < 1e-4  # float32 rounding of the network's output only
    z = loss_against_floor(_Zero(), data, LIN, None, n=4000, generator=torch.Generator().manual_seed(1))
    assert abs(z["model"] - 1.0) < 4 * z["model_se"]  # predict zero: E||eps||^2 / D = 1
    # the floor is the optimal denoiser's loss on the SAME draws: loss_floor's direct estimate with the same seed
    floor, floor_se = loss_floor(data, LIN, None, n=4000, generator=torch.Generator().manual_seed(1), method="direct")
    assert z["floor"] == pytest.approx(floor, rel=1e-9) and z["floor_se"] == pytest.approx(floor_se, rel=1e-9)
    assert z["gap"] == pytest.approx(z["model"] - z["floor"], abs=1e-12)
    with pytest.raises(ValueError, match="n must be"):
        loss_against_floor(_Zero(), data, LIN, 5, n=0)


def test_denoiser_fields_and_pictures():
    data = make_moons_data(200, seed=0)
    f = denoiser_fields(_OptimalDenoiser(data, LIN), data, LIN, (10, 300), n_grid=5)
    rel, cos = f.pop("relative_difference"), f.pop("direction_cosine")
    assert max(rel.values()) < 1e-5 and f["optimal (training set)"][10][0].shape == (25, 2)
    assert min(cos.values()) == pytest.approx(1.0, abs=1e-6)
    # twice as long, the same directions: cosine 1, relative difference 1
    double = denoiser_fields(_Scaled(_OptimalDenoiser(data, LIN), 2.0), data, LIN, (10,), n_grid=5)
    assert double["direction_cosine"][10] == pytest.approx(1.0, abs=1e-6)
    assert double["relative_difference"][10] == pytest.approx(1.0, abs=1e-5)
    turned = denoiser_fields(_Scaled(_OptimalDenoiser(data, LIN), -1.0), data, LIN, (10,), n_grid=5)
    assert turned["direction_cosine"][10] == pytest.approx(-1.0, abs=1e-6)
    ab = float64_schedule(LIN).alpha_bars
    figs = [draw_diffusion_chain(), plot_diffusing_cloud(data, LIN, ts=(0, 999)),
            plot_exact_reverse_step(0.3, {"one": (ab[9].item(), ab[10].item())}, *MIX),
            plot_denoiser_fields(f, (10, 300)), plot_loss_floor([0, 1], [0.5, 0.4], [0.01, 0.01], [0.6, 0.5]),
            plot_mass_split({"data": moons_mass_split(data)})]
    for fig in figs:
        titles = [ax.get_title() for ax in fig.axes] + [fig._suptitle.get_text() if fig._suptitle else ""]
        assert any(titles), fig
    with pytest.raises(ValueError, match="n_grid"):
        denoiser_fields(_Zero(), data, LIN, (1,), n_grid=1)


def test_every_tensor_is_created_on_a_named_device():
    """With the default device set to meta, a tensor created without a device lands there: it holds no
    data, so the seeded results below would change (or the call would fail)."""
    data = make_moons_data(100, seed=0)
    model = _OptimalDenoiser(data, LIN)
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))

    def run():
        gen = lambda k: torch.Generator().manual_seed(k)  # noqa: E731
        return [float64_schedule(LIN).alpha_bars[-1].item(), elbo_weights_snr(LIN)[5].item(),
                sum_over_t_estimate([1.0, 2.0, 3.0], 10, gen(1)),
                sum_over_t_estimate([1.0, 2.0, 3.0], 10, gen(2), proposal=importance_proposal([1.0, 4.0, 9.0])),
                optimal_eps(x, 10, data, LIN).sum().item(),
                score_from_eps(optimal_eps(x, torch.full((6,), 3, device="cpu"), data, LIN), 3, LIN).sum().item(),
                loss_floor(data, LIN, None, n=20, generator=gen(3)), loss_floor(data, LIN, 7, n=20, generator=gen(4)),
                loss_against_floor(model, data, LIN, None, n=20, generator=gen(5))["model"],
                denoiser_fields(model, data, LIN, (5,), n_grid=3)["relative_difference"][5],
                gaussian_fit_kl(*exact_reverse_step(0.3, 0.9, 0.5, *MIX), grid_points=101),
                moons_mass_split(data)["outer"]]

    expected = run()
    torch.set_default_device("meta")
    try:
        got = run()
    finally:
        torch.set_default_device(None)
    assert got == expected
