"""OcclusionPainter: cover part of the image and watch the class scores answer.

- :mod:`.widget`: :class:`OcclusionPainter` (traits, mouse input, live scores, sweep).
- :mod:`.canvas`: the layered canvas (image, map, occluder).
- :mod:`.geometry`: pointer geometry (numpy only).
"""

from .widget import COLORMAPS, MODES, OcclusionPainter

__all__ = ["OcclusionPainter", "MODES", "COLORMAPS"]
