"""The noise predictors: shapes, gradients everywhere, the time embedding, the registry."""
from __future__ import annotations

import math

import pytest
import torch

from ddpm_helpers.core.checkpoints import build_model, config_dict, model_kind
from ddpm_helpers.core.models import MLPConfig, TimeMLP, UNet, UNetConfig, count_parameters, sinusoidal_embedding


def _grads_reach_every_parameter(model, x, t):
    model.zero_grad(set_to_none=True)
    out = model(x, t)
    target = torch.randn(out.shape, generator=torch.Generator().manual_seed(0))
    (out - target).pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    zero = [n for n, p in model.named_parameters() if p.grad is not None and not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reached {missing}"
    assert not zero, f"all-zero gradient for {zero}"
    return out


def test_time_mlp_shape_and_grads():
    torch.manual_seed(0)
    model = TimeMLP()
    x = torch.randn(16, 2)
    t = torch.randint(0, 1000, (16,))
    out = _grads_reach_every_parameter(model, x, t)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_time_mlp_depends_on_t():
    torch.manual_seed(0)
    model = TimeMLP(MLPConfig(hidden=32, blocks=2))
    x = torch.randn(4, 2)
    a = model(x, torch.zeros(4, dtype=torch.long))
    b = model(x, torch.full((4,), 500))
    assert (a - b).abs().max() > 1e-3


def test_time_mlp_other_dim_and_scalar_t():
    torch.manual_seed(0)
    model = TimeMLP(dim=3, hidden=16, blocks=1)
    x = torch.randn(5, 3)
    out = model(x, torch.tensor(7))  # a 0-d t is broadcast over the batch
    torch.testing.assert_close(out, model(x, torch.full((5,), 7)))
    assert out.shape == (5, 3)


def test_unet_28_shape_and_grads():
    torch.manual_seed(0)
    model = UNet(UNetConfig(base_channels=16))  # the default layout (1, 2, 2) with attention, narrower
    x = torch.randn(2, 1, 28, 28)
    t = torch.tensor([3, 900])
    out = _grads_reach_every_parameter(model, x, t)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_unet_default_config_shape():
    torch.manual_seed(0)
    model = UNet()
    x = torch.randn(1, 1, 28, 28)
    with torch.no_grad():
        assert model(x, torch.tensor([10])).shape == x.shape
    assert model.config == UNetConfig()


def test_unet_32_config_shape_and_grads():
    torch.manual_seed(0)
    cfg = UNetConfig(in_channels=3, image_size=32, base_channels=8, channel_mults=(1, 2, 2, 2), groups=4,
                     num_res_blocks=2, attention=False)
    model = UNet(cfg)
    x = torch.randn(2, 3, 32, 32)
    out = _grads_reach_every_parameter(model, x, torch.tensor([0, 999]))
    assert out.shape == x.shape


def test_unet_depends_on_t_and_x():
    torch.manual_seed(0)
    model = UNet(UNetConfig(base_channels=8, groups=4)).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        a = model(x, torch.tensor([0, 0]))
        b = model(x, torch.tensor([700, 700]))
        c = model(x.flip(-1), torch.tensor([0, 0]))
    assert (a - b).abs().max() > 1e-4
    assert (a - c).abs().max() > 1e-4


def test_sinusoidal_embedding_values():
    dim = 16
    emb = sinusoidal_embedding(torch.tensor([0, 1, 250]), dim)
    assert emb.shape == (3, dim)
    # t = 0: every sin is 0, every cos is 1
    torch.testing.assert_close(emb[0, : dim // 2], torch.zeros(dim // 2))
    torch.testing.assert_close(emb[0, dim // 2:], torch.ones(dim // 2))
    # the formula: f_i = 10000^(-i / (dim/2))
    for row, t in ((1, 1), (2, 250)):
        for i in (0, 3, 7):
            f = 10000 ** (-i / (dim // 2))
            assert emb[row, i].item() == pytest.approx(math.sin(t * f), abs=1e-4)
            assert emb[row, dim // 2 + i].item() == pytest.approx(math.cos(t * f), abs=1e-4)
    # each row lies on a product of circles: sin^2 + cos^2 = 1
    torch.testing.assert_close(emb[:, : dim // 2] ** 2 + emb[:, dim // 2:] ** 2, torch.ones(3, dim // 2))


def test_sinusoidal_embedding_distinguishes_timesteps():
    emb = sinusoidal_embedding(torch.arange(1000), 32)
    d = torch.cdist(emb, emb) + torch.eye(1000) * 10
    assert d.min() > 1e-3, "two timesteps share an embedding"


@pytest.mark.parametrize("make", [
    lambda: TimeMLP(MLPConfig(hidden=32, blocks=2, time_dim=16)),
    lambda: UNet(UNetConfig(base_channels=8, groups=4, channel_mults=(1, 2), attention=False)),
])
def test_build_model_round_trip(make):
    torch.manual_seed(0)
    model = make().eval()
    kind = model_kind(model)
    rebuilt = build_model(kind, config_dict(model)).eval()
    assert type(rebuilt) is type(model)
    assert rebuilt.config == model.config
    assert count_parameters(rebuilt) == count_parameters(model)
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(3, 2) if kind == "mlp" else torch.randn(3, 1, 28, 28)
    t = torch.tensor([0, 5, 999])
    with torch.no_grad():  # exact: the same weights and input through the same kernels, in one process
        torch.testing.assert_close(rebuilt(x, t), model(x, t), rtol=0, atol=0)


def test_build_model_from_json_like_config():
    # a checkpoint stores tuples as lists; the U-Net must accept that
    m = build_model("unet", {"base_channels": 8, "groups": 4, "channel_mults": [1, 2], "attention": False})
    assert m.config.channel_mults == (1, 2)
    assert model_kind(m) == "unet" and model_kind(build_model("mlp")) == "mlp"


def test_count_parameters():
    m = TimeMLP(MLPConfig(dim=2, hidden=4, blocks=1, time_dim=2))
    # time MLP: (2*4+4) + (4*4+4); inp: 2*4+4; one block: 2*(4*4+4); out: 4*2+2
    assert count_parameters(m) == 12 + 20 + 12 + 40 + 10


def test_unet_attention_levels_place_attention_after_every_block_of_those_levels():
    """attention_levels=(1,): each residual block at 14x14 is followed by self-attention, one on the way
    down and two on the way up, besides the middle one; gradients reach them, and the config round-trips
    through a checkpoint's JSON-like dict (a list)."""
    from ddpm_helpers.core.models import AttnResBlock, SelfAttention

    torch.manual_seed(0)
    model = UNet(UNetConfig(base_channels=8, groups=4, attention_levels=[1]))
    assert model.config.attention_levels == (1,)
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
             for m in model.modules() if isinstance(m, SelfAttention)]
    out = _grads_reach_every_parameter(model, torch.randn(2, 1, 28, 28), torch.tensor([3, 900]))
    for h in hooks:
        h.remove()
    assert out.shape == (2, 1, 28, 28) and sorted(sizes) == [7, 14, 14, 14]
    assert sum(isinstance(m, AttnResBlock) for m in model.modules()) == 3
    plain = UNet(UNetConfig(base_channels=8, groups=4))
    assert count_parameters(model) > count_parameters(plain)
    rebuilt = build_model("unet", {**config_dict(model), "attention_levels": [1]})
    rebuilt.load_state_dict(model.state_dict())  # same modules, same names
    with pytest.raises(RuntimeError, match="attn"):
        plain.load_state_dict(model.state_dict())


@pytest.mark.parametrize("bad", [(3,), (-1,), (True,), ("1",), 1])
def test_unet_rejects_attention_levels_outside_its_levels(bad):
    with pytest.raises(ValueError, match=r"attention_levels must be a tuple of level indices in 0\.\.2"):
        UNet(UNetConfig(base_channels=8, groups=4, attention_levels=bad))
