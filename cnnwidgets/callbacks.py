"""Keras callbacks that connect the widgets to training.

``import cnnwidgets`` stays cheap: Keras (and TensorFlow) load when
:class:`LiveView` is first used.

>>> import cnnwidgets as cw
>>> live = cw.callbacks.LiveView(cw.LayerBrowser(model))     # doctest: +SKIP
>>> model.fit(x, y, epochs=5, callbacks=[live])              # doctest: +SKIP
"""

__all__ = ["LiveView"]


def __getattr__(name):
    if name == "LiveView":
        from .widgets.training.live_view import LiveView

        return LiveView
    raise AttributeError(f"module 'cnnwidgets.callbacks' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
