"""Notebook 05: exercise self-checks (stub: re-exports, to be moved here)."""
from ...exercises import check_elbo_weight, check_eps_form_coefs, check_gaussian_kl, check_posterior_mean_eps, check_posterior_variance, check_w_snr_form  # noqa: F401
__all__ = ['check_elbo_weight', 'check_eps_form_coefs', 'check_gaussian_kl', 'check_posterior_mean_eps', 'check_posterior_variance', 'check_w_snr_form']
