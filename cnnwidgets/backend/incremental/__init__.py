"""Incremental occlusion inference (Krypton, Nakandala et al., SIGMOD 2019).

An occluding patch changes only the part of each feature map that its
projective field reaches. :class:`IncrementalEngine` caches every layer's
output on the clean image, propagates the changed rectangle through the graph
(:class:`Plan`) and, for a batch of patch positions, recomputes only those
rectangles, switching to ordinary computation from the first layer where that
saves nothing or that no rule handles (:mod:`.rules`). Exact by construction;
the approximate mode (opt-in) adds projective-field thresholding (``tau``) and
adaptive drill-down (:class:`DrillDown`).
"""

from dataclasses import dataclass, field

from .approximate import DrillDown, deviation, spearman
from .engine import IncrementalEngine
from .plan import Plan

__all__ = ["IncrementalEngine", "Plan", "DrillDown", "OcclusionRun", "METHODS", "deviation", "spearman"]

#: Accepted ``method`` values of ``occlude`` / ``occlusion_map``.
METHODS = ("auto", "full", "incremental", "approximate")


@dataclass
class OcclusionRun:
    """How the last occlusion sweep or move was computed.

    Attributes
    ----------
    kind : str
        ``"sweep"`` (``occlusion_map``) or ``"move"`` (``occlude``).
    method : str
        The method asked for (``"auto"``, ``"full"``, ...).
    mode : str
        What ran: ``"full"``, ``"incremental"`` (exact) or ``"approximate"``.
    positions : int
        Patch positions computed (for a move, 1).
    seconds : float
        Wall time of the computation (model passes and their input building),
        not counting batches whose call compiled a function (tracing is no
        measure of speed).
    full_seconds : float or None
        What full recomputation of those timed positions takes, from a whole
        batch computed in full on this inspector.
    speedup : float or None
        ``full_seconds / seconds``; None until a full pass has been measured.
    flops_fraction : float
        Estimated share of a full pass's multiply-adds that ran (1.0 for full).
    switch_layer : str or None
        First layer computed in full (global pooling, Dense, ...).
    reason : str
        Why ``mode`` differs from what was asked, if it does.
    deviation : dict or None
        For approximate sweeps asked to report it: ``spearman``, ``max_abs``
        and ``mean_abs`` against the exact map.
    """

    kind: str
    method: str
    mode: str
    positions: int = 0
    seconds: float = 0.0
    full_seconds: float = None
    speedup: float = None
    flops_fraction: float = 1.0
    switch_layer: str = None
    reason: str = ""
    deviation: dict = field(default=None)

    def summary(self):
        """One line for a status bar: ``"incremental, 3.4x faster than full"``, or why it ran in full."""
        text = self.mode
        if self.speedup is not None and self.mode != "full":
            text += f", {self.speedup:.1f}x faster than full"
        elif self.reason:
            text += f" ({self.reason})"
        if self.deviation is not None:
            text += f" (Spearman {self.deviation['spearman']:.3f} vs exact)"
        return text
