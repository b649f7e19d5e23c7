"""Notebook 06: exercise self-checks (stub: re-exports, to be moved here)."""
from ...exercises import check_ddim_sigma, check_ddim_update, check_respaced_betas, check_sigma_eta1, check_slerp  # noqa: F401
__all__ = ['check_ddim_sigma', 'check_ddim_update', 'check_respaced_betas', 'check_sigma_eta1', 'check_slerp']
