"""What the LayerBrowser draws for one layer, computed on the worker thread (numpy only).

:func:`compute_maps_frame` turns one layer's activations and the view
settings into a :class:`MapsFrame`: the tile grid (or vector strip), the
enlarged tile, the texts and the geometry the view needs for hit-testing.
"""

from dataclasses import dataclass, field

import numpy as np

from ...render import colorbar, stack_panels
from ..common.style import TEXT_MUTED
from ...render.feature_maps import (
    channel_order,
    channel_strength,
    page_count,
    page_slice,
    plan_feature_grid,
    plan_vector_strip,
    render_channel,
    render_feature_grid,
    render_vector_strip,
)

__all__ = ["MapsFrame", "compute_maps_frame", "layer_kind", "layer_width"]


def layer_kind(output_shape):
    """``"spatial"`` for ``(H, W, C)`` outputs, else ``"vector"`` (shown flattened)."""
    shape = tuple(output_shape or ())
    return "spatial" if len(shape) == 3 else "vector"


def layer_width(output_shape):
    """Channels of a spatial output, units of a flattened one (None if unknown)."""
    shape = tuple(output_shape or ())
    if not shape or any(d is None for d in (shape[-1:] if len(shape) == 3 else shape)):
        return None
    return int(shape[-1]) if len(shape) == 3 else int(np.prod(shape))


def _fmt(value):
    return f"{float(value):.4g}"


@dataclass
class MapsFrame:
    """Everything the feature-map view draws for one layer, input and setting.

    Attributes
    ----------
    grid_key : tuple
        Identifies the grid image (input, layer, colormap, normalization, order, page).
    path, kind : str
        Layer path; ``"spatial"`` or ``"vector"``.
    activations : numpy.ndarray
        The layer's raw output for the input (vectors flattened).
    order : numpy.ndarray
        All channels (units) in display order.
    page, pages, page_size : int
    layout : FeatureGridLayout or VectorStripLayout
    grid : numpy.ndarray
        uint8 RGBA of the page.
    channel : int
        The channel shown enlarged.
    detail : numpy.ndarray or None
        uint8 RGBA of the enlarged channel with its colour bar (spatial only).
    detail_html : str
        Statistics of the enlarged channel (or unit).
    page_text : str
    """

    grid_key: tuple
    path: str
    kind: str
    activations: np.ndarray = field(repr=False)
    order: np.ndarray = field(repr=False)
    page: int
    pages: int
    page_size: int
    layout: object
    grid: np.ndarray = field(repr=False)
    channel: int
    detail: np.ndarray = field(repr=False)
    detail_html: str
    page_text: str
    normalization: str = "shared"

    @property
    def detail_key(self):
        """Identifies the enlarged-tile image."""
        return self.grid_key + (self.channel,)

    def tile_of_channel(self, channel):
        """Index of ``channel``'s tile on this page, or None."""
        matches = np.nonzero(np.asarray(self.layout.units if self.kind == "vector" else self.layout.channels)
                             == int(channel))[0]
        return int(matches[0]) if matches.size else None

    def readout(self, x, y):
        """HTML describing the value under grid pixel ``(x, y)``, or None."""
        if self.kind == "spatial":
            hit = self.layout.locate(x, y)
            if hit is None:
                return None
            _, channel, row, col = hit
            value = self.activations[row, col, channel]
            block = "" if self.layout.stride == 1 else f" (shown: mean of {self.layout.stride}×{self.layout.stride})"
            return f"channel <b>{channel}</b> · row {row}, col {col} · value <b>{_fmt(value)}</b>{block}"
        index = self.layout.position_at(x, y)
        if index is None:
            return None
        unit = self.layout.units[index]
        return f"unit <b>{unit}</b> · value <b>{_fmt(self.activations[unit])}</b>"

    def channel_at(self, x, y):
        """The channel (unit) under grid pixel ``(x, y)``, or None."""
        if self.kind == "spatial":
            hit = self.layout.locate(x, y)
            return None if hit is None else hit[1]
        index = self.layout.position_at(x, y)
        return None if index is None else int(self.layout.units[index])

    def tile_box(self, index):
        """``(y0, x0, y1, x1)`` of tile (bar, cell) ``index``."""
        return self.layout.tile_box(index) if self.kind == "spatial" else self.layout.position_box(index)


def compute_maps_frame(activations, path, image_key, colormap="viridis", normalization="shared",
                       order="channel", page=0, channel=-1, width=512, page_size=64, vector_page_size=2048,
                       max_values=65536, detail_size=200):
    """Render one page of a layer's activations (numpy only; runs on the worker thread).

    Parameters
    ----------
    activations : numpy.ndarray
        The layer's output for one image, without the batch axis.
    path : str
        Layer path.
    image_key : str
        Content key of the input (part of ``grid_key``).
    colormap, normalization, order : str
        See :mod:`cnnwidgets.render.feature_maps`.
    page : int
        Page (clipped to the last one).
    channel : int
        Channel to enlarge; -1 for the first tile of the page.
    width : int
        Grid width in pixels.
    page_size, vector_page_size : int
        Tiles per page for spatial layers; units per page for vectors.
    max_values : int
        Most values a spatial page shows (see :func:`~cnnwidgets.render.feature_maps.plan_feature_grid`).
    detail_size : int
        Side of the enlarged tile.

    Returns
    -------
    MapsFrame
    """
    acts = np.asarray(activations, dtype=np.float32)
    kind = "spatial" if acts.ndim == 3 else "vector"
    if kind == "vector":
        acts = acts.ravel()
    count = acts.shape[-1]
    per_page = page_size if kind == "spatial" else vector_page_size
    pages = page_count(count, per_page)
    page = min(max(0, int(page)), pages - 1)
    full_order = channel_order(acts, order)
    shown = page_slice(full_order, page, per_page)
    grid_key = (image_key, path, colormap, normalization, order, page)
    if channel is None or channel < 0 or channel >= count:
        channel = int(shown[0]) if len(shown) else 0
    rank = int(np.nonzero(full_order == channel)[0][0]) + 1 if count else 0
    first, last = page * per_page + 1, page * per_page + len(shown)
    noun = "channels" if kind == "spatial" else "units"
    page_text = f"{noun} {first}–{last} of {count}" + (f" (page {page + 1}/{pages})" if pages > 1 else "")
    if kind == "spatial":
        layout = plan_feature_grid(acts.shape[:2], shown, width=width, max_values=max_values)
        grid = render_feature_grid(acts, layout, normalization, colormap)
        enlarged, scale, stride = render_channel(acts, channel, normalization, colormap, detail_size)
        values = acts[..., channel]
        if normalization == "shared":
            low, high, scope = float(np.nanmin(acts)), float(np.nanmax(acts)), "shared by all channels"
        else:
            low, high, scope = float(np.nanmin(values)), float(np.nanmax(values)), "this channel's range"
        bar = colorbar(colormap, length=enlarged.shape[1], thickness=10)
        detail = stack_panels([enlarged, bar], axis=0, gap=4, background=(255, 255, 255, 255))
        strength = channel_strength(acts)
        shrink = f", shown as {stride}×{stride} block means" if stride > 1 else ""
        detail_html = (
            f"<b>channel {channel}</b> of {count} · {values.shape[0]}×{values.shape[1]}{shrink}<br>"
            f"min {_fmt(np.nanmin(values))} · mean {_fmt(strength[channel])} · max {_fmt(np.nanmax(values))}<br>"
            f"rank {rank} of {count} by mean activation<br>"
            f"<span style='color:{TEXT_MUTED}'>colour bar: {_fmt(low)} → {_fmt(high)}<br>({scope})</span>"
        )
    else:
        layout = plan_vector_strip(shown, width=width)
        grid = render_vector_strip(acts, layout, colormap)
        detail = None
        finite = acts[np.isfinite(acts)]
        low = _fmt(finite.min()) if finite.size else "nan"
        high = _fmt(finite.max()) if finite.size else "nan"
        detail_html = (
            f"<b>unit {channel}</b> of {count} · value <b>{_fmt(acts[channel])}</b><br>"
            f"rank {rank} of {count} by value<br>"
            f"<span style='color:{TEXT_MUTED}'>a vector, drawn as {'bars' if layout.style == 'bars' else 'coloured cells'};"
            f"<br>colours span {low} → {high}</span>"
        )
    return MapsFrame(
        grid_key=grid_key, path=path, kind=kind, activations=acts, order=full_order, page=page, pages=pages,
        page_size=per_page, layout=layout, grid=grid, channel=int(channel), detail=detail,
        detail_html=detail_html, page_text=page_text, normalization=normalization,
    )
