"""One batch of an audit, and the default engine that runs every batch in the kernel.

:func:`audit_batch` is the unit both engines share: a batch of images in,
their probabilities, explained classes, downsampled maps and thumbnails out.
The default engine (:func:`run_local`) feeds it the source's batches; the
Ray engine calls it inside each actor.
"""

import dataclasses
import numbers

import numpy as np

from ...errors import ClassNotFoundError, InvalidParameterError, JobCancelled
from ..images import resize_map
from ..jobs import JobControl

__all__ = ["AuditSpec", "audit_batch", "run_local", "thumbnail", "check_batch_size"]


@dataclasses.dataclass(frozen=True)
class AuditSpec:
    """What an audit computes per image (everything but the data and the engine)."""

    method: str
    class_index: object  # "predicted", "label", or a class index
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


def _targets(inspector, spec, probabilities, labels):
    if spec.class_index == "predicted":
        return probabilities.argmax(axis=1).astype(np.int32)
    if spec.class_index == "label":
        if labels is None:
            raise ClassNotFoundError('class_index="label" needs labelled data; pass (images, labels) or use "predicted"')
        return np.asarray(labels, np.int32)
    return np.full(len(probabilities), inspector.class_index(spec.class_index), np.int32)


def audit_batch(inspector, spec, images, labels=None, cancel=None):
    """Audit one batch: a dict of ``probabilities``, ``targets``, ``labels``, ``maps``, ``thumbnails``."""
    displays = inspector._image_batch(images)
    probabilities = inspector._predict_inputs(inspector._preprocess(displays), batch_size=max(spec.batch_size, 1))
    targets = _targets(inspector, spec, probabilities, labels)
    maps = inspector.explain_batch(displays, spec.method, targets, spec.layer, batch_size=spec.batch_size,
                                   upsample=False, cancel=cancel, **spec.params)
    if spec.map_size is not None and maps.shape[1:] != tuple(spec.map_size):
        maps = np.stack([resize_map(m, spec.map_size) for m in maps]) if len(maps) else \
            np.zeros((0,) + tuple(spec.map_size), np.float32)
    return {
        "probabilities": probabilities.astype(np.float32),
        "targets": targets,
        "labels": np.full(len(displays), -1, np.int64) if labels is None else np.asarray(labels, np.int64),
        "maps": maps.astype(np.float32),
        "thumbnails": thumbnail(displays, inspector.input_range, spec.thumbnail_size),
    }


def run_local(inspector, spec, source, store, progress=None, cancel=None):
    """The default engine: every batch in this process, the source prefetching the next.

    Returns
    -------
    bool
        True when the source was exhausted, False when ``cancel`` stopped it
        (the store then holds the batches done).
    """
    job = JobControl(source.length or 0, None, cancel)
    done = 0
    for images, labels in source.batches(spec.batch_size):
        if job.cancelled():
            return False
        try:
            batch = audit_batch(inspector, spec, images, labels, cancel=cancel)
        except JobCancelled:  # inside a batch: the batches before it are kept
            return False
        store.append(batch)
        done += len(images)
        if progress is not None:
            progress(done, source.length)
    return True


def check_batch_size(value):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or int(value) < 1:
        raise InvalidParameterError(f"batch_size must be at least 1, got {value!r}; pass a positive integer")
    return int(value)

