"""SaliencyOverlay: where the network looked, by gradient and by Grad-CAM.

The image, the attribution map and the map laid over the image, side by
side; a *Compare* tab puts several methods, classes or layers next to each
other for the same image so that one sees where they agree.
"""

import contextlib
import threading
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import traitlets

from ..errors import CNNWidgetsError, JobCancelled, LayerNotFoundError, UnsupportedModelError
from ..render import colorbar, image_to_rgba
from ..render.saliency import (
    display_zoom,
    is_diverging,
    legend_rgba,
    render_heatmap,
    titled_panel,
    zoom_rgba,
)
from ..render.panels import stack_panels
from .base import ImageCanvas, InspectorWidget, checked_class_index, checked_colormap
from .runner import WIDGET_WORKER_LINGER, LatestRequestRunner
from .saliency_controls import (
    BASELINES,
    CAM_METHODS,
    DIVERGING_CHOICES,
    GRADIENT_METHODS,
    METHOD_LABELS,
    METHODS,
    SEQUENTIAL_COLORMAPS,
    ClassPicker,
    show,
)
from .occlusion_traits import ImageArrayTrait
from .saliency_view import TitledCanvas, crisp_style

__all__ = ["SaliencyOverlay"]

_COMPARE_KINDS = ("method", "class", "layer")
_DEFAULT_COLORMAP = "turbo"
_DEFAULT_SIGNED_COLORMAP = "RdBu_r"
#: Screen pixels the compared panels share in one row.
COMPARE_ROW_WIDTH = 900


class _ClassTrait(traitlets.Any):
    """Any value, None included, handed to the owner's validator (which stores an int)."""

    allow_none = False  # so that None reaches the validator (traitlets passes None through otherwise)


@dataclass(frozen=True)
class _MapSpec:
    """One map to compute: which method, for which class, at which layer."""

    title: str
    method: str
    class_index: int
    layer: str


@dataclass(frozen=True)
class _Request:
    """Everything a computation needs, read from the traits when it was asked for."""

    image: np.ndarray
    image_rgba: np.ndarray
    main: _MapSpec
    signed: bool
    samples: int
    noise: float
    steps: int
    baseline: object
    compare: tuple


@dataclass(frozen=True)
class _Result:
    request: _Request
    values: np.ndarray
    compared: tuple  # ((spec, values), ...)
    cancel: threading.Event  # set when the user stopped the job: then it is not drawn


class SaliencyOverlay(InspectorWidget):
    """Show where the network looked: gradient saliency and Grad-CAM over the image.

    Parameters
    ----------
    model : keras.Model or Inspector
        The classifier; widgets on the same model share one inspector.
    image : array_like
        ``(H, W)``, ``(H, W, C)`` or ``(1, H, W, C)`` display image
        (uint8 0-255 or float in the inspector's ``input_range``).
    class_names : sequence of str, optional
        One name per class.
    preprocess : callable, optional
        Maps display images to model inputs (e.g.
        ``keras.applications.mobilenet_v2.preprocess_input``).
    method : str, optional
        One of :attr:`available_methods`; default ``"gradcam"``, or
        ``"vanilla"`` for a model without spatial layers.
    class_index : int or str, optional
        Class to explain (index or name); default the predicted class.
    layer : str, optional
        Grad-CAM layer (name or path); default the last convolution layer.
    top_k : int
        Number of one-click class buttons.
    **traits
        Initial values of the other traits (``opacity``, ``colormap``,
        ``signed``, ``clip_percentile``, ``samples``, ``noise``, ``steps``,
        ``baseline``, ``compare``, ``compare_by``, ``compare_methods``,
        ``compare_classes``, ``compare_layers``). ``baseline`` may also be
        an image (a custom Integrated Gradients baseline).

    Attributes
    ----------
    image_canvas, heatmap_canvas, overlay_canvas : ImageCanvas
        The three panels; each holds the image at its own resolution and
        the browser enlarges it with crisp pixels. ``.image`` is the RGBA
        last drawn.
    compare_canvases : list of ImageCanvas
        One overlay per compared map, in compare mode.
    class_picker : ClassPicker
        The class buttons and the class-name box.

    Examples
    --------
    >>> import cnnwidgets as cw
    >>> images, labels = cw.demo.digits_samples()
    >>> view = cw.SaliencyOverlay(cw.demo.digits_model(), images[7])
    >>> view.method = "smoothgrad"
    >>> view.wait(); view.heatmap.shape
    (28, 28)
    """

    #: The image explained (read-only float32 ``(H, W, C)`` once set); linkable with other widgets' ``image``.
    image = ImageArrayTrait()
    #: Attribution method, one of :attr:`available_methods`.
    method = traitlets.Unicode("vanilla")
    #: The class explained, an int. Set an index, a class name, or ``None`` for the predicted class.
    class_index = _ClassTrait(0)
    #: Path of the Grad-CAM layer ("" when the model has no spatial layer).
    layer = traitlets.Unicode("")
    #: Opacity of the map over the image, 0 to 1.
    opacity = traitlets.Float(0.6)
    #: Matplotlib colormap of the map (a diverging one for signed maps).
    colormap = traitlets.Unicode(_DEFAULT_COLORMAP)
    #: Gradient methods: keep the sign (sum over channels) instead of the largest magnitude.
    signed = traitlets.Bool(False)
    #: The colormap's ends sit at this percentile of ``|map|``; larger values saturate.
    clip_percentile = traitlets.Float(99.0)
    #: SmoothGrad: noisy copies averaged.
    samples = traitlets.Int(25)
    #: SmoothGrad: noise standard deviation, as a fraction of the input range.
    noise = traitlets.Float(0.15)
    #: Integrated Gradients: steps along the path.
    steps = traitlets.Int(32)
    #: Integrated Gradients baseline: "black", "blur", "gray" or "custom" (see ``custom_baseline``).
    baseline = traitlets.Unicode("black")
    #: Show the Compare tab: several maps side by side.
    compare = traitlets.Bool(False)
    #: What the compared maps differ in: "method", "class" or "layer".
    compare_by = traitlets.Enum(_COMPARE_KINDS, default_value="method")
    #: Methods compared when ``compare_by == "method"``.
    compare_methods = traitlets.List(traitlets.Unicode())
    #: Classes compared when ``compare_by == "class"``.
    compare_classes = traitlets.List(traitlets.Int())
    #: Grad-CAM layers compared when ``compare_by == "layer"``.
    compare_layers = traitlets.List(traitlets.Unicode())

    def __init__(self, model, image, class_names=None, preprocess=None, *, method=None, class_index=None,
                 layer=None, top_k=5, **traits):
        super().__init__(model, class_names=class_names, preprocess=preprocess)
        # The worker stays alive between requests (starting a thread per class
        # switch costs a millisecond or more on a busy machine), and the
        # progress bar appears only when a slow method reports progress.
        self._runner = LatestRequestRunner(on_busy=self._busy_changed, linger=WIDGET_WORKER_LINGER)
        self._ready = False
        self._draw_lock = threading.RLock()
        self._result = None
        self._rendering = None
        self._custom_baseline = None
        self._probabilities = None
        self._predicted = None
        self._image_rgba = None
        self._syncing = False
        self._index_names = ()
        self._cam_layers, self._cam_problem = self._find_cam_layers()
        self._hold_requests = 0
        self._requested = False
        if self._cam_layers:
            self.layer = self.inspector.default_cam_layer.path if layer is None else layer

        self._build_controls(top_k)
        self._build_layout()

        baseline = traits.pop("baseline", "black")
        if not isinstance(baseline, str):
            self.custom_baseline = baseline
            baseline = "custom"
        unknown = set(traits) - set(self.trait_names())
        if unknown:
            raise TypeError(f"SaliencyOverlay got unexpected arguments: {', '.join(sorted(unknown))}")

        self.image = image
        self.method = method if method is not None else ("gradcam" if self._cam_layers else "vanilla")
        if class_index is not None:
            self.class_index = class_index
        self.baseline = baseline
        self.compare_methods = traits.pop(
            "compare_methods", [m for m in ("vanilla", "smoothgrad", "integrated_gradients", "gradcam")
                                if m in self.available_methods]
        )
        self.compare_classes = traits.pop("compare_classes", self.class_picker.order[:3])
        self.compare_layers = traits.pop("compare_layers", self._default_compare_layers())
        for name, value in traits.items():
            setattr(self, name, value)
        if self._cam_problem:
            self.show_message(self._cam_problem, "warning")
        self._ready = True
        # The trait starts at 0, so a first class of 0 fires no change event.
        self.class_picker.select(self.class_index)
        self._draw_legend()
        self._request()

    # ------------------------------------------------------------- public API
    @property
    def available_methods(self):
        """Methods this model supports (the CAM methods need a spatial layer)."""
        return METHODS if self._cam_layers else GRADIENT_METHODS

    @property
    def cam_layers(self):
        """Paths of the layers Grad-CAM can use (every spatial layer, nested models included)."""
        return [r.path for r in self._cam_layers]

    @property
    def heatmap(self):
        """The map shown: float32 ``(H, W)`` at input resolution (None before the first result)."""
        return None if self._result is None else self._result.values

    @property
    def heatmap_limits(self):
        """``(low, high)``: the map values at the two ends of the colour legend."""
        return None if self._rendering is None else self._rendering.limits

    @property
    def compare_heatmaps(self):
        """``[(title, map), ...]`` of the Compare tab (empty outside compare mode)."""
        if self._result is None:
            return []
        return [(spec.title, values) for spec, values in self._result.compared]

    @property
    def compare_canvases(self):
        """The overlay canvases of the Compare tab, in panel order."""
        return [view.canvas for view in self._compare_views]

    @property
    def class_name(self):
        """Name of the class explained; set it to pick a class by name."""
        return self.inspector.class_name(self.class_index)

    @class_name.setter
    def class_name(self, name):
        self.class_index = str(name)

    @property
    def probabilities(self):
        """Class probabilities of the image, ``(num_classes,)``."""
        return self._probabilities

    @property
    def custom_baseline(self):
        """The custom Integrated Gradients baseline image (setting one selects it)."""
        return self._custom_baseline

    @custom_baseline.setter
    def custom_baseline(self, image):
        from ..backend.images import as_image

        self._custom_baseline = np.array(as_image(image, self.inspector.input_shape), np.float32)
        self._baseline_menu.options = [(label, key) for key, label in BASELINES.items()]
        if self.baseline == "custom":
            self._request()
        else:
            self.baseline = "custom"

    def stop(self):
        """Stop the running computation (the Stop button); the last map stays shown."""
        if not self._runner.busy:
            return
        super().stop()
        with self._draw_lock:  # after a draw already under way, so that this message stays
            self.show_message("Stopped. The map shown is from the previous settings; "
                              "change any setting to compute again.", "warning")

    # ------------------------------------------------------------ validation
    @traitlets.validate("method")
    def _check_method(self, proposal):
        method = proposal.value
        if method not in METHODS:
            raise traitlets.TraitError(
                f"unknown method {method!r}; use one of {', '.join(METHODS)}"
            )
        if method in CAM_METHODS and not self._cam_layers:
            self.show_message(f"{METHOD_LABELS[method]} is not available: {self._cam_problem}", "warning")
            return self.method if self.method not in CAM_METHODS else "vanilla"
        return method

    @traitlets.validate("class_index")
    def _check_class(self, proposal):
        spec = proposal.value
        if spec is None:  # the predicted class (what an OcclusionPainter's None means too)
            return self._predicted if self._predicted is not None else self.class_index
        return checked_class_index(self.inspector, spec)

    @traitlets.validate("layer")
    def _check_layer(self, proposal):
        if not self._cam_layers:
            if proposal.value:
                raise traitlets.TraitError(f"no layer can be chosen: {self._cam_problem}")
            return ""
        return self._cam_layer_path(proposal.value)

    def _cam_layer_path(self, spec):
        try:
            record = self.inspector.layer(spec)
        except LayerNotFoundError as exc:
            raise traitlets.TraitError(str(exc)) from None
        if record.path not in self.cam_layers:
            raise traitlets.TraitError(
                f"layer {record.path!r} has output shape {record.output_shape}, not (H, W, C) feature maps; "
                f"choose one of the spatial layers, e.g. {', '.join(self.cam_layers[-3:])}"
            )
        return record.path

    @traitlets.validate("opacity")
    def _check_opacity(self, proposal):
        return float(np.clip(proposal.value, 0.0, 1.0))

    @traitlets.validate("colormap")
    def _check_colormap(self, proposal):
        return checked_colormap(proposal.value)

    @traitlets.validate("clip_percentile")
    def _check_clip(self, proposal):
        if not 50.0 <= proposal.value <= 100.0:
            raise traitlets.TraitError(f"clip_percentile must be between 50 and 100, got {proposal.value}")
        return float(proposal.value)

    @traitlets.validate("samples", "steps")
    def _check_count(self, proposal):
        if proposal.value < 1:
            raise traitlets.TraitError(f"{proposal.trait.name} must be at least 1, got {proposal.value}")
        return proposal.value

    @traitlets.validate("noise")
    def _check_noise(self, proposal):
        if not 0.0 <= proposal.value <= 1.0:
            raise traitlets.TraitError(f"noise is a fraction of the input range, 0 to 1; got {proposal.value}")
        return float(proposal.value)

    @traitlets.validate("baseline")
    def _check_baseline(self, proposal):
        if proposal.value not in BASELINES:
            raise traitlets.TraitError(
                f"unknown baseline {proposal.value!r}; use one of {', '.join(BASELINES)} "
                "(or set custom_baseline to an image)"
            )
        if proposal.value == "custom" and self._custom_baseline is None:
            raise traitlets.TraitError("no custom baseline yet: set custom_baseline to an image first")
        return proposal.value

    @traitlets.validate("compare_methods")
    def _check_compare_methods(self, proposal):
        methods = list(dict.fromkeys(proposal.value))
        bad = [m for m in methods if m not in self.available_methods]
        if bad:
            raise traitlets.TraitError(
                f"cannot compare {', '.join(map(repr, bad))}: "
                f"available methods are {', '.join(self.available_methods)}"
            )
        return methods

    @traitlets.validate("compare_classes")
    def _check_compare_classes(self, proposal):
        classes = list(dict.fromkeys(int(c) for c in proposal.value))
        bad = [c for c in classes if not 0 <= c < self.inspector.num_classes]
        if bad:
            raise traitlets.TraitError(
                f"class indices {bad} are out of range (0 to {self.inspector.num_classes - 1})"
            )
        return classes

    @traitlets.validate("compare_layers")
    def _check_compare_layers(self, proposal):
        return list(dict.fromkeys(self._cam_layer_path(spec) for spec in proposal.value))

    # ------------------------------------------------------------ observers
    @traitlets.observe("image")
    def _image_changed(self, change):
        image = change.new
        self._image_rgba = image_to_rgba(image, self.inspector.input_range)
        height, width = image.shape[:2]
        zoom = display_zoom(height, width)
        for view in (self._image_view, self._heat_view, self._overlay_view):
            view.canvas.zoom = zoom
        self._sync_legend_width()
        self.image_canvas.show(self._image_rgba)
        previous = self._predicted
        try:
            probabilities = self.inspector.predict(image)
        except CNNWidgetsError as exc:
            self.show_error(exc)
            return
        self._probabilities = probabilities
        self._predicted = int(np.argmax(probabilities))
        names = self._class_names()
        top = self._predicted
        self._image_view.title = f"Image \u00b7 predicted {names[top]} ({100 * probabilities[top]:.1f}%)"
        self.class_picker.set_choices(probabilities, names)
        self._update_class_choices()
        with self._one_request():
            if previous is None or self.class_index == previous:
                # The explained class follows the prediction unless the user chose another.
                self.class_index = self._predicted
            self._request()

    @traitlets.observe("class_index")
    def _class_changed(self, change):
        self.class_picker.select(change.new)
        self._request()

    @traitlets.observe("method")
    def _method_changed(self, change):
        self._show_method_controls()
        self._match_colormap()
        self._request()

    @traitlets.observe("layer", "samples", "noise", "steps", "baseline", "compare_by", "compare_methods",
                       "compare_classes", "compare_layers")
    def _settings_changed(self, change):
        if change.name in ("compare_by",):
            self._show_compare_choices()
        self._request()

    @traitlets.observe("signed")
    def _signed_changed(self, change):
        self._match_colormap()
        self._request()

    def _match_colormap(self):
        """A signed map needs a diverging colormap centred on zero; an absolute one a sequential map."""
        signed = self._display_signed(self.method)
        if signed and not is_diverging(self.colormap):
            self.colormap = _DEFAULT_SIGNED_COLORMAP
        elif not signed and is_diverging(self.colormap):
            self.colormap = _DEFAULT_COLORMAP
        self._update_colormap_menu()
        self._draw_legend()

    @traitlets.observe("compare")
    def _compare_changed(self, change):
        self._tabs.selected_index = 1 if change.new else 0
        self._request()

    @traitlets.observe("opacity", "colormap", "clip_percentile")
    def _display_changed(self, change):
        if change.name == "colormap":
            self._update_colormap_menu()
            self._draw_legend()
        if self._ready:
            self._redraw()

    def _busy_changed(self, busy):
        if not busy:
            self._set_busy(False)

    def _report_progress(self, done, total):
        if self.progress.layout.visibility != "visible":
            self.progress.layout.visibility = "visible"
        super()._report_progress(done, total)

    # --------------------------------------------------------------- compute
    @contextlib.contextmanager
    def _one_request(self):
        """Collect the requests of several trait changes into one, sent at the end."""
        self._hold_requests += 1
        self._requested = False
        try:
            yield
        finally:
            self._hold_requests -= 1
        if self._requested and not self._hold_requests:
            self._request()

    def _request(self):
        """Ask the worker for the maps of the current settings (the latest request wins)."""
        if self._hold_requests:
            self._requested = True
            return
        if not self._ready or self.image is None:
            return
        request = self._make_request()
        self._submit(lambda cancel: self._compute(request, cancel), self._show_result)

    def _make_request(self):
        main = self._spec(self.method, self.class_index, self.layer)
        compare = ()
        if self.compare:
            if self.compare_by == "method":
                compare = tuple(self._spec(m, self.class_index, self.layer) for m in self.compare_methods)
            elif self.compare_by == "class":
                compare = tuple(self._spec(self.method, c, self.layer, title="class") for c in self.compare_classes)
            elif self._cam_layers:
                method = self.method if self.method in CAM_METHODS else "gradcam"
                compare = tuple(self._spec(method, self.class_index, layer, title="layer")
                                for layer in self.compare_layers)
        baseline = self._custom_baseline if self.baseline == "custom" else self.baseline
        return _Request(
            image=self.image, image_rgba=self._image_rgba, main=main, signed=self.signed, samples=self.samples,
            noise=self.noise, steps=self.steps, baseline=baseline, compare=compare,
        )

    def _spec(self, method, class_index, layer, title="method"):
        names = self._class_names()
        if title == "class":
            probability = self._probabilities[class_index] if self._probabilities is not None else np.nan
            text = f"{names[class_index]} ({100 * probability:.1f}%) \u00b7 {METHOD_LABELS[method]}"
        elif title == "layer":
            record = self.inspector.layer(layer)
            shape = _shape_text(record.output_shape[:2])
            text = f"{METHOD_LABELS[method]} \u00b7 {layer} ({shape})"
        else:
            text = METHOD_LABELS[method] + (f" \u00b7 {layer}" if method in CAM_METHODS else "")
        return _MapSpec(text, method, int(class_index), layer if method in CAM_METHODS else "")

    def _compute(self, request, cancel):
        specs = (request.main, *request.compare)
        values = {}
        for position, spec in enumerate(specs):
            if cancel.is_set():
                raise JobCancelled("stopped")
            key = (spec.method, spec.class_index, spec.layer)
            if key not in values:
                values[key] = self._attribution(request, spec, position, len(specs), cancel)
        compared = tuple((spec, values[(spec.method, spec.class_index, spec.layer)]) for spec in request.compare)
        main = values[(request.main.method, request.main.class_index, request.main.layer)]
        return _Result(request, main, compared, cancel)

    def _attribution(self, request, spec, position, count, cancel):
        """One map at input resolution, as the inspector computes it."""
        if spec.method in CAM_METHODS:
            return self.inspector.gradcam(request.image, spec.class_index, layer=spec.layer,
                                          plus_plus=spec.method == "gradcam++")

        def progress(done, total):
            self._report_progress(position + (done / total if total else 1.0), count)

        return self.inspector.saliency(
            request.image, spec.class_index, method=spec.method, signed=request.signed, samples=request.samples,
            noise=request.noise, steps=request.steps, baseline=request.baseline,
            progress=progress if count > 1 or spec.method in ("smoothgrad", "integrated_gradients") else None,
            cancel=cancel,
        )

    # ------------------------------------------------------------------ draw
    def _show_result(self, result):
        with self._draw_lock:
            if result.cancel.is_set():
                return
            self._result = result
            self._redraw()
            self._describe(result)

    def _display_signed(self, method):
        return self.signed and method not in CAM_METHODS

    def _render(self, image_rgba, spec, values):
        return render_heatmap(image_rgba, values, self.colormap, self._display_signed(spec.method),
                              self.clip_percentile, self.opacity)

    def _redraw(self):
        """Colour and draw the current result with the current display settings."""
        with self._draw_lock:
            result = self._result
            if result is None:
                return
            request = result.request
            rendering = self._render(request.image_rgba, request.main, result.values)
            self._rendering = rendering
            self.heatmap_canvas.show(rendering.heat)
            self.overlay_canvas.show(rendering.overlay)
            self._sync_legend_width()  # the heat canvas may have just taken a new image size
            self._heat_view.title = request.main.title
            low, high = rendering.limits
            self._legend_low.value = f"<small>{low:.3g}</small>"
            self._legend_mid.value = "<small>0</small>" if low < 0 < high else ""
            self._legend_high.value = f"<small>{high:.3g}</small>"
            self._draw_compare(result)

    def _draw_compare(self, result):
        views = self._compare_views_for(len(result.compared))
        height, width = result.request.image_rgba.shape[:2]
        # as many panels as fit side by side in one row, up to the size of the main panels
        zoom = display_zoom(height, width, largest=max(96, min(280, COMPARE_ROW_WIDTH // max(1, len(views)) - 12)))
        for view, (spec, values) in zip(views, result.compared):
            rendering = self._render(result.request.image_rgba, spec, values)
            view.title = spec.title
            if view.canvas.zoom != zoom:
                view.canvas.zoom = zoom
            view.canvas.show(rendering.overlay)

    def _compare_views_for(self, count):
        views = self._compare_views
        if len(views) != count:
            while len(views) < count:
                height, width = self._image_rgba.shape[:2]
                view = TitledCanvas("", width, height, self.image_canvas.zoom)
                index = len(views)
                view.canvas.on_mouse_move(lambda x, y, i=index: self._hover(("compare", i), x, y))
                view.canvas.on_mouse_out(lambda x, y: self._hover(None, x, y))
                views.append(view)
            del views[count:]
            self._compare_panels.children = tuple(views)
        return views

    def _describe(self, result):
        spec = result.request.main
        name = self._class_names()[spec.class_index]
        if not self.compare and not np.any(result.values):
            why = ("Grad-CAM found no positive evidence for this class at this layer; try another layer or class"
                   if spec.method in CAM_METHODS else
                   "the gradient vanishes (a saturated output or dead ReLUs); try Integrated Gradients or SmoothGrad")
            self.show_message(f"The map for class {name!r} is zero everywhere: {why}.", "warning")
            return
        if self.compare and not result.compared:
            self.show_message("Select what to compare (two or more entries) in the Compare tab.", "info")
            return
        probability = self._probabilities[spec.class_index] if self._probabilities is not None else np.nan
        where = f" at layer {spec.layer}" if spec.layer else ""
        note = " Grad-CAM is off: the model has no spatial (H, W, C) layer." if self._cam_problem else ""
        self.show_message(f"{METHOD_LABELS[spec.method]} for class {name!r} (p = {probability:.3f}){where}.{note}")

    def _draw_legend(self):
        if not hasattr(self, "_legend_canvas"):
            return
        width = max(16, self._heat_view.canvas.css_size[1])
        self._legend_canvas.show(colorbar(self.colormap, length=width, thickness=12))

    def _sync_legend_width(self):
        width = f"{self._heat_view.canvas.css_size[1]}px"
        if self._legend_labels.layout.width != width:
            self._legend_labels.layout.width = width
            self._draw_legend()

    # ----------------------------------------------------------------- hover
    def _hover(self, panel, x, y):
        result = self._result
        if panel is None or result is None:
            self.hover_label.value = ""
            return
        if panel == "main":
            title, values = result.request.main.title, result.values
        else:
            if panel[1] >= len(result.compared):
                return
            spec, values = result.compared[panel[1]]
            title = spec.title
        row, column = int(y), int(x)
        if not (0 <= row < values.shape[0] and 0 <= column < values.shape[1]):
            self.hover_label.value = ""
            return
        value = float(values[row, column])
        rank = 100.0 * float(np.mean(np.abs(values) < abs(value)))
        self.hover_label.value = (
            f"<code>x={column}, y={row}</code> &nbsp; {title}: <b>{value:.4g}</b> "
            f"(stronger than {rank:.0f}% of the map)"
        )

    # ------------------------------------------------------------- snapshot
    def _snapshot_panels(self):
        zoom = self.image_canvas.zoom
        if self.compare and self._result is not None and self._result.compared:
            return [titled_panel(zoom_rgba(view.canvas.image, view.canvas.zoom), view.title)
                    for view in self._compare_views[: len(self._result.compared)]]
        title = self._heat_view.title
        if self._result is not None:
            title += f" \u00b7 class {self._class_names()[self._result.request.main.class_index]}"
        heat = titled_panel(zoom_rgba(self.heatmap_canvas.image, zoom), title)
        if self._rendering is not None:
            legend = legend_rgba(self.colormap, self._rendering.limits, width=heat.shape[1])
            heat = stack_panels([heat, legend], axis=0, gap=4, background=(255, 255, 255, 255))
        return [
            titled_panel(zoom_rgba(self.image_canvas.image, zoom), self._image_view.title),
            heat,
            titled_panel(zoom_rgba(self.overlay_canvas.image, zoom), "Overlay"),
        ]

    # ----------------------------------------------------------------- build
    def _find_cam_layers(self):
        try:
            layers = [r for r in self.inspector.spatial_layers if not r.is_model]
        except UnsupportedModelError as exc:
            return [], f"Grad-CAM needs the model's layers ({exc}); the gradient methods still work."
        if not layers:
            return [], ("Grad-CAM and Grad-CAM++ need a layer with spatial (H, W, C) output and this model has "
                        "none; the gradient methods still work.")
        return layers, ""

    def _default_compare_layers(self, count=3):
        """The last convolution at each of the last ``count`` feature-map resolutions (coarse to fine)."""
        layers = [r for r in self._cam_layers if r.is_conv] or self._cam_layers
        last_at = {}
        for record in layers:
            last_at[tuple(record.output_shape[:2])] = record.path  # later layers overwrite earlier ones
        ordered = sorted(last_at.values(), key=self.cam_layers.index)
        return ordered[-count:]

    def _class_names(self):
        names = self.inspector.class_names
        if names is None:
            if len(self._index_names) != self.inspector.num_classes:
                self._index_names = tuple(str(i) for i in range(self.inspector.num_classes))
            names = self._index_names
        return names

    def _build_controls(self, top_k):
        self._method_menu = widgets.Dropdown(
            options=[(METHOD_LABELS[m], m) for m in self.available_methods], description="Method",
            layout=widgets.Layout(width="250px"),
        )
        self._layer_menu = widgets.Dropdown(
            options=[(f"{r.path} ({_shape_text(r.output_shape)})", r.path) for r in self._cam_layers]
            or [("(no spatial layer)", "")],
            description="Layer", disabled=not self._cam_layers, layout=widgets.Layout(width="330px"),
        )
        self._signed_box = widgets.Checkbox(description="signed", indent=False, layout=widgets.Layout(width="80px"))
        self._stop_button = widgets.Button(description="Stop", icon="stop", layout=widgets.Layout(width="80px"),
                                           tooltip="stop the running computation")
        self._stop_button.add_class("cnnwidgets-stop")
        self._stop_button.on_click(lambda _: self.stop())
        self._samples_slider = widgets.IntSlider(min=1, max=100, description="samples", continuous_update=False)
        self._noise_slider = widgets.FloatSlider(min=0.0, max=0.5, step=0.01, description="noise",
                                                 continuous_update=False)
        self._steps_slider = widgets.IntSlider(min=2, max=200, description="steps", continuous_update=False)
        self._baseline_menu = widgets.Dropdown(
            options=[(label, key) for key, label in BASELINES.items() if key != "custom"], description="baseline",
            layout=widgets.Layout(width="200px"),
        )
        self._opacity_slider = widgets.FloatSlider(min=0.0, max=1.0, step=0.05, description="opacity")
        self._colormap_menu = widgets.Dropdown(description="colormap", layout=widgets.Layout(width="200px"))
        self._clip_slider = widgets.FloatSlider(min=50.0, max=100.0, step=0.5, description="clip at pct")
        self._update_colormap_menu()
        # Not a link: the menu's options change with ``signed``, which would reset its value.
        self._colormap_menu.observe(self._colormap_picked, names="value")
        links = [
            (self._method_menu, "method"), (self._layer_menu, "layer"), (self._signed_box, "signed"),
            (self._samples_slider, "samples"), (self._noise_slider, "noise"), (self._steps_slider, "steps"),
            (self._baseline_menu, "baseline"), (self._opacity_slider, "opacity"),
            (self._clip_slider, "clip_percentile"),
        ]
        for control, name in links:
            control.value = getattr(self, name)
            widgets.link((control, "value"), (self, name))
        self.class_picker = ClassPicker(self._pick_class, top_k=top_k)

        self._compare_kind = widgets.ToggleButtons(
            options=[("Methods", "method"), ("Classes", "class"), ("Layers", "layer")], value=self.compare_by,
            style={"button_width": "80px"},
        )
        widgets.link((self._compare_kind, "value"), (self, "compare_by"))
        self._compare_method_menu = widgets.SelectMultiple(
            options=[(METHOD_LABELS[m], m) for m in self.available_methods], rows=6, description="methods",
        )
        self._compare_class_menu = widgets.SelectMultiple(rows=6, description="classes")
        self._compare_layer_menu = widgets.SelectMultiple(
            options=[(r.path, r.path) for r in self._cam_layers], rows=6, description="layers",
            layout=widgets.Layout(width="360px"),
        )
        menus = ((self._compare_method_menu, "compare_methods"), (self._compare_class_menu, "compare_classes"),
                 (self._compare_layer_menu, "compare_layers"))
        for menu, name in menus:
            menu.observe(lambda change, name=name: self._menu_picked(name, change.new), names="value")
            self.observe(lambda change, menu=menu: self._trait_picked(menu, change.new), names=name)

    def _build_layout(self):
        size = 28
        self._image_view = TitledCanvas("Image", size, size)
        self._heat_view = TitledCanvas("Map", size, size)
        self._overlay_view = TitledCanvas("Overlay", size, size)
        self.image_canvas = self._image_view.canvas
        self.heatmap_canvas = self._heat_view.canvas
        self.overlay_canvas = self._overlay_view.canvas
        self.image_canvas.add_class("cnnwidgets-saliency-image")
        self.heatmap_canvas.add_class("cnnwidgets-saliency-heatmap")
        self.overlay_canvas.add_class("cnnwidgets-saliency-overlay")
        for canvas in (self.heatmap_canvas, self.overlay_canvas):
            canvas.on_mouse_move(lambda x, y: self._hover("main", x, y))
            canvas.on_mouse_out(lambda x, y: self._hover(None, x, y))
        self._legend_canvas = ImageCanvas(256, 12)
        self._legend_low, self._legend_mid, self._legend_high = (widgets.HTML() for _ in range(3))
        self._legend_labels = widgets.HBox(
            [self._legend_low, self._legend_mid, self._legend_high],
            layout=widgets.Layout(justify_content="space-between", width="256px"),
        )
        legend = widgets.VBox([self._legend_canvas, self._legend_labels],
                              layout=widgets.Layout(align_items="center", margin="2px 0 0 0"))
        heat_column = widgets.VBox([self._heat_view, legend], layout=widgets.Layout(align_items="center"))
        single = widgets.HBox([self._image_view, heat_column, self._overlay_view],
                              layout=widgets.Layout(align_items="flex-start"))
        self._compare_views = []
        self._compare_panels = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))
        self._compare_panels.add_class("cnnwidgets-saliency-compare")
        compare = widgets.VBox([
            widgets.HBox([self._compare_kind, self._compare_method_menu, self._compare_class_menu,
                          self._compare_layer_menu], layout=widgets.Layout(align_items="flex-start")),
            self._compare_panels,
        ])
        self._tabs = widgets.Tab([single, compare], titles=("Overlay", "Compare"))
        self._tabs.observe(lambda change: setattr(self, "compare", change.new == 1), names="selected_index")
        self.hover_label = widgets.HTML(layout=widgets.Layout(min_height="1.5em"))

        self._method_params = widgets.HBox([self._samples_slider, self._noise_slider, self._steps_slider,
                                            self._baseline_menu])
        header = widgets.HBox([self._method_menu, self._layer_menu, self._signed_box, self._stop_button,
                               self.progress], layout=widgets.Layout(align_items="center", flex_flow="row wrap"))
        display = widgets.HBox([self._opacity_slider, self._colormap_menu, self._clip_slider],
                               layout=widgets.Layout(flex_flow="row wrap"))
        self.children = [crisp_style(), header, self._method_params, self.class_picker, display, self._tabs,
                         self.hover_label, self.status]
        self.add_class("cnnwidgets-saliency")
        self._show_method_controls()
        self._show_compare_choices()

    def _show_method_controls(self):
        method = self.method
        show(self._layer_menu, method in CAM_METHODS or not self._cam_layers)
        show(self._signed_box, method not in CAM_METHODS)
        show(self._samples_slider, method == "smoothgrad")
        show(self._noise_slider, method == "smoothgrad")
        show(self._steps_slider, method == "integrated_gradients")
        show(self._baseline_menu, method == "integrated_gradients")
        show(self._method_params, method in ("smoothgrad", "integrated_gradients"))

    def _show_compare_choices(self):
        show(self._compare_method_menu, self.compare_by == "method")
        show(self._compare_class_menu, self.compare_by == "class")
        show(self._compare_layer_menu, self.compare_by == "layer")

    def _update_colormap_menu(self):
        names = list(DIVERGING_CHOICES if self._display_signed(self.method) else SEQUENTIAL_COLORMAPS)
        if self.colormap not in names:
            names.append(self.colormap)
        self._syncing = True
        try:
            if tuple(self._colormap_menu.options) != tuple(names):
                self._colormap_menu.options = names
            self._colormap_menu.value = self.colormap
        finally:
            self._syncing = False

    def _update_class_choices(self):
        names = self._class_names()
        order = np.argsort(-self._probabilities, kind="stable")
        options = [(f"{names[i]} ({100 * self._probabilities[i]:.1f}%)", int(i)) for i in order]
        self._syncing = True
        try:
            self._compare_class_menu.options = options
            self._compare_class_menu.value = tuple(self.compare_classes)
        finally:
            self._syncing = False

    def _colormap_picked(self, change):
        if not self._syncing and change.new is not None:
            self.colormap = change.new

    def _pick_class(self, index):
        self.class_index = index

    def _menu_picked(self, name, value):
        if not self._syncing:
            setattr(self, name, list(value))

    def _trait_picked(self, menu, value):
        self._syncing = True
        try:
            menu.value = tuple(value)
        finally:
            self._syncing = False


def _shape_text(shape):
    """``(7, 7, 32)`` -> ``"7x7x32"``."""
    return "x".join("?" if d is None else str(d) for d in shape)
