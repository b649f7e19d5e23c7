"""The feature classifier and the image metrics: FID, KID, floors, class histograms, nearest neighbours."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ddpm_helpers.core.classifier import ClassifierConfig, FashionClassifier, classifier_accuracy
from ddpm_helpers.core.metrics import (class_histogram, classifier_features, fid_from_features, frechet_distance,
                                  image_quality, kid_from_features, nearest_neighbours, real_floor)


def _random_cov(d, rng):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# ----------------------------------------------------------------------------- FID
def test_fid_of_a_set_with_itself_is_zero():
    f = np.random.default_rng(0).normal(size=(500, 16))
    assert abs(fid_from_features(f, f)) < 1e-6


def test_frechet_distance_diagonal_closed_form():
    # commuting (diagonal) covariances: d^2 = |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_general_covariances_match_symmetric_form():
    # Tr (S1 S2)^{1/2} = Tr (S1^{1/2} S2 S1^{1/2})^{1/2}; the right side computed with eigh only
    rng = np.random.default_rng(1)
    d = 6
    s1, s2 = _random_cov(d, rng), _random_cov(d, rng)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)

    def psd_sqrt(m):
        w, v = np.linalg.eigh(m)
        return v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T

    r = psd_sqrt(s1)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(psd_sqrt(r @ s2 @ r))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    # invariant under a common rotation
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    assert frechet_distance(q @ mu1, q @ s1 @ q.T, q @ mu2, q @ s2 @ q.T) == pytest.approx(expected, rel=1e-8)


def test_fid_from_gaussian_samples_matches_closed_form():
    rng = np.random.default_rng(2)
    d, n = 4, 40_000
    s1, s2 = _random_cov(d, rng), _random_cov(d, rng)
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    f1 = rng.multivariate_normal(mu1, s1, size=n)
    f2 = rng.multivariate_normal(mu2, s2, size=n)
    assert fid_from_features(f1, f2) == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=0.05, abs=0.01)


def test_fid_handles_fewer_samples_than_features():
    # 10 samples of 32 features: singular covariances (rank 9). Sets related by a map whose FID is known in
    # closed form from the first set's mean mu and covariance S (sqrtm of the PSD S^2 or 4 S^2 is S or 2 S):
    #   f + c: ||c||^2;   2 f: ||mu||^2 + Tr(S);   -f: ||2 mu||^2
    rng = np.random.default_rng(3)
    f, c = rng.normal(size=(10, 32)), rng.normal(size=32)
    mu = f.mean(0)
    s = (f - mu).T @ (f - mu) / (len(f) - 1)  # the sample covariance, (32, 32)
    assert np.linalg.matrix_rank(s) == 9
    assert fid_from_features(f, f + c) == pytest.approx(c @ c, rel=1e-6)
    assert fid_from_features(f, 2 * f) == pytest.approx(mu @ mu + np.trace(s), rel=1e-6)
    assert fid_from_features(f, -f) == pytest.approx(4 * mu @ mu, rel=1e-6)


# ----------------------------------------------------------------------------- KID
def test_kid_same_distribution_is_unbiased():
    # the mean of many small-n KIDs between two draws of one distribution is 0 (unbiased),
    # while the biased estimator (keeping the diagonal) would be clearly positive
    rng = np.random.default_rng(4)
    vals = [kid_from_features(rng.normal(size=(20, 8)), rng.normal(size=(20, 8)), subsets=1, subset_size=20,
                              seed=i)[0] for i in range(300)]
    mean, sem = np.mean(vals), np.std(vals) / np.sqrt(len(vals))
    assert abs(mean) < 3 * sem
    # the diagonal term of the cubic kernel, (|x|^2 / d + 1)^3 ~ 8, would add ~2 * 8 / 20 = 0.8
    assert 2 * 8 / 20 > 20 * sem


def test_kid_small_n_mean_matches_large_n_value():
    rng = np.random.default_rng(5)
    big = kid_from_features(rng.normal(size=(3000, 8)), rng.normal(0.3, 1.0, size=(3000, 8)),
                            subsets=5, subset_size=3000)[0]
    small = [kid_from_features(rng.normal(size=(30, 8)), rng.normal(0.3, 1.0, size=(30, 8)), subsets=1,
                               subset_size=30, seed=i)[0] for i in range(300)]
    assert big > 0.05
    assert np.mean(small) == pytest.approx(big, abs=4 * np.std(small) / np.sqrt(len(small)))


def _mmd_u_brute_force(x, y):
    """Unbiased MMD^2 with the cubic kernel (x . y / F + 1)^3, pair by pair (Binkowski et al. 2018, eq. 3)."""
    m, d = len(x), x.shape[1]

    def k(a, b):
        return (a @ b / d + 1) ** 3

    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    across = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return within / (m * (m - 1)) - 2 * across / m**2


def test_kid_returns_mean_and_std_over_subsets():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(30, 4)), rng.normal(1.0, 1.0, size=(30, 4))
    # subsets as large as the sets: each subset is the whole set, so every value is the brute-force MMD_u
    mean, std = kid_from_features(x, y, subsets=3, subset_size=30)
    assert mean == pytest.approx(_mmd_u_brute_force(x, y), rel=1e-10) and std < 1e-12
    # a set against a shuffled copy of itself: MMD_u = 2/(m^2 (m-1)) sum_{i!=j} k_ij - 2/m^2 sum_i k_ii,
    # small (of order 1/m), far below the shifted set's value
    same = kid_from_features(x, x[::-1].copy(), subsets=1, subset_size=30)[0]
    assert same == pytest.approx(_mmd_u_brute_force(x, x), rel=1e-10) and abs(same) < 0.1 * mean
    # random subsets of 10: the mean estimates the whole-set value, the std is the spread of single subsets
    x, y = rng.normal(size=(200, 4)), rng.normal(1.0, 1.0, size=(200, 4))
    whole = kid_from_features(x, y, subsets=1, subset_size=200)[0]
    mean, std = kid_from_features(x, y, subsets=400, subset_size=10)
    assert mean == pytest.approx(whole, abs=4 * std / np.sqrt(400))
    singles = [kid_from_features(x, y, subsets=1, subset_size=10, seed=s)[0] for s in range(1000, 1400)]
    assert std == pytest.approx(np.std(singles), rel=0.15)


@pytest.mark.parametrize("kwargs, match", [({"subsets": 0}, "subsets"), ({"subset_size": 1}, "subset_size")])
def test_kid_bad_arguments(kwargs, match):
    f = np.zeros((10, 3))
    with pytest.raises(ValueError, match=match):
        kid_from_features(f, f, **kwargs)


def test_feature_dimension_mismatch_raises():
    with pytest.raises(ValueError, match="same number of features"):
        fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))


# ----------------------------------------------------------------------------- nearest neighbours
def _exact_distances(samples, train):
    """Brute force from the differences, no matrix product: (N, M) distances."""
    return torch.linalg.vector_norm(samples.flatten(1)[:, None] - train.flatten(1)[None], dim=2)


@pytest.mark.parametrize("chunk", [1, 64, 4096])
def test_nearest_neighbours_matches_brute_force_and_finds_copies(chunk):
    g = torch.Generator().manual_seed(0)
    train = torch.rand(300, 1, 28, 28, generator=g) * 2 - 1
    samples = torch.rand(7, 1, 28, 28, generator=g) * 2 - 1
    samples[3] = train[123]
    d, i = nearest_neighbours(samples, train, chunk=chunk)
    full = _exact_distances(samples, train)  # (7, 300)
    bd, bi = full.min(1)
    # Both sum the D = 784 squared differences, in orders that depend on the kernel and the shape. A sum of D
    # non-negative float32 terms is within (D + 1) u (u = eps32 / 2) of exact, relatively, so each distance (a
    # square root) is within (D + 1) u / 2, and the two are within (D + 1) u < D eps32 of each other.
    eps32 = torch.finfo(torch.float32).eps
    torch.testing.assert_close(d, bd, rtol=784 * eps32, atol=0)
    # indices are integers, and the nearest image is clear of the second nearest by far more than that rounding
    second = full.topk(2, dim=1, largest=False).values[:, 1]
    assert (second - bd > 2 * 784 * eps32 * second).all()
    assert torch.equal(i, bi)
    # a copy: every difference is 0, so its distance is exactly 0 on any CPU (not sqrt of round-off)
    assert i[3] == 123 and d[3].item() == 0.0


def test_nearest_neighbours_finds_the_copy_among_near_copies():
    """Near copies (one pixel moved by 1e-3) and a copy are all at about 0.01 by torch.cdist's fast route;
    the exact distances tell them apart: the copy wins at 0, and of two copies the lower training index."""
    g = torch.Generator().manual_seed(1)
    train = torch.rand(200, 1, 28, 28, generator=g) * 2 - 1
    x = train[40].clone()
    for k, j in enumerate((10, 20, 30, 70, 90)):  # five near copies, three of them before the copy
        train[j] = x
        train[j, 0, 3 + k, 14] += 1e-3
    train[150] = x  # a second copy, after the first
    samples = torch.stack([x, train[90], train[5]])
    d, i = nearest_neighbours(samples, train, chunk=50)  # chunks over 25 rows: cdist takes its fast route
    assert i.tolist() == [40, 90, 5] and d.tolist() == [0.0, 0.0, 0.0]
    # the near copies are where they should be: one pixel, 1e-3 away (float32 rounding of x + 1e-3: < 1e-6)
    near = _exact_distances(x[None], train[[10, 20, 30, 70, 90]])
    torch.testing.assert_close(near, torch.full_like(near, 1e-3), rtol=0, atol=1e-6)


def test_nearest_neighbours_shape_mismatch_raises():
    with pytest.raises(ValueError, match="same image shape"):
        nearest_neighbours(torch.zeros(2, 1, 28, 28), torch.zeros(5, 1, 14, 14))
    with pytest.raises(ValueError, match="M >= 1"):
        nearest_neighbours(torch.zeros(2, 1, 28, 28), torch.zeros(0, 1, 28, 28))


# ----------------------------------------------------------------------------- the shipped classifier
@pytest.fixture(scope="module")
def test_slice(fashion_dir):
    from ddpm_helpers.core.data import load_fashion_mnist

    return load_fashion_mnist("test", n=2000)


def test_classifier_features_shape_and_logits():
    m = FashionClassifier(ClassifierConfig(width=8, embed_dim=16))
    f, logits = m.features(torch.zeros(3, 1, 28, 28))
    assert f.shape == (3, 16) and logits.shape == (3, 10)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        m.features(torch.zeros(3, 28, 28))


def test_shipped_classifier_accuracy_on_a_test_slice(test_slice):
    from ddpm_helpers.core.checkpoints import load_pretrained

    clf, _, meta = load_pretrained("fashion_classifier")
    x, y = test_slice
    acc = classifier_accuracy(clf, x, y)
    assert acc >= 0.89, f"shipped classifier accuracy {acc:.3f} on the first 2000 test images"
    assert meta["test_accuracy"] >= 0.89
    f = classifier_features(x[:50], clf)
    assert f.shape == (50, 128) and f.dtype == torch.float64


def test_class_histogram_of_real_images_matches_labels(test_slice):
    x, y = test_slice
    h = class_histogram(x[:1000])
    true = np.bincount(y[:1000].numpy(), minlength=10)
    assert h.sum() == 1000
    assert np.abs(h - true).max() <= 40


def test_floor_is_far_below_noise(fashion_dir):
    floor = real_floor(200)
    assert floor["n"] == 200 and floor["n_reference"] == 10000
    noise = image_quality(torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert noise["fid"] > 10 * floor["fid"]
    assert noise["kid"] > 10 * max(floor["kid"], 1e-4)
    assert abs(floor["kid"]) < 3 * floor["kid_std"] + 0.01


def test_image_quality_bad_input():
    with pytest.raises(ValueError, match="samples"):
        image_quality(torch.zeros(10, 3, 28, 28))
    with pytest.raises(ValueError, match="NaN"):
        image_quality(torch.full((10, 1, 28, 28), float("nan")))
    with pytest.raises(ValueError, match="n must be"):
        image_quality(torch.zeros(10, 1, 28, 28), n=11)


def test_train_classifier_learns_and_round_trips(tmp_path, fashion_dir):
    from ddpm_helpers.core.classifier import calibrate_feature_scale, train_classifier
    from ddpm_helpers.core.data import load_fashion_mnist
    from ddpm_helpers.core.checkpoints import load_checkpoint, save_checkpoint

    x, y = load_fashion_mnist("train", n=1024)
    torch.manual_seed(0)
    m = FashionClassifier(ClassifierConfig(width=8, embed_dim=16))
    hist = train_classifier(m, x, y, epochs=2, batch_size=64, lr=3e-3, progress=False)
    assert hist["steps"] == 32 and np.mean(hist["losses"][-8:]) < 0.7 * np.mean(hist["losses"][:4])
    assert classifier_accuracy(m, x, y) > 0.6
    scale = calibrate_feature_scale(m, x)
    assert scale > 0
    assert classifier_features(x, m).pow(2).mean().sqrt().item() == pytest.approx(1.0, rel=1e-3)
    save_checkpoint(tmp_path / "c.pt", m, None, {"note": "test"})
    m2, sched, meta = load_checkpoint(tmp_path / "c.pt")
    assert sched is None and meta["note"] == "test" and m2.config.feature_scale == scale
    torch.testing.assert_close(classifier_features(x[:10], m2), classifier_features(x[:10], m))


@pytest.mark.parametrize("kwargs, match", [({"epochs": 0}, "epochs"), ({"batch_size": 0}, "batch_size")])
def test_train_classifier_bad_arguments(kwargs, match):
    from ddpm_helpers.core.classifier import train_classifier

    with pytest.raises(ValueError, match=match):
        train_classifier(FashionClassifier(), torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), **kwargs)
    with pytest.raises(ValueError, match="labels"):
        train_classifier(FashionClassifier(), torch.zeros(4, 1, 28, 28), torch.zeros(4))


# ----------------------------------------------------------------------------- the reference-feature cache
def _images(n, seed):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_feature_cache_writes_once_then_loads_the_same_bits(tmp_path, monkeypatch):
    """The first call computes and writes the file; a later call (another process, here: a cleared memory)
    reads it instead of running the classifier, and gets exactly the computed features."""
    from ddpm_helpers.core import metrics

    monkeypatch.setenv("DDPM_CACHE_DIR", str(tmp_path))
    clf = FashionClassifier(ClassifierConfig()).eval()
    x = _images(40, 0)
    path = metrics.feature_cache_path(x, clf, "toy")
    assert path.parent == tmp_path / "fid_features" and path.name.startswith("toy-") and not path.exists()
    first = metrics._cached_features(x, clf, "toy")
    # exact: the same classifier on the same batch in one process runs the same kernels; the file holds a copy
    assert path.is_file() and torch.equal(first, classifier_features(x, clf)) and first.dtype == torch.float64
    monkeypatch.setattr(metrics, "classifier_features", lambda *a, **k: pytest.fail("recomputed a cached set"))
    again = metrics._cached_features(x, clf, "toy")
    assert torch.equal(again, first) and again.dtype == torch.float64


def test_feature_cache_key_follows_the_images_and_the_weights(tmp_path, monkeypatch):
    from ddpm_helpers.core import metrics

    monkeypatch.setenv("DDPM_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    a, b = FashionClassifier(ClassifierConfig()), FashionClassifier(ClassifierConfig())
    x = _images(8, 0)
    y = x.clone()
    y[3, 0, 5, 5] += 1e-3  # one pixel
    assert metrics.feature_cache_path(x, a) == metrics.feature_cache_path(x.clone(), a)
    assert metrics.feature_cache_path(x, a) != metrics.feature_cache_path(y, a)
    assert metrics.feature_cache_path(x, a) != metrics.feature_cache_path(x, b)


def test_feature_cache_recomputes_a_broken_file_and_survives_an_unwritable_cache(tmp_path, monkeypatch):
    from ddpm_helpers.core import metrics

    clf = FashionClassifier(ClassifierConfig()).eval()
    x = _images(16, 1)
    want = classifier_features(x, clf)  # compared exactly below: the same call on the same batch, or a copy of it
    monkeypatch.setenv("DDPM_CACHE_DIR", str(tmp_path))
    path = metrics.feature_cache_path(x, clf, "toy")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a tensor")  # e.g. a copy cut short
    assert torch.equal(metrics._cached_features(x, clf, "toy"), want)
    assert torch.equal(torch.load(path, weights_only=True).double(), want)  # rewritten whole
    torch.save(torch.zeros(3, 2), path)  # a tensor of the wrong shape
    assert torch.equal(metrics._cached_features(x, clf, "toy"), want)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("DDPM_CACHE_DIR", str(blocker))  # the cache folder cannot be created
    assert torch.equal(metrics._cached_features(x, clf, "toy"), want)
    assert not list(tmp_path.glob("**/*.tmp"))
