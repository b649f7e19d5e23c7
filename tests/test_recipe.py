"""The U-Net training recipe's levers: the learning-rate schedule, min-SNR-gamma weights, the recipe
itself, and the bf16 model wrapper the benchmarks' quality curve samples with."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ddpm_helpers.core.data import make_moons_data
from ddpm_helpers.core.models import MLPConfig, TimeMLP, UNet, UNetConfig
from ddpm_helpers.core.runtime import AutocastModel
from ddpm_helpers.core.schedules import NoiseSchedule
from ddpm_helpers.core.training import (EMA, UNET_RECIPE, TrainConfig, ema_decay_at, lr_factor, min_snr_weights,
                                        train)

SMALL = NoiseSchedule.linear(100, 1e-3, 0.1)


def _tiny_mlp(seed=0):
    torch.manual_seed(seed)
    return TimeMLP(MLPConfig(hidden=16, blocks=1, time_dim=8))


def test_lr_factor_warms_up_then_follows_a_half_cosine():
    assert lr_factor(0, 10, "none", 0.0) == pytest.approx(0.1)
    assert lr_factor(4, 10, "none", 0.9) == pytest.approx(0.5)
    assert lr_factor(50, 10, "none", 0.9) == 1.0
    for progress, want in ((0.0, 1.0), (0.25, (1 + math.sqrt(0.5)) / 2), (0.5, 0.5), (1.0, 0.0), (1.5, 0.0)):
        assert lr_factor(50, 10, "cosine", progress) == pytest.approx(want, abs=1e-12)
    assert lr_factor(4, 10, "cosine", 0.5) == pytest.approx(0.25)  # both at once: 0.5 warm-up x 0.5 cosine


def test_min_snr_weights_against_the_definition():
    sched = NoiseSchedule.linear(1000)
    w = min_snr_weights(sched, 5.0)
    ab = torch.cumprod(1 - sched.betas.double(), 0)
    for t in (0, 10, 100, 300, 999):
        snr = (ab[t] / (1 - ab[t])).item()
        assert w[t].item() == pytest.approx(min(snr, 5.0) / snr, rel=1e-6)
    assert w[0].item() == pytest.approx(5 * 1e-4 / (1 - 1e-4), rel=1e-5)  # SNR_0 = (1 - beta_0) / beta_0
    assert w.shape == (1000,) and w.dtype == torch.float32
    assert torch.all(w[1:] >= w[:-1])  # SNR falls with t, so the weight rises to 1 and stays there
    assert w[-1] == 1.0
    with pytest.raises(ValueError, match="gamma"):
        min_snr_weights(sched, 0.0)


def test_min_snr_gamma_is_the_same_as_passing_its_weights():
    data = make_moons_data(300)
    a = train(_tiny_mlp(0), data, SMALL, steps=6, batch_size=16, progress=False, min_snr_gamma=2.0)
    b = train(_tiny_mlp(0), data, SMALL, steps=6, batch_size=16, progress=False,
              loss_weights=min_snr_weights(SMALL, 2.0))
    plain = train(_tiny_mlp(0), data, SMALL, steps=6, batch_size=16, progress=False)
    np.testing.assert_array_equal(a.losses, b.losses)  # exact: train computes these very weights from the gamma
    assert not np.allclose(a.losses, plain.losses)
    with pytest.raises(ValueError, match="not both"):
        train(_tiny_mlp(0), data, SMALL, steps=2, progress=False, min_snr_gamma=2.0,
              loss_weights=torch.ones(SMALL.T))


def _moves(lr_decay: str, steps: int, time_limit: float | None = None) -> list[float]:
    """How far the weights move in each step of a run (summed |change|; it follows the lr)."""
    model = _tiny_mlp(0)
    moves, last = [], [p.detach().clone() for p in model.parameters()]

    def record(step, live, ema, seconds):
        nonlocal last
        now = [p.detach().clone() for p in live.parameters()]
        moves.append(sum((a - b).abs().sum().item() for a, b in zip(now, last)))
        last = now

    train(model, make_moons_data(300), SMALL, steps=steps, batch_size=16, lr=1e-2, warmup=1, lr_decay=lr_decay,
          log_every=1, progress=False, callback=record, time_limit=time_limit)
    return moves


def test_cosine_decay_takes_the_lr_to_zero_by_the_last_step():
    none, cosine = _moves("none", 20), _moves("cosine", 20)
    assert none[0] == pytest.approx(cosine[0], rel=1e-6)  # step 0: progress 0, factor 1
    assert cosine[-1] < 0.05 * none[-1]  # last step: lr x (1 + cos(pi * 19/20)) / 2 = 0.006 lr
    assert cosine[10] < none[10]


def test_cosine_decay_follows_the_time_limit():
    """With a time limit the progress is the larger of step/steps and seconds/time_limit: a limit that has
    already passed puts the lr at 0 from the first step (the run then stops at its first log step)."""
    with pytest.raises(ValueError, match="lr_decay"):
        train(_tiny_mlp(0), make_moons_data(50), SMALL, steps=2, progress=False, lr_decay="linear")
    assert _moves("cosine", 10**6, time_limit=1e-9) == [0.0]
    assert _moves("none", 10**6, time_limit=1e-9)[0] > 0


def test_the_recipe_is_a_valid_config_for_the_unet():
    cfg = TrainConfig(**{**UNET_RECIPE, "batch_size": 4}, steps=2, progress=False, log_every=1)
    torch.manual_seed(0)
    model = UNet(UNetConfig(image_size=8, base_channels=8, groups=4, channel_mults=(1, 2), attention=False))
    result = train(model, torch.rand(8, 1, 8, 8) * 2 - 1, SMALL, cfg)
    assert result.steps_done == 2 and np.isfinite(result.losses).all()


def test_autocast_model_returns_float32_close_to_the_float32_model():
    torch.manual_seed(0)
    model = UNet(UNetConfig(image_size=8, base_channels=8, groups=4, channel_mults=(1, 2), attention=True)).eval()
    x, t = torch.randn(4, 1, 8, 8, device="cpu"), torch.tensor([0, 10, 50, 99], device="cpu")
    with torch.no_grad():
        want = model(x, t)
        got = AutocastModel(model, "bf16")(x, t)
        same = AutocastModel(model, "off")(x, t)
    assert got.dtype == torch.float32 and got.shape == want.shape
    torch.testing.assert_close(same, want)
    rel = ((got - want).norm() / want.norm()).item()
    assert 0 < rel < 0.03  # bf16 keeps 8 bits of mantissa: close, but not bit-identical
    assert isinstance(AutocastModel(model, "bf16"), nn.Module)


def test_bucket_mse_is_the_unweighted_loss():
    """bucket_losses include the loss weights (notebook 05 plots them); bucket_mse is the plain squared error
    (notebook 04 plots it beside an unweighted loss per timestep)."""
    data = make_moons_data(300)
    w = torch.full((SMALL.T,), 4.0)
    plain = train(_tiny_mlp(0), data, SMALL, steps=4, batch_size=16, progress=False, lr=1e-12, warmup=1, log_every=2)
    weighted = train(_tiny_mlp(0), data, SMALL, steps=4, batch_size=16, progress=False, lr=1e-12, warmup=1,
                     log_every=2, loss_weights=w)
    np.testing.assert_allclose(plain.bucket_mse, plain.bucket_losses, rtol=1e-6)
    np.testing.assert_allclose(weighted.bucket_mse, plain.bucket_mse, rtol=1e-4)
    np.testing.assert_allclose(weighted.bucket_losses, 4 * plain.bucket_losses, rtol=1e-4)
    assert weighted.bucket_mse.shape == (2, 10)


def test_ema_warmup_off_keeps_the_fixed_decay_from_the_second_update():
    """With the warm-up the second update takes 2/11 of the old average; without it, ``decay`` of it."""
    assert ema_decay_at(0.9, 1) == pytest.approx(2 / 11) and ema_decay_at(0.9, 1, warmup=False) == 0.9
    assert ema_decay_at(0.999, 10**6) == 0.999 and ema_decay_at(0.999, 5, warmup=False) == 0.999
    model = nn.Linear(1, 1, bias=False)
    for warmup, share_of_first in ((True, 2 / 11), (False, 0.9)):
        with torch.no_grad():
            model.weight.fill_(1.0)
        ema = EMA(model, 0.9, warmup=warmup)
        ema.update(model)  # copies 1.0
        with torch.no_grad():
            model.weight.fill_(0.0)
        ema.update(model)
        assert ema.module.weight.item() == pytest.approx(share_of_first)


def test_train_passes_ema_warmup_and_checks_it():
    x = make_moons_data(256)
    runs = {w: train(_tiny_mlp(), x, SMALL, TrainConfig(steps=30, batch_size=32, lr=1e-2, ema_decay=0.99,
                                                        ema_warmup=w, device="cpu", progress=False)).ema
            for w in (True, False)}
    first = _tiny_mlp()  # the same initial weights: without the warm-up the EMA still holds 0.99^29 of them
    gap = {w: sum((p - q).abs().sum().item() for p, q in zip(m.parameters(), first.parameters()))
           for w, m in runs.items()}
    assert gap[False] < gap[True] / 3
    with pytest.raises(ValueError, match="config.ema_warmup must be True or False, got 'no'"):
        train(_tiny_mlp(), x, SMALL, TrainConfig(steps=1, ema_warmup="no", device="cpu", progress=False))


@pytest.mark.parametrize("warmup", [-1, 2.5, "200"])
def test_train_rejects_a_warmup_that_is_not_a_step_count(warmup):
    with pytest.raises(ValueError, match="config.warmup"):
        train(_tiny_mlp(), make_moons_data(50), SMALL, steps=1, warmup=warmup, progress=False)


def test_zero_warmup_starts_at_the_full_lr():
    assert lr_factor(0, 0, "none", 0.0) == 1.0
    train(_tiny_mlp(), make_moons_data(50), SMALL, steps=1, warmup=0, progress=False)
