"""SaliencyOverlay's view: drawing a result into the panels, the message, hover readout, snapshot.

The controls and the panels themselves are built in :mod:`.layout`.
"""

import numpy as np

from ...backend.methods import get_method
from ...render import colorbar
from ...render.panels import bar_chart_rgba, stack_panels
from ...render.saliency import display_zoom, legend_rgba, render_heatmap, titled_panel, zoom_rgba
from ..common.canvas import drawing
from .panels import TitledCanvas

__all__ = ["SaliencyView", "COMPARE_ROW_WIDTH", "COMPARE_PER_ROW"]

#: Screen pixels the compared panels share in one row.
COMPARE_ROW_WIDTH = 900
#: Most compared panels in one row (more wrap onto the next rows).
COMPARE_PER_ROW = 6


class SaliencyView:
    """Mixin of :class:`~cnnwidgets.SaliencyOverlay`: drawing results into its panels."""

    def _show_result(self, result):
        """Draw a computed result (the runner calls this only for the latest request)."""
        with drawing():
            self._result = result
            self._redraw()
        self.set_trait("heatmap", result.values)
        self.hover_label.value = ""  # (it read the previous map; the next mouse move reads this one)
        self._describe(result)

    def _render(self, image_rgba, spec, values):
        return render_heatmap(image_rgba, values, self.colormap, spec.signed, self.clip_percentile, self.opacity)

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
            for view in (self._image_view, self._heat_view, self._overlay_view):
                view.fit_title()
            low, high = rendering.limits
            self._legend_low.value = f"<small>{low:.3g}</small>"
            self._legend_mid.value = "<small>0</small>" if low < 0 < high else ""
            self._legend_high.value = f"<small>{high:.3g}</small>"
            self._draw_compare(result)

    def _draw_compare(self, result):
        views = self._compare_views_for(len(result.compared))
        height, width = result.request.image_rgba.shape[:2]
        # up to COMPARE_PER_ROW panels side by side in one row, up to the size of the main panels
        per_row = max(1, min(len(views), COMPARE_PER_ROW))
        zoom = display_zoom(height, width, largest=max(96, min(280, COMPARE_ROW_WIDTH // per_row - 12)))
        for view, (spec, values) in zip(views, result.compared):
            rendering = self._render(result.request.image_rgba, spec, values)
            view.title = spec.title
            if view.canvas.zoom != zoom:
                view.canvas.zoom = zoom
            view.canvas.show(rendering.overlay)
            view.fit_title()
        if views:  # a row holds per_row panels (each with its 4 px margins), the rest wrap
            row = f"{per_row * (views[0].canvas.css_size[1] + 8)}px"
            if self._compare_panels.layout.max_width != row:
                self._compare_panels.layout.max_width = row

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
        method = get_method(spec.method)
        if not self.compare and not np.any(result.values):
            why = (f"{method.label} found no positive evidence for this class at this layer; try another layer or class"
                   if method.needs_layer else
                   f"{method.label} sees no change of the score (a saturated output or dead ReLUs); "
                   "try a method that averages over many inputs, or another class")
            self.show_message(f"The map for {spec.explains} is zero everywhere: {why}.", "warning")
            return
        if self.compare and not result.compared:
            self.show_message("Select what to compare (two or more entries) in the Compare tab.", "info")
            return
        where = f" at layer {spec.layer}" if spec.layer else ""
        note = " Methods that explain a layer are off: the model has no spatial (H, W, C) layer." \
            if self._cam_problem else ""
        what = spec.explains
        scores = self._class_scores()
        if self.inspector.is_classifier or self.output_kind == "classes":
            probability = scores[spec.class_index] if scores is not None else np.nan
            what += f" (p = {probability:.3f})"
        if len(self.inspector.output_names) > 1:
            what += f" of output {self.output!r}"
        self.show_message(f"{method.label} for {what}{where}.{note}")

    def _prediction_title(self):
        """The image's title on a non-classifier: what the selected output predicts."""
        names, top = self._class_names(), self.predicted_class
        if self.output_kind == "map":
            return f"Image \u00b7 {names[top]} on {100 * self._class_scores()[top]:.0f}% of the map"
        if self.output_kind == "values":
            values = self.output_values
            shown = ", ".join(f"{name} = {value:.3g}" for name, value in zip(names[:3], values[:3]))
            return f"Image \u00b7 {shown}" + (" \u2026" if len(values) > 3 else "")
        return f"Image \u00b7 predicted {names[top]} ({100 * self.probabilities[top]:.1f}%)"

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
        if self._result is not None and self.inspector.is_classifier:
            title += f" \u00b7 {self._result.request.main.explains}"
        heat = titled_panel(zoom_rgba(self.heatmap_canvas.image, zoom), title)
        if self._rendering is not None:
            legend = legend_rgba(self.colormap, self._rendering.limits, width=heat.shape[1])
            heat = stack_panels([heat, legend], axis=0, gap=4, background=(255, 255, 255, 255))
        panels = [
            titled_panel(zoom_rgba(self.image_canvas.image, zoom), self._image_view.title),
            heat,
            titled_panel(zoom_rgba(self.overlay_canvas.image, zoom), "Overlay"),
        ]
        if self.target_panel is not None:
            panels.insert(1, self._target_snapshot())
        return panels

    def _target_snapshot(self):
        """The target panel as a picture: the mask, or the values (class probabilities) as bars."""
        if self.output_kind == "map":
            return titled_panel(self.target_panel.mask_image, "Predicted mask")
        rows = self.target_panel.rows
        order = rows.order
        names, values = self._class_names(), rows.values[order]
        chosen = order.index(self.target) if self.target in order else None
        size = (max(60, 22 * len(order)), 220)
        if self.output_kind == "values":  # bars of the magnitude; the signed value in the label
            labels = [f"{names[i]} = {v:.4g}" for i, v in zip(order, values)]
            chart = bar_chart_rgba(np.abs(values), labels, size=size, highlight=chosen,
                                   vmax=max(float(np.abs(values).max()), 1e-12), value_format=None)
        else:
            chart = bar_chart_rgba(values, [names[i] for i in order], size=size, highlight=chosen)
        title = "Predicted values" if self.output_kind == "values" else "Class probabilities"
        return titled_panel(chart, f"{title} ({'down' if self.value_sign < 0 else 'up'})"
                            if self.output_kind == "values" else title)
