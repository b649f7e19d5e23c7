"""Device and precision bugs caught on a CPU (CI has no GPU).

Three stand-ins for a GPU or a Mac, each failing on a different class of bug:

1. **The default device set to ``meta``** (``torch.set_default_device``): any tensor the package
   creates without naming its device lands on ``meta`` and cannot meet the model's CPU tensors.
   Notebook 03's and 05's path (training result -> samplers -> blunder demos -> metrics -> panels)
   and the image-side helpers run under it.
2. **The model on ``meta``** (its weights, hence ``model_device``, are there) while the schedule,
   the starting noise and the generator stay on the CPU: a sampler that builds ``x`` or ``t`` on the
   CPU, copies state to the host inside the loop (a trajectory ``.cpu()``), reads a value of a
   model-device tensor (``.item()``, ``float()``: a host sync on a GPU) or creates float64 on the
   model's device (MPS has none) fails, because meta tensors hold no data. Each sampler must run
   every step and fail only at its one copy to the host at the end of ``reverse_loop``.
3. **Host reads in the training step**, counted with a ``TorchFunctionMode``: ``.item()``,
   ``float()``, ``bool()``, ``.cpu()``, ... called from the package's own code may only happen at
   logging steps.
"""
from __future__ import annotations

import inspect
import math
import sys
import traceback
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

import ddpm_helpers as H
from ddpm_helpers.core import metrics, sampling
from ddpm_helpers.lessons.ddim import editing, speed
from ddpm_helpers.lessons.ddim import theory as ddim_theory
from ddpm_helpers.lessons.ddim.panels import ddim_panel
from ddpm_helpers.lessons.elbo import bound as elbo
from ddpm_helpers.lessons.moons import experiments, theory
from ddpm_helpers.lessons.moons.panels import reverse_sampling_panel
from ddpm_helpers.lessons.unet import anatomy, troubleshooting
from ddpm_helpers.lessons.unet.panels import x0_prediction_panel

PKG = str(Path(H.__file__).parent)


# ----------------------------------------------------------------------------- stand-in models
class MetaEps(nn.Module):
    """A noise predictor whose weights live on ``meta``: a model on an accelerator whose memory
    the host cannot read. It checks that x and t arrive on its device, t as (B,) longs."""

    def __init__(self, config=None):
        super().__init__()
        self.w = nn.Parameter(torch.ones((), device="meta"))
        self.config = config
        self.calls = 0

    def forward(self, x, t):
        if x.device.type != "meta" or t.device.type != "meta":
            raise AssertionError(f"the model on meta got x on {x.device} and t on {t.device}")
        if t.dtype != torch.long or tuple(t.shape) != (x.shape[0],):
            raise AssertionError(f"t must be (B,) longs, got {t.dtype} {tuple(t.shape)}")
        self.calls += 1
        return x * self.w  # on meta, like x


class NoFloat64OnDevice(TorchFunctionMode):
    """Fails on any op that returns a float64 tensor on a device other than the CPU (MPS has no float64)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for o in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(o, torch.Tensor) and o.dtype == torch.float64 and o.device.type != "cpu":
                raise AssertionError(f"{getattr(func, '__name__', func)} made float64 on {o.device}")
        return out


@pytest.fixture
def on_meta():
    with NoFloat64OnDevice():
        yield


HOST_COPY_LINE = next(i for i, line in enumerate(inspect.getsource(sampling).splitlines(), 1)
                      if "# the one copy to the host" in line)


def runs_on_meta_until_the_host_copy(run, model, calls: int) -> None:
    """``run()`` with the model on meta: every one of ``calls`` model calls must happen there, and the only failure
    allowed is the sampler's one copy of its result to the host at the end of ``reverse_loop`` (meta holds no data
    to copy). A step that read a value (.item(), float()) or copied to the host inside the loop fails earlier."""
    before = model.calls
    with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor") as err:
        run()
    frames = [f for f in traceback.extract_tb(err.value.__traceback__) if f.filename.startswith(PKG)]
    assert frames[-1].name == "reverse_loop" and frames[-1].lineno > HOST_COPY_LINE, frames[-1]
    assert model.calls - before == calls


# ----------------------------------------------------------------------------- 2. the model elsewhere
def test_samplers_run_on_the_models_device_without_reading_it(on_meta):
    sched = H.NoiseSchedule.linear(20)                      # on the CPU, as the notebooks make it
    model = MetaEps()
    g = torch.Generator().manual_seed(0)                    # a CPU generator, as the notebooks use
    x_T = torch.randn(4, 2)                                  # a CPU starting point
    runs_on_meta_until_the_host_copy(lambda: H.ddpm_sample(model, sched, x_T, generator=g, return_trajectory=True),
                                     model, 20)
    runs_on_meta_until_the_host_copy(lambda: H.ddpm_sample(model, sched, x_T, generator=g, variance="beta",
                                                           clip_x0=True, return_x0_preds=True), model, 20)
    for eta, clip in ((0.0, False), (0.5, True), (1.0, False)):
        runs_on_meta_until_the_host_copy(lambda e=eta, c=clip: H.ddim_sample(model, sched, x_T, steps=5, eta=e,
                                                                             generator=g, clip_x0=c,
                                                                             return_trajectory=True), model, 5)
    runs_on_meta_until_the_host_copy(lambda: H.naive_skip_sample(model, sched, x_T, 3, generator=g), model, 8)
    runs_on_meta_until_the_host_copy(lambda: experiments.subtract_full_noise(model, sched, x_T, steps=5), model, 5)
    runs_on_meta_until_the_host_copy(lambda: ddim_theory.respaced_ddpm_sample(model, sched, x_T, 4, generator=g),
                                     model, 4)
    runs_on_meta_until_the_host_copy(lambda: editing.ddim_invert(model, sched, torch.randn(3, 2), steps=4), model, 4)
    with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor"):
        sampling.predict_noise(model, torch.randn(3, 2), 7)  # one call, then the copy of its result


def test_troubleshooting_gallery_runs_on_the_models_device(on_meta):
    sched = H.NoiseSchedule.linear(30)
    model = MetaEps(config=H.UNetConfig())
    for _, fn in troubleshooting.BUGS.values():
        runs_on_meta_until_the_host_copy(lambda f=fn: f(model, sched, 2, 5, 0), model, 5)


# ----------------------------------------------------------------------------- 1. default device meta
class TinyEps(nn.Module):
    """A real (CPU) noise predictor for 2-D points: eps_hat = 0.1 x + a time-dependent shift."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.config = H.MLPConfig()

    def forward(self, x, t):
        return self.lin(x) + 1e-3 * t.float()[:, None]


class TinyImageEps(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.config = H.UNetConfig()

    def forward(self, x, t):
        return self.conv(x) + 1e-3 * t.float()[:, None, None, None]


@pytest.fixture
def default_meta():
    """Every tensor created without an explicit device lands on meta while the test runs."""
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


@pytest.fixture(scope="module")
def moons_result():
    data = H.make_moons_data(512, seed=0)
    sched = H.NoiseSchedule.linear(40)
    result = H.train(H.TimeMLP(hidden=32, blocks=1), data, sched, steps=20, batch_size=64, lr=2e-3,
                     progress=False, device="cpu")
    return result, sched


def test_notebook_03_and_05_path_creates_every_tensor_on_a_named_device(moons_result, default_meta):
    """Notebooks 03/05: training result -> samplers -> blunder demos -> metrics -> panels."""
    result, sched = moons_result
    n = 64
    ref = H.make_moons_data(n, seed=123)
    x_T = torch.randn((n, 2), generator=torch.Generator().manual_seed(1), device="cpu")
    run = H.ddpm_sample(result.ema, sched, x_T, generator=torch.Generator().manual_seed(2), return_trajectory=True)
    samples, traj = run.x0, run.trajectory
    assert samples.device.type == "cpu" and traj.device.type == "cpu" and traj.shape == (sched.T + 1, n, 2)
    eps_T = sampling.predict_noise(result.ema, x_T, sched.T - 1)
    assert eps_T.device.type == "cpu" and torch.isfinite(eps_T).all()
    assert 0 < metrics.chamfer_distance(samples, ref) < 10 and 0 < metrics.mmd_rbf(samples, ref) < 10
    skipped = H.naive_skip_sample(result.ema, sched, x_T, 5, generator=torch.Generator().manual_seed(3)).x0
    assert skipped.device.type == "cpu" and torch.isfinite(skipped).all()
    traj_blunder = experiments.subtract_full_noise(result.ema, sched, x_T, steps=4).trajectory
    assert traj_blunder.shape == (5, n, 2)
    panel = reverse_sampling_panel(result.ema, sched, n=n, ks=(1, 5), ref=ref, floor=0.05)
    panel.controls["k"].value = 5
    g = torch.Generator().manual_seed(4)
    x0 = H.ddim_sample(result.ema, sched, H.start_noise(result.ema, n, g), steps=5, eta=1.0, generator=g).x0
    assert x0.device.type == "cpu" and torch.isfinite(x0).all()
    rec = editing.ddim_reconstruct(result.ema, sched, ref[:8], steps=5)
    assert rec["rmse"].shape == (8,)


def test_image_helpers_create_every_tensor_on_a_named_device(default_meta):
    with torch.device("cpu"):
        model, image = TinyImageEps(), torch.rand(1, 1, 28, 28) * 2 - 1
    sched = H.NoiseSchedule.linear(50)
    gallery = troubleshooting.troubleshooting_gallery(model, sched, n=2, steps=4, live_model=model)
    assert all(x.device.type == "cpu" for _, x, _ in gallery.values())
    x_t, x0_hat = anatomy.x0_predictions(model, sched, image[0], [0, 10, 49])
    assert x0_hat.shape == (3, 1, 28, 28) and x0_hat.device.type == "cpu"
    losses = anatomy.loss_per_timestep(model, sched, image.expand(2, -1, -1, -1), [0, 25, 49])
    assert losses.shape == (3,) and torch.isfinite(losses).all()
    traj = H.ddim_sample(model, sched, H.start_noise(model, 1, torch.Generator().manual_seed(0)), steps=5,
                         return_trajectory=True).trajectory
    xs, x0s, labels = anatomy.filmstrip_frames(model, sched, traj, H.ddim_timesteps(50, 5), frames=3)
    assert xs.shape == x0s.shape == (3, 1, 28, 28)
    shapes = anatomy.trace_shapes(model, image, torch.tensor([3], device="cpu"))
    assert shapes and shapes[0][1] == (1, 1, 28, 28)
    p = x0_prediction_panel(model, sched, image[0], t=20)
    p.controls["t"].value = 40
    p = ddim_panel(model, sched, n=2, steps=10, seed=0)
    p.controls["steps"].value = 5
    rows = speed.speed_quality_table(model, sched, n=2, steps_list=(2,), etas=(0.0,), metrics=False)
    assert len(rows) == 2
    a = H.q_sample(image, 3, sched)[0]
    b = H.forward_step(image, torch.tensor([3], device="cpu"), sched)
    assert a.device.type == b.device.type == "cpu"


# ----------------------------------------------------------------------------- 3. host reads in training
_READS = {torch.Tensor.item, torch.Tensor.__bool__, torch.Tensor.__int__, torch.Tensor.__float__,
          torch.Tensor.__index__, torch.Tensor.tolist, torch.Tensor.numpy, torch.Tensor.cpu,
          torch.Tensor.__format__}


class HostReads(TorchFunctionMode):
    """Records every host read of a tensor value made by code in ``ddpm_helpers`` (torch's own
    internals, such as AdamW's step counters, which live on the CPU even for a GPU model, are not
    ours). Steps are counted by the training loop's two ``torch.randint`` draws per step."""

    def __init__(self):
        super().__init__()
        self.reads: list[tuple[int, str]] = []
        self.randints = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch.randint and sys._getframe(1).f_code.co_filename.endswith("training.py"):
            self.randints += 1
        if func in _READS:
            frame = sys._getframe(1)
            for _ in range(5):  # the nearest caller in the package, a few frames up at most
                if frame is None:
                    break
                if frame.f_code.co_filename.startswith(PKG):
                    step = (self.randints + 1) // 2  # the 1-based step being run; 0 before the loop
                    where = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
                    self.reads.append((step, f"{func.__name__} at {where}"))
                    break
                frame = frame.f_back
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("kind", ["mlp", "unet"])
def test_training_steps_read_nothing_back_except_at_logging_steps(kind):
    if kind == "mlp":
        model, data = H.TimeMLP(hidden=16, blocks=1), H.make_moons_data(64, seed=0)
    else:
        model = H.UNet(H.UNetConfig(base_channels=8, channel_mults=(1, 2), groups=4))
        data = torch.rand(16, 1, 28, 28) * 2 - 1
    sched = H.NoiseSchedule.linear(30)
    mode = HostReads()
    with mode:  # float32: the precision paths have their own tests below, and bf16 is slow under the mode
        H.train(model, data, sched, steps=8, batch_size=8, log_every=4, progress=False, device="cpu", amp="off")
    assert mode.randints == 16  # the counter saw all 8 steps
    in_loop = {step for step, _ in mode.reads if 1 <= step <= 8}
    assert in_loop <= {4, 8}, f"host reads outside the logging steps: {mode.reads}"
    assert in_loop == {4, 8}, "the logging steps do read the loss: the counter must see them"


def test_sampler_steps_read_no_model_device_value():
    """The sampler-side counterpart: with the model on meta any read of a model-device value fails
    (see test_samplers_run_on_the_models_device_without_reading_it); this checks that the loop itself
    (sampling.py) reads no tensor value on the host at all, only the steps read schedule scalars."""
    sched = H.NoiseSchedule.linear(20)
    mode = HostReads()
    with mode:
        H.ddim_sample(TinyEps(), sched, torch.randn((3, 2), device="cpu"), steps=5)
    assert not any("sampling.py" in r for r in mode.reads), mode.reads


# ----------------------------------------------------------------------------- precision by capability
def test_auto_precision_by_capability(monkeypatch):
    from ddpm_helpers.core import runtime

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))  # T4 (Colab)
    assert runtime.resolve_amp("auto", "cuda") == "fp16"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))  # A100
    assert runtime.resolve_amp("auto", "cuda") == "bf16"
    monkeypatch.setattr(runtime, "cpu_has_amx", lambda: True)
    assert runtime.resolve_amp("auto", "cpu") == "bf16"
    assert runtime.resolve_amp("auto", "cpu", images=False) == "off"
    monkeypatch.setattr(runtime, "cpu_has_amx", lambda: False)
    assert runtime.resolve_amp("auto", "cpu") == "off"
    assert runtime.resolve_amp("auto", "mps") == "off"
    assert runtime.resolve_amp("bf16", "mps") == "bf16"  # asked for explicitly
    with pytest.raises(ValueError, match="amp must be 'auto', 'bf16', 'fp16' or 'off', got 'fp8'"):
        runtime.resolve_amp("fp8", "cpu")
    import contextlib

    assert isinstance(runtime.autocast("cpu", "off"), contextlib.nullcontext)
    assert isinstance(runtime.autocast("cpu", "bf16"), torch.autocast)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_training_in_half_precision_on_the_cpu(amp):
    """CPU autocast (bf16; fp16 with torch.amp.GradScaler('cpu')) trains as well as float32 on the
    moons: the same run's late loss within 5 % (measured: off 0.814, bf16 0.826, fp16 0.810 from ~1.05),
    the loss history and the EMA weights stay float32."""
    data = H.make_moons_data(256, seed=0)
    sched = H.NoiseSchedule.linear(50)
    runs = {a: H.train(H.TimeMLP(hidden=32, blocks=1), data, sched, steps=150, batch_size=64, lr=3e-3,
                       progress=False, device="cpu", amp=a, log_every=50) for a in ("off", amp)}
    half, full = runs[amp], runs["off"]
    assert half.precision == amp and full.precision == "off" and half.losses.dtype.name == "float32"
    late = {a: r.losses[-50:].mean() for a, r in runs.items()}
    assert late[amp] < 0.9 * half.losses[:10].mean()
    assert abs(late[amp] - late["off"]) < 0.05 * late["off"], late
    assert all(p.dtype == torch.float32 for p in half.ema.parameters())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_q_sample_keeps_the_noise_of_small_t_for_half_precision_inputs(dtype):
    sched = H.NoiseSchedule.linear(1000)
    x0 = (torch.rand(4096, generator=torch.Generator().manual_seed(0)) * 2 - 1).to(dtype)
    noise = torch.randn(4096, generator=torch.Generator().manual_seed(1))
    for t in range(21):
        ab = float(sched.alpha_bars[t])
        expect = ab ** 0.5 * x0.float() + (1 - ab) ** 0.5 * noise
        for tt in (t, torch.full((4096,), t, dtype=torch.long)):
            x_t, eps = H.q_sample(x0, tt, sched, noise=noise.to(dtype))
            assert x_t.dtype == torch.float32, (t, type(tt))
            # the noise term sqrt(1 - abar_t) ~ 0.01 .. 0.1 survives: x_t - sqrt(abar) x0 is the scaled noise
            resid = x_t - ab ** 0.5 * x0.float()
            torch.testing.assert_close(resid / (1 - ab) ** 0.5, noise.to(dtype).float(), atol=2e-3, rtol=2e-3)
            torch.testing.assert_close(x_t, expect, atol=2e-3 * (1 - ab) ** 0.5 + 1e-3, rtol=0)


def test_q_sample_output_dtype_does_not_depend_on_how_t_is_given():
    sched = H.NoiseSchedule.cosine(100)
    x = torch.randn(3, 2)
    for dtype, want in ((torch.float16, torch.float32), (torch.float32, torch.float32), (torch.float64, torch.float64)):
        a, _ = H.q_sample(x.to(dtype), 5, sched)
        b, _ = H.q_sample(x.to(dtype), torch.tensor([5, 5, 5]), sched)
        assert a.dtype == b.dtype == want


# ----------------------------------------------------------------------------- checkpoints and configs
def test_save_checkpoint_refuses_meta_it_cannot_load_back(tmp_path):
    model = H.TimeMLP(hidden=8, blocks=1)
    path = tmp_path / "m.pt"
    with pytest.raises(ValueError, match=r"meta\['when'\] holds a datetime"):
        import datetime

        H.save_checkpoint(path, model, meta={"when": datetime.datetime(2026, 1, 1)})
    assert not path.exists()
    H.save_checkpoint(path, model, meta={"torch": torch.__version__, "nested": {"a": [1, 2.5, None]}})
    _, _, meta = H.load_checkpoint(path)
    assert type(meta["torch"]) is str and meta["nested"] == {"a": [1, 2.5, None]}
    torch.load(path, weights_only=True)  # plain: no allow-list needed


def test_config_overrides_merge_and_never_touch_the_callers_config():
    cfg = H.UNetConfig(channel_mults=[1, 2])
    m = H.UNet(cfg, base_channels=16)
    assert m.config.base_channels == 16 and m.config.channel_mults == (1, 2)
    assert cfg.base_channels == 32 and cfg.channel_mults == [1, 2]  # untouched
    with pytest.raises(ValueError, match=r"unknown UNetConfig fields \['base_chanels'\]"):
        H.UNet(cfg, base_chanels=16)
    d = {"hidden": 16}
    H.build_model("mlp", d)
    assert d == {"hidden": 16}


# ----------------------------------------------------------------------------- installed, not cloned
def test_an_installed_package_caches_in_the_user_cache_dir(monkeypatch, tmp_path):
    """Installed from git or a wheel (no pyproject.toml and notebooks/ beside the package), the
    FashionMNIST cache and the instructor tools' build folder go to the platform's user cache
    directory, not into site-packages; a clone keeps data/ and build/."""
    from ddpm_helpers.core import data, paths

    assert paths.is_clone() and data.fashion_cache_dir() == paths.REPO_ROOT / "data" / "FashionMNIST" / "raw"
    monkeypatch.delenv("DDPM_CACHE_DIR", raising=False)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", tmp_path / "site-packages" / "notebooks")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert not paths.is_clone()
    assert data.fashion_cache_dir() == tmp_path / "xdg" / "ddpm_helpers" / "FashionMNIST" / "raw"
    assert paths.build_dir() == tmp_path / "xdg" / "ddpm_helpers" / "build"
    with pytest.raises(ValueError, match="notebooks are not installed with the package.*--src"):
        paths.notebooks_dir()
    monkeypatch.setenv("DDPM_CACHE_DIR", str(tmp_path / "mine"))
    assert data.fashion_cache_dir() == tmp_path / "mine" / "FashionMNIST" / "raw"


def test_the_maths_of_notebooks_05_and_06_names_its_devices(default_meta):
    """ELBO, theory and q_sigma helpers with the default device on meta: they return real CPU numbers."""
    sched = H.NoiseSchedule.linear(100)
    g = torch.Generator().manual_seed(0)
    kl = elbo.gaussian_kl_monte_carlo(0.0, 1.0, 0.5, 2.0, n=2000, generator=g)
    assert all(math.isfinite(float(v)) for v in (kl if isinstance(kl, tuple) else (kl,)))
    post = elbo.posterior_on_grid(0.7, 0.3, 10, sched)
    assert all(torch.as_tensor(v, device="cpu").isfinite().all()
               for v in (post.values() if isinstance(post, dict) else post)
               if isinstance(v, (torch.Tensor, float)))
    w = elbo.elbo_weights(sched)
    assert w.device.type == "cpu" and torch.isfinite(w).all()
    with torch.device("cpu"):
        data = H.make_moons_data(64, seed=0)
    mean, se = theory.loss_floor(data, sched, t=10, n=64, generator=g)
    assert 0 < mean < 2 and se >= 0
    rows = ddim_theory.q_sigma_marginal_check(data, 50, 20, sched, etas=(0.0, 1.0), draws=2, generator=g)
    assert len(rows) == 2 and all(math.isfinite(r["var"]) for r in rows)
