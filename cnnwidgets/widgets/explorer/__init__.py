"""Explorer: the four widgets on one model, linked, in tabs under a shared image picker.

- :mod:`.widget`: :class:`Explorer`. It composes the other widgets through
  their public classes in :mod:`cnnwidgets.widgets` (never their modules).
"""

from .widget import TAB_TITLES, TABS, Explorer

__all__ = ["Explorer", "TABS", "TAB_TITLES"]
