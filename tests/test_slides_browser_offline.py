"""The static slides (``make slides``) in headless Chromium with the network blocked.

Builds notebook 01's deck the way ``make slides SLIDES_FLAGS=--execute`` does (quick mode, so it has
its pictures), opens it from ``file://`` in headless Chromium (Debian's, driven by Playwright as in
tests/test_browser.py) with every request that is not ``file:``/``data:``/``blob:`` aborted, and checks

1. the page asked for nothing outside its folder (every aborted request is listed on failure);
2. the slide layout: reveal.js started, with one horizontal slide per ``slide`` cell and one vertical
   slide per ``subslide`` cell of :func:`ddpm_helpers.cli.slides.slide_types`, at 1280x720 and 1920x1080
   (reveal.js scales the 1280x720 slide: the scale grows 1.5x between the two);
3. the maths rendered: MathJax typeset every ``$...$`` of the markdown cells into SVG (one rendered
   formula per ``$`` pair), and no raw ``$`` or TeX command (``\\sqrt``, ``\\bar``, ...) is left in
   the text of any markdown cell;
4. every picture fits the slide (width and height), and the slider panel's subslide fits whole.

Chromium or Playwright missing: FAIL under CI (``CI`` true), SKIP elsewhere (as test_browser.py).
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest

from ddpm_helpers.cli.deck import build_slides
from ddpm_helpers.cli.slides import slide_types
from test_browser import headless_chromium

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_forward_process"
VIEWPORTS = [(1280, 720), (1920, 1080)]
READY_TIMEOUT_S = 60

_DECK_STATE_JS = r"""
() => {
  const out = {total: Reveal.getTotalSlides(), scale: Reveal.getScale(), height: Reveal.getConfig().height,
               horizontal: Reveal.getHorizontalSlides()
                 .map(h => Math.max(1, h.querySelectorAll(':scope > section').length)),
               slides: []};
  for (const s of Reveal.getSlides()) {
    const i = Reveal.getIndices(s);
    Reveal.slide(i.h, i.v);
    s.scrollTop = 0;
    const r = s.getBoundingClientRect();
    out.slides.push({h: i.h, v: i.v, top: r.top, left: r.left, scale: Reveal.getScale(),
      scrollHeight: s.scrollHeight, panel: !!s.querySelector('.jp-CodeCell pre') &&
        /\w+_panel\s*\(/.test(s.querySelector('.jp-CodeCell .jp-InputArea') ?
                                s.querySelector('.jp-CodeCell .jp-InputArea').textContent : ''),
      imgs: [...s.querySelectorAll('.jp-OutputArea img')].map(im => {
        const b = im.getBoundingClientRect(); return {w: b.width, h: b.height, nw: im.naturalWidth}; })});
  }
  Reveal.slide(0, 0);
  return out;
}
"""

_MATHS_JS = r"""
() => {
  const md = [...document.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown')];
  const raw = [];
  let rendered = 0, empty = 0;
  for (const m of md) {
    const copy = m.cloneNode(true);
    copy.querySelectorAll('mjx-container').forEach(e => e.remove());
    copy.querySelectorAll('code, pre').forEach(e => e.remove());   // code spans may hold a literal $
    const text = copy.textContent;
    const hit = text.match(/\$|\\(sqrt|frac|bar|mathcal|mathbf|epsilon|alpha|beta|left|right|begin)\b/);
    if (hit) raw.push(text.slice(Math.max(0, hit.index - 40), hit.index + 40));
    m.querySelectorAll('mjx-container').forEach(c => {
      rendered += 1;
      const svg = c.querySelector('svg');
      if (!svg || svg.getBoundingClientRect().width === 0 && c.closest('section.present')) empty += 1;
    });
  }
  return {markdown: md.length, rendered: rendered, empty: empty, raw: raw.slice(0, 5), nraw: raw.length,
          errors: document.querySelectorAll('mjx-merror').length};
}
"""


def _expected_dollar_pairs(nb) -> int:
    """How many formulas the markdown cells hold: ``$$...$$`` and ``$...$`` pairs (code spans left out)."""
    n = 0
    for c in nb.cells:
        if c.cell_type != "markdown":
            continue
        text = re.sub(r"`[^`]*`", "", c.source)
        n += len(re.findall(r"\$\$.+?\$\$", text, flags=re.S))
        text = re.sub(r"\$\$.+?\$\$", "", text, flags=re.S)
        n += len(re.findall(r"(?<!\\)\$.+?(?<!\\)\$", text, flags=re.S))
    return n


@pytest.fixture(scope="module")
def deck(tmp_path_factory):
    out = tmp_path_factory.mktemp("slides")
    t0 = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DDPM_QUICK", "1")
        (path,) = build_slides(ROOT / "notebooks", out, execute=True, names=[NOTEBOOK], timeout=600)
    return path, time.monotonic() - t0


def test_static_deck_renders_offline(deck, tmp_path):
    path, build_s = deck
    nb = nbformat.read(ROOT / "notebooks" / f"{NOTEBOOK}.ipynb", as_version=4)
    types = [t for t in slide_types(nb) if t != "skip"]
    # the deck's shape from the rule: per slide, 1 + its subslides
    want = []
    for t in types:
        if t == "slide":
            want.append(1)
        elif t == "subslide":
            want[-1] += 1
    blocked, errors = [], []
    t0 = time.monotonic()
    with headless_chromium(tmp_path) as browser:
        context = browser.new_context(viewport={"width": VIEWPORTS[0][0], "height": VIEWPORTS[0][1]})

        def route(r):
            if r.request.url.startswith(("file:", "data:", "blob:")):
                return r.continue_()
            blocked.append(r.request.url)
            return r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(path.as_uri(), wait_until="load")
            try:
                page.wait_for_function("document.body.dataset.reveal === 'ready' && "
                                       "document.body.dataset.mathjax === 'done'", timeout=READY_TIMEOUT_S * 1000)
            except Exception:  # noqa: BLE001 - report what the page did instead
                page.screenshot(path=str(tmp_path / "offline-failure.png"))
                pytest.fail(f"the deck did not start (reveal.js ready and MathJax done) within {READY_TIMEOUT_S} s "
                            f"offline; blocked requests: {blocked[:5]}; page errors: {errors[:3]} "
                            f"(screenshot {tmp_path / 'offline-failure.png'})", pytrace=False)
            maths = page.evaluate(_MATHS_JS)
            states = []
            for w, h in VIEWPORTS:
                page.set_viewport_size({"width": w, "height": h})
                page.evaluate("() => Reveal.layout()")
                states.append(page.evaluate(_DECK_STATE_JS))
                page.screenshot(path=str(tmp_path / f"deck-{w}x{h}.png"))
        finally:
            context.close()
    view_s = time.monotonic() - t0
    print(f"{NOTEBOOK} deck: built and executed in {build_s:.1f} s, checked in Chromium in {view_s:.1f} s")

    # 1. nothing fetched from outside
    assert not blocked, f"the deck tried to load {len(blocked)} things from the network: {blocked[:5]}"
    assert not errors, f"page errors: {errors[:3]}"
    # 2. the layout
    for (w, h), st in zip(VIEWPORTS, states):
        assert st["horizontal"] == want, (f"{w}x{h}: slides per section {st['horizontal']}, the notebook's slide "
                                          f"metadata says {want}")
        assert st["total"] == sum(want)
        assert st["height"] == 720
    assert states[1]["scale"] / states[0]["scale"] == pytest.approx(1.5, rel=0.02), \
        f"reveal.js scale at 1280x720 {states[0]['scale']:.3f}, at 1920x1080 {states[1]['scale']:.3f}"
    # 3. the maths
    expected = _expected_dollar_pairs(nb)
    assert maths["nraw"] == 0, f"raw TeX left in {maths['nraw']} markdown cells, e.g. {maths['raw']}"
    assert maths["errors"] == 0, f"MathJax reported {maths['errors']} TeX errors"
    assert maths["rendered"] == expected >= 5, (f"MathJax rendered {maths['rendered']} formulas; the markdown "
                                                f"holds {expected} $...$ pairs")
    assert maths["empty"] == 0, f"{maths['empty']} formulas on the first slide have an empty SVG"
    # 4. pictures and the panel fit the 1280x720 slide (the same in slide units at 1920x1080)
    for (w, h), st in zip(VIEWPORTS, states):
        for s in st["slides"]:
            for im in s["imgs"]:
                assert im["w"] <= w + 1 and im["h"] <= h * 0.98, (f"{w}x{h}: a picture on slide {s['h']}/{s['v']} "
                                                                  f"is {im['w']:.0f}x{im['h']:.0f} px")
        panels = [s for s in st["slides"] if s["panel"]]
        assert panels, "no slide with the slider panel's picture"
        for s in panels:
            assert s["imgs"] and s["scrollHeight"] <= st["height"], (
                f"{w}x{h}: the panel's subslide {s['h']}/{s['v']} is {s['scrollHeight']} px tall in a "
                f"{st['height']} px slide")
