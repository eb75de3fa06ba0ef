"""SaliencyOverlay: where the network looked, by any method of the catalogue.

The image, the attribution map and the map laid over the image, side by
side; a *Compare* tab puts several methods, classes or layers next to each
other for the same image so that one sees where they agree. On a
segmentation, regression or several-output model the class buttons give way
to the target panel (:class:`~..common.target_panel.TargetPanel`): the
predicted mask beside the image, where a click chooses a class and a drag
paints the region explained, or the values with the sign explained, and a
picker for the output. The methods,
their labels and their parameter controls come from
:func:`cnnwidgets.methods`; every map is computed by
:meth:`Inspector.explain <cnnwidgets.Inspector.explain>`.

The class is assembled from :mod:`.state` (traits and validation),
:mod:`.compute` (requests and the worker's computation), :mod:`.layout`
(controls and panels) and :mod:`.view` (drawing); this module holds the
constructor, the public API and the observers that connect them.
"""

import numpy as np
import traitlets

from ...backend.methods import methods
from ...errors import CNNWidgetsError
from ...render import image_to_rgba
from ...render.saliency import display_zoom, is_diverging
from ..common.runner import WIDGET_WORKER_LINGER, LatestRequestRunner
from .compute import SaliencyCompute
from .layout import SaliencyLayout
from .methods import default_compare_methods
from .state import DEFAULT_COLORMAP, DEFAULT_SIGNED_COLORMAP, SaliencyState
from .trust import attach_trust_panels
from .view import SaliencyView

__all__ = ["SaliencyOverlay"]


class SaliencyOverlay(SaliencyView, SaliencyLayout, SaliencyCompute, SaliencyState):
    """Show where the network looked: any explanation method of the catalogue, over the image.

    Parameters
    ----------
    model : keras.Model or Inspector
        The model: a classifier, a segmenter (dense ``(H', W', K)`` output), a
        regressor, or one with several outputs; widgets on the same model
        share one inspector.
    image : array_like
        ``(H, W)``, ``(H, W, C)`` or ``(1, H, W, C)`` display image
        (uint8 0-255 or float in the inspector's ``input_range``).
    class_names : sequence of str, optional
        One name per class.
    preprocess : callable, optional
        Maps display images to model inputs (e.g.
        ``keras.applications.mobilenet_v2.preprocess_input``).
    method : str, optional
        A name from :func:`cnnwidgets.methods` (one of
        :attr:`available_methods`); default the catalogue's first quick
        method that explains a layer (Grad-CAM), or its first quick method
        for a model without spatial layers. On a dense (segmentation)
        output, the first quick method that explains pixels directly (the
        gradient), which follows the region explained where a CAM method
        may not (see the README's *Targets*).
    method_params : dict, optional
        Parameters of ``method`` (``MethodSpec.params``), e.g.
        ``{"samples": 50}``; the others take their defaults.
    class_index : int or str, optional
        Class to explain (index or name): on a map output its channel, on a
        regression output the value; default the predicted class (the class
        predicted over the largest area; the first value).
    output : str, optional
        The output explained on a model with several (a name from
        ``inspector.output_names``); default the first.
    output_kinds : str or sequence of str, optional
        What the outputs hold, "classes", "values" or "map" (see
        :class:`~cnnwidgets.Inspector`); guessed by default.
    layer : str, optional
        Layer explained by the methods that need one (name or path);
        default :attr:`Inspector.default_cam_layer`.
    top_k : int
        Number of one-click class buttons.
    **traits
        Initial values of the other traits (``region``, ``value_sign``,
        ``opacity``, ``colormap``, ``clip_percentile``, ``compare``,
        ``compare_by``, ``compare_methods``, ``compare_classes``,
        ``compare_layers``).

    Attributes
    ----------
    image_canvas, heatmap_canvas, overlay_canvas : ImageCanvas
        The three panels; each holds the image at its own resolution and
        the browser enlarges it with crisp pixels. ``.image`` is the RGBA
        last drawn.
    compare_canvases : list of ImageCanvas
        One overlay per compared map, in compare mode.
    class_picker : ClassPicker
        The class buttons and the class-name box (classifiers).
    target_panel : TargetPanel or None
        What to explain on other models: output, mask and region, values
        and sign (``None`` on a classifier).

    Examples
    --------
    >>> import cnnwidgets as cw
    >>> images, labels = cw.demo.digits_samples()
    >>> view = cw.SaliencyOverlay(cw.demo.digits_model(), images[7])
    >>> [m.name for m in cw.methods("perturbation")]
    ['scorecam', 'ablationcam', 'rise', 'occlusion']
    >>> view.method = "rise"
    >>> view.method_params = {"masks": 500}     # a slider in the widget
    >>> view.wait(); view.heatmap.shape
    (28, 28)

    A segmenter: explain the tank over a painted region (or click and paint
    on the mask beside the image).

    >>> scenes, masks = cw.demo.tank_scenes(4, tank_share=1.0)
    >>> seg = cw.SaliencyOverlay(cw.demo.train_tank_segmenter(), scenes[0],
    ...                          class_names=cw.demo.SEGMENT_CLASS_NAMES)
    >>> seg.class_name = "tank"; seg.region = masks[0]
    >>> seg.describe_target()
    'tank over its painted region (97 px)'
    >>> seg.wait(); seg.explained_target
    Output(output=0, target=Region(class_index=1, mask=(32, 32) sum=97))
    """

    def __init__(self, model, image, class_names=None, preprocess=None, *, method=None, method_params=None,
                 class_index=None, layer=None, top_k=5, output=None, output_kinds=None, **traits):
        super().__init__(model, class_names=class_names, preprocess=preprocess, output_kinds=output_kinds)
        # The worker stays alive between requests (starting a thread per class
        # switch costs a millisecond or more on a busy machine), and the
        # progress bar appears only when a slow method reports progress.
        self._runner = LatestRequestRunner(on_busy=self._busy_changed, linger=WIDGET_WORKER_LINGER)
        self._ready = False
        self._result = None
        self._rendering = None
        self._params = {}  # method name -> its bound parameters (see SaliencyState._params_of)
        self._probabilities = None
        self._image_rgba = None
        self._syncing = False
        self._index_names = ()
        self._cam_layers, self._cam_problem = self._find_cam_layers()
        self._hold_requests = 0
        self._requested = False
        if self._cam_layers:
            self.layer = self.inspector.default_cam_layer.path if layer is None else layer
        if output is not None:
            self.output = output
        self._fit_layer_to_output()

        self._build_controls(top_k)
        self._build_layout()
        #: The trust panel (deletion/insertion of the map shown) and the randomization check, see trust.py.
        self.trust, self.cascade = attach_trust_panels(self)

        unknown = set(traits) - set(self.trait_names())
        if unknown:
            parameters = {p.name for spec in methods() for p in spec.params}
            hint = ("; a method's parameters go in method_params={...} (see cnnwidgets.methods())"
                    if unknown & parameters else "")
            raise TypeError(f"SaliencyOverlay got unexpected arguments: {', '.join(sorted(unknown))}{hint}")

        self.image = image
        if method is not None:
            self.method = method
        if method_params:
            self.method_params = method_params
        if class_index is not None:
            self.class_index = class_index
        self.compare_methods = traits.pop("compare_methods", default_compare_methods(bool(self._cam_layers)))
        self.compare_classes = traits.pop("compare_classes", self._default_compare_classes())
        self.compare_layers = traits.pop("compare_layers", self._default_compare_layers())
        for name, value in traits.items():
            setattr(self, name, value)
        if self._cam_problem:
            self.show_message(self._cam_problem[0].upper() + self._cam_problem[1:], "warning")
        self._ready = True
        self.class_picker.select(self.target)
        self._draw_legend()
        self._request()

    # ------------------------------------------------------------- public API
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

    def stop(self):
        """Stop the running computation (the Stop button); the last map stays shown."""
        self.trust.stop()
        self.cascade.stop()
        if not self._runner.busy:
            return
        super().stop()  # returns after a draw under way, so that this message stays
        self.show_message("Stopped. The map shown is from the previous settings; "
                          "change any setting to compute again.", "warning")

    def wait(self, timeout=60):
        """Block until the map and its trust panel's measurements are drawn (for scripts and tests)."""
        super().wait(timeout)
        self.trust.wait(timeout)
        self.cascade.wait(timeout)

    def _show_result(self, result):
        super()._show_result(result)
        main = result.request.main
        self.trust.measure(result.request.image, result.values, main.target, self.compare_heatmaps,
                           title=main.title, explains=main.explains)
        self.cascade.notice()

    # ------------------------------------------------------------ observers
    @traitlets.observe("image")
    def _image_changed(self, change):
        image = change.new
        self._image_rgba = image_to_rgba(image, self.inspector.input_range)
        height, width = image.shape[:2]
        zoom = display_zoom(height, width, largest=self._panel_side)
        for view in (self._image_view, self._heat_view, self._overlay_view):
            view.canvas.zoom = zoom
        self._sync_legend_width()
        self.image_canvas.show(self._image_rgba)
        self._show_prediction()

    def _show_prediction(self):
        """New scores for the class buttons, the title and ``predicted_class``; then a new map.

        ``class_index`` None follows the new prediction.
        """
        if not self.inspector.is_classifier:
            self._show_target_prediction()
            return
        try:
            probabilities = self.inspector.predict(self.image)
        except CNNWidgetsError as exc:
            self.show_error(exc)
            return
        self._probabilities = probabilities
        top = int(np.argmax(probabilities))
        names = self._class_names()
        self._image_view.title = f"Image \u00b7 predicted {names[top]} ({100 * probabilities[top]:.1f}%)"
        self.class_picker.set_choices(probabilities, names)
        self._update_class_choices()
        with self._one_request():
            self.set_trait("probabilities", probabilities)
            self.set_trait("predicted_class", top)
            self.class_picker.select(self.target)
            self._request()

    def _show_target_prediction(self):
        """A non-classifier: read the selected output (the target panel redraws from the traits), then a new map."""
        with self._one_request():
            try:
                self._update_prediction(self.image)
            except CNNWidgetsError as exc:
                self.show_error(exc)
                return
            self._image_view.title = self._prediction_title()
            self._update_class_choices()
            self._request()

    @traitlets.observe("class_index")
    def _class_changed(self, change):
        self.class_picker.select(self.target)
        self._request()

    @traitlets.observe("output")
    def _output_switched(self, change):
        """Another output: its own classes (the predicted one), no region, its prediction, classes to compare."""
        with self._one_request():
            with self.hold_trait_notifications():
                self.region = None
                self.class_index = None
            self._fit_layer_to_output()
            if not self.trait_has_value("image"):
                return
            self._show_target_prediction()
            self.compare_classes = self._default_compare_classes()
            self._show_compare_choices()

    @traitlets.observe("region", "value_sign")
    def _region_changed(self, change):
        self._request()

    @traitlets.observe("method")
    def _method_changed(self, change):
        with self._one_request():
            self.method_params = self._params_of(change.new)  # the new method's own parameters
            self._show_method_controls()
            self._match_colormap()
            self._request()

    @traitlets.observe("method_params")
    def _method_params_changed(self, change):
        self._params[self.method] = change.new
        if change.new:
            self._param_controls_for(self.method).set_values(change.new)
        self._match_colormap()
        self._request()

    @traitlets.observe("layer", "compare_by", "compare_methods", "compare_classes", "compare_layers")
    def _settings_changed(self, change):
        if change.name in ("compare_by", "layer"):
            if hasattr(self, "_compare_note"):  # (the layer is set before the controls are built)
                self._show_compare_choices()
        else:
            self._show_stop()
        self._request()

    def _match_colormap(self):
        """A signed map needs a diverging colormap centred on zero; an absolute one a sequential map."""
        signed = self._display_signed()
        if signed and not is_diverging(self.colormap):
            self.colormap = DEFAULT_SIGNED_COLORMAP
        elif not signed and is_diverging(self.colormap):
            self.colormap = DEFAULT_COLORMAP
        self._update_colormap_menu()
        self._draw_legend()

    @traitlets.observe("compare")
    def _compare_changed(self, change):
        self._tabs.selected_index = 1 if change.new else 0
        self._show_stop()
        self._request()

    @traitlets.observe("opacity", "colormap", "clip_percentile")
    def _display_changed(self, change):
        if change.name == "colormap":
            self._update_colormap_menu()
            self._draw_legend()
        if self._ready:
            self._redraw()

    def _refresh_from_weights(self):
        self._show_prediction()

    def _busy_changed(self, busy):
        if not busy:
            self._set_busy(False)

    def _report_progress(self, done, total):
        if self.progress.layout.visibility != "visible":
            self.progress.layout.visibility = "visible"
        super()._report_progress(done, total)

