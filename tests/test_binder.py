"""A class on a server: the repo2docker configuration in binder/ (mybinder.org, JupyterHub).

Checked offline (no image is built): the files exist, the requirements parse and cover the package's
runtime dependencies with the CPU build of torch, postBuild is an executable bash script that
installs ddpm_helpers and fetches the data, and the Python version fits the package.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def _requirements(path: Path) -> tuple[dict[str, Requirement], list[str]]:
    """(name -> Requirement, option lines) of a pip requirements file."""
    reqs, options = {}, []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.append(line)
            continue
        req = Requirement(line)  # raises InvalidRequirement on a malformed line
        reqs[canonicalize_name(req.name)] = req
    return reqs, options


def test_binder_files_exist():
    for name in ("requirements.txt", "postBuild", "runtime.txt"):
        assert (BINDER / name).is_file(), f"binder/{name} is missing"


def test_requirements_cover_the_package_with_cpu_torch():
    reqs, options = _requirements(BINDER / "requirements.txt")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}
    missing = needed - set(reqs)
    assert not missing, f"binder/requirements.txt lacks the package's dependencies {sorted(missing)}"
    for name in ("jupyterlab", "ipywidgets", "ipykernel"):
        assert name in reqs, f"binder/requirements.txt lacks {name}"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in options, \
        "binder/requirements.txt must take torch from the CPU index (a small image)"
    # the same caps as the main requirements, so Binder runs the release the series is tested with
    main, _ = _requirements(ROOT / "requirements.txt")
    for name in ("torch", "torchvision"):
        assert reqs[name].specifier == main[name].specifier, (
            f"binder/requirements.txt pins {name}{reqs[name].specifier}, requirements.txt {name}{main[name].specifier}")


def test_runtime_python_fits_the_package():
    text = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+\.\d+)", text)
    assert m, f"binder/runtime.txt must read python-X.Y, got {text!r}"
    requires = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert Version(m.group(1)) in requires, f"{text} does not satisfy requires-python {requires}"


def test_postbuild_installs_the_package_and_fetches_the_data():
    path = BINDER / "postBuild"
    assert os.access(path, os.X_OK), "binder/postBuild must be executable (chmod +x)"
    text = path.read_text()
    assert text.startswith("#!/bin/bash") or text.startswith("#!/usr/bin/env bash")
    assert "set -e" in text, "postBuild should stop at the first failing step"
    assert re.search(r"pip install .*-e \.(\s|$)", text), "postBuild must pip install -e . (ddpm_helpers)"
    assert "python -m ddpm_helpers.cli.data" in text, \
        "postBuild must fetch FashionMNIST (python -m ddpm_helpers.cli.data)"
    if shutil.which("bash"):
        r = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, f"binder/postBuild has a bash syntax error: {r.stderr}"


def test_no_conflicting_repo2docker_config():
    # repo2docker reads binder/ only and ignores top-level files when binder/ exists; an environment.yml
    # there would replace requirements.txt and drop the CPU torch index.
    assert not (BINDER / "environment.yml").exists()
    assert not (BINDER / "Dockerfile").exists(), "a Dockerfile makes repo2docker ignore every other file"


@pytest.mark.parametrize("name", ["01_forward_process.ipynb"])
def test_binder_link_opens_the_series(name):
    """Students land on the student edition (exercises unsolved), committed in student/."""
    readme = (ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else ""
    url = ("https://mybinder.org/v2/gh/ddpm-from-first-principles/ddpm-notebooks/HEAD"
           f"?urlpath=lab/tree/student/{name}")
    assert url in readme, f"README.md lacks the Binder link {url}"
    assert (ROOT / "student" / name).is_file(), f"the Binder link opens student/{name}, which is missing"
    assert "lab/tree/notebooks/" not in readme, "a Binder link opens the instructor edition (solutions filled in)"
