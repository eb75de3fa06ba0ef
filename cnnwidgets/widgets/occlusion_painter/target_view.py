"""OcclusionPainter beyond classifiers: which output and target it watches, and how the scores are shown.

On a classifier nothing here shows and the painter is what it always was.
On any other model (a segmenter, a regressor, several heads):

* the shared :class:`~..common.target_panel.TargetPanel` beside the image
  chooses the output (several outputs), the class, the region (painted or
  dragged on the predicted mask) and, on a regression output, the direction
  explained; it lists the values under the occluder;
* class heads keep the bar chart of probabilities; regression outputs chart
  every value occluded against uncovered on a signed axis; dense outputs
  chart each class's mean score over the region explained and show the
  predicted mask under the occluder with that region outlined;
* the line under the chart reads the explained target's score, uncovered and
  occluded (:attr:`score`, :attr:`uncovered_score`).
"""

import html

import ipywidgets as widgets
import traitlets

from ...errors import CNNWidgetsError
from ...render import image_to_rgba, stack_panels, text_rgba
from ...render.masks import mask_rgba
from ..common.canvas import ImageCanvas, drawing
from ..common.style import ERROR, SUCCESS, TEXT, show
from ..common.target_panel import TargetPanel
from ..common.targets import RequestedTarget
from .outputs import class_order, region_means, vector_order
from .view import PREDICTED_ENTRY

__all__ = ["OcclusionTargets", "mask_view_scale"]
#: About how many screen pixels the mask view's longer side takes.
MASK_DISPLAY_SIZE = 192


class OcclusionTargets(RequestedTarget):
    """Base of :class:`~cnnwidgets.OcclusionPainter`: target traits, their panel and observers, non-classifier display."""

    # ======================================================== controls
    def _build_target_controls(self):
        # Non-classifiers: the shared panel chooses the output, class, region and sign (it sets our traits).
        self.target_panel = None if self.inspector.is_classifier else TargetPanel(self, display_size=192)
        self._target_column = self.target_panel or widgets.VBox()
        self.mask_canvas = ImageCanvas(8, 8)
        self.mask_canvas.add_class("cnnwidgets-occlusion-mask")
        self.mask_caption = widgets.HTML(
            f"<div style='font-size:12px;line-height:1.35;color:{TEXT}'>Predicted mask under the occluder "
            "(outlined: the region explained)</div>")
        self._mask_column = widgets.VBox([self.mask_canvas, self.mask_caption],
                                         layout=widgets.Layout(grid_gap="4px", width=f"{MASK_DISPLAY_SIZE + 40}px"))

    def _class_options(self):
        """The class dropdown's entries for the selected output."""
        default = {"classes": "predicted class", "map": "predicted class (largest area)",
                   "values": "first value"}[self.output_kind]
        names = self.output_class_names
        return [(default, PREDICTED_ENTRY)] + [(f"{i}: {n}" if n != str(i) else n, i) for i, n in enumerate(names)]

    def _show_target_controls(self):
        """Show what the selected output needs: the panel and the occluded mask, or (classifiers) the class menu."""
        classifier = self.inspector.is_classifier
        show(self._target_column, not classifier)
        show(self.class_dropdown, classifier)
        show(self._mask_column, self.output_kind == "map")
        # The predicted mask sits beside the image; a list of values after the chart (it wraps under a narrow row).
        columns = (self._target_column, self._scores_column)
        order = (self._image_column, *(columns if self.output_kind == "map" else columns[::-1]))
        if self._view_row.children != order:
            self._view_row.children = order

    @traitlets.observe("output")
    def _output_selected(self, change):
        # (overrides RequestedTarget's observer, so its kind and reset come first: observers run in no set order)
        super()._output_selected(change)
        if not self._ready:
            return
        self.class_dropdown.options = self._class_options()
        self.class_dropdown.value = PREDICTED_ENTRY  # (the output's own observer cleared class_index)
        self._sweep_runner.cancel()
        self._clear_heatmap()
        self._uncovered_target = (None, None, None)
        self._read_prediction()
        self._request_scores()

    @traitlets.observe("region", "value_sign")
    def _on_target_detail(self, change):
        if self._ready:
            self._request_scores()

    # ====================================================== prediction
    def _read_prediction(self):
        """Non-classifiers: read the selected output for the image (the default class and region follow it).

        Returns False (the message shown) when the output cannot be read.
        """
        if self.inspector.is_classifier:
            return True
        self._predicted_for = None
        try:
            self._update_prediction(self.image)
            self._predicted_for = (self.image, self.output)
        except CNNWidgetsError as exc:
            self.show_error(exc)
            return False
        finally:
            self._show_target_controls()
        return True

    # ========================================================= display
    def _score_phrase(self):
        """``(what, direction)``: the explained score in words and what a positive map value means (legend)."""
        name = self.output_class_names[self.target] if self.target is not None else "?"
        output = self.output
        if self.output_kind == "values":
            entry = f"{output}[{name}]"
            return (f"drop of {entry}", "lowers it") if self.value_sign > 0 else (f"rise of {entry}", "raises it")
        if self.output_kind == "map":
            where = self.describe_target().split(" over ", 1)[-1]
            return f"drop of {name}'s score summed over {where}", "lowers that score"
        return f"drop of p({name}) on {output}", "lowers the score"

    def _show_target_scores(self, result):
        """Draw a non-classifier's result (a :class:`~.compute.TargetScores`)."""
        self._show_run("move", result.run)
        with self.hold_trait_notifications():
            self.set_trait("probabilities", result.values if result.kind == "classes" else None)
            self.set_trait("occluded_output", result.values)
            self.set_trait("uncovered_score", result.base_score)
            self.set_trait("score", result.score)
        names = list(self.inspector.output_class_names(result.output))
        index = result.index
        drop = result.base_score - result.score
        tolerance = 0.005 * max(1.0, abs(result.base_score))
        if result.kind == "classes":
            order = class_order(result.base_values, result.values, index, self.chart.top_k)
            self.chart.update(result.values, names, reference=result.base_values, highlight=index, order=order,
                              title="Class scores (outline: uncovered)")
            head = f"p(<b>{html.escape(names[index])}</b>) = <b>{result.score:.3f}</b>"
            rest = f"uncovered {result.base_score:.3f}, drop {drop:+.3f}"
            plain = f"p({names[index]}) = {result.score:.3f}  ({rest})"
        elif result.kind == "values":
            order = vector_order(len(names), index, self.chart.top_k)
            self.chart.update(result.values, names, reference=result.base_values, highlight=index, order=order,
                              signed=True, title=f"{self.output} (outline: uncovered)", value_label="value")
            value, base = float(result.values[index]), float(result.base_values[index])
            head = f"{html.escape(self.output)}[<b>{html.escape(names[index])}</b>] = <b>{value:.4g}</b>"
            rest = f"uncovered {base:.4g}, change {value - base:+.4g}"
            plain = f"{self.output}[{names[index]}] = {value:.4g}  ({rest})"
        else:
            means = region_means(result.values, result.region)
            base_means = region_means(result.base_values, result.region)
            probabilities = bool(self.inspector.output_activations[result.output])
            self.chart.update(means, names, reference=base_means, highlight=index, order=range(len(names)),
                              signed=not probabilities, value_label="mean score",
                              title="Region means (outline: uncovered)")
            pixels = int(result.region.sum())
            head = f"<b>{html.escape(names[index])}</b> summed over {pixels} px = <b>{result.score:.4g}</b>"
            rest = f"uncovered {result.base_score:.4g}, drop {drop:+.4g}"
            plain = f"{names[index]} over {pixels} px = {result.score:.4g}  ({rest})"
            self._draw_mask(result.mask, result.region, result.image)
        if result.kind != "map":  # (the score itself is read under the chart, not twice)
            self.target_panel.show_values(None if result.run is None else result.values, result.base_values)
        colour = ERROR if drop > tolerance else (SUCCESS if drop < -tolerance else TEXT)
        self._target_text = plain
        self.target_label.value = (f"<div style='font-size:13px'>{head}<br><span style='color:{colour}'>{rest}</span>"
                                   "</div>")

    def _draw_mask(self, mask, region, image):
        """The mask predicted under the occluder, the occluded image faintly beneath, the region outlined.

        It is sent at twice the output's resolution (enough for a crisp
        outline) and enlarged by the browser: a move sends ~16 KB for a
        32x32 output instead of ~150 KB at screen size.
        """
        factor, zoom = mask_view_scale(max(mask.shape))
        picture = image_to_rgba(image, self.inspector.input_range)
        with drawing():
            self.mask_canvas.zoom = zoom
            self.mask_canvas.show(mask_rgba(mask, max(2, len(self.output_class_names)), picture, region, factor))

    def _target_snapshot_panels(self):
        """The target panel's mask and the mask under the occluder (map outputs), for :meth:`snapshot`."""
        if self.output_kind != "map" or not self.mask_canvas.image.any():
            return []
        white = (255, 255, 255, 255)
        return [stack_panels([self.target_panel.mask_image, text_rgba("predicted mask", height=12)], axis=0, gap=4,
                             background=white),
                stack_panels([self.mask_canvas.image, text_rgba("under the occluder", height=12)], axis=0, gap=4,
                             background=white)]


def mask_view_scale(side):
    """``(factor, zoom)`` of the mask view for an output whose longer side is ``side`` pixels.

    The mask is drawn at ``factor`` canvas pixels per output pixel (2 where it
    is enlarged, so its outline stays thin) and the browser enlarges the canvas
    ``zoom`` times, crisply, to about :data:`MASK_DISPLAY_SIZE` screen pixels.
    """
    total = MASK_DISPLAY_SIZE / float(side)
    if total < 2:
        return 1, min(1.0, total)
    total = 2 * max(1, round(total / 2))  # an even enlargement: a whole zoom over factor 2
    return 2, total / 2.0
