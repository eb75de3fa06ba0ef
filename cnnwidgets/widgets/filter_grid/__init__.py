"""FilterGrid: a layer's learned filters, or images synthesized to excite them.

- :mod:`.widget`: :class:`FilterGrid` (traits, observers, drawing).
- :mod:`.controls`: its controls and canvases.
- :mod:`.layers`: which layers have filters, and their kernels (numpy).
- :mod:`.detail`: the enlarged filter with its numbers.
- :mod:`.results`: the cache of synthesized images.
"""

from .widget import FilterGrid

__all__ = ["FilterGrid"]
