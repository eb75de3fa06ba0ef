"""A small thread-safe LRU cache for computed numpy results."""

import threading
from collections import OrderedDict

__all__ = ["ResultCache"]


class ResultCache:
    """Least-recently-used cache bounded by entry count and total bytes.

    Parameters
    ----------
    max_entries : int
        Most entries kept. ``0`` disables caching.
    max_bytes : int
        Most bytes of numpy data kept (``nbytes`` of the stored arrays).
    """

    def __init__(self, max_entries=256, max_bytes=512 * 2**20):
        self.max_entries = int(max_entries)
        self.max_bytes = int(max_bytes)
        self._items = OrderedDict()
        self._sizes = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self):
        return len(self._items)

    def get(self, key):
        """Return the cached value for ``key`` or ``None``."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
            return None

    def put(self, key, value):
        """Store ``value`` under ``key``, evicting the oldest entries as needed."""
        if self.max_entries <= 0:
            return value
        size = _nbytes(value)
        if size > self.max_bytes:
            return value
        with self._lock:
            if key in self._items:
                self._bytes -= self._sizes.pop(key)
                del self._items[key]
            self._items[key] = value
            self._sizes[key] = size
            self._bytes += size
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                old, _ = self._items.popitem(last=False)
                self._bytes -= self._sizes.pop(old)
        return value

    def get_or_compute(self, key, compute):
        """Return the cached value for ``key``, computing and storing it if absent."""
        value = self.get(key)
        if value is None:
            value = self.put(key, compute())
        return value

    def clear(self):
        """Drop every entry."""
        with self._lock:
            self._items.clear()
            self._sizes.clear()
            self._bytes = 0


def _nbytes(value):
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 64
