"""Occlusion geometry and fill values (numpy only)."""

import numbers

import numpy as np

from ..errors import InvalidParameterError
from .images import gaussian_blur

__all__ = ["FILLS", "normalize_box", "box_mask", "fill_image", "patch_positions", "default_patch"]

#: Fill names accepted by :func:`fill_image`.
FILLS = ("gray", "black", "white", "mean", "blur")


def normalize_box(box, height, width):
    """Clip ``box = (y0, x0, y1, x1)`` (end-exclusive pixels) to the image.

    A box that sticks out of the image is clipped to it (as a mouse drag near
    the border is); one in the wrong order or wholly outside is an error, so
    that a swapped coordinate order does not look like "no effect".

    Raises
    ------
    InvalidParameterError
        The box is not four numbers, is reversed (``y1 < y0`` or ``x1 < x0``)
        or empty, or lies wholly outside the image.
    """
    try:
        y0, x0, y1, x1 = (int(round(float(v))) for v in box)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"box must be four numbers (y0, x0, y1, x1), got {box!r}"
        ) from None
    if y1 < y0 or x1 < x0:
        raise InvalidParameterError(
            f"the box {(y0, x0, y1, x1)} is reversed: give (y0, x0, y1, x1) with y0 < y1 and x0 < x1 "
            f"(top-left corner first, ends exclusive), e.g. {(min(y0, y1), min(x0, x1), max(y0, y1), max(x0, x1))}"
        )
    if y1 == y0 or x1 == x0:
        raise InvalidParameterError(
            f"the box {(y0, x0, y1, x1)} covers no pixel (zero height or width); give (y0, x0, y1, x1) with "
            "y0 < y1 and x0 < x1, ends exclusive"
        )
    clipped = max(0, y0), max(0, x0), min(height, y1), min(width, x1)
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise InvalidParameterError(
            f"the box {(y0, x0, y1, x1)} covers no pixel of the {height}x{width} image: it lies wholly outside; "
            f"give (y0, x0, y1, x1) in input pixels, with 0 <= y0 < {height} and 0 <= x0 < {width}"
        )
    return clipped


def box_mask(box, height, width):
    """Boolean ``(H, W)`` mask that is True inside ``box``."""
    y0, x0, y1, x1 = normalize_box(box, height, width)
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def fill_image(image, fill, value_range, blur_sigma=None):
    """The image that shows through occluded pixels.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, C)`` float display image.
    fill : str or float
        ``"gray"`` (middle of ``value_range``), ``"black"`` / ``"white"`` (its
        ends), ``"mean"`` (the image's per-channel mean), ``"blur"`` (a
        Gaussian-blurred copy of the image), or a number.
    value_range : tuple of float
        ``(low, high)`` pixel range of display images, e.g. ``(0, 255)``.
    blur_sigma : float, optional
        Blur strength for ``"blur"``; default an eighth of the image's shorter side.
    """
    low, high = value_range
    if isinstance(fill, numbers.Number):
        return np.full_like(image, float(fill))
    if fill == "gray":
        return np.full_like(image, (low + high) / 2.0)
    if fill == "black":
        return np.full_like(image, low)
    if fill == "white":
        return np.full_like(image, high)
    if fill == "mean":
        return np.broadcast_to(image.mean(axis=(0, 1), keepdims=True), image.shape).astype(np.float32)
    if fill == "blur":
        sigma = blur_sigma if blur_sigma is not None else max(1.0, min(image.shape[:2]) / 8.0)
        return gaussian_blur(image, sigma)
    raise InvalidParameterError(f"unknown fill {fill!r}; use one of {', '.join(FILLS)} or a number")


def patch_positions(length, patch, stride):
    """Start offsets of patches along one axis, the last one flush with the end."""
    patch = min(patch, length)
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return starts


def default_patch(height, width):
    """A patch about a sixth of the image's shorter side (at least 2 pixels)."""
    return max(2, int(round(min(height, width) / 6)))
