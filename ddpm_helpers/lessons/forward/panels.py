"""Notebooks 01 (the forward process) and 02 (its closed form): slider panels (ipywidgets) (stub: re-exports, to be moved here)."""
from ...widgets import chain_jump_panel, forward_process_panel  # noqa: F401
__all__ = ['chain_jump_panel', 'forward_process_panel']
