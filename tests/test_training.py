"""The training loop, checkpoints (core.checkpoints), and the runtime helpers (quick mode, device)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ddpm_helpers.core.checkpoints import load_checkpoint, save_checkpoint
from ddpm_helpers.core.data import make_moons_data
from ddpm_helpers.core.metrics import chamfer_distance, moons_floor
from ddpm_helpers.core.models import MLPConfig, TimeMLP, UNet, UNetConfig
from ddpm_helpers.core.paths import WEIGHTS_DIR
from ddpm_helpers.core.runtime import budget, is_quick, pick_device, seed_everything
from ddpm_helpers.core.sampling import ddpm_sample, start_noise
from ddpm_helpers.core.schedules import NoiseSchedule
from ddpm_helpers.core.training import BUCKETS, TrainConfig, train

SMALL = NoiseSchedule.linear(100, 1e-3, 0.1)


def _tiny_mlp(seed=0):
    torch.manual_seed(seed)
    return TimeMLP(MLPConfig(hidden=16, blocks=1, time_dim=8))


# ----------------------------------------------------------------------------- the real thing
@pytest.fixture(scope="module")
def moons_run():
    """TimeMLP trained on the moons (Algorithm 1), then sampled with DDPM (Algorithm 2)."""
    sched = NoiseSchedule.linear(1000)
    data = make_moons_data(20000, seed=0)
    torch.manual_seed(0)
    steps = budget(3000, 1500)
    result = train(TimeMLP(), data, sched, steps=steps, batch_size=256, lr=2e-3,
                   progress=False, seed=0)
    n = 1000
    g = torch.Generator().manual_seed(0)  # draws x_T, then every step's noise
    samples = ddpm_sample(result.ema, sched, start_noise(result.ema, n, g), generator=g).x0
    return result, samples, n, steps


def test_moons_training_lowers_the_loss(moons_run):
    result, _, _, steps = moons_run
    assert result.steps_done == steps and not result.interrupted
    assert result.losses.shape == (steps,) and np.isfinite(result.losses).all()
    first, last = result.losses[:50].mean(), result.losses[-200:].mean()
    # measured: 0.66 -> 0.23; an untrained predictor of N(0, I) noise scores about 1
    assert last < 0.6 * first, (first, last)
    assert last < 0.35


def test_moons_samples_land_on_the_moons(moons_run):
    _, samples, n, _ = moons_run
    assert samples.shape == (n, 2) and torch.isfinite(samples).all()
    floor = moons_floor(n=n)["chamfer"]
    fresh = make_moons_data(n, seed=4242)
    ratio = chamfer_distance(samples, fresh) / floor
    # measured (n = 1000): about 1.2x the real-against-real floor after 3000 steps, 1.3x after 1500,
    # 2x after 1000;
    # pure noise scores far above (checked below), so 2.5x separates "learned" from "not"
    assert ratio < 2.5, f"samples are {ratio:.2f}x the floor"
    noise = torch.randn(n, 2, generator=torch.Generator().manual_seed(1))
    assert chamfer_distance(noise, fresh) / floor > 2 * 2.5


def test_moons_bucket_losses_and_ema(moons_run):
    result, _, _, steps = moons_run
    cfg = result.config
    records = -(-steps // cfg.log_every)  # ceil: one record per log_every steps, plus a final one
    assert result.bucket_losses.shape == (records, BUCKETS)
    assert result.bucket_edges.shape == (BUCKETS + 1,)
    assert result.bucket_edges[0] == 0 and result.bucket_edges[-1] == 1000
    assert np.isfinite(result.bucket_losses).all()
    # the noise is hardest to predict at small t: the first bucket's loss is the largest at the end
    assert result.bucket_losses[-1, 0] == result.bucket_losses[-1].max()
    live = dict(result.model.named_parameters())
    ema = dict(result.ema.named_parameters())
    assert live.keys() == ema.keys()
    assert any(not torch.equal(live[k], ema[k]) for k in live), "EMA weights equal the live weights"
    assert result.examples_per_second > 0 and result.seconds > 0


# ----------------------------------------------------------------------------- stopping early
class InterruptOnCall(nn.Module):
    """Wraps a model; its forward raises KeyboardInterrupt on the n-th call (the stop button)."""

    def __init__(self, inner: nn.Module, n: int):
        super().__init__()
        self.inner, self.n, self.calls = inner, n, 0

    def forward(self, x, t):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.inner(x, t)


def test_keyboard_interrupt_returns_what_was_trained(capsys):
    data = make_moons_data(500)
    model = InterruptOnCall(_tiny_mlp(), n=7)
    before = [p.detach().clone() for p in model.parameters()]
    result = train(model, data, SMALL, steps=100, batch_size=32, progress=False)
    # calls 1..6 completed six optimizer steps; the 7th forward raised before its step
    assert result.interrupted is True
    assert result.steps_done == 6
    assert result.losses.shape == (6,) and np.isfinite(result.losses).all()
    assert "interrupted after 6 of 100 steps" in capsys.readouterr().out
    # the weights moved, and both the live and EMA models still work
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    x, t = torch.randn(4, 2), torch.tensor([0, 1, 50, 99])
    with torch.no_grad():
        assert torch.isfinite(result.model(x, t)).all()
        assert torch.isfinite(result.ema(x, t)).all()
    assert not result.model.training


def test_interrupt_on_first_call():
    result = train(InterruptOnCall(_tiny_mlp(), n=1), make_moons_data(100), SMALL, steps=10, batch_size=8,
                   progress=False)
    assert result.interrupted and result.steps_done == 0 and result.losses.shape == (0,)


def test_time_limit_stops_at_the_next_log_step():
    result = train(_tiny_mlp(), make_moons_data(200), SMALL, steps=100_000, batch_size=8, log_every=5,
                   time_limit=0.0, progress=False)
    assert not result.interrupted
    assert result.steps_done == 5 and result.losses.shape == (5,)
    assert result.bucket_losses.shape == (1, 10)


def test_train_is_reproducible_with_seed():
    data = make_moons_data(300)
    a = train(_tiny_mlp(0), data, SMALL, steps=20, batch_size=16, progress=False, seed=3)
    b = train(_tiny_mlp(0), data, SMALL, steps=20, batch_size=16, progress=False, seed=3)
    # exact: the same call twice in one process (same seed, shapes, threads: the same kernels in the same order)
    np.testing.assert_array_equal(a.losses, b.losses)
    c = train(_tiny_mlp(0), data, SMALL, steps=20, batch_size=16, progress=False, seed=4)
    assert not np.array_equal(a.losses, c.losses)


def test_loss_weights_scale_the_loss():
    data = make_moons_data(300)
    base = train(_tiny_mlp(0), data, SMALL, steps=5, batch_size=16, progress=False, lr=1e-12, warmup=1)
    w = torch.full((SMALL.T,), 3.0)
    weighted = train(_tiny_mlp(0), data, SMALL, steps=5, batch_size=16, progress=False, lr=1e-12, warmup=1,
                     loss_weights=w)
    np.testing.assert_allclose(weighted.losses, 3 * base.losses, rtol=1e-5)


def test_train_with_config_object_and_unet_images():
    torch.manual_seed(0)
    model = UNet(UNetConfig(image_size=8, base_channels=8, groups=4, channel_mults=(1, 2), attention=False))
    images = torch.rand(16, 1, 8, 8) * 2 - 1
    cfg = TrainConfig(steps=3, batch_size=4, progress=False, log_every=2)
    result = train(model, images, SMALL, cfg)
    assert result.steps_done == 3 and result.bucket_losses.shape == (2, 10)
    assert result.config is cfg and result.device == "cpu"


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = UNet(UNetConfig(base_channels=8, groups=4, channel_mults=(1, 2), attention=True)).eval()
    sched = NoiseSchedule.cosine(50)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, sched, meta={"steps": 12, "torch": torch.__version__})
    raw = torch.load(path, weights_only=True)  # only plain types (torch.__version__ is a str subclass)
    assert raw["kind"] == "unet" and raw["config"]["channel_mults"] == [1, 2]
    loaded, s2, meta = load_checkpoint(path)
    assert type(loaded) is UNet and loaded is not model and loaded.config == model.config
    assert not loaded.training
    assert meta == {"steps": 12, "torch": str(torch.__version__)}
    # the schedule comes back exactly, every table
    assert s2.kind == "cosine" and s2.T == 50
    for name in ("betas", "alphas", "alpha_bars", "alpha_bars_prev", "posterior_variance", "snr"):
        assert torch.equal(getattr(s2, name), getattr(sched, name)), name
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([1, 40])
    with torch.no_grad():  # exact: the same weights and input through the same kernels, in one process
        torch.testing.assert_close(loaded(x, t), model(x, t), rtol=0, atol=0)


def test_checkpoint_into_given_model_and_without_schedule(tmp_path):
    model = _tiny_mlp(1).eval()
    path = tmp_path / "mlp.pt"
    save_checkpoint(path, model)
    target = _tiny_mlp(2)
    out, sched, meta = load_checkpoint(path, model=target)
    assert out is target and sched is None and meta == {}
    x, t = torch.randn(3, 2), torch.tensor([0, 1, 2])
    with torch.no_grad():  # exact: the same weights and input through the same kernels, in one process
        torch.testing.assert_close(out(x, t), model(x, t), rtol=0, atol=0)


def test_checkpoint_into_other_config_raises(tmp_path):
    path = tmp_path / "mlp.pt"
    save_checkpoint(path, _tiny_mlp())
    with pytest.raises(ValueError, match="different config"):
        load_checkpoint(path, model=TimeMLP(MLPConfig(hidden=32, blocks=1, time_dim=8)))
    with pytest.raises(ValueError, match="different config"):
        load_checkpoint(path, model=UNet(UNetConfig(base_channels=8, groups=4, channel_mults=(1, 2))))


def test_shipped_checkpoint_loads_if_present():
    path = WEIGHTS_DIR / "fashion_unet.pt"
    if not path.is_file():
        pytest.skip("no shipped weights yet")
    model, sched, meta = load_checkpoint(path)
    assert type(model) is UNet and sched is not None and sched.T == 1000
    x = torch.randn(1, 1, model.config.image_size, model.config.image_size)
    with torch.no_grad():
        assert torch.isfinite(model(x, torch.tensor([500]))).all()


# ----------------------------------------------------------------------------- runtime
def test_budget_honours_quick_mode(monkeypatch):
    monkeypatch.setenv("DDPM_QUICK", "1")
    assert is_quick() and budget(1000, 10) == 10
    monkeypatch.setenv("DDPM_QUICK", "yes")
    assert budget(1000, 10) == 10
    monkeypatch.setenv("DDPM_QUICK", "0")
    assert not is_quick() and budget(1000, 10) == 1000
    monkeypatch.delenv("DDPM_QUICK")
    assert budget("full", "quick") == "full"


def test_pick_device(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")


def test_seed_everything():
    g = seed_everything(5)
    a = torch.rand(3), np.random.rand(), torch.rand(2, generator=g)
    g = seed_everything(5)
    b = torch.rand(3), np.random.rand(), torch.rand(2, generator=g)
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and torch.equal(a[2], b[2])
