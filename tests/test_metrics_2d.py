"""The 2-D sample metrics: Chamfer distance, RBF MMD and the real-against-real floor."""
from __future__ import annotations

import math

import pytest
import torch

from ddpm_helpers.core.data import make_moons_data
from ddpm_helpers.core.metrics import chamfer_distance, mmd_rbf, moons_floor


@pytest.fixture(scope="module")
def clouds():
    a = make_moons_data(800, seed=1)
    b = make_moons_data(800, seed=2)
    return a, b


def test_identical_sets_score_zero(clouds):
    a, b = clouds
    # the Chamfer distance measures from the differences (not torch.cdist's ||x||^2 + ||y||^2 - 2 x.y, whose
    # round-off leaves 5e-5 here, more or less on another CPU): a point's own distance is exactly 0
    assert chamfer_distance(a, b) > 0.01
    assert chamfer_distance(a, a) == 0.0
    assert abs(mmd_rbf(a, a)) < 1e-12  # float64: three kernel means of order 1, so round-off ~1e-15
    # a permutation is the same set
    perm = a[torch.randperm(len(a), generator=torch.Generator().manual_seed(0))]
    assert chamfer_distance(a, perm) == 0.0 and abs(mmd_rbf(a, perm)) < 1e-12


def test_symmetric(clouds):
    a, b = clouds
    assert chamfer_distance(a, b) == pytest.approx(chamfer_distance(b, a), rel=1e-6)
    assert mmd_rbf(a, b) == pytest.approx(mmd_rbf(b, a), rel=1e-9)
    # unequal sizes too
    assert chamfer_distance(a[:300], b) == pytest.approx(chamfer_distance(b, a[:300]), rel=1e-6)


def test_grow_with_a_shift(clouds):
    a, b = clouds
    base_c, base_m = chamfer_distance(a, b), mmd_rbf(a, b)
    prev_c, prev_m = base_c, base_m
    for shift in (0.25, 0.5, 1.0):
        moved = b + torch.tensor([shift, 0.0])
        c, m = chamfer_distance(a, moved), mmd_rbf(a, moved)
        assert c > prev_c and m > prev_m, shift
        prev_c, prev_m = c, m
    assert prev_c > 5 * base_c and prev_m > 20 * base_m


def test_chamfer_hand_computed():
    a = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[0.0, 1.0], [3.0, 0.0], [1.0, 0.5]])
    # a -> b nearest: 1, 0.5; b -> a nearest: 1, 2, 0.5
    expected = 0.5 * ((1 + 0.5) / 2 + (1 + 2 + 0.5) / 3)
    assert chamfer_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_mmd_hand_computed():
    a = torch.tensor([[0.0], [1.0]])
    b = torch.tensor([[0.0], [3.0]])
    h = (0.5, 1.0)
    k = lambda d: sum(math.exp(-d * d / (2 * s * s)) for s in h)  # noqa: E731
    kaa = (2 * k(0) + 2 * k(1)) / 4
    kbb = (2 * k(0) + 2 * k(3)) / 4
    kab = (k(0) + k(3) + k(1) + k(2)) / 4
    assert mmd_rbf(a, b, bandwidths=h) == pytest.approx(kaa + kbb - 2 * kab, rel=1e-9)


def test_moons_floor_positive_and_small():
    f = moons_floor(n=500)
    assert f["chamfer"] > 0 and f["mmd"] > 0
    # two real draws are close; a real draw against noise is far away
    noise = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    real = make_moons_data(500, seed=5)
    assert chamfer_distance(noise, real) > 3 * f["chamfer"]
    assert mmd_rbf(noise, real) > 10 * f["mmd"]
    # more points: denser clouds, a smaller nearest-neighbour floor
    assert moons_floor(n=2000)["chamfer"] < f["chamfer"]
