"""Walk a Keras 3 model's layer graph, nested models included.

Keras can build a sub-model from a model's input to an intermediate output,
but such sub-models break in two common cases: a functional base nested inside
a Sequential or functional model (the inner layers' outputs live in the inner
graph, not the outer one), and several outputs, where ``tape.gradient`` with
respect to an intermediate output returns ``None``. :class:`ModelGraph`
instead executes the model node by node, descending into nested models, and
hands back any layer's output tensor from the same pass that produced the
prediction. Gradients with respect to those tensors are then ordinary tape
gradients, and nothing about the user's model is cloned or mutated.

The walk reads Keras internals (the functional graph's nodes); every such read
goes through :mod:`cnnwidgets.compat`.
"""

from dataclasses import dataclass, field

from .. import compat
from ..errors import UnsupportedModelError

__all__ = ["LayerRecord", "ModelGraph", "LOGITS", "CAPTURE_ALL", "is_relu_family"]

#: Key under which :meth:`ModelGraph.execute` returns the pre-activation scores.
LOGITS = "__logits__"
#: Pass as ``capture`` to :meth:`ModelGraph.execute` to capture every layer.
CAPTURE_ALL = "__all__"

_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid")
_CONV_TYPES = (
    "Conv2D",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Conv2DTranspose",
    "Convolution2D",
)


@dataclass(frozen=True)
class LayerRecord:
    """What the inspector knows about one layer.

    Attributes
    ----------
    name : str
        The Keras layer name.
    path : str
        ``"outer/inner"`` style path; equal to ``name`` for top-level layers.
    type : str
        The layer's class name (``"Conv2D"``, ``"Functional"``, ...).
    output_shape : tuple or None
        Output shape without the batch axis.
    param_count : int
        Number of weights (trainable and not).
    is_spatial : bool
        True when the output is ``(H, W, C)``: feature maps that Grad-CAM and
        the feature-map views can use.
    is_conv : bool
        True for convolution layers (with a spatial kernel).
    is_model : bool
        True for a nested model (its layers follow it with ``depth + 1``).
    depth : int
        Nesting depth, 0 for top-level layers.
    parent : str or None
        Path of the nested model holding the layer, ``None`` at top level.
    index : int
        Position in :attr:`ModelGraph.records`.
    """

    name: str
    path: str
    type: str
    output_shape: tuple
    param_count: int
    is_spatial: bool
    is_conv: bool
    is_model: bool
    depth: int
    parent: str
    index: int
    layer: object = field(repr=False, compare=False)


def _keras():
    return compat.load_keras()


def _is_container(layer):
    return compat.is_container_model(layer)


def _output_shape(layer):
    try:
        shape = layer.output.shape
    except Exception:
        try:
            shape = layer.compute_output_shape(layer.input.shape)
        except Exception:
            return None
    if isinstance(shape, list):  # several outputs: show the first
        shape = shape[0]
    return tuple(None if d is None else int(d) for d in shape[1:])


def is_relu_family(layer):
    """True when ``layer`` ends in a ReLU (or capped ReLU such as ReLU6), fused or standalone.

    Covers ``keras.layers.ReLU`` without a negative slope, ``Activation("relu")``
    / ``Activation("relu6")``, and any layer built with ``activation="relu"`` or
    ``"relu6"`` (Conv2D, Dense, SeparableConv2D, ...). Leaky ReLU, ELU, swish
    and the like are not ReLUs and are left alone by guided backpropagation.
    """
    keras = _keras()
    if isinstance(layer, keras.layers.ReLU):
        return float(getattr(layer, "negative_slope", 0.0) or 0.0) == 0.0
    activation = getattr(layer, "activation", None)
    return activation is not None and activation in (keras.activations.relu, keras.activations.relu6)


def _param_count(layer):
    try:
        return int(layer.count_params())
    except Exception:
        return 0


def _layers_of(model):
    keras = _keras()
    return [lay for lay in model.layers if not isinstance(lay, keras.layers.InputLayer)]


def _producer(tensor):
    return compat.producer_layer(tensor)


class ModelGraph:
    """Execute a Sequential or functional Keras model layer by layer.

    Parameters
    ----------
    model : keras.Model
        A built ``keras.Sequential`` or functional model with one image input
        and one output. Nested Sequential/functional models are descended into.

    Raises
    ------
    UnsupportedModelError
        The model is subclassed, not built, or has several inputs.
    """

    def __init__(self, model):
        keras = _keras()
        if not isinstance(model, keras.Model):
            raise UnsupportedModelError(
                f"expected a keras.Model, got {type(model).__name__}; pass a Keras 3 model"
            )
        if not _is_container(model):
            raise UnsupportedModelError(
                f"{type(model).__name__} is a subclassed model: its layers cannot be reached "
                "from outside its call(); rebuild it with the functional API or keras.Sequential "
                "to inspect layers (predictions, occlusion and input gradients still work)"
            )
        try:
            inputs = model.inputs
        except Exception:
            inputs = None
        if not inputs:
            raise UnsupportedModelError(
                "the model is not built: it has no input shape yet; start it with "
                "keras.Input(shape=...) or call model.build((None, H, W, C)) first"
            )
        if len(inputs) != 1:
            raise UnsupportedModelError(
                f"the model has {len(inputs)} inputs; cnnwidgets inspects models with one image input"
            )
        shape = tuple(inputs[0].shape)[1:]
        if len(shape) != 3:
            raise UnsupportedModelError(
                f"the model's input has shape {shape}; cnnwidgets needs an image input (H, W, C)"
            )
        self.model = model
        self.input_shape = tuple(None if d is None else int(d) for d in shape)
        #: Shape of each output without the batch axis (class vectors, dense maps, scalars).
        self.output_shapes = [tuple(None if d is None else int(d) for d in t.shape[1:]) for t in model.outputs]
        self.output_shape = self.output_shapes[0]
        self.records = []
        self._collect(model, prefix="", depth=0, parent=None)
        #: The layer producing each output, and its final activation ("softmax", "sigmoid" or None).
        self.final_layers = [self._find_final_layer(model, i) for i in range(len(model.outputs))]
        self.output_activations = [self._activation_name(layer) for layer in self.final_layers]
        self.final_layer, self.output_activation = self.final_layers[0], self.output_activations[0]

    # ------------------------------------------------------------------ records
    def _collect(self, model, prefix, depth, parent):
        for layer in _layers_of(model):
            path = prefix + layer.name
            shape = _output_shape(layer)
            type_name = type(layer).__name__
            record = LayerRecord(
                name=layer.name,
                path=path,
                type=type_name,
                output_shape=shape,
                param_count=_param_count(layer),
                is_spatial=shape is not None and len(shape) == 3,
                is_conv=type_name in _CONV_TYPES,
                is_model=_is_container(layer),
                depth=depth,
                parent=parent,
                index=len(self.records),
                layer=layer,
            )
            self.records.append(record)
            if record.is_model:
                self._collect(layer, prefix=path + "/", depth=depth + 1, parent=path)

    def feeding_paths(self, output=None):
        """Paths of the layers the model's outputs depend on (nested models included).

        ``output``: only those output ``output`` (an index) depends on.
        """
        paths = set()
        self._collect_feeding(self.model, "", paths, output)
        return paths

    def _collect_feeding(self, model, prefix, paths, output=None):
        keras = _keras()
        if isinstance(model, keras.Sequential):
            for layer in _layers_of(model):
                paths.add(prefix + layer.name)
                if _is_container(layer):
                    self._collect_feeding(layer, prefix + layer.name + "/", paths)
            return
        # The same node table that execute() walks, keyed by the tensors each node makes.
        producers = {id(t): node for nodes in compat.nodes_by_depth(model).values() for node in nodes for t in node.outputs}
        stack, seen = list(model.outputs) if output is None else [model.outputs[output]], set()
        while stack:
            node = producers.get(id(stack.pop()))
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            if not node.operation or compat.node_is_input(node):
                continue
            paths.add(prefix + node.operation.name)
            if _is_container(node.operation):
                self._collect_feeding(node.operation, prefix + node.operation.name + "/", paths)
            stack.extend(node.input_tensors)

    def _find_final_layer(self, model, index=0):
        keras = _keras()
        layer = _producer(model.outputs[index])
        if layer is None or isinstance(layer, keras.layers.InputLayer):
            layers = _layers_of(model)
            layer = layers[-1] if layers else None
        if layer is not None and _is_container(layer):
            return self._find_final_layer(layer)
        return layer

    @staticmethod
    def _activation_name(layer):
        keras = _keras()
        if layer is None:
            return None
        if isinstance(layer, keras.layers.Softmax):
            return "softmax"
        activation = getattr(layer, "activation", None)
        name = getattr(activation, "__name__", None)
        return name if name in _PROBABILITY_ACTIVATIONS else None

    # ---------------------------------------------------------------- execution
    def execute(self, x, capture=(), transform=None):
        """Run the model on a batch and capture layer outputs from the same pass.

        Call this inside ``tf.function`` or under a ``GradientTape``.

        Parameters
        ----------
        x : tf.Tensor
            A batch ``(B, H, W, C)`` of model inputs.
        capture : collection of str or ``CAPTURE_ALL``
            Layer paths whose outputs to return.
        transform : callable, optional
            ``transform(path, layer, output) -> output``, applied to every
            layer's output (nested models included) before it is captured and
            passed on. This is how explanation methods change a pass without
            touching the model: guided backpropagation wraps the outputs of
            ReLU-family layers in a gradient gate, Ablation-CAM zeroes one
            channel of a layer. The layers themselves run unchanged.

        Returns
        -------
        output : tf.Tensor
            The model's output, exactly as ``model(x, training=False)``.
        captured : dict
            ``{path: tensor}`` for the captured layers, plus :data:`LOGITS`:
            the final layer's pre-activation scores when it ends in softmax or
            sigmoid, else the output itself.
        """
        outputs, logits, captured = self.execute_all(x, capture, transform)
        captured[LOGITS] = logits[0]
        return outputs[0], captured

    def execute_all(self, x, capture=(), transform=None):
        """As :meth:`execute`, for every output: ``(outputs, logits, captured)``, lists per output."""
        captured = {LOGITS: {}}
        result = self._run_model(self.model, x, "", capture, captured, transform, all_outputs=True)
        found = captured.pop(LOGITS)
        logits = [found.get(id(layer), out) if act else out
                  for out, layer, act in zip(result, self.final_layers, self.output_activations)]
        return list(result), logits, captured

    def _run_model(self, model, inputs, prefix, capture, captured, transform=None, all_outputs=False):
        keras = _keras()
        if isinstance(model, keras.Sequential):
            x = inputs
            for layer in _layers_of(model):
                x = self._run_op(layer, (x,), {}, prefix, capture, captured, transform)
            return [x] if all_outputs else x
        tensors = {id(model.inputs[0]): inputs}
        graph = compat.nodes_by_depth(model)
        for depth in sorted(graph, reverse=True):
            for node in graph[depth]:
                if not node.operation or compat.node_is_input(node):
                    continue
                if any(id(t) not in tensors for t in node.input_tensors):
                    continue
                args, kwargs = compat.fill_in_node_arguments(node, tensors)
                outputs = self._run_op(node.operation, args, kwargs, prefix, capture, captured, transform)
                flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
                for symbolic, value in zip(node.outputs, flat):
                    tensors[id(symbolic)] = value
        if all_outputs:
            return [tensors[id(t)] for t in model.outputs]
        return tensors[id(model.outputs[0])]

    def _run_op(self, op, args, kwargs, prefix, capture, captured, transform=None):
        path = prefix + op.name
        if _is_container(op):
            kwargs = {k: v for k, v in kwargs.items() if k not in ("training", "mask")}
            result = self._run_model(op, args[0], path + "/", capture, captured, transform)
        elif any(op is f for f, a in zip(self.final_layers, self.output_activations) if a is not None):
            result, captured[LOGITS][id(op)] = self._call_final(op, args, kwargs)
        else:
            if compat.call_has_training_arg(op):
                kwargs = dict(kwargs, training=False)
            result = op(*args, **kwargs)
        if transform is not None:
            result = transform(path, op, result)
        if capture == CAPTURE_ALL or path in capture:
            captured[path] = result[0] if isinstance(result, (list, tuple)) else result
        return result

    def _call_final(self, layer, args, kwargs):
        """Call the final layer, returning (output, pre-activation scores)."""
        keras = _keras()
        ops = keras.ops
        if isinstance(layer, keras.layers.Softmax) or isinstance(layer, keras.layers.Activation):
            logits = args[0]
            return layer(*args, **kwargs), logits
        if isinstance(layer, keras.layers.Dense):
            logits = ops.matmul(args[0], layer.kernel)
            if layer.use_bias:
                logits = logits + layer.bias
            return layer.activation(logits), logits
        if isinstance(layer, keras.layers.Conv2D) and getattr(layer, "data_format", None) == "channels_last":
            # A dense (segmentation) head with a fused softmax/sigmoid: the same convolution, no activation.
            logits = layer.convolution_op(args[0], layer.kernel)
            if layer.use_bias:
                logits = logits + layer.bias
            return layer.activation(logits), logits
        # Another layer type ending in softmax/sigmoid: log-probabilities stand
        # in for logits (same argmax; gradients differ by a shared term).
        output = layer(*args, **kwargs)
        return output, ops.log(ops.maximum(output, 1e-12))
