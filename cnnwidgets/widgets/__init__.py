"""ipywidgets front ends. Each widget binds the shared :class:`~cnnwidgets.Inspector`.

Importing this package imports ipywidgets, ipycanvas and bqplot, but not
TensorFlow: that loads when a widget is given a model.

Layout: :mod:`.common` holds what every widget shares (the canvas module with
the drawing lock policy, the latest-request runner, traits, charts); each
widget has its own subpackage (``layer_browser``, ``filter_grid``,
``occlusion_painter``, ``saliency_overlay``, ``explorer``) and no widget's
module imports another widget's: the Explorer composes the others through
the public classes of this package. The classes load on first use.
"""

import importlib

_WIDGETS = {
    "LayerBrowser": "cnnwidgets.widgets.layer_browser",
    "FilterGrid": "cnnwidgets.widgets.filter_grid",
    "OcclusionPainter": "cnnwidgets.widgets.occlusion_painter",
    "SaliencyOverlay": "cnnwidgets.widgets.saliency_overlay",
    "Explorer": "cnnwidgets.widgets.explorer",
    "AuditBrowser": "cnnwidgets.widgets.audit_browser",
}

__all__ = list(_WIDGETS)


def __getattr__(name):
    module = _WIDGETS.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnwidgets.widgets' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted(set(globals()) | set(_WIDGETS))
