"""Every bad input raises ValueError with a message naming the argument and the value given."""
from __future__ import annotations

import math
import re

import pytest
import torch

from ddpm_helpers.core import data as data_mod
from ddpm_helpers.core.checkpoints import build_model, load_checkpoint, save_checkpoint
from ddpm_helpers.core.checks import check_int, check_number
from ddpm_helpers.core.data import load_fashion_mnist, make_moons_data
from ddpm_helpers.core.forward import forward_step, q_sample
from ddpm_helpers.core.metrics import chamfer_distance, mmd_rbf
from ddpm_helpers.core.models import MLPConfig, TimeMLP, UNet, UNetConfig, sinusoidal_embedding
from ddpm_helpers.core.reverse import ddim_step, ddpm_step, predict_x0, q_posterior
from ddpm_helpers.core.sampling import ddim_sample, ddim_timesteps, ddpm_sample
from ddpm_helpers.core.schedules import NoiseSchedule
from ddpm_helpers.core.training import train

S = NoiseSchedule.linear(10)
X = torch.zeros(3, 2)


def _m(*parts) -> str:
    """A regex that finds every part, in order, anywhere in the message."""
    return "(?s)" + ".*".join(re.escape(str(p)) for p in parts)


def _mlp():
    torch.manual_seed(0)
    return TimeMLP(MLPConfig(hidden=8, blocks=1, time_dim=4))


# ----------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("T", [0, -3, 2.5, True, "10", None])
@pytest.mark.parametrize("builder", [NoiseSchedule.linear, NoiseSchedule.cosine])
def test_bad_T(builder, T):
    with pytest.raises(ValueError, match=_m("T", repr(T))):
        builder(T)


@pytest.mark.parametrize("betas, named", [
    ([0.1, 1.0], "betas[1] = 1"),
    ([0.0, 0.5], "betas[0] = 0"),
    ([0.2, -0.1], "betas[1] = -0.1"),
    ([0.2, 1.5, 0.3], "betas[1] = 1.5"),
])
def test_betas_outside_open_interval(betas, named):
    with pytest.raises(ValueError, match=_m("(0, 1)", named)):
        NoiseSchedule.from_betas(betas)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_betas_not_finite(bad):
    with pytest.raises(ValueError, match=_m("betas must be finite", "index 1")):
        NoiseSchedule.from_betas([0.1, bad, 0.2])


@pytest.mark.parametrize("betas, shape", [([[0.1, 0.2]], "(1, 2)"), ([], "(0,)"), (0.1, "()")])
def test_betas_not_1d(betas, shape):
    with pytest.raises(ValueError, match=_m("betas", "1-D", shape)):
        NoiseSchedule.from_betas(betas)


def test_beta_start_above_beta_end():
    with pytest.raises(ValueError, match=_m("beta_start", "beta_end", "beta_start=0.02", "beta_end=0.01")):
        NoiseSchedule.linear(10, beta_start=0.02, beta_end=0.01)


@pytest.mark.parametrize("name, kwargs", [
    ("beta_start", {"beta_start": 0.0}), ("beta_end", {"beta_end": 1.5}), ("beta_start", {"beta_start": math.nan}),
])
def test_beta_endpoints_out_of_range(name, kwargs):
    with pytest.raises(ValueError, match=_m(name, "(0, 1)", repr(next(iter(kwargs.values()))))):
        NoiseSchedule.linear(10, **kwargs)


def test_cosine_negative_offset():
    with pytest.raises(ValueError, match=_m("s must", "-0.1")):
        NoiseSchedule.cosine(10, s=-0.1)


# ----------------------------------------------------------------------------- timesteps
@pytest.mark.parametrize("fn", [
    lambda t: q_sample(X, t, S),
    lambda t: forward_step(X, t, S),
    lambda t: predict_x0(X, X, t, S),
    lambda t: q_posterior(X, X, t, S),
])
def test_t_out_of_range(fn):
    for bad in (10, -1, 1000):
        with pytest.raises(ValueError, match=_m("t must lie in 0..9", f"got {bad}")):
            fn(bad)
    with pytest.raises(ValueError, match=_m("t must lie in 0..9", "got 10")):
        fn(torch.tensor([0, 5, 10]))


def test_t_wrong_batch_length():
    with pytest.raises(ValueError, match=_m("t has 2 entries", "batch has 3 items")):
        q_sample(X, torch.tensor([1, 2]), S)


def test_t_float_tensor():
    with pytest.raises(ValueError, match=_m("t must hold integers", "torch.float32")):
        q_sample(X, torch.tensor([1.0, 2.0, 3.0]), S)


def test_t_two_dimensional():
    with pytest.raises(ValueError, match=_m("t must be an int or a 1-D tensor", "(3, 1)")):
        q_sample(X, torch.zeros(3, 1, dtype=torch.long), S)


@pytest.mark.parametrize("bad, named", [(True, "True"), (2.0, "2.0"), ("3", "'3'")])
def test_t_wrong_type(bad, named):
    with pytest.raises(ValueError, match=_m("t must", named)):
        q_sample(X, bad, S)


def test_noise_wrong_shape():
    with pytest.raises(ValueError, match=_m("noise must have the data's shape (3, 2)", "(3, 3)")):
        q_sample(X, 1, S, noise=torch.zeros(3, 3))


# ----------------------------------------------------------------------------- reverse steps and samplers
def test_ddpm_step_bad_variance():
    with pytest.raises(ValueError, match=_m("variance must be", "'posterior'", "'beta'", "'foo'")):
        ddpm_step(X, X, 5, S, variance="foo")


def test_ddpm_step_tensor_t_and_eps_shape():
    with pytest.raises(ValueError, match=_m("t must be a single int", "(3,)")):
        ddpm_step(X, X, torch.tensor([1, 2, 3]), S)
    with pytest.raises(ValueError, match=_m("eps must have x_t's shape (3, 2)", "(2, 2)")):
        ddpm_step(X, torch.zeros(2, 2), 5, S)


@pytest.mark.parametrize("t_prev", [5, 7, -2])
def test_ddim_step_t_prev_not_below_t(t_prev):
    with pytest.raises(ValueError, match=_m("t_prev must be an integer in -1..4", f"got {t_prev}")):
        ddim_step(X, X, 5, t_prev, S)


def test_ddim_step_t_prev_wrong_type():
    with pytest.raises(ValueError, match=_m("t_prev must be an int", "2.5")):
        ddim_step(X, X, 5, 2.5, S)


@pytest.mark.parametrize("eta", [-0.1, math.nan, math.inf])
def test_ddim_step_bad_eta(eta):
    with pytest.raises(ValueError, match=_m("eta must be", repr(eta))):
        ddim_step(X, X, 5, 3, S, eta=eta)


@pytest.mark.parametrize("steps", [0, 11, -5, 2.5, True])
def test_ddim_steps_outside_1_to_T(steps):
    with pytest.raises(ValueError, match=_m("steps must be an integer in 1..T=10", repr(steps))):
        ddim_timesteps(10, steps)
    with pytest.raises(ValueError, match=_m("steps must be", repr(steps))):
        ddim_sample(_mlp(), S, torch.randn((2, 2)), steps=steps)


def test_ddim_bad_spacing():
    with pytest.raises(ValueError, match=_m("spacing must be", "'trailing'", "'leading'", "'foo'")):
        ddim_timesteps(10, 5, spacing="foo")
    with pytest.raises(ValueError, match=_m("spacing", "'foo'")):
        ddim_sample(_mlp(), S, torch.randn((2, 2)), steps=5, spacing="foo")


def test_ddim_sample_negative_eta():
    with pytest.raises(ValueError, match=_m("eta must be", "-1")):
        ddim_sample(_mlp(), S, torch.randn((2, 2)), steps=5, eta=-1.0)


def test_ddpm_sample_bad_variance_and_x_T():
    with pytest.raises(ValueError, match=_m("variance", "'foo'")):
        ddpm_sample(_mlp(), S, torch.randn((2, 2)), variance="foo")
    with pytest.raises(ValueError, match=_m("x_T must be a floating-point tensor", "tuple")):
        ddpm_sample(_mlp(), S, (3, 2))


# ----------------------------------------------------------------------------- models
def test_unet_image_size_it_cannot_take():
    with pytest.raises(ValueError, match=_m("image_size=30", "divisible by 2**2", "(1, 2, 2)")):
        UNet(UNetConfig(image_size=30))
    with pytest.raises(ValueError, match=_m("image_size=30")):
        build_model("unet", {"image_size": 30})


def test_unet_input_it_cannot_take():
    model = UNet(UNetConfig(base_channels=8, groups=4))
    with pytest.raises(ValueError, match=_m("divisible by 4", "(30, 30)", "28x28")):
        model(torch.zeros(1, 1, 30, 30), torch.tensor([0]))
    with pytest.raises(ValueError, match=_m("x must have shape (B, 1, H, W)", "(1, 3, 28, 28)")):
        model(torch.zeros(1, 3, 28, 28), torch.tensor([0]))


def test_unet_groups_must_divide_widths():
    with pytest.raises(ValueError, match=_m("groups=5", "width of 16")):
        UNet(UNetConfig(base_channels=16, groups=5))


def test_model_bad_t_and_x():
    m = _mlp()
    with pytest.raises(ValueError, match=_m("x must have shape (B, 2)", "(3, 3)")):
        m(torch.zeros(3, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=_m("t must have shape (3,)", "(2,)")):
        m(X, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=_m("t must be an integer tensor")):
        m(X, torch.zeros(3))


def test_build_model_unknown_kind_and_field():
    with pytest.raises(ValueError, match=_m("kind must be one of", "'transformer'")):
        build_model("transformer")
    with pytest.raises(ValueError, match=_m("unknown MLPConfig fields", "widht", "allowed")):
        build_model("mlp", {"widht": 3})


def test_sinusoidal_odd_dim():
    with pytest.raises(ValueError, match=_m("dim must be even", "7")):
        sinusoidal_embedding(torch.tensor([1]), 7)


# ----------------------------------------------------------------------------- training and checkpoints
def test_unknown_train_override():
    with pytest.raises(ValueError, match=_m("unknown TrainConfig fields", "stepz", "allowed", "steps")):
        train(_mlp(), make_moons_data(10), S, stepz=5, progress=False)


@pytest.mark.parametrize("field, value", [("steps", 0), ("batch_size", 2.5), ("lr", -1.0), ("ema_decay", 1.0),
                                          ("amp", "fp8"), ("log_every", True)])
def test_bad_train_config(field, value):
    with pytest.raises(ValueError, match=_m(f"config.{field}", repr(value))):
        train(_mlp(), make_moons_data(10), S, progress=False, **{field: value})


def test_bad_train_data_and_weights():
    with pytest.raises(ValueError, match=_m("data must be a tensor", "list")):
        train(_mlp(), [[0.0, 1.0]], S, progress=False)
    with pytest.raises(ValueError, match=_m("loss_weights must have shape (T,) = (10,)", "(9,)")):
        train(_mlp(), make_moons_data(10), S, loss_weights=torch.ones(9), progress=False)


def test_checkpoint_for_another_config(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _mlp())
    other = TimeMLP(MLPConfig(hidden=16, blocks=1, time_dim=4))
    with pytest.raises(ValueError, match=_m("different config", "hidden", "(16, 8)")):
        load_checkpoint(path, model=other)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match=_m(str(path), "not a ddpm_helpers checkpoint")):
        load_checkpoint(path)


# ----------------------------------------------------------------------------- data and metrics
def test_missing_dataset(monkeypatch, tmp_path):
    monkeypatch.setenv("DDPM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(data_mod, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.delenv("DDPM_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match=_m("FashionMNIST train files not found", str(tmp_path / "cache"),
                                            "train-images-idx3-ubyte.gz")):
        load_fashion_mnist("train", root=tmp_path / "nowhere", download=False)


def test_bad_data_arguments():
    with pytest.raises(ValueError, match=_m("split must be", "'val'")):
        load_fashion_mnist("val")
    with pytest.raises(ValueError, match=_m("n must be None or an integer >= 1", "0")):
        load_fashion_mnist("train", n=0)
    with pytest.raises(ValueError, match=_m("n must be an integer >= 1", "0")):
        make_moons_data(0)
    with pytest.raises(ValueError, match=_m("noise must be", ">= 0", "-0.1")):
        make_moons_data(10, noise=-0.1)


def test_bad_point_clouds():
    with pytest.raises(ValueError, match=_m("a must be a (N, D) tensor", "(5,)")):
        chamfer_distance(torch.zeros(5), torch.zeros(5, 2))
    with pytest.raises(ValueError, match=_m("same dimension", "2", "3")):
        mmd_rbf(torch.zeros(5, 2), torch.zeros(5, 3))


# ----------------------------------------------------------------------------- the one argument-check helper
@pytest.mark.parametrize("value", [0, 11, 2.0, True, "3", None])
def test_check_int_messages(value):
    with pytest.raises(ValueError, match=_m("steps must be an integer in 1..T=10", f"got {value!r}")):
        check_int("steps", value, 1, 10, hi_name="T")
    assert check_int("steps", 10, 1, 10) == 10


def test_check_int_allow_none():
    assert check_int("n", None, lo=1, allow_none=True) is None
    with pytest.raises(ValueError, match=_m("n must be None or an integer >= 1", "got 0")):
        check_int("n", 0, lo=1, allow_none=True)
    with pytest.raises(ValueError, match=_m("n must be an integer >= 1", "got None")):
        check_int("n", None, lo=1)


@pytest.mark.parametrize("value", [-0.1, 1.0, math.nan, math.inf, True, "0.5"])
def test_check_number_half_open_interval(value):
    with pytest.raises(ValueError, match=_m("ema_decay must be a finite number in [0, 1)", f"got {value!r}")):
        check_number("ema_decay", value, 0, 1, hi_open=True)
    assert check_number("ema_decay", 0, 0, 1, hi_open=True) == 0.0
    with pytest.raises(ValueError, match=_m("lr must be a finite number > 0", "got 0")):
        check_number("lr", 0, lo=0, lo_open=True)
