"""Colab: the first code cell of every notebook makes it run there, and does nothing locally.

The cell (``ddpm_helpers.cli.editions.COLAB_SETUP_SOURCE``, tagged ``colab-setup``) installs
``ddpm_helpers`` from GitHub when it is not importable and says how to pick a GPU runtime. The tests
run it in a real IPython shell with the ``%pip`` magic replaced by a recorder: locally it must not
call pip; with ``ddpm_helpers`` unimportable (as in a fresh Colab runtime) it must call pip once,
with an installable requirement for this package. No other cell holds Colab-only code.
"""
from __future__ import annotations

import re
import sys
import tomllib
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from ddpm_helpers.cli.editions import COLAB_SETUP_SOURCE, COLAB_TAG

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_NAMES = ["01_forward_process.ipynb", "02_closed_form.ipynb", "03_moons_denoiser.ipynb",
                  "04_unet_fashion_mnist.ipynb", "05_elbo_to_mse.ipynb", "06_ddim.ipynb", "07_guidance.ipynb"]
# both editions: the instructor's notebooks/ and the committed student/ (what the badges open)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "student").glob("*.ipynb"))
IDS = [f"{p.parent.name}/{p.stem}" for p in NOTEBOOKS]
# Students click the badges: they open the student edition (exercises unsolved)
COLAB_URL = "https://colab.research.google.com/github/ddpm-from-first-principles/ddpm-notebooks/blob/main/student/{}"
COLAB_ONLY = re.compile(r"google\.colab|^\s*[%!]\s*pip\b|^\s*!\s*(apt|apt-get)\b|/content/", re.MULTILINE)


def _code_cells(path: Path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_series_is_complete():
    for folder in ("notebooks", "student"):
        missing = [n for n in NOTEBOOK_NAMES if not (ROOT / folder / n).exists()]
        assert not missing, f"notebooks missing from {folder}/: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_code_cell_is_the_colab_setup_cell(path):
    first = _code_cells(path)[0]
    assert first.source.strip() == COLAB_SETUP_SOURCE.strip(), (
        f"{path.name}: the first code cell must be exactly ddpm_helpers.cli.editions.COLAB_SETUP_SOURCE; got:\n"
        f"{first.source}")
    assert COLAB_TAG in first.get("metadata", {}).get("tags", []), f"{path.name}: tag the first code cell {COLAB_TAG!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_colab_only_code_elsewhere(path):
    for i, cell in enumerate(_code_cells(path)[1:], start=1):
        hit = COLAB_ONLY.search(cell.source)
        assert hit is None, f"{path.name}, code cell {i}: Colab-only code {hit.group(0)!r} outside the setup cell"


def test_no_colab_only_code_in_the_package():
    for path in sorted((ROOT / "ddpm_helpers").glob("*.py")):
        text = path.read_text()
        assert "google.colab" not in text, f"{path.name} imports google.colab: keep Colab to the notebooks' setup cell"


# -- executing the cell in a real IPython shell ------------------------------------------------------

@contextmanager
def ipython_with_pip_recorder():
    """A fresh IPython shell whose %pip only records its arguments; sys hooks restored afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    saved = sys.displayhook, sys.excepthook
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    calls = []
    shell.register_magic_function(lambda line: calls.append(line), magic_kind="line", magic_name="pip")
    try:
        yield shell, calls
    finally:
        InteractiveShell.clear_instance()
        sys.displayhook, sys.excepthook = saved


def test_setup_cell_does_nothing_locally():
    with ipython_with_pip_recorder() as (shell, calls):
        result = shell.run_cell(COLAB_SETUP_SOURCE)
        assert result.success, f"the setup cell raised {result.error_in_exec!r}"
        assert calls == [], f"the setup cell called pip although ddpm_helpers is importable: {calls}"
        assert shell.user_ns["ddpm_helpers"].__name__ == "ddpm_helpers"


def test_setup_cell_installs_the_package_where_it_is_missing(monkeypatch):
    # As in a fresh Colab runtime: `import ddpm_helpers` raises ImportError.
    monkeypatch.setitem(sys.modules, "ddpm_helpers", None)
    with ipython_with_pip_recorder() as (shell, calls):
        result = shell.run_cell(COLAB_SETUP_SOURCE)
        assert result.success, f"the setup cell raised {result.error_in_exec!r}"
    assert len(calls) == 1, f"expected exactly one %pip call, got {calls}"
    args = calls[0].split(maxsplit=1)
    assert args[0] == "install", calls[0]
    spec = re.search(r'"([^"]+)"', calls[0]).group(1)
    from packaging.requirements import Requirement

    req = Requirement(spec)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert req.name == project["name"], f"%pip installs {req.name!r}, the package is {project['name']!r}"
    assert req.url == "git+https://github.com/ddpm-from-first-principles/ddpm-notebooks", req.url


def test_setup_cell_says_how_to_pick_a_gpu():
    assert re.search(r"Runtime\s*>\s*Change runtime type.*GPU", COLAB_SETUP_SOURCE)


def test_readme_has_an_open_in_colab_badge_per_notebook():
    readme = (ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else ""
    missing = [n for n in NOTEBOOK_NAMES if COLAB_URL.format(n) not in readme]
    assert not missing, f"README.md lacks an 'Open in Colab' badge linking to {[COLAB_URL.format(n) for n in missing]}"
    instructor = COLAB_URL.replace("/student/", "/notebooks/")
    assert not any(instructor.format(n) in readme for n in NOTEBOOK_NAMES), \
        "a Colab badge opens the instructor edition (solutions filled in); point it at student/"
    assert readme.count("colab-badge.svg") >= len(NOTEBOOK_NAMES), "README.md: one Colab badge image per notebook"
