"""OcclusionPainter's compute step: live scores for the occluder, and the sweep.

Both run on workers where the latest request wins; a result is drawn only if
it is still the latest (the runner's guard, ``common.runner``). A classifier
gets its class probabilities (one pass, incremental where that pays); any
other model gets the explained target's score
(:meth:`Inspector.occlude` with ``target=``) and the selected output under
the occluder (:meth:`Inspector.predict_output`), two passes.
"""

import html
from dataclasses import dataclass

import numpy as np

from ...errors import InvalidTargetError
from ...targets import target_key

__all__ = ["OcclusionCompute", "TargetScores"]


@dataclass
class TargetScores:
    """What a non-classifier's live computation returns (the uncovered image's and the occluded one's)."""

    target: object  # the cnnwidgets.targets object explained
    output: int  # index of the selected output
    kind: str  # its kind: "classes", "values" or "map"
    index: int  # the class, channel or value explained
    base_values: np.ndarray  # the output for the uncovered image (predict_output)
    values: np.ndarray  # ... and under the occluder
    base_score: float  # the target's score, uncovered (Inspector.target_score)
    score: float  # ... and under the occluder (Inspector.occlude(target=...))
    image: np.ndarray = None  # the image as the model saw it (display range, occluder applied)
    region: np.ndarray = None  # map outputs: the region explained, bool (H', W')
    base_mask: np.ndarray = None  # map outputs: the predicted mask, uncovered
    mask: np.ndarray = None  # ... and under the occluder
    run: object = None  # the OcclusionRun of the move (None: no occluder)


class OcclusionCompute:
    """Mixin of :class:`~cnnwidgets.OcclusionPainter`: the live-score and sweep jobs."""

    # ============================================================ live scores
    def _request_scores(self):
        """Submit the computation for the current occluder and target; the latest request wins."""
        if not self.inspector.is_classifier:
            self._request_target_scores()
            return
        insp, image, fill, spec = self.inspector, self.image, self.fill, self.class_index
        box, mask = self._current_occluder()
        version = insp.weights_version

        def compute(cancel):
            cached_image, cached_version, base = self._uncovered
            # (images are immutable: identity is enough, no re-hashing; new weights give new scores)
            if cached_image is not image or cached_version != version:
                base = insp.predict(image)
                self._uncovered = (image, version, base)
            run = None
            if box is None and mask is None:
                probs = base
            else:
                probs = insp.occlude(image, box=box, fill=fill, mask=mask)
                run = insp.occlusion_stats.move
            predicted = int(np.argmax(base))
            return base, probs, (spec if spec is not None else predicted), predicted, run

        self._submit(compute, self._show_scores)

    def _request_target_scores(self):
        """Non-classifiers: the explained target's score and the selected output, uncovered and occluded."""
        read = self._predicted_for
        if read is None or read[0] is not self.image or read[1] != self.output:
            return  # the prediction is read next (a new image or output), or could not be read (the error is shown)
        target = self.explained_target
        insp, image, fill, output, kind = self.inspector, self.image, self.fill, self.output_index, self.output_kind
        index, region = self.target, self.region_mask
        box, mask = self._current_occluder()
        version = insp.weights_version
        key = (version, output, target_key(target))

        def compute(cancel):
            cached_image, cached_key, base = self._uncovered_target
            if cached_image is not image or cached_key != key:
                base = (insp.predict_output(image, output), insp.target_score(image, target),
                        insp.predicted_mask(image, output) if kind == "map" else None)
                self._uncovered_target = (image, key, base)
            base_values, base_score, base_mask = base
            result = TargetScores(target, output, kind, index, base_values, base_values, base_score, base_score,
                                  image, region, base_mask, base_mask)
            if box is None and mask is None:
                return result
            result.score = insp.occlude(image, box=box, fill=fill, mask=mask, target=target)
            result.run = insp.occlusion_stats.move
            result.image = occluded = insp.occluded_image(image, box=box, mask=mask, fill=fill)
            result.values = insp.predict_output(occluded, output)
            if kind == "map":
                result.mask = insp.predicted_mask(occluded, output)
            return result

        self._submit(compute, self._show_target_scores)

    # ================================================================== sweep
    def _start_sweep(self):
        """Submit the occlusion map job at the current settings; returns a dict its outcome lands in."""
        insp, image, fill, spec = self.inspector, self.image, self.fill, self.class_index
        patch, stride = self.patch, self.stride
        outcome = {}
        self.clear_message()
        explained, phrase = (None, None) if insp.is_classifier else (self.explained_target, self._score_phrase())

        def compute(cancel):
            if insp.is_classifier:
                target = insp.class_index(spec, image=image)  # None: the predicted class
                what = (f"drop of p({insp.class_name(target)})", "lowers the score")
            elif explained is None:
                raise InvalidTargetError("nothing to explain yet: the selected output could not be read for "
                                         "this image (see the message above); choose another image or output")
            else:
                target, what = explained, phrase
            before = insp.occlusion_stats.sweep
            values = insp.occlusion_map(image, class_index=target, patch=patch, stride=stride, fill=fill,
                                        progress=self._report_progress, cancel=cancel)
            run = insp.occlusion_stats.sweep
            return values, dict(target=target, what=what, patch=patch, stride=stride, fill=fill,
                                run=None if run is before else run)

        def on_result(result):
            if image is not self.image:
                return  # the image changed meanwhile: this map belongs to the old one
            values, info = result
            outcome["result"] = values
            self._sweep_info = info
            self._show_run("sweep", info["run"])
            self.set_trait("heatmap", values)
            self._draw_heatmap()

        def on_error(exc):
            outcome["error"] = exc
            self.show_error(exc)

        self._sweep_runner.submit(compute, on_result, on_error)
        return outcome

    # ========================================================= compute status
    def _show_run(self, kind, run):
        """Say how the last sweep or move ran (``run``: an OcclusionRun; None for a cached sweep)."""
        if run is None and kind == "move":
            return
        self._compute_runs[kind] = "cached" if run is None else run.summary()
        text = "; ".join(f"{name.capitalize()}: {self._compute_runs[name]}"
                         for name in ("sweep", "move") if name in self._compute_runs)
        self.set_trait("compute_status", text)
        self.compute_label.value = f"<span style='font-size:12px;opacity:0.75'>{html.escape(text)}</span>"

