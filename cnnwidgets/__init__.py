"""cnnwidgets: live Jupyter widgets to look inside convolutional neural networks.

``import cnnwidgets`` is cheap: TensorFlow loads when a model is first touched.

>>> import cnnwidgets as cw
>>> model = cw.demo.digits_model()
>>> insp = cw.Inspector.for_model(model)
"""

import importlib

from . import callbacks, demo
from .errors import (
    ClassNotFoundError,
    CNNWidgetsError,
    InvalidImageError,
    InvalidParameterError,
    InvalidMapError,
    JobCancelled,
    LayerNotFoundError,
    MissingDependencyError,
    NoSpatialLayerError,
    UnknownMethodError,
    PreprocessError,
    PrivateAPIError,
    InvalidTargetError,
    NotAClassifierError,
    UnknownMetricError,
    UnsupportedModelError,
)

__version__ = "0.1.0"

# Public names served lazily, so that importing the package does not import
# TensorFlow or ipywidgets: name -> submodule that defines it.
_LAZY = {
    "Inspector": "cnnwidgets.backend",
    "LayerRecord": "cnnwidgets.backend",
    "MaximizationResult": "cnnwidgets.backend",
    "DrillDown": "cnnwidgets.backend.incremental",
    "MethodSpec": "cnnwidgets.backend.methods",
    "ParamSpec": "cnnwidgets.backend.methods",
    "MetricSpec": "cnnwidgets.backend.metrics",
    "EvaluationResult": "cnnwidgets.backend.metrics",
    "CascadeResult": "cnnwidgets.backend.randomization",
    "LayerBrowser": "cnnwidgets.widgets",
    "FilterGrid": "cnnwidgets.widgets",
    "OcclusionPainter": "cnnwidgets.widgets",
    "SaliencyOverlay": "cnnwidgets.widgets",
    "Explorer": "cnnwidgets.widgets",
    "audit": "cnnwidgets.backend.audit",
    "AuditResult": "cnnwidgets.backend.audit",
    "AuditBrowser": "cnnwidgets.widgets",
    "TrainingCurves": "cnnwidgets.widgets.training",
}
# Public submodules served lazily: ``cw.targets.Region(...)``.
_LAZY_MODULES = {"targets": "cnnwidgets.targets"}

__all__ = [
    "demo",
    "callbacks",
    "CNNWidgetsError",
    "InvalidImageError",
    "InvalidParameterError",
    "LayerNotFoundError",
    "NoSpatialLayerError",
    "ClassNotFoundError",
    "UnsupportedModelError",
    "UnknownMethodError",
    "JobCancelled",
    "UnknownMetricError",
    "InvalidMapError",
    "methods",
    "get_method",
    "PreprocessError",
    "MissingDependencyError",
    "PrivateAPIError",
    "InvalidTargetError",
    "NotAClassifierError",
    "targets",
    "metrics",
    "get_metric",
    *_LAZY,
]


def methods(family=None):
    """The catalogue of explanation methods, as :class:`MethodSpec` objects.

    Parameters
    ----------
    family : {"gradient", "cam", "perturbation"}, optional
        Only the methods of one family.

    Returns
    -------
    tuple of MethodSpec
        Name, label, family, ``needs_layer``, ``params`` (``ParamSpec``:
        kind, default, range), ``long``, description and paper of each
        method that :meth:`Inspector.explain` accepts.
    """
    from .backend.methods import methods as catalogue_methods

    return catalogue_methods(family)


def get_method(name):
    """The :class:`MethodSpec` called ``name``; raises :class:`UnknownMethodError` listing the valid names."""
    from .backend.methods import get_method as catalogue_get_method

    return catalogue_get_method(name)


def metrics(curve=None):
    """The catalogue of faithfulness metrics, as :class:`MetricSpec` objects.

    Parameters
    ----------
    curve : bool, optional
        Only the metrics that record a curve (``True``: deletion, insertion,
        ROAD) or only the single-number ones (``False``).

    Returns
    -------
    tuple of MetricSpec
        Name, label, ``params`` (``ParamSpec``), ``higher_is_better``,
        description and paper of each metric that :meth:`Inspector.evaluate`
        accepts.
    """
    from .backend.metrics import metrics as catalogue_metrics

    return catalogue_metrics(curve)


def get_metric(name):
    """The :class:`MetricSpec` called ``name``; raises :class:`UnknownMetricError` listing the valid names."""
    from .backend.metrics import get_metric as catalogue_get_metric

    return catalogue_get_metric(name)


def __getattr__(name):
    if name in _LAZY_MODULES:
        return importlib.import_module(_LAZY_MODULES[name])
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnwidgets' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES))
