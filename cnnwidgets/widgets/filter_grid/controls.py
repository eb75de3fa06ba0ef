"""The controls of :class:`~cnnwidgets.FilterGrid`: built once, then kept showing its traits."""

import ipywidgets as widgets
from traitlets import TraitError

from ...errors import CNNWidgetsError
from ..common.canvas import ImageCanvas
from ..common.style import card, stylesheet
from .layers import layer_options

__all__ = ["FilterGridControls", "MEAN_CHANNEL", "DETAIL_SIZE"]

#: :attr:`FilterGrid.channel` value meaning "all input channels" (colour or mean).
MEAN_CHANNEL = -1
#: About how many pixels wide the detail view's large tile is.
DETAIL_SIZE = 160


class FilterGridControls:
    """Mixin of :class:`~cnnwidgets.FilterGrid`: its control widgets, their layout and their syncing.

    Controls write to the grid's traits (errors are shown, not raised); the
    grid calls :meth:`_sync_controls` after each change so that the controls
    show the traits, with ``_syncing`` set so nothing feeds back.
    """

    def _build_controls(self):
        self.layer_dropdown = widgets.Dropdown(description="Layer", layout=widgets.Layout(width="380px"))
        self.mode_buttons = widgets.ToggleButtons(
            options=[("Weights", "weights"), ("What excites it", "maximize")],
            style={"button_width": "120px"},
        )
        self.channel_dropdown = widgets.Dropdown(description="Input ch.", layout=widgets.Layout(width="260px"))
        self.steps_slider = widgets.IntSlider(
            min=8, max=512, step=8, description="Steps", continuous_update=False, layout=widgets.Layout(width="260px")
        )
        self.strength_slider = widgets.FloatSlider(
            min=0.0, max=4.0, step=0.25, description="Smoothness", continuous_update=False,
            layout=widgets.Layout(width="260px"),
        )
        self.run_button = widgets.Button(description="Synthesize", icon="play", layout=widgets.Layout(width="120px"))
        self.stop_button = widgets.Button(description="Stop", icon="stop", layout=widgets.Layout(width="90px"))
        self.prev_button = widgets.Button(description="", icon="chevron-left", layout=widgets.Layout(width="40px"))
        self.next_button = widgets.Button(description="", icon="chevron-right", layout=widgets.Layout(width="40px"))
        self.page_label = widgets.HTML(layout=widgets.Layout(margin="0 8px"))
        self.grid_canvas = ImageCanvas(8, 8)
        self.grid_canvas.add_class("cnnwidgets-filter-grid")
        self.legend_canvas = ImageCanvas(8, 8)
        self.legend_canvas.add_class("cnnwidgets-filter-legend")
        self.detail_canvas = ImageCanvas(8, 8)
        self.detail_canvas.add_class("cnnwidgets-filter-detail")
        self.feature_canvas = ImageCanvas(8, 8)
        self.feature_canvas.add_class("cnnwidgets-filter-feature-map")
        self.detail_info = widgets.HTML(layout=widgets.Layout(width=f"{2 * DETAIL_SIZE + 20}px"))

        self.weights_controls = widgets.HBox([self.channel_dropdown])
        self.maximize_controls = widgets.HBox(
            [self.steps_slider, self.strength_slider, self.run_button, self.stop_button]
        )
        self.detail_box = widgets.VBox(
            [card(self.detail_canvas), self.detail_info, card(self.feature_canvas)],
            layout=widgets.Layout(margin="0 0 0 16px"),
        )
        self.children = [
            stylesheet(),
            widgets.HBox([self.layer_dropdown, self.mode_buttons]),
            self.weights_controls,
            self.maximize_controls,
            widgets.HBox([self.prev_button, self.page_label, self.next_button, self.progress],
                         layout=widgets.Layout(align_items="center")),
            widgets.HBox([widgets.VBox([card(self.grid_canvas), card(self.legend_canvas)],
                                       layout=widgets.Layout(grid_gap="6px")), self.detail_box]),
            self.status,
        ]

        self.layer_dropdown.observe(self._on_layer_dropdown, "value")
        self.mode_buttons.observe(lambda change: self._from_control("mode", change["new"]), "value")
        self.channel_dropdown.observe(lambda change: self._from_control("channel", change["new"]), "value")
        self.steps_slider.observe(lambda change: self._from_control("steps", change["new"]), "value")
        self.strength_slider.observe(lambda change: self._from_control("regularization", change["new"]), "value")
        self.run_button.on_click(lambda _: self.synthesize())
        self.stop_button.on_click(lambda _: self.stop())
        self.prev_button.on_click(lambda _: self._turn_page(-1))
        self.next_button.on_click(lambda _: self._turn_page(1))
        self.grid_canvas.on_mouse_down(self._on_grid_click)
        for control, name in ((self.prev_button, "prev"), (self.next_button, "next"), (self.run_button, "run"),
                              (self.stop_button, "stop"), (self.mode_buttons, "mode"),
                              (self.layer_dropdown, "layer"), (self.channel_dropdown, "channel")):
            control.add_class(f"cnnwidgets-filter-{name}")
        self.detail_info.add_class("cnnwidgets-filter-info")
        self.add_class("cnnwidgets-filter-grid-widget")

    def _from_control(self, name, value):
        if self._syncing or value is None:
            return
        try:
            setattr(self, name, value)
        except (TraitError, CNNWidgetsError) as exc:
            self.show_error(exc)

    def _on_layer_dropdown(self, change):
        self._from_control("layer", change["new"])

    def _turn_page(self, delta):
        self.page = self.page + delta

    def _sync_controls(self):
        """Make the controls show the traits (without feeding back into them)."""
        self._syncing = True
        try:
            maximize = self.mode == "maximize"
            options = layer_options(self.inspector, include_output=maximize)
            with self.layer_dropdown.hold_sync():
                if list(self.layer_dropdown.options) != options:
                    self.layer_dropdown.options = options
                paths = [path for _, path in options]
                self.layer_dropdown.value = self.layer if self.layer in paths else None
            self.mode_buttons.value = self.mode
            self.steps_slider.value = self.steps
            self.strength_slider.value = self.regularization
            self.weights_controls.layout.display = "none" if maximize else ""
            self.maximize_controls.layout.display = "" if maximize else "none"
            self.legend_canvas.layout.display = "none" if maximize else ""
            self._sync_channel_options()
            self._sync_page_controls()
        finally:
            self._syncing = False

    def _sync_channel_options(self):
        stack, colour = self._weights_stack()
        if stack is None:
            self.channel_dropdown.options = [("all (mean)", MEAN_CHANNEL)]
            self.channel_dropdown.disabled = True
        else:
            first = "all (RGB colour)" if colour else f"mean of {stack.shape[-1]}"
            options = [(first, MEAN_CHANNEL)] + [(str(c), c) for c in range(stack.shape[-1])]
            if list(self.channel_dropdown.options) != options:
                self.channel_dropdown.options = options
            self.channel_dropdown.disabled = stack.shape[-1] == 1
        self.channel_dropdown.value = self.channel if self.channel < len(self.channel_dropdown.options) - 1 else MEAN_CHANNEL

    def _sync_page_controls(self):
        count = self._count()
        pages = self._page_count(count)
        start = self.page * self.page_size
        end = min(count, start + self.page_size)
        noun = "classes" if self._record_is_output() and self.mode == "maximize" else "filters"
        self.page_label.value = (
            f"{noun} {start}&ndash;{end - 1} of {count} &middot; page {self.page + 1}/{pages}" if count else ""
        )
        self.prev_button.disabled = self.page <= 0
        self.next_button.disabled = self.page >= pages - 1
