"""A CNN's structure as a layered architecture diagram (numpy RGBA, drawn with Pillow).

Each layer is a block whose size tracks its output shape, in the style of the
classic CNN figures: a spatial output ``(H, W, C)`` is a box whose height
grows with ``H``, whose receding depth grows with ``W`` and whose thickness
grows with ``C`` (all on log scales, so 7x7x1280 and 224x224x3 fit one
figure); a vector ``(units,)`` is a thin bar whose height grows with the
number of units. Colour says what kind of layer it is (a legend lists the
kinds present). Under each block: its name, output shape and parameter count.

Blocks are laid out left to right and wrap into rows of at most ``width``
pixels, so a 150-layer model stays readable without horizontal scrolling.
A group of layers (a nested model, or a run of layers such as ``block_3_*``)
is either *collapsed* into one stacked block that says how many layers it
holds, or *expanded*: its layers are drawn on a tinted band headed by the
group's name.

:func:`layout_diagram` computes every box (for hit-testing clicks);
:func:`render_diagram` draws the layout. Nothing here knows about Keras:
callers describe the model with :class:`DiagramNode` trees.
"""

import functools
import math
import os
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DiagramNode",
    "DiagramBox",
    "DiagramBand",
    "DiagramLayout",
    "layer_category",
    "CATEGORY_COLOURS",
    "HEAD_COLOUR",
    "block_geometry",
    "format_shape",
    "format_count",
    "layout_diagram",
    "render_diagram",
]

#: Fill colour of each layer category (RGB).
CATEGORY_COLOURS = {
    "input": (236, 236, 236),
    "conv": (76, 120, 168),
    "depthwise conv": (114, 183, 178),
    "pooling": (228, 87, 86),
    "normalization": (186, 176, 172),
    "activation": (238, 202, 59),
    "dense": (84, 162, 75),
    "reshape": (157, 117, 93),
    "merge": (176, 122, 161),
    "dropout": (205, 205, 205),
    "padding": (222, 222, 222),
    "preprocessing": (255, 157, 166),
    "model": (95, 100, 125),
    "block": (128, 138, 175),
    "other": (170, 170, 170),
}

#: Frame and label colour of the blocks that produce the model's outputs (RGB).
HEAD_COLOUR = (123, 65, 160)
_HEAD_LEGEND = "output head"

_CATEGORY_RULES = (
    ("depthwise conv", ("DepthwiseConv", "SeparableConv")),
    ("conv", ("Conv",)),
    ("pooling", ("Pooling", "Pool")),
    ("normalization", ("Normalization", "BatchNorm", "LayerNorm", "GroupNorm")),
    ("activation", ("ReLU", "Activation", "Softmax", "ELU", "PReLU", "LeakyReLU")),
    ("dense", ("Dense", "EinsumDense")),
    ("reshape", ("Flatten", "Reshape", "Permute", "RepeatVector", "Squeeze")),
    ("merge", ("Add", "Concatenate", "Multiply", "Average", "Maximum", "Minimum", "Subtract", "Dot")),
    ("dropout", ("Dropout", "Noise")),
    ("padding", ("Padding", "Cropping", "UpSampling")),
    ("preprocessing", ("Rescaling", "Resizing", "CenterCrop", "Random")),
    ("model", ("Functional", "Sequential", "Model")),
)

_INK = (40, 40, 40)
_MUTED = (110, 110, 110)
_BAND_TINTS = ((237, 242, 250), (244, 238, 248), (238, 247, 240), (250, 244, 234))
_BAND_INK = ((60, 90, 140), (110, 70, 130), (50, 120, 70), (150, 100, 40))

_PAD = 10
_SLOT_GAP = 12
_BAND_HEADER = 15
_BAND_PAD = 6
_LINE = 12
_LABEL_LINES = 3
_MIN_LABEL = 44
_MAX_LABEL = 92
_FONT_SIZE = 10


def layer_category(type_name):
    """The colour category of a Keras layer class name (``"Conv2D"`` -> ``"conv"``)."""
    if type_name == "Input":
        return "input"
    for category, needles in _CATEGORY_RULES:
        if any(needle in type_name for needle in needles):
            return category
    return "other"


@dataclass(frozen=True)
class DiagramNode:
    """One block of the diagram: a layer, the input, or a group of layers.

    Attributes
    ----------
    key : str
        Identifier reported by hit-testing (a layer path, or a group key).
    label : str
        Short name written under the block.
    type : str
        Layer class name (``"Conv2D"``), ``"Input"``, or ``"Group"``.
    output_shape : tuple or None
        Output shape without the batch axis (a group: its last layer's).
    param_count : int
        Parameters (a group: of all its layers).
    children : tuple of DiagramNode
        Layers of a group, in order; empty for a layer.
    expanded : bool
        Draw a group's children (True) or one stacked block (False).
    layer_count : int
        Layers inside a group (shown on a collapsed block).
    selectable : bool
        Whether clicking the block should select a layer.
    head : str
        Non-empty for a layer that produces one of the model's outputs (or a
        collapsed group holding one): e.g. ``"output · map"``, written under
        the block in :data:`HEAD_COLOUR`, which also frames the block.
    """

    key: str
    label: str
    type: str
    output_shape: tuple = None
    param_count: int = 0
    children: tuple = ()
    expanded: bool = False
    layer_count: int = 1
    selectable: bool = True
    head: str = ""

    @property
    def is_group(self):
        """True for a nested model or a name group (it has children)."""
        return bool(self.children)

    @property
    def category(self):
        """The colour category (see :func:`layer_category`)."""
        return "block" if self.type == "Group" else layer_category(self.type)


@dataclass(frozen=True)
class DiagramBox:
    """A clickable region of the diagram.

    Attributes
    ----------
    key : str
        The node's key.
    action : {"select", "expand", "collapse", "none"}
        What a click should do: select the layer, expand a collapsed group,
        collapse an expanded group (its band header), nothing (the input).
    rect : tuple of int
        ``(x0, y0, x1, y1)``, end-exclusive, of the whole slot (block and labels)
        or of a band header.
    block : tuple of int
        ``(x0, y0, x1, y1)`` of the drawn block (the header for a band).
    node : DiagramNode
    """

    key: str
    action: str
    rect: tuple
    block: tuple
    node: DiagramNode = field(repr=False, compare=False)

    @property
    def center(self):
        """``(x, y)`` centre of the block: where to click to hit this box."""
        x0, y0, x1, y1 = self.block
        return (x0 + x1) / 2.0, (y0 + y1) / 2.0


@dataclass(frozen=True)
class DiagramBand:
    """One row segment of an expanded group's tinted band."""

    key: str
    label: str
    depth: int
    rect: tuple
    first: bool


@dataclass(frozen=True)
class DiagramLayout:
    """Everything :func:`render_diagram` draws, and the hit-test regions.

    Attributes
    ----------
    size : tuple of int
        ``(height, width)`` in pixels.
    boxes : tuple of DiagramBox
        Block slots (select/expand/none) followed by band headers (collapse).
    bands : tuple of DiagramBand
    connectors : tuple of tuple
        ``(x0, x1, y)`` arrows between consecutive blocks of a row.
    title : str
    legend : tuple of str
        Categories present, in legend order.
    rows : tuple of tuple
        ``(y0, block_top, axis_y, label_top, y1)`` of each row.
    """

    size: tuple
    boxes: tuple
    bands: tuple
    connectors: tuple
    title: str
    legend: tuple
    rows: tuple
    legend_top: int = 0
    slot_nodes: tuple = ()

    def hit(self, x, y):
        """The :class:`DiagramBox` under ``(x, y)``, or None. Blocks win over band headers."""
        for box in self.boxes:
            x0, y0, x1, y1 = box.rect
            if x0 <= x < x1 and y0 <= y < y1:
                return box
        return None

    def find(self, key):
        """The block box (not a band header) for ``key``, or None."""
        for box in self.boxes:
            if box.key == key and box.action != "collapse":
                return box
        return None

    def header(self, key):
        """The first band header box of the expanded group ``key``, or None."""
        for box in self.boxes:
            if box.key == key and box.action == "collapse":
                return box
        return None


# ----------------------------------------------------------------- geometry
def _log2(n):
    return math.log2(max(1.0, float(n)))


def block_geometry(output_shape, stacked=False):
    """Pixel geometry of a block for an output shape.

    Returns
    -------
    dict
        ``kind`` ("spatial", "vector" or "other"), ``face`` (front height),
        ``thickness`` (front width), ``depth`` (receding offset), ``width``
        and ``height`` of the bounding box (including the stack offset of a
        collapsed group).
    """
    shape = tuple(output_shape) if output_shape else ()
    if len(shape) == 3 and all(d is not None for d in shape):
        height, width, channels = shape
        face = int(round(min(72.0, 10.0 + 8.0 * _log2(height))))
        depth = int(round(min(30.0, 0.45 * (10.0 + 8.0 * _log2(width)))))
        thickness = int(round(min(40.0, 4.0 + 3.0 * _log2(channels))))
        kind = "spatial"
    elif len(shape) == 3:  # spatial with unknown size (None, None, C)
        face, depth = 40, 18
        thickness = int(round(min(40.0, 4.0 + 3.0 * _log2(shape[-1] or 1))))
        kind = "spatial"
    elif len(shape) >= 1 and shape[-1] is not None:
        units = int(np.prod([d for d in shape if d is not None]))
        face = int(round(min(84.0, 10.0 + 7.0 * _log2(units))))
        thickness, depth, kind = 9, 4, "vector"
    else:
        face, thickness, depth, kind = 16, 16, 4, "other"
    stack = 6 if stacked else 0
    return {
        "kind": kind,
        "face": face,
        "thickness": thickness,
        "depth": depth,
        "width": thickness + depth + stack,
        "height": face + depth + stack,
        "stack": stack,
    }


def format_shape(shape):
    """``(28, 28, 16)`` -> ``"28×28×16"``; None -> ``"?"``."""
    if shape is None:
        return "?"
    return "×".join("?" if d is None else str(int(d)) for d in shape) or "scalar"


def format_count(count):
    """Compact parameter count: 950, 4.6k, 2.3M."""
    count = int(count)
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k".replace(".0k", "k")
    return f"{count / 1_000_000:.1f}M".replace(".0M", "M")


# -------------------------------------------------------------------- fonts
@functools.lru_cache(maxsize=8)
def _font(size, bold=False):
    from PIL import ImageFont

    try:
        import matplotlib

        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        path = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf", name)
        return ImageFont.truetype(path, size)
    except Exception:  # no matplotlib font: Pillow's built-in one
        return ImageFont.load_default(size=size)


def _text_width(text, bold=False, size=_FONT_SIZE):
    return _font(size, bold).getlength(text)


def _fit(text, max_width, bold=False, size=_FONT_SIZE):
    """``text`` cut with an ellipsis to fit ``max_width`` pixels."""
    if _text_width(text, bold, size) <= max_width:
        return text
    while text and _text_width(text + "…", bold, size) > max_width:
        text = text[:-1]
    return text + "…"


def _label_lines(node):
    shape = format_shape(node.output_shape)
    if node.head:
        third = node.head
    elif node.is_group and not node.expanded:
        third = f"{node.layer_count} layers"
    elif node.type == "Input":
        third = "input"
    else:
        third = f"{format_count(node.param_count)} p" if node.param_count else ""
    return node.label, shape, third


# ------------------------------------------------------------------- layout
def _flatten(nodes, depth=0):
    """Events ("open", node, depth) / ("slot", node, depth) / ("close", node, depth)."""
    for node in nodes:
        if node.is_group and node.expanded:
            yield "open", node, depth
            yield from _flatten(node.children, depth + 1)
            yield "close", node, depth
        else:
            yield "slot", node, depth


def layout_diagram(nodes, width=960, title=""):
    """Place every visible block, band and label of a diagram.

    Parameters
    ----------
    nodes : sequence of DiagramNode
        Top-level nodes in order (the input first, if it should be drawn).
    width : int
        Largest width in pixels; rows wrap to fit.
    title : str
        Line drawn above the blocks (e.g. the model's name and totals).

    Returns
    -------
    DiagramLayout
    """
    width = max(160, int(width))
    events = list(_flatten(nodes))
    slots = [node for kind, node, _ in events if kind == "slot"]
    geometry = {id(n): block_geometry(n.output_shape, stacked=n.is_group) for n in slots}
    max_depth = max((d + 1 for kind, _, d in events if kind == "open"), default=0)
    block_zone = max((g["height"] for g in geometry.values()), default=40) + 4
    header_zone = max_depth * _BAND_HEADER
    label_zone = _LABEL_LINES * _LINE + 2
    row_height = header_zone + block_zone + label_zone + 2 * _BAND_PAD
    top = _PAD + (22 if title else 0)

    # First pass: x position of every block, wrapping rows. Opening and
    # closing a group adds padding for its band.
    placed = []  # (node, depth, row, x0, x1, ancestors)
    ancestors = []  # open groups: (node, depth)
    row, x = 0, _PAD
    for kind, node, depth in events:
        if kind == "open":
            ancestors.append((node, depth))
            x += _BAND_PAD
            continue
        if kind == "close":
            ancestors.pop()
            x += _BAND_PAD
            continue
        geo = geometry[id(node)]
        texts = _label_lines(node)
        label_w = max(_text_width(texts[0], bold=True), _text_width(texts[1]), _text_width(texts[2], bool(node.head)))
        slot_w = int(max(geo["width"], min(_MAX_LABEL, max(_MIN_LABEL, label_w)))) + 2
        right = width - _PAD - _BAND_PAD * depth
        row_start = _PAD + _BAND_PAD * depth
        if x + slot_w > right and x > row_start:
            row += 1
            x = row_start
        placed.append((node, depth, row, x, x + slot_w, tuple(ancestors)))
        x += slot_w + _SLOT_GAP
    rows_count = row + 1

    def row_geometry(r):
        y0 = top + r * row_height
        block_top = y0 + header_zone + _BAND_PAD
        axis = block_top + block_zone // 2
        label_top = block_top + block_zone
        return y0, block_top, axis, label_top, y0 + row_height

    rows = tuple(row_geometry(r) for r in range(rows_count))

    boxes, slot_nodes, connectors = [], [], []
    segments = {}  # (group key, row) -> [group, depth, x0, x1, first_row]
    first_rows = {}
    previous = None  # (row, right edge of the previous block)
    for node, depth, r, x0, x1, groups in placed:
        _, block_top, axis, label_top, _ = rows[r]
        geo = geometry[id(node)]
        center_x = (x0 + x1) / 2.0
        bx0 = int(round(center_x - geo["width"] / 2.0))
        by0 = int(round(axis - geo["height"] / 2.0))
        block = (bx0, by0, bx0 + geo["width"], by0 + geo["height"])
        rect = (x0 - 2, block_top - 2, x1 + 2, label_top + label_zone)
        if node.type == "Input" or not node.selectable:
            action = "none"
        elif node.is_group:
            action = "expand"
        else:
            action = "select"
        boxes.append(DiagramBox(node.key, action, rect, block, node))
        slot_nodes.append((node, block, (x0, label_top, x1)))
        if previous is not None and previous[0] == r:
            connectors.append((previous[1] + 2, bx0 - 2, axis))
        previous = (r, block[2])
        for group, gdepth in groups:
            inset = _BAND_PAD * (depth - gdepth)
            first_rows.setdefault(group.key, r)
            segment = segments.setdefault((group.key, r), [group, gdepth, x0 - inset, x1 + inset])
            segment[2] = min(segment[2], x0 - inset)
            segment[3] = max(segment[3], x1 + inset)

    bands, headers = [], []
    for (key, r), (group, gdepth, sx0, sx1) in segments.items():
        y0, _, _, _, y1 = rows[r]
        band_y0 = y0 + gdepth * _BAND_HEADER
        rect = (int(max(0, sx0)), int(band_y0), int(min(width - 2, sx1)), int(y1 - 2 - gdepth * 2))
        bands.append(DiagramBand(key, group.label, gdepth, rect, first_rows[key] == r))
        header = (rect[0], rect[1], rect[2], rect[1] + _BAND_HEADER)
        headers.append(DiagramBox(key, "collapse", header, header, group))

    legend = []
    for node in slots:
        category = node.category
        if category not in legend:
            legend.append(category)
    if any(node.head for node in slots):
        legend.append(_HEAD_LEGEND)
    legend_top = top + rows_count * row_height + 4
    height = legend_top + (_LINE + 6 if legend else 0) + _PAD
    bands.sort(key=lambda b: b.depth)
    return DiagramLayout(
        size=(int(height), int(width)),
        boxes=tuple(boxes + headers),
        bands=tuple(bands),
        connectors=tuple(connectors),
        title=title,
        legend=tuple(legend),
        rows=rows,
        legend_top=legend_top,
        slot_nodes=tuple(slot_nodes),
    )


# ---------------------------------------------------------------- drawing
def _shade(colour, factor):
    return tuple(int(max(0, min(255, round(c * factor)))) for c in colour)


def _draw_block(draw, block, node, geo, selected=False):
    x0, y0 = block[0], block[1]
    face, thickness, depth, stack = geo["face"], geo["thickness"], geo["depth"], geo["stack"]
    colour = CATEGORY_COLOURS.get(node.category, CATEGORY_COLOURS["other"])
    outline = _shade(colour, 0.55) if node.type != "Input" else (120, 120, 120)
    layers = [(stack, 0), (stack // 2, stack // 2), (0, stack)] if stack else [(0, 0)]
    for dx, dy in layers:
        left, top = x0 + dx, y0 + dy
        front = (left, top + depth, left + thickness, top + depth + face)
        top_face = [(left, top + depth), (left + depth, top), (left + depth + thickness, top),
                    (left + thickness, top + depth)]
        side = [(left + thickness, top + depth), (left + thickness + depth, top),
                (left + thickness + depth, top + face), (left + thickness, top + depth + face)]
        draw.polygon(side, fill=_shade(colour, 0.78), outline=outline)
        draw.polygon(top_face, fill=_shade(colour, 1.18), outline=outline)
        draw.rectangle((front[0], front[1], front[2], front[3]), fill=colour, outline=outline)
    if node.is_group and not node.expanded:
        cx, cy = x0 + 2, y0 + stack + depth + 2
        draw.rectangle((cx, cy, cx + 10, cy + 10), fill=(255, 255, 255), outline=outline)
        draw.line((cx + 2, cy + 5, cx + 8, cy + 5), fill=_INK)
        draw.line((cx + 5, cy + 2, cx + 5, cy + 8), fill=_INK)


def render_diagram(layout, background=(255, 255, 255, 255)):
    """Draw a :class:`DiagramLayout` as uint8 RGBA ``layout.size``."""
    from PIL import Image, ImageDraw

    height, width = layout.size
    image = Image.new("RGBA", (width, height), tuple(background))
    draw = ImageDraw.Draw(image)
    font, bold = _font(_FONT_SIZE), _font(_FONT_SIZE, bold=True)
    if layout.title:
        draw.text((_PAD, _PAD), _fit(layout.title, width - 2 * _PAD, True, 12), fill=_INK, font=_font(12, True))
    for band in layout.bands:
        tint = _BAND_TINTS[band.depth % len(_BAND_TINTS)]
        ink = _BAND_INK[band.depth % len(_BAND_INK)]
        draw.rounded_rectangle(band.rect, radius=5, fill=tint, outline=_shade(tint, 0.85))
        x0, y0, x1, _ = band.rect
        draw.rectangle((x0 + 4, y0 + 3, x0 + 12, y0 + 11), fill=(255, 255, 255), outline=ink)
        draw.line((x0 + 6, y0 + 7, x0 + 10, y0 + 7), fill=ink)
        text = band.label if band.first else f"{band.label} (cont.)"
        draw.text((x0 + 16, y0 + 1), _fit(text, max(8, x1 - x0 - 20), True), fill=ink, font=bold)
    for x0, x1, y in layout.connectors:
        if x1 - x0 >= 4:
            draw.line((x0, y, x1, y), fill=(150, 150, 150), width=1)
            draw.polygon([(x1, y), (x1 - 4, y - 3), (x1 - 4, y + 3)], fill=(150, 150, 150))
    for node, block, (x0, label_top, x1) in layout.slot_nodes:
        geo = block_geometry(node.output_shape, stacked=node.is_group)
        _draw_block(draw, block, node, geo)
        if node.head:
            draw.rectangle((block[0] - 3, block[1] - 3, block[2] + 2, block[3] + 2), outline=HEAD_COLOUR, width=2)
        available = x1 - x0 + 4
        center = (x0 + x1) / 2.0
        third_colour = HEAD_COLOUR if node.head else _MUTED
        for line, (text, is_bold, colour) in enumerate(
            zip(_label_lines(node), (True, False, bool(node.head)), (_INK, _MUTED, third_colour))
        ):
            if not text:
                continue
            text = _fit(text, available, is_bold)
            text_w = _text_width(text, is_bold)
            draw.text((center - text_w / 2.0, label_top + line * _LINE), text, fill=colour,
                      font=bold if is_bold else font)
    if layout.legend:
        x, y = _PAD, layout.legend_top
        for category in layout.legend:
            colour = CATEGORY_COLOURS.get(category, CATEGORY_COLOURS["other"])
            text_w = _text_width(category)
            if x + 14 + text_w > width - _PAD:
                break
            if category == _HEAD_LEGEND:
                draw.rectangle((x, y + 1, x + 9, y + 10), fill=(255, 255, 255), outline=HEAD_COLOUR, width=2)
            else:
                draw.rectangle((x, y + 1, x + 9, y + 10), fill=colour, outline=_shade(colour, 0.55))
            draw.text((x + 13, y), category, fill=_MUTED, font=font)
            x += int(13 + text_w + 14)
    return np.asarray(image, np.uint8).copy()
