"""Notebooks 05-06: the slider panels redraw when a control changes, and every self-check accepts a
correct answer and names at least two typical mistakes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import TinyEps
from ddpm_helpers.lessons.ddim import exercises as ddim_ex
from ddpm_helpers.lessons.elbo import exercises as elbo_ex
from ddpm_helpers.core.schedules import NoiseSchedule
from ddpm_helpers.lessons.ddim import ddim_panel
from ddpm_helpers.lessons.elbo import elbo_weights_panel, posterior_panel


# ----------------------------------------------------------------------------- panels
def _changes(panel, name, value):
    before = panel.image()
    panel.controls[name].value = value
    after = panel.image()
    assert np.isfinite(after.astype(float)).all()
    assert before.shape != after.shape or (before != after).any(), f"setting {name}={value!r} did not redraw"


def test_posterior_panel_redraws_and_shows_default():
    p = posterior_panel(NoiseSchedule.linear(1000), t=10)
    assert set(p.controls) == {"t", "x0"}
    assert p.output.outputs and "image/png" in p.output.outputs[0]["data"]  # the default picture, no frontend
    _changes(p, "t", 400)
    _changes(p, "x0", -1.0)
    assert "t = 400" in p.figure.axes[0].get_title()


def test_elbo_weights_panel_redraws():
    p = elbo_weights_panel(T=200)
    assert len(p.figure.axes[0].get_lines()) == 3  # two schedules + the L_simple line
    _changes(p, "schedule", "cosine")
    assert len(p.figure.axes[0].get_lines()) == 2
    _changes(p, "variance", "both")
    _changes(p, "normalized", True)
    ys = p.figure.axes[0].get_lines()[0].get_ydata()
    assert np.isfinite(ys).all() and np.mean(ys) == pytest.approx(1.0, rel=1e-4)


def test_ddim_panel_redraws_and_eta0_is_fixed():
    model = TinyEps()
    sched = NoiseSchedule.linear(50)
    p = ddim_panel(model, sched, x_T=torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0)),
                   steps_options=(2, 5, 10), steps=2)
    first = p.image()
    _changes(p, "steps", 10)
    _changes(p, "eta", 1.0)
    p.controls["eta"].value = 0.0
    p.controls["steps"].value = 2
    assert (p.image() == first).all()  # back to eta=0, 2 steps: the same picture (deterministic, fixed x_T)
    with pytest.raises(ValueError, match="steps must be one of"):
        ddim_panel(model, sched, steps=7, steps_options=(2, 5))


def test_ddim_panel_spacing_toggle_changes_the_timesteps():
    """trailing starts at t = T-1, leading (the DDIM paper's) at (steps-1) * (T // steps): with 2 steps of
    T = 50, 49 -> 24 against 25 -> 0, a different picture at eta = 0; back to trailing, the same one."""
    import ipywidgets as W

    model = TinyEps()
    sched = NoiseSchedule.linear(50)
    p = ddim_panel(model, sched, x_T=torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0)),
                   steps_options=(2, 5), steps=2)
    assert isinstance(p.controls["spacing"], W.ToggleButtons) and p.controls["spacing"].value == "trailing"
    first = p.image()
    assert "t = 49 first, 24 last" in p.figure._suptitle.get_text()
    _changes(p, "spacing", "leading")
    assert "t = 25 first, 0 last" in p.figure._suptitle.get_text()
    p.controls["spacing"].value = "trailing"
    assert (p.image() == first).all()
    with pytest.raises(ValueError, match="spacing must be 'trailing' or 'leading'"):
        ddim_panel(model, sched, spacing="linspace")


# ----------------------------------------------------------------------------- exercises
def _verdict(capsys, check, fn):
    ok = check(fn)
    return ok, capsys.readouterr().out


def test_check_gaussian_kl(capsys):
    def right(m1, v1, m2, v2):
        return 0.5 * (torch.log(torch.as_tensor(v2 / v1)) + (v1 + (m1 - m2) ** 2) / v2 - 1)
    assert _verdict(capsys, elbo_ex.check_gaussian_kl, right)[0]
    ok, out = _verdict(capsys, elbo_ex.check_gaussian_kl, lambda m1, v1, m2, v2: right(m2, v2, m1, v1))
    assert not ok and "swapped" in out
    ok, out = _verdict(capsys, elbo_ex.check_gaussian_kl, lambda m1, v1, m2, v2: right(m1, v1, m2, v2) + 0.5)
    assert not ok and "-1" in out
    ok, out = _verdict(capsys, elbo_ex.check_gaussian_kl, lambda m1, v1, m2, v2: 2 * right(m1, v1, m2, v2))
    assert not ok and "Twice too large" in out
    ok, out = _verdict(capsys, elbo_ex.check_gaussian_kl, None)
    assert not ok and "Not solved yet" in out


def test_check_posterior_mean_eps(capsys):
    r = math.sqrt
    assert _verdict(capsys, elbo_ex.check_posterior_mean_eps, lambda x, e, b, a, ab: (x - b / r(1 - ab) * e) / r(a))[0]
    ok, out = _verdict(capsys, elbo_ex.check_posterior_mean_eps, lambda x, e, b, a, ab: (x + b / r(1 - ab) * e) / r(a))
    assert not ok and "Wrong sign" in out
    ok, out = _verdict(capsys, elbo_ex.check_posterior_mean_eps, lambda x, e, b, a, ab: (x - b / (1 - ab) * e) / r(a))
    assert not ok and "Missing square root" in out
    ok, out = _verdict(capsys, elbo_ex.check_posterior_mean_eps, lambda x, e, b, a, ab: (x - r(1 - ab) * e) / r(ab))
    assert not ok and "whole predicted noise" in out


def test_check_elbo_weight(capsys):
    assert _verdict(capsys, elbo_ex.check_elbo_weight, lambda b, a, ab, s2: b**2 / (2 * s2 * a * (1 - ab)))[0]
    ok, out = _verdict(capsys, elbo_ex.check_elbo_weight, lambda b, a, ab, s2: b**2 / (s2 * a * (1 - ab)))
    assert not ok and "Twice too large" in out
    ok, out = _verdict(capsys, elbo_ex.check_elbo_weight, lambda b, a, ab, s2: b / (2 * s2 * a * (1 - ab)))
    assert not ok and "squared" in out
    ok, out = _verdict(capsys, elbo_ex.check_elbo_weight, lambda b, a, ab, s2: b**2 / (2 * s2 * ab * (1 - ab)))
    assert not ok and "alpha_bar_t where alpha_t belongs" in out


def test_check_ddim_sigma(capsys):
    r = math.sqrt

    def right(ab, abp, eta):
        return eta * r((1 - abp) / (1 - ab)) * r(1 - ab / abp)
    assert _verdict(capsys, ddim_ex.check_ddim_sigma, right)[0]
    ok, out = _verdict(capsys, ddim_ex.check_ddim_sigma, lambda ab, abp, eta: right(ab, abp, 1.0))
    assert not ok and "eta is ignored" in out
    ok, out = _verdict(capsys, ddim_ex.check_ddim_sigma, lambda ab, abp, eta: right(ab, abp, eta) ** 2)
    assert not ok and "variance" in out
    ok, out = _verdict(capsys, ddim_ex.check_ddim_sigma,
                       lambda ab, abp, eta: eta * r((1 - abp) / (1 - ab)) * r(1 - abp / ab))
    assert not ok and "1 - alpha_bar_prev / alpha_bar_t is negative" in out


def test_check_ddim_update(capsys):
    r = math.sqrt

    def right(x, e, ab, abp, s, z):
        x0 = (x - r(1 - ab) * e) / r(ab)
        return r(abp) * x0 + r(1 - abp - s**2) * e + s * z
    assert _verdict(capsys, ddim_ex.check_ddim_update, right)[0]
    ok, out = _verdict(capsys, ddim_ex.check_ddim_update,
                       lambda x, e, ab, abp, s, z: r(abp) * (x - r(1 - ab) * e) / r(ab) + r(1 - abp) * e + s * z)
    assert not ok and "sqrt(1 - alpha_bar_prev - sigma_t^2)" in out
    ok, out = _verdict(capsys, ddim_ex.check_ddim_update, lambda x, e, ab, abp, s, z: (x - r(1 - ab) * e) / r(ab))
    assert not ok and "whole predicted noise" in out
    ok, out = _verdict(capsys, ddim_ex.check_ddim_update,
                       lambda x, e, ab, abp, s, z: r(abp) * (x + r(1 - ab) * e) / r(ab) + r(1 - abp - s**2) * e + s * z)
    assert not ok and "Wrong sign" in out


def test_check_slerp(capsys):
    def right(z0, z1, a):
        om = torch.arccos(z0 @ z1 / (z0.norm() * z1.norm()))
        return (torch.sin((1 - a) * om) * z0 + torch.sin(a * om) * z1) / torch.sin(om)
    assert _verdict(capsys, ddim_ex.check_slerp, right)[0]
    ok, out = _verdict(capsys, ddim_ex.check_slerp, lambda z0, z1, a: (1 - a) * z0 + a * z1)
    assert not ok and "straight line" in out
    ok, out = _verdict(capsys, ddim_ex.check_slerp, lambda z0, z1, a: right(z1, z0, a))
    assert not ok and "swapped" in out
