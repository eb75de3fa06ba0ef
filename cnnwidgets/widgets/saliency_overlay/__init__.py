"""SaliencyOverlay: where the network looked, by gradient and by Grad-CAM.

- :mod:`.widget`: :class:`SaliencyOverlay` (constructor, public API, observers).
- :mod:`.state`: its traits and their validation; the request and result records.
- :mod:`.compute`: settings -> request -> maps, on the worker.
- :mod:`.view`: controls, panels, drawing, hover readout, snapshot.
- :mod:`.controls`: method names and the class picker.
- :mod:`.panels`: a canvas with a title.
"""

from .widget import SaliencyOverlay

__all__ = ["SaliencyOverlay"]
