r"""Noise-prediction networks: ``model(x_t, t) -> eps_hat`` with the output shaped like x_t.

* :class:`TimeMLP`: 2-D points (notebooks 03 and 05).
* :class:`UNet`: 1x28x28 images (notebooks 04 and 06), after Ho et al. 2020, appendix B,
  scaled down: sinusoidal time embedding -> MLP; residual blocks with GroupNorm and the time
  embedding added between their two convolutions; a down path, a middle, and an up path
  that concatenates the matching down-path activations (skip connections).

Class conditioning (notebook 07): with ``num_classes = K > 0`` in its config, a model takes labels,
``model(x_t, t, y)``, y in 0..K-1, or K, the *null label* "no class" (``y=None`` means all null). The
label's learned embedding is added to the time embedding; it starts at zero, so a conditional model
built from an unconditional one's weights starts as that model.

Each model keeps its config dataclass in ``model.config``; ``checkpoints.build_model`` rebuilds a
model from ``(kind, config dict)``, which is what a checkpoint stores.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .checks import check_int, merge_config

__all__ = ["sinusoidal_embedding", "TimeEmbedding", "MLPConfig", "TimeMLP", "UNetConfig", "ResBlock",
           "UNet", "LabelEmbedding", "count_parameters"]


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    r"""Transformer position encoding of the timestep (Vaswani et al. 2017, sec. 3.5):

        emb[:, i] = sin(t * f_i),  emb[:, dim/2 + i] = cos(t * f_i),  f_i = max_period^{-i / (dim/2)}.

    Shapes: t (B,) -> (B, dim).
    """
    if dim % 2:
        raise ValueError(f"dim must be even for a sin/cos embedding, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B,) -> (B, half)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding followed by a two-layer MLP. Shapes: t (B,) -> (B, out_dim)."""

    def __init__(self, sin_dim: int, out_dim: int):
        super().__init__()
        self.sin_dim = sin_dim
        self.mlp = nn.Sequential(nn.Linear(sin_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.sin_dim))


def _check_t_batch(t: torch.Tensor, batch: int) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or t.dtype.is_floating_point:
        raise ValueError(f"t must be an integer tensor of shape ({batch},), got {t!r:.60}")
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must have shape ({batch},) (one timestep per item), got {tuple(t.shape)}")
    return t


class LabelEmbedding(nn.Module):
    """A learned vector per class plus one for the null label (index ``num_classes``), initialised to zero.

    Shapes: y (B,) integers in 0..num_classes, or None (all null) -> (B, dim)."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.num_classes = check_int("num_classes", num_classes, lo=1)
        self.table = nn.Embedding(num_classes + 1, dim)
        nn.init.zeros_(self.table.weight)

    def forward(self, y: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor:
        if y is None:
            y = torch.full((batch,), self.num_classes, dtype=torch.long, device=device)
        if not isinstance(y, torch.Tensor) or y.dtype.is_floating_point or tuple(y.shape) not in ((batch,), ()):
            raise ValueError(f"y must be None or an integer tensor of shape ({batch},) with labels in "
                             f"0..{self.num_classes} ({self.num_classes} = the null label), got {y!r:.60}")
        return self.table(y.to(device, torch.long).expand(batch))


def _label_term(model: nn.Module, y: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor | int:
    """The label embedding to add to the time embedding, or 0 for an unconditional model (which takes no y)."""
    if model.label is None:
        if y is not None:
            raise ValueError("y must be None for an unconditional model (config.num_classes = 0), got labels; "
                             "build the model with num_classes > 0 to condition it")
        return 0
    return model.label(y, batch, device)


# ----------------------------------------------------------------------------- MLP for 2-D points
@dataclass
class MLPConfig:
    dim: int = 2            # data dimension (2 for the moons)
    hidden: int = 128       # width of every hidden layer
    blocks: int = 3         # residual blocks, each Linear-SiLU-Linear with the time added
    time_dim: int = 32      # size of the sinusoidal time encoding
    num_classes: int = 0    # > 0: a class-conditional model (labels 0..K-1, K = the null label)


class TimeMLP(nn.Module):
    """A residual MLP conditioned on t. Shapes: x (B, dim), t (B,) -> eps_hat (B, dim)."""

    def __init__(self, config: MLPConfig | None = None, **overrides):
        super().__init__()
        self.config = config = merge_config(MLPConfig, config, overrides)
        self.time = TimeEmbedding(config.time_dim, config.hidden)
        self.inp = nn.Linear(config.dim, config.hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Linear(config.hidden, config.hidden), nn.SiLU(),
                          nn.Linear(config.hidden, config.hidden))
            for _ in range(config.blocks)
        )
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(config.hidden, config.dim))
        self.label = LabelEmbedding(config.num_classes, config.hidden) if config.num_classes else None

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.config.dim:
            raise ValueError(f"x must have shape (B, {self.config.dim}), got {tuple(x.shape)}")
        temb = self.time(_check_t_batch(t, x.shape[0]))  # (B,) -> (B, hidden)
        temb = temb + _label_term(self, y, x.shape[0], x.device)
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h + temb)
        return self.out(h)


# ----------------------------------------------------------------------------- U-Net for images
@dataclass
class UNetConfig:
    in_channels: int = 1                       # 1 for FashionMNIST
    image_size: int = 28                       # must be divisible by 2 ** (len(channel_mults) - 1)
    base_channels: int = 32                    # channels at full resolution
    channel_mults: tuple = (1, 2, 2)           # per resolution level: 28, 14, 7
    num_res_blocks: int = 1                    # residual blocks per level on the way down
    groups: int = 8                            # GroupNorm groups (must divide every width)
    attention: bool = True                     # one self-attention layer at the lowest resolution
    attention_levels: tuple = ()               # levels (0 = full size) whose residual blocks are each followed
                                               # by self-attention, down and up (Ho et al. 2020: at 16x16)
    dropout: float = 0.0
    num_classes: int = 0                       # > 0: class-conditional (labels 0..K-1, K = the null label)


class ResBlock(nn.Module):
    r"""GroupNorm -> SiLU -> conv, + time (projected), GroupNorm -> SiLU -> conv, + skip.

    Shapes: x (B, c_in, H, W), temb (B, time_dim) -> (B, c_out, H, W).
    """

    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(F.silu(temb))[:, :, None, None]  # (B, c_out) -> (B, c_out, 1, 1)
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    """Single-head self-attention over the H*W positions. Shapes: (B, C, H, W) -> same."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).transpose(-1, -2).unbind(1)  # 3 x (B, HW, C)
        h = F.scaled_dot_product_attention(q, k, v)  # (B, HW, C)
        return x + self.proj(h.transpose(-1, -2).reshape(B, C, H, W))


class AttnResBlock(ResBlock):
    """A :class:`ResBlock` followed by :class:`SelfAttention` on its output (``UNetConfig.attention_levels``).

    Shapes: x (B, c_in, H, W), temb (B, time_dim) -> (B, c_out, H, W)."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int, dropout: float = 0.0):
        super().__init__(c_in, c_out, time_dim, groups, dropout)
        self.attn = SelfAttention(c_out, groups)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        return self.attn(super().forward(x, temb))


class UNet(nn.Module):
    """A small DDPM U-Net. Shapes: x (B, in_channels, S, S), t (B,) -> eps_hat (B, in_channels, S, S)."""

    def __init__(self, config: UNetConfig | None = None, **overrides):
        super().__init__()
        self.config = config = merge_config(UNetConfig, config, overrides)
        config.channel_mults = tuple(config.channel_mults)  # our own copy: the caller's config is untouched
        widths = [config.base_channels * m for m in config.channel_mults]
        for w in [config.base_channels] + widths:
            if w % config.groups:
                raise ValueError(f"groups={config.groups} must divide every channel width, got a width of {w}")
        levels = len(widths)
        if config.image_size % (2 ** (levels - 1)):
            raise ValueError(f"image_size={config.image_size} must be divisible by 2**{levels - 1} "
                             f"for channel_mults={config.channel_mults}")
        if not isinstance(config.attention_levels, (tuple, list)) or any(
                isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < levels for i in config.attention_levels):
            raise ValueError(f"attention_levels must be a tuple of level indices in 0..{levels - 1} (0 = full "
                             f"size), got {config.attention_levels!r}")
        config.attention_levels = tuple(config.attention_levels)
        tdim = 4 * config.base_channels
        self.time = TimeEmbedding(config.base_channels, tdim)
        self.stem = nn.Conv2d(config.in_channels, config.base_channels, 3, padding=1)

        def block(ci: int, co: int, level: int | None = None) -> ResBlock:
            kind = AttnResBlock if level in config.attention_levels else ResBlock
            return kind(ci, co, tdim, config.groups, config.dropout)

        # down path: remember the width of every activation pushed as a skip
        self.down = nn.ModuleList()
        skip_widths, c = [config.base_channels], config.base_channels
        for i, w in enumerate(widths):
            for _ in range(config.num_res_blocks):
                self.down.append(block(c, w, i))
                c = w
                skip_widths.append(c)
            if i < levels - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))  # (H, W) -> (H/2, W/2)
                skip_widths.append(c)

        self.mid1 = block(c, c)
        self.mid_attn = SelfAttention(c, config.groups) if config.attention else nn.Identity()
        self.mid2 = block(c, c)

        # up path: one more block per level than on the way down, each eating one skip
        self.up = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            for _ in range(config.num_res_blocks + 1):
                self.up.append(block(c + skip_widths.pop(), w, i))
                c = w
            if i > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(c, c, 3, padding=1)))  # (H, W) -> (2H, 2W)
        self.out = nn.Sequential(nn.GroupNorm(config.groups, c), nn.SiLU(),
                                 nn.Conv2d(c, config.in_channels, 3, padding=1))
        self.label = LabelEmbedding(config.num_classes, tdim) if config.num_classes else None

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        levels = len(cfg.channel_mults)
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"x must have shape (B, {cfg.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-1] % (2 ** (levels - 1)) or x.shape[-2] % (2 ** (levels - 1)):
            raise ValueError(f"this U-Net halves the image {levels - 1} times, so H and W must be divisible by "
                             f"{2 ** (levels - 1)}; got {tuple(x.shape[-2:])} (it was built for "
                             f"{cfg.image_size}x{cfg.image_size})")
        temb = self.time(_check_t_batch(t, x.shape[0]))  # (B,) -> (B, 4 * base)
        temb = temb + _label_term(self, y, x.shape[0], x.device)  # + the class's vector (0 if unconditional)
        h = self.stem(x)
        skips = [h]
        for layer in self.down:
            h = layer(h, temb) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, temb)), temb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, skips.pop()], dim=1), temb)  # (B, c + c_skip, H, W)
            else:
                h = layer(h)
        return self.out(h)


def count_parameters(model: nn.Module) -> int:
    """The number of scalar weights of ``model`` (trainable or not)."""
    return sum(p.numel() for p in model.parameters())
