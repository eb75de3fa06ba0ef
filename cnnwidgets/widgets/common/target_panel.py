"""The one view for choosing what to explain on any model: output, class, region, value and sign.

:class:`TargetPanel` shows and sets the :class:`~.targets.RequestedTarget`
traits of the widget that owns it (``output``, ``class_index``, ``region``,
``value_sign``); it holds no target of its own. What it shows follows the
selected output's kind:

* ``"map"`` (segmentation): the predicted mask, a colour per class over the
  image (faintly), the explained region outlined and the rest dimmed; a
  button per class with its share of the predicted area. A click on the
  mask explains the class under the pointer over its whole predicted area
  (``region = None``); a drag paints a region (Brush) or spans a rectangle
  (Box), Erase takes pixels away, *Whole class* goes back to the predicted
  area. The region is set when the button is released, at the output's
  resolution.
* ``"values"`` (regression): each value with a bar, the explained one
  highlighted (click a name to choose it), and the sign: explain what
  raises the value or what lowers it.
* ``"classes"``: each class with its probability (click a name to choose it).

A picker chooses the output when the model has several. The owner keeps the
prediction current (it calls ``_update_prediction(image)`` when the image,
the weights or ``output`` change); the panel redraws when the owner's traits
change. :meth:`TargetPanel.show_values` and :meth:`TargetPanel.show_score`
let the owner show other values next to the prediction (e.g. under an
occluder).
"""

import html

import ipywidgets as widgets
import numpy as np
import traitlets

from ...render import image_to_rgba
from ...render.masks import box_region, brush_region, channel_areas, class_palette, mask_rgba
from ...render.saliency import display_zoom
from .canvas import ImageCanvas
from .style import ERROR, TEXT_MUTED, WARNING, show
from .value_rows import ValueRows

__all__ = ["TargetPanel"]

_OWNER_TRAITS = ("output_kind", "output_values", "predicted_mask", "predicted_class", "class_index", "region",
                 "value_sign")


class TargetPanel(widgets.VBox):
    """Choose what the owner widget explains on any model (see the module docstring).

    Parameters
    ----------
    owner : RequestedTarget
        The widget whose target traits the panel shows and sets (it has an
        ``inspector``; if it has an ``image`` trait, the mask is drawn over it).
    display_size : int
        Longest side of the mask on screen, in pixels.
    max_rows : int
        Most values or classes listed (the most probable classes; the first
        values; the chosen one always).

    Attributes
    ----------
    output_menu : ipywidgets.Dropdown
        The output explained (hidden when the model has one).
    mask_canvas : ImageCanvas
        The predicted mask; mouse events arrive here (``mouse_layer``).
    class_buttons : list of ipywidgets.Button
        One per class of a map output, labelled with its area share.
    rows : ValueRows
        The values or classes of a vector output.
    sign_buttons : ipywidgets.ToggleButtons
        +1 / -1 for a regression output (``value_sign``).
    note : ipywidgets.HTML
        What is explained (``describe_target()``), or why a region was refused.
    """

    #: How a drag on the mask makes a region: "brush" paints, "box" spans a rectangle.
    tool = traitlets.Enum(("brush", "box"), default_value="brush")
    #: A drag takes pixels away from the region instead of adding them.
    erase = traitlets.Bool(False)
    #: Brush diameter, in output pixels.
    brush_size = traitlets.Int(3)

    def __init__(self, owner, display_size=256, max_rows=10, **kwargs):
        super().__init__(**kwargs)
        self.owner = owner
        self.inspector = owner.inspector
        self._display_size = int(display_size)
        self._max_rows = int(max_rows)
        self._size = None
        self._image_rgba = None
        self._drag = None  # while the button is down on the mask: dict(start, last, stroke, moved)
        self._score = None
        self._build()
        self.add_class("cnnwidgets-target-panel")
        owner.observe(self._owner_changed, names=list(_OWNER_TRAITS))
        owner.observe(self._output_changed, names="output")
        if owner.has_trait("image"):
            owner.observe(self._image_changed, names="image")
            self._image_changed(None)
        self._output_changed(None)

    # ------------------------------------------------------------- public API
    @property
    def mouse_layer(self):
        """The canvas that receives the mask's mouse events."""
        return self.mask_canvas

    @property
    def mask_image(self):
        """uint8 RGBA of the mask as shown (for snapshots)."""
        return self.mask_canvas.image

    def refresh(self):
        """Redraw everything from the owner's traits (the panel does it by itself when they change)."""
        kind = self.owner.output_kind
        self.layout.max_width = f"{self._width + 8}px" if kind == "map" else ""
        show(self._map_box, kind == "map")
        show(self.rows, kind != "map")
        show(self._rows_title, kind != "map")
        self._rows_title.value = "<b style='font-size:12px'>{}</b>".format(
            "Predicted values" if kind == "values" else "Class probabilities")
        show(self.sign_buttons, kind == "values")
        if kind == "map":
            self._draw_map()
        else:
            self._show_rows()
        self._show_note()

    def show_values(self, values, reference=None):
        """List ``values`` of a vector output (e.g. under an occluder), with ``reference`` (e.g. without it).

        ``values=None`` goes back to the owner's prediction (``output_values``).
        """
        self.rows.show(values, reference)

    def show_score(self, score, reference=None):
        """Show the explained target's score (and its change from ``reference``) under the panel; None hides it."""
        self._score = None if score is None else (float(score), None if reference is None else float(reference))
        self._show_note()

    # ------------------------------------------------------------- building
    def _build(self):
        names = self.inspector.output_names
        self._width = max(self._display_size, 216)  # the map's controls wrap within the mask's width
        self.output_menu = widgets.Dropdown(
            options=[(f"{name} ({kind}, {_shape_text(shape)})", name) for name, kind, shape
                     in zip(names, self.inspector.output_kinds, self.inspector.output_shapes)],
            description="Output", style={"description_width": "48px"},
            layout=widgets.Layout(width=f"{self._width}px"))
        self.output_menu.add_class("cnnwidgets-output-picker")
        self.output_menu.value = self.owner.output
        widgets.link((self.output_menu, "value"), (self.owner, "output"))
        show(self.output_menu, len(names) > 1)
        self.mask_canvas = ImageCanvas(32, 32)
        self.mask_canvas.add_class("cnnwidgets-target-mask")
        self.mask_canvas.on_mouse_down(self._guarded(self._mouse_down))
        self.mask_canvas.on_mouse_move(self._guarded(self._mouse_move))
        self.mask_canvas.on_mouse_up(self._guarded(self._mouse_up))
        self.mask_canvas.on_mouse_out(self._guarded(self._mouse_out))
        self.class_buttons = []
        width = f"{self._width}px"
        self._class_row = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap", max_width=width))
        self.tool_buttons = widgets.ToggleButtons(options=[("Brush", "brush"), ("Box", "box")],
                                                  style={"button_width": "64px"},
                                                  tooltips=["drag to paint a region", "drag a rectangle"])
        self.erase_button = widgets.ToggleButton(description="Erase", icon="eraser", tooltip="drag to take pixels "
                                                 "away from the region", layout=widgets.Layout(width="76px"))
        self.brush_slider = widgets.IntSlider(min=1, max=16, description="brush", continuous_update=False,
                                              style={"description_width": "40px"}, layout=widgets.Layout(width=width))
        self.whole_button = widgets.Button(description="Whole class", layout=widgets.Layout(width="auto"),
                                           tooltip="explain the class over its whole predicted area")
        self.whole_button.add_class("cnnwidgets-whole-class")
        self.whole_button.on_click(lambda _: self._set_region(None))
        for control, name in ((self.tool_buttons, "tool"), (self.erase_button, "erase"),
                              (self.brush_slider, "brush_size")):
            control.value = getattr(self, name)
            widgets.link((control, "value"), (self, name))
        tools = widgets.HBox([self.tool_buttons, self.erase_button],
                             layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        title = widgets.HTML("<b style='font-size:12px'>Predicted mask</b>",
                             layout=widgets.Layout(height="1.5em", margin="0"))
        hint = widgets.HTML(f"<div style='font-size:11px;line-height:1.35;color:{TEXT_MUTED};max-width:{width}'>"
                            "Click a class on the mask, or drag to paint a region (Box: drag a rectangle).</div>")
        self.hover_label = widgets.HTML(layout=widgets.Layout(min_height="1.4em", max_width=width))
        self.hover_label.add_class("cnnwidgets-target-hover")
        self._map_box = widgets.VBox([title, self.mask_canvas, self.hover_label, self._class_row, tools,
                                      self.brush_slider, hint],
                                     layout=widgets.Layout(align_items="flex-start"))
        self._rows_title = widgets.HTML(layout=widgets.Layout(height="1.5em", margin="0"))
        self.rows = ValueRows(self._pick_class, max_rows=self._max_rows)
        self.sign_buttons = widgets.ToggleButtons(options=[("+ raises it", 1), ("\u2212 lowers it", -1)],
                                                  style={"button_width": "104px"},
                                                  tooltips=["explain what raises the value",
                                                            "explain what lowers the value"])
        self.sign_buttons.add_class("cnnwidgets-value-sign")
        self.sign_buttons.value = self.owner.value_sign
        widgets.link((self.sign_buttons, "value"), (self.owner, "value_sign"))
        self.note = widgets.HTML(layout=widgets.Layout(min_height="1.5em", max_width=width))
        self.note.add_class("cnnwidgets-target-note")
        self.children = [self.output_menu, self._map_box, self._rows_title, self.rows, self.sign_buttons, self.note]

    def _build_class_buttons(self):
        """One coloured button per class of the selected map output."""
        names = self.owner.output_class_names
        palette = class_palette(max(2, len(names)))
        buttons = []
        for index, name in enumerate(names):
            # a one-channel map's class is drawn where the mask is 1, in the second colour
            r, g, b = (int(v) for v in palette[1 if len(names) == 1 else index][:3])
            button = widgets.Button(description=str(name), layout=widgets.Layout(width="auto", min_width="60px"),
                                    tooltip=f"explain {name} over its predicted area")
            button.style.button_color = f"#{r:02x}{g:02x}{b:02x}"
            button.style.text_color = "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#ffffff"
            button.add_class("cnnwidgets-target-class")
            button.on_click(lambda _, i=index: self._pick_class(i))
            buttons.append(button)
        self.class_buttons = buttons
        self._class_row.children = (*buttons, self.whole_button)

    # ------------------------------------------------------------ observers
    def _owner_changed(self, change):
        if change.name == "output_kind":
            return  # the output observer rebuilds; the prediction traits follow
        self.refresh()

    def _output_changed(self, change):
        self._drag = None
        self._score = None
        self.rows.show(None)
        if self.owner.output_kind == "map":
            self._build_class_buttons()
            shape = self.inspector.output_shapes[self.owner.output_index][:2]
            zoom = display_zoom(shape[0], shape[1], largest=self._display_size)
            # drawn at the size shown: enlarged by an integer factor, or a large output sampled down
            self._size = (max(1, round(shape[0] * zoom)), max(1, round(shape[1] * zoom)))
            self.brush_slider.max = max(1, min(shape) // 2)
            self.brush_size = min(max(1, round(min(shape) / 10)), self.brush_slider.max)
        self.refresh()

    def _image_changed(self, change):
        image = self.owner.image if self.owner.trait_has_value("image") else None
        self._image_rgba = None if image is None else image_to_rgba(np.asarray(image, np.float32),
                                                                   self.inspector.input_range)
        if self.owner.output_kind == "map":
            self._draw_map()

    # ------------------------------------------------------------------ map
    def _prediction_ready(self):
        """The owner's prediction traits are for the selected output (they lag a moment after ``output`` changes)."""
        owner = self.owner
        values = owner.output_values
        if values is None:
            return False
        count = len(owner.output_class_names)
        if owner.output_kind == "map":
            mask = owner.predicted_mask
            shape = tuple(self.inspector.output_shapes[owner.output_index][:2])
            return mask is not None and mask.shape == shape and values.ndim == 3 and values.shape[-1] == count
        return values.ndim == 1 and len(values) == count

    def _draw_map(self, preview=None):
        """Draw the mask with the owner's explained region (or a stroke's ``preview``) and label the class buttons."""
        owner = self.owner
        if not self._prediction_ready():
            return
        mask = owner.predicted_mask
        region = owner.region_mask if preview is None else preview
        count = max(2, len(owner.output_class_names))
        self.mask_canvas.show(mask_rgba(mask, count, self._image_rgba, region, size=self._size))
        if preview is not None:
            return  # a stroke under way changes neither the class nor its area
        shares = channel_areas(mask, len(self.class_buttons))
        target = owner.target
        for index, (button, name) in enumerate(zip(self.class_buttons, owner.output_class_names)):
            description = f"{name} \u00b7 {100 * shares[index]:.0f}%" if shares[index] >= 0.005 or not shares[index] \
                else f"{name} \u00b7 <1%"
            if button.description != description:
                button.description = description
            weight = "bold" if index == target else ""
            if button.style.font_weight != weight:
                button.style.font_weight = weight
            border = "3px solid var(--jp-ui-font-color0, #000)" if index == target else "3px solid transparent"
            if button.layout.border != border:
                button.layout.border = border

    def _pixel(self, x, y):
        """Canvas point ``(x, y)`` to output position ``(row, col)`` (floats), clipped to the map."""
        height, width = self.owner.predicted_mask.shape
        row = float(y) * height / max(1, self.mask_canvas.height)
        col = float(x) * width / max(1, self.mask_canvas.width)
        return min(max(row, 0.0), height - 1e-6), min(max(col, 0.0), width - 1e-6)

    def _mouse_down(self, x, y):
        if self.owner.output_kind != "map" or not self._prediction_ready():
            return
        start = self._pixel(x, y)
        self._drag = {"start": start, "last": start, "stroke": np.zeros(self.owner.predicted_mask.shape, bool),
                      "moved": False}

    def _mouse_move(self, x, y):
        drag = self._drag
        if drag is None:
            self._show_hover(x, y)
            return
        point = self._pixel(x, y)
        if not drag["moved"] and tuple(map(int, point)) == tuple(map(int, drag["start"])):
            return
        drag["moved"] = True
        shape = drag["stroke"].shape
        if self.tool == "box":
            drag["stroke"] = box_region(shape, drag["start"], point)
        else:
            drag["stroke"] = drag["stroke"] | brush_region(shape, drag["last"], point, self.brush_size)
        drag["last"] = point
        self._draw_map(preview=self._combined(drag["stroke"]))

    def _mouse_up(self, x, y):
        drag, self._drag = self._drag, None
        if drag is None:
            return
        if not drag["moved"]:  # a click: the class under the pointer, over its whole predicted area
            row, col = (int(v) for v in drag["start"])
            self._pick_class(min(int(self.owner.predicted_mask[row, col]), len(self.owner.output_class_names) - 1))
            return
        region = self._combined(drag["stroke"])
        if not region.any():
            self._set_region(None)
            self.note.value = _note("The region would be empty: back to the class's whole predicted area.", "warn")
            return
        self._set_region(region)

    def _mouse_out(self, x, y):
        self._mouse_up(x, y)  # leaving the canvas ends a stroke
        self.hover_label.value = ""

    def _show_hover(self, x, y):
        """The pixel under the pointer: its predicted class and that class's score there."""
        if self.owner.output_kind != "map" or not self._prediction_ready():
            return
        row, col = (int(v) for v in self._pixel(x, y))
        names = self.owner.output_class_names
        label = min(int(self.owner.predicted_mask[row, col]), len(names) - 1)
        value = float(self.owner.output_values[row, col, label])
        if self.inspector.output_activations[self.owner.output_index]:
            score = f"{100 * value:.0f}%"
        else:
            score = f"score {value:.3g}"
        if len(names) == 1:  # one channel: its class or not, and the channel's score
            shown = f"{names[0]} ({score})" if self.owner.predicted_mask[row, col] else f"not {names[0]} ({score})"
        else:
            shown = f"{names[label]} {score}"
        text = f"<code>row {row}, col {col}</code> {html.escape(shown)}"
        self.hover_label.value = f"<div style='font-size:11px;line-height:1.4'>{text}</div>"

    def _combined(self, stroke):
        """The region after a stroke: added to the painted region, or taken away (Erase) from the one explained."""
        owner = self.owner
        if self.erase:
            base = owner.region_mask if owner.region_mask is not None else np.zeros_like(stroke)
            return base & ~stroke
        if self.tool == "box" or owner.region is None:
            return stroke.copy()
        return owner.region | stroke

    # -------------------------------------------------------------- choices
    def _pick_class(self, index):
        """Explain class ``index`` (over its whole predicted area on a map): one change for the owner."""
        with self.owner.hold_trait_notifications():
            if self.owner.output_kind == "map":
                self.owner.region = None
            self.owner.class_index = int(index)

    def _set_region(self, region):
        try:
            self.owner.region = region
        except traitlets.TraitError as exc:
            self.note.value = _note(str(exc), "error")
            self._draw_map()

    def _guarded(self, handler):
        """Mouse callbacks never lose an error in ipycanvas' dispatcher: the note shows it."""
        def call(*args):
            try:
                handler(*args)
            except Exception as exc:  # noqa: BLE001 - shown to the person, the panel keeps working
                self._drag = None
                self.note.value = _note(f"{type(exc).__name__}: {exc}", "error")

        return call

    # --------------------------------------------------------------- values
    def _show_rows(self):
        owner = self.owner
        if not self._prediction_ready():
            return
        kind = owner.output_kind
        self.rows.update(owner.output_class_names, owner.output_values, owner.target,
                         probabilities=kind == "classes")

    def _show_note(self):
        text = self.owner.describe_target()
        parts = [f"Explaining <b>{html.escape(text)}</b>"] if text else []
        if self._score is not None:
            score, reference = self._score
            line = f"score {score:.4g}"
            if reference is not None:
                line += f" (was {reference:.4g}, {score - reference:+.4g})"
            parts.append(html.escape(line))
        self.note.value = _note("<br>".join(parts), "info", escaped=True)


def _note(text, level="info", escaped=False):
    colour = {"info": TEXT_MUTED, "warn": WARNING, "error": ERROR}[level]
    body = text if escaped else html.escape(text)
    return f"<div class='cnnwidgets-target-{level}' style='font-size:12px;line-height:1.4;color:{colour}'>{body}</div>"


def _shape_text(shape):
    return "x".join(str(d) for d in shape) or "scalar"
