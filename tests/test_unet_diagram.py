"""Notebook 04's U-Net diagram is drawn from the model itself (ddpm_helpers.lessons.unet.diagram)."""
import pytest
import torch
from matplotlib.patches import FancyBboxPatch

from ddpm_helpers.core.models import ResBlock, UNet, UNetConfig
from ddpm_helpers.lessons.unet import diagram as ud
from ddpm_helpers.lessons.unet import plot_unet_diagram, unet_layout


@pytest.mark.parametrize("cfg", [UNetConfig(base_channels=32),
                                 UNetConfig(base_channels=16, channel_mults=(1, 2), num_res_blocks=2, attention=False)])
def test_layout_follows_the_model(cfg):
    model = UNet(cfg)
    lay = unet_layout(model)
    names = [b["name"] for b in lay["boxes"]]
    assert names[0] == "stem" and names[-1] == "out"
    n_down = len(model.down)
    assert names[1:1 + n_down] == [f"down.{i}" for i in range(n_down)]
    assert ("mid_attn" in names) == cfg.attention
    # one skip per up-path ResBlock, every stem/down activation used exactly once, in stack order
    up_res = [f"up.{i}" for i, m in enumerate(model.up) if isinstance(m, ResBlock)]
    assert [d for _, d in lay["skips"]] == up_res
    assert sorted(s for s, _ in lay["skips"]) == sorted(["stem"] + [f"down.{i}" for i in range(n_down)])
    assert lay["skips"][-1] == ("stem", up_res[-1]) and lay["skips"][0][0] == f"down.{n_down - 1}"
    # a skip joins two activations of the same resolution; levels follow the halvings
    by = {b["name"]: b for b in lay["boxes"]}
    for s, d in lay["skips"]:
        assert by[s]["out_shape"][-1] == by[d]["out_shape"][-1]
    assert max(b["level"] for b in lay["boxes"]) == len(cfg.channel_mults) - 1
    assert lay["time_shape"][1] == 4 * cfg.base_channels
    fig = plot_unet_diagram(model)
    boxes = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == len(lay["boxes"])
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert f"{cfg.base_channels}×{cfg.image_size}×{cfg.image_size}" in texts


def test_a_diagram_that_disagrees_with_the_model_is_refused(monkeypatch):
    model = UNet(UNetConfig(base_channels=16, channel_mults=(1, 2), attention=False))
    real = ud.trace_shapes

    def no_concat(m, x, t):  # records as if up.0 did not concatenate its skip
        return [(n, (i[0], i[1] // 2, *i[2:]) if n == "up.0" else i, o) for n, i, o in real(m, x, t)]

    monkeypatch.setattr(ud, "trace_shapes", no_concat)
    with pytest.raises(ValueError, match="up.0 takes 32 channels, but its predecessor mid2 gives 32"):
        unet_layout(model)
    monkeypatch.setattr(ud, "trace_shapes", real)
    unet_layout(model)
    with pytest.raises(ValueError, match="UNet"):
        unet_layout(torch.nn.Linear(2, 2))
