"""Shared fixtures for the ddpm_helpers test suite.

Everything here is small and seeded: the whole core suite is meant to run on a 2-core CPU in
well under a minute.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from ddpm_helpers.core.schedules import NoiseSchedule

# The tests use small tensors. On a busy 2-core machine torch's intra-op thread pool makes each
# small op up to 1000x slower (threads wait for a core), so tests run single-threaded unless
# DDPM_TEST_THREADS says otherwise. Notebooks (run by nbval in their own kernels) are unaffected.
torch.set_num_threads(int(os.environ.get("DDPM_TEST_THREADS", "1")))

# The suite runs on pytest-xdist workers (pyproject's addopts), and each worker starts the notebook
# kernels it tests. They inherit this environment, so share the cores out between the workers instead of
# letting every kernel take all of them (runtime.configure_threads reads DDPM_THREADS).
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1 and not os.environ.get("DDPM_THREADS", "").strip():
    os.environ["DDPM_THREADS"] = str(max(1, (os.cpu_count() or 1) // _workers))


@pytest.fixture(scope="session")
def linear1000() -> NoiseSchedule:
    return NoiseSchedule.linear(1000)


@pytest.fixture(scope="session")
def cosine1000() -> NoiseSchedule:
    return NoiseSchedule.cosine(1000)


@pytest.fixture(scope="session", params=["linear", "cosine"])
def sched1000(request) -> NoiseSchedule:
    """Both T=1000 schedules, one after the other."""
    return NoiseSchedule.linear(1000) if request.param == "linear" else NoiseSchedule.cosine(1000)


class TinyEps(nn.Module):
    """A fixed, deterministic stand-in for a trained noise predictor.

    eps_hat = 0.5 * tanh(x * w + b + 0.3 * sin(t / 50)): smooth, depends on x and t, cheap.
    Works on any (B, ...) input; the weights broadcast over the trailing dimensions.
    """

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(1, generator=g) * 0.5)
        self.b = nn.Parameter(torch.randn(1, generator=g) * 0.1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = t.float().reshape(-1, *([1] * (x.ndim - 1)))  # (B,) -> (B, 1, ..., 1)
        return 0.5 * torch.tanh(x * self.w + self.b + 0.3 * torch.sin(tt / 50))


@pytest.fixture
def tiny_model() -> TinyEps:
    return TinyEps()


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """The folder that holds the real FashionMNIST files (found the way the package finds them)."""
    from ddpm_helpers.core.data import find_fashion_mnist

    try:
        images, _ = find_fashion_mnist("train", download=False)
    except FileNotFoundError as e:
        pytest.skip(f"FashionMNIST files not found; set DDPM_DATA_DIR ({str(e)[:80]})")
    return images.parent
