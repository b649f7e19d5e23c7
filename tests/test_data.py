"""Data: the moons' fixed standardisation and FashionMNIST's offline search order."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ddpm_helpers.cli.data import main
from ddpm_helpers.core import data as data_mod
from ddpm_helpers.core.data import (
    FILES,
    MOONS_MEAN,
    MOONS_STD,
    DatasetNotFoundError,
    find_fashion_mnist,
    load_fashion_mnist,
    make_moons_data,
    to_unit_range,
)


# ----------------------------------------------------------------------------- moons
def test_moons_constants_match_a_large_draw():
    """The closed-form moments (core/data.py) against 10^6 noiseless make_moons points: the linspace
    sums differ from the integrals by O(1/n), so they agree to 1e-6 (the old 4-decimal numbers were
    off by up to 4e-5 and would fail here)."""
    from sklearn.datasets import make_moons

    x, _ = make_moons(n_samples=10**6, noise=0.0, random_state=0)
    np.testing.assert_allclose(x.mean(0), MOONS_MEAN, rtol=0, atol=1e-6)
    np.testing.assert_allclose(x.std(0), MOONS_STD, rtol=0, atol=1e-6)


def test_moons_constants_pinned_and_integrated():
    """Pinned values of the closed forms, and the same moments integrated numerically over the
    two half circles (s uniform on [0, pi]) with scipy's quadrature."""
    from scipy.integrate import quad

    assert MOONS_MEAN == (0.5, 0.25)
    np.testing.assert_allclose(MOONS_STD, (0.8660254037844386, 0.4941559610246641), rtol=0, atol=1e-15)
    moons = [(lambda s: np.cos(s), lambda s: np.sin(s)), (lambda s: 1 - np.cos(s), lambda s: 0.5 - np.sin(s))]
    for axis in range(2):
        mean = sum(quad(lambda s, f=m[axis]: f(s) / np.pi, 0, np.pi)[0] for m in moons) / 2
        second = sum(quad(lambda s, f=m[axis]: f(s) ** 2 / np.pi, 0, np.pi)[0] for m in moons) / 2
        assert mean == pytest.approx(MOONS_MEAN[axis], abs=1e-12)
        assert np.sqrt(second - mean**2) == pytest.approx(MOONS_STD[axis], abs=1e-12)


def test_make_moons_data_shape_and_standardisation():
    x = make_moons_data(20000, noise=0.05, seed=1)
    assert x.shape == (20000, 2) and x.dtype == torch.float32
    # noiseless moments are exactly (0, 1) after the transform; noise 0.05 inflates the std a little:
    # sqrt(1 + (0.05 / std)^2) = 1.0017 (x) and 1.0064 (y); standard errors ~0.007 at n = 20000
    np.testing.assert_allclose(x.mean(0).numpy(), [0, 0], atol=0.03)
    np.testing.assert_allclose(x.std(0).numpy(), [1.0017, 1.0064], atol=0.02)
    clean = make_moons_data(10000, noise=0.0)
    np.testing.assert_allclose(clean.mean(0).numpy(), [0, 0], atol=1e-3)
    np.testing.assert_allclose(clean.std(0).numpy(), [1, 1], atol=1e-3)


def test_make_moons_data_seed_and_raw():
    a, b = make_moons_data(50, seed=3), make_moons_data(50, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, make_moons_data(50, seed=4))
    raw = make_moons_data(50, seed=3, standardize=False)
    torch.testing.assert_close(a, (raw - torch.tensor(MOONS_MEAN)) / torch.tensor(MOONS_STD))


def test_to_unit_range():
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0])
    torch.testing.assert_close(to_unit_range(x), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))


# ----------------------------------------------------------------------------- FashionMNIST, real files
def test_load_fashion_mnist_real_files(fashion_dir):
    x, y = load_fashion_mnist("train", root=fashion_dir, n=10)
    assert x.shape == (10, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (10,) and y.dtype == torch.long
    assert y.tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    # pixel values are k / 127.5 - 1 for whole bytes k
    k = (x + 1) * 127.5
    torch.testing.assert_close(k, k.round(), atol=1e-4, rtol=0)


def test_load_fashion_mnist_full_test_split(fashion_dir):
    x, y = load_fashion_mnist("test", root=fashion_dir)
    assert x.shape == (10000, 1, 28, 28) and y.shape == (10000,)
    assert torch.bincount(y).tolist() == [1000] * 10
    assert -1.0 <= x.min().item() and x.max().item() <= 1.0
    assert -0.6 < x.mean().item() < -0.3  # mostly dark background


def _link_files(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in FILES["train"] + FILES["test"]:
        os.symlink(src / f, dst / f)
    return dst


@pytest.fixture
def no_default_dirs(monkeypatch, tmp_path):
    """The cache and Debian folders point at empty folders; DDPM_DATA_DIR is unset."""
    monkeypatch.setenv("DDPM_CACHE_DIR", str(tmp_path / "empty_cache"))
    monkeypatch.setattr(data_mod, "DEBIAN_DIR", tmp_path / "empty_debian")
    monkeypatch.delenv("DDPM_DATA_DIR", raising=False)
    return tmp_path


def test_search_order(fashion_dir, no_default_dirs, monkeypatch):
    tmp = no_default_dirs
    root = _link_files(fashion_dir, tmp / "root")
    env = _link_files(fashion_dir, tmp / "env")
    cache = _link_files(fashion_dir, tmp / "cache" / "FashionMNIST" / "raw")
    monkeypatch.setenv("DDPM_CACHE_DIR", str(tmp / "cache"))
    # only the cache
    assert find_fashion_mnist("train", download=False)[0].parent == cache
    # $DDPM_DATA_DIR beats the cache
    monkeypatch.setenv("DDPM_DATA_DIR", str(env))
    assert find_fashion_mnist("train", download=False)[0].parent == env
    # the root argument beats $DDPM_DATA_DIR
    imgs, labels = find_fashion_mnist("test", root=root, download=False)
    assert imgs == root / "t10k-images-idx3-ubyte.gz" and labels == root / "t10k-labels-idx1-ubyte.gz"
    # a torchvision-style root (root/FashionMNIST/raw) works too
    tv = _link_files(fashion_dir, tmp / "tv" / "FashionMNIST" / "raw")
    assert find_fashion_mnist("train", root=tmp / "tv", download=False)[0].parent == tv
    # and loading through the env folder gives the real data
    _, y = load_fashion_mnist("train", n=3, download=False)
    assert y.tolist() == [9, 0, 0]


def test_incomplete_folder_is_skipped(fashion_dir, no_default_dirs, monkeypatch):
    tmp = no_default_dirs
    partial = tmp / "partial"
    partial.mkdir()
    os.symlink(fashion_dir / FILES["train"][0], partial / FILES["train"][0])  # images without labels
    env = _link_files(fashion_dir, tmp / "env")
    monkeypatch.setenv("DDPM_DATA_DIR", str(env))
    assert find_fashion_mnist("train", root=partial, download=False)[0].parent == env


def _check_helpful(err: Exception, folders):
    msg = str(err)
    for f in FILES["train"]:
        assert f in msg, f"the message must name {f}"
    for d in folders:
        assert str(d) in msg, f"the message must name the folder {d}"
    assert "DDPM_DATA_DIR" in msg


def test_missing_dataset_download_false(no_default_dirs):
    root = no_default_dirs / "nothing_here"
    with pytest.raises(ValueError, match="FashionMNIST train files not found") as info:
        load_fashion_mnist("train", root=root, download=False)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, DatasetNotFoundError)
    _check_helpful(info.value, [root, data_mod.fashion_cache_dir(), data_mod.DEBIAN_DIR])
    assert "download=False" in str(info.value)


def test_missing_dataset_download_fails_offline(no_default_dirs, monkeypatch):
    """download=True on a machine without internet still ends in the helpful error (never hangs)."""
    import torchvision.datasets

    calls = []

    def offline(*args, **kwargs):
        calls.append((args, kwargs))
        raise RuntimeError("no route to host")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(FileNotFoundError, match="download through torchvision failed") as info:
        find_fashion_mnist("test", download=True)
    assert len(calls) == 1 and calls[0][1]["download"] is True and calls[0][1]["train"] is False
    assert "no route to host" in str(info.value)
    _check_helpful(info.value, [data_mod.fashion_cache_dir()])
    assert isinstance(info.value, ValueError)


def test_data_command_says_where_or_why_not(fashion_dir, no_default_dirs, monkeypatch, capsys):
    """`python -m ddpm_helpers.cli.data --no-download` (make data, Binder): exit 0 and the folder when the files
    are there; exit 1 and the explanation (the folders it looked in) when they are nowhere."""
    monkeypatch.setenv("DDPM_DATA_DIR", str(no_default_dirs / "nothing_here"))
    assert main(["--no-download"]) == 1
    out = capsys.readouterr().out
    assert "FashionMNIST train files not found" in out and str(data_mod.DEBIAN_DIR) in out
    env = _link_files(fashion_dir, no_default_dirs / "env")
    monkeypatch.setenv("DDPM_DATA_DIR", str(env))
    assert main(["--no-download"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"FashionMNIST {s}: {env}" for s in ("train", "test")]


def _write_idx(path: Path, array: np.ndarray) -> None:
    import gzip

    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_files_are_decoded_once_and_again_when_they_change(tmp_path, monkeypatch):
    """The decoded IDX arrays are kept per file version: a second load does not gunzip again (and its tensors
    are the caller's own copies), and a file replaced in place is read anew."""
    import gzip

    path = tmp_path / "toy-images-idx3-ubyte.gz"
    _write_idx(path, np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256)
    first = data_mod._read_idx(path)
    assert first.shape == (2, 28, 28) and first[0, 0, 5] == 5 and not first.flags.writeable
    monkeypatch.setattr(gzip, "open", lambda *a, **k: pytest.fail("gunzipped a file already decoded"))
    assert data_mod._read_idx(path) is first
    monkeypatch.undo()
    _write_idx(path, np.full((3, 28, 28), 7))
    os.utime(path, ns=(1, 1))  # a different version, even on a file system with coarse times
    again = data_mod._read_idx(path)
    assert again.shape == (3, 28, 28) and (again == 7).all()


def test_loaded_images_are_the_callers_own(fashion_dir):
    x, _ = load_fashion_mnist("test", n=2)
    x.fill_(5.0)
    y, _ = load_fashion_mnist("test", n=2)
    assert y.abs().max() <= 1.0
