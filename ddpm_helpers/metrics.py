r"""Sample-quality metrics.

For 2-D point clouds (the moons), with ``a`` the samples and ``b`` fresh data:

* :func:`chamfer_distance`: the mean distance from each point to its nearest neighbour in the
  other set, averaged over both directions.
* :func:`mmd_rbf`: the (biased) squared maximum mean discrepancy with a sum of Gaussian kernels,
  Gretton et al. 2012, eq. 5:  MMD^2 = E k(a, a') + E k(b, b') - 2 E k(a, b).

Each metric comes with its floor: the value between two independent draws of real data
(:func:`moons_floor`). A sampler is good when its value is a small multiple of the floor.
"""
from __future__ import annotations

import torch

__all__ = ["chamfer_distance", "mmd_rbf", "moons_floor"]


def _check_clouds(a: torch.Tensor, b: torch.Tensor) -> None:
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"{name} must be a (N, D) tensor with N >= 2, got {tuple(getattr(x, 'shape', ()))}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same dimension D, got {a.shape[1]} and {b.shape[1]}")


def chamfer_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Symmetric mean nearest-neighbour distance. Shapes: a (N, D), b (M, D) -> float."""
    _check_clouds(a, b)
    d = torch.cdist(a.float(), b.float())  # (N, M)
    return 0.5 * (d.min(dim=1).values.mean() + d.min(dim=0).values.mean()).item()


def mmd_rbf(a: torch.Tensor, b: torch.Tensor, bandwidths=(0.05, 0.1, 0.2, 0.5, 1.0)) -> float:
    r"""Biased MMD^2 with k(x, y) = \sum_h exp(-||x - y||^2 / (2 h^2)). Shapes: a (N, D), b (M, D) -> float."""
    _check_clouds(a, b)
    a, b = a.double(), b.double()

    def k(x, y):
        d2 = torch.cdist(x, y).pow(2)
        return sum(torch.exp(-d2 / (2 * h * h)) for h in bandwidths)

    return (k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()).item()


def moons_floor(n: int = 2000, seed: int = 1000, noise: float = 0.05) -> dict:
    """Chamfer and MMD between two independent draws of ``n`` moons points: the real-against-real floor."""
    from .data import make_moons_data

    a = make_moons_data(n, noise=noise, seed=seed)
    b = make_moons_data(n, noise=noise, seed=seed + 1)
    return {"chamfer": chamfer_distance(a, b), "mmd": mmd_rbf(a, b)}
