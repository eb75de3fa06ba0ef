"""SaliencyOverlay: where the network looked, by any method of the catalogue.

- :mod:`.widget`: :class:`SaliencyOverlay` (constructor, public API, observers).
- :mod:`.state`: its traits and their validation; the request and result records.
- :mod:`.compute`: settings -> request -> maps through ``Inspector.explain``, on the worker.
- :mod:`.layout`: the controls and panels, and which of them apply to the selected method.
- :mod:`.view`: drawing a result, the message, hover readout, snapshot.
- :mod:`.methods`: what the widget reads from the catalogue (labels, families, defaults).
- :mod:`.params`: parameter controls built from a method's ParamSpecs.
- :mod:`.controls`: colormap choices and the class picker.
- :mod:`.panels`: a canvas with a title.
"""

from .widget import SaliencyOverlay

__all__ = ["SaliencyOverlay"]
