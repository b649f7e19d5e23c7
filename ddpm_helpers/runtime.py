"""Where and how much to run: the device picker and quick mode.

Quick mode (``DDPM_QUICK=1``, set by CI and by ``make test``) shrinks every training and
sampling budget through :func:`budget`, so the series runs on a 2-core CPU in minutes.
It shrinks work; it never skips a cell or a check.
"""
from __future__ import annotations

import os

import torch

__all__ = ["pick_device", "is_quick", "budget", "seed_everything", "configure_threads", "setup_notebook"]


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


def configure_threads(threads: int | None = None) -> int:
    """Set torch's CPU thread count and return it.

    ``threads`` or ``$DDPM_THREADS`` when given; otherwise one thread on a machine with two cores or
    fewer, and torch's default elsewhere. Why: on a 2-core machine that is busy with anything else, a
    second torch thread mostly waits for a core; measured here, a 32-image U-Net call took 1.67 s with
    two threads and 0.16 s with one while another job ran, and small tensor ops were slower still.
    """
    if threads is None and os.environ.get("DDPM_THREADS", "").strip():
        try:
            threads = int(os.environ["DDPM_THREADS"])
        except ValueError:
            raise ValueError(f"DDPM_THREADS must be a positive integer, got {os.environ['DDPM_THREADS']!r}") from None
    if threads is None:
        threads = 1 if (os.cpu_count() or 1) <= 2 else torch.get_num_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    torch.set_num_threads(threads)
    return threads


def setup_notebook(seed: int = 0, threads: int | None = None) -> torch.Generator:
    """The first call of every notebook: seed everything, set the CPU threads, say where we run.

    Returns a CPU ``torch.Generator`` seeded with ``seed``.
    """
    gen = seed_everything(seed)
    n = configure_threads(threads)
    device = pick_device()
    print(f"device: {device}; CPU threads: {n}; quick mode: {'on' if is_quick() else 'off'} (DDPM_QUICK); seed {seed}")
    return gen
