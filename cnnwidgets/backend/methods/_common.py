"""Shared pieces of the explanation methods: the request, batching, the CAM template.

Every method is ``compute(inspector, request) -> (N, h, w)`` float maps. The
inspector supplies the compiled primitives (input gradients, a layer's
features and gradients, class scores of perturbed batches); the helpers here
batch them and combine their results, so each method is its formula.
"""

from dataclasses import dataclass

import numpy as np

from ..attribution import reduce_channels
from ..jobs import JobControl
from .catalogue import ParamSpec, register

__all__ = ["ExplainRequest", "SIGNED", "SAMPLES", "NOISE", "SEED", "cam_method", "gradient_sums",
           "reduce_attributions", "top_channels", "weighted_cam"]

#: Parameters several methods share.
SIGNED = ParamSpec("signed", "Signed", "bool", False,
                   description="sum over colour channels keeping the sign, instead of the largest magnitude")
SAMPLES = ParamSpec("samples", "Samples", "int", 25, min=1, max=1000, step=1,
                    description="noisy copies of the image")
NOISE = ParamSpec("noise", "Noise", "float", 0.15, min=0.0, max=1.0, step=0.01,
                  description="noise std as a fraction of the model-input range")
SEED = ParamSpec("seed", "Seed", "int", 0, min=0, max=2**31 - 1, step=1, description="random seed")


@dataclass
class ExplainRequest:
    """What a method is asked to explain: a batch of images, one class each.

    Attributes
    ----------
    inputs : numpy.ndarray
        ``(N, H, W, C)`` float32 model inputs (after ``preprocess``).
    displays : numpy.ndarray
        ``(N, H, W, C)`` the same images as given (display pixels).
    targets : numpy.ndarray
        ``(N,)`` int32 class per image.
    layer : str or None
        Path of the spatial layer, for methods that need one.
    params : dict
        Checked parameters, defaults filled in.
    batch_size : int
        Most images (or perturbed copies) per compiled call.
    progress, cancel
        See :class:`~cnnwidgets.backend.jobs.JobControl`.
    """

    inputs: np.ndarray
    displays: np.ndarray
    targets: np.ndarray
    layer: object
    params: dict
    batch_size: int
    progress: object = None
    cancel: object = None

    def job(self, total):
        """A :class:`JobControl` over ``total`` steps on this request's progress and cancel."""
        job = JobControl(total, self.progress, self.cancel)
        job.check()
        return job

    def chunks(self, total=None):
        """``slice`` objects covering ``total`` (default N) in ``batch_size`` steps."""
        total = len(self.inputs) if total is None else total
        return [slice(s, min(s + self.batch_size, total)) for s in range(0, total, self.batch_size)]


def reduce_attributions(attributions, signed):
    """``(N, H, W, C)`` -> ``(N, H, W)`` float32: signed channel sum or largest magnitude."""
    return reduce_channels(np.asarray(attributions), signed).astype(np.float32, copy=False)


def gradient_sums(insp, request, samples, make_rows, squares=False, guided=False):
    """Sum input gradients over ``samples`` modified copies of each image.

    The N x samples copies are cut into batches of ``batch_size`` rows across
    image boundaries, so every compiled call is full.

    Parameters
    ----------
    make_rows : callable
        ``make_rows(images, samples) -> (B, H, W, C)`` model inputs for the
        rows given as two index arrays (image index, sample index).
    squares : bool
        Also return the sums of squared gradients.

    Returns
    -------
    sums : numpy.ndarray
        ``(N, H, W, C)`` float64 sums of gradients.
    squares : numpy.ndarray, only when ``squares``
    """
    count = len(request.inputs)
    total = count * samples
    sums = np.zeros(request.inputs.shape, np.float64)
    sq = np.zeros_like(sums) if squares else None
    job = request.job(total)
    for rows in request.chunks(total):
        index = np.arange(rows.start, rows.stop)
        images, sample = index // samples, index % samples
        grads = insp._input_gradients(make_rows(images, sample), request.targets[images], guided=guided)
        for i in np.unique(images):
            own = grads[images == i].astype(np.float64)
            sums[i] += own.sum(axis=0)
            if squares:
                sq[i] += (own * own).sum(axis=0)
        job.advance(len(index))
    return (sums, sq) if squares else sums


def cam_method(spec, gradients=True):
    """Register a CAM variant from its combination rule alone (template method).

    The template runs the model once per batch of images, capturing the
    layer's features ``A`` (and, when ``gradients``, the gradients ``G`` of
    the class score with respect to them), and passes float64 ``(N, h, w, k)``
    arrays to the decorated ``combine(A, G, params) -> (N, h, w)``.
    """

    def decorate(combine):
        def compute(insp, request):
            maps = []
            for rows in request.chunks():
                if gradients:
                    feats, grads = insp._layer_gradients(request.inputs[rows], request.targets[rows], request.layer)
                    grads = grads.astype(np.float64)
                else:
                    feats, grads = insp._layer_features(request.inputs[rows], request.layer), None
                maps.append(combine(feats.astype(np.float64), grads, request.params))
            return np.concatenate(maps).astype(np.float32)

        compute.__doc__ = combine.__doc__
        compute.__name__ = combine.__name__
        register(spec, compute)
        return combine

    return decorate


def weighted_cam(features, weights):
    """``relu(sum_k w_k A_k)`` for ``(N, h, w, k)`` features and ``(N, k)`` weights."""
    return np.maximum(np.einsum("nhwk,nk->nhw", features, weights), 0.0)


def top_channels(features, top_k):
    """Indices of the ``top_k`` channels of ``(h, w, k)`` features by mean activation (0: all)."""
    channels = features.shape[-1]
    if not top_k or top_k >= channels:
        return np.arange(channels)
    return np.sort(np.argsort(-features.mean(axis=(0, 1)), kind="stable")[:top_k])
