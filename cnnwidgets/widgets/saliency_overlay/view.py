"""SaliencyOverlay's view: controls, panels, drawing a result, hover readout, snapshot."""

import ipywidgets as widgets
import numpy as np

from ...render import colorbar
from ...render.panels import stack_panels
from ...render.saliency import display_zoom, legend_rgba, render_heatmap, titled_panel, zoom_rgba
from ..common.canvas import ImageCanvas, drawing
from ..common.style import show, stylesheet
from .compute import shape_text
from .controls import (
    BASELINES,
    CAM_METHODS,
    DIVERGING_CHOICES,
    METHOD_LABELS,
    SEQUENTIAL_COLORMAPS,
    ClassPicker,
)
from .panels import TitledCanvas

__all__ = ["SaliencyView", "COMPARE_ROW_WIDTH"]

#: Screen pixels the compared panels share in one row.
COMPARE_ROW_WIDTH = 900


class SaliencyView:
    """Mixin of :class:`~cnnwidgets.SaliencyOverlay`: its controls and panels, and drawing into them."""

    def _show_result(self, result):
        """Draw a computed result (the runner calls this only for the latest request)."""
        with drawing():
            self._result = result
            self._redraw()
        self.set_trait("heatmap", result.values)
        self._describe(result)

    def _render(self, image_rgba, spec, values):
        return render_heatmap(image_rgba, values, self.colormap, self._display_signed(spec.method),
                              self.clip_percentile, self.opacity)

    def _redraw(self):
        """Colour and draw the current result with the current display settings."""
        with drawing():  # from the worker (results) and the kernel thread (display settings)
            result = self._result
            if result is None:
                return
            request = result.request
            rendering = self._render(request.image_rgba, request.main, result.values)
            self._rendering = rendering
            self.heatmap_canvas.show(rendering.heat)
            self.overlay_canvas.show(rendering.overlay)
            self._sync_legend_width()  # the heat canvas may have just taken a new image size
            self._heat_view.title = request.main.title
            low, high = rendering.limits
            self._legend_low.value = f"<small>{low:.3g}</small>"
            self._legend_mid.value = "<small>0</small>" if low < 0 < high else ""
            self._legend_high.value = f"<small>{high:.3g}</small>"
            self._draw_compare(result)

    def _draw_compare(self, result):
        views = self._compare_views_for(len(result.compared))
        height, width = result.request.image_rgba.shape[:2]
        # as many panels as fit side by side in one row, up to the size of the main panels
        zoom = display_zoom(height, width, largest=max(96, min(280, COMPARE_ROW_WIDTH // max(1, len(views)) - 12)))
        for view, (spec, values) in zip(views, result.compared):
            rendering = self._render(result.request.image_rgba, spec, values)
            view.title = spec.title
            if view.canvas.zoom != zoom:
                view.canvas.zoom = zoom
            view.canvas.show(rendering.overlay)

    def _compare_views_for(self, count):
        views = self._compare_views
        if len(views) != count:
            while len(views) < count:
                height, width = self._image_rgba.shape[:2]
                view = TitledCanvas("", width, height, self.image_canvas.zoom)
                index = len(views)
                view.canvas.on_mouse_move(lambda x, y, i=index: self._hover(("compare", i), x, y))
                view.canvas.on_mouse_out(lambda x, y: self._hover(None, x, y))
                views.append(view)
            del views[count:]
            self._compare_panels.children = tuple(views)
        return views

    def _describe(self, result):
        spec = result.request.main
        name = self._class_names()[spec.class_index]
        if not self.compare and not np.any(result.values):
            why = ("Grad-CAM found no positive evidence for this class at this layer; try another layer or class"
                   if spec.method in CAM_METHODS else
                   "the gradient vanishes (a saturated output or dead ReLUs); try Integrated Gradients or SmoothGrad")
            self.show_message(f"The map for class {name!r} is zero everywhere: {why}.", "warning")
            return
        if self.compare and not result.compared:
            self.show_message("Select what to compare (two or more entries) in the Compare tab.", "info")
            return
        probability = self._probabilities[spec.class_index] if self._probabilities is not None else np.nan
        where = f" at layer {spec.layer}" if spec.layer else ""
        note = " Grad-CAM is off: the model has no spatial (H, W, C) layer." if self._cam_problem else ""
        self.show_message(f"{METHOD_LABELS[spec.method]} for class {name!r} (p = {probability:.3f}){where}.{note}")

    def _draw_legend(self):
        if not hasattr(self, "_legend_canvas"):
            return
        width = max(16, self._heat_view.canvas.css_size[1])
        self._legend_canvas.show(colorbar(self.colormap, length=width, thickness=12))

    def _sync_legend_width(self):
        width = f"{self._heat_view.canvas.css_size[1]}px"
        if self._legend_labels.layout.width != width:
            self._legend_labels.layout.width = width
            self._draw_legend()

    # ----------------------------------------------------------------- hover
    def _hover(self, panel, x, y):
        result = self._result
        if panel is None or result is None:
            self.hover_label.value = ""
            return
        if panel == "main":
            title, values = result.request.main.title, result.values
        else:
            if panel[1] >= len(result.compared):
                return
            spec, values = result.compared[panel[1]]
            title = spec.title
        row, column = int(y), int(x)
        if not (0 <= row < values.shape[0] and 0 <= column < values.shape[1]):
            self.hover_label.value = ""
            return
        value = float(values[row, column])
        rank = 100.0 * float(np.mean(np.abs(values) < abs(value)))
        self.hover_label.value = (
            f"<code>x={column}, y={row}</code> &nbsp; {title}: <b>{value:.4g}</b> "
            f"(stronger than {rank:.0f}% of the map)"
        )

    # ------------------------------------------------------------- snapshot
    def _snapshot_panels(self):
        zoom = self.image_canvas.zoom
        if self.compare and self._result is not None and self._result.compared:
            return [titled_panel(zoom_rgba(view.canvas.image, view.canvas.zoom), view.title)
                    for view in self._compare_views[: len(self._result.compared)]]
        title = self._heat_view.title
        if self._result is not None:
            title += f" \u00b7 class {self._class_names()[self._result.request.main.class_index]}"
        heat = titled_panel(zoom_rgba(self.heatmap_canvas.image, zoom), title)
        if self._rendering is not None:
            legend = legend_rgba(self.colormap, self._rendering.limits, width=heat.shape[1])
            heat = stack_panels([heat, legend], axis=0, gap=4, background=(255, 255, 255, 255))
        return [
            titled_panel(zoom_rgba(self.image_canvas.image, zoom), self._image_view.title),
            heat,
            titled_panel(zoom_rgba(self.overlay_canvas.image, zoom), "Overlay"),
        ]

    def _build_controls(self, top_k):
        self._method_menu = widgets.Dropdown(
            options=[(METHOD_LABELS[m], m) for m in self.available_methods], description="Method",
            layout=widgets.Layout(width="250px"),
        )
        self._layer_menu = widgets.Dropdown(
            options=[(f"{r.path} ({shape_text(r.output_shape)})", r.path) for r in self._cam_layers]
            or [("(no spatial layer)", "")],
            description="Layer", disabled=not self._cam_layers, layout=widgets.Layout(width="330px"),
        )
        self._signed_box = widgets.Checkbox(description="signed", indent=False, layout=widgets.Layout(width="80px"))
        self._stop_button = widgets.Button(description="Stop", icon="stop", layout=widgets.Layout(width="80px"),
                                           tooltip="stop the running computation")
        self._stop_button.add_class("cnnwidgets-stop")
        self._stop_button.on_click(lambda _: self.stop())
        self._samples_slider = widgets.IntSlider(min=1, max=100, description="samples", continuous_update=False)
        self._noise_slider = widgets.FloatSlider(min=0.0, max=0.5, step=0.01, description="noise",
                                                 continuous_update=False)
        self._steps_slider = widgets.IntSlider(min=2, max=200, description="steps", continuous_update=False)
        self._baseline_menu = widgets.Dropdown(
            options=[(label, key) for key, label in BASELINES.items() if key != "custom"], description="baseline",
            layout=widgets.Layout(width="200px"),
        )
        self._opacity_slider = widgets.FloatSlider(min=0.0, max=1.0, step=0.05, description="opacity")
        self._colormap_menu = widgets.Dropdown(description="colormap", layout=widgets.Layout(width="200px"))
        self._clip_slider = widgets.FloatSlider(min=50.0, max=100.0, step=0.5, description="clip at pct")
        self._update_colormap_menu()
        # Not a link: the menu's options change with ``signed``, which would reset its value.
        self._colormap_menu.observe(self._colormap_picked, names="value")
        links = [
            (self._method_menu, "method"), (self._layer_menu, "layer"), (self._signed_box, "signed"),
            (self._samples_slider, "samples"), (self._noise_slider, "noise"), (self._steps_slider, "steps"),
            (self._baseline_menu, "baseline"), (self._opacity_slider, "opacity"),
            (self._clip_slider, "clip_percentile"),
        ]
        for control, name in links:
            control.value = getattr(self, name)
            widgets.link((control, "value"), (self, name))
        self.class_picker = ClassPicker(self._pick_class, top_k=top_k)

        self._compare_kind = widgets.ToggleButtons(
            options=[("Methods", "method"), ("Classes", "class"), ("Layers", "layer")], value=self.compare_by,
            style={"button_width": "80px"},
        )
        widgets.link((self._compare_kind, "value"), (self, "compare_by"))
        self._compare_method_menu = widgets.SelectMultiple(
            options=[(METHOD_LABELS[m], m) for m in self.available_methods], rows=6, description="methods",
        )
        self._compare_class_menu = widgets.SelectMultiple(rows=6, description="classes")
        self._compare_layer_menu = widgets.SelectMultiple(
            options=[(r.path, r.path) for r in self._cam_layers], rows=6, description="layers",
            layout=widgets.Layout(width="360px"),
        )
        menus = ((self._compare_method_menu, "compare_methods"), (self._compare_class_menu, "compare_classes"),
                 (self._compare_layer_menu, "compare_layers"))
        for menu, name in menus:
            menu.observe(lambda change, name=name: self._menu_picked(name, change.new), names="value")
            self.observe(lambda change, menu=menu: self._trait_picked(menu, change.new), names=name)

    def _build_layout(self):
        size = 28
        self._image_view = TitledCanvas("Image", size, size)
        self._heat_view = TitledCanvas("Map", size, size)
        self._overlay_view = TitledCanvas("Overlay", size, size)
        self.image_canvas = self._image_view.canvas
        self.heatmap_canvas = self._heat_view.canvas
        self.overlay_canvas = self._overlay_view.canvas
        self.image_canvas.add_class("cnnwidgets-saliency-image")
        self.heatmap_canvas.add_class("cnnwidgets-saliency-heatmap")
        self.overlay_canvas.add_class("cnnwidgets-saliency-overlay")
        for canvas in (self.heatmap_canvas, self.overlay_canvas):
            canvas.on_mouse_move(lambda x, y: self._hover("main", x, y))
            canvas.on_mouse_out(lambda x, y: self._hover(None, x, y))
        self._legend_canvas = ImageCanvas(256, 12)
        self._legend_low, self._legend_mid, self._legend_high = (widgets.HTML() for _ in range(3))
        self._legend_labels = widgets.HBox(
            [self._legend_low, self._legend_mid, self._legend_high],
            layout=widgets.Layout(justify_content="space-between", width="256px"),
        )
        legend = widgets.VBox([self._legend_canvas, self._legend_labels],
                              layout=widgets.Layout(align_items="center", margin="2px 0 0 0"))
        heat_column = widgets.VBox([self._heat_view, legend], layout=widgets.Layout(align_items="center"))
        single = widgets.HBox([self._image_view, heat_column, self._overlay_view],
                              layout=widgets.Layout(align_items="flex-start"))
        self._compare_views = []
        self._compare_panels = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        self._compare_panels.add_class("cnnwidgets-saliency-compare")
        compare = widgets.VBox([
            widgets.HBox([self._compare_kind, self._compare_method_menu, self._compare_class_menu,
                          self._compare_layer_menu], layout=widgets.Layout(align_items="flex-start")),
            self._compare_panels,
        ])
        self._tabs = widgets.Tab([single, compare], titles=("Overlay", "Compare"))
        self._tabs.observe(lambda change: setattr(self, "compare", change.new == 1), names="selected_index")
        self.hover_label = widgets.HTML(layout=widgets.Layout(min_height="1.5em"))

        self._method_params = widgets.HBox([self._samples_slider, self._noise_slider, self._steps_slider,
                                            self._baseline_menu])
        header = widgets.HBox([self._method_menu, self._layer_menu, self._signed_box, self._stop_button,
                               self.progress], layout=widgets.Layout(align_items="center", flex_flow="row wrap"))
        display = widgets.HBox([self._opacity_slider, self._colormap_menu, self._clip_slider],
                               layout=widgets.Layout(flex_flow="row wrap"))
        self.children = [stylesheet(), header, self._method_params, self.class_picker, display, self._tabs,
                         self.hover_label, self.status]
        self.add_class("cnnwidgets-saliency")
        self._show_method_controls()
        self._show_compare_choices()

    def _show_method_controls(self):
        method = self.method
        show(self._layer_menu, method in CAM_METHODS or not self._cam_layers)
        show(self._signed_box, method not in CAM_METHODS)
        show(self._samples_slider, method == "smoothgrad")
        show(self._noise_slider, method == "smoothgrad")
        show(self._steps_slider, method == "integrated_gradients")
        show(self._baseline_menu, method == "integrated_gradients")
        show(self._method_params, method in ("smoothgrad", "integrated_gradients"))

    def _show_compare_choices(self):
        show(self._compare_method_menu, self.compare_by == "method")
        show(self._compare_class_menu, self.compare_by == "class")
        show(self._compare_layer_menu, self.compare_by == "layer")

    def _update_colormap_menu(self):
        names = list(DIVERGING_CHOICES if self._display_signed(self.method) else SEQUENTIAL_COLORMAPS)
        if self.colormap not in names:
            names.append(self.colormap)
        self._syncing = True
        try:
            if tuple(self._colormap_menu.options) != tuple(names):
                self._colormap_menu.options = names
            self._colormap_menu.value = self.colormap
        finally:
            self._syncing = False

    def _update_class_choices(self):
        names = self._class_names()
        order = np.argsort(-self._probabilities, kind="stable")
        options = [(f"{names[i]} ({100 * self._probabilities[i]:.1f}%)", int(i)) for i in order]
        self._syncing = True
        try:
            self._compare_class_menu.options = options
            self._compare_class_menu.value = tuple(self.compare_classes)
        finally:
            self._syncing = False

    def _colormap_picked(self, change):
        if not self._syncing and change.new is not None:
            self.colormap = change.new

    def _pick_class(self, index):
        self.class_index = index

    def _menu_picked(self, name, value):
        if not self._syncing:
            setattr(self, name, list(value))

    def _trait_picked(self, menu, value):
        self._syncing = True
        try:
            menu.value = tuple(value)
        finally:
            self._syncing = False

