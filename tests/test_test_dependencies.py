"""`pip install ".[test]"` installs everything the test suite needs, and requirements.txt agrees.

Every third-party module a test imports (at the top, inside a function, through ``pytest.importorskip``)
or runs (``python -m X``) must come from a distribution the package or its ``test`` extra names
directly, and the pytest plugins that pyproject's addopts use (``-n``: pytest-xdist, ``--nbval-*``:
nbval) must be in the extra. requirements.txt (what ``make install`` uses) lists every one of them too.
"""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# the package, the tests' own modules and the benchmark scripts (tests import those from benchmarks/)
FIRST_PARTY = ({"ddpm_helpers", "conftest"} | {p.stem for p in (ROOT / "tests").glob("test_*.py")}
               | {p.stem for p in (ROOT / "benchmarks").glob("*.py")})


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _requirements_txt() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return _names([s for s in (line.split(" #", 1)[0].strip() for line in lines) if s and s[0] not in "#-"])


def _modules_the_tests_use() -> dict[str, set[str]]:
    """Top-level third-party module -> the test files that import or run it."""
    used: dict[str, set[str]] = {}
    for path in sorted((ROOT / "tests").glob("*.py")):
        source = path.read_text()
        names = re.findall(r'"-m",\s*"([\w.]+)"', source) + re.findall(r'importorskip\(\s*"([\w.]+)"', source)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.append(node.module)
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                used.setdefault(top, set()).add(path.name)
    return used


def test_the_test_extra_covers_every_module_the_tests_use():
    declared = _names(PROJECT["dependencies"]) | _names(PROJECT["optional-dependencies"]["test"])
    distributions = packages_distributions()
    used = _modules_the_tests_use()
    assert {"torch", "pytest", "nbformat"} <= set(used), f"the import scan found too little: {sorted(used)}"
    missing = {}
    for module, files in sorted(used.items()):
        provided_by = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not provided_by & declared:
            missing[module] = (sorted(provided_by) or "not installed", sorted(files))
    assert not missing, f"tests use modules that pyproject.toml's dependencies and [test] extra do not name: {missing}"


def test_the_test_extra_has_the_pytest_plugins_of_addopts():
    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    extra = _names(PROJECT["optional-dependencies"]["test"])
    for flag, plugin in (("-n ", "pytest-xdist"), ("--nbval", "nbval")):
        if flag in addopts:
            assert plugin in extra, f"pytest's addopts use {flag.strip()} ({plugin}), which the [test] extra lacks"


def test_requirements_txt_installs_the_test_extra():
    missing = _names(PROJECT["optional-dependencies"]["test"]) - _requirements_txt()
    assert not missing, f"requirements.txt (make install) lacks the [test] extra's {sorted(missing)}"
    missing = _names(PROJECT["dependencies"]) - _requirements_txt()
    assert not missing, f"requirements.txt lacks the package's dependencies {sorted(missing)}"
