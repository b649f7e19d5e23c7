"""Comfort: progress bars on the long loops, and run times stated up front.

* The samplers and the training loop show a progress bar, from ``tqdm.auto`` (a widget bar in Jupyter,
  a text bar in a terminal). That no module or notebook takes its bar from plain ``tqdm`` or
  ``tqdm.notebook`` is a lint rule (pyproject.toml [tool.ruff], banned APIs; tests/test_lint.py).
* Every notebook's introduction (its first markdown cell) says how long it runs on CPU and on GPU.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DURATION = re.compile(r"\d+(\.\d+)?\s*(s|sec|secs|seconds?|min|mins|minutes?|h|hours?)\b", re.IGNORECASE)


def test_the_samplers_and_the_training_loop_show_progress():
    for name in ("sampling.py", "training.py"):
        assert "from tqdm.auto import tqdm" in (ROOT / "ddpm_helpers" / "core" / name).read_text(), \
            f"ddpm_helpers/core/{name}: its long loops need a tqdm.auto progress bar"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_intro_states_cpu_and_gpu_run_times(path):
    nb = nbformat.read(path, as_version=4)
    intro = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    missing = [w for w in ("CPU", "GPU") if w not in intro]
    assert not missing, f"{path.name}: the first markdown cell does not mention {missing} (state the run time on each)"
    assert DURATION.search(intro), f"{path.name}: the first markdown cell states no run time (e.g. '3 min')"
