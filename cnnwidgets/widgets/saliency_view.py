"""View pieces of the SaliencyOverlay: zoomed canvases with crisp pixels, titled panels."""

import html

import ipywidgets as widgets
import numpy as np

from .base import ImageCanvas

__all__ = ["CRISP_CSS_CLASS", "crisp_style", "ZoomedImageCanvas", "TitledCanvas"]

#: CSS class of canvases whose pixels the browser enlarges as crisp squares.
CRISP_CSS_CLASS = "cnnwidgets-crisp"


def crisp_style():
    """An HTML widget holding the stylesheet that keeps enlarged canvases pixelated.

    The canvases hold the image at its own resolution (a 28x28 digit is sent
    as 28x28 pixels, not 280x280) and the browser enlarges them; this rule
    makes it use nearest-neighbour scaling instead of blurring.
    """
    return widgets.HTML(
        f"<style>canvas.{CRISP_CSS_CLASS} {{ image-rendering: crisp-edges; image-rendering: pixelated; }}</style>",
        layout=widgets.Layout(height="0px", width="0px", margin="0px", overflow="hidden"),
    )


class ZoomedImageCanvas(ImageCanvas):
    """An :class:`ImageCanvas` whose pixels the browser shows ``zoom`` times larger.

    The canvas' own pixels (and :attr:`image`) stay at the image's
    resolution, so little data travels to the browser and mouse events
    arrive in image pixels; the CSS size is ``zoom`` times the pixel size,
    enlarged with crisp pixels (needs :func:`crisp_style` on the page).

    Parameters
    ----------
    width, height : int
        Size in canvas pixels.
    zoom : float
        Screen pixels per canvas pixel.
    """

    def __init__(self, width, height, zoom=1.0, **kwargs):
        self._zoom = float(zoom)
        super().__init__(width, height, **kwargs)
        self.add_class(CRISP_CSS_CLASS)

    @property
    def zoom(self):
        """Screen pixels per canvas pixel."""
        return self._zoom

    @zoom.setter
    def zoom(self, value):
        self._zoom = float(value)
        self._pin_css_size()

    @property
    def css_size(self):
        """``(height, width)`` on screen, in CSS pixels."""
        return max(1, round(self.height * self._zoom)), max(1, round(self.width * self._zoom))

    def show(self, rgba):
        """Like :meth:`ImageCanvas.show`, skipping an image already shown (e.g. the
        heat map when only the opacity moved)."""
        rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
        if rgba.shape == self.image.shape and np.array_equal(rgba, self.image):
            return
        super().show(rgba)


class TitledCanvas(widgets.VBox):
    """A :class:`ZoomedImageCanvas` with a one-line title above it.

    Parameters
    ----------
    title : str
        Text of the title.
    width, height, zoom
        As for :class:`ZoomedImageCanvas`.
    """

    def __init__(self, title, width, height, zoom=1.0, **kwargs):
        self.canvas = ZoomedImageCanvas(width, height, zoom)
        self.title_label = widgets.HTML(layout=widgets.Layout(margin="0px", height="1.5em"))
        layout = widgets.Layout(align_items="center", margin="0 4px")
        super().__init__([self.title_label, self.canvas], layout=layout, **kwargs)
        self.title = title

    @property
    def title(self):
        """The title text."""
        return self._title

    @title.setter
    def title(self, text):
        self._title = str(text)
        self.title_label.value = f"<b style='font-size:12px'>{html.escape(self._title)}</b>"
