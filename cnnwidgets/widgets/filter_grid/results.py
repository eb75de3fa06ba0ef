"""Maximization results a :class:`~cnnwidgets.FilterGrid` keeps, so that paging back is instant."""

import collections
import threading

__all__ = ["MaximizationCache"]


class MaximizationCache:
    """A small thread-safe LRU map from a page's settings to its :class:`~cnnwidgets.MaximizationResult`.

    The background worker writes results; the kernel thread reads them when
    the user pages back.

    Parameters
    ----------
    max_entries : int
        Results kept; the least recently used one goes first.

    Notes
    -----
    Keys are ``(layer_path, channels, steps, regularization)``.
    """

    def __init__(self, max_entries=32):
        self.max_entries = max(1, int(max_entries))
        self._items = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self):
        with self._lock:
            return len(self._items)

    def get(self, key):
        """The result stored under ``key`` (now the most recently used), or None."""
        with self._lock:
            result = self._items.get(key)
            if result is not None:
                self._items.move_to_end(key)
            return result

    def put(self, key, result):
        """Store ``result`` under ``key``, dropping the least recently used beyond ``max_entries``."""
        with self._lock:
            self._items[key] = result
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def values(self, layer=None):
        """Stored results, newest first; only those of ``layer`` (a path) if given."""
        with self._lock:
            items = list(self._items.items())
        return [result for key, result in reversed(items) if layer is None or key[0] == layer]

    def clear(self):
        """Forget everything."""
        with self._lock:
            self._items.clear()
