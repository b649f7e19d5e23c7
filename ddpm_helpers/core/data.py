"""Data: scikit-learn's two moons and FashionMNIST (offline first).

FashionMNIST is read from the four original IDX ``.gz`` files, searched in this order:

1. the ``root`` argument,
2. ``$DDPM_DATA_DIR``,
3. the cache: ``data/FashionMNIST/raw`` in a clone of the repository; the user cache directory
   (``~/.cache/ddpm_helpers/FashionMNIST/raw`` on Linux) when the package is installed, not
   cloned (see :mod:`ddpm_helpers.core.paths`),
4. ``/usr/share/datasets/fashion-mnist`` (Debian's package ``dataset-fashion-mnist``),
5. only then a download through torchvision into the cache (needs internet).

``root`` and ``$DDPM_DATA_DIR`` may name the folder of the files or a torchvision-style root
above it (``<root>/FashionMNIST/raw``).

Images come back as float32 in [-1, 1] (``x / 127.5 - 1``), shape (N, 1, 28, 28).
"""
from __future__ import annotations

import functools
import gzip
import math
import os
from pathlib import Path

import numpy as np
import torch

from .checks import check_int, check_number
from .paths import cache_dir

__all__ = ["make_moons_data", "MOONS_MEAN", "MOONS_STD", "load_fashion_mnist", "find_fashion_mnist",
           "FASHION_CLASSES", "to_unit_range", "DatasetNotFoundError", "fashion_cache_dir"]

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DatasetNotFoundError(FileNotFoundError, ValueError):
    """A dataset's files are nowhere to be found. Both a ``FileNotFoundError`` (what it is) and a
    ``ValueError`` (what the series raises for every input it cannot use), so either ``except`` works."""


# Per-axis mean and std of noiseless moons, in closed form. make_moons places half the points on
# each of two half circles of radius 1, at angles s = linspace(0, pi, n/2):
#   outer moon  x = cos(s),      y = sin(s)
#   inner moon  x = 1 - cos(s),  y = 1/2 - sin(s)
# In the limit of many points s is uniform on [0, pi], where E cos s = 0, E sin s = 2/pi,
# E cos^2 s = E sin^2 s = 1/2. Averaging the two moons (weight 1/2 each):
#   E x   = (0 + 1) / 2                              = 1/2
#   E y   = (2/pi + 1/2 - 2/pi) / 2                  = 1/4
#   E x^2 = (1/2 + (1 - 0 + 1/2)) / 2                = 1,             Var x = 1 - 1/4   = 3/4
#   E y^2 = (1/2 + (1/4 - 2/pi + 1/2)) / 2           = 5/8 - 1/pi,    Var y = 9/16 - 1/pi
# so std x = sqrt(3)/2 = 0.8660 and std y = sqrt(9/16 - 1/pi) = 0.4942. For n points the linspace
# sums differ from these integrals by O(1/n) (1e-6 at n = 10^6; tests/test_data.py measures it).
# make_moons_data's Gaussian noise (std sigma) would add sigma^2 to each variance; it is left out
# on purpose, so that every noise level, fresh data and training data share one fixed transform.
MOONS_MEAN = (0.5, 0.25)
MOONS_STD = (math.sqrt(3) / 2, math.sqrt(9 / 16 - 1 / math.pi))


def make_moons_data(n: int, noise: float = 0.05, seed: int | None = 0, standardize: bool = True,
                    return_labels: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``n`` points of scikit-learn's two moons, standardised by :data:`MOONS_MEAN` and :data:`MOONS_STD`
    (the noiseless shape's moments: zero mean and unit variance up to the noise's sigma^2).

    ``return_labels=True`` also returns each point's moon (make_moons' labels): 0 the outer (upper)
    moon, 1 the inner (lower) one, as the class labels of notebook 07.
    Shapes: -> (n, 2) float32 [, (n,) long].
    """
    from sklearn.datasets import make_moons  # heavy (3 s to import on a busy 2-core CPU): only when used

    check_int("n", n, lo=1)
    check_number("noise", noise, lo=0)
    x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    if standardize:
        x = (x - np.array(MOONS_MEAN)) / np.array(MOONS_STD)
    points = torch.from_numpy(x).float()
    return (points, torch.from_numpy(y).long()) if return_labels else points


def fashion_cache_dir() -> Path:
    """Where a download lands and where the cache is searched: ``cache_dir()/FashionMNIST/raw``."""
    return cache_dir() / "FashionMNIST" / "raw"


def _candidates(root: str | Path | None) -> list[Path]:
    given = [Path(root)] if root is not None else []
    if os.environ.get("DDPM_DATA_DIR"):
        given.append(Path(os.environ["DDPM_DATA_DIR"]))
    out = []
    for d in given:  # a user's folder: the files themselves, or a torchvision-style root above them
        out += [d, d / "FashionMNIST" / "raw"]
    return out + [fashion_cache_dir(), DEBIAN_DIR]


def find_fashion_mnist(split: str = "train", root: str | Path | None = None,
                       download: bool = True) -> tuple[Path, Path]:
    """Return the (images, labels) ``.gz`` paths for ``split``, searching as the module docstring says."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    names = FILES[split]
    searched = _candidates(root)
    for d in searched:
        if all((d / f).is_file() for f in names):
            return d / names[0], d / names[1]
    if download:
        try:
            from torchvision.datasets import FashionMNIST

            cache = fashion_cache_dir()
            FashionMNIST(str(cache.parent.parent), train=split == "train", download=True)
            if all((cache / f).is_file() for f in names):
                return cache / names[0], cache / names[1]
        except Exception as e:  # no internet: fall through to the explanation below
            reason = f"(the download through torchvision failed too: {type(e).__name__}: {str(e)[:120]})"
        else:
            reason = ""
    else:
        reason = "(download=False)"
    looked = "\n  ".join(dict.fromkeys(str(d) for d in searched))
    raise DatasetNotFoundError(
        f"FashionMNIST {split} files not found {reason}.\nLooked in:\n  {looked}\n"
        f"Put the four original files {', '.join(FILES['train'] + FILES['test'])} into\n"
        f"  {fashion_cache_dir()}\nor point DDPM_DATA_DIR at the folder that holds them, or on Debian/Ubuntu run\n"
        f"  sudo apt-get install dataset-fashion-mnist"
    )


def _read_idx(path: Path) -> np.ndarray:
    """The array in an IDX file (read-only). Decoded once per process and file version: gunzipping the
    training images takes 0.7 s, and the floors, the metrics and the notebooks load them again and again."""
    st = Path(path).stat()
    return _read_idx_file(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _read_idx_file(path: str, mtime_ns: int, size: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic 0x{magic:08x})")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(split: str = "train", root: str | Path | None = None, n: int | None = None,
                       device: torch.device | str = "cpu", download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """FashionMNIST as tensors: ``(images, labels)``.

    ``n`` keeps the first n examples (all 60000 / 10000 when None).
    Shapes: -> images (N, 1, 28, 28) float32 in [-1, 1]; labels (N,) long in 0..9.
    """
    check_int("n", n, lo=1, allow_none=True)
    img_path, lab_path = find_fashion_mnist(split, root, download)
    images = _read_idx(img_path)
    labels = _read_idx(lab_path)
    if n is not None:
        images, labels = images[:n], labels[:n]
    x = torch.from_numpy(images.copy()).float().div_(127.5).sub_(1.0).unsqueeze(1)  # (N, 28, 28) -> (N, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64))
    return x.to(device), y.to(device)


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """Map images from [-1, 1] to [0, 1] for display (clamped)."""
    return ((x + 1) / 2).clamp(0, 1)
