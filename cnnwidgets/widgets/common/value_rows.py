"""A clickable list of an output's values or class probabilities, each with a small bar.

Used by :class:`~.target_panel.TargetPanel` for vector outputs: a button per
entry (click it to explain that entry), its number and a horizontal bar; the
chosen entry is highlighted. Values other than the prediction (e.g. under an
occluder) can be shown with a reference (a tick on the bar and the change).
"""

import html

import ipywidgets as widgets
import numpy as np

from .charts import BAR_COLOUR, HIGHLIGHT_COLOUR
from .style import TEXT, TEXT_MUTED

__all__ = ["ValueRows"]

_BAR_WIDTH = 100


class ValueRows(widgets.VBox):
    """An output's entries as rows: a name button, the number and a bar.

    Parameters
    ----------
    on_pick : callable
        Called with the entry's index when its button is clicked.
    max_rows : int
        Most rows shown: the most probable classes, or the first values; the
        selected entry is always among them.

    Attributes
    ----------
    order : list of int
        Entry indices shown, top to bottom.
    values, reference : numpy.ndarray or None
        All entries' numbers shown (the prediction unless :meth:`show` set
        others) and the reference drawn with them.
    selected : int or None
        The highlighted entry.
    buttons : list of ipywidgets.Button
        One per row shown.
    """

    def __init__(self, on_pick, max_rows=10, **kwargs):
        super().__init__(**kwargs)
        self._on_pick = on_pick
        self.max_rows = int(max_rows)
        self.names, self.prediction, self.probabilities = (), None, False
        self._override = None
        self.order, self.values, self.reference, self.selected = [], None, None, None
        self.buttons, self._labels, self._rows = [], [], []
        self.add_class("cnnwidgets-value-rows")

    def update(self, names, values, selected, probabilities=False):
        """Show the prediction: one entry per name, ``selected`` highlighted (probabilities in [0, 1] or values)."""
        self.names = tuple(str(n) for n in names)
        self.prediction = np.asarray(values, np.float64)
        self.probabilities = bool(probabilities)
        self.selected = selected
        self._draw()

    def show(self, values, reference=None):
        """Show ``values`` (same length as the prediction) with ``reference``; ``None`` shows the prediction again."""
        if values is None:
            self._override = None
        else:
            values = np.asarray(values, np.float64).reshape(-1)
            reference = None if reference is None else np.asarray(reference, np.float64).reshape(-1)
            if self.prediction is not None and (len(values) != len(self.prediction)
                                                or reference is not None and len(reference) != len(values)):
                raise ValueError(f"got {len(values)} values (reference "
                                 f"{None if reference is None else len(reference)}) for an output of "
                                 f"{len(self.prediction)}")
            self._override = (values, reference)
        self._draw()

    # ------------------------------------------------------------------ draw
    def _draw(self):
        if self.prediction is None:
            return
        values, reference = self._override if self._override is not None else (self.prediction, None)
        if len(values) != len(self.prediction):
            values, reference, self._override = self.prediction, None, None
        self.values, self.reference = values, reference
        if self.probabilities:
            order = list(np.argsort(-self.prediction, kind="stable")[: self.max_rows])
        else:
            order = list(range(min(len(values), self.max_rows)))
        if self.selected is not None and self.selected not in order:
            order[-1] = self.selected
        self.order = [int(i) for i in order]
        self._ensure_rows(len(self.order))
        scale = 1.0 if self.probabilities else max(
            1e-12, float(np.max(np.abs(values))), float(np.max(np.abs(reference))) if reference is not None else 0.0)
        for index, button, label in zip(self.order, self.buttons, self._labels):
            chosen = index == self.selected
            button.description = self.names[index]
            button.tooltip = f"explain {self.names[index]} (index {index})"
            style = "primary" if chosen else ""
            if button.button_style != style:
                button.button_style = style
            ref = None if reference is None else float(reference[index])
            value = _row_html(float(values[index]), ref, scale, chosen, self.probabilities)
            if label.value != value:
                label.value = value
        self.children = tuple(self._rows[: len(self.order)])

    def _ensure_rows(self, count):
        while len(self._rows) < count:
            position = len(self._rows)
            button = widgets.Button(layout=widgets.Layout(width="80px", height="26px"))
            button.add_class("cnnwidgets-value-button")
            button.on_click(lambda _, p=position: self._clicked(p))
            label = widgets.HTML(layout=widgets.Layout(margin="0 0 0 6px"))
            self.buttons.append(button)
            self._labels.append(label)
            self._rows.append(widgets.HBox([button, label], layout=widgets.Layout(align_items="center")))

    def _clicked(self, position):
        if position < len(self.order):
            self._on_pick(self.order[position])


def _row_html(value, reference, scale, chosen, probabilities):
    """The number, a bar (from 0 for probabilities, centred on 0 for values) and the change from ``reference``."""
    colour = HIGHLIGHT_COLOUR if chosen else BAR_COLOUR
    if probabilities:
        left, width = 0.0, _BAR_WIDTH * min(max(value, 0.0), 1.0)
        number = f"{100 * value:.1f}%"
        tick = None if reference is None else _BAR_WIDTH * min(max(reference, 0.0), 1.0)
    else:
        half = _BAR_WIDTH / 2
        length = half * min(abs(value) / scale, 1.0)
        left, width = (half, length) if value >= 0 else (half - length, length)
        number = f"{value:.4g}"
        tick = None if reference is None else half + half * max(-1.0, min(1.0, reference / scale))
    bar = (f"<div style='position:relative;width:{_BAR_WIDTH}px;height:10px;"
           f"background:var(--jp-layout-color2, #eee)'>"
           f"<div style='position:absolute;left:{left:.1f}px;width:{max(width, 1.0):.1f}px;height:10px;"
           f"background:{colour}'></div>")
    if not probabilities:
        bar += (f"<div style='position:absolute;left:{_BAR_WIDTH / 2 - 0.5:.1f}px;width:1px;height:10px;"
                f"background:{TEXT_MUTED}'></div>")
    if tick is not None:
        bar += (f"<div style='position:absolute;left:{tick - 1:.1f}px;width:2px;height:12px;top:-1px;"
                f"background:{TEXT}'></div>")
    bar += "</div>"
    change = ""
    if reference is not None:
        was = f"{100 * reference:.1f}%" if probabilities else f"{reference:.4g}"
        delta = f"{100 * (value - reference):+.1f} pt" if probabilities else f"{value - reference:+.4g}"
        change = f"<span style='color:{TEXT_MUTED}'>was {html.escape(was)} ({html.escape(delta)})</span>"
    weight = "bold" if chosen else "normal"
    return (f"<div style='display:flex;align-items:center;gap:6px;font-size:12px;color:{TEXT}'>"
            f"<span style='font-family:var(--jp-code-font-family, monospace);min-width:5.5em;text-align:right;"
            f"font-weight:{weight}'>{html.escape(number)}</span>{bar}{change}</div>")
