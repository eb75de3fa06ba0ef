"""The Ray engine: the same audit batches on Ray Data, one Inspector per actor.

``cw.audit(..., engine="ray")`` turns the data into a Ray dataset of image
indices (or takes a ``ray.data.Dataset`` as it is), and ``map_batches`` runs
:func:`~cnnwidgets.backend.audit.compute.audit_batch` on a pool of actors:
each actor loads the model once (saved as a ``.keras`` file and shipped as
bytes), binds one Inspector, and reads its images from the object store
(arrays; a ``tf.data.Dataset`` is read into one first) or from the files
themselves (folders: the paths must be readable on every node). On a
cluster with GPUs each actor gets one. The driver puts the batches back in
the data's order (they return in any order) into the same
:class:`AuditResult` the default engine fills; a ``ray.data.Dataset`` given as
it is keeps the order in which Ray returns its rows.

Point it at a cluster with ``ray.init(address="ray://head:10001")`` (or
``ray_address=``) before the call; with no Ray running, a local one starts
with ``num_cpus`` CPUs and stays up for later audits until ``ray.shutdown()``
or the end of the process.
"""

import os
import tempfile

import numpy as np

from ...errors import InvalidParameterError
from .compute import OutputCheck, audit_batch
from .sources import ArraySource, FolderSource, as_source

__all__ = ["run_ray", "ensure_ray", "AuditActor", "model_bytes"]


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise InvalidParameterError(
            'engine="ray" needs Ray Data; install it with pip install "cnnwidgets[ray]" (or "ray[data]")'
        ) from None
    return ray


def model_bytes(model):
    """The model as the bytes of a ``.keras`` file (what each actor loads)."""
    with tempfile.TemporaryDirectory(prefix="cnnwidgets-ray-") as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        with open(path, "rb") as handle:
            return handle.read()


class AuditActor:
    """One Ray actor: loads the model once, binds an Inspector, audits batches of rows.

    Parameters
    ----------
    model_data : bytes
        A ``.keras`` file's content.
    inspector_kwargs : dict
        ``class_names``, ``preprocess``, ``input_range``, ``output_kinds``.
    spec : AuditSpec
    images : ray.ObjectRef, optional
        The images in the object store (rows are indices into them).
    paths : list of str, optional
        Image files (rows are indices into it).
    """

    def __init__(self, model_data, inspector_kwargs, spec, images=None, paths=None):
        import keras

        from ..inspector import Inspector

        with tempfile.TemporaryDirectory(prefix="cnnwidgets-ray-") as folder:
            path = os.path.join(folder, "model.keras")
            with open(path, "wb") as handle:
                handle.write(model_data)
            model = keras.saving.load_model(path, compile=False)
        self.inspector = Inspector(model, **inspector_kwargs)
        self.spec = spec
        if images is not None and not isinstance(images, np.ndarray):
            import ray

            images = ray.get(images)  # an ObjectRef: shared memory, one copy per node
        self.images = images
        self.files = None if paths is None else FolderSource.from_paths(paths, self.inspector.input_shape)

    def __call__(self, batch):
        labels = batch.get("label")
        if "image" in batch:  # a ray.data.Dataset given as it is
            images = np.stack(list(batch["image"])) if batch["image"].dtype == object else batch["image"]
        else:
            rows = np.asarray(batch["id"])
            images = self.images[rows] if self.images is not None else \
                np.stack([self.files.read(self.files.paths[r]) for r in rows])
        rows = np.asarray(batch["id"]) if "id" in batch else None
        out = audit_batch(self.inspector, self.spec, images, labels, rows=rows)
        out["index"] = np.asarray(batch["id"]) if "id" in batch else np.zeros(len(images), np.int64) - 1
        return out


def ensure_ray(address=None, num_cpus=None, attempts=2):
    """Connect to Ray (``address``) or start a local one with ``num_cpus`` CPUs, unless one is up.

    A local start is tried ``attempts`` times: on a busy machine Ray's raylet
    can give up on its dashboard agent, which it waits for a fixed 15 s
    (ray-project/ray#65983).
    """
    ray = _ray()
    if ray.is_initialized():
        return ray
    options = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        options["num_cpus"] = num_cpus
    for attempt in range(attempts if address is None else 1):
        try:
            ray.init(address=address, **options)
            return ray
        except Exception:
            if attempt + 1 >= attempts or address is not None:
                raise
    return ray


def _read_dataset(source, class_labels):
    images, labels = [], []
    for batch, batch_labels in source.batches(256):
        images.append(np.asarray(batch))
        if batch_labels is not None:
            labels.append(batch_labels)
    return ArraySource(np.concatenate(images), np.concatenate(labels) if labels else None, class_labels)


def run_ray(inspector, spec, data, labels, store, progress=None, cancel=None, address=None, num_cpus=None,
            num_actors=None, gpus_per_actor=None, check=None):
    """Run the audit on Ray Data; returns ``(source, complete)`` like the default engine."""
    ray = ensure_ray(address, num_cpus)
    check = OutputCheck() if check is None else check
    kwargs = {"class_names": inspector.class_names, "preprocess": inspector.preprocess,
              "input_range": inspector.input_range, "output_kinds": inspector.output_kinds}
    constructor = {"model_data": model_bytes(inspector.model), "inspector_kwargs": kwargs, "spec": spec}
    if isinstance(data, ray.data.Dataset):
        source, dataset, total = None, data, None
        if spec.targets.mode == "label" and "label" not in data.schema().names:
            raise InvalidParameterError('class_index="label" needs a "label" column in the ray dataset')
        if spec.targets.needs_rows:
            raise InvalidParameterError(
                "one target per image (a sequence) needs the images' rows, which a ray.data.Dataset given as it "
                "is lacks; pass the images as an array, or build each target with cnnwidgets.targets.PerImage"
            )
    else:
        source = as_source(data, inspector, labels)
        if source.kind == "dataset":
            source = _read_dataset(source, inspector.is_classifier)
        if spec.targets.mode == "label" and source.labels is None:
            raise InvalidParameterError('class_index="label" needs labels; pass (images, labels) or labels=')
        spec.targets.check_count(source.length)
        total = source.length
        if source.kind == "folder":
            constructor["paths"] = [str(p) for p in source.paths]
        else:
            constructor["images"] = ray.put(np.asarray(source.images))
        dataset = ray.data.range(total, override_num_blocks=max(1, -(-total // (spec.batch_size * 4))))
        if source.labels is not None:
            all_labels = np.asarray(source.labels)
            dataset = dataset.map_batches(lambda b: {"id": b["id"], "label": all_labels[b["id"]]},
                                          batch_format="numpy")
    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0) if gpus_per_actor is None else gpus_per_actor
    per_actor_gpu = 1 if gpus_per_actor is None and gpus else (gpus_per_actor or 0)
    actors = num_actors or (int(gpus) if per_actor_gpu else max(1, int(resources.get("CPU", 2)) - 1))
    results = dataset.map_batches(
        AuditActor, fn_constructor_kwargs=constructor, batch_size=spec.batch_size, batch_format="numpy",
        concurrency=actors, num_cpus=1, num_gpus=per_actor_gpu,
    )
    done, complete = 0, True
    waiting = {}  # batches that came back before the ones ahead of them, by first row
    for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
        index = batch.pop("index")
        check(batch)
        if source is None:  # a ray.data.Dataset: its rows in the order Ray returns them
            waiting[done] = batch
        else:  # split into runs of consecutive rows (a block may join non-adjacent ones)
            cuts = np.flatnonzero(np.diff(index) != 1) + 1
            for rows in np.split(np.arange(len(index)), cuts):
                waiting[int(index[rows[0]])] = {name: values[rows] for name, values in batch.items()}
        while done in waiting:
            ready = waiting.pop(done)
            store.append(ready)
            done += len(ready["targets"])
            if progress is not None:
                progress(done, total)
        if cancel is not None and (cancel.is_set() if hasattr(cancel, "is_set") else cancel()):
            complete = done == total
            break
    return source, complete
