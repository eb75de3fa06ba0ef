"""The shared compute backend: bind a Keras model once, ask it questions, get numpy."""

import dataclasses
import difflib
import numbers
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import (
    ClassNotFoundError,
    InvalidImageError,
    InvalidParameterError,
    LayerNotFoundError,
    NoSpatialLayerError,
    UnsupportedModelError,
)
from .attribution import cam_from_gradients, reduce_channels
from .cache import ResultCache
from .graph import CAPTURE_ALL, LOGITS, ModelGraph, _is_container
from .images import as_image, gaussian_blur, image_key, resize_map
from .jobs import JobControl
from .occlusion import box_mask, default_patch, fill_image, patch_positions

__all__ = ["Inspector", "MaximizationResult", "SALIENCY_METHODS"]

#: Methods accepted by :meth:`Inspector.saliency`.
SALIENCY_METHODS = ("vanilla", "smoothgrad", "integrated_gradients", "gradient_x_input")

_INSPECTORS_ATTR = "_cnnwidgets_inspectors"


@dataclass(frozen=True)
class MaximizationResult:
    """What :meth:`Inspector.maximize` found.

    Attributes
    ----------
    images : numpy.ndarray
        ``(n, H, W, C)`` float32 inputs, in display pixel range, one per channel.
    channels : tuple of int
        The channels (or classes) maximized, in the order of ``images``.
    scores : numpy.ndarray
        ``(n,)`` final objective: mean activation of each channel (the logit
        for a class).
    initial_scores : numpy.ndarray
        ``(n,)`` the same objective on the random start images.
    """

    images: np.ndarray
    channels: tuple
    scores: np.ndarray
    initial_scores: np.ndarray


class Inspector:
    """Bind a Keras model once and compute what the widgets show, as numpy.

    Every widget on the same model shares one inspector (see :meth:`for_model`)
    and therefore its compiled functions and its caches.

    Parameters
    ----------
    model : keras.Model
        A Keras 3 model with one image input ``(H, W, C)`` and one output of
        class scores. Sequential and functional models, with nested models
        inside, are fully supported; for subclassed models only the methods
        that need no layer access work (predict, occlusion, input gradients).
    class_names : sequence of str, optional
        One name per output class.
    preprocess : callable, optional
        Maps a batch of display images ``(B, H, W, C)`` (float, in
        ``input_range``) to model inputs, e.g.
        ``keras.applications.mobilenet_v2.preprocess_input``. It must act per
        pixel. Gradients are taken with respect to the model input.
    input_range : tuple of float
        Pixel range of display images, ``(0, 255)`` by default.
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

    def __init__(self, model, class_names=None, preprocess=None, input_range=(0.0, 255.0), cache_size=256):
        import keras

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
            output_shape = self.graph.output_shape
            self.output_activation = self.graph.output_activation
        else:
            self.input_shape = input_shape
            output_shape, self.output_activation = _probe_output(model, self.input_shape)
        if len(output_shape) != 1:
            raise UnsupportedModelError(
                f"the model's output has shape {output_shape}; cnnwidgets expects class scores of "
                "shape (num_classes,)"
            )
        self.num_classes = int(output_shape[0])
        self.class_names = self._check_class_names(class_names)
        self.preprocess = preprocess
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self._cache = ResultCache(max_entries=cache_size)
        self._functions = {}
        self._functions_lock = threading.Lock()
        #: How many times each compiled function was traced (tests check 1).
        self.trace_counts = Counter()

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
        for inspector in existing:
            same_pre = preprocess is None or inspector.preprocess is preprocess
            same_names = names is None or inspector.class_names in (None, names)
            if same_pre and same_names and not kwargs:
                if names is not None and inspector.class_names is None:
                    inspector.class_names = inspector._check_class_names(names)
                return inspector
        inspector = cls(model, class_names=class_names, preprocess=preprocess, **kwargs)
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
        """The last spatial convolution layer (else the last spatial layer).

        Raises
        ------
        NoSpatialLayerError
            The model has no layer with ``(H, W, C)`` output.
        """
        spatial = [r for r in self.spatial_layers if not r.is_model]
        if not spatial:
            raise NoSpatialLayerError(
                "the model has no layer with spatial (H, W, C) output, so Grad-CAM has no feature "
                "maps to weigh; use saliency(...) (input gradients) or occlusion_map(...) instead"
            )
        convs = [r for r in spatial if r.is_conv]
        return (convs or spatial)[-1]

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

    def _spatial_layer(self, spec, purpose):
        record = self.default_cam_layer if spec is None else self.layer(spec)
        if not record.is_spatial:
            names = ", ".join(r.path for r in self.spatial_layers[-4:])
            raise NoSpatialLayerError(
                f"layer {record.path!r} has output shape {record.output_shape}, not (H, W, C) feature "
                f"maps, so it cannot be used for {purpose}; choose a spatial layer such as {names}"
            )
        return record

    # ----------------------------------------------------------------- classes
    def _check_class_names(self, class_names):
        if class_names is None:
            return None
        names = tuple(str(n) for n in class_names)
        if len(names) != self.num_classes:
            raise ClassNotFoundError(
                f"got {len(names)} class names but the model has {self.num_classes} outputs; "
                "give one name per output"
            )
        return names

    def class_index(self, spec, image=None):
        """Resolve a class given by index or name; ``None`` means the predicted class of ``image``."""
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
        out = np.asarray(self.preprocess(np.array(batch, dtype=np.float32)), dtype=np.float32)
        if out.shape != batch.shape:
            raise InvalidImageError(
                f"preprocess changed the batch shape from {batch.shape} to {out.shape}; it must act per pixel"
            )
        return out

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

    def _scores(self, x, capture=()):
        """(probabilities, logits, captured) for a batch, inside a tf.function."""
        import tensorflow as tf

        if self.graph is None:
            output = tf.cast(self.model(x, training=False), tf.float32)
            if self.output_activation:
                return output, tf.math.log(tf.maximum(output, 1e-12)), {}
            return tf.nn.softmax(output), output, {}
        output, captured = self.graph.execute(x, capture)
        logits = tf.cast(captured.pop(LOGITS), tf.float32)
        output = tf.cast(output, tf.float32)
        probs = output if self.output_activation else tf.nn.softmax(logits)
        return probs, logits, captured

    def _gradient_fn(self):
        import tensorflow as tf

        def build():
            @tf.function(input_signature=self._signature(tf.TensorSpec((), tf.int32)), reduce_retracing=True, autograph=False)
            def gradient(x, class_index):
                self.trace_counts["gradient"] += 1
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    _, logits, _ = self._scores(x)
                    score = logits[:, class_index]
                return logits, tape.gradient(score, x)

            return gradient

        return self._function("gradient", build)

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

    def _cam_fn(self, path):
        import tensorflow as tf

        def build():
            @tf.function(input_signature=self._signature(tf.TensorSpec((), tf.int32)), reduce_retracing=True, autograph=False)
            def cam(x, class_index):
                self.trace_counts["cam:" + path] += 1
                with tf.GradientTape() as tape:
                    _, logits, captured = self._scores(x, (path,))
                    features = captured[path]
                    tape.watch(features)
                    score = logits[:, class_index]
                return features, tape.gradient(score, features), logits

            return cam

        return self._function("cam:" + path, build)

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
        _, model_input, key = self.prepare(image)
        return self._cache.get_or_compute(
            ("predict", key), lambda: self._predict_inputs(model_input[None])[0]
        ).copy()

    def predict_batch(self, images, batch_size=128):
        """Class probabilities ``(N, num_classes)`` for a batch ``(N, H, W, C)`` of images."""
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

    # -------------------------------------------------------------- occlusion
    def occluded_image(self, image, box=None, mask=None, fill="gray"):
        """The display image with ``box`` (or ``mask``) covered by ``fill``."""
        display, _, key = self.prepare(image)
        covered = self._occlusion_mask(display, box, mask)
        filler = self._fill(display, key, fill)
        return np.where(covered[..., None], filler, display)

    def occlude(self, image, box=None, fill="gray", mask=None):
        """Class probabilities with part of the image covered.

        Parameters
        ----------
        image : array_like
            One image.
        box : tuple of int, optional
            ``(y0, x0, y1, x1)`` in input pixels, end-exclusive, clipped to the image.
        fill : str or float
            ``"gray"``, ``"black"``, ``"white"``, ``"mean"``, ``"blur"`` or a pixel value.
        mask : array_like of bool, optional
            ``(H, W)`` pixels to cover, for painted (non-square) occluders.
            Covered pixels are the union of ``box`` and ``mask``.

        Returns
        -------
        numpy.ndarray
            ``(num_classes,)`` probabilities. One forward pass.
        """
        display, model_input, key = self.prepare(image)
        covered = self._occlusion_mask(display, box, mask)
        filler = self._model_fill(display, key, fill)
        occluded = np.where(covered[..., None], filler, model_input)
        return self._forward_fn()(occluded[None])[0].numpy()[0]

    def _occlusion_mask(self, display, box, mask):
        height, width = display.shape[:2]
        covered = np.zeros((height, width), dtype=bool)
        if box is not None:
            covered |= box_mask(box, height, width)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (height, width):
                raise InvalidImageError(
                    f"the occlusion mask has shape {mask.shape}; it must match the image, {(height, width)}"
                )
            covered |= mask
        return covered

    def _fill(self, display, key, fill):
        fill_key = ("fill", key, fill if isinstance(fill, str) else float(fill))
        return self._cache.get_or_compute(fill_key, lambda: fill_image(display, fill, self.input_range))

    def _model_fill(self, display, key, fill):
        fill_key = ("model_fill", key, fill if isinstance(fill, str) else float(fill))
        return self._cache.get_or_compute(
            fill_key, lambda: self._preprocess(self._fill(display, key, fill)[None])[0]
        )

    def occlusion_map(self, image, class_index=None, patch=None, stride=None, fill="gray",
                      batch_size=64, progress=None, cancel=None):
        """Occlusion sensitivity (Zeiler & Fergus 2014) at input resolution.

        A ``patch x patch`` square slides over the image with ``stride``; for
        each position the drop of the class probability is measured. Each
        pixel's value is the mean drop over the positions that cover it.
        Positions are batched through one compiled forward pass.

        Parameters
        ----------
        image : array_like
            One image.
        class_index : int or str, optional
            The class whose probability to watch; default the predicted class.
        patch : int, optional
            Side of the square, default a sixth of the shorter image side.
        stride : int, optional
            Step between positions, default ``patch // 2`` (at least 1).
        fill : str or float
            As for :meth:`occlude`.
        batch_size : int
            Occluded copies per forward pass.
        progress, cancel
            See :class:`~cnnwidgets.backend.jobs.JobControl`.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` float32; positive where covering lowers the probability.
        """
        display, model_input, key = self.prepare(image)
        height, width = display.shape[:2]
        target = self._target(class_index, model_input, key)
        # ``is None``, not truthiness: 0 is an invalid size, not "use the default".
        patch = default_patch(height, width) if patch is None else int(patch)
        if patch < 1:
            raise InvalidParameterError(f"patch must be at least 1 pixel, got {patch}")
        stride = max(1, patch // 2) if stride is None else int(stride)
        if stride < 1:
            raise InvalidParameterError(f"stride must be at least 1 pixel, got {stride}")
        cache_key = ("occlusion_map", key, target, patch, stride, fill if isinstance(fill, str) else float(fill))
        cached = self._cache.get(cache_key)
        if cached is not None:
            if progress is not None:
                progress(1, 1)
            return cached.copy()
        filler = self._model_fill(display, key, fill)
        positions = [
            (y, x)
            for y in patch_positions(height, patch, stride)
            for x in patch_positions(width, patch, stride)
        ]
        size = min(patch, height), min(patch, width)
        base = float(self.predict(display)[target])
        drop_sum = np.zeros((height, width), np.float64)
        count = np.zeros((height, width), np.float64)
        forward = self._forward_fn()
        job = JobControl(len(positions), progress, cancel)
        job.check()
        for start in range(0, len(positions), batch_size):
            chunk = positions[start : start + batch_size]
            batch = np.repeat(model_input[None], len(chunk), axis=0)
            for i, (y, x) in enumerate(chunk):
                batch[i, y : y + size[0], x : x + size[1]] = filler[y : y + size[0], x : x + size[1]]
            probs = forward(batch)[0].numpy()[:, target]
            for (y, x), prob in zip(chunk, probs):
                drop_sum[y : y + size[0], x : x + size[1]] += base - prob
                count[y : y + size[0], x : x + size[1]] += 1
            job.advance(len(chunk))
        result = (drop_sum / np.maximum(count, 1)).astype(np.float32)
        return self._cache.put(cache_key, result).copy()

    # --------------------------------------------------------------- gradients
    def gradient(self, image, class_index=None):
        """Gradient of the class logit with respect to the model input, ``(H, W, C)``."""
        display, model_input, key = self.prepare(image)
        target = self._target(class_index, model_input, key)
        return self._input_gradient(model_input, key, target).copy()

    def _input_gradient(self, model_input, key, target):
        # The cached array itself: callers must not mutate it.
        return self._cache.get_or_compute(
            ("gradient", key, target), lambda: self._gradients(model_input[None], target)[0]
        )

    def _target(self, class_index, model_input, key):
        """Resolve a class for a prepared image (None: its predicted class) without re-hashing it."""
        if class_index is not None:
            return self.class_index(class_index)
        probs = self._cache.get_or_compute(("predict", key), lambda: self._predict_inputs(model_input[None])[0])
        return int(np.argmax(probs))

    def _gradients(self, batch, target):
        _, grads = self._gradient_fn()(batch, np.int32(target))
        return grads.numpy()

    def saliency(self, image, class_index=None, method="vanilla", signed=False, samples=25,
                 noise=0.15, steps=32, baseline="black", batch_size=16, seed=0,
                 progress=None, cancel=None):
        """Gradient-based saliency map at input resolution.

        Parameters
        ----------
        image : array_like
            One image.
        class_index : int or str, optional
            Class to explain, default the predicted class. Gradients are of
            the pre-softmax score.
        method : {"vanilla", "smoothgrad", "integrated_gradients", "gradient_x_input"}
            ``vanilla``: the input gradient (Simonyan et al. 2014).
            ``smoothgrad``: gradients averaged over ``samples`` noisy copies
            (Smilkov et al. 2017). ``integrated_gradients``: the path integral
            from ``baseline`` in ``steps`` midpoint steps (Sundararajan et al.
            2017). ``gradient_x_input``: gradient times the model input.
        signed : bool
            False: largest absolute value over channels. True: signed sum over channels.
        samples, noise : int, float
            SmoothGrad sample count and noise std as a fraction of the input range.
        steps : int
            Integrated Gradients steps.
        baseline : {"black", "blur", "gray"} or array_like
            Integrated Gradients baseline, in display pixels.
        batch_size : int
            Images per gradient call for SmoothGrad and Integrated Gradients.
        seed : int
            SmoothGrad noise seed.
        progress, cancel
            See :class:`~cnnwidgets.backend.jobs.JobControl`.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` float32 map.
        """
        if method not in SALIENCY_METHODS:
            raise InvalidParameterError(f"unknown saliency method {method!r}; use one of {', '.join(SALIENCY_METHODS)}")
        display, model_input, key = self.prepare(image)
        target = self._target(class_index, model_input, key)
        if method == "vanilla":
            attribution = self._input_gradient(model_input, key, target)
        elif method == "gradient_x_input":
            attribution = self._input_gradient(model_input, key, target) * model_input
        elif method == "smoothgrad":
            params = (int(samples), float(noise), int(seed))
            attribution = self._cache.get_or_compute(
                ("smoothgrad", key, target, params),
                lambda: self._smoothgrad(model_input, target, *params, batch_size, progress, cancel),
            )
        else:
            base_key = baseline if isinstance(baseline, str) else image_key(np.asarray(baseline, np.float32))
            attribution = self._cache.get_or_compute(
                ("integrated_gradients", key, target, int(steps), base_key),
                lambda: self._integrated_gradients(
                    display, model_input, target, int(steps), baseline, batch_size, progress, cancel
                ),
            )
        return reduce_channels(attribution, signed).astype(np.float32, copy=False)

    def _batched_gradients(self, make_batch, total, target, batch_size, progress, cancel):
        job = JobControl(total, progress, cancel)
        job.check()
        acc = None
        for start in range(0, total, batch_size):
            count = min(batch_size, total - start)
            grads = self._gradients(make_batch(start, count), target).sum(axis=0)
            acc = grads if acc is None else acc + grads
            job.advance(count)
        return acc / total

    def _smoothgrad(self, model_input, target, samples, noise, seed, batch_size, progress, cancel):
        rng = np.random.default_rng(seed)
        low, high = self._model_range()
        sigma = noise * (high - low)
        noise_all = rng.normal(size=(samples,) + model_input.shape).astype(np.float32) * sigma
        return self._batched_gradients(
            lambda start, count: model_input[None] + noise_all[start : start + count],
            samples, target, batch_size, progress, cancel,
        )

    def _integrated_gradients(self, display, model_input, target, steps, baseline, batch_size, progress, cancel):
        if isinstance(baseline, str):
            if baseline == "black":
                base_display = np.full_like(display, self.input_range[0])
            elif baseline == "gray":
                base_display = np.full_like(display, sum(self.input_range) / 2)
            elif baseline == "blur":
                base_display = gaussian_blur(display, max(1.0, min(display.shape[:2]) / 8.0))
            else:
                raise InvalidParameterError(f"unknown baseline {baseline!r}; use 'black', 'gray', 'blur' or an image")
        else:
            base_display = as_image(baseline, self.input_shape)
        base_input = self._preprocess(base_display[None])[0]
        alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)
        delta = model_input - base_input
        mean_grad = self._batched_gradients(
            lambda start, count: base_input[None] + alphas[start : start + count, None, None, None] * delta[None],
            steps, target, batch_size, progress, cancel,
        )
        return delta * mean_grad

    def _model_range(self):
        ends = np.array([[[[self.input_range[0]]]], [[[self.input_range[1]]]]], np.float32)
        ends = np.broadcast_to(ends, (2, 1, 1, self.input_shape[-1] or 1)).copy()
        try:
            mapped = self._preprocess(ends)
        except Exception:
            mapped = ends
        return float(mapped.min()), float(mapped.max())

    def gradcam(self, image, class_index=None, layer=None, plus_plus=False, upsample=True):
        """Grad-CAM (or Grad-CAM++) class activation map.

        Parameters
        ----------
        image : array_like
            One image.
        class_index : int or str, optional
            Class to explain, default the predicted class. Uses the pre-softmax
            score, so a softmax model and its logits twin give the same map.
        layer : str, int or LayerRecord, optional
            A spatial layer; default the last spatial convolution layer
            (:attr:`default_cam_layer`), inside nested models too.
        plus_plus : bool
            Use the Grad-CAM++ channel weights.
        upsample : bool
            Resize the map bilinearly to the input's height and width. False
            returns it at the layer's resolution.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` float32, non-negative, not normalised.

        Raises
        ------
        NoSpatialLayerError
            The model (or the chosen layer) has no ``(H, W, C)`` output.
        """
        record = self._spatial_layer(layer, "Grad-CAM")
        display, model_input, key = self.prepare(image)
        target = self._target(class_index, model_input, key)

        def compute():
            features, grads, _ = self._cam_fn(record.path)(model_input[None], np.int32(target))
            return cam_from_gradients(features.numpy()[0], grads.numpy()[0], plus_plus)

        cam = self._cache.get_or_compute(("gradcam", key, target, record.path, bool(plus_plus)), compute)
        return resize_map(cam, display.shape[:2]) if upsample else cam.copy()

    # ---------------------------------------------------------- maximization
    def _maximize_fn(self, path, use_logits):
        import tensorflow as tf

        low, high = self._model_range()
        middle, half = (low + high) / 2.0, (high - low) / 2.0

        def build():
            @tf.function(
                input_signature=self._signature(
                    tf.TensorSpec((None,), tf.int32),
                    tf.TensorSpec((2,), tf.int32),
                    tf.TensorSpec((3,), tf.float32),
                ),
                reduce_retracing=True,
                autograph=False,
            )
            def step(unit, channels, shift, params):
                self.trace_counts["maximize:" + path] += 1
                step_size, l2, tv = params[0], params[1], params[2]
                with tf.GradientTape() as tape:
                    tape.watch(unit)
                    jittered = tf.roll(unit, shift=shift, axis=[1, 2])
                    _, logits, captured = self._scores(middle + half * jittered, () if use_logits else (path,))
                    acts = logits if use_logits else captured[path]
                    if len(acts.shape) == 4:
                        acts = tf.reduce_mean(acts, axis=[1, 2])
                    acts = tf.reshape(acts, (tf.shape(acts)[0], -1))
                    objective = tf.gather(acts, channels, batch_dims=1)
                    total = tf.reduce_sum(objective)
                grad = tape.gradient(total, unit)
                grad = grad / (tf.math.reduce_std(grad, axis=[1, 2, 3], keepdims=True) + 1e-8)
                dy = unit[:, 1:] - unit[:, :-1]
                dx = unit[:, :, 1:] - unit[:, :, :-1]
                tv_grad = tf.pad(tf.sign(dy), [[0, 0], [1, 0], [0, 0], [0, 0]]) - tf.pad(
                    tf.sign(dy), [[0, 0], [0, 1], [0, 0], [0, 0]]
                )
                tv_grad += tf.pad(tf.sign(dx), [[0, 0], [0, 0], [1, 0], [0, 0]]) - tf.pad(
                    tf.sign(dx), [[0, 0], [0, 0], [0, 1], [0, 0]]
                )
                updated = unit + step_size * (grad - tv * tv_grad) - l2 * unit
                return tf.clip_by_value(updated, -1.0, 1.0), objective

            return step

        return self._function(f"maximize:{path}:{use_logits}", build)

    def maximize(self, layer, channels, steps=96, step_size=0.05, l2=0.01, tv=0.2, jitter=2,
                 seed=0, progress=None, cancel=None):
        """Activation maximization: synthesize the input each channel responds to most.

        Gradient ascent on the mean activation of each channel (the logit for
        each class when ``layer`` is the output layer), batched over all
        channels in one optimization, with jitter, L2 decay and total-variation
        regularization so the images stay readable.

        Parameters
        ----------
        layer : str, int or LayerRecord
            Any layer; for the output layer the channels are classes.
        channels : int or sequence of int
            Channel (or class) indices to maximize.
        steps : int
            Gradient steps.
        step_size : float
            Step in units of half the input range, applied to the normalised gradient.
        l2 : float
            Per-step decay towards mid-grey.
        tv : float
            Total-variation strength (smoothness).
        jitter : int
            Largest random shift in pixels per step; capped at an eighth of
            the image's shorter side so that tiny inputs are not scrambled.
        seed : int
            Seed of the random start and the jitter.
        progress, cancel
            See :class:`~cnnwidgets.backend.jobs.JobControl`; checked after every step.

        Returns
        -------
        MaximizationResult
        """
        record = self.layer(layer)
        use_logits = record.layer is self._require_graph("maximize").final_layer
        channels = tuple(int(c) for c in np.atleast_1d(channels))
        width = self.num_classes if use_logits else (record.output_shape or (0,))[-1]
        bad = [c for c in channels if not 0 <= c < (width or 0)]
        if bad or not channels:
            raise LayerNotFoundError(
                f"layer {record.path!r} has {width} channels (0 to {width - 1}); cannot maximize {bad or 'no channels'}"
            )
        shape = tuple(self.input_shape)
        if None in shape:
            raise UnsupportedModelError("maximize needs a model with a fixed input size (H, W, C)")
        cache_key = ("maximize", record.path, channels, steps, step_size, l2, tv, jitter, seed)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return _owned(cached)
        rng = np.random.default_rng(seed)
        unit = (0.1 * rng.standard_normal((len(channels),) + shape)).astype(np.float32)
        step = self._maximize_fn(record.path, use_logits)
        params = np.array([step_size, l2, tv], np.float32)
        channel_array = np.array(channels, np.int32)
        jitter = min(int(jitter), min(shape[:2]) // 8)
        no_shift, no_update = np.zeros(2, np.int32), np.zeros(3, np.float32)
        job = JobControl(steps, progress, cancel)
        job.check()
        # The objective on the unshifted start images, measured like the final one.
        _, initial = step(unit, channel_array, no_shift, no_update)
        for _ in range(int(steps)):
            shift = rng.integers(-jitter, jitter + 1, size=2).astype(np.int32) if jitter else no_shift
            unit = step(unit, channel_array, shift, params)[0].numpy()
            job.advance()
        _, final = step(unit, channel_array, no_shift, no_update)
        low, high = self.input_range
        images = ((low + high) / 2 + (high - low) / 2 * unit).astype(np.float32)
        result = MaximizationResult(images, channels, final.numpy(), initial.numpy())
        return _owned(self._cache.put(cache_key, result))

    # -------------------------------------------------------------- utilities
    def clear_cache(self):
        """Forget every cached result (compiled functions are kept)."""
        self._cache.clear()

    def _require_graph(self, what):
        if self.graph is None:
            raise UnsupportedModelError(f"cannot {what}: {self._graph_error}")
        return self.graph

    def __repr__(self):
        layers = len(self.graph.records) if self.graph is not None else "?"
        return (
            f"Inspector({self.model.name!r}, input {self.input_shape}, {self.num_classes} classes, "
            f"{layers} layers)"
        )


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


def _owned(result):
    """A copy of a cached :class:`MaximizationResult` that the caller may modify."""
    return dataclasses.replace(
        result,
        images=result.images.copy(),
        scores=result.scores.copy(),
        initial_scores=result.initial_scores.copy(),
    )


def _subclassed_input_shape(model):
    """``(H, W, C)`` of a built subclassed model's single image input, else None.

    Subclassed Keras 3 models have no ``inputs``; the shape they were built
    with (by a first call or ``model.build``) is in ``_build_shapes_dict``.
    """
    try:
        inputs = model.inputs
    except Exception:
        inputs = None
    if inputs:
        shapes = [tuple(t.shape) for t in inputs]
    else:
        shapes = list((getattr(model, "_build_shapes_dict", None) or {}).values())
    if len(shapes) != 1 or shapes[0] is None or len(shapes[0]) != 4:
        return None
    return tuple(None if d is None else int(d) for d in shapes[0][1:])


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
