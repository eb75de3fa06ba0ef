"""A small thread-safe LRU cache for computed numpy results, keyed per weights version.

Weights versions
----------------
Results depend on the model's weights, which change during training. Every
entry is stored under ``(version, key)``, where ``version`` names the weights
the result was computed from (:attr:`ResultCache.version`, set by
:meth:`Inspector.weights_changed`), so a result from old weights is never
returned for new ones. A computation that started before the version changed
is stored under the version it started with, never the new one: ``put`` uses
the version that this thread's ``get`` of the same key saw (the pattern
``get`` -> miss -> compute -> ``put`` everywhere in the backend), and
:meth:`ResultCache.get_or_compute` holds its version throughout. Entries of
other versions are not dropped: going back to earlier weights (replaying
training) finds them again, and the LRU bound ages them out.
"""

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
        #: Names the weights that new results are computed from (any hashable).
        self.version = 0
        # key -> version seen by this thread's last missing ``get`` (for the ``put`` that follows).
        self._pending = threading.local()

    def __len__(self):
        return len(self._items)

    def get(self, key, version=None):
        """Return the value cached for ``key`` under the current (or the given) weights version, or ``None``."""
        if version is None:
            version = self.version
        with self._lock:
            stored = (version, key)
            if stored in self._items:
                self._items.move_to_end(stored)
                self.hits += 1
                return self._items[stored]
            self.misses += 1
        pending = self._pending_versions()
        if len(pending) > 256:  # misses never followed by a put (a computation that raised)
            pending.clear()
        pending[key] = version
        return None

    def _pending_versions(self):
        pending = getattr(self._pending, "versions", None)
        if pending is None:
            pending = self._pending.versions = {}
        return pending

    def put(self, key, value, version=None):
        """Store ``value`` under ``key``, evicting the oldest entries as needed.

        ``version`` defaults to the weights version that this thread's last
        missing :meth:`get` of ``key`` saw (else the current one), so a
        result whose computation outlived a weights change is filed under the
        weights it came from.
        """
        pending = self._pending_versions().pop(key, None)
        if version is None:
            version = self.version if pending is None else pending
        if self.max_entries <= 0:
            return value
        size = _nbytes(value)
        if size > self.max_bytes:
            return value
        key = (version, key)
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
        version = self.version
        value = self.get(key, version)
        if value is None:
            value = self.put(key, compute(), version=version)
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
