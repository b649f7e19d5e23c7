"""Instructors' editions: the student edition and the reveal.js slides (ddpm_helpers.cli.editions).

Both editions are proven to behave: every exercise's self-check PASSES on the instructor's solution
and FAILS (returns False, raises nothing, says "not solved") on the committed student edition's stub
(nbgrader's ``# YOUR CODE HERE`` / ``raise NotImplementedError()``), and the committed ``student/`` is
exactly what the generator makes from ``notebooks/`` (so the two cannot drift). The exercise
cells are run in an IPython shell in quick mode: the import statements of the notebook's cells,
then each solution cell and the check cell after it. A check that needs more of the notebook's state (a NameError)
makes that notebook run cell by cell from the top instead.
"""
from __future__ import annotations

import ast
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from ddpm_helpers.cli.deck import build_slides
from ddpm_helpers.cli.editions import (BEGIN_SOLUTION, CODE_STUB, END_SOLUTION, STUDENT_DIR, TEXT_STUB, build_student,
                                   clear_solutions, is_solution, student_notebook)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}


def _tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


# -- clear_solutions: nbgrader's ClearSolutions semantics ----------------------------------------------------

SOLUTION = '''\
import torch

@torch.no_grad()
def my_q_sample(x0: torch.Tensor, t, sched, noise=None) -> torch.Tensor:
    r"""Ho et al. 2020, eq. 4: x_t = \\sqrt{\\bar\\alpha_t} x_0 + \\sqrt{1-\\bar\\alpha_t} eps."""
    ### BEGIN SOLUTION
    a_bar = sched.alpha_bars[t]  # the secret
    return a_bar.sqrt() * x0 + (1 - a_bar).sqrt() * noise
    ### END SOLUTION

snr_at_500 = None
### BEGIN SOLUTION
snr_at_500 = 0.25 * 4
### END SOLUTION'''

EXPECTED = '''\
import torch

@torch.no_grad()
def my_q_sample(x0: torch.Tensor, t, sched, noise=None) -> torch.Tensor:
    r"""Ho et al. 2020, eq. 4: x_t = \\sqrt{\\bar\\alpha_t} x_0 + \\sqrt{1-\\bar\\alpha_t} eps."""
    # YOUR CODE HERE
    raise NotImplementedError()

snr_at_500 = None
# YOUR CODE HERE
raise NotImplementedError()'''


def test_clear_solutions_replaces_each_region_by_nbgraders_stub():
    assert CODE_STUB == "# YOUR CODE HERE\nraise NotImplementedError()" and TEXT_STUB == "YOUR ANSWER HERE"
    assert clear_solutions(SOLUTION) == EXPECTED
    for secret in ("a_bar", "the secret", "0.25", "SOLUTION"):
        assert secret not in clear_solutions(SOLUTION)
    assert clear_solutions(EXPECTED) == CODE_STUB, "a solution cell without a region is replaced whole"


def test_stub_raises_not_implemented_when_called():
    ns = {}
    exec(clear_solutions(SOLUTION.split("\n\nsnr_at_500")[0]), ns)
    with pytest.raises(NotImplementedError):
        ns["my_q_sample"](None, 0, None)


def test_clear_solutions_markdown_and_whole_cells():
    markdown = "Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"
    assert clear_solutions(markdown, "markdown") == "Why?\nYOUR ANSWER HERE"
    assert clear_solutions("x = 1", "code", solution=True) == CODE_STUB
    assert clear_solutions("Because.", "markdown", solution=True) == TEXT_STUB
    assert clear_solutions("x = 1", "code", solution=False) == "x = 1"


@pytest.mark.parametrize("source,solution,words", [
    ("### BEGIN SOLUTION\nx = 1\n### BEGIN SOLUTION\n### END SOLUTION", True, "nested"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1", True, "without"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", False, "not a solution cell"),
])
def test_clear_solutions_refuses_broken_markers(source, solution, words):
    with pytest.raises(ValueError, match=words):
        clear_solutions(source, "code", solution=solution)
    with pytest.raises(ValueError, match="cell_type"):
        clear_solutions("x", "raw")


def test_student_notebook_only_touches_solution_cells():
    nb = nbformat.v4.new_notebook()
    keep = nbformat.v4.new_code_cell("x = 1")
    keep.outputs = [nbformat.v4.new_output("stream", text="1")]
    keep.execution_count = 3
    meta = {"nbgrader": {"grade": False, "grade_id": "q", "locked": False, "schema_version": 3, "solution": True,
                         "task": False}}
    sol = nbformat.v4.new_code_cell(SOLUTION, metadata=meta)
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), keep, sol]
    out = student_notebook(nb)
    assert out.cells[0] == nb.cells[0]
    assert out.cells[1].source == "x = 1" and out.cells[1].outputs == [] and out.cells[1].execution_count is None
    assert out.cells[2].source == EXPECTED and out.cells[2].metadata == meta, "nbgrader's metadata is kept"
    assert nb.cells[2].source == SOLUTION, "the instructor notebook must not be modified"
    assert out.metadata["ddpm_edition"] == "student"
    nbformat.validate(out)
    nb.cells[1].source = "### BEGIN SOLUTION\ny = 2\n### END SOLUTION"  # a region outside a solution cell
    with pytest.raises(ValueError, match="not a solution cell"):
        student_notebook(nb)


# -- the series' notebooks ----------------------------------------------------------------------

def exercises(nb) -> list[tuple[int, int]]:
    """(solution cell index, check cell index) for every solution cell: its check is the next code cell."""
    pairs = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and is_solution(cell):
            j = next((k for k in range(i + 1, len(nb.cells)) if nb.cells[k].cell_type == "code"), None)
            pairs.append((i, j))
    return pairs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_notebook_has_exercises_with_self_checks(path):
    nb = nbformat.read(path, as_version=4)
    pairs = exercises(nb)
    assert len(pairs) >= 2, (f"{path.name}: {len(pairs)} nbgrader solution cells; the series has 2-3 exercises "
                             f"per notebook")
    for i, j in pairs:
        assert j is not None and re.search(r"\bcheck\w*\(", nb.cells[j].source), (
            f"{path.name}: the code cell after solution cell {i} must call its self-check (check_...(...)); "
            f"got {nb.cells[j].source[:200] if j is not None else 'nothing'!r}")
        assert not is_solution(nb.cells[j]), f"{path.name}: check cell {j} is marked as a solution"
        assert BEGIN_SOLUTION in nb.cells[i].source and END_SOLUTION in nb.cells[i].source, (
            f"{path.name}: solution cell {i} has no {BEGIN_SOLUTION!r} ... {END_SOLUTION!r} region; the student "
            f"edition would lose the whole cell (its def line too)")
        assert nb.cells[i].metadata["nbgrader"].get("grade_id"), f"{path.name}: solution cell {i} lacks a grade_id"
    ids = [nb.cells[i].metadata["nbgrader"]["grade_id"] for i, _ in pairs]
    assert len(set(ids)) == len(ids), f"{path.name}: nbgrader grade_ids must be unique, got {ids}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercises_follow_one_naming_convention(path):
    """The student writes ``my_<name>`` and the next cell runs ``check_<name>(my_<name>)`` (docs/teaching.md)."""
    nb = nbformat.read(path, as_version=4)
    for i, j in exercises(nb):
        defined = re.findall(r"^def (\w+)\(", nb.cells[i].source, flags=re.M)
        assert len(defined) == 1 and defined[0].startswith("my_"), (
            f"{path.name}: solution cell {i} must define one function my_<name>, got {defined}")
        name = defined[0][len("my_"):]
        assert re.search(rf"\bcheck_{name}\(my_{name}\)", nb.cells[j].source), (
            f"{path.name}: check cell {j} must run check_{name}(my_{name}); got {nb.cells[j].source!r}")
        assert nb.cells[i].metadata["nbgrader"]["grade_id"] == f"my_{name}", (
            f"{path.name}: solution cell {i}'s nbgrader grade_id must be my_{name}")


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    if not NOTEBOOKS:
        pytest.skip("no notebooks yet")
    out = tmp_path_factory.mktemp("student")
    build_student(ROOT / "notebooks", out)
    return out


def test_committed_student_edition_is_what_the_generator_makes(student_dir):
    """README's Colab badges and Binder link open student/: it must be regenerated with every change to
    notebooks/ (`make student`), byte for byte."""
    assert STUDENT_DIR == ROOT / "student"
    made = sorted(p.name for p in student_dir.iterdir())
    committed = sorted(p.name for p in STUDENT_DIR.iterdir()) if STUDENT_DIR.is_dir() else []
    assert committed == made, f"student/ holds {committed}, the generator makes {made}; run `make student`"
    stale = [n for n in made if (student_dir / n).read_bytes() != (STUDENT_DIR / n).read_bytes()]
    assert not stale, f"student/{stale} differ from what `python -m ddpm_helpers.cli.editions student` makes; run it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_edition_holds_no_solution(path):
    nb = nbformat.read(path, as_version=4)
    st = (STUDENT_DIR / path.name).read_text()
    assert "BEGIN SOLUTION" not in st and "END SOLUTION" not in st
    for i, cell in enumerate(nb.cells):
        if is_solution(cell):
            inside = cell.source.split(BEGIN_SOLUTION, 1)[1].split(END_SOLUTION, 1)[0]
            for line in (ln.strip() for ln in inside.splitlines()):
                if len(line) > 12:  # a line of the answer
                    assert json_str(line) not in st, f"student/{path.name} leaks cell {i}'s answer line {line!r}"


def json_str(text: str) -> str:
    """How ``text`` appears inside the .ipynb JSON."""
    import json

    return json.dumps(text)[1:-1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_edition_replaces_solutions_and_keeps_the_rest(path, student_dir):
    nb = nbformat.read(path, as_version=4)
    st = nbformat.read(student_dir / path.name, as_version=4)
    nbformat.validate(st)
    assert len(st.cells) == len(nb.cells)
    for i, (a, b) in enumerate(zip(nb.cells, st.cells)):
        assert a.cell_type == b.cell_type
        if is_solution(a):
            assert CODE_STUB.split("\n")[1] in b.source, f"{path.name} cell {i}: solution not replaced by the stub"
            assert b.source != a.source and b.source.split("\n")[0] == a.source.split("\n")[0], (
                f"{path.name} cell {i}: the stub must keep the def line")
        else:
            assert b.source == a.source, f"{path.name} cell {i}: a non-solution cell changed"
        if b.cell_type == "code":
            assert b.outputs == [] and b.execution_count is None


# -- both editions behave: checks pass on solutions, fail on stubs ----------------------------------

@contextmanager
def _shell():
    """A fresh in-process IPython shell (quick mode, Agg backend); sys hooks restored afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    saved = sys.displayhook, sys.excepthook
    old_env = {k: os.environ.get(k) for k in ("DDPM_QUICK", "MPLBACKEND")}
    os.environ.update(DDPM_QUICK="1", MPLBACKEND="Agg")
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    # %matplotlib inline needs a kernel; figures go to Agg here (MPLBACKEND) and are never shown.
    shell.register_magic_function(lambda line: None, magic_kind="line", magic_name="matplotlib")
    try:
        yield shell
    finally:
        InteractiveShell.clear_instance()
        sys.displayhook, sys.excepthook = saved
        for k, v in old_env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        import matplotlib.pyplot as plt

        plt.close("all")


def _imports_of(source: str) -> str:
    """The top-level import statements of a cell (magics dropped); run first, so checks find their names."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return ""
    return "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))


def _result_of(shell, source: str):
    """Run a check cell; return (value of its last expression, error or None, printed text)."""
    import io
    from contextlib import redirect_stdout

    try:
        tree = ast.parse(source)
    except SyntaxError:  # magics: run as written
        tree = None
    if tree is None:
        r = shell.run_cell(source, silent=True)
        return None, r.error_in_exec or r.error_before_exec, ""
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        tree.body[-1] = ast.Assign(targets=[ast.Name("__ddpm_check_result__", ast.Store())], value=last.value,
                                   lineno=last.lineno, col_offset=0)
    ast.fix_missing_locations(tree)
    shell.user_ns.pop("__ddpm_check_result__", None)
    buf = io.StringIO()
    with redirect_stdout(buf):
        r = shell.run_cell(ast.unparse(tree), silent=True)
    return shell.user_ns.get("__ddpm_check_result__"), r.error_in_exec or r.error_before_exec, buf.getvalue()


def run_exercises(nb) -> list[dict]:
    """Every (solution, check) pair of ``nb`` run in a shell; one dict per check with its result."""
    pairs = exercises(nb)
    out = []

    def light():
        """Imports, then each solution and its check; None when a check needs more of the notebook."""
        with _shell() as shell:
            for cell in nb.cells:
                if cell.cell_type == "code" and not is_solution(cell):
                    shell.run_cell(_imports_of(cell.source), silent=True)
            for i, j in pairs:
                r = shell.run_cell(nb.cells[i].source, silent=True)
                if isinstance(r.error_in_exec, NameError):
                    return None
                if not r.success:
                    out.append({"cell": j, "result": None, "error": r.error_in_exec, "printed": "(solution cell)"})
                    continue
                value, err, printed = _result_of(shell, nb.cells[j].source)
                if isinstance(err, NameError):
                    return None
                out.append({"cell": j, "result": value, "error": err, "printed": printed})
        return out

    def full():
        out.clear()
        checks = {j: i for i, j in pairs}
        last = max(checks)
        with _shell() as shell:
            for k, cell in enumerate(nb.cells[: last + 1]):
                if cell.cell_type != "code":
                    continue
                if k in checks:
                    value, err, printed = _result_of(shell, cell.source)
                    out.append({"cell": k, "result": value, "error": err, "printed": printed})
                else:  # a cell that uses the student's unsolved function may fail: go on, as a student would
                    shell.run_cell(cell.source, silent=True)
        return out

    results = light()
    return full() if results is None else results


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_checks_pass_on_instructor_edition_and_fail_on_student_edition(path):
    nb = nbformat.read(path, as_version=4)
    if not exercises(nb):
        pytest.fail(f"{path.name} has no nbgrader solution cells", pytrace=False)
    for r in run_exercises(nb):
        assert r["error"] is None, f"{path.name}, check cell {r['cell']} raised {r['error']!r} on the solution"
        assert r["result"] is True, (f"{path.name}, check cell {r['cell']} returned {r['result']!r} on the "
                                     f"instructor's solution (it must return True); printed: {r['printed'][-500:]}")
    student = nbformat.read(STUDENT_DIR / path.name, as_version=4)  # the committed edition students open
    assert len(run_exercises(student)) == len(exercises(nb))
    for r in run_exercises(student):
        assert r["error"] is None, (f"{path.name} student edition: check cell {r['cell']} crashed with "
                                    f"{r['error']!r} on the # TODO stub; it must report 'not solved' and return False")
        assert r["result"] is False, (f"{path.name} student edition: check cell {r['cell']} returned "
                                      f"{r['result']!r} on the # TODO stub (it must return False); "
                                      f"printed: {r['printed'][-500:]}")
        assert "Not solved yet" in r["printed"], (f"{path.name} student edition: check cell {r['cell']} must say "
                                                  f"'Not solved yet', printed: {r['printed'][-300:]!r}")


# -- slides -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_slide_types_are_set_on_the_cells(path):
    nb = nbformat.read(path, as_version=4)
    types = [c.get("metadata", {}).get("slideshow", {}).get("slide_type") for c in nb.cells]
    bad = {t for t in types if t is not None} - SLIDE_TYPES
    assert not bad, f"{path.name}: unknown slide types {bad}; allowed {sorted(SLIDE_TYPES)}"
    assert types.count("slide") >= 2, f"{path.name}: only {types.count('slide')} cells start a slide"
    first_md = next(c for c in nb.cells if c.cell_type == "markdown")
    assert first_md.get("metadata", {}).get("slideshow", {}).get("slide_type") == "slide", \
        f"{path.name}: the first markdown cell should start a slide"


def test_slides_export_reveal_sections(tmp_path):
    if not NOTEBOOKS:
        pytest.skip("no notebooks yet")
    path = NOTEBOOKS[0]
    (out,) = build_slides(ROOT / "notebooks", tmp_path, names=[path.stem])
    assert out == tmp_path / f"{path.stem}.slides.html"
    html = out.read_text()
    assert "reveal" in html.lower() and "Reveal.initialize" in html
    nb = nbformat.read(path, as_version=4)
    n_slides = sum(c.get("metadata", {}).get("slideshow", {}).get("slide_type") == "slide" for c in nb.cells)
    assert html.count("<section") >= n_slides >= 1, f"{html.count('<section')} <section>s for {n_slides} slides"
    title = next(c for c in nb.cells if c.cell_type == "markdown").source.splitlines()[0].lstrip("# ").strip()
    assert title.split()[0] in html


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="src_dir"):
        build_student(tmp_path, tmp_path / "out")
    if NOTEBOOKS:
        with pytest.raises(ValueError, match="names"):
            build_slides(ROOT / "notebooks", tmp_path, names=["no_such_notebook"])
