"""Draw attribution maps (saliency, Grad-CAM) over their image, for the SaliencyOverlay.

Pure numpy: values in, uint8 RGBA out. Colouring and the legend are the
shared ones of :mod:`cnnwidgets.render.heatmap`; this module adds the
percentile clipping, the display zoom and a fast overlay path, and the same
functions draw the widget's canvases and its snapshots, so a test can
recompute exactly what a canvas shows from the map and the display settings.
"""

from dataclasses import dataclass

import numpy as np

from .compose import blend, resize_rgba, upscale_nearest
from .heatmap import heatmap_legend, heatmap_rgba
from .panels import stack_panels, text_rgba

__all__ = [
    "DIVERGING_COLORMAPS",
    "HeatmapRendering",
    "is_diverging",
    "display_zoom",
    "zoom_rgba",
    "map_limits",
    "paint_over",
    "render_heatmap",
    "legend_rgba",
    "titled_panel",
]

#: Colormaps centred on their middle colour, for signed maps (zero in the middle).
DIVERGING_COLORMAPS = (
    "RdBu_r", "bwr", "coolwarm", "seismic", "PiYG", "PRGn", "BrBG", "PuOr", "RdGy", "RdYlBu", "RdYlGn", "Spectral",
)


def is_diverging(cmap):
    """True for a diverging matplotlib colormap name (its ``_r`` twin included)."""
    name = str(cmap)
    base = name[:-2] if name.endswith("_r") else name
    return base in {c[:-2] if c.endswith("_r") else c for c in DIVERGING_COLORMAPS}


def display_zoom(height, width, largest=280):
    """How much to enlarge an image panel on screen.

    Small images get the largest integer zoom that keeps the longer side
    within ``largest`` pixels (a 28x28 digit becomes 280x280, a 32x32 image
    256x256) so that pixels stay crisp squares; images already larger than
    ``largest`` are shrunk to fit.

    Parameters
    ----------
    height, width : int
        Image size in pixels.
    largest : int
        Longest side on screen, in pixels.

    Returns
    -------
    float
        An integer (as float) >= 1, or a fraction < 1 for large images.
    """
    side = max(int(height), int(width), 1)
    if side > largest:
        return largest / side
    return float(max(1, largest // side))


def zoom_rgba(rgba, zoom):
    """Enlarge (nearest neighbour, crisp) or shrink (bilinear) an RGBA image by ``zoom``."""
    if zoom >= 1:
        return upscale_nearest(rgba, int(round(zoom)))
    height, width = rgba.shape[:2]
    return resize_rgba(rgba, (max(1, round(height * zoom)), max(1, round(width * zoom))), smooth=True)


#: An unsigned map whose smallest magnitude is at least this fraction of its top is coloured from that floor.
_FLOOR_FRACTION = 0.01


def map_limits(values, signed=False, clip_percentile=99.0):
    """The values that the two ends of the colormap stand for.

    Parameters
    ----------
    values : array_like
        The map, any shape; NaN and infinities are ignored.
    signed : bool
        True: symmetric limits ``(-m, m)`` so that zero sits in the middle
        of a diverging colormap. False: ``(0, m)`` on absolute values, or
        ``(lowest, m)`` when even the smallest magnitude is at least 1% of
        ``m``: a map whose values all sit well above zero, e.g. RISE's
        masked-input probabilities, spans the whole colormap instead of only
        its top (a constant map keeps ``(0, m)``).
    clip_percentile : float
        ``m`` is this percentile of ``|values|`` (100 takes the maximum);
        larger values saturate, so a few extreme pixels do not wash out the
        rest of the map.

    Returns
    -------
    tuple of float
        ``(low, high)``; ``high`` is 0 for a map that is zero everywhere.
    """
    values = np.asarray(values, np.float32)
    if not 0.0 < float(clip_percentile) <= 100.0:
        raise ValueError(f"clip_percentile must be in (0, 100], got {clip_percentile}")
    magnitudes = np.abs(values).ravel()
    if not np.isfinite(magnitudes).all():
        magnitudes = magnitudes[np.isfinite(magnitudes)]
    top = _percentile(magnitudes, float(clip_percentile)) if magnitudes.size else 0.0
    if signed:
        return (-top, top)
    lowest = float(magnitudes.min()) if magnitudes.size else 0.0
    # A map that never comes near zero starts at its floor; a constant map keeps 0 (all at the top colour).
    return (lowest if _FLOOR_FRACTION * top <= lowest < top else 0.0, top)


def _percentile(values, q):
    """``np.percentile(values, q)`` (linear interpolation) for 1-D data, with two partitions.

    The map is recoloured on every class switch; this avoids most of
    ``np.percentile``'s fixed overhead on small maps.
    """
    position = (values.size - 1) * q / 100.0
    below = int(np.floor(position))
    above = min(below + 1, values.size - 1)
    part = np.partition(values, (below, above)) if above != below else np.partition(values, below)
    low, high = float(part[below]), float(part[above])
    return low + (high - low) * (position - below)


def paint_over(image_rgba, colours):
    """Lay translucent ``colours`` over an image ("over" compositing, straight alpha).

    Same result as ``blend(image_rgba, colours, 1.0)``, with a short path for
    the usual opaque image: a per-pixel mix of the two colours.

    Parameters
    ----------
    image_rgba, colours : numpy.ndarray
        uint8 ``(H, W, 4)`` of the same size.

    Returns
    -------
    numpy.ndarray
        uint8 ``(H, W, 4)``.
    """
    if image_rgba.shape != colours.shape:
        raise ValueError(f"cannot paint colours of shape {colours.shape} over an image of shape {image_rgba.shape}")
    if not (image_rgba[..., 3] == 255).all():
        return blend(image_rgba, colours, 1.0)
    alpha = colours[..., 3:4] * np.float32(1 / 255)
    base = image_rgba[..., :3].astype(np.float32)
    mixed = colours[..., :3].astype(np.float32)
    mixed -= base
    mixed *= alpha
    mixed += base
    np.rint(mixed, out=mixed)
    out = np.empty(image_rgba.shape, np.uint8)
    out[..., :3] = mixed
    out[..., 3] = 255
    return out


@dataclass(frozen=True)
class HeatmapRendering:
    """What :func:`render_heatmap` drew.

    Attributes
    ----------
    heat : numpy.ndarray
        ``(H, W, 4)`` uint8 coloured map, opaque.
    overlay : numpy.ndarray
        ``(H, W, 4)`` uint8 image with the map laid over it.
    limits : tuple of float
        The map values at the two ends of the colormap.
    """

    heat: np.ndarray
    overlay: np.ndarray
    limits: tuple


def render_heatmap(image_rgba, values, cmap="turbo", signed=False, clip_percentile=99.0, opacity=0.6):
    """Colour a map and lay it over its image, at the map's resolution.

    The colours come from :func:`cnnwidgets.render.heatmap.heatmap_rgba`
    (shared with the occlusion map): magnitudes from 0 to the clip limit
    (unsigned), or a diverging scale centred on zero (signed). Over the
    image, each colour's alpha is ``opacity`` times the pixel's strength
    (its distance from zero relative to the limit), so the image shows
    through wherever the evidence is weak.

    Parameters
    ----------
    image_rgba : numpy.ndarray
        ``(H, W, 4)`` uint8 image the map explains.
    values : array_like
        ``(H, W)`` map at the image's resolution.
    cmap : str
        Matplotlib colormap (a diverging one for signed maps).
    signed, clip_percentile
        See :func:`map_limits`.
    opacity : float
        Opacity of the strongest pixels over the image, 0 to 1.

    Returns
    -------
    HeatmapRendering
    """
    values = np.asarray(values, np.float32)
    if values.ndim != 2 or values.shape != tuple(image_rgba.shape[:2]):
        raise ValueError(
            f"the map has shape {values.shape}; it must be 2-D and match the image, {tuple(image_rgba.shape[:2])}"
        )
    limits = map_limits(values, signed, clip_percentile)
    mode = "symmetric" if signed else "absolute"
    faded = heatmap_rgba(values, cmap, opacity, mode, vmin=limits[0], vmax=limits[1], fade=True)
    heat = faded.copy()
    heat[..., 3] = np.where(np.isfinite(values), np.uint8(255), np.uint8(0))
    return HeatmapRendering(heat, paint_over(image_rgba, faded), limits)


def legend_rgba(cmap, limits, width=256):
    """A horizontal colour legend with its end values (and 0 when signed), on white."""
    return heatmap_legend(limits[0], limits[1], cmap, width=width)


def titled_panel(rgba, title, text_height=13, gap=3):
    """``rgba`` with a one-line ``title`` centred above it (white background)."""
    label = text_rgba(title, text_height)
    backdrop = np.full(label.shape, 255, np.uint8)
    label = blend(backdrop, label, 1.0) if label.shape[1] else backdrop
    return stack_panels([label, rgba], axis=0, gap=gap, background=(255, 255, 255, 255), align="center")
