"""The LayerBrowser's output heads: what every output of the model says about the input.

:func:`read_heads` reads each output once per input (on the worker thread)
into a :class:`HeadFrame`; :class:`OutputHeadsView` draws them, one card per
head, by kind:

* ``"classes"``: the top probabilities as a bar chart (bqplot, as for a
  classifier);
* ``"values"``: the regression values as signed bars, each value written out;
* ``"map"``: the predicted mask (one colour per class, with the share of the
  pixels each class takes) and one score map per class.

The class highlighted (the owner's ``class_index``, or the predicted one) is
drawn in the chart's highlight colour in the selected head only.
"""

import html
from dataclasses import dataclass, field

import ipywidgets as widgets
import numpy as np

from ...render import stack_panels, text_rgba
from ...render.architecture import format_shape
from ...render.heads import (
    format_head_value,
    mask_legend_rgba,
    mask_overlay_rgba,
    mask_rgba,
    score_limits,
    score_maps_rgba,
    values_rgba,
)
from ...render.masks import class_palette
from ..common.canvas import ImageCanvas
from ..common.charts import ClassScoresChart
from ..common.style import TEXT_MUTED, card
from ..common.targets import default_map_class

__all__ = ["HeadFrame", "read_heads", "describe_outputs", "OutputHeadsView", "KIND_LABELS"]

#: How each output kind is described.
KIND_LABELS = {"classes": "class scores", "values": "regression values", "map": "dense map"}
_WHITE = (255, 255, 255, 255)
_MAX_VALUES = 16
_MAX_SCORE_MAPS = 12
_MAX_LEGEND = 12


@dataclass
class HeadFrame:
    """One output of the model for one input, as the LayerBrowser shows it.

    Attributes
    ----------
    index : int
        Output index.
    name : str
        Output name (``inspector.output_names``).
    kind : {"classes", "values", "map"}
    values : numpy.ndarray
        ``inspector.predict_output(image, index)``: probabilities, raw values,
        or an ``(H', W', K)`` map.
    names : tuple of str
        Names of the classes, values or map channels.
    mask : numpy.ndarray or None
        ``inspector.predicted_mask(image, index)`` for a map, else None.
    """

    index: int
    name: str
    kind: str
    values: np.ndarray = field(repr=False)
    names: tuple
    mask: np.ndarray = field(default=None, repr=False)

    @property
    def predicted(self):
        """The predicted class (classes: arg-max; map: the class over the largest area); None for values."""
        if self.kind == "classes":
            return int(np.argmax(self.values))
        if self.kind == "map":
            return default_map_class(self.mask, self.values.shape[-1])
        return None

    @property
    def mask_names(self):
        """Names of the mask's classes: the channels, or ``("not X", "X")`` for a one-channel map."""
        return self.names if len(self.names) > 1 else (f"not {self.names[0]}", self.names[0])

    @property
    def shares(self):
        """Share of the mask's pixels predicted as each class (map heads)."""
        count = len(self.mask_names)
        return np.bincount(self.mask.reshape(-1), minlength=count)[:count] / max(1, self.mask.size)

    def prediction_traits(self):
        """The owner's read-only target traits for this head (output_values, predicted_mask, ...), by name."""
        return {"output_values": self.values, "predicted_mask": self.mask,
                "probabilities": self.values if self.kind == "classes" else None, "predicted_class": self.predicted}

    def summary(self):
        """One line of plain text: the top class, the values, or the classes the mask shows."""
        if self.kind == "classes":
            top = self.predicted
            return f"{self.names[top]} ({float(self.values[top]):.0%})"
        if self.kind == "values":
            shown = ", ".join(f"{n} {format_head_value(v)}" for n, v in zip(self.names[:4], self.values[:4]))
            return shown + (", …" if len(self.names) > 4 else "")
        shares = self.shares
        present = [i for i in np.argsort(-shares, kind="stable") if shares[i] > 0][:3]
        return ", ".join(f"{self.mask_names[i]} {shares[i]:.0%}" for i in present)


def describe_outputs(inspector):
    """What the model outputs, in a few words: ``10 classes``, or each output's name, shape and kind."""
    if inspector.is_classifier:
        return f"{inspector.num_classes} classes"
    return ", ".join(f"{name} ({format_shape(shape)} {kind})" for name, shape, kind in
                     zip(inspector.output_names, inspector.output_shapes, inspector.output_kinds))


def read_heads(inspector, image):
    """Every output of the model for ``image``, as :class:`HeadFrame` objects (cached in the inspector)."""
    heads = []
    for index, (name, kind) in enumerate(zip(inspector.output_names, inspector.output_kinds)):
        values = inspector.predict_output(image, index)
        mask = inspector.predicted_mask(image, index) if kind == "map" else None
        heads.append(HeadFrame(index, name, kind, values, tuple(inspector.output_class_names(index)), mask))
    return heads


class _HeadCard:
    """One head's card: a title line (with a picker of the class to highlight, off a classifier) and its picture."""

    def __init__(self, inspector, index, on_pick):
        self.index = index
        self.name = inspector.output_names[index]
        self.kind = inspector.output_kinds[index]
        shape = format_shape(inspector.output_shapes[index])
        self.title = widgets.HTML()
        #: What the chart's title starts with ("Prediction" on a classifier, else the output's name).
        self.label = "Prediction" if inspector.is_classifier else self.name
        self._heading = (f"<b>{html.escape(self.name)}</b> <span style='color:{TEXT_MUTED}'>· "
                         f"{KIND_LABELS[self.kind]} · {shape}</span>")
        self.chart = self.canvas = None
        if self.kind == "classes":
            count = inspector.class_count(index)
            self.chart = ClassScoresChart(top_k=min(5, count), width=280, height=200, title=self.label)
            body = self.chart.figure
        else:
            self.canvas = ImageCanvas(280, 60)
            body = card(self.canvas)
        self.picker = None
        header = [self.title]
        if inspector.is_classifier:  # the chart's own title says it all
            self.title.layout.display = "none"
        else:  # pick the class (value, channel) to highlight here; -1: the predicted one (the first value)
            first = "first value" if self.kind == "values" else "predicted"
            options = [(first, -1)] + [(name, i) for i, name in enumerate(inspector.output_class_names(index))]
            self.picker = widgets.Dropdown(options=options, value=-1, description="highlight",
                                           style={"description_width": "72px"}, layout=widgets.Layout(width="210px"))
            self.picker.add_class("cnnwidgets-output-head-picker")
            self.picker.observe(lambda change: on_pick(self.index, None if change.new < 0 else change.new), "value")
            header.append(self.picker)
        self.widget = widgets.VBox([widgets.HBox(header, layout=widgets.Layout(align_items="center", gap="8px")),
                                    body], layout=widgets.Layout(margin="0 16px 8px 0"))
        self.widget.add_class("cnnwidgets-output-head")
        self.widget.add_class(f"cnnwidgets-output-head-{self.kind}")

    def draw(self, head, highlight, selected, colormap, image_rgba=None):
        """Draw ``head``; ``highlight`` is the class (value) to mark, or None; ``image_rgba`` the input shown."""
        marker = " <span style='color:#e45756'>● selected</span>" if selected else ""
        self.title.value = self._heading + marker
        if self.kind == "classes":
            values = head.values
            order = [int(i) for i in np.argsort(-values, kind="stable")[: self.chart.top_k]]
            if highlight is not None and highlight not in order:
                order[-1] = highlight
            self.chart.update(values, head.names, highlight=highlight, order=order)
            top = head.predicted
            self.chart.figure.title = f"{self.label}: {head.names[top]} ({float(values[top]):.0%})"
        elif self.kind == "values":
            self.canvas.show(render_values_head(head, highlight))
        else:
            self.canvas.show(render_map_head(head, highlight, colormap, image_rgba))

    def snapshot(self):
        body = self.chart.snapshot() if self.chart is not None else self.canvas.image
        title = text_rgba(f"{self.name} ({KIND_LABELS[self.kind]})", 13)
        return stack_panels([title, body], axis=0, gap=4, background=_WHITE)


def render_values_head(head, highlight=None):
    """A values head as signed bars (the first 16 values; the rest said in a line under them)."""
    shown = min(len(head.values), _MAX_VALUES)
    bars = values_rgba(head.values[:shown], head.names[:shown], width=280,
                       highlight=highlight if highlight is not None and highlight < shown else None)
    if shown == len(head.values):
        return bars
    more = text_rgba(f"… and {len(head.values) - shown} more values", 11, (110, 110, 110, 255))
    return stack_panels([bars, more], axis=0, gap=4, background=_WHITE)


def _legend_rows(shares, highlight=None):
    """Classes listed in a map head's legend: all up to 12; else the largest present ones and the highlighted."""
    count = len(shares)
    if count <= _MAX_LEGEND:
        return list(range(count))
    present = [int(i) for i in np.argsort(-shares, kind="stable") if shares[i] > 0][:_MAX_LEGEND]
    if highlight is not None and highlight not in present:
        present = present[: _MAX_LEGEND - 1] + [int(highlight)]
    return sorted(present)


def render_map_head(head, highlight=None, colormap="viridis", image_rgba=None):
    """A map head: the predicted mask (over the input, and alone) and its legend, over one score map per class.

    ``image_rgba`` is the input as shown (uint8 RGBA); without it the overlay is left out.
    """
    names = head.mask_names
    palette = class_palette(len(names))
    mask = mask_rgba(head.mask, palette, size=128)
    row = highlight if highlight is None or len(head.names) > 1 else 1  # one channel: its class is the mask's 1
    rows = _legend_rows(head.shares, row)
    legend = mask_legend_rgba([names[i] for i in rows], palette[rows], head.shares[rows],
                              highlight=rows.index(row) if row in rows else None)
    if len(rows) < len(names):
        more = text_rgba(f"{len(names) - len(rows)} more classes, none of them predicted here"
                         if not head.shares[[i for i in range(len(names)) if i not in rows]].any()
                         else f"… {len(names) - len(rows)} more classes", 11, (110, 110, 110, 255))
        legend = stack_panels([legend, more], axis=0, gap=3, background=_WHITE)
    pictures = [mask, legend]
    if image_rgba is not None:
        pictures.insert(0, mask_overlay_rgba(image_rgba, head.mask, palette))
    top = stack_panels(pictures, axis=1, gap=10, background=_WHITE)
    count = head.values.shape[-1]
    # Many channels: the maps of the classes in the legend (those predicted, and the highlighted one).
    channels = list(range(count)) if count <= _MAX_SCORE_MAPS else rows
    low, high = score_limits(head.values)  # one scale for every channel, shown or not
    maps, _ = score_maps_rgba(head.values[..., channels], [head.names[c] for c in channels], cmap=colormap,
                              tile=96, columns=min(len(channels), 4), limits=(low, high), max_maps=_MAX_SCORE_MAPS,
                              highlight=channels.index(highlight) if highlight in channels else None)
    scale = "probability" if (low, high) == (0.0, 1.0) else "score"
    note = f"score maps: {scale} {format_head_value(low)} to {format_head_value(high)}" + (
        f" ({len(channels)} of {count} classes: those in the legend)" if len(channels) < count else "")
    caption = text_rgba(note, 11, (110, 110, 110, 255))
    title = "predicted mask (over the input, and alone)" if image_rgba is not None else "predicted mask"
    return stack_panels([text_rgba(title, 11, (110, 110, 110, 255)), top, caption, maps], axis=0,
                        gap=4, background=_WHITE)


class OutputHeadsView:
    """One card per output of the model.

    Parameters
    ----------
    inspector : Inspector

    Attributes
    ----------
    widget : ipywidgets.Box
        The cards, wrapping into rows (class ``cnnwidgets-output-heads``).
    cards : list
        One per output, in output order (``card.chart`` for a classes head,
        ``card.canvas`` for the others; ``card.picker``, off a classifier,
        the dropdown of the class to highlight: see :meth:`on_pick`).
    heads : list of HeadFrame
        What is drawn now (empty until the first input).
    """

    def __init__(self, inspector):
        self._syncing = False
        self._on_pick = []
        self.cards = [_HeadCard(inspector, i, self._picked) for i in range(len(inspector.output_names))]
        self.heads = []
        self.widget = widgets.Box([c.widget for c in self.cards],
                                  layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.widget.add_class("cnnwidgets-output-heads")

    def on_pick(self, callback):
        """Call ``callback(output_index, class_or_None)`` when a card's picker asks to highlight a class."""
        self._on_pick.append(callback)

    def _picked(self, index, choice):
        if not self._syncing:
            for callback in self._on_pick:
                callback(index, choice)

    def show_request(self, selected, requested):
        """Make the pickers say what is requested: ``requested`` (None: predicted) in head ``selected``."""
        self._syncing = True
        try:
            for card_ in self.cards:
                if card_.picker is not None:
                    card_.picker.value = -1 if card_.index != selected or requested is None else int(requested)
        finally:
            self._syncing = False

    @property
    def charts(self):
        """The class-score charts of the classes heads, in output order."""
        return [c.chart for c in self.cards if c.chart is not None]

    def draw(self, heads, selected, highlight, colormap="viridis", mark_selected=True, image_rgba=None):
        """Draw ``heads``; in head ``selected`` (an index), mark class ``highlight``.

        ``image_rgba`` (the input as shown, uint8 RGBA) is what map heads paint their mask over.
        """
        self.heads = list(heads)
        for card_, head in zip(self.cards, self.heads):
            chosen = head.index == selected
            card_.draw(head, highlight if chosen else None, chosen and mark_selected, colormap, image_rgba)

    def snapshot(self):
        """The cards side by side, as uint8 RGBA."""
        return stack_panels([c.snapshot() for c in self.cards], axis=1, gap=16, background=_WHITE)
