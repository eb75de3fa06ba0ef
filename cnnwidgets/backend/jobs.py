"""Progress reporting and cancellation for long computations.

Long jobs (activation maximization, occlusion maps, SmoothGrad, Integrated
Gradients) accept ``progress`` and ``cancel`` arguments:

* ``progress`` is a callable ``progress(done, total)``, called after each chunk.
* ``cancel`` is polled between chunks: a :class:`threading.Event`, any object
  with an ``is_set()`` method, or a callable returning ``True`` to stop.
"""

from ..errors import JobCancelled

__all__ = ["JobControl"]


class JobControl:
    """Report progress of, and poll cancellation for, one long computation.

    Parameters
    ----------
    total : int
        Number of steps the job will take.
    progress : callable or None
        Called as ``progress(done, total)`` after each step.
    cancel : threading.Event, callable or None
        Polled by :meth:`check`; when set, :class:`~cnnwidgets.JobCancelled`
        is raised.
    """

    def __init__(self, total, progress=None, cancel=None):
        self.total = int(total)
        self.done = 0
        self._progress = progress
        self._cancel = cancel

    def cancelled(self):
        """Return True when the cancel token is set."""
        token = self._cancel
        if token is None:
            return False
        if hasattr(token, "is_set"):
            return bool(token.is_set())
        return bool(token())

    def check(self):
        """Raise :class:`~cnnwidgets.JobCancelled` if the job was cancelled."""
        if self.cancelled():
            raise JobCancelled(
                f"cancelled after {self.done} of {self.total} steps"
            )

    def advance(self, steps=1):
        """Record ``steps`` more steps done, report progress, then poll cancel."""
        self.done = min(self.total, self.done + int(steps))
        if self._progress is not None:
            self._progress(self.done, self.total)
        self.check()
