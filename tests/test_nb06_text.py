"""Notebook 06's prose, held by numbers: q_sigma's forward direction is Markov only at eta = 1 (section 2), the
geometry figure's arrows (section 5), what this run's speed-quality table may claim at its n and how the
pre-measured one counts cost (section 9)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ddpm_helpers import TimeMLP, predict_noise, q_sample, train
from ddpm_helpers.core.data import make_moons_data
from ddpm_helpers.core.schedules import NoiseSchedule
from ddpm_helpers.lessons.ddim import plot_speed_quality
from ddpm_helpers.lessons.ddim.speed import format_table, own_table_reading, premeasured_reading, premeasured_table
from ddpm_helpers.lessons.ddim.theory import ddim_geometry, q_sigma_forward, q_sigma_posterior

S = NoiseSchedule.linear(1000)
AB = torch.cumprod(1 - S.betas.double(), 0)  # float64 from the float32 betas


# ----------------------------------------------------------------------------- section 2: Markov or not
@pytest.mark.parametrize("t", [1, 300, 600, 999])
def test_q_sigma_forward_one_step_at_eta_1_is_ddpms_forward_step(t):
    f = q_sigma_forward(t, t - 1, S, 1.0)
    beta = 1 - AB[t].item() / AB[t - 1].item()
    # the schedule's float32-stored alpha_bars against float64 ones: a few 1e-7 relative in 1 - abar
    assert f["coef_prev"] == pytest.approx(math.sqrt(1 - beta), rel=1e-6)
    assert abs(f["coef_x0"]) < 1e-6 and f["var"] == pytest.approx(beta, rel=1e-3)


def test_q_sigma_forward_for_the_notebooks_jump():
    ab, abp = S.host64.alpha_bars[600].item(), S.host64.alpha_bars[300].item()  # the tables the steps read
    at1 = q_sigma_forward(600, 300, S, 1.0)  # eta = 1 on a jump: the respaced DDPM step, Markov
    assert abs(at1["coef_x0"]) < 1e-12
    assert at1["coef_prev"] == pytest.approx(math.sqrt(ab / abp), rel=1e-12)
    assert at1["var"] == pytest.approx(1 - ab / abp, rel=1e-12)
    at0 = q_sigma_forward(600, 300, S, 0.0)  # eta = 0: deterministic given x_300 and x_0, and x_0 matters
    assert at0["var"] == pytest.approx(0.0, abs=1e-15)
    assert at0["coef_x0"] == pytest.approx(math.sqrt(ab) - math.sqrt(1 - ab) * math.sqrt(abp) / math.sqrt(1 - abp),
                                           rel=1e-12)
    assert at0["coef_x0"] == pytest.approx(-0.636, abs=5e-4)  # the issue's -0.64
    assert abs(q_sigma_forward(600, 300, S, 0.5)["coef_x0"]) > 0.1


def test_q_sigma_forward_by_monte_carlo():
    # draw (x_0, x_t, x_t') from q_sigma and regress x_t on (x_t', x_0): the least-squares coefficients and the
    # residual variance must be a, c and v. 2 x 40 000 numbers: each coefficient's standard error is below 0.01
    x0 = make_moons_data(20_000, seed=0).double()
    g = torch.Generator().manual_seed(0)
    t, tp, eta = 600, 300, 0.5
    x_t, _ = q_sample(x0, torch.full((x0.shape[0],), t), S, noise=torch.randn(x0.shape, generator=g,
                                                                              dtype=torch.float64))
    mean, var = q_sigma_posterior(x_t.double(), x0, t, tp, S, eta)
    x_tp = mean + math.sqrt(var) * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    X = torch.stack([x_tp.flatten(), x0.flatten()], 1).numpy()
    y = x_t.double().flatten().numpy()
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    f = q_sigma_forward(t, tp, S, eta)
    assert coef[0] == pytest.approx(f["coef_prev"], abs=0.02) and coef[1] == pytest.approx(f["coef_x0"], abs=0.02)
    assert resid.var() == pytest.approx(f["var"], rel=0.03)


def test_q_sigma_forward_refuses_bad_arguments():
    with pytest.raises(ValueError, match="t_prev must be a timestep"):
        q_sigma_forward(10, -1, S, 0.0)
    with pytest.raises(ValueError, match="eta"):
        q_sigma_forward(10, 5, S, 1.5)


# ----------------------------------------------------------------------------- section 5: the geometry figure
def test_the_geometry_figure_shows_what_its_text_says():
    # the notebook's quick setup: the moons MLP after 500 steps, the first point of 1000 fresh moons, t = 700 -> 400
    fit = train(TimeMLP(), make_moons_data(10_000, seed=0), S, steps=500, batch_size=256, lr=2e-3, seed=0,
                progress=False)
    x0 = make_moons_data(1000, seed=123)[:1]
    x_t, _ = q_sample(x0, torch.tensor([700]), S, noise=torch.randn(1, 2, generator=torch.Generator().manual_seed(5)))
    eps = predict_noise(fit.ema, x_t, 700)
    z = torch.randn(1, 2, generator=torch.Generator().manual_seed(6))
    g0, g1 = (ddim_geometry(x_t, eps, 700, 400, S, e, z) for e in (0.0, 1.0))
    # the coefficients: at eta = 0 the direction's is the largest; at eta = 1 it shrinks and sigma takes over
    assert g0["coef_direction"] == pytest.approx(math.sqrt(1 - S.host64.alpha_bars[400].item()), rel=1e-9)
    assert g0["coef_direction"] > 1.5 * g0["coef_x0"] and g0["sigma"] == 0
    assert g1["coef_direction"] < 0.2 and g1["sigma"] > 0.8

    def length(v):
        return v.norm().item()
    # the arrows: at eta = 0 the orange one is the longest and of visible size on a plot about 3 units wide
    assert length(g0["direction"]) > length(g0["x0_term"]) and length(g0["direction"]) > 0.3
    # at eta = 1 the green one takes its place
    assert length(g1["noise"]) > length(g1["direction"])
    # the blue one is short: x0-hat lies near the middle of the data (the moons' mean is within 0.3 of the origin)
    assert length(g0["x0_hat"]) < 0.3 and make_moons_data(10_000, seed=0).mean(0).norm() < 0.3


# ----------------------------------------------------------------------------- section 9: this run's table
def _rows(fids, n=4):
    return [{"sampler": "DDIM", "steps": s, "eta": e, "n": n, "seconds": 1.0, "model_calls": s, "fid": f,
             "kid": 0.0, "kid_std": 0.0} for (s, e), f in zip([(10, 0.0), (10, 1.0), (50, 0.0), (50, 1.0)], fids)]


def test_own_table_reading_words_conclusions_from_the_uncertainty():
    floor = {"n": 4, "fid": 60.0, "fid_std": 12.0, "seeds": 5}
    text = own_table_reading(_rows([70.0, 75.0, 90.0, 80.0]), floor)  # every gap < 2 sqrt 2 x 12 = 33.9
    assert "No two rows of this run can be told apart, and none from real images" in text and "33.94" in text
    assert "indistinguishable" not in text  # it never calls n = 4 samples as good as real images
    tight = own_table_reading(_rows([70.0, 75.0, 90.0, 80.0], n=500), {**floor, "n": 500, "fid_std": 1.0})
    assert "DDIM 10/η=0 (FID 70.0) better than DDIM 50/η=0 (90.0)" in tight
    assert "further above the real-image floor than that: DDIM 10/η=0, DDIM 10/η=1" in tight
    with pytest.raises(ValueError, match="compare at equal n"):
        own_table_reading(_rows([1.0] * 4), {**floor, "n": 8})


def test_format_table_counts_cost_in_model_calls():
    rows = [{"sampler": "DDPM", "steps": 1000, "eta": 1.0, "n": 4, "seconds": 50.0, "model_calls": 1000, "fid": 1.0,
             "kid": 0.0, "kid_std": 0.0}]
    rows += [{**r, "seconds": 0.7} for r in _rows([1.0] * 4)]
    md = format_table(rows)
    assert "| DDIM | 10 | 0 | 4 | 10 | 100x fewer | 0.7 |" in md and "| DDPM | 1000 | 1 | 4 | 1000 | - | 50.0 |" in md
    fig = plot_speed_quality(rows, {"n": 4, "fid": 0.5, "fid_std": 0.1})
    assert "model calls" in fig.axes[0].get_xlabel() and "error bars" in fig.axes[0].get_title()


def test_premeasured_reading_counts_model_calls_and_says_how_noisy_the_timings_are():
    pre = premeasured_table()
    text = premeasured_reading(pre)
    assert "DDIM 10/η=0 (100x fewer model calls, FID" in text and "faster" not in text
    ten = [r["seconds_128_idle"] for r in pre["rows"] if r["model_calls"] == 10]
    spread = max(ten) / min(ten) - 1  # the widest among equal-call rows (35 %: 7.1 to 9.6 s)
    groups = {}
    for r in pre["rows"]:
        groups.setdefault(r["model_calls"], []).append(r["seconds_128_idle"])
    assert spread == max(max(v) / min(v) - 1 for v in groups.values() if len(v) > 1)
    assert f"differ by up to {100 * spread:.0f} % (10 calls: {min(ten):.1f} to {max(ten):.1f} s" in text


# ----------------------------------------------------------------------------- section 8: inversion
@pytest.fixture(scope="module")
def unet():
    from ddpm_helpers import load_pretrained

    model, sched, _ = load_pretrained("fashion_unet")
    return model, sched


def test_inversion_at_50_steps_reconstructs_and_its_latent_is_not_a_gaussian_draw(unet, fashion_dir):
    from ddpm_helpers import load_fashion_mnist
    from ddpm_helpers.lessons.ddim.editing import ddim_reconstruct, latent_spread

    model, sched = unet
    x = load_fashion_mnist("test", n=4)[0]  # the notebook's quick images
    r50, r10 = ddim_reconstruct(model, sched, x, steps=50), ddim_reconstruct(model, sched, x, steps=10)
    # measured (2-core AMD EPYC): RMSE 0.034-0.062 at 50 steps, 0.21-0.55 at 10. The bound, 0.1, is 5 % of the
    # pixel range; the 10-step round trip, whose boot visibly falls apart, is twice that and more
    assert r50["rmse"].max() < 0.1 and r10["rmse"].max() > 2 * r50["rmse"].max()
    s = latent_spread(r50["x_T"], x)
    # measured: std 0.66, 0.26 on the background, 0.97 on the garment
    assert s["std"] < 0.85 and s["std_background"] < 0.4 and s["std_garment"] > 0.8


def test_inverting_the_models_own_samples_recovers_the_image_not_its_x_T(unet):
    from ddpm_helpers import ddim_sample
    from ddpm_helpers.lessons.ddim.editing import ddim_reconstruct, latent_spread

    model, sched = unet
    x_T = torch.randn((2, 1, 28, 28), generator=torch.Generator().manual_seed(3))  # the notebook's two samples
    own = ddim_sample(model, sched, x_T, steps=50, eta=0.0).x0
    back = ddim_reconstruct(model, sched, own, steps=50)
    corr = torch.corrcoef(torch.stack([back["x_T"].flatten(), x_T.flatten()]))[0, 1].item()
    # measured: decoded RMSE 0.055 and 0.089; correlation 0.72; background std 1.03 (true) against 0.26 (inverted)
    assert back["rmse"].max() < 0.12 and corr < 0.9
    assert latent_spread(back["x_T"], own)["std_background"] < 0.5 < latent_spread(x_T, own)["std_background"]


def test_latent_spread_refuses_bad_input():
    from ddpm_helpers.lessons.ddim.editing import latent_spread

    with pytest.raises(ValueError, match="same shape"):
        latent_spread(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match="both background pixels"):
        latent_spread(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
