"""Notebook 05: figures (stub: re-exports, to be moved here)."""
from ...diagrams import draw_diffusion_chain, plot_exact_reverse_step, plot_mass_split  # noqa: F401
from ...plots import plot_elbo_weights, plot_moons_comparison, plot_posterior_bayes, plot_weighted_bucket_losses  # noqa: F401
__all__ = ['draw_diffusion_chain', 'plot_elbo_weights', 'plot_exact_reverse_step', 'plot_mass_split', 'plot_moons_comparison', 'plot_posterior_bayes', 'plot_weighted_bucket_losses']
