"""Colour a scalar map for display over an image, with a legend (pure numpy).

Generic: occlusion sensitivity, saliency and class-activation maps all come as
``(h, w)`` floats that should be coloured and scaled to the displayed image
(:func:`heatmap_rgba`, whose alpha lets the image show through).
"""

import numpy as np

from .colormaps import NORMALIZATIONS, apply_colormap, colorbar, normalize
from .compose import blend, resize_rgba, upscale_nearest
from .panels import stack_panels, text_rgba

__all__ = ["heatmap_range", "heatmap_rgba", "heatmap_legend"]


def heatmap_range(values, mode="symmetric", vmin=None, vmax=None):
    """The values mapped to the two ends of the colormap.

    Parameters
    ----------
    values : array_like
        Any-shape floats; NaN and infinities are ignored.
    mode : {"symmetric", "minmax", "absolute"}
        ``symmetric``: ``(-m, m)`` with ``m`` the largest magnitude (zero sits
        in the middle, for signed maps with a diverging colormap).
        ``minmax``: the lowest and highest value. ``absolute``: ``(0, m)``,
        the map is coloured by magnitude.
    vmin, vmax : float, optional
        Fixed ends instead of the data's (``vmax`` alone for ``symmetric``).

    Returns
    -------
    tuple of float
        ``(low, high)``; equal when the map is constant.
    """
    if mode not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {mode!r}; use one of {', '.join(NORMALIZATIONS)}")
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if mode == "symmetric":
        high = float(vmax) if vmax is not None else (float(np.abs(finite).max()) if finite.size else 0.0)
        return -abs(high), abs(high)
    if mode == "absolute":
        high = float(vmax) if vmax is not None else (float(np.abs(finite).max()) if finite.size else 0.0)
        return (0.0 if vmin is None else float(vmin)), high
    low = float(vmin) if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    high = float(vmax) if vmax is not None else (float(finite.max()) if finite.size else 0.0)
    return low, high


def heatmap_rgba(values, cmap="RdBu_r", opacity=1.0, mode="symmetric", vmin=None, vmax=None, size=None,
                 fade=False):
    """Colour a map, with transparency, at its own or at a given size.

    Parameters
    ----------
    values : array_like
        ``(h, w)`` floats; NaN is transparent.
    cmap : str
        A matplotlib colormap name.
    opacity : float
        0 (invisible) to 1 (opaque), the alpha of every coloured pixel.
    mode, vmin, vmax
        As for :func:`heatmap_range`.
    fade : bool
        Scale each pixel's alpha by its strength (its distance from zero,
        relative to the range), so that the many pixels near zero let the
        image show through and only the strong ones colour it.
    size : tuple of int, optional
        ``(height, width)`` of the result. An integer multiple of the map's
        size is enlarged with crisp (nearest) pixels, so one map value stays
        one block of screen pixels; any other size is resized bilinearly.

    Returns
    -------
    numpy.ndarray
        uint8 ``(H, W, 4)``.
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"a heat map must be 2-D (h, w), got shape {values.shape}")
    low, high = heatmap_range(values, mode, vmin, vmax)
    if mode == "symmetric":
        unit = normalize(values, "symmetric", vmax=high)
    elif mode == "absolute":
        unit = normalize(np.abs(values), "minmax", vmin=low, vmax=high)
    else:
        unit = normalize(values, "minmax", vmin=low, vmax=high)
    alpha = float(np.clip(opacity, 0.0, 1.0)) * 255.0
    if fade:
        strength = np.abs(unit - 0.5) * 2.0 if mode == "symmetric" else unit
        alpha = alpha * np.nan_to_num(strength)
    rgba = apply_colormap(unit, cmap, alpha=alpha)
    if size is None:
        return rgba
    return _fit(rgba, size)


def _fit(rgba, size):
    height, width = (int(v) for v in size)
    h, w = rgba.shape[:2]
    if (height, width) == (h, w):
        return rgba
    if height % h == 0 and width % w == 0 and height // h == width // w:
        return upscale_nearest(rgba, height // h)
    return resize_rgba(rgba, (height, width), smooth=True)


def _format(value):
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100 or magnitude < 0.01:
        return f"{value:+.2g}"
    return f"{value:+.2f}" if magnitude < 10 else f"{value:+.1f}"


def heatmap_legend(low, high, cmap="RdBu_r", width=256, bar_height=10, text_height=12,
                   background=(255, 255, 255, 255)):
    """A horizontal colour bar with the values at its ends (and zero, when inside).

    Parameters
    ----------
    low, high : float
        Values at the left and right end (see :func:`heatmap_range`).
    cmap : str
        A matplotlib colormap name.
    width : int
        Width in pixels.
    bar_height, text_height : int
        Heights of the bar and of the labels under it.
    background : tuple of int
        RGBA behind the labels.

    Returns
    -------
    numpy.ndarray
        uint8 ``(bar_height + 2 + text_height, width, 4)``.
    """
    width = max(8, int(width))
    bar = colorbar(cmap, length=width, thickness=int(bar_height), horizontal=True)
    labels = np.empty((int(text_height), width, 4), np.uint8)
    labels[...] = np.asarray(background, np.uint8)
    ticks = [(0.0, _format(low)), (1.0, _format(high))]
    if low < 0 < high:
        ticks.append(((0 - low) / (high - low), "0"))
    for position, text in ticks:
        glyphs = text_rgba(text, height=int(text_height))
        x = int(round(position * (width - 1) - glyphs.shape[1] / 2))
        x = min(max(0, x), width - glyphs.shape[1])
        if glyphs.shape[1] and x >= 0:
            region = labels[:, x : x + glyphs.shape[1]]
            labels[:, x : x + glyphs.shape[1]] = blend(region, glyphs, 1.0)
    return stack_panels([bar, labels], axis=0, gap=2, background=background)
