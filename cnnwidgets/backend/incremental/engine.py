"""Run a model incrementally for a batch of patch positions (TensorFlow).

Every tensor of the flattened model is, for a batch of ``B`` patch positions,
in one of two states:

* a **window**: ``(B, n_y, n_x, C)`` values of the rectangle that can differ
  from the clean image, at per-position offsets (``offsets[:, table]``); the
  rest of the map is the clean map, cached once per image;
* **full**: ``(B, H, W, C)`` (or any shape), as in an ordinary forward pass.

A windowed layer reads the window of its input it needs (clean values
overlaid with the input's changed window, out-of-image reads filled as the
layer's padding would), runs with ``valid`` padding, and yields its output
window. A layer computed in full first *materializes* its windowed inputs
(writes each window into a copy of the clean map). Shapes are fixed per plan,
so one trace serves every position.
"""

import threading
import time

from ... import compat
from .plan import MultiOutputError, Plan, flatten, map_refs

__all__ = ["IncrementalEngine"]


class _CleanMaps(dict):
    """``{key: (1, H, W, C) tensor}`` of one clean image; ``nbytes`` for the result cache."""

    @property
    def nbytes(self):
        return sum(int(v.shape.num_elements()) * 4 for v in self.values())


class IncrementalEngine:
    """Incremental occlusion inference for one :class:`~cnnwidgets.Inspector`.

    Parameters
    ----------
    inspector : Inspector
        Its graph, compiled-function store, cache and trace counter are used.

    Attributes
    ----------
    available : bool
        False when the model cannot be run incrementally at all (subclassed,
        a layer with several outputs, unknown spatial size); ``reason`` says why.
    """

    def __init__(self, inspector):
        self._inspector = inspector
        self.available, self.reason = False, ""
        self._shapes = None
        self._plans = {}
        self._lock = threading.Lock()
        graph = inspector.graph
        if graph is None:
            self.reason = "subclassed model: its layers cannot be reached"
            return
        if any(d is None for d in inspector.input_shape):
            self.reason = f"input shape {inspector.input_shape} is not fixed"
            return
        try:
            self.steps, self.input_key, self.output_key = flatten(graph)
        except MultiOutputError as exc:
            self.reason = f"layer {exc} has several outputs"
            return
        self.available = True

    # ------------------------------------------------------------------ plans
    def plan(self, rect, tau=1.0, full_fraction=0.5):
        """The :class:`Plan` for a changed input rectangle ``(height, width)`` (cached)."""
        key = (tuple(int(v) for v in rect), float(tau), float(full_fraction))
        plan = self._plans.get(key)
        if plan is None:
            plan = Plan(self.steps, self.shapes(), self.input_key, key[0], key[1], key[2])
            self._plans[key] = plan
        return plan

    def warm_up_in_background(self, plan):
        """Compile and run ``plan``'s function once on a worker thread (idempotent).

        Tracing and graph optimization of a big model take seconds; ``method="auto"``
        keeps computing in full until :attr:`Plan.ready` is set, so nobody waits.
        """
        with self._lock:
            if plan.warming or plan.ready.is_set():
                return
            plan.warming = True
        # Not a daemon: an interpreter that exits mid-compile waits for it (seconds) instead of
        # aborting inside TensorFlow ("terminate called ..."), as a killed daemon thread there does.
        threading.Thread(target=self._warm_up, args=(plan,), name="cnnwidgets-incremental-warm-up",
                         daemon=False).start()

    def _warm_up(self, plan):
        import numpy as np
        import tensorflow as tf

        try:
            channels = self._inspector.input_shape[-1]
            clean = {k: tf.zeros((1,) + tuple(self._shapes[k])) for k in plan.clean_keys}
            self.probabilities(plan, clean, np.zeros((1, *plan.rect, channels), np.float32), [0], [0])
        except Exception:  # noqa: BLE001 (a failed warm-up only means auto keeps running in full)
            with self._lock:
                plan.warming = False

    def shapes(self):
        """``{key: shape without batch}`` of every tensor (traces the clean pass once)."""
        if self._shapes is None:
            self._clean_fn().get_concrete_function()
        return self._shapes

    # ------------------------------------------------------------ clean maps
    def clean_maps(self, model_input):
        """``(probabilities, {key: (1, H, W, C) tensor})`` of one clean preprocessed image."""
        probs, maps = self._clean_fn()(model_input[None])
        return probs.numpy()[0], _CleanMaps({int(k): v for k, v in maps.items()})

    def _clean_fn(self):
        import tensorflow as tf

        insp = self._inspector

        def build():
            spec = tf.TensorSpec((1,) + tuple(insp.input_shape), tf.float32)

            @tf.function(input_signature=[spec], autograph=False)
            def clean(x):
                insp.trace_counts["incremental_clean"] += 1
                values = self._run_full(x)
                self._shapes = {k: tuple(v.shape[1:]) for k, v in values.items() if hasattr(v, "shape")}
                maps = {str(k): v for k, v in values.items() if len(getattr(v, "shape", ())) == 4}
                return self._probabilities(values[self.output_key]), maps

            return clean

        return insp._function("incremental_clean", build)

    def _probabilities(self, output):
        import tensorflow as tf

        output = tf.cast(output, tf.float32)
        return output if self._inspector.output_activation else tf.nn.softmax(output)

    # -------------------------------------------------------------- running
    def probabilities(self, plan, clean, patches, ys, xs):
        """Class probabilities ``(B, classes)`` with the input rectangle at ``(ys, xs)`` replaced.

        Parameters
        ----------
        plan : Plan
        clean : dict
            From :meth:`clean_maps`.
        patches : numpy.ndarray
            ``(B, rect_h, rect_w, C)`` model-input values of the rectangle.
        ys, xs : sequence of int
            Top-left corners of the rectangle, ``0 <= y <= H - rect_h``.
        """
        fn = self._incremental_fn(plan)
        out = fn(patches, plan.offsets(ys, xs), tuple(clean[k] for k in plan.clean_keys)).numpy()
        plan.ready.set()
        return out

    def _incremental_fn(self, plan):
        import tensorflow as tf

        insp = self._inspector
        channels = insp.input_shape[-1]

        def build():
            specs = [
                tf.TensorSpec((None, *plan.rect, channels), tf.float32),
                tf.TensorSpec((None, len(plan.tables), 2), tf.int32),
                tuple(tf.TensorSpec((1,) + tuple(self._shapes[k]), tf.float32) for k in plan.clean_keys),
            ]

            @tf.function(input_signature=specs, autograph=False)
            def incremental(patches, offsets, clean):
                insp.trace_counts["incremental"] += 1
                return self._probabilities(self.run(plan, patches, offsets, clean))

            incremental.get_concrete_function()  # trace now, not inside a timed call
            return incremental

        name = ("incremental", plan.rect, plan.tau, plan.full_fraction)
        return insp._function(name, build)

    def profile(self, plan, clean, patches, ys, xs):
        """Seconds per step of one eager incremental run and of one eager full run.

        Returns ``(incremental, full)``: lists of seconds aligned with
        :attr:`steps`. Eager runs add per-op overhead; use the shares.
        """
        import tensorflow as tf

        offsets = tf.constant(plan.offsets(ys, xs))
        clean_t = tuple(clean[k] for k in plan.clean_keys)
        inc = self._timed(lambda hook: self.run(plan, tf.constant(patches), offsets, clean_t, hook))
        batch = self.run(plan, tf.constant(patches), offsets, clean_t, materialize_input=True)
        full = self._timed(lambda hook: self._run_full(batch, hook))
        return inc, full

    def _timed(self, body):
        times, last = [], [time.perf_counter()]

        def hook(value):
            _ = value.numpy() if hasattr(value, "numpy") else value  # wait for the step
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now

        body(hook)
        return times

    # ---------------------------------------------------------- the two passes
    def _run_full(self, x, hook=None):
        values = {self.input_key: x}
        for step in self.steps:
            values[step.outputs[0]] = _call(step, values.__getitem__)
            if hook is not None:
                hook(values[step.outputs[0]])
        return values

    def run(self, plan, patches, offsets, clean, hook=None, materialize_input=False):
        """The model output for a batch (inside a tf.function, or eagerly with ``hook``).

        With ``materialize_input`` it returns the occluded input batch instead.
        """
        clean = dict(zip(plan.clean_keys, clean))
        windows = {self.input_key: patches}
        full = {}

        def offset(key):
            return offsets[:, plan.windows[key][2]]

        def materialized(key):
            if key not in full:
                full[key] = _materialize(clean[key], windows[key], offset(key))
            return full[key]

        if materialize_input:
            return materialized(self.input_key)
        for step, sp in zip(self.steps, plan.step_plans):
            out_key = step.outputs[0]
            if sp.mode == "full":
                full[out_key] = _call(step, lambda k: full[k] if k in full else materialized(k))
            elif sp.rule.kind == "pointwise":
                windows[out_key] = _call(step, windows.__getitem__)
            else:
                n_y, n_x = plan.windows[out_key][:2]
                start = offset(out_key)
                if sp.rule.kind == "merge":
                    windows[out_key] = _call(
                        step, lambda k: _read(clean[k], windows[k], offset(k), start, (n_y, n_x), None)[0]
                    )
                else:
                    (in_key,) = step.inputs
                    ay, ax = sp.axes
                    read_start = start * [ay.stride, ax.stride] - [ay.pad, ax.pad]
                    size = ((n_y - 1) * ay.stride + ay.span, (n_x - 1) * ax.stride + ax.span)
                    window, valid = _read(clean[in_key], windows[in_key], offset(in_key), read_start, size,
                                          sp.rule.fill)
                    windows[out_key] = sp.rule.apply(step.op, [window], valid)
            if hook is not None:
                hook(windows.get(out_key, full.get(out_key)))
        return full[self.output_key] if self.output_key in full else materialized(self.output_key)


def _call(step, value_of):
    """Call a step's layer as the model does, its tensors looked up by ``value_of(key)``."""
    args, kwargs = map_refs((step.args, step.kwargs), value_of)
    op = step.op
    if compat.call_has_training_arg(op):
        kwargs = dict(kwargs, training=False)
    return op(*args, **kwargs)


def _grid(rows, cols):
    """``(B, len_rows, len_cols, 2)`` indices from per-batch row and column vectors."""
    import tensorflow as tf

    shape = tf.stack([tf.shape(rows)[0], tf.shape(rows)[1], tf.shape(cols)[1]])
    return tf.stack([tf.broadcast_to(rows[:, :, None], shape), tf.broadcast_to(cols[:, None, :], shape)], -1)


def _inside(index, size):
    return (index >= 0) & (index < size)


def _read(clean, window, window_start, start, size, fill):
    """Values of the virtual map (clean overlaid with ``window``) at a per-batch window.

    Returns ``(values, valid)``: ``(B, size_y, size_x, C)`` values, reads
    outside the map set to ``fill`` (left as clamped clean values when
    ``fill`` is None, for reads that stay inside), and the in-map mask
    ``(B, size_y, size_x, 1)``.
    """
    import tensorflow as tf

    height, width = clean.shape[1], clean.shape[2]
    n_y, n_x = window.shape[1], window.shape[2]
    rows = start[:, :1] + tf.range(size[0])[None]
    cols = start[:, 1:] + tf.range(size[1])[None]
    base = tf.gather_nd(clean[0], _grid(tf.clip_by_value(rows, 0, height - 1), tf.clip_by_value(cols, 0, width - 1)))
    w_rows = rows - window_start[:, :1]
    w_cols = cols - window_start[:, 1:]
    values = tf.gather_nd(window, _grid(tf.clip_by_value(w_rows, 0, n_y - 1), tf.clip_by_value(w_cols, 0, n_x - 1)),
                          batch_dims=1)
    in_window = _inside(w_rows, n_y)[:, :, None] & _inside(w_cols, n_x)[:, None, :]
    out = tf.where(in_window[..., None], values, base)
    valid = (_inside(rows, height)[:, :, None] & _inside(cols, width)[:, None, :])[..., None]
    if fill is not None:
        out = tf.where(valid, out, tf.constant(fill, out.dtype))
    return out, valid


def _materialize(clean, window, window_start):
    """``(B, H, W, C)``: the clean map with each position's window written in."""
    import tensorflow as tf

    height, width = clean.shape[1], clean.shape[2]
    n_y, n_x = window.shape[1], window.shape[2]
    rows = tf.range(height)[None] - window_start[:, :1]
    cols = tf.range(width)[None] - window_start[:, 1:]
    values = tf.gather_nd(window, _grid(tf.clip_by_value(rows, 0, n_y - 1), tf.clip_by_value(cols, 0, n_x - 1)),
                          batch_dims=1)
    in_window = _inside(rows, n_y)[:, :, None] & _inside(cols, n_x)[:, None, :]
    return tf.where(in_window[..., None], values, clean)
