"""``Inspector.evaluate``: how faithful is a saliency map? Every metric of the catalogue, one entry point (a mixin)."""

import numbers

import numpy as np

from ..errors import InvalidMapError, InvalidParameterError
from .images import image_key
from .metrics import EvaluationResult, MetricRequest, compute_function, get_metric
from .targeting import reported_class, reported_target

__all__ = ["EvaluateMethods", "DEFAULT_METRIC_BATCH"]

#: Perturbed copies per compiled call when the caller gives no ``batch_size``.
DEFAULT_METRIC_BATCH = 64


class EvaluateMethods:
    """Faithfulness metrics from the catalogue (:func:`cnnwidgets.metrics`)."""

    def evaluate(self, image, saliency_map, class_index=None, metric="deletion", *, progress=None, cancel=None,
                 batch_size=None, **params):
        """Measure how faithful a saliency map is to the model, with any metric of the catalogue.

        Parameters
        ----------
        image : array_like
            One image, ``(H, W)``, ``(H, W, C)`` or ``(1, H, W, C)``.
        saliency_map : array_like
            ``(H, W)`` relevance of each pixel (higher = more relevant), e.g.
            from :meth:`explain` (which upsamples to the image's size).
        class_index : int, str or target, optional
            What is measured: a class (its probability is recorded; default
            the predicted class), or a target from :mod:`cnnwidgets.targets`
            for segmentation, regression and several-output models. The
            curves record the target's score as occlusion does: the
            probability where the output ends in softmax/sigmoid (summed over
            a ``Region``'s mask), the raw value otherwise (times a
            ``Value``'s sign), or what a callable target returns.
        metric : str
            A name from :func:`cnnwidgets.metrics`: ``"deletion"``,
            ``"insertion"``, ``"road"``, ``"average_drop"``,
            ``"increase_in_confidence"``.
        progress, cancel
            ``progress(done, total)`` per batch of perturbed copies; a cancel
            token (see :class:`~cnnwidgets.backend.jobs.JobControl`).
        batch_size : int, optional
            Perturbed copies per compiled call (speed only; default 64).
        **params
            The metric's parameters (``MetricSpec.params``), e.g. ``steps=50``,
            ``fill="blur"`` or a baseline image for deletion/insertion,
            ``order="least"`` for ROAD.

        Returns
        -------
        EvaluationResult
            The score, whether higher is better, and for curve metrics the
            curve (fractions, the target's score at each point). Cached per
            (image, map, class or target, metric, parameters); its arrays
            are read-only.

        Raises
        ------
        UnknownMetricError
            ``metric`` is not in the catalogue (the message lists the names).
        InvalidParameterError
            An unknown parameter (the message lists the metric's ones) or a
            value of the wrong type or out of range.
        InvalidMapError
            The map is not ``(H, W)`` of the image, or has NaN/inf values.
        InvalidTargetError, NotAClassifierError
            The target does not fit the model's outputs, or no target was
            given on a model that is not a classifier.
        InvalidImageError, ClassNotFoundError
        JobCancelled
            ``cancel`` was set; nothing half-done is cached.
        """
        spec = get_metric(metric)
        bound = spec.bind(params)
        batch_size = _metric_batch_size(batch_size)
        display, model_input, key = self.prepare(image)
        saliency = _check_map(saliency_map, display.shape[:2])
        target = self._target(class_index, model_input, key)
        cache_key = ("evaluate", spec.name, key, image_key(saliency), target.key, spec.params_key(bound))
        result = self._cache.get(cache_key)
        if result is not None:
            if progress is not None:
                progress(1, 1)
            return result
        request = MetricRequest(display, model_input, saliency, target, bound, batch_size, progress, cancel)
        output = compute_function(spec.name)(self, request)
        result = EvaluationResult(
            metric=spec.name, label=spec.label, score=float(output.score),
            higher_is_better=spec.better_is_higher(bound),
            fractions=_read_only(output.fractions), probabilities=_read_only(output.probabilities),
            class_index=reported_class(target), params=dict(bound), details=dict(output.details),
            target=reported_target(self, class_index, target),
        )
        return self._cache.put(cache_key, result)


def _check_map(saliency_map, size):
    try:
        values = np.asarray(saliency_map, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidMapError(
            f"could not read the saliency map as numbers; pass a float array of shape {tuple(size)}"
        ) from None
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.shape != tuple(size):
        raise InvalidMapError(
            f"the saliency map has shape {values.shape} but the image is {size[0]}x{size[1]}: pass one value per "
            f"pixel, shape {tuple(size)} (explain(..., upsample=True) gives maps at the image's size)"
        )
    if not np.isfinite(values).all():
        bad = int(values.size - np.isfinite(values).sum())
        raise InvalidMapError(f"the saliency map has {bad} NaN or infinite values; replace them (np.nan_to_num) first")
    return values


def _read_only(values):
    if values is None:
        return None
    values = np.array(values, dtype=np.float64)
    values.setflags(write=False)
    return values


def _metric_batch_size(value):
    if value is None:
        return DEFAULT_METRIC_BATCH
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or int(value) < 1:
        raise InvalidParameterError(f"batch_size must be at least 1, got {value!r}; pass a positive integer")
    return int(value)
