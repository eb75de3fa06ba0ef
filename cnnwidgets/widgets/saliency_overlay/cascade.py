"""SaliencyOverlay's randomization check: a strip of maps from "trained" to "all layers randomized".

Adebayo et al. (2018): a map that explains what the network learned must
change when the learned weights are destroyed. Run runs
:meth:`Inspector.randomization_cascade` (on a private copy of the model) for
the method, class and layer the overlay shows; the strip shows the map after
each step, the chart beneath its similarity to the trained map (Spearman rank
correlation and SSIM); clicking a step shows it large.
"""

import html

import bqplot
import ipywidgets as widgets
import numpy as np
import traitlets

from ...backend.methods import get_method
from ...errors import CNNWidgetsError, InvalidTargetError, UnsupportedModelError
from ...render import image_to_rgba
from ...render.saliency import display_zoom, render_heatmap
from ..common.runner import WIDGET_WORKER_LINGER, LatestRequestRunner
from ..common.thumbnails import SELECTED_COLOUR
from .panels import TitledCanvas

__all__ = ["CascadePanel"]

_THUMB = 84
#: Line colours of the Spearman and SSIM curves.
_SIMILARITY_COLOURS = ("#4c78a8", "#f58518")


class CascadePanel(widgets.VBox):
    """The randomization cascade of the overlay's current map, as a clickable strip and a similarity chart.

    Parameters
    ----------
    inspector : Inspector
    context : callable
        ``context() -> dict(image=, method=, class_index=, explains=, layer=, params=, colormap=)``
        read from the overlay when Run is clicked; ``class_index`` is the
        target explained (a class index, or a :mod:`cnnwidgets.targets`
        object on other models), ``explains`` says it in words.

    Attributes
    ----------
    result : CascadeResult or None
        The last cascade computed.
    step_views : list of TitledCanvas
        One small map per step, "trained" first.
    large_view : TitledCanvas
        The selected step, large.
    """

    #: Group the layers into at most this many steps (the strip's length minus one).
    steps = traitlets.Int(6)
    #: The step shown large (0 = trained).
    selected_step = traitlets.Int(0)

    def __init__(self, inspector, context, **kwargs):
        super().__init__(**kwargs)
        self.inspector = inspector
        self._context = context
        self.result = None
        #: True when the overlay's map changed since the strip was computed (Run again to update).
        self.stale = False
        self._shown = None
        self._running = None
        self._renderings = []
        self._runner = LatestRequestRunner(on_busy=self._busy, linger=WIDGET_WORKER_LINGER)
        self.run_button = widgets.Button(description="Run randomization check", icon="random",
                                         layout=widgets.Layout(width="230px"),
                                         tooltip="re-initialize the layers from the top down on a copy of the model")
        self.run_button.on_click(lambda _: self.run())
        self._stop_button = widgets.Button(description="Stop", icon="stop", layout=widgets.Layout(width="80px"))
        self._stop_button.on_click(lambda _: self.stop())
        self._steps_slider = widgets.IntSlider(min=1, max=20, description="steps", continuous_update=False,
                                               layout=widgets.Layout(width="240px"))
        self._steps_slider.value = self.steps
        widgets.link((self._steps_slider, "value"), (self, "steps"))
        self.progress = widgets.FloatProgress(min=0.0, max=1.0, layout=widgets.Layout(width="160px",
                                                                                        visibility="hidden"))
        self.note = widgets.HTML(layout=widgets.Layout(min_height="1.5em"))
        self.step_views = []
        self._strip = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        self._strip.add_class("cnnwidgets-cascade-strip")
        x_scale, y_scale = bqplot.LinearScale(), bqplot.LinearScale(min=-0.5, max=1.0)
        self._lines = bqplot.Lines(x=[], y=[], scales={"x": x_scale, "y": y_scale}, marker="circle",
                                   colors=list(_SIMILARITY_COLOURS), labels=["Spearman", "SSIM"])
        self.figure = bqplot.Figure(
            marks=[self._lines],
            axes=[bqplot.Axis(scale=x_scale, label="layers randomized (top down)", tick_format="d"),
                  bqplot.Axis(scale=y_scale, orientation="vertical", label="similarity to trained", num_ticks=4,
                              tick_format=".1f")],
            title="Similarity to the trained model's map",
            fig_margin={"top": 36, "bottom": 42, "left": 52, "right": 12},
            layout=widgets.Layout(width="520px", height="240px"), title_style={"font-size": "13px"},
        )
        self.figure.add_class("cnnwidgets-cascade-chart")
        self.large_view = TitledCanvas("", 28, 28)
        self.large_view.add_class("cnnwidgets-cascade-large")
        header = widgets.HBox([self.run_button, self._steps_slider, self._stop_button, self.progress],
                              layout=widgets.Layout(align_items="center", flex_flow="row wrap"))
        # The chart joins the panel with the first result: a bqplot figure laid out while hidden (a closed
        # accordion) gets a negative size and the browser logs errors.
        self._chart_row = widgets.HBox([self.figure, self.large_view], layout=widgets.Layout(flex_flow="row wrap"))
        self.children = [header, self.note, self._strip]
        self.add_class("cnnwidgets-cascade")
        self.note.value = ("<small>Re-initializes the layers from the output down on a copy of the model (yours is "
                           "never touched) and recomputes the map after each step. A map that reflects what the "
                           "network learned should stop resembling the trained one.</small>")

    # ------------------------------------------------------------- public API
    def run(self):
        """Compute the cascade for the overlay's current method, class and layer (on the worker)."""
        context = dict(self._context())
        self._running = context
        method = context["method"]
        steps = self.steps

        def compute(cancel):
            def progress(done, total):
                self.progress.value = done / total if total else 1.0

            result = self.inspector.randomization_cascade(
                context["image"], method, context["class_index"], context.get("layer") or None, steps=steps,
                progress=progress, cancel=cancel, **context.get("params", {}))
            return context, result

        self._runner.submit(compute, self._show, self._show_error)

    def wait(self, timeout=120):
        """Block until the cascade is drawn (for scripts and tests)."""
        if not self._runner.wait(timeout):
            raise TimeoutError(f"the randomization check is still busy after {timeout} s")

    def stop(self):
        """Cancel the running cascade."""
        self._runner.cancel()

    def notice(self):
        """The overlay shows a new map: say so if the strip is for other settings (it is not rerun by itself)."""
        if self.result is None or self._shown is None:
            return
        now = self._context()
        same = (now["method"] == self.result.method and now["class_index"] == self._shown["class_index"]
                and _same_params(now.get("params", {}), self._shown.get("params", {}))
                and (now.get("layer") or "") == (self._shown.get("layer") or "")
                and np.array_equal(now["image"], self._shown["image"]))
        self.stale = not same
        if self.stale:
            self.note.value = ("<small style='color:#9a6700'>The strip below is for the previous map "
                               f"({html.escape(get_method(self.result.method).label)}, "
                               f"{html.escape(_explains(self.inspector, self._shown, self.result))}); press Run to "
                               "check the map shown now.</small>")

    @traitlets.validate("selected_step")
    def _check_step(self, proposal):
        count = 0 if self.result is None else len(self.result.labels)
        if count and not 0 <= proposal.value < count:
            raise traitlets.TraitError(f"selected_step must be between 0 and {count - 1}, got {proposal.value}")
        return proposal.value

    @traitlets.observe("selected_step")
    def _step_selected(self, change):
        self._show_large()

    # ------------------------------------------------------------------ draw
    def _busy(self, busy):
        self.progress.layout.visibility = "visible" if busy else "hidden"
        if not busy:
            self.progress.value = 0.0

    def _show(self, value):
        context, result = value
        self.result, self._shown, self.stale = result, context, False
        image_rgba = image_to_rgba(np.asarray(context["image"], np.float32), self.inspector.input_range)
        colormap = context.get("colormap", "turbo")
        signed = bool(np.any(result.maps < 0))
        self._renderings = [render_heatmap(image_rgba, m, "RdBu_r" if signed else colormap, signed).overlay
                            for m in result.maps]
        height, width = image_rgba.shape[:2]
        zoom = display_zoom(height, width, largest=_THUMB)
        while len(self.step_views) < len(result.labels):
            view = TitledCanvas("", width, height, zoom)
            index = len(self.step_views)
            view.canvas.on_mouse_down(lambda x, y, i=index: setattr(self, "selected_step", i))
            self.step_views.append(view)
        del self.step_views[len(result.labels):]
        for step, (view, rgba) in enumerate(zip(self.step_views, self._renderings)):
            view.canvas.zoom = zoom
            view.canvas.show(rgba)
            view.fit_title()
            view.title = _step_title(result, step)
        self._strip.children = tuple(self.step_views)
        if self._chart_row not in self.children:
            self.children = (*self.children, self._chart_row)
        steps = np.arange(len(result.labels))
        with self._lines.hold_sync():
            self._lines.x = [steps, steps]
            self._lines.y = [result.spearman, result.ssim]
        self.large_view.canvas.zoom = display_zoom(height, width, largest=240)
        self.large_view.fit_title()
        label = get_method(result.method).label
        spearman, ssim = (f"<b style='color:{colour}'>{what}</b>" for colour, what in zip(_SIMILARITY_COLOURS,
                                                                                          ("Spearman", "SSIM")))
        explains = html.escape(_explains(self.inspector, context, result))
        self.note.value = (f"<small>{html.escape(label)} for {explains}: {spearman} "
                           f"{result.spearman[-1]:.2f}, {ssim} {result.ssim[-1]:.2f} once every layer is randomized "
                           "(1 = unchanged). Click a step to see it large.</small>")
        if self.selected_step >= len(result.labels):
            self.selected_step = 0
        self._show_large()

    def _show_large(self):
        if self.result is None or not self._renderings:
            return
        step = self.selected_step
        for index, view in enumerate(self.step_views):
            view.layout.border = f"2px solid {SELECTED_COLOUR}" if index == step else "2px solid transparent"
        self.large_view.canvas.show(self._renderings[step])
        self.large_view.title = _step_title(self.result, step, long=True)

    def _show_error(self, exc):
        text = str(exc) if isinstance(exc, CNNWidgetsError) else f"{type(exc).__name__}: {exc}"
        target = None if self._running is None else self._running["class_index"]
        if isinstance(exc, (InvalidTargetError, UnsupportedModelError)) and not isinstance(target, (int, type(None))):
            text = (f"The randomization check cannot run for this target yet ({text}); the overlay keeps working: "
                    "its map is unaffected.")
        self.note.value = f"<span class='cnnwidgets-error' style='color:#b3261e'>{html.escape(text)}</span>"


def _explains(inspector, context, result):
    """What a cascade explained, in words: the context's words, else the result's class name."""
    return context.get("explains") or f"class {inspector.class_name(result.class_index)}"


def _same_params(a, b):
    """Equal method parameters (a baseline image compares by content)."""
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) if isinstance(a[k], np.ndarray) else a[k] == b[k]
                                        for k in a)


def _step_title(result, step, long=False):
    if step == 0:
        return "trained"
    text = f"+{result.labels[step]}"
    if step == len(result.labels) - 1 and not long:
        return f"{text} (all)"
    if long:
        text = f"step {step}: +{result.randomized[step][-1]} \u00b7 Spearman {result.spearman[step]:.2f}"
    return text
