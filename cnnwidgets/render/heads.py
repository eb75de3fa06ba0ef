"""A model's output heads as pictures: predicted masks, per-class score maps, regression values.

Pure numpy (and Pillow for text), no TensorFlow, no widgets. The
LayerBrowser draws each output of a segmentation, regression or
several-output model with these:

* :func:`mask_rgba` paints a predicted mask with the one class palette of
  :func:`cnnwidgets.render.masks.class_palette` (the target panel's too), :func:`mask_overlay_rgba` over the input, and
  :func:`mask_legend_rgba` lists the classes with their share of the pixels.
* :func:`score_maps_rgba` draws one small map per class of a dense output
  (its probability or score at every pixel), with the class name over each.
* :func:`values_rgba` draws a regression vector as signed bars around a zero
  line, each value written out.
"""

import numpy as np

from .colormaps import apply_colormap, normalize
from .compose import blend
from .panels import stack_panels, text_rgba

__all__ = [
    "mask_rgba",
    "mask_overlay_rgba",
    "mask_legend_rgba",
    "score_maps_rgba",
    "score_limits",
    "values_rgba",
    "format_head_value",
    "HEAD_HIGHLIGHT",
]

_WHITE = (255, 255, 255, 255)
_INK = (40, 40, 40, 255)
_MUTED = (110, 110, 110, 255)
_POSITIVE = (76, 120, 168, 255)
_NEGATIVE = (245, 133, 24, 255)
#: The highlighted class (its score map's frame and title, its legend row, its value bar): the class charts' colour.
HEAD_HIGHLIGHT = (228, 87, 86, 255)


def format_head_value(value):
    """A model output value as text: four significant digits (``0.4123``, ``-12.35``, ``1.2e-05``)."""
    value = float(value)
    return "nan" if not np.isfinite(value) else f"{value:.4g}"


def _fit_nearest(array, size):
    """``array`` (``(H, W, ...)``) brought near ``size`` pixels on its longer side with crisp pixels.

    Small arrays are enlarged by an integer factor, large ones subsampled by
    an integer step (so a 224x224 map is not sent whole to be drawn 96 pixels wide).
    """
    side = max(1, max(array.shape[:2]))
    if side > size:
        step = -(-side // max(1, int(size)))
        return array[::step, ::step]
    factor = max(1, int(size) // side)
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def mask_rgba(mask, palette, size=140):
    """Paint an int ``(H', W')`` mask, one palette colour per class, enlarged with crisp pixels.

    Parameters
    ----------
    mask : array_like
        Class index at each pixel.
    palette : array_like
        uint8 ``(K, 4)`` colours (see :func:`class_palette`).
    size : int
        About how many pixels the longer side should span (enlarged by an
        integer factor, or subsampled by an integer step when larger).

    Returns
    -------
    numpy.ndarray
        uint8 RGBA.

    Raises
    ------
    ValueError
        The mask is not 2-D or holds a class outside the palette.
    """
    mask = np.asarray(mask)
    palette = np.asarray(palette, np.uint8)
    if mask.ndim != 2:
        raise ValueError(f"a mask is (H, W), got shape {mask.shape}")
    if mask.size and (mask.min() < 0 or mask.max() >= len(palette)):
        raise ValueError(f"the mask holds classes {int(mask.min())}..{int(mask.max())} but the palette has "
                         f"{len(palette)} colours")
    return _fit_nearest(palette[mask.astype(np.intp)], size)


def mask_overlay_rgba(image_rgba, mask, palette, opacity=0.55):
    """The predicted classes painted over the input: every pixel not of class 0 (background) tinted.

    Parameters
    ----------
    image_rgba : array_like
        uint8 ``(H, W, 4)``, the input as shown.
    mask : array_like
        int ``(H', W')``, resized to ``(H, W)`` by nearest neighbour (an
        output's map may be coarser than the input).
    palette : array_like
        uint8 ``(K, 4)``.
    opacity : float
        Opacity of the class colours.

    Returns
    -------
    numpy.ndarray
        uint8 ``(H, W, 4)``.
    """
    image = np.asarray(image_rgba, np.uint8)
    mask = np.asarray(mask)
    height, width = image.shape[:2]
    rows = np.minimum((np.arange(height) * mask.shape[0]) // height, mask.shape[0] - 1)
    cols = np.minimum((np.arange(width) * mask.shape[1]) // width, mask.shape[1] - 1)
    big = mask[rows[:, None], cols[None, :]].astype(np.intp)
    colours = np.asarray(palette, np.uint8)[big].copy()
    colours[..., 3] = np.where(big > 0, 255, 0).astype(np.uint8)
    return blend(image, colours, opacity)


def mask_legend_rgba(names, palette, shares, text_height=12, highlight=None):
    """One row per class: its colour, its name and the share of pixels predicted as it.

    Parameters
    ----------
    names : sequence of str
    palette : array_like
        uint8 ``(K, 4)``.
    shares : array_like
        ``(K,)`` fractions of the mask's pixels (0-1).
    highlight : int, optional
        Row written in bold colour (the class highlighted elsewhere).
    """
    rows = []
    for index, (name, colour, share) in enumerate(zip(names, np.asarray(palette, np.uint8), shares)):
        swatch = np.empty((text_height, text_height, 4), np.uint8)
        swatch[...] = colour
        swatch[[0, -1], :] = swatch[:, [0, -1]] = (90, 90, 90, 255)
        ink = HEAD_HIGHLIGHT if index == highlight else _INK
        label = text_rgba(f"{name}  {100 * float(share):.1f}%", text_height, ink)
        rows.append(stack_panels([swatch, label], axis=1, gap=5, background=_WHITE))
    return stack_panels(rows, axis=0, gap=3, background=_WHITE)


def score_limits(scores):
    """The colour range of score maps: ``(0, 1)`` for probabilities (every score in [0, 1]), else their range."""
    scores = np.asarray(scores, np.float32)
    finite = scores[np.isfinite(scores)]
    if not finite.size:
        return 0.0, 1.0
    if finite.min() >= 0 and finite.max() <= 1:
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())


def score_maps_rgba(scores, names, cmap="viridis", tile=64, columns=4, highlight=None, limits=None,
                    max_maps=12, text_height=11):
    """One map per class of a dense output, titled with the class name, on a grid.

    Parameters
    ----------
    scores : array_like
        ``(H', W', K)`` probabilities or scores.
    names : sequence of str
        ``K`` class names.
    cmap : str
        matplotlib colormap.
    tile : int
        About how many pixels each map's longer side spans (integer factor or step).
    columns : int
        Maps per row.
    highlight : int, optional
        Class whose map is outlined.
    limits : (float, float), optional
        Colour range shared by all maps; default ``(0, 1)`` when every score lies
        in [0, 1] (probabilities), else the scores' own range.
    max_maps : int
        Most maps drawn (the first ``max_maps`` classes).
    text_height : int

    Returns
    -------
    rgba : numpy.ndarray
        uint8 RGBA of the grid.
    limits : tuple of float
        The colour range used.
    """
    scores = np.asarray(scores, np.float32)
    if scores.ndim != 3:
        raise ValueError(f"score maps are (H, W, K), got shape {scores.shape}")
    count = scores.shape[-1]
    if len(names) != count:
        raise ValueError(f"got {len(names)} names for {count} score maps")
    low, high = score_limits(scores) if limits is None else (float(limits[0]), float(limits[1]))
    tiles = []
    for k in range(min(count, int(max_maps))):
        unit = normalize(scores[..., k], vmin=low, vmax=high)
        rgba = _fit_nearest(apply_colormap(unit, cmap), tile)
        frame = np.empty((rgba.shape[0] + 6, rgba.shape[1] + 6, 4), np.uint8)
        frame[...] = HEAD_HIGHLIGHT if k == highlight else _WHITE
        frame[3:-3, 3:-3] = rgba
        title = text_rgba(str(names[k]), text_height, HEAD_HIGHLIGHT if k == highlight else _INK)
        tiles.append(stack_panels([title, frame], axis=0, gap=1, background=_WHITE, align="center"))
    rows = [stack_panels(tiles[i: i + columns], axis=1, gap=6, background=_WHITE)
            for i in range(0, len(tiles), max(1, int(columns)))]
    return stack_panels(rows, axis=0, gap=4, background=_WHITE), (low, high)


def values_rgba(values, names, width=280, row_height=18, highlight=None, text_height=12):
    """A regression vector as signed horizontal bars around a zero line, each value written out.

    Bars grow right for positive values and left for negative ones, scaled by
    the largest magnitude; each row reads ``name  value``.

    Parameters
    ----------
    values : array_like
        1-D values.
    names : sequence of str
        One per value.
    width : int
        Width in pixels.
    row_height : int
    highlight : int, optional
        Row outlined (the value highlighted elsewhere).
    text_height : int

    Returns
    -------
    numpy.ndarray
        uint8 ``(len(values) * row_height, width, 4)``.
    """
    values = np.asarray(values, np.float64).ravel()
    if len(names) != values.size:
        raise ValueError(f"got {len(names)} names for {values.size} values")
    labels = [text_rgba(f"{name}  {format_head_value(v)}", text_height, _INK) for name, v in zip(names, values)]
    label_width = min(max((lab.shape[1] for lab in labels), default=0), width // 2) + 8
    bar_area = max(10, width - label_width - 4)
    finite = np.abs(values[np.isfinite(values)])
    scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    signed = bool((values < 0).any())
    zero = label_width + (bar_area // 2 if signed else 0)
    half = bar_area // 2 if signed else bar_area
    out = np.empty((max(1, values.size) * row_height, width, 4), np.uint8)
    out[...] = _WHITE
    if highlight is not None and 0 <= highlight < values.size:
        out[highlight * row_height: (highlight + 1) * row_height, :] = (252, 234, 233, 255)
    out[:, zero: zero + 1] = _MUTED  # under the bars
    for i, (value, label) in enumerate(zip(values, labels)):
        top = i * row_height
        ty = top + (row_height - label.shape[0]) // 2
        piece = label[:, : label_width - 8]
        where = (slice(ty, ty + piece.shape[0]), slice(0, piece.shape[1]))
        out[where] = blend(out[where], piece, 1.0)
        if np.isfinite(value):
            length = int(round(abs(value) / scale * (half - 2)))
            y0, y1 = top + 4, top + row_height - 4
            if value >= 0:
                out[y0:y1, zero: zero + length] = HEAD_HIGHLIGHT if i == highlight else _POSITIVE
            else:
                out[y0:y1, zero - length: zero] = HEAD_HIGHLIGHT if i == highlight else _NEGATIVE
    return out
