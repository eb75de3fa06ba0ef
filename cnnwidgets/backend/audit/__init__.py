"""Explain a whole data set and cluster the explanations (SpRAy), on one machine or a Ray cluster.

>>> import cnnwidgets as cw
>>> result = cw.audit(model, images, method="gradcam")          # doctest: +SKIP
>>> result.clusters("tank").clusters[0].rows                    # doctest: +SKIP
>>> seg = cw.audit(segmenter, (images, masks), class_index=cw.targets.PerImage(
...     lambda image, mask: cw.targets.Region(1, mask)))           # doctest: +SKIP

Layout: :mod:`.sources` (arrays, ``tf.data``, folders), :mod:`.targets`
(what each map explains: a class rule, one target, one per image),
:mod:`.compute` (one batch, and the default engine), :mod:`.ray_engine`
(the same batches on Ray Data), :mod:`.result` (``AuditResult``: memory or
disk, save and open) and :mod:`.clustering` (SpRAy with scikit-learn).
"""

from ...errors import InvalidParameterError
from ..methods import get_method
from .clustering import ClassClusters, Cluster
from .compute import AuditSpec, OutputCheck, check_batch_size, run_local
from .result import DEFAULT_MEMORY_LIMIT, ArrayStore, AuditResult
from .sources import as_source
from .targets import AuditTargets

__all__ = ["audit", "AuditResult", "ClassClusters", "Cluster", "ENGINES"]

#: Engines :func:`audit` accepts.
ENGINES = (None, "local", "ray")


def audit(model, data, method="gradcam", class_index="predicted", *, batch_size=None, engine=None, layer=None,
          labels=None, class_names=None, preprocess=None, map_size=(16, 16), thumbnail_size=64,
          memory_limit=DEFAULT_MEMORY_LIMIT, directory=None, progress=None, cancel=None, ray_address=None,
          num_cpus=None, num_actors=None, gpus_per_actor=None, output_kinds=None, **params):
    """Explain every image of a data set: predictions, maps, downsampled maps and statistics.

    Parameters
    ----------
    model : keras.Model or Inspector
        The model: a classifier, or a segmentation, regression or
        several-output model explained for targets (an
        :class:`~cnnwidgets.Inspector` is reused with its caches).
    data : array_like, tuple, tf.data.Dataset, str or path
        ``(N, H, W, C)`` images; ``(images, labels)``; a ``tf.data.Dataset``
        of images, ``(image, label)`` pairs or ``{"image", "label"}`` dicts
        (batched or not); or a folder of image files (sub-folders = labels).
        With ``engine="ray"`` also a ``ray.data.Dataset`` with an ``image``
        (and optionally ``label``) column. A classifier's labels are
        classes; another model's labels may be any per-image array (a
        mask ``(N, H', W')``, values ``(N, K)``), for ``PerImage`` to read.
    method : str
        Any method of the catalogue (:func:`cnnwidgets.methods`).
    class_index : "predicted", "label", int, str, target, sequence or PerImage
        What each map explains. On a classifier: each image's predicted
        class (default), its label (SpRAy's protocol; needs labelled data)
        or one fixed class. On any model, a target
        (:mod:`cnnwidgets.targets`: ``Region``, ``Value``, ``Output``, a
        callable; an int means ``Value(int)`` on a regression output) for
        every image; a sequence with one class or target per image; or
        :class:`cnnwidgets.targets.PerImage` ``(fn)`` building each image's
        target from ``fn(image, label)``, e.g. a ``Region`` from the
        image's mask. All the targets of one audit must be of one kind on
        one output. ``"predicted"`` and ``"label"`` need a classifier.
    batch_size : int, optional
        Images per compiled call; default the method family's batch size.
    engine : None, "local" or "ray"
        None/"local": batches in this process. "ray": Ray Data
        ``map_batches`` with an actor pool, one Inspector per actor; see
        :mod:`cnnwidgets.backend.audit.ray_engine`.
    layer : str, optional
        The layer, for methods that need one; default the inspector's
        :attr:`~cnnwidgets.Inspector.default_cam_layer`.
    labels : array_like, optional
        Labels for an array of images.
    class_names, preprocess
        As for :class:`~cnnwidgets.Inspector`.
    map_size : (int, int) or None
        Size the maps are resized to (bilinear, area-weighted when
        shrinking); None keeps each method's resolution (a CAM's layer
        size, a gradient's input size).
    thumbnail_size : int
        Longer side of the stored thumbnails.
    memory_limit : int
        Bytes of per-image arrays kept in memory; past it they move to
        files in ``directory`` (a temporary folder by default) and the
        result reads them as memmaps.
    directory : str or path, optional
        Where to spill.
    progress : callable, optional
        ``progress(images_done, total)`` after each batch (``total`` is None
        for a dataset of unknown length).
    cancel : threading.Event or callable, optional
        Polled between batches; when set the audit stops and returns what it
        has done (``result.complete`` is False).
    ray_address, num_cpus, num_actors, gpus_per_actor
        For ``engine="ray"`` only.
    output_kinds
        As for :class:`~cnnwidgets.Inspector` (e.g. ``"values"`` for a
        regression model with one linear output of several values).
    **params
        The method's parameters (e.g. ``samples=16`` for SmoothGrad).

    Returns
    -------
    AuditResult

    Raises
    ------
    UnknownMethodError, InvalidParameterError, ClassNotFoundError, InvalidImageError
        Before any image is explained.
    NotAClassifierError, InvalidTargetError
        A class rule on a model that is not a classifier, or a target that
        does not fit the model's outputs (before any image is explained,
        except for targets a ``PerImage`` function builds).
    """
    from ..inspector import Inspector

    if engine not in ENGINES:
        raise InvalidParameterError(f"engine must be one of {ENGINES}, got {engine!r}")
    inspector = Inspector.for_model(model, class_names=class_names, preprocess=preprocess,
                                    output_kinds=output_kinds)
    method_spec = get_method(method)
    bound = method_spec.bind(params)
    batch_size = check_batch_size(batch_size) if batch_size is not None else \
        _default_batch_size(method_spec.family)
    targets = AuditTargets.check(inspector, class_index)
    path = inspector._spatial_layer(layer, method_spec.label).path if method_spec.needs_layer else None
    if map_size is not None:
        map_size = _check_size(map_size)
    spec = AuditSpec(method_spec.name, targets, path, bound, map_size, int(thumbnail_size), batch_size)
    store = ArrayStore(memory_limit=memory_limit, directory=directory)
    outputs = OutputCheck()  # every batch's targets on one output
    meta = {
        "method": method_spec.name, "params": {k: _jsonable(v) for k, v in bound.items()}, "layer": path,
        **targets.meta(), "class_names": list(inspector.class_names or []) or None,
        "map_size": list(map_size) if map_size else None, "engine": engine or "local",
        "model": getattr(inspector.model, "name", None), "output_kinds": list(inspector.output_kinds),
    }
    if engine == "ray":
        from .ray_engine import run_ray

        source, complete = run_ray(inspector, spec, data, labels, store, progress=progress, cancel=cancel,
                                   address=ray_address, num_cpus=num_cpus, num_actors=num_actors,
                                   gpus_per_actor=gpus_per_actor, check=outputs)
    else:
        source = as_source(data, inspector, labels)
        if targets.mode == "label" and source.kind != "dataset" and source.labels is None:
            raise InvalidParameterError('class_index="label" needs labels; pass (images, labels) or labels=')
        targets.check_count(source.length)
        complete = run_local(inspector, spec, source, store, progress=progress, cancel=cancel, check=outputs)
    arrays = store.finish()
    if "maps" not in arrays:
        raise InvalidParameterError("the data held no image to audit" if complete else
                                    "the audit was stopped before its first batch finished")
    if arrays["labels"].ndim == 1 and (arrays["labels"] < 0).all():
        arrays["labels"] = None
    output = outputs.output or 0  # the class rules: the classifier's one output
    meta.update(complete=complete, source=getattr(source, "kind", "ray"),
                image_shape=[int(d) if d else None for d in inspector.input_shape],
                output=inspector.output_names[output], output_kind=inspector.output_kinds[output],
                output_class_names=list(inspector.output_class_names(output)))
    return AuditResult(arrays, meta, inspector=inspector, source=source,
                       directory=store.directory if store.on_disk else None)


def _default_batch_size(family):
    from ..explaining import DEFAULT_BATCH_SIZES

    return DEFAULT_BATCH_SIZES[family]


def _check_size(size):
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"map_size must be (height, width) or None, got {size!r}") from None
    if height < 1 or width < 1:
        raise InvalidParameterError(f"map_size must be positive, got {size!r}")
    return height, width


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return value if isinstance(value, (int, float, str, bool, type(None), list, dict)) else repr(value)
