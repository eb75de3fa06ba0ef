"""Pointer geometry of the occlusion painter (numpy only, no widgets).

Canvas pixels are mapped to image pixels, squares are centred on the pointer,
brush strokes are rasterized at image resolution, and masks are turned into
a few rectangles for the canvas to fill.
"""

import math

import numpy as np

__all__ = ["display_factor", "centered_box", "stroke_mask", "mask_runs"]


def display_factor(height, width, target=336):
    """Integer enlargement that brings the longer image side near ``target`` pixels (at least 1)."""
    return max(1, int(math.floor(target / max(int(height), int(width)) + 0.5)))


def centered_box(row, col, patch, height, width):
    """The ``patch x patch`` square centred on a point, moved inside the image.

    Parameters
    ----------
    row, col : float
        Point in image pixels (``(10.5, 3.5)`` is the centre of pixel ``(10, 3)``).
    patch : int
        Side of the square in image pixels (at most the shorter image side).
    height, width : int
        Image size.

    Returns
    -------
    tuple of int
        ``(y0, x0, y1, x1)``, end-exclusive, always ``patch`` pixels wide and
        high (a square at the border is shifted inside, not cut).
    """
    patch = int(max(1, min(int(patch), int(height), int(width))))
    y0 = int(math.floor(float(row) - patch / 2.0 + 0.5))
    x0 = int(math.floor(float(col) - patch / 2.0 + 0.5))
    y0 = min(max(0, y0), int(height) - patch)
    x0 = min(max(0, x0), int(width) - patch)
    return y0, x0, y0 + patch, x0 + patch


def stroke_mask(shape, start, end, diameter):
    """Pixels covered by a round brush dragged in a straight line.

    A pixel is covered when its centre lies within ``diameter / 2`` of the
    segment from ``start`` to ``end`` (a capsule); the pixels under both end
    points are always covered, so even a 1-pixel brush leaves a trace.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` of the mask.
    start, end : tuple of float
        ``(row, col)`` points in image pixels.
    diameter : float
        Brush width in image pixels.

    Returns
    -------
    numpy.ndarray
        bool ``(height, width)``.
    """
    height, width = (int(v) for v in shape)
    mask = np.zeros((height, width), dtype=bool)
    (r0, c0), (r1, c1) = (tuple(float(v) for v in p) for p in (start, end))
    radius = max(float(diameter), 1.0) / 2.0
    top = max(0, int(math.floor(min(r0, r1) - radius)))
    bottom = min(height, int(math.ceil(max(r0, r1) + radius)) + 1)
    left = max(0, int(math.floor(min(c0, c1) - radius)))
    right = min(width, int(math.ceil(max(c0, c1) + radius)) + 1)
    if bottom > top and right > left:
        rows = np.arange(top, bottom, dtype=np.float64)[:, None] + 0.5
        cols = np.arange(left, right, dtype=np.float64)[None, :] + 0.5
        dr, dc = r1 - r0, c1 - c0
        length2 = dr * dr + dc * dc
        if length2 > 0:
            t = np.clip(((rows - r0) * dr + (cols - c0) * dc) / length2, 0.0, 1.0)
        else:
            t = np.zeros((1, 1))
        distance2 = (rows - (r0 + t * dr)) ** 2 + (cols - (c0 + t * dc)) ** 2
        mask[top:bottom, left:right] = distance2 <= radius * radius
    for r, c in ((r0, c0), (r1, c1)):
        i, j = int(math.floor(r)), int(math.floor(c))
        if 0 <= i < height and 0 <= j < width:
            mask[i, j] = True
    return mask


def mask_runs(mask):
    """Horizontal runs of True pixels: the fewest rows-of-pixels rectangles covering a mask.

    Parameters
    ----------
    mask : array_like of bool
        ``(height, width)``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(rows, starts, lengths)``, int32 arrays of equal length: run ``k``
        covers ``mask[rows[k], starts[k] : starts[k] + lengths[k]]``.

    Examples
    --------
    >>> mask_runs(np.array([[0, 1, 1, 0, 1]], bool))
    (array([0, 0], dtype=int32), array([1, 4], dtype=int32), array([2, 1], dtype=int32))
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D (height, width), got shape {mask.shape}")
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    start_rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return start_rows.astype(np.int32), starts.astype(np.int32), (ends - starts).astype(np.int32)
