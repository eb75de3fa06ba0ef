"""Gradient methods of :class:`~cnnwidgets.Inspector`: saliency maps and Grad-CAM (a mixin)."""

import numpy as np

from ..errors import InvalidParameterError
from .attribution import cam_from_gradients, reduce_channels
from .images import as_image, gaussian_blur, image_key, resize_map
from .jobs import JobControl

__all__ = ["GradientMethods", "SALIENCY_METHODS"]

#: Methods accepted by :meth:`Inspector.saliency`.
SALIENCY_METHODS = ("vanilla", "smoothgrad", "integrated_gradients", "gradient_x_input")


class GradientMethods:
    """Input-gradient saliency maps and class activation maps, from compiled tape functions."""

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
        counts = {"batch_size": batch_size}
        if method == "smoothgrad":
            counts["samples"] = samples
        elif method == "integrated_gradients":
            counts["steps"] = steps
        for name, value in counts.items():
            if int(value) < 1:
                raise InvalidParameterError(f"{name} must be at least 1, got {value}; pass a positive integer")
        batch_size = int(batch_size)
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
