"""Notebook 03: exercise self-checks (stub: re-exports, to be moved here)."""
from ...exercises import check_predict_x0, check_reverse_step  # noqa: F401
__all__ = ['check_predict_x0', 'check_reverse_step']
