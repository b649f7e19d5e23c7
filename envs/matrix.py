"""The environment matrix: build each environment the README offers from its own spec, then run every notebook
top to bottom in it (quick mode) with each slider panel driven once.

    python envs/matrix.py                  # colab, binder and floors, one after the other
    python envs/matrix.py colab            # one of them
    python envs/matrix.py --rebuild binder # build it again from nothing

=========  =====================================================================================================
colab      Colab's runtime: the Python and the versions of the packages the series touches, read from Colab's
           published freeze (envs/colab/pip-freeze.txt, with its date), then the setup cell's own install command;
           fails if that install changes any preinstalled package.
binder     binder/requirements.txt (its pip option lines dropped: the PyTorch CPU index is not reachable
           offline, so torch is PyPI's build of the same release) on binder/runtime.txt's Python, then binder/postBuild.
floors     the oldest Python (pyproject's requires-python) with every dependency at the floor pyproject.toml claims.
=========  =====================================================================================================

The lab environment (.venv from requirements.txt) is the test suite itself (`make test`). This script runs in that
environment (it drives the kernels with nbclient); each environment is a virtualenv with an ipykernel, kept in
``$DDPM_ENV_DIR`` (default ~/.cache/ddpm_helpers/envs) under a digest of its spec, so a second run reuses it and a
changed spec builds a new one. The package is installed afresh on every run. Writes build/matrix/<env>.json: the
versions installed, the notebooks' wall times, the panels driven, the CPU.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import nbformat
from nbclient import NotebookClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
FREEZE = ROOT / "envs" / "colab" / "pip-freeze.txt"
BUILD_VERSION = "1"  # bump to rebuild every cached environment
# What the series touches in Colab: its dependencies, what it imports, the kernel and the widget stack.
COLAB_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "matplotlib", "tqdm", "platformdirs",
                  "pillow", "diffusers", "huggingface-hub", "safetensors", "ipywidgets", "widgetsnbextension",
                  "jupyterlab-widgets", "ipython", "ipykernel", "traitlets", "jupyter-client", "jupyter-core",
                  "notebook", "nbformat", "pyzmq", "tornado")
REPO_URL = "git+https://github.com/ddpm-from-first-principles/ddpm-notebooks"

# Appended to every notebook: move one control of every panel and check that its picture changes.
DRIVE_PANELS = r'''
import gc
from ddpm_helpers.ui.panels import Panel

def _another_value(w):
    options = getattr(w, "options", None)
    if options:  # Dropdown, ToggleButtons, SelectionSlider: labels or (label, value) pairs
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        return next((v for v in reversed(values) if v != w.value), None)
    if isinstance(w.value, bool):
        return not w.value
    if hasattr(w, "min") and hasattr(w, "max"):
        return w.max if w.value != w.max else w.min
    return None

def _alive_panels():
    """Every Panel alive in the kernel; a dead weak proxy among gc's objects raises on isinstance."""
    found = []
    for o in gc.get_objects():
        try:
            if isinstance(o, Panel):
                found.append(o)
        except ReferenceError:
            continue
    return found

_driven = 0
# every panel alive in the kernel (tests/test_envs.py passes its own in __panels)
for _panel in globals().get("__panels") or _alive_panels():
    _before, _moved = _panel.image(), []
    for _name, _w in _panel.controls.items():
        _new = _another_value(_w)
        if _new is None:
            continue
        _old, _w.value = _w.value, _new
        _moved.append(f"{_name}: {_old!r} -> {_new!r}")
        _after = _panel.image()
        if _after.shape != _before.shape or (_after != _before).any():
            break
    else:
        raise AssertionError(f"no control of this panel changed its picture ({'; '.join(_moved)})")
    _driven += 1
import ipywidgets
print(f"DRIVEN_PANELS {_driven} ipywidgets {ipywidgets.__version__}")
'''


def log(msg: str) -> None:
    print(f"[matrix {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    log("$ " + " ".join(shlex.quote(str(c)) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def find_python(version: str) -> Path:
    """The interpreter for ``version`` ("3.13"): pyenv's newest X.Y.Z, else a working pythonX.Y on PATH."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted((p for p in root.glob(f"{version}.*/bin/python{version}")
                         if re.fullmatch(r"\d+\.\d+\.\d+", p.parts[-3])), key=lambda p: Version(p.parts[-3]))
    if candidates:
        return candidates[-1]
    found = shutil.which(f"python{version}")  # a pyenv shim of an inactive version exits 127: try it first
    if found and subprocess.run([found, "-V"], capture_output=True).returncode == 0:
        return Path(found)
    raise SystemExit(f"Python {version} not found (neither pyenv's {root}/{version}.* nor python{version} on PATH):"
                     f" install it, e.g. `pyenv install {version}`")


def read_freeze(path: Path) -> tuple[str, dict[str, str]]:
    """(Python version, name -> version) of a pip freeze file; `name @ url-of-a-wheel` lines give the wheel's
    version without its local label (Colab's torch 2.11.0+cpu comes from the PyTorch index; PyPI's 2.11.0 is the
    same release). The Python version is read from a ``# python: X.Y`` line."""
    python, pins = None, {}
    for line in path.read_text().splitlines():
        if m := re.fullmatch(r"#\s*python:\s*(\d+\.\d+)\s*", line):
            python = m.group(1)
        line = line.split("#", 1)[0].strip()
        if m := re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line):
            pins[canonicalize_name(m.group(1))] = m.group(2)
        elif m := re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*@\s*\S+/([^/]+\.whl)\S*", line):
            version = unquote(m.group(2)).split("-")[1]
            pins[canonicalize_name(m.group(1))] = version.split("+")[0]
    if python is None:
        raise SystemExit(f"{path} has no '# python: X.Y' line saying which Python the freeze is for")
    return python, pins


def installed(python: Path) -> dict[str, str]:
    """name -> version of every distribution in the environment of ``python``."""
    out = subprocess.run([str(python), "-I", "-c", "import importlib.metadata as m, json; print(json.dumps("
                          "{d.metadata['Name']: d.version for d in m.distributions()}))"],
                         check=True, capture_output=True, text=True, cwd=tempfile.gettempdir()).stdout
    return {canonicalize_name(k): v for k, v in json.loads(out).items()}


def setup_cell_install(target: str) -> list[str]:
    """The pip arguments of the notebooks' Colab setup cell, the repository URL replaced by ``target``."""
    commands = set()
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        cell = next(c for c in nb.cells if "colab-setup" in c.metadata.get("tags", []))
        commands |= {m.group(1).strip() for m in re.finditer(r"^\s*%pip install (.+)$", cell.source, re.M)}
    if len(commands) != 1:
        raise SystemExit(f"the notebooks' setup cells should share one %pip install command, found {sorted(commands)}")
    args = shlex.split(commands.pop())
    replaced = [a.replace(f"ddpm_helpers @ {REPO_URL}", f"ddpm_helpers @ {target}") for a in args]
    if replaced == args:
        raise SystemExit(f"the setup cell's install command {args} does not name {REPO_URL}")
    return replaced


class Env:
    """One environment of the matrix: ``spec()`` is the text its digest is taken of; ``build(venv)`` creates it;
    ``install_package(python)`` installs ddpm_helpers the way users of that environment do."""

    name = ""
    python_version = ""

    def spec(self) -> str:
        raise NotImplementedError

    def build(self, venv: Path) -> None:
        raise NotImplementedError

    def install_package(self, python: Path) -> dict:
        raise NotImplementedError

    def venv(self, cache: Path) -> Path:
        digest = hashlib.sha256(f"{BUILD_VERSION}\n{self.python_version}\n{self.spec()}".encode()).hexdigest()[:12]
        return cache / f"{self.name}-py{self.python_version}-{digest}"


class Colab(Env):
    name = "colab"

    def __init__(self):
        self.python_version, self.pins = read_freeze(FREEZE)
        missing = [p for p in COLAB_PACKAGES if p not in self.pins]
        if missing:
            raise SystemExit(f"{FREEZE} has no version of {missing}")

    def spec(self) -> str:
        return FREEZE.read_text() + "\n".join(COLAB_PACKAGES)

    def build(self, venv: Path) -> None:
        py = venv / "bin" / "python"
        constraints = venv / "colab-constraints.txt"
        # Every other package at Colab's version too, but for the CUDA libraries: Colab's CPU runtime has the +cpu
        # torch from the PyTorch index (unreachable here), PyPI's build of the same release brings its own.
        cuda = re.compile(r"(nvidia-|cuda-|triton$)")
        constraints.write_text("".join(f"{k}=={v}\n" for k, v in sorted(self.pins.items()) if not cuda.match(k)))
        if "pip" in self.pins:
            run([py, "-m", "pip", "install", "-q", f"pip=={self.pins['pip']}"])
        run([py, "-m", "pip", "install", "-q", "-c", constraints,
             *[f"{p}=={self.pins[p]}" for p in COLAB_PACKAGES]])

    def install_package(self, python: Path) -> dict:
        have = installed(python)
        wrong = {p: (have.get(p), self.pins[p]) for p in COLAB_PACKAGES
                 if have.get(p) is None or Version(have[p]).public != Version(self.pins[p]).public}
        if wrong:
            raise SystemExit(f"colab: the environment does not match Colab's freeze: {wrong}")
        cmd = setup_cell_install(f"file://{ROOT}")
        run([python, "-m", "pip", "install", *cmd])  # what %pip runs: the kernel's own python -m pip
        after = installed(python)
        changed = {p: (v, after.get(p)) for p, v in have.items() if after.get(p) != v}
        added = sorted(set(after) - set(have))
        if changed:
            raise SystemExit("colab: the setup cell's install changed preinstalled packages (in Colab: a restart, and "
                             f"versions Colab's frontend may not support): {changed}")
        log(f"colab: the setup cell's install changed no preinstalled package; it added {added}")
        return {"setup_cell": cmd, "added": added}


class Binder(Env):
    name = "binder"

    def __init__(self):
        text = (ROOT / "binder" / "runtime.txt").read_text().strip()
        self.python_version = re.fullmatch(r"python-(\d+\.\d+)", text).group(1)

    def requirements(self) -> str:
        lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
        return "\n".join(line for line in lines if not line.strip().startswith("-")) + "\n"

    def spec(self) -> str:
        return self.requirements()

    def build(self, venv: Path) -> None:
        reqs = venv / "binder-requirements.txt"
        reqs.write_text(self.requirements())
        run([venv / "bin" / "python", "-m", "pip", "install", "-q", "-r", reqs])

    def install_package(self, python: Path) -> dict:
        env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
        run(["bash", ROOT / "binder" / "postBuild"], cwd=ROOT, env=env)
        return {"postBuild": "binder/postBuild"}


class Floors(Env):
    name = "floors"

    def __init__(self):
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        self.python_version = re.fullmatch(r">=\s*(\d+\.\d+)", project["requires-python"]).group(1)
        self.floors = {}
        for dep in project["dependencies"]:
            req = Requirement(dep)
            lows = [s.version for s in req.specifier if s.operator == ">="]
            if not lows:
                raise SystemExit(f"pyproject.toml: {dep} states no floor (>=)")
            self.floors[canonicalize_name(req.name)] = lows[0]

    def spec(self) -> str:
        return json.dumps(self.floors, sort_keys=True)

    def build(self, venv: Path) -> None:
        # the floors, and a kernel to run the notebooks in (ipykernel's own newest release for this Python)
        run([venv / "bin" / "python", "-m", "pip", "install", "-q",
             *[f"{k}=={v}" for k, v in self.floors.items()], "ipykernel"])

    def install_package(self, python: Path) -> dict:
        have = installed(python)
        constraints = Path(tempfile.mkdtemp()) / "floors.txt"
        constraints.write_text("".join(f"{k}=={v}\n" for k, v in self.floors.items()))
        run([python, "-m", "pip", "install", "-q", "-c", constraints, str(ROOT)])
        after = installed(python)
        changed = {p: (v, after.get(p)) for p, v in have.items() if after.get(p) != v}
        if changed:
            raise SystemExit(f"floors: installing the package moved packages off their floors: {changed}")
        return {"floors": self.floors}


class Lab(Env):
    """The lab environment this script runs in (.venv from requirements.txt): nothing to build. Not in the default
    list, since `make test` runs the notebooks there; `envs/matrix.py lab` times them under the thread policy a
    student gets (no DDPM_THREADS) with the panels driven, as for the other environments."""
    name = "lab"

    def __init__(self):
        self.python_version = f"{sys.version_info.major}.{sys.version_info.minor}"

    def spec(self) -> str:
        return ""

    def install_package(self, python: Path) -> dict:
        return {"editable": "make install"}


ENVS = {"colab": Colab, "binder": Binder, "floors": Floors, "lab": Lab}
DEFAULT_ENVS = ["colab", "binder", "floors"]


def prepare(env: Env, cache: Path, rebuild: bool) -> Path:
    """The environment's python, built from its spec unless a finished build of the same spec is cached."""
    if env.name == "lab":
        return Path(sys.executable)
    venv = env.venv(cache)
    if rebuild or not (venv / ".built").exists():
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        run([find_python(env.python_version), "-m", "venv", venv])
        env.build(venv)
        (venv / ".built").write_text(f"built in {time.perf_counter() - t0:.0f} s\n")
        log(f"{env.name}: built {venv} in {time.perf_counter() - t0:.0f} s")
    else:
        log(f"{env.name}: reusing {venv} ({(venv / '.built').read_text().strip()})")
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "ddpm_helpers"], check=False,
                   capture_output=True)
    return python


def kernel_spec(python: Path, name: str, where: Path) -> str:
    """A kernelspec named ddpm-<name> for ``python`` under ``where``/kernels (put on JUPYTER_PATH)."""
    kernel = f"ddpm-{name}"
    folder = where / "kernels" / kernel
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"ddpm {name}", "language": "python"}))
    return kernel


def run_notebook(path: Path, kernel: str, timeout: int) -> dict:
    """Execute ``path`` top to bottom in ``kernel`` with the panel driver appended; its wall time and panels."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(DRIVE_PANELS))
    client = NotebookClient(nb, kernel_name=kernel, timeout=timeout, resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - t0
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    if "IProgress not found" in stderr:  # tqdm.auto fell back to a text bar: the widget stack is broken
        raise RuntimeError(f"{path.name}: tqdm found no working ipywidgets (IProgress not found)")
    widgets = sum("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    m = re.search(r"DRIVEN_PANELS (\d+) ipywidgets (\S+)", text)
    setup = next((c for c in nb.cells if c.cell_type == "code" and "setup_notebook(" in c.source), None)
    printed = "".join(o.get("text", "") for o in setup.get("outputs", [])) if setup is not None else ""
    threads = re.search(r"CPU threads: (\d+(?: \([^)]*\))?)", printed)
    return {"seconds": round(seconds, 1), "panels": int(m.group(1)), "widget_views": widgets, "ipywidgets": m.group(2),
            "threads": threads.group(1).strip() if threads else None}


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = re.search(r"Model name:\s*(.+)", out).group(1).strip()
        cpus = re.search(r"^CPU\(s\):\s*(\d+)", out, re.M).group(1)
        return f"{model}, {cpus} CPUs"
    except (OSError, AttributeError):
        return platform.processor() or platform.machine()


def _timed_notebook(task: tuple[str, Path, str, int]) -> tuple[str, str, dict]:
    """One (environment, notebook) run in a worker process: its result, or the error of the cell that failed."""
    name, nb, kernel, timeout = task
    try:
        return name, nb.name, run_notebook(nb, kernel, timeout)
    except Exception as e:  # a cell failed: report it and go on with the others
        return name, nb.name, {"error": f"{type(e).__name__}: {str(e)[-3000:]}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("envs", nargs="*", default=DEFAULT_ENVS,
                    help=f"which of {list(ENVS)} (default: {DEFAULT_ENVS})")
    ap.add_argument("--rebuild", action="store_true", help="build the environments again from nothing")
    ap.add_argument("--notebooks", default="*", help="glob of the notebooks to run (default: all)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    ap.add_argument("--jobs", type=int, default=1,
                    help="environments built and notebooks run at once (default 1: each notebook alone, under the "
                         "thread policy a student gets; with more, each kernel gets DDPM_THREADS=1)")
    args = ap.parse_args(argv)
    unknown = [e for e in args.envs if e not in ENVS]
    if unknown:
        ap.error(f"unknown environment(s) {unknown}; choose from {list(ENVS)}")
    if args.jobs < 1:
        ap.error(f"--jobs must be a positive integer, got {args.jobs}")
    os.environ.setdefault("DDPM_QUICK", "1")
    if args.jobs > 1:
        os.environ["DDPM_THREADS"] = "1"  # the kernels share the cores instead of each taking all of them
    cache = Path(os.environ.get("DDPM_ENV_DIR", Path.home() / ".cache" / "ddpm_helpers" / "envs"))
    out_dir = ROOT / "build" / "matrix"
    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks = sorted((ROOT / "notebooks").glob(f"{args.notebooks}.ipynb"))
    t_start = time.perf_counter()
    envs = {name: ENVS[name]() for name in args.envs}
    # 1. the environments, built at once (pip's downloads and unpacking), then the package installed into each in
    #    turn (two in-tree builds of the same checkout must not overlap)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        pythons = dict(zip(envs, pool.map(lambda env: prepare(env, cache, args.rebuild), envs.values())))
    installs, build_s = {}, {}
    for name, env in envs.items():
        try:
            installs[name] = env.install_package(pythons[name])
        except SystemExit:
            shutil.rmtree(env.venv(cache), ignore_errors=True)  # no longer the spec's environment
            raise
        build_s[name] = round(time.perf_counter() - t_start, 1)
    jupyter_path = Path(tempfile.mkdtemp(prefix="ddpm-kernels-"))
    os.environ["JUPYTER_PATH"] = f"{jupyter_path}{os.pathsep}{os.environ.get('JUPYTER_PATH', '')}"
    kernels = {name: kernel_spec(pythons[name], name, jupyter_path) for name in envs}
    # 2. every notebook in every environment, --jobs at a time, each in a fresh kernel
    tasks = [(name, nb, kernels[name], args.timeout) for name in envs for nb in notebooks]
    results: dict[str, dict] = {name: {} for name in envs}
    failed = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for name, nb_name, result in pool.map(_timed_notebook, tasks):
            results[name][nb_name] = result
            if "error" in result:
                failed.append(f"{name}/{nb_name}")
                log(f"{name}: {nb_name} FAILED\n{result['error']}")
            else:
                log(f"{name}: {nb_name} {result}")
    for name, python in pythons.items():
        versions = installed(python)
        record = {"env": name, "python": subprocess.run([str(python), "-V"], capture_output=True,
                                                        text=True).stdout.strip(),
                  "cpu": cpu_model(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "jobs": args.jobs, "threads_env": os.environ.get("DDPM_THREADS"),
                  "build_and_install_s": build_s[name], "install": installs[name], "notebooks": results[name],
                  "versions": {p: versions.get(p) for p in (*COLAB_PACKAGES, "ddpm-helpers") if p in versions}}
        (out_dir / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        log(f"{name}: " + ", ".join(f"{k[:2]} {v.get('seconds', 'FAILED')} s" for k, v in results[name].items()))
    log(f"matrix done in {time.perf_counter() - t_start:.0f} s")
    if failed:
        log(f"FAILED: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
