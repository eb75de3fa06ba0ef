"""LayerBrowser: a CNN's structure and every layer's feature maps, live, in one widget.

>>> import cnnwidgets as cw
>>> browser = cw.LayerBrowser(cw.demo.digits_model())   # doctest: +SKIP
>>> browser.layer = "conv2"; browser.image_index = 7    # doctest: +SKIP

What it shows
-------------
* The architecture as a diagram (blocks sized by output shape, coloured by
  layer kind; nested models and name blocks such as ``block_3_*`` collapse to
  one block), plus a dropdown of every layer path. Click a block to select
  its layer; click a collapsed block to expand it, a band's header to
  collapse it.
* Inputs: a strip of thumbnails, an upload button (PNG/JPEG, converted to the
  model's input shape), and for grayscale models a pad to draw a digit on.
* The selected layer's feature maps for the input: one tile per channel,
  colormap, shared or per-channel normalization, channel order or most active
  first, pages of ``page_size`` tiles. Point at a tile to read values, click
  it to enlarge it. A vector layer is drawn as bars (or coloured cells).
* Every output head of the model: a classifier's top classes (bqplot bars);
  on a segmentation, regression or several-output model one card per output
  (top classes, regression values, or the predicted mask with a score map
  per class). The diagram marks the layers that produce the outputs.

What a layer switch sends to the browser
----------------------------------------
Only the new page of tiles (one PNG), the enlarged tile (one PNG) and a few
outline commands: the diagram and the thumbnails are re-sent only when they
change (expanding a group, a new input). A page holds at most ``page_size``
tiles and ``max_values`` shown values: larger maps are averaged in
``stride x stride`` blocks (the readout still gives the exact value under the
pointer). With the defaults (64 tiles, 65,536 values) a layer switch on VGG16
or MobileNetV2 sends well under 1 MB (``benchmarks/bench_layer_browser.py``).
"""

import html

import ipywidgets as widgets
import numpy as np
import traitlets

from ...errors import CNNWidgetsError, JobCancelled
from ...render import stack_panels
from ...render.architecture import format_shape
from ...render.feature_maps import CHANNEL_ORDERS, FEATURE_NORMALIZATIONS, page_count
from ...render.png import encode_png_fast
from ..common.canvas import ImageCanvas, drawing
from ..common.style import TEXT_MUTED, WARNING, stylesheet
from ..common.thumbnails import ThumbnailStrip, display_rgba
from ..common.targets import RequestedTarget
from ..common.traits import ImageArrayTrait, checked_colormap
from ..common.widget import InspectorWidget, image_batch, is_embedded_digits_model, name_digits_classes
from .architecture import ArchitectureDiagram, describe_node, model_title
from .compute import compute_maps_frame, layer_kind, layer_width
from .heads import OutputHeadsView, describe_outputs, read_heads
from .inputs import DrawingPad, convert_upload, describe_label, drawn_image, placeholder_image, uploaded_files
from .maps import FeatureMapsView

__all__ = ["LayerBrowser"]

_WHITE = (255, 255, 255, 255)
_DIAGRAM_HINT = (f"<span style='color:{TEXT_MUTED}'>click a block to see its feature maps (a stacked block expands, "
                 "a band's header collapses); point at a block for details</span>")


class LayerBrowser(RequestedTarget, InspectorWidget):
    """The model's structure and every layer's feature maps, live.

    Parameters
    ----------
    model : keras.Model or Inspector
        The model (Sequential or functional, nested models included): a
        classifier, or any model with one image input and class, value or
        dense-map outputs (see ``output_kinds``).
    images : array_like, optional
        ``(N, H, W, C)`` (or ``(N, H, W)`` for grayscale) images in the
        model's display range (0-255 unless the inspector says otherwise),
        offered as thumbnails. Default: the digits samples for the embedded
        digits model; otherwise a random image (smooth colour blobs) and a note asking for
        images.
    class_names : sequence of str, optional
        One name per class (the digits model gets "0".."9").
    preprocess : callable, optional
        Passed to the inspector (e.g. ``keras.applications.*.preprocess_input``).
    labels : array_like, optional
        True class of each image, shown under the input.
    layer : str, optional
        Layer to select first; default the first convolution layer.
    page_size : int
        Feature-map tiles per page.
    max_values : int
        Most activation values drawn per page (bigger maps are block-averaged).
    width : int
        Overall width in pixels.
    output_kinds : str, sequence or dict, optional
        What each output holds ("classes", "values" or "map"), passed to the
        inspector; guessed when not given (see :class:`~cnnwidgets.Inspector`).

    Traits
    ------
    layer : str
        Selected layer path (a name or a path may be set; it is validated and
        normalized to the path).
    image_index : int
        Index of the shown image in ``images``; -1 for an uploaded, drawn or
        pushed image.
    image : numpy.ndarray
        The shown input (read-only float32 ``(H, W, C)`` in the display
        range). Setting it shows that image (as :meth:`set_image`), so it can
        be ``link``-ed with other widgets' ``image``.
    output : str
        The output head whose class (value, map channel) is highlighted; the
        first by default. Every head is shown whatever it is.
    class_index : int or None
        The class highlighted in that head (its chart bar, value row or score
        map); ``None`` (default) for the predicted class. An index or a
        class name may be set.
    predicted_class : int or None
        Read-only: the predicted class of the shown input in that head
        (on a map, the class predicted over the largest area; None for values).
    output_values, predicted_mask, probabilities : numpy.ndarray or None
        Read-only: that head's output for the shown input (see
        :class:`~cnnwidgets.widgets.common.targets.RequestedTarget`).
    colormap : str
        Any matplotlib colormap name.
    normalization : {"shared", "per-channel"}
    channel_order : {"channel", "most active"}
    page : int
        Page of tiles (clipped to the layer's pages).
    channel : int
        Channel (unit) shown enlarged; -1 for the first tile of the page.

    Attributes
    ----------
    inspector : Inspector
        The shared backend (``Inspector.for_model(model)``).
    diagram : ArchitectureDiagram
    maps : FeatureMapsView
    heads : OutputHeadsView
        One card per output (on a classifier, its chart sits beside the maps).
    chart : ClassScoresChart or None
        The first classes head's chart (the classifier's prediction chart).
    thumbnails : ThumbnailStrip or None
    pad : DrawingPad or None
    upload : ipywidgets.FileUpload
    """

    layer = traitlets.Unicode(help="selected layer path")
    image_index = traitlets.Int(-1, help="index into images; -1 for an uploaded, drawn or pushed image")
    image = ImageArrayTrait(help="the shown input; set it to show another image")
    # output, class_index (highlighted in that head; None: the predicted class) and the read-only
    # predicted_class, probabilities, output_values and predicted_mask come from RequestedTarget.
    colormap = traitlets.Unicode("viridis", help="matplotlib colormap of the feature maps")
    normalization = traitlets.Enum(FEATURE_NORMALIZATIONS, default_value="shared")
    channel_order = traitlets.Enum(CHANNEL_ORDERS, default_value="channel")
    page = traitlets.Int(0, help="page of feature-map tiles")
    channel = traitlets.Int(-1, help="channel shown enlarged; -1 for the first tile of the page")

    def __init__(self, model, images=None, class_names=None, preprocess=None, labels=None, layer=None,
                 page_size=64, max_values=262144, width=940, **kwargs):
        super().__init__(model, class_names=class_names, preprocess=preprocess, **kwargs)
        self._ready = False
        self.page_size = int(page_size)
        self.vector_page_size = 2048
        self.max_values = int(max_values)
        insp = self.inspector
        self.records = insp.layers
        self._record_by_path = {r.path: r for r in self.records}
        self.is_digits_default = is_embedded_digits_model(insp)
        name_digits_classes(insp)
        self.images, self.labels, images_note = self._load_images(images, labels)
        self._setting_image = False
        self._image_key = None
        self._image_caption = ""
        self._input_note = self._images_note = images_note
        self._drawn_input = None
        self.frame = None
        self._heads, self._head_image = [], None

        self._build(int(width))
        self.layer = self.records[self._default_layer_index()].path if layer is None else layer
        self.layer_dropdown.value = self.layer
        widgets.link((self.layer_dropdown, "value"), (self, "layer"))
        widgets.link((self.maps.normalization, "value"), (self, "normalization"))
        widgets.link((self.maps.order, "value"), (self, "channel_order"))
        self.maps.colormap.observe(self._colormap_picked, "value")
        self.observe(self._on_layer, "layer")
        self.observe(self._on_image_index, "image_index")
        self.observe(self._on_view, ["colormap", "normalization", "channel_order", "page", "channel"])
        self.observe(self._on_colormap, "colormap")
        # (after RequestedTarget's own observer of output, which resets class_index and output_kind)
        self.observe(self._on_target, ["output", "class_index"])
        self.diagram.select(self.layer)
        self._describe_layer()
        if len(self.images):
            self.image_index = 0
        else:
            self._set_image(placeholder_image(self.inspector), "random image (no images given)", note=images_note)
        self._ready = True
        self._refresh()

    # ----------------------------------------------------------------- setup
    def _load_images(self, images, labels):
        insp = self.inspector
        if images is None and self.is_digits_default:
            from ...demo import digits_samples

            images, labels = digits_samples()
            return np.asarray(images), np.asarray(labels), "the digits samples: click one, upload a picture or draw"
        if images is None:
            return np.zeros((0,) + tuple(d or 1 for d in insp.input_shape), np.float32), None, (
                "no images given: showing a random image. Pass images=... (N, H, W, C), or upload a picture"
            )
        array, labels = image_batch(insp, images, labels)
        return array, labels, f"{len(array)} images: click one, or upload a picture"

    def _default_layer_index(self):
        for record in self.records:
            if record.is_conv:
                return record.index
        for record in self.records:
            if record.is_spatial and not record.is_model:
                return record.index
        return 0

    def _build(self, width):
        insp = self.inspector
        self.diagram = ArchitectureDiagram(insp, width=width - 20, title=model_title(insp, describe_outputs(insp)))
        self.diagram.on_select(self._diagram_clicked)
        self.diagram.on_hover(self._diagram_hovered)
        self.diagram_hover = widgets.HTML(_DIAGRAM_HINT, layout=widgets.Layout(min_height="1.4em"))

        options = []
        for record in self.records:
            indent = "\u2003" * record.depth
            label = f"{indent}{record.name} — {record.type} {format_shape(record.output_shape)}"
            options.append((label, record.path))
        self.layer_dropdown = widgets.Dropdown(options=options, description="layer",
                                               layout=widgets.Layout(width="360px"),
                                               style={"description_width": "40px"})
        self.layer_dropdown.add_class("cnnwidgets-layer-select")
        self.previous_layer = widgets.Button(icon="arrow-left", tooltip="previous layer",
                                             layout=widgets.Layout(width="36px"))
        self.next_layer = widgets.Button(icon="arrow-right", tooltip="next layer", layout=widgets.Layout(width="36px"))
        self.previous_layer.on_click(lambda _: self._step_layer(-1))
        self.next_layer.on_click(lambda _: self._step_layer(1))
        self.layer_info = widgets.HTML()
        self.busy_label = widgets.HTML(layout=widgets.Layout(min_width="90px"))
        layer_row = widgets.HBox([self.layer_dropdown, self.previous_layer, self.next_layer, self.layer_info,
                                  self.busy_label], layout=widgets.Layout(align_items="center"))

        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload",
                                         layout=widgets.Layout(width="110px"))
        self.upload.observe(self._uploaded, "value")
        self.thumbnails = None
        input_row = [widgets.HTML("<b>Input</b>", layout=widgets.Layout(width="44px"))]
        if len(self.images):
            self.thumbnails = ThumbnailStrip(self.images, insp.input_range, width=width - 180)
            self.thumbnails.on_pick(self._thumbnail_clicked)
            input_row.append(self.thumbnails.widget)
        input_row.append(self.upload)
        input_bar = widgets.HBox(input_row, layout=widgets.Layout(align_items="center"))

        self.preview = ImageCanvas(140, 140)
        self.preview.add_class("cnnwidgets-input-preview")
        self.preview_caption = widgets.HTML(layout=widgets.Layout(width="160px"))
        left = [widgets.HTML("<small>What the model sees:</small>"), self.preview, self.preview_caption]
        self.pad = None
        if insp.input_shape[-1] == 1:
            self.pad = DrawingPad(size=140, brush=14)
            self.pad.on_change(self._drawn)
            left.append(self.pad.widget)
        left_column = widgets.VBox(left, layout=widgets.Layout(width="160px", flex="0 0 auto"))

        self.maps = FeatureMapsView(width=448, detail_size=180)
        self.maps.on_click(self._tile_clicked)
        self.maps.previous_page.on_click(lambda _: self._step_page(-1))
        self.maps.next_page.on_click(lambda _: self._step_page(1))

        self.heads = OutputHeadsView(insp)
        self.heads.on_pick(self._head_picked)
        charts = self.heads.charts
        self.chart = charts[0] if charts else None
        right = [self.maps.detail_widget]
        below = []
        if insp.is_classifier:  # the prediction chart beside the maps, as it always was
            right.append(self.heads.widget)
        else:
            below = [widgets.HTML(f"<b>Outputs</b> <span style='color:{TEXT_MUTED}'>· what each head of the "
                                  "model says about the input</span>"), self.heads.widget]
        right_column = widgets.VBox(right, layout=widgets.Layout(width="290px", flex="0 0 auto"))
        body = widgets.HBox([left_column, self.maps.widget, right_column],
                            layout=widgets.Layout(align_items="flex-start"))
        self.children = [stylesheet(), self.diagram.widget, self.diagram_hover, layer_row, input_bar, body,
                         *below, widgets.HBox([self.status, self.progress])]
        self.add_class("cnnwidgets-layer-browser")

    # ------------------------------------------------------------ validation
    @traitlets.validate("layer")
    def _validate_layer(self, proposal):
        try:
            return self.inspector.layer(proposal.value).path
        except CNNWidgetsError as exc:
            raise traitlets.TraitError(str(exc)) from None

    @traitlets.validate("image_index")
    def _validate_image_index(self, proposal):
        index, count = int(proposal.value), len(getattr(self, "images", ()))
        if not -1 <= index < count:
            raise traitlets.TraitError(
                f"image_index {index} is out of range: there are {count} images (0 to {count - 1}); "
                "-1 means an uploaded, drawn or pushed image"
            )
        return index

    @traitlets.validate("colormap")
    def _validate_colormap(self, proposal):
        return checked_colormap(proposal.value)

    @traitlets.validate("page")
    def _validate_page(self, proposal):
        record = self._record_by_path.get(self.layer)
        count = None if record is None else layer_width(record.output_shape)
        if count is None:
            return max(0, int(proposal.value))
        per_page = self.page_size if layer_kind(record.output_shape) == "spatial" else self.vector_page_size
        return min(max(0, int(proposal.value)), page_count(count, per_page) - 1)

    @traitlets.validate("channel")
    def _validate_channel(self, proposal):
        value = int(proposal.value)
        record = self._record_by_path.get(self.layer)
        count = None if record is None else layer_width(record.output_shape)
        if value < -1 or (count is not None and value >= count):
            raise traitlets.TraitError(
                f"channel {value} is out of range for layer {self.layer!r} with {count} channels; "
                "-1 means the first tile"
            )
        return value

    # --------------------------------------------------------------- inputs
    @traitlets.observe("image")
    def _on_image(self, change):
        """An image set from outside (code or a link): show it like :meth:`set_image`."""
        if self._setting_image:
            return
        self._image_key = self.inspector.prepare(change.new)[2]
        self._image_caption = self._input_note = "pushed image"
        self._set_index_quietly(-1)
        self._refresh()

    def set_image(self, image, caption="pushed image"):
        """Show ``image`` (``(H, W[, C])`` in the display range) instead of a sample.

        Raises
        ------
        InvalidImageError
            The image does not fit the model's input.
        """
        self._set_image(image, caption, note=caption)
        self._set_index_quietly(-1)
        self._refresh()

    def _set_image(self, image, caption, note=None):
        display, _, key = self.inspector.prepare(image)
        self._setting_image = True
        try:
            self.image = display
        finally:
            self._setting_image = False
        self._image_key, self._image_caption = key, caption
        if note is not None:
            self._input_note = note

    def _set_index_quietly(self, index):
        self._quiet_index = True
        try:
            self.image_index = index
        finally:
            self._quiet_index = False
        if self.thumbnails is not None:
            self.thumbnails.select(index if index >= 0 else None)

    def _show_sample(self, index):
        label = "" if self.labels is None else f" · label {describe_label(self.inspector, self.labels[index])}"
        self._set_image(self.images[index], f"sample {index}{label}", note=self._images_note)
        if self.thumbnails is not None:
            self.thumbnails.select(index)

    def _on_image_index(self, change):
        if getattr(self, "_quiet_index", False):
            return
        if change.new >= 0:
            self._show_sample(change.new)
            self._refresh()
        elif self.thumbnails is not None:
            self.thumbnails.select(None)

    def _thumbnail_clicked(self, index):
        self.image_index = index

    def _uploaded(self, change):
        files = uploaded_files(change.new)
        if not files:
            return
        name, data = files[0]
        try:
            image, description = convert_upload(name, data, self.inspector.input_shape,
                                                invert_light_background=self.is_digits_default)
            self._set_image(image, f"upload: {name}", note=description)
        except Exception as exc:  # never a stack trace in the notebook
            self.show_error(exc)
            return
        finally:
            try:
                self.upload.value = ()
            except Exception:
                pass
        self._set_index_quietly(-1)
        self._refresh()

    def _drawn(self, strokes):
        if not strokes.any():
            return
        image, note = drawn_image(self.inspector, strokes)
        self._set_image(image, "drawing", note=note)
        self._set_index_quietly(-1)
        self._refresh()

    # ---------------------------------------------------------------- layers
    def _diagram_clicked(self, path):
        self.layer = path

    def _diagram_hovered(self, node):
        self.diagram_hover.value = _DIAGRAM_HINT if node is None else (
            f"<span style='color:{TEXT_MUTED}'>{html.escape(describe_node(node))}"
            + (" · click to expand" if node.is_group and not node.expanded else "")
            + "</span>"
        )

    def diagram_position(self, layer):
        """``(x, y)`` diagram-canvas pixel to click to select ``layer`` (name or path)."""
        return self.diagram.position(self.inspector.layer(layer).path)

    def _step_layer(self, step):
        index = self._record_by_path[self.layer].index + step
        if 0 <= index < len(self.records):
            self.layer = self.records[index].path

    def _step_page(self, step):
        self.page = self.page + step

    def _tile_clicked(self, channel):
        self.channel = channel

    def _on_layer(self, change):
        self._ready, ready = False, self._ready
        try:
            self.page = 0
            self.channel = -1
        finally:
            self._ready = ready
        self.diagram.select(change.new)
        self._describe_layer()
        self._refresh()

    def _describe_layer(self):
        record = self._record_by_path[self.layer]
        where = f" · in {record.parent}" if record.parent else ""
        self.layer_info.value = (
            f"<b>{html.escape(record.name)}</b> · {record.type} · {format_shape(record.output_shape)} · "
            f"{record.param_count:,} params · layer {record.index + 1}/{len(self.records)}{html.escape(where)}"
        )

    def _colormap_picked(self, change):
        self.colormap = change.new

    def _on_colormap(self, change):
        dropdown = self.maps.colormap
        if change.new not in dropdown.options:
            dropdown.options = list(dropdown.options) + [change.new]
        dropdown.value = change.new
        if any(head.kind == "map" for head in self._heads):  # the score maps use the colormap too
            with drawing():
                self._draw_heads()

    def _on_view(self, change):
        self._refresh()

    # --------------------------------------------------------------- compute
    def _set_busy(self, busy):
        super()._set_busy(busy)
        self.busy_label.value = f"<span style='color:{WARNING}'>⏳ computing…</span>" if busy else ""

    def _refresh(self):
        """Ask the worker for the current input, layer and view (latest request wins)."""
        if not self._ready or self._image_key is None:
            return
        inspector = self.inspector
        # The weights version is part of the input's key: new weights redraw the maps, preview and chart.
        image, layer = self.image, self.layer
        key = ((self._image_key, inspector.weights_version), self._image_caption)
        view = dict(colormap=self.colormap, normalization=self.normalization, order=self.channel_order,
                    page=self.page, channel=self.channel)
        sizes = dict(width=self.maps.width, page_size=self.page_size, vector_page_size=self.vector_page_size,
                     max_values=self.max_values, detail_size=self.maps.detail_size)

        new_input = key != self._drawn_input  # a layer or view change keeps the heads drawn

        def compute(cancel):
            heads = read_heads(inspector, image) if new_input else None
            if cancel.is_set():
                raise JobCancelled("superseded")
            activations = inspector.activations(image, layer)
            if cancel.is_set():
                raise JobCancelled("superseded")
            frame = compute_maps_frame(activations, layer, key[0], **view, **sizes)
            return key, image, heads, frame

        self._submit(compute, self._draw)

    def _draw(self, result):
        key, image, heads, frame = result
        with drawing():  # the maps, the preview and the heads change together
            self.maps.draw(frame)
            self.frame = frame
            if key != self._drawn_input:
                self.preview.show(display_rgba(image, self.inspector.input_range, 140))
                self._drawn_input = key
                self._heads, self._head_image = heads, display_rgba(image, self.inspector.input_range, 128)
                self._set_prediction()
                self._draw_heads()
                lines = [f"{html.escape(head.name)}: <b>{html.escape(head.summary())}</b>" for head in heads]
                if self.inspector.is_classifier:
                    lines = [f"predicted <b>{html.escape(heads[0].summary())}</b>"]
                self.preview_caption.value = f"<small>{html.escape(key[1])}<br>{'<br>'.join(lines)}</small>"
        self.show_message(self._input_note, "info")

    def _refresh_from_weights(self):
        self._refresh()

    @property
    def output_heads(self):
        """What every output says about the shown input: a list of :class:`~.heads.HeadFrame` (empty until drawn)."""
        return list(self._heads)

    def _set_prediction(self):
        """Fill the read-only target traits from the selected output's head."""
        with self.hold_trait_notifications():
            for name, value in self._heads[self.output_index].prediction_traits().items():
                self.set_trait(name, value)

    def _on_target(self, change):
        """Another output (its prediction traits) or class: the heads redrawn."""
        if self._heads:
            with drawing():  # (the worker draws the heads too)
                if change.name == "output":
                    self._set_prediction()
                self._draw_heads()

    def _draw_heads(self):
        """Every head; in the selected output, :attr:`target` highlighted (and always shown in a chart)."""
        target = self.target if self.output_kind != "values" or self.class_index is not None else None
        self.heads.draw(self._heads, self.output_index, target, self.colormap,
                        mark_selected=len(self._heads) > 1, image_rgba=self._head_image)
        self.heads.show_request(self.output_index, self.class_index)

    def _head_picked(self, index, choice):
        """A card's picker: highlight ``choice`` (None: the predicted one) in output ``index``."""
        self.output = self.inspector.output_names[index]
        self.class_index = choice

    # -------------------------------------------------------------- snapshot
    @property
    def shown_channel(self):
        """The channel (unit) shown enlarged now."""
        return None if self.frame is None else self.frame.channel

    def _snapshot_panels(self):
        panels = [self.preview.image, self.maps.composite()]
        if self.frame is not None and self.frame.detail is not None:
            panels.append(self.maps.detail.image)
        if self.inspector.is_classifier:
            panels.append(self.chart.snapshot())
        return panels

    def snapshot(self):
        """What the widget shows: the diagram above the input, the maps, the enlarged tile and the output heads."""
        row = stack_panels(self._snapshot_panels(), axis=1, gap=12, background=_WHITE)
        parts = [self.diagram.canvas.composite(), row]
        if not self.inspector.is_classifier:
            parts.append(self.heads.snapshot())
        return stack_panels(parts, axis=0, gap=12, background=_WHITE)

    def sent_png_bytes(self):
        """Bytes of the PNGs a full redraw of the maps sends (grid and enlarged tile); for benchmarks."""
        total = len(encode_png_fast(self.maps.grid.image))
        if self.frame is not None and self.frame.detail is not None:
            total += len(encode_png_fast(self.maps.detail.image))
        return total
