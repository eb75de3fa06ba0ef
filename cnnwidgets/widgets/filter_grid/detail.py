"""The detail view of :class:`~cnnwidgets.FilterGrid`: one filter (or class) large, with numbers."""

import numpy as np

from ...render import stack_panels
from ...render.filters import (
    diverging_tiles,
    feature_map_tile,
    filter_statistics,
    format_value,
    image_tiles,
    rgb_tiles,
    tile_scale,
)
from .layers import is_output, layer_filters

__all__ = ["detail_content", "weight_lines"]


def weight_lines(weights, what="weights"):
    """Two lines of statistics of one filter's weights."""
    stats = filter_statistics(weights)
    return [
        f"{what}: min {format_value(stats['min'])}, max {format_value(stats['max'])}",
        f"mean {format_value(stats['mean'])}, std {format_value(stats['std'])}, "
        f"L2 norm {format_value(stats['l2'])} ({stats['count']} weights)",
    ]


def _find_result(grid, path, index):
    """``(result, position)`` of a cached maximization of filter ``index`` of ``path``, or None."""
    candidates = []
    if grid.maximization is not None and grid.maximization_layer == path:
        candidates.append(grid.maximization)
    candidates += grid.cached_results(path)
    for result in candidates:
        if index in result.channels:
            return result, result.channels.index(index)
    return None


def _weights_detail(grid, view, index, size):
    stack = view.stack
    scale = tile_scale(max(stack.shape[1:3]), size)
    if view.colour:
        big = rgb_tiles(stack[index : index + 1], view.vmax, scale)[0]
    else:
        big = diverging_tiles(view.planes[index : index + 1], view.vmax, grid.colormap, scale)[0]
    kh, kw, c_in = stack.shape[1:]
    if view.colour:
        shown = "shown as RGB colour (grey = 0)"
    elif c_in == 1:
        shown = f"shown in {grid.colormap}, centred on 0"
    elif grid.channel < 0:
        shown = f"shown: mean over the {c_in} input channels"
    else:
        shown = f"shown: input channel {grid.channel}"
    lines = [
        f"Filter {index} of {view.record.path}",
        f"{kh}x{kw} kernel over {c_in} input channel{'s' if c_in > 1 else ''}",
        shown,
    ]
    return big, lines + weight_lines(stack[index])


def _maximize_detail(grid, view, index, size):
    inspector, record = grid.inspector, view.record
    output = is_output(inspector, record)
    lines = [f"Class {inspector.class_name(index)} (output {index})" if output else f"Filter {index} of {record.path}"]
    big = None
    found = _find_result(grid, record.path, index)
    if found is None:
        lines.append("not synthesized yet")
    else:
        result, position = found
        big = image_tiles(result.images[position : position + 1], size)[0]
        objective = "logit" if output else "mean activation"
        lines.append(
            f"{objective}: {format_value(result.scores[position])} "
            f"(random start: {format_value(result.initial_scores[position])})"
        )
        if result.initial_scores[position] == 0 and result.scores[position] == 0:
            lines.append("off everywhere on the random start: no gradient to follow")
    try:
        kernel = layer_filters(inspector, record)[index] if record.is_conv else inspector.filters(record.path)
    except Exception:  # no kernel (e.g. an Activation output layer): no statistics
        kernel = None
    if kernel is not None and not record.is_conv:
        kernel = kernel[:, index] if kernel.ndim == 2 and index < kernel.shape[1] else None
    if kernel is not None:
        lines += weight_lines(kernel, "weights into this class" if output else "weights")
    return big, lines


def detail_content(grid, view, index, size):
    """``(big_tile, lines, feature_map)`` for filter (or class) ``index`` of the grid's current view.

    Parameters
    ----------
    grid : FilterGrid
    view : _PageView
        What the grid shows (weights or maximize).
    index : int
        Filter index in the layer (class index on the output layer).
    size : int
        About how many pixels wide the large tile and the feature map are.

    Returns
    -------
    big_tile : numpy.ndarray or None
        uint8 RGBA, the kernel or the synthesized image; None if not synthesized yet.
    lines : list of str
        Title, then statistics.
    feature_map : numpy.ndarray or None
        uint8 RGBA feature map of the grid's ``image`` for this filter (None
        without an image, or on the output layer, where the class
        probability is added to ``lines`` instead).
    """
    if view.kind == "weights":
        big, lines = _weights_detail(grid, view, index, size)
    else:
        big, lines = _maximize_detail(grid, view, index, size)
    feature = None
    image = grid.image
    record, inspector = view.record, grid.inspector
    if image is not None:
        if is_output(inspector, record):
            probability = float(inspector.predict(image)[index])
            lines.append(f"P({inspector.class_name(index)}) for the input image: {probability:.3f}")
        elif record.is_spatial and not (view.kind == "weights" and record.type == "SeparableConv2D"):
            activations = np.asarray(inspector.activations(image, record.path))
            if activations.ndim == 3 and index < activations.shape[-1]:
                feature_map = activations[..., index]
                tile = feature_map_tile(feature_map, size)
                thumbnail = image_tiles(image[None], max(tile.shape[:2]), value_range=inspector.input_range)[0]
                feature = stack_panels([thumbnail, tile], axis=1, gap=4, background=(255, 255, 255, 255))
                lines.append(
                    f"feature map of the image ({feature_map.shape[0]}x{feature_map.shape[1]}, below right): "
                    f"min {format_value(feature_map.min())} (dark), max {format_value(feature_map.max())} "
                    f"(yellow), mean {format_value(feature_map.mean())}"
                )
    return big, lines, feature
