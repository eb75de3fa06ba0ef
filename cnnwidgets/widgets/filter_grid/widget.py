"""FilterGrid: what each filter of a conv layer looks for, as weights and as the input that excites it most."""

import html
import textwrap
import time
from dataclasses import dataclass, field

import numpy as np
from traitlets import Enum, Float, Int, TraitError, Unicode, observe, validate

from ...errors import CNNWidgetsError
from ...render import grid_shape, stack_panels, tile_at
from ...render.filters import (
    caption_tiles,
    diverging_tiles,
    filter_planes,
    image_tiles,
    labelled_colorbar,
    page_grid,
    rgb_tiles,
    symmetric_limit,
    text_block,
    tile_scale,
)
from ..common.traits import ImageArrayTrait, checked_colormap
from ..common.widget import InspectorWidget
from .controls import DETAIL_SIZE, MEAN_CHANNEL, FilterGridControls
from .detail import detail_content
from .layers import filter_count, is_colour_layer, is_output, layer_filters, usable_record
from .results import MaximizationCache

__all__ = ["FilterGrid", "MODES", "MEAN_CHANNEL"]

#: Values of :attr:`FilterGrid.mode`.
MODES = ("weights", "maximize")

# The inspector's own maximization defaults; ``regularization`` scales both.
_L2_PER_UNIT = 0.01
_TV_PER_UNIT = 0.2
_CAPTION_HEIGHT = 12
_GAP = 4
_MARGIN = 2
_RESULTS_KEPT = 32


@dataclass
class _PageView:
    """What the grid canvas shows now (kept to map clicks and redraw the selection)."""

    kind: str  # "weights", "maximize" or "message"
    record: object = None
    indices: tuple = ()
    tiles: np.ndarray = None  # captioned tiles (n, h, w, 4)
    columns: int = 1
    legend: np.ndarray = None
    result: object = None
    stack: np.ndarray = None
    planes: np.ndarray = None
    vmax: float = 0.0
    colour: bool = False
    extra: dict = field(default_factory=dict)


def _default_page_size(input_shape):
    height, width = (d or 224 for d in input_shape[:2])
    return 32 if height * width <= 64 * 64 else 16


class FilterGrid(FilterGridControls, InspectorWidget):
    """Every filter of a convolution layer as a tile: its weights, or the input that excites it most.

    *Weights* mode draws each filter's kernel: the filters of a first layer
    on RGB images as colour images (mid-grey is a zero weight), deeper
    filters as one input channel (or the mean over all of them) in a
    diverging colormap centred on zero, with a legend. *What excites it*
    mode synthesizes, for the filters on the page, the input that maximizes
    each one's mean activation (one batched, regularized gradient ascent,
    run in the background with a progress bar and a Stop button; results
    are cached, so paging back is instant). On the output layer it shows
    the input the model finds most typical of each class. Click a tile to
    see it large, with its weight statistics and, when an ``image`` is
    given, its feature map for that image.

    Parameters
    ----------
    model : keras.Model or Inspector
        The model (its shared inspector is used) or an inspector.
    layer : str, int or LayerRecord, optional
        Layer to show; default the first convolution layer.
    image : array_like, optional
        An input image; the detail view then shows the selected filter's
        feature map for it (or the class probability, on the output layer).
    mode : {"weights", "maximize"}
        Initial mode.
    channel : int
        Initial :attr:`channel`.
    page_size : int, optional
        Tiles per page (and filters maximized per batch); default 32, or 16
        for inputs larger than 64x64 pixels.
    columns : int
        Tiles per row.
    tile_size : int
        About how many pixels wide a tile is: kernels are enlarged by an
        integer factor with crisp pixels, synthesized images fitted.
    steps : int
        Gradient steps of the maximization.
    regularization : float
        Strength of the maximization's smoothness (total variation) and
        decay (L2) terms, 1.0 for the inspector's defaults, 0 for none.
    colormap : str
        Diverging colormap of the weights (any matplotlib name).
    class_names, preprocess
        As for :class:`~cnnwidgets.Inspector`.

    Attributes
    ----------
    image : numpy.ndarray or None
        The input image of the detail view (read-only float32 ``(H, W, C)``
        once set; linkable with other widgets' ``image``), or ``None``.
    colormap : str
        Diverging matplotlib colormap of the weights.
    layer : str
        Path of the layer shown. Any layer path is accepted (so it can be
        ``link``-ed to a :class:`~cnnwidgets.LayerBrowser`'s ``layer``); a
        layer without filters shows a message instead of tiles.
    mode : {"weights", "maximize"}
    page : int
        Page of tiles shown, from 0; clamped to the pages the layer has.
    channel : int
        Weights mode: which input channel of each filter to draw, or ``-1``
        (:data:`MEAN_CHANNEL`) for all of them: a colour image for the RGB
        filters of the first layer, else their mean. Set back to ``-1``
        when the layer changes.
    selected : int
        Index of the filter (or class) shown large, ``-1`` for none.
    steps : int
    regularization : float
    maximization : MaximizationResult or None
        The synthesized images last drawn (plain attribute, never synced).
    maximization_layer : str or None
        The layer :attr:`maximization` belongs to.
    optimization_progress : tuple of int
        ``(done, total)`` steps of the latest optimization.

    Examples
    --------
    >>> import cnnwidgets as cw
    >>> grid = cw.FilterGrid(cw.demo.digits_model(), layer="conv2")
    >>> grid.mode = "maximize"   # synthesizes in the background
    >>> grid.wait(); grid.save_png("conv2.png")  # doctest: +SKIP
    """

    layer = Unicode(None, allow_none=True)
    image = ImageArrayTrait(allow_none=True)
    colormap = Unicode("RdBu_r")
    mode = Enum(MODES, default_value="weights")
    page = Int(0)
    channel = Int(MEAN_CHANNEL)
    selected = Int(-1)
    steps = Int(96)
    regularization = Float(1.0)

    def __init__(self, model, layer=None, image=None, mode="weights", channel=MEAN_CHANNEL, page_size=None,
                 columns=8, tile_size=64, steps=96, regularization=1.0, colormap="RdBu_r", class_names=None,
                 preprocess=None, **kwargs):
        super().__init__(model, class_names=class_names, preprocess=preprocess, **kwargs)
        self._ready = False
        self._quiet = 0
        self._syncing = False
        self._stacks = {}
        self._results = MaximizationCache(_RESULTS_KEPT)
        self._view = None
        self._detail = None
        self._keep_shown = False
        self.columns = max(1, int(columns))
        self.tile_size = max(8, int(tile_size))
        self.page_size = max(1, int(page_size)) if page_size else _default_page_size(self.inspector.input_shape)
        self.colormap = colormap
        self.maximization = None
        self.maximization_layer = None
        self.optimization_progress = (0, 0)
        self._build_controls()
        self.mode = mode
        self.steps = steps
        self.regularization = regularization
        path = self._layer_path(layer)
        self.layer = self._default_layer() if path is None else path
        self._ready = True
        self._quiet += 1  # validate, but draw once below
        try:
            self.channel = channel
        finally:
            self._quiet -= 1
        image_error = None
        try:
            self.image = image
        except TraitError as exc:  # the grid still shows; the message says what was wrong
            image_error = exc
        self._sync_controls()
        self._refresh()
        if image_error is not None:
            self.show_error(image_error)

    # ---------------------------------------------------------------- traits
    def _layer_path(self, layer):
        if layer is None or isinstance(layer, str):
            return layer
        try:
            return self.inspector.layer(layer).path
        except CNNWidgetsError as exc:
            self.show_error(exc)
            return None

    def _default_layer(self):
        convs = self.inspector.conv_layers
        if convs:
            return convs[0].path
        return self.inspector.output_layer.path if self.mode == "maximize" and self.inspector.is_classifier else None

    @validate("layer")
    def _validate_layer(self, proposal):
        value = proposal["value"]
        try:
            return self.inspector.layer(value).path
        except CNNWidgetsError:
            return value  # unknown names are reported by _refresh, not raised (links must not break)

    @validate("page")
    def _validate_page(self, proposal):
        pages = self._page_count(self._count())
        return int(min(max(0, proposal["value"]), pages - 1))

    @validate("channel")
    def _validate_channel(self, proposal):
        value = int(proposal["value"])
        if value < MEAN_CHANNEL:
            raise TraitError(f"channel must be an input channel index or -1 (all channels), not {value}")
        if value != MEAN_CHANNEL and getattr(self, "_ready", False):
            stack, _ = self._weights_stack()
            if stack is not None and value >= stack.shape[-1]:
                raise TraitError(
                    f"the filters of {self.layer!r} have {stack.shape[-1]} input channels (0 to "
                    f"{stack.shape[-1] - 1}); use one of them or -1 for all"
                )
        return value

    @validate("selected")
    def _validate_selected(self, proposal):
        value = int(proposal["value"])
        count = self._count()
        if value < -1 or (value >= count and count):
            raise TraitError(f"selected must be -1 (none) or a filter index 0 to {count - 1}, not {value}")
        return value

    @validate("steps")
    def _validate_steps(self, proposal):
        if int(proposal["value"]) < 1:
            raise TraitError(f"steps must be at least 1, got {proposal['value']}")
        return int(proposal["value"])

    @validate("regularization")
    def _validate_regularization(self, proposal):
        value = float(proposal["value"])
        if not value >= 0:
            raise TraitError(f"regularization must be 0 or more, got {value}")
        return value

    @observe("layer", "mode")
    def _on_view_change(self, change):
        if not self._ready:
            return
        self._quiet += 1
        try:
            if change["name"] == "mode" and self.layer is None:
                self.layer = self._default_layer()  # e.g. the output layer, for a model without conv layers
            if change["name"] == "layer":
                # input channel k of another layer means something else: back to "all"
                self.page, self.selected, self.channel = 0, -1, MEAN_CHANNEL
            else:
                self.page = self.page  # re-clamped: the two modes may count tiles differently
        finally:
            self._quiet -= 1
        self._sync_controls()
        self._refresh()

    @observe("page", "channel", "steps", "regularization")
    def _on_page_change(self, change):
        if not self._ready or self._quiet:
            return
        self._sync_controls()
        if change["name"] == "channel" and self.mode == "maximize":
            return
        if change["name"] in ("steps", "regularization") and self.mode == "weights":
            return
        self._refresh()

    @observe("selected")
    def _on_selected(self, change):
        if not self._ready or self._quiet or self._view is None:
            return
        self._redraw_grid()
        self._draw_detail()

    # ------------------------------------------------------ image, colormap
    @observe("image")
    def _on_image(self, change):
        if self._ready:
            self._draw_detail()

    @validate("colormap")
    def _validate_colormap(self, proposal):
        return checked_colormap(proposal["value"])

    @observe("colormap")
    def _on_colormap(self, change):
        if self._ready and self.mode == "weights":
            self._refresh()

    # ----------------------------------------------------------------- state
    def _record(self):
        record, _ = usable_record(self.inspector, self.layer, self.mode)
        return record

    def _record_is_output(self):
        record = self._record()
        return record is not None and is_output(self.inspector, record)

    def _weights_stack(self):
        """``(stack, colour)`` of the current layer's filters, or ``(None, False)``."""
        record, _ = usable_record(self.inspector, self.layer, "weights")
        if record is None:
            return None, False
        stack = self._stacks.get(record.path)
        if stack is None:
            try:
                stack = self._stacks[record.path] = layer_filters(self.inspector, record)
            except CNNWidgetsError:
                return None, False
        return stack, is_colour_layer(self.inspector, record, stack)

    def _count(self):
        record = self._record()
        if record is None:
            return 0
        if self.mode == "weights":
            stack, _ = self._weights_stack()
            return 0 if stack is None else len(stack)
        return filter_count(self.inspector, record)

    def _page_count(self, count):
        return max(1, -(-count // self.page_size))

    def _page_indices(self, count):
        start = self.page * self.page_size
        return tuple(range(start, min(count, start + self.page_size)))

    def _maximize_key(self, record, indices):
        return (record.path, tuple(indices), int(self.steps), float(self.regularization))

    # --------------------------------------------------------------- drawing
    def _refresh(self):
        """Redraw the grid for the current traits (maximize mode may start a background job)."""
        record, problem = usable_record(self.inspector, self.layer, self.mode)
        if problem is not None:
            self._runner.cancel()
            self._show_problem(problem)
            return
        try:
            if self.mode == "weights":
                self._runner.cancel()
                self._draw_weights(record)
            else:
                self._draw_maximize(record)
        except CNNWidgetsError as exc:
            self._show_problem(str(exc), level="error")
        except Exception as exc:  # keep the widget alive; say what went wrong
            self._show_problem(f"{type(exc).__name__}: {exc}", level="error")

    def _show_problem(self, text, level="warning"):
        lines = textwrap.wrap(text, 64) or [""]
        panel = text_block(lines, width=max(320, 7 * max(len(line) for line in lines)))
        self._view = _PageView("message", extra={"text": text})
        self._detail = None
        self.grid_canvas.show(panel)
        self.legend_canvas.layout.display = "none"
        self.detail_box.layout.display = "none"
        self.page_label.value = ""
        self.show_message(text, level)

    def _draw_weights(self, record):
        stack, colour = self._weights_stack()
        if stack is None:
            layer_filters(self.inspector, record)  # raises the reason
        colour = colour and self.channel == MEAN_CHANNEL
        indices = self._page_indices(len(stack))
        scale = tile_scale(max(stack.shape[1:3]), self.tile_size)
        if colour:
            planes = None
            vmax = symmetric_limit(stack)
            tiles = rgb_tiles(stack[list(indices)], vmax, scale)
            title = "RGB weights (grey = 0)"
        else:
            planes = filter_planes(stack, self.channel)
            vmax = symmetric_limit(planes)
            tiles = diverging_tiles(planes[list(indices)], vmax, self.colormap, scale)
            if stack.shape[-1] == 1:
                title = "weight"
            elif self.channel == MEAN_CHANNEL:
                title = f"mean weight over {stack.shape[-1]} input channels"
            else:
                title = f"weight of input channel {self.channel}"
        legend = labelled_colorbar(-vmax, vmax, "rgb" if colour else self.colormap, title=title)
        view = _PageView(
            "weights", record, indices, self._captioned(tiles, [str(i) for i in indices]),
            self._columns(len(indices)), legend, stack=stack, planes=planes, vmax=vmax, colour=colour,
        )
        self._show_view(view)
        kh, kw, c_in = stack.shape[1:]
        self.show_message(
            f"{record.path}: {len(stack)} filters of {kh}x{kw} over {c_in} input channel{'s' if c_in > 1 else ''}"
            + ("; click a tile to see it large" if self.selected < 0 else "")
        )

    def _draw_maximize(self, record):
        count = filter_count(self.inspector, record)
        indices = self._page_indices(count)
        key = self._maximize_key(record, indices)
        result = self._results.get(key)
        if result is not None:
            self._runner.cancel()  # a job for another page is stale now
            self._show_maximized(record, indices, result)
            return
        shown = self._view  # a refresh for new weights keeps the page's tiles until new ones arrive
        if not (self._keep_shown and shown is not None and shown.result is not None and shown.indices == indices):
            shape = tuple(d or 1 for d in self.inspector.input_shape)
            blank = image_tiles(np.zeros((len(indices),) + shape, np.float32), self.tile_size, value_range=(-1.0, 1.0))
            self._show_view(_PageView("maximize", record, indices, self._captioned(blank, self._captions(record, indices)),
                                      self._columns(len(indices))))
        self._start_maximize(record, indices, key)

    def _start_maximize(self, record, indices, key):
        path, steps, strength = record.path, int(self.steps), float(self.regularization)
        self.optimization_progress = (0, steps)
        what = "classes" if is_output(self.inspector, record) else "filters"
        self.show_message(f"synthesizing the inputs that excite {len(indices)} {what} of {path} ...")

        def progress(done, total):
            self.optimization_progress = (done, total)
            self._report_progress(done, total)

        def compute(cancel):
            started = time.perf_counter()
            result = self.inspector.maximize(
                path, list(indices), steps=steps, l2=_L2_PER_UNIT * strength, tv=_TV_PER_UNIT * strength,
                progress=progress, cancel=cancel,
            )
            return result, time.perf_counter() - started

        def on_result(value):
            result, seconds = value
            self._results.put(key, result)
            current = self._record()
            if self.mode == "maximize" and current is not None and self._maximize_key(
                current, self._page_indices(filter_count(self.inspector, current))
            ) == key:
                self._show_maximized(record, indices, result, seconds)

        self._submit(compute, on_result)

    def _show_maximized(self, record, indices, result, seconds=None):
        tiles = image_tiles(result.images, self.tile_size)
        view = _PageView("maximize", record, indices, self._captioned(tiles, self._captions(record, indices)),
                         self._columns(len(indices)), result=result)
        self.maximization = result
        self.maximization_layer = record.path
        self._show_view(view)
        gain = np.median(result.scores - result.initial_scores)
        took = f" in {seconds:.1f} s" if seconds is not None else " (cached)"
        objective = "logit" if is_output(self.inspector, record) else "mean activation"
        self.show_message(
            f"{record.path}: synthesized{took}; {objective} rose by {gain:.3g} (median over the page) "
            f"from the random start"
        )

    def _captions(self, record, indices):
        if is_output(self.inspector, record):
            return [self.inspector.class_name(i) for i in indices]
        return [str(i) for i in indices]

    def _captioned(self, tiles, captions):
        return caption_tiles(tiles, captions, height=_CAPTION_HEIGHT)

    def _columns(self, count):
        return grid_shape(count, self.columns)[1] if count else 1

    def _show_view(self, view):
        self._view = view
        self._redraw_grid()
        if view.legend is not None:
            self.legend_canvas.show(view.legend)
        self.legend_canvas.layout.display = "" if view.legend is not None else "none"
        self._sync_page_controls()
        self._draw_detail()

    def _redraw_grid(self):
        view = self._view
        if view is None or view.kind == "message":
            return
        position = view.indices.index(self.selected) if self.selected in view.indices else None
        self.grid_canvas.show(page_grid(view.tiles, view.columns, gap=_GAP, selected=position, margin=_MARGIN))

    def _draw_detail(self):
        view = self._view
        if view is None or view.kind == "message" or self.selected < 0:
            self._detail = None
            self.detail_box.layout.display = "none"
            return
        try:
            self._detail = detail_content(self, view, self.selected, DETAIL_SIZE)
        except CNNWidgetsError as exc:
            self.show_error(exc)
            self._detail = None
            self.detail_box.layout.display = "none"
            return
        big, lines, feature = self._detail
        self.detail_canvas.show(big if big is not None else np.full((8, 8, 4), 255, np.uint8))
        self.detail_canvas.layout.display = "" if big is not None else "none"
        body = "<br>".join(
            (f"<b>{_escape(line)}</b>" if i == 0 else _escape(line)) for i, line in enumerate(lines)
        )
        self.detail_info.value = f'<div style="font-size:12px;line-height:1.35;margin:4px 0">{body}</div>'
        if feature is not None:
            self.feature_canvas.show(feature)
        self.feature_canvas.layout.display = "" if feature is not None else "none"
        self.detail_box.layout.display = ""

    # ------------------------------------------------------------ interaction
    def _on_grid_click(self, x, y):
        view = self._view
        if view is None or view.kind == "message" or not view.indices:
            return
        position = tile_at(x - _MARGIN, y - _MARGIN, view.tiles.shape[1:3], view.columns, len(view.indices), gap=_GAP)
        if position is not None:
            self.selected = view.indices[position]

    def tile_position(self, index):
        """``(x, y)`` canvas pixel at the centre of filter ``index``'s tile, or None if not on this page."""
        view = self._view
        if view is None or view.kind == "message" or index not in view.indices:
            return None
        height, width = view.tiles.shape[1:3]
        row, col = divmod(view.indices.index(index), view.columns)
        return (_MARGIN + col * (width + _GAP) + width // 2, _MARGIN + row * (height + _GAP) + height // 2)

    def cached_results(self, layer=None):
        """Maximization results kept for paging back, newest first (only ``layer``'s if given)."""
        return self._results.values(layer)

    def clear_results(self):
        """Forget the kept maximization results (the inspector has its own cache)."""
        self._results.clear()

    def synthesize(self):
        """Maximize the filters of the current page now (maximize mode; a cached page is just redrawn)."""
        if self.mode != "maximize":
            self.mode = "maximize"
            return
        self._refresh()

    def stop(self):
        """Stop the running optimization (within one gradient step) and drop any waiting one."""
        busy = self._runner.busy
        super().stop()
        if busy and self.mode == "maximize":
            done, total = self.optimization_progress
            self.show_message(f"stopped after {done} of {total} steps; press Synthesize to run again", "warning")

    def _refresh_from_weights(self):
        self._stacks.clear()  # kernels and syntheses of the old weights (the inspector's cache is versioned)
        self._results.clear()
        self._keep_shown = True
        self._refresh()
        self._keep_shown = False

    # -------------------------------------------------------------- snapshot
    def _snapshot_panels(self):
        left = [self.grid_canvas.image]
        if self._view is not None and self._view.legend is not None and self.mode == "weights":
            left.append(self._view.legend)
        panels = [stack_panels(left, axis=0, gap=8, background=(255, 255, 255, 255))]
        if self._detail is not None:
            big, lines, feature = self._detail
            wrapped = [part for line in lines for part in (textwrap.wrap(line, 52) or [""])]
            panels.append(stack_panels([big, text_block(wrapped), feature], axis=0, gap=6,
                                       background=(255, 255, 255, 255)))
        return panels


def _escape(text):
    return html.escape(str(text))
