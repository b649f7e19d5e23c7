"""Notebook 06's theory, checked numerically (lessons.ddim.theory, lessons.ddim.speed).

* q_sigma (Song et al. 2021, eq. 7) keeps DDPM's marginals q(x_t | x_0) for every eta: by the closed
  form of the variance and by Monte Carlo;
* with t' = t - 1 and eta = 1 it is DDPM's posterior q(x_{t-1} | x_t, x_0) (Ho et al. eqs. 6-7), and
  sigma(eta = 1)^2 = tilde beta on the full grid and tilde beta' on any sub-grid;
* respaced DDPM (Algorithm 2 with beta'_k = 1 - abar_{tau_k} / abar_{tau_{k-1}}) IS DDIM eta = 1 on the
  sub-grid: the same samples with the same noise, and with all T steps it is plain DDPM;
* DDIM's three terms add up to ddim_step.
"""
import math

import pytest
import torch
from conftest import TinyEps

from ddpm_helpers.core.data import make_moons_data
from ddpm_helpers.core.reverse import ddim_sigma, ddim_step, q_posterior
from ddpm_helpers.core.sampling import ddim_sample, ddim_timesteps, ddpm_sample
from ddpm_helpers.core.schedules import NoiseSchedule
from ddpm_helpers.lessons.ddim import plot_ddim_geometry, plot_skip_comparison
from ddpm_helpers.lessons.ddim.speed import premeasured_reading, premeasured_table, table_beside_premeasured
from ddpm_helpers.lessons.ddim.theory import (ddim_geometry, q_sigma_marginal_check, q_sigma_posterior,
                                              respaced_ddpm_sample, skip_comparison)
from ddpm_helpers.core.respace import respace

S = NoiseSchedule.linear(1000)


@pytest.mark.parametrize("t,t_prev", [(999, 979), (500, 100), (10, 9), (1, 0), (700, -1), (999, -1)])
@pytest.mark.parametrize("eta", [0.0, 0.3, 1.0])
def test_q_sigma_keeps_the_marginal_closed_form(t, t_prev, eta):
    """x_t ~ N(sqrt(ab) x0, 1-ab): x_{t'} = mean + sigma z has mean sqrt(ab') x0 and variance c^2 (1-ab) + sigma^2,
    where c is the coefficient of x_t in the mean; both must equal q(x_{t'} | x_0)'s for every eta."""
    ab = S.alpha_bars.double()[t].item()
    abp = 1.0 if t_prev < 0 else S.alpha_bars.double()[t_prev].item()
    x0 = torch.tensor([[0.7, -1.3]], dtype=torch.float64)
    m_at_mean, var = q_sigma_posterior(math.sqrt(ab) * x0, x0, t, t_prev, S, eta)  # x_t at its mean
    assert torch.allclose(m_at_mean, math.sqrt(abp) * x0, atol=1e-12)
    m1, _ = q_sigma_posterior(torch.ones(1, 2, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64),
                              t, t_prev, S, eta)
    c = m1[0, 0].item()
    assert c**2 * (1 - ab) + var == pytest.approx(1 - abp, abs=1e-6)
    assert var == pytest.approx(ddim_sigma(t, t_prev, S, eta) ** 2, rel=1e-12)


def test_q_sigma_marginals_by_monte_carlo():
    x0 = make_moons_data(2000, seed=0).double()
    rows = q_sigma_marginal_check(x0, 600, 200, S, etas=(0.0, 0.5, 1.0), draws=10,
                                  generator=torch.Generator().manual_seed(0))
    assert [r["eta"] for r in rows] == [0.0, 0.5, 1.0]
    for r in rows:  # Song et al. eq. 16 at each eta
        assert r["sigma2"] == pytest.approx(ddim_sigma(600, 200, S, r["eta"]) ** 2, rel=1e-12, abs=0)
    assert rows[0]["sigma2"] == 0 and rows[2]["sigma2"] > rows[1]["sigma2"]
    for r in rows:
        assert abs(r["var"] - r["var_expected"]) < 4 * r["var_se"], r
        assert abs(r["mean"]) < 4 * math.sqrt(r["var_expected"] / (2 * 2000 * 10)), r
    # a wrong sigma (too much noise on top of the full direction term) would break the marginal
    bad = rows[2]["var_expected"] + rows[2]["sigma2"]
    assert abs(rows[2]["var"] - bad) > 10 * rows[2]["var_se"]


@pytest.mark.parametrize("t", [1, 2, 50, 999])
def test_q_sigma_at_eta_1_one_step_is_the_ddpm_posterior(t):
    g = torch.Generator().manual_seed(t)
    x0, x_t = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
    mean, var = q_sigma_posterior(x_t, x0, t, t - 1, S, 1.0)
    ref_mean, ref_var = q_posterior(x0, x_t, t, S)
    # near t = 0, 1 - abar ~ 2e-4 is read from float32-stored alpha_bars (q_posterior's coefficients were
    # derived in float64): about 3e-4 relative error there, far less at larger t
    tol = 1e-3 if t <= 2 else 1e-5
    assert torch.allclose(mean, ref_mean, atol=tol)
    assert var == pytest.approx(float(ref_var), rel=max(tol, 1e-4))
    assert ddim_sigma(t, t - 1, S, 1.0) ** 2 == pytest.approx(S.posterior_variance.double()[t].item(), rel=1e-4)


@pytest.mark.parametrize("steps", [5, 20])
def test_sigma_eta_1_on_a_sub_grid_is_the_respaced_posterior_variance(steps):
    sub, ts = respace(S, steps)
    for k in range(1, steps):
        s2 = ddim_sigma(ts[k], ts[k - 1], S, 1.0) ** 2
        assert s2 == pytest.approx(sub.posterior_variance.double()[k].item(), rel=1e-4)


@pytest.mark.parametrize("steps", [4, 10, 50])
def test_respaced_ddpm_is_ddim_eta_1_on_the_sub_grid(steps):
    model = TinyEps()
    shape = (6, 2)
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    r = respaced_ddpm_sample(model, S, x_T, steps, generator=torch.Generator().manual_seed(2), return_trajectory=True)
    a, traj = r.x0, r.trajectory
    b = ddim_sample(model, S, x_T, steps=steps, eta=1.0, generator=torch.Generator().manual_seed(2)).x0
    assert traj.shape == (steps + 1, *shape)
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    # and not DDIM eta = 0 (the noise matters), nor a different noise stream
    c = ddim_sample(model, S, x_T, steps=steps, eta=0.0).x0
    assert (a - c).abs().max() > 1e-2


def test_respaced_ddpm_with_all_steps_is_ddpm():
    model, s = TinyEps(), NoiseSchedule.linear(100)
    x_T = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    a = respaced_ddpm_sample(model, s, x_T, 100, generator=torch.Generator().manual_seed(3)).x0
    b = ddpm_sample(model, s, x_T, generator=torch.Generator().manual_seed(3)).x0
    assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_geometry_terms_add_up_to_the_ddim_step(eta):
    g = torch.Generator().manual_seed(0)
    x, e, z = (torch.randn(3, 2, generator=g) for _ in range(3))
    geo = ddim_geometry(x, e, 600, 400, S, eta, z)
    assert torch.allclose(geo["x_prev"], ddim_step(x, e, 600, 400, S, eta=eta, noise=z), atol=1e-5)
    assert torch.allclose(geo["x0_term"] + geo["direction"] + geo["noise"], geo["x_prev"])
    assert geo["sigma"] == pytest.approx(ddim_sigma(600, 400, S, eta))
    if eta == 0:
        assert geo["noise"].abs().max() == 0


def test_skip_comparison_and_its_picture():
    model = TinyEps()
    x_T = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    out = skip_comparison(model, S, x_T, 10, seed=1)
    assert list(out) == ["naive skip", "respaced DDPM", "DDIM eta=0"]
    x0, traj, ts = out["DDIM eta=0"].x0, out["DDIM eta=0"].trajectory, out["DDIM eta=0"].timesteps
    assert list(ts) == ddim_timesteps(1000, 10) and traj.shape == (11, 30, 2)
    assert out["respaced DDPM"].timesteps == ts  # the model's timesteps, not the respaced indices
    assert torch.allclose(x0, ddim_sample(model, S, x_T, steps=10, eta=0.0).x0)
    assert out["naive skip"].timesteps[:2] == (999, 899) and torch.equal(out["naive skip"].trajectory[0], x_T)
    fig = plot_skip_comparison(out, ref=make_moons_data(200, seed=0), scores={"naive skip": "Chamfer 9x floor"})
    assert len(fig.axes) == 3 and "model calls" in fig.axes[0].get_title() and "9x" in fig.axes[0].get_title()
    geo = {f"eta={e}": ddim_geometry(x_T[:1], torch.ones(1, 2), 500, 300, S, e, torch.ones(1, 2)) for e in (0.0, 1.0)}
    fig = plot_ddim_geometry(x_T[:1], geo, x0=torch.zeros(1, 2))
    assert len(fig.axes) == 2 and "σ = 0.000" in fig.axes[0].get_title()


def test_bad_arguments_are_refused():
    x = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="t_prev"):
        q_sigma_posterior(x, x, 10, 10, S, 0.0)
    with pytest.raises(ValueError, match="eta"):
        q_sigma_posterior(x, x, 10, 5, S, -1.0)
    with pytest.raises(ValueError, match="same shape"):
        q_sigma_posterior(x, torch.zeros(3, 2), 10, 5, S, 0.0)
    with pytest.raises(ValueError, match="draws"):
        q_sigma_marginal_check(x, 10, 5, S, draws=0)
    with pytest.raises(ValueError, match="steps"):
        skip_comparison(TinyEps(), S, x, 0)


def test_premeasured_table_is_labelled_and_read_with_paired_spreads():
    pre = premeasured_table()
    assert pre["n"] == 512 and all(r["n"] == 512 for r in pre["rows"])
    assert all("source" in r and "2026-" in r["source"] for r in pre["rows"]), "every row says how and when"
    assert {"hardware", "date", "commit", "conditions", "speed"} <= set(pre), "where, when, under which load"
    assert {r["sampler"] for r in pre["rows"]} == {"DDPM", "DDIM"} and len(pre["rows"]) == 16
    ddpm = pre["rows"][0]
    assert ddpm["sampler"] == "DDPM" and ddpm["fid_minus_ddpm"] == 0 and ddpm["fid_minus_ddpm_std"] == 0
    # each difference is the two FIDs' difference, with a paired spread of the size of the unpaired one (the
    # notebook says so: DDIM and DDPM images from one x_T share little noise)
    for r in pre["rows"][1:]:
        assert r["fid_minus_ddpm"] == pytest.approx(r["fid"] - ddpm["fid"])
        unpaired = (r["fid_std"] ** 2 + ddpm["fid_std"] ** 2) ** 0.5
        assert 0.7 * unpaired < r["fid_minus_ddpm_std"] < 1.3 * unpaired
    own = [{"sampler": "DDIM", "steps": 10, "eta": 0.0, "n": 4, "seconds": 1.0, "fid": 99.0, "kid": 0.5,
            "kid_std": 0.1}]
    md = table_beside_premeasured(own, pre)
    r10 = next(r for r in pre["rows"] if (r["steps"], r["eta"]) == (10, 0.0))
    # cost in model calls (1000 / 10), the one idle timing rounded to two digits (9.18 s)
    assert (f"| DDIM | 10 | 0 | 10 | 100x fewer | 9.2 | {r10['fid']:.2f} ± {r10['fid_std']:.2f} | "
            f"{r10['fid_minus_ddpm']:+.2f} ± {r10['fid_minus_ddpm_std']:.2f} |") in md
    assert "| 4, 1.0 s, 99.00, 500 ± 100 |" in md
    assert md.count("| - |") == 15 + 2  # 15 rows this run lacks, and DDPM's own calls ratio and difference
    # with a tiny z every row differs from DDPM; with a huge one none does
    tight, loose = premeasured_reading(pre, z=1e-9), premeasured_reading(pre, z=1e9)
    assert "indistinguishable from DDPM**: none" in tight
    assert "worse than DDPM**: none" in loose and "better than DDPM**: none" in loose
    assert (f"DDIM 10/η=0 (100x fewer model calls, FID {r10['fid_minus_ddpm']:+.2f} ± "
            f"{r10['fid_minus_ddpm_std']:.2f})" in tight)
    # the verdict at z = 2 follows the numbers: a row is listed where its difference puts it
    reading = premeasured_reading(pre)
    typical = sorted(2 * r["fid_minus_ddpm_std"] for r in pre["rows"][1:])
    assert len(typical) == 15 and f"a difference of about {typical[7]:.1f} FID" in reading  # the median of 15
    for r in pre["rows"][1:]:
        d, sd = r["fid_minus_ddpm"], r["fid_minus_ddpm_std"]
        group = "indistinguishable" if abs(d) <= 2 * sd else "worse" if d > 0 else "better"
        line = next(ln for ln in reading.splitlines() if f"DDIM {r['steps']}/η={r['eta']:g} (" in ln)
        assert line.startswith(f"- **{group}"), (r["steps"], r["eta"], line)
    with pytest.raises(ValueError, match="z"):
        premeasured_reading(pre, z=0.0)
