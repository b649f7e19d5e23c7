r"""Slider panel of notebook 04: :func:`x0_prediction_panel`, what the U-Net makes of one noised image.

It returns a :class:`~ddpm_helpers.ui.panels.Panel`; its picture is drawn by
:func:`~.figures.draw_x0_panel`.

=====================  ==========================
symbol                 name
=====================  ==========================
\hat\epsilon            ``predict_noise(model, x_t, t)``
\hat x_0                ``predict_x0(x_t, eps_hat, t, sched)``
=====================  ==========================
"""
from __future__ import annotations

import torch

from ...core.forward import q_sample
from ...core.reverse import predict_x0
from ...core.sampling import predict_noise
from ...ui.panels import Panel, int_slider
from .figures import draw_x0_panel

__all__ = ["x0_prediction_panel"]


def x0_prediction_panel(model, sched, x0: torch.Tensor, t: int = 500, seed: int = 0) -> Panel:
    r"""Notebook 04: noise one clean image to step t with ``q_sample`` and show the model's
    \hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t} \hat\epsilon) / \sqrt{\bar\alpha_t} beside x_0, x_t and the error.

    Controls: ``t`` (0..T-1) and ``seed`` (which noise draw). Shapes: x0 (1, H, W) or (1, 1, H, W).
    """
    x0 = x0.reshape(1, 1, *x0.shape[-2:]).float().cpu()
    controls = {
        "t": int_slider("timestep t", t, 0, sched.T - 1, width="520px"),
        "seed": int_slider("noise draw", seed, 0, 9, width="300px"),
    }

    def draw(fig, t, seed):
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), device="cpu")
        x_t, _ = q_sample(x0, t, sched, noise=noise)
        eps = predict_noise(model, x_t, t)  # on the model's device, in eval mode; back on the CPU
        draw_x0_panel(fig, x0[0], x_t[0], predict_x0(x_t, eps, t, sched)[0], t, sched)

    return Panel(controls, draw, figsize=(14, 4.2))
