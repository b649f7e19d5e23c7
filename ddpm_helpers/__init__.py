"""ddpm_helpers: everything the DDPM notebook series runs, in one small package.

Conventions: 0-indexed timesteps t = 0..T-1 as in diffusers (see ``schedules``); the reverse
variance is the posterior variance (tilde beta_t) unless a function says otherwise.
"""
from .data import FASHION_CLASSES, load_fashion_mnist, make_moons_data, to_unit_range
from .forward import forward_step, q_sample
from .models import MLPConfig, TimeMLP, UNet, UNetConfig, build_model, count_parameters
from .reverse import ddim_sigma, ddim_step, ddpm_step, predict_x0, q_posterior
from .runtime import (budget, configure_threads, eval_mode, is_quick, model_device, pick_device, resolve_amp,
                      seed_everything, setup_notebook)
from .sampling import ddim_sample, ddim_timesteps, ddpm_sample, predict_noise, reverse_loop
from .schedules import NoiseSchedule
from .training import TrainConfig, TrainResult, load_checkpoint, save_checkpoint, train

__all__ = [
    "NoiseSchedule", "forward_step", "q_sample", "predict_x0", "q_posterior", "ddpm_step", "ddim_step",
    "ddim_sigma", "ddpm_sample", "ddim_sample", "ddim_timesteps", "reverse_loop", "predict_noise", "TimeMLP", "MLPConfig", "UNet",
    "UNetConfig", "build_model", "count_parameters", "train", "TrainConfig", "TrainResult",
    "save_checkpoint", "load_checkpoint", "make_moons_data", "load_fashion_mnist", "FASHION_CLASSES",
    "to_unit_range", "pick_device", "model_device", "eval_mode", "resolve_amp", "is_quick", "budget", "seed_everything", "configure_threads", "setup_notebook",
]
