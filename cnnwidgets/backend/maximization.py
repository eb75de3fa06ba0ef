"""Activation maximization for :class:`~cnnwidgets.Inspector` (a mixin)."""

import dataclasses
import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError, LayerNotFoundError, UnsupportedModelError
from .jobs import JobControl

__all__ = ["MaximizationMethods", "MaximizationResult"]


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


class MaximizationMethods:
    """Synthesize the inputs that excite channels (or classes) most."""

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
        try:
            channels = tuple(int(c) for c in np.atleast_1d(channels))
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"channels must be an integer or a sequence of integers, got {channels!r}"
            ) from None
        width = self.class_count(0) if use_logits else (record.output_shape or (0,))[-1]
        bad = [c for c in channels if not 0 <= c < (width or 0)]
        if bad or not channels:
            raise LayerNotFoundError(
                f"layer {record.path!r} has {width} channels (0 to {width - 1}); cannot maximize {bad or 'no channels'}"
            )
        steps = _check_steps(steps)
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
        jitter = max(0, min(int(jitter), min(shape[:2]) // 8))
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


def _check_steps(steps):
    """``steps`` as a positive int, or an :class:`InvalidParameterError` saying what to pass."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        if not isinstance(steps, bool) and isinstance(steps, numbers.Real) and float(steps).is_integer():
            steps = int(steps)
        else:
            raise InvalidParameterError(f"steps must be a whole number of gradient steps, got {steps!r}; e.g. steps=96")
    if steps < 1:
        raise InvalidParameterError(
            f"steps must be at least 1 (got {steps}): with no gradient step the result would be the random "
            "start image; pass e.g. steps=96"
        )
    return int(steps)


def _owned(result):
    """A copy of a cached :class:`MaximizationResult` that the caller may modify."""
    return dataclasses.replace(
        result,
        images=result.images.copy(),
        scores=result.scores.copy(),
        initial_scores=result.initial_scores.copy(),
    )
