"""SaliencyOverlay's compute step: settings -> one request -> maps, on the worker.

:meth:`SaliencyCompute._request` reads the traits into a frozen
:class:`~.state.MapsRequest` (several trait changes can be collected into one
request with :meth:`SaliencyCompute._one_request`); the worker computes every
map the request needs once (the inspector caches across requests) and the
result is drawn only if it is still the latest (the runner's guard).
"""

import contextlib

import numpy as np

from ...errors import JobCancelled
from .controls import CAM_METHODS, METHOD_LABELS
from .state import MapSpec, MapsRequest, MapsResult

__all__ = ["SaliencyCompute", "shape_text"]


class SaliencyCompute:
    """Mixin of :class:`~cnnwidgets.SaliencyOverlay`: requests and their computation."""

    # --------------------------------------------------------------- compute
    @contextlib.contextmanager
    def _one_request(self):
        """Collect the requests of several trait changes into one, sent at the end."""
        self._hold_requests += 1
        self._requested = False
        try:
            yield
        finally:
            self._hold_requests -= 1
        if self._requested and not self._hold_requests:
            self._request()

    def _request(self):
        """Ask the worker for the maps of the current settings (the latest request wins)."""
        if self._hold_requests:
            self._requested = True
            return
        if not self._ready or self.image is None:
            return
        request = self._make_request()
        self._submit(lambda cancel: self._compute(request, cancel), self._show_result)

    def _make_request(self):
        main = self._spec(self.method, self.target, self.layer)
        compare = ()
        if self.compare:
            if self.compare_by == "method":
                compare = tuple(self._spec(m, self.target, self.layer) for m in self.compare_methods)
            elif self.compare_by == "class":
                compare = tuple(self._spec(self.method, c, self.layer, title="class") for c in self.compare_classes)
            elif self._cam_layers:
                method = self.method if self.method in CAM_METHODS else "gradcam"
                compare = tuple(self._spec(method, self.target, layer, title="layer")
                                for layer in self.compare_layers)
        baseline = self._custom_baseline if self.baseline == "custom" else self.baseline
        return MapsRequest(
            image=self.image, image_rgba=self._image_rgba, main=main, signed=self.signed, samples=self.samples,
            noise=self.noise, steps=self.steps, baseline=baseline, compare=compare,
        )

    def _spec(self, method, class_index, layer, title="method"):
        names = self._class_names()
        if title == "class":
            probability = self._probabilities[class_index] if self._probabilities is not None else np.nan
            text = f"{names[class_index]} ({100 * probability:.1f}%) \u00b7 {METHOD_LABELS[method]}"
        elif title == "layer":
            record = self.inspector.layer(layer)
            shape = shape_text(record.output_shape[:2])
            text = f"{METHOD_LABELS[method]} \u00b7 {layer} ({shape})"
        else:
            text = METHOD_LABELS[method] + (f" \u00b7 {layer}" if method in CAM_METHODS else "")
        return MapSpec(text, method, int(class_index), layer if method in CAM_METHODS else "")

    def _compute(self, request, cancel):
        specs = (request.main, *request.compare)
        values = {}
        for position, spec in enumerate(specs):
            if cancel.is_set():
                raise JobCancelled("stopped")
            key = (spec.method, spec.class_index, spec.layer)
            if key not in values:
                values[key] = self._attribution(request, spec, position, len(specs), cancel)
        compared = tuple((spec, values[(spec.method, spec.class_index, spec.layer)]) for spec in request.compare)
        main = values[(request.main.method, request.main.class_index, request.main.layer)]
        return MapsResult(request, main, compared)

    def _attribution(self, request, spec, position, count, cancel):
        """One map at input resolution, as the inspector computes it."""
        if spec.method in CAM_METHODS:
            return self.inspector.gradcam(request.image, spec.class_index, layer=spec.layer,
                                          plus_plus=spec.method == "gradcam++")

        def progress(done, total):
            self._report_progress(position + (done / total if total else 1.0), count)

        return self.inspector.saliency(
            request.image, spec.class_index, method=spec.method, signed=request.signed, samples=request.samples,
            noise=request.noise, steps=request.steps, baseline=request.baseline,
            progress=progress if count > 1 or spec.method in ("smoothgrad", "integrated_gradients") else None,
            cancel=cancel,
        )



def shape_text(shape):
    """``(7, 7, 32)`` -> ``"7x7x32"``."""
    return "x".join("?" if d is None else str(d) for d in shape)
