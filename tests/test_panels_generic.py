"""Every slider panel of every lesson (ddpm_helpers.lessons.<name>.panels), found by name, built, drawn and
moved from Python.

Robust to panels added later: each public ``*_panel`` function (or one annotated to return a
``Panel``) is built with small stand-ins for its required arguments, chosen by parameter name
(``x0``: one 28x28 image; ``model``: a tiny deterministic noise predictor that takes any shape;
``sched``: a short linear schedule). A new required parameter without a stand-in fails the test
with the name to add. Each panel must be an ipywidgets widget with a non-empty ``controls`` dict,
show a picture at construction (so nbval and static renders show it), large enough for a projector,
and redraw a different picture when its first control moves. (The panels' own tests in the
notebook helpers' test files move every control.)
"""
from __future__ import annotations

import base64
import importlib
import inspect
import io
import pkgutil
from types import SimpleNamespace

import ipywidgets as W
import pytest
import torch
from torch import nn

import ddpm_helpers.lessons
from ddpm_helpers.core.data import make_moons_data
from ddpm_helpers.core.ideal import IdealDenoiser
from ddpm_helpers.core.models import TimeMLP
from ddpm_helpers.core.schedules import NoiseSchedule

MIN_SIDE_PX = 500  # a picture smaller than this (on its longer side) is unreadable on a projector


class AnyShapeEps(nn.Module):
    """eps_hat = 0.5 tanh(w x + b + 0.3 sin(t / 50)): deterministic, cheap, any (B, ...) input. Its config
    declares 1x28x28 samples, for panels that draw their own x_T (``core.sampling.sample_shape``)."""

    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(in_channels=1, image_size=28)
        self.w = nn.Parameter(torch.tensor(0.7))
        self.b = nn.Parameter(torch.tensor(0.1))

    def forward(self, x, t):
        tt = t.float().reshape(-1, *([1] * (x.ndim - 1)))  # (B,) -> (B, 1, ..., 1)
        return 0.5 * torch.tanh(x * self.w + self.b + 0.3 * torch.sin(tt / 50))


def _image():
    g = torch.Generator().manual_seed(0)
    return (torch.rand((1, 28, 28), generator=g) * 2 - 1).float()  # (1, H, W) in [-1, 1]


def _moons():
    return make_moons_data(64, seed=0, return_labels=True)  # (points (64, 2), labels (64,))


def _guidance_models():
    """Notebook 07's pair: the exact guided denoiser of 64 labelled points and an untrained conditional MLP
    (the schedule matches the "sched" stand-in)."""
    torch.manual_seed(0)
    data, labels = _moons()
    return {"exact": IdealDenoiser(data, NoiseSchedule.linear(100), labels),
            "MLP": TimeMLP(hidden=16, blocks=1, num_classes=2)}


STAND_INS = {
    "x0": _image,
    "model": AnyShapeEps,
    "sched": lambda: NoiseSchedule.linear(100),
    "models": _guidance_models,
    "data": lambda: _moons()[0],
}


def panel_modules() -> list:
    """``ddpm_helpers.lessons.<name>.panels`` of every lesson package."""
    lessons = [m.name for m in pkgutil.iter_modules(ddpm_helpers.lessons.__path__) if m.ispkg]
    return [importlib.import_module(f"ddpm_helpers.lessons.{name}.panels") for name in sorted(lessons)]


def panel_builders() -> list:
    found = []
    for module in panel_modules():
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != module.__name__:
                continue
            ret = inspect.signature(fn).return_annotation
            if name.endswith("_panel") or "Panel" in str(ret):
                found.append((name, fn))
    return found


BUILDERS = panel_builders()


def test_there_are_panels():
    assert len(panel_modules()) == 6, ("expected one panels module per lesson (forward, moons, unet, elbo, ddim, "
                                       "guidance)")
    assert {n for n, _ in BUILDERS} >= {"forward_process_panel", "chain_jump_panel", "reverse_sampling_panel",
                                        "x0_prediction_panel", "posterior_panel", "elbo_weights_panel", "ddim_panel",
                                        "guidance_panel"}


def _png_outputs(widget) -> list[bytes]:
    """image/png bytes of every Output and Image widget inside ``widget`` (depth first)."""
    out = []
    if isinstance(widget, W.Output):
        for o in widget.outputs:
            data = o.get("data", {}).get("image/png")
            if data:
                out.append(base64.b64decode(data))
    elif isinstance(widget, W.Image) and widget.format == "png":
        out.append(bytes(widget.value))
    for child in getattr(widget, "children", ()):
        out += _png_outputs(child)
    return out


def _side(png: bytes) -> int:
    """The longer side of a PNG picture, in pixels."""
    import matplotlib.image as mpimg

    return max(mpimg.imread(io.BytesIO(png), format="png").shape[:2])


def _move(control) -> None:
    """Give ``control`` a different valid value, as a student would."""
    if isinstance(control, (W.Dropdown, W.RadioButtons, W.ToggleButtons, W.Select, W.SelectionSlider)):
        control.index = (control.index + 1) % len(control.options)
    elif isinstance(control, (W.Checkbox, W.ToggleButton)):
        control.value = not control.value
    elif isinstance(control, W.FloatLogSlider):
        lo, hi = control.min, control.max  # exponents
        e = torch.log10(torch.tensor(float(control.value))).item()
        control.value = control.base ** (e + (hi - e) / 2 if hi - e > 1e-3 else e - (e - lo) / 2)
    elif hasattr(control, "min") and hasattr(control, "max"):
        step = getattr(control, "step", 1) or 1
        span = control.max - control.min
        jump = max(step, round(span / 4 / step) * step) if isinstance(control.value, int) else span / 4
        control.value = control.value + jump if control.value + jump <= control.max else control.value - jump
    else:
        pytest.fail(f"do not know how to move a {type(control).__name__}; teach _move()", pytrace=False)


@pytest.mark.parametrize("name,build", BUILDERS, ids=[n for n, _ in BUILDERS])
def test_panel_builds_shows_a_picture_and_redraws(name, build):
    torch.manual_seed(0)
    kwargs = {}
    for p in inspect.signature(build).parameters.values():
        if p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name not in STAND_INS:
            pytest.fail(f"{name}: no stand-in for the required parameter {p.name!r}; add one to STAND_INS "
                        f"in tests/test_panels_generic.py", pytrace=False)
        kwargs[p.name] = STAND_INS[p.name]()
    panel = build(**kwargs)
    assert isinstance(panel, W.Box), f"{name} returned {type(panel).__name__}, not an ipywidgets container"
    controls = getattr(panel, "controls", None)
    assert isinstance(controls, dict) and controls, f"{name}: panel.controls must be a non-empty dict name -> widget"
    for key, w in controls.items():
        assert isinstance(w, W.ValueWidget), f"{name}: controls[{key!r}] is a {type(w).__name__}, not a value widget"
        assert w in _descendants(panel), f"{name}: controls[{key!r}] is not shown in the panel"
    before = _png_outputs(panel)
    assert before, f"{name}: the panel shows no picture at construction (nbval and static renders need it)"
    assert _side(before[0]) >= MIN_SIDE_PX, f"{name}: picture only {_side(before[0])} px; make it >= {MIN_SIDE_PX}"
    first_key, first = next(iter(controls.items()))
    old = first.value
    _move(first)
    assert first.value != old, f"{name}: could not move controls[{first_key!r}]"
    after = _png_outputs(panel)
    assert after and after != before, f"{name}: moving controls[{first_key!r}] from {old!r} to {first.value!r} " \
                                      f"did not change the picture"


def _descendants(widget) -> list:
    out = [widget]
    for child in getattr(widget, "children", ()):
        out += _descendants(child)
    return out
