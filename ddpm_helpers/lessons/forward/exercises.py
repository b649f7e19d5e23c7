"""Notebooks 01 (the forward process) and 02 (its closed form): exercise self-checks (stub: re-exports, to be moved here)."""
from ...exercises import check_forward_step, check_q_sample, check_signal_left, check_two_steps  # noqa: F401
__all__ = ['check_forward_step', 'check_q_sample', 'check_signal_left', 'check_two_steps']
