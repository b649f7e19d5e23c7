"""Instructors' editions: the student edition and the reveal.js slides (ddpm_helpers.editions).

Both editions are proven to behave: every exercise's self-check PASSES on the instructor's solution
and FAILS (returns False, raises nothing) on the student edition's ``# TODO`` stub. The exercise
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

from ddpm_helpers.editions import (SOLUTION_TAG, TODO_HEADER, build_slides, build_student,
                                   stub_solution, student_notebook)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}


def _tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


# -- the stub itself -------------------------------------------------------------------------------

SOLUTION = '''\
import torch

@torch.no_grad()
def my_q_sample(x0: torch.Tensor, t, sched, noise=None) -> torch.Tensor:
    r"""Ho et al. 2020, eq. 4: x_t = \\sqrt{\\bar\\alpha_t} x_0 + \\sqrt{1-\\bar\\alpha_t} eps."""
    a_bar = sched.alpha_bars[t]  # the secret
    return a_bar.sqrt() * x0 + (1 - a_bar).sqrt() * noise

snr_at_500 = 0.25 * 4
print(snr_at_500)'''


def test_stub_keeps_signature_and_docstring_and_drops_the_answer():
    stub = stub_solution(SOLUTION)
    assert stub.startswith(TODO_HEADER)
    assert "def my_q_sample(x0: torch.Tensor, t, sched, noise=None) -> torch.Tensor:" in stub
    assert "@torch.no_grad()" in stub and "import torch" in stub
    assert 'r"""Ho et al. 2020, eq. 4: x_t = \\sqrt{' in stub, "the raw docstring is kept as written"
    for secret in ("a_bar", "the secret", "0.25", "print("):
        assert secret not in stub, f"the stub leaks {secret!r}:\n{stub}"
    assert "snr_at_500 = None" in stub and "TODO" in stub
    assert stub_solution(stub) == stub, "stubbing twice changes the stub"


def test_stub_raises_not_implemented_and_values_are_none():
    ns = {}
    exec(stub_solution(SOLUTION), ns)
    with pytest.raises(NotImplementedError, match="my_q_sample"):
        ns["my_q_sample"](None, 0, None)
    assert ns["snr_at_500"] is None


def test_stub_of_a_cell_that_is_not_python():
    assert stub_solution("%timeit x = 1\n") == TODO_HEADER


def test_student_notebook_only_touches_solution_cells():
    nb = nbformat.v4.new_notebook()
    keep = nbformat.v4.new_code_cell("x = 1")
    keep.outputs = [nbformat.v4.new_output("stream", text="1")]
    keep.execution_count = 3
    sol = nbformat.v4.new_code_cell(SOLUTION, metadata={"tags": [SOLUTION_TAG]})
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), keep, sol]
    out = student_notebook(nb)
    assert out.cells[0] == nb.cells[0]
    assert out.cells[1].source == "x = 1" and out.cells[1].outputs == [] and out.cells[1].execution_count is None
    assert out.cells[2].source == stub_solution(SOLUTION) and _tags(out.cells[2]) == [SOLUTION_TAG]
    assert nb.cells[2].source == SOLUTION, "the instructor notebook must not be modified"
    nbformat.validate(out)


# -- the series' notebooks ----------------------------------------------------------------------

def exercises(nb) -> list[tuple[int, int]]:
    """(solution cell index, check cell index) for every solution cell: its check is the next code cell."""
    pairs = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and SOLUTION_TAG in _tags(cell):
            j = next((k for k in range(i + 1, len(nb.cells)) if nb.cells[k].cell_type == "code"), None)
            pairs.append((i, j))
    return pairs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_notebook_has_exercises_with_self_checks(path):
    nb = nbformat.read(path, as_version=4)
    pairs = exercises(nb)
    assert len(pairs) >= 2, f"{path.name}: {len(pairs)} cells tagged {SOLUTION_TAG!r}; the series has 2-3 exercises per notebook"
    for i, j in pairs:
        assert j is not None and re.search(r"\bcheck\w*\(", nb.cells[j].source), (
            f"{path.name}: the code cell after solution cell {i} must call its self-check (check_...(...)); "
            f"got {nb.cells[j].source[:200] if j is not None else 'nothing'!r}")
        assert SOLUTION_TAG not in _tags(nb.cells[j]), f"{path.name}: check cell {j} is tagged as a solution"


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    if not NOTEBOOKS:
        pytest.skip("no notebooks yet")
    out = tmp_path_factory.mktemp("student")
    build_student(ROOT / "notebooks", out)
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_edition_replaces_solutions_and_keeps_the_rest(path, student_dir):
    nb = nbformat.read(path, as_version=4)
    st = nbformat.read(student_dir / path.name, as_version=4)
    nbformat.validate(st)
    assert len(st.cells) == len(nb.cells)
    for i, (a, b) in enumerate(zip(nb.cells, st.cells)):
        assert a.cell_type == b.cell_type
        if SOLUTION_TAG in _tags(a):
            assert b.source.startswith("# TODO"), f"{path.name} cell {i}: solution not replaced by a # TODO stub"
            assert b.source != a.source
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
                if cell.cell_type == "code" and SOLUTION_TAG not in _tags(cell):
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
        pytest.fail(f"{path.name} has no {SOLUTION_TAG!r} cells", pytrace=False)
    for r in run_exercises(nb):
        assert r["error"] is None, f"{path.name}, check cell {r['cell']} raised {r['error']!r} on the solution"
        assert r["result"] is True, (f"{path.name}, check cell {r['cell']} returned {r['result']!r} on the "
                                     f"instructor's solution (it must return True); printed: {r['printed'][-500:]}")
    for r in run_exercises(student_notebook(nb)):
        assert r["error"] is None, (f"{path.name} student edition: check cell {r['cell']} crashed with "
                                    f"{r['error']!r} on the # TODO stub; it must report 'not solved' and return False")
        assert r["result"] is False, (f"{path.name} student edition: check cell {r['cell']} returned "
                                      f"{r['result']!r} on the # TODO stub (it must return False); "
                                      f"printed: {r['printed'][-500:]}")
        assert r["printed"].strip(), f"{path.name} student edition: check cell {r['cell']} said nothing"


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
