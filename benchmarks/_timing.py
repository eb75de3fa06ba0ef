"""Small timing helpers shared by the benchmark scripts (numpy + stdlib only).

Everything here measures wall time with :func:time.perf_counter and reports
medians. Benchmarks compare an operation with a *floor* measured in the same
run, on the same machine, interleaved with it, and report the ratio: on a
shared, noisy machine absolute milliseconds drift by 2x between runs, but
the ratio of two things measured side by side stays put.
"""

import gc
import os
import platform
import statistics
import time
from dataclasses import dataclass, field

__all__ = ["Measurement", "interleaved", "time_once", "format_table", "machine_header"]


def time_once(fn, setup=None):
    """Seconds one call of ``fn()`` takes; ``setup()`` runs first, untimed."""
    if setup is not None:
        setup()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@dataclass
class Measurement:
    """Interleaved samples (seconds) of an operation and of its floor."""

    op: list = field(default_factory=list)
    floor: list = field(default_factory=list)

    @property
    def op_median(self):
        return statistics.median(self.op)

    @property
    def floor_median(self):
        return statistics.median(self.floor)

    @property
    def ratio(self):
        """median(op) / median(floor)."""
        return self.op_median / self.floor_median

    @property
    def paired_ratio(self):
        """Median of the per-repeat ratios op[i] / floor[i] (a cross-check)."""
        return statistics.median(o / f for o, f in zip(self.op, self.floor))


def interleaved(op, floor, repeats, warmup=2, op_setup=None, floor_setup=None):
    """Time ``op`` and ``floor`` alternately, ``repeats`` times each.

    Both are called ``warmup`` times first (untimed) so that tf.functions are
    traced and caches of the runtime are warm. Within each repeat the order
    alternates (op then floor, floor then op) so that a slow patch of the
    machine hits both about equally.

    Parameters
    ----------
    op, floor : callable
        Zero-argument callables; each call is one sample.
    repeats : int
        Samples of each.
    warmup : int
        Untimed calls of each before sampling.
    op_setup, floor_setup : callable, optional
        Run (untimed) before every call of ``op`` / ``floor``, e.g. to clear
        a cache so that the operation really recomputes.

    Returns
    -------
    Measurement
    """
    for _ in range(warmup):
        if op_setup is not None:
            op_setup()
        op()
        if floor_setup is not None:
            floor_setup()
        floor()
    result = Measurement()
    # One collection up front, none while sampling: with TensorFlow loaded a
    # full collection takes 0.1-0.6 s, and a collection inside a sample (or
    # just before it, which lets TF's thread pool fall asleep) is noise.
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(repeats):
            if i % 2 == 0:
                result.op.append(time_once(op, op_setup))
                result.floor.append(time_once(floor, floor_setup))
            else:
                result.floor.append(time_once(floor, floor_setup))
                result.op.append(time_once(op, op_setup))
    finally:
        if enabled:
            gc.enable()
    return result


def machine_header():
    """Lines describing the software and machine, for the top of a report."""
    lines = [
        f"python {platform.python_version()} on {platform.platform()}",
        f"processor: {platform.processor() or platform.machine()}",
    ]
    count = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = count
    lines.append(f"CPUs: {count} (usable by this process: {usable})")
    try:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        lines.append(f"load average (1, 5, 15 min): {load}")
    except (AttributeError, OSError):
        pass
    return lines


def format_table(header, rows, align=None):
    """Plain-text table: ``header`` and ``rows`` are sequences of strings.

    ``align`` is a string of ``"<"``/``">"`` per column (default: first
    column left, the rest right).
    """
    columns = len(header)
    align = align or "<" + ">" * (columns - 1)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(columns)]

    def line(cells):
        return "  ".join(f"{str(c):{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def make_floors(model, input_shape):
    """The bare tf.function floors: F (forward) and FB (forward + input gradient of one score).

    Each has a fixed input signature, so it is traced once; TensorFlow is
    imported here, not when this module is.
    """
    import tensorflow as tf

    spec = tf.TensorSpec((None,) + tuple(input_shape), tf.float32)

    @tf.function(input_signature=[spec], autograph=False)
    def forward(x):
        return model(x, training=False)

    @tf.function(input_signature=[spec, tf.TensorSpec((), tf.int32)], autograph=False)
    def forward_backward(x, class_index):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = model(x, training=False)[:, class_index]
        return tape.gradient(score, x)

    return forward, forward_backward


def table_footer(rows, traces):
    """The lines under a ratio table: traces per compiled function, noisy rows, misses.

    ``rows`` have ``name``, ``noisy`` and ``passed`` (None when the row has no
    target); ``traces`` is the inspector's ``trace_counts``.
    """
    lines = ["   traces per compiled inspector function (1 each = no retracing): "
             + ", ".join(f"{k}={v}" for k, v in sorted(traces.items()))]
    noisy = [r.name for r in rows if r.noisy]
    if noisy:
        lines.append("   (noisy) = ratio of medians and median of paired ratios differ by >15%: "
                     "the machine was busy; rerun with more --repeats before trusting: " + ", ".join(noisy))
    misses = [r for r in rows if r.passed is False]
    lines.append(f"   {len(misses)} MISS" + (": " + ", ".join(r.name for r in misses) if misses else ""))
    return lines
