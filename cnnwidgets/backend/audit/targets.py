"""What each image's map explains in an audit: a class rule, one target for all, or one target per image.

:class:`AuditTargets` is the audit's ``class_index`` argument, checked before
any image is explained. On a classifier it keeps the class rules
(``"predicted"``, ``"label"``, a class); on any model it takes one target
(:mod:`cnnwidgets.targets`) for every image, a sequence with one target per
image, or :class:`~cnnwidgets.targets.PerImage` to build each image's target
from the image and its label. :meth:`AuditTargets.for_batch` turns a batch
into one :class:`~cnnwidgets.backend.targeting.TargetBatch`, whose arrays feed
the compiled functions (no retracing per image).
"""

import numbers

import numpy as np

from ...errors import (ClassNotFoundError, CNNWidgetsError, InvalidParameterError, InvalidTargetError,
                       NotAClassifierError)
from ...targets import Class, Output, PerImage, Region, Value
from ..targeting import TargetBatch, resolve

__all__ = ["AuditTargets"]

_ONE = (Class, Region, Value, Output)


class AuditTargets:
    """The checked ``class_index`` of an audit.

    Attributes
    ----------
    mode : {"predicted", "label", "class", "one", "each", "per_image"}
        ``"predicted"``/``"label"``/``"class"``: a classifier's rules, as
        before targets; ``"one"``: one target for all images; ``"each"``: a
        sequence, one target per image (``resolved`` holds them all);
        ``"per_image"``: a :class:`~cnnwidgets.targets.PerImage` function.
    value : object
        The class index (``"class"``), the target (``"one"``), the
        :class:`PerImage` (``"per_image"``), or the rule's name.
    resolved : TargetBatch or None
        ``"one"``: its one row; ``"each"``: one row per image.
    """

    def __init__(self, mode, value=None, resolved=None):
        self.mode = mode
        self.value = value
        self.resolved = resolved

    # ----------------------------------------------------------- checking
    @classmethod
    def check(cls, inspector, class_index):
        """Check ``class_index`` against the model (typed errors before any image is explained)."""
        if isinstance(class_index, str) and class_index in ("predicted", "label"):
            if not inspector.is_classifier:
                raise NotAClassifierError(
                    f'class_index="{class_index}" needs a classifier, but the model\'s outputs have shapes '
                    f"{inspector.output_shapes}; pass a target for every image (e.g. "
                    "cnnwidgets.targets.Value(0), Output(name, target), a callable), one target per image (a "
                    "list), or PerImage(lambda image, label: Region(class_index, label)) to build each image's "
                    "target from its label (e.g. its mask)"
                )
            return cls(class_index, class_index)
        if isinstance(class_index, PerImage):
            return cls("per_image", class_index)
        if inspector.is_classifier and _is_class(class_index):
            return cls("class", inspector.class_index(class_index if isinstance(class_index, str) else
                                                      int(class_index)))
        if callable(class_index) and not isinstance(class_index, _ONE) and _needs_two_arguments(class_index):
            raise InvalidParameterError(
                "class_index is a function of two arguments; a target callable takes the model's outputs only. "
                "To build each image's target from the image and its label, wrap it: "
                "cnnwidgets.targets.PerImage(fn)"
            )
        if _is_class(class_index) or isinstance(class_index, _ONE) or callable(class_index):
            return cls("one", class_index, resolve(inspector, class_index))
        if isinstance(class_index, (list, tuple, np.ndarray)):
            given = list(class_index)
            if not given:
                raise InvalidParameterError("class_index is an empty sequence; give one target per image")
            if any(isinstance(t, PerImage) or (isinstance(t, str) and t in ("predicted", "label")) for t in given):
                raise InvalidParameterError(
                    "a sequence of class_index holds one class or target per image, not rules or PerImage"
                )
            return cls("each", given, TargetBatch.concat([resolve(inspector, t) for t in given]))
        raise InvalidParameterError(
            'class_index must be "predicted", "label", a class index or name, a target '
            "(cnnwidgets.targets: Region, Value, Output, a callable), a sequence with one per image, or "
            f"PerImage(fn); got {class_index!r}"
        )

    def check_count(self, count):
        """A per-image sequence must have one target per image (``count`` None: unknown yet)."""
        if self.mode == "each" and count is not None and count != len(self.resolved):
            raise InvalidParameterError(
                f"class_index holds {len(self.resolved)} targets for {count} images; give one per image"
            )

    @property
    def needs_rows(self):
        """True when each batch must say which images (rows of the data) it holds."""
        return self.mode == "each"

    # ----------------------------------------------------------- batches
    def for_batch(self, inspector, displays, probabilities, labels, rows=None):
        """The targets of one batch: an ``(B,)`` int array on the classifier rules, else a TargetBatch."""
        count = len(displays)
        if self.mode == "predicted":
            return probabilities.argmax(axis=1).astype(np.int32)
        if self.mode == "label":
            if labels is None:
                raise ClassNotFoundError('class_index="label" needs labelled data; pass (images, labels) or use '
                                         '"predicted"')
            labels = np.asarray(labels)
            if labels.shape != (count,):
                raise InvalidParameterError(
                    f'class_index="label" needs one class per image, but the labels have shape {labels.shape}'
                )
            return labels.astype(np.int32)
        if self.mode == "class":
            return np.full(count, self.value, np.int32)
        if self.mode == "one":
            one = self.resolved
            return TargetBatch(one.scorer, np.repeat(one.indices, count), np.repeat(one.weights, count, axis=0),
                               list(one.keys) * count)
        if self.mode == "each":
            if rows is None:
                raise InvalidParameterError(
                    "one target per image needs to know each image's row; a ray.data.Dataset given as it is "
                    "has none: pass the images as an array, or build targets with PerImage(fn)"
                )
            rows = np.asarray(rows, np.int64)
            if len(rows) and (rows.min() < 0 or rows.max() >= len(self.resolved)):
                raise InvalidParameterError(
                    f"class_index holds {len(self.resolved)} targets, fewer than the data's images; give one "
                    "per image"
                )
            return self.resolved[rows]
        batches = []
        for index in range(count):  # "per_image"
            label = None if labels is None else labels[index]
            try:
                target = self.value.fn(displays[index], label)
            except CNNWidgetsError:
                raise
            except Exception as exc:
                name = getattr(self.value.fn, "__qualname__", type(self.value.fn).__name__)
                raise InvalidTargetError(
                    f"your PerImage function {name!r} raised {type(exc).__name__}: {exc} -- on an image of shape "
                    f"{displays[index].shape} and label {_describe(label)}; make it return a target "
                    "(the original error is chained below)"
                ) from exc
            batches.append(resolve(inspector, target))
        return TargetBatch.concat(batches)

    # ------------------------------------------------------------ display
    def meta(self):
        """JSON-able description for the result's ``meta``: ``class_index`` and ``target``."""
        if self.mode in ("predicted", "label", "class"):
            return {"class_index": self.value, "target": None}
        if self.mode == "one" and isinstance(self.value, (str, numbers.Integral)):
            return {"class_index": None, "target": repr(self.value if isinstance(self.value, str) else
                                                         int(self.value))}
        if self.mode == "each":
            return {"class_index": None, "target": f"one per image ({len(self.resolved)})"}
        return {"class_index": None, "target": repr(self.value)}


def _is_class(spec):
    return isinstance(spec, str) or isinstance(spec, (numbers.Integral, np.integer)) and not isinstance(spec, bool)


def _needs_two_arguments(fn):
    import inspect

    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [p for p in parameters if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) >= 2


def _describe(label):
    if label is None:
        return "None"
    shape = np.shape(label)
    return f"of shape {shape}" if shape else repr(label)
