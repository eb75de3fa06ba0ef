"""LayerBrowser: the model's structure and every layer's feature maps.

- :mod:`.widget`: :class:`LayerBrowser` (traits, observers, layout).
- :mod:`.compute`: one layer's feature maps as a frame to draw (worker thread, numpy).
- :mod:`.maps`: the feature-map view (tile grid, enlarged tile, controls).
- :mod:`.architecture`: the clickable architecture diagram.
- :mod:`.inputs`: upload conversion and the drawing pad.
"""

from .widget import LayerBrowser

__all__ = ["LayerBrowser"]
