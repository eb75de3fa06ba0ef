"""The class-score bar chart shared by the widgets (bqplot).

bqplot styles its figures from JupyterLab's CSS variables, so the charts
follow the light and dark themes; the outlined reference bars are drawn in
the theme's text colour.
"""

import bqplot
import ipywidgets as widgets
import numpy as np

from ...render import bar_chart_rgba, stack_panels, text_rgba
from .style import TEXT

__all__ = ["ClassScoresChart", "BAR_COLOUR", "HIGHLIGHT_COLOUR"]

BAR_COLOUR = "#4c78a8"
HIGHLIGHT_COLOUR = "#e45756"


class ClassScoresChart:
    """A bqplot bar chart of the top classes' probabilities.

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
    """

    def __init__(self, top_k=5, width=320, height=240, title="Top classes"):
        self.top_k = int(top_k)
        self.order, self.names, self.values, self.reference, self.highlight = [], [], np.zeros(0), None, None
        x_scale = bqplot.OrdinalScale()
        y_scale = bqplot.LinearScale(min=0.0, max=1.0)
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
        y_axis = bqplot.Axis(scale=y_scale, orientation="vertical", tick_format=".1f", num_ticks=3)
        self.figure = bqplot.Figure(
            marks=[self._bars, self._reference_bars],
            axes=[x_axis, y_axis],
            title=title,
            fig_margin={"top": 40, "bottom": 30, "left": 40, "right": 10},
            layout=widgets.Layout(width=f"{width}px", height=f"{height}px"),
            title_style={"font-size": "13px"},
        )
        self._size = (height, width)

    def update(self, probabilities, class_names, reference=None, highlight=None, order=None):
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
        colours = [HIGHLIGHT_COLOUR if i == highlight else BAR_COLOUR for i in order]
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
        """
        row = self.order.index(self.highlight) if self.highlight in self.order else None
        labels = list(self.names)
        if self.reference is not None:
            labels = [f"{name} (was {ref:.2f})" for name, ref in zip(labels, self.reference)]
        height, width = self._size
        chart = bar_chart_rgba(self.values, labels, size=(height - 20, width), highlight=row)
        title = text_rgba(self.figure.title, height=14)
        return stack_panels([title, chart], axis=0, gap=6, background=(255, 255, 255, 255))
