"""Notebook 05: theory (stub: re-exports, to be moved here)."""
from ...elbo import elbo_loss_weights, elbo_weights, gaussian_kl, gaussian_kl_monte_carlo, kl_term, posterior_mean_from_eps, posterior_on_grid  # noqa: F401
from ...theory import elbo_weights_snr, exact_reverse_step, float64_schedule, gaussian_fit_kl, importance_proposal, moons_mass_split, sum_over_t_estimate  # noqa: F401
__all__ = ['elbo_loss_weights', 'elbo_weights', 'elbo_weights_snr', 'exact_reverse_step', 'float64_schedule', 'gaussian_fit_kl', 'gaussian_kl', 'gaussian_kl_monte_carlo', 'importance_proposal', 'kl_term', 'moons_mass_split', 'posterior_mean_from_eps', 'posterior_on_grid', 'sum_over_t_estimate']
