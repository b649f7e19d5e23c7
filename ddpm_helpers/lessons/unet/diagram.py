r"""The U-Net as a picture (notebook 04): boxes for the layers, drawn from a real forward pass.

:func:`unet_layout` runs :func:`~.anatomy.trace_shapes` on the model and turns its records
into boxes: one per top-level layer, placed left to right in the order they run and one row lower for
every halving of the resolution, so the down path, the middle and the up path form the "U". The skip
connections are read off the model the way ``UNet.forward`` uses them: every activation of the stem
and the down path is pushed on a stack, and every up-path ``ResBlock`` pops one and concatenates it
(its input channels are its predecessor's output plus the popped skip's; :func:`unet_layout` checks
that against the traced shapes, so a diagram that disagrees with the model cannot be drawn).
:func:`plot_unet_diagram` draws the boxes and the skip arrows.

Nothing here is hard-coded for one configuration: other ``channel_mults``, ``num_res_blocks`` or
``attention`` settings give another diagram.
"""
from __future__ import annotations

import math

import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

from ...core.models import ResBlock, SelfAttention, UNet
from ...ui.style import new_figure, styled
from .anatomy import trace_shapes

__all__ = ["unet_layout", "plot_unet_diagram"]

KIND_COLORS = {"stem": "0.75", "resblock": "#9ecae1", "downsample": "#fdae6b", "upsample": "#a1d99b",
               "attention": "#bcbddc", "out": "0.75"}


def _kind(name: str, module) -> str:
    if name == "stem":
        return "stem"
    if name == "out":
        return "out"
    if isinstance(module, ResBlock):
        return "resblock"
    if isinstance(module, SelfAttention):
        return "attention"
    if isinstance(module, torch.nn.Conv2d) and module.stride[0] == 2:
        return "downsample"
    if isinstance(module, torch.nn.Sequential) and any(isinstance(m, torch.nn.Upsample) for m in module):
        return "upsample"
    if isinstance(module, torch.nn.Identity):
        return "identity"
    raise ValueError(f"unet_layout does not know how to draw layer {name!r} ({type(module).__name__})")


def unet_layout(model: UNet, x: torch.Tensor | None = None, t: torch.Tensor | None = None) -> dict:
    """Boxes and skip connections of ``model`` from one traced forward pass.

    Returns ``{"boxes": [{name, kind, in_shape, out_shape, col, level}], "skips": [(source, target)],
    "time_shape": shape of the time embedding}``; ``level`` = log2(input size / the layer's output size).
    Shapes: x (B, C, S, S) (default: two images of the model's size), t (B,).
    """
    if not isinstance(model, UNet):
        raise ValueError(f"model must be a ddpm_helpers UNet, got {type(model).__name__}")
    cfg = model.config
    if x is None:
        x = torch.zeros(2, cfg.in_channels, cfg.image_size, cfg.image_size, device="cpu")
    if t is None:
        t = torch.tensor([10, 900][: x.shape[0]] + [0] * max(0, x.shape[0] - 2), device="cpu")
    records = trace_shapes(model, x, t)
    modules = dict(model.named_modules())
    size = x.shape[-1]
    boxes, time_shape = [], None
    for name, shape_in, shape_out in records:
        module = modules[name]
        if name == "time":
            time_shape = shape_out
            continue
        kind = _kind(name, module)
        if kind == "identity":  # attention switched off
            continue
        level = int(round(math.log2(size / shape_out[-1])))
        boxes.append({"name": name, "kind": kind, "in_shape": shape_in, "out_shape": shape_out,
                      "col": len(boxes), "level": level})
    # skips as UNet.forward makes them: push stem and every down layer, pop at every up ResBlock
    by_name = {b["name"]: b for b in boxes}
    stack = [b["name"] for b in boxes if b["name"] == "stem" or b["name"].startswith("down.")]
    skips, prev = [], None
    for b in boxes:
        if b["name"].startswith("up.") and b["kind"] == "resblock":
            src = stack.pop()
            c_prev, c_skip = by_name[prev]["out_shape"][1], by_name[src]["out_shape"][1]
            if b["in_shape"][1] != c_prev + c_skip:
                raise ValueError(f"{b['name']} takes {b['in_shape'][1]} channels, but its predecessor {prev} gives "
                                 f"{c_prev} and the skip from {src} {c_skip}: the diagram would not match the model")
            skips.append((src, b["name"]))
        prev = b["name"]
    if stack:
        raise ValueError(f"skips {stack} are never used by the up path: the diagram would not match the model")
    return {"boxes": boxes, "skips": skips, "time_shape": time_shape}


def _label(b) -> str:
    c, h, w = b["out_shape"][1:]
    kind = {"resblock": "ResBlock", "downsample": "conv ↓2", "upsample": "up×2, conv", "attention": "self-attn",
            "stem": "conv 3×3", "out": "GN·SiLU·conv"}[b["kind"]]
    return f"{b['name']}\n{kind}\n{c}×{h}×{w}"


@styled
def plot_unet_diagram(model: UNet, x: torch.Tensor | None = None, t: torch.Tensor | None = None,
                      title: str | None = None) -> Figure:
    """The U-Net of ``model`` as boxes (name, layer type, output channels × height × width) in the order they
    run, one row lower per halving of the resolution, with the skip connections as arrows from each stem/down
    activation to the up-path ResBlock that concatenates it. Built from :func:`unet_layout`."""
    lay = unet_layout(model, x, t)
    boxes = lay["boxes"]
    ncol, nlev = len(boxes), max(b["level"] for b in boxes) + 1
    bw, bh, dx, dy = 0.94, 0.66, 1.04, 1.25
    fig = new_figure(figsize=(max(12.0, 0.78 * ncol), 2.2 + 1.55 * nlev))
    ax = fig.subplots()
    pos = {}
    for b in boxes:
        cx, cy = b["col"] * dx, -b["level"] * dy
        pos[b["name"]] = (cx, cy)
        ax.add_patch(FancyBboxPatch((cx - bw / 2, cy - bh / 2), bw, bh, boxstyle="round,pad=0.02",
                                    fc=KIND_COLORS[b["kind"]], ec="0.3", lw=1))
        ax.text(cx, cy, _label(b), ha="center", va="center", fontsize=7)
    for a, b in zip(boxes[:-1], boxes[1:]):  # the main path
        (x0, y0), (x1, y1) = pos[a["name"]], pos[b["name"]]
        ax.add_patch(FancyArrowPatch((x0 + bw / 2, y0), (x1 - bw / 2, y1), arrowstyle="-|>", mutation_scale=9,
                                     color="0.35", lw=1))
    for src, dst in lay["skips"]:  # the skip connections, arched over the U
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        ax.add_patch(FancyArrowPatch((x0, y0 + bh / 2), (x1, y1 + bh / 2), arrowstyle="-|>", mutation_scale=9,
                                     connectionstyle="arc3,rad=-0.18", color="C3", lw=1, alpha=0.75))
    names = {"stem": "stem / output conv", "resblock": "ResBlock (+ time embedding)",
             "downsample": "downsample (stride-2 conv)", "upsample": "upsample (nearest ×2, conv)",
             "attention": "self-attention"}
    handles = [Line2D([], [], color="0.35", label="main path"),
               Line2D([], [], color="C3", label="skip: concatenated onto the up-path input")]
    handles += [Patch(fc=KIND_COLORS[k], ec="0.3", label=v) for k, v in names.items()
                if any(b["kind"] == k for b in boxes)]
    ts = lay["time_shape"]
    span = max((abs(pos[a][0] - pos[b][0]) for a, b in lay["skips"]), default=0.0)
    ax.set_xlim(-0.8, (ncol - 1) * dx + 0.8)
    ax.set_ylim(-(nlev - 1) * dy - 0.9, bh / 2 + 0.1 * span + 0.4)  # room for the highest skip arc
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=10, ncol=4, frameon=False)
    cfg = model.config
    fig.suptitle(title or f"The U-Net, traced: {sum(p.numel() for p in model.parameters()):,} parameters, "
                          f"channel_mults={tuple(cfg.channel_mults)}\nboxes: C×H×W after each layer; "
                          f"the time embedding ({ts[1]} numbers per image) is added in every ResBlock")
    return fig
