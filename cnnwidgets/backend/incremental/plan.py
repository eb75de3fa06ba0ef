"""Plan incremental inference: flatten a model into steps, propagate a changed rectangle.

:func:`flatten` turns a bound model (nested models included) into a flat list
of :class:`Step` s, one per layer call, with integer keys for the tensors
between them. :class:`Plan` then takes the size of the changed rectangle of
the input (the patch) and, for every possible patch position along each axis,
the rectangle of every layer's output that can differ from the clean image:
the patch's projective field, widened by each layer's halo (kernel, stride,
dilation, padding). Every rectangle has one fixed size per layer, whatever the
position (it is clamped to stay inside the map), so one compiled function
serves every position. Offsets are tabulated once per axis and looked up per
batch.

From the first layer whose rectangle covers nearly all of its map, or that
no rule handles (global pooling, Flatten, Dense, attention, unknown layers),
the plan switches to ordinary full computation.
"""

import math
import threading
from dataclasses import dataclass, field

import numpy as np

from ... import compat

from .rules import catalogue, rule_for

__all__ = ["Step", "Ref", "flatten", "map_refs", "Plan", "MultiOutputError"]


class Ref:
    """A placeholder for a tensor key inside a step's argument template."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __repr__(self):
        return f"Ref({self.key})"


@dataclass
class Step:
    """One layer call of the flattened model."""

    op: object
    path: str
    args: tuple
    kwargs: dict
    inputs: tuple
    outputs: tuple


def map_refs(structure, fn):
    """``structure`` with every :class:`Ref` replaced by ``fn(key)``."""
    import tensorflow as tf  # tf.nest: keras.tree is not in every Keras 3 release we support

    return tf.nest.map_structure(lambda v: fn(v.key) if isinstance(v, Ref) else v, structure)


def flatten(graph):
    """``(steps, input_key, output_key)`` for a :class:`~cnnwidgets.backend.graph.ModelGraph`."""
    from ..graph import _is_container, _layers_of

    steps = []
    counter = [0]

    def new_key():
        counter[0] += 1
        return counter[0]

    def add(op, args, kwargs, prefix):
        if _is_container(op):
            return walk(op, args[0].key, prefix + op.name + "/")
        refs = []
        map_refs((args, kwargs), lambda k: refs.append(k))
        key = new_key()
        steps.append(Step(op, prefix + op.name, args, kwargs, tuple(dict.fromkeys(refs)), (key,)))
        return key

    def walk(model, input_key, prefix):
        import keras

        if isinstance(model, keras.Sequential):
            key = input_key
            for layer in _layers_of(model):
                key = add(layer, (Ref(key),), {}, prefix)
            return key
        keys = {id(model.inputs[0]): Ref(input_key)}
        graph = compat.nodes_by_depth(model)
        for depth in sorted(graph, reverse=True):
            for node in graph[depth]:
                if not node.operation or compat.node_is_input(node):
                    continue
                if any(id(t) not in keys for t in node.input_tensors):
                    continue
                args, kwargs = compat.fill_in_node_arguments(node, keys)
                if len(node.outputs) != 1:
                    raise MultiOutputError(node.operation.name)
                keys[id(node.outputs[0])] = Ref(add(node.operation, args, kwargs, prefix))
        return keys[id(model.outputs[0])].key

    input_key = new_key()
    output_key = walk(graph.model, input_key, "")
    return steps, input_key, output_key


class MultiOutputError(Exception):
    """A layer with several outputs: the engine does not plan such models."""


@dataclass
class StepPlan:
    """What a plan does at one step."""

    mode: str  # "incremental" or "full"
    rule: object = None
    axes: tuple = None
    reason: str = ""
    flops_full: float = 0.0
    flops_done: float = 0.0


@dataclass
class Plan:
    """Where each layer's output can change, for one patch size.

    Parameters
    ----------
    steps : list of Step
    shapes : dict
        ``{key: shape without batch}`` of every tensor.
    input_key : int
    rect : tuple of int
        ``(height, width)`` of the changed input rectangle.
    tau : float
        Projective-field threshold in ``(0, 1]``: each layer's rectangle is
        cut to at most ``ceil(tau * size)`` per axis, centred (1 = exact).
    full_fraction : float
        Switch to full computation where a rectangle covers more than this
        share of its map's area.
    """

    steps: list
    shapes: dict
    input_key: int
    rect: tuple
    tau: float = 1.0
    full_fraction: float = 0.5
    windows: dict = field(default_factory=dict)  # key -> (n_y, n_x, table index)
    tables: list = field(default_factory=list)  # [(starts_y, starts_x)] per table index
    step_plans: list = field(default_factory=list)
    #: Keys of the clean maps the compiled function reads, in argument order.
    clean_keys: tuple = ()
    #: Set once the plan's compiled function has run (``method="auto"`` waits for it).
    ready: threading.Event = field(default_factory=threading.Event)
    warming: bool = False
    #: Last measured speed-up over full recomputation, per kind (``"sweep"``, ``"move"``).
    speedups: dict = field(default_factory=dict)

    def __post_init__(self):
        rules = catalogue()
        height, width = self.shapes[self.input_key][:2]
        starts = (np.arange(height - self.rect[0] + 1), np.arange(width - self.rect[1] + 1))
        self._add_window(self.input_key, self.rect, starts)
        for step in self.steps:
            self.step_plans.append(self._plan_step(step, rules))
        self.clean_keys = tuple(sorted(self.windows))

    # ----------------------------------------------------------------- planning
    def _add_window(self, key, sizes, starts, table=None):
        if table is None:
            table = len(self.tables)
            self.tables.append(tuple(np.asarray(s, np.int32) for s in starts))
        self.windows[key] = (int(sizes[0]), int(sizes[1]), table)

    def _plan_step(self, step, rules):
        out_shape = self.shapes.get(step.outputs[0])
        in_shapes = [self.shapes.get(k) for k in step.inputs]
        full_flops = _full_flops(step.op, in_shapes, out_shape, rules)
        if not all(k in self.windows for k in step.inputs):
            return StepPlan("full", reason="follows full computation", flops_full=full_flops,
                            flops_done=full_flops)
        rule, reason = rule_for(step.op, in_shapes, out_shape, rules)
        if rule is None:
            return StepPlan("full", reason=reason, flops_full=full_flops, flops_done=full_flops)
        size = out_shape[:2]
        axes = None
        if rule.kind == "pointwise":
            n_y, n_x, table = self.windows[step.inputs[0]]
            self.windows[step.outputs[0]] = (n_y, n_x, table)
            done = full_flops * n_y * n_x / (size[0] * size[1])
            return StepPlan("incremental", rule, flops_full=full_flops, flops_done=done)
        if rule.kind == "window":
            axes = rule.axes(step.op, in_shapes[0], out_shape)
            n_in = self.windows[step.inputs[0]]
            spans = [
                _axis_window(self.tables[n_in[2]][i], n_in[i], axes[i], size[i]) for i in range(2)
            ]
        else:  # merge
            spans = [
                _union([(self.tables[self.windows[k][2]][i], self.windows[k][i]) for k in step.inputs], size[i])
                for i in range(2)
            ]
        spans = [_truncate(s, n, size[i], self.tau) for i, (s, n) in enumerate(spans)]
        area = spans[0][1] * spans[1][1] / (size[0] * size[1])
        if area > self.full_fraction:
            return StepPlan("full", rule, reason=f"changes {area:.0%} of its output", flops_full=full_flops,
                            flops_done=full_flops)
        self._add_window(step.outputs[0], (spans[0][1], spans[1][1]), (spans[0][0], spans[1][0]))
        return StepPlan("incremental", rule, axes, flops_full=full_flops, flops_done=full_flops * area)

    # ------------------------------------------------------------------- lookups
    def offsets(self, ys, xs):
        """``(B, K, 2)`` int32 window offsets for patches at rows ``ys``, columns ``xs``."""
        ys, xs = np.asarray(ys, np.int64), np.asarray(xs, np.int64)
        out = np.empty((len(ys), len(self.tables), 2), np.int32)
        for k, (ty, tx) in enumerate(self.tables):
            out[:, k, 0] = ty[ys]
            out[:, k, 1] = tx[xs]
        return out

    @property
    def flops_fraction(self):
        """Estimated multiply-adds done / those of a full pass (1.0 when nothing is saved)."""
        full = sum(p.flops_full for p in self.step_plans)
        return sum(p.flops_done for p in self.step_plans) / full if full else 1.0

    @property
    def switch_path(self):
        """Path of the first layer computed in full, or None."""
        for step, sp in zip(self.steps, self.step_plans):
            if sp.mode == "full":
                return step.path
        return None

    @property
    def unhandled(self):
        """``{layer path: reason}`` for layers that forced full computation."""
        return {
            step.path: sp.reason
            for step, sp in zip(self.steps, self.step_plans)
            if sp.mode == "full" and sp.reason != "follows full computation"
        }


def _axis_window(starts, n_in, axis, size_out):
    """(starts, size) along one axis of the outputs a window ``[s, s + n_in)`` can change."""
    first = -(-(starts + axis.pad - (axis.span - 1)) // axis.stride)
    last = (starts + n_in - 1 + axis.pad) // axis.stride
    lo, hi = np.maximum(first, 0), np.minimum(last, size_out - 1)
    n = int(np.clip((hi - lo + 1).max(), 1, size_out))
    return np.clip(lo, 0, size_out - n), n


def _union(windows, size):
    lo = np.minimum.reduce([s for s, _ in windows])
    hi = np.maximum.reduce([s + n for s, n in windows])
    n = int(np.clip((hi - lo).max(), 1, size))
    return np.clip(lo, 0, size - n), n


def _truncate(starts, n, size, tau):
    """Krypton's projective-field threshold: keep at most ``ceil(tau * size)``, centred."""
    if tau >= 1.0:
        return starts, n
    cap = max(1, math.ceil(tau * size))
    if n <= cap:
        return starts, n
    return np.clip(starts + (n - cap) // 2, 0, size - cap), cap


def _full_flops(op, in_shapes, out_shape, rules):
    """Multiply-adds of one full call (an estimate for layers without a rule)."""
    if out_shape is None or any(d is None for d in out_shape):
        return 0.0
    rule = rules.get(type(op))
    positions = math.prod(out_shape[:-1]) if len(out_shape) > 1 else 1
    if rule is not None and rule.flops is not None and in_shapes and in_shapes[0] is not None:
        try:
            return float(positions * rule.flops(op, in_shapes[0], out_shape))
        except Exception:
            pass
    kernel = getattr(op, "kernel", None)
    if kernel is not None and len(kernel.shape) == 2:  # Dense
        return float(positions * kernel.shape[0] * kernel.shape[1])
    return float(math.prod(out_shape))
