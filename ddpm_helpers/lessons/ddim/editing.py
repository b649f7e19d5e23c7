"""Notebook 06: interpolation and inversion (stub: re-exports, to be moved here)."""
from ...ddim_extras import ddim_reconstruct, format_table, slerp, slerp_path, speed_quality_table  # noqa: F401
__all__ = ['ddim_reconstruct', 'format_table', 'slerp', 'slerp_path', 'speed_quality_table']
