r"""A small FashionMNIST classifier: the feature extractor behind FID, KID and mode coverage.

FID and KID compare two sets of images through the features of a fixed network (Heusel et al.
2017 use Inception-v3's 2048-D pool layer). Inception was trained on ImageNet photographs and
sees 28x28 garments badly, so the series uses its own small CNN trained on FashionMNIST: its
penultimate layer (``embed_dim`` numbers per image) is the feature space, and its logits give
the class histogram of a set of samples (mode coverage). Numbers measured with it are only
comparable with numbers measured with the same shipped weights
(``load_pretrained("fashion_classifier")``), never with published FIDs.

Architecture (Shapes for x (B, 1, 28, 28) in [-1, 1]):

    conv 3x3 (1 -> w)    + BatchNorm + ReLU, max-pool 2  -> (B, w, 14, 14)
    conv 3x3 (w -> 2w)   + BatchNorm + ReLU, max-pool 2  -> (B, 2w, 7, 7)
    flatten, linear (2w*49 -> embed_dim) + ReLU           -> (B, embed_dim)   the features (/ feature_scale)
    dropout, linear (embed_dim -> 10)                     -> (B, 10)          the logits

Train it again with ``python -m ddpm_helpers.cli.pretrained train-classifier``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .checks import check_int, merge_config
from .runtime import eval_mode, model_device

__all__ = ["ClassifierConfig", "FashionClassifier", "train_classifier", "classifier_accuracy", "predict_classes",
           "calibrate_feature_scale"]


@dataclass
class ClassifierConfig:
    width: int = 32           # channels of the first conv (the second has 2 * width)
    embed_dim: int = 128      # size of the penultimate layer: the FID/KID feature space
    num_classes: int = 10     # FashionMNIST's ten classes
    dropout: float = 0.25     # dropout before the last linear layer (training only)
    feature_scale: float = 1.0  # features() divides by this: the RMS of the raw features over the
                                # training set, set after training so that features are O(1), the
                                # scale FID/KID's cubic kernel (x.y/F + 1)^3 is meant for


class FashionClassifier(nn.Module):
    """Two conv blocks and two linear layers. Shapes: x (B, 1, 28, 28) in [-1, 1] -> logits (B, 10)."""

    def __init__(self, config: ClassifierConfig | None = None, **overrides):
        super().__init__()
        self.config = config = merge_config(ClassifierConfig, config, overrides)
        w = config.width
        self.conv1 = nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
                                   nn.MaxPool2d(2))
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * 7 * 7, config.embed_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.embed_dim, config.num_classes))

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"x must be images of shape (B, 1, 28, 28) in [-1, 1], got "
                             f"{tuple(getattr(x, 'shape', ()))}")

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The penultimate embedding and the logits. Shapes: x (B, 1, 28, 28) -> (B, embed_dim), (B, 10)."""
        self._check(x)
        h = self.conv2(self.conv1(x))  # (B, 1, 28, 28) -> (B, 2w, 7, 7)
        f = self.embed(h)              # (B, 2w, 7, 7) -> (B, embed_dim)
        return f / self.config.feature_scale, self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[1]


def _check_labelled(x, y) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"x must be images of shape (N, 1, 28, 28), got {tuple(getattr(x, 'shape', ()))}")
    if not isinstance(y, torch.Tensor) or y.shape != (x.shape[0],) or y.dtype.is_floating_point:
        raise ValueError(f"y must be integer labels of shape ({x.shape[0]},), got "
                         f"{getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}")


def predict_classes(model: FashionClassifier, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Most likely class of every image. Shapes: x (N, 1, 28, 28) -> (N,) long."""
    device = model_device(model)
    with eval_mode(model):
        return torch.cat([model(x[i:i + batch_size].to(device)).argmax(1).cpu()
                          for i in range(0, x.shape[0], batch_size)])


def classifier_accuracy(model: FashionClassifier, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of images whose predicted class equals the label. Shapes: x (N, 1, 28, 28), y (N,) -> float."""
    _check_labelled(x, y)
    return (predict_classes(model, x, batch_size) == y.cpu()).float().mean().item()


def train_classifier(model: FashionClassifier, x: torch.Tensor, y: torch.Tensor, epochs: int = 3,
                     batch_size: int = 128, lr: float = 2e-3, seed: int = 0, device: torch.device | str | None = None,
                     progress: bool = True) -> dict:
    """Train with AdamW and a one-cycle learning rate, cross-entropy loss, random horizontal flips.

    Returns ``{"losses": [...] per step, "seconds": float, "steps": int}``; the model is left in eval mode.
    Shapes: x (N, 1, 28, 28) in [-1, 1]; y (N,) long.
    """
    _check_labelled(x, y)
    check_int("epochs", epochs, lo=1)
    check_int("batch_size", batch_size, lo=1)
    device = torch.device(device) if device is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    steps_per_epoch = (x.shape[0] + batch_size - 1) // batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    losses, t0 = [], time.perf_counter()
    bar = tqdm(total=epochs * steps_per_epoch, desc="classifier", disable=not progress)
    for _ in range(epochs):
        # 1. a fresh permutation of the training set every epoch
        perm = torch.randperm(x.shape[0], generator=gen, device="cpu")
        for i in range(0, x.shape[0], batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = x[idx], y[idx]
            # 2. flip half of the batch left-right (garments are roughly symmetric)
            flip = torch.rand(xb.shape[0], generator=gen, device="cpu") < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)  # (B,) -> (B, 1, 1, 1)
            # 3. cross-entropy step
            loss = F.cross_entropy(model(xb.to(device)), yb.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.detach())  # read on the host only every 50 steps (no sync per step)
            bar.update(1)
            if len(losses) % 50 == 0:
                bar.set_postfix(loss=f"{torch.stack(losses[-50:]).mean().item():.3f}")
    bar.close()
    model.eval()
    losses = torch.stack(losses).tolist()
    return {"losses": losses, "seconds": time.perf_counter() - t0, "steps": len(losses)}


@torch.inference_mode()
def calibrate_feature_scale(model: FashionClassifier, x: torch.Tensor, batch_size: int = 1000) -> float:
    r"""Set ``model.config.feature_scale`` to the RMS of the raw features over ``x`` (the training set):

        feature_scale = \sqrt{ mean_{i, j} f_j(x_i)^2 },

    so that :meth:`FashionClassifier.features` returns features of RMS 1. Returns the scale.
    Shapes: x (N, 1, 28, 28).
    """
    model.eval()
    model.config.feature_scale = 1.0
    device = model_device(model)
    sq = sum(model.features(x[i:i + batch_size].to(device))[0].double().pow(2).sum().item()
             for i in range(0, x.shape[0], batch_size))
    scale = float(round((sq / (x.shape[0] * model.config.embed_dim)) ** 0.5, 4))
    model.config.feature_scale = scale
    return scale
