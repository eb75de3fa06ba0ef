"""Predicted masks of segmentation outputs as images, and the regions a person paints on them.

A dense output's predicted mask (one class per pixel) is drawn with one
colour per class over the image (faintly), enlarged by an integer factor;
the region being explained keeps its full colour, with a two-tone outline
(white inside, black outside, visible on any palette), and the rest is
dimmed. The region helpers turn pointer positions (output pixels, floats)
into bool masks: a round brush dragged in a line, a box between two corners.
Everything here is numpy in, numpy out.
"""

import numpy as np

__all__ = [
    "BACKGROUND_COLOUR",
    "class_palette",
    "class_areas",
    "channel_areas",
    "sample_nearest",
    "region_outline",
    "mask_rgba",
    "brush_region",
    "box_region",
]

#: Colour of the background class (class 0 of a mask, by the widgets' convention).
BACKGROUND_COLOUR = (91, 101, 115, 255)  # a neutral slate


def class_palette(count, background=True):
    """One opaque colour per class, uint8 ``(count, 4)``.

    With ``background`` class 0 (the background, as the widgets take the
    first channel of a dense output to be) is a neutral slate, so the classes
    found stand out. The other classes get matplotlib's ``tab10``, past 10
    ``tab20``, past 20 evenly spaced hues (``hsv``), so neighbouring indices
    stay apart.
    """
    from matplotlib import colormaps

    count = int(count)
    if count < 1:
        raise ValueError(f"a palette needs at least one class, got {count}")
    coloured = count - 1 if background else count
    if coloured <= 20:
        table = colormaps["tab10" if coloured <= 10 else "tab20"].colors[:coloured]
        colours = np.asarray(table, np.float64).reshape(-1, 3)
    else:
        colours = colormaps["hsv"](np.linspace(0.0, 1.0, coloured, endpoint=False))[:, :3]
    out = np.full((count, 4), 255, np.uint8)
    out[count - coloured:, :3] = np.clip(colours[:, :3] * 255 + 0.5, 0, 255).astype(np.uint8)
    if background:
        out[0] = BACKGROUND_COLOUR
    return out


def class_areas(mask, count):
    """Share of ``mask``'s pixels predicted as each of ``count`` classes, float ``(count,)`` summing to 1."""
    mask = np.asarray(mask)
    if mask.size == 0:
        return np.zeros(int(count))
    areas = np.bincount(mask.reshape(-1).astype(np.int64), minlength=int(count))[: int(count)]
    return areas / float(mask.size)


def channel_areas(mask, count):
    """Share of the pixels predicted as each of a dense output's ``count`` channels.

    As :func:`class_areas`, except that a one-channel output (a sigmoid
    foreground, mask 0/1) covers the pixels labelled 1.
    """
    if int(count) == 1:
        mask = np.asarray(mask)
        return np.array([float(np.mean(mask == 1)) if mask.size else 0.0])
    return class_areas(mask, count)


def sample_nearest(array, size):
    """Resample the first two axes of ``array`` to ``size = (height, width)`` by nearest pixel centres."""
    array = np.asarray(array)
    height, width = (int(v) for v in size)
    rows = np.minimum(((np.arange(height) + 0.5) * array.shape[0] / height).astype(np.int64), array.shape[0] - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * array.shape[1] / width).astype(np.int64), array.shape[1] - 1)
    return array[rows[:, None], cols[None, :]]  # one gather


def _shift_any(mask, width):
    """Pixels within ``width`` (4-neighbour steps) of a True pixel of ``mask``."""
    out = mask.copy()
    for _ in range(int(width)):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def region_outline(region, width=1):
    """The inner and outer outline of a bool region: ``(inside, outside)`` bool masks.

    ``inside``: region pixels within ``width`` of a pixel outside it (or of
    the border); ``outside``: pixels outside it within ``width`` of it.
    """
    region = np.asarray(region, bool)
    padded = np.pad(~region, 1, constant_values=True)
    inside = region & _shift_any(padded, width)[1:-1, 1:-1]
    outside = ~region & _shift_any(region, width)
    return inside, outside


def mask_rgba(mask, count, image_rgba=None, region=None, factor=1, image_share=0.35, dim=0.55, size=None):
    """A predicted mask as a picture: a colour per class, the image faintly beneath, the region outlined.

    Parameters
    ----------
    mask : array_like
        int ``(H', W')``: the class predicted at each output pixel.
    count : int
        Number of classes (palette size; a label at or above it takes the colour of ``label % count``).
    image_rgba : array_like, optional
        uint8 ``(H, W, 4)`` picture shown through the colours (any size: resampled to the output's).
    region : array_like, optional
        bool ``(H', W')``: the pixels explained. They keep their colours and are outlined; the
        rest is dimmed. ``None``: nothing is dimmed or outlined.
    factor : int
        Screen pixels per output pixel (crisp squares; the outline is drawn at this resolution).
    image_share : float
        How much of the image shows through the class colours (0: none, 1: only the image).
    dim : float
        How much the pixels outside the region are darkened (0: not at all, 1: to black).
    size : tuple of int, optional
        ``(height, width)`` of the picture instead of ``factor`` times the mask's (nearest
        pixels; e.g. a large output shown smaller).

    Returns
    -------
    numpy.ndarray
        uint8 ``(H' * factor, W' * factor, 4)`` (or ``size``), opaque.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask is (H', W') class labels, got shape {mask.shape}")
    factor = max(1, int(factor))
    if size is None:
        size = (mask.shape[0] * factor, mask.shape[1] * factor)
    else:
        size = tuple(max(1, int(v)) for v in size)
        factor = min(size[0] // mask.shape[0], size[1] // mask.shape[1])
    if region is not None:
        region = np.asarray(region, bool)
        if region.shape != mask.shape:
            raise ValueError(f"the region has shape {region.shape}; it must match the mask {mask.shape}")
    image = None if image_rgba is None else np.asarray(image_rgba, np.uint8)
    # Colours are mixed at the finest of the map and the image (at most the size drawn), in 8-bit fixed
    # point, then enlarged as whole RGBA pixels; only the outline is drawn at the size drawn.
    finest = [max(mask.shape[i], 0 if image is None else image.shape[i]) for i in (0, 1)]
    work = (min(size[0], finest[0]), min(size[1], finest[1]))
    labels = np.mod(sample_nearest(mask, work).astype(np.int64), int(count))
    rgb = class_palette(count)[:, :3].astype(np.uint16)[labels]
    if image is not None:
        share = int(round(256 * float(np.clip(image_share, 0.0, 1.0))))
        rgb = ((256 - share) * rgb + share * sample_nearest(image[..., :3], work).astype(np.uint16) + 128) >> 8
    if region is not None:
        keep = 256 - int(round(256 * float(np.clip(dim, 0.0, 1.0))))
        rgb = np.where(sample_nearest(region, work)[..., None], rgb, (rgb * keep + 128) >> 8)
    small = np.empty(work + (4,), np.uint8)
    small[..., :3] = rgb
    small[..., 3] = 255
    pixels = np.ascontiguousarray(sample_nearest(small.view(np.uint32)[..., 0], size))  # one 4-byte pixel each
    out = pixels.view(np.uint8).reshape(size + (4,))
    if region is not None:
        inside, outside = region_outline(sample_nearest(region, size), width=2 if factor >= 4 else 1)
        out[inside] = 255
        out[outside, :3] = 0
    return out


def brush_region(shape, start, end, diameter):
    """Pixels under a round brush dragged in a straight line from ``start`` to ``end``.

    A pixel is covered when its centre lies within ``diameter / 2`` of the
    segment (a capsule); the pixels under both end points are always
    covered, so a 1-pixel brush leaves a trace.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` of the region, in output pixels.
    start, end : tuple of float
        ``(row, col)`` pointer positions in output pixels (``(2.5, 3.5)`` is the centre of pixel (2, 3)).
    diameter : float
        Brush width in output pixels.

    Returns
    -------
    numpy.ndarray
        bool ``shape``.
    """
    height, width = (int(v) for v in shape)
    (r0, c0), (r1, c1) = (tuple(float(v) for v in p) for p in (start, end))
    radius = max(float(diameter), 0.0) / 2.0
    covered = np.zeros((height, width), bool)
    # only the pixels of the stroke's bounding box can be covered
    top, left = max(0, int(np.floor(min(r0, r1) - radius))), max(0, int(np.floor(min(c0, c1) - radius)))
    bottom = min(height, int(np.ceil(max(r0, r1) + radius)) + 1)
    right = min(width, int(np.ceil(max(c0, c1) + radius)) + 1)
    if bottom > top and right > left:
        rows, cols = np.indices((bottom - top, right - left), dtype=np.float64)
        rows += top + 0.5
        cols += left + 0.5
        dr, dc = r1 - r0, c1 - c0
        length2 = dr * dr + dc * dc
        t = np.zeros_like(rows) if length2 == 0 else np.clip(((rows - r0) * dr + (cols - c0) * dc) / length2, 0, 1)
        distance2 = (rows - (r0 + t * dr)) ** 2 + (cols - (c0 + t * dc)) ** 2
        covered[top:bottom, left:right] = distance2 <= radius ** 2
    for r, c in ((r0, c0), (r1, c1)):
        row, col = int(np.floor(r)), int(np.floor(c))
        if 0 <= row < height and 0 <= col < width:
            covered[row, col] = True
    return covered


def box_region(shape, corner, other):
    """The pixels of the box spanned by two pointer positions (both end pixels included).

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` in output pixels.
    corner, other : tuple of float
        ``(row, col)`` positions in output pixels; clipped to the map.

    Returns
    -------
    numpy.ndarray
        bool ``shape``, at least the one pixel under ``corner``.
    """
    height, width = (int(v) for v in shape)
    (r0, c0), (r1, c1) = ((_clipped_pixel(r, height), _clipped_pixel(c, width)) for r, c in (corner, other))
    region = np.zeros((height, width), bool)
    region[min(r0, r1):max(r0, r1) + 1, min(c0, c1):max(c0, c1) + 1] = True
    return region


def _clipped_pixel(position, size):
    """The pixel index under ``position`` (output pixels, float), inside ``[0, size)``."""
    return int(np.clip(np.floor(float(position)), 0, int(size) - 1))
