"""Notebook 03: figures (stub: re-exports, to be moved here)."""
from ...diagrams import plot_denoiser_fields, plot_diffusing_cloud, plot_loss_floor, plot_mass_split  # noqa: F401
from ...plots import moons_animation, plot_bucket_losses, plot_loss_curve, plot_skip_damage, scatter_clouds  # noqa: F401
__all__ = ['moons_animation', 'plot_bucket_losses', 'plot_denoiser_fields', 'plot_diffusing_cloud', 'plot_loss_curve', 'plot_loss_floor', 'plot_mass_split', 'plot_skip_damage', 'scatter_clouds']
