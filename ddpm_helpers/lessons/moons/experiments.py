"""Notebook 03: experiments (stub: re-exports, to be moved here)."""
from ...experiments import loss_baselines, naive_skip_sample, naive_skip_timesteps, subtract_full_noise  # noqa: F401
__all__ = ['loss_baselines', 'naive_skip_sample', 'naive_skip_timesteps', 'subtract_full_noise']
