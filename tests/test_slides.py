"""Slides without a browser (ddpm_helpers.cli.slides and cli.deck, ddpm_helpers.ui.style's presentation size).

* every notebook's slide metadata follows the rule of :func:`ddpm_helpers.cli.slides.slide_types`
  (so later content edits keep each section a slide and each slider panel on a subslide of its own);
* the rule itself on small hand-made notebooks, and that applying it is idempotent;
* an offline deck references no network address in any ``src``/``href`` it loads, and ships the files
  it loads in ``_assets/``; widget state is left out of static decks;
* the RISE settings and URL helpers; the presentation figure size.

The decks in a real browser (network blocked) and RISE's live slideshow: tests/test_slides_browser_*.py.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from ddpm_helpers.cli.deck import ASSETS, NPM_ASSETS, build_slides, static_notebook
from ddpm_helpers.cli.slides import (
    RISE_PLUGIN,
    RISE_SETTINGS,
    RUN_ALL_SHORTCUT,
    SHORTCUTS_PLUGIN,
    apply_slide_metadata,
    check_slide_metadata,
    install_rise_settings,
    rise_path,
    slide_types,
)
from ddpm_helpers.lessons.forward import image_row
from ddpm_helpers.ui import style as figure_style

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _md(src, **meta):
    return nbformat.v4.new_markdown_cell(src, metadata=meta)


def _code(src, **meta):
    return nbformat.v4.new_code_cell(src, metadata=meta)


# -- the rule ----------------------------------------------------------------------------------------

def test_rule_on_a_small_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_md("# 01 — Title"), _md("intro"), _code("%pip install x", tags=["colab-setup"]),
                _code("import torch"), _md("## 1. A section"), _code("x = 1"), _md("More prose after code"),
                _code("y = 2"), _md("### A step"), _code("panel = forward_process_panel(x0, t=250)"),
                _md("prose right after a panel"), _md("## Summary")]
    assert slide_types(nb) == ["slide", "-", "skip", "-", "slide", "-", "subslide", "-", "subslide", "subslide",
                               "subslide", "slide"]


def test_the_first_shown_cell_opens_the_deck():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_code("setup()", tags=["colab-setup"]), _code("x = 1"), _md("text")]
    assert slide_types(nb) == ["skip", "slide", "subslide"]


def test_apply_is_idempotent_and_touches_only_slide_types():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_md("# T", tags=["keep"]), _code("x = 1", slideshow={"slide_type": "fragment"}), _md("## S")]
    assert apply_slide_metadata(nb) == 3
    assert [c.metadata["slideshow"]["slide_type"] for c in nb.cells] == ["slide", "-", "slide"]
    assert nb.cells[0].metadata["tags"] == ["keep"]
    assert apply_slide_metadata(nb) == 0
    assert check_slide_metadata(nb) == []
    nb.cells[2].metadata["slideshow"]["slide_type"] = "-"
    (problem,) = check_slide_metadata(nb)
    assert "cell 2" in problem and "'slide'" in problem


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_slide_metadata_follows_the_rule(path):
    nb = nbformat.read(path, as_version=4)
    problems = check_slide_metadata(nb)
    assert not problems, (f"{path.name}: slide metadata breaks the rule (run `python -m ddpm_helpers.cli.slides "
                          f"metadata` to set it):\n" + "\n".join(problems))
    types = slide_types(nb)
    headings = [c for c in nb.cells if c.cell_type == "markdown" and re.match(r"#{1,2}\s", c.source)]
    assert types.count("slide") == len(headings) >= 2, "each # / ## section is one slide"
    panels = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and re.search(r"\w+_panel\s*\(", c.source)]
    assert all(types[i] == "subslide" for i in panels)


# -- static decks ------------------------------------------------------------------------------------

def test_static_notebook_keeps_the_picture_and_drops_widget_state():
    nb = nbformat.v4.new_notebook(metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {}}})
    cell = _code("panel")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0},
        "image/png": "iVBORw0KGgo=", "text/plain": "Panel(children=(...))"})]
    anim = _code("anim")  # what matplotlib's to_jshtml() puts in front of an animation
    anim.outputs = [nbformat.v4.new_output("display_data", data={"text/html": [
        '<link rel="stylesheet"\nhref="https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css">',
        '<link rel="stylesheet" href="_assets/local.css"><div class="animation"><i class="fa fa-play"></i></div>']})]
    nb.cells = [cell, anim]
    out = static_notebook(nb)
    assert "widgets" not in out.metadata and "widgets" in nb.metadata, "a copy is changed, not the original"
    assert set(out.cells[0].outputs[0]["data"]) == {"image/png"}
    html = out.cells[1].outputs[0]["data"]["text/html"]
    assert "bootstrapcdn" not in html and 'href="_assets/local.css"' in html and 'class="fa fa-play"' in html


def test_deck_loads_only_local_files(tmp_path):
    path = NOTEBOOKS[0]
    (deck,) = build_slides(ROOT / "notebooks", tmp_path, names=[path.stem])
    html = deck.read_text()
    loaded = re.findall(r"""(?:<script[^>]*\ssrc|<link[^>]*\shref)=["']([^"']+)""", html)
    loaded += re.findall(r"""require\([^\[]*\[\s*"([^"]+)",\s*"([^"]+)\"""", html)[0]
    loaded += re.findall(r"""import\s+\w+\s+from\s+['"]([^'"]+)""", html)
    assert loaded, "the deck loads no script at all?"
    remote = [u for u in loaded if re.match(r"(https?:)?//", u)]
    assert not remote, f"the deck would fetch {remote} when viewed"
    for url in loaded:
        assert (tmp_path / url).is_file(), f"the deck loads {url}, which is not in {tmp_path}"
    assert "MathJax.Hub" not in html, "MathJax 2 code left in a MathJax 3 page"
    assert (tmp_path / ASSETS / "mathjax" / "tex-svg-full.js").stat().st_size > 1_000_000
    assert {spec.rsplit("@", 1)[0] for spec in NPM_ASSETS} == {"reveal.js", "mathjax", "requirejs", "jquery"}


# -- live slides -------------------------------------------------------------------------------------

def test_rise_path_and_its_errors():
    assert rise_path("06_ddim") == "rise/06_ddim.ipynb"
    assert rise_path("01_forward_process.ipynb", folder="notebooks/") == "rise/notebooks/01_forward_process.ipynb"
    with pytest.raises(ValueError, match="notebook='07_nothing'.*allowed"):
        rise_path("07_nothing")


def test_install_rise_settings_merges(tmp_path):
    path = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
                                RISE_PLUGIN: {"theme": "white", "scroll": False}}))
    assert install_rise_settings(tmp_path) == path
    data = json.loads(path.read_text())
    assert data["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert data[RISE_PLUGIN] == {"theme": "white", **RISE_SETTINGS}
    assert RISE_SETTINGS["scroll"] is True
    assert data[SHORTCUTS_PLUGIN]["shortcuts"] == [RUN_ALL_SHORTCUT]
    install_rise_settings(tmp_path)
    assert json.loads(path.read_text()) == data, "running it twice changes nothing"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        install_rise_settings(tmp_path)


def test_rise_settings_are_valid_for_the_installed_rise():
    from jupyter_core.paths import jupyter_path

    found = [Path(d) / "jupyterlab-rise" / "schemas" / "jupyterlab-rise" / "plugin.json"
             for d in jupyter_path("labextensions")]
    found = [f for f in found if f.is_file()]
    if not found:
        pytest.fail("jupyterlab-rise is not installed (requirements.txt); `make install`", pytrace=False)
    props = json.loads(found[0].read_text())["properties"]
    for key, value in RISE_SETTINGS.items():
        assert key in props, f"RISE has no setting {key!r}"
        allowed = props[key].get("enum")
        assert allowed is None or value in allowed, f"{key}={value!r}; RISE allows {allowed}"


# -- the presentation figure size ----------------------------------------------------------------------

def test_presentation_size_fits_the_slide_box(monkeypatch):
    monkeypatch.setenv("DDPM_FIGURES", "presentation")
    for size in [(14, 4.2), (12, 4), (5, 5), (6.5 * 3, 6), (20, 12)]:
        fig = figure_style.new_figure(figsize=size)
        w, h = fig.get_size_inches()
        assert w <= figure_style.SLIDE_FIGURE_INCHES[0] + 1e-9 and h <= figure_style.SLIDE_FIGURE_INCHES[1] + 1e-9
        assert w / h == pytest.approx(size[0] / size[1])
        assert fig.dpi == figure_style.SLIDE_DPI
    small = figure_style.new_figure(figsize=(4, 3))
    assert tuple(small.get_size_inches()) == (4, 3), "a figure inside the box keeps its size"
    assert figure_style.style()["xtick.labelsize"] == pytest.approx(12 * figure_style.PRESENTATION_FONT_SCALE)
    monkeypatch.delenv("DDPM_FIGURES")
    assert tuple(figure_style.new_figure(figsize=(14, 4.2)).get_size_inches()) == (14, 4.2)
    assert figure_style.style() == figure_style.STYLE


def test_presentation_fonts_reach_the_figures(monkeypatch):
    import torch

    monkeypatch.setenv("DDPM_FIGURES", "presentation")
    fig = image_row([torch.zeros(1, 8, 8)] * 2, titles=["a", "b"], suptitle="s")
    expected = figure_style.STYLE["figure.titlesize"] * figure_style.PRESENTATION_FONT_SCALE
    assert fig._suptitle.get_fontsize() == pytest.approx(expected)


def test_figure_mode_errors(monkeypatch):
    with pytest.raises(ValueError, match=r"mode='slides'; allowed: 'notebook', 'presentation'"):
        figure_style.new_figure(mode="slides")
    monkeypatch.setenv("DDPM_FIGURES", "big")
    with pytest.raises(ValueError, match=r"\$DDPM_FIGURES='big'"):
        figure_style.figure_mode()
    with pytest.raises(ValueError, match="figsize"):
        figure_style.fit_figsize((0, 3), mode="presentation")


# -- the command lines ---------------------------------------------------------------------------------

def test_metadata_command_checks_and_sets(tmp_path, capsys):
    from ddpm_helpers.cli.slides import main

    nb = nbformat.v4.new_notebook()
    nb.cells = [_md("# T"), _code("x = 1"), _md("after code")]
    nbformat.write(nb, tmp_path / "a.ipynb")
    assert main(["metadata", "--check", "--src", str(tmp_path)]) == 1
    assert "cell 0" in capsys.readouterr().out
    assert main(["metadata", "--src", str(tmp_path)]) == 0
    assert main(["metadata", "--check", "--src", str(tmp_path)]) == 0
    written = nbformat.read(tmp_path / "a.ipynb", as_version=4)
    assert [c.metadata["slideshow"]["slide_type"] for c in written.cells] == ["slide", "-", "subslide"]


def test_editions_slides_command_builds_offline_decks(tmp_path, capsys):
    from ddpm_helpers.cli.editions import main

    assert main(["slides", "--out", str(tmp_path), NOTEBOOKS[0].stem]) == 0
    assert str(tmp_path / f"{NOTEBOOKS[0].stem}.slides.html") in capsys.readouterr().out
    assert (tmp_path / ASSETS / "reveal.js" / "dist" / "reveal.js").is_file()
