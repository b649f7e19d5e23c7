"""Parity of our FID and KID (ddpm_helpers.core.metrics) with a maintained implementation: torchmetrics'
FrechetInceptionDistance and KernelInceptionDistance, given the shipped classifier as their feature
extractor (``feature=`` any module returning (N, F) features), on the same FashionMNIST images.

* FID: torchmetrics accumulates sums and outer products in float64 and takes the trace term from
  eigenvalues; we take np.cov and scipy's sqrtm. Same images -> same value to rel 1e-9 (measured: 1e-12,
  float64 rounding of two algorithms; a wrong term -- a mean, 1/n instead of 1/(n-1), the square root --
  would be off by far more). With fewer samples than features both covariances are singular and sqrtm
  is less accurate: rel 1e-7 there (measured: 2e-9).
* KID: both are the unbiased MMD^2 with the cubic kernel (x . y / F + 1)^3 averaged over random subsets,
  drawn by different random generators. With subsets as large as both sets, every subset is the whole
  set (in some order) and both give one number, equal to rel 1e-9 (measured: 1e-13). With smaller
  subsets the two means are two estimates of one expectation (the whole-set value): they agree within
  4 standard errors, and their spreads within 25 %.
torchmetrics is a test-only dependency (pip install ".[test]").
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ddpm_helpers.core.data import load_fashion_mnist
from ddpm_helpers.core.metrics import (classifier_features, default_classifier, fid_from_features, image_quality,
                                       kid_from_features)

# the submodules: torchmetrics.image exports these two only when torch-fidelity (Inception weights) is there
WHY = "torchmetrics is a test dependency: pip install '.[test]'"
tm_fid = pytest.importorskip("torchmetrics.image.fid", reason=WHY)
tm_kid = pytest.importorskip("torchmetrics.image.kid", reason=WHY)

# torchmetrics' KID warns that it keeps every feature in memory: 500 x 128 here
pytestmark = pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save:UserWarning")

N = 500              # images per set: more than the 128 features, so both covariances have full rank
BATCH = 500          # classifier_features' default batch, so both sides see bit-identical features


class ClassifierFeatures(nn.Module):
    """The shipped classifier as a torchmetrics feature extractor: images (B, 1, 28, 28) in [-1, 1] -> (B, F)
    float64 penultimate features, computed exactly as ``classifier_features`` computes them."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.config.embed_dim  # torchmetrics reads it instead of probing the network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return classifier_features(images, self.classifier, batch_size=BATCH)


@pytest.fixture(scope="module")
def image_sets(fashion_dir):
    """A real set, a second real set (a FID near the floor) and a degraded set (blurred + noisy: a large FID)."""
    x, _ = load_fashion_mnist("test")
    real, other = x[:N], x[N:2 * N]
    g = torch.Generator().manual_seed(0)
    blurred = nn.functional.avg_pool2d(x[2 * N:3 * N], 3, stride=1, padding=1)
    degraded = (blurred + 0.3 * torch.randn(blurred.shape, generator=g)).clamp(-1, 1)
    return {"real": real, "other": other, "degraded": degraded}


@pytest.fixture(scope="module")
def extractor():
    return ClassifierFeatures(default_classifier())


def _identity(num_features: int) -> nn.Module:
    """A feature extractor that passes features through: torchmetrics' formulas on given features."""
    identity = nn.Identity()
    identity.num_features = num_features
    return identity


def _torchmetrics(extractor, real, fake, kid_subsets, kid_subset_size, seed=0) -> dict:
    """torchmetrics' FID and KID (mean, std) of ``fake`` against ``real``, features from ``extractor``."""
    fid = tm_fid.FrechetInceptionDistance(feature=extractor)
    kid = tm_kid.KernelInceptionDistance(feature=extractor, subsets=kid_subsets, subset_size=kid_subset_size)
    for metric in (fid, kid):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    torch.manual_seed(seed)  # torchmetrics draws its KID subsets with torch.randperm
    kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std)}


@pytest.fixture(scope="module")
def against_real(image_sets, extractor):
    """Ours (image_quality, from the images) and torchmetrics' (the classifier as its extractor), per set.
    KID subsets as large as the sets: every subset is the whole set, so both sides give one exact value."""
    real = image_sets["real"]
    return {name: (image_quality(image_sets[name], reference=real, classifier=extractor.classifier, kid_subsets=3),
                   _torchmetrics(extractor, real, image_sets[name], kid_subsets=3, kid_subset_size=N))
            for name in ("other", "degraded")}


@pytest.mark.parametrize("fake", ["other", "degraded"])
def test_fid_matches_torchmetrics(against_real, fake):
    ours, theirs = against_real[fake]
    assert ours["fid"] == pytest.approx(theirs["fid"], rel=1e-9), (ours, theirs)
    # and the two cases are far apart, so the tolerance separates right from wrong
    assert against_real["degraded"][0]["fid"] > 10 * against_real["other"][0]["fid"]


@pytest.mark.parametrize("fake", ["other", "degraded"])
def test_kid_over_whole_sets_matches_torchmetrics(against_real, fake):
    ours, theirs = against_real[fake]
    assert ours["kid"] == pytest.approx(theirs["kid"], rel=1e-9, abs=1e-12), (ours, theirs)
    # every subset is the whole set: no spread on either side
    assert ours["kid_std"] < 1e-9 * abs(ours["kid"]) + 1e-12 and theirs["kid_std"] < 1e-9 * abs(theirs["kid"]) + 1e-12


def test_kid_over_random_subsets_agrees_with_torchmetrics(image_sets, extractor):
    f_real = classifier_features(image_sets["real"], extractor.classifier)
    f_x = classifier_features(image_sets["degraded"], extractor.classifier)
    subsets, size = 200, 50
    ours, ours_std = kid_from_features(f_x, f_real, subsets=subsets, subset_size=size, seed=0)
    theirs = _torchmetrics(_identity(f_x.shape[1]), f_real, f_x, kid_subsets=subsets, kid_subset_size=size)
    se = np.hypot(ours_std, theirs["kid_std"]) / np.sqrt(subsets)
    assert abs(ours - theirs["kid"]) < 4 * se, (ours, theirs, se)
    assert ours_std == pytest.approx(theirs["kid_std"], rel=0.25), (ours_std, theirs)
    # the whole-set value is what both estimate; it sits within the same error bars
    whole = kid_from_features(f_x, f_real, subsets=1, subset_size=N)[0]
    assert abs(ours - whole) < 4 * ours_std / np.sqrt(subsets), (ours, whole)


def test_fid_from_features_matches_torchmetrics_formula():
    # the formula alone, on features with no network in between (identity extractor), incl. N < F
    rng = np.random.default_rng(0)
    for n, rel in ((200, 1e-9), (20, 1e-7)):
        a, b = rng.normal(size=(n, 32)), rng.normal(0.5, 1.5, size=(n, 32))
        fid = tm_fid.FrechetInceptionDistance(feature=_identity(32))
        fid.update(torch.from_numpy(a), real=True)
        fid.update(torch.from_numpy(b), real=False)
        assert fid_from_features(b, a) == pytest.approx(float(fid.compute()), rel=rel), n
