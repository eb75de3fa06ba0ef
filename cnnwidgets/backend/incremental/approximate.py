"""Approximate occlusion sweeps: adaptive drill-down and the deviation from exact (numpy).

Drill-down (Krypton, Nakandala et al. 2019, section 4.2): run the patch on a
coarse grid of positions (every ``coarse``-th position of the fine grid along
each axis), estimate the drop at every other fine position by bilinear
interpolation over the grid, then run exactly the fine positions whose
estimated drop is in the top ``keep`` share. Combined with projective-field
thresholding (``tau``, see :class:`~cnnwidgets.backend.incremental.plan.Plan`).
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["DrillDown", "spearman", "deviation"]


@dataclass(frozen=True)
class DrillDown:
    """Adaptive drill-down settings.

    Attributes
    ----------
    coarse : int
        Take every ``coarse``-th fine position per axis in the first pass (>= 1).
    keep : float
        Share of the remaining fine positions, those with the largest
        estimated drop, run exactly in the second pass (0 to 1).
    """

    coarse: int = 2
    keep: float = 0.3

    def coarse_indices(self, count):
        """Indices of the coarse grid along an axis of ``count`` fine positions (ends included)."""
        indices = list(range(0, count, max(1, int(self.coarse))))
        if indices[-1] != count - 1:
            indices.append(count - 1)
        return np.asarray(indices)

    def refine(self, coarse_drops, iy, ix, shape):
        """``(estimates, fine_mask)``: interpolated drops on the fine grid and the cells to run.

        ``coarse_drops`` is ``(len(iy), len(ix))``; ``shape`` the fine grid's.
        """
        rows = np.stack([np.interp(np.arange(shape[0]), iy, coarse_drops[:, j]) for j in range(len(ix))], 1)
        estimates = np.stack([np.interp(np.arange(shape[1]), ix, rows[i]) for i in range(shape[0])], 0)
        done = np.zeros(shape, bool)
        done[np.ix_(iy, ix)] = True
        todo = np.flatnonzero(~done.ravel())
        count = int(round(float(self.keep) * todo.size))
        chosen = np.zeros(shape, bool)
        if count:
            order = np.argsort(-estimates.ravel()[todo], kind="stable")[:count]
            chosen.ravel()[todo[order]] = True
        return estimates, chosen


def _ranks(values):
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, np.float64)
    ranks[order] = np.arange(values.size)
    # average the ranks of ties
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], values.size]
    for s, e in zip(starts, ends):
        if e - s > 1:
            ranks[order[s:e]] = (s + e - 1) / 2.0
    return ranks


def spearman(a, b):
    """Spearman rank correlation of two arrays of the same size (ties get average ranks)."""
    ra, rb = _ranks(np.ravel(a).astype(np.float64)), _ranks(np.ravel(b).astype(np.float64))
    ra -= ra.mean()
    rb -= rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom else 1.0


def deviation(approximate, exact):
    """``{"spearman", "max_abs", "mean_abs"}`` of an approximate map against the exact one."""
    diff = np.abs(np.asarray(approximate, np.float64) - np.asarray(exact, np.float64))
    return {"spearman": spearman(approximate, exact), "max_abs": float(diff.max()), "mean_abs": float(diff.mean())}
