"""Every canvas of the widgets: drawing, locking, PNG encoding, replay for late views.

Lock policy
-----------
ipycanvas batches draw commands in ONE process-wide cache (its canvas
manager) and interleaves "switch canvas" commands as the target changes. The
widgets draw from the kernel's thread (mouse handlers) and from their worker
threads (results), so two drawings at once could send commands to the wrong
canvas, or a canvas' kernel-side copy (``image``, ``outlines``) could stop
matching what the browser shows. Hence one rule:

    Every change of a canvas (its commands *and* the kernel-side copy it keeps
    for snapshots and replays) happens inside :func:`drawing`, which holds
    one process-wide re-entrant lock and ipycanvas' ``hold_canvas``.

There is no other drawing lock: canvases take no ``lock`` argument and
widgets keep none for their canvases. ``drawing`` is re-entrant, so a widget
may hold it around several canvases to update them together. Never wait for
another thread while holding it (e.g. never call
:meth:`~cnnwidgets.widgets.common.runner.LatestRequestRunner.cancel` inside
it): the workers draw under it.

Replay
------
ipycanvas 0.14 keeps no draw history, so a browser view that connects after
a drawing (Voila, a re-opened notebook, a second view of the same output)
would show an empty canvas. Each canvas here keeps what it shows and
replays it from ``on_client_ready`` through :func:`replay_when_ready`.

PNG encoding
------------
Images are sent with :func:`send_rgba`: one PNG from
:func:`cnnwidgets.render.encode_png_fast` (stored, unfiltered up to 256x256;
ipycanvas' own ``put_image_data`` runs Pillow at level 6, several times
slower for images drawn once).
"""

import threading
from contextlib import contextmanager

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas, MultiCanvas, hold_canvas

from ...compat import forget_current_canvas, send_png_image
from ...render import encode_png_fast, outline_box
from .style import CRISP_CSS_CLASS, hex_to_rgba

__all__ = [
    "drawing",
    "send_rgba",
    "replay_when_ready",
    "pin_css_size",
    "ImageCanvas",
    "OverlayCanvas",
]

# The one drawing lock (see the module docstring). Process-wide because
# ipycanvas' command cache is.
_DRAWING_LOCK = threading.RLock()


@contextmanager
def drawing():
    """Batch ipycanvas draw commands and send them at once, safely from any thread.

    Use instead of ``ipycanvas.hold_canvas()`` around every change of a
    canvas (see the lock policy in this module's docstring).
    """
    with _DRAWING_LOCK, hold_canvas():
        yield


def send_rgba(canvas, rgba, x=0, y=0):
    """Draw uint8 RGBA ``rgba`` on ``canvas`` at ``(x, y)`` as one fast-encoded PNG.

    Call it inside :func:`drawing`.
    """
    send_png_image(canvas, encode_png_fast(np.ascontiguousarray(rgba, np.uint8)), int(x), int(y))


def replay_when_ready(canvas, redraw):
    """Call ``redraw()`` (inside :func:`drawing`) whenever a browser view of ``canvas`` connects."""

    def replay():
        with drawing():
            forget_current_canvas()
            redraw()

    canvas.on_client_ready(replay)


def pin_css_size(layout, width, height):
    """Fix a canvas' on-screen size to ``width`` x ``height`` CSS pixels (the browser never stretches it)."""
    layout.width = layout.min_width = f"{int(width)}px"
    layout.height = layout.min_height = f"{int(height)}px"
    layout.flex = "0 0 auto"


class ImageCanvas(Canvas):
    """An ipycanvas ``Canvas`` that shows one image at a pinned size and remembers it.

    Parameters
    ----------
    width, height : int
        Size in canvas pixels.
    zoom : float
        Screen pixels per canvas pixel. The canvas' own pixels (and
        :attr:`image`) stay at the image's resolution, so little data travels
        and mouse events arrive in image pixels; above 1 the browser enlarges
        with crisp pixels (needs :func:`~.style.stylesheet` on the page).

    Attributes
    ----------
    image : numpy.ndarray
        The uint8 RGBA array last drawn with :meth:`show` (kept in the kernel,
        never synced; replayed for late views).
    """

    def __init__(self, width, height, zoom=1.0, **kwargs):
        self._zoom = float(zoom)
        layout = kwargs.pop("layout", None) or widgets.Layout()
        super().__init__(width=int(width), height=int(height), layout=layout, **kwargs)
        self.add_class(CRISP_CSS_CLASS)
        self._pin_css_size()
        self.image = np.zeros((int(height), int(width), 4), np.uint8)
        replay_when_ready(self, self._replay)

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

    def _pin_css_size(self):
        height, width = self.css_size
        pin_css_size(self.layout, width, height)

    def show(self, rgba):
        """Replace the content with a uint8 RGBA image, resizing the canvas to fit.

        An image equal to the one shown is not sent again.
        """
        rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
        if rgba.ndim != 3 or rgba.shape[-1] != 4:
            raise ValueError(f"show needs uint8 (H, W, 4) RGBA, got shape {rgba.shape}")
        with drawing():
            if rgba.shape == self.image.shape and np.array_equal(rgba, self.image):
                return
            height, width = rgba.shape[:2]
            if (width, height) != (self.width, self.height):
                self.width, self.height = width, height
                self._pin_css_size()
            self.clear()
            send_rgba(self, rgba)
            self.image = rgba

    def _replay(self):
        if self.image.any():
            self.clear()
            send_rgba(self, self.image)


class OverlayCanvas:
    """A pinned-size image with named sets of outlines drawn over it.

    The image is sent once on the bottom layer of an ``ipycanvas.MultiCanvas``;
    the outlines (selection, hover) live on the top layer and are redrawn
    with a few vector commands, so moving a highlight never re-sends the image.

    Parameters
    ----------
    width, height : int
        Initial size in pixels (:meth:`show` resizes to the image).
    css_class : str, optional
        Class added to the widget (to find it in a browser test).

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

    def __init__(self, width, height, css_class=None):
        self.widget = MultiCanvas(2, width=int(width), height=int(height))
        self.widget.layout = widgets.Layout()
        pin_css_size(self.widget.layout, width, height)
        if css_class:
            self.widget.add_class(css_class)
        self.image = np.zeros((int(height), int(width), 4), np.uint8)
        self.outlines = {}
        replay_when_ready(self.widget[-1], self._replay)

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

    def show(self, rgba, outlines=None):
        """Replace the image (resizing the canvas to fit) and optionally the outlines."""
        rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
        height, width = rgba.shape[:2]
        with drawing():
            if outlines is not None:
                self.outlines = dict(outlines)
            if (height, width) != self.image.shape[:2]:
                self.widget.width, self.widget.height = width, height
                pin_css_size(self.widget.layout, width, height)
            self.image = rgba
            self.widget[0].clear()
            send_rgba(self.widget[0], rgba)
            self._draw_outlines()

    def set_outline(self, name, boxes, colour="#ff7f0e", line_width=2):
        """Draw (or with ``boxes=[]`` remove) one named set of outlines; returns True if it changed."""
        entry = (tuple(tuple(int(v) for v in box) for box in boxes), colour, int(line_width))
        with drawing():
            if not entry[0]:
                if name not in self.outlines:
                    return False
                del self.outlines[name]
            elif self.outlines.get(name) == entry:
                return False
            else:
                self.outlines[name] = entry
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

    def _replay(self):
        if self.image.any():
            self.widget[0].clear()
            send_rgba(self.widget[0], self.image)
        self._draw_outlines()

    def composite(self):
        """What the browser shows: the image with its outlines, uint8 RGBA."""
        out = self.image
        for boxes, colour, line_width in self.outlines.values():
            for box in boxes:
                out = outline_box(out, box, color=hex_to_rgba(colour), width=line_width)
        return np.ascontiguousarray(out, np.uint8)
