"""ROAD: remove and debias (Rong, Leemann, Borisov, Kasneci & Kasneci 2022).

Deletion with a constant fill leaks the removed pixels' positions through the
shape of the hole, and the model reacts to that shape. ROAD fills each
removed pixel by *noisy linear imputation*: the value that makes it the
weighted mean of its eight neighbours (1/6 for the four direct ones, 1/12 for
the diagonals), solved for all removed pixels at once as one sparse linear
system, plus a little Gaussian noise. Pixels go most relevant first (MoRF:
a faithful map makes the probability fall fast, lower is better) or least
relevant first (LeRF: the probability should stay high, higher is better).
For a target (:mod:`cnnwidgets.targets`) the curve records its score (see
:mod:`.curves`).
"""

import numpy as np

from ._common import area_under_curve, pixel_counts, relevance_rank
from .catalogue import MetricOutput, MetricSpec, ParamSpec, metric

#: (dy, dx, weight) of the neighbours in the imputation, as in Rong et al.
NEIGHBOURS = ((-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
              (-1, -1, 1 / 12), (-1, 1, 1 / 12), (1, -1, 1 / 12), (1, 1, 1 / 12))
#: Weight tying every removed pixel weakly to the mean of the kept ones, so
#: that a removed region with no kept neighbour still has one solution.
_ANCHOR = 1e-6


def linear_imputation(image, missing):
    """Fill ``missing`` pixels of ``(H, W, C)`` ``image`` so each is the weighted mean of its neighbours.

    Solves ``sum_j w_ij (x_i - x_j) = 0`` for every missing ``i`` over its
    in-image neighbours ``j`` (kept neighbours enter the right-hand side), one
    sparse system for all channels. Returns a float64 copy.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import splu

    image = np.asarray(image, np.float64)
    height, width, channels = image.shape
    out = image.copy()
    ys, xs = np.nonzero(missing)
    count = len(ys)
    if count == 0:
        return out
    index = np.full((height, width), -1, np.int64)
    index[ys, xs] = np.arange(count)
    kept = ~missing
    anchor = image[kept].mean(axis=0) if kept.any() else np.zeros(channels)
    diagonal = np.full(count, _ANCHOR)
    rhs = np.tile(_ANCHOR * anchor, (count, 1))
    rows, cols, vals = [], [], []
    for dy, dx, weight in NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        own, ny, nx = np.nonzero(inside)[0], ny[inside], nx[inside]
        diagonal[own] += weight
        neighbour_missing = missing[ny, nx]
        rows.append(own[neighbour_missing])
        cols.append(index[ny[neighbour_missing], nx[neighbour_missing]])
        vals.append(np.full(int(neighbour_missing.sum()), -weight))
        np.add.at(rhs, own[~neighbour_missing], weight * image[ny[~neighbour_missing], nx[~neighbour_missing]])
    rows.append(np.arange(count))
    cols.append(np.arange(count))
    vals.append(diagonal)
    matrix = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(count, count))
    out[ys, xs] = splu(matrix.tocsc()).solve(rhs)
    return out


def _most_relevant_first(params):
    return params["order"] == "least"


@metric(MetricSpec(
    name="road", label="ROAD AUC",
    params=(
        ParamSpec("order", "Order", "choice", "most", choices=("most", "least"),
                  description="remove the most relevant pixels first (MoRF, lower is better) or the least "
                              "relevant first (LeRF, higher is better)"),
        ParamSpec("steps", "Steps", "int", 9, min=1, max=99, step=1,
                  description="removal fractions 1/(steps+1) .. steps/(steps+1), after the intact image"),
        ParamSpec("noise", "Noise", "float", 0.01, min=0.0, max=0.5, step=0.005,
                  description="std of the noise added to imputed pixels, as a fraction of the pixel range"),
        ParamSpec("seed", "Seed", "int", 0, min=0, max=2**31 - 1, step=1, description="random seed"),
    ),
    higher_is_better=_most_relevant_first, x_label="fraction of pixels removed",
    description="Probability as pixels are removed and filled by noisy linear imputation (no shape leak)",
    paper="Rong et al. 2022, A Consistent and Efficient Evaluation Strategy for Attribution Methods",
    url="https://arxiv.org/abs/2202.00449",
))
def road(insp, request):
    """Area under the probability over removal fractions ``k / (steps + 1)``, imputed images scored in batches."""
    params = request.params
    rank = relevance_rank(request.saliency)
    if params["order"] == "least":
        rank = rank.size - 1 - rank
    steps = params["steps"]
    fractions = np.arange(steps + 1) / (steps + 1)
    counts = pixel_counts(rank.size, fractions)
    rng = np.random.default_rng(params["seed"])
    low, high = insp.input_range
    display = request.display.astype(np.float64)
    job = request.job(2 * len(counts))
    imputed = []
    for count in counts:
        missing = rank < count
        filled = linear_imputation(display, missing)
        filled[missing] += rng.normal(0.0, params["noise"] * (high - low), filled[missing].shape)
        imputed.append(np.clip(filled, low, high).astype(np.float32))
        job.advance()
    inputs = insp._preprocess(np.stack(imputed))

    def make_rows(rows):
        return inputs[rows]

    probabilities = request.probabilities(insp, len(counts), make_rows, job)
    return MetricOutput(area_under_curve(fractions, probabilities), fractions, probabilities,
                        {"order": params["order"]})
