"""Notebook 04's helpers: the x0-prediction panel, the three exercise checks, the troubleshooting
samplers (respacing and each bug), the U-Net anatomy tools and the figures."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ddpm_helpers.lessons.unet import exercises as ex
from ddpm_helpers.core.models import UNet, UNetConfig, sinusoidal_embedding
from ddpm_helpers.core.sampling import ddim_sample, ddim_timesteps
from ddpm_helpers.lessons.unet.anatomy import (filmstrip_frames, format_shape_table, loss_per_timestep, trace_shapes,
                                               x0_predictions)
from ddpm_helpers.core.respace import respace
from ddpm_helpers.lessons.unet.troubleshooting import (BUGS, gallery_markdown, sample_correct,
                                                       sample_full_noise_subtracted, sample_noise_sign_flipped,
                                                       sample_unscaled_pixels, troubleshooting_gallery)


@pytest.fixture(scope="module")
def small_unet():
    torch.manual_seed(0)
    return UNet(UNetConfig(base_channels=8, groups=4)).eval()


# ----------------------------------------------------------------------------- slider panel
def test_x0_prediction_panel_redraws_on_every_control(small_unet, linear1000):
    from ddpm_helpers.lessons.unet import x0_prediction_panel

    x0 = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    panel = x0_prediction_panel(small_unet, linear1000, x0, t=500)
    assert set(panel.controls) == {"t", "seed"}
    assert panel._png  # the default picture exists without a frontend
    before = panel.image()
    for name, value in (("t", 20), ("seed", 3)):
        panel.controls[name].value = value
        after = panel.image()
        assert after.shape == before.shape and not np.array_equal(after, before), name
        assert np.isfinite(after).all()
        before = after


# ----------------------------------------------------------------------------- exercises
def test_check_sinusoidal_embedding(capsys):
    assert ex.check_sinusoidal_embedding(sinusoidal_embedding) is True

    def swapped(t, dim):
        e = sinusoidal_embedding(t, dim)
        return torch.cat([e[:, dim // 2:], e[:, :dim // 2]], -1)
    assert ex.check_sinusoidal_embedding(swapped) is False
    assert "swapped" in capsys.readouterr().out

    def by_dim(t, dim):
        f = torch.exp(-torch.log(torch.tensor(10000.0)) * torch.arange(dim // 2) / dim)
        a = t.float()[:, None] * f
        return torch.cat([a.sin(), a.cos()], -1)
    assert ex.check_sinusoidal_embedding(by_dim) is False
    assert "dim/2" in capsys.readouterr().out

    assert ex.check_sinusoidal_embedding(lambda t, dim: sinusoidal_embedding(t, dim).T) is False
    assert "transposed" in capsys.readouterr().out


def test_check_time_injection(capsys):
    assert ex.check_time_injection(lambda h, e: h + e[:, :, None, None]) is True
    assert ex.check_time_injection(lambda h, e: h + e[:, None, None, :]) is False
    assert "width" in capsys.readouterr().out
    assert ex.check_time_injection(lambda h, e: h + e) is False
    assert "broadcast" in capsys.readouterr().out
    assert ex.check_time_injection(lambda h, e: h * e[:, :, None, None]) is False
    assert "multiplied" in capsys.readouterr().out


def test_check_nearest_distance(capsys):
    good = lambda s, tr: (tr - s).flatten(1).norm(dim=1).min()  # noqa: E731
    assert ex.check_nearest_distance(good) is True
    assert ex.check_nearest_distance(lambda s, tr: (tr - s).flatten(1).pow(2).sum(1).min()) is False
    assert "squared" in capsys.readouterr().out
    assert ex.check_nearest_distance(lambda s, tr: (tr - s).flatten(1).norm(dim=1).argmin()) is False
    assert "index" in capsys.readouterr().out
    assert ex.check_nearest_distance(lambda s, tr: (tr - s).flatten(1).norm(dim=1).max()) is False
    assert "FARTHEST" in capsys.readouterr().out

    def todo(s, tr):
        raise NotImplementedError
    assert ex.check_nearest_distance(todo) is False
    assert "Not solved yet" in capsys.readouterr().out


# ----------------------------------------------------------------------------- troubleshooting
def test_respace_keeps_alpha_bars(linear1000):
    sub, ts = respace(linear1000, 10)
    assert ts == sorted(ddim_timesteps(1000, 10)) and ts[-1] == 999
    torch.testing.assert_close(sub.alpha_bars, linear1000.alpha_bars[ts], rtol=1e-5, atol=1e-7)
    full, ts_full = respace(linear1000, 1000)
    assert ts_full == list(range(1000))
    torch.testing.assert_close(full.betas, linear1000.betas, rtol=1e-4, atol=1e-8)


def _as_image_model(model):
    """``model`` wrapped with a UNetConfig, so the samplers read (1, 28, 28) as its sample shape."""
    wrapper = torch.nn.Module()
    wrapper.model, wrapper.config, wrapper.forward = model, UNetConfig(), model.forward
    return wrapper


def test_correct_sampler_with_a_perfect_denoiser_recovers_the_data(linear1000):
    # for data that is one fixed image x*, the exact noise predictor is eps = (x_t - sqrt(ab) x*) / sqrt(1 - ab)
    target = torch.linspace(-1, 1, 28 * 28).reshape(1, 1, 28, 28)

    class Oracle(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))
            self.config = UNetConfig()  # the sample shape the samplers read: (1, 28, 28)

        def forward(self, x, t):
            ab = linear1000.alpha_bars[t].reshape(-1, 1, 1, 1)
            return (x - ab.sqrt() * target) / (1 - ab).sqrt()

    x = sample_correct(Oracle(), linear1000, n=2, steps=50).x0
    torch.testing.assert_close(x, target.expand(2, -1, -1, -1), atol=1e-3, rtol=0)
    # each bug breaks exactly that recovery
    assert (sample_noise_sign_flipped(Oracle(), linear1000, n=2, steps=50).x0 - target).abs().max() > 10
    assert (sample_full_noise_subtracted(Oracle(), linear1000, n=2, steps=50).x0 - target).abs().mean() > 0.2
    # (an oracle knows x* at every step, so the wrong-axis and uniform-noise variants still land on it in their last
    # step; with the trained U-Net they do not: tests/test_nb04_gallery.py)
    u = sample_unscaled_pixels(Oracle(), linear1000, n=2, steps=50).x0
    torch.testing.assert_close(u, (target.expand(2, -1, -1, -1) + 1) / 2, atol=1e-3, rtol=0)


def test_gallery_runs_every_variant_with_the_same_seed(tiny_model, linear1000):
    tiny_model = _as_image_model(tiny_model)
    g = troubleshooting_gallery(tiny_model, linear1000, n=2, steps=10, live_model=tiny_model)
    assert list(g) == list(BUGS)
    ref = g["correct"][1]
    torch.testing.assert_close(g["live_weights"][1], ref)  # same weights, same seed -> same samples
    for key in ("noise_sign_flipped", "schedule_wrong_axis", "full_noise_subtracted", "uniform_noise",
                "unscaled_pixels"):
        assert not torch.allclose(g[key][1], ref), key
    md = gallery_markdown(g)
    assert md.count("\n- ") == len(g) - 1 and "Shapes" not in md and "``" not in md
    assert "live_weights" not in troubleshooting_gallery(_as_image_model(tiny_model), linear1000, n=1, steps=5)


# ----------------------------------------------------------------------------- anatomy
def test_trace_shapes_follow_the_unet(small_unet):
    rec = trace_shapes(small_unet, torch.randn(2, 1, 28, 28), torch.tensor([1, 2]))
    names = [r[0] for r in rec]
    assert names[0] == "time" and names[-1] == "out" and "mid_attn" in names
    shapes = dict((n, (i, o)) for n, i, o in rec)
    assert shapes["stem"][1] == (2, 8, 28, 28)
    assert shapes["down.3"][1] == (2, 16, 7, 7)
    assert shapes["up.0"][0] == (2, 32, 7, 7)  # 16 from the middle + 16 from the skip
    assert shapes["out"][1] == (2, 1, 28, 28)
    assert "down.1" in format_shape_table(rec)


def test_loss_per_timestep_and_x0_predictions(tiny_model, linear1000):
    x0 = torch.zeros(4, 1, 28, 28)
    L = loss_per_timestep(tiny_model, linear1000, x0, [0, 500, 999])
    assert L.shape == (3,) and torch.isfinite(L).all()
    with pytest.raises(ValueError, match="timesteps"):
        loss_per_timestep(tiny_model, linear1000, x0, [1000])
    x_t, x0_hat = x0_predictions(tiny_model, linear1000, x0[0], [10, 999])
    assert x_t.shape == x0_hat.shape == (2, 1, 28, 28)


def test_filmstrip_frames(tiny_model, linear1000):
    traj = ddim_sample(tiny_model, linear1000, torch.randn((1, 1, 28, 28), generator=torch.Generator().manual_seed(0)),
                       steps=10, return_trajectory=True).trajectory
    frames, x0s, labels = filmstrip_frames(tiny_model, linear1000, traj, ddim_timesteps(1000, 10), frames=4)
    assert frames.shape == x0s.shape == (4, 1, 28, 28)
    assert labels[0] == "t = 999" and labels[-1] == "x_0"
    with pytest.raises(ValueError, match="trajectory"):
        filmstrip_frames(tiny_model, linear1000, traj[:-1], ddim_timesteps(1000, 10))


# ----------------------------------------------------------------------------- figures
def test_nb04_figures_draw():
    from ddpm_helpers.lessons.unet import figures as unet_figures
    from ddpm_helpers.ui.style import figure_to_array
    from ddpm_helpers.ui.tables import quality_markdown

    imgs = torch.rand(6, 1, 28, 28) * 2 - 1
    figs = [unet_figures.plot_time_embedding(16, 100), unet_figures.plot_sample_grid(imgs, nrow=3),
            unet_figures.plot_filmstrip(imgs, [5, 4, 3, 2, 1, "x_0"], imgs),
            unet_figures.plot_loss_per_timestep([0, 50, 99], [1.0, 0.1, 0.01], np.array([0, 50, 100]), np.ones((1, 2))),
            unet_figures.plot_nearest_neighbours(imgs, imgs, torch.arange(6.0), floor=3.0),
            unet_figures.plot_class_histogram(np.arange(10), np.ones(10)),
            unet_figures.plot_troubleshooting_gallery({"correct": ("ok", imgs[:2], ""), "bug": ("bad", imgs[2:5], "")})]
    for f in figs:
        a = figure_to_array(f)
        assert a.ndim == 3 and a[..., :3].std() > 0
    md = quality_markdown({"x": {"n": 5, "fid": 1.234, "kid": 0.002, "kid_std": 0.001}})
    assert "| x | 5 | 1.23 | 2.0 ± 1.0 |" in md
