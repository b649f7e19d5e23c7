"""Notebook 05: slider panels (ipywidgets) (stub: re-exports, to be moved here)."""
from ...widgets import elbo_weights_panel, posterior_panel  # noqa: F401
__all__ = ['elbo_weights_panel', 'posterior_panel']
