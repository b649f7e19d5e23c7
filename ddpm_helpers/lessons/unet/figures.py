"""Notebook 04: figures (stub: re-exports, to be moved here)."""
from ...plots import plot_class_histogram, plot_filmstrip, plot_loss_curve, plot_loss_per_timestep, plot_nearest_neighbours, plot_sample_grid, plot_time_embedding, plot_troubleshooting_gallery, quality_ci_markdown, quality_markdown, quality_reading  # noqa: F401
from ...unet_diagram import plot_unet_diagram  # noqa: F401
__all__ = ['plot_class_histogram', 'plot_filmstrip', 'plot_loss_curve', 'plot_loss_per_timestep', 'plot_nearest_neighbours', 'plot_sample_grid', 'plot_time_embedding', 'plot_troubleshooting_gallery', 'plot_unet_diagram', 'quality_ci_markdown', 'quality_markdown', 'quality_reading']
