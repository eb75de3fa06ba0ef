"""Draw convolution kernels and synthesized images as tiles (pure numpy).

The :class:`~cnnwidgets.FilterGrid` widget shows every filter of a
convolution layer as one small tile. This module turns the kernel arrays
returned by :meth:`~cnnwidgets.Inspector.filters` into those tiles:

* :func:`filter_stack` puts the filters first, whatever the layer kind;
* :func:`filter_planes` picks one input channel (or the mean over them);
* :func:`diverging_tiles` colours signed weights around zero (``RdBu_r``:
  blue negative, white zero, red positive) and :func:`rgb_tiles` shows the
  three-channel filters of a first layer as colour images (grey is zero);
* :func:`image_tiles` fits synthesized input images to a tile size;
* :func:`caption_tiles`, :func:`page_grid` and :func:`labelled_colorbar`
  assemble the grid and its legend.

All functions take and return numpy arrays; images are uint8 RGBA.
"""

import numpy as np

from .colormaps import apply_colormap, colorbar, normalize
from .compose import image_to_rgba, outline_box, resize_rgba, upscale_nearest
from .panels import _paste, stack_panels, text_rgba
from .tiles import grid_shape, tile_grid

__all__ = [
    "KERNEL_LAYOUTS",
    "filter_stack",
    "filter_planes",
    "symmetric_limit",
    "tile_scale",
    "diverging_tiles",
    "rgb_tiles",
    "image_tiles",
    "robust_range",
    "feature_map_tile",
    "caption_tiles",
    "page_grid",
    "labelled_colorbar",
    "text_block",
    "filter_statistics",
    "format_value",
]

#: Kernel layouts understood by :func:`filter_stack`.
KERNEL_LAYOUTS = ("conv", "depthwise", "transpose")

_WHITE = (255, 255, 255, 255)
_SELECTION_COLOUR = (255, 140, 0, 255)


def filter_stack(kernel, layout="conv"):
    """Reorder a kernel so that filters come first: ``(n_filters, kh, kw, c)``.

    Parameters
    ----------
    kernel : array_like
        4-D kernel as Keras stores it (and :meth:`Inspector.filters` returns it).
    layout : {"conv", "depthwise", "transpose"}
        ``conv``: ``(kh, kw, c_in, c_out)`` (Conv2D; filter ``o`` is
        ``kernel[..., o]`` and sees all ``c_in`` inputs). ``depthwise``:
        ``(kh, kw, c_in, multiplier)`` (DepthwiseConv2D and the depthwise part
        of SeparableConv2D); output channel ``o = c * multiplier + m`` only
        sees input channel ``c``, so each filter has one input channel.
        ``transpose``: ``(kh, kw, c_out, c_in)`` (Conv2DTranspose).

    Returns
    -------
    numpy.ndarray
        float32 ``(n_filters, kh, kw, c)``: ``c`` is ``c_in`` (1 for depthwise).
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 4:
        raise ValueError(f"expected a 4-D convolution kernel (kh, kw, a, b), got shape {kernel.shape}")
    if layout == "conv":
        return np.ascontiguousarray(kernel.transpose(3, 0, 1, 2))
    if layout == "transpose":
        return np.ascontiguousarray(kernel.transpose(2, 0, 1, 3))
    if layout == "depthwise":
        kh, kw, c_in, multiplier = kernel.shape
        # (kh, kw, c_in, m) -> (c_in, m, kh, kw) -> (c_in * m, kh, kw, 1): o = c * m + j
        return np.ascontiguousarray(kernel.transpose(2, 3, 0, 1).reshape(c_in * multiplier, kh, kw, 1))
    raise ValueError(f"unknown kernel layout {layout!r}; use one of {', '.join(KERNEL_LAYOUTS)}")


def filter_planes(stack, channel=-1):
    """One 2-D weight plane per filter: an input channel, or the mean over them.

    Parameters
    ----------
    stack : array_like
        ``(n, kh, kw, c)`` from :func:`filter_stack`.
    channel : int
        Input channel to show, or ``-1`` for the mean over all input channels.

    Returns
    -------
    numpy.ndarray
        float32 ``(n, kh, kw)``.
    """
    stack = np.asarray(stack, dtype=np.float32)
    if stack.ndim != 4:
        raise ValueError(f"expected a filter stack (n, kh, kw, c), got shape {stack.shape}")
    channel = int(channel)
    if channel == -1:
        return stack.mean(axis=-1)
    if not 0 <= channel < stack.shape[-1]:
        raise ValueError(
            f"input channel {channel} is out of range: the filters have {stack.shape[-1]} input "
            f"channels (0 to {stack.shape[-1] - 1}, or -1 for their mean)"
        )
    return stack[..., channel].copy()


def symmetric_limit(values):
    """Largest finite ``|value|`` (0.0 for no finite values): the end of a scale centred on zero."""
    values = np.asarray(values, dtype=np.float32)
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size else 0.0


def tile_scale(size, target):
    """Integer enlargement that brings ``size`` pixels closest to ``target`` without passing it (at least 1)."""
    size, target = int(size), int(target)
    if size < 1:
        raise ValueError(f"size must be at least 1 pixel, got {size}")
    return max(1, target // size)


def diverging_tiles(planes, vmax=None, cmap="RdBu_r", scale=1):
    """Colour signed weight planes with a diverging colormap centred on zero.

    Parameters
    ----------
    planes : array_like
        ``(n, kh, kw)`` weights.
    vmax : float, optional
        Weight shown at the colormap's ends (``-vmax`` and ``+vmax``); default
        the largest ``|weight|`` of all planes, so tiles share one scale.
    cmap : str
        A diverging matplotlib colormap.
    scale : int
        Integer enlargement with crisp (nearest-neighbour) pixels.

    Returns
    -------
    numpy.ndarray
        uint8 ``(n, kh * scale, kw * scale, 4)``; a zero weight gets the
        colormap's centre colour.
    """
    planes = np.asarray(planes, dtype=np.float32)
    if planes.ndim != 3:
        raise ValueError(f"expected weight planes (n, kh, kw), got shape {planes.shape}")
    vmax = symmetric_limit(planes) if vmax is None else float(vmax)
    rgba = apply_colormap(normalize(planes, "symmetric", vmax=vmax), cmap)
    return _enlarge(rgba, scale)


def rgb_tiles(stack, vmax=None, scale=1):
    """Show three-input-channel filters (a first layer on RGB images) as colour images.

    Each weight ``w`` of channel R, G or B becomes ``0.5 + 0.5 * w / vmax``
    of that colour, so mid-grey is a zero weight, a red pixel weighs red
    positively and a cyan one weighs it negatively.

    Parameters
    ----------
    stack : array_like
        ``(n, kh, kw, 3)``.
    vmax : float, optional
        Weight shown at full (or zero) intensity; default the largest ``|weight|``.
    scale : int
        Integer enlargement with crisp pixels.

    Returns
    -------
    numpy.ndarray
        uint8 ``(n, kh * scale, kw * scale, 4)``, opaque.
    """
    stack = np.asarray(stack, dtype=np.float32)
    if stack.ndim != 4 or stack.shape[-1] != 3:
        raise ValueError(f"colour filters must be (n, kh, kw, 3), got shape {stack.shape}")
    vmax = symmetric_limit(stack) if vmax is None else float(vmax)
    unit = normalize(stack, "symmetric", vmax=vmax)
    rgba = np.empty(stack.shape[:3] + (4,), np.uint8)
    rgba[..., :3] = np.clip(np.nan_to_num(unit, nan=0.5) * 255 + 0.5, 0, 255).astype(np.uint8)
    rgba[..., 3] = 255
    return _enlarge(rgba, scale)


def _enlarge(rgba, scale):
    scale = int(scale)
    if scale <= 1:
        return rgba
    return np.repeat(np.repeat(rgba, scale, axis=1), scale, axis=2)


def image_tiles(images, target=64, value_range=None, percentile=99.5):
    """Fit images (e.g. synthesized inputs) to tiles about ``target`` pixels wide.

    Parameters
    ----------
    images : array_like
        ``(n, H, W, C)`` with ``C`` 1 or 3, float.
    target : int
        Tile side in pixels: smaller images are enlarged by an integer factor
        with crisp pixels (so the tile may be a little smaller than
        ``target``); larger ones are shrunk smoothly to fit.
    value_range : tuple of float, optional
        Pixel values mapped to black and white. Default: each image is
        stretched over its own range (synthesized images use little of it),
        from its ``100 - percentile`` to its ``percentile`` percentile so
        that a few extreme pixels (e.g. at the border) do not wash it out.
    percentile : float
        See ``value_range``; 100 stretches from the minimum to the maximum.

    Returns
    -------
    numpy.ndarray
        uint8 ``(n, h, w, 4)``, opaque.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected images (n, H, W, 1|3), got shape {images.shape}")
    height, width = images.shape[1:3]
    if max(height, width) <= target:
        factor = tile_scale(max(height, width), target)
        size = None
    else:
        factor = 1
        shrink = target / max(height, width)
        size = (max(1, int(round(height * shrink))), max(1, int(round(width * shrink))))
    tiles = []
    for image in images:
        rgba = image_to_rgba(image, value_range=value_range or robust_range(image, percentile))
        rgba = upscale_nearest(rgba, factor) if size is None else resize_rgba(rgba, size, smooth=True)
        tiles.append(rgba)
    if not tiles:
        side = (height * factor, width * factor) if size is None else size
        return np.zeros((0,) + tuple(side) + (4,), np.uint8)
    return np.stack(tiles)


def robust_range(values, percentile=99.5):
    """``(low, high)``: the ``100 - percentile`` and ``percentile`` percentiles of the finite values.

    Falls back to the minimum and maximum when those percentiles coincide, and
    to ``(0.0, 1.0)`` when there is no finite value.
    """
    values = np.asarray(values, dtype=np.float32)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(finite, [100.0 - percentile, percentile]))
    if high <= low:
        low, high = float(finite.min()), float(finite.max())
    return low, high


def feature_map_tile(feature_map, target=160, cmap="viridis"):
    """One channel's feature map ``(h, w)`` coloured min to max, fitted to about ``target`` pixels.

    Small maps are enlarged by an integer factor with crisp pixels, maps
    larger than ``target`` shrunk (nearest neighbour, so single strong
    activations stay visible as pixels rather than being averaged away).
    """
    feature_map = np.asarray(feature_map, dtype=np.float32)
    if feature_map.ndim != 2:
        raise ValueError(f"expected one feature map (h, w), got shape {feature_map.shape}")
    rgba = apply_colormap(normalize(feature_map, "minmax"), cmap)
    height, width = feature_map.shape
    if max(height, width) <= target:
        return upscale_nearest(rgba, tile_scale(max(height, width), target))
    shrink = target / max(height, width)
    return resize_rgba(rgba, (max(1, round(height * shrink)), max(1, round(width * shrink))), smooth=False)


def caption_tiles(tiles, captions, height=12, color=(60, 60, 60, 255), background=_WHITE):
    """Add a line of text under each tile (e.g. the filter index or class name).

    Parameters
    ----------
    tiles : array_like
        uint8 ``(n, h, w, 4)``.
    captions : sequence of str
        One per tile; cut to the tile's width.
    height : int
        Height of the caption strip in pixels.

    Returns
    -------
    numpy.ndarray
        uint8 ``(n, h + height, w, 4)``: the tile on top, the caption
        centred in the strip below.
    """
    tiles = np.asarray(tiles, dtype=np.uint8)
    if tiles.ndim != 4 or tiles.shape[-1] != 4:
        raise ValueError(f"tiles must be (n, h, w, 4) uint8 RGBA, got shape {tiles.shape}")
    if len(captions) != len(tiles):
        raise ValueError(f"got {len(tiles)} tiles but {len(captions)} captions")
    count, tile_height, width = tiles.shape[:3]
    out = np.empty((count, tile_height + height, width, 4), np.uint8)
    out[...] = np.asarray(background, np.uint8)
    out[:, :tile_height] = tiles
    for i, caption in enumerate(captions):
        text = text_rgba(caption, height=height, color=color)[:, :width]
        x = (width - text.shape[1]) // 2
        _paste(out[i], text, tile_height, x)
    return out


def page_grid(tiles, columns, gap=4, selected=None, margin=2, background=_WHITE):
    """Lay one page of tiles out in a grid and outline the selected one.

    Parameters
    ----------
    tiles : array_like
        uint8 ``(n, h, w, 4)``.
    columns : int
        Tiles per row (fewer when there are fewer tiles, see :func:`grid_shape`).
    gap : int
        Pixels between tiles.
    selected : int, optional
        Position on the page of a tile to outline, in the gap around it.
    margin : int
        Pixels of background around the whole grid (room for the outline of
        a tile on the edge). A point ``(x, y)`` of the result lies on the
        tile :func:`tile_at` finds at ``(x - margin, y - margin)``.

    Returns
    -------
    numpy.ndarray
        uint8 RGBA: :func:`tile_grid`'s grid with ``margin`` pixels on every side.
    """
    tiles = np.asarray(tiles, dtype=np.uint8)
    inner = tile_grid(tiles, columns=columns, gap=gap, background=background)
    margin = max(0, int(margin))
    grid = np.empty((inner.shape[0] + 2 * margin, inner.shape[1] + 2 * margin, 4), np.uint8)
    grid[...] = np.asarray(background, np.uint8)
    grid[margin : margin + inner.shape[0], margin : margin + inner.shape[1]] = inner
    if selected is not None and 0 <= selected < len(tiles):
        _, cols = grid_shape(len(tiles), columns)
        row, col = divmod(int(selected), cols)
        height, width = tiles.shape[1:3]
        y, x = margin + row * (height + gap), margin + col * (width + gap)
        pad = min(2, margin, gap // 2 if gap else 0) or 1
        grid = outline_box(grid, (y - pad, x - pad, y + height + pad, x + width + pad), _SELECTION_COLOUR, width=pad)
    return grid


def format_value(value):
    """A weight or activation as short text: 3 significant digits."""
    value = float(value)
    if value == 0:
        return "0"
    return f"{value:.3g}"


def labelled_colorbar(vmin, vmax, cmap="RdBu_r", length=192, thickness=10, text_height=12, title=None,
                      background=_WHITE):
    """A horizontal colour legend with the values of its ends (and its centre) written below.

    Parameters
    ----------
    vmin, vmax : float
        Values at the left and right ends.
    cmap : str
        Colormap name, or ``"rgb"`` for the grey ramp of :func:`rgb_tiles`
        (black, mid-grey at zero, white).
    length, thickness : int
        Size of the colour strip.
    text_height : int
        Height of the labels.
    title : str, optional
        A line of text above the strip.

    Returns
    -------
    numpy.ndarray
        uint8 RGBA, ``length`` pixels wide (wider only if the labels need it).
    """
    if cmap == "rgb":
        ramp = np.linspace(0, 255, length).round().astype(np.uint8)
        strip = np.empty((thickness, length, 4), np.uint8)
        strip[..., :3] = ramp[None, :, None]
        strip[..., 3] = 255
    else:
        strip = colorbar(cmap, length=length, thickness=thickness, horizontal=True)
    labels = [format_value(vmin), format_value((vmin + vmax) / 2), format_value(vmax)]
    texts = [text_rgba(label, height=text_height) for label in labels]
    width = max(length, sum(t.shape[1] for t in texts) + 8)
    row = np.empty((text_height, width, 4), np.uint8)
    row[...] = np.asarray(background, np.uint8)
    left, middle, right = texts
    _paste(row, left[:, :width], 0, 0)
    _paste(row, middle[:, :width], 0, max(0, min(width - middle.shape[1], length // 2 - middle.shape[1] // 2)))
    _paste(row, right[:, :width], 0, max(0, width - right.shape[1]))
    parts = [text_block([title], width=width, text_height=text_height, background=background)] if title else []
    parts += [strip, row]
    return stack_panels(parts, axis=0, gap=2, background=background)


def text_block(lines, width=None, text_height=12, gap=3, color=(0, 0, 0, 255), background=_WHITE):
    """Lines of text, one under another, on an opaque background (for snapshots).

    Parameters
    ----------
    lines : sequence of str
    width : int, optional
        Width of the block; default the widest line. Longer lines are cut.

    Returns
    -------
    numpy.ndarray
        uint8 RGBA.
    """
    rendered = [text_rgba(line, height=text_height, color=color) for line in lines]
    if width is None:
        width = max([r.shape[1] for r in rendered] + [1])
    height = max(1, len(rendered) * (text_height + gap) - gap)
    out = np.empty((height, int(width), 4), np.uint8)
    out[...] = np.asarray(background, np.uint8)
    for i, text in enumerate(rendered):
        _paste(out, text[:, : int(width)], i * (text_height + gap), 0)
    return out


def filter_statistics(weights):
    """Summary of one filter's weights: ``min``, ``max``, ``mean``, ``std``, ``l2`` (norm) and ``count``."""
    weights = np.asarray(weights, dtype=np.float64).ravel()
    if weights.size == 0:
        return {"min": 0.0, "max": 0.0, "mean": 0.0, "std": 0.0, "l2": 0.0, "count": 0}
    return {
        "min": float(weights.min()),
        "max": float(weights.max()),
        "mean": float(weights.mean()),
        "std": float(weights.std()),
        "l2": float(np.sqrt(np.sum(weights**2))),
        "count": int(weights.size),
    }
