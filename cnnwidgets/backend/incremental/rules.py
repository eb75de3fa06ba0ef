"""Which layers incremental inference can run on a window, and how.

A catalogue of rules, one per layer class: a rule says how a layer changes the
geometry of a changed rectangle (its kernel, stride, dilation and padding per
axis) and computes the layer on a window of its input with ``valid`` padding,
the out-of-image part of the window already filled with what the layer's own
padding would put there. Layers are matched by their exact class: a subclass
may override ``call``, so it falls back to full computation (slower, never
wrong).

Three kinds of rule:

* ``pointwise``: each output position depends on the same input position only
  (batch-norm in inference, activations, rescaling). The window passes through.
* ``window``: a spatial kernel (convolutions, pooling, zero-padding, cropping).
* ``merge``: several inputs of the same spatial size, combined position by
  position (Add, Multiply, Concatenate on channels, ...).
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Axis", "Rule", "catalogue", "rule_for"]


@dataclass(frozen=True)
class Axis:
    """Geometry of a windowed layer along one spatial axis.

    Output ``j`` reads inputs ``j * stride - pad + t * dilation`` for
    ``t = 0 .. kernel - 1``; ``pad`` is the layer's leading padding (negative
    for cropping).
    """

    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    pad: int = 0

    @property
    def span(self):
        """Input extent one output reads: ``(kernel - 1) * dilation + 1``."""
        return (self.kernel - 1) * self.dilation + 1


@dataclass(frozen=True)
class Rule:
    """How one layer class runs on a window.

    Attributes
    ----------
    kind : str
        ``"pointwise"``, ``"window"`` or ``"merge"``.
    check : callable
        ``check(layer, in_shapes, out_shape)`` returns None when the rule
        applies to this layer instance, else the reason it does not.
    axes : callable or None
        For ``window`` rules: ``axes(layer, in_shape, out_shape)`` returns
        ``(Axis_y, Axis_x)``.
    apply : callable or None
        For ``window`` rules: ``apply(layer, inputs, valid)`` computes the
        layer on window tensors (``valid`` is the in-image mask of the read
        window, for ``same`` average pooling). Pointwise and merge layers are
        called as the model calls them, on windows.
    fill : float
        What reads outside the input map see (0 for zero padding, -inf for max
        pooling).
    flops : callable
        ``flops(layer, in_shape, out_shape)``: multiply-adds per output position.
    """

    kind: str
    check: object
    apply: object = None
    axes: object = None
    fill: float = 0.0
    flops: object = None
    needs_valid: bool = False


def _keras():
    import keras

    return keras


def _pair(value):
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _same_pad(size_in, size_out, axis):
    total = max((size_out - 1) * axis.stride + axis.span - size_in, 0)
    return total // 2


def _kernel_axes(kernel, strides, dilation, padding, in_shape, out_shape):
    axes = []
    for i in range(2):
        axis = Axis(kernel[i], strides[i], dilation[i], 0)
        if padding == "same":
            axis = Axis(kernel[i], strides[i], dilation[i], _same_pad(in_shape[i], out_shape[i], axis))
        axes.append(axis)
    return tuple(axes)


def _channels_last_4d(layer, in_shapes, out_shape):
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return "channels_first data format"
    if out_shape is None or len(out_shape) != 3 or any(s is None or len(s) != 3 for s in in_shapes):
        return "not a (H, W, C) -> (H, W, C) layer"
    if any(d is None for s in (*in_shapes, out_shape) for d in s[:2]):
        return "unknown spatial size"
    if getattr(layer, "compute_dtype", "float32") != "float32":
        return f"compute dtype {layer.compute_dtype}"
    return None


def _conv_check(layer, in_shapes, out_shape):
    reason = _channels_last_4d(layer, in_shapes, out_shape)
    if reason is None and getattr(layer, "groups", 1) != 1:
        reason = "grouped convolution"
    if reason is None and layer.padding not in ("same", "valid"):
        reason = f"padding {layer.padding!r}"
    if reason is None and len(in_shapes) != 1:
        reason = "several inputs"
    return reason


def _conv_axes(layer, in_shape, out_shape):
    return _kernel_axes(_pair(layer.kernel_size), _pair(layer.strides), _pair(layer.dilation_rate),
                        layer.padding, in_shape, out_shape)


def _finish(layer, out, channels):
    ops = _keras().ops
    if layer.use_bias:
        out = ops.add(out, ops.reshape(layer.bias, (1, 1, 1, channels)))
    return layer.activation(out) if layer.activation is not None else out


def _conv_apply(layer, inputs, valid):
    ops = _keras().ops
    out = ops.conv(inputs[0], layer.kernel, strides=list(_pair(layer.strides)), padding="valid",
                   dilation_rate=layer.dilation_rate, data_format="channels_last")
    return _finish(layer, out, layer.filters)


def _depthwise_apply(layer, inputs, valid):
    ops = _keras().ops
    out = ops.depthwise_conv(inputs[0], layer.kernel, strides=layer.strides, padding="valid",
                             dilation_rate=layer.dilation_rate, data_format="channels_last")
    return _finish(layer, out, int(out.shape[-1]))


def _separable_apply(layer, inputs, valid):
    ops = _keras().ops
    out = ops.separable_conv(inputs[0], layer.depthwise_kernel, layer.pointwise_kernel,
                             strides=layer.strides, padding="valid",
                             dilation_rate=layer.dilation_rate, data_format="channels_last")
    return _finish(layer, out, layer.filters)


def _conv_flops(layer, in_shape, out_shape):
    kh, kw = _pair(layer.kernel_size)
    return kh * kw * in_shape[-1] * out_shape[-1]


def _depthwise_flops(layer, in_shape, out_shape):
    kh, kw = _pair(layer.kernel_size)
    return kh * kw * out_shape[-1]


def _separable_flops(layer, in_shape, out_shape):
    kh, kw = _pair(layer.kernel_size)
    middle = in_shape[-1] * layer.depth_multiplier
    return kh * kw * middle + middle * out_shape[-1]


def _pool_check(layer, in_shapes, out_shape):
    reason = _channels_last_4d(layer, in_shapes, out_shape)
    if reason is None and layer.padding not in ("same", "valid"):
        reason = f"padding {layer.padding!r}"
    return reason


def _pool_axes(layer, in_shape, out_shape):
    return _kernel_axes(_pair(layer.pool_size), _pair(layer.strides), (1, 1), layer.padding, in_shape, out_shape)


def _max_pool_apply(layer, inputs, valid):
    ops = _keras().ops
    return ops.max_pool(inputs[0], pool_size=layer.pool_size, strides=layer.strides, padding="valid",
                        data_format="channels_last")


def _average_pool_apply(layer, inputs, valid):
    ops = _keras().ops
    pool = dict(pool_size=layer.pool_size, strides=layer.strides, padding="valid", data_format="channels_last")
    total = ops.average_pool(inputs[0], **pool)
    if layer.padding != "same":
        return total
    # TensorFlow's 'same' average pooling divides by the in-image count only.
    share = ops.average_pool(ops.cast(valid, total.dtype), **pool)
    return total / share


def _pool_flops(layer, in_shape, out_shape):
    kh, kw = _pair(layer.pool_size)
    return kh * kw * out_shape[-1]


def _zero_padding_axes(layer, in_shape, out_shape):
    (top, _), (left, _) = layer.padding
    return Axis(pad=int(top)), Axis(pad=int(left))


def _cropping_axes(layer, in_shape, out_shape):
    (top, _), (left, _) = layer.cropping
    return Axis(pad=-int(top)), Axis(pad=-int(left))


def _identity(layer, inputs, valid):
    return inputs[0]


def _spatially_constant(value):
    """True when a broadcast operand has size 1 on every axis but the last."""
    shape = np.shape(value)
    return all(int(d) == 1 for d in shape[:-1])


def _channel_axis(axis):
    axis = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    return axis in ((-1,), (3,))


def _pointwise_check(layer, in_shapes, out_shape):
    reason = _channels_last_4d(layer, in_shapes, out_shape)
    if reason is not None:
        return reason
    if tuple(in_shapes[0][:2]) != tuple(out_shape[:2]):
        return "changes the spatial size"
    keras = _keras()
    if isinstance(layer, keras.layers.BatchNormalization) and not _channel_axis(layer.axis):
        return f"normalizes over axis {layer.axis}"
    if isinstance(layer, keras.layers.Softmax) and not _channel_axis(layer.axis):
        return f"softmax over axis {layer.axis}"
    if isinstance(layer, keras.layers.Rescaling):
        if not (_spatially_constant(layer.scale) and _spatially_constant(layer.offset)):
            return "scale or offset varies across the image"
    if isinstance(layer, keras.layers.Normalization):
        if not (_spatially_constant(layer.mean) and _spatially_constant(layer.variance)):
            return "mean or variance varies across the image"
    return None


def _merge_check(layer, in_shapes, out_shape):
    reason = _channels_last_4d(layer, in_shapes, out_shape)
    if reason is not None:
        return reason
    if any(tuple(s[:2]) != tuple(out_shape[:2]) for s in in_shapes):
        return "inputs of different spatial sizes (broadcasting)"
    keras = _keras()
    if isinstance(layer, keras.layers.Concatenate) and layer.axis not in (-1, 3):
        return f"concatenates on axis {layer.axis}"
    return None


def _channels_flops(layer, in_shape, out_shape):
    return out_shape[-1]


def _build_rules():
    layers = _keras().layers
    conv = dict(kind="window", check=_conv_check, axes=_conv_axes)
    pool = dict(kind="window", check=_pool_check, axes=_pool_axes, flops=_pool_flops)
    shift = dict(kind="window", check=_channels_last_4d, apply=_identity, flops=lambda *a: 0)
    pointwise = Rule("pointwise", _pointwise_check, flops=_channels_flops)
    merge = Rule("merge", _merge_check, flops=_channels_flops)
    rules = {
        layers.Conv2D: Rule(apply=_conv_apply, flops=_conv_flops, **conv),
        layers.DepthwiseConv2D: Rule(apply=_depthwise_apply, flops=_depthwise_flops, **conv),
        layers.SeparableConv2D: Rule(apply=_separable_apply, flops=_separable_flops, **conv),
        layers.MaxPooling2D: Rule(apply=_max_pool_apply, fill=-np.inf, **pool),
        layers.AveragePooling2D: Rule(apply=_average_pool_apply, needs_valid=True, **pool),
        layers.ZeroPadding2D: Rule(axes=_zero_padding_axes, **shift),
        layers.Cropping2D: Rule(axes=_cropping_axes, **shift),
    }
    for name in ("BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Rescaling",
                 "Normalization", "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
                 "AlphaDropout", "ActivityRegularization", "Identity"):
        cls = getattr(layers, name, None)
        if cls is not None:
            rules[cls] = pointwise
    for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"):
        rules[getattr(layers, name)] = merge
    return rules


def catalogue():
    """``{layer class: Rule}``, built on call (no Keras import at ``import cnnwidgets``)."""
    return _build_rules()


def rule_for(layer, in_shapes, out_shape, rules):
    """``(rule, None)`` when ``layer`` can run incrementally, else ``(None, reason)``.

    ``rules`` is the :func:`catalogue`.
    """
    rule = rules.get(type(layer))
    if rule is None:
        return None, f"{type(layer).__name__} is not handled"
    reason = rule.check(layer, in_shapes, out_shape)
    return (None, reason) if reason else (rule, None)
