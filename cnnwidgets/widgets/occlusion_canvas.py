"""The layered canvas of the occlusion painter: image, heat map, occluder.

Three ``ipycanvas`` layers are stacked in one ``MultiCanvas``; a fourth,
never displayed, canvas holds what shows through occluded pixels (the fill
image). The image and the fill are sent once (PNG); moving the occluder only
redraws the top layer with a few commands: the covered area is filled as
rectangles (one per horizontal run of pixels) and then painted with the fill
canvas through the ``source-in`` composite operation, so the browser shows
exactly the pixels the model sees, for every fill (grey, black, mean, blur).
"""

import threading

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas, MultiCanvas

from ..render import blend, outline_box, upscale_nearest
from .base import drawing, forget_current_canvas
from .layer_browser_canvas import hex_to_rgba
from .occlusion_geometry import mask_runs

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
        css = f"{size['width']}px", f"{size['height']}px"
        self.widget.layout = widgets.Layout(width=css[0], height=css[1], min_width=css[0], min_height=css[1],
                                            flex="0 0 auto")
        self.widget.add_class("cnnwidgets-occlusion-canvas")
        self.image_layer, self.heatmap_layer, self.occluder_layer = (self.widget[i] for i in range(3))
        self.fill_source = Canvas(**size)
        self.image_rgba = self.fill_rgba = self.heatmap_rgba = None
        self.occluder = ("none",)
        # ipycanvas batches commands in one process-wide cache; the mouse
        # handler (kernel thread) and results (worker thread) both draw here.
        self._lock = threading.Lock()
        self.image_layer.on_client_ready(self._redraw_image)
        self.heatmap_layer.on_client_ready(self._redraw_heatmap)
        self.fill_source.on_client_ready(self._redraw_fill)
        self.occluder_layer.on_client_ready(self._redraw_occluder)

    @property
    def lock(self):
        """Held while drawing; hold it to draw other canvases of the same widget from another thread."""
        return self._lock

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
        self.image_rgba = upscale_nearest(np.ascontiguousarray(image_rgba, np.uint8), self.factor)
        self.fill_rgba = upscale_nearest(np.ascontiguousarray(fill_rgba, np.uint8), self.factor)
        with self._lock, drawing():
            self._put(self.image_layer, self.image_rgba)
            self._put(self.fill_source, self.fill_rgba)
            self._draw_occluder()

    def show_fill(self, fill_rgba):
        """Replace what shows through occluded pixels (uint8 RGBA at image size) and redraw the occluder."""
        self.fill_rgba = upscale_nearest(np.ascontiguousarray(fill_rgba, np.uint8), self.factor)
        with self._lock, drawing():
            self._put(self.fill_source, self.fill_rgba)
            self._draw_occluder()

    def show_heatmap(self, heatmap_rgba):
        """Show a uint8 RGBA layer at screen size (already coloured and transparent), or ``None`` to hide it."""
        self.heatmap_rgba = None if heatmap_rgba is None else np.ascontiguousarray(heatmap_rgba, np.uint8)
        with self._lock, drawing():
            self._put(self.heatmap_layer, self.heatmap_rgba)

    def show_box(self, box):
        """Cover the square ``box = (y0, x0, y1, x1)`` (image pixels), or nothing for ``None``."""
        self.occluder = ("none",) if box is None else ("box", tuple(int(v) for v in box))
        with self._lock, drawing():
            self._draw_occluder()

    def show_mask(self, mask):
        """Cover the pixels of a bool ``(height, width)`` mask."""
        self.occluder = ("mask", np.array(mask, dtype=bool))
        with self._lock, drawing():
            self._draw_occluder()

    # ------------------------------------------------------------ drawing
    @staticmethod
    def _put(layer, rgba):
        layer.clear()
        if rgba is not None:
            layer.put_image_data(rgba, 0, 0)

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

    # ------------------------------------------------- new browser clients
    # A late view has no current canvas yet: forget ours so ipycanvas sends
    # its "switch canvas" command (see ``base.forget_current_canvas``).
    def _redraw_image(self):
        with self._lock, drawing():
            forget_current_canvas()
            self._put(self.image_layer, self.image_rgba)

    def _redraw_heatmap(self):
        with self._lock, drawing():
            forget_current_canvas()
            self._put(self.heatmap_layer, self.heatmap_rgba)

    def _redraw_fill(self):
        with self._lock, drawing():
            forget_current_canvas()
            self._put(self.fill_source, self.fill_rgba)
            self._draw_occluder()

    def _redraw_occluder(self):
        with self._lock, drawing():
            forget_current_canvas()
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
