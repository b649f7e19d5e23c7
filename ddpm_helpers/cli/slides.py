r"""Slides of the notebooks: the slide metadata, live RISE slideshows, and the ``slides`` command.

The slide metadata and RISE live here; the offline reveal.js decks are built by
:mod:`ddpm_helpers.cli.deck`, the student edition by :mod:`ddpm_helpers.cli.editions`.

* **Slide metadata** (:func:`slide_types`, :func:`apply_slide_metadata`, :func:`check_slide_metadata`):
  every cell's ``"slideshow": {"slide_type": ...}`` follows one rule, computed from the cells
  themselves, so it survives edits (``python -m ddpm_helpers.cli.slides metadata`` re-applies it;
  ``tests/test_slides.py`` fails when a notebook breaks it):

  ===============================================  ============  ===================================
  cell                                             slide type    why
  ===============================================  ============  ===================================
  the Colab install cell (tag ``colab-setup``)     ``skip``      nothing to show in class
  markdown starting ``#`` or ``##`` (a section)    ``slide``     each section is a slide
  markdown starting ``###``                        ``subslide``  a step inside a section
  a code cell that builds a slider panel           ``subslide``  the panel alone, so it fits 1280x720
  markdown after a code cell                       ``subslide``  the next prose + code + picture
  anything else                                    ``-``         continues the (sub)slide above
  ===============================================  ============  ===================================

* **Live slides**: the same metadata drives RISE (``jupyterlab-rise``, installed by ``make lab``),
  a slideshow of the running notebook with live widgets. ``make present NB=01_forward_process``
  starts JupyterLab straight into the slideshow (:func:`rise_path`: ``/rise/NAME.ipynb``), with the
  presentation figure size (``DDPM_FIGURES=presentation``, :mod:`ddpm_helpers.ui.style`),
  :data:`RISE_SETTINGS` and a "run all cells" key, ``Ctrl+Shift+F9`` (:func:`install_rise_settings`).

* **Static slides that work offline** (``python -m ddpm_helpers.cli.slides build``, ``make slides``):
  :mod:`ddpm_helpers.cli.deck`.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

from ..core.paths import NOTEBOOKS_DIR, notebook_paths
from .deck import add_slides_arguments, asset_digest, fetch_assets, run_slides
from .editions import COLAB_TAG

__all__ = ["SLIDE_TYPES", "PANEL_CALL", "slide_types", "apply_slide_metadata", "check_slide_metadata",
           "set_slide_metadata", "RISE_PLUGIN", "RISE_SETTINGS", "SHORTCUTS_PLUGIN", "RUN_ALL_SHORTCUT", "rise_path",
           "install_rise_settings", "main"]

SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")
# The slider panels of ddpm_helpers.lessons.<name>.panels (and the notebooks' own *_panel builders): a cell that
# calls one gets a subslide of its own.
PANEL_CALL = re.compile(r"\b\w+_panel\s*\(")

# -- the slide metadata -----------------------------------------------------------------------------

def _heading_level(cell) -> int:
    """1 for '# ...', 2 for '## ...', ...; 0 when a markdown cell does not start with a heading."""
    if cell.cell_type != "markdown":
        return 0
    m = re.match(r"\s*(#{1,6})\s", cell.source)
    return len(m.group(1)) if m else 0


def slide_types(nb: nbformat.NotebookNode) -> list[str]:
    """The slide type of every cell of ``nb`` by the rule in this module's docstring."""
    types, previous = [], None
    for cell in nb.cells:
        level = _heading_level(cell)
        if COLAB_TAG in cell.get("metadata", {}).get("tags", []):
            types.append("skip")
            continue  # a skipped cell does not count as "the cell before"
        if level in (1, 2):
            kind = "slide"
        elif level == 3:
            kind = "subslide"
        elif cell.cell_type == "code" and PANEL_CALL.search(cell.source):
            kind = "subslide"
        elif cell.cell_type == "markdown" and previous is not None and previous.cell_type == "code":
            kind = "subslide"
        else:
            kind = "-"
        if previous is None and kind in ("-", "subslide"):
            kind = "slide"  # the first shown cell opens the deck
        types.append(kind)
        previous = cell
    return types


def apply_slide_metadata(nb: nbformat.NotebookNode) -> int:
    """Set every cell's ``metadata.slideshow.slide_type`` by :func:`slide_types`, in place; touch
    nothing else. Returns how many cells changed (0 the second time: it is idempotent)."""
    changed = 0
    for cell, kind in zip(nb.cells, slide_types(nb)):
        meta = cell.setdefault("metadata", {})
        if meta.get("slideshow", {}).get("slide_type") != kind:
            meta.setdefault("slideshow", {})["slide_type"] = kind
            changed += 1
    return changed


def check_slide_metadata(nb: nbformat.NotebookNode) -> list[str]:
    """Cells whose slide type breaks the rule, as ``"cell N (first line): has X, the rule says Y"``."""
    problems = []
    for i, (cell, kind) in enumerate(zip(nb.cells, slide_types(nb))):
        has = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
        if has != kind:
            first = cell.source.strip().split("\n")[0][:60]
            problems.append(f"cell {i} ({first!r}): has {has!r}, the rule says {kind!r}")
    return problems


def set_slide_metadata(src_dir=NOTEBOOKS_DIR, names=None) -> dict:
    """Apply the rule to the notebooks on disk (each read and written back at once); ``{path: changed}``."""
    out = {}
    for path in notebook_paths(src_dir, names):
        nb = nbformat.read(path, as_version=4)
        n = apply_slide_metadata(nb)
        if n:
            nbformat.write(nb, path)
        out[path] = n
    return out


# -- live slides (RISE) -----------------------------------------------------------------------------

# jupyterlab-rise settings (plugin "jupyterlab-rise:plugin"): a slide taller than the screen scrolls
# instead of being cut off. Width and height stay RISE's "100%": a fixed 1280x720 slide breaks RISE's
# layout of notebook cells (seen with jupyterlab-rise 0.43.1), and at 100% every slide uses the whole
# screen at 1280x720 and at 1920x1080 alike (zoom with the browser's Ctrl +/- when needed).
RISE_PLUGIN = "jupyterlab-rise:plugin"
RISE_SETTINGS = {"scroll": True, "transition": "none"}
# RISE's page has no menu to run every cell: a key for it (in the slideshow and in JupyterLab alike).
SHORTCUTS_PLUGIN = "@jupyterlab/shortcuts-extension:shortcuts"
RUN_ALL_SHORTCUT = {"command": "notebook:run-all-cells", "keys": ["Ctrl Shift F9"], "selector": "body"}


def rise_path(notebook: str, folder: str = "") -> str:
    """The URL path (below JupyterLab's base URL) that opens ``notebooks/NAME.ipynb`` straight into
    the RISE slideshow, when JupyterLab serves ``folder`` as its root ("" for ``notebooks/`` itself,
    as ``make lab`` does): ``rise_path("01_forward_process") == "rise/01_forward_process.ipynb"``."""
    names = [p.name for p in notebook_paths(NOTEBOOKS_DIR)]
    name = notebook if notebook.endswith(".ipynb") else f"{notebook}.ipynb"
    if name not in names:
        raise ValueError(f"notebook={notebook!r} is not in notebooks/; allowed: {names}")
    folder = folder.strip("/")
    return f"rise/{folder + '/' if folder else ''}{name}"


def install_rise_settings(prefix=sys.prefix) -> Path:
    """Merge :data:`RISE_SETTINGS` and the :data:`RUN_ALL_SHORTCUT` key into JupyterLab's
    ``PREFIX/share/jupyter/lab/settings/overrides.json`` (read by JupyterLab and by RISE's slideshow
    page); other settings there are kept, and running it twice changes nothing. Returns the file."""
    path = Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    data = json.loads(path.read_text()) if path.exists() and path.read_text().strip() else {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds {type(data).__name__}, expected a JSON object of plugin settings")
    data.setdefault(RISE_PLUGIN, {}).update(RISE_SETTINGS)
    shortcuts = data.setdefault(SHORTCUTS_PLUGIN, {}).setdefault("shortcuts", [])
    if RUN_ALL_SHORTCUT not in shortcuts:
        shortcuts.append(RUN_ALL_SHORTCUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


# -- command line -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddpm_helpers.cli.slides",
                                     description="Slide metadata, and offline reveal.js decks of the notebooks.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_slides_arguments(sub.add_parser("build", help="build/slides/: each notebook as an offline reveal.js deck"))
    p_meta = sub.add_parser("metadata", help="set every cell's slide type by the rule (or --check it)")
    p_meta.add_argument("--src", default=str(NOTEBOOKS_DIR), help="folder of the notebooks")
    p_meta.add_argument("--check", action="store_true", help="only report cells that break the rule; exit 1 if any")
    p_meta.add_argument("names", nargs="*", help="only these notebooks (file name or stem)")
    sub.add_parser("assets", help="fetch reveal.js and MathJax into build/vendor/ (npm pack)")
    sub.add_parser("rise-settings", help="write the RISE settings into this environment's JupyterLab overrides.json")
    p_path = sub.add_parser("rise-path", help="print the URL path that opens a notebook in the RISE slideshow")
    p_path.add_argument("notebook", help="file name or stem, e.g. 01_forward_process")
    args = parser.parse_args(argv)
    if args.command == "build":
        run_slides(args)
    elif args.command == "metadata":
        bad = 0
        for path in notebook_paths(args.src, args.names or None):
            if args.check:
                problems = check_slide_metadata(nbformat.read(path, as_version=4))
                bad += len(problems)
                for p in problems:
                    print(f"{path.name}: {p}")
            else:
                print(f"{path.name}: {set_slide_metadata(args.src, [path.name])[path]} cells changed")
        return 1 if bad else 0
    elif args.command == "assets":
        assets = fetch_assets()
        for f in sorted(p for p in assets.rglob("*") if p.is_file() and p.suffix in {".js", ".css"}):
            print(f"{f.relative_to(assets)}  sha256 {asset_digest(f)}")
    elif args.command == "rise-settings":
        print(install_rise_settings())
    elif args.command == "rise-path":
        print(rise_path(args.notebook))
    else:  # argparse already refuses other commands
        raise ValueError(f"command={args.command!r}; allowed: 'build', 'metadata', 'assets', 'rise-settings', "
                         f"'rise-path'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
