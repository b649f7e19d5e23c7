"""The package's layout is its architecture (README, "The package"): checked, not just drawn.

* layers: ``core`` imports nothing of ``ui``/``lessons``/``cli``; ``ui`` only ``core``; ``lessons`` no ``cli``;
  a lesson imports only the core, the ui and its own package (what two lessons share lives in the core or the ui);
* no import cycle between modules; no function-level import of a sibling module (the dependency graph is
  what the top of each file says); one ``__all__`` per module (no ``__all__ +=`` eras); one docstring;
* no module over 450 lines;
* ``import ddpm_helpers.core`` loads neither matplotlib nor ipywidgets (a script can use the core alone);
* every tensor the package creates with a torch factory names its device (STYLE.md: a tensor made on the
  default device meets the model's tensors on another device on a GPU; tests/test_devices.py catches the
  paths it runs, this catches the rest, e.g. exercise cases).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "ddpm_helpers"
MODULES = sorted(PKG.rglob("*.py"))
LAYERS = ["core", "ui", "lessons", "cli"]  # each may import the ones before it
LESSONS = ["forward", "moons", "unet", "elbo", "ddim", "guidance"]  # notebook order
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(path: Path, node: ast.ImportFrom) -> list[str]:
    """Absolute ddpm_helpers module names a ``from ... import`` refers to (its module, or its names when
    they are submodules)."""
    if node.level == 0:
        base = node.module or ""
    else:
        pkg = module_name(path).split(".")
        if path.name != "__init__.py":
            pkg = pkg[:-1]
        pkg = pkg[: len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([node.module] if node.module else []))
    if not base.startswith("ddpm_helpers"):
        return []
    out = [base]
    for a in node.names:
        sub = PKG.parent / Path(*f"{base}.{a.name}".split("."))
        if sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file():
            out.append(f"{base}.{a.name}")
    return out


def imports(path: Path, top_level: bool = True) -> list[tuple[str, int]]:
    """(module, line) of the package modules ``path`` imports at module level (or inside functions)."""
    tree = ast.parse(path.read_text())
    found = []
    nodes = tree.body if top_level else [n for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef,
                                                                                     ast.AsyncFunctionDef))
                                          for n in ast.walk(f)]
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            found += [(m, node.lineno) for m in resolve(path, node)]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("ddpm_helpers")]
    return found


def layer(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def lesson(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "lessons" else None


def test_the_four_layers_exist_and_hold_every_module():
    loose = [m.name for m in MODULES if m.parent == PKG and m.name != "__init__.py"]
    assert loose == [], f"modules outside core/ui/lessons/cli: {loose}"
    assert sorted(p.name for p in PKG.glob("lessons/*") if p.is_dir() and p.name != "__pycache__") == sorted(LESSONS)


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_follow_the_layers(path):
    me = module_name(path)
    for mod, line in imports(path):
        if layer(me) and layer(mod):
            assert LAYERS.index(layer(mod)) <= LAYERS.index(layer(me)), \
                f"{me} (layer {layer(me)}) imports {mod} (layer {layer(mod)}) at line {line}"
        if lesson(me) and layer(mod) == "lessons":  # shared pieces live in the core or the ui
            assert lesson(mod) == lesson(me), \
                f"lesson {lesson(me)} imports {mod} (line {line}): a lesson imports only the core, the ui and " \
                f"its own package; move what two lessons share to ddpm_helpers.core or ddpm_helpers.ui"
    if me == "ddpm_helpers":  # `import ddpm_helpers as H` is the core's front door
        assert all(layer(m) in ("core", None) for m, _ in imports(path)), \
            "ddpm_helpers/__init__ imports beyond the core"


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_module_is_one_readable_file(path):
    text = path.read_text()
    tree = ast.parse(text)
    n = len(text.splitlines())
    assert n <= MAX_LINES, f"{module_name(path)} has {n} lines; split it (at most {MAX_LINES})"
    assert ast.get_docstring(tree), f"{module_name(path)} has no module docstring"
    # a bare string after the first statement is a second docstring, unless it documents the assignment before it
    later_strings = [s.lineno for prev, s in zip(tree.body, tree.body[1:])
                     if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)
                     and not isinstance(prev, (ast.Assign, ast.AnnAssign))]
    assert not later_strings, f"{module_name(path)}: a second module docstring at line {later_strings}"
    aug = [s.lineno for s in ast.walk(tree)
           if isinstance(s, ast.AugAssign) and getattr(s.target, "id", "") == "__all__"]
    assert not aug, f"{module_name(path)}: `__all__ +=` at lines {aug}; keep one __all__ at the top"
    inner = imports(path, top_level=False)
    assert not inner, f"{module_name(path)} imports package modules inside functions: {inner}"


def test_no_import_cycles():
    graph = {module_name(p): {m for m, _ in imports(p)} for p in MODULES}
    graph = {k: {m for m in v if m in graph and m != k} for k, v in graph.items()}
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                # a package __init__ importing its own modules is not a cycle of logic
                if not all(c == nxt or c.startswith(nxt + ".") or nxt.startswith(c + ".") for c in cycle):
                    raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            elif state.get(nxt) is None:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_the_core_runs_without_the_notebook_ui():
    code = ("import sys, ddpm_helpers.core.sampling, ddpm_helpers.core.training, ddpm_helpers.core.metrics, "
            "ddpm_helpers.core.checkpoints\n"
            "print(sorted(m for m in ('matplotlib', 'ipywidgets', 'ddpm_helpers.ui', 'ddpm_helpers.lessons') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"importing the core loaded {out}"


FACTORIES = {"randn", "rand", "randint", "randperm", "zeros", "ones", "full", "empty", "arange", "linspace", "eye",
             "tensor"}


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_every_tensor_the_package_creates_names_its_device(path):
    missing = [node.lineno for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and node.func.attr in FACTORIES and getattr(node.func.value, "id", "") == "torch"
               and not any(k.arg in ("device", None) for k in node.keywords)]
    assert not missing, f"{module_name(path)}: torch factory calls without device= at lines {missing}"


# the public samplers: every function that runs the reverse loop for its caller
SAMPLERS = {"core.sampling": ["reverse_loop", "ddpm_sample", "ddim_sample", "naive_skip_sample"],
            "lessons.moons.experiments": ["subtract_full_noise"],
            "lessons.ddim.theory": ["respaced_ddpm_sample"],
            "lessons.ddim.editing": ["ddim_invert"],
            "lessons.unet.troubleshooting": ["sample_correct", "sample_unscaled_pixels", "sample_noise_sign_flipped",
                                             "sample_schedule_wrong_axis", "sample_full_noise_subtracted",
                                             "sample_live_weights", "sample_uniform_noise"]}


def test_one_sampler_result_type():
    """Every public sampler returns core.sampling.Sample (annotated so), and every function that calls
    ``reverse_loop`` is one of them or a private helper of one (issue 22: one result shape, not five)."""
    callers = set()
    for path in MODULES:
        tree = ast.parse(path.read_text())
        for f in ast.walk(tree):
            if isinstance(f, ast.FunctionDef):
                ann = ast.unparse(f.returns) if f.returns else ""
                listed = f.name in SAMPLERS.get(module_name(path).removeprefix("ddpm_helpers."), [])
                if listed:
                    assert ann == "Sample", f"{path.name}:{f.name} returns {ann or 'unannotated'}, not Sample"
                if any(isinstance(c, ast.Call) and getattr(c.func, "id", "") == "reverse_loop" for c in ast.walk(f)):
                    callers.add(f.name)
                    assert listed or f.name.startswith("_"), f"{path.name}:{f.name} runs the loop, is no listed sampler"
    assert {"ddpm_sample", "ddim_sample", "ddim_invert", "_ancestral"} <= callers
