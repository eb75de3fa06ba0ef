"""Deletion and insertion (Petsiuk, Das & Saenko 2018).

Deletion removes pixels from most to least relevant and records the class
probability: a faithful map makes it fall fast (a low area is better).
Insertion starts from the fill and puts pixels back, most relevant first: a
faithful map makes the probability rise fast (a high area is better). The
``steps + 1`` copies of one curve go through the model in a few batches.

For a target (:mod:`cnnwidgets.targets`) the curve records the target's
score instead: a ``Region``'s class probability summed over its mask, a
``Value`` times its sign, what a callable returns. The area is then in the
score's own units (a sum over many pixels can exceed 1), so compare areas
of maps for one image and target, not across targets.
"""

import numpy as np

from ._common import FILL, SIGMA, STEPS, area_under_curve, pixel_counts, relevance_rank
from .catalogue import MetricOutput, MetricSpec, ParamSpec, metric

_PAPER = "Petsiuk, Das & Saenko 2018, RISE: Randomized Input Sampling for Explanation of Black-box Models"
_URL = "https://arxiv.org/abs/1806.07421"


def perturbation_curve(insp, request, insert):
    """``MetricOutput`` of the deletion (``insert=False``) or insertion curve.

    Copy ``i`` shows the image where the ``counts[i]`` most relevant pixels
    are (insertion) or are not (deletion), the fill elsewhere; the counts
    are ``round(i / steps * H * W)`` for ``i = 0 .. steps``.
    """
    params = request.params
    rank = relevance_rank(request.saliency)
    fractions = np.linspace(0.0, 1.0, params["steps"] + 1)
    counts = pixel_counts(rank.size, fractions)
    fill = request.fill_input(insp, params["fill"], params["sigma"])
    image = request.model_input
    changed, unchanged = (image, fill) if insert else (fill, image)

    def make_rows(rows):
        mask = (rank[None] < counts[rows, None, None])[..., None]
        return np.where(mask, changed, unchanged).astype(np.float32, copy=False)

    probabilities = request.probabilities(insp, len(counts), make_rows)
    return MetricOutput(area_under_curve(fractions, probabilities), fractions, probabilities)


@metric(MetricSpec(
    name="deletion", label="Deletion AUC", params=(STEPS, FILL, SIGMA), higher_is_better=False,
    x_label="fraction of pixels removed",
    description="Area under the class probability as the most relevant pixels are removed first (lower is better)",
    paper=_PAPER, url=_URL,
))
def deletion(insp, request):
    """Remove the most relevant pixels first; area under the probability curve."""
    return perturbation_curve(insp, request, insert=False)


@metric(MetricSpec(
    name="insertion", label="Insertion AUC",
    params=(STEPS, ParamSpec("fill", FILL.label, "choice", "blur", choices=FILL.choices, array_ok=True,
                             description=FILL.description), SIGMA),
    higher_is_better=True, x_label="fraction of pixels inserted",
    description="Area under the class probability as the most relevant pixels are put back first "
                "(higher is better)",
    paper=_PAPER, url=_URL,
))
def insertion(insp, request):
    """Insert the most relevant pixels first into the fill; area under the probability curve."""
    return perturbation_curve(insp, request, insert=True)
