"""Notebooks 01 (the forward process) and 02 (its closed form): experiments (stub: re-exports, to be moved here)."""
from ...experiments import chain_variance, iterate_chain, snr_zero_db_crossing, terminal_snr_table, time_chain_vs_jump  # noqa: F401
__all__ = ['chain_variance', 'iterate_chain', 'snr_zero_db_crossing', 'terminal_snr_table', 'time_chain_vs_jump']
