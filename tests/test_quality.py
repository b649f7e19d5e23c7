"""core.quality: samples drawn in seeded batches (every card metric and benchmark point samples this way)."""
from __future__ import annotations

import pytest
import torch

from ddpm_helpers.core.models import MLPConfig, TimeMLP
from ddpm_helpers.core.quality import draw_samples
from ddpm_helpers.core.runtime import AutocastModel
from ddpm_helpers.core.sampling import ddim_sample, ddpm_sample, start_noise
from ddpm_helpers.core.schedules import NoiseSchedule

SCHED = NoiseSchedule.linear(40)


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    return TimeMLP(MLPConfig(hidden=16, blocks=1, time_dim=8)).eval()


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_draw_samples_is_batches_from_one_seeded_generator(mlp, sampler):
    x = draw_samples(mlp, SCHED, 5, sampler, steps=8, seed=3, batch_size=2)
    # the same draws by hand: batches of 2, 2, 1, each x_T and its noise from one generator, in order
    gen, parts = torch.Generator().manual_seed(3), []
    for b in (2, 2, 1):
        x_T = start_noise(mlp, b, gen)
        run = (ddim_sample(mlp, SCHED, x_T, steps=8, generator=gen) if sampler == "ddim"
               else ddpm_sample(mlp, SCHED, x_T, generator=gen))
        parts.append(run.x0)
    assert x.shape == (5, 2) and x.device.type == "cpu"
    assert torch.equal(x, torch.cat(parts))  # exact: the same ops on the same tensors in one process
    assert torch.equal(x, draw_samples(mlp, SCHED, 5, sampler, steps=8, seed=3, batch_size=2))  # reproducible
    assert not torch.equal(x, draw_samples(mlp, SCHED, 5, sampler, steps=8, seed=4, batch_size=2))


def test_draw_samples_in_bf16_runs_the_model_under_autocast(mlp):
    x = draw_samples(mlp, SCHED, 3, "ddim", steps=8, precision="bf16")
    gen = torch.Generator().manual_seed(0)
    ref = ddim_sample(AutocastModel(mlp, "bf16"), SCHED, start_noise(mlp, 3, gen), steps=8, generator=gen).x0
    assert torch.equal(x, ref)


def test_draw_samples_refuses_an_unknown_sampler(mlp):
    with pytest.raises(ValueError, match="sampler must be 'ddim' or 'ddpm', got 'plms'"):
        draw_samples(mlp, SCHED, 2, "plms")
