"""The feature-map view of the LayerBrowser: a tile grid, its controls, an enlarged tile.

:func:`compute_maps_frame` (worker thread, numpy only) turns one layer's
activations and the view settings into a :class:`MapsFrame`: what to draw.
:class:`FeatureMapsView` owns the canvases and controls, draws frames
(re-sending the grid PNG only when its content changed) and turns pointer
events into a value readout and tile clicks.
"""

import html
from dataclasses import dataclass, field

import ipywidgets as widgets
import numpy as np

from ..render import colorbar, stack_panels
from ..render.feature_maps import (
    CHANNEL_ORDERS,
    FEATURE_NORMALIZATIONS,
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
from .base import ImageCanvas
from .layer_browser_canvas import OverlayCanvas

__all__ = ["MapsFrame", "FeatureMapsView", "compute_maps_frame", "layer_kind", "layer_width", "COLORMAPS"]

#: Colormaps offered in the dropdown (any matplotlib name can be set through the trait).
COLORMAPS = ("viridis", "magma", "inferno", "cividis", "gray", "RdBu_r", "coolwarm")

SELECTED_COLOUR = "#ff7f0e"
HOVER_COLOUR = "#ffffff"


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
            f"<span style='color:#666'>colour bar: {_fmt(low)} → {_fmt(high)}<br>({scope})</span>"
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
            f"<span style='color:#666'>a vector, drawn as {'bars' if layout.style == 'bars' else 'coloured cells'};"
            f"<br>colours span {low} → {high}</span>"
        )
    return MapsFrame(
        grid_key=grid_key, path=path, kind=kind, activations=acts, order=full_order, page=page, pages=pages,
        page_size=per_page, layout=layout, grid=grid, channel=int(channel), detail=detail,
        detail_html=detail_html, page_text=page_text, normalization=normalization,
    )


class FeatureMapsView:
    """Canvases and controls of the feature-map view.

    Parameters
    ----------
    lock : threading.Lock
        The widget's drawing lock.
    width : int
        Grid width in pixels.
    detail_size : int
        Side of the enlarged tile.

    Attributes
    ----------
    grid : OverlayCanvas
        The tile grid (class ``cnnwidgets-feature-maps``).
    detail : ImageCanvas
        The enlarged tile with its colour bar (class ``cnnwidgets-feature-detail``).
    colormap, normalization, order : ipywidgets controls
    previous_page, next_page : ipywidgets.Button
    frame : MapsFrame or None
        What is drawn now.
    """

    def __init__(self, lock, width=512, detail_size=200):
        self.width, self.detail_size = int(width), int(detail_size)
        self.frame = None
        self._drawn_grid = None
        self._drawn_detail = None
        self._hover_index = None
        self._on_click = []
        self.grid = OverlayCanvas(self.width, 120, css_class="cnnwidgets-feature-maps", lock=lock)
        self.detail = ImageCanvas(self.detail_size, self.detail_size + 14)
        self.detail.add_class("cnnwidgets-feature-detail")
        self.detail_info = widgets.HTML(layout=widgets.Layout(width=f"{self.detail_size + 100}px"))
        self.readout = widgets.HTML("<span style='color:#888'>point at a tile to read its values</span>",
                                    layout=widgets.Layout(min_height="1.5em"))
        self.colormap = widgets.Dropdown(options=list(COLORMAPS), value="viridis", description="colours",
                                         layout=widgets.Layout(width="150px"),
                                         style={"description_width": "48px"})
        self.normalization = widgets.ToggleButtons(
            options=list(FEATURE_NORMALIZATIONS), value="shared",
            tooltips=["one colour scale for the whole layer", "each tile uses its own range"],
            style={"button_width": "100px"},
        )
        self.order = widgets.ToggleButtons(
            options=list(CHANNEL_ORDERS), value="channel",
            tooltips=["channel 0, 1, 2, ...", "largest mean activation first"],
            style={"button_width": "100px"},
        )
        self.previous_page = widgets.Button(icon="chevron-left", tooltip="previous page",
                                            layout=widgets.Layout(width="36px"))
        self.next_page = widgets.Button(icon="chevron-right", tooltip="next page", layout=widgets.Layout(width="36px"))
        self.page_label = widgets.HTML(layout=widgets.Layout(margin="0 0 0 6px"))
        controls = widgets.VBox([
            widgets.HBox([self.colormap, self.normalization]),
            widgets.HBox([self.order, self.previous_page, self.next_page, self.page_label],
                         layout=widgets.Layout(align_items="center", flex_flow="row wrap")),
        ])
        self.widget = widgets.VBox(
            [controls, self.grid.widget, self.readout],
            layout=widgets.Layout(width=f"{self.width + 12}px", flex="0 0 auto"),
        )
        self.detail_widget = widgets.VBox([self.detail, self.detail_info], layout=widgets.Layout(flex="0 0 auto"))
        self.grid.on_mouse_move(self._mouse_move)
        self.grid.on_mouse_out(self._mouse_out)
        self.grid.on_mouse_down(self._mouse_down)

    def on_click(self, callback):
        """Call ``callback(channel)`` when a tile (bar, cell) is clicked."""
        self._on_click.append(callback)

    def draw(self, frame):
        """Show ``frame``: the grid PNG only if its content changed, the outlines, the detail."""
        self.frame = frame
        selected = frame.tile_of_channel(frame.channel)
        boxes = [frame.tile_box(selected)] if selected is not None else []
        if frame.grid_key != self._drawn_grid:
            self._hover_index = None
            self.grid.show(frame.grid, outlines={})
            self._drawn_grid = frame.grid_key
        self.grid.set_outline("selected", boxes, SELECTED_COLOUR, 2)
        if frame.detail_key != self._drawn_detail:
            if frame.detail is not None:
                self.detail.show(frame.detail)
                self.detail.layout.display = None
            else:
                self.detail.layout.display = "none"
            self._drawn_detail = frame.detail_key
        self.detail_info.value = frame.detail_html
        self.page_label.value = f"<span style='color:#555'>{html.escape(frame.page_text)}</span>"
        self.previous_page.disabled = frame.page <= 0
        self.next_page.disabled = frame.page >= frame.pages - 1

    def composite(self):
        """The grid as the browser shows it (with outlines)."""
        return self.grid.composite()

    # ---------------------------------------------------------------- mouse
    def _mouse_move(self, x, y):
        frame = self.frame
        if frame is None:
            return
        text = frame.readout(x, y)
        self.readout.value = text or ""
        channel = frame.channel_at(x, y)
        index = None if channel is None else frame.tile_of_channel(channel)
        if index != self._hover_index:
            self._hover_index = index
            boxes = [] if index is None or frame.kind != "spatial" else [frame.tile_box(index)]
            self.grid.set_outline("hover", boxes, HOVER_COLOUR, 1)

    def _mouse_out(self, x, y):
        self.readout.value = ""
        if self._hover_index is not None:
            self._hover_index = None
            self.grid.set_outline("hover", [], HOVER_COLOUR, 1)

    def _mouse_down(self, x, y):
        frame = self.frame
        if frame is None:
            return
        channel = frame.channel_at(x, y)
        if channel is not None:
            for callback in self._on_click:
                callback(channel)
