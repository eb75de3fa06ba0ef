"""The feature-map view of the LayerBrowser: a tile grid, its controls, an enlarged tile.

:class:`FeatureMapsView` owns the canvases and controls, draws the
:class:`~.compute.MapsFrame` the worker computed (re-sending the grid PNG
only when its content changed) and turns pointer events into a value readout
and tile clicks.
"""

import html

import ipywidgets as widgets

from ...render.feature_maps import CHANNEL_ORDERS, FEATURE_NORMALIZATIONS
from ..common.canvas import ImageCanvas, OverlayCanvas
from ..common.style import TEXT_MUTED, card

__all__ = ["FeatureMapsView", "COLORMAPS"]

#: Colormaps offered in the dropdown (any matplotlib name can be set through the trait).
COLORMAPS = ("viridis", "magma", "inferno", "cividis", "gray", "RdBu_r", "coolwarm")

SELECTED_COLOUR = "#ff7f0e"
HOVER_COLOUR = "#ffffff"


class FeatureMapsView:
    """Canvases and controls of the feature-map view.

    Parameters
    ----------
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

    def __init__(self, width=512, detail_size=200):
        self.width, self.detail_size = int(width), int(detail_size)
        self.frame = None
        self._drawn_grid = None
        self._drawn_detail = None
        self._hover_index = None
        self._on_click = []
        self.grid = OverlayCanvas(self.width, 120, css_class="cnnwidgets-feature-maps")
        self.detail = ImageCanvas(self.detail_size, self.detail_size + 14)
        self.detail.add_class("cnnwidgets-feature-detail")
        self.detail_info = widgets.HTML(layout=widgets.Layout(width=f"{self.detail_size + 100}px"))
        self.readout = widgets.HTML(f"<span style='color:{TEXT_MUTED}'>point at a tile to read its values</span>",
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
            [controls, card(self.grid.widget), self.readout],
            layout=widgets.Layout(width=f"{self.width + 24}px", flex="0 0 auto"),
        )
        self.detail_widget = widgets.VBox([card(self.detail), self.detail_info], layout=widgets.Layout(flex="0 0 auto"))
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
        self.page_label.value = f"<span style='color:{TEXT_MUTED}'>{html.escape(frame.page_text)}</span>"
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
