"""A titled canvas panel of the SaliencyOverlay."""

import html

import ipywidgets as widgets

from ..common.canvas import ImageCanvas

__all__ = ["TitledCanvas"]


class TitledCanvas(widgets.VBox):
    """A :class:`ImageCanvas` with a one-line title above it.

    A title wider than the canvas ends in an ellipsis; the whole title is
    its tooltip.

    Parameters
    ----------
    title : str
        Text of the title.
    width, height, zoom
        As for :class:`ImageCanvas`.
    """

    def __init__(self, title, width, height, zoom=1.0, **kwargs):
        self.canvas = ImageCanvas(width, height, zoom)
        self.title_label = widgets.HTML(layout=widgets.Layout(margin="0px", height="1.5em"))
        layout = widgets.Layout(align_items="center", margin="0 4px")
        super().__init__([self.title_label, self.canvas], layout=layout, **kwargs)
        self._title_width = None
        self.title = title
        self.fit_title()

    @property
    def title(self):
        """The title text."""
        return self._title

    @title.setter
    def title(self, text):
        self._title = str(text)
        escaped = html.escape(self._title, quote=True)
        width = f"max-width:{self._title_width}px;" if self._title_width else ""
        value = (f"<div title=\"{escaped}\" style=\"{width}font-size:12px;font-weight:bold;overflow:hidden;"
                 f"text-overflow:ellipsis;white-space:nowrap;text-align:center\">{escaped}</div>")
        if self.title_label.value != value:
            self.title_label.value = value

    def fit_title(self):
        """Keep the title within the canvas' width on screen (call after the canvas changed size)."""
        width = self.canvas.css_size[1]
        if width != self._title_width:
            self._title_width = width
            self.title_label.layout.max_width = f"{width}px"
            self.title = self._title
