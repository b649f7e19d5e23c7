"""Notebook 04: slider panels (ipywidgets) (stub: re-exports, to be moved here)."""
from ...widgets import x0_prediction_panel  # noqa: F401
__all__ = ['x0_prediction_panel']
