"""Turn targets (:mod:`cnnwidgets.targets`) into tensors and the one score function every method uses.

A resolved batch of targets is a :class:`TargetBatch`: a static :class:`Scorer`
(which output, which kind of target, or which callable) and two small arrays,
``indices`` ``(B,)`` and ``weights`` ``(B, h, w)``. Compiled functions are
built once per scorer (so once per output and target kind, or per callable
object) and take the arrays as arguments: a new class, mask or sign never
retraces.
"""

import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import ClassNotFoundError, InvalidTargetError, NotAClassifierError
from ..targets import Class, Output, PerImage, Region, Value, target_key

__all__ = ["Scorer", "TargetBatch", "resolve", "resolve_many", "target_score", "reported_target",
           "reported_class"]


@dataclass(frozen=True)
class Scorer:
    """The static part of a target: output index, kind (class/value/region/callable), the callable."""

    output: int
    kind: str
    fn: object = None
    whole: bool = False  # a plain callable on a several-output model gets every output

    @property
    def name(self):
        if self.kind == "callable":
            return f"{self.output}:callable:{id(self.fn)}:{int(self.whole)}"
        return f"{self.output}:{self.kind}"


class TargetBatch:
    """Targets for a batch: one :class:`Scorer` and per-row ``indices`` and ``weights``.

    A batch of one row is broadcast over any batch in the compiled functions.
    """

    def __init__(self, scorer, indices, weights, keys):
        self.scorer = scorer
        self.indices = np.asarray(indices, np.int32).reshape(-1)
        self.weights = np.asarray(weights, np.float32)
        self.keys = tuple(keys)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, rows):
        if isinstance(rows, (numbers.Integral, np.integer)):
            rows = slice(int(rows), int(rows) + 1) if rows != -1 else slice(-1, None)
        keys = np.empty(len(self.keys), object)
        keys[:] = self.keys
        return TargetBatch(self.scorer, self.indices[rows], self.weights[rows], list(keys[rows]))

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def key(self):
        """Hashable cache key of a one-row batch."""
        return self.keys[0] if len(self.keys) == 1 else self.keys

    def arrays(self):
        return self.indices, self.weights

    @staticmethod
    def concat(batches):
        scorers = {b.scorer for b in batches}
        if len(scorers) != 1:
            raise InvalidTargetError(
                "the targets of one batch must all be of one kind on one output (e.g. all Region targets "
                "on output 0); explain the others in a separate call"
            )
        shapes = {b.weights.shape[1:] for b in batches}
        if len(shapes) != 1:
            raise InvalidTargetError(f"the targets of one batch have masks of different shapes {sorted(shapes)}")
        return TargetBatch(scorers.pop(), np.concatenate([b.indices for b in batches]),
                           np.concatenate([b.weights for b in batches]), [k for b in batches for k in b.keys])


def resolve(insp, spec, predicted=None):
    """One target -> a one-row :class:`TargetBatch`.

    ``predicted`` is a callable returning the predicted class (used when
    ``spec`` is None on a classifier).
    """
    if isinstance(spec, TargetBatch):
        return spec
    output, inner = 0, spec
    explicit_output = isinstance(spec, Output)
    if explicit_output:
        output, inner = _output_index(insp, spec.output), spec.target
    shape = insp.output_shapes[output]
    kind = insp.output_kinds[output]
    if kind == "values" and isinstance(inner, (Class, str, numbers.Integral, np.integer)) and not isinstance(inner, bool):
        inner = Value(inner.index if isinstance(inner, Class) else inner)  # an index or name on a regression output
    if isinstance(inner, Value) and isinstance(inner.index, str):
        inner = Value(_class_by_name(insp, output, inner.index), inner.sign)
    if inner is None or isinstance(inner, (Class, str, numbers.Integral, np.integer)) and not isinstance(inner, bool):
        label = inner.index if isinstance(inner, Class) else inner
        if not insp.is_classifier and not (explicit_output and len(shape) == 1):
            raise NotAClassifierError(
                f"the model's outputs have shapes {insp.output_shapes}, not one vector of class scores, so a "
                f"class ({label!r}) does not say what to explain; pass a target: cnnwidgets.targets.Region("
                "class_index, mask) for a dense output, Value(index) for a regression output, "
                "Output(name, target) to choose an output, or a callable outputs -> (B,) scores"
            )
        if explicit_output and not insp.is_classifier:
            if isinstance(label, str):
                label = _class_by_name(insp, output, label)
            index = _check_index(label, shape[0], "class") if label is not None else None
            if index is None:
                raise InvalidTargetError("Output(..., None): give the class to explain on that output")
        else:
            index = insp.class_index(label) if label is not None else predicted()
        return _single(Scorer(output, "class"), index, np.ones((1, 1), np.float32), (output, "class", index))
    if isinstance(inner, Value):
        if len(shape) > 1:
            raise InvalidTargetError(
                f"Value targets a vector output, but output {output} has shape {shape}; use Region for a dense "
                "output or a callable"
            )
        size = shape[0] if shape else 1
        index = _check_index(inner.index, size, "value")
        if inner.sign not in (1, -1, 1.0, -1.0):
            raise InvalidTargetError(f"Value sign must be +1 or -1, got {inner.sign!r}")
        sign = float(inner.sign)
        return _single(Scorer(output, "value"), index, np.full((1, 1), sign, np.float32), (output,) + inner.key())
    if isinstance(inner, Region):
        if len(shape) not in (2, 3):
            raise InvalidTargetError(
                f"Region targets a dense output (H', W', K), but output {output} has shape {shape}; use "
                "Class or Value for a vector output"
            )
        channels = shape[2] if len(shape) == 3 else 1
        label = inner.class_index
        index = _check_index(_class_by_name(insp, output, label) if isinstance(label, str) else label,
                             channels, "class")
        if inner.mask.shape != tuple(shape[:2]):
            raise InvalidTargetError(
                f"the Region mask has shape {inner.mask.shape}; it must match output {output}'s spatial "
                f"shape {tuple(shape[:2])} (resize it to the output's resolution)"
            )
        return _single(Scorer(output, "region"), index, inner.mask, (output,) + inner.key())
    if isinstance(inner, PerImage):
        raise InvalidTargetError(
            "PerImage builds one target per image of a data-set audit (cnnwidgets.audit); to explain one image, "
            "pass its target (e.g. Region(class_index, mask))"
        )
    if callable(inner):
        scorer = Scorer(output, "callable", inner, whole=not explicit_output and len(insp.output_shapes) > 1)
        return _single(scorer, 0, np.ones((1, 1), np.float32), ("callable", output, id(inner)))
    raise InvalidTargetError(
        f"cannot explain {inner!r}: give a class index or name, a cnnwidgets.targets object "
        "(Class, Region, Value, Output) or a callable outputs -> (B,) scores"
    )


def resolve_many(insp, specs, count, predicted):
    """Targets for ``count`` images: None (each predicted), one for all, or one per image (or a TargetBatch)."""
    if isinstance(specs, TargetBatch):
        if len(specs) != count:
            raise InvalidTargetError(f"got {len(specs)} resolved targets for {count} images; give one per image")
        return specs
    if specs is None:
        classes = predicted()
        return TargetBatch.concat([resolve(insp, int(c)) for c in classes]) if count else _empty()
    if isinstance(specs, (str, numbers.Integral, np.integer, Class, Region, Value, Output)) or callable(specs):
        one = resolve(insp, specs)
        return TargetBatch(one.scorer, np.repeat(one.indices, count), np.repeat(one.weights, count, axis=0),
                           list(one.keys) * count)
    given = list(specs)
    if len(given) != count:
        raise ClassNotFoundError(
            f"got {len(given)} class indices (or targets) for {count} images; give one per image, one for all, "
            "or None"
        )
    return TargetBatch.concat([resolve(insp, s) for s in given]) if count else _empty()


def target_score(scorer, outputs, logits, activations, indices, weights, kind):
    """THE score: one value per row, inside a tf.function (see ``ExplainMethods._class_scores``)."""
    import tensorflow as tf

    out = outputs[scorer.output]
    if scorer.kind == "callable":
        try:
            value = scorer.fn(list(outputs) if scorer.whole else out)
        except InvalidTargetError:
            raise
        except Exception as exc:
            name = getattr(scorer.fn, "__qualname__", type(scorer.fn).__name__)
            raise InvalidTargetError(
                f"your target callable {name!r} raised {type(exc).__name__}: {exc} -- it gets the model's "
                f"output{'s (a list)' if scorer.whole else ''}, a batch tensor, and must return one score per "
                "batch item, shape (B,) (the original error is chained below)"
            ) from exc
        value = tf.cast(tf.convert_to_tensor(value), tf.float32)
        if value.shape.rank != 1:
            raise InvalidTargetError(
                f"the target callable must return one score per batch item, shape (B,), but returned shape "
                f"{tuple(value.shape)}; e.g. reduce with tf.reduce_sum(..., axis=[1, 2])"
            )
        return value
    batch = tf.shape(out)[:1]
    indices = tf.broadcast_to(indices, batch)
    pre = tf.cast(logits[scorer.output], tf.float32)
    post = tf.cast(out, tf.float32)
    if scorer.kind == "class":
        if kind == "logit":
            values = pre
        else:
            values = post if activations[scorer.output] else tf.nn.softmax(pre)
        return tf.gather(values, indices, batch_dims=1)
    values = pre if kind == "logit" else post
    if scorer.kind == "value":
        values = tf.reshape(values, tf.concat([batch, [-1]], 0))
        return tf.gather(values, indices, batch_dims=1) * weights[:, 0, 0]
    if values.shape.rank == 3:  # (B, H, W): one channel
        values = values[..., None]
    channel = tf.gather(values, indices, axis=3, batch_dims=1)
    weights = tf.broadcast_to(weights, tf.shape(channel))
    return tf.reduce_sum(channel * weights, axis=[1, 2])


def reported_target(insp, spec, batch):
    """What a result says it explained: the class index on a classifier, else the target as given.

    ``spec`` is what the caller passed (None, an int, a name or a target);
    ``batch`` its resolved one-row :class:`TargetBatch`. On a classifier a
    class target is reported as its index (``None`` and names resolved), as
    before targets existed; on any other model the target object itself.
    """
    if insp.is_classifier and batch.scorer.kind == "class":
        return int(batch.indices[0])
    return spec


def reported_class(batch):
    """The class of a one-row batch: a Class's index, a Region's channel; None for a Value or a callable."""
    return int(batch.indices[0]) if batch.scorer.kind in ("class", "region") else None


def _single(scorer, index, weights, key):
    return TargetBatch(scorer, [index], np.asarray(weights, np.float32)[None], [key])


def _empty():
    return TargetBatch(Scorer(0, "class"), np.zeros(0, np.int32), np.zeros((0, 1, 1), np.float32), [])


def _check_index(index, size, what):
    if isinstance(index, bool) or not isinstance(index, (numbers.Integral, np.integer)):
        raise InvalidTargetError(f"the {what} index must be an integer, got {index!r}")
    if not 0 <= int(index) < size:
        raise InvalidTargetError(f"{what} index {index} is out of range: the output has {size} (0 to {size - 1})")
    return int(index)


def _class_by_name(insp, output, name):
    names = insp.output_class_names(output)
    if name in names:
        return names.index(name)
    raise InvalidTargetError(
        f"output {insp.output_names[output]!r} has no class named {name!r}; its classes are {list(names)} "
        "(names come from class_names, on the first output)"
    )


def _output_index(insp, output):
    count = len(insp.output_shapes)
    if isinstance(output, str):
        if output in insp.output_names:
            return insp.output_names.index(output)
        raise InvalidTargetError(f"the model has no output named {output!r}; its outputs are {insp.output_names}")
    if isinstance(output, bool) or not isinstance(output, (numbers.Integral, np.integer)):
        raise InvalidTargetError(f"give an output as an index or a name, not {type(output).__name__}")
    if not -count <= int(output) < count:
        raise InvalidTargetError(
            f"output index {output} is out of range: the model has {count} output(s) {insp.output_names}"
        )
    return int(output) % count


__all__ += ["target_key"]
