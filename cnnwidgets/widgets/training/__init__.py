"""Training: :class:`TrainingCurves` (bqplot) and the :class:`LiveView` callback.

``LiveView`` subclasses ``keras.callbacks.Callback``, so its module imports
Keras; it loads on first use (``cnnwidgets.callbacks.LiveView``), never at
``import cnnwidgets``.
"""

import importlib

_LAZY = {
    "LiveView": "cnnwidgets.widgets.training.live_view",
    "TrainingCurves": "cnnwidgets.widgets.training.curves",
    "WeightSnapshots": "cnnwidgets.widgets.training.snapshots",
}

__all__ = list(_LAZY)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnwidgets.widgets.training' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
