"""Which layers a :class:`~cnnwidgets.FilterGrid` can show, and how to read their kernels."""

from ...errors import CNNWidgetsError, LayerNotFoundError
from ...render.filters import filter_stack

__all__ = [
    "kernel_layout", "layer_filters", "is_colour_layer", "is_output", "filter_count",
    "layer_options", "usable_record",
]

_DEPTHWISE_TYPES = ("DepthwiseConv2D", "SeparableConv2D")


def kernel_layout(record):
    """The :func:`~cnnwidgets.render.filters.filter_stack` layout of a conv layer's kernel."""
    if record.type in _DEPTHWISE_TYPES:
        return "depthwise"
    if record.type == "Conv2DTranspose":
        return "transpose"
    return "conv"


def layer_filters(inspector, record):
    """``(n_filters, kh, kw, c)`` kernel of a conv layer, filters first.

    Raises
    ------
    CNNWidgetsError
        The layer has no 4-D convolution kernel.
    """
    kernel = inspector.filters(record.path)
    if kernel.ndim != 4:
        raise LayerNotFoundError(
            f"layer {record.path!r} ({record.type}) has a kernel of shape {kernel.shape}, not a 2-D "
            "convolution kernel (kh, kw, c_in, c_out)"
        )
    return filter_stack(kernel, kernel_layout(record))


def is_colour_layer(inspector, record, stack):
    """True when the filters look at the RGB input image itself (the first conv layer, 3 input channels)."""
    convs = inspector.conv_layers
    first = convs[0].path if convs else None
    return stack.shape[-1] == 3 and (inspector.input_shape[-1] or 0) == 3 and record.path == first


def is_output(inspector, record):
    """True for the layer that produces a classifier's class scores (maximize mode: one tile per class).

    Always False on other models (segmentation, regression, several outputs):
    their output layers are shown as the layers they are.
    """
    return inspector.is_classifier and record.path == inspector.output_layer.path


def filter_count(inspector, record):
    """How many tiles the layer has in maximize mode: its channels, or classes for the output layer."""
    if is_output(inspector, record):
        return inspector.num_classes
    shape = record.output_shape or ()
    return int(shape[-1]) if shape and shape[-1] else 0


def layer_options(inspector, include_output):
    """``(label, path)`` pairs for the layer dropdown: every conv layer, nested ones indented.

    Parameters
    ----------
    include_output : bool
        Also offer a classifier's output layer (maximize mode: one tile per class).
    """
    options = []
    for record in inspector.conv_layers:
        channels = (record.output_shape or (None,))[-1]
        indent = "\u2003" * record.depth
        options.append((f"{indent}{record.path}  ({record.type}, {channels} filters)", record.path))
    if include_output and inspector.is_classifier:
        output = inspector.output_layer
        if output.path not in [path for _, path in options]:
            options.append((f"{output.path}  (output: {inspector.num_classes} classes)", output.path))
    return options


def usable_record(inspector, layer, mode):
    """Resolve ``layer`` for ``mode``; return ``(record, None)`` or ``(None, message)``.

    Weights mode needs a convolution layer; maximize mode also accepts a
    classifier's output layer. Anything else (e.g. a pooling layer linked from a
    :class:`~cnnwidgets.LayerBrowser`) gives a message saying what to pick.
    """
    if layer is None:
        if mode != "weights":
            return None, "choose a layer"
        if inspector.is_classifier:
            return None, ("this model has no convolution layer; choose 'What excites it' to see what each class "
                          "responds to")
        return None, "this model has no convolution layer, so there are no filters to show"
    try:
        record = inspector.layer(layer)
    except CNNWidgetsError as exc:
        return None, str(exc)
    if record.is_conv:
        return record, None
    if mode == "maximize" and is_output(inspector, record):
        return record, None
    convs = ", ".join(r.path for r in inspector.conv_layers[:4]) or "none in this model"
    if is_output(inspector, record):
        return None, (
            f"{record.path!r} is the output layer: it has no convolution filters to draw. Switch to "
            f"'What excites it' to see the input each class responds to, or choose a conv layer ({convs})"
        )
    extra = " (or the output layer, in 'What excites it' mode)" if mode == "maximize" else ""
    return None, (
        f"{record.path!r} is a {record.type} layer, not a convolution layer, so it has no filters to show; "
        f"choose a conv layer{extra}: {convs}"
    )
