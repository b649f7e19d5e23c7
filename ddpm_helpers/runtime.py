"""Where and how much to run: the device picker and quick mode.

Quick mode (``DDPM_QUICK=1``, set by CI and by ``make test``) shrinks every training and
sampling budget through :func:`budget`, so the series runs on a 2-core CPU in minutes.
It shrinks work; it never skips a cell or a check.
"""
from __future__ import annotations

import os

import torch

__all__ = ["pick_device", "is_quick", "budget", "seed_everything"]


def pick_device(prefer: str | None = None) -> torch.device:
    """cuda, then mps, then cpu, unless ``prefer`` names one ("cuda", "mps", "cpu", "cuda:1", ...)."""
    if prefer is not None:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def is_quick() -> bool:
    """True when the environment variable ``DDPM_QUICK`` is set to 1/true/yes/on."""
    return os.environ.get("DDPM_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}


def budget(full, quick):
    """``quick`` in quick mode, else ``full``: the one place where budgets shrink."""
    return quick if is_quick() else full


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed torch, numpy and random; return a CPU ``torch.Generator`` seeded the same way."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
