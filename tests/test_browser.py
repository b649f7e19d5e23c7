"""The series used as people use it: JupyterLab in a real (headless) browser.

For notebook 01 and notebook 06 this test

1. starts JupyterLab from this Python environment on a free localhost port, with a fresh token and
   throw-away config/runtime/settings folders, and ``DDPM_QUICK=1`` in the server's (hence the
   kernel's) environment;
2. opens the notebook in headless Chromium driven by Playwright (Debian's ``chromium`` through
   ``executable_path``; no browser download at run time);
3. runs all cells (JupyterLab's own ``notebook:run-all-cells`` command) and waits until every code
   cell has run, failing with the first traceback if one raised;
4. finds the slider panel (the cell output holding a slider whose label matches the case), takes a
   screenshot of the panel's picture, moves the slider with the keyboard (PageUp or ArrowRight on
   the focused handle, as a user would), waits, takes a second screenshot, and asserts the pictures differ.

So it fails if a slider stops updating its picture in a real browser (a broken widget frontend,
a callback that raises, an output that is never re-drawn).

Chromium or Playwright missing: FAIL under CI (``CI`` set to true/1), SKIP elsewhere, with the reason.
``make test`` installs Playwright (requirements.txt) and Chromium (``make browser``).
Screenshots are written to pytest's tmp folder; the failure message says where.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (notebook, regex matched against the slider's label, what the slider is called in messages, the key
# that moves it: PageUp = 5 steps of t; ArrowRight = the next DDIM step count, cheap to sample)
CASES = [
    ("01_forward_process.ipynb", r"(^|\W)t(\W|$)|time ?step", "timestep slider", "PageUp"),
    ("06_ddim.ipynb", r"steps", "steps slider", "ArrowRight"),
]

SERVER_START_TIMEOUT_S = 120
PAGE_TIMEOUT_S = 120          # JupyterLab loads, the kernel starts
RUN_ALL_TIMEOUT_S = 300       # every cell of a notebook runs (quick mode)
UPDATE_TIMEOUT_S = 90         # the picture is redrawn after the slider moved

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _unavailable(reason: str):
    """Fail in CI, skip locally: a missing browser must never let CI pass silently."""
    if _in_ci():
        pytest.fail(f"browser test cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def find_chromium() -> str | None:
    """A Chromium/Chrome executable on this machine ($CHROMIUM first), or None."""
    for cand in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome",
                 "/usr/bin/chromium", "/usr/lib/chromium/chromium"):
        if cand and (shutil.which(cand) or (os.path.isfile(cand) and os.access(cand, os.X_OK))):
            return shutil.which(cand) or cand
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


@contextmanager
def lab_server(root: Path, workdir: Path):
    """JupyterLab of sys.executable's environment, serving ``root``; yields (base_url, token)."""
    token = secrets.token_hex(16)
    port = _free_port()
    for sub in ("config", "runtime", "data", "settings", "workspaces"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    settings = workdir / "settings"
    # Render every cell (no windowing, so the panel is in the DOM wherever it is) and no news pop-up.
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    # Never autosave: the notebooks in the repository stay as committed (no outputs).
    (settings / "@jupyterlab" / "docmanager-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings").write_text(
        json.dumps({"autosave": False}))
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ)
    env.update({
        "DDPM_QUICK": "1",                      # inherited by the kernel
        "JUPYTER_CONFIG_DIR": str(workdir / "config"),
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
        "JUPYTER_DATA_DIR": str(workdir / "data"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("JUPYTER_TOKEN", None)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
           f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
           f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workdir / 'workspaces'}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--ServerApp.terminals_enabled=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root
        cmd.append("--allow-root")
    log_path = workdir / "jupyter.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {proc.returncode} before it served; "
                            f"log:\n{_tail(log_path)}", pytrace=False)
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer on {base} within {SERVER_START_TIMEOUT_S} s; "
                            f"log:\n{_tail(log_path)}", pytrace=False)
            time.sleep(0.5)
        yield base, token, log_path
    finally:
        # Ask the server to shut down (it stops its kernels), then make sure the whole group is gone.
        try:
            req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST", data=b"")
            urllib.request.urlopen(req, timeout=10).close()
        except OSError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # our own session: leftover kernels, if any
        except (ProcessLookupError, PermissionError):
            pass
        log.close()


@contextmanager
def headless_chromium(workdir: Path):
    """A Playwright browser: Debian's chromium when present, else Playwright's own if installed."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package 'playwright' is not installed (pip install -r requirements.txt)")
    exe = find_chromium()
    pw = sync_playwright().start()
    browser = None
    try:
        # Playwright gives every launch a fresh, empty user-data-dir of its own.
        kwargs = dict(headless=True, args=CHROMIUM_ARGS)
        try:
            if exe is not None:
                browser = pw.chromium.launch(executable_path=exe, **kwargs)
            else:
                browser = pw.chromium.launch(**kwargs)  # a browser from `playwright install`, if any
        except Exception as e:  # noqa: BLE001 - any launch failure means "no usable browser"
            where = exe or "no chromium on PATH (apt-get install chromium, or `make browser`)"
            _unavailable(f"cannot start headless Chromium ({where}): {str(e).splitlines()[0][:300]}")
        yield browser
    finally:
        if browser is not None:
            try:
                browser.close()
            except Exception:  # noqa: BLE001
                pass
        pw.stop()


# -- JupyterLab state, read from the page (the app is exposed by --LabApp.expose_app_in_browser) ---

_NOTEBOOK_STATE_JS = r"""
() => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return {phase: 'app'};
  const nb = app.shell.currentWidget;
  if (!nb || !nb.content || !nb.sessionContext) return {phase: 'notebook'};
  const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
  const cells = nb.content.widgets.filter(c => c.model.type === 'code');
  const counts = cells.map(c => c.model.executionCount);
  let error = null;
  cells.forEach((c, i) => {
    const outs = c.model.outputs.toJSON();
    outs.forEach(o => {
      if (o.output_type === 'error' && error === null)
        error = {cell: i, ename: o.ename, evalue: o.evalue,
                 traceback: (o.traceback || []).join('\n').replace(/\u001b\[[0-9;]*m/g, '')};
    });
  });
  return {phase: 'ready', ready: nb.sessionContext.isReady, status: kernel ? kernel.status : 'none',
          counts: counts, error: error};
}
"""


def _state(page) -> dict:
    return page.evaluate(_NOTEBOOK_STATE_JS)


def _wait(page, what: str, predicate, timeout_s: float, shots: Path, tag: str, interval_s: float = 0.5):
    """Poll ``predicate(state)`` until true; on timeout fail with the last state and a screenshot."""
    deadline = time.monotonic() + timeout_s
    state = {}
    while time.monotonic() < deadline:
        state = _state(page)
        if state.get("error"):
            e = state["error"]
            _fail_page(page, shots, tag, f"code cell {e['cell']} raised {e['ename']}: {e['evalue']}\n"
                                         f"{e['traceback'][-3000:]}")
        if predicate(state):
            return state
        time.sleep(interval_s)
    _fail_page(page, shots, tag, f"timed out after {timeout_s:.0f} s waiting for {what}; last state: "
                                 f"{json.dumps({k: v for k, v in state.items() if k != 'error'})[:600]}")


def _fail_page(page, shots: Path, tag: str, msg: str):
    path = shots / f"{tag}-failure.png"
    try:
        page.screenshot(path=str(path), full_page=True)
        msg += f"\n(screenshot of the page: {path})"
    except Exception:  # noqa: BLE001
        pass
    pytest.fail(msg, pytrace=False)


def _find_slider(page, label_re: str):
    """The (panel output, slider) whose slider label matches ``label_re``; the first slider otherwise."""
    panels = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-slider"))
    first = None
    for i in range(panels.count()):
        panel = panels.nth(i)
        sliders = panel.locator(".widget-slider")
        for j in range(sliders.count()):
            slider = sliders.nth(j)
            label = slider.locator(".widget-label").first
            text = (label.inner_text() if label.count() else "").strip()
            if first is None:
                first = (panel, slider, text)
            if re.search(label_re, text, flags=re.IGNORECASE):
                return panel, slider, text
    return first


def _picture(panel):
    """The panel's largest image (an <img> from matplotlib or an Image widget, or a <canvas>)."""
    best, best_area = None, 0.0
    imgs = panel.locator("img, canvas")
    for i in range(imgs.count()):
        box = imgs.nth(i).bounding_box()
        if box and box["width"] * box["height"] > best_area:
            best, best_area = imgs.nth(i), box["width"] * box["height"]
    return best, best_area


def _panel_error(panel) -> str | None:
    """Text of a traceback shown inside the panel (a callback that raised), if any."""
    errs = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], "
                         ".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    for i in range(errs.count()):
        text = errs.nth(i).inner_text()
        if "Error" in text or "Traceback" in text:
            return text[-2000:]
    return None


def check_slider_updates_picture(browser, base: str, token: str, notebook: str, label_re: str,
                                 what: str, key: str, shots: Path) -> dict:
    """Open ``notebook``, run all cells, move the slider, assert the picture changed; return timings."""
    tag = Path(notebook).stem
    times = {}
    t0 = time.monotonic()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_S * 1000)
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    try:
        # 1. open the notebook and wait for its kernel
        page.goto(f"{base}/lab/tree/notebooks/{notebook}?token={token}&reset", wait_until="domcontentloaded")
        _wait(page, "JupyterLab to open the notebook and its kernel to be idle",
              lambda s: s.get("phase") == "ready" and s["ready"] and s["status"] == "idle",
              PAGE_TIMEOUT_S, shots, tag)
        n_code = len(_state(page)["counts"])
        if n_code == 0:
            _fail_page(page, shots, tag, f"{notebook} opened with no code cells (did it load?)")
        times["open"] = time.monotonic() - t0

        # 2. run all cells, as Run > Run All Cells does
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); return true; }")
        _wait(page, f"all {n_code} code cells of {notebook} to run",
              lambda s: s["status"] == "idle" and all(c is not None for c in s["counts"]),
              RUN_ALL_TIMEOUT_S, shots, tag, interval_s=1.0)
        times["run_all"] = time.monotonic() - t0 - times["open"]

        # 3. the panel and its picture
        page.locator(".widget-slider").first.wait_for(state="attached", timeout=60_000)
        found = _find_slider(page, label_re)
        if found is None:
            _fail_page(page, shots, tag, f"{notebook}: no slider panel rendered after running all cells")
        panel, slider, label = found
        if not re.search(label_re, label, flags=re.IGNORECASE):
            _fail_page(page, shots, tag, f"{notebook}: no slider labelled like /{label_re}/ (the {what}); "
                                         f"first slider is labelled {label!r}")
        panel.scroll_into_view_if_needed()
        deadline = time.monotonic() + 60
        img, area = _picture(panel)
        while (img is None or area < 2500) and time.monotonic() < deadline:
            time.sleep(0.5)
            img, area = _picture(panel)
        if img is None or area < 2500:
            _fail_page(page, shots, tag, f"{notebook}: the panel of the {what} shows no picture")
        before = img.screenshot(path=str(shots / f"{tag}-before.png"))

        # 4. move the slider with the keyboard, like a user: focus the handle, press `key`
        handle = slider.locator(".noUi-handle").first
        v0 = handle.get_attribute("aria-valuenow")
        handle.focus()
        handle.press(key)
        v1 = handle.get_attribute("aria-valuenow")
        if v1 == v0:                      # already at the maximum: go the other way
            back = {"PageUp": "PageDown", "ArrowRight": "ArrowLeft"}.get(key, "Home")
            handle.press(back)
            handle.press(back)
            v1 = handle.get_attribute("aria-valuenow")
        if v1 == v0:
            _fail_page(page, shots, tag, f"{notebook}: the {what} ({label!r}) did not move on {key} "
                                         f"(value stays {v0})")
        t_move = time.monotonic()

        # 5. wait for the redraw: the picture differs and the kernel is idle again
        after = before
        while time.monotonic() - t_move < UPDATE_TIMEOUT_S:
            time.sleep(0.5)
            err = _panel_error(panel)
            if err:
                _fail_page(page, shots, tag, f"{notebook}: moving the {what} from {v0} to {v1} made the panel "
                                             f"show an error:\n{err}")
            if _state(page)["status"] != "idle":
                continue
            img, area = _picture(panel)
            if img is None or area < 2500:
                continue
            after = img.screenshot(path=str(shots / f"{tag}-after.png"))
            if after != before:
                break
        times["update"] = time.monotonic() - t_move
        if after == before:
            _fail_page(page, shots, tag,
                       f"{notebook}: the picture did not change within {UPDATE_TIMEOUT_S} s after moving the "
                       f"{what} ({label!r}) from {v0} to {v1} (screenshots in {shots}); "
                       f"browser console errors: {console_errors[-5:]}")
        assert after != before
        times["total"] = time.monotonic() - t0
        return times
    finally:
        try:  # stop this notebook's kernel before the next notebook starts its own
            page.evaluate("() => { const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                          " return nb && nb.sessionContext ? nb.sessionContext.shutdown().then(() => true) : false; }")
        except Exception:  # noqa: BLE001 - the server's own shutdown stops it anyway
            pass
        context.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if find_chromium() is None and _in_ci():
        _unavailable("no chromium executable found (Debian: apt-get install chromium; `make browser` does it "
                     "as root)")
    workdir = tmp_path_factory.mktemp("browser")
    # Serve a copy of notebooks/: whatever the browser does, the committed notebooks stay untouched.
    served = workdir / "root"
    shutil.copytree(ROOT / "notebooks", served / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    with headless_chromium(workdir) as browser:
        with lab_server(served, workdir) as (base, token, log_path):
            yield browser, base, token, workdir


@pytest.mark.parametrize("notebook,label_re,what,key", CASES, ids=[c[0].split("_")[0] for c in CASES])
def test_slider_moves_picture_in_jupyterlab(lab, notebook, label_re, what, key):
    if not (ROOT / "notebooks" / notebook).exists():
        pytest.fail(f"notebooks/{notebook} is missing", pytrace=False)
    browser, base, token, workdir = lab
    shots = workdir / "screenshots"
    shots.mkdir(exist_ok=True)
    times = check_slider_updates_picture(browser, base, token, notebook, label_re, what, key, shots)
    print(f"{notebook}: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
