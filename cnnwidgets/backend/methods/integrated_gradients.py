"""Integrated Gradients: the path integral of input gradients from a baseline."""

import numpy as np

from ...errors import InvalidParameterError
from ..images import as_image, gaussian_blur
from ._common import SIGNED, gradient_sums, reduce_attributions
from .catalogue import MethodSpec, ParamSpec, method

BASELINES = ("black", "gray", "blur")


def baseline_inputs(insp, displays, baseline):
    """Model inputs ``(N, H, W, C)`` of the baseline of each display image."""
    low, high = insp.input_range
    if isinstance(baseline, str):
        if baseline == "black":
            base = np.full_like(displays, low)
        elif baseline == "gray":
            base = np.full_like(displays, (low + high) / 2)
        elif baseline == "blur":
            base = np.stack([gaussian_blur(d, max(1.0, min(d.shape[:2]) / 8.0)) for d in displays])
        else:  # the ParamSpec already rejects these; kept for direct callers
            raise InvalidParameterError(f"unknown baseline {baseline!r}; use one of {', '.join(BASELINES)}")
    else:
        base = np.broadcast_to(as_image(baseline, insp.input_shape), displays.shape)
    return insp._preprocess(np.array(base, np.float32))


@method(MethodSpec(
    name="integrated_gradients", label="Integrated Gradients", family="gradient", needs_layer=False,
    params=(
        ParamSpec("steps", "Steps", "int", 32, min=1, max=1000, step=1,
                  description="midpoint steps along the straight path from the baseline"),
        ParamSpec("baseline", "Baseline", "choice", "black", choices=BASELINES, array_ok=True,
                  description="the image the path starts from, in display pixels"),
        SIGNED,
    ),
    long=True,
    description="Input gradients integrated along the path from a baseline image, times the difference",
    paper="Sundararajan, Taly & Yan 2017, Axiomatic Attribution for Deep Networks",
    url="https://arxiv.org/abs/1703.01365",
))
def integrated_gradients(insp, request):
    """``(x - x0) * mean_alpha dS_c/dx (x0 + alpha (x - x0))`` with midpoint ``alpha``."""
    steps = request.params["steps"]
    base = baseline_inputs(insp, request.displays, request.params["baseline"])
    delta = request.inputs - base
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)
    sums = gradient_sums(insp, request, steps, lambda i, j: base[i] + alphas[j, None, None, None] * delta[i])
    return reduce_attributions(delta * (sums / steps), request.params["signed"])
