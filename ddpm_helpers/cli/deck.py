r"""Static slides that work offline: each notebook as a reveal.js deck (:func:`build_slides`, ``make slides``).

nbconvert's reveal.js exporter with a template (:data:`TEMPLATE`) that loads reveal.js, MathJax 3
(SVG output, no web fonts), require.js and jQuery from ``OUT/_assets/``, copied from npm packages
fetched at build time (:data:`NPM_ASSETS`, :func:`fetch_assets`, cached in ``build/vendor/``).
Nothing is fetched when the deck is viewed; the folder can be copied to a USB stick. Widget state
is left out (a static page has no kernel to move a slider): a panel shows the picture it had when
the notebook ran.

The slide types come from the notebooks' metadata (:mod:`ddpm_helpers.cli.slides`); the command is
``python -m ddpm_helpers.cli.slides build`` (or ``python -m ddpm_helpers.cli.editions slides``).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import nbformat

from ..core.paths import NOTEBOOKS_DIR, build_dir, notebook_paths

__all__ = ["ASSETS", "BUILD_DIR", "VENDOR_DIR", "NPM_ASSETS", "TEMPLATE", "fetch_assets", "static_notebook",
           "build_slides", "asset_digest", "add_slides_arguments", "run_slides"]

# a clone's folders (ddpm_helpers.core.paths): installed from a wheel or git the notebooks are not there
# (the commands then need --src) and the build output goes to the user cache
BUILD_DIR = build_dir()
VENDOR_DIR = BUILD_DIR / "vendor"
ASSETS = "_assets"

# npm package -> {file or folder in the package: where it goes under OUT/_assets/}. Exact versions:
# nbconvert 7's reveal template is written for reveal.js 4; MathJax 3's SVG output needs no fonts.
NPM_ASSETS = {
    "reveal.js@4.6.0": {"dist": "reveal.js/dist", "plugin/notes/notes.js": "reveal.js/plugin/notes/notes.js",
                        "LICENSE": "reveal.js/LICENSE"},
    "mathjax@3.2.2": {"es5/tex-svg-full.js": "mathjax/tex-svg-full.js", "LICENSE": "mathjax/LICENSE"},
    "requirejs@2.3.8": {"require.js": "require.js"},
    "jquery@3.7.1": {"dist/jquery.min.js": "jquery.min.js"},
}


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed once to fetch reveal.js and MathJax for the offline slides "
                           "(Debian: apt-get install npm); it is not on PATH")
    return npm


def fetch_assets(vendor_dir=VENDOR_DIR) -> Path:
    """Fetch the npm packages of :data:`NPM_ASSETS` (``npm pack``: the registry's tarballs, checked
    against their sha512 by npm) and unpack the files the decks need into ``vendor_dir/_assets``.

    Done once: a complete ``_assets`` folder (its ``.complete`` stamp names the packages) is reused.
    Returns the ``_assets`` folder.
    """
    vendor_dir = Path(vendor_dir)
    assets = vendor_dir / ASSETS
    stamp = assets / ".complete"
    want = "\n".join(sorted(NPM_ASSETS)) + "\n"
    if stamp.exists() and stamp.read_text() == want:
        return assets
    vendor_dir.mkdir(parents=True, exist_ok=True)
    with _locked(vendor_dir / ".lock"):  # two test workers may build decks at once
        if stamp.exists() and stamp.read_text() == want:
            return assets
        _unpack_assets(vendor_dir, assets)
        stamp.write_text(want)
    return assets


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` across processes (POSIX ``flock``; no lock where there is none)."""
    try:
        import fcntl
    except ImportError:  # Windows: builds are not run in parallel there
        yield
        return
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _unpack_assets(vendor_dir: Path, assets: Path) -> None:
    tarballs = vendor_dir / "npm"
    tarballs.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([_npm(), "pack", *NPM_ASSETS, "--pack-destination", str(tarballs), "--silent"],
                          capture_output=True, text=True, cwd=tarballs)
    if proc.returncode != 0:
        raise RuntimeError(f"npm pack {' '.join(NPM_ASSETS)} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    if assets.exists():
        shutil.rmtree(assets)
    for spec, files in NPM_ASSETS.items():
        name, version = spec.rsplit("@", 1)
        tgz = tarballs / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
        with tarfile.open(tgz) as tar:
            members = tar.getmembers()
            for src, dst in files.items():
                prefix = f"package/{src}"
                chosen = [m for m in members if m.isfile() and (m.name == prefix or m.name.startswith(prefix + "/"))
                          and not m.name.endswith(".map")]
                if not chosen:
                    raise RuntimeError(f"{spec}: {src} is not in the package (npm pack gave {tgz.name})")
                for m in chosen:
                    target = assets / dst / m.name[len(prefix):].lstrip("/") if m.name != prefix else assets / dst
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(m).read())


# A <link> to a remote style sheet inside an HTML output (matplotlib's to_jshtml() animations link
# Font Awesome from a CDN for their buttons; the deck draws those icons itself, see TEMPLATE).
REMOTE_LINK = re.compile(r"""<link\b[^>]*\bhref=["'](?:https?:)?//[^"']*["'][^>]*>""", re.IGNORECASE)


def static_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` for a static deck: no widget state, each widget output reduced to the picture
    it carries (the slider panels' ``image/png``), so the page loads no widget code, and no remote
    ``<link>`` left in an HTML output."""
    out = copy.deepcopy(nb)
    out.metadata.pop("widgets", None)
    for cell in out.cells:
        for o in cell.get("outputs", []):
            data = o.get("data")
            if not data:
                continue
            if "application/vnd.jupyter.widget-view+json" in data:
                data.pop("application/vnd.jupyter.widget-view+json")
                if "image/png" in data:
                    data.pop("text/plain", None)  # "Panel(children=...)" under the picture
            if "text/html" in data:
                html = data["text/html"]
                html = "".join(html) if isinstance(html, list) else html
                data["text/html"] = REMOTE_LINK.sub("", html)
    return out


# The deck's page: nbconvert's reveal template with every script and style sheet from ./_assets/.
TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js_jquery -%}<script src="_assets/jquery.min.js"></script>{%- endblock html_head_js_jquery -%}
{%- block html_head_js_requirejs -%}<script src="_assets/require.js"></script>{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}
<style>
.reveal .slides h1, .reveal .slides h2, .reveal .slides h3 { text-transform: none; }
/* the buttons of matplotlib's animations, without Font Awesome */
.fa { font-style: normal; }
.fa-minus:before { content: "\2212"; } .fa-plus:before { content: "+"; }
.fa-fast-backward:before { content: "\00AB"; } .fa-step-backward:before { content: "\25AE\25C0"; }
.fa-play:before { content: "\25B6"; } .fa-pause:before { content: "\25AE\25AE"; }
.fa-step-forward:before { content: "\25B6\25AE"; } .fa-fast-forward:before { content: "\00BB"; }
.fa-flip-horizontal { display: inline-block; transform: scaleX(-1); }
</style>
<script>
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true, processEnvironments: true, tags: 'ams'},
  svg: {fontCache: 'global'},
  options: {enableMenu: false},
  startup: {pageReady: function () {
    return MathJax.startup.defaultPageReady().then(function () { document.body.dataset.mathjax = 'done'; });
  }}
};
</script>
<script src="_assets/mathjax/tex-svg-full.js"></script>
{%- endblock html_head_js_mathjax -%}
{% block footer_js %}
<script>
require({waitSeconds: 30}, ["{{ reveal_url_prefix }}/dist/reveal.js", "{{ reveal_url_prefix }}/plugin/notes/notes.js"],
  function (Reveal, RevealNotes) {
    window.Reveal = Reveal;  // for the browser test and the console
    Reveal.initialize({controls: true, progress: true, history: true, center: false,
                       transition: "{{ reveal_transition }}", slideNumber: "{{ reveal_number }}",
                       plugins: [RevealNotes], width: {{ reveal_width }}, height: {{ reveal_height }}});
    Reveal.on('ready', function () { document.body.dataset.reveal = 'ready'; });
    var scroll = {{ reveal_scroll }};
    function scrolling() {  // a (sub)slide taller than the slide scrolls instead of being cut off
      var s = Reveal.getCurrentSlide(), h = Reveal.getConfig().height;
      if (scroll && s && s.scrollHeight > h) { s.style.height = h + 'px'; s.style.overflowY = 'auto'; }
    }
    Reveal.on('ready', scrolling);
    Reveal.on('slidechanged', scrolling);
  });
</script>
{% endblock footer_js %}
"""


def _exporter(hide_code: bool, reveal_prefix: str | None):
    import jinja2  # nbconvert (and jinja2, nbclient) load only when a deck is built: heavy imports
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(extra_loaders=[jinja2.DictLoader({"ddpm_slides.html.j2": TEMPLATE})],
                              template_file="ddpm_slides.html.j2")
    exporter.exclude_input = hide_code
    exporter.reveal_url_prefix = reveal_prefix or f"{ASSETS}/reveal.js"
    exporter.reveal_theme = "white"
    exporter.reveal_transition = "none"
    exporter.reveal_scroll = True
    exporter.reveal_width = "1280"   # a 16:9 slide, scaled by reveal.js to any screen (1920x1080 too)
    exporter.reveal_height = "720"
    return exporter


@contextlib.contextmanager
def _env(**values):
    """Set environment variables for a block (a notebook run's kernel inherits them), then restore them."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build_slides(src_dir=NOTEBOOKS_DIR, out_dir=BUILD_DIR / "slides", execute: bool = False,
                 hide_code: bool = False, reveal_prefix: str | None = None, names=None,
                 timeout: int | None = None, vendor_dir=VENDOR_DIR, log=None) -> list[Path]:
    """Export every notebook (or those in ``names``) as an offline reveal.js deck ``out_dir/NAME.slides.html``.

    The assets (:func:`fetch_assets`) are copied to ``out_dir/_assets``; the decks load nothing else.
    ``execute`` runs each notebook in a fresh kernel first (from its own folder, with the presentation
    figure size ``DDPM_FIGURES=presentation``; add ``DDPM_QUICK=1`` for a fast run) so the slides show
    the pictures; ``hide_code`` leaves code inputs out; ``reveal_prefix`` loads reveal.js from that
    URL instead of the local copy. ``log(message)`` gets one line per notebook (with the run time).
    """
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    paths = notebook_paths(src_dir, names)
    assets = fetch_assets(vendor_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / ASSETS).exists():
        shutil.rmtree(out_dir / ASSETS)
    shutil.copytree(assets, out_dir / ASSETS, ignore=shutil.ignore_patterns(".complete"))
    exporter = _exporter(hide_code, reveal_prefix)
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        t0 = time.monotonic()
        if execute:
            from nbclient import NotebookClient

            with _env(DDPM_FIGURES="presentation"):
                NotebookClient(nb, timeout=timeout, kernel_name="python3",
                               resources={"metadata": {"path": str(path.parent)}}).execute()
        ran = time.monotonic() - t0
        body, _ = exporter.from_notebook_node(static_notebook(nb), resources={"metadata": {"name": path.stem}})
        target = out_dir / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
        if log is not None:
            log(f"{target}" + (f"  (ran in {ran:.1f} s)" if execute else ""))
    return written


def asset_digest(path: Path) -> str:
    """The first 12 hex digits of the file's sha256 (what ``slides assets`` prints for each asset)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def add_slides_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``slides`` (shared with ``python -m ddpm_helpers.cli.editions slides``)."""
    p.add_argument("--src", default=str(NOTEBOOKS_DIR), help="folder of the notebooks")
    p.add_argument("--out", default=str(BUILD_DIR / "slides"), help="output folder")
    p.add_argument("--execute", action="store_true",
                   help="run each notebook first so the slides show its pictures (DDPM_QUICK=1 for a fast run)")
    p.add_argument("--hide-code", action="store_true", help="leave code inputs out of the slides")
    p.add_argument("--reveal-prefix", default=None,
                   help="URL or path of reveal.js (default: the local copy in OUT/_assets, works offline)")
    p.add_argument("names", nargs="*", help="only these notebooks (file name or stem)")


def run_slides(args: argparse.Namespace) -> list[Path]:
    """Build the decks the parsed options of :func:`add_slides_arguments` ask for, one line per deck."""
    return build_slides(args.src, args.out, execute=args.execute, hide_code=args.hide_code,
                        reveal_prefix=args.reveal_prefix, names=args.names or None,
                        log=lambda m: print(m, flush=True))
