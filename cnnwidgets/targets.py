"""What an explanation explains: a class, a region of a dense output, a regression value, one output of many.

Every place that accepts a class (``Inspector.explain``, ``explain_batch``,
``saliency``, ``gradcam``, ``occlusion_map``, ``target_score``) accepts a
target. An ``int`` or a class name still means :class:`Class`.

>>> import cnnwidgets as cw
>>> cw.targets.Region(1, mask)                 # segmentation: class 1 summed over mask
>>> cw.targets.Value()                         # regression: the first output value
>>> cw.targets.Output("box", cw.targets.Value(2, sign=-1))
>>> lambda outputs: outputs[..., 0].sum()      # any callable: outputs -> (B,) scores
>>> cw.audit(segmenter, (images, masks),       # an audit: one target per image
...          class_index=cw.targets.PerImage(lambda image, mask: cw.targets.Region(1, mask)))

This module is plain Python and numpy; the backend turns a target into the
tensors and the score function its compiled ``tf.function`` s use.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = ["Class", "Region", "Value", "Output", "PerImage"]


@dataclass(frozen=True)
class Class:
    """One entry of a class-score vector ``(K,)``: what an ``int`` or a class name means.

    Parameters
    ----------
    index : int or str
        Class index or name (resolved against the inspector's ``class_names``).

    The score is the pre-softmax logit for gradient and CAM methods and the
    probability for Score-CAM, RISE and occlusion (as for plain classes).
    """

    index: object

    def key(self):
        return ("class", self.index)


class Region:
    """The summed pre-activation score of one class over a mask of a dense output ``(H', W', K)``.

    As pytorch-grad-cam's ``SemanticSegmentationTarget``: ``sum(mask * scores[..., class_index])``.
    Perturbation methods (Score-CAM, RISE, occlusion) sum the output itself
    (the probabilities when the model ends in softmax/sigmoid).

    Parameters
    ----------
    class_index : int
        Channel of the dense output.
    mask : array_like
        ``(H', W')`` weights (bool or float) at the output's resolution.
    """

    def __init__(self, class_index, mask):
        self.class_index = class_index
        self.mask = np.array(mask, dtype=np.float32)
        self._hash = hashlib.blake2b(self.mask.tobytes() + str(self.mask.shape).encode(), digest_size=12).hexdigest()

    def key(self):
        return ("region", self.class_index, self._hash)

    def __repr__(self):
        return f"Region(class_index={self.class_index!r}, mask={self.mask.shape} sum={float(self.mask.sum()):g})"

    def __eq__(self, other):
        return isinstance(other, Region) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())


@dataclass(frozen=True)
class Value:
    """One value of a regression output ``(K,)``, times ``sign`` (+1 explains "up", -1 "down").

    Parameters
    ----------
    index : int or str
        Which value of the output vector (0 for a single-value regression),
        or its name when the inspector's ``class_names`` name the values.
    sign : {+1, -1}
    """

    index: int = 0
    sign: float = 1.0

    def key(self):
        return ("value", self.index, float(self.sign))


@dataclass(frozen=True)
class Output:
    """``target`` on one output of a model with several outputs.

    Parameters
    ----------
    output : int or str
        Output index or name (the output layer's name, or ``model.output_names``).
    target : int, str, Class, Region, Value or callable
        What to explain on that output (a callable gets that output's tensor).
    """

    output: object
    target: object = None

    def key(self):
        inner = self.target.key() if hasattr(self.target, "key") else ("plain", _plain_key(self.target))
        return ("output", self.output, inner)


class PerImage:
    """For :func:`cnnwidgets.audit`: build each image's target from the image and its label.

    ``fn(image, label) -> target`` is called once per image of the data set,
    with the image in display pixels ``(H, W, C)`` and its label (None when
    the data has none); it returns anything a target may be (an int, a
    :class:`Region`, :class:`Value`, :class:`Output`, a callable). The
    targets of an audit must all be of one kind on one output. For example
    a Region per image from per-image masks given as the labels::

        cw.audit(segmenter, (images, masks), class_index=PerImage(lambda image, mask: Region(1, mask)))

    (A plain callable is a target itself, ``outputs -> (B,)`` scores; wrap
    the function in ``PerImage`` to say it builds targets.)

    Parameters
    ----------
    fn : callable
        ``fn(image, label) -> target``. With ``engine="ray"`` it runs in the
        Ray actors, so it must be picklable by cloudpickle (lambdas are).
    """

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"PerImage takes a function fn(image, label) -> target, got {type(fn).__name__}")
        self.fn = fn

    def __repr__(self):
        return f"PerImage({getattr(self.fn, '__qualname__', self.fn)!r})"


def _plain_key(target):
    """A cache-key part for an int/str class or a callable (keyed by identity)."""
    if callable(target):
        return ("callable", id(target))
    return target


def target_key(target):
    """A stable, hashable cache key for any target."""
    return target.key() if hasattr(target, "key") and not callable(target) else ("plain", _plain_key(target))
