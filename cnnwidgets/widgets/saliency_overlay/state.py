"""SaliencyOverlay's state: its traits, their validation, and what a request holds.

The traits are the widget's whole public state; each ``@validate`` is a
short check that raises :class:`traitlets.TraitError` saying what to set
instead. Methods and their parameters are checked by the catalogue
(:func:`~cnnwidgets.backend.methods.get_method`, ``MethodSpec.bind``); the
parameters of every method are remembered, so switching away from a method
and back keeps its settings, and Compare uses each method's own. The frozen dataclasses carry one request from the kernel thread to
the worker and its result back.
"""

from dataclasses import dataclass, field

import numpy as np
import traitlets

from ...backend.methods import get_method
from ...errors import CNNWidgetsError, LayerNotFoundError, UnsupportedModelError
from ...render.masks import channel_areas
from ...targets import Output, Region, Value
from ..common.targets import RequestedTarget
from ..common.traits import ArrayTrait, ImageArrayTrait, checked_colormap
from ..common.widget import InspectorWidget
from .methods import available_methods, default_method, is_signed

__all__ = ["SaliencyState", "MapSpec", "MapsRequest", "MapsResult", "COMPARE_KINDS"]

COMPARE_KINDS = ("method", "class", "layer")
DEFAULT_COLORMAP = "turbo"
DEFAULT_SIGNED_COLORMAP = "RdBu_r"


@dataclass(frozen=True)
class MapSpec:
    """One map to compute: which method, with which parameters, for which target, at which layer.

    ``class_index`` is the class, channel or value explained; ``target`` what
    the backend is given (the same int on a classifier, else a
    :mod:`cnnwidgets.targets` object); ``explains`` says it in words.
    ``layer`` is "" for a method that explains no layer; ``long`` comes from
    the method's spec (it reports progress and polls the cancel token).
    """

    title: str
    method: str
    class_index: int
    layer: str
    params: dict = field(default_factory=dict)
    long: bool = False
    target: object = None
    explains: str = ""

    @property
    def signed(self):
        """True if the map keeps its sign (drawn on a diverging colormap)."""
        return is_signed(self.params)


@dataclass(frozen=True)
class MapsRequest:
    """Everything a computation needs, read from the traits when it was asked for."""

    image: np.ndarray
    image_rgba: np.ndarray
    main: MapSpec
    compare: tuple


@dataclass(frozen=True)
class MapsResult:
    request: MapsRequest
    values: np.ndarray
    compared: tuple  # ((spec, values), ...)


class SaliencyState(RequestedTarget, InspectorWidget):
    """The traits of :class:`~cnnwidgets.SaliencyOverlay` and their validation."""

    #: The image explained (read-only float32 ``(H, W, C)`` once set); linkable with other widgets' ``image``.
    image = ImageArrayTrait()
    #: Explanation method, a name from :func:`cnnwidgets.methods` (one of :attr:`available_methods`).
    method = traitlets.Unicode()
    #: The selected method's parameters, ``{name: value}``, every one of its ``MethodSpec.params``.
    #: Set a partial dict to change some (the others keep their values); each method keeps its own.
    method_params = traitlets.Dict()
    # class_index (the class, map channel or value explained; None: the predicted one), output, region,
    # value_sign and the read-only predicted_class, output_values, predicted_mask come from RequestedTarget.
    #: The map shown: float32 ``(H, W)`` at input resolution (read-only; ``None`` before the first result).
    heatmap = ArrayTrait(None, allow_none=True, read_only=True)
    #: Path of the layer explained by methods that need one ("" when the model has no spatial layer).
    layer = traitlets.Unicode("")
    #: Opacity of the map over the image, 0 to 1.
    opacity = traitlets.Float(0.6)
    #: Matplotlib colormap of the map (a diverging one for signed maps).
    colormap = traitlets.Unicode(DEFAULT_COLORMAP)
    #: The colormap's ends sit at this percentile of ``|map|``; larger values saturate.
    clip_percentile = traitlets.Float(99.0)
    #: Show the Compare tab: several maps side by side.
    compare = traitlets.Bool(False)
    #: What the compared maps differ in: "method", "class" or "layer".
    compare_by = traitlets.Enum(COMPARE_KINDS, default_value="method")
    #: Methods compared when ``compare_by == "method"`` (each with its own parameters).
    compare_methods = traitlets.List(traitlets.Unicode())
    #: Classes (map channels, values) of the selected output compared when ``compare_by == "class"``.
    compare_classes = traitlets.List(traitlets.Int())
    #: Layers compared when ``compare_by == "layer"`` (with the selected method if it explains a layer).
    compare_layers = traitlets.List(traitlets.Unicode())

    # ------------------------------------------------------------- public API
    @property
    def available_methods(self):
        """Names of the catalogue's methods this model can run (those that explain a layer need a spatial one)."""
        return available_methods(bool(self._cam_layers))

    @property
    def cam_layers(self):
        """Paths of the layers a method can explain (every spatial layer, nested models included)."""
        return [r.path for r in self._cam_layers]

    def method_params_of(self, method):
        """The parameters ``method`` uses here, ``{name: value}`` (its defaults until set)."""
        return dict(self._params_of(get_method(method).name))

    def set_method_params(self, method, **params):
        """Set some parameters of any method (e.g. one compared); the others keep their values.

        Raises
        ------
        UnknownMethodError, InvalidParameterError
            From the catalogue, saying which names and values are valid.
        """
        spec = get_method(method)
        bound = spec.bind({**self._params_of(spec.name), **params})
        if spec.name == self.method:
            self.method_params = bound
            return
        self._params[spec.name] = bound
        if self.compare and self.compare_by == "method" and spec.name in self.compare_methods:
            self._request()

    # ------------------------------------------------------------ validation
    @traitlets.default("method")
    def _default_method(self):
        return default_method(bool(self._cam_layers), dense_output=self.output_kind == "map")

    @traitlets.default("method_params")
    def _default_method_params(self):
        return dict(self._params_of(self.method))

    @traitlets.validate("method")
    def _check_method(self, proposal):
        try:
            spec = get_method(proposal.value)
        except CNNWidgetsError as exc:
            raise traitlets.TraitError(str(exc)) from None
        if spec.needs_layer and not self._cam_layers:
            self.show_message(f"{spec.label} is not available: {self._cam_problem}", "warning")
            return self.method if self.method in self.available_methods else default_method(False)
        return spec.name

    @traitlets.validate("method_params")
    def _check_method_params(self, proposal):
        spec = get_method(self.method)
        try:
            return spec.bind({**self._params_of(spec.name), **proposal.value})
        except CNNWidgetsError as exc:
            self.show_error(exc)
            raise traitlets.TraitError(str(exc)) from None

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

    @traitlets.validate("compare_methods")
    def _check_compare_methods(self, proposal):
        methods = list(dict.fromkeys(proposal.value))
        bad = [m for m in methods if m not in self.available_methods]
        if bad:
            raise traitlets.TraitError(
                f"cannot compare {', '.join(map(repr, bad))}: "
                f"available methods are {', '.join(self.available_methods)} (see cnnwidgets.methods())"
            )
        return methods

    @traitlets.validate("compare_classes")
    def _check_compare_classes(self, proposal):
        classes = list(dict.fromkeys(int(c) for c in proposal.value))
        count = len(self._class_names())
        bad = [c for c in classes if not 0 <= c < count]
        if bad:
            where = "" if self.inspector.is_classifier else f" for output {self.output!r} ({self.output_kind})"
            raise traitlets.TraitError(f"class indices {bad} are out of range{where}: 0 to {count - 1}")
        return classes

    @traitlets.validate("compare_layers")
    def _check_compare_layers(self, proposal):
        return list(dict.fromkeys(self._cam_layer_path(spec) for spec in proposal.value))

    # ----------------------------------------------------------------- build
    def _find_cam_layers(self):
        try:
            layers = [r for r in self.inspector.spatial_layers if not r.is_model]
        except UnsupportedModelError as exc:
            return [], f"methods that explain a layer need the model's layers ({exc}); the others still work."
        if not layers:
            return [], ("methods that explain a layer need one with spatial (H, W, C) output and this model has "
                        "none; the others still work.")
        return layers, ""

    def _fit_layer_to_output(self):
        """On a model with several outputs, explain a layer the selected output depends on.

        The default layer (and a layer chosen for another head) may lie on
        another output's branch, where the selected output's score has no
        gradient. Then the last layer with feature maps on this output's
        branch is taken (not a dense head's own score map).
        """
        graph = self.inspector.graph
        if not self._cam_layers or graph is None or len(self.inspector.output_names) < 2:
            return
        feeding = graph.feeding_paths(self.output_index)
        if self.layer in feeding:
            return
        heads = {tuple(shape) for shape in self.inspector.output_shapes if len(shape) == 3}
        candidates = [r.path for r in self._cam_layers if r.path in feeding and tuple(r.output_shape) not in heads
                      and _positions(r.output_shape) > 1]
        if candidates:
            self.layer = candidates[-1]

    def _default_compare_layers(self, count=3):
        """The last convolution at each of the last ``count`` feature-map resolutions (coarse to fine)."""
        layers = [r for r in self._cam_layers if r.is_conv] or self._cam_layers
        last_at = {}
        for record in layers:
            last_at[tuple(record.output_shape[:2])] = record.path  # later layers overwrite earlier ones
        ordered = sorted(last_at.values(), key=self.cam_layers.index)
        return ordered[-count:]

    def _class_names(self):
        """Names of the selected output's classes, map channels or values."""
        if not self.inspector.is_classifier:
            return tuple(self.output_class_names)
        names = self.inspector.class_names
        if names is None:
            if len(self._index_names) != self.inspector.num_classes:
                self._index_names = tuple(str(i) for i in range(self.inspector.num_classes))
            names = self._index_names
        return names

    def _class_scores(self):
        """One number per class of the selected output for labels: probabilities, area shares or values."""
        if self.inspector.is_classifier or self.output_kind == "classes":
            return self._probabilities if self.inspector.is_classifier else self.probabilities
        if self.output_kind == "map":
            mask = self.predicted_mask
            count = len(self._class_names())
            return None if mask is None else channel_areas(mask, count)
        return self.output_values

    def _class_label(self, index):
        """``name (12.3%)``, ``name (15% of the map)`` or ``name = 0.42``, by the output's kind."""
        name = self._class_names()[index]
        scores = self._class_scores()
        if scores is None:
            return name
        if self.inspector.is_classifier or self.output_kind == "classes":
            return f"{name} ({100 * scores[index]:.1f}%)"
        if self.output_kind == "map":
            return f"{name} ({100 * scores[index]:.0f}% of the map)"
        return f"{name} = {scores[index]:.4g}"

    def _target_for(self, index):
        """What the backend explains for class (channel, value) ``index`` of the selected output.

        On a map, the painted region if there is one, else that class's own
        predicted area (the whole map where it is predicted nowhere).
        """
        if self.inspector.is_classifier:
            return int(index)
        if self.output_kind == "values":
            return Output(self.output_index, Value(int(index), self.value_sign))
        if self.output_kind == "map":
            if self.region is not None:
                mask = self.region
            elif self.predicted_mask is not None:
                one_channel = len(self._class_names()) == 1  # its pixels are the mask's 1s
                mask = self.predicted_mask == (1 if one_channel else index)
            else:
                return None
            return Output(self.output_index, Region(int(index), mask if mask.any() else np.ones_like(mask)))
        return Output(self.output_index, int(index))

    def _default_compare_classes(self, count=3):
        """The top classes, the largest predicted areas, or the first values of the selected output."""
        if self.inspector.is_classifier:
            return self.class_picker.order[:count]
        scores = self._class_scores()
        if scores is None or self.output_kind == "values":
            return list(range(min(count, len(self._class_names()))))
        return [int(i) for i in np.argsort(-np.asarray(scores), kind="stable")[:count]]

    def _params_of(self, name):
        """The remembered parameters of method ``name`` (its defaults the first time)."""
        if name not in self._params:
            self._params[name] = get_method(name).bind({})
        return self._params[name]

    def _display_signed(self):
        """The selected method's map keeps its sign (a diverging colormap)."""
        return is_signed(self.method_params)



def _positions(shape):
    """Spatial positions ``H * W`` of an ``(H, W, C)`` shape (an unknown side counts as 2)."""
    height, width = (d if d is not None else 2 for d in shape[:2])
    return height * width
