r"""Editions of the notebooks for teaching: the student edition and reveal.js slides.

The notebooks in ``notebooks/`` are the instructor edition: every exercise's answer sits in a code
cell tagged ``solution`` (cell metadata ``"tags": ["solution"]``), followed by a cell that calls its
self-check from :mod:`ddpm_helpers.exercises`.

Student edition (``python -m ddpm_helpers.editions student`` or ``make student``) writes
``build/student/*.ipynb``: each ``solution`` cell is replaced by a ``# TODO`` stub that keeps what
the student needs to start (the ``def`` line and docstring of each function, the name of each
answer) and nothing of the answer itself::

    def my_q_sample(x0, t, sched, noise):            # instructor edition
        a = sched.alpha_bars[t]
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    # TODO: your solution; then run the check below.   # student edition
    def my_q_sample(x0, t, sched, noise):
        # TODO: write this function.
        raise NotImplementedError("exercise: write my_q_sample")

Each self-check calls the stub, sees ``NotImplementedError`` and reports "not solved yet" (it
returns False) instead of crashing, until the student writes the answer. Outputs are cleared.

Slides (``python -m ddpm_helpers.editions slides`` or ``make slides``) writes
``build/slides/NAME.slides.html`` with nbconvert's reveal.js exporter. Slide types come from the
cells' ``"slideshow": {"slide_type": ...}`` metadata. ``--execute`` runs each notebook first (as it
runs for a user: set ``DDPM_QUICK=1`` for a fast run) so the slides carry the pictures.
"""
from __future__ import annotations

import argparse
import ast
import copy
import shutil
import sys
from pathlib import Path

import nbformat

__all__ = ["SOLUTION_TAG", "COLAB_TAG", "COLAB_SETUP_SOURCE", "NOTEBOOKS_DIR", "BUILD_DIR",
           "stub_solution", "student_notebook", "build_student", "build_slides", "main"]

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
BUILD_DIR = REPO_ROOT / "build"

SOLUTION_TAG = "solution"
COLAB_TAG = "colab-setup"
# The first code cell of every notebook (tests/test_colab_cell.py checks it, tag COLAB_TAG).
COLAB_SETUP_SOURCE = '''\
# Colab: install ddpm_helpers when it is not importable (does nothing locally).
# In Colab pick a GPU: Runtime > Change runtime type > T4 GPU.
try:
    import ddpm_helpers
except ImportError:
    %pip install -q "ddpm_helpers @ git+https://github.com/ddpm-from-first-principles/ddpm-notebooks"'''

TODO_HEADER = "# TODO: your solution here; then run the check in the next cell."


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def _stub_function(src: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The ``def`` line(s) and docstring of ``node``; its body becomes a NotImplementedError."""
    # 1. the signature, decorators included, without the body (ast.unparse of an empty copy)
    bare = copy.copy(node)
    bare.body = [ast.Pass()]
    header = ast.unparse(bare).rsplit("\n", 1)[0]
    lines = [header]
    # 2. the docstring as written (raw prefix and all), if there is one
    first = node.body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        doc = ast.get_source_segment(src, first) or repr(first.value.value)
        lines.append("    " + doc)
    # 3. the body a student replaces
    lines.append("    # TODO: write this function.")
    lines.append(f'    raise NotImplementedError("exercise: write {node.name}")')
    return "\n".join(lines)


def stub_solution(source: str) -> str:
    r"""The student-edition stub of one solution cell's ``source``.

    Per top-level statement: a function keeps its ``def`` line and docstring, with a body that
    raises ``NotImplementedError``; an answer ``name = <value>`` becomes ``name = None``; imports
    stay; everything else (the working) goes. A cell that is not plain Python becomes ``# TODO``.
    Applying it twice gives the same stub.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return TODO_HEADER
    parts = [TODO_HEADER]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts.append("\n" + _stub_function(source, node) + "\n")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            parts.append(ast.unparse(node))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            names += [e.id for t in targets if isinstance(t, ast.Tuple) for e in t.elts if isinstance(e, ast.Name)]
            for name in names:
                parts.append(f"{name} = None  # TODO: replace None with your answer.")
        # anything else is part of the answer's working: dropped
    return "\n".join(parts).replace("\n\n\n", "\n\n").rstrip()


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every ``solution``-tagged cell stubbed and all outputs cleared."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type != "code":
            continue
        if SOLUTION_TAG in _tags(cell):
            cell.source = stub_solution(cell.source)
        cell.outputs = []
        cell.execution_count = None
    out.metadata["ddpm_edition"] = "student"
    return out


def _notebooks(src_dir: Path) -> list[Path]:
    paths = sorted(p for p in Path(src_dir).glob("*.ipynb"))
    if not paths:
        raise ValueError(f"src_dir={str(src_dir)!r} holds no .ipynb notebooks; expected the series' notebooks/ folder")
    return paths


def build_student(src_dir=NOTEBOOKS_DIR, out_dir=BUILD_DIR / "student") -> list[Path]:
    """Write the student edition of every notebook in ``src_dir`` to ``out_dir``; return the paths.

    Other files beside the notebooks (pictures they link to) are copied as they are.
    """
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in _notebooks(src_dir):
        nb = nbformat.read(path, as_version=4)
        target = out_dir / path.name
        nbformat.write(student_notebook(nb), target)
        written.append(target)
    for other in src_dir.iterdir():
        if other.is_file() and other.suffix != ".ipynb":
            shutil.copy2(other, out_dir / other.name)
    return written


def build_slides(src_dir=NOTEBOOKS_DIR, out_dir=BUILD_DIR / "slides", execute: bool = False,
                 hide_code: bool = False, reveal_prefix: str | None = None, names=None,
                 timeout: int | None = None) -> list[Path]:
    """Export every notebook (or those in ``names``) as reveal.js slides ``out_dir/NAME.slides.html``.

    ``execute`` runs each notebook in a fresh kernel first (from its own folder) so the slides show
    the pictures; ``hide_code`` leaves code cells' inputs out; ``reveal_prefix`` points the page at
    a local copy of reveal.js instead of nbconvert's CDN default.
    """
    from nbconvert import SlidesExporter

    src_dir, out_dir = Path(src_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = _notebooks(src_dir)
    if names is not None:
        known = {p.name for p in paths} | {p.stem for p in paths}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"names={unknown!r} are not notebooks in {src_dir}; allowed: {sorted(p.name for p in paths)}")
        paths = [p for p in paths if p.name in names or p.stem in names]
    exporter = SlidesExporter()
    exporter.exclude_input = hide_code
    if reveal_prefix is not None:
        exporter.reveal_url_prefix = reveal_prefix
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if execute:
            from nbclient import NotebookClient

            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        target = out_dir / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddpm_helpers.editions",
                                     description="Build the student edition or reveal.js slides of the notebooks.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_student = sub.add_parser("student", help="build/student/: solution cells replaced by # TODO stubs")
    p_student.add_argument("--src", default=str(NOTEBOOKS_DIR), help="folder of the instructor notebooks")
    p_student.add_argument("--out", default=str(BUILD_DIR / "student"), help="output folder")
    p_slides = sub.add_parser("slides", help="build/slides/: each notebook as reveal.js slides")
    p_slides.add_argument("--src", default=str(NOTEBOOKS_DIR), help="folder of the notebooks")
    p_slides.add_argument("--out", default=str(BUILD_DIR / "slides"), help="output folder")
    p_slides.add_argument("--execute", action="store_true",
                          help="run each notebook first so the slides show its pictures (DDPM_QUICK=1 for a fast run)")
    p_slides.add_argument("--hide-code", action="store_true", help="leave code inputs out of the slides")
    p_slides.add_argument("--reveal-prefix", default=None,
                          help="URL or path of reveal.js (default: nbconvert's CDN; use a local copy offline)")
    p_slides.add_argument("names", nargs="*", help="only these notebooks (file name or stem)")
    args = parser.parse_args(argv)
    if args.command == "student":
        paths = build_student(args.src, args.out)
    elif args.command == "slides":
        paths = build_slides(args.src, args.out, execute=args.execute, hide_code=args.hide_code,
                             reveal_prefix=args.reveal_prefix, names=args.names or None)
    else:  # argparse already refuses other commands
        raise ValueError(f"command={args.command!r}; allowed: 'student', 'slides'")
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
