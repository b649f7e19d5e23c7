"""Notebook 03: theory (stub: re-exports, to be moved here)."""
from ...theory import denoiser_fields, loss_against_floor, moons_mass_split  # noqa: F401
__all__ = ['denoiser_fields', 'loss_against_floor', 'moons_mass_split']
