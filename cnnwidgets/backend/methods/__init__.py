"""The catalogue of explanation methods (see :mod:`.catalogue`).

Importing this package registers every built-in method, in the order the
catalogue lists them; no TensorFlow is imported.

>>> import cnnwidgets as cw
>>> [m.name for m in cw.methods("cam")][:2]
['gradcam', 'gradcam_plus_plus']
"""

from . import gradient, noise, integrated_gradients, cam, guided_gradcam, scorecam, rise, occlusion  # noqa: F401  (register)
from ._common import ExplainRequest
from .catalogue import (
    FAMILIES,
    MethodSpec,
    ParamSpec,
    compute_function,
    get_method,
    method,
    method_table_markdown,
    methods,
    register,
)

__all__ = ["MethodSpec", "ParamSpec", "ExplainRequest", "FAMILIES", "methods", "get_method", "register", "method",
           "compute_function", "method_table_markdown"]
