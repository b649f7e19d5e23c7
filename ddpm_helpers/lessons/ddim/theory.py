"""Notebook 06: theory (stub: re-exports, to be moved here)."""
from ...ddim_theory import ddim_geometry, premeasured_reading, premeasured_table, q_sigma_marginal_check, respaced_ddpm_sample, skip_comparison, table_beside_premeasured  # noqa: F401
from ...troubleshooting import respace  # noqa: F401
__all__ = ['ddim_geometry', 'premeasured_reading', 'premeasured_table', 'q_sigma_marginal_check', 'respace', 'respaced_ddpm_sample', 'skip_comparison', 'table_beside_premeasured']
