"""OcclusionPainter: cover part of the image with the mouse and watch the prediction answer.

Zeiler & Fergus (2014) slide a grey square over the image and watch the
classifier; the static occlusion map summarizes that. Here a person moves
the occluder (or paints one of any shape) and the class scores follow live;
a sweep then draws the full occlusion-sensitivity map over the image.
"""

import html

import ipywidgets as widgets
import numpy as np
import traitlets

from ..backend.occlusion import FILLS, normalize_box
from ..errors import CNNWidgetsError, JobCancelled
from ..render import image_to_rgba, stack_panels, text_rgba
from ..render.heatmap import heatmap_legend, heatmap_range, heatmap_rgba
from .base import ImageCanvas, InspectorWidget, checked_class_index, checked_colormap
from .charts import ClassScoresChart
from .occlusion_canvas import OcclusionCanvas
from .occlusion_geometry import centered_box, display_factor, stroke_mask
from .occlusion_traits import ArrayTrait, ImageArrayTrait
from .runner import WIDGET_WORKER_LINGER, LatestRequestRunner

__all__ = ["OcclusionPainter", "MODES", "COLORMAPS"]

#: Occluder shapes: a square that follows the mouse, or a painted mask.
MODES = ("square", "paint")

#: The class dropdown's value for "the predicted class" (``class_index = None``).
_PREDICTED = -1


#: Colormaps offered for the occlusion map (any matplotlib name is accepted).
COLORMAPS = ("bwr", "RdBu_r", "coolwarm", "seismic")


class OcclusionPainter(InspectorWidget):
    """Cover part of an image with the mouse and watch the class scores change, live.

    Drag on the image to move a square occluder (the mouse wheel or the Size
    slider sets its side), or switch to Paint and brush an occluder of any
    shape (Eraser removes, Reset clears). Every move costs one forward pass
    (:meth:`Inspector.occlude`) on a background worker where the latest
    position wins, so the view never lags behind a backlog. The bar chart
    shows the occluded scores as bars over the unoccluded ones (outlined).
    Sweep computes the full occlusion-sensitivity map
    (:meth:`Inspector.occlusion_map`) and lays it over the image; hover over
    it to read its values.

    Parameters
    ----------
    model : keras.Model or Inspector
        The classifier (an :class:`~cnnwidgets.Inspector` is used as it is).
    image : array_like
        One image ``(H, W)``, ``(H, W, C)`` or ``(1, H, W, C)``, in the
        inspector's ``input_range`` (0-255 by default).
    class_names : sequence of str, optional
        One name per class.
    preprocess : callable, optional
        Maps display images to model inputs (see :class:`~cnnwidgets.Inspector`).
    class_index : int or str, optional
        The class to watch; default the predicted class.
    patch : int, optional
        Side of the square (and brush width) in image pixels; default a sixth
        of the shorter image side.
    fill : str
        What covers the occluded pixels: one of ``"gray"``, ``"black"``,
        ``"white"``, ``"mean"``, ``"blur"``.
    top_k : int
        Classes in the bar chart.
    display_size : int
        About how many screen pixels the longer image side takes (the image
        is enlarged by a whole factor, with crisp pixels).

    Attributes
    ----------
    canvas : OcclusionCanvas
        The layered view (``canvas.widget`` is the ``MultiCanvas``; browser
        mouse events arrive on ``canvas.mouse_layer``).
    chart : ClassScoresChart
        The bar chart of the top classes.
    mask : numpy.ndarray
        The painted occluder (bool ``(H, W)``), used in paint mode.
    target, predicted_class : int
        The class watched, and the class predicted for the uncovered image.

    Notes
    -----
    ``image``, ``class_index`` and the other traits can be linked with other
    widgets' (``traitlets.link`` / ``dlink``): images are stored as read-only
    arrays that a link can compare with themselves.

    Examples
    --------
    >>> import cnnwidgets as cw
    >>> images, labels = cw.demo.digits_samples()
    >>> painter = cw.OcclusionPainter(cw.demo.digits_model(), images[0],
    ...                               class_names=cw.demo.DIGIT_CLASS_NAMES)
    >>> painter.box = (8, 8, 14, 14)
    >>> painter.wait()
    >>> heat = painter.sweep(patch=6, stride=2)
    """

    #: The image shown (read-only float32 ``(H, W, C)``; set any array to replace it).
    image = ImageArrayTrait()
    #: Square occluder ``(y0, x0, y1, x1)`` in image pixels (end-exclusive), or ``None``.
    box = traitlets.Any(None, allow_none=True)
    #: Side of the square and width of the brush, in image pixels.
    patch = traitlets.Int(1)
    #: Step between square positions of the sweep, in image pixels.
    stride = traitlets.Int(1)
    #: What covers occluded pixels.
    fill = traitlets.Enum(FILLS, default_value="gray")
    #: ``"square"`` (drag a square) or ``"paint"`` (brush a mask).
    mode = traitlets.Enum(MODES, default_value="square")
    #: In paint mode, the brush removes occlusion instead of adding it.
    erase = traitlets.Bool(False)
    #: The class whose probability is watched (an index; a name is accepted), or ``None``: the
    #: predicted class (of each image shown). :attr:`target` is the index actually watched.
    class_index = traitlets.Any(None, allow_none=True)
    #: The scores shown: probabilities with the current occluder (read-only).
    probabilities = ArrayTrait(None, allow_none=True, read_only=True)
    #: The last occlusion map ``(H, W)`` from :meth:`sweep` (read-only), ``None`` before.
    heatmap = ArrayTrait(None, allow_none=True, read_only=True)
    #: Opacity of the map over the image.
    opacity = traitlets.Float(0.85, min=0.0, max=1.0)
    #: Matplotlib colormap of the map (zero in its middle).
    cmap = traitlets.Unicode("bwr")
    #: Whether the map is drawn over the image.
    show_map = traitlets.Bool(True)

    def __init__(self, model, image, class_names=None, preprocess=None, class_index=None, patch=None,
                 fill="gray", top_k=5, display_size=336, **kwargs):
        super().__init__(model, class_names=class_names, preprocess=preprocess, **kwargs)
        self._ready = False
        # Live moves must not flash the progress bar (that is the sweep's), and
        # the worker stays alive between moves: starting a thread per move
        # would block the mouse handler until the new thread runs.
        self._runner = LatestRequestRunner(linger=WIDGET_WORKER_LINGER)
        self._sweep_runner = LatestRequestRunner(on_busy=self._set_sweep_busy)
        self._display_size = int(display_size)
        self._mask = None
        self._dragging = False
        self._last_point = None
        self._center = None  # where the square is centred, in image pixels (kept exact across resizes)
        self._hover_pixel = None
        self._predicted = None
        self._uncovered = (None, None)  # (image, its probabilities), kept by the worker
        self._target_text = ""
        self._sweep_info = None
        self.add_class("cnnwidgets-occlusion-painter")

        self.image = image
        height, width = self.image.shape[:2]
        self._mask = np.zeros((height, width), bool)
        self.patch = int(patch) if patch is not None else _default_patch(height, width)
        self.stride = max(1, self.patch // 2)
        self.fill = fill
        self.class_index = class_index
        self._build_controls(top_k)
        self._build_canvas(height, width)
        self._build_layout()
        self._ready = True
        self._show_image()
        self._request_scores()

    # ================================================================ layout
    def _build_controls(self, top_k):
        height, width = self.image.shape[:2]
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
        names = self._class_names()
        self.class_dropdown = widgets.Dropdown(
            options=[("predicted class", _PREDICTED)] + [(f"{i}: {n}" if n != str(i) else n, i) for i, n in enumerate(names)],
            value=_PREDICTED if self.class_index is None else self.class_index, description="Watch", layout=widgets.Layout(width="230px"),
            style={"description_width": "45px"},
        )
        self.chart = ClassScoresChart(top_k=top_k, width=340, height=260, title="Class scores (outline: uncovered)")
        self.target_label = widgets.HTML(layout=widgets.Layout(width="340px", min_height="2.6em"))
        self.hover_label = widgets.HTML(layout=widgets.Layout(min_height="1.4em"))

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
        self.cmap_dropdown = widgets.Dropdown(options=list(dict.fromkeys((self.cmap, *COLORMAPS))), value=self.cmap,
                                              layout=widgets.Layout(width="110px"))
        self.legend = ImageCanvas(8, 8)
        self.legend_caption = widgets.HTML()
        self.legend_box = widgets.VBox([self.legend, self.legend_caption],
                                       layout=widgets.Layout(display="none"))

        for widget, name in ((self.chart.figure, "chart"), (self.target_label, "target"), (self.hover_label, "hover"),
                             (self.sweep_button, "sweep"), (self.stop_button, "stop"), (self.legend, "legend"),
                             (self.mode_buttons, "mode"), (self.size_slider, "size")):
            widget.add_class(f"cnnwidgets-occlusion-{name}")

        widgets.link((self.mode_buttons, "value"), (self, "mode"))
        widgets.link((self.brush_buttons, "value"), (self, "erase"))
        widgets.link((self.size_slider, "value"), (self, "patch"))
        widgets.link((self.fill_dropdown, "value"), (self, "fill"))
        # (a Dropdown reads the value None as "nothing selected": the predicted class is -1 there)
        traitlets.link((self.class_dropdown, "value"), (self, "class_index"),
                       transform=(lambda v: None if v == _PREDICTED else v, lambda v: _PREDICTED if v is None else v))
        widgets.link((self.stride_slider, "value"), (self, "stride"))
        widgets.link((self.show_map_checkbox, "value"), (self, "show_map"))
        widgets.link((self.opacity_slider, "value"), (self, "opacity"))
        widgets.link((self.cmap_dropdown, "value"), (self, "cmap"))
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
        scores = widgets.VBox([self.chart.figure, self.target_label])
        view = widgets.HBox([self._image_column, scores], layout=widgets.Layout(grid_gap="16px"))
        sweep = widgets.HBox([self.sweep_button, self.stop_button, self.stride_slider, self.progress], layout=gap)
        overlay = widgets.HBox([self.show_map_checkbox, self.opacity_slider, self.cmap_dropdown], layout=gap)
        self.children = [tools, settings, view, sweep, overlay, self.status]

    def _class_names(self):
        insp = self.inspector
        return list(insp.class_names) if insp.class_names else [str(i) for i in range(insp.num_classes)]

    # ============================================================ validation
    @traitlets.validate("box")
    def _validate_box(self, proposal):
        box = proposal["value"]
        if box is None:
            return None
        height, width = self.image.shape[:2]
        try:
            y0, x0, y1, x1 = normalize_box(box, height, width)
        except CNNWidgetsError as exc:
            raise traitlets.TraitError(str(exc)) from None
        if y1 <= y0 or x1 <= x0:
            raise traitlets.TraitError(
                f"the box {tuple(box)} covers no pixel of the {height}x{width} image; "
                "give (y0, x0, y1, x1) with y0 < y1 and x0 < x1 inside the image"
            )
        return (y0, x0, y1, x1)

    @traitlets.validate("patch")
    def _validate_patch(self, proposal):
        patch = int(proposal["value"])
        shortest = min(self.image.shape[:2])
        if not 1 <= patch <= shortest:
            raise traitlets.TraitError(f"patch must be between 1 and {shortest} pixels (the shorter image side), got {patch}")
        return patch

    @traitlets.validate("stride")
    def _validate_stride(self, proposal):
        stride = int(proposal["value"])
        shortest = min(self.image.shape[:2])
        if not 1 <= stride <= shortest:
            raise traitlets.TraitError(f"stride must be between 1 and {shortest} pixels (the shorter image side), got {stride}")
        return stride

    @traitlets.validate("class_index")
    def _validate_class_index(self, proposal):
        spec = proposal["value"]
        if spec is None:  # the predicted class
            return None
        return checked_class_index(self.inspector, spec)

    @traitlets.validate("cmap")
    def _validate_cmap(self, proposal):
        return checked_colormap(proposal["value"])

    # ============================================================= public API
    @property
    def mask(self):
        """bool ``(H, W)``: the pixels painted in paint mode (a copy; assign a mask to replace it)."""
        return self._mask.copy()

    @mask.setter
    def mask(self, value):
        value = np.asarray(value, dtype=bool)
        if value.shape != self._mask.shape:
            raise traitlets.TraitError(
                f"the mask has shape {value.shape}; it must match the image, {self._mask.shape}"
            )
        self._set_mask(value.copy())

    @property
    def target(self):
        """The class index whose probability is watched: :attr:`class_index`, or the predicted class."""
        return self.class_index if self.class_index is not None else self._predicted

    @property
    def predicted_class(self):
        """The class the model predicts for the uncovered image."""
        return self._predicted

    @property
    def occluded_image(self):
        """The image as the model sees it now (display range), occluder applied."""
        box, mask = self._current_occluder()
        return self.inspector.occluded_image(self.image, box=box, mask=mask, fill=self.fill)

    def reset(self):
        """Remove the occluder of the current mode (the square, or every painted stroke)."""
        if self.mode == "square":
            self.box = None
        else:
            self._set_mask(np.zeros_like(self._mask))

    def sweep(self, patch=None, stride=None):
        """Compute the occlusion-sensitivity map, show it over the image and return it.

        Blocks until the map is ready (the Sweep button runs the same job in
        the background). The square has the current size, fill and target
        class.

        Parameters
        ----------
        patch, stride : int, optional
            Set :attr:`patch` and :attr:`stride` first.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` float32: the mean drop of the target class's probability
            over the square positions that cover each pixel.

        Raises
        ------
        CNNWidgetsError
            The map could not be computed (the message says why);
            :class:`~cnnwidgets.JobCancelled` if it was stopped.
        """
        if patch is not None:
            self.patch = patch
        if stride is not None:
            self.stride = stride
        outcome = self._start_sweep()
        self._sweep_runner.wait()
        if "error" in outcome:
            raise outcome["error"]
        if "result" not in outcome:
            raise JobCancelled("the sweep was stopped before it finished")
        return outcome["result"]

    def wait(self, timeout=60):
        """Block until the live scores and any sweep are computed and drawn (for scripts and tests)."""
        for runner in (self._sweep_runner, self._runner):
            if not runner.wait(timeout):
                raise TimeoutError(f"{type(self).__name__} still busy after {timeout} s")

    def stop(self):
        """Cancel the sweep and any waiting live computation."""
        self._runner.cancel()
        self._sweep_runner.cancel()

    # ============================================================ mouse input
    def _guarded(self, handler):
        def call(*args):
            try:
                handler(*args)
            except Exception as exc:  # never lose an error in ipycanvas' callback dispatcher
                self.show_error(exc)

        return call

    def _on_mouse_down(self, x, y):
        self._dragging = True
        self._last_point = None
        self._apply_pointer(x, y)

    def _on_mouse_move(self, x, y):
        self._show_value_at(x, y)
        if self._dragging:
            self._apply_pointer(x, y)

    def _on_mouse_up(self, x, y):
        self._dragging = False
        self._last_point = None

    def _on_mouse_out(self, x, y):
        self._dragging = False
        self._last_point = None
        self._hover_pixel = None
        self.hover_label.value = ""

    def _on_mouse_wheel(self, dx, dy):
        if not dy:
            return
        shortest = min(self.image.shape[:2])
        self.patch = int(min(max(1, self.patch + (-1 if dy > 0 else 1)), shortest))

    def _apply_pointer(self, x, y):
        """Record the pointer: move the square, or paint/erase along the stroke. No computation here."""
        row, col = self.canvas.to_image(x, y)
        height, width = self.image.shape[:2]
        if self.mode == "square":
            self._move_square((row, col))
            return
        start = self._last_point if self._last_point is not None else (row, col)
        self._last_point = (row, col)
        stroke = stroke_mask((height, width), start, (row, col), self.patch)
        mask = self._mask & ~stroke if self.erase else self._mask | stroke
        if not np.array_equal(mask, self._mask):
            self._set_mask(mask)

    def _show_value_at(self, x, y):
        if self.heatmap is None:
            return
        pixel = self.canvas.pixel_at(x, y)
        if pixel == self._hover_pixel:
            return
        self._hover_pixel = pixel
        if pixel is None:
            self.hover_label.value = ""
            return
        value = float(self.heatmap[pixel])
        self.hover_label.value = f"map at row {pixel[0]}, column {pixel[1]}: <b>{value:+.3f}</b>"

    # =============================================================== observers
    @traitlets.observe("image")
    def _on_image(self, change):
        if not self._ready:
            return
        old = change["old"]
        self._sweep_runner.cancel()
        self._clear_heatmap()
        if old is not None and old.shape[:2] != change["new"].shape[:2]:
            self._resize(change["new"].shape[:2])
        self._show_image()
        self._request_scores()

    def _resize(self, shape):
        """A model with flexible input size got an image of another size: rebuild the canvas."""
        height, width = shape
        self.box = None
        self._mask = np.zeros((height, width), bool)
        shortest = min(height, width)
        self.size_slider.max = shortest
        self.stride_slider.max = shortest
        if self.stride > shortest:
            self.stride = max(1, self.patch // 2)
        if self.patch > shortest:
            self.patch = _default_patch(height, width)
        self._build_canvas(height, width)
        self._image_column.children = (self.canvas.widget, *self._image_column.children[1:])
        self._image_column.layout.width = self.canvas.widget.layout.width

    def _move_square(self, center):
        """Centre the square on ``center = (row, col)`` (image pixels)."""
        height, width = self.image.shape[:2]
        self.box = centered_box(center[0], center[1], self.patch, height, width)
        self._center = center  # the box observer stored the box's own centre

    @traitlets.observe("box")
    def _on_box(self, change):
        box = self.box
        self._center = None if box is None else ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)
        if not self._ready:
            return
        if self.mode == "square":
            self.canvas.show_box(self.box)
            self._request_scores()

    @traitlets.observe("patch")
    def _on_patch(self, change):
        if not self._ready or self.mode != "square" or self._center is None:
            return
        self._move_square(self._center)

    @traitlets.observe("fill")
    def _on_fill(self, change):
        if not self._ready:
            return
        self.canvas.show_fill(self._fill_rgba())
        self._request_scores()

    @traitlets.observe("mode")
    def _on_mode(self, change):
        if not self._ready:
            return
        self.brush_buttons.disabled = self.mode != "paint"
        self._last_point = None
        self._show_occluder()
        self._request_scores()

    @traitlets.observe("class_index")
    def _on_class_index(self, change):
        if self._ready:
            self._request_scores()

    @traitlets.observe("opacity", "cmap", "show_map")
    def _on_map_style(self, change):
        if self._ready and self.heatmap is not None:
            self._draw_heatmap()

    def _set_mask(self, mask):
        self._mask = mask
        if self._ready and self.mode == "paint":
            self.canvas.show_mask(mask)
            self._request_scores()

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

    # ============================================================ live scores
    def _request_scores(self):
        """Submit one forward pass for the current occluder; the latest request wins."""
        insp, image, fill, spec = self.inspector, self.image, self.fill, self.class_index
        box, mask = self._current_occluder()

        def compute(cancel):
            cached_image, base = self._uncovered
            if cached_image is not image:  # (images are immutable: identity is enough, no re-hashing)
                base = insp.predict(image)
                self._uncovered = (image, base)
            if box is None and mask is None:
                probs = base
            else:
                probs = insp.occlude(image, box=box, fill=fill, mask=mask)
            predicted = int(np.argmax(base))
            return base, probs, (spec if spec is not None else predicted), predicted

        self._submit(compute, self._show_scores)

    def _show_scores(self, result):
        base, probs, target, self._predicted = result
        self.set_trait("probabilities", probs)
        names = self._class_names()
        order = _chart_order(base, probs, target, self.chart.top_k)
        self.chart.update(probs, names, reference=base, highlight=target, order=order)
        drop = float(base[target] - probs[target])
        self._target_text = (
            f"p({names[target]}) = {probs[target]:.3f}  (uncovered {base[target]:.3f}, drop {drop:+.3f})"
        )
        colour = "#b3261e" if drop > 0.005 else ("#1b6e20" if drop < -0.005 else "#333")
        self.target_label.value = (
            f"<div style='font-size:13px'>p(<b>{html.escape(names[target])}</b>) = "
            f"<b>{probs[target]:.3f}</b><br>uncovered {base[target]:.3f}, "
            f"<span style='color:{colour}'>drop {drop:+.3f}</span></div>"
        )

    # ================================================================== sweep
    def _start_sweep(self):
        """Submit the occlusion map job at the current settings; returns a dict its outcome lands in."""
        insp, image, fill, spec = self.inspector, self.image, self.fill, self.class_index
        patch, stride = self.patch, self.stride
        outcome = {}
        self.clear_message()

        def compute(cancel):
            target = insp.class_index(spec, image=image)  # None: the predicted class
            values = insp.occlusion_map(image, class_index=target, patch=patch, stride=stride, fill=fill,
                                        progress=self._report_progress, cancel=cancel)
            return values, dict(target=target, patch=patch, stride=stride, fill=fill)

        def on_result(result):
            if image is not self.image:
                return  # the image changed meanwhile: this map belongs to the old one
            values, info = result
            outcome["result"] = values
            self._sweep_info = info
            self.set_trait("heatmap", values)
            self._draw_heatmap()

        def on_error(exc):
            outcome["error"] = exc
            self.show_error(exc)

        self._sweep_runner.submit(compute, on_result, on_error)
        return outcome

    def _set_sweep_busy(self, busy):
        self._set_busy(busy)
        self.sweep_button.disabled = busy
        self.stop_button.disabled = not busy

    def _draw_heatmap(self):
        values, info = self.heatmap, self._sweep_info
        size = self.canvas.image_rgba.shape[:2]
        layer = heatmap_rgba(values, self.cmap, self.opacity, "symmetric", size=size, fade=True) if self.show_map else None
        self.canvas.show_heatmap(layer)
        low, high = heatmap_range(values, "symmetric")
        legend = heatmap_legend(low, high, self.cmap, width=size[1])
        with self.canvas.lock:  # ipycanvas' command cache is shared with the canvas' layers
            self.legend.show(legend)
        name = html.escape(self.inspector.class_name(info["target"]))
        self.legend_caption.value = (
            f"<div style='font-size:12px;line-height:1.35'>Drop of p({name}) when a {info['patch']}x{info['patch']} "
            f"{info['fill']} square covers each pixel (stride {info['stride']}). Positive: covering lowers the "
            "score; negative: raises it. Hover to read values.</div>"
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
        return [stack_panels(left, axis=0, gap=4, background=white),
                stack_panels(right, axis=0, gap=4, background=white)]


def _default_patch(height, width):
    """About a sixth of the shorter side, at least 2 pixels (as the backend's default)."""
    return int(max(1, min(min(height, width), max(2, round(min(height, width) / 6)))))


def _chart_order(base, probs, target, top_k):
    """Classes to chart: the top ones of either score, the target always included, in uncovered order."""
    score = np.maximum(np.asarray(base), np.asarray(probs))
    chosen = [int(i) for i in np.argsort(-score, kind="stable")[: max(1, int(top_k))]]
    if target not in chosen:
        chosen[-1] = int(target)
    return sorted(chosen, key=lambda i: (-float(base[i]), i))
