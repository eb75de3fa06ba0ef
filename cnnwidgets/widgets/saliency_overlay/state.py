"""SaliencyOverlay's state: its traits, their validation, and what a request holds.

The traits are the widget's whole public state; each ``@validate`` is a
short check that raises :class:`traitlets.TraitError` saying what to set
instead. The frozen dataclasses carry one request from the kernel thread to
the worker and its result back.
"""

from dataclasses import dataclass

import numpy as np
import traitlets

from ...errors import LayerNotFoundError, UnsupportedModelError
from ..common.traits import ArrayTrait, ImageArrayTrait, RequestedClass, checked_colormap
from ..common.widget import InspectorWidget
from .controls import BASELINES, CAM_METHODS, GRADIENT_METHODS, METHOD_LABELS, METHODS

__all__ = ["SaliencyState", "MapSpec", "MapsRequest", "MapsResult", "COMPARE_KINDS"]

COMPARE_KINDS = ("method", "class", "layer")
DEFAULT_COLORMAP = "turbo"
DEFAULT_SIGNED_COLORMAP = "RdBu_r"


@dataclass(frozen=True)
class MapSpec:
    """One map to compute: which method, for which class, at which layer."""

    title: str
    method: str
    class_index: int
    layer: str


@dataclass(frozen=True)
class MapsRequest:
    """Everything a computation needs, read from the traits when it was asked for."""

    image: np.ndarray
    image_rgba: np.ndarray
    main: MapSpec
    signed: bool
    samples: int
    noise: float
    steps: int
    baseline: object
    compare: tuple


@dataclass(frozen=True)
class MapsResult:
    request: MapsRequest
    values: np.ndarray
    compared: tuple  # ((spec, values), ...)


class SaliencyState(RequestedClass, InspectorWidget):
    """The traits of :class:`~cnnwidgets.SaliencyOverlay` and their validation."""

    #: The image explained (read-only float32 ``(H, W, C)`` once set); linkable with other widgets' ``image``.
    image = ImageArrayTrait()
    #: Attribution method, one of :attr:`available_methods`.
    method = traitlets.Unicode("vanilla")
    # class_index (the class explained; None: the predicted class) and the read-only
    # predicted_class come from RequestedClass.
    #: The map shown: float32 ``(H, W)`` at input resolution (read-only; ``None`` before the first result).
    heatmap = ArrayTrait(None, allow_none=True, read_only=True)
    #: Path of the Grad-CAM layer ("" when the model has no spatial layer).
    layer = traitlets.Unicode("")
    #: Opacity of the map over the image, 0 to 1.
    opacity = traitlets.Float(0.6)
    #: Matplotlib colormap of the map (a diverging one for signed maps).
    colormap = traitlets.Unicode(DEFAULT_COLORMAP)
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
    compare_by = traitlets.Enum(COMPARE_KINDS, default_value="method")
    #: Methods compared when ``compare_by == "method"``.
    compare_methods = traitlets.List(traitlets.Unicode())
    #: Classes compared when ``compare_by == "class"``.
    compare_classes = traitlets.List(traitlets.Int())
    #: Grad-CAM layers compared when ``compare_by == "layer"``.
    compare_layers = traitlets.List(traitlets.Unicode())

    # ------------------------------------------------------------- public API
    @property
    def available_methods(self):
        """Methods this model supports (the CAM methods need a spatial layer)."""
        return METHODS if self._cam_layers else GRADIENT_METHODS

    @property
    def cam_layers(self):
        """Paths of the layers Grad-CAM can use (every spatial layer, nested models included)."""
        return [r.path for r in self._cam_layers]

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

    def _display_signed(self, method):
        return self.signed and method not in CAM_METHODS

