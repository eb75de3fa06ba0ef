"""Input pickers of the LayerBrowser: image upload, drawing pad (the thumbnails are in ``common``).

Each picker only produces an image (a numpy array in the model's display
range) and a sentence saying where it came from; the LayerBrowser decides
what to do with it.
"""

import io
import math

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas
from PIL import Image, ImageDraw

from ...errors import InvalidImageError
from ...render import decode_image, grayscale_to_rgba
from ..common.canvas import drawing, pin_css_size, replay_when_ready, send_rgba

__all__ = [
    "DrawingPad",
    "uploaded_files",
    "convert_upload",
    "mnist_style",
    "drawn_image",
    "placeholder_image",
    "describe_label",
    "MAX_UPLOAD_BYTES",
    "MIN_UPLOAD_SIDE",
]

#: Largest upload accepted, in bytes.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: Smallest accepted image side, in pixels.
MIN_UPLOAD_SIDE = 4

def mnist_style(strokes, size=28, box=20):
    """Centre a drawing the way MNIST digits are: fit its bounding box into ``box`` pixels, centre by mass.

    Parameters
    ----------
    strokes : array_like
        ``(H, W)`` float or uint8, white strokes on black.
    size : int
        Output side.
    box : int
        Side of the square the drawing's bounding box is scaled into.

    Returns
    -------
    numpy.ndarray
        uint8 ``(size, size)``; all zeros for an empty drawing.
    """
    strokes = np.asarray(strokes, np.float32)
    out = np.zeros((size, size), np.float32)
    ink = strokes > 0.1 * max(1e-6, float(strokes.max()))
    if not ink.any():
        return out.astype(np.uint8)
    rows, cols = np.nonzero(ink)
    crop = strokes[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    height, width = crop.shape
    scale = box / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    peak = float(crop.max()) or 1.0
    small = Image.fromarray(np.clip(crop / peak * 255.0, 0, 255).astype(np.uint8), "L").resize(
        (new_w, new_h), Image.LANCZOS
    )
    small = np.asarray(small, np.float32)
    total = small.sum()
    if total <= 0:
        return out.astype(np.uint8)
    cy = (small.sum(axis=1) * np.arange(new_h)).sum() / total
    cx = (small.sum(axis=0) * np.arange(new_w)).sum() / total
    top = int(round(size / 2.0 - 0.5 - cy))
    left = int(round(size / 2.0 - 0.5 - cx))
    top = min(max(top, 0), size - new_h)
    left = min(max(left, 0), size - new_w)
    out[top : top + new_h, left : left + new_w] = small
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class DrawingPad:
    """A black square to draw a digit on with the mouse (white strokes), with a Clear button.

    Parameters
    ----------
    size : int
        Side in pixels.
    brush : int
        Stroke width in pixels.

    Attributes
    ----------
    widget : ipywidgets.VBox
    canvas : ipycanvas.Canvas
    strokes : numpy.ndarray
        uint8 ``(size, size)``: what has been drawn, rasterized in the kernel.
    """

    def __init__(self, size=168, brush=16):
        self.size, self.brush = int(size), int(brush)
        self._pil = Image.new("L", (self.size, self.size), 0)
        self._last = None
        self._on_change = []
        self.canvas = Canvas(width=self.size, height=self.size, layout=widgets.Layout())
        pin_css_size(self.canvas.layout, self.size, self.size)
        self.canvas.add_class("cnnwidgets-drawing-pad")
        self.clear_button = widgets.Button(description="Clear", icon="eraser",
                                           layout=widgets.Layout(width=f"{self.size}px"))
        self.clear_button.on_click(lambda _: self.clear())
        self.widget = widgets.VBox(
            [widgets.HTML("<small>Draw a digit:</small>"), self.canvas, self.clear_button],
            layout=widgets.Layout(flex="0 0 auto"),
        )
        self.canvas.on_mouse_down(self._mouse_down)
        self.canvas.on_mouse_move(self._mouse_move)
        self.canvas.on_mouse_up(self._mouse_up)
        self.canvas.on_mouse_out(self._mouse_up)
        replay_when_ready(self.canvas, self._replay)
        self._paint_background()

    @property
    def strokes(self):
        """uint8 ``(size, size)`` drawing."""
        return np.asarray(self._pil, np.uint8)

    @property
    def empty(self):
        """True when nothing is drawn."""
        return not self.strokes.any()

    def on_change(self, callback):
        """Call ``callback(strokes)`` after every stroke segment and after Clear."""
        self._on_change.append(callback)

    def clear(self):
        """Erase the drawing."""
        self._pil = Image.new("L", (self.size, self.size), 0)
        self._last = None
        self._paint_background()
        self._notify()

    def _paint_background(self):
        with drawing():
            self.canvas.clear()
            self.canvas.fill_style = "#000000"
            self.canvas.fill_rect(0, 0, self.size, self.size)

    def _replay(self):
        self.canvas.clear()
        send_rgba(self.canvas, grayscale_to_rgba(self.strokes / 255.0))

    def _segment(self, x0, y0, x1, y1):
        draw = ImageDraw.Draw(self._pil)
        radius = self.brush / 2.0
        draw.line((x0, y0, x1, y1), fill=255, width=self.brush)
        for x, y in ((x0, y0), (x1, y1)):
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
        with drawing():
            self.canvas.stroke_style = "#ffffff"
            self.canvas.fill_style = "#ffffff"
            self.canvas.line_width = self.brush
            self.canvas.line_cap = "round"
            if (x0, y0) == (x1, y1):
                self.canvas.fill_circle(x0, y0, radius)
            else:
                self.canvas.stroke_line(x0, y0, x1, y1)

    def _mouse_down(self, x, y):
        self._last = (float(x), float(y))
        self._segment(*self._last, *self._last)
        self._notify()

    def _mouse_move(self, x, y):
        if self._last is None:
            return
        point = (float(x), float(y))
        if math.dist(point, self._last) < 1.0:
            return
        self._segment(*self._last, *point)
        self._last = point
        self._notify()

    def _mouse_up(self, x, y):
        self._last = None

    def _notify(self):
        strokes = self.strokes
        for callback in self._on_change:
            callback(strokes)


# ----------------------------------------------------------------- uploads
def uploaded_files(value):
    """``[(name, bytes), ...]`` from a ``FileUpload.value`` (ipywidgets 8 tuple, or 7 dict)."""
    if not value:
        return []
    if isinstance(value, dict):  # ipywidgets 7: {name: {"content": ..., "metadata": ...}}
        items = [dict(item, name=name) for name, item in value.items()]
    else:
        items = list(value)
    files = []
    for item in items:
        content = item.get("content") if isinstance(item, dict) else None
        if content is None:
            continue
        files.append((str(item.get("name") or "upload"), bytes(content)))
    return files


def convert_upload(name, data, input_shape, invert_light_background=False):
    """Decode an uploaded image and convert it to the model's input shape.

    Parameters
    ----------
    name : str
        File name (for messages).
    data : bytes
    input_shape : tuple
        ``(H, W, C)``; ``None`` sizes keep the image's (capped at 512 pixels).
    invert_light_background : bool
        Invert a mostly light grayscale image (dark digit on paper -> MNIST's
        light digit on black).

    Returns
    -------
    tuple
        ``(image, description)``: uint8 ``(H, W, C)`` and a sentence saying
        what was done.

    Raises
    ------
    InvalidImageError
        Empty, too large, not an image, or too small to use.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidImageError(
            f"{name} is {len(data) / 1e6:.1f} MB; upload an image under {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
        )
    try:
        with Image.open(io.BytesIO(bytes(data))) as probe:
            original_size, original_mode = probe.size, probe.mode
    except Exception:
        original_size, original_mode = None, None
    channels = input_shape[-1] if input_shape[-1] in (1, 3) else 3
    height, width = input_shape[:2]
    if original_size is None:
        try:
            decode_image(data, channels=channels)
        except ValueError as exc:
            raise InvalidImageError(f"could not use {name}: {exc}") from None
        raise InvalidImageError(f"could not read the size of {name}; upload a PNG or JPEG image")
    if min(original_size) < MIN_UPLOAD_SIDE:
        raise InvalidImageError(
            f"{name} is only {original_size[0]}×{original_size[1]} pixels; upload an image at least "
            f"{MIN_UPLOAD_SIDE}×{MIN_UPLOAD_SIDE} pixels"
        )
    if height is None or width is None:
        scale = min(1.0, 512.0 / max(original_size))
        size = (max(1, round(original_size[1] * scale)), max(1, round(original_size[0] * scale)))
    else:
        size = (height, width)
    try:
        image = decode_image(data, size=size, channels=channels)
    except ValueError as exc:
        raise InvalidImageError(f"could not use {name}: {exc}") from None
    steps = []
    orig_w, orig_h = original_size
    if (orig_h, orig_w) != tuple(size):
        steps.append(f"resized from {orig_w}×{orig_h} to {size[1]}×{size[0]} (bilinear"
                     + (", aspect ratio changed)" if abs(orig_w / orig_h - size[1] / size[0]) > 0.02 else ")"))
    colour = "grayscale" if channels == 1 else "RGB"
    if (original_mode in ("L", "I", "I;16", "1")) != (channels == 1) or original_mode in ("RGBA", "LA", "P"):
        steps.append(f"converted from {original_mode} to {colour}")
    if invert_light_background and channels == 1 and image.mean() > 127:
        image = 255 - image
        steps.append("inverted (dark on light → light on dark, like MNIST)")
    description = f"uploaded {name}: " + ("; ".join(steps) if steps else f"used as is ({size[1]}×{size[0]} {colour})")
    return image, description


def placeholder_image(inspector):
    """Smooth random colour blobs (fine noise on top): a stand-in input with some structure, in the display range."""
    low, high = inspector.input_range
    height, width, channels = (d or 224 for d in inspector.input_shape)
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (6, 6, 3)).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(coarse, "RGB").resize((width, height), Image.BICUBIC), np.float32)
    smooth = smooth[..., :channels] if channels <= 3 else np.repeat(smooth[..., :1], channels, axis=-1)
    image = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255) / 255.0
    return (low + image * (high - low)).astype(np.float32)


def describe_label(inspector, label):
    """A label as text: a class name where the first output holds classes, else a few values, or its shape."""
    label = np.asarray(label)
    if label.ndim == 0 and inspector.output_kinds[0] != "values" and float(label).is_integer():
        names = inspector.output_class_names(0)
        index = int(label)
        return names[index] if 0 <= index < len(names) else str(index)
    if label.size <= 4 and np.issubdtype(label.dtype, np.number):
        return ", ".join(f"{float(v):.3g}" for v in label.ravel())
    return "array " + "×".join(str(d) for d in label.shape)


def drawn_image(inspector, strokes):
    """``(image, note)``: the pad's strokes (uint8 ``(S, S)``) as a model input in the display range.

    A 28x28 model gets the MNIST treatment (:func:`mnist_style`); other sizes
    a plain resize.
    """
    from ...render import resize_rgba

    height, width, _ = inspector.input_shape
    if (height, width) == (28, 28):
        image = mnist_style(strokes)
        note = "drawing: fitted into 20×20 and centred by mass in 28×28, like MNIST"
    else:
        size = (height or strokes.shape[0], width or strokes.shape[1])
        image = resize_rgba(np.repeat(strokes[..., None], 4, axis=-1), size)[..., 0]
        note = f"drawing: resized to {size[1]}×{size[0]}"
    low, high = inspector.input_range
    return low + image.astype(np.float32) / 255.0 * (high - low), note
