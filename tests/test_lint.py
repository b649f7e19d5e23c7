"""Lint: ``ruff check`` with the rules in pyproject.toml ([tool.ruff]) passes on the package, the tests,
the benchmarks and the notebooks.

The rules: pyflakes (unused imports and variables, undefined names), pycodestyle (line length 120),
bugbear (likely bugs), pyupgrade, and banned APIs: progress bars come from ``tqdm.auto`` only (a widget
bar in Jupyter, a text bar in a terminal), never plain ``tqdm``, ``tqdm.notebook`` or ``tqdm.std``.
``ruff check --fix`` repairs some findings by itself. The banned-API rule is itself tested on snippets,
so a configuration that stopped catching ``from tqdm import tqdm`` would fail.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINTED = ["ddpm_helpers", "tests", "benchmarks", "envs", "notebooks"]


def _ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m ruff`` from the repository root (so pyproject.toml's [tool.ruff] applies)."""
    if importlib.util.find_spec("ruff") is None:  # the PyPI package ships the ruff binary
        pytest.fail("ruff is not installed: pip install '.[test]' (or make install)", pytrace=False)
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, input=stdin, capture_output=True,
                          text=True, timeout=120)


def test_ruff_check_passes():
    r = _ruff("check", "--no-cache", "--output-format", "concise", *LINTED)
    if r.returncode != 0:
        pytest.fail(f"ruff check found problems (`ruff check --fix` repairs some of them):\n{r.stdout}{r.stderr}",
                    pytrace=False)


@pytest.mark.parametrize("source, banned", [
    ("from tqdm import tqdm\n", "tqdm.tqdm"),
    ("from tqdm import trange\n", "tqdm.trange"),
    ("import tqdm\n\ntqdm.tqdm(range(3))\n", "tqdm.tqdm"),
    ("from tqdm.notebook import tqdm\n", "tqdm.notebook"),
    ("import tqdm.notebook\n", "tqdm.notebook"),
    ("from tqdm.std import tqdm\n", "tqdm.std"),
    ("from tqdm.auto import tqdm, trange\n", None),
])
def test_progress_bars_must_come_from_tqdm_auto(source, banned):
    # the snippet is linted as if it were a module of the package, with the project's configuration
    r = _ruff("check", "--no-cache", "--output-format", "concise", "--select", "TID251",
              "--stdin-filename", "ddpm_helpers/core/_lint_probe.py", "-", stdin=source)
    if banned is None:
        assert r.returncode == 0, f"ruff rejects {source!r}:\n{r.stdout}{r.stderr}"
    else:
        assert r.returncode == 1 and f"`{banned}` is banned" in r.stdout, \
            f"ruff does not ban {source!r} (pyproject.toml [tool.ruff.lint.flake8-tidy-imports]):\n{r.stdout}{r.stderr}"
