"""The layered canvas of the occlusion painter: image, heat map, occluder.

Three ``ipycanvas`` layers are stacked in one ``MultiCanvas``; a fourth,
never displayed, canvas holds what shows through occluded pixels (the fill
image). The image and the fill are sent once (PNG); moving the occluder only
redraws the top layer with a few commands: the covered area is filled as
rectangles (one per horizontal run of pixels) and then painted with the fill
canvas through the ``source-in`` composite operation, so the browser shows
exactly the pixels the model sees, for every fill (grey, black, mean, blur).
"""

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas, MultiCanvas

from ...render import blend, outline_box, upscale_nearest
from ..common.canvas import drawing, pin_css_size, replay_when_ready, send_rgba
from ..common.style import hex_to_rgba
from .geometry import mask_runs

__all__ = ["OcclusionCanvas"]

#: Outline of the square occluder (visible on grey, black and white).
OUTLINE_COLOUR = "#ffb000"


class OcclusionCanvas:
    """An enlarged, crisp image with a heat-map layer and an occluder layer.

    Parameters
    ----------
    height, width : int
        Image size in image pixels.
    factor : int
        Integer enlargement (screen pixels per image pixel).

    Attributes
    ----------
    widget : ipycanvas.MultiCanvas
        The widget to place in a layout; mouse events arrive on its top layer
        (``widget[-1]``).
    image_rgba, fill_rgba, heatmap_rgba : numpy.ndarray or None
        The uint8 RGBA arrays last sent for each layer, at screen size (kept
        in the kernel for snapshots and tests, never synced).
    occluder : tuple
        What the top layer shows: ``("none",)``, ``("box", (y0, x0, y1, x1))``
        or ``("mask", mask)`` in image pixels.
    """

    def __init__(self, height, width, factor):
        self.height, self.width, self.factor = int(height), int(width), int(factor)
        size = dict(width=self.width * self.factor, height=self.height * self.factor)
        self.widget = MultiCanvas(3, **size)
        self.widget.layout = widgets.Layout()
        pin_css_size(self.widget.layout, size["width"], size["height"])
        self.widget.add_class("cnnwidgets-occlusion-canvas")
        self.image_layer, self.heatmap_layer, self.occluder_layer = (self.widget[i] for i in range(3))
        self.fill_source = Canvas(**size)
        self.image_rgba = self.fill_rgba = self.heatmap_rgba = None
        self.occluder = ("none",)
        # The mouse handler (kernel thread) and results (worker thread) both
        # draw here: every change goes through ``drawing()`` (common.canvas).
        replay_when_ready(self.image_layer, lambda: self._put(self.image_layer, self.image_rgba))
        replay_when_ready(self.heatmap_layer, lambda: self._put(self.heatmap_layer, self.heatmap_rgba))
        replay_when_ready(self.fill_source, self._replay_fill)
        replay_when_ready(self.occluder_layer, self._draw_occluder)

    @property
    def mouse_layer(self):
        """The layer that receives the browser's mouse events."""
        return self.widget[-1]

    def to_image(self, x, y):
        """Canvas pixel coordinates to image coordinates ``(row, col)`` (floats)."""
        return float(y) / self.factor, float(x) / self.factor

    def pixel_at(self, x, y):
        """The image pixel ``(row, col)`` under canvas point ``(x, y)``, or ``None`` outside."""
        row, col = (int(np.floor(v)) for v in self.to_image(x, y))
        if 0 <= row < self.height and 0 <= col < self.width:
            return row, col
        return None

    # ------------------------------------------------------------- layers
    def show_image(self, image_rgba, fill_rgba):
        """Send the image and the fill image (both uint8 RGBA at image size)."""
        image_rgba = upscale_nearest(np.ascontiguousarray(image_rgba, np.uint8), self.factor)
        fill_rgba = upscale_nearest(np.ascontiguousarray(fill_rgba, np.uint8), self.factor)
        with drawing():
            self.image_rgba, self.fill_rgba = image_rgba, fill_rgba
            self._put(self.image_layer, self.image_rgba)
            self._put(self.fill_source, self.fill_rgba)
            self._draw_occluder()

    def show_fill(self, fill_rgba):
        """Replace what shows through occluded pixels (uint8 RGBA at image size) and redraw the occluder."""
        fill_rgba = upscale_nearest(np.ascontiguousarray(fill_rgba, np.uint8), self.factor)
        with drawing():
            self.fill_rgba = fill_rgba
            self._put(self.fill_source, self.fill_rgba)
            self._draw_occluder()

    def show_heatmap(self, heatmap_rgba):
        """Show a uint8 RGBA layer at screen size (already coloured and transparent), or ``None`` to hide it."""
        with drawing():
            self.heatmap_rgba = None if heatmap_rgba is None else np.ascontiguousarray(heatmap_rgba, np.uint8)
            self._put(self.heatmap_layer, self.heatmap_rgba)

    def show_box(self, box):
        """Cover the square ``box = (y0, x0, y1, x1)`` (image pixels), or nothing for ``None``."""
        with drawing():
            self.occluder = ("none",) if box is None else ("box", tuple(int(v) for v in box))
            self._draw_occluder()

    def show_mask(self, mask):
        """Cover the pixels of a bool ``(height, width)`` mask."""
        mask = np.array(mask, dtype=bool)
        with drawing():
            self.occluder = ("mask", mask)
            self._draw_occluder()

    # ------------------------------------------------------------ drawing
    @staticmethod
    def _put(layer, rgba):
        layer.clear()
        if rgba is not None:
            send_rgba(layer, rgba)

    def _draw_occluder(self):
        layer, f = self.occluder_layer, self.factor
        layer.clear()
        kind = self.occluder[0]
        if kind == "none" or self.fill_rgba is None:
            return
        if kind == "box":
            y0, x0, y1, x1 = self.occluder[1]
            if y1 <= y0 or x1 <= x0:
                return
            layer.fill_style = "#000000"
            layer.fill_rect(x0 * f, y0 * f, (x1 - x0) * f, (y1 - y0) * f)
        else:
            rows, starts, lengths = mask_runs(self.occluder[1])
            if not len(rows):
                return
            layer.fill_style = "#000000"
            layer.fill_rects(starts * f, rows * f, lengths * f, np.full(len(rows), f, np.int32))
        layer.global_composite_operation = "source-in"
        layer.draw_image(self.fill_source, 0, 0)
        layer.global_composite_operation = "source-over"
        if kind == "box":
            layer.stroke_style = OUTLINE_COLOUR
            layer.line_width = 2
            layer.stroke_rect(x0 * f + 1, y0 * f + 1, (x1 - x0) * f - 2, (y1 - y0) * f - 2)

    def _replay_fill(self):
        self._put(self.fill_source, self.fill_rgba)
        self._draw_occluder()

    # ----------------------------------------------------------- snapshot
    def composite(self):
        """What the browser shows, as one uint8 RGBA array at screen size."""
        if self.image_rgba is None:
            return np.zeros((self.height * self.factor, self.width * self.factor, 4), np.uint8)
        out = self.image_rgba
        if self.heatmap_rgba is not None:
            out = blend(out, self.heatmap_rgba, 1.0)
        covered = self.covered_pixels()
        if covered.any() and self.fill_rgba is not None:
            out = np.where(upscale_nearest(covered, self.factor)[..., None], self.fill_rgba, out)
        if self.occluder[0] == "box":
            y0, x0, y1, x1 = self.occluder[1]
            f = self.factor
            out = outline_box(out, (y0 * f, x0 * f, y1 * f, x1 * f), color=hex_to_rgba(OUTLINE_COLOUR), width=2)
        return np.ascontiguousarray(out, np.uint8)

    def covered_pixels(self):
        """bool ``(height, width)``: the image pixels the occluder layer covers."""
        covered = np.zeros((self.height, self.width), bool)
        if self.occluder[0] == "box":
            y0, x0, y1, x1 = self.occluder[1]
            covered[y0:y1, x0:x1] = True
        elif self.occluder[0] == "mask":
            covered |= self.occluder[1]
        return covered
