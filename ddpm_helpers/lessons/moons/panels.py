"""Notebook 03: slider panels (ipywidgets) (stub: re-exports, to be moved here)."""
from ...widgets import reverse_sampling_panel  # noqa: F401
__all__ = ['reverse_sampling_panel']
