"""The environment matrix (envs/matrix.py): its specs parse, they describe what the README offers, and its panel
driver catches a panel whose picture does not follow its controls.

Building the environments and running the notebooks in them is `make matrix` (CI's .ci/run), not this file: these
tests are what can be checked in seconds, before that run.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from ddpm_helpers.ui.panels import Panel, int_slider

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("matrix", ROOT / "envs" / "matrix.py")
matrix = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(matrix)


def _dependencies() -> list[Requirement]:
    return [Requirement(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]


def test_colab_freeze_names_its_python_and_every_package_the_series_touches():
    python, pins = matrix.read_freeze(matrix.FREEZE)
    assert re.fullmatch(r"3\.\d+", python)
    missing = [p for p in matrix.COLAB_PACKAGES if p not in pins]
    assert not missing, f"envs/colab/pip-freeze.txt lacks {missing}"
    # URL lines (Colab's torch family comes from the PyTorch index) give the wheel's release, local label dropped
    assert Version(pins["torch"]).local is None
    assert re.search(r"backend-info.*\d{4}-\d{2}-\d{2}", matrix.FREEZE.read_text().splitlines()[0]), \
        "the freeze's first line must say where it comes from and its date"


def test_read_freeze_parses_pins_and_wheel_urls(tmp_path):
    path = tmp_path / "freeze.txt"
    path.write_text("# python: 3.12\nnumpy==2.1.3\nFoo_Bar==1.0\n"
                    "torch @ https://download.pytorch.org/whl/cpu/torch-2.11.0%2Bcpu-cp313-cp313-manylinux.whl\n"
                    "google-colab @ file:///colabtools/dist/google_colab-1.0.0.tar.gz\n")
    assert matrix.read_freeze(path) == ("3.12", {"numpy": "2.1.3", "foo-bar": "1.0", "torch": "2.11.0"})
    path.write_text("numpy==2.1.3\n")
    with pytest.raises(SystemExit, match="python: X.Y"):
        matrix.read_freeze(path)


def test_colab_versions_satisfy_the_package_so_its_install_changes_nothing():
    """What `make matrix colab` checks for real (pip's own resolution), as a quick static check: every dependency
    of the package accepts the version Colab has installed, so pip has nothing to upgrade or downgrade."""
    _, pins = matrix.read_freeze(matrix.FREEZE)
    for req in _dependencies():
        name = canonicalize_name(req.name)
        assert name in pins, f"Colab has no {name}: the setup cell would install it (add it to the freeze check)"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"pyproject.toml asks for {req}, Colab has {name}=={pins[name]}: the setup cell would change it")


def test_every_dependency_states_a_floor_and_no_upper_pin():
    for req in _dependencies():
        ops = {s.operator for s in req.specifier}
        assert ">=" in ops, f"{req}: state the oldest release the package is tested with (>=)"
        assert not ops & {"<", "<=", "==", "~=", "==="}, (
            f"{req}: an upper pin fights a host's preinstalled packages (Colab); limits of the lab environment "
            "belong in requirements.txt")
    floors = matrix.Floors()
    assert floors.python_version == "3.10"
    assert set(floors.floors) == {canonicalize_name(r.name) for r in _dependencies()}


def test_setup_cell_install_is_the_notebooks_command_with_the_local_checkout():
    args = matrix.setup_cell_install("file:///somewhere")
    assert "ddpm_helpers @ file:///somewhere" in args
    assert not any(matrix.REPO_URL in a for a in args)


def test_binder_spec_drops_only_the_option_lines():
    text = matrix.Binder().requirements()
    assert "--extra-index-url" not in text
    names = {canonicalize_name(Requirement(line.split(" #")[0]).name) for line in text.splitlines()
             if line.strip() and not line.startswith("#")}
    assert {"torch", "ipywidgets", "ipykernel", "diffusers"} <= names
    assert matrix.Binder().python_version == (ROOT / "binder" / "runtime.txt").read_text().strip().split("-")[1]


def test_spec_digests_follow_the_spec(tmp_path):
    env = matrix.Binder()
    a = env.venv(tmp_path)
    env.requirements = lambda: "numpy==1\n"
    assert env.venv(tmp_path) != a and env.venv(tmp_path).name.startswith("binder-py")


def _drive(panels: list[Panel]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(matrix.DRIVE_PANELS, "drive_panels", "exec"), {"__panels": panels})
    return out.getvalue()


def test_panel_driver_moves_a_control_and_sees_the_picture_change():
    def draw(fig, t):
        fig.clear()
        fig.add_subplot().bar([0], [t])
    panel = Panel({"t": int_slider("t", 3, 1, 9)}, draw, figsize=(2, 2), dpi=30)
    out = _drive([panel])
    n = int(re.search(r"DRIVEN_PANELS (\d+)", out).group(1))
    assert n >= 1 and panel.controls["t"].value == 9


def test_panel_driver_fails_on_a_panel_that_ignores_its_controls():
    def draw(fig, t):
        fig.clear()
        fig.add_subplot().bar([0], [1])
    panel = Panel({"t": int_slider("t", 3, 1, 9)}, draw, figsize=(2, 2), dpi=30)
    with pytest.raises(AssertionError, match="no control of this panel changed its picture"):
        _drive([panel])
    del panel


def test_ci_runs_the_suite_and_the_matrix():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make matrix" in ci
    assert re.search(r"^matrix:", (ROOT / "Makefile").read_text(), re.M)
