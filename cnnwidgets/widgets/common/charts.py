"""The class-score bar chart shared by the widgets (bqplot).

bqplot styles its figures from JupyterLab's CSS variables, so the charts
follow the light and dark themes; the outlined reference bars are drawn in
the theme's text colour. Probabilities sit on a fixed 0-1 axis; other scores
(regression values, raw map scores) on a signed axis that always holds zero
(``update(..., signed=True)``).
"""

import bqplot
import ipywidgets as widgets
import numpy as np

from ...render import bar_chart_rgba, stack_panels, text_rgba
from ...render.filters import text_block
from .style import TEXT

__all__ = ["ClassScoresChart", "BAR_COLOUR", "HIGHLIGHT_COLOUR", "signed_range"]

BAR_COLOUR = "#4c78a8"
HIGHLIGHT_COLOUR = "#e45756"


def signed_range(*arrays, margin=0.1):
    """An axis range ``(low, high)`` that holds zero and every finite value of ``arrays``, with a margin.

    Examples
    --------
    >>> signed_range([0.2, -0.1], [0.5])
    (-0.16, 0.56)
    """
    values = np.concatenate([np.asarray(a, np.float64).reshape(-1) for a in arrays if a is not None] + [np.zeros(1)])
    values = values[np.isfinite(values)]
    low, high = float(min(0.0, values.min())), float(max(0.0, values.max()))
    span = high - low
    if span <= 0:
        return -1.0, 1.0
    pad = span * float(margin)
    return round(low - pad if low < 0 else low, 12), round(high + pad if high > 0 else high, 12)


class ClassScoresChart:
    """A bqplot bar chart of the top classes' probabilities, or of signed scores.

    Parameters
    ----------
    top_k : int
        How many classes to show (highest first).
    width, height : int
        Size of the figure in pixels.
    title : str
        Figure title.

    Attributes
    ----------
    figure : bqplot.Figure
        The widget to place in a layout.
    names : list of str
        Class names shown, in bar order.
    values : numpy.ndarray
        Bar heights shown.
    reference : numpy.ndarray or None
        Heights of the outlined reference bars (e.g. the unoccluded scores).
    signed : bool
        Whether the last update drew signed scores (a value axis through zero)
        instead of probabilities (a 0-1 axis).
    """

    def __init__(self, top_k=5, width=320, height=240, title="Top classes"):
        self.top_k = int(top_k)
        self.order, self.names, self.values, self.reference, self.highlight = [], [], np.zeros(0), None, None
        self.signed = False
        x_scale = bqplot.OrdinalScale()
        y_scale = self._y_scale = bqplot.LinearScale(min=0.0, max=1.0)
        self._bars = bqplot.Bars(
            x=[], y=[], scales={"x": x_scale, "y": y_scale}, colors=[BAR_COLOUR], padding=0.25,
            # Value labels are left off: bqplot draws one per bar, and those of
            # near-zero bars sit on the axis ticks. Hovering a bar shows it.
            tooltip=bqplot.Tooltip(fields=["x", "y"], labels=["class", "probability"], formats=["", ".3f"]),
        )
        self._reference_bars = bqplot.Bars(
            x=[], y=[], scales={"x": x_scale, "y": y_scale}, fill=False, stroke=TEXT,
            stroke_width=1.5, padding=0.25, colors=[TEXT],
        )
        x_axis = bqplot.Axis(scale=x_scale, tick_style={"font-size": "12px"})
        y_axis = self._y_axis = bqplot.Axis(scale=y_scale, orientation="vertical", tick_format=".1f", num_ticks=3)
        self.figure = bqplot.Figure(
            marks=[self._bars, self._reference_bars],
            axes=[x_axis, y_axis],
            title=title,
            fig_margin={"top": 40, "bottom": 30, "left": 40, "right": 10},
            layout=widgets.Layout(width=f"{width}px", height=f"{height}px"),
            title_style={"font-size": "13px"},
        )
        self._size = (height, width)

    def update(self, probabilities, class_names, reference=None, highlight=None, order=None, signed=False,
               title=None, value_label="probability"):
        """Show the ``top_k`` classes of ``probabilities`` (or those in ``order``).

        Parameters
        ----------
        probabilities : array_like
            ``(num_classes,)`` scores to draw as bars.
        class_names : sequence of str
            One name per class.
        reference : array_like, optional
            ``(num_classes,)`` scores drawn as outlined bars over the same classes.
        highlight : int, optional
            Class index drawn in the highlight colour.
        order : sequence of int, optional
            Class indices to show, instead of the top ``top_k`` of ``probabilities``.
        signed : bool
            Scores that are not probabilities (regression values, raw scores):
            the axis spans the values shown and zero (:func:`signed_range`),
            and bars below zero point down. Default: a 0-1 axis.
        title : str, optional
            A new figure title (default: keep the current one).
        value_label : str
            What the tooltip calls a bar's value.
        """
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if order is None:
            basis = probabilities if reference is None else np.asarray(reference, dtype=np.float64)
            order = np.argsort(-basis, kind="stable")[: self.top_k]
        order = [int(i) for i in order]
        self.order = order
        self.names = [str(class_names[i]) for i in order]
        self.values = probabilities[order]
        self.reference = None if reference is None else np.asarray(reference, dtype=np.float64)[order]
        self.highlight = highlight
        self.signed = bool(signed)
        colours = [HIGHLIGHT_COLOUR if i == highlight else BAR_COLOUR for i in order]
        low, high = signed_range(self.values, self.reference) if self.signed else (0.0, 1.0)
        with self._y_scale.hold_sync(), self._y_axis.hold_sync():
            self._y_scale.min, self._y_scale.max = low, high
            # (signed_range has its margin; bqplot's own padding would move zero off the axis' end)
            self._y_scale.allow_padding = not self.signed
            self._y_axis.tick_format = ".3~g" if self.signed else ".1f"
        if title is not None:
            self.figure.title = title
        self._bars.tooltip.labels = ["class" if not self.signed else "entry", value_label]
        with self._bars.hold_sync(), self._reference_bars.hold_sync():
            self._bars.x = self.names
            self._bars.y = self.values
            self._bars.colors = colours
            self._reference_bars.x = self.names if self.reference is not None else []
            self._reference_bars.y = self.reference if self.reference is not None else []
        return order

    def snapshot(self):
        """The chart rasterized as uint8 RGBA (for the widgets' ``snapshot()``).

        Bars are drawn horizontally; reference scores appear in the labels.
        Signed scores are listed as text (``name: value (was reference)``).
        """
        row = self.order.index(self.highlight) if self.highlight in self.order else None
        height, width = self._size
        if self.signed:
            was = [None] * len(self.names) if self.reference is None else list(self.reference)
            lines = [f"{'> ' if i == row else ''}{name}: {value:+.4g}" + ("" if ref is None else f" (was {ref:+.4g})")
                     for i, (name, value, ref) in enumerate(zip(self.names, self.values, was))]
            chart = text_block(lines, width=width, text_height=13, gap=5)
        else:
            labels = list(self.names)
            if self.reference is not None:
                labels = [f"{name} (was {ref:.2f})" for name, ref in zip(labels, self.reference)]
            chart = bar_chart_rgba(self.values, labels, size=(height - 20, width), highlight=row)
        title = text_rgba(self.figure.title, height=14)
        return stack_panels([title, chart], axis=0, gap=6, background=(255, 255, 255, 255))
