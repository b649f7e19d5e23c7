"""Notebook 04: troubleshooting (stub: re-exports, to be moved here)."""
from ...troubleshooting import gallery_markdown, troubleshooting_gallery  # noqa: F401
__all__ = ['gallery_markdown', 'troubleshooting_gallery']
