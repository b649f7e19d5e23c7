"""ddpm_helpers: everything the DDPM notebook series runs, in one small package.

``import ddpm_helpers as H`` gives the public core API below (re-exported from ``ddpm_helpers.core``);
each notebook's figures, panels and exercises are in ``ddpm_helpers.lessons.<name>``, the shared look
in ``ddpm_helpers.ui``, the command lines in ``ddpm_helpers.cli``.

Conventions: 0-indexed timesteps t = 0..T-1 as in diffusers (see ``schedules``); the reverse
variance is the posterior variance (tilde beta_t) unless a function says otherwise.
"""
from .core.checkpoints import build_model, load_card_metrics, load_checkpoint, load_pretrained, save_checkpoint
from .core.data import FASHION_CLASSES, load_fashion_mnist, make_moons_data, to_unit_range
from .core.forward import forward_step, q_sample
from .core.models import MLPConfig, TimeMLP, UNet, UNetConfig, count_parameters
from .core.respace import Respaced, respace
from .core.reverse import ddim_sigma, ddim_step, ddim_terms, ddpm_step, predict_x0, q_posterior
from .core.runtime import (
                           budget,
                           configure_threads,
                           eval_mode,
                           is_quick,
                           model_device,
                           pick_device,
                           resolve_amp,
                           seed_everything,
                           setup_notebook,
)
from .core.sampling import (Sample, ddim_sample, ddim_timesteps, ddpm_sample, naive_skip_sample, naive_skip_timesteps,
                            predict_noise, reverse_loop, start_noise, timestep_pairs)
from .core.schedules import NoiseSchedule
from .core.training import UNET_RECIPE, TrainConfig, TrainResult, train

__all__ = [
    # schedules, forward and reverse process, samplers
    "NoiseSchedule", "forward_step", "q_sample", "predict_x0", "q_posterior", "ddpm_step", "ddim_step", "ddim_sigma",
    "ddim_terms", "Sample", "ddpm_sample", "ddim_sample", "ddim_timesteps", "naive_skip_sample", "naive_skip_timesteps",
    "reverse_loop", "timestep_pairs", "start_noise", "predict_noise", "respace", "Respaced",
    # models, training, checkpoints and the shipped weights
    "TimeMLP", "MLPConfig", "UNet", "UNetConfig", "build_model", "count_parameters", "train", "TrainConfig",
    "UNET_RECIPE", "TrainResult", "save_checkpoint", "load_checkpoint", "load_pretrained", "load_card_metrics",
    # data
    "make_moons_data", "load_fashion_mnist", "FASHION_CLASSES", "to_unit_range",
    # where and how to run
    "pick_device", "model_device", "eval_mode", "resolve_amp", "is_quick", "budget", "seed_everything",
    "configure_threads", "setup_notebook",
]
