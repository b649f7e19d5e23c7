r"""Where the series keeps files: the repository when run from a clone, a user cache otherwise.

From a clone (``git clone`` + ``pip install -e .``) the FashionMNIST cache is the repository's
``data/`` folder and the notebooks are ``notebooks/``. Installed as a package (the Colab cell's
``pip install git+...``, a wheel), the package sits in site-packages, so caches go to the
platform's user cache directory (``platformdirs.user_cache_dir("ddpm_helpers")``:
``~/.cache/ddpm_helpers`` on Linux, ``~/Library/Caches/ddpm_helpers`` on macOS,
``%LOCALAPPDATA%\ddpm_helpers\Cache`` on Windows). ``$DDPM_CACHE_DIR`` overrides both.
The shipped weights (:data:`WEIGHTS_DIR`, ``ddpm_helpers/weights/``) travel inside the package either way.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "NOTEBOOKS_DIR", "WEIGHTS_DIR", "is_clone", "cache_dir", "build_dir", "notebooks_dir",
           "notebook_paths"]

REPO_ROOT = Path(__file__).resolve().parents[2]
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"  # the shipped weights: inside the package, always
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"  # a clone's notebooks (notebooks_dir() checks that they are there)


def is_clone(root: Path | None = None) -> bool:
    """True when the package runs from a checkout of the repository (not from site-packages)."""
    root = REPO_ROOT if root is None else root
    return (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir()


def cache_dir() -> Path:
    """The folder for downloaded data: ``$DDPM_CACHE_DIR``, else the clone's ``data/``, else the
    user cache directory (see the module docstring). Not created here."""
    if os.environ.get("DDPM_CACHE_DIR", "").strip():
        return Path(os.environ["DDPM_CACHE_DIR"]).expanduser()
    if is_clone():
        return REPO_ROOT / "data"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ddpm_helpers"))


def notebooks_dir() -> Path:
    """The clone's ``notebooks/`` folder; a ValueError that says what to do when installed."""
    if not NOTEBOOKS_DIR.is_dir():
        raise ValueError(f"the notebooks are not installed with the package (it runs from {REPO_ROOT}); "
                         "clone the repository, or pass the folder of the notebooks explicitly (--src)")
    return NOTEBOOKS_DIR


def notebook_paths(src_dir: str | Path, names: list[str] | None = None) -> list[Path]:
    """The ``.ipynb`` files in ``src_dir``, sorted; only those in ``names`` (file names or stems) when given.

    A ValueError names ``src_dir`` when it holds no notebook, and the unknown ``names`` with the allowed ones.
    """
    paths = sorted(Path(src_dir).glob("*.ipynb"))
    if not paths:
        raise ValueError(f"src_dir={str(src_dir)!r} holds no .ipynb notebooks; expected the series' notebooks/ folder")
    if names is None:
        return paths
    known = {p.name for p in paths} | {p.stem for p in paths}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"names={unknown!r} are not notebooks in {src_dir}; allowed: {sorted(p.name for p in paths)}")
    return [p for p in paths if p.name in names or p.stem in names]


def build_dir() -> Path:
    """Where the instructor tools write (slides, vendored reveal.js/MathJax): a clone's ``build/``,
    else ``cache_dir()/build`` (never inside site-packages). Not created here."""
    return REPO_ROOT / "build" if is_clone() else cache_dir() / "build"
