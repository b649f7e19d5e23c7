r"""Editions of the notebooks for teaching: the student edition and reveal.js slides.

The notebooks in ``notebooks/`` are the instructor edition and the one source of truth. Solution
cells follow nbgrader's convention (https://nbgrader.readthedocs.io, "Autograded answer" cells): the
cell metadata holds ``"nbgrader": {"solution": true, ...}`` and the answer sits between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines; the next code cell calls its self-check (from the lesson's
``exercises`` module, ``ddpm_helpers.lessons.<name>``)::

    def my_q_sample(x0, t, sched, noise):              # instructor edition (notebooks/)
        ### BEGIN SOLUTION
        a = sched.alpha_bars[t]
        return a.sqrt() * x0 + (1 - a).sqrt() * noise
        ### END SOLUTION

    def my_q_sample(x0, t, sched, noise):              # student edition (student/)
        # YOUR CODE HERE
        raise NotImplementedError()

The student edition (``python -m ddpm_helpers.cli.editions student`` or ``make student``) is written to
``student/`` and committed, so the README's Colab badges and the Binder link open it; a test checks
that it is byte for byte what this generator makes from ``notebooks/``. :func:`clear_solutions`
has the semantics of nbgrader's ``ClearSolutions`` preprocessor (``nbgrader generate_assignment``):
the same delimiters and stubs, the stub indented like the BEGIN line, a solution cell without
markers replaced whole, an error for unbalanced or nested markers and for markers in a cell that is
not a solution cell. It is re-implemented here (about 40 lines) rather than imported because
nbgrader brings the classic Notebook 7, SQLAlchemy and alembic and enables its formgrader server and
JupyterLab extensions in the environment students open; instructors who use nbgrader can run it on
``notebooks/`` directly. Each self-check calls the stub, sees ``NotImplementedError`` and reports
"not solved yet" (it returns False) instead of crashing, until the student writes the answer.
Outputs are cleared.

Slides (``python -m ddpm_helpers.cli.editions slides`` or ``make slides``) are built by
:func:`ddpm_helpers.cli.deck.build_slides`: ``build/slides/NAME.slides.html``,
reveal.js decks that load reveal.js and MathJax from ``build/slides/_assets/`` (no network when viewed).
``--execute`` runs each notebook first (set ``DDPM_QUICK=1`` for a fast run) so the slides carry the pictures.
"""
from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
from pathlib import Path

import nbformat

from ..core.paths import NOTEBOOKS_DIR, REPO_ROOT, notebook_paths
from .deck import add_slides_arguments, run_slides

__all__ = ["BEGIN_SOLUTION", "END_SOLUTION", "CODE_STUB", "TEXT_STUB", "COLAB_TAG", "COLAB_SETUP_SOURCE",
           "STUDENT_DIR", "is_solution", "clear_solutions", "student_notebook", "build_student", "main"]

# a clone's folders (ddpm_helpers.core.paths): installed from a wheel or git the notebooks are not there
# (the commands then need --src)
STUDENT_DIR = REPO_ROOT / "student"  # the committed student edition (README badges, Binder link)

# nbgrader's ClearSolutions defaults (nbgrader 0.9: begin/end_solution_delimeter, code_stub["python"], text_stub)
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
COLAB_TAG = "colab-setup"
# The first code cell of every notebook (tests/test_colab_cell.py checks it, tag COLAB_TAG).
COLAB_SETUP_SOURCE = '''\
# Colab: install ddpm_helpers when it is not importable (does nothing locally).
# In Colab pick a GPU: Runtime > Change runtime type > T4 GPU.
try:
    import ddpm_helpers  # noqa: F401 (only: is it installed?)
except ImportError:
    %pip install -q "ddpm_helpers @ git+https://github.com/ddpm-from-first-principles/ddpm-notebooks"'''

def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def is_solution(cell) -> bool:
    """nbgrader's test: a cell is a solution cell when its metadata says ``nbgrader.solution``."""
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution", False))


def clear_solutions(source: str, cell_type: str = "code", solution: bool = True) -> str:
    r"""The student version of one cell's ``source``, as nbgrader's ``ClearSolutions`` makes it.

    Every region from a line containing ``BEGIN SOLUTION`` to the line containing ``END SOLUTION``
    becomes :data:`CODE_STUB` (``# YOUR CODE HERE`` / ``raise NotImplementedError()``; :data:`TEXT_STUB`
    in a markdown cell), indented like the BEGIN line; the lines outside the regions stay. A solution
    cell (``solution=True``) without any region is replaced whole by the stub.

    Raises ``ValueError`` for nested BEGIN lines, a BEGIN without END, and a region in a cell that is
    not a solution cell (nbgrader's ``enforce_metadata``).
    """
    if cell_type not in ("code", "markdown"):
        raise ValueError(f"cell_type must be 'code' or 'markdown', got {cell_type!r}")
    begin, end = BEGIN_SOLUTION.lstrip("# "), END_SOLUTION.lstrip("# ")  # matched anywhere in a line, as nbgrader does
    stub = (CODE_STUB if cell_type == "code" else TEXT_STUB).split("\n")
    out, inside, replaced = [], False, False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise ValueError(f"nested {BEGIN_SOLUTION!r} lines in a cell:\n{source}")
            inside = replaced = True
            indent = re.match(r"\s*", line).group(0)
            out += [indent + s for s in stub]
        elif end in line:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN_SOLUTION!r} without {END_SOLUTION!r} in a cell:\n{source}")
    if replaced and not solution:
        raise ValueError("a solution region in a cell that is not a solution cell; mark the cell with "
                         f"metadata nbgrader.solution = true:\n{source}")
    if solution and not replaced:
        return "\n".join(stub)
    return "\n".join(out)


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every solution cleared (:func:`clear_solutions`) and all outputs cleared.

    Every cell is scanned, so a solution region in a cell not marked as a solution raises ValueError."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type in ("code", "markdown"):
            cell.source = clear_solutions(cell.source, cell.cell_type, solution=is_solution(cell))
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    out.metadata["ddpm_edition"] = "student"
    return out


def build_student(src_dir=NOTEBOOKS_DIR, out_dir=STUDENT_DIR) -> list[Path]:
    """Write the student edition of every notebook in ``src_dir`` to ``out_dir`` (default: the committed
    ``student/`` folder); return the paths.

    Other files beside the notebooks (pictures they link to) are copied as they are.
    """
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebook_paths(src_dir):
        nb = nbformat.read(path, as_version=4)
        target = out_dir / path.name
        nbformat.write(student_notebook(nb), target)
        written.append(target)
    for other in src_dir.iterdir():
        if other.is_file() and other.suffix != ".ipynb":
            shutil.copy2(other, out_dir / other.name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddpm_helpers.cli.editions",
                                     description="Build the student edition or reveal.js slides of the notebooks.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_student = sub.add_parser("student", help="student/: solution regions replaced by nbgrader's stubs")
    p_student.add_argument("--src", default=str(NOTEBOOKS_DIR), help="folder of the instructor notebooks")
    p_student.add_argument("--out", default=str(STUDENT_DIR), help="output folder (default: the committed student/)")
    add_slides_arguments(sub.add_parser("slides", help="build/slides/: each notebook as an offline reveal.js deck"))
    args = parser.parse_args(argv)
    if args.command == "student":
        paths = build_student(args.src, args.out)
    elif args.command == "slides":
        run_slides(args)  # prints each deck as it is written
        return 0
    else:  # argparse already refuses other commands
        raise ValueError(f"command={args.command!r}; allowed: 'student', 'slides'")
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
