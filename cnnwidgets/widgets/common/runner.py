"""Run widget computations off the kernel's main thread, latest request wins.

Mouse moves and slider drags arrive faster than a large model answers. A
:class:`LatestRequestRunner` keeps at most one job running and one waiting:
submitting a new job replaces the waiting one (it is never run) and sets the
running job's cancel token, so a long job that polls it stops early. The
kernel's main thread only enqueues, so it stays free for other cells and for
the next event, and the final view always matches the final request.

The stale-result guard
----------------------
Every widget draws its results through a runner, and the runner is the one
place that decides whether a result may still be drawn: ``on_result`` (and
``on_error``) runs only if, when it starts, no newer request has been
submitted and the job was not cancelled. The check and the call happen under
the runner's delivery lock, and :meth:`LatestRequestRunner.cancel` takes that
lock after cancelling, so once ``cancel()`` returns nothing it cancelled is
drawn (a message shown after it, e.g. "Stopped", stays). A request submitted
while an older result is being drawn does not wait: the older result was the
latest when its drawing began, and the newer one replaces it when it is ready.

At interpreter exit
-------------------
Worker threads are daemons (a kernel never waits for a lingering worker),
but a daemon thread killed while inside TensorFlow's C++ code aborts the
process ("terminate called after throwing ..."; exit status 134). So a
runner whose worker has started registers an :mod:`atexit` hook (through a
weak reference) that cancels its jobs and waits for the worker to end
(:meth:`LatestRequestRunner.shutdown`, :func:`join_at_exit`).
"""

import atexit
import threading
import weakref

from ...errors import JobCancelled

__all__ = ["LatestRequestRunner", "WIDGET_WORKER_LINGER", "join_at_exit"]

#: Seconds a widget's worker waits for the next request before its thread
#: ends: starting a thread per event costs 1-2 ms on a busy machine.
WIDGET_WORKER_LINGER = 5.0

#: Seconds the exit hook waits for a cancelled job to return.
EXIT_TIMEOUT = 30.0


def join_at_exit(owner, stop, thread_of, timeout=EXIT_TIMEOUT):
    """At interpreter exit, call ``stop(owner)`` and join ``thread_of(owner)`` (``owner`` held weakly)."""
    reference = weakref.ref(owner)

    def hook():
        alive = reference()
        if alive is None:
            return
        stop(alive)
        thread = thread_of(alive)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    atexit.register(hook)


class _Job:
    __slots__ = ("compute", "on_result", "on_error", "cancel")

    def __init__(self, compute, on_result, on_error):
        self.compute = compute
        self.on_result = on_result
        self.on_error = on_error
        self.cancel = threading.Event()


class LatestRequestRunner:
    """One background worker thread that only ever runs the latest request.

    Parameters
    ----------
    on_busy : callable, optional
        Called with ``True`` when work starts and ``False`` when the queue
        drains (from the worker thread), e.g. to show a spinner.
    linger : float
        Seconds the worker thread waits for the next request once the queue
        has drained, before it ends. ``0`` (default): it ends at once, and
        the next request starts a new thread. Starting a thread blocks the
        submitting thread until the new one runs (a millisecond or more on a
        busy machine), so widgets fed by a stream of events, e.g. mouse
        moves, keep their worker alive between events.

    Notes
    -----
    ``compute(cancel)`` runs on the worker thread and receives the job's
    :class:`threading.Event`; pass it as ``cancel=`` to the inspector's long
    methods. ``on_result(value)`` and ``on_error(exc)`` run on the worker
    thread too, and only if no newer request arrived meanwhile, so a stale
    result is never drawn. :class:`~cnnwidgets.JobCancelled` raised by a
    superseded job is swallowed.
    """

    def __init__(self, on_busy=None, linger=0.0):
        self._on_busy = on_busy
        self._linger = float(linger)
        self._lock = threading.Lock()
        # Held while a result is checked and delivered (the stale-result guard).
        self._delivery_lock = threading.RLock()
        self._wakeup = threading.Condition(self._lock)
        self._pending = None
        self._running = None
        self._thread = None
        self._idle = threading.Event()
        self._idle.set()
        self._exit_hook = False
        #: Jobs whose ``compute`` ran (a statistic tests can check).
        self.runs = 0
        #: Jobs that were replaced before they started.
        self.dropped = 0

    @property
    def busy(self):
        """True while a job runs or waits."""
        return not self._idle.is_set()

    def submit(self, compute, on_result=None, on_error=None):
        """Queue ``compute``, replacing any job still waiting and cancelling the running one."""
        job = _Job(compute, on_result, on_error)
        with self._lock:
            if self._pending is not None:
                self.dropped += 1
            self._pending = job
            if self._running is not None:
                self._running.cancel.set()
            start = self._thread is None
            if start:
                self._idle.clear()
                self._thread = threading.Thread(target=self._work, name="cnnwidgets-worker", daemon=True)
            elif self._linger > 0:
                self._idle.clear()  # the thread may be lingering, idle: wake it
                self._wakeup.notify()
        if start:
            if not self._exit_hook:
                self._exit_hook = True
                join_at_exit(self, LatestRequestRunner.shutdown, lambda runner: runner._thread)
            if self._on_busy is not None:
                self._on_busy(True)
            self._thread.start()
        return job.cancel

    def shutdown(self):
        """Cancel every job and stop lingering, so that the worker thread ends (called at interpreter exit).

        The runner still works afterwards, without lingering.
        """
        with self._lock:
            self._linger = 0.0
            if self._pending is not None:
                self.dropped += 1
            self._pending = None
            if self._running is not None:
                self._running.cancel.set()
            self._wakeup.notify_all()

    def cancel(self):
        """Drop the waiting job and ask the running one to stop.

        Returns once a result being drawn has finished drawing; no cancelled
        result is drawn after that. Do not call it while holding the canvas
        lock (:func:`~cnnwidgets.widgets.common.canvas.drawing`): the result
        being drawn may need it.
        """
        with self._lock:
            if self._pending is not None:
                self.dropped += 1
            self._pending = None
            if self._running is not None:
                self._running.cancel.set()
        with self._delivery_lock:  # wait for a delivery under way (a no-op when called from one)
            pass

    def wait(self, timeout=None):
        """Block until no job runs or waits; return False on timeout."""
        return self._idle.wait(timeout)

    def _work(self):
        while True:
            with self._lock:
                job = self._pending
                self._pending = None
                self._running = job
                if job is None:
                    self._idle.set()
                    if self._linger <= 0 or not self._linger_for_next():
                        self._thread = None
                        break
            if job is not None:
                self._run(job)
        if self._on_busy is not None and self._idle.is_set() and self._linger <= 0:
            self._on_busy(False)  # (a lingering worker said so when the queue drained)

    def _linger_for_next(self):
        """With the lock held and the queue drained: wait up to ``linger`` s for a request.

        Returns True if one arrived (the worker goes on), False to end the thread.
        """
        if self._on_busy is not None:
            self._lock.release()  # never call back with the lock held
            try:
                self._on_busy(False)
            finally:
                self._lock.acquire()
        if self._pending is None:
            self._wakeup.wait(self._linger)
        if self._pending is None:
            self._idle.set()  # a request that woke us may have been cancelled since
            return False
        if self._on_busy is not None:
            self._lock.release()
            try:
                self._on_busy(True)
            finally:
                self._lock.acquire()
        return True

    def _is_current(self, job):
        with self._lock:
            return self._pending is None and not job.cancel.is_set()

    def _run(self, job):
        self.runs += 1
        try:
            value = job.compute(job.cancel)
        except JobCancelled:
            return
        except Exception as exc:  # shown in the widget, never lost in a thread
            self._deliver(job, job.on_error, exc)
            return
        self._deliver(job, job.on_result, value)

    def _deliver(self, job, callback, value):
        """The stale-result guard: call ``callback(value)`` only if ``job`` is still the latest request."""
        if callback is None:
            return
        with self._delivery_lock:
            if not self._is_current(job):
                return
            try:
                callback(value)
            except Exception as exc:
                if callback is not job.on_error and job.on_error is not None:
                    job.on_error(exc)
