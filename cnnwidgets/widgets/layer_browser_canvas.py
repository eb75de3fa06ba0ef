"""An image canvas with a cheap outline layer, for the LayerBrowser's clickable views.

The image (diagram, thumbnail strip, feature-map grid) is sent once as PNG on
the bottom layer of an ``ipycanvas.MultiCanvas``; the selection and hover
outlines live on the top layer and are redrawn with a few vector commands,
so moving a highlight never re-sends the image.
"""

import threading

import ipywidgets as widgets
import numpy as np
from ipycanvas import MultiCanvas

from ..render import outline_box
from .base import drawing, forget_current_canvas

__all__ = ["OverlayCanvas", "hex_to_rgba"]


def hex_to_rgba(colour):
    """``"#rrggbb"`` to an opaque ``(r, g, b, 255)`` tuple."""
    colour = colour.lstrip("#")
    return tuple(int(colour[i : i + 2], 16) for i in (0, 2, 4)) + (255,)


class OverlayCanvas:
    """A pinned-size image with named outline sets drawn over it.

    Parameters
    ----------
    width, height : int
        Initial size in pixels (``show`` resizes to the image).
    css_class : str, optional
        Class added to the widget (to find it in a browser test).
    lock : threading.Lock, optional
        Held while drawing. ipycanvas batches commands in one process-wide
        cache, and a widget draws both from mouse handlers (kernel thread) and
        from its worker thread: share one lock between a widget's canvases.

    Attributes
    ----------
    widget : ipycanvas.MultiCanvas
        Place it in a layout; mouse events arrive on its top layer.
    image : numpy.ndarray
        uint8 RGBA last shown (kept in the kernel, never synced).
    outlines : dict
        ``name -> (boxes, colour, line_width)``: what the top layer shows;
        boxes are ``(y0, x0, y1, x1)`` end-exclusive.
    """

    def __init__(self, width, height, css_class=None, lock=None):
        self.widget = MultiCanvas(2, width=int(width), height=int(height))
        self.widget.layout = widgets.Layout()
        self._pin_css_size(int(width), int(height))
        if css_class:
            self.widget.add_class(css_class)
        self.image = np.zeros((int(height), int(width), 4), np.uint8)
        self.outlines = {}
        self._lock = lock if lock is not None else threading.RLock()
        self.widget[-1].on_client_ready(self._redraw)

    # ------------------------------------------------------------- events
    @property
    def mouse_layer(self):
        """The layer that receives browser mouse events (``_handle_frontend_event`` in tests)."""
        return self.widget[-1]

    def on_mouse_down(self, callback):
        """Call ``callback(x, y)`` on a click."""
        self.widget.on_mouse_down(callback)

    def on_mouse_move(self, callback):
        """Call ``callback(x, y)`` when the pointer moves over the canvas."""
        self.widget.on_mouse_move(callback)

    def on_mouse_out(self, callback):
        """Call ``callback(x, y)`` when the pointer leaves the canvas."""
        self.widget.on_mouse_out(callback)

    # ------------------------------------------------------------ drawing
    @property
    def size(self):
        """``(height, width)`` in pixels."""
        return self.image.shape[:2]

    def _pin_css_size(self, width, height):
        layout = self.widget.layout
        layout.width = layout.min_width = f"{width}px"
        layout.height = layout.min_height = f"{height}px"
        layout.flex = "0 0 auto"

    def show(self, rgba, outlines=None):
        """Replace the image (resizing the canvas to fit) and optionally the outlines."""
        rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
        height, width = rgba.shape[:2]
        with self._lock:
            if outlines is not None:
                self.outlines = dict(outlines)
            if (height, width) != self.image.shape[:2]:
                self.widget.width, self.widget.height = width, height
                self._pin_css_size(width, height)
            self.image = rgba
            with drawing():
                base = self.widget[0]
                base.clear()
                base.put_image_data(rgba, 0, 0)
                self._draw_outlines()

    def set_outline(self, name, boxes, colour="#ff7f0e", line_width=2):
        """Draw (or with ``boxes=[]`` remove) one named set of outlines; returns True if it changed."""
        entry = (tuple(tuple(int(v) for v in box) for box in boxes), colour, int(line_width))
        with self._lock:
            if not entry[0]:
                if name not in self.outlines:
                    return False
                del self.outlines[name]
            elif self.outlines.get(name) == entry:
                return False
            else:
                self.outlines[name] = entry
            with drawing():
                self._draw_outlines()
        return True

    def _draw_outlines(self):
        top = self.widget[-1]
        top.clear()
        for boxes, colour, line_width in self.outlines.values():
            top.stroke_style = colour
            top.line_width = line_width
            half = line_width / 2.0
            for y0, x0, y1, x1 in boxes:
                top.stroke_rect(x0 + half, y0 + half, max(1, x1 - x0 - line_width), max(1, y1 - y0 - line_width))

    def _redraw(self):
        """Replay both layers for a browser view that connected late."""
        with self._lock:
            forget_current_canvas()
            with drawing():
                if self.image.any():
                    self.widget[0].clear()
                    self.widget[0].put_image_data(self.image, 0, 0)
                self._draw_outlines()

    def composite(self):
        """What the browser shows: the image with its outlines, uint8 RGBA."""
        out = self.image
        for boxes, colour, line_width in self.outlines.values():
            for box in boxes:
                out = outline_box(out, box, color=hex_to_rgba(colour), width=line_width)
        return np.ascontiguousarray(out, np.uint8)
