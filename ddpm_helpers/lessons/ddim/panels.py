"""Notebook 06: slider panels (ipywidgets) (stub: re-exports, to be moved here)."""
from ...widgets import ddim_panel  # noqa: F401
__all__ = ['ddim_panel']
