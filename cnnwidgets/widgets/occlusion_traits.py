"""traitlets traits for numpy arrays held by a widget (kept in the kernel, never synced)."""

import numpy as np
import traitlets

from ..backend.images import as_image
from ..errors import CNNWidgetsError

__all__ = ["ArrayTrait", "ImageArrayTrait", "LinkableImage"]


class ArrayTrait(traitlets.Any):
    """A trait holding a numpy array (or ``None``) that notifies only on real changes.

    traitlets decides whether to notify with ``old == new``, which for arrays
    is element-wise and raises, so every assignment, even of an equal array,
    would notify. This trait compares shape, dtype and content instead.
    """

    def set(self, obj, value):
        new_value = self._validate(obj, value)
        old_value = obj._trait_values.get(self.name, self.default_value)
        obj._trait_values[self.name] = new_value
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
