"""Methods that average input gradients over noisy copies: SmoothGrad and VarGrad.

The noise is documented and reproducible: ``numpy.random.default_rng(seed)``
draws ``normal(size=(samples, H, W, C))`` once, scaled by ``noise`` times the
model-input range, and the same draws are used for every image.
"""

import numpy as np

from ._common import NOISE, SAMPLES, SEED, SIGNED, gradient_sums, reduce_attributions
from .catalogue import MethodSpec, method


def noise_draws(insp, samples, noise, seed, shape):
    """``(samples, H, W, C)`` float32 Gaussian noise for SmoothGrad and VarGrad."""
    low, high = insp._model_range()
    draws = np.random.default_rng(seed).normal(size=(samples,) + tuple(shape))
    return (draws * (noise * (high - low))).astype(np.float32)


def _noisy_sums(insp, request, squares):
    samples = request.params["samples"]
    draws = noise_draws(insp, samples, request.params["noise"], request.params["seed"], request.inputs.shape[1:])
    return gradient_sums(insp, request, samples, lambda i, j: request.inputs[i] + draws[j], squares=squares)


@method(MethodSpec(
    name="smoothgrad", label="SmoothGrad", family="gradient", needs_layer=False,
    params=(SAMPLES, NOISE, SEED, SIGNED), long=True,
    description="Input gradients averaged over noisy copies of the image",
    paper="Smilkov et al. 2017, SmoothGrad: removing noise by adding noise",
    url="https://arxiv.org/abs/1706.03825",
))
def smoothgrad(insp, request):
    """Mean of ``dS_c/dx`` over ``samples`` noisy copies."""
    mean = _noisy_sums(insp, request, squares=False) / request.params["samples"]
    return reduce_attributions(mean, request.params["signed"])


@method(MethodSpec(
    name="vargrad", label="VarGrad", family="gradient", needs_layer=False,
    params=(SAMPLES, NOISE, SEED), long=True,
    description="Variance of the input gradients over noisy copies of the image",
    paper="Adebayo et al. 2018, Local Explanation Methods for Deep Neural Networks Lack Sensitivity to "
          "Parameter Values",
    url="https://arxiv.org/abs/1810.03307",
))
def vargrad(insp, request):
    """Per-pixel variance of ``dS_c/dx`` over the noisy copies, largest over colour channels."""
    samples = request.params["samples"]
    sums, squares = _noisy_sums(insp, request, squares=True)
    mean = sums / samples
    variance = np.maximum(squares / samples - mean * mean, 0.0)
    return variance.max(axis=-1).astype(np.float32)
