"""One batch of an audit, and the default engine that runs every batch in the kernel.

:func:`audit_batch` is the unit both engines share: a batch of images in,
their probabilities (or the audited output's readout), explained classes or
targets, the targets' scores, downsampled maps and thumbnails out. The
default engine (:func:`run_local`) feeds it the source's batches; the Ray
engine calls it inside each actor.
"""

import dataclasses
import numbers

import numpy as np

from ...errors import InvalidParameterError, InvalidTargetError, JobCancelled
from ..images import resize_map
from ..jobs import JobControl

__all__ = ["AuditSpec", "audit_batch", "run_local", "thumbnail", "check_batch_size", "OutputCheck"]


@dataclasses.dataclass(frozen=True)
class AuditSpec:
    """What an audit computes per image (everything but the data and the engine)."""

    method: str
    targets: object  # an AuditTargets: the class rule, one target, or one per image
    layer: object  # a layer path, or None for methods without a layer
    params: dict
    map_size: object  # (h, w), or None to keep the method's own resolution
    thumbnail_size: int
    batch_size: int


def thumbnail(images, value_range, size):
    """uint8 copies of a batch ``(N, H, W, C)``, the longer side at most ``size`` pixels (Pillow, box filter)."""
    from PIL import Image

    low, high = value_range
    scaled = np.clip((np.asarray(images, np.float32) - low) * (255.0 / max(high - low, 1e-12)), 0, 255)
    scaled = (scaled + 0.5).astype(np.uint8)
    height, width = scaled.shape[1:3]
    factor = min(1.0, size / max(height, width))
    target = (max(1, round(width * factor)), max(1, round(height * factor)))
    if target == (width, height):
        return scaled
    out = []
    for image in scaled:
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image[..., :3])
        small = np.asarray(pil.resize(target, Image.BOX))
        out.append(small[..., None] if small.ndim == 2 else small)
    return np.stack(out)


def output_readout(inspector, inputs, output, batch_size):
    """``(B, K)`` what output ``output`` says about each image, as a person reads it.

    Class probabilities for a class vector, the raw values for a regression
    output, each channel's mean over the pixels for a dense map (with a
    softmax, the share of the image each class covers).
    """
    outputs_fn = inspector._outputs_fn()
    parts = []
    for start in range(0, len(inputs), batch_size):
        raw = outputs_fn(inputs[start:start + batch_size])[output].numpy()
        readable = inspector._readable_output(raw, output)
        parts.append(readable.reshape(len(raw), -1, readable.shape[-1]).mean(axis=1) if readable.ndim == 4
                     else readable.reshape(len(raw), -1))
    return np.concatenate(parts).astype(np.float32)


def audit_batch(inspector, spec, images, labels=None, cancel=None, rows=None):
    """Audit one batch: a dict of ``probabilities``, ``targets``, ``scores``, ``labels``, ``maps``, ``thumbnails``.

    ``rows`` are the images' indices in the data (needed for one target per
    image). The dict also holds ``output`` (the audited output's index per
    image), which the engines check and drop (:class:`OutputCheck`).
    """
    displays = inspector._image_batch(images)
    inputs = inspector._preprocess(displays)
    chunk = max(spec.batch_size, 1)
    rule = spec.targets
    if rule.mode in ("predicted", "label", "class"):  # a classifier's class rules, as before targets
        probabilities = inspector._predict_inputs(inputs, batch_size=chunk)
        targets = rule.for_batch(inspector, displays, probabilities, labels, rows)
        indices, output = targets, 0
        scores = probabilities[np.arange(len(targets)), targets]
    else:
        targets = rule.for_batch(inspector, displays, None, labels, rows)
        indices, output = targets.indices, targets.scorer.output
        probabilities = inspector._predict_inputs(inputs, batch_size=chunk) if inspector.is_classifier else \
            output_readout(inspector, inputs, output, chunk)
        scores = inspector._batch_scores(inputs, targets, kind="probability")
    maps = inspector.explain_batch(displays, spec.method, targets, spec.layer, batch_size=spec.batch_size,
                                   upsample=False, cancel=cancel, **spec.params)
    if spec.map_size is not None and maps.shape[1:] != tuple(spec.map_size):
        maps = np.stack([resize_map(m, spec.map_size) for m in maps]) if len(maps) else \
            np.zeros((0,) + tuple(spec.map_size), np.float32)
    return {
        "probabilities": probabilities.astype(np.float32),
        "targets": np.asarray(indices, np.int32),
        "scores": np.asarray(scores, np.float32),
        "labels": np.full(len(displays), -1, np.int64) if labels is None else _stored_labels(labels),
        "maps": maps.astype(np.float32),
        "thumbnails": thumbnail(displays, inspector.input_range, spec.thumbnail_size),
        "output": np.full(len(displays), output, np.int32),
    }


def _stored_labels(labels):
    labels = np.asarray(labels)
    return labels.astype(np.int64) if labels.ndim == 1 and labels.dtype.kind in "iub" else labels


class OutputCheck:
    """Every batch of an audit must explain targets on one output: the engines pop ``output`` through this."""

    def __init__(self):
        self.output = None

    def __call__(self, batch):
        for output in np.unique(batch.pop("output")):
            if self.output is None:
                self.output = int(output)
            elif int(output) != self.output:
                raise InvalidTargetError(
                    f"the audit's targets name output {self.output} for some images and output {int(output)} for "
                    "others; the targets of one audit must all be on one output (and of one kind)"
                )
        return batch


def run_local(inspector, spec, source, store, progress=None, cancel=None, check=None):
    """The default engine: every batch in this process, the source prefetching the next.

    ``check`` (an :class:`OutputCheck`) learns the audited output from the
    batches and refuses targets on different outputs.

    Returns
    -------
    bool
        True when the source was exhausted, False when ``cancel`` stopped it
        (the store then holds the batches done).
    """
    job = JobControl(source.length or 0, None, cancel)
    done = 0
    check = OutputCheck() if check is None else check
    for images, labels in source.batches(spec.batch_size):
        if job.cancelled():
            return False
        rows = np.arange(done, done + len(images))
        try:
            batch = audit_batch(inspector, spec, images, labels, cancel=cancel, rows=rows)
        except JobCancelled:  # inside a batch: the batches before it are kept
            return False
        store.append(check(batch))
        done += len(images)
        if progress is not None:
            progress(done, source.length)
    return True


def check_batch_size(value):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or int(value) < 1:
        raise InvalidParameterError(f"batch_size must be at least 1, got {value!r}; pass a positive integer")
    return int(value)

