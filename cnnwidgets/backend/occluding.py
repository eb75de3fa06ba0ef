"""Occlusion methods of :class:`~cnnwidgets.Inspector` (a mixin; see inspector.py)."""

import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidImageError, InvalidParameterError
from .incremental import METHODS, DrillDown, IncrementalEngine, OcclusionRun, deviation
from .jobs import JobControl
from .occlusion import FILLS, box_mask, default_patch, fill_image, patch_positions

__all__ = ["OcclusionMethods", "OcclusionStats"]

#: ``method="auto"`` runs incrementally when the plan does at most this share of a full pass's work.
AUTO_MAX_FLOPS = 0.75
#: Projective-field threshold of an approximate occluder move (a sweep's default is 1: drill-down only).
#: On random-weight VGG16 (224 px, patch 16) thresholding costs sweeps more rank fidelity than drill-down
#: does (Spearman vs exact: tau 0.5 -> 0.91, 0.6 -> 0.80; tau 1 with DrillDown(2, 0.3) -> 0.97).
APPROXIMATE_TAU = 0.5


@dataclass
class OcclusionStats:
    """How the inspector's last occlusion sweep and move ran (see :class:`OcclusionRun`).

    Attributes
    ----------
    sweep, move : OcclusionRun or None
        The last :meth:`~OcclusionMethods.occlusion_map` / :meth:`~OcclusionMethods.occlude`.
    full_seconds : dict
        Measured full-recomputation cost: ``"sweep"`` seconds per position
        in a batch, ``"move"`` seconds of one forward pass.
    """

    sweep: OcclusionRun = None
    move: OcclusionRun = None
    full_seconds: dict = field(default_factory=dict)


class OcclusionMethods:
    """Cover part of an image and watch the class probabilities (Zeiler & Fergus 2014).

    The host sets ``occlusion_stats`` (an :class:`OcclusionStats`) in its ``__init__``.
    """

    def occluded_image(self, image, box=None, mask=None, fill="gray"):
        """The display image with ``box`` (or ``mask``) covered by ``fill``."""
        display, _, key = self.prepare(image)
        covered = self._occlusion_mask(display, box, mask)
        filler = self._fill(display, key, fill)
        return np.where(covered[..., None], filler, display)

    def occlude(self, image, box=None, fill="gray", mask=None, method="auto", target=None):
        """Class probabilities with part of the image covered.

        Parameters
        ----------
        image : array_like
            One image.
        box : tuple of int, optional
            ``(y0, x0, y1, x1)`` in input pixels, end-exclusive, clipped to the image.
        fill : str or float
            ``"gray"``, ``"black"``, ``"white"``, ``"mean"``, ``"blur"`` or a pixel value.
        mask : array_like of bool, optional
            ``(H, W)`` pixels to cover, for painted (non-square) occluders.
            Covered pixels are the union of ``box`` and ``mask``.
        method : str
            ``"auto"`` (default): incremental inference (only the part of
            each layer the covered pixels reach is recomputed, from every
            layer's output cached for the clean image) where it is expected
            to save work, else one full forward pass. ``"full"`` forces the
            full pass, ``"incremental"`` the exact incremental one;
            ``"approximate"`` adds projective-field thresholding
            (``tau`` = 0.5). :attr:`occlusion_stats` ``.move`` says what ran.

        target : int, str or target, optional
            When given, return this target's score on the occluded image
            (probability where the output is softmax/sigmoid, else value)
            instead of the class probabilities: what segmentation, regression
            and multi-output models use. Compare with :meth:`target_score`.

        Returns
        -------
        numpy.ndarray or float
            ``(num_classes,)`` probabilities, or the target's score.
        """
        display, model_input, key = self.prepare(image)
        method = _check_method(method)
        covered = self._occlusion_mask(display, box, mask)
        filler = self._model_fill(display, key, fill)
        occluded = np.where(covered[..., None], filler, model_input)
        if target is not None:
            resolved = self._target(target, model_input, key)
            start = time.perf_counter()
            score = float(self._batch_scores(occluded[None], resolved, kind="probability")[0])
            self.occlusion_stats.move = _run("move", method, "full", 1, time.perf_counter() - start, None, None,
                                             "a target's score is computed by a full pass")
            return score
        self._require_classifier("occlude and report class probabilities (pass target=... instead)")
        rows, cols = np.flatnonzero(covered.any(axis=1)), np.flatnonzero(covered.any(axis=0))
        if rows.size == 0:
            return self.predict(display)
        height, width = covered.shape
        rect = (_bucket(rows[-1] + 1 - rows[0], height), _bucket(cols[-1] + 1 - cols[0], width))
        tau = APPROXIMATE_TAU if method == "approximate" else 1.0
        mode, plan, reason = self._occlusion_mode(method, rect, tau, "move")
        stats = self.occlusion_stats
        start = time.perf_counter()
        if mode != "full" and "move" not in stats.full_seconds:
            mode, reason = "full", "measuring one full pass first, to report speed-ups"
        if mode == "full":
            traces = sum(self.trace_counts.values())
            probs = self._forward_fn()(occluded[None])[0].numpy()[0]
            seconds = time.perf_counter() - start
            if sum(self.trace_counts.values()) == traces:  # a call that traced is no measure of speed
                stats.full_seconds["move"] = seconds
        else:
            clean = self._clean_maps(model_input, key)
            y, x = min(rows[0], height - rect[0]), min(cols[0], width - rect[1])
            patch = occluded[None, y : y + rect[0], x : x + rect[1]]
            probs = self._incremental.probabilities(plan, clean, patch, [y], [x])[0]
            seconds = time.perf_counter() - start
        stats.move = _run("move", method, mode, 1, seconds, stats.full_seconds.get("move"), plan, reason)
        _remember_speedup(plan, stats.move)
        return probs

    def _occlusion_mask(self, display, box, mask):
        height, width = display.shape[:2]
        covered = np.zeros((height, width), dtype=bool)
        if box is not None:
            covered |= box_mask(box, height, width)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (height, width):
                raise InvalidImageError(
                    f"the occlusion mask has shape {mask.shape}; it must match the image, {(height, width)}"
                )
            covered |= mask
        return covered

    def _fill(self, display, key, fill):
        fill_key = ("fill", key, _fill_key(fill))
        return self._cache.get_or_compute(fill_key, lambda: fill_image(display, fill, self.input_range))

    def _model_fill(self, display, key, fill):
        fill_key = ("model_fill", key, _fill_key(fill))
        return self._cache.get_or_compute(
            fill_key, lambda: self._preprocess(self._fill(display, key, fill)[None])[0]
        )

    def occlusion_map(self, image, class_index=None, patch=None, stride=None, fill="gray",
                      batch_size=64, progress=None, cancel=None, method="auto", tau=None,
                      drill_down=None, report_deviation=False):
        """Occlusion sensitivity (Zeiler & Fergus 2014) at input resolution.

        A ``patch x patch`` square slides over the image with ``stride``; for
        each position the drop of the class probability is measured. Each
        pixel's value is the mean drop over the positions that cover it.
        Positions are batched through one compiled function.

        Parameters
        ----------
        image : array_like
            One image.
        class_index : int, str or target, optional
            The class whose probability to watch (default the predicted
            class), or a target (:mod:`cnnwidgets.targets`): the map is then
            the drop of the target's score (probability where the output is
            softmax/sigmoid, value otherwise).
        patch : int, optional
            Side of the square, default a sixth of the shorter image side.
        stride : int, optional
            Step between positions, default ``patch // 2`` (at least 1).
        fill : str or float
            As for :meth:`occlude`.
        batch_size : int
            Occluded copies per compiled call.
        progress, cancel
            See :class:`~cnnwidgets.backend.jobs.JobControl`.
        method : str
            ``"auto"`` (default): exact incremental inference (Krypton,
            Nakandala et al. 2019: each layer recomputes only the rectangle
            the patch reaches, from the clean image's cached outputs) where
            the plan expects it to save work, else full forward passes.
            ``"full"`` and ``"incremental"`` force one or the other (both
            exact, equal within float32 rounding). ``"approximate"`` (opt-in)
            adds projective-field thresholding and adaptive drill-down.
        tau : float, optional
            For ``"approximate"``: Krypton's projective-field threshold, keep
            at most this share of each layer's map per axis in the changed
            rectangle (default 1: no thresholding, drill-down only).
        drill_down : DrillDown, optional
            For ``"approximate"``: coarse grid and share of fine positions
            refined (default ``DrillDown(coarse=2, keep=0.3)``).
        report_deviation : bool
            For ``"approximate"``: also compute the exact map and put the
            Spearman correlation and absolute deviations into
            ``occlusion_stats.sweep.deviation``.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` float32; positive where covering lowers the probability.
            :attr:`occlusion_stats` ``.sweep`` says how it was computed and
            the speed-up measured against full recomputation.
        """
        display, model_input, key = self.prepare(image)
        height, width = display.shape[:2]
        method = _check_method(method)
        target = self._target(class_index, model_input, key)
        # ``is None``, not truthiness: 0 is an invalid size, not "use the default".
        patch = default_patch(height, width) if patch is None else int(patch)
        if patch < 1:
            raise InvalidParameterError(f"patch must be at least 1 pixel, got {patch}")
        stride = max(1, patch // 2) if stride is None else int(stride)
        if stride < 1:
            raise InvalidParameterError(f"stride must be at least 1 pixel, got {stride}")
        batch_size = int(batch_size)
        if batch_size < 1:
            raise InvalidParameterError(f"batch_size must be at least 1, got {batch_size}; pass a positive integer")
        approximate = method == "approximate"
        tau, drill_down = _check_approximation(tau, drill_down) if approximate else (1.0, None)
        shape_key = ("approximate", tau, drill_down) if approximate else "exact"
        cache_key = ("occlusion_map", key, target.key, patch, stride, _fill_key(fill), shape_key)
        cached = self._cache.get(cache_key)
        if cached is not None:
            if progress is not None:
                progress(1, 1)
            return cached.copy()
        size = min(patch, height), min(patch, width)
        ys, xs = patch_positions(height, patch, stride), patch_positions(width, patch, stride)
        mode, plan, reason = self._occlusion_mode(method, size, tau, "sweep", target)
        sweep = _Sweep(self, model_input, key, self._model_fill(display, key, fill), size, target, batch_size,
                       mode, plan)
        if approximate:
            iy, ix = drill_down.coarse_indices(len(ys)), drill_down.coarse_indices(len(xs))
            todo = len(iy) * len(ix)
            total = todo + int(round(drill_down.keep * (len(ys) * len(xs) - todo)))
            job = JobControl(total, progress, cancel)
            job.check()
            coarse = [(ys[i], xs[j]) for i in iy for j in ix]
            coarse_drops = -sweep.probabilities(coarse, job) + sweep.base
            drops, chosen = drill_down.refine(coarse_drops.reshape(len(iy), len(ix)), iy, ix, (len(ys), len(xs)))
            drops[np.ix_(iy, ix)] = coarse_drops.reshape(len(iy), len(ix))
            fine = np.argwhere(chosen)
            drops[chosen] = -sweep.probabilities([(ys[i], xs[j]) for i, j in fine], job) + sweep.base
            mode = "approximate" if mode != "full" else "full"
        else:
            job = JobControl(len(ys) * len(xs), progress, cancel)
            job.check()
            drops = -sweep.probabilities([(y, x) for y in ys for x in xs], job) + sweep.base
            drops = drops.reshape(len(ys), len(xs))
        drop_sum = np.zeros((height, width), np.float64)
        count = np.zeros((height, width), np.float64)
        for i, y in enumerate(ys):
            for j, x in enumerate(xs):
                drop_sum[y : y + size[0], x : x + size[1]] += drops[i, j]
                count[y : y + size[0], x : x + size[1]] += 1
        result = (drop_sum / np.maximum(count, 1)).astype(np.float32)
        run = sweep.run_record(method, mode, reason)
        if approximate and report_deviation:
            exact = self.occlusion_map(image, target, patch, stride, fill, batch_size)
            run.deviation = deviation(result, exact)
        self.occlusion_stats.sweep = run
        _remember_speedup(plan, run)
        return self._cache.put(cache_key, result).copy()

    # ------------------------------------------------------------- incremental
    @property
    def _incremental(self):
        engine = self.__dict__.get("_incremental_engine")
        if engine is None:
            engine = self.__dict__["_incremental_engine"] = IncrementalEngine(self)
        return engine

    def _occlusion_mode(self, method, rect, tau, kind, target=None):
        """``(mode, plan or None, reason)`` for a changed rectangle of size ``rect`` (``kind``: sweep or move)."""
        if method == "full":
            return "full", None, ""
        if target is not None and not (self.is_classifier and target.scorer.kind == "class"):
            return "full", None, "incremental inference computes class probabilities only; this target runs in full"
        engine = self._incremental
        if not engine.available:
            return "full", None, f"incremental inference unavailable: {engine.reason}"
        plan = engine.plan(rect, tau)
        if method == "auto" and plan.flops_fraction > AUTO_MAX_FLOPS:
            return "full", None, (
                f"incremental would still do {plan.flops_fraction:.0%} of the work "
                f"(full computation from {plan.switch_path})"
            )
        measured = plan.speedups.get(kind)
        if method == "auto" and measured is not None and measured < 1.0:
            return "full", None, f"incremental measured {measured:.2f}x of full speed here"
        if method == "auto" and not plan.ready.is_set():
            engine.warm_up_in_background(plan)
            return "full", None, "compiling the incremental pass in the background"
        return ("approximate" if tau < 1.0 else "incremental"), plan, ""

    def _clean_maps(self, model_input, key):
        """Every layer's output on the clean image, cached per image."""
        return self._cache.get_or_compute(
            ("incremental_clean", key), lambda: self._incremental.clean_maps(model_input)[1]
        )


class _Sweep:
    """Probabilities for lists of patch positions, full or incremental, timed."""

    #: Positions computed in full to measure full recomputation (see :meth:`probabilities`).
    CALIBRATION = 4
    #: A calibration faster than this is overhead-bound: a whole batch is measured instead.
    CHEAP_SECONDS = 0.05

    def __init__(self, inspector, model_input, key, filler, size, target, batch_size, mode, plan):
        self.insp, self.model_input, self.key, self.filler = inspector, model_input, key, filler
        self.size, self.target, self.batch_size, self.mode, self.plan = size, target, batch_size, mode, plan
        self.positions = 0
        self.timed_positions = 0  # positions whose time was measured (the call compiled nothing)
        self.seconds = 0.0
        self.full_positions = 0
        self.full_seconds = 0.0
        self._base = None

    @property
    def base(self):
        """The unoccluded image's probability of the target: from the first full batch, else one pass."""
        if self._base is None:
            self._base = float(self.insp._batch_scores(self.model_input[None], self.target, kind="probability")[0])
        return self._base

    def probabilities(self, positions, job):
        """``(len(positions),)`` probabilities of the target class."""
        out = []
        stats = self.insp.occlusion_stats
        # Full recomputation is measured once per inspector, on a few positions computed in full. A
        # call that traced is not timed (measure again); a few positions that ran in under
        # CHEAP_SECONDS are overhead-bound (a small model, where batching is most of full's
        # speed), so a whole batch is measured instead.
        for size in (self.CALIBRATION, self.CALIBRATION, self.batch_size):
            if self.mode == "full" or "sweep" in stats.full_seconds or not positions:
                break
            if self.full_positions >= self.batch_size or self.full_seconds >= self.CHEAP_SECONDS:
                break
            self.full_positions, self.full_seconds = 0, 0.0
            head = positions[:size]
            out.append(self._chunk(head, "full"))
            job.advance(len(head))
            positions = positions[len(head):]
        if self.mode != "full" and positions:
            traces, start = sum(self.insp.trace_counts.values()), time.perf_counter()
            clean = self.insp._clean_maps(self.model_input, self.key)
            if sum(self.insp.trace_counts.values()) == traces:
                self.seconds += time.perf_counter() - start
        else:
            clean = None
        for begin in range(0, len(positions), self.batch_size):
            chunk = positions[begin : begin + self.batch_size]
            out.append(self._chunk(chunk, self.mode, clean))
            job.advance(len(chunk))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def _chunk(self, chunk, mode, clean=None):
        traces = sum(self.insp.trace_counts.values())
        start = time.perf_counter()
        (h, w), filler = self.size, self.filler
        if mode == "full":
            # The first full batch also carries the unoccluded image: the base needs no pass of its own.
            extra = int(self._base is None)
            batch = np.repeat(self.model_input[None], len(chunk) + extra, axis=0)
            for i, (y, x) in enumerate(chunk, start=extra):
                batch[i, y : y + h, x : x + w] = filler[y : y + h, x : x + w]
            probs = self.insp._batch_scores(batch, self.target, kind="probability")
            if extra:
                self._base, probs = float(probs[0]), probs[1:]
        else:
            patches = np.stack([filler[y : y + h, x : x + w] for y, x in chunk])
            ys, xs = zip(*chunk)
            probs = self.insp._incremental.probabilities(self.plan, clean, patches, ys, xs)[:, self.target.indices[0]]
        seconds = time.perf_counter() - start
        self.positions += len(chunk)
        if sum(self.insp.trace_counts.values()) != traces:
            return probs  # this call traced (compiled) a function: its time measures that, not the mode
        self.timed_positions += len(chunk)
        self.seconds += seconds
        if mode == "full":
            self.full_positions += len(chunk)
            self.full_seconds += seconds
        return probs

    def run_record(self, method, mode, reason):
        stats = self.insp.occlusion_stats
        if self.full_positions:
            stats.full_seconds["sweep"] = self.full_seconds / self.full_positions
        rate = stats.full_seconds.get("sweep")
        full = None if rate is None or not self.timed_positions else rate * self.timed_positions
        return _run("sweep", method, mode, self.positions, self.seconds, full, self.plan, reason)


def _run(kind, method, mode, positions, seconds, full_seconds, plan, reason):
    return OcclusionRun(
        kind=kind, method=method, mode=mode, positions=positions, seconds=seconds, full_seconds=full_seconds,
        speedup=None if full_seconds is None or seconds <= 0 else full_seconds / seconds,
        flops_fraction=1.0 if plan is None or mode == "full" else plan.flops_fraction,
        switch_layer=None if plan is None else plan.switch_path, reason=reason,
    )


def _remember_speedup(plan, run):
    """Keep an incremental run's measured speed-up on its plan: ``auto`` stops using a plan that lost."""
    if plan is not None and run.mode != "full" and run.speedup is not None:
        plan.speedups[run.kind] = run.speedup


def _check_method(method):
    if method not in METHODS:
        raise InvalidParameterError(f"unknown occlusion method {method!r}; use one of {', '.join(METHODS)}")
    return method


def _check_approximation(tau, drill_down):
    tau = 1.0 if tau is None else float(tau)
    if not 0.0 < tau <= 1.0:
        raise InvalidParameterError(f"tau must be in (0, 1], got {tau}; 1 means exact")
    drill_down = DrillDown() if drill_down is None else drill_down
    if not isinstance(drill_down, DrillDown) or drill_down.coarse < 1 or not 0.0 <= drill_down.keep <= 1.0:
        raise InvalidParameterError(
            f"drill_down must be a DrillDown(coarse >= 1, 0 <= keep <= 1), got {drill_down!r}"
        )
    return tau, drill_down


def _bucket(length, limit):
    """``length`` rounded up to a multiple of 8 (at most ``limit``): few plans for a moving occluder."""
    return int(min(limit, -(-int(length) // 8) * 8))


def _fill_key(fill):
    """``fill`` as a hashable cache-key part: the name, or the number as float."""
    if isinstance(fill, str):
        return fill
    if isinstance(fill, numbers.Real):
        return float(fill)
    raise InvalidParameterError(f"unknown fill {fill!r}; use one of {', '.join(FILLS)} or a number")
