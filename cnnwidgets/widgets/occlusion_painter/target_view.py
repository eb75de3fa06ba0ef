"""OcclusionPainter beyond classifiers: which output and target it watches, and how the scores are shown.

On a classifier nothing here shows and the painter is what it always was.
On any other model (a segmenter, a regressor, several heads):

* an output picker (several outputs) and, on a regression output, the
  direction explained (up: the value, down: its negative);
* the class dropdown lists the selected output's classes, channels or values;
* class heads keep the bar chart of probabilities; regression outputs chart
  every value occluded against uncovered on a signed axis; dense outputs
  chart each class's mean score over the region explained and show the
  predicted mask under the occluder with that region outlined;
* the line under the chart reads the explained target's score, uncovered and
  occluded (:attr:`score`, :attr:`uncovered_score`).
"""

import html

import ipywidgets as widgets

from ...errors import CNNWidgetsError
from ...render import stack_panels, text_rgba
from ..common.canvas import ImageCanvas
from ..common.style import ERROR, SUCCESS, TEXT, show
from .outputs import class_order, mask_rgba, region_means, vector_order
from .view import PREDICTED_ENTRY

__all__ = ["OcclusionTargets"]
#: About how many screen pixels the mask view's longer side takes.
MASK_DISPLAY_SIZE = 168


class OcclusionTargets:
    """Mixin of :class:`~cnnwidgets.OcclusionPainter`: target controls, observers and the non-classifier display."""

    # ======================================================== controls
    def _build_target_controls(self):
        insp = self.inspector
        self.output_dropdown = widgets.Dropdown(
            options=list(insp.output_names), value=self.output, description="Output",
            layout=widgets.Layout(width="230px"), style={"description_width": "50px"})
        self.sign_buttons = widgets.ToggleButtons(
            options=[("Value up", 1), ("Value down", -1)], value=self.value_sign,
            tooltips=["Explain what raises the value", "Explain what lowers the value"],
            style={"button_width": "90px"}, layout=widgets.Layout(width="auto"))
        self.target_caption = widgets.HTML(layout=widgets.Layout(min_height="1.4em"))
        self.mask_canvas = ImageCanvas(8, 8)
        self.mask_caption = widgets.HTML(
            "<div style='font-size:12px;line-height:1.35'>Predicted mask under the occluder "
            "(red outline: the region explained)</div>")
        self._mask_column = widgets.VBox([self.mask_canvas, self.mask_caption],
                                         layout=widgets.Layout(grid_gap="4px", width=f"{MASK_DISPLAY_SIZE}px"))
        for widget, name in ((self.output_dropdown, "output"), (self.sign_buttons, "sign"),
                             (self.mask_canvas, "mask"), (self.target_caption, "target-caption")):
            widget.add_class(f"cnnwidgets-occlusion-{name}")
        widgets.link((self.output_dropdown, "value"), (self, "output"))
        widgets.link((self.sign_buttons, "value"), (self, "value_sign"))
        self._target_row = widgets.HBox([self.output_dropdown, self.sign_buttons, self.target_caption],
                                        layout=widgets.Layout(grid_gap="6px", align_items="center"))

    def _class_options(self):
        """The class dropdown's entries for the selected output."""
        default = {"classes": "predicted class", "map": "predicted class (largest area)",
                   "values": "first value"}[self.output_kind]
        names = self.output_class_names
        return [(default, PREDICTED_ENTRY)] + [(f"{i}: {n}" if n != str(i) else n, i) for i, n in enumerate(names)]

    def _show_target_controls(self):
        """Show the controls the selected output needs (none on a classifier)."""
        classifier = self.inspector.is_classifier
        show(self._target_row, not classifier)
        show(self.output_dropdown, len(self.inspector.output_names) > 1)
        show(self.sign_buttons, self.output_kind == "values")
        show(self._mask_column, self.output_kind == "map")
        self.target_caption.value = "" if classifier else (
            f"<span style='font-size:12px;color:{TEXT}'>Explaining {html.escape(self.describe_target())}</span>")

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
                              signed=True, title=f"{self.output} values (outline: uncovered)", value_label="value")
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
                              title="Mean score over the region (outline: uncovered)")
            pixels = int(result.region.sum())
            head = f"<b>{html.escape(names[index])}</b> summed over {pixels} px = <b>{result.score:.4g}</b>"
            rest = f"uncovered {result.base_score:.4g}, drop {drop:+.4g}"
            plain = f"{names[index]} over {pixels} px = {result.score:.4g}  ({rest})"
            self._draw_mask(result.mask, result.region)
        colour = ERROR if drop > tolerance else (SUCCESS if drop < -tolerance else TEXT)
        self._target_text = plain
        self.target_label.value = (f"<div style='font-size:13px'>{head}<br><span style='color:{colour}'>{rest}</span>"
                                   "</div>")

    def _draw_mask(self, mask, region):
        height, width = mask.shape
        factor = max(1, round(MASK_DISPLAY_SIZE / max(height, width)))
        self.mask_canvas.show(mask_rgba(mask, len(self.output_class_names), region, factor))

    def _target_snapshot_panels(self):
        """The mask view under the occluder (map outputs), for :meth:`snapshot`."""
        if self.output_kind != "map" or not self.mask_canvas.image.any():
            return []
        caption = text_rgba("predicted mask, occluded", height=12)
        return [stack_panels([self.mask_canvas.image, caption], axis=0, gap=4, background=(255, 255, 255, 255))]

