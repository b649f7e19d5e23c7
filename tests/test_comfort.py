"""Comfort: progress bars that work in notebooks, and run times stated up front.

* Every module of ddpm_helpers that shows a progress bar takes it from ``tqdm.auto`` (a widget bar in
  Jupyter, a text bar in a terminal), never plain ``tqdm`` or ``tqdm.notebook``; so do the notebooks.
* Every notebook's introduction (its first markdown cell) says how long it runs on CPU and on GPU.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "ddpm_helpers").rglob("*.py"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WRONG_TQDM = re.compile(r"^\s*(from\s+tqdm\s+import|import\s+tqdm\b|from\s+tqdm\.(notebook|std|cli)\s+import)|"
                        r"\btqdm\.(tqdm|notebook|trange)\b", re.MULTILINE)
DURATION = re.compile(r"\d+(\.\d+)?\s*(s|sec|secs|seconds?|min|mins|minutes?|h|hours?)\b", re.IGNORECASE)


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_progress_bars_come_from_tqdm_auto(path):
    text = path.read_text()
    if "tqdm" not in text:
        return
    wrong = WRONG_TQDM.search(text)
    assert wrong is None, f"ddpm_helpers/{path.name}: {wrong.group(0).strip()!r}; use `from tqdm.auto import tqdm`"
    assert re.search(r"^\s*from tqdm\.auto import (tqdm|trange)", text, re.MULTILINE), \
        f"ddpm_helpers/{path.name} mentions tqdm but does not import it from tqdm.auto"


def test_the_samplers_and_the_training_loop_show_progress():
    for name in ("sampling.py", "training.py"):
        assert "from tqdm.auto import tqdm" in (ROOT / "ddpm_helpers" / "core" / name).read_text(), \
            f"ddpm_helpers/{name}: its long loops need a tqdm.auto progress bar"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_use_tqdm_auto_only(path):
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "code":
            wrong = WRONG_TQDM.search(cell.source)
            assert wrong is None, f"{path.name} cell {i}: {wrong.group(0).strip()!r}; use tqdm.auto"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_intro_states_cpu_and_gpu_run_times(path):
    nb = nbformat.read(path, as_version=4)
    intro = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    missing = [w for w in ("CPU", "GPU") if w not in intro]
    assert not missing, f"{path.name}: the first markdown cell does not mention {missing} (state the run time on each)"
    assert DURATION.search(intro), f"{path.name}: the first markdown cell states no run time (e.g. '3 min')"
