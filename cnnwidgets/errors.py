"""Exceptions raised by cnnwidgets.

Every error that cnnwidgets raises on purpose derives from
:class:`CNNWidgetsError`, so a caller (or a widget) can catch one type and show
its message. Each message says what was wrong and what to do about it.
"""

__all__ = [
    "CNNWidgetsError",
    "InvalidImageError",
    "InvalidParameterError",
    "UnknownMethodError",
    "LayerNotFoundError",
    "NoSpatialLayerError",
    "ClassNotFoundError",
    "UnsupportedModelError",
    "JobCancelled",
    "PreprocessError",
    "MissingDependencyError",
    "PrivateAPIError",
    "InvalidTargetError",
    "NotAClassifierError",
    "UnknownMetricError",
    "InvalidMapError",
]


class CNNWidgetsError(Exception):
    """Base class of every error raised by cnnwidgets on purpose."""


class InvalidImageError(CNNWidgetsError, ValueError):
    """An image has the wrong shape, channel count, dtype, or non-finite pixels."""


class InvalidParameterError(CNNWidgetsError, ValueError):
    """A method, fill, baseline or other option is not one of the accepted values."""


class UnknownMethodError(InvalidParameterError, LookupError):
    """An explanation method name is not in the catalogue (see ``cnnwidgets.methods()``)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class LayerNotFoundError(CNNWidgetsError, LookupError):
    """A layer name, index or path does not name a layer of the model."""

    def __str__(self):  # LookupError would quote the message like a key
        return str(self.args[0]) if self.args else ""


class NoSpatialLayerError(CNNWidgetsError, ValueError):
    """A method needs a layer with spatial (H, W, C) output and there is none."""


class ClassNotFoundError(CNNWidgetsError, LookupError):
    """A class index is out of range or a class name is unknown."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class UnsupportedModelError(CNNWidgetsError, TypeError):
    """The model cannot be inspected the way that was asked (e.g. a subclassed model)."""


class InvalidTargetError(CNNWidgetsError, ValueError):
    """A target (see :mod:`cnnwidgets.targets`) does not fit the model's outputs."""


class NotAClassifierError(UnsupportedModelError):
    """A class-only API was used on a model whose output is not one class vector; use a target."""


class JobCancelled(CNNWidgetsError):
    """A long computation stopped because its ``cancel`` token was set."""


class PreprocessError(CNNWidgetsError, RuntimeError):
    """The user's ``preprocess`` callable raised; the original exception is chained."""


class MissingDependencyError(CNNWidgetsError, ImportError):
    """TensorFlow (or Keras on its TensorFlow backend) is not available; says what to install."""


class PrivateAPIError(CNNWidgetsError, RuntimeError):
    """A private API of Keras, ipycanvas or traitlets that cnnwidgets relies on has moved.

    Its message names the installed version; see :mod:`cnnwidgets.compat`.
    """


class UnknownMetricError(InvalidParameterError, LookupError):
    """A faithfulness metric name is not in the catalogue (see ``cnnwidgets.metrics()``)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class InvalidMapError(CNNWidgetsError, ValueError):
    """A saliency map given for evaluation has the wrong shape or non-finite values."""
