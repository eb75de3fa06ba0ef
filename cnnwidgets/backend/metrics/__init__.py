"""The catalogue of faithfulness metrics (see :mod:`.catalogue`).

Importing this package registers every built-in metric, in the order the
catalogue lists them; no TensorFlow is imported.

>>> import cnnwidgets as cw
>>> [m.name for m in cw.metrics()]
['deletion', 'insertion', 'road', 'average_drop', 'increase_in_confidence']
"""

from . import curves, road, confidence  # noqa: F401  (register)
from ._common import MetricRequest
from .catalogue import (
    EvaluationResult,
    MetricOutput,
    MetricSpec,
    ParamSpec,
    compute_function,
    get_metric,
    metric,
    metrics,
    register,
)
from .similarity import spearman, ssim

__all__ = ["MetricSpec", "ParamSpec", "MetricRequest", "MetricOutput", "EvaluationResult", "metrics", "get_metric",
           "register", "metric", "compute_function", "spearman", "ssim"]
