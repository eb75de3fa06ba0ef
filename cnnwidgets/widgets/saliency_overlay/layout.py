"""SaliencyOverlay's layout: its controls and panels, built from the catalogue, and what they show.

From top to bottom: the method picker (every catalogue method the model can
run, labelled with its family), the layer chooser (for methods that explain
a layer), Stop and the progress bar (for long methods and several maps); one
line describing the method with its paper; the selected method's parameter
controls; the class picker (classifiers); the display settings; the Overlay
and Compare tabs (on other models the Overlay tab holds the target panel
beside the image: the predicted mask or the values); the hover readout and
the status line. :meth:`SaliencyLayout._sections`
lists the rows, so a later panel is one more entry there.
"""

import html

import ipywidgets as widgets
import numpy as np
import traitlets

from ...backend.methods import get_method
from ..common.canvas import ImageCanvas
from ..common.style import show, stylesheet
from ..common.target_panel import TargetPanel
from .compute import shape_text
from .controls import DIVERGING_CHOICES, SEQUENTIAL_COLORMAPS, ClassPicker
from .methods import method_info_html, method_options
from .panels import TitledCanvas
from .params import ParamControls

__all__ = ["SaliencyLayout", "PANEL_SIDE", "PANEL_SIDE_WITH_TARGET"]

#: Longest side of the image, map and overlay panels on screen, in pixels.
PANEL_SIDE = 280
#: The same beside the target panel (four panels in a row on a non-classifier).
PANEL_SIDE_WITH_TARGET = 200


class SaliencyLayout:
    """Mixin of :class:`~cnnwidgets.SaliencyOverlay`: building its controls and panels, showing what applies."""

    def _build_controls(self, top_k):
        options = method_options(self.available_methods)
        self._method_menu = widgets.Dropdown(options=options, description="Method",
                                             layout=widgets.Layout(width="310px"))
        self._method_menu.add_class("cnnwidgets-method-picker")
        self._layer_menu = widgets.Dropdown(
            options=[(f"{r.path} ({shape_text(r.output_shape)})", r.path) for r in self._cam_layers]
            or [("(no spatial layer)", "")],
            description="Layer", disabled=not self._cam_layers, layout=widgets.Layout(width="330px"),
        )
        self._stop_button = widgets.Button(description="Stop", icon="stop", layout=widgets.Layout(width="80px"),
                                           tooltip="stop the running computation")
        self._stop_button.add_class("cnnwidgets-stop")
        self._stop_button.on_click(lambda _: self.stop())
        self._method_info = widgets.HTML(layout=widgets.Layout(margin="0 0 2px 8px"))
        self._params_box = widgets.Box(layout=widgets.Layout(margin="0 0 0 8px"))
        self._param_controls = {}  # method name -> ParamControls, built when the method is first shown
        self._opacity_slider = widgets.FloatSlider(min=0.0, max=1.0, step=0.05, description="opacity")
        self._colormap_menu = widgets.Dropdown(description="colormap", layout=widgets.Layout(width="200px"))
        self._clip_slider = widgets.FloatSlider(min=50.0, max=100.0, step=0.5, description="clip at pct")
        self._update_colormap_menu()
        # Not a link: the menu's options change with the sign of the map, which would reset its value.
        self._colormap_menu.observe(self._colormap_picked, names="value")
        links = [(self._method_menu, "method"), (self._layer_menu, "layer"), (self._opacity_slider, "opacity"),
                 (self._clip_slider, "clip_percentile")]
        for control, name in links:
            control.value = getattr(self, name)
            widgets.link((control, "value"), (self, name))
        self.class_picker = ClassPicker(self._pick_class, top_k=top_k)
        self._build_compare_controls(options)

    def _build_compare_controls(self, options):
        self._compare_kind = widgets.ToggleButtons(
            options=[("Methods", "method"), ("Classes", "class"), ("Layers", "layer")], value=self.compare_by,
            style={"button_width": "80px"},
        )
        widgets.link((self._compare_kind, "value"), (self, "compare_by"))
        self._compare_method_menu = widgets.SelectMultiple(
            options=options, rows=min(10, len(options)), description="methods", layout=widgets.Layout(width="330px"),
        )
        self._compare_method_menu.add_class("cnnwidgets-compare-methods")
        self._compare_class_menu = widgets.SelectMultiple(rows=6, description="classes")
        self._compare_layer_menu = widgets.SelectMultiple(
            options=[(r.path, r.path) for r in self._cam_layers], rows=6, description="layers",
            layout=widgets.Layout(width="360px"),
        )
        self._compare_note = widgets.HTML(layout=widgets.Layout(margin="0 0 0 8px", max_width="330px"))
        menus = ((self._compare_method_menu, "compare_methods"), (self._compare_class_menu, "compare_classes"),
                 (self._compare_layer_menu, "compare_layers"))
        for menu, name in menus:
            menu.observe(lambda change, name=name: self._menu_picked(name, change.new), names="value")
            self.observe(lambda change, menu=menu: self._trait_picked(menu, change.new), names=name)

    @property
    def _panel_side(self):
        return PANEL_SIDE if self.inspector.is_classifier else PANEL_SIDE_WITH_TARGET

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
        self.target_panel = None
        panels = [self._image_view, heat_column, self._overlay_view]
        if not self.inspector.is_classifier:
            self.target_panel = TargetPanel(self, display_size=self._panel_side)
            self.target_panel.layout.margin = "0 8px"
            panels.insert(1, self.target_panel)
            show(self.class_picker, False)
        single = widgets.HBox(panels, layout=widgets.Layout(align_items="flex-start", flex_flow="row wrap"))
        self._compare_views = []
        self._compare_panels = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        self._compare_panels.add_class("cnnwidgets-saliency-compare")
        compare = widgets.VBox([
            widgets.HBox([self._compare_kind, self._compare_method_menu, self._compare_class_menu,
                          self._compare_layer_menu, self._compare_note],
                         layout=widgets.Layout(align_items="flex-start", flex_flow="row wrap")),
            self._compare_panels,
        ])
        self._tabs = widgets.Tab([single, compare], titles=("Overlay", "Compare"))
        self._tabs.observe(lambda change: setattr(self, "compare", change.new == 1), names="selected_index")
        self.hover_label = widgets.HTML(layout=widgets.Layout(min_height="1.5em"))
        self.children = self._sections()
        self.add_class("cnnwidgets-saliency")
        self._show_method_controls()
        self._show_compare_choices()

    def _sections(self):
        """The widget's rows, top to bottom."""
        header = widgets.HBox([self._method_menu, self._layer_menu, self._stop_button, self.progress],
                              layout=widgets.Layout(align_items="center", flex_flow="row wrap"))
        display = widgets.HBox([self._opacity_slider, self._colormap_menu, self._clip_slider],
                               layout=widgets.Layout(flex_flow="row wrap"))
        return [stylesheet(), header, self._method_info, self._params_box, self.class_picker, display, self._tabs,
                self.hover_label, self.status]

    # ------------------------------------------------------------- what applies
    def _param_controls_for(self, name):
        controls = self._param_controls.get(name)
        if controls is None:
            def moved(param, value):
                self._param_moved(name, param, value)

            controls = self._param_controls[name] = ParamControls(get_method(name), moved)
        return controls

    def _show_method_controls(self):
        """Show the selected method's description, its parameter controls, and the layer chooser if it needs one."""
        spec = get_method(self.method)
        show(self._layer_menu, spec.needs_layer or not self._cam_layers)
        self._method_info.value = method_info_html(spec.name)
        if spec.params:
            controls = self._param_controls_for(spec.name)
            controls.set_values(self.method_params)
            if self._params_box.children != (controls,):
                self._params_box.children = (controls,)
        show(self._params_box, bool(spec.params))
        self._show_stop()

    def _show_stop(self):
        """Stop appears when a long method is among the maps asked for, or Compare asks for several."""
        names = [self.method]
        several = False
        if self.compare:
            if self.compare_by == "method":
                names += list(self.compare_methods)
                several = len(self.compare_methods) > 1
            elif self.compare_by == "class":
                several = len(self.compare_classes) > 1
            elif self._cam_layers:
                names.append(self._layer_method())
                several = len(self.compare_layers) > 1
        show(self._stop_button, several or any(get_method(n).long for n in names))

    def _show_compare_choices(self):
        show(self._compare_method_menu, self.compare_by == "method")
        show(self._compare_class_menu, self.compare_by == "class")
        show(self._compare_layer_menu, self.compare_by == "layer")
        if self.compare_by == "method":
            where = f"Methods that explain a layer explain {self.layer}. " if self.layer else ""
            note = f"{where}Each method uses its own parameters: pick it under Method to change them."
        elif self.compare_by == "class":
            note = "The selected method, for each class."
            if not self.inspector.is_classifier and self.output_kind == "map":
                note = ("The selected method, for each class: over the painted region if there is one, else over "
                        "its own predicted area.")
            elif not self.inspector.is_classifier and self.output_kind == "values":
                note = "The selected method, for each value (with the sign chosen)."
        else:
            note = f"{get_method(self._layer_method()).label} at each layer."
        self._compare_note.value = f"<div style='font-size:12px;line-height:1.4'>{html.escape(note)}</div>"
        self._show_stop()

    def _update_colormap_menu(self):
        names = list(DIVERGING_CHOICES if self._display_signed() else SEQUENTIAL_COLORMAPS)
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
        """The Compare tab's classes: those of the selected output, labelled with their scores."""
        count = len(self._class_names())
        scores = self._class_scores()
        if scores is None or (not self.inspector.is_classifier and self.output_kind == "values"):
            order = range(count)
        else:
            order = np.argsort(-np.asarray(scores), kind="stable")
        options = [(self._class_label(int(i)), int(i)) for i in order]
        self._syncing = True
        try:
            self._compare_class_menu.options = options
            self._compare_class_menu.value = tuple(c for c in self.compare_classes if c < count)
        finally:
            self._syncing = False

    # ---------------------------------------------------------- control events
    def _param_moved(self, method, name, value):
        """A parameter control moved: set it on the method (a refused value is shown and the control reset)."""
        if method != self.method:
            return
        try:
            self.method_params = {name: value}
        except traitlets.TraitError:  # the validator has shown the catalogue's message
            self._param_controls_for(method).set_values(self.method_params)

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
