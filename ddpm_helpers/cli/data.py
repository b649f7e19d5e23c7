"""``python -m ddpm_helpers.cli.data [--no-download]``: find (or download) FashionMNIST and say where.

``make data`` and Binder's postBuild run it; the finding itself is ``ddpm_helpers.core.data``.
"""
from __future__ import annotations

import argparse

from ..core.data import DatasetNotFoundError, find_fashion_mnist

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m ddpm_helpers.cli.data [--no-download]``: find (or download) FashionMNIST and say where.

    Exit status 1 (with the explanation) when the files are nowhere; ``make data`` then installs
    Debian's ``dataset-fashion-mnist`` where it can, before trying the download.
    """
    p = argparse.ArgumentParser(prog="python -m ddpm_helpers.cli.data", description=main.__doc__.splitlines()[0])
    p.add_argument("--no-download", action="store_true", help="only look in the known folders")
    args = p.parse_args(argv)
    try:
        for split in ("train", "test"):
            images, _ = find_fashion_mnist(split, download=not args.no_download)
            print(f"FashionMNIST {split}: {images.parent}")
    except DatasetNotFoundError as e:
        print(e)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
