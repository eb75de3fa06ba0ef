"""``Inspector.explain``: every explanation method of the catalogue through one entry point (a mixin).

This module holds the entry points (:meth:`explain`, :meth:`explain_batch`),
the one hook through which every method obtains the score it explains
(:meth:`_class_scores`), and the compiled primitives the methods are written
on: input gradients (plain or guided), a layer's features and their
gradients, and class scores of masked or ablated copies. Each primitive is a
``tf.function`` with a fixed input signature, traced once per inspector.
"""

import numbers

import numpy as np

from ..errors import InvalidImageError, InvalidParameterError, NoSpatialLayerError
from .images import as_image, resize_map
from .jobs import JobControl
from .methods import ExplainRequest, compute_function, get_method

__all__ = ["ExplainMethods", "DEFAULT_BATCH_SIZES"]

#: Default images (or perturbed copies) per compiled call, by method family.
DEFAULT_BATCH_SIZES = {"gradient": 16, "cam": 32, "perturbation": 64}


class ExplainMethods:
    """Explanation methods from the catalogue (:func:`cnnwidgets.methods`)."""

    # ------------------------------------------------------------ entry points
    def explain(self, image, method, class_index=None, layer=None, *, upsample=True, progress=None,
                cancel=None, batch_size=None, **params):
        """Explain one prediction with any method of the catalogue.

        Parameters
        ----------
        image : array_like
            One image, ``(H, W)``, ``(H, W, C)`` or ``(1, H, W, C)``.
        method : str
            A name from :func:`cnnwidgets.methods` (``"gradcam"``,
            ``"scorecam"``, ``"rise"``, ...).
        class_index : int, str or target, optional
            Class to explain (default the predicted class), or a target from
            :mod:`cnnwidgets.targets` (``Region``, ``Value``, ``Output``, a
            callable) for segmentation, regression and multi-output models.
        layer : str, int or LayerRecord, optional
            The spatial layer, for methods that need one (``needs_layer``);
            default :attr:`default_cam_layer`. Ignored by the others.
        upsample : bool
            Resize a layer-resolution map bilinearly to the input's size.
            False keeps CAM-style maps at the layer's resolution.
        progress, cancel
            For long methods: ``progress(done, total)`` and a cancel token,
            see :class:`~cnnwidgets.backend.jobs.JobControl`.
        batch_size : int, optional
            Copies per compiled call (speed only; not part of the result).
        **params
            The method's parameters (``MethodSpec.params``), e.g.
            ``samples=50`` for SmoothGrad or ``top_k=64`` for Score-CAM.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` float32 map (the layer's ``(h, w)`` with
            ``upsample=False``). Cached per (image, method, class, layer,
            parameters).

        Raises
        ------
        UnknownMethodError
            ``method`` is not in the catalogue (the message lists the names).
        InvalidParameterError
            An unknown parameter (the message lists the method's ones) or a
            value of the wrong type or out of range.
        NoSpatialLayerError, LayerNotFoundError, ClassNotFoundError, InvalidImageError
        JobCancelled
            ``cancel`` was set; nothing half-done is cached.
        """
        spec = get_method(method)
        bound = spec.bind(params)
        batch_size = _batch_size(batch_size, spec)
        display, model_input, key = self.prepare(image)
        target = self._target(class_index, model_input, key)
        path = self._spatial_layer(layer, spec.label, target).path if spec.needs_layer else None
        cache_key = ("explain", spec.name, key, target.key, path, spec.params_key(bound))
        result = self._cache.get(cache_key)
        if result is None:
            request = ExplainRequest(model_input[None], display[None], target, path, bound,
                                     batch_size, progress, cancel)
            result = self._cache.put(cache_key, self._run_method(spec, request)[0])
        elif spec.long and progress is not None:
            progress(1, 1)
        if upsample and result.shape != display.shape[:2]:
            return resize_map(result, display.shape[:2])
        return result.copy()

    def explain_batch(self, images, method, class_indices=None, layer=None, *, batch_size=None, upsample=True,
                      progress=None, cancel=None, **params):
        """Explain many images at once, in real batches: ``(N, H, W)`` float32.

        Gradient and CAM methods take one tape pass per batch of
        ``batch_size`` images; multi-sample methods fill each batch with
        (image, sample) rows. Nothing is cached (a data-set audit would only
        evict the interactive results).

        Parameters
        ----------
        images : array_like
            ``(N, H, W, C)`` (or ``(N, H, W)`` for a one-channel model).
        method, layer, upsample, **params
            As for :meth:`explain`.
        class_indices : int, str, target or sequence, optional
            One class (or target) per image, or one for all; default each
            image's predicted class. The targets of one call must be of one
            kind on one output.
        batch_size : int, optional
            Images per compiled call (default by family: 16, 32, 64).
        progress, cancel
            ``progress(images_done, N)`` after each batch; ``cancel`` is
            polled between and inside batches.
        """
        spec = get_method(method)
        bound = spec.bind(params)
        batch_size = _batch_size(batch_size, spec)
        displays = self._image_batch(images)
        inputs = self._preprocess(displays) if len(displays) else displays
        targets = self._batch_targets(class_indices, inputs)
        path = self._spatial_layer(layer, spec.label, targets).path if spec.needs_layer else None
        job = JobControl(len(displays), progress, cancel)
        job.check()
        maps = []
        for start in range(0, len(displays), batch_size):
            rows = slice(start, start + batch_size)
            request = ExplainRequest(inputs[rows], displays[rows], targets[rows], path, bound, batch_size, None, cancel)
            maps.extend(self._run_method(spec, request))
            job.advance(len(request.inputs))
        size = tuple(displays.shape[1:3])
        if upsample:
            maps = [m if m.shape == size else resize_map(m, size) for m in maps]
        shape = maps[0].shape if maps else (size if upsample or not spec.needs_layer else (0, 0))
        return np.stack(maps).astype(np.float32, copy=False) if maps else np.zeros((0,) + shape, np.float32)

    def _run_method(self, spec, request):
        return np.asarray(compute_function(spec.name)(self, request), dtype=np.float32)

    def _image_batch(self, images):
        images = np.asarray(images)
        if images.ndim == 3 and self.input_shape[-1] == 1:  # (N, H, W) for a one-channel model
            images = images[..., None]
        if images.ndim != 4:
            raise InvalidImageError(f"explain_batch takes a batch (N, H, W, C), got shape {images.shape}")
        if not len(images):
            return np.zeros((0,) + tuple(d or 1 for d in self.input_shape), np.float32)
        return np.stack([as_image(img, self.input_shape) for img in images])

    def _batch_targets(self, class_indices, inputs):
        from .targeting import resolve_many

        def predicted():
            self._require_classifier("explain the predicted classes")
            return np.argmax(self._predict_inputs(inputs), axis=1).astype(np.int32) if len(inputs) else []

        return resolve_many(self, class_indices, len(inputs), predicted)

    # ------------------------------------------------------------- the score
    def _class_scores(self, outputs, targets, kind="logit"):
        """THE score every method explains: one value per row of a batch (inside a tf.function).

        Every explanation method obtains its score here and only here.

        Parameters
        ----------
        outputs : tuple
            ``(outputs, logits)``: lists with one tensor per model output
            (see :meth:`_outputs`).
        targets : tuple
            ``(scorer, indices, weights)``: the static
            :class:`~cnnwidgets.backend.targeting.Scorer` and the ``(B,)``
            int32 / ``(B, h, w)`` float32 tensors of a
            :class:`~cnnwidgets.backend.targeting.TargetBatch` (one row is
            broadcast over the batch).
        kind : {"logit", "probability"}
            Gradient methods and Ablation-CAM use the pre-activation score;
            Score-CAM, RISE and occlusion use the probability (softmax/sigmoid
            outputs) or the value (other outputs), as in their papers.
        """
        from .targeting import target_score

        scorer, indices, weights = targets
        return target_score(scorer, outputs[0], outputs[1], self.output_activations, indices, weights, kind)

    # ------------------------------------------------------ compiled primitives
    def _guided_transform(self):
        """Graph transform for guided backpropagation: gate the gradient out of every ReLU-family layer.

        The backward pass of a ReLU already multiplies by ``[z > 0]``; a gate
        on its output that lets only positive gradients through adds
        ``[g > 0]``, which is exactly Springenberg et al.'s guided rule. So a
        layer with a fused ``activation="relu"`` (Conv2D, Dense, ...) needs no
        change: the gate sits on its output, the layer runs unchanged.
        """
        import tensorflow as tf

        from .graph import is_relu_family

        @tf.custom_gradient
        def positive_gradient(y):
            return tf.identity(y), lambda dy: tf.nn.relu(dy)

        def transform(path, layer, output):
            if is_relu_family(layer) and not isinstance(output, (list, tuple)):
                return positive_gradient(output)
            return output

        return transform

    def _input_gradients(self, x, targets, guided=False):
        """``(B, H, W, C)`` gradients of each row's score with respect to the model input."""
        import tensorflow as tf

        name = ("input_gradients:guided:" if guided else "input_gradients:") + targets.scorer.name
        if guided:
            self._require_graph("run guided backpropagation (it changes ReLU gradients layer by layer)")

        def build():
            transform = self._guided_transform() if guided else None

            @tf.function(input_signature=self._signature(tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, None, None), tf.float32)),
                         reduce_retracing=True, autograph=False)
            def gradients(x, indices, weights):
                self.trace_counts[name] += 1
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    outputs, logits, _ = self._outputs(x, transform=transform)
                    score = self._class_scores((outputs, logits), (scorer, indices, weights))
                return tape.gradient(score, x)

            return gradients

        scorer = targets.scorer
        return self._function(name, build)(np.asarray(x, np.float32), *targets.arrays()).numpy()

    def _layer_gradients(self, x, targets, path):
        """``(features, gradients)`` of a layer, each ``(B, h, w, k)``, from one tape pass."""
        import tensorflow as tf

        scorer = targets.scorer
        name = f"layer_gradients:{path}:{scorer.name}"

        def build():
            @tf.function(input_signature=self._signature(tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, None, None), tf.float32)),
                         reduce_retracing=True, autograph=False)
            def layer_gradients(x, indices, weights):
                self.trace_counts[name] += 1
                with tf.GradientTape() as tape:
                    outputs, logits, captured = self._outputs(x, (path,))
                    features = captured[path]
                    tape.watch(features)
                    score = self._class_scores((outputs, logits), (scorer, indices, weights))
                return features, tape.gradient(score, features)

            return layer_gradients

        features, grads = self._function(name, build)(np.asarray(x, np.float32), *targets.arrays())
        if grads is None:
            raise NoSpatialLayerError(
                f"the score explained does not depend on layer {path!r} (it comes after the pre-activation "
                "score, or on another output's branch); choose a layer before the target's output"
            )
        return features.numpy(), grads.numpy()

    def _layer_features(self, x, path):
        """A layer's output ``(B, h, w, k)`` for a batch (one forward pass)."""
        import tensorflow as tf

        name = "layer_features:" + path

        def build():
            @tf.function(input_signature=self._signature(), reduce_retracing=True, autograph=False)
            def layer_features(x):
                self.trace_counts[name] += 1
                return self._scores(x, (path,))[2][path]

            return layer_features

        return self._function(name, build)(np.asarray(x, np.float32)).numpy()

    def _batch_scores(self, batch, targets, kind="probability"):
        """Each row's score (via :meth:`_class_scores`) for a prebuilt batch of model inputs."""
        import tensorflow as tf

        scorer = targets.scorer
        name = f"class_scores:{kind}:{scorer.name}"

        def build():
            @tf.function(input_signature=self._signature(tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, None, None), tf.float32)),
                         reduce_retracing=True, autograph=False)
            def class_scores(x, indices, weights):
                self.trace_counts[name] += 1
                outputs, logits, _ = self._outputs(x)
                return self._class_scores((outputs, logits), (scorer, indices, weights), kind)

            return class_scores

        return self._function(name, build)(np.asarray(batch, np.float32), *targets.arrays()).numpy()

    def _masked_scores(self, x, masks, target, kind="probability", rescale=False):
        """Scores of ``x * mask`` for each mask ``(B, h, w)``.

        ``rescale``: resize each mask bilinearly to the input size and scale
        it to [0, 1] in the graph (Score-CAM); else the masks are used as given.
        """
        import tensorflow as tf

        scorer = target.scorer
        name = f"masked_scores:{kind}" + (":rescaled" if rescale else "") + ":" + scorer.name

        def build():
            image_spec = tf.TensorSpec(tuple(self.input_shape), tf.float32)
            mask_spec = tf.TensorSpec((None, None, None), tf.float32)

            @tf.function(input_signature=[image_spec, mask_spec, tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, None, None), tf.float32)],
                         reduce_retracing=True, autograph=False)
            def masked_scores(x, masks, indices, weights):
                self.trace_counts[name] += 1
                masks = masks[..., None]
                if rescale:
                    masks = tf.image.resize(masks, tf.shape(x)[:2], method="bilinear")
                    low = tf.reduce_min(masks, axis=[1, 2, 3], keepdims=True)
                    span = tf.reduce_max(masks, axis=[1, 2, 3], keepdims=True) - low
                    masks = tf.math.divide_no_nan(masks - low, span)
                outputs, logits, _ = self._outputs(x[None] * masks)
                return self._class_scores((outputs, logits), (scorer, indices, weights), kind)

            return masked_scores

        return self._function(name, build)(np.asarray(x, np.float32), np.asarray(masks, np.float32),
                                           *target.arrays()).numpy()

    def _rise_sum(self, x, grids, shifts, rows, cols, target, kind="probability"):
        """``sum_i score(x * M_i) M_i`` over one batch of RISE masks, the masks built in the graph.

        Mask ``i`` is ``rows[dy:dy + H] @ grids[i] @ cols[dx:dx + W].T`` with
        ``(dy, dx) = shifts[i]`` (see :func:`methods.rise.draw_masks`).
        """
        import tensorflow as tf

        scorer = target.scorer
        name = f"rise_sum:{kind}:{scorer.name}"

        def build():
            matrix = tf.TensorSpec((None, None), tf.float32)

            @tf.function(input_signature=[tf.TensorSpec(tuple(self.input_shape), tf.float32),
                                          tf.TensorSpec((None, None, None), tf.float32),
                                          tf.TensorSpec((None, 2), tf.int32), matrix, matrix,
                                          tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, None, None), tf.float32)],
                         reduce_retracing=True, autograph=False)
            def rise_sum(x, grids, shifts, rows, cols, indices, weights):
                self.trace_counts[name] += 1
                row_weights = tf.gather(rows, shifts[:, :1] + tf.range(tf.shape(x)[0])[None])
                col_weights = tf.gather(cols, shifts[:, 1:] + tf.range(tf.shape(x)[1])[None])
                masks = tf.matmul(tf.matmul(row_weights, grids), col_weights, transpose_b=True)
                outputs, logits, _ = self._outputs(x[None] * masks[..., None])
                scores = self._class_scores((outputs, logits), (scorer, indices, weights), kind)
                return tf.tensordot(scores, masks, axes=1)

            return rise_sum

        return self._function(name, build)(np.asarray(x, np.float32), np.asarray(grids, np.float32),
                                           np.asarray(shifts, np.int32), rows, cols, *target.arrays()).numpy()

    def _ablated_scores(self, batch, keep, targets, path, kind="logit"):
        """Scores of a batch with the layer's channels multiplied, row by row, by ``keep`` ``(B, k)``."""
        import tensorflow as tf

        self._require_graph("ablate channels of a layer")
        scorer = targets.scorer
        name = f"ablated_scores:{kind}:{path}:{scorer.name}"

        def build():
            @tf.function(input_signature=self._signature(tf.TensorSpec((None, None), tf.float32),
                                                         tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, None, None), tf.float32)),
                         reduce_retracing=True, autograph=False)
            def ablated_scores(x, keep, indices, weights):
                self.trace_counts[name] += 1

                def transform(layer_path, layer, output):
                    if layer_path != path:
                        return output
                    return output * tf.cast(keep[:, None, None, :], output.dtype)

                outputs, logits, _ = self._outputs(x, transform=transform)
                return self._class_scores((outputs, logits), (scorer, indices, weights), kind)

            return ablated_scores

        return self._function(name, build)(np.asarray(batch, np.float32), np.asarray(keep, np.float32),
                                           *targets.arrays()).numpy()


def _batch_size(value, spec):
    if value is None:
        return DEFAULT_BATCH_SIZES[spec.family]
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or int(value) < 1:
        raise InvalidParameterError(f"batch_size must be at least 1, got {value!r}; pass a positive integer")
    return int(value)

