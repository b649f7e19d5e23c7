"""Notebooks 01 (the forward process) and 02 (its closed form): figures (stub: re-exports, to be moved here)."""
from ...diagrams import draw_diffusion_chain  # noqa: F401
from ...plots import image_row, plot_chain_variance, plot_chain_vs_jump, plot_schedules, terminal_snr_markdown  # noqa: F401
__all__ = ['draw_diffusion_chain', 'image_row', 'plot_chain_variance', 'plot_chain_vs_jump', 'plot_schedules', 'terminal_snr_markdown']
