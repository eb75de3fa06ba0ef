"""Shared pieces of the metrics: the request, relevance order, fills, batched scoring.

Every metric is ``compute(inspector, request) -> MetricOutput``. The request
carries the image (as given and as model input), the map, the class or target
(:mod:`cnnwidgets.targets`) and the checked parameters; the helpers here turn a map into an order of pixels and
push the perturbed copies of one curve through the model in a few batches.
"""

from dataclasses import dataclass

import numpy as np

from ..images import as_image, gaussian_blur
from ..jobs import JobControl
from .catalogue import ParamSpec

__all__ = ["MetricRequest", "STEPS", "FILL", "SIGMA", "relevance_rank", "area_under_curve", "pixel_counts"]

STEPS = ParamSpec("steps", "Steps", "int", 50, min=2, max=1000, step=1,
                  description="points of the curve after the first: each step changes 1/steps of the pixels")
FILL = ParamSpec("fill", "Fill", "choice", "black", choices=("black", "blur", "mean"), array_ok=True,
                 description="what a removed pixel becomes: the range's low end, the blurred image, "
                             "the image's mean colour, or a given baseline image")
SIGMA = ParamSpec("sigma", "Blur sigma", "float", 5.0, min=0.5, max=50.0, step=0.5,
                  description="std (pixels) of the Gaussian blur used by fill='blur'")


@dataclass
class MetricRequest:
    """What a metric is asked to measure: one map of one image for one class or target.

    Attributes
    ----------
    display : numpy.ndarray
        ``(H, W, C)`` float32 image as given (display pixels).
    model_input : numpy.ndarray
        ``(H, W, C)`` the same after ``preprocess``.
    saliency : numpy.ndarray
        ``(H, W)`` float64 relevance map (higher = more relevant).
    target : TargetBatch
        The resolved class or target (:mod:`cnnwidgets.targets`) whose score
        is recorded; its arrays are fed to one compiled function per output
        and target kind, so a new class, mask or sign never retraces.
    params : dict
        Checked parameters, defaults filled in.
    batch_size : int
        Most perturbed copies per compiled call.
    progress, cancel
        See :class:`~cnnwidgets.backend.jobs.JobControl`.
    """

    display: np.ndarray
    model_input: np.ndarray
    saliency: np.ndarray
    target: object
    params: dict
    batch_size: int
    progress: object = None
    cancel: object = None

    def job(self, total):
        """A :class:`JobControl` over ``total`` steps on this request's progress and cancel."""
        job = JobControl(total, self.progress, self.cancel)
        job.check()
        return job

    def probabilities(self, insp, count, make_rows, job=None):
        """The target's score of ``count`` perturbed copies, built and scored ``batch_size`` at a time.

        The score is the class probability, or for another target its
        probability where the output ends in softmax/sigmoid and its value
        otherwise (as occlusion reports it).

        ``make_rows(rows) -> (B, H, W, C)`` model inputs for the index array
        ``rows``; ``job`` (default: a new one over ``count`` steps) advances by
        copies scored and polls ``cancel`` after each batch.
        """
        job = self.job(count) if job is None else job
        out = np.empty(count, np.float64)
        for start in range(0, count, self.batch_size):
            rows = np.arange(start, min(start + self.batch_size, count))
            out[rows] = insp._batch_scores(make_rows(rows), self.target, kind="probability")
            job.advance(len(rows))
        return out

    def fill_input(self, insp, fill, sigma=5.0):
        """The fill image in model-input space: ``"black"``, ``"blur"``, ``"mean"`` or a baseline array."""
        display = self.display
        if isinstance(fill, str):
            if fill == "black":
                filled = np.full_like(display, insp.input_range[0])
            elif fill == "blur":
                filled = gaussian_blur(display, sigma)
            else:  # "mean"
                filled = np.broadcast_to(display.mean(axis=(0, 1), keepdims=True), display.shape).copy()
        else:
            filled = as_image(fill, tuple(display.shape))
        return insp._preprocess(filled[None].astype(np.float32))[0]


def relevance_rank(saliency):
    """``(H, W)`` int rank of each pixel: 0 for the most relevant, ties broken in raster order."""
    flat = np.asarray(saliency, np.float64).ravel()
    order = np.argsort(-flat, kind="stable")
    rank = np.empty(flat.size, np.int64)
    rank[order] = np.arange(flat.size)
    return rank.reshape(np.shape(saliency))


def pixel_counts(pixels, fractions):
    """Whole numbers of pixels for each fraction (rounded)."""
    return np.round(np.asarray(fractions, np.float64) * pixels).astype(np.int64)


def area_under_curve(fractions, values):
    """Trapezoidal area under ``values`` over ``fractions``, divided by the fractions' span."""
    fractions = np.asarray(fractions, np.float64)
    values = np.asarray(values, np.float64)
    span = fractions[-1] - fractions[0]
    area = np.sum((values[1:] + values[:-1]) * np.diff(fractions)) / 2.0
    return float(area / span) if span > 0 else float(values.mean())
