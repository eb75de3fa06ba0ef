"""OcclusionPainter: cover part of the image with the mouse and watch the prediction answer.

Zeiler & Fergus (2014) slide a grey square over the image and watch the
classifier; the static occlusion map summarizes that. Here a person moves
the occluder (or paints one of any shape) and the class scores follow live;
a sweep then draws the full occlusion-sensitivity map over the image. On a
segmentation, regression or several-output model the painter watches a
target instead (a region of a class, a value, one output of many).

The class is assembled from :mod:`.view` (controls, canvases, drawing),
:mod:`.target_view` (output and target controls, the non-classifier display)
and :mod:`.compute` (the live-score and sweep jobs); this module holds its
traits and their validation, the public API, mouse input and the observers.
"""

import numpy as np
import traitlets

from ...backend.occlusion import FILLS, normalize_box
from ...errors import CNNWidgetsError, JobCancelled
from ..common.runner import WIDGET_WORKER_LINGER, LatestRequestRunner
from ..common.traits import ArrayTrait, ImageArrayTrait, checked_colormap
from ..common.widget import InspectorWidget
from .compute import OcclusionCompute
from .geometry import centered_box, stroke_mask
from .target_view import OcclusionTargets
from .view import COLORMAPS, OcclusionView


__all__ = ["OcclusionPainter", "MODES", "COLORMAPS"]

#: Occluder shapes: a square that follows the mouse, or a painted mask.
MODES = ("square", "paint")


class OcclusionPainter(OcclusionView, OcclusionTargets, OcclusionCompute, InspectorWidget):
    """Cover part of an image with the mouse and watch the class scores (or any target's score) change, live.

    Drag on the image to move a square occluder (the mouse wheel or the Size
    slider sets its side), or switch to Paint and brush an occluder of any
    shape (Eraser removes, Reset clears). Every move costs one forward pass
    (:meth:`Inspector.occlude`) on a background worker where the latest
    position wins, so the view never lags behind a backlog. The bar chart
    shows the occluded scores as bars over the unoccluded ones (outlined).
    Sweep computes the full occlusion-sensitivity map
    (:meth:`Inspector.occlusion_map`) and lays it over the image; hover over
    it to read its values.

    Beyond classifiers the painter watches :attr:`explained_target` (the
    target traits ``output``, ``class_index``, ``region``, ``value_sign``):
    a class head keeps its bars; a regression output shows every value,
    occluded against uncovered, on a signed axis; a dense (segmentation)
    output shows each class's mean score over the region explained and the
    predicted mask under the occluder. :attr:`score` is the target's score
    with the occluder (:meth:`Inspector.occlude` with ``target=``; a
    probability where the output ends in softmax/sigmoid, else a value),
    and the sweep maps its drop.

    Parameters
    ----------
    model : keras.Model or Inspector
        The model (an :class:`~cnnwidgets.Inspector` is used as it is): a
        classifier, or any model with one image input (pass
        ``output_kinds="values"`` for a regression output that the inspector
        would take for logits).
    image : array_like
        One image ``(H, W)``, ``(H, W, C)`` or ``(1, H, W, C)``, in the
        inspector's ``input_range`` (0-255 by default).
    class_names : sequence of str, optional
        One name per class.
    preprocess : callable, optional
        Maps display images to model inputs (see :class:`~cnnwidgets.Inspector`).
    class_index : int or str, optional
        The class to watch (on other outputs: the channel or value); default
        the predicted class (the first value of a regression output).
    output : str, optional
        Name of the output to watch (several-output models); default the first.
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
    target : int
        The class watched: ``class_index``, or ``predicted_class`` when that is ``None``.
    explained_target : int or cnnwidgets.targets.Output
        What the backend is asked for: the class index on a classifier, else a target object.

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
    # class_index (the requested class; None: the predicted class) and the read-only
    # predicted_class (of the uncovered image) come from RequestedTarget, with output, region, value_sign.
    #: The scores shown: probabilities with the current occluder (read-only; ``None`` on value and map outputs).
    probabilities = ArrayTrait(None, allow_none=True, read_only=True)
    #: The selected output with the current occluder: probabilities, values or the ``(H', W', K)`` map (read-only).
    occluded_output = ArrayTrait(None, allow_none=True, read_only=True)
    #: The explained target's score with the current occluder (read-only; ``None`` until computed).
    score = traitlets.Float(None, allow_none=True, read_only=True)
    #: The explained target's score on the uncovered image (read-only).
    uncovered_score = traitlets.Float(None, allow_none=True, read_only=True)
    #: The last occlusion map ``(H, W)`` from :meth:`sweep` (read-only), ``None`` before.
    heatmap = ArrayTrait(None, allow_none=True, read_only=True)
    #: Opacity of the map over the image.
    opacity = traitlets.Float(0.85, min=0.0, max=1.0)
    #: Matplotlib colormap of the map (zero in its middle).
    colormap = traitlets.Unicode("bwr")
    #: Whether the map is drawn over the image.
    show_map = traitlets.Bool(True)
    #: How the last sweep and occluder move were computed (full or incremental inference) and
    #: the speed-up measured against full recomputation, as shown under the sweep controls (read-only).
    compute_status = traitlets.Unicode("", read_only=True)

    def __init__(self, model, image, class_names=None, preprocess=None, class_index=None, patch=None,
                 fill="gray", top_k=5, display_size=336, output=None, **kwargs):
        self._ready = False  # first: traits given as keywords (e.g. value_sign) are set by super().__init__
        super().__init__(model, class_names=class_names, preprocess=preprocess, **kwargs)
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
        self._uncovered = (None, None, None)  # (image, weights version, its probabilities), kept by the worker
        self._uncovered_target = (None, None, None)  # (image, (version, output, target key), uncovered results)
        self._predicted_for = None  # (image, output) whose prediction the target traits hold (non-classifiers)
        self._target_text = ""
        self._sweep_info = None
        self._compute_runs = {}  # "sweep"/"move" -> summary text of how it ran
        self.add_class("cnnwidgets-occlusion-painter")

        self.image = image
        height, width = self.image.shape[:2]
        self._mask = np.zeros((height, width), bool)
        self.patch = int(patch) if patch is not None else _default_patch(height, width)
        self.stride = max(1, self.patch // 2)
        self.fill = fill
        if output is not None:
            self.output = output
        self.class_index = class_index
        self._build_controls(top_k)
        self._build_canvas(height, width)
        self._build_layout()
        self._ready = True
        self._show_image()
        self._read_prediction()
        self._request_scores()


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

    @traitlets.validate("colormap")
    def _validate_colormap(self, proposal):
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
            ``(H, W)`` float32: the mean drop of the explained target's score
            (the class's probability on a classifier) over the square
            positions that cover each pixel.

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

    halt = stop

    @property
    def busy(self):
        """True while the live scores or a sweep are being computed."""
        return self._runner.busy or self._sweep_runner.busy

    def _refresh_from_weights(self):
        self._read_prediction()
        self._request_scores()
        if self.heatmap is not None:  # the map shown came from the old weights: sweep again
            self._start_sweep()

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
        self._read_prediction()
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

    @traitlets.observe("opacity", "colormap", "show_map")
    def _on_map_style(self, change):
        if self._ready and self.heatmap is not None:
            self._draw_heatmap()

    def _set_mask(self, mask):
        self._mask = mask
        if self._ready and self.mode == "paint":
            self.canvas.show_mask(mask)
            self._request_scores()



def _default_patch(height, width):
    """About a sixth of the shorter side, at least 2 pixels (as the backend's default)."""
    return int(max(1, min(min(height, width), max(2, round(min(height, width) / 6)))))

