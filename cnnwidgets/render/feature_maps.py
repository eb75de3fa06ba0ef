"""Feature maps as tile grids, and activation vectors as bar or cell strips.

What the LayerBrowser draws for one layer and one input, pure numpy:

* a spatial layer ``(H, W, C)`` becomes a grid of ``C`` tiles (one page of
  them at a time), each the channel's map, normalized, coloured with a
  colormap and enlarged with crisp pixels (:func:`plan_feature_grid`,
  :func:`render_feature_grid`);
* a vector layer ``(units,)`` becomes bars (few units) or a grid of coloured
  cells (many units) (:func:`plan_vector_strip`, :func:`render_vector_strip`).

The pipeline for a tile is fixed and documented so that tests can recompute it:

1. :func:`normalize_feature_maps` scales the **full-resolution** activations
   to [0, 1]: ``"shared"`` uses one min..max over every channel of the layer
   (tiles are comparable, also across pages), ``"per-channel"`` the min..max
   of each channel (every tile uses the whole colormap).
2. :func:`downsample_maps` averages ``stride x stride`` blocks (edge blocks
   average the pixels they have). ``stride`` is 1 unless the page would hold
   more than ``max_values`` values or a map is larger than its tile: this caps
   what a layer switch sends to the browser.
3. :func:`~cnnwidgets.render.apply_colormap`, then each value becomes a
   ``scale x scale`` square (:func:`~cnnwidgets.render.upscale_nearest`).

Tiles are laid out row-major in the order of ``layout.channels`` (channel
order, or most active first, see :func:`channel_order`).
"""

import math
from dataclasses import dataclass

import numpy as np

from .colormaps import apply_colormap, normalize
from .compose import upscale_nearest
from .tiles import grid_shape, tile_at, tile_grid

__all__ = [
    "FEATURE_NORMALIZATIONS",
    "CHANNEL_ORDERS",
    "FeatureGridLayout",
    "VectorStripLayout",
    "channel_strength",
    "channel_order",
    "page_count",
    "page_slice",
    "normalize_feature_maps",
    "downsample_maps",
    "plan_feature_grid",
    "feature_map_tiles",
    "render_feature_grid",
    "render_channel",
    "plan_vector_strip",
    "render_vector_strip",
]

#: Accepted ``normalization`` values.
FEATURE_NORMALIZATIONS = ("shared", "per-channel")
#: Accepted ``order`` values: channel index order, or largest mean activation first.
CHANNEL_ORDERS = ("channel", "most active")

_BACKGROUND = (255, 255, 255, 255)


def _check_choice(value, choices, what):
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; use one of {', '.join(repr(c) for c in choices)}")


def channel_strength(activations):
    """How active each channel is: the mean over the spatial axes (the value itself for vectors).

    Parameters
    ----------
    activations : array_like
        ``(H, W, C)`` feature maps or a ``(units,)`` vector.

    Returns
    -------
    numpy.ndarray
        float64 ``(C,)``; NaN is treated as the lowest value.
    """
    values = np.asarray(activations, dtype=np.float64)
    strength = values.reshape(-1, values.shape[-1]).mean(axis=0) if values.ndim == 3 else values.ravel()
    return np.where(np.isnan(strength), -np.inf, strength)


def channel_order(activations, order="channel"):
    """Channel indices in display order.

    Parameters
    ----------
    activations : array_like
        ``(H, W, C)`` or ``(units,)``.
    order : {"channel", "most active"}
        ``channel``: 0, 1, 2, ... ``most active``: by :func:`channel_strength`,
        largest first (ties keep channel order).

    Returns
    -------
    numpy.ndarray
        int64 permutation of ``range(C)``.
    """
    _check_choice(order, CHANNEL_ORDERS, "channel order")
    strength = channel_strength(activations)
    if order == "channel":
        return np.arange(strength.size)
    return np.argsort(-strength, kind="stable")


def page_count(count, page_size):
    """Number of pages of ``page_size`` items needed for ``count`` items (at least 1)."""
    return max(1, math.ceil(int(count) / max(1, int(page_size))))


def page_slice(order, page, page_size):
    """The items of page ``page`` (0-based, clipped to the last page) of ``order``."""
    order = np.asarray(order)
    page = min(max(0, int(page)), page_count(order.size, page_size) - 1)
    return order[page * page_size : (page + 1) * page_size]


def normalize_feature_maps(activations, normalization="shared"):
    """Scale ``(H, W, C)`` maps (or a vector) to [0, 1], shared or per channel.

    ``shared``: ``(a - min) / (max - min)`` over the whole array. ``per-channel``:
    the same with each channel's own min and max (for a vector, the same as
    shared). A constant map becomes 0. See :func:`cnnwidgets.render.normalize`.

    Returns
    -------
    numpy.ndarray
        float32, same shape.
    """
    _check_choice(normalization, FEATURE_NORMALIZATIONS, "normalization")
    values = np.asarray(activations, dtype=np.float32)
    if normalization == "shared" or values.ndim != 3:
        return normalize(values, "minmax")
    flat = values.reshape(-1, values.shape[-1])
    finite = np.isfinite(flat)
    low = np.where(finite, flat, np.inf).min(axis=0, initial=np.inf)
    high = np.where(finite, flat, -np.inf).max(axis=0, initial=-np.inf)
    varies = high > low  # False for constant or all-non-finite channels
    low = np.where(varies, low, 0.0)
    span = np.where(varies, high - low, 1.0)
    with np.errstate(invalid="ignore"):
        unit = np.where(varies, np.clip((values - low) / span, 0.0, 1.0), 0.0)
    unit = np.where(np.isnan(values), np.nan, unit)
    return unit.astype(np.float32)


def downsample_maps(maps, stride):
    """Average ``stride x stride`` blocks of ``(H, W, ...)`` maps.

    The output has ``ceil(H / stride)`` rows and ``ceil(W / stride)`` columns;
    a block on the bottom or right edge averages the pixels it covers.
    """
    maps = np.asarray(maps, dtype=np.float32)
    stride = int(stride)
    if stride <= 1:
        return maps
    height, width = maps.shape[:2]
    rows, cols = math.ceil(height / stride), math.ceil(width / stride)
    padded = np.full((rows * stride, cols * stride) + maps.shape[2:], np.nan, np.float32)
    padded[:height, :width] = maps
    blocks = padded.reshape((rows, stride, cols, stride) + maps.shape[2:])
    with np.errstate(all="ignore"):
        counts = np.isfinite(blocks).sum(axis=(1, 3))
        sums = np.nansum(blocks, axis=(1, 3))
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)


@dataclass(frozen=True)
class FeatureGridLayout:
    """Where each channel's tile sits in a feature-map grid image.

    Attributes
    ----------
    channels : tuple of int
        Channel shown in each tile, row-major.
    map_shape : tuple of int
        ``(H, W)`` of the layer's maps.
    stride : int
        Block size averaged into one shown value (1: every value shown).
    scale : int
        Pixels per shown value along each axis.
    columns : int
        Tiles per row.
    gap : int
        Pixels between tiles.
    """

    channels: tuple
    map_shape: tuple
    stride: int
    scale: int
    columns: int
    gap: int = 2

    @property
    def count(self):
        """Number of tiles."""
        return len(self.channels)

    @property
    def rows(self):
        """Number of tile rows."""
        return grid_shape(self.count, self.columns)[0]

    @property
    def cell_shape(self):
        """``(rows, cols)`` of shown values per tile after downsampling."""
        return tuple(math.ceil(n / self.stride) for n in self.map_shape)

    @property
    def tile_shape(self):
        """``(height, width)`` of one tile in pixels."""
        return tuple(n * self.scale for n in self.cell_shape)

    @property
    def size(self):
        """``(height, width)`` of the grid image in pixels."""
        tile_h, tile_w = self.tile_shape
        return (
            max(0, self.rows * (tile_h + self.gap) - self.gap),
            max(0, min(self.columns, self.count) * (tile_w + self.gap) - self.gap),
        )

    @property
    def shown_values(self):
        """Values drawn for the page (after downsampling): what is sent, before PNG."""
        rows, cols = self.cell_shape
        return self.count * rows * cols

    def tile_index_at(self, x, y):
        """Index of the tile under pixel ``(x, y)``, or None (gaps, outside)."""
        return tile_at(x, y, self.tile_shape, self.columns, self.count, self.gap)

    def tile_box(self, index):
        """``(y0, x0, y1, x1)`` (end-exclusive) of tile ``index`` in the grid image."""
        tile_h, tile_w = self.tile_shape
        row, col = divmod(int(index), self.columns)
        y0, x0 = row * (tile_h + self.gap), col * (tile_w + self.gap)
        return y0, x0, y0 + tile_h, x0 + tile_w

    def locate(self, x, y):
        """``(tile_index, channel, row, col)`` of the activation under pixel ``(x, y)``, or None.

        ``row, col`` index the full-resolution map: the activation whose
        position the pixel covers (the first of its block when ``stride > 1``).
        """
        index = self.tile_index_at(x, y)
        if index is None:
            return None
        y0, x0, _, _ = self.tile_box(index)
        height, width = self.map_shape
        row = min(height - 1, int((int(y) - y0) // self.scale) * self.stride)
        col = min(width - 1, int((int(x) - x0) // self.scale) * self.stride)
        return index, int(self.channels[index]), row, col


def plan_feature_grid(map_shape, channels, width=512, gap=2, max_values=65536, max_tile=192):
    """Choose columns, downsampling stride and enlargement for a page of tiles.

    Parameters
    ----------
    map_shape : tuple of int
        ``(H, W)`` of the maps.
    channels : sequence of int
        Channels to show, in tile order.
    width : int
        Largest grid width in pixels.
    gap : int
        Pixels between tiles.
    max_values : int
        Most values shown on the page; larger maps are block-averaged
        (``stride > 1``) until ``len(channels) * rows * cols <= max_values``.
        This bounds the PNG sent per layer switch.
    max_tile : int
        Largest tile side in pixels.

    Returns
    -------
    FeatureGridLayout
    """
    channels = tuple(int(c) for c in channels)
    height, width_map = (max(1, int(n)) for n in map_shape)
    count = max(1, len(channels))
    _, columns = grid_shape(count)
    tile_px = max(1, min(int(max_tile), (int(width) - gap * (columns - 1)) // columns))
    side = max(height, width_map)
    stride = max(1, math.ceil(side / tile_px))
    while stride < side and count * math.ceil(height / stride) * math.ceil(width_map / stride) > max_values:
        stride += 1
    shown = max(math.ceil(height / stride), math.ceil(width_map / stride))
    scale = max(1, tile_px // shown)
    return FeatureGridLayout(channels, (height, width_map), stride, scale, columns, gap)


def feature_map_tiles(unit_maps, layout, cmap="viridis"):
    """The RGBA tiles of ``layout`` from normalized ``(H, W, C)`` maps.

    Parameters
    ----------
    unit_maps : array_like
        Output of :func:`normalize_feature_maps` (values in [0, 1]).
    layout : FeatureGridLayout
    cmap : str
        Matplotlib colormap.

    Returns
    -------
    numpy.ndarray
        uint8 ``(len(layout.channels), tile_h, tile_w, 4)``.
    """
    unit_maps = np.asarray(unit_maps, dtype=np.float32)
    picked = unit_maps[..., list(layout.channels)]
    small = downsample_maps(picked, layout.stride)
    coloured = apply_colormap(np.moveaxis(small, -1, 0), cmap)
    return np.stack([upscale_nearest(tile, layout.scale) for tile in coloured]) if len(coloured) else (
        np.zeros((0,) + layout.tile_shape + (4,), np.uint8)
    )


def render_feature_grid(activations, layout, normalization="shared", cmap="viridis"):
    """Draw one page of a layer's feature maps as one RGBA grid image.

    Parameters
    ----------
    activations : array_like
        ``(H, W, C)`` raw activations of the whole layer (the normalization
        range is taken over all of them, not only this page).
    layout : FeatureGridLayout
        From :func:`plan_feature_grid`.
    normalization : {"shared", "per-channel"}
    cmap : str

    Returns
    -------
    numpy.ndarray
        uint8 RGBA of size ``layout.size``, white between tiles.
    """
    unit = normalize_feature_maps(activations, normalization)
    tiles = feature_map_tiles(unit, layout, cmap)
    return tile_grid(tiles, layout.columns, gap=layout.gap, background=_BACKGROUND)


def render_channel(activations, channel, normalization="shared", cmap="viridis", size=200):
    """One channel enlarged to about ``size`` pixels (crisp), with the grid's normalization.

    Returns
    -------
    tuple
        ``(rgba, scale, stride)``: uint8 RGBA; pixels per shown value; values per shown value.
    """
    unit = normalize_feature_maps(activations, normalization)[..., int(channel)]
    side = max(unit.shape[:2])
    stride = max(1, math.ceil(side / size))
    small = downsample_maps(unit, stride)
    scale = max(1, int(size) // max(small.shape[:2]))
    return upscale_nearest(apply_colormap(small, cmap), scale), scale, stride


# ----------------------------------------------------------------- vectors
@dataclass(frozen=True)
class VectorStripLayout:
    """Where each unit of an activation vector sits in a bar or cell image.

    Attributes
    ----------
    units : tuple of int
        Unit shown at each position, in order.
    style : {"bars", "cells"}
        ``bars``: one vertical bar per unit, height by value, in one row.
        ``cells``: one coloured square per unit, row-major.
    cell : int
        Width of a bar (or side of a cell) in pixels.
    columns : int
        Positions per row (all of them for bars).
    height : int
        Plot height of the bars in pixels (cells: ``rows * cell``).
    gap : int
        Pixels between positions.
    """

    units: tuple
    style: str
    cell: int
    columns: int
    height: int
    gap: int = 1

    @property
    def count(self):
        """Number of units shown."""
        return len(self.units)

    @property
    def rows(self):
        """Rows of positions."""
        return 1 if self.style == "bars" else grid_shape(self.count, self.columns)[0]

    @property
    def size(self):
        """``(height, width)`` of the image."""
        pitch = self.cell + self.gap
        width = max(1, min(self.columns, self.count) * pitch - self.gap)
        if self.style == "bars":
            return self.height, width
        return max(1, self.rows * pitch - self.gap), width

    def position_at(self, x, y):
        """Index (into ``units``) of the bar or cell under ``(x, y)``, or None."""
        if self.style == "bars":
            height, width = self.size
            if not (0 <= x < width and 0 <= y < height):
                return None
            index, within = divmod(int(x), self.cell + self.gap)
            return index if within < self.cell and index < self.count else None
        return tile_at(x, y, (self.cell, self.cell), self.columns, self.count, self.gap)

    def position_box(self, index):
        """``(y0, x0, y1, x1)`` of position ``index``."""
        pitch = self.cell + self.gap
        if self.style == "bars":
            x0 = int(index) * pitch
            return 0, x0, self.height, x0 + self.cell
        row, col = divmod(int(index), self.columns)
        return row * pitch, col * pitch, row * pitch + self.cell, col * pitch + self.cell


def plan_vector_strip(units, width=512, max_bars=128, bar_height=140):
    """Bars for up to ``max_bars`` units, else a grid of cells, fitted to ``width`` pixels."""
    units = tuple(int(u) for u in units)
    count = max(1, len(units))
    if count <= max_bars:
        cell = max(2, min(24, (int(width) + 1) // count - 1))
        return VectorStripLayout(units, "bars", cell, count, int(bar_height), gap=1)
    cell = 14 if count <= 512 else 10 if count <= 1536 else 6
    columns = max(1, (int(width) + 1) // (cell + 1))
    return VectorStripLayout(units, "cells", cell, columns, 0, gap=1)


def render_vector_strip(values, layout, cmap="viridis"):
    """Draw an activation vector (the units of ``layout``) as bars or cells.

    Colours come from ``normalize(values, "minmax")`` over the whole vector.
    Bars rise from zero (a grey baseline; negative values hang below it when
    the vector has any) with heights proportional to the value.

    Returns
    -------
    numpy.ndarray
        uint8 RGBA of ``layout.size``.
    """
    values = np.asarray(values, dtype=np.float32).ravel()
    unit = normalize(values, "minmax")
    picked = list(layout.units)
    colours = apply_colormap(unit[picked], cmap)
    height, width = layout.size
    image = np.empty((height, width, 4), np.uint8)
    image[...] = _BACKGROUND
    if layout.style == "cells":
        tiles = np.broadcast_to(colours[:, None, None, :], (len(picked), layout.cell, layout.cell, 4))
        grid = tile_grid(tiles, layout.columns, gap=layout.gap, background=_BACKGROUND)
        image[: grid.shape[0], : grid.shape[1]] = grid
        return image
    finite = values[np.isfinite(values)]
    top = max(0.0, float(finite.max())) if finite.size else 0.0
    bottom = min(0.0, float(finite.min())) if finite.size else 0.0
    span = top - bottom if top > bottom else 1.0
    baseline = int(round((height - 1) * top / span))
    image[baseline, :] = (160, 160, 160, 255)
    shown = np.nan_to_num(values[picked], nan=0.0, posinf=top, neginf=bottom)
    for index, value in enumerate(shown):
        _, x0, _, x1 = layout.position_box(index)
        extent = int(round((height - 1) * abs(float(value)) / span))
        if value >= 0:
            y0, y1 = baseline - extent, baseline + 1
        else:
            y0, y1 = baseline, baseline + extent + 1
        image[max(0, y0) : y1, x0:x1] = colours[index]
    return image
