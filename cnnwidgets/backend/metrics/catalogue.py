"""The catalogue of faithfulness metrics: specs, registration, results.

A metric is a function ``compute(inspector, request) -> MetricOutput`` plus a
:class:`MetricSpec` saying what it measures, which parameters it takes (the
methods catalogue's :class:`~cnnwidgets.backend.methods.ParamSpec`) and
whether a higher score means a more faithful map. :meth:`Inspector.evaluate`
is the one entry point that looks a metric up here, checks its parameters and
calls it; widgets build their pickers from :func:`metrics`. No TensorFlow here.
"""

import difflib
from dataclasses import dataclass, field

import numpy as np

from ...errors import InvalidParameterError, UnknownMetricError
from ..methods.catalogue import ParamSpec

__all__ = ["MetricSpec", "MetricOutput", "EvaluationResult", "register", "metric", "metrics", "get_metric",
           "compute_function", "ParamSpec"]


@dataclass(frozen=True)
class MetricSpec:
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

    @property
    def defaults(self):
        """``{name: default}`` of every parameter."""
        return {p.name: p.default for p in self.params}

    def param(self, name):
        """The :class:`ParamSpec` called ``name``."""
        for spec in self.params:
            if spec.name == name:
                return spec
        raise InvalidParameterError(self._unknown_message(name))

    def bind(self, params):
        """Check ``params`` against the specs and fill in defaults (InvalidParameterError if wrong)."""
        names = {p.name for p in self.params}
        unknown = [name for name in params if name not in names]
        if unknown:
            raise InvalidParameterError(self._unknown_message(unknown[0]))
        return {p.name: p.validate(params[p.name]) if p.name in params else p.default for p in self.params}

    def better_is_higher(self, params=None):
        """Whether a higher score is better, for these (bound) parameters."""
        if callable(self.higher_is_better):
            return bool(self.higher_is_better(self.bind(params or {})))
        return bool(self.higher_is_better)

    def _unknown_message(self, name):
        valid = ", ".join(p.name for p in self.params) or "none"
        return f"metric {self.label} ({self.name}) takes no parameter {name!r}; its parameters are: {valid}"


@dataclass(frozen=True)
class MetricOutput:
    """What a metric function returns: the curve (if any), the score, extra numbers."""

    score: float
    fractions: np.ndarray = None
    probabilities: np.ndarray = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationResult:
    """The faithfulness of one map for one image and class (returned by :meth:`Inspector.evaluate`).

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
        ``(S,)`` the class probability at each point; read-only.
    class_index : int
        The class whose probability was recorded.
    params : dict
        The checked parameters, defaults filled in.
    details : dict
        Metric-specific numbers (e.g. ``original`` and ``explanation``
        probabilities for average drop).
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

    def __repr__(self):
        points = "" if self.fractions is None else f", {len(self.fractions)} points"
        arrow = "higher" if self.higher_is_better else "lower"
        return f"EvaluationResult({self.metric}={self.score:.4f}, {arrow} is better, class {self.class_index}{points})"


class _Catalogue:
    """Registered metrics in registration order (one instance, filled at import)."""

    def __init__(self):
        self.specs = {}
        self.functions = {}

    def register(self, spec, compute):
        if not isinstance(spec, MetricSpec) or not callable(compute):
            raise TypeError("register(spec, compute) takes a MetricSpec and a callable")
        if spec.name in self.specs:
            raise ValueError(f"a metric named {spec.name!r} is already registered")
        self.specs[spec.name] = spec
        self.functions[spec.name] = compute
        return spec

    def get(self, name):
        spec = self.specs.get(name) if isinstance(name, str) else None
        if spec is None:
            names = list(self.specs)
            close = difflib.get_close_matches(str(name), names, n=2, cutoff=0.6)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise UnknownMetricError(
                f"unknown metric {name!r}{hint}; use one of: {', '.join(names)} (see cnnwidgets.metrics())"
            )
        return spec


_CATALOGUE = _Catalogue()


def register(spec, compute):
    """Add a metric to the catalogue: ``compute(inspector, request) -> MetricOutput``."""
    return _CATALOGUE.register(spec, compute)


def metric(spec):
    """Decorator form of :func:`register`."""

    def decorate(compute):
        register(spec, compute)
        return compute

    return decorate


def metrics(curve=None):
    """The registered :class:`MetricSpec` objects (only curve metrics with ``curve=True``)."""
    return tuple(s for s in _CATALOGUE.specs.values() if curve is None or s.curve == bool(curve))


def get_metric(name):
    """The :class:`MetricSpec` called ``name``; :class:`UnknownMetricError` lists the valid names."""
    return _CATALOGUE.get(name)


def compute_function(name):
    """The function registered for metric ``name`` (for :meth:`Inspector.evaluate`)."""
    return _CATALOGUE.functions[get_metric(name).name]
