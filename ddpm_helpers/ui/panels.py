"""The slider panel every notebook uses: :class:`Panel`, and :func:`int_slider` for its controls.

A panel is an ``ipywidgets.VBox`` with

* ``panel.controls``: a dict ``name -> widget`` (set ``panel.controls["t"].value = 10`` from
  Python and the picture redraws, exactly as when a student drags the slider),
* ``panel.output``: the ``ipywidgets.Output`` that holds the current picture,
* ``panel.figure``: the matplotlib figure, and ``panel.image()``: its pixels (for tests).

The default picture is rendered at construction time, into the output and into the panel's own
``image/png`` representation, so where no widget frontend runs (nbval, a static render on
GitHub) the notebook still shows the picture. Each lesson's ``panels`` module builds its panels
from these; each builder RETURNS the panel so tests can drive it.
"""
from __future__ import annotations

import base64
import contextlib

import ipywidgets as W
import numpy as np

from .style import figure_to_array, figure_to_png, new_figure

__all__ = ["Panel", "int_slider"]


class Panel(W.VBox):
    """A row of controls above an output area, redrawn by ``draw(figure, **values)`` on every change.

    ``draw`` receives the figure and the current value of every control by name; if it raises a
    ``ValueError`` (a bad slider combination such as beta_start > beta_end) the message is shown
    in the figure instead of a picture.
    """

    def __init__(self, controls: dict, draw, figsize=(14, 4), dpi: int = 80, on_change=None):
        self.output = W.Output()
        rows = list(controls.values())
        super().__init__([W.HBox(rows[:3]), W.HBox(rows[3:]), self.output] if len(rows) > 3
                         else [W.HBox(rows), self.output])
        self.controls = controls
        self.figure = new_figure(figsize=figsize)
        self.dpi = dpi
        self._draw = draw
        self._on_change_hook = on_change
        self._holding = False
        self._png = b""
        for w in controls.values():
            w.observe(self._changed, names="value")
        self.render()

    def values(self) -> dict:
        """The current value of every control, by name."""
        return {k: w.value for k, w in self.controls.items()}

    @contextlib.contextmanager
    def hold(self):
        """Change several controls without redrawing in between; redraw once at the end."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        self.render()

    def _changed(self, change):
        if self._holding:
            return
        if self._on_change_hook is not None:
            with self.hold():
                self._on_change_hook(self, change)
            return
        self.render()

    def render(self) -> None:
        """Redraw the figure from the controls and put it into the output area."""
        try:
            self._draw(self.figure, **self.values())
        except ValueError as e:
            self.figure.clear()
            self.figure.text(0.5, 0.5, f"ValueError: {e}", ha="center", va="center", wrap=True,
                             fontsize=13, color="crimson")
        self._png = figure_to_png(self.figure, dpi=self.dpi)
        b64 = base64.b64encode(self._png).decode("ascii")
        self.output.outputs = ({"output_type": "display_data", "metadata": {},
                                "data": {"image/png": b64, "text/plain": "<panel picture>"}},)

    def image(self) -> np.ndarray:
        """The current picture's pixels. Shapes: -> (H, W, 4) uint8."""
        return figure_to_array(self.figure)

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs) or {}
        data["image/png"] = base64.b64encode(self._png).decode("ascii")  # static fallback
        return data


def int_slider(name: str, value: int, lo: int, hi: int, step: int = 1, width: str = "420px") -> W.IntSlider:
    """An integer slider labelled ``name`` that redraws on release (not while dragging)."""
    return W.IntSlider(value=value, min=lo, max=hi, step=step, description=name, continuous_update=False,
                       layout=W.Layout(width=width), style={"description_width": "initial"})
