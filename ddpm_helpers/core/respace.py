r"""Respacing (Nichol & Dhariwal 2021, sec. 4): sample a model trained on T timesteps in fewer steps.

Keep K of the T timesteps, \tau_0 < ... < \tau_{K-1}, and give the k-th kept step the beta that covers
the whole jump, so the new K-step schedule has the same \bar\alpha at every kept timestep:

    beta'_k = 1 - \bar\alpha_{\tau_k} / \bar\alpha_{\tau_{k-1}}        (\bar\alpha_{\tau_{-1}} = 1).

A sampler then runs on the K-step schedule with index k, while the model, which only knows the
original timesteps, is called at \tau_k: :class:`Respaced` wraps it to do that translation (as
improved-diffusion's ``respace.py`` does), so every sampler runs a respaced schedule unchanged.

Notation (symbol -> name):

    \tau_k                       timesteps[k]           the kept timesteps, increasing
    \bar\alpha_{\tau_k}          sub.alpha_bars[k]
    beta'_k                      sub.betas[k]
"""
from __future__ import annotations

import torch
from torch import nn

from .runtime import model_device
from .sampling import ddim_timesteps
from .schedules import NoiseSchedule

__all__ = ["respace", "Respaced"]


def respace(sched: NoiseSchedule, steps: int) -> tuple[NoiseSchedule, list[int]]:
    r"""Keep ``steps`` of the T timesteps, the "trailing" ones of :func:`~.sampling.ddim_timesteps`.

    The model is still called with the original timestep \tau_k (:class:`Respaced`). ``steps = T``
    returns the schedule unchanged (up to float rounding). The betas come from the schedule's float64
    \bar\alpha (``sched.host64``).

    Returns ``(sub_schedule, timesteps)``; timesteps increasing, e.g. T=1000, steps=4 -> [249, 499, 749, 999].
    """
    ts = sorted(ddim_timesteps(sched.T, steps, "trailing"))  # increasing, last = T - 1
    ab = sched.host64.alpha_bars[ts]                                   # (steps,) float64
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64, device="cpu"), ab[:-1]])
    return NoiseSchedule.from_betas(1 - ab / ab_prev, kind=sched.kind), ts


class Respaced(nn.Module):
    r"""``Respaced(model, timesteps)(x, k) = model(x, timesteps[k])``: a noise predictor indexed by the
    respaced step k, for sampling on the schedule :func:`respace` returns.

    Shapes: x (B, ...), k (B,) long in 0..K-1 -> eps (B, ...).
    """

    def __init__(self, model: nn.Module, timesteps: list[int]):
        super().__init__()
        self.model = model
        self.register_buffer("timesteps", torch.tensor([int(t) for t in timesteps], dtype=torch.long,
                                                        device=model_device(model)), persistent=False)

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return self.model(x, self.timesteps.to(k.device)[k])  # (B,) step indices -> (B,) original timesteps
