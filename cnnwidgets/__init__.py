"""cnnwidgets: live Jupyter widgets to look inside convolutional neural networks.

``import cnnwidgets`` is cheap: TensorFlow loads when a model is first touched.

>>> import cnnwidgets as cw
>>> model = cw.demo.digits_model()
>>> insp = cw.Inspector.for_model(model)
"""

import importlib

from . import demo
from .errors import (
    ClassNotFoundError,
    CNNWidgetsError,
    InvalidImageError,
    InvalidParameterError,
    JobCancelled,
    LayerNotFoundError,
    MissingDependencyError,
    NoSpatialLayerError,
    PreprocessError,
    PrivateAPIError,
    UnsupportedModelError,
)

__version__ = "0.1.0"

# Public names served lazily, so that importing the package does not import
# TensorFlow or ipywidgets: name -> submodule that defines it.
_LAZY = {
    "Inspector": "cnnwidgets.backend",
    "LayerRecord": "cnnwidgets.backend",
    "MaximizationResult": "cnnwidgets.backend",
    "LayerBrowser": "cnnwidgets.widgets",
    "FilterGrid": "cnnwidgets.widgets",
    "OcclusionPainter": "cnnwidgets.widgets",
    "SaliencyOverlay": "cnnwidgets.widgets",
    "Explorer": "cnnwidgets.widgets",
}

__all__ = [
    "demo",
    "CNNWidgetsError",
    "InvalidImageError",
    "InvalidParameterError",
    "LayerNotFoundError",
    "NoSpatialLayerError",
    "ClassNotFoundError",
    "UnsupportedModelError",
    "JobCancelled",
    "PreprocessError",
    "MissingDependencyError",
    "PrivateAPIError",
    *_LAZY,
]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnwidgets' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
