"""OcclusionPainter's compute step: live scores for the occluder, and the sweep.

Both run on workers where the latest request wins; a result is drawn only if
it is still the latest (the runner's guard, ``common.runner``).
"""

import html

import numpy as np

__all__ = ["OcclusionCompute"]


class OcclusionCompute:
    """Mixin of :class:`~cnnwidgets.OcclusionPainter`: the live-score and sweep jobs."""

    # ============================================================ live scores
    def _request_scores(self):
        """Submit one forward pass for the current occluder; the latest request wins."""
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

    # ================================================================== sweep
    def _start_sweep(self):
        """Submit the occlusion map job at the current settings; returns a dict its outcome lands in."""
        insp, image, fill, spec = self.inspector, self.image, self.fill, self.class_index
        patch, stride = self.patch, self.stride
        outcome = {}
        self.clear_message()

        def compute(cancel):
            target = insp.class_index(spec, image=image)  # None: the predicted class
            before = insp.occlusion_stats.sweep
            values = insp.occlusion_map(image, class_index=target, patch=patch, stride=stride, fill=fill,
                                        progress=self._report_progress, cancel=cancel)
            run = insp.occlusion_stats.sweep
            return values, dict(target=target, patch=patch, stride=stride, fill=fill,
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

