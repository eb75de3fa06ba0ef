"""``AuditResult``: an audit's per-image arrays, in memory or in files on disk, saved and reopened.

Per image: the class probabilities (for a model that is not a classifier,
what the audited output says), the class explained (``targets``), the score
explained, the label when the data had one, the downsampled map and a small
thumbnail.
Arrays are written batch by batch through an :class:`ArrayStore`: in memory
until they pass ``memory_limit`` bytes, then as raw files in a folder, read
back as numpy memmaps. :meth:`AuditResult.save` writes a folder of ``.npy``
files and ``audit.json``; :meth:`AuditResult.open` memory-maps them again.
"""

import json
import pathlib
import tempfile

import numpy as np

from ...errors import InvalidParameterError, NotAClassifierError

__all__ = ["AuditResult", "ArrayStore", "DEFAULT_MEMORY_LIMIT"]

#: Bytes of per-image arrays an audit keeps in memory before it moves them to disk.
DEFAULT_MEMORY_LIMIT = 512 * 2**20
_ARRAYS = ("probabilities", "targets", "scores", "labels", "maps", "thumbnails")
_FORMAT = 1


class ArrayStore:
    """Append-only per-image arrays: in memory, then spilled to raw files past ``memory_limit`` bytes.

    Parameters
    ----------
    memory_limit : int
        Bytes kept in memory; past it every array moves to ``directory``.
    directory : str or path, optional
        Where to spill; default a new temporary folder, which the result
        reads from and which is left in place (delete it when done, or pass
        a folder of your own).
    """

    def __init__(self, memory_limit=DEFAULT_MEMORY_LIMIT, directory=None):
        if memory_limit is None or memory_limit < 0:
            raise InvalidParameterError(f"memory_limit must be a number of bytes >= 0, got {memory_limit!r}")
        self.memory_limit = int(memory_limit)
        self.directory = None if directory is None else pathlib.Path(directory)
        self._chunks = {name: [] for name in _ARRAYS}
        self._files = None
        self._specs = {}
        self.count = 0
        self.nbytes = 0

    @property
    def on_disk(self):
        return self._files is not None

    def append(self, arrays):
        """Add one batch: a dict name -> array with the same first dimension."""
        for name, array in arrays.items():
            array = np.ascontiguousarray(array)
            self._specs.setdefault(name, (array.dtype, array.shape[1:]))
            self.nbytes += array.nbytes
            if self._files is None:
                self._chunks[name].append(array)
            else:
                self._files[name].write(array.tobytes())
        self.count += len(next(iter(arrays.values())))
        if self._files is None and self.nbytes > self.memory_limit:
            self._spill()

    def _spill(self):
        if self.directory is None:
            self.directory = pathlib.Path(tempfile.mkdtemp(prefix="cnnwidgets-audit-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files = {}
        for name, chunks in self._chunks.items():
            if name in self._specs:
                handle = open(self.directory / f"{name}.bin", "wb")
                for chunk in chunks:
                    handle.write(chunk.tobytes())
                self._files[name] = handle
        self._chunks = None

    def finish(self):
        """The arrays: numpy arrays, or read-only memmaps of the spilled files."""
        out = {}
        for name, (dtype, shape) in self._specs.items():
            if self._files is None:
                out[name] = np.concatenate(self._chunks[name]) if self._chunks[name] else np.zeros((0,) + shape, dtype)
            else:
                self._files[name].close()
                path = self.directory / f"{name}.bin"
                if self.count == 0 or path.stat().st_size == 0:
                    out[name] = np.zeros((0,) + shape, dtype)
                else:
                    out[name] = np.memmap(path, dtype=dtype, mode="r", shape=(self.count,) + shape)
        return out


class AuditResult:
    """Every image's prediction and explanation map from :func:`cnnwidgets.audit`, with SpRAy clustering.

    Attributes
    ----------
    probabilities : numpy.ndarray
        ``(N, num_classes)`` float32 class probabilities. For a model that
        is not a classifier, ``(N, K)`` what the audited output (``meta
        ["output"]``) says: its class probabilities, its regression values,
        or for a dense map each channel's mean over the pixels (with a
        softmax, the share of the image each class covers).
    targets : numpy.ndarray
        ``(N,)`` int32: the class each map explains (a ``Region``'s
        channel, a ``Value``'s index; 0 for a callable target).
    scores : numpy.ndarray
        ``(N,)`` float32: the score each map explains, as occlusion and the
        metrics read it (the class probability; a target's probability
        where its output ends in softmax/sigmoid, its value otherwise).
    labels : numpy.ndarray or None
        ``(N,)`` int64 true classes, when the data had labels; for a model
        that is not a classifier, the per-image labels as given (masks,
        values).
    maps : numpy.ndarray
        ``(N, h, w)`` float32 downsampled maps (a memmap when on disk).
    thumbnails : numpy.ndarray
        ``(N, t, t', C)`` uint8 small copies of the images (C = 1 or 3).
    meta : dict
        Method, its parameters, layer, class names, map size, image shape,
        source kind, ``complete`` (False when the audit was stopped); the
        ``class_index`` rule or ``target`` (its repr), the audited
        ``output``, its ``output_kind`` and ``output_class_names``.
    inspector : Inspector or None
        The inspector that computed the maps (None once reopened from disk
        until :meth:`attach` binds one).
    """

    def __init__(self, arrays, meta, inspector=None, source=None, directory=None):
        self.probabilities = arrays["probabilities"]
        self.targets = arrays["targets"]
        self.scores = arrays.get("scores")
        if self.scores is None:  # saved before scores were stored: a classifier's class probabilities
            self.scores = np.asarray(self.probabilities)[np.arange(len(self.targets)), np.asarray(self.targets)]
        self.labels = arrays.get("labels")
        self.maps = arrays["maps"]
        self.thumbnails = arrays["thumbnails"]
        self.meta = dict(meta)
        self.inspector = inspector
        self.source = source
        self.directory = None if directory is None else pathlib.Path(directory)
        self._clusters = {}

    # ---------------------------------------------------------------- basics
    def __len__(self):
        return len(self.targets)

    def __repr__(self):
        where = f"on disk in {self.directory}" if self.on_disk else "in memory"
        state = "" if self.complete else ", stopped early"
        return (f"<AuditResult {len(self)} images, {self.meta['method']} maps {tuple(self.maps.shape[1:])}, "
                f"classes {self.classes().tolist()}, {where}{state}>")

    @property
    def on_disk(self):
        """True when the arrays are memmaps of files rather than in memory."""
        return isinstance(self.maps, np.memmap)

    @property
    def complete(self):
        """False when the audit was stopped before the end of the data."""
        return bool(self.meta.get("complete", True))

    @property
    def class_names(self):
        """Names of the audited output's classes (or channels, or values)."""
        names = self.meta.get("output_class_names") or self.meta.get("class_names")
        return list(names) if names else [str(i) for i in range(self.probabilities.shape[1])]

    @property
    def output_kind(self):
        """``"classes"``, ``"map"`` or ``"values"``: what the audited output holds."""
        return self.meta.get("output_kind", "classes")

    @property
    def predicted(self):
        """``(N,)`` predicted class of each image (for a dense map, the class covering most of it).

        A regression output has none: :class:`~cnnwidgets.errors.NotAClassifierError`.
        """
        if self.output_kind == "values":
            raise NotAClassifierError(
                f"the audited output {self.meta.get('output')!r} holds regression values, not classes; read "
                "probabilities (its values) or scores (the value explained) instead"
            )
        return self.probabilities.argmax(axis=1)

    def classes(self):
        """The explained classes present, in increasing order."""
        return np.unique(np.asarray(self.targets))

    def rows(self, class_index):
        """Image indices whose map explains ``class_index`` (an index or a class name)."""
        return np.flatnonzero(np.asarray(self.targets) == self._class(class_index))

    def _class(self, spec):
        if isinstance(spec, str):
            if spec not in self.class_names:
                raise InvalidParameterError(f"unknown class {spec!r}; the classes are {self.class_names}")
            return self.class_names.index(spec)
        return int(spec)

    def image(self, index):
        """Image ``index`` at full size when the source is at hand (array or folder), else its thumbnail."""
        if self.source is not None:
            full = self.source.image(int(index))
            if full is not None:
                return np.asarray(full)
        return np.asarray(self.thumbnails[int(index)])

    # ---------------------------------------------------------- statistics
    def summary(self):
        """Per-image summary statistics, as a dict of ``(N,)`` arrays.

        ``predicted``, ``confidence`` (top probability), ``target_score``
        (probability of the explained class, or the explained target's
        score), ``mass`` (sum of the map's positive part), ``peak`` (its
        maximum), ``spread`` (entropy of the map as a distribution over its
        cells, 0 = one cell, 1 = uniform) and ``correct`` (prediction ==
        label, when labelled with classes). A regression output has no
        ``predicted`` or ``confidence``; a dense map's are its readout's
        (the class covering most of the image, and its share).
        """
        probs = np.asarray(self.probabilities)
        maps = np.clip(np.asarray(self.maps, np.float64), 0, None).reshape(len(self), -1)
        mass = maps.sum(axis=1)
        share = maps / np.maximum(mass, 1e-12)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.where(share > 0, share * np.log(share), 0.0).sum(axis=1)
        cells = max(maps.shape[1], 2)
        stats = {}
        if self.output_kind != "values":
            stats.update(predicted=probs.argmax(axis=1), confidence=probs.max(axis=1))
        stats.update(
            target_score=np.asarray(self.scores),
            mass=mass.astype(np.float32),
            peak=maps.max(axis=1).astype(np.float32) if len(self) else np.zeros(0, np.float32),
            spread=(entropy / np.log(cells)).astype(np.float32),
        )
        if self.labels is not None and self.output_kind == "classes" and np.ndim(self.labels) == 1:
            stats["correct"] = stats["predicted"] == np.asarray(self.labels)
        return stats

    # ----------------------------------------------------------- clustering
    def clusters(self, class_index, n_clusters=None, *, seed=0, embedding="spectral", neighbors=None):
        """SpRAy: cluster the maps of one class and rank the clusters (cached).

        Parameters
        ----------
        class_index : int or str
            The explained class.
        n_clusters : int, optional
            Default: chosen from the eigengap of the affinity graph's
            Laplacian (2 to 8), as in Lapuschkin et al. 2019.
        seed : int
            Seed for k-means on the spectral embedding and for t-SNE.
        embedding : {"spectral", "tsne"}
            The 2-D embedding for display.
        neighbors : int, optional
            Neighbours in the k-nearest-neighbour affinity graph; default
            about the square root of the class's size (5 to 20).

        Returns
        -------
        ClassClusters
        """
        from .clustering import spray

        key = (self._class(class_index), n_clusters, seed, embedding, neighbors)
        if key not in self._clusters:
            rows = self.rows(key[0])
            self._clusters[key] = spray(np.asarray(self.maps[rows]), rows, key[0], n_clusters=n_clusters,
                                        seed=seed, embedding=embedding, neighbors=neighbors)
        return self._clusters[key]

    # ------------------------------------------------------- save and open
    def save(self, path):
        """Write the result to the folder ``path`` (``*.npy`` and ``audit.json``); returns the path."""
        folder = pathlib.Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            array = getattr(self, name)
            if array is not None:
                np.save(folder / f"{name}.npy", np.asarray(array))
        meta = dict(self.meta, format=_FORMAT, count=len(self))
        if getattr(self.source, "kind", None) == "folder":
            meta["paths"] = [str(p) for p in self.source.paths]
        (folder / "audit.json").write_text(json.dumps(meta, indent=1))
        return folder

    @classmethod
    def open(cls, path, inspector=None, mmap=True):
        """Reopen a saved result (memory-mapped unless ``mmap=False``).

        Parameters
        ----------
        path : str or path
            A folder written by :meth:`save`.
        inspector : Inspector or keras.Model, optional
            To reopen images in an Explorer; see :meth:`attach`.
        """
        folder = pathlib.Path(path)
        meta_path = folder / "audit.json"
        if not meta_path.is_file():
            raise InvalidParameterError(f"{str(path)!r} holds no audit.json; pass a folder written by AuditResult.save")
        meta = json.loads(meta_path.read_text())
        mode = "r" if mmap else None
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode=mode)
                  for name in _ARRAYS if (folder / f"{name}.npy").is_file()}
        source = None
        if meta.get("paths"):
            from .sources import FolderSource

            source = FolderSource.from_paths(meta["paths"], meta["image_shape"])
        result = cls(arrays, meta, source=source, directory=folder)
        if inspector is not None:
            result.attach(inspector)
        return result

    def attach(self, model):
        """Bind the model (or inspector) the audit ran on, e.g. after :meth:`open`; returns the inspector."""
        from ..inspector import Inspector

        self.inspector = Inspector.for_model(model, class_names=self.meta.get("class_names"),
                                             output_kinds=self.meta.get("output_kinds"))
        return self.inspector

