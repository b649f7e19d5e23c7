"""Notebook 06's DDIM extras: slerp, inversion, the eta=1 identity, and the speed-quality table."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from conftest import TinyEps
from ddpm_helpers import ddim_sample, ddpm_sample
from ddpm_helpers.core.metrics import image_quality
from ddpm_helpers.core.reverse import ddim_step
from ddpm_helpers.core.schedules import NoiseSchedule
from ddpm_helpers.lessons.ddim.editing import ddim_invert, ddim_invert_step, ddim_reconstruct, slerp, slerp_path
from ddpm_helpers.lessons.ddim.speed import format_table, speed_quality_table


class ConstEps(nn.Module):
    """eps_hat = c for every x and t: DDIM inversion is then exact (the noise is the same at both ends)."""

    def __init__(self):
        super().__init__()
        self.c = nn.Parameter(torch.linspace(-0.5, 0.5, 4).reshape(1, 1, 2, 2))

    def forward(self, x, t):
        return self.c.expand_as(x)


class TinyImageEps(TinyEps):
    """TinyEps with a U-Net-like config so the table can read the image shape."""

    def __init__(self):
        super().__init__()

        class Cfg:
            in_channels, image_size = 1, 4
        self.config = Cfg()


# ----------------------------------------------------------------------------- slerp
def test_slerp_pinned_and_endpoints():
    z0, z1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    mid = slerp(z0, z1, 0.5)
    assert torch.allclose(mid, torch.tensor([[math.sqrt(0.5), math.sqrt(0.5)]]), atol=1e-6)
    assert torch.allclose(slerp(z0, z1, 0.0), z0) and torch.allclose(slerp(z0, z1, 1.0), z1, atol=1e-7)
    # a third of the way along the quarter circle: angle 30 degrees
    assert torch.allclose(slerp(z0, z1, 1 / 3), torch.tensor([[math.cos(math.pi / 6), math.sin(math.pi / 6)]]),
                          atol=1e-6)


def test_slerp_keeps_gaussian_norm_where_lerp_shrinks_it():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(1, 784, generator=g), torch.randn(1, 784, generator=g)
    path = slerp_path(z0, z1, 9)
    assert path.shape == (9, 784)
    norms = path.norm(dim=1)
    assert (norms / math.sqrt(784)).sub(1).abs().max() < 0.1
    lerp_mid = 0.5 * (z0 + z1)
    assert lerp_mid.norm() / math.sqrt(784) < 0.8  # the straight line's midpoint is ~1/sqrt(2) too short


def test_slerp_batched_alpha_and_parallel_fallback():
    z0 = torch.randn(3, 2, 2, generator=torch.Generator().manual_seed(1))
    out = slerp(z0, 2 * z0, torch.tensor([0.0, 0.5, 1.0]))  # parallel: straight line
    assert torch.allclose(out[1], 1.5 * z0[1], atol=1e-6) and torch.allclose(out[2], 2 * z0[2], atol=1e-6)


def test_slerp_bad_input():
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="same shape"):
        slerp(z, torch.zeros(2, 4), 0.5)
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        slerp(z + 1, z + 2, 1.5)
    with pytest.raises(ValueError, match="alpha must be a float or a"):
        slerp(z + 1, z + 2, torch.zeros(3))
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        slerp_path(z, z, 1)


# ----------------------------------------------------------------------------- inversion
def test_invert_step_undoes_ddim_step_for_a_fixed_eps(linear1000):
    g = torch.Generator().manual_seed(2)
    x_t, eps = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    for t, t_prev in ((999, 979), (500, 400), (19, -1)):
        x_prev = ddim_step(x_t, eps, t, t_prev, linear1000, eta=0.0)
        back = ddim_invert_step(x_prev, eps, t_prev, t, linear1000)
        assert torch.allclose(back, x_t, atol=1e-4), (t, (back - x_t).abs().max())


def test_inversion_exact_for_a_constant_predictor():
    sched = NoiseSchedule.linear(200)
    x0 = torch.rand(3, 1, 2, 2) * 2 - 1
    out = ddim_reconstruct(ConstEps(), sched, x0, steps=20)
    assert out["max_abs"].max() < 1e-4
    assert out["x_T"].shape == x0.shape


def test_inversion_error_shrinks_with_more_steps():
    sched = NoiseSchedule.linear(200)
    model = TinyEps()
    x0 = torch.rand(4, 2, generator=torch.Generator().manual_seed(3)) * 2 - 1
    errs = [ddim_reconstruct(model, sched, x0, steps=k)["rmse"].mean().item() for k in (5, 50, 200)]
    assert errs[0] > errs[1] > errs[2], errs
    assert errs[2] < 1e-2


def test_invert_trajectory_and_bad_input(linear1000):
    model = TinyEps()
    r = ddim_invert(model, NoiseSchedule.linear(100), torch.zeros(2, 3), steps=10, return_trajectory=True)
    x_T, traj = r.x0, r.trajectory
    assert traj.shape == (11, 2, 3) and torch.equal(traj[-1], x_T)
    with pytest.raises(ValueError, match=r"s must be an integer in -1..4 \(below t=5; -1 is x_0\)"):
        ddim_invert_step(torch.zeros(2), torch.zeros(2), 5, 5, linear1000)
    with pytest.raises(ValueError, match="steps must be an integer in 1..T"):
        ddim_invert(model, linear1000, torch.zeros(2, 3), steps=0)


# ----------------------------------------------------------------------------- eta = 1 on the full grid is DDPM
def test_ddim_eta1_full_grid_is_ddpm():
    sched = NoiseSchedule.linear(100)
    model = TinyEps()
    g = torch.Generator().manual_seed(4)
    a = ddpm_sample(model, sched, torch.randn((5, 2), generator=g), generator=g).x0
    g = torch.Generator().manual_seed(4)
    b = ddim_sample(model, sched, torch.randn((5, 2), generator=g), steps=100, eta=1.0, generator=g).x0
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    c = ddim_sample(model, sched, torch.randn((5, 2), generator=torch.Generator().manual_seed(4)), steps=100).x0
    assert (a - c).abs().max() > 1e-2  # eta = 0 is a different sampler


# ----------------------------------------------------------------------------- speed-quality table
class QuarterMeans(nn.Module):
    """A stand-in feature classifier: the mean of each image quarter (4 features), so FID and KID are real
    numbers computed by ``core.metrics.image_quality`` itself, in a few milliseconds."""

    def features(self, x):
        f = torch.stack([q.mean((1, 2, 3)) for h in x.chunk(2, dim=2) for q in h.chunk(2, dim=3)], 1)  # (B, 4)
        return f, f  # (features, logits)


class TinyImage28Eps(TinyEps):
    """TinyEps with a FashionMNIST-sized config, so the table reads the image shape (1, 28, 28)."""

    def __init__(self):
        super().__init__()

        class Cfg:
            in_channels, image_size = 1, 28
        self.config = Cfg()


def test_speed_quality_table_rows_and_shared_start():
    sched = NoiseSchedule.linear(50)
    clf, ref = QuarterMeans(), torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    rows = speed_quality_table(TinyImage28Eps(), sched, n=5, steps_list=(5, 50), etas=(0.0, 1.0), generator=7,
                               batch_size=2, reference=ref, classifier=clf, return_samples=True)
    assert [(r["sampler"], r["steps"], r["eta"]) for r in rows] == [
        ("DDPM", 50, 1.0), ("DDIM", 5, 0.0), ("DDIM", 5, 1.0), ("DDIM", 50, 0.0), ("DDIM", 50, 1.0)]
    assert all(r["samples"].shape == (5, 1, 28, 28) for r in rows)
    assert all(r["n"] == 5 and r["model_calls"] == r["steps"] for r in rows)
    # every row's scores are those of its own samples (exact: the same computation on the same tensors), the
    # rows' scores differ, and its speed is n over its time
    for r in rows:
        q = image_quality(r["samples"], reference=ref, classifier=clf)
        assert (r["fid"], r["kid"], r["kid_std"]) == (q["fid"], q["kid"], q["kid_std"])
    assert len({r["fid"] for r in rows}) == len(rows)
    assert all(r["images_per_second"] == pytest.approx(5 / r["seconds"]) for r in rows)
    # the same x_T and noise stream per row: DDIM eta=1 with all 50 steps reproduces the DDPM row
    assert torch.allclose(rows[0]["samples"], rows[4]["samples"], atol=1e-4)
    # and the table is reproducible
    again = speed_quality_table(TinyImage28Eps(), sched, n=5, steps_list=(5,), etas=(0.0,), generator=7,
                                include_ddpm=False, reference=ref, classifier=clf, return_samples=True)
    assert torch.allclose(again[0]["samples"], rows[1]["samples"], atol=1e-6) and again[0]["fid"] == rows[1]["fid"]
    md = format_table(rows)
    assert md.count("\n") == 6 and "| DDPM | 50 | 1 | 5 | 50 | - |" in md and "| 5 | 10x fewer |" in md and "FID" in md


def test_speed_quality_table_without_metrics_and_bad_input():
    sched = NoiseSchedule.linear(20)
    rows = speed_quality_table(TinyImageEps(), sched, n=2, steps_list=(2,), etas=(0.5,), metrics=False)
    assert len(rows) == 2 and "fid" not in rows[0]
    assert "FID" not in format_table(rows)
    m = TinyImageEps()
    with pytest.raises(ValueError, match="steps must be an integer in 1..T=20"):
        speed_quality_table(m, sched, n=2, steps_list=(30,), metrics=False)
    with pytest.raises(ValueError, match="every eta must be"):
        speed_quality_table(m, sched, n=2, steps_list=(2,), etas=(-1.0,), metrics=False)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        speed_quality_table(m, sched, n=1, metrics=False)
    with pytest.raises(ValueError, match="generator must be"):
        speed_quality_table(m, sched, n=2, steps_list=(2,), generator="seed", metrics=False)
    with pytest.raises(ValueError, match="shape must be given"):
        speed_quality_table(TinyEps(), sched, n=2, steps_list=(2,), metrics=False)


def test_premeasured_weights_note_says_whose_numbers_they_are():
    from ddpm_helpers.lessons.ddim import premeasured_table, premeasured_weights_note

    pre = premeasured_table()
    same = premeasured_weights_note(pre, {"steps": pre["weights_steps"]})
    assert "these same weights" in same and str(pre["weights_steps"]) in same
    other = premeasured_weights_note(pre, {"steps": pre["weights_steps"] + 1})
    assert "earlier shipped weights" in other and f"--n {pre['n']}" in other
    assert f"has {pre['weights_steps'] + 1}" in other
    for text in (same, other):  # where, when and under which conditions, from the JSON
        assert f"{pre['date']}, commit {pre['commit']}; conditions: {pre['conditions']}." in text
