"""OcclusionPainter's view: controls, the layered canvas, the score chart, the map and its legend."""

import html

import ipywidgets as widgets
import traitlets

from ...backend.occlusion import FILLS
from ...render import image_to_rgba, stack_panels, text_rgba
from ...render.heatmap import heatmap_legend, heatmap_range, heatmap_rgba
from ..common.canvas import ImageCanvas
from ..common.charts import ClassScoresChart
from ..common.style import CARD_PADDING, ERROR, SUCCESS, TEXT, card, stylesheet
from .canvas import OcclusionCanvas
from .geometry import display_factor
from .outputs import class_order

__all__ = ["OcclusionView", "COLORMAPS", "PREDICTED_ENTRY"]

#: The class dropdown's value for "the predicted class" (``class_index = None``).
PREDICTED_ENTRY = -1

#: Colormaps offered for the occlusion map (any matplotlib name is accepted).
COLORMAPS = ("bwr", "RdBu_r", "coolwarm", "seismic")


class OcclusionView:
    """Mixin of :class:`~cnnwidgets.OcclusionPainter`: its controls and canvases, and drawing into them."""

    def _build_controls(self, top_k):
        height, width = self.image.shape[:2]
        self._build_target_controls()
        self.mode_buttons = widgets.ToggleButtons(
            options=[("Square", "square"), ("Paint", "paint")], value=self.mode,
            tooltips=["Drag a square over the image", "Paint an occluder of any shape"],
            style={"button_width": "70px"}, layout=widgets.Layout(width="auto"),
        )
        self.brush_buttons = widgets.ToggleButtons(
            options=[("Brush", False), ("Eraser", True)], value=self.erase, disabled=self.mode != "paint",
            style={"button_width": "64px"}, layout=widgets.Layout(width="auto"),
        )
        self.reset_button = widgets.Button(description="Reset", tooltip="Remove the occluder",
                                           layout=widgets.Layout(width="70px"))
        self.size_slider = widgets.IntSlider(
            value=self.patch, min=1, max=min(height, width), description="Size",
            tooltip="Side of the square / width of the brush, in image pixels (mouse wheel)",
            layout=widgets.Layout(width="260px"), style={"description_width": "40px"},
        )
        self.fill_dropdown = widgets.Dropdown(options=list(FILLS), value=self.fill, description="Fill",
                                              layout=widgets.Layout(width="150px"),
                                              style={"description_width": "30px"})
        self.class_dropdown = widgets.Dropdown(
            options=self._class_options(),
            value=PREDICTED_ENTRY if self.class_index is None else self.class_index, description="Watch", layout=widgets.Layout(width="230px"),
            style={"description_width": "45px"},
        )
        # (narrower beside the target panel of a non-classifier, so the row fits a notebook's width)
        chart_width = 340 if self.inspector.is_classifier else 250
        self.chart = ClassScoresChart(top_k=top_k, width=chart_width, height=260, title="Class scores (outline: uncovered)")
        self.target_label = widgets.HTML(layout=widgets.Layout(width=f"{chart_width}px", min_height="2.6em"))
        self.hover_label = widgets.HTML(layout=widgets.Layout(min_height="1.4em"))
        # how the last sweep / move ran: full or incremental inference, and the measured speed-up
        self.compute_label = widgets.HTML(layout=widgets.Layout(min_height="1.4em"))

        self.sweep_button = widgets.Button(description="Sweep", icon="th", button_style="primary",
                                           tooltip="Compute the occlusion map at this size and stride",
                                           layout=widgets.Layout(width="90px"))
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True,
                                          layout=widgets.Layout(width="80px"))
        self.stride_slider = widgets.IntSlider(
            value=self.stride, min=1, max=min(height, width), description="Stride",
            layout=widgets.Layout(width="260px"), style={"description_width": "45px"},
        )
        self.show_map_checkbox = widgets.Checkbox(value=self.show_map, description="Show map", indent=False,
                                                  layout=widgets.Layout(width="100px"))
        self.opacity_slider = widgets.FloatSlider(
            value=self.opacity, min=0.0, max=1.0, step=0.05, description="Opacity",
            layout=widgets.Layout(width="240px"), style={"description_width": "55px"},
        )
        self.colormap_dropdown = widgets.Dropdown(options=list(dict.fromkeys((self.colormap, *COLORMAPS))), value=self.colormap,
                                              layout=widgets.Layout(width="110px"))
        self.legend = ImageCanvas(8, 8)
        self.legend_caption = widgets.HTML()
        self.legend_box = widgets.VBox([card(self.legend), self.legend_caption],
                                       layout=widgets.Layout(display="none"))

        for widget, name in ((self.chart.figure, "chart"), (self.target_label, "target"), (self.hover_label, "hover"),
                             (self.sweep_button, "sweep"), (self.stop_button, "stop"), (self.legend, "legend"),
                             (self.mode_buttons, "mode"), (self.size_slider, "size"), (self.compute_label, "compute")):
            widget.add_class(f"cnnwidgets-occlusion-{name}")

        widgets.link((self.mode_buttons, "value"), (self, "mode"))
        widgets.link((self.brush_buttons, "value"), (self, "erase"))
        widgets.link((self.size_slider, "value"), (self, "patch"))
        widgets.link((self.fill_dropdown, "value"), (self, "fill"))
        # (a Dropdown reads the value None as "nothing selected": the predicted class is -1 there)
        traitlets.link((self.class_dropdown, "value"), (self, "class_index"),
                       transform=(lambda v: None if v == PREDICTED_ENTRY else v, lambda v: PREDICTED_ENTRY if v is None else v))
        widgets.link((self.stride_slider, "value"), (self, "stride"))
        widgets.link((self.show_map_checkbox, "value"), (self, "show_map"))
        widgets.link((self.opacity_slider, "value"), (self, "opacity"))
        widgets.link((self.colormap_dropdown, "value"), (self, "colormap"))
        self.reset_button.on_click(lambda _: self.reset())
        self.sweep_button.on_click(lambda _: self._start_sweep())
        self.stop_button.on_click(lambda _: self._sweep_runner.cancel())

    def _build_canvas(self, height, width):
        self.canvas = OcclusionCanvas(height, width, display_factor(height, width, self._display_size))
        layer = self.canvas.mouse_layer
        layer.on_mouse_down(self._guarded(self._on_mouse_down))
        layer.on_mouse_move(self._guarded(self._on_mouse_move))
        layer.on_mouse_up(self._guarded(self._on_mouse_up))
        layer.on_mouse_out(self._guarded(self._on_mouse_out))
        layer.on_mouse_wheel(self._guarded(self._on_mouse_wheel))

    def _build_layout(self):
        gap = widgets.Layout(grid_gap="6px", align_items="center")
        tools = widgets.HBox([self.mode_buttons, self.brush_buttons, self.reset_button], layout=gap)
        settings = widgets.HBox([self.size_slider, self.fill_dropdown, self.class_dropdown], layout=gap)
        # fixed width: the legend caption and the hover text wrap instead of pushing the chart aside
        self._image_column = widgets.VBox([self.canvas.widget, self.legend_box, self.hover_label],
                                          layout=widgets.Layout(grid_gap="4px", width=self.canvas.widget.layout.width,
                                                                flex="0 0 auto"))
        self._scores_column = widgets.VBox([self.chart.figure, self.target_label, self._mask_column])
        # (wraps where the notebook is too narrow; _show_target_controls orders the columns per output kind)
        self._view_row = view = widgets.HBox([self._image_column, self._target_column, self._scores_column],
                                             layout=widgets.Layout(grid_gap="16px", flex_flow="row wrap"))
        sweep = widgets.HBox([self.sweep_button, self.stop_button, self.stride_slider, self.progress], layout=gap)
        overlay = widgets.HBox([self.show_map_checkbox, self.opacity_slider, self.colormap_dropdown], layout=gap)
        self.children = [stylesheet(), tools, settings, view, sweep, overlay, self.compute_label, self.status]
        self._show_target_controls()

    def _class_names(self):
        return list(self.output_class_names)
    # ================================================================ drawing
    def _show_image(self):
        rgba = image_to_rgba(self.image, self.inspector.input_range)
        self.canvas.show_image(rgba, self._fill_rgba())
        self._show_occluder()

    def _fill_rgba(self):
        height, width = self.image.shape[:2]
        filled = self.inspector.occluded_image(self.image, box=(0, 0, height, width), fill=self.fill)
        return image_to_rgba(filled, self.inspector.input_range)

    def _show_occluder(self):
        if self.mode == "square":
            self.canvas.show_box(self.box)
        else:
            self.canvas.show_mask(self._mask)

    def _current_occluder(self):
        """``(box, mask)`` to pass to the inspector for the current mode (``None`` where unused)."""
        if self.mode == "square":
            return self.box, None
        return None, (self._mask.copy() if self._mask.any() else None)

    def _show_scores(self, result):
        base, probs, target, predicted, run = result
        self.set_trait("predicted_class", predicted)
        self._show_run("move", run)
        with self.hold_trait_notifications():
            self.set_trait("probabilities", probs)
            self.set_trait("occluded_output", probs)
            self.set_trait("output_values", base)
            self.set_trait("uncovered_score", float(base[target]))
            self.set_trait("score", float(probs[target]))
        names = self._class_names()
        order = class_order(base, probs, target, self.chart.top_k)
        self.chart.update(probs, names, reference=base, highlight=target, order=order)
        drop = float(base[target] - probs[target])
        self._target_text = (
            f"p({names[target]}) = {probs[target]:.3f}  (uncovered {base[target]:.3f}, drop {drop:+.3f})"
        )
        colour = ERROR if drop > 0.005 else (SUCCESS if drop < -0.005 else TEXT)
        self.target_label.value = (
            f"<div style='font-size:13px'>p(<b>{html.escape(names[target])}</b>) = "
            f"<b>{probs[target]:.3f}</b><br>uncovered {base[target]:.3f}, "
            f"<span style='color:{colour}'>drop {drop:+.3f}</span></div>"
        )

    def _set_sweep_busy(self, busy):
        self._set_busy(busy)
        self.sweep_button.disabled = busy
        self.stop_button.disabled = not busy

    def _draw_heatmap(self):
        values, info = self.heatmap, self._sweep_info
        size = self.canvas.image_rgba.shape[:2]
        layer = heatmap_rgba(values, self.colormap, self.opacity, "symmetric", size=size, fade=True) if self.show_map else None
        self.canvas.show_heatmap(layer)
        low, high = heatmap_range(values, "symmetric")
        # (on a card as wide as the image: the legend leaves room for the card's padding)
        legend = heatmap_legend(low, high, self.colormap, width=size[1] - 2 * CARD_PADDING)
        self.legend.show(legend)
        what, direction = (html.escape(text) for text in info["what"])
        self.legend_caption.value = (
            f"<div style='font-size:12px;line-height:1.35'>{what[:1].upper()}{what[1:]} when a {info['patch']}x"
            f"{info['patch']} {info['fill']} square covers each pixel (stride {info['stride']}). Positive: covering "
            f"{direction}; negative: the opposite. Hover to read values.</div>"
        )
        self.legend_box.layout.display = "flex" if self.show_map else "none"

    def _clear_heatmap(self):
        self.set_trait("heatmap", None)
        self._sweep_info = None
        self._hover_pixel = None
        self.hover_label.value = ""
        self.canvas.show_heatmap(None)
        self.legend_box.layout.display = "none"

    # =============================================================== snapshot
    def _snapshot_panels(self):
        white = (255, 255, 255, 255)
        left = [self.canvas.composite()]
        if self.heatmap is not None and self.show_map:
            left.append(self.legend.image)
        right = [self.chart.snapshot() if len(self.chart.names) else None]
        if self._target_text:
            right.append(text_rgba(self._target_text, height=14))
        return [stack_panels(left, axis=0, gap=4, background=white), *self._target_snapshot_panels(),
                stack_panels(right, axis=0, gap=4, background=white)]

