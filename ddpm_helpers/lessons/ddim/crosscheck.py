"""Notebook 06, section 10: our DDIM sampler beside diffusers' ``DDIMScheduler``, an independent implementation.

diffusers is optional. Colab's runtime, Binder (binder/requirements.txt) and the lab environment (requirements.txt)
have it; a plain ``pip install ddpm_helpers`` does not install it (it is large, and only this cross-check uses it).
Where it is missing, :func:`diffusers_ddim_sample` says so and returns None, and the notebook goes on.
"""
from __future__ import annotations

import torch
from torch import nn

from ...core.runtime import eval_mode, model_device

__all__ = ["diffusers_ddim_sample"]

MISSING = ("diffusers is not installed in this environment, so this cross-check is skipped; nothing after it needs "
           "it. To run it: %pip install diffusers (Colab, Binder and `make lab` already have it).")


def diffusers_ddim_sample(model: nn.Module, x_T: torch.Tensor, steps: int) -> tuple[torch.Tensor, list[int]] | None:
    """Deterministic DDIM (eta = 0) from ``x_T`` in ``steps`` steps, run by diffusers' ``DDIMScheduler`` configured
    like ours: linear betas 1e-4 .. 0.02 over T = 1000, "trailing" timesteps, alpha_bar = 1 after the last step, no
    clipping. Returns ``(x_0 on the CPU, the timesteps it visited)``, or None when diffusers is not installed.

    Shapes: x_T (B, C, H, W) -> x_0 (B, C, H, W).
    """
    try:
        from diffusers import DDIMScheduler
    except ImportError:
        print(MISSING)
        return None
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                              timestep_spacing="trailing", set_alpha_to_one=True, clip_sample=False)
    scheduler.set_timesteps(steps)
    device = model_device(model)
    x = x_T.to(device)
    with eval_mode(model):
        for t in scheduler.timesteps:
            eps = model(x, torch.full((x.shape[0],), int(t), device=device, dtype=torch.long))
            x = scheduler.step(eps, t, x, eta=0.0).prev_sample
    return x.float().cpu(), [int(t) for t in scheduler.timesteps]
