r"""Sample-quality metrics: point clouds (the moons), images (FID, KID, class histogram) and their error bars.

For 2-D point clouds (the moons), with ``a`` the samples and ``b`` fresh data:

* :func:`chamfer_distance`: the mean distance from each point to its nearest neighbour in the
  other set, averaged over both directions.
* :func:`mmd_rbf`: the (biased) squared maximum mean discrepancy with a sum of Gaussian kernels,
  Gretton et al. 2012, eq. 5:  MMD^2 = E k(a, a') + E k(b, b') - 2 E k(a, b).

Each metric comes with its floor: the value between two independent draws of real data
(:func:`moons_floor`). A sampler is good when its value is a small multiple of the floor.

Images are measured in the feature space of the shipped FashionMNIST classifier. Notation
(symbol -> name):

    \phi(x)               classifier_features()   the classifier's 128-D penultimate layer
    \mu_r, \Sigma_r       mean and covariance of the real features
    \mu_g, \Sigma_g       mean and covariance of the generated features
    FID                   fid_from_features()     Heusel et al. 2017, eq. 6 (Frechet distance)
    KID                   kid_from_features()     Binkowski et al. 2018, unbiased MMD^2, cubic kernel

FID = ||\mu_r - \mu_g||^2 + Tr(\Sigma_r + \Sigma_g - 2 (\Sigma_r \Sigma_g)^{1/2})  is biased: it grows as
n shrinks, so a FID means nothing without its n and without the real-against-real floor
(:func:`real_floor`) measured the same way at the same n. KID is unbiased (its expectation does
not depend on n) but noisy at small n; we report its mean and spread over random subsets.
Values are comparable only with values from the same classifier weights.

The reference features (all 10 000 test images, about 10 s of one CPU core) are computed once per machine:
they are kept in ``cache_dir()/fid_features/`` under a digest of the classifier's weights, the images and
the torch version, so another process (a notebook kernel, a benchmark, a test worker) loads them instead.

Error bars (:func:`quality_bootstrap`, :func:`image_quality_ci`, :func:`real_floor_spread`,
:func:`paired_fid_bootstrap`): how much FID and KID move when the samples, or the real images of
the floor, are drawn again.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from .checkpoints import load_pretrained
from .checks import check_int, check_point_sets
from .data import load_fashion_mnist, make_moons_data
from .paths import cache_dir
from .runtime import eval_mode, model_device

__all__ = ["chamfer_distance", "mmd_rbf", "moons_floor",
           "classifier_features", "frechet_distance", "fid_from_features", "kid_from_features", "image_quality",
           "real_floor", "class_histogram", "default_classifier", "nearest_neighbours",
           "quality_bootstrap", "frechet_distance_eig", "image_quality_ci", "real_floor_spread",
           "paired_fid_bootstrap"]

Features = np.ndarray | torch.Tensor  # (N, F) features of N images
Reference = str | torch.Tensor        # "test", "train", or a (M, 1, 28, 28) image tensor


# ----------------------------------------------------------------------------- point clouds: the moons
def chamfer_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Symmetric mean nearest-neighbour distance. Shapes: a (N, D), b (M, D) -> float."""
    check_point_sets(a, b)
    # (N, M) distances on the CPU from the differences (cheap in 2-D): identical sets score exactly 0 on any CPU
    d = torch.cdist(a.detach().float().cpu(), b.detach().float().cpu(), compute_mode="donot_use_mm_for_euclid_dist")
    return 0.5 * (d.min(dim=1).values.mean() + d.min(dim=0).values.mean()).item()


def mmd_rbf(a: torch.Tensor, b: torch.Tensor,
            bandwidths: Sequence[float] = (0.05, 0.1, 0.2, 0.5, 1.0)) -> float:
    r"""Biased MMD^2 with k(x, y) = \sum_h exp(-||x - y||^2 / (2 h^2)). Shapes: a (N, D), b (M, D) -> float."""
    check_point_sets(a, b)
    a, b = a.detach().cpu().double(), b.detach().cpu().double()  # any devices in; float64 on the CPU

    def k(x, y):
        d2 = torch.cdist(x, y).pow(2)
        return sum(torch.exp(-d2 / (2 * h * h)) for h in bandwidths)

    return (k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()).item()


def moons_floor(n: int = 2000, seed: int = 1000, noise: float = 0.05) -> dict:
    """Chamfer and MMD between two independent draws of ``n`` moons points: the real-against-real floor."""
    a = make_moons_data(n, noise=noise, seed=seed)
    b = make_moons_data(n, noise=noise, seed=seed + 1)
    return {"chamfer": chamfer_distance(a, b), "mmd": mmd_rbf(a, b)}


# ----------------------------------------------------------------------------- images: FID, KID, class histogram
_DEFAULT_CLASSIFIER = None
_REFERENCE_CACHE: dict = {}


def default_classifier() -> nn.Module:
    """The shipped feature classifier (``load_pretrained("fashion_classifier")``), loaded once."""
    global _DEFAULT_CLASSIFIER
    if _DEFAULT_CLASSIFIER is None:
        _DEFAULT_CLASSIFIER = load_pretrained("fashion_classifier")[0]
    return _DEFAULT_CLASSIFIER


def _check_images(images: torch.Tensor, name: str = "images") -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"{name} must be a (N, 1, 28, 28) tensor of images in [-1, 1], got "
                         f"{type(images).__name__} {tuple(getattr(images, 'shape', ()))}")
    if not torch.isfinite(images).all():
        raise ValueError(f"{name} contains NaN or inf values; a diverged sampler cannot be scored")


def classifier_features(images: torch.Tensor, classifier: nn.Module | None = None, batch_size: int = 500,
                        return_logits: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    r"""\phi(x): the classifier's penultimate-layer features of every image (float64, on the CPU).

    Images are clipped to [-1, 1] first, as saving samples as 8-bit pixels would clip them.

    Shapes: images (N, 1, 28, 28) in [-1, 1] -> (N, F) (and logits (N, 10) with ``return_logits``).
    """
    _check_images(images)
    check_int("batch_size", batch_size, lo=1)
    clf = classifier if classifier is not None else default_classifier()
    device = model_device(clf)
    feats, logits = [], []
    with eval_mode(clf):
        for i in range(0, images.shape[0], batch_size):
            f, lg = clf.features(images[i:i + batch_size].to(device, torch.float32).clamp(-1, 1))
            feats.append(f.double().cpu())
            logits.append(lg.float().cpu())
    f = torch.cat(feats)  # (N, F)
    return (f, torch.cat(logits)) if return_logits else f


def _as_features(f: Features, name: str) -> np.ndarray:
    f = np.asarray(f.detach().cpu() if isinstance(f, torch.Tensor) else f, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"{name} must be a (N, F) array of features with N >= 2, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return f


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike, eps: float = 1e-6) -> float:
    r"""Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (Dowson & Landau 1982; FID's formula):

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2}).

    ``scipy.linalg.sqrtm`` of a product of two PSD matrices is real in exact arithmetic; rounding
    leaves tiny imaginary parts, which are dropped. A singular product (fewer samples than
    features) gets ``eps * I`` added to both covariances, as pytorch-fid does.
    Shapes: mu (F,), sigma (F, F) -> float.
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"means must both be (F,) and covariances both (F, F); got {mu1.shape}, {s1.shape}, "
                         f"{mu2.shape}, {s2.shape}")
    # 1. the matrix square root of the product (singular when n < F or a feature is always 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = np.eye(s1.shape[0]) * eps
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    # 2. drop the rounding-level imaginary part
    covmean = np.real(covmean)
    # 3. the two terms: distance of the means, mismatch of the covariances
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fid_from_features(f1: Features, f2: Features) -> float:
    r"""FID between two sets of features (Heusel et al. 2017): :func:`frechet_distance` of their
    sample means and covariances. Biased upward at small n; compare only at equal n.
    Shapes: f1 (N1, F), f2 (N2, F) -> float.
    """
    f1, f2 = _as_features(f1, "f1"), _as_features(f2, "f2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"f1 and f2 must have the same number of features, got {f1.shape[1]} and {f2.shape[1]}")
    return frechet_distance(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False))


def kid_from_features(f1: Features, f2: Features, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    r"""KID (Binkowski et al. 2018, sec. 3): the unbiased estimate of MMD^2 with the cubic kernel

        k(x, y) = (x . y / F + 1)^3,
        MMD_u^2 = 1/(m(m-1)) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i, j} k(x_i, y_j),

    averaged over ``subsets`` random subsets of ``m = min(subset_size, N1, N2)`` from each set.
    Returns ``(mean, std)`` over the subsets. Its expectation is 0 for two sets from one distribution.
    Shapes: f1 (N1, F), f2 (N2, F) -> (float, float).
    """
    f1, f2 = _as_features(f1, "f1"), _as_features(f2, "f2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"f1 and f2 must have the same number of features, got {f1.shape[1]} and {f2.shape[1]}")
    check_int("subsets", subsets, lo=1)
    check_int("subset_size", subset_size, lo=2)
    d = f1.shape[1]
    m = min(subset_size, f1.shape[0], f2.shape[0])
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for s in range(subsets):
        x = f1[rng.choice(f1.shape[0], m, replace=False)]  # (m, F)
        y = f2[rng.choice(f2.shape[0], m, replace=False)]  # (m, F)
        kxx = (x @ x.T / d + 1) ** 3  # (m, m)
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values[s] = within - 2 * kxy.mean()
    return float(values.mean()), float(values.std())


def _reference_features(reference: Reference, classifier: nn.Module | None) -> torch.Tensor:
    if isinstance(reference, str):
        if reference not in ("test", "train"):
            raise ValueError(f"reference must be 'test', 'train' or a (N, 1, 28, 28) image tensor, got {reference!r}")
        key = (reference, id(classifier) if classifier is not None else None)
        if key not in _REFERENCE_CACHE:
            _REFERENCE_CACHE[key] = _cached_features(load_fashion_mnist(reference)[0], classifier, reference)
        return _REFERENCE_CACHE[key]
    return classifier_features(reference, classifier)


def _digest(tensors) -> str:
    """sha256 of the tensors' dtypes, shapes and bytes."""
    h = hashlib.sha256(torch.__version__.encode())
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()[:16]


def feature_cache_path(images: torch.Tensor, classifier: nn.Module | None = None, name: str = "images") -> Path:
    """Where :func:`_cached_features` keeps the features of ``images`` under ``classifier``: a file in
    ``cache_dir()/fid_features`` named by a digest of the weights, the images and the torch version."""
    clf = classifier if classifier is not None else default_classifier()
    key = _digest([*clf.state_dict().values(), images])
    return cache_dir() / "fid_features" / f"{name}-{key}.pt"


def _cached_features(images: torch.Tensor, classifier: nn.Module | None, name: str) -> torch.Tensor:
    """:func:`classifier_features` of ``images``, read from the feature cache when it holds them and written
    there otherwise (atomically: concurrent processes each write a whole file; a cache that cannot be read
    or written is recomputed, never an error). Stored in float32 when that is exact (features of a float32
    classifier are), so the loaded features equal the computed ones bit for bit."""
    path = feature_cache_path(images, classifier, name)
    try:
        f = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(f, torch.Tensor) and f.ndim == 2 and f.shape[0] == images.shape[0]:
            return f.double()
    except Exception:  # absent, unreadable, truncated or not a torch file (UnpicklingError): compute it
        pass
    f = classifier_features(images, classifier)
    f32 = f.float()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            torch.save(f32 if torch.equal(f32.double(), f) else f, fh)
        os.replace(tmp, path)
    except OSError:  # a read-only or full disk: keep the features in memory only
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return f


def image_quality(samples: torch.Tensor, n: int | None = None, reference: Reference = "test",
                  classifier: nn.Module | None = None, kid_subsets: int = 100, seed: int = 0) -> dict:
    """FID and KID of ``samples`` (the first ``n``; all when None) against a reference set.

    ``reference``: "test" (all 10000 FashionMNIST test images, the default), "train", or an image
    tensor. Returns ``{"fid", "kid", "kid_std", "n", "n_reference"}``. Always report n, and put
    :func:`real_floor` at the same n beside it.
    Shapes: samples (N, 1, 28, 28) in [-1, 1].
    """
    _check_images(samples, "samples")
    if check_int("n", n, 2, samples.shape[0], hi_name="len(samples)", allow_none=True) is not None:
        samples = samples[:n]
    f_gen = classifier_features(samples, classifier)
    f_ref = _reference_features(reference, classifier)
    kid, kid_std = kid_from_features(f_gen, f_ref, subsets=kid_subsets, seed=seed)
    return {"fid": fid_from_features(f_gen, f_ref), "kid": kid, "kid_std": kid_std,
            "n": int(samples.shape[0]), "n_reference": int(f_ref.shape[0])}


def real_floor(n: int, reference: Reference = "test", classifier: nn.Module | None = None, seed: int = 0,
               kid_subsets: int = 100) -> dict:
    """The real-against-real floor: :func:`image_quality` of ``n`` random *training* images, measured
    exactly like the samples (same reference, same n). A sampler is good when its FID is a small
    multiple of this floor. Returns the same dict as :func:`image_quality`.
    """
    check_int("n", n, 2, 60000, what="training images")
    x, _ = load_fashion_mnist("train")
    idx = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed), device="cpu")[:n]
    return image_quality(x[idx], reference=reference, classifier=classifier, kid_subsets=kid_subsets, seed=seed)


def class_histogram(samples: torch.Tensor, classifier: nn.Module | None = None) -> np.ndarray:
    """How many samples the classifier puts in each of the 10 FashionMNIST classes (mode coverage).

    Shapes: samples (N, 1, 28, 28) -> (10,) int counts, in the order of ``data.FASHION_CLASSES``.
    """
    _, logits = classifier_features(samples, classifier, return_logits=True)
    return np.bincount(logits.argmax(1).numpy(), minlength=logits.shape[1])


_CANDIDATES = 8  # nearest training images by the fast distances whose distance is then computed exactly


def nearest_neighbours(samples: torch.Tensor, train: torch.Tensor,
                       chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Memorization check: each sample's nearest training image in pixel space (Euclidean, [-1, 1] pixels).

    ``torch.cdist`` over chunks of the training set finds ``_CANDIDATES`` near ones fast, but its route
    ||a||^2 + ||b||^2 - 2 a.b cancels (a copy comes back at about 0.01); their distances are then computed
    again as ||a - b||, so a copy is at exactly 0 on every CPU. On a tie the lowest training index wins.
    Shapes: samples (N, C, H, W), train (M, C, H, W) -> (distances (N,), indices (N,)).
    """
    if samples.ndim < 2 or train.ndim < 2 or samples.shape[1:] != train.shape[1:] or train.shape[0] < 1:
        raise ValueError(f"samples and train must be (N, ...) and (M, ...) with the same image shape and M >= 1, "
                         f"got {tuple(samples.shape)} and {tuple(train.shape)}")
    check_int("chunk", chunk, lo=1)
    a = samples.flatten(1).float().cpu()  # (N, D)
    cand_d, cand_i = [], []  # 1. each chunk's k nearest by the fast distances, then the k nearest of those
    for start in range(0, train.shape[0], chunk):
        b = train[start:start + chunk].flatten(1).float().cpu()  # (chunk, D)
        d, i = torch.cdist(a, b).topk(min(_CANDIDATES, b.shape[0]), dim=1, largest=False)  # (N, chunk) -> (N, k)
        cand_d.append(d)
        cand_i.append(i + start)
    keep = torch.cat(cand_d, 1).topk(min(_CANDIDATES, train.shape[0]), dim=1, largest=False).indices  # (N, k)
    cand = torch.cat(cand_i, 1).gather(1, keep).sort(dim=1).values  # (N, k), in training-index order
    # 2. exact distances of the candidates; min returns the first minimum, so a tie goes to the lowest index
    b = train.flatten(1)[cand.to(train.device)].float().cpu()  # (N, k, D)
    best_d, j = torch.linalg.vector_norm(b - a[:, None], dim=2).min(dim=1)  # (N, k) -> (N,)
    return best_d, cand.gather(1, j[:, None]).squeeze(1)


# ----------------------------------------------------------------------------- error bars of FID/KID


def quality_bootstrap(f_gen: Features, f_ref: Features, n_boot: int = 50, seed: int = 0, kid_subsets: int = 3) -> dict:
    r"""How much FID and KID move when the generated set is drawn again: ``n_boot`` bootstrap resamples
    (with replacement, same n) of the generated features ``f_gen``, each scored against the fixed reference
    ``f_ref`` (Efron 1979; the usual error bar on a sample metric). Returns ``{"fid_std", "kid_std",
    "n_boot"}``: the standard deviations over the resamples. The bootstrap FIDs themselves sit above the
    FID of the original set (duplicates shrink the covariance), so only their spread is used.
    Shapes: f_gen (N, F), f_ref (M, F).
    """
    f_gen, f_ref = _as_features(f_gen, "f_gen"), _as_features(f_ref, "f_ref")
    check_int("n_boot", n_boot, lo=2, what="bootstrap resamples")
    rng = np.random.default_rng(seed)
    mu_r, cov_r = f_ref.mean(0), np.cov(f_ref, rowvar=False)
    fids, kids = [], []
    for b in range(n_boot):
        x = f_gen[rng.integers(0, f_gen.shape[0], f_gen.shape[0])]  # (N, F), with replacement
        fids.append(frechet_distance_eig(x.mean(0), np.cov(x, rowvar=False), mu_r, cov_r))
        kids.append(kid_from_features(x, f_ref, subsets=kid_subsets, seed=seed + 1 + b)[0])
    return {"fid_std": float(np.std(fids, ddof=1)), "kid_std": float(np.std(kids, ddof=1)), "n_boot": n_boot}


def frechet_distance_eig(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    r""":func:`frechet_distance` with the trace term from eigenvalues, about 100x faster than ``sqrtm``
    for 128 features (for the bootstrap's many FIDs):

        Tr (\Sigma_1 \Sigma_2)^{1/2} = \sum_i \sqrt{\lambda_i(\Sigma_1 \Sigma_2)},

    since \Sigma_1 \Sigma_2 is similar to the PSD \Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}: its eigenvalues are real and
    >= 0 (rounding leaves tiny imaginary or negative parts, dropped). Shapes: mu (F,), sigma (F, F) -> float.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"means must both be (F,) and covariances both (F, F); got {mu1.shape}, {s1.shape}, "
                         f"{mu2.shape}, {s2.shape}")
    lam = np.linalg.eigvals(s1 @ s2)
    tr_sqrt = np.sqrt(np.clip(lam.real, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def image_quality_ci(samples: torch.Tensor, reference: Reference = "test", classifier: nn.Module | None = None,
                     n_boot: int = 50, seed: int = 0) -> dict:
    """:func:`image_quality` of ``samples`` with bootstrap error bars (:func:`quality_bootstrap`):
    ``{"fid", "kid", "fid_std", "kid_std", "n", "n_reference", "n_boot"}``, where the two ``*_std`` are the
    spreads over resamples of the samples (KID's spread over reference subsets alone would miss the
    samples' own variability). Put :func:`real_floor_spread` at the same n beside it.
    Shapes: samples (N, 1, 28, 28) in [-1, 1].
    """
    q = image_quality(samples, reference=reference, classifier=classifier, seed=seed)
    f_gen = classifier_features(samples, classifier)
    f_ref = _reference_features(reference, classifier)
    q.update(quality_bootstrap(f_gen, f_ref, n_boot=n_boot, seed=seed))
    return q


def real_floor_spread(n: int, seeds: int = 5, reference: Reference = "test", classifier: nn.Module | None = None,
                      kid_subsets: int = 100) -> dict:
    """The real-against-real floor (:func:`real_floor`) over ``seeds`` independent draws of ``n`` training
    images: ``{"fid", "kid"}`` are the means, ``{"fid_std", "kid_std"}`` the spreads across draws (how much
    the metric moves at this n with nothing wrong at all), plus the per-draw ``fid_values``/``kid_values``.
    A sample set whose FID lies within about 2 ``fid_std`` of the floor cannot be told apart from real data
    at this n; a FID below the floor or a negative KID is such a case, not a better-than-real sampler.
    """
    check_int("seeds", seeds, lo=2, what="independent draws of the floor")
    runs = [real_floor(n, reference=reference, classifier=classifier, seed=s, kid_subsets=kid_subsets)
            for s in range(seeds)]
    fids = np.array([r["fid"] for r in runs])
    kids = np.array([r["kid"] for r in runs])
    return {"fid": float(fids.mean()), "fid_std": float(fids.std(ddof=1)), "kid": float(kids.mean()),
            "kid_std": float(kids.std(ddof=1)), "n": n, "n_reference": runs[0]["n_reference"], "seeds": seeds,
            "fid_values": fids.tolist(), "kid_values": kids.tolist()}


def paired_fid_bootstrap(f_rows: Sequence[Features], f_ref: Features, n_boot: int = 200, seed: int = 0) -> dict:
    r"""Tell sample sets apart that share their starting noise: image j of every set in ``f_rows`` came
    from the same x_T (notebook 06's speed-quality table), so each bootstrap resample draws the same
    indices j for every set (a paired bootstrap) and the FID *differences* between sets keep their
    pairing. Their spread is much smaller than either FID's own spread when the sets are alike.

    Returns ``{"fid_std": (R,), "diff_std": (R, R), "n_boot"}``: each set's FID spread over resamples and,
    for every pair (r, s), the spread of FID_r - FID_s over the same resamples. Two sets differ at about
    95 % confidence when |FID_r - FID_s| > 2 diff_std[r, s].
    Shapes: f_rows a list of R arrays (N, F) with the same N; f_ref (M, F).
    """
    rows = [_as_features(f, f"f_rows[{i}]") for i, f in enumerate(f_rows)]
    f_ref = _as_features(f_ref, "f_ref")
    if len(rows) < 1 or len({f.shape for f in rows}) != 1:
        raise ValueError(f"f_rows must be a non-empty list of (N, F) arrays of one shape, got "
                         f"{[f.shape for f in rows]}")
    check_int("n_boot", n_boot, lo=2, what="bootstrap resamples")
    rng = np.random.default_rng(seed)
    mu_r, cov_r = f_ref.mean(0), np.cov(f_ref, rowvar=False)
    n = rows[0].shape[0]
    fids = np.empty((n_boot, len(rows)))  # (B, R)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)  # one resample of image indices, shared by every set
        for r, f in enumerate(rows):
            x = f[idx]
            fids[b, r] = frechet_distance_eig(x.mean(0), np.cov(x, rowvar=False), mu_r, cov_r)
    diff = fids[:, :, None] - fids[:, None, :]  # (B, R, R)
    return {"fid_std": fids.std(0, ddof=1), "diff_std": diff.std(0, ddof=1), "n_boot": n_boot}
