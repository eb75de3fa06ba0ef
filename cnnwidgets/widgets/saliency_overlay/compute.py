"""SaliencyOverlay's compute step: settings -> one request -> maps, on the worker.

:meth:`SaliencyCompute._request` reads the traits into a frozen
:class:`~.state.MapsRequest` (several trait changes can be collected into one
request with :meth:`SaliencyCompute._one_request`). Every map goes through
:meth:`Inspector.explain <cnnwidgets.Inspector.explain>` with the method's
name, its parameters, the target (a class index on a classifier, else the
:mod:`cnnwidgets.targets` object of the output, class and region or value
chosen) and, for the catalogue's long methods, ``progress`` and ``cancel``;
the inspector caches across requests, and the result is drawn only if it is
still the latest (the runner's guard).
"""

import contextlib

from ...backend.methods import get_method
from ...errors import JobCancelled
from .methods import default_layer_method
from .state import MapSpec, MapsRequest, MapsResult

__all__ = ["SaliencyCompute", "shape_text"]


class SaliencyCompute:
    """Mixin of :class:`~cnnwidgets.SaliencyOverlay`: requests and their computation."""

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
        if not self._ready or self.image is None or self.explained_target is None:
            return
        request = self._make_request()
        self._submit(lambda cancel: self._compute(request, cancel), self._show_result)

    def _make_request(self):
        main = self._map_spec(self.method, self.target, self.layer, title="main", target=self.explained_target)
        return MapsRequest(image=self.image, image_rgba=self._image_rgba, main=main, compare=self._compare_specs())

    def _compare_specs(self):
        if not self.compare:
            return ()
        target = self.explained_target
        if self.compare_by == "method":
            return tuple(self._map_spec(m, self.target, self.layer, target=target) for m in self.compare_methods)
        if self.compare_by == "class":
            return tuple(self._map_spec(self.method, c, self.layer, title="class", target=self._target_for(c))
                         for c in self.compare_classes)
        if not self._cam_layers:
            return ()
        method = self._layer_method()
        return tuple(self._map_spec(method, self.target, layer, title="layer", target=target)
                     for layer in self.compare_layers)

    def _layer_method(self):
        """The method Compare-by-layer explains: the selected one if it explains a layer, else the default."""
        return self.method if get_method(self.method).needs_layer else default_layer_method()

    def _map_spec(self, method, class_index, layer, title="method", target=None):
        """One map's request for ``target`` (class ``class_index`` of the selected output); ``title``: "main"
        (label and layer, and what is explained on a non-classifier), "method" (label; the layer is in the
        Compare note), "class" (class, its score and label) or "layer" (label, layer and its shape)."""
        spec = get_method(method)
        classifier = self.inspector.is_classifier
        if classifier:
            explains = f"class {self._class_names()[class_index]!r}"
        elif class_index == self.target:
            explains = self.describe_target()
        else:
            explains = self._class_label(class_index)
        if title == "class":
            text = f"{self._class_label(class_index)} \u00b7 {spec.label}"
        elif title == "layer":
            text = f"{spec.label} \u00b7 {layer} ({shape_text(self.inspector.layer(layer).output_shape[:2])})"
        elif title == "main":
            text = spec.label + (f" \u00b7 {layer}" if spec.needs_layer else "")
            text += "" if classifier else f" \u00b7 {explains}"
        else:
            text = spec.label
        return MapSpec(text, spec.name, int(class_index), layer if spec.needs_layer else "",
                       dict(self._params_of(spec.name)), spec.long, target=target, explains=explains)

    def _compute(self, request, cancel):
        """Every map of ``request`` (the selected one first), reporting progress when there are several."""
        specs = (request.main, *request.compare)
        maps = []
        for position, spec in enumerate(specs):
            if cancel.is_set():
                raise JobCancelled("stopped")
            maps.append(self._explain(request.image, spec, position, len(specs), cancel))
            if len(specs) > 1:
                self._report_progress(position + 1, len(specs))
        return MapsResult(request, maps[0], tuple(zip(request.compare, maps[1:])))

    def _explain(self, image, spec, position, count, cancel):
        """One map at input resolution, as :meth:`Inspector.explain` computes it."""
        progress = None
        if spec.long:
            def progress(done, total):
                self._report_progress(position + (done / total if total else 1.0), count)

        return self.inspector.explain(image, spec.method, spec.target, layer=spec.layer or None,
                                      progress=progress, cancel=cancel if spec.long else None, **spec.params)


def shape_text(shape):
    """``(7, 7, 32)`` -> ``"7x7x32"``."""
    return "x".join("?" if d is None else str(d) for d in shape)
