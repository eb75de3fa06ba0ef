"""Assemble RGBA panels, and rasterize text and bar charts, for widget snapshots."""

import functools
import math

import numpy as np

from .compose import blend

__all__ = ["stack_panels", "text_rgba", "bar_chart_rgba"]

_BAR_COLOR = (31, 119, 180, 255)  # matplotlib "tab:blue"
_HIGHLIGHT_COLOR = (255, 127, 14, 255)  # matplotlib "tab:orange"


def _as_rgba(panel):
    """uint8 ``(H, W)``, ``(H, W, 1|3|4)`` to ``(H, W, 4)`` (grey and RGB made opaque)."""
    panel = np.asarray(panel)
    if panel.ndim == 3 and panel.shape[-1] == 1:
        panel = panel[..., 0]
    if panel.ndim == 2:
        panel = np.repeat(panel[..., None], 3, axis=-1)
    if panel.ndim != 3 or panel.shape[-1] not in (3, 4):
        raise ValueError(f"a panel must be an (H, W), (H, W, 3) or (H, W, 4) uint8 image, got shape {panel.shape}")
    panel = panel.astype(np.uint8, copy=False)
    if panel.shape[-1] == 3:
        panel = np.concatenate([panel, np.full(panel.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    return panel


def _as_color(color):
    color = np.asarray(color, np.uint8).ravel()
    if color.shape == (3,):
        color = np.append(color, np.uint8(255))
    if color.shape != (4,):
        raise ValueError(f"a colour must be (r, g, b) or (r, g, b, a) in 0-255, got {tuple(color)}")
    return color


def stack_panels(panels, axis=1, gap=4, background=(255, 255, 255, 0), align="start"):
    """Put images of different sizes side by side (or one above another) in one RGBA image.

    Parameters
    ----------
    panels : sequence of array_like
        uint8 images ``(H, W, 4)``; ``(H, W, 3)`` and greyscale ``(H, W)``
        are made opaque RGBA. ``None`` entries are skipped.
    axis : {0, 1}
        1: left to right; 0: top to bottom.
    gap : int
        Pixels of ``background`` between neighbouring panels.
    background : tuple of int
        RGBA (or RGB, made opaque) filling the gaps and the space beside
        panels smaller than the largest one.
    align : {"start", "center", "end"}
        Where a smaller panel sits across the stacking direction: top, middle
        or bottom for ``axis=1``; left, middle or right for ``axis=0``.

    Returns
    -------
    numpy.ndarray
        uint8 ``(H, W, 4)``: along ``axis`` the panels' sizes plus the gaps,
        across it the largest panel's size. ``(0, 0, 4)`` for no panels.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = np.zeros((4, 2, 4), np.uint8), np.zeros((2, 3, 4), np.uint8)
    >>> stack_panels([a, b], axis=1, gap=1).shape
    (4, 6, 4)
    """
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (top to bottom) or 1 (left to right), got {axis!r}")
    if align not in ("start", "center", "end"):
        raise ValueError(f"align must be 'start', 'center' or 'end', got {align!r}")
    gap = max(0, int(gap))
    panels = [_as_rgba(p) for p in panels if p is not None]
    if not panels:
        return np.zeros((0, 0, 4), np.uint8)
    across = 1 - axis
    along_total = sum(p.shape[axis] for p in panels) + gap * (len(panels) - 1)
    across_total = max(p.shape[across] for p in panels)
    shape = [0, 0, 4]
    shape[axis], shape[across] = along_total, across_total
    out = np.empty(shape, np.uint8)
    out[...] = _as_color(background)
    position = 0
    for panel in panels:
        spare = across_total - panel.shape[across]
        offset = {"start": 0, "center": spare // 2, "end": spare}[align]
        index = [slice(None), slice(None)]
        index[axis] = slice(position, position + panel.shape[axis])
        index[across] = slice(offset, offset + panel.shape[across])
        out[tuple(index)] = panel
        position += panel.shape[axis] + gap
    return out


@functools.lru_cache(maxsize=32)
def _font(height):
    """Pillow's default font at the largest size whose line (ascent + descent) fits ``height``."""
    from PIL import ImageFont

    try:
        size = height
        font = ImageFont.load_default(size=size)
        while size > 1 and sum(font.getmetrics()) > height:
            size -= 1
            font = ImageFont.load_default(size=size)
        return font, sum(font.getmetrics())
    except (ImportError, OSError, TypeError, AttributeError):  # no FreeType: fixed bitmap font
        font = ImageFont.load_default()
        left, top, right, bottom = font.getbbox("Ag")
        return font, bottom


#: Stand-ins for characters a bitmap font cannot draw (it holds Latin-1 only).
_LATIN1_STAND_INS = {"\u2026": "...", "\u2212": "-", "\u2013": "-", "\u2014": "-"}


def _drawable(font, text):
    """``text`` as ``font`` can draw it: Pillow's bitmap fallback font (Pillow < 10.1, or no FreeType) holds
    Latin-1 only, so other characters get ASCII stand-ins (or ``?``)."""
    from PIL import ImageFont

    if not isinstance(font, ImageFont.ImageFont):  # a FreeType font draws any character it has
        return text
    for character, stand_in in _LATIN1_STAND_INS.items():
        text = text.replace(character, stand_in)
    return text.encode("latin-1", "replace").decode("latin-1")


def _text_width(font, text):
    if not text:
        return 0
    left, _, right, _ = font.getbbox(text)
    return int(math.ceil(max(right, font.getlength(text)) - min(0, left)))


def text_rgba(text, height=12, color=(0, 0, 0, 255)):
    """Rasterize one line of text with Pillow's default font.

    Parameters
    ----------
    text : str
        One line (newlines become spaces).
    height : int
        Height of the result in pixels; the font is the largest that fits.
    color : tuple of int
        RGBA (or RGB, made opaque) of the text.

    Returns
    -------
    numpy.ndarray
        uint8 ``(height, W, 4)``: ``color`` everywhere, with the glyphs'
        anti-aliased coverage in the alpha channel (transparent elsewhere).
        ``W`` is the text's width (0 for empty text).

    Examples
    --------
    >>> text_rgba("cat", height=14).shape[0]
    14
    """
    from PIL import Image, ImageDraw

    height = int(height)
    if height < 1:
        raise ValueError(f"text height must be at least 1 pixel, got {height}")
    text = " ".join(str(text).splitlines())
    color = _as_color(color)
    font, line = _font(height)
    text = _drawable(font, text)
    width = _text_width(font, text)
    out = np.empty((height, width, 4), np.uint8)
    out[...] = color
    if width == 0:
        return out
    left = font.getbbox(text)[0]
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).text((-min(0, left), max(0, (height - line) // 2)), text, font=font, fill=255)
    coverage = np.asarray(mask, np.uint16)
    out[..., 3] = (coverage * int(color[3]) + 127) // 255
    return out


def _paste(canvas, image, y, x):
    """Alpha-composite ``image`` onto ``canvas`` at ``(y, x)`` in place, clipped to the canvas."""
    height, width = canvas.shape[:2]
    y0, x0 = max(0, y), max(0, x)
    y1, x1 = min(height, y + image.shape[0]), min(width, x + image.shape[1])
    if y1 <= y0 or x1 <= x0:
        return
    canvas[y0:y1, x0:x1] = blend(canvas[y0:y1, x0:x1], image[y0 - y : y1 - y, x0 - x : x1 - x], 1.0)


def _fit_text(font, text, width):
    """``text``, shortened with "..." until it is at most ``width`` pixels wide."""
    if _text_width(font, text) <= width:
        return text
    while text and _text_width(font, text + "...") > width:
        text = text[:-1]
    return text + "..." if text else ""


def bar_chart_rgba(
    values,
    labels=None,
    size=(160, 320),
    highlight=None,
    *,
    vmax=None,
    color=_BAR_COLOR,
    highlight_color=_HIGHLIGHT_COLOR,
    text_color=(0, 0, 0, 255),
    background=(255, 255, 255, 255),
    value_format="{:.2f}",
):
    """A horizontal bar chart (e.g. class probabilities) as an RGBA image.

    One row per value, top to bottom: the label on the left, a bar whose
    length is proportional to the value, the formatted value on the right.

    Parameters
    ----------
    values : array_like
        1-D values; negative and NaN values draw no bar.
    labels : sequence of str, optional
        One label per value; default the indices ``"0"``, ``"1"``, ....
        Labels too wide for the label column are shortened with ``"..."``.
    size : tuple of int
        ``(height, width)`` of the chart in pixels.
    highlight : int, optional
        Index of a row whose bar is drawn in ``highlight_color`` (e.g. the
        selected class).
    vmax : float, optional
        Value of a full-width bar. Default: 1 if every value lies in [0, 1]
        (probabilities), else the largest value.
    color, highlight_color, text_color, background : tuple of int
        RGBA (or RGB, made opaque) colours.
    value_format : str or None
        ``str.format`` pattern for the value text; None shows no values.

    Returns
    -------
    numpy.ndarray
        uint8 ``(height, width, 4)``. Bars are solid ``color`` rectangles,
        vertically centred in their rows; text is left out when rows are
        too short to hold legible text (under 6 pixels).

    Raises
    ------
    ValueError
        ``values`` is not 1-D, ``labels`` has another length, ``highlight``
        is out of range, or ``size`` is not positive.
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {values.shape}")
    count = values.size
    labels = [str(i) for i in range(count)] if labels is None else [str(label) for label in labels]
    if len(labels) != count:
        raise ValueError(f"got {count} values but {len(labels)} labels")
    if highlight is not None and not -count <= int(highlight) < count:
        raise ValueError(f"highlight index {highlight} is out of range for {count} bars")
    height, width = (int(v) for v in size)
    if height < 1 or width < 1:
        raise ValueError(f"chart size must be positive, got {height}x{width}")
    out = np.empty((height, width, 4), np.uint8)
    out[...] = _as_color(background)
    if count == 0:
        return out
    finite = values[np.isfinite(values)]
    if vmax is None:
        vmax = 1.0 if finite.size and finite.min() >= 0 and finite.max() <= 1 else (finite.max() if finite.size else 1.0)
    vmax = float(vmax) if float(vmax) > 0 else 1.0

    row = height / count
    text_height = min(16, int(row * 0.8))
    show_text = text_height >= 6
    pad = 4 if show_text else 0
    label_width = value_width = 0
    if show_text:
        font, _ = _font(text_height)
        label_width = min(max(_text_width(font, label) for label in labels), int(width * 0.4))
        if value_format is not None:
            texts = [value_format.format(v) for v in values]
            value_width = min(max(_text_width(font, t) for t in texts), int(width * 0.25))
    bar_x = label_width + pad if label_width else 0
    bar_area = max(0, width - bar_x - (value_width + pad if value_width else 0))
    thickness = max(1, int(round(row * 0.7)))
    highlight = None if highlight is None else int(highlight) % count
    for i, value in enumerate(values):
        top = int(round(i * row))
        bottom = int(round((i + 1) * row))
        y = top + max(0, (bottom - top - thickness) // 2)
        fraction = value / vmax if np.isfinite(value) else 0.0
        length = int(round(min(1.0, max(0.0, fraction)) * bar_area))
        out[y : min(bottom, y + thickness), bar_x : bar_x + length] = _as_color(
            highlight_color if i == highlight else color
        )
        if show_text:
            text_y = top + max(0, (bottom - top - text_height) // 2)
            label = _fit_text(font, labels[i], label_width)
            if label:
                image = text_rgba(label, text_height, text_color)
                _paste(out, image, text_y, max(0, label_width - image.shape[1]))  # right-aligned
            if value_width:
                _paste(out, text_rgba(texts[i], text_height, text_color), text_y, bar_x + bar_area + pad)
    return out
