"""View pieces of the SaliencyOverlay: zoomed canvases with crisp pixels, titled panels."""

import html
import struct
import zlib

import ipywidgets as widgets
import numpy as np
from ipycanvas import hold_canvas

from .base import ImageCanvas

__all__ = ["CRISP_CSS_CLASS", "crisp_style", "png_bytes", "ZoomedImageCanvas", "TitledCanvas"]

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
        """Replace the canvas content with a uint8 RGBA image (resizing the canvas to fit).

        Like :meth:`ImageCanvas.show`, but the PNG sent to the browser is
        written with fast zlib settings (level 1, no row filters): a
        recolour after every class switch or slider move costs a fraction
        of Pillow's default encoding (about half for a 224x224 photo).
        """
        rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
        if rgba.ndim != 3 or rgba.shape[-1] != 4:
            raise ValueError(f"show needs uint8 (H, W, 4) RGBA, got shape {rgba.shape}")
        try:
            from ipycanvas.canvas import COMMANDS

            command = COMMANDS["putImageData"]
        except (ImportError, KeyError):  # another ipycanvas: its own (slower) path
            return super().show(rgba)
        height, width = rgba.shape[:2]
        if (width, height) != (self.width, self.height):
            self.width, self.height = width, height
            self._pin_css_size()
        elif np.array_equal(rgba, self.image):
            return  # already shown (e.g. the heat map when only the opacity moved)
        with hold_canvas():
            self.clear()
            self._canvas_manager.send_draw_command(self, command, [0, 0], [png_bytes(rgba)])
        self.image = rgba

    def _pin_css_size(self):
        height, width = self.css_size
        self.layout.width = f"{width}px"
        self.layout.height = f"{height}px"
        self.layout.min_width = f"{width}px"
        self.layout.flex = "0 0 auto"


#: Images up to this many raw bytes (256x256 RGBA) are sent uncompressed (zlib level 0):
#: compressing a noisy 224x224 map costs more time than sending its 200 KB.
SMALL_IMAGE_BYTES = 256 * 1024


def png_bytes(rgba, level=None):
    """Encode uint8 ``(H, W, 4)`` RGBA as PNG with zlib ``level`` and no row filters.

    Lossless like any PNG; written directly (signature, IHDR, one IDAT,
    IEND) because Pillow's encoder spends most of its time on filter search
    and default compression, which buy little for images sent once over a
    local connection. ``level`` defaults to 0 (stored) for images of at most
    :data:`SMALL_IMAGE_BYTES` raw bytes (256x256 and smaller) and to 1 above.
    """
    if level is None:
        level = 0 if rgba.size <= SMALL_IMAGE_BYTES else 1
    height, width = rgba.shape[:2]
    rows = np.empty((height, width * 4 + 1), np.uint8)
    rows[:, 0] = 0  # filter type "None" for every row
    rows[:, 1:] = rgba.reshape(height, width * 4)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
            + chunk(b"IEND", b""))


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
