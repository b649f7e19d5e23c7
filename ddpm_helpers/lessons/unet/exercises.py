"""Notebook 04: exercise self-checks (stub: re-exports, to be moved here)."""
from ...exercises import check_nearest_distance, check_sinusoidal_embedding, check_time_injection  # noqa: F401
__all__ = ['check_nearest_distance', 'check_sinusoidal_embedding', 'check_time_injection']
