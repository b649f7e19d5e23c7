r"""Classifier-free guidance (Ho & Salimans 2022) as a noise predictor every sampler can run.

A class-conditional model (``num_classes > 0``, :mod:`ddpm_helpers.core.models`) predicts both
eps(x_t, t, c) and, with the null label, eps(x_t, t, null). Guidance at scale ``s`` combines them:

    \tilde\epsilon = \epsilon(x_t, t, null) + s (\epsilon(x_t, t, c) - \epsilon(x_t, t, null)),

so s = 0 is the unconditional model, s = 1 the conditional one, and s > 1 pushes samples towards
what makes the class likely (the score of p(x) p(c|x)^s; see notebook 07). Note the convention:
Ho & Salimans write (1 + w) eps(c) - w eps(null), i.e. our s = 1 + w.

:class:`Guided` wraps a model and labels into ``model(x, t) -> eps`` so that ``ddpm_sample``,
``ddim_sample`` and ``reverse_loop`` sample from it unchanged. Both predictions come from one
model call on a doubled batch.

:func:`train_conditional` is the recipe of the shipped conditional U-Net (``CONDITIONAL_RECIPE``): the
shipped unconditional U-Net, given a zero label embedding (:func:`conditional_from_unconditional`), is
fine-tuned with labels dropped to the null label 10 % of the time; notebook 07's full mode and
``python -m ddpm_helpers.cli.conditional train`` both run it.
"""
from __future__ import annotations

import torch
from torch import nn

from .checks import check_number
from .schedules import NoiseSchedule
from .training import UNET_RECIPE, TrainConfig, TrainResult, train

__all__ = ["Guided", "guided_eps", "conditional_from_unconditional", "CONDITIONAL_RECIPE", "train_conditional"]

# The fine-tuning recipe of fashion_cond_unet (its card records the run): the series' U-Net recipe
# (UNET_RECIPE) at half its learning rate with a shorter warm-up, since training starts from trained
# weights, and the label dropout of Ho & Salimans 2022 (p_uncond = 0.1).
CONDITIONAL_RECIPE = {**UNET_RECIPE, "lr": 1e-3, "warmup": 100, "label_dropout": 0.1}


def guided_eps(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    r"""\tilde\epsilon = \epsilon_null + s (\epsilon_c - \epsilon_null). Shapes: (B, ...), (B, ...) -> (B, ...)."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


class Guided(nn.Module):
    """``Guided(model, labels, scale)(x, t)``: the guided noise prediction of a class-conditional model.

    ``labels``: one int class for every sample, or a (B,) integer tensor (one per sample).
    ``scale``: s >= 0 (0: unconditional, 1: conditional, > 1: guided).
    Shapes: x (B, ...), t (B,) -> (B, ...)."""

    def __init__(self, model: nn.Module, labels: int | torch.Tensor, scale: float):
        super().__init__()
        k = getattr(getattr(model, "config", None), "num_classes", 0)
        if not k:
            raise ValueError("model must be class-conditional (config.num_classes > 0) to be guided, "
                             f"got {type(model).__name__} with num_classes = {k}")
        if isinstance(labels, bool) or not isinstance(labels, (int, torch.Tensor)):
            raise ValueError(f"labels must be an int class in 0..{k - 1} or a (B,) integer tensor, got {labels!r:.60}")
        lab = torch.as_tensor(labels, device="cpu")  # a buffer: moved to x's device in forward
        in_range = lab.numel() == 0 or (0 <= int(lab.min()) and int(lab.max()) < k)
        if lab.dtype.is_floating_point or lab.ndim > 1 or not in_range:
            raise ValueError(f"labels must be classes in 0..{k - 1} (an int or a (B,) integer tensor), "
                             f"got {labels!r:.60}")
        self.model, self.num_classes = model, k
        self.register_buffer("labels", lab.long(), persistent=False)
        self.scale = check_number("scale", scale, lo=0, what="0: unconditional, 1: conditional, > 1: guided")

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        y = self.labels.to(x.device).expand(b) if self.labels.ndim == 0 else self.labels.to(x.device)
        if y.shape != (b,):
            raise ValueError(f"labels has {y.shape[0]} entries but the batch has {b} samples")
        if self.scale == 0:
            return self.model(x, t, None)
        if self.scale == 1:
            return self.model(x, t, y)
        null = torch.full_like(y, self.num_classes)
        t = t.expand(b) if t.ndim == 0 else t
        eps = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))  # one call, batch 2B
        eps_cond, eps_uncond = eps.chunk(2)
        return guided_eps(eps_cond, eps_uncond, self.scale)


def conditional_from_unconditional(model: nn.Module, num_classes: int = 10) -> nn.Module:
    """A class-conditional copy of an unconditional U-Net: same weights, a zero label embedding
    (so it predicts exactly what ``model`` predicts, for every label, until it is trained)."""
    if getattr(getattr(model, "config", None), "num_classes", None) != 0:
        raise ValueError(f"model must be an unconditional TimeMLP or UNet (config.num_classes = 0), got "
                         f"{type(model).__name__}")
    cond = type(model)(**dict(vars(model.config), num_classes=num_classes))
    missing, unexpected = cond.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not k.startswith("label.") for k in missing):
        raise ValueError(f"model must be an unconditional UNet; could not copy {unexpected or missing}")
    return cond


def train_conditional(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, sched: NoiseSchedule,
                      num_classes: int = 10, **overrides) -> TrainResult:
    """Train a class-conditional U-Net with :data:`CONDITIONAL_RECIPE` (``overrides`` set single
    :class:`~ddpm_helpers.core.training.TrainConfig` fields, e.g. ``time_limit=600``, ``steps=300``).

    ``model``: an unconditional U-Net (fine-tuned from its weights through
    :func:`conditional_from_unconditional`) or a class-conditional one (trained as it is, e.g. from random
    weights). Returns :func:`~ddpm_helpers.core.training.train`'s result; sample with ``result.ema``.
    Shapes: images (N, 1, 28, 28) in [-1, 1], labels (N,) in 0..num_classes-1.
    """
    if getattr(getattr(model, "config", None), "num_classes", 0) == 0:
        model = conditional_from_unconditional(model, num_classes)
    config = TrainConfig(**{**CONDITIONAL_RECIPE, **overrides})
    return train(model, images, sched, config, labels=labels)
