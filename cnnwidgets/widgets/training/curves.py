"""Training curves: loss and metrics per epoch, training and validation, in small bqplot charts."""

import bqplot
import ipywidgets as widgets
import numpy as np

__all__ = ["TrainingCurves"]

_TRAIN_COLOUR = "#4c78a8"
_VAL_COLOUR = "#f58518"
_MARK_COLOUR = "#888"


class TrainingCurves(widgets.HBox):
    """Loss and each metric against the epoch, training and validation, one small chart each.

    Feed it Keras' per-epoch ``logs`` with :meth:`add` (the
    :class:`~cnnwidgets.callbacks.LiveView` callback does). ``val_`` entries
    join the chart of their metric; a chart appears for each new name.

    Parameters
    ----------
    width, height : int
        Size of each chart in pixels.
    max_charts : int
        Most charts shown (loss first, then the metrics in the order Keras logs them).

    Attributes
    ----------
    history : dict
        ``name -> list of float`` per epoch, as in ``keras.callbacks.History``.
    epochs : list of int
        The epoch numbers (1-based) of the values.
    """

    def __init__(self, width=300, height=200, max_charts=3, **kwargs):
        super().__init__(**kwargs)
        self.history = {}
        self.epochs = []
        self._charts = {}
        self._size = (int(width), int(height))
        self.max_charts = int(max_charts)
        self.marked = None
        # One legend for all charts, beside them (bqplot's own legend box covers the early points).
        self.legend = widgets.HTML(
            f"<div style='font-size:12px;line-height:1.8;margin-top:30px'>"
            f"<span style='color:{_TRAIN_COLOUR}'>━━</span> training<br>"
            f"<span style='color:{_VAL_COLOUR}'>━━</span> validation<br>"
            f"<span style='color:{_MARK_COLOUR}'>╌╌</span> replayed epoch</div>")
        self.add_class("cnnwidgets-training-curves")

    def clear(self):
        """Forget the values (the charts stay, empty)."""
        self.history = {}
        self.epochs = []
        for chart in self._charts.values():
            with chart["lines"].hold_sync():
                chart["lines"].x, chart["lines"].y = [], []
        self.mark(None)

    def add(self, epoch, logs):
        """Append one epoch's ``logs`` (``{"loss": ..., "val_loss": ..., ...}``) and redraw."""
        self.epochs.append(int(epoch))
        for name, value in (logs or {}).items():
            try:
                number = float(np.asarray(value))
            except (TypeError, ValueError):
                continue
            values = self.history.setdefault(name, [np.nan] * (len(self.epochs) - 1))
            values.append(number)
        for values in self.history.values():  # a name missing this epoch
            values.extend([np.nan] * (len(self.epochs) - len(values)))
        self._draw()

    def metric_names(self):
        """Names of the charts: ``loss`` first, then the metrics (without ``val_``)."""
        names = []
        for name in self.history:
            base = name[4:] if name.startswith("val_") else name
            if base not in names and base != "learning_rate":
                names.append(base)
        names.sort(key=lambda n: n != "loss")
        return names[: self.max_charts]

    def _chart(self, name):
        chart = self._charts.get(name)
        if chart is None:
            width, height = self._size
            x_scale = bqplot.LinearScale()
            y_scale = bqplot.LinearScale()
            lines = bqplot.Lines(x=[], y=[], scales={"x": x_scale, "y": y_scale}, colors=[_TRAIN_COLOUR, _VAL_COLOUR],
                                 labels=["training", "validation"], marker="circle",
                                 marker_size=16, stroke_width=2)
            mark_scale = bqplot.LinearScale(min=0.0, max=1.0)
            marker = bqplot.Lines(x=[], y=[], scales={"x": x_scale, "y": mark_scale}, colors=[_MARK_COLOUR],
                                  line_style="dashed", stroke_width=1.5)
            figure = bqplot.Figure(
                marks=[lines, marker], title=name,
                axes=[bqplot.Axis(scale=x_scale, label="epoch", num_ticks=5, tick_format="d"),
                      bqplot.Axis(scale=y_scale, orientation="vertical", num_ticks=4, tick_format=".2g")],
                fig_margin={"top": 30, "bottom": 40, "left": 50, "right": 10},
                layout=widgets.Layout(width=f"{width}px", height=f"{height}px"), title_style={"font-size": "13px"},
            )
            chart = self._charts[name] = {"figure": figure, "lines": lines, "marker": marker, "x": x_scale,
                                          "y": y_scale}
            self.children = [c["figure"] for c in self._charts.values()] + [self.legend]
        return chart

    def _draw(self):
        x = np.asarray(self.epochs, dtype=np.float64)
        for name in self.metric_names():
            chart = self._chart(name)
            series = [np.asarray(self.history[n], np.float64) for n in (name, "val_" + name) if n in self.history]
            lines = chart["lines"]
            with lines.hold_sync():
                lines.x = x
                # One series goes as a 1-D array: bqplot squeezes a (1, epochs) array to 0-D after one epoch.
                lines.y = series[0] if len(series) == 1 else np.vstack(series) if series else []
                lines.labels = ["training", "validation"][: len(series)]
            chart["x"].min = 0.0
            finite = np.concatenate([v[np.isfinite(v)] for v in series]) if series else np.zeros(0)
            chart["y"].min = 0.0 if finite.size and finite.min() >= 0 else None  # losses and accuracies from 0
            chart["x"].max = float(max(x.max(), 2.0)) if x.size else 1.0

    def mark(self, epoch):
        """Draw a dashed vertical line at ``epoch`` on every chart (None removes it)."""
        self.marked = epoch
        for chart in self._charts.values():
            marker = chart["marker"]
            with marker.hold_sync():
                marker.x = [] if epoch is None else [float(epoch), float(epoch)]
                marker.y = [] if epoch is None else [0.0, 1.0]

    def values(self, name):
        """The values of ``name`` per epoch, as a float array (NaN where missing)."""
        return np.asarray(self.history.get(name, []), np.float64)
