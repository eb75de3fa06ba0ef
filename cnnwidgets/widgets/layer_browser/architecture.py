"""The clickable architecture diagram of the LayerBrowser.

:func:`build_diagram_nodes` turns the inspector's layer records into the
:class:`~cnnwidgets.render.architecture.DiagramNode` tree the renderer draws:
nested models become groups, and in a model with many layers, runs of layers
that share a name prefix (``block_3_expand``, ``block_3_project``, ...)
become groups too, so MobileNetV2's 155 layers read as ~30 blocks until a
block is expanded. :class:`ArchitectureDiagram` shows the tree on an
:class:`~cnnwidgets.widgets.common.canvas.OverlayCanvas` and turns
clicks into "select this layer" and "expand / collapse this group".
"""

import re
from collections import defaultdict

import ipywidgets as widgets
import numpy as np

from ...render.architecture import DiagramNode, format_count, format_shape, layout_diagram, render_diagram
from ..common.canvas import OverlayCanvas
from ..common.style import as_card

__all__ = ["ArchitectureDiagram", "build_diagram_nodes", "output_heads", "model_title", "name_group_key", "INPUT_KEY",
           "GROUP_PREFIX"]

#: Key of the input block (not a layer; clicking it does nothing).
INPUT_KEY = "__input__"
#: Keys of name groups start with this (layer paths never do).
GROUP_PREFIX = "group:"

SELECTED_COLOUR = "#ff7f0e"
HOVER_COLOUR = "#9aa7b8"

_BLOCK_NAME = re.compile(r"^(.*?block_?\d+[a-z]?)(?=_|$)", re.IGNORECASE)


def name_group_key(name):
    """The name prefix that groups a layer with its neighbours, or None.

    ``block_3_expand`` -> ``block_3``; ``block1_conv2`` -> ``block1``;
    ``conv2_block1_1_conv`` -> ``conv2_block1``; ``expanded_conv_project`` ->
    ``expanded_conv``; ``conv1_pad`` -> ``conv1``; ``conv2d_3`` -> None.
    """
    match = _BLOCK_NAME.match(name)
    if match:
        return match.group(1)
    tokens = name.split("_")
    if len(tokens) >= 3:
        return "_".join(tokens[:2])
    if len(tokens) == 2 and tokens[0] and not tokens[1].isdigit():
        return tokens[0]
    return None


def _short_label(name, prefix):
    if prefix and name.startswith(prefix) and len(name) > len(prefix):
        rest = name[len(prefix) :].lstrip("_")
        return rest or name
    return name


def model_title(inspector, outputs):
    """The diagram's title: name, layers, parameters (trainable ones when fewer), input and ``outputs`` (text)."""
    records = inspector.layers
    total = sum(r.param_count for r in records if r.depth == 0)
    try:
        trainable = sum(int(np.prod(w.shape)) for w in inspector.model.trainable_weights)
    except Exception:
        trainable = None
    train = f" ({trainable:,} trainable)" if trainable is not None and trainable != total else ""
    return (f"{inspector.model.name} · {len(records)} layers · {total:,} parameters{train} · "
            f"input {format_shape(inspector.input_shape)} → {outputs}")


def output_heads(inspector):
    """``{layer path: "output · kind"}`` for the layers that produce the model's outputs.

    With several outputs the label numbers the output from 1 (``"out 2 · values"``).
    """
    graph = inspector.graph
    if graph is None:
        return {}
    several = len(graph.final_layers) > 1
    heads = {}
    for index, (layer, kind) in enumerate(zip(graph.final_layers, inspector.output_kinds)):
        for record in inspector.layers:
            if record.layer is layer:
                label = f"out {index + 1} · {kind}" if several else f"output · {kind}"
                heads[record.path] = f"{heads[record.path]}, {label}" if record.path in heads else label
                break
    return heads


def build_diagram_nodes(records, input_shape=None, expanded=(), group_threshold=24, min_group=2, heads=None):
    """The diagram tree of a model.

    Parameters
    ----------
    records : sequence of LayerRecord
        ``Inspector.layers`` (in order; nested layers follow their model).
    input_shape : tuple, optional
        Draw an input block of this shape first.
    expanded : collection of str
        Keys of the groups to draw expanded (nested model paths, name-group keys).
    group_threshold : int
        Group runs of same-prefix layers only in containers with more layers than this.
    min_group : int
        Shortest run that becomes a group.
    heads : dict, optional
        ``{layer path: label}`` of the output heads (see :func:`output_heads`):
        those blocks, and the collapsed groups holding them, are marked.

    Returns
    -------
    tuple
        ``(nodes, groups)``: the top-level :class:`DiagramNode` list, and
        ``{group key: (representative layer path, member layer paths)}``.
        The representative is what selecting the collapsed group shows: a
        nested model's own output, or a name group's last layer.
    """
    expanded = set(expanded)
    heads = dict(heads or {})
    children = defaultdict(list)
    for record in records:
        children[record.parent].append(record)
    groups = {}

    def members(record):
        if not record.is_model:
            return [record.path]
        out = [record.path]
        for child in children.get(record.path, []):
            out.extend(members(child))
        return out

    def group_head(paths):
        return ", ".join(heads[p] for p in paths if p in heads)

    def layer_node(record, prefix=None):
        if record.is_model:
            kids = container(record.path, record.name)
            inside = members(record)
            groups[record.path] = (record.path, inside)
            return DiagramNode(
                key=record.path, label=_short_label(record.name, prefix), type=record.type,
                output_shape=record.output_shape, param_count=record.param_count, children=tuple(kids),
                expanded=record.path in expanded, layer_count=len(inside) - 1,
                head="" if record.path in expanded else group_head(inside),
            )
        return DiagramNode(
            key=record.path, label=_short_label(record.name, prefix), type=record.type,
            output_shape=record.output_shape, param_count=record.param_count, head=heads.get(record.path, ""),
        )

    def container(parent, parent_name=None):
        recs = children.get(parent, [])
        if len(recs) <= group_threshold:
            return [layer_node(r) for r in recs]
        nodes, index = [], 0
        while index < len(recs):
            record = recs[index]
            key = None if record.is_model else name_group_key(record.name)
            end = index + 1
            while key is not None and end < len(recs) and not recs[end].is_model and (
                name_group_key(recs[end].name) == key
            ):
                end += 1
            if key is None or end - index < min_group:
                nodes.append(layer_node(record))
                index += 1
                continue
            run = recs[index:end]
            group_key = f"{GROUP_PREFIX}{parent + '/' if parent else ''}{key}"
            kids = tuple(layer_node(r, key) for r in run)
            groups[group_key] = (run[-1].path, [r.path for r in run])
            nodes.append(
                DiagramNode(
                    key=group_key, label=key, type="Group", output_shape=run[-1].output_shape,
                    param_count=sum(r.param_count for r in run), children=kids,
                    expanded=group_key in expanded, layer_count=len(run),
                    head="" if group_key in expanded else group_head([r.path for r in run]),
                )
            )
            index = end
        return nodes

    nodes = container(None)
    if input_shape is not None:
        nodes.insert(0, DiagramNode(INPUT_KEY, "input", "Input", tuple(input_shape), selectable=False))
    return nodes, groups


class ArchitectureDiagram:
    """The model's structure as a clickable diagram.

    Parameters
    ----------
    inspector : Inspector
    width : int
        Diagram width in pixels; rows wrap to fit.
    max_height : int
        Height of the scrolling box around the diagram.
    title : str
        Line drawn above the blocks.

    Attributes
    ----------
    widget : ipywidgets.Box
        The scrolling box holding the canvas.
    canvas : OverlayCanvas
    layout : DiagramLayout
        The current layout (boxes for hit-testing).
    expanded : set of str
        Keys of expanded groups.
    selected : str or None
        Path of the highlighted layer.
    """

    def __init__(self, inspector, width=960, max_height=420, title=""):
        self.inspector = inspector
        self.width = int(width)
        self.title = title
        self.records = inspector.layers
        #: ``{layer path: label}`` of the layers producing the model's outputs (marked in the diagram).
        self.heads = output_heads(inspector)
        self.expanded = set()
        self._revealed = set()  # expanded only to show the selection: collapsed when it leaves
        self.selected = None
        self.hovered = None
        self._on_select = []
        self._on_hover = []
        _, self.groups = build_diagram_nodes(self.records, None, ())
        self.canvas = OverlayCanvas(self.width, 100, css_class="cnnwidgets-layer-diagram")
        # a light card (the diagram is drawn on white), with room for its padding and a scroll bar
        self.widget = as_card(widgets.Box(
            [self.canvas.widget],
            layout=widgets.Layout(max_height=f"{int(max_height)}px", overflow="auto", width=f"{self.width + 30}px",
                                  flex="0 0 auto"),
        ))
        self.widget.add_class("cnnwidgets-layer-diagram-box")
        self.canvas.on_mouse_down(self._mouse_down)
        self.canvas.on_mouse_move(self._mouse_move)
        self.canvas.on_mouse_out(self._mouse_out)
        self.render()

    # ------------------------------------------------------------ callbacks
    def on_select(self, callback):
        """Call ``callback(path)`` when a click asks to select a layer."""
        self._on_select.append(callback)

    def on_hover(self, callback):
        """Call ``callback(node_or_None)`` when the pointer enters a block (or leaves all)."""
        self._on_hover.append(callback)

    # ---------------------------------------------------------------- state
    def nodes(self):
        """The current :class:`DiagramNode` tree (input block first)."""
        nodes, _ = build_diagram_nodes(self.records, self.inspector.input_shape, self.expanded, heads=self.heads)
        return nodes

    def render(self):
        """Lay out and draw the diagram (after expanding or collapsing)."""
        self.layout = layout_diagram(self.nodes(), self.width, self.title)
        self.canvas.show(render_diagram(self.layout), outlines={})
        self._draw_selection()
        if self.hovered is not None:  # the blocks moved: the pointer is over something else now
            self.hovered = None
            for callback in self._on_hover:
                callback(None)

    def containing_groups(self, path):
        """Keys of the groups that contain layer ``path`` (outermost first)."""
        found = [key for key, (_, paths) in self.groups.items() if path in paths and key != path]
        return sorted(found, key=lambda key: len(self.groups[key][1]), reverse=True)

    def visible_key(self, path):
        """The key of the block that shows ``path``: itself, or its outermost collapsed group."""
        for key in self.containing_groups(path):
            if key not in self.expanded:
                return key
        return path

    def reveal(self, path):
        """Expand the groups holding ``path``; collapse those opened only for an earlier selection.

        Groups the user expanded by clicking stay open. Returns True if the
        set of expanded groups changed.
        """
        needed = set(self.containing_groups(path))
        stale = self._revealed - needed
        hidden = needed - self.expanded
        self.expanded = (self.expanded - stale) | hidden
        self._revealed = (self._revealed & needed) | hidden
        return bool(stale or hidden)

    def expand(self, key):
        """Expand a group (it then stays open when the selection moves elsewhere)."""
        self._revealed.discard(key)
        if key in self.groups and key not in self.expanded:
            self.expanded.add(key)
            self.render()

    def collapse(self, key):
        """Collapse a group and the groups inside it."""
        if key in self.expanded:
            inner = {k for k in self.expanded if k in self.groups and set(self.groups[k][1]) < set(self.groups[key][1])}
            self.expanded -= inner | {key}
            self._revealed -= inner | {key}
            self.render()

    def select(self, path, reveal=True):
        """Highlight layer ``path``; with ``reveal``, expand its groups (see :meth:`reveal`)."""
        self.selected = path
        if reveal and self.reveal(path):
            self.render()
        else:
            self._draw_selection()

    # ------------------------------------------------------------- geometry
    def position(self, path):
        """``(x, y)`` canvas centre of the block showing ``path`` (or its band header), or None."""
        key = self.visible_key(path)
        box = self.layout.find(key) or self.layout.header(key)
        return None if box is None else box.center

    def _selection_boxes(self):
        if self.selected is None:
            return []
        key = self.visible_key(self.selected)
        box = self.layout.find(key)
        if box is not None:
            return [_yx(box.rect)]
        return [_yx(b.rect) for b in self.layout.boxes if b.key == key and b.action == "collapse"]

    def _draw_selection(self):
        self.canvas.set_outline("selected", self._selection_boxes(), SELECTED_COLOUR, 3)

    def _draw_hover(self):
        box = None if self.hovered is None else self.layout.find(self.hovered) or self.layout.header(self.hovered)
        boxes = [] if box is None or self.visible_key(self.selected or "") == self.hovered else [_yx(box.rect)]
        self.canvas.set_outline("hover", boxes, HOVER_COLOUR, 1)

    # ---------------------------------------------------------------- mouse
    def _mouse_down(self, x, y):
        box = self.layout.hit(x, y)
        if box is None or box.action == "none":
            return
        if box.action == "collapse":
            self.collapse(box.key)
            return
        if box.action == "expand":
            path = self.groups[box.key][0]
            self.expand(box.key)
        else:
            path = box.key
        for callback in self._on_select:
            callback(path)

    def _mouse_move(self, x, y):
        box = self.layout.hit(x, y)
        key = None if box is None or box.action == "none" else box.key
        if key == self.hovered:
            return
        self.hovered = key
        self._draw_hover()
        for callback in self._on_hover:
            callback(None if box is None or key is None else box.node)

    def _mouse_out(self, x, y):
        if self.hovered is not None:
            self.hovered = None
            self._draw_hover()
            for callback in self._on_hover:
                callback(None)


def _yx(rect):
    x0, y0, x1, y1 = rect
    return y0, x0, y1, x1


def describe_node(node):
    """One line about a diagram node: name, type, shape, parameters."""
    if node.is_group and node.type == "Group":
        what = f"block of {node.layer_count} layers"
    elif node.is_group:
        what = f"{node.type} (nested model, {node.layer_count} layers)"
    else:
        what = node.type
    name = node.label if node.type == "Group" else node.key
    head = f" · {node.head}" if node.head else ""
    return (f"{name} · {what} · output {format_shape(node.output_shape)} · {format_count(node.param_count)} "
            f"params{head}")
