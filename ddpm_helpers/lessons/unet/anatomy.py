"""Notebook 04: anatomy (stub: re-exports, to be moved here)."""
from ...anatomy import filmstrip_frames, format_shape_table, loss_per_timestep, trace_shapes, x0_predictions  # noqa: F401
__all__ = ['filmstrip_frames', 'format_shape_table', 'loss_per_timestep', 'trace_shapes', 'x0_predictions']
