"""The clickable strip of input images (LayerBrowser, Explorer)."""

import ipywidgets as widgets
import numpy as np

from ...render import image_to_rgba, resize_rgba, upscale_nearest
from .canvas import OverlayCanvas
from .style import as_card

__all__ = ["ThumbnailStrip", "display_rgba", "SELECTED_COLOUR"]

#: Outline of the selected thumbnail.
SELECTED_COLOUR = "#ff7f0e"


def display_rgba(image, value_range, size):
    """An image (``(H, W, C)`` in ``value_range``) as RGBA fitted into a ``size`` x ``size`` square.

    Small images are enlarged by an integer factor (crisp pixels), large ones
    shrunk smoothly; the aspect ratio is kept.
    """
    rgba = image_to_rgba(np.asarray(image, np.float32), value_range)
    height, width = rgba.shape[:2]
    side = max(height, width)
    if side <= size:
        return upscale_nearest(rgba, max(1, int(size) // side))
    scale = size / side
    return resize_rgba(rgba, (max(1, round(height * scale)), max(1, round(width * scale))))


class ThumbnailStrip:
    """A horizontally scrolling row of clickable thumbnails (one canvas).

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, H, W, C)`` images in ``value_range``.
    value_range : tuple of float
    thumb : int
        Thumbnail side in pixels.
    width : int
        Visible width of the strip in pixels.

    Attributes
    ----------
    widget : ipywidgets.Box
    canvas : OverlayCanvas
    """

    def __init__(self, images, value_range, thumb=40, width=640, gap=4):
        self.count = len(images)
        self.thumb, self.gap = int(thumb), int(gap)
        self._on_pick = []
        strip_width = max(1, self.count * (self.thumb + self.gap) + self.gap)
        self.canvas = OverlayCanvas(strip_width, self.thumb + 2 * self.gap, css_class="cnnwidgets-thumbnails")
        self.widget = as_card(widgets.Box(  # a light card: the strip is drawn on white
            [self.canvas.widget],
            layout=widgets.Layout(width=f"{int(width)}px", overflow_x="auto", overflow_y="hidden", flex="0 0 auto",
                                  min_height=f"{self.thumb + 2 * self.gap + 28}px"),
        ))
        if self.count:
            self.canvas.show(self._render(images, value_range))
        self.canvas.on_mouse_down(self._mouse_down)

    def _render(self, images, value_range):
        height = self.thumb + 2 * self.gap
        width = self.count * (self.thumb + self.gap) + self.gap
        strip = np.full((height, width, 4), 255, np.uint8)
        for index, image in enumerate(images):
            rgba = display_rgba(image, value_range, self.thumb)
            if rgba.shape[:2] != (self.thumb, self.thumb):
                rgba = resize_rgba(rgba, (self.thumb, self.thumb), smooth=False)
            x = self.gap + index * (self.thumb + self.gap)
            strip[self.gap : self.gap + self.thumb, x : x + self.thumb] = rgba
        return strip

    def on_pick(self, callback):
        """Call ``callback(index)`` when a thumbnail is clicked."""
        self._on_pick.append(callback)

    def index_at(self, x, y):
        """Index of the thumbnail under ``(x, y)``, or None."""
        if not (self.gap <= y < self.gap + self.thumb) or x < self.gap:
            return None
        index, within = divmod(int(x) - self.gap, self.thumb + self.gap)
        return index if within < self.thumb and index < self.count else None

    def position(self, index):
        """``(x, y)`` canvas centre of thumbnail ``index``."""
        return self.gap + index * (self.thumb + self.gap) + self.thumb / 2.0, self.gap + self.thumb / 2.0

    def select(self, index):
        """Outline thumbnail ``index`` (None: no outline)."""
        boxes = []
        if index is not None and 0 <= index < self.count:
            x = self.gap + index * (self.thumb + self.gap)
            boxes = [(self.gap - 3, x - 3, self.gap + self.thumb + 3, x + self.thumb + 3)]
        self.canvas.set_outline("selected", boxes, SELECTED_COLOUR, 3)

    def _mouse_down(self, x, y):
        index = self.index_at(x, y)
        if index is not None:
            for callback in self._on_pick:
                callback(index)
