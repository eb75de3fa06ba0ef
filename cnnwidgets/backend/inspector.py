"""The shared compute backend: bind a Keras model once, ask it questions, get numpy."""

import difflib
import numbers
import threading
from collections import Counter
from collections.abc import Mapping

import numpy as np

from .. import compat
from ..errors import (
    ClassNotFoundError,
    InvalidImageError,
    InvalidTargetError,
    LayerNotFoundError,
    NoSpatialLayerError,
    NotAClassifierError,
    PreprocessError,
    UnsupportedModelError,
)
from .cache import ResultCache
from .evaluating import EvaluateMethods
from .explaining import ExplainMethods
from .gradients import SALIENCY_METHODS, GradientMethods
from .graph import CAPTURE_ALL, LOGITS, ModelGraph, _is_container
from .images import as_image, image_key
from .maximization import MaximizationMethods, MaximizationResult
from .occluding import OcclusionMethods, OcclusionStats
from .randomization import RandomizationMethods

__all__ = ["Inspector", "MaximizationResult", "SALIENCY_METHODS"]

_INSPECTORS_ATTR = "_cnnwidgets_inspectors"


class Inspector(ExplainMethods, EvaluateMethods, RandomizationMethods, OcclusionMethods, GradientMethods,
                MaximizationMethods):
    """Bind a Keras model once and compute what the widgets show, as numpy.

    Every widget on the same model shares one inspector (see :meth:`for_model`)
    and therefore its compiled functions and its caches.

    Parameters
    ----------
    model : keras.Model
        A Keras 3 model with one image input ``(H, W, C)`` and any number of
        outputs: class scores, regression values or dense maps (see
        ``output_kinds`` and :mod:`cnnwidgets.targets`). Sequential and functional models, with nested models
        inside, are fully supported; for subclassed models only the methods
        that need no layer access work (predict, occlusion, input gradients).
    class_names : sequence of str, optional
        One name per class of the first output (the channels of a dense
        map, e.g. a segmentation's classes, or the entries of a regression
        output, e.g. ``("row", "column")``).
    preprocess : callable, optional
        Maps a batch of display images ``(B, H, W, C)`` (float, in
        ``input_range``) to model inputs, e.g.
        ``keras.applications.mobilenet_v2.preprocess_input``. It must act per
        pixel. Gradients are taken with respect to the model input.
    input_range : tuple of float
        Pixel range of display images, ``(0, 255)`` by default.
    output_kinds : str, sequence or dict, optional
        What each output holds: ``"classes"`` (a vector of class scores),
        ``"values"`` (a regression vector) or ``"map"`` (a dense ``(H', W')``
        or ``(H', W', K)`` output). One string for every output, one per
        output, or ``{name_or_index: kind}`` for some. Guessed when not
        given: dense outputs are maps, a vector ending in softmax or sigmoid
        holds classes, other linear vectors are regression values, except a
        model's only output, which is taken for class logits when it has
        several entries (say ``output_kinds="values"`` for a regression
        model with several values).
    cache_size : int
        Most results kept in the LRU cache (0 disables caching).

    Examples
    --------
    >>> import cnnwidgets as cw
    >>> insp = cw.Inspector(cw.demo.digits_model())
    >>> images, labels = cw.demo.digits_samples()
    >>> insp.predict(images[0]).argmax()
    0
    """

    def __init__(self, model, class_names=None, preprocess=None, input_range=(0.0, 255.0), cache_size=256,
                 output_kinds=None):
        keras = compat.load_keras()

        if not isinstance(model, keras.Model):
            raise UnsupportedModelError(
                f"expected a keras.Model, got {type(model).__name__}; pass a Keras 3 model"
            )
        self.model = model
        try:
            self.graph = ModelGraph(model)
        except UnsupportedModelError as exc:
            if _is_container(model):  # a Sequential/functional model ModelGraph refused
                raise
            # A subclassed model: no layer access, but predictions, occlusion
            # and input gradients only need model(x).
            input_shape = _subclassed_input_shape(model)
            if input_shape is None:
                raise UnsupportedModelError(
                    f"{exc}. It must also be built with one image input (H, W, C): call it once "
                    "on a batch, e.g. model(np.zeros((1, H, W, C))), before inspecting it"
                ) from None
            self.graph = None
            self._graph_error = str(exc)
        if self.graph is not None:
            self.input_shape = self.graph.input_shape
            #: Shape (no batch axis) and final activation of each output.
            self.output_shapes = list(self.graph.output_shapes)
            self.output_activations = list(self.graph.output_activations)
            #: Name of each output (the layer producing it), for ``targets.Output("name", ...)``.
            self.output_names = [getattr(layer, "name", str(i)) for i, layer in enumerate(self.graph.final_layers)]
        else:
            self.input_shape = input_shape
            output_shape, activation = _probe_output(model, self.input_shape)
            self.output_shapes, self.output_activations, self.output_names = [output_shape], [activation], ["output"]
        self.output_activation = self.output_activations[0]
        #: What each output holds: "classes", "values" or "map" (see ``output_kinds`` above).
        self.output_kinds = _output_kinds(output_kinds, self.output_shapes, self.output_activations,
                                          self.output_names)
        #: True for one output of class scores ``(K,)``: ints and class names mean classes.
        self.is_classifier = len(self.output_shapes) == 1 and self.output_kinds[0] == "classes"
        #: Number of classes of a classifier, None for other models (use targets).
        self.num_classes = int(self.output_shapes[0][0]) if self.is_classifier else None
        self.class_names = self._check_class_names(class_names)
        self.preprocess = preprocess
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self._cache = ResultCache(max_entries=cache_size)
        self._functions = {}
        self._functions_lock = threading.Lock()
        self._default_cam_layer = {}  # output index (None: any output) -> its default CAM layer
        #: How many times each compiled function was traced (tests check 1).
        self.trace_counts = Counter()
        #: How the last occlusion sweep and move ran (full or incremental) and their speed-ups.
        self.occlusion_stats = OcclusionStats()

    # ---------------------------------------------------------------- sharing
    @classmethod
    def for_model(cls, model, class_names=None, preprocess=None, **kwargs):
        """Return the inspector already bound to ``model``, or bind a new one.

        Widgets call this so that every widget on one model object shares a
        single inspector, its compiled functions and its caches. Passing an
        :class:`Inspector` returns it unchanged.

        Parameters
        ----------
        model : keras.Model or Inspector
        class_names, preprocess
            As for :class:`Inspector`. An existing inspector is reused when its
            ``preprocess`` is the same object (or none is given) and its class
            names agree (or none are given).
        """
        if isinstance(model, Inspector):
            return model
        existing = model.__dict__.get(_INSPECTORS_ATTR)
        if existing is None:
            existing = []
            # Plain attribute, bypassing Keras' layer tracking; no global registry.
            object.__setattr__(model, _INSPECTORS_ATTR, existing)
        names = None if class_names is None else tuple(str(n) for n in class_names)
        kinds = kwargs.pop("output_kinds", None)
        for inspector in existing:
            same_pre = preprocess is None or inspector.preprocess is preprocess
            same_names = names is None or inspector.class_names in (None, names)
            same_kinds = kinds is None or inspector.output_kinds == _output_kinds(
                kinds, inspector.output_shapes, inspector.output_activations, inspector.output_names)
            if same_pre and same_names and same_kinds and not kwargs:
                if names is not None and inspector.class_names is None:
                    inspector.class_names = inspector._check_class_names(names)
                return inspector
        inspector = cls(model, class_names=class_names, preprocess=preprocess, output_kinds=kinds, **kwargs)
        existing.append(inspector)
        return inspector

    # ----------------------------------------------------------------- layers
    @property
    def layers(self):
        """list of :class:`~cnnwidgets.backend.graph.LayerRecord`, every layer in order."""
        return list(self._require_graph("list layers").records)

    @property
    def spatial_layers(self):
        """Layers whose output is ``(H, W, C)`` feature maps."""
        return [r for r in self.layers if r.is_spatial]

    @property
    def conv_layers(self):
        """Convolution layers, nested models included."""
        return [r for r in self.layers if r.is_conv]

    @property
    def output_layer(self):
        """The record of the layer that produces the class scores."""
        graph = self._require_graph("find the output layer")
        return next(r for r in graph.records if r.layer is graph.final_layer)

    @property
    def default_cam_layer(self):
        """The layer CAM methods explain by default: the last spatial output before the head.

        The last layer whose output has more than one spatial position
        (``H * W > 1``) and that feeds the classification output, inside a
        nested base when the base holds it: ``out_relu`` on MobileNetV2,
        ``conv5_block3_out`` on ResNet50, ``mixed10`` on InceptionV3 (the
        layer the keras.io Grad-CAM example and tf-keras-vis use). Layers after
        the spatial axes collapse (global pooling, 1x1 heads) are skipped.

        Raises
        ------
        NoSpatialLayerError
            The model has no layer with ``(H, W, C)`` output.
        """
        return self.default_cam_layer_for(None)

    def default_cam_layer_for(self, output=None):
        """:attr:`default_cam_layer` among the layers that output ``output`` (index or name) depends on.

        On a model with several heads on separate branches, the layer a
        target on one head is explained at by default; ``None``: any output.
        """
        graph = self._require_graph("find a layer for class activation maps")
        output = None if output is None else self.output_index(output)
        if output in self._default_cam_layer:
            return self._default_cam_layer[output]
        # A dense output's head (the final layer, and a pre-activation layer of the output's own shape
        # such as a 1x1 "logits" conv) holds scores, not feature maps.
        finals = {id(layer) for layer in graph.final_layers}
        heads = {shape for shape in graph.output_shapes if len(shape) == 3}
        spatial = [r for r in graph.records if r.is_spatial and not r.is_model and id(r.layer) not in finals
                   and r.output_shape not in heads]
        if not spatial:
            raise NoSpatialLayerError(
                "the model has no layer with spatial (H, W, C) output, so Grad-CAM has no feature "
                "maps to weigh; use saliency(...) (input gradients) or occlusion_map(...) instead"
            )
        feeding = graph.feeding_paths(output)
        candidates = [r for r in spatial if r.path in feeding and _positions(r.output_shape) > 1]
        if output is not None and not candidates:
            candidates = [r for r in spatial if r.path in feeding]
        if output is not None and not candidates:
            raise NoSpatialLayerError(
                f"output {self.output_names[output]!r} depends on no layer with spatial (H, W, C) output, so a "
                "CAM method has no feature maps to weigh there; use a gradient or perturbation method"
            )
        self._default_cam_layer[output] = (candidates or spatial)[-1]  # the graph never changes: found once
        return self._default_cam_layer[output]

    def layer(self, spec):
        """Resolve a layer given by name, path (``"base/block_16_project"``), index or record.

        Raises
        ------
        LayerNotFoundError
            Nothing matches; the message suggests the closest names.
        """
        records = self._require_graph("look up layers").records
        if hasattr(spec, "path") and hasattr(spec, "index"):
            spec = spec.path
        if isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
            if -len(records) <= spec < len(records):
                return records[spec]
            raise LayerNotFoundError(
                f"layer index {spec} is out of range: the model has {len(records)} layers (0 to {len(records) - 1})"
            )
        if not isinstance(spec, str):
            raise LayerNotFoundError(f"give a layer as a name, a path or an index, not {type(spec).__name__}")
        for record in records:
            if record.path == spec:
                return record
        named = [r for r in records if r.name == spec]
        if named:
            return min(named, key=lambda r: r.depth)
        candidates = [r.path for r in records] + [r.name for r in records if r.depth]
        close = difflib.get_close_matches(spec, candidates, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else (
            f"; layers are e.g. {', '.join(repr(r.path) for r in records[:5])}"
        )
        raise LayerNotFoundError(f"the model has no layer named {spec!r}{hint} (see Inspector.layers)")

    def _spatial_layer(self, spec, purpose, target=None):
        """The layer ``spec``, checked; ``None``: the default one for ``target``'s output (a resolved TargetBatch)."""
        if spec is None:
            whole = target is None or target.scorer.whole
            record = self.default_cam_layer_for(None if whole else target.scorer.output)
        else:
            record = self.layer(spec)
        if not record.is_spatial:
            names = ", ".join(r.path for r in self.spatial_layers[-4:])
            raise NoSpatialLayerError(
                f"layer {record.path!r} has output shape {record.output_shape}, not (H, W, C) feature "
                f"maps, so it cannot be used for {purpose}; choose a spatial layer such as {names}"
            )
        return record

    # ----------------------------------------------------------------- classes
    def _require_classifier(self, what):
        if not self.is_classifier:
            raise NotAClassifierError(
                f"cannot {what}: the model's outputs have shapes {self.output_shapes}, not one vector of class "
                "scores; use predict_outputs(image) for its raw outputs and pass a cnnwidgets.targets object "
                "(Region, Value, Output or a callable) to explain"
            )

    def _check_class_names(self, class_names):
        if class_names is None:
            return None
        names = tuple(str(n) for n in class_names)
        count = self.class_count(0)
        if len(names) != count:
            what = "outputs" if self.is_classifier else f"channels in output {self.output_names[0]!r}"
            raise ClassNotFoundError(
                f"got {len(names)} class names but the model has {count} {what}; give one name per output class"
            )
        return names

    def output_index(self, output):
        """The index of an output given by index or name (see :attr:`output_names`)."""
        from .targeting import _output_index

        return _output_index(self, output)

    def class_count(self, output=0):
        """How many classes output ``output`` holds: its vector length, or a map's channels (1 for ``(H', W')``)."""
        shape = self.output_shapes[self.output_index(output)]
        return int(shape[2]) if len(shape) == 3 else 1 if len(shape) == 2 else int(shape[0]) if shape else 1

    def output_class_names(self, output=0):
        """Display names of output ``output``'s classes or values (``class_names`` on the first output, else indices)."""
        index = self.output_index(output)
        if index == 0 and self.class_names is not None:
            return self.class_names
        return tuple(str(i) for i in range(self.class_count(index)))

    def class_index(self, spec, image=None):
        """Resolve a class given by index or name; ``None`` means the predicted class of ``image``."""
        self._require_classifier(f"resolve class {spec!r}")
        if spec is None:
            if image is None:
                raise ClassNotFoundError("no class given; pass a class index or name (or an image to use its predicted class)")
            return int(np.argmax(self.predict(image)))
        if isinstance(spec, (numbers.Integral, np.integer)) and not isinstance(spec, bool):
            index = int(spec)
            if 0 <= index < self.num_classes:
                return index
            raise ClassNotFoundError(
                f"class index {index} is out of range: the model has {self.num_classes} classes (0 to {self.num_classes - 1})"
            )
        if isinstance(spec, str):
            names = self.class_names or tuple(str(i) for i in range(self.num_classes))
            if spec in names:
                return names.index(spec)
            close = difflib.get_close_matches(spec, names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            where = "class_names" if self.class_names else "class names (none given, so '0', '1', ...)"
            raise ClassNotFoundError(f"unknown class {spec!r}: not among the {where}{hint}")
        raise ClassNotFoundError(f"give a class as an index or a name, not {type(spec).__name__}")

    def class_name(self, index):
        """The display name of class ``index``."""
        return self.class_names[index] if self.class_names else str(index)

    def _target(self, target, model_input, key):
        """Resolve a class or target for a prepared image (None: its predicted class) as a one-row TargetBatch."""
        from .targeting import resolve

        def predicted():
            self._require_classifier("explain the predicted class")
            probs = self._cache.get_or_compute(("predict", key), lambda: self._predict_inputs(model_input[None])[0])
            return int(np.argmax(probs))

        return resolve(self, target, predicted)

    # ------------------------------------------------------------------ inputs
    def prepare(self, image):
        """Validate one image and return ``(display, model_input, key)``.

        ``display`` is the float32 ``(H, W, C)`` image as given; ``model_input``
        the same after ``preprocess``; ``key`` a content hash used by the caches.
        """
        display = as_image(image, self.input_shape)
        key = image_key(display)
        model_input = self._cache.get(("input", key))
        if model_input is None:
            model_input = self._cache.put(("input", key), self._preprocess(display[None])[0])
        return display, model_input, key

    def _preprocess(self, batch):
        if self.preprocess is None:
            return batch.astype(np.float32, copy=False)
        batch = np.array(batch, dtype=np.float32)
        try:
            out = np.asarray(self.preprocess(batch), dtype=np.float32)
        except Exception as exc:
            name = getattr(self.preprocess, "__qualname__", None) or type(self.preprocess).__name__
            raise PreprocessError(
                f"your preprocess function {name!r} raised {type(exc).__name__}: {exc} -- on a batch of "
                f"shape {batch.shape} and dtype {batch.dtype} (display images, float32 in "
                f"{self.input_range}); make it accept such a batch and return model inputs of the same "
                "shape (the original error is chained below)"
            ) from exc
        if out.shape != batch.shape:
            raise InvalidImageError(
                f"preprocess changed the batch shape from {batch.shape} to {out.shape}; it must act per pixel"
            )
        return out

    def _model_range(self):
        """``(low, high)`` of model inputs: the display range mapped through ``preprocess``."""
        ends = np.array([[[[self.input_range[0]]]], [[[self.input_range[1]]]]], np.float32)
        ends = np.broadcast_to(ends, (2, 1, 1, self.input_shape[-1] or 1)).copy()
        try:
            mapped = self._preprocess(ends)
        except Exception:
            mapped = ends
        return float(mapped.min()), float(mapped.max())

    # ------------------------------------------------------- compiled functions
    def _function(self, name, build):
        with self._functions_lock:
            fn = self._functions.get(name)
            if fn is None:
                fn = self._functions[name] = build()
            return fn

    def _signature(self, *extra):
        import tensorflow as tf

        spec = tf.TensorSpec((None,) + tuple(self.input_shape), tf.float32)
        return [spec, *extra]

    def _forward_fn(self):
        import tensorflow as tf

        def build():
            @tf.function(input_signature=self._signature(), reduce_retracing=True, autograph=False)
            def forward(x):
                self.trace_counts["forward"] += 1
                probs, logits, _ = self._scores(x)
                return probs, logits

            return forward

        return self._function("forward", build)

    def _outputs(self, x, capture=(), transform=None):
        """``(outputs, logits, captured)`` with one tensor per model output, inside a tf.function."""
        import tensorflow as tf

        if self.graph is None:
            output = tf.cast(self.model(x, training=False), tf.float32)
            logits = tf.math.log(tf.maximum(output, 1e-12)) if self.output_activation else output
            return [output], [logits], {}
        outputs, logits, captured = self.graph.execute_all(x, capture, transform)
        return outputs, logits, captured

    def _scores(self, x, capture=(), transform=None):
        """(probabilities, logits, captured) for a batch, inside a tf.function.

        ``transform`` is passed to :meth:`ModelGraph.execute` (explanation
        methods that change a pass without touching the model).
        """
        import tensorflow as tf

        if self.graph is None:
            output = tf.cast(self.model(x, training=False), tf.float32)
            if self.output_activation:
                return output, tf.math.log(tf.maximum(output, 1e-12)), {}
            return tf.nn.softmax(output), output, {}
        output, captured = self.graph.execute(x, capture, transform)
        logits = tf.cast(captured.pop(LOGITS), tf.float32)
        output = tf.cast(output, tf.float32)
        probs = output if self.output_activation else tf.nn.softmax(logits)
        return probs, logits, captured

    def _activations_fn(self):
        import tensorflow as tf

        self._require_graph("compute activations")

        def build():
            @tf.function(input_signature=self._signature(), reduce_retracing=True, autograph=False)
            def activations(x):
                self.trace_counts["activations"] += 1
                _, _, captured = self._scores(x, CAPTURE_ALL)
                return captured

            return activations

        return self._function("activations", build)

    # ------------------------------------------------------------- prediction
    def predict(self, image):
        """Class probabilities for one image.

        Parameters
        ----------
        image : array_like
            ``(H, W)``, ``(H, W, C)`` or ``(1, H, W, C)``, uint8 or float.

        Returns
        -------
        numpy.ndarray
            ``(num_classes,)`` float32 probabilities (softmax of the logits
            when the model outputs logits).
        """
        self._require_classifier("predict class probabilities")
        _, model_input, key = self.prepare(image)
        return self._cache.get_or_compute(
            ("predict", key), lambda: self._predict_inputs(model_input[None])[0]
        ).copy()

    def predict_outputs(self, image):
        """Every output of the model for one image, as given by the model: a list of arrays (cached).

        Works on any model (segmentation maps, regression values, several heads).
        """
        _, model_input, key = self.prepare(image)
        found = self._cache.get_or_compute(
            ("outputs", key), lambda: [t.numpy()[0] for t in self._outputs_fn()(model_input[None])])
        return [np.array(t) for t in found]

    def _outputs_fn(self):
        """The compiled ``x -> [float32 output, ...]`` (every output, as the model gives it)."""
        import tensorflow as tf

        def build():
            @tf.function(input_signature=self._signature(), reduce_retracing=True, autograph=False)
            def outputs(x):
                self.trace_counts["outputs"] += 1
                return [tf.cast(t, tf.float32) for t in self._outputs(x)[0]]

            return outputs

        return self._function("outputs", build)

    def _readable_output(self, raw, index):
        """Raw output ``index`` of a batch ``(B, ...)`` as :meth:`predict_output` gives it (probabilities, ...)."""
        raw = np.asarray(raw, np.float32)
        kind, activation = self.output_kinds[index], self.output_activations[index]
        if kind == "classes" and not activation:
            shifted = np.exp(raw - raw.max(axis=-1, keepdims=True))
            return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)
        if kind == "map" and raw.ndim == 3:
            return raw[..., None]
        return raw

    def predict_output(self, image, output=0):
        """One output for one image, as a person reads it (cached).

        Class scores come as probabilities (softmax of logits), regression
        values as they are, a dense map as ``(H', W', K)`` probabilities
        where it ends in softmax/sigmoid (else raw scores).

        Parameters
        ----------
        image : array_like
        output : int or str
            Output index or name.
        """
        index = self.output_index(output)
        return self._readable_output(self.predict_outputs(image)[index][None], index)[0]

    def predicted_mask(self, image, output=0):
        """The class predicted at each pixel of a dense output, int ``(H', W')``.

        Several channels: the arg-max; one channel: above 0.5 for a sigmoid
        (above 0 for raw scores).
        """
        index = self.output_index(output)
        if self.output_kinds[index] != "map":
            raise InvalidTargetError(
                f"output {self.output_names[index]!r} has shape {self.output_shapes[index]}, not a dense map; "
                "predicted_mask needs a segmentation output (H', W', K)"
            )
        scores = self.predict_output(image, index)
        if scores.shape[-1] == 1:
            threshold = 0.5 if self.output_activations[index] else 0.0
            return (scores[..., 0] > threshold).astype(np.int32)
        return np.argmax(scores, axis=-1).astype(np.int32)

    def target_score(self, image, target=None):
        """The score a target explains for one image (probability where the output is softmax/sigmoid, else value)."""
        _, model_input, key = self.prepare(image)
        resolved = self._target(target, model_input, key)
        return float(self._batch_scores(model_input[None], resolved, kind="probability")[0])

    def predict_batch(self, images, batch_size=128):
        """Class probabilities ``(N, num_classes)`` for a batch ``(N, H, W, C)`` of images."""
        self._require_classifier("predict class probabilities")
        images = np.asarray(images)
        if images.ndim == 3 and self.input_shape[-1] == 1:
            images = images[..., None]
        if images.ndim != 4:
            raise InvalidImageError(
                f"predict_batch takes a batch (N, H, W, C), got shape {images.shape}"
            )
        checked = np.stack([as_image(img, self.input_shape) for img in images]) if len(images) else images
        return self._predict_inputs(self._preprocess(checked), batch_size)

    def _predict_inputs(self, batch, batch_size=128):
        forward = self._forward_fn()
        parts = [forward(batch[i : i + batch_size])[0].numpy() for i in range(0, len(batch), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.num_classes), np.float32)

    def logits(self, image):
        """Pre-softmax class scores ``(num_classes,)`` for one image."""
        self._require_classifier("compute class logits")
        _, model_input, key = self.prepare(image)
        return self._cache.get_or_compute(
            ("logits", key), lambda: self._forward_fn()(model_input[None])[1].numpy()[0]
        ).copy()

    # ------------------------------------------------------------ activations
    def activations(self, image, layer):
        """One layer's output for one image.

        All layers are computed in one forward pass and cached, so asking for
        the next layer of the same image costs nothing.

        Parameters
        ----------
        image : array_like
            One image.
        layer : str, int or LayerRecord
            Name, path or index.

        Returns
        -------
        numpy.ndarray
            The output without the batch axis, e.g. ``(H, W, C)`` feature maps.
        """
        record = self.layer(layer)
        return np.array(self._all_activations(image)[record.path])

    def all_activations(self, image):
        """``{path: output}`` for every layer, from one forward pass (cached).

        Returns a read-only mapping; each layer's array is copied from the
        cache when first read, so a big model's 150 outputs are not all
        copied when a caller reads a few.
        """
        return _ActivationsView(self._all_activations(image))

    def _all_activations(self, image):
        # The cached dict itself: callers must not mutate it (public methods copy).
        _, model_input, key = self.prepare(image)

        def compute():
            captured = self._activations_fn()(model_input[None])
            return {path: np.asarray(t)[0] for path, t in captured.items()}

        return self._cache.get_or_compute(("activations", key), compute)

    def filters(self, layer):
        """Kernel weights of a convolution (or dense) layer.

        Returns
        -------
        numpy.ndarray
            ``(kh, kw, c_in, c_out)`` for Conv2D; ``(kh, kw, c_in, multiplier)``
            for depthwise (and the depthwise part of separable) convolutions;
            ``(n_in, n_out)`` for Dense.
        """
        record = self.layer(layer)
        layer_obj = record.layer
        kernel = getattr(layer_obj, "depthwise_kernel", None)
        if kernel is None:
            kernel = getattr(layer_obj, "kernel", None)
        if kernel is None:
            convs = ", ".join(r.path for r in self.conv_layers[:6]) or "none in this model"
            raise LayerNotFoundError(
                f"layer {record.path!r} ({record.type}) has no kernel weights; choose a convolution "
                f"layer: {convs}"
            )
        return np.array(kernel, dtype=np.float32)

    # -------------------------------------------------------------- utilities
    def clear_cache(self):
        """Forget every cached result (compiled functions are kept)."""
        self._cache.clear()

    # ----------------------------------------------------------------- weights
    @property
    def weights_version(self):
        """Names the weights that results are computed from now (part of every cache key).

        ``0`` for the weights the model had when bound; each
        :meth:`weights_changed` gives a new one.
        """
        return self._cache.version

    def weights_changed(self, version=None):
        """Tell the inspector that the model's weights changed (e.g. ``fit`` ran, or weights were loaded).

        Results cached for other weights are never returned again for these
        (they stay cached under their own version until the LRU bound drops
        them). Nothing is recompiled: the compiled functions read the
        variables, so they compute with the new values without retracing.

        Parameters
        ----------
        version : hashable, optional
            A name for the new weights. Default: a new integer. Passing the
            version of weights seen before (e.g. an epoch being replayed, once
            its weights are back in the model) finds their cached results
            again; the caller must make sure the weights really are the same.

        Returns
        -------
        hashable
            The new :attr:`weights_version`.
        """
        with self._functions_lock:
            if version is None:
                self._version_counter = getattr(self, "_version_counter", 0) + 1
                version = self._version_counter
            self._cache.version = version
        return version

    def _require_graph(self, what):
        if self.graph is None:
            raise UnsupportedModelError(f"cannot {what}: {self._graph_error}")
        return self.graph

    def __repr__(self):
        layers = len(self.graph.records) if self.graph is not None else "?"
        what = f"{self.num_classes} classes" if self.is_classifier else f"outputs {self.output_shapes}"
        return f"Inspector({self.model.name!r}, input {self.input_shape}, {what}, {layers} layers)"


class _ActivationsView(Mapping):
    """``{path: array}`` over cached activations; a layer is copied when first read."""

    def __init__(self, cached):
        self._cached = cached
        self._copies = {}

    def __getitem__(self, path):
        if path not in self._copies:
            self._copies[path] = np.array(self._cached[path])
        return self._copies[path]

    def __iter__(self):
        return iter(self._cached)

    def __len__(self):
        return len(self._cached)


def _positions(shape):
    """Spatial positions ``H * W`` of an ``(H, W, C)`` shape; an unknown size counts as many."""
    height, width = (d if d is not None else 2 for d in shape[:2])
    return height * width


def _subclassed_input_shape(model):
    """``(H, W, C)`` of a built subclassed model's single image input, else None.

    Subclassed Keras 3 models have no ``inputs``; the shape they were built
    with (by a first call or ``model.build``) is in ``_build_shapes_dict``
    (read through :func:`cnnwidgets.compat.built_input_shapes`).
    """
    try:
        inputs = model.inputs
    except Exception:
        inputs = None
    if inputs:
        shapes = [tuple(t.shape) for t in inputs]
    else:
        shapes = compat.built_input_shapes(model)
    if len(shapes) != 1 or shapes[0] is None or len(shapes[0]) != 4:
        return None
    return tuple(None if d is None else int(d) for d in shapes[0][1:])


OUTPUT_KINDS = ("classes", "values", "map")


def _output_kinds(given, shapes, activations, names):
    """The kind of each output: ``given`` (str, sequence or {name_or_index: kind}) over the guess."""
    kinds = []
    for shape, activation in zip(shapes, activations):
        if len(shape) >= 2:
            kinds.append("map")
        elif activation or (len(shapes) == 1 and shape and shape[0] > 1):
            kinds.append("classes")  # softmax/sigmoid, or the logits of a model's only output
        else:
            kinds.append("values")
    if given is None:
        return kinds
    if isinstance(given, str):
        given = [given] * len(shapes)
    if isinstance(given, Mapping):
        for key, kind in given.items():
            if isinstance(key, str) and key in names:
                kinds[names.index(key)] = kind
            elif isinstance(key, numbers.Integral) and -len(shapes) <= key < len(shapes):
                kinds[key] = kind
            else:
                raise UnsupportedModelError(f"output_kinds names output {key!r}; the model's outputs are {names}")
    else:
        given = list(given)
        if len(given) != len(shapes):
            raise UnsupportedModelError(f"output_kinds has {len(given)} entries for the model's {len(shapes)} outputs")
        kinds = given
    for kind, shape, name in zip(kinds, shapes, names):
        if kind not in OUTPUT_KINDS:
            raise UnsupportedModelError(f"output kind {kind!r} (output {name!r}) is not one of {OUTPUT_KINDS}")
        if (kind == "map") != (len(shape) >= 2):
            raise UnsupportedModelError(
                f"output {name!r} has shape {shape}: it can only be "
                + ("a 'map'" if len(shape) >= 2 else "'classes' or 'values'")
            )
    return list(kinds)


def _probe_output(model, input_shape):
    """For a subclassed model: ``(output_shape, activation)`` from one call on zeros.

    ``activation`` is ``"softmax"`` if the output looks like probabilities, else None.
    """
    shape = (1,) + tuple(d if d is not None else 32 for d in input_shape)
    try:
        output = np.asarray(model(np.zeros(shape, np.float32), training=False), dtype=np.float64)
    except Exception as exc:
        raise UnsupportedModelError(
            f"calling the model on a batch of shape {shape} failed ({type(exc).__name__}: {exc})"
        ) from None
    sums_to_one = output.ndim == 2 and np.allclose(output.sum(axis=-1), 1.0, atol=1e-3)
    activation = "softmax" if sums_to_one and output.min() >= 0 else None
    return tuple(output.shape[1:]), activation
