"""``Inspector.randomization_cascade``: the model-randomization sanity check (Adebayo et al. 2018), a mixin.

An explanation that reflects what the network learned must change when the
learned weights are destroyed. The cascade re-initializes the layers with
weights from the top (output) down, one more at a time, recomputes the
method's map after each step and compares it with the trained model's map.
All of it happens on a private copy of the model (``clone_model`` + the
trained weights, nested models included): the user's model and its weights
are never touched.
"""

import threading
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError, UnsupportedModelError
from .jobs import JobControl
from .metrics.similarity import spearman, ssim

__all__ = ["RandomizationMethods", "CascadeResult", "reinitialize_layer"]


@dataclass(frozen=True)
class CascadeResult:
    """Maps along the randomization cascade and their similarity to the trained model's map.

    Attributes
    ----------
    method : str
        The explanation method.
    class_index : int or None
        The class explained at every step (the trained model's choice by
        default); a ``Region``'s channel; None for a ``Value`` or callable.
    labels : tuple of str
        ``"trained"``, then the top layer randomized at each step.
    randomized : tuple of tuple of str
        Paths of every layer randomized by each step (cumulative).
    maps : numpy.ndarray
        ``(steps + 1, H, W)`` float32 maps, the trained model's first.
    spearman, ssim : numpy.ndarray
        ``(steps + 1,)`` similarity of each map to the first (1 at step 0).
    target : int or target
        What every map explains: the class index on a classifier, else the
        target as given (:mod:`cnnwidgets.targets`).
    """

    method: str
    class_index: object
    labels: tuple
    randomized: tuple
    maps: np.ndarray
    spearman: np.ndarray
    ssim: np.ndarray
    target: object = None


class RandomizationMethods:
    """The randomization sanity check on a private copy of the model."""

    def randomization_cascade(self, image, method, class_index=None, layer=None, *, layers=None, steps=None,
                              seed=0, progress=None, cancel=None, **params):
        """Re-initialize layers top down, one more per step, and follow how the method's map changes.

        Parameters
        ----------
        image : array_like
            One image.
        method : str
            A name from :func:`cnnwidgets.methods`.
        class_index : int, str or target, optional
            Class to explain at every step; default the trained model's
            predicted class (kept fixed as the weights are randomized). On
            segmentation, regression and several-output models a target
            (:mod:`cnnwidgets.targets`): ``Region``, ``Value``, ``Output``
            or a callable, explained on every randomized copy alike.
        layer : str, optional
            The spatial layer for CAM methods (default
            :attr:`default_cam_layer`).
        layers : sequence of str, optional
            Layers to randomize, in any order (they are randomized from the
            output down); default every layer with a kernel (convolutions and
            dense layers, nested models included) that the explained output
            depends on (on a model with several heads, the other heads'
            layers cannot change the map and are left out).
        steps : int, optional
            Group the layers into at most this many steps (for a strip that
            fits on screen); default one layer per step.
        seed : int
            Seed of the re-initialization.
        progress, cancel
            ``progress(done, total)`` after each map; a cancel token.
        **params
            The method's parameters.

        Returns
        -------
        CascadeResult

        Raises
        ------
        UnsupportedModelError
            The model cannot be copied (a subclassed model).
        InvalidTargetError, NotAClassifierError
            The target does not fit the model's outputs, or no target was
            given on a model that is not a classifier.
        UnknownMethodError, InvalidParameterError, LayerNotFoundError, JobCancelled
        """
        from .methods import get_method

        from .targeting import reported_class, reported_target

        spec = get_method(method)
        spec.bind(params)
        _, model_input, key = self.prepare(image)
        resolved = self._target(class_index, model_input, key)
        # A classifier's class is fixed as an index (the trained model's choice); other targets pass as given.
        target = reported_target(self, class_index, resolved)
        cam_layer = self._spatial_layer(layer, spec.label, resolved).path if spec.needs_layer else None
        groups = self._cascade_groups(layers, steps, resolved.scorer)
        job = JobControl(len(groups) + 1, progress, cancel)
        job.check()
        original = self.explain(image, method, target, cam_layer, **params)
        job.advance()
        # One private copy per inspector: two widgets on one model take turns with it.
        with self.__dict__.setdefault("_randomization_lock", threading.Lock()):
            maps, randomized, labels = self._run_cascade(image, method, target, cam_layer, groups, seed, job, params)
        maps = np.stack([original, *maps]).astype(np.float32)
        return CascadeResult(
            method=spec.name, class_index=reported_class(resolved), labels=("trained", *labels),
            randomized=((), *randomized), maps=maps, spearman=np.array([spearman(maps[0], m) for m in maps]),
            ssim=np.array([ssim(maps[0], m) for m in maps]), target=target,
        )

    def _run_cascade(self, image, method, target, cam_layer, groups, seed, job, params):
        """Randomize ``groups`` cumulatively on the private copy; the map after each step."""
        copy = self._randomization_copy()
        records = {r.path: r for r in copy.layers}
        try:
            maps, randomized, labels = [], [], []
            done = []
            for group in groups:
                for path in group:
                    reinitialize_layer(records[path].layer, seed + 7919 * (len(done) + 1))
                    done.append(path)
                copy.clear_cache()
                maps.append(copy.explain(image, method, target, cam_layer, **params))
                randomized.append(tuple(done))
                labels.append(group[0] if len(group) == 1 else f"{group[0]} (+{len(group) - 1})")
                job.advance()
        finally:
            copy.clear_cache()
        return maps, randomized, labels

    def _cascade_groups(self, layers, steps, scorer=None):
        graph = self._require_graph("randomize layers")
        records = [r for r in graph.records if not r.is_model]
        if layers is None:
            chosen = [r for r in records if _kernel(r.layer) is not None]
            if scorer is not None and len(self.output_shapes) > 1 and not scorer.whole:
                feeding = graph.feeding_paths(scorer.output)
                chosen = [r for r in chosen if r.path in feeding]
        else:
            wanted = {self.layer(spec).path for spec in layers}
            chosen = [r for r in records if r.path in wanted]
            bare = [r.path for r in chosen if not r.layer.weights]
            if bare:
                raise InvalidParameterError(f"layer {bare[0]!r} has no weights to randomize; choose layers with weights")
        if not chosen:
            raise InvalidParameterError("the model has no layers with weights to randomize")
        paths = [r.path for r in reversed(chosen)]  # from the output down
        if steps is None:
            return [[p] for p in paths]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise InvalidParameterError(f"steps must be a positive integer, got {steps!r}")
        return [list(g) for g in np.array_split(np.array(paths, dtype=object), min(steps, len(paths)))]

    def _randomization_copy(self):
        """A private inspector on a clone of the model, reset to the current trained weights."""
        import keras

        copy = self.__dict__.get("_randomization_inspector")
        if copy is None:
            self._require_graph("copy the model for the randomization check")
            try:
                clone = keras.models.clone_model(self.model)
            except Exception as exc:
                raise UnsupportedModelError(
                    f"could not copy the model for the randomization check ({type(exc).__name__}: {exc})"
                ) from None
            copy = type(self)(clone, class_names=self.class_names, preprocess=self.preprocess,
                              input_range=self.input_range, cache_size=8, output_kinds=self.output_kinds)
            self.__dict__["_randomization_inspector"] = copy
        copy.model.set_weights(self.model.get_weights())
        return copy


def _kernel(layer):
    for name in ("kernel", "depthwise_kernel", "pointwise_kernel"):
        if getattr(layer, name, None) is not None:
            return getattr(layer, name)
    return None


def reinitialize_layer(layer, seed):
    """Draw every weight of ``layer`` afresh from its own initializer (``kernel_initializer``, ...), seeded.

    A weight without a known initializer (a custom layer) is drawn from a
    normal distribution with its current standard deviation.
    """
    import keras

    for number, variable in enumerate(layer.weights):
        name = variable.path.rsplit("/", 1)[-1]
        initializer = None
        for attribute in (f"{name}_initializer", f"{name.replace('_kernel', '')}_initializer"):
            initializer = getattr(layer, attribute, None)
            if initializer is not None:
                break
        shape, dtype = tuple(variable.shape), variable.dtype
        if initializer is not None:
            initializer = keras.initializers.get(initializer)
            config = initializer.get_config()
            if "seed" in config:
                initializer = type(initializer).from_config({**config, "seed": seed + number})
            values = np.asarray(initializer(shape, dtype=dtype))
        else:
            current = np.asarray(variable)
            rng = np.random.default_rng(seed + number)
            values = rng.normal(0.0, float(current.std()) or 0.05, shape).astype(current.dtype)
        variable.assign(values)
