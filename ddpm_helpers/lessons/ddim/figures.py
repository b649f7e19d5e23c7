"""Notebook 06: figures (stub: re-exports, to be moved here)."""
from ...plots import plot_ddim_geometry, plot_image_rows, plot_skip_comparison, plot_speed_quality, quality_reading  # noqa: F401
__all__ = ['plot_ddim_geometry', 'plot_image_rows', 'plot_skip_comparison', 'plot_speed_quality', 'quality_reading']
