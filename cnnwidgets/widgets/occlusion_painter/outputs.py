"""What the occlusion painter shows of a non-classifier's output (numpy only, no widgets).

A dense output ``(H', W', K)`` is summarized over the region explained (the
mean score of each class there, :func:`region_means`) and drawn as a
predicted mask with the region outlined (:func:`mask_rgba`); a vector output
is charted entry by entry (:func:`vector_order`).
"""

import numpy as np

from ...render import upscale_nearest
from ..common.style import hex_to_rgba

__all__ = ["class_colours", "class_order", "mask_rgba", "region_means", "vector_order", "REGION_COLOUR"]

#: Outline of the region explained on the mask view.
REGION_COLOUR = "#e45756"
#: Background (class 0) and the classes after it (matplotlib's tab10 without its red, kept for outlines).
_COLOURS = ("#d0d0d0", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf")


def class_colours(count):
    """uint8 ``(count, 4)`` opaque RGBA, one colour per class (class 0, taken for background, light grey)."""
    return np.array([hex_to_rgba(_COLOURS[i % len(_COLOURS)]) for i in range(int(count))], np.uint8)


def mask_rgba(mask, count, region=None, factor=1, line_width=2):
    """A class mask coloured per class, enlarged, with a region's border drawn over it.

    Parameters
    ----------
    mask : array_like of int
        ``(H', W')`` class per pixel, ``0 <= mask < count``.
    count : int
        Number of classes (colours).
    region : array_like of bool, optional
        ``(H', W')`` pixels whose outer border is drawn in :data:`REGION_COLOUR`.
    factor : int
        Screen pixels per mask pixel (crisp, nearest-neighbour).
    line_width : int
        Width of the border in screen pixels (at most ``factor``).

    Returns
    -------
    numpy.ndarray
        uint8 ``(H' * factor, W' * factor, 4)``.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H', W'), got shape {mask.shape}")
    factor = max(1, int(factor))
    out = upscale_nearest(class_colours(count)[np.clip(mask, 0, int(count) - 1)], factor)
    if region is not None:
        inside = upscale_nearest(np.asarray(region, bool), factor)
        border = inside & ~_eroded(inside, max(1, min(int(line_width), factor)))
        out = out.copy()
        out[border] = hex_to_rgba(REGION_COLOUR)
    return np.ascontiguousarray(out, np.uint8)


def _eroded(inside, width):
    """bool erosion by a ``(2 width + 1)`` square; the array's edge counts as outside."""
    padded = np.pad(inside, width, constant_values=False)
    height, cols = inside.shape
    kept = np.ones_like(inside)
    for dy in range(2 * width + 1):
        for dx in range(2 * width + 1):
            kept &= padded[dy : dy + height, dx : dx + cols]
    return kept


def region_means(scores, region):
    """``(K,)`` mean score of each class over the region's pixels.

    Parameters
    ----------
    scores : array_like
        ``(H', W', K)`` dense output (probabilities or raw scores).
    region : array_like of bool
        ``(H', W')`` pixels to average over; an empty region averages every pixel.

    Returns
    -------
    numpy.ndarray
        float64 ``(K,)``.
    """
    scores = np.asarray(scores, np.float64)
    region = np.asarray(region, bool)
    if region.shape != scores.shape[:2]:
        raise ValueError(f"the region has shape {region.shape}; the scores are {scores.shape[:2]}")
    if not region.any():
        region = np.ones_like(region)
    return scores[region].mean(axis=0)


def vector_order(count, target, top_k):
    """Entries of a value vector to chart: the first ``top_k`` in index order, ``target`` always among them."""
    chosen = list(range(min(int(count), max(1, int(top_k)))))
    if target is not None and int(target) not in chosen:
        chosen[-1] = int(target)
        chosen.sort()
    return chosen


def class_order(base, scores, target, top_k):
    """Classes to chart: the top ones of either score, ``target`` always included, in uncovered order."""
    score = np.maximum(np.asarray(base), np.asarray(scores))
    chosen = [int(i) for i in np.argsort(-score, kind="stable")[: max(1, int(top_k))]]
    if target not in chosen:
        chosen[-1] = int(target)
    return sorted(chosen, key=lambda i: (-float(base[i]), i))
