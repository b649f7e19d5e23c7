"""Live slides: RISE's slideshow of a running notebook, with a slider moved on a slide.

As tests/test_browser.py does for JupyterLab (and with its server and browser helpers):

1. starts JupyterLab (with jupyterlab-rise, from requirements.txt) on a free localhost port, with
   ``DDPM_QUICK=1`` and the presentation figure size ``DDPM_FIGURES=presentation`` in the kernel's
   environment, and the RISE settings and "run all cells" key that ``make lab`` installs
   (:data:`ddpm_helpers.cli.slides.RISE_SETTINGS`, :data:`~ddpm_helpers.cli.slides.RUN_ALL_SHORTCUT`);
2. opens notebook 01 straight in the slideshow (:func:`ddpm_helpers.cli.slides.rise_path`, the URL
   ``make present`` opens), runs all cells from the keyboard and waits until every code cell has
   run, failing with the first traceback shown;
3. goes to the slide that holds the timestep slider's panel, checks the panel is on the slide
   shown and fits the screen at 1280x720 and at 1920x1080;
4. drags the slider's handle with the mouse, as a presenter does, and asserts the slider's value
   and the panel's picture changed, and that the slideshow stayed on the same slide.

Chromium or Playwright missing: FAIL under CI (``CI`` true), SKIP elsewhere (as test_browser.py).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import pytest

from ddpm_helpers.cli.slides import RISE_PLUGIN, RISE_SETTINGS, RUN_ALL_SHORTCUT, rise_path
from test_browser import (_find_slider, _in_ci, _panel_error, _picture, _unavailable, find_chromium,
                          headless_chromium, lab_server)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_forward_process.ipynb"
LABEL_RE = r"(^|\W)t(\W|$)|time ?step"     # the timestep slider of the forward-process panel
VIEWPORTS = [(1280, 720), (1920, 1080)]
RUN_ALL_KEY = RUN_ALL_SHORTCUT["keys"][0].replace("Ctrl", "Control").replace(" ", "+")  # Playwright's spelling
OPEN_TIMEOUT_S = 120
RUN_ALL_TIMEOUT_S = 300
START_TIMEOUT_S = 20
UPDATE_TIMEOUT_S = 90

_PROMPTS_JS = r"""
() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  const prompts = cells.map(c => (c.querySelector('.jp-InputPrompt') || {textContent: ''}).textContent.trim());
  const err = document.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"], '
                                     + '.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]');
  return {prompts: prompts, error: err ? err.textContent.slice(-3000) : null};
}
"""

# (h, v) of the reveal.js slide holding `el` (RISE puts each slide in a <section>, subslides nested)
_SLIDE_OF_JS = r"""
(el) => {
  const inner = el.closest('section');
  const outer = inner.parentElement.closest('section');
  const top = outer || inner;
  const h = [...top.parentElement.children].filter(e => e.tagName === 'SECTION').indexOf(top);
  const v = outer ? [...outer.children].filter(e => e.tagName === 'SECTION').indexOf(inner) : 0;
  return [h, v];
}
"""


def _fail(page, shots: Path, msg: str):
    path = shots / "rise-failure.png"
    try:
        page.screenshot(path=str(path))
        msg += f"\n(screenshot: {path})"
    except Exception:  # noqa: BLE001
        pass
    pytest.fail(msg, pytrace=False)


def _wait_kernel_idle(base: str, token: str, path: str, page, shots: Path) -> None:
    """Poll the server's sessions until ``path`` has a kernel that is idle (RISE's page starts it)."""
    deadline = time.monotonic() + OPEN_TIMEOUT_S
    sessions = []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as r:
            sessions = json.load(r)
        for s in sessions:
            if s.get("path") == path and (s.get("kernel") or {}).get("execution_state") == "idle":
                return
        time.sleep(0.5)
    _fail(page, shots, f"{path}: no idle kernel within {OPEN_TIMEOUT_S} s after RISE opened it; sessions: "
                       f"{[(s.get('path'), (s.get('kernel') or {}).get('execution_state')) for s in sessions]}")


def _fits(page, panel, w: int, h: int) -> dict:
    box = panel.bounding_box()
    present = panel.evaluate("el => el.closest('section').classList.contains('present')")
    ok = (box is not None and present and box["x"] >= -1 and box["y"] >= -1
          and box["x"] + box["width"] <= w + 1 and box["y"] + box["height"] <= h + 1)
    return {"ok": ok, "box": box, "present": present}


@pytest.fixture(scope="module")
def rise_lab(tmp_path_factory):
    if find_chromium() is None and _in_ci():
        _unavailable("no chromium executable found (Debian: apt-get install chromium; `make browser` does it as root)")
    workdir = tmp_path_factory.mktemp("rise")
    served = workdir / "root"
    shutil.copytree(ROOT / "notebooks", served / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    settings = workdir / "settings"
    # RISE's page reads its settings through JupyterLab's settings API, whose user folder is lab_server's
    # settings/ (also $JUPYTERLAB_SETTINGS_DIR below): the settings and the "run all cells" key that
    # `make lab` puts into the environment's overrides.json, here without touching the environment.
    package, plugin = RISE_PLUGIN.split(":")  # "jupyterlab-rise:plugin" -> jupyterlab-rise/plugin.jupyterlab-settings
    (settings / package).mkdir(parents=True)
    (settings / package / f"{plugin}.jupyterlab-settings").write_text(json.dumps(RISE_SETTINGS))
    (settings / "@jupyterlab" / "shortcuts-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "shortcuts-extension" / "shortcuts.jupyterlab-settings").write_text(json.dumps(
        {"shortcuts": [RUN_ALL_SHORTCUT]}))
    with headless_chromium(workdir) as browser, ExitStack() as stack:
        # the server copies them
        with mock.patch.dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), DDPM_FIGURES="presentation"):
            base, token, _log = stack.enter_context(lab_server(served, workdir))
        yield browser, base, token, workdir


def test_slider_moves_picture_in_rise_slideshow(rise_lab):
    browser, base, token, workdir = rise_lab
    shots = workdir / "screenshots"
    shots.mkdir(exist_ok=True)
    times = {}
    t0 = time.monotonic()
    w0, h0 = VIEWPORTS[0]
    context = browser.new_context(viewport={"width": w0, "height": h0})
    page = context.new_page()
    page.set_default_timeout(OPEN_TIMEOUT_S * 1000)
    try:
        # 1. straight into the slideshow, as `make present` opens it
        page.goto(f"{base}/{rise_path(NOTEBOOK, folder='notebooks')}?token={token}", wait_until="domcontentloaded")
        page.locator(".reveal.ready .slides section").first.wait_for(state="attached")
        page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(state="attached")
        times["open"] = time.monotonic() - t0

        # 2. once the notebook's kernel is idle, run all cells from the keyboard (pressed again if nothing
        #    started within START_TIMEOUT_S); wait until every code cell has its execution count
        _wait_kernel_idle(base, token, f"notebooks/{NOTEBOOK}", page, shots)
        deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
        state, presses, pressed_at = {}, 0, -1e9
        while time.monotonic() < deadline:
            state = page.evaluate(_PROMPTS_JS)
            if state["error"]:
                _fail(page, shots, f"{NOTEBOOK} in RISE: a cell raised:\n{state['error']}")
            if state["prompts"] and all(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"]):
                break
            started = any(p != "[ ]:" for p in state["prompts"])
            if not started and time.monotonic() - pressed_at > START_TIMEOUT_S:
                if presses == 3:
                    _fail(page, shots, f"{NOTEBOOK} in RISE: {RUN_ALL_KEY} (run all cells) pressed 3 times, "
                                       f"no cell started; prompts {state['prompts']}")
                page.keyboard.press("Escape")
                page.keyboard.press(RUN_ALL_KEY)
                presses, pressed_at = presses + 1, time.monotonic()
            time.sleep(1.0)
        else:
            _fail(page, shots, f"{NOTEBOOK} in RISE: not every code cell ran within {RUN_ALL_TIMEOUT_S} s; "
                               f"prompts {state.get('prompts')}")
        times["run_all"] = time.monotonic() - t0 - times["open"]

        # 3. the slide with the panel; it is shown and fits the screen at both projector sizes
        try:
            page.locator(".widget-slider").first.wait_for(state="attached", timeout=60_000)
        except Exception:  # noqa: BLE001 - a Playwright timeout: say what it means
            _fail(page, shots, f"{NOTEBOOK} in RISE: every cell ran but no slider was drawn within 60 s: the "
                               f"widget frontend did not load in RISE's page (ipywidgets >= 8.1.3 needs "
                               f"@jupyterlab/console, which RISE's page lacks: see requirements.txt)")
        found = _find_slider(page, LABEL_RE)
        if found is None or not re.search(LABEL_RE, found[2], flags=re.IGNORECASE):
            _fail(page, shots, f"{NOTEBOOK} in RISE: no timestep slider rendered on any slide "
                               f"(first slider: {found and found[2]!r}); widgets not loaded in RISE's page?")
        panel, slider, label = found
        h, v = panel.evaluate(_SLIDE_OF_JS)
        page.evaluate(f"() => {{ location.hash = '#/{h}/{v}'; }}")
        page.wait_for_function("(el) => el.closest('section').classList.contains('present')",
                               arg=panel.element_handle(), timeout=30_000)
        time.sleep(1.0)  # the slide transition
        for w, hh in reversed(VIEWPORTS):  # 1920x1080 first, then back to 1280x720 for the drag
            page.set_viewport_size({"width": w, "height": hh})
            time.sleep(1.0)
            fit = _fits(page, panel, w, hh)
            page.screenshot(path=str(shots / f"rise-panel-{w}x{hh}.png"))
            if not fit["ok"]:
                _fail(page, shots, f"{NOTEBOOK} in RISE at {w}x{hh}: the panel of slide {h}/{v} does not fit the "
                                   f"screen: box {fit['box']}, slide shown: {fit['present']}")
        img, area = _picture(panel)
        if img is None or area < 2500:
            _fail(page, shots, f"{NOTEBOOK} in RISE: the panel shows no picture")
        before = img.screenshot(path=str(shots / "rise-before.png"))
        hash_before = page.evaluate("() => location.hash")

        # 4. drag the slider's handle to the right with the mouse
        handle = slider.locator(".noUi-handle").first
        v0 = handle.get_attribute("aria-valuenow")
        hb = handle.bounding_box()
        track = slider.locator(".noUi-target, .slider-container").first.bounding_box() or hb
        page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
        page.mouse.down()
        page.mouse.move(hb["x"] + hb["width"] / 2 + max(40.0, track["width"] * 0.25), hb["y"] + hb["height"] / 2,
                        steps=8)
        page.mouse.up()
        v1 = handle.get_attribute("aria-valuenow")
        if v1 == v0:
            _fail(page, shots, f"{NOTEBOOK} in RISE: dragging the {label!r} slider did not move it (value {v0})")
        t_move = time.monotonic()
        after = before
        while time.monotonic() - t_move < UPDATE_TIMEOUT_S:
            time.sleep(0.5)
            err = _panel_error(panel)
            if err:
                _fail(page, shots, f"{NOTEBOOK} in RISE: moving {label!r} from {v0} to {v1} made the panel show "
                                   f"an error:\n{err}")
            img, area = _picture(panel)
            if img is None or area < 2500:
                continue
            try:
                after = img.screenshot(path=str(shots / "rise-after.png"))
            except Exception as e:  # playwright's Error: the panel swapped its <img> between the lookup and the shot
                if "not attached to the DOM" not in str(e):
                    raise
                continue  # the update is under way: look again
            if after != before:
                break
        times["update"] = time.monotonic() - t_move
        if after == before:
            _fail(page, shots, f"{NOTEBOOK} in RISE: the picture did not change within {UPDATE_TIMEOUT_S} s after "
                               f"moving {label!r} from {v0} to {v1} (screenshots in {shots})")
        assert page.evaluate("() => location.hash") == hash_before, "the drag moved the slideshow to another slide"
        times["total"] = time.monotonic() - t0
        print(f"{NOTEBOOK} in RISE (slide {h}/{v}, {label!r} {v0} -> {v1}): "
              + ", ".join(f"{k} {s:.1f} s" for k, s in times.items()))
    finally:
        context.close()
