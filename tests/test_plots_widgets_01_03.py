"""Panels and figures of notebooks 01-03: every control redraws the picture, which stays finite."""
import numpy as np
import pytest
import torch

from ddpm_helpers import NoiseSchedule, TimeMLP, make_moons_data
from ddpm_helpers.lessons.forward import (chain_jump_panel, forward_process_panel, plot_chain_variance, plot_schedules,
                                          plot_terminal_signal, terminal_snr_markdown)
from ddpm_helpers.lessons.moons import moons_animation, plot_skip_damage, reverse_sampling_panel
from ddpm_helpers.ui.panels import Panel
from ddpm_helpers.ui.style import figure_to_array


def _changed(panel, name, value):
    before = panel.image()
    panel.controls[name].value = value
    after = panel.image()
    assert np.isfinite(after).all()
    return before.shape != after.shape or (before != after).any()


@pytest.fixture(scope="module")
def image():
    torch.manual_seed(0)
    return torch.rand(1, 28, 28) * 2 - 1


def test_panel_api_and_static_fallback(image):
    p = forward_process_panel(image, t=100, T=200)
    assert isinstance(p, Panel) and set(p.controls) == {"t", "kind", "T", "beta_start", "beta_end"}
    bundle = p._repr_mimebundle_()
    assert "image/png" in bundle and "application/vnd.jupyter.widget-view+json" in bundle
    assert p.output.outputs[0]["data"]["image/png"]  # the default picture is in the output area


def test_forward_process_panel_every_control_redraws(image):
    p = forward_process_panel(image, t=50, T=200)
    assert _changed(p, "t", 150)
    assert _changed(p, "beta_end", 0.05)
    assert _changed(p, "beta_start", 1e-3)
    assert _changed(p, "T", 100)
    assert p.controls["t"].max == 99 and p.controls["t"].value == 99  # t clamped to the new T
    assert _changed(p, "kind", "cosine")


def test_forward_process_panel_shows_bad_combination_as_message(image):
    p = forward_process_panel(image, t=5, T=50, beta_start=1e-4, beta_end=0.02)
    p.controls["beta_start"].value = 0.03
    p.controls["beta_end"].value = 0.01          # beta_start > beta_end: ValueError shown, not raised
    assert any("beta_start" in t.get_text() for t in p.figure.texts)


def test_chain_jump_panel_controls_redraw(image):
    p = chain_jump_panel(image, t=20, T=100, copies=8)
    assert set(p.controls) == {"t", "kind"}
    assert _changed(p, "t", 80)
    assert _changed(p, "kind", "cosine")


def test_reverse_sampling_panel_controls_redraw():
    torch.manual_seed(0)
    m, s = TimeMLP(hidden=32, blocks=1), NoiseSchedule.linear(40)
    ref = make_moons_data(200, seed=3)
    p = reverse_sampling_panel(m, s, n=100, ks=(1, 5), ref=ref, floor=0.05)
    assert set(p.controls) == {"progress", "k"}
    assert "× floor" in p.figure.axes[0].get_title()
    assert _changed(p, "progress", 10)
    assert _changed(p, "k", 5)
    assert _changed(p, "progress", 0)
    assert "pure noise" in p.figure.axes[0].get_title()


def test_figures_have_titles_and_labels():
    s, c = NoiseSchedule.linear(100), NoiseSchedule.cosine(100)
    fig = plot_schedules({"linear": s, "cosine": c}, t_mark=30)
    assert all(ax.get_title() and ax.get_xlabel() for ax in fig.axes)
    fig = plot_chain_variance(s, {"measured": ([0, 50], [0.5, 0.9]), "measured, no shrink": ([0], [1.0])})
    assert all(ax.get_title() and ax.get_ylabel() for ax in fig.axes)
    fig = plot_skip_damage([1, 20], [0.02, 0.1], 0.02, [0.001, 0.01], 0.001)
    assert len(fig.axes) == 2 and np.isfinite(figure_to_array(fig)).all()
    x0 = torch.linspace(-1, 1, 64).reshape(1, 8, 8)
    fig = plot_terminal_signal(x0, {"T=300": 0.2 * x0 + torch.randn(4, 1, 8, 8), "T=1000": torch.randn(4, 1, 8, 8)})
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 5 and all(titles) and "mean of 4 draws" in titles[2] and "corr." in titles[4]
    md = terminal_snr_markdown([{"T": 300, "beta_end": 0.02, "signal": 0.2192, "snr_db": -12.97}])
    assert "| 300 | 0.02 | 0.2192 | -13.0 |" in md


def test_moons_animation_has_the_requested_frames():
    traj = torch.randn(31, 50, 2)
    html = moons_animation(traj, timesteps=list(range(29, -1, -1)), frames=6).data
    assert "<script" in html and html.count("data:image/png;base64") == 6
    with pytest.raises(ValueError, match="frames"):
        moons_animation(traj, frames=1)
