"""Where an audit's images come from: an array, a ``tf.data.Dataset`` or a folder of image files.

Each source yields batches ``(images, labels)`` in the model's display range
(``labels`` is None when the source has none) and knows its length when it
can. Labels are class indices for a classifier (one-hot rows become
indices); for other models any per-image array is kept as it is (a mask, a
value), for a :class:`~cnnwidgets.targets.PerImage` target to read.
Folders are read with Pillow on a background thread, one batch ahead; a
``tf.data.Dataset`` is rebatched and prefetched by tf.data.
"""

import os
import pathlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ...errors import InvalidImageError, InvalidParameterError

__all__ = ["ArraySource", "DatasetSource", "FolderSource", "as_source", "IMAGE_SUFFIXES"]

#: File name endings a folder source reads (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ArraySource:
    """Images already in memory: ``(N, H, W, C)`` (or ``(N, H, W)``), with optional labels.

    ``class_labels``: the labels are classes (one per image, or one-hot
    rows); else per-image arrays of any shape (masks, values) are kept.
    """

    kind = "array"

    def __init__(self, images, labels=None, class_labels=True):
        images = np.asarray(images)
        if images.ndim not in (3, 4) or not len(images):
            raise InvalidImageError(
                f"an audit needs a non-empty batch of images (N, H, W, C) or (N, H, W), got shape {images.shape}"
            )
        self.images = images
        self.labels = None if labels is None else _labels(labels, len(images), class_labels)
        self.length = len(images)

    def batches(self, batch_size):
        for start in range(0, self.length, batch_size):
            rows = slice(start, start + batch_size)
            yield self.images[rows], None if self.labels is None else self.labels[rows]

    def image(self, index):
        """The full image ``index`` (for opening it in an Explorer)."""
        return self.images[index]


class FolderSource:
    """Image files under a folder (recursively, sorted); sub-folder names are the labels.

    Like ``keras.utils.image_dataset_from_directory``: when every file sits in
    a sub-folder, each sub-folder is a class, matched by name against the
    inspector's class names (else numbered in sorted order).
    """

    kind = "folder"

    def __init__(self, folder, input_shape, class_names=None):
        root = pathlib.Path(folder)
        if not root.is_dir():
            raise InvalidParameterError(f"{str(folder)!r} is not a folder; pass a folder of image files")
        self.paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.paths:
            raise InvalidImageError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {str(folder)!r}")
        self.root = root
        self.length = len(self.paths)
        self.size = (input_shape[0], input_shape[1])
        self.channels = input_shape[2] or 3
        self.labels = self._folder_labels(class_names)

    @classmethod
    def from_paths(cls, paths, input_shape):
        """A source over known files (a reopened audit's), without labels."""
        source = cls.__new__(cls)
        source.paths = [pathlib.Path(p) for p in paths]
        source.root = None
        source.length = len(source.paths)
        source.size = (input_shape[0], input_shape[1])
        source.channels = input_shape[2] or 3
        source.labels = None
        return source

    def _folder_labels(self, class_names):
        parents = [p.relative_to(self.root).parent for p in self.paths]
        if any(parent == pathlib.Path(".") for parent in parents):
            return None
        names = sorted({parent.parts[0] for parent in parents})
        if class_names and set(names) <= set(class_names):
            index = {name: class_names.index(name) for name in names}
        else:
            index = {name: i for i, name in enumerate(names)}
        return np.array([index[parent.parts[0]] for parent in parents], np.int64)

    def read(self, path):
        """One file as an array in the model's input size and channels (0-255)."""
        from PIL import Image

        try:
            with Image.open(path) as img:
                img = img.convert("L" if self.channels == 1 else "RGB")
                if self.size[0] and self.size[1] and img.size != (self.size[1], self.size[0]):
                    img = img.resize((self.size[1], self.size[0]), Image.BILINEAR)
                array = np.asarray(img, dtype=np.float32)
        except OSError as exc:
            raise InvalidImageError(f"cannot read {str(path)!r} as an image: {exc}") from None
        return array[..., None] if array.ndim == 2 else array

    def _load(self, start, stop):
        return np.stack([self.read(p) for p in self.paths[start:stop]])

    def batches(self, batch_size):
        starts = range(0, self.length, batch_size)
        with ThreadPoolExecutor(max_workers=1) as pool:  # read one batch ahead of the model
            pending = pool.submit(self._load, 0, batch_size)
            for start in starts:
                images = pending.result()
                if start + batch_size < self.length:
                    pending = pool.submit(self._load, start + batch_size, start + 2 * batch_size)
                labels = None if self.labels is None else self.labels[start : start + batch_size]
                yield images, labels

    def image(self, index):
        return self.read(self.paths[index])


class DatasetSource:
    """A ``tf.data.Dataset`` of images, ``(image, label)`` pairs or ``{"image", "label"}`` dicts, batched or not."""

    kind = "dataset"

    def __init__(self, dataset, input_rank=3, class_labels=True):
        import tensorflow as tf

        self.class_labels = class_labels
        spec = dataset.element_spec
        if isinstance(spec, dict):
            if "image" not in spec:
                raise InvalidParameterError(f"a dataset of dicts needs an 'image' key, got keys {sorted(spec)}")
            dataset = dataset.map(lambda d: (d["image"], d["label"]) if "label" in d else d["image"])
            spec = dataset.element_spec
        self.has_labels = isinstance(spec, tuple)
        if self.has_labels and len(spec) != 2:
            raise InvalidParameterError(
                f"dataset elements must be images or (images, labels) pairs, got tuples of {len(spec)}"
            )
        image_spec = spec[0] if self.has_labels else spec
        rank = image_spec.shape.rank
        if rank == input_rank + 1 or (rank == 3 and input_rank == 3 and image_spec.shape[-1] not in (1, 3, 4)):
            dataset = dataset.unbatch()  # batched already: rebatch to the audit's batch size
        self.dataset = dataset
        cardinality = int(dataset.cardinality())
        self.length = cardinality if cardinality >= 0 else None
        if cardinality == int(tf.data.INFINITE_CARDINALITY):
            raise InvalidParameterError("the dataset is infinite; take(n) the images to audit")
        self.labels = None

    def batches(self, batch_size):
        import tensorflow as tf

        for element in self.dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE).as_numpy_iterator():
            if self.has_labels and not self.class_labels:
                yield element[0], np.asarray(element[1])
            elif self.has_labels:
                yield element[0], np.asarray(element[1]).reshape(len(element[0]), -1)[:, 0].astype(np.int64)
            else:
                yield element, None

    def image(self, index):
        return None  # not kept: the result's thumbnail stands in


def _labels(labels, count, class_labels=True):
    labels = np.asarray(labels)
    if class_labels and labels.ndim == 2:  # one-hot
        labels = labels.argmax(axis=1)
    if labels.ndim == 0 or labels.shape[0] != count:
        raise InvalidParameterError(f"got {labels.shape[0] if labels.ndim else 0} labels for {count} images; give one per image")
    if class_labels and labels.ndim != 1:
        raise InvalidParameterError(
            f"the labels have shape {labels.shape}: a classifier's labels are one class per image (N,) or one-hot "
            "rows (N, K)"
        )
    return labels.astype(np.int64) if labels.ndim == 1 and labels.dtype.kind in "iub" else labels


def as_source(data, inspector, labels=None):
    """Wrap ``data`` (array, ``(images, labels)``, ``tf.data.Dataset`` or folder) as a source."""
    if isinstance(data, (str, os.PathLike)):
        return FolderSource(data, inspector.input_shape, inspector.class_names and list(inspector.class_names))
    class_labels = inspector.is_classifier
    if type(data).__module__.startswith("tensorflow") and hasattr(data, "element_spec"):
        return DatasetSource(data, input_rank=len(inspector.input_shape), class_labels=class_labels)
    if isinstance(data, tuple) and len(data) == 2 and labels is None:
        return ArraySource(data[0], data[1], class_labels)
    try:
        return ArraySource(data, labels, class_labels)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"cannot audit a {type(data).__name__}; pass an array of images, (images, labels), "
            "a tf.data.Dataset or the path of a folder of image files"
        ) from None
