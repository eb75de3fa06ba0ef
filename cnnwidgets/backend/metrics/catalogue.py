"""The catalogue of faithfulness metrics: specs, registration, results.

A metric is a function ``compute(inspector, request) -> MetricOutput`` plus a
:class:`MetricSpec` saying what it measures, which parameters it takes (the
methods catalogue's :class:`~cnnwidgets.backend.methods.ParamSpec`) and
whether a higher score means a more faithful map. :meth:`Inspector.evaluate`
is the one entry point that looks a metric up here, checks its parameters and
calls it; widgets build their pickers from :func:`metrics`. No TensorFlow here.
"""

from dataclasses import dataclass, field

import numpy as np

from ...errors import UnknownMetricError
from ..catalogue import ParamSpec, Registry, TakesParams

__all__ = ["MetricSpec", "MetricOutput", "EvaluationResult", "register", "metric", "metrics", "get_metric",
           "compute_function", "ParamSpec"]


@dataclass(frozen=True)
class MetricSpec(TakesParams):
    """What the catalogue knows about one faithfulness metric.

    Attributes
    ----------
    name : str
        Key for :meth:`Inspector.evaluate` (``"deletion"``, ``"road"``, ...).
    label : str
        Display name (``"Deletion AUC"``).
    params : tuple of ParamSpec
        The parameters a user tunes.
    higher_is_better : bool or callable
        True when a higher score means a more faithful map; a callable
        ``f(params) -> bool`` when a parameter decides (ROAD's order).
    curve : bool
        The metric records a curve (probability against the fraction of
        pixels changed) whose area is the score; else a single number.
    x_label : str
        What the curve's x axis is.
    description, paper, url : str
        One line; the citation; where to read it.
    """

    name: str
    label: str
    params: tuple = ()
    higher_is_better: object = True
    curve: bool = True
    x_label: str = "fraction of pixels"
    description: str = ""
    paper: str = ""
    url: str = ""

    _noun = "metric "

    def better_is_higher(self, params=None):
        """Whether a higher score is better, for these (bound) parameters."""
        if callable(self.higher_is_better):
            return bool(self.higher_is_better(self.bind(params or {})))
        return bool(self.higher_is_better)


@dataclass(frozen=True)
class MetricOutput:
    """What a metric function returns: the curve (if any), the score, extra numbers."""

    score: float
    fractions: np.ndarray = None
    probabilities: np.ndarray = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationResult:
    """The faithfulness of one map for one image and class or target (returned by :meth:`Inspector.evaluate`).

    Attributes
    ----------
    metric : str
        The metric's name.
    label : str
        Its display name.
    score : float
        The area under the curve (curve metrics) or the metric's number.
    higher_is_better : bool
        Whether a higher ``score`` means a more faithful map.
    fractions : numpy.ndarray or None
        ``(S,)`` fraction of pixels removed (deletion, ROAD) or inserted
        (insertion) at each point of the curve, from 0; read-only.
    probabilities : numpy.ndarray or None
        ``(S,)`` the score recorded at each point, read-only: the class
        probability, or for a target (:mod:`cnnwidgets.targets`) its score
        (a probability where the output ends in softmax/sigmoid, a value
        otherwise). :attr:`scores` is the same array.
    class_index : int or None
        The class whose score was recorded (a ``Region``'s channel on a
        dense output); None for a ``Value`` or a callable target.
    params : dict
        The checked parameters, defaults filled in.
    details : dict
        Metric-specific numbers (e.g. ``original`` and ``explanation``
        scores for average drop).
    target : int or target
        What was measured: the class index on a classifier, else the target
        as given (``Region``, ``Value``, ``Output``, a callable).
    """

    metric: str
    label: str
    score: float
    higher_is_better: bool
    fractions: object
    probabilities: object
    class_index: int
    params: dict
    details: dict
    target: object = None

    @property
    def scores(self):
        """``(S,)`` the score at each point of the curve (the :attr:`probabilities` array), or None."""
        return self.probabilities

    def __repr__(self):
        points = "" if self.fractions is None else f", {len(self.fractions)} points"
        arrow = "higher" if self.higher_is_better else "lower"
        what = f"class {self.class_index}" if self.target is None or isinstance(self.target, int) else \
            f"target {self.target!r}"
        return f"EvaluationResult({self.metric}={self.score:.4f}, {arrow} is better, {what}{points})"


_CATALOGUE = Registry(MetricSpec, "metric", UnknownMetricError, "cnnwidgets.metrics()")


def register(spec, compute):
    """Add a metric to the catalogue: ``compute(inspector, request) -> MetricOutput``."""
    return _CATALOGUE.register(spec, compute)


def metric(spec):
    """Decorator form of :func:`register`."""
    return _CATALOGUE.decorator(spec)


def metrics(curve=None):
    """The registered :class:`MetricSpec` objects (only curve metrics with ``curve=True``)."""
    return tuple(s for s in _CATALOGUE.specs.values() if curve is None or s.curve == bool(curve))


def get_metric(name):
    """The :class:`MetricSpec` called ``name``; :class:`UnknownMetricError` lists the valid names."""
    return _CATALOGUE.get(name)


def compute_function(name):
    """The function registered for metric ``name`` (for :meth:`Inspector.evaluate`)."""
    return _CATALOGUE.function(name)
