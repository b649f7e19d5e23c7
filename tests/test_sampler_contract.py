"""The sampler contract (issue 22): one result type, (t, t_prev) pairs, shape from x_T, and numbers unchanged.

Reference values were recorded by running the same seeded calls on the code before the refactor (commit fe5f4de,
2026-12-03, on the 2-core AMD EPYC, one torch thread), six evenly spaced entries of each result.
Why the tolerance is 2e-5: the refactored steps read the schedule's scalars from its float64 tables instead of
float64 copies of the float32 ones, a relative change of at most 6e-8 (half a float32 ulp) per coefficient; over
the 40 steps here, in float32 arithmetic (eps 1.2e-7, values up to about 5 in size), that moves a sample by a few
1e-6 at most. A real change to an update (a wrong coefficient, noise drawn in another order, a step skipped)
moves these values by 1e-2 or more.
"""
from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest
import torch

import ddpm_helpers as H
from ddpm_helpers.core import sampling
from ddpm_helpers.lessons.ddim.editing import ddim_invert
from ddpm_helpers.lessons.ddim.theory import respaced_ddpm_sample
from ddpm_helpers.lessons.moons.experiments import subtract_full_noise
from ddpm_helpers.lessons.unet import troubleshooting as tr

TOL = 2e-5
BEFORE = {
    "ddpm": [0.6287094, 0.9019581, -1.0639626, -3.5983992, -1.1671251, -0.7376449],
    "ddpm_beta_clip": [-0.8338416, -1.0, -0.7107974, -0.5037305, -0.8604909, -0.3183105],
    "ddim0": [-0.7127451, -0.8949146, -0.4679385, -2.0337589, 0.8877492, -0.8965434],
    "ddim05": [0.9381499, -0.2703245, -0.1522546, 0.5766782, -2.4815016, 0.8028115],
    "ddim_clip_leading": [-0.6308072, -0.7745351, -0.3402672, -1.0, 0.7926924, -0.7755004],
    "naive5": [-0.5393394, -0.3869976, -0.0851281, -1.9576089, 0.7021974, -0.4798115],
    "subtract": [-1.7272993, -3.2917991, -3.664566, -4.493082, 1.7193619, -3.3249235],
    "respaced": [-0.6842735, 0.5191249, 0.9547627, -2.1380112, 1.5997463, -0.942678],
    "invert": [-0.7079116, -0.6073806, 1.1104406, -0.7158288, -0.058702, -0.5057214],
    "trouble_correct": [-0.4678029, -0.3957424, 0.1836055, 1.1031907, -0.598757, -1.4674721],
    "trouble_uniform": [0.2626815, 0.1445989, 0.320184, 0.6033457, -0.6758998, 1.0564826],
    "trouble_axis": [-0.5661302, -0.5162324, 0.0472592, 1.0979202, -0.8131356, -1.448383],
}


def g(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def results():
    torch.manual_seed(0)
    mlp = H.TimeMLP(hidden=32, blocks=1)
    torch.manual_seed(1)
    unet = H.UNet(base_channels=8, channel_mults=(1, 2), groups=4, attention=False)
    s = H.NoiseSchedule.linear(40)
    x_T = torch.randn((6, 2), generator=g(5))
    images = torch.randn((2, 1, 28, 28), generator=g(6)).clamp(-1, 1)
    g1, g3 = g(1), g(3)  # one generator draws x_T, then every step's noise
    return {
        "ddpm": H.ddpm_sample(mlp, s, H.start_noise(mlp, 6, g1), generator=g1),
        "ddpm_beta_clip": H.ddpm_sample(mlp, s, x_T, generator=g(2), variance="beta", clip_x0=True),
        "ddim0": H.ddim_sample(mlp, s, x_T, steps=8),
        "ddim05": H.ddim_sample(mlp, s, H.start_noise(mlp, 6, g3), steps=8, eta=0.5, generator=g3),
        "ddim_clip_leading": H.ddim_sample(mlp, s, x_T, steps=7, clip_x0=True, spacing="leading"),
        "naive5": H.naive_skip_sample(mlp, s, x_T, 5, generator=g(4)),
        "subtract": subtract_full_noise(mlp, s, x_T, steps=5),
        "respaced": respaced_ddpm_sample(mlp, s, x_T, 8, generator=g(7)),
        "invert": ddim_invert(unet, s, images, steps=6),
        "trouble_correct": tr.sample_correct(unet, s, n=2, steps=5, seed=3),
        "trouble_uniform": tr.sample_uniform_noise(unet, s, n=2, steps=5, seed=3),
        "trouble_axis": tr.sample_schedule_wrong_axis(unet, s, n=2, steps=5, seed=3),
    }


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_seeded_samples_match_the_values_recorded_before_the_refactor(results, name):
    x = results[name].x0
    got = x.flatten()[:: max(1, x.numel() // 6)][:6]
    assert torch.allclose(got, torch.tensor(BEFORE[name]), rtol=0, atol=TOL), (name, got.tolist())


def test_every_sampler_returns_one_sample_with_its_pieces(results):
    for name, r in results.items():
        assert isinstance(r, H.Sample), name
        assert r.x0.device.type == "cpu" and r.x0.dtype == torch.float32, name
    r = results["subtract"]
    assert r.timesteps == (39, 38, 37, 36, 35) and r.trajectory.shape == (6, 6, 2)
    assert torch.equal(r.trajectory[-1], r.x0)
    assert results["respaced"].timesteps == tuple(H.ddim_timesteps(40, 8))  # the model's tau_k, not the indices k


def test_x0_predictions_are_recorded_when_asked():
    torch.manual_seed(0)
    mlp, s = H.TimeMLP(hidden=16, blocks=1), H.NoiseSchedule.linear(20)
    x_T = torch.randn((3, 2), generator=g(0))
    r = H.ddim_sample(mlp, s, x_T, steps=4, return_trajectory=True, return_x0_preds=True)
    assert r.x0_preds.shape == (4, 3, 2) and r.trajectory.shape == (5, 3, 2)
    eps = H.predict_noise(mlp, r.trajectory[1], r.timesteps[1])
    # the same float32 formula on the same inputs: equal up to float32 rounding of one division
    assert torch.allclose(r.x0_preds[1], H.predict_x0(r.trajectory[1], eps, r.timesteps[1], s), atol=1e-5)
    assert H.ddim_sample(mlp, s, x_T, steps=4).x0_preds is None


def test_reverse_loop_walks_pairs_and_hands_noise_to_every_step_but_the_last():
    seen = []

    class Zero(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, t):
            return x * 0

    def step(x, eps, t, t_prev, z):
        seen.append((t, t_prev, z is not None))
        return x

    pairs = H.timestep_pairs([9, 5, 2])
    assert pairs == [(9, 5), (5, 2), (2, -1)]
    H.reverse_loop(Zero(), torch.zeros(2, 2), pairs, step, noise=iter(torch.ones(3, 2, 2)))
    assert seen == [(9, 5, True), (5, 2, True), (2, -1, False)]


def test_the_shape_comes_from_x_T_or_the_models_config():
    assert sampling.sample_shape(H.TimeMLP(dim=2)) == (2,)
    assert sampling.sample_shape(H.UNet(base_channels=8, groups=4)) == (1, 28, 28)
    assert H.start_noise(H.TimeMLP(), 5, g(0)).shape == (5, 2)
    with pytest.raises(ValueError, match="x_T must be a floating-point tensor"):
        H.ddpm_sample(H.TimeMLP(), H.NoiseSchedule.linear(5), (4, 2))
    with pytest.raises(ValueError, match="model must carry a config"):
        sampling.sample_shape(torch.nn.Linear(2, 2))


def test_progress_is_off_unless_asked():
    for fn in (H.ddpm_sample, H.ddim_sample, H.reverse_loop, ddim_invert):
        p = inspect.signature(fn).parameters.get("progress")
        assert p is None or p.default is False, fn.__name__


def test_sample_is_a_frozen_dataclass():
    assert dataclasses.is_dataclass(H.Sample)
    with pytest.raises(dataclasses.FrozenInstanceError):
        H.Sample(torch.zeros(1), ()).x0 = torch.ones(1)
    assert typing.get_type_hints(H.reverse_loop)["return"] is H.Sample
