"""Which entries the occlusion painter charts, and a dense output's summary (numpy only, no widgets).

A class vector is charted by its top classes (:func:`class_order`), a value
vector entry by entry (:func:`vector_order`), and a dense output ``(H', W',
K)`` by the mean score of each class over the region explained
(:func:`region_means`).
"""

import numpy as np

__all__ = ["class_order", "region_means", "vector_order"]


def region_means(scores, region):
    """``(K,)`` mean score of each class over the region's pixels.

    Parameters
    ----------
    scores : array_like
        ``(H', W', K)`` dense output (probabilities or raw scores).
    region : array_like of bool
        ``(H', W')`` pixels to average over; an empty region averages every pixel.

    Returns
    -------
    numpy.ndarray
        float64 ``(K,)``.
    """
    scores = np.asarray(scores, np.float64)
    region = np.asarray(region, bool)
    if region.shape != scores.shape[:2]:
        raise ValueError(f"the region has shape {region.shape}; the scores are {scores.shape[:2]}")
    if not region.any():
        region = np.ones_like(region)
    return scores[region].mean(axis=0)


def vector_order(count, target, top_k):
    """Entries of a value vector to chart: the first ``top_k`` in index order, ``target`` always among them."""
    chosen = list(range(min(int(count), max(1, int(top_k)))))
    if target is not None and int(target) not in chosen:
        chosen[-1] = int(target)
        chosen.sort()
    return chosen


def class_order(base, scores, target, top_k):
    """Classes to chart: the top ones of either score, ``target`` always included, in uncovered order."""
    score = np.maximum(np.asarray(base), np.asarray(scores))
    chosen = [int(i) for i in np.argsort(-score, kind="stable")[: max(1, int(top_k))]]
    if target not in chosen:
        chosen[-1] = int(target)
    return sorted(chosen, key=lambda i: (-float(base[i]), i))
