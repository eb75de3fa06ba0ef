"""Per-epoch weight snapshots within a memory budget, thinned evenly (numpy only)."""

import numpy as np

from ...errors import InvalidParameterError

__all__ = ["WeightSnapshots", "parse_bytes"]

_UNITS = {"b": 1, "kb": 2**10, "k": 2**10, "mb": 2**20, "m": 2**20, "gb": 2**30, "g": 2**30}


def parse_bytes(value):
    """A memory size given as bytes (int) or text such as ``"64 MB"``, in bytes."""
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "").replace("ib", "b")
        number = text.rstrip("kmgb")
        unit = text[len(number):] or "b"
        try:
            size = float(number) * _UNITS[unit]
        except (ValueError, KeyError):
            raise InvalidParameterError(
                f"cannot read the memory size {value!r}; give bytes (an int) or e.g. '64 MB' or '1 GB'"
            ) from None
    else:
        size = value
    if not isinstance(size, (int, float, np.integer, np.floating)) or size < 0:
        raise InvalidParameterError(f"a memory budget must be 0 or more bytes, got {value!r}")
    return int(size)


class WeightSnapshots:
    """Copies of a model's weights at some epochs, at most ``budget`` bytes in all.

    When a new snapshot does not fit, the kept ones are thinned evenly: the
    first (the weights before training) and the newest always stay, and the
    snapshot whose removal leaves the smallest gap between its neighbours
    goes first, so the kept epochs stay spread over the run.

    Parameters
    ----------
    budget : int
        Most bytes of weights kept.

    Attributes
    ----------
    dropped : list of int
        Epochs whose snapshot was evicted.
    """

    def __init__(self, budget):
        self.budget = int(budget)
        self._weights = {}
        self.dropped = []

    @property
    def epochs(self):
        """Epochs kept, in order."""
        return sorted(self._weights)

    @property
    def nbytes(self):
        """Bytes held by all snapshots."""
        return sum(_size(w) for w in self._weights.values())

    @property
    def bytes_per_epoch(self):
        """Bytes of one snapshot (0 before the first)."""
        return _size(next(iter(self._weights.values()))) if self._weights else 0

    def __contains__(self, epoch):
        return epoch in self._weights

    def __len__(self):
        return len(self._weights)

    def get(self, epoch):
        """The weights kept for ``epoch`` (a list of arrays per model), or raise KeyError."""
        return self._weights[epoch]

    def add(self, epoch, weights):
        """Keep ``weights`` (a list of per-model lists of arrays, copied) for ``epoch``.

        Returns False if not even this one snapshot fits in the budget.
        """
        weights = [[np.array(w, copy=True) for w in model_weights] for model_weights in weights]
        size = _size(weights)
        if size > self.budget:
            return False
        self._weights.pop(epoch, None)
        self._weights[epoch] = weights
        while self.nbytes > self.budget and len(self._weights) > 2:
            self._evict_one(newest=epoch)
        return True

    def replace(self, epoch, weights):
        """Overwrite the snapshot of ``epoch`` (e.g. the weights ``fit`` returned)."""
        self._weights[epoch] = [[np.array(w, copy=True) for w in model_weights] for model_weights in weights]

    def clear(self):
        """Forget every snapshot."""
        self._weights.clear()
        self.dropped = []

    def _evict_one(self, newest):
        kept = self.epochs
        inner = [e for e in kept[1:-1] if e != newest]
        if not inner:
            return
        # the one whose neighbours are closest together: removing it hurts the spacing least
        gaps = {e: kept[kept.index(e) + 1] - kept[kept.index(e) - 1] for e in inner}
        victim = min(inner, key=lambda e: (gaps[e], e))
        del self._weights[victim]
        self.dropped.append(victim)

    def describe(self):
        """One line: what is kept, and its memory."""
        if not self._weights:
            return "no snapshots kept"
        kept = self.epochs
        text = (f"kept {len(kept)} snapshot{'s' if len(kept) != 1 else ''} (epochs {_ranges(kept)}), "
                f"{_mb(self.bytes_per_epoch)} each, {_mb(self.nbytes)} of {_mb(self.budget)}")
        if self.dropped:
            text += f"; thinned evenly, {len(self.dropped)} dropped"
        return text


def _size(weights):
    return sum(int(np.asarray(w).nbytes) for model_weights in weights for w in model_weights)


def _mb(size):
    return f"{size / 2**20:.2f} MB" if size >= 2**17 else f"{size / 2**10:.0f} KB"


def _ranges(epochs):
    if len(epochs) <= 8:
        return ", ".join(str(e) for e in epochs)
    return ", ".join(str(e) for e in epochs[:4]) + ", …, " + ", ".join(str(e) for e in epochs[-3:])
