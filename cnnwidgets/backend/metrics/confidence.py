"""Average drop and increase in confidence (Chattopadhay et al. 2018, Grad-CAM++).

The *explanation image* keeps each pixel in proportion to the map: the map
is clipped at 0 and divided by its maximum, ``E = low + M (x - low)`` with
``low`` the bottom of the pixel range (black). With ``Y`` the class
probability of the image and ``O`` that of ``E``:

* drop = ``max(0, Y - O) / Y`` (the paper's *average drop* is its mean over
  images, in percent; lower is better);
* increase = 1 when ``O > Y`` else 0 (its mean is the *increase in
  confidence*; higher is better).

For a target (:mod:`cnnwidgets.targets`) ``Y`` and ``O`` are its scores. A
relative drop needs a positive ``Y``: a value or raw score below 0 gets an
:class:`~cnnwidgets.errors.InvalidTargetError` from average drop (explain
``Value(i, sign=-1)`` if lower is what matters); increase in confidence
compares any two scores.
"""

import numpy as np

from ...errors import InvalidTargetError
from .catalogue import MetricOutput, MetricSpec, metric

_PAPER = "Chattopadhay et al. 2018, Grad-CAM++: Improved Visual Explanations for Deep Convolutional Networks"
_URL = "https://arxiv.org/abs/1710.11063"


def explanation_image(display, saliency, low):
    """``low + M (x - low)`` with ``M`` the map clipped at 0 and scaled to max 1 (all ``low`` for a zero map)."""
    weights = np.maximum(np.asarray(saliency, np.float64), 0.0)
    peak = weights.max()
    weights = weights / peak if peak > 0 else weights
    return (low + weights[..., None] * (display.astype(np.float64) - low)).astype(np.float32)


def _original_and_explained(insp, request):
    low = insp.input_range[0]
    pair = np.stack([request.display, explanation_image(request.display, request.saliency, low)])
    inputs = insp._preprocess(pair)
    original, explained = request.probabilities(insp, 2, lambda rows: inputs[rows])
    return float(original), float(explained)


@metric(MetricSpec(
    name="average_drop", label="Average drop", higher_is_better=False, curve=False,
    description="Relative fall of the class probability when only the map's pixels are kept "
                "(0 to 1; average over images for the paper's %)",
    paper=_PAPER, url=_URL,
))
def average_drop(insp, request):
    """``max(0, Y - O) / Y``."""
    original, explained = _original_and_explained(insp, request)
    if original < 0:
        raise InvalidTargetError(
            f"average drop is a relative fall of a positive score, but the target's score on this image is "
            f"{original:.4g}; explain the opposite direction (cnnwidgets.targets.Value(index, sign=-1)) or use "
            "a curve metric (deletion, insertion, road), which takes scores of any sign"
        )
    drop = max(0.0, original - explained) / original if original > 0 else 0.0
    return MetricOutput(drop, details={"original": original, "explanation": explained})


@metric(MetricSpec(
    name="increase_in_confidence", label="Increase in confidence", higher_is_better=True, curve=False,
    description="1 when keeping only the map's pixels raises the class probability, else 0 "
                "(average over images for the paper's %)",
    paper=_PAPER, url=_URL,
))
def increase_in_confidence(insp, request):
    """``1[O > Y]``."""
    original, explained = _original_and_explained(insp, request)
    return MetricOutput(float(explained > original), details={"original": original, "explanation": explained})
