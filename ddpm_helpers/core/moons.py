r"""The two moons' geometry: how far a point is from each moon, which moon it is on, and the split of the mass.

scikit-learn's ``make_moons`` (noise-free) puts the outer moon on the upper half of the unit circle around
(0, 0) and the inner moon on the lower half of the unit circle around (1, 0.5), n // 2 points on the outer one
and the rest on the inner one. Distances are measured in make_moons' own coordinates: ``standardized=True``
first undoes :func:`~ddpm_helpers.core.data.make_moons_data`'s standardisation (``MOONS_MEAN``, ``MOONS_STD``).
Notebooks 03 and 05 read their samples with these (does the model put half its mass on each moon? how many
samples fall between the moons?); the point-cloud distances to fresh data are in :mod:`ddpm_helpers.core.metrics`.
"""
from __future__ import annotations

import math

import torch
from scipy.stats import norm

from .checks import check_number
from .data import MOONS_MEAN, MOONS_STD
from .stats import wilson_interval

__all__ = ["moons_arc_distances", "assign_moon", "off_moons_fraction", "moons_mass_split"]


def moons_arc_distances(x: torch.Tensor, standardized: bool = True) -> torch.Tensor:
    r"""Distance of each point to the two noise-free moon arcs (module docstring), in make_moons' own
    coordinates. Outer arc: |p| = 1, y >= 0; inner arc: |p - (1, 0.5)| = 1, y <= 0.5. A point whose
    angle lies outside the half circle is nearest to one of its two ends.

    Shapes: (N, 2) -> (N, 2) float64, column 0 the outer moon, column 1 the inner moon.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must be a (N, 2) tensor of 2-D points, got {tuple(getattr(x, 'shape', ()))}")
    p = x.detach().to("cpu", torch.float64)
    if standardized:
        p = (p * torch.tensor(MOONS_STD, dtype=torch.float64, device="cpu")
             + torch.tensor(MOONS_MEAN, dtype=torch.float64, device="cpu"))
    out = []
    for center, upper in (((0.0, 0.0), True), ((1.0, 0.5), False)):
        q = p - torch.tensor(center, dtype=torch.float64, device="cpu")
        on_side = q[:, 1] >= 0 if upper else q[:, 1] <= 0  # the angle lies within the half circle
        radial = (q.norm(dim=1) - 1).abs()
        # the arc's two ends, relative to its centre
        ends = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64, device="cpu")
        to_end = torch.cdist(q, ends).min(1).values
        out.append(torch.where(on_side, radial, to_end))
    return torch.stack(out, 1)


def assign_moon(x: torch.Tensor, standardized: bool = True) -> torch.Tensor:
    """0 for points nearer the outer (upper) moon, 1 for the inner (lower) one. Shapes: (N, 2) -> (N,) long."""
    d = moons_arc_distances(x, standardized)
    return (d[:, 1] < d[:, 0]).long()


def off_moons_fraction(x: torch.Tensor, max_distance: float = 0.2, standardized: bool = True) -> float:
    """The fraction of points farther than ``max_distance`` from both moon arcs, in make_moons' own units
    (:func:`moons_arc_distances`). The default 0.2 is four standard deviations of ``make_moons_data``'s noise
    (0.05): about 1 real point in 10 000 lies that far. Shapes: (N, 2) -> float."""
    check_number("max_distance", max_distance, lo=0, lo_open=True)
    d = moons_arc_distances(x, standardized).min(dim=1).values
    return (d > max_distance).double().mean().item()


def moons_mass_split(x: torch.Tensor, standardized: bool = True, z: float = 1.96) -> dict:
    r"""The fraction of points on the outer moon, with its binomial standard error \sqrt{p(1-p)/n} and
    the Wilson score interval at ``z`` (1.96: 95 %). The data put exactly half on each moon.

    Returns ``{"n", "outer", "se", "lo", "hi"}``.
    """
    moon = assign_moon(x, standardized)
    n = moon.numel()
    if n < 1:
        raise ValueError("x must hold at least one point")
    k = int((moon == 0).sum())
    p = k / n
    lo, hi = wilson_interval(k, n, level=2 * float(norm.cdf(z)) - 1)  # the level whose quantile is z
    return {"n": n, "outer": p, "se": math.sqrt(p * (1 - p) / n), "lo": lo, "hi": hi}
