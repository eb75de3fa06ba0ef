"""Traits and trait checks shared by the widgets.

numpy arrays held by a widget (kept in the kernel, never synced), the image
checked against the model input, the requested class, and the validators of
colormaps and classes that the widgets' ``@validate`` methods call.
"""

import numbers

import numpy as np
import traitlets

from ...backend.images import as_image
from ...compat import set_trait_value_quietly
from ...errors import CNNWidgetsError
from ...render import apply_colormap

__all__ = [
    "ArrayTrait",
    "ImageArrayTrait",
    "LinkableImage",
    "ClassTrait",
    "RequestedClass",
    "checked_colormap",
    "checked_class_index",
]


def checked_colormap(name):
    """``name`` if it is a matplotlib colormap, else :class:`traitlets.TraitError` (for trait validators)."""
    try:
        apply_colormap(np.zeros(1, np.float32), name)
    except ValueError as exc:
        raise traitlets.TraitError(str(exc)) from None
    return name


def checked_class_index(inspector, spec):
    """Resolve a class index or name for a trait validator; a bad one raises :class:`traitlets.TraitError`.

    ``None`` (the predicted class) is returned as it is.
    """
    if spec is None:
        return None
    if isinstance(spec, (bool, np.bool_)) or not isinstance(spec, (numbers.Integral, str)):
        raise traitlets.TraitError(f"class_index must be a class index, a class name or None, not {spec!r}")
    try:
        return inspector.class_index(spec if isinstance(spec, str) else int(spec))
    except CNNWidgetsError as exc:
        raise traitlets.TraitError(str(exc)) from None


class ClassTrait(traitlets.Any):
    """The requested class: an index (a class name is accepted and stored as its index), or ``None``.

    ``None`` means the predicted class of the image shown (see the widget's
    read-only ``predicted_class``). The owner validates with
    :func:`checked_class_index`.
    """

    info_text = "a class index, a class name, or None for the predicted class"

    def __init__(self, default_value=None, **kwargs):
        super().__init__(default_value, allow_none=True, **kwargs)


class ArrayTrait(traitlets.Any):
    """A trait holding a numpy array (or ``None``) that notifies only on real changes.

    traitlets decides whether to notify with ``old == new``, which for arrays
    is element-wise and raises, so every assignment, even of an equal array,
    would notify. This trait compares shape, dtype and content instead.
    """

    def set(self, obj, value):
        new_value = self._validate(obj, value)
        old_value = set_trait_value_quietly(obj, self.name, new_value)
        if not _same_array(old_value, new_value):
            obj._notify_trait(self.name, old_value, new_value)


def _same_array(a, b):
    if a is b:
        return True
    if a is None or b is None:
        return False
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    try:
        return bool(a == b)
    except Exception:  # not comparable: treat as changed
        return False


class LinkableImage(np.ndarray):
    """A read-only float32 ``(H, W, C)`` image that compares equal to itself as one boolean.

    ``traitlets.link`` checks ``value != value`` after each update, which a
    plain ndarray answers element-wise (and the check raises). Comparing this
    array with *itself* gives one boolean; any other comparison is numpy's
    usual element-wise one.
    """

    def __eq__(self, other):
        if other is self:
            return np.True_
        return super().__eq__(other)

    def __ne__(self, other):
        if other is self:
            return np.False_
        return super().__ne__(other)

    __hash__ = None


class ImageArrayTrait(ArrayTrait):
    """One image checked against the owner's model input (``owner.inspector``).

    Values are stored as read-only float32 :class:`LinkableImage` arrays, so
    the trait can sit in ``traitlets.link`` or ``traitlets.dlink`` with
    another widget's image trait. An already checked, read-only float32
    array of the right shape (e.g. arriving through a link from another
    widget) is kept as it is, so both ends of a link hold the same object.
    An invalid image raises :class:`traitlets.TraitError` with the reason.
    """

    info_text = "an image array (H, W), (H, W, C) or (1, H, W, C) matching the model input"
    allow_none = False  # (traitlets' __init__ cannot turn off Any's class-level True)

    def validate(self, obj, value):
        if value is None:
            raise traitlets.TraitError("an image is required: pass a numpy array matching the model input")
        try:
            checked = as_image(value, obj.inspector.input_shape)
        except CNNWidgetsError as exc:
            raise traitlets.TraitError(str(exc)) from None
        if (
            isinstance(value, np.ndarray)
            and type(value) is not np.ndarray
            and value.dtype == np.float32
            and value.shape == checked.shape
            and not value.flags.writeable
        ):
            return value
        image = np.array(checked, dtype=np.float32, copy=True).view(LinkableImage)
        image.flags.writeable = False
        return image


class RequestedClass(traitlets.HasTraits):
    """The class vocabulary of every widget that explains or watches a class.

    ``class_index`` is the requested class: an index (a class name may be
    set; it is stored as its index) or ``None`` for the predicted class of
    the image shown. ``predicted_class`` is that prediction (read-only,
    ``None`` until known). :attr:`target` is the class actually shown.
    The owner has an ``inspector``.
    """

    #: The requested class: an index (set a name or an index), or ``None`` for the predicted class.
    class_index = ClassTrait()
    #: The class the model predicts for the image shown (read-only; ``None`` until computed).
    predicted_class = traitlets.Int(None, allow_none=True, read_only=True)
    #: The class probabilities the widget shows, ``(num_classes,)`` (read-only; ``None`` until computed).
    probabilities = ArrayTrait(None, allow_none=True, read_only=True)

    @traitlets.validate("class_index")
    def _check_requested_class(self, proposal):
        return checked_class_index(self.inspector, proposal.value)

    @property
    def target(self):
        """The class shown: :attr:`class_index`, or :attr:`predicted_class` when that is ``None``."""
        return self.class_index if self.class_index is not None else self.predicted_class

    @property
    def class_name(self):
        """Name of :attr:`target`; set a name to request that class."""
        target = self.target
        return None if target is None else self.inspector.class_name(target)

    @class_name.setter
    def class_name(self, name):
        self.class_index = str(name)
