"""Explorer: the four widgets on one model, linked, in tabs under a shared image picker.

>>> import cnnwidgets as cw
>>> images, labels = cw.demo.digits_samples()
>>> explorer = cw.Explorer(cw.demo.digits_model(), images, labels=labels)   # doctest: +SKIP
>>> explorer.image_index = 42; explorer.layer = "conv2"                      # doctest: +SKIP

What is linked
--------------
* **The image.** :attr:`Explorer.image_index` picks one of ``images`` (the
  strip at the top); every widget shows it. ``-1`` means the LayerBrowser's
  own input (an uploaded picture or a drawing), which the other tabs then
  show too.
* **The class.** :attr:`Explorer.class_index` (``None``: the predicted
  class) is ``ipywidgets.link``-ed with the ``class_index`` of the
  LayerBrowser (the class highlighted in its chart), the OcclusionPainter and
  the SaliencyOverlay, which all mean the same by it: picking a class in one
  tab picks it in the others. A new image resets it to ``None``, the
  predicted class (:attr:`Explorer.predicted_class`). On a model that is not
  a classifier (segmentation, regression, several outputs), :attr:`Explorer.output`
  says which output ``class_index`` belongs to, linked the same way, as is
  ``value_sign`` (a painted ``region`` is not linked).
* **The layer.** :attr:`Explorer.layer` is linked with ``LayerBrowser.layer``
  and ``FilterGrid.layer``; ``SaliencyOverlay.layer`` (the Grad-CAM layer)
  follows whenever the layer has spatial ``(H, W, C)`` output and keeps its
  layer otherwise.

The LayerBrowser tab is built at once; the other three are built the first
time they are shown (or their attribute is read), so a Voila app starts
with one tab's work. A built tab keeps following the links while hidden.
On a model that is not a classifier the Occlusion and Saliency tabs are
built only from widget classes that take targets (an ``output`` trait);
otherwise the tab says why it cannot be shown and the others work.
"""

import html
import threading

import ipywidgets as widgets
import numpy as np
import traitlets

from ...errors import CNNWidgetsError, InvalidImageError, NotAClassifierError
from ...render import stack_panels, text_rgba
from ...render.architecture import format_shape
from ..common.thumbnails import ThumbnailStrip
from ..common.style import ERROR
from ..common.targets import RequestedTarget
from ..common.traits import ImageArrayTrait
from ..common.widget import InspectorWidget, image_batch, is_embedded_digits_model, name_digits_classes

__all__ = ["Explorer", "TABS", "TAB_TITLES"]

#: Names of the tabs, in order (values of :attr:`Explorer.tab`).
TABS = ("layers", "filters", "occlusion", "saliency")
#: Titles shown on the tabs.
TAB_TITLES = {"layers": "Layers", "filters": "Filters", "occlusion": "Occlusion", "saliency": "Saliency"}
_WHITE = (255, 255, 255, 255)


class Explorer(RequestedTarget, InspectorWidget):
    """LayerBrowser, FilterGrid, OcclusionPainter and SaliencyOverlay on one model, linked.

    A strip of thumbnails at the top picks the image every tab shows; the
    tabs share one :class:`~cnnwidgets.Inspector` (so one set of caches),
    one class (occlusion and saliency) and one layer (feature maps, filters
    and, where it applies, Grad-CAM).

    Parameters
    ----------
    model : keras.Model or Inspector
        The model: a classifier, or a segmentation, regression or
        several-output model (see ``output_kinds``; its Occlusion and
        Saliency tabs need target-aware widgets, see the module notes).
    images : array_like, optional
        ``(N, H, W, C)`` images (``(N, H, W)`` for a grayscale model) in the
        model's display range (0-255 unless the inspector says otherwise).
        May be omitted for :func:`cnnwidgets.demo.digits_model`, which then
        gets the digits samples.
    class_names : sequence of str, optional
        One name per class (the digits model gets "0".."9").
    preprocess : callable, optional
        Passed to the inspector (e.g. ``keras.applications.*.preprocess_input``).
    labels : array_like, optional
        True class of each image, shown in the caption.
    layer : str, optional
        Layer to start on; default the first convolution layer.
    image_index : int
        Image to start on.
    tab : {"layers", "filters", "occlusion", "saliency"}
        Tab to start on.
    width : int
        Overall width in pixels.

    Traits
    ------
    image_index : int
        Index into ``images`` of the image every tab shows; ``-1`` for the
        LayerBrowser's uploaded or drawn input.
    image : numpy.ndarray
        The image every tab shows (read-only float32 ``(H, W, C)``):
        ``images[image_index]``, or the LayerBrowser's own input for -1.
        Setting it shows that image in every tab (``image_index`` becomes -1).
    class_index : int or None
        The class the tabs highlight, watch and explain (linked with every
        tab's ``class_index``); ``None`` for the predicted class, to which a
        new image resets it.
    predicted_class : int or None
        Read-only: the class predicted for :attr:`image` (in :attr:`output`).
    output : str
        The output ``class_index`` belongs to (linked with the tabs that have
        one); the first by default.
    layer : str
        Path of the layer (a name or a path may be set; it is normalized to
        the path), linked with the LayerBrowser's and the FilterGrid's.
    tab : str
        The tab shown, one of :data:`TABS`.

    Attributes
    ----------
    inspector : Inspector
        The one backend every tab uses (``Inspector.for_model(model)``).
    layer_browser, filter_grid, occlusion_painter, saliency_overlay
        The four widgets (reading one builds its tab if it is not built yet).
    images : numpy.ndarray
    labels : numpy.ndarray or None
    thumbnails : ThumbnailStrip
        The shared image picker.
    tabs : ipywidgets.Tab
    """

    image_index = traitlets.Int(0, help="index into images; -1 for the LayerBrowser's uploaded or drawn input")
    image = ImageArrayTrait(help="the image every tab shows; setting it shows it in every tab")
    # output, class_index (None: the predicted class) and the read-only predicted_class come from RequestedTarget.
    layer = traitlets.Unicode(help="path of the layer shown by the layer, filter and (spatial layers) saliency tabs")
    tab = traitlets.Enum(TABS, default_value="layers", help="the tab shown")

    def __init__(self, model, images=None, class_names=None, preprocess=None, labels=None, *, layer=None,
                 image_index=0, tab="layers", width=960, **kwargs):
        super().__init__(model, class_names=class_names, preprocess=preprocess, **kwargs)
        insp = self.inspector
        name_digits_classes(insp)
        self.images, self.labels = self._load_images(images, labels)
        self._width = int(width)
        self._widgets = {}
        self._links = []
        self._lock = threading.RLock()
        self._pushed_key = None
        self._pushing = False

        self._build_header()
        self._tab_boxes = [widgets.VBox([widgets.HTML(f"<i>{TAB_TITLES[name]}: building…</i>")])
                           for name in TABS]
        self.tabs = widgets.Tab(self._tab_boxes, titles=[TAB_TITLES[name] for name in TABS])
        self.tabs.add_class("cnnwidgets-explorer-tabs")
        self.children = [self._header, self.tabs, self.status]
        self.add_class("cnnwidgets-explorer")

        self.set_trait("image_index", self._validate_image_index({"value": image_index}))
        self._show_image_quietly(self.images[self.image_index] if self.image_index >= 0 else self.images[0])
        self._predict(self.image)
        self._build_layer_browser(layer)
        self.observe(self._on_image_index, "image_index")
        self.observe(self._on_layer, "layer")
        self.observe(self._on_tab, "tab")
        self.observe(self._describe, ["image_index", "class_index", "layer"])
        self.observe(self._on_output, "output")
        traitlets.link((self.tabs, "selected_index"), (self, "tab"),
                       transform=(lambda i: TABS[i or 0], TABS.index))
        self.thumbnails.select(self.image_index if self.image_index >= 0 else None)
        self._pushed_key = self.inspector.prepare(self.image)[2]
        self._describe()
        self.tab = tab
        if self.tab == "layers":  # (no change event then)
            self._ensure("layers")

    # ================================================================ images
    def _load_images(self, images, labels):
        insp = self.inspector
        if images is None:
            if not is_embedded_digits_model(insp):
                raise InvalidImageError(
                    f"Explorer needs images: pass images=... as a batch (N, H, W, C) matching the model input "
                    f"{format_shape(insp.input_shape)}"
                )
            from ...demo import digits_samples

            images, default_labels = digits_samples()
            labels = default_labels if labels is None else labels
        return image_batch(insp, images, labels)

    def _selected_image(self):
        """``images[image_index]``, or the LayerBrowser's own input for -1."""
        if self.image_index >= 0:
            return self.images[self.image_index]
        return self.layer_browser.image

    def _show_image_quietly(self, image):
        self._pushing = True
        try:
            self.image = image
        finally:
            self._pushing = False

    def _predict(self, image):
        self._update_prediction(image)
        return self.predicted_class

    # ================================================================ traits
    @traitlets.validate("image_index")
    def _validate_image_index(self, proposal):
        index, count = int(proposal["value"]), len(self.images)
        if not -1 <= index < count:
            raise traitlets.TraitError(
                f"image_index {index} is out of range: there are {count} images (0 to {count - 1}); "
                "-1 means the LayerBrowser's uploaded or drawn input"
            )
        return index

    @traitlets.validate("layer")
    def _validate_layer(self, proposal):
        try:
            return self.inspector.layer(proposal["value"]).path
        except CNNWidgetsError as exc:
            raise traitlets.TraitError(str(exc)) from None

    # ================================================================= header
    def _build_header(self):
        insp = self.inspector
        if insp.is_classifier:
            outputs = f"{insp.num_classes} classes"
        else:
            outputs = ", ".join(f"{name} ({kind})" for name, kind in zip(insp.output_names, insp.output_kinds))
        self._title = widgets.HTML(
            f"<b>{html.escape(insp.model.name)}</b> · input {format_shape(insp.input_shape)} → "
            f"{html.escape(outputs)} · {len(self.images)} images: pick one, every tab shows it"
        )
        self.thumbnails = ThumbnailStrip(self.images, insp.input_range, thumb=40, width=self._width - 100)
        self.thumbnails.on_pick(self._thumbnail_picked)
        self.previous_image = widgets.Button(icon="chevron-left", tooltip="previous image",
                                             layout=widgets.Layout(width="36px"))
        self.next_image = widgets.Button(icon="chevron-right", tooltip="next image",
                                         layout=widgets.Layout(width="36px"))
        self.previous_image.add_class("cnnwidgets-explorer-previous")
        self.next_image.add_class("cnnwidgets-explorer-next")
        self.previous_image.on_click(lambda _: self._step_image(-1))
        self.next_image.on_click(lambda _: self._step_image(1))
        self.caption = widgets.HTML(layout=widgets.Layout(min_height="1.5em"))
        self.caption.add_class("cnnwidgets-explorer-caption")
        strip = widgets.HBox([self.previous_image, self.thumbnails.widget, self.next_image],
                             layout=widgets.Layout(align_items="center"))
        self._header = widgets.VBox([self._title, strip, self.caption],
                                    layout=widgets.Layout(margin="0 0 6px 0"))
        self._header.add_class("cnnwidgets-explorer-header")

    def _thumbnail_picked(self, index):
        self.image_index = index

    def _step_image(self, step):
        start = self.image_index if self.image_index >= 0 else (0 if step > 0 else len(self.images))
        self.image_index = (start + step) % len(self.images)

    def _describe(self, change=None):
        names = self.output_class_names
        if self.image_index >= 0:
            where = f"image {self.image_index}"
            if self.labels is not None:
                where += f" · label <b>{html.escape(self._label_text(self.labels[self.image_index]))}</b>"
        else:
            where = "the Layers tab's own input (upload or drawing)"
        predicted = ""
        if self.output_kind == "classes" and self.predicted_class is not None:
            p = self.probabilities[self.predicted_class]
            predicted = f" · predicted <b>{html.escape(names[self.predicted_class])}</b> ({p:.0%})"
        elif self.output_kind == "map" and self.predicted_mask is not None:
            share = float(np.mean(self.predicted_mask == self.predicted_class))
            predicted = f" · predicted <b>{html.escape(names[self.predicted_class])}</b> over {share:.0%} of the map"
        elif self.output_kind == "values" and self.output_values is not None:
            shown = ", ".join(f"{n} {float(v):.3g}" for n, v in zip(names[:4], self.output_values[:4]))
            predicted = f" · values {html.escape(shown)}"
        output = "" if len(self.inspector.output_names) == 1 else f"output <b>{html.escape(self.output)}</b> · "
        if self.class_index is None:
            explained = "the first value" if self.output_kind == "values" else "the predicted class"
        else:
            explained = f"<b>{html.escape(names[self.class_index])}</b>"
        self.caption.value = (
            f"<span style='font-size:13px'>{where}{predicted} · {output}class explained: "
            f"{explained} · layer <b>{html.escape(self.layer)}</b></span>"
        )

    def _label_text(self, label):
        """A label as text: a class name where the first output holds classes, else its values or shape."""
        label = np.asarray(label)
        if label.ndim == 0 and self.inspector.output_kinds[0] != "values" and float(label).is_integer():
            names = self.inspector.output_class_names(0)
            return names[int(label)] if 0 <= int(label) < len(names) else str(int(label))
        if label.size <= 4 and np.issubdtype(label.dtype, np.number):
            return ", ".join(f"{float(v):.3g}" for v in label.ravel())
        return f"array {format_shape(label.shape)}"

    # ================================================================== tabs
    @property
    def layer_browser(self):
        """The :class:`~cnnwidgets.LayerBrowser` tab (built with the Explorer)."""
        return self._widgets["layers"]

    @property
    def filter_grid(self):
        """The :class:`~cnnwidgets.FilterGrid` tab (built when first read or shown)."""
        return self._ensure("filters")

    @property
    def occlusion_painter(self):
        """The :class:`~cnnwidgets.OcclusionPainter` tab (built when first read or shown)."""
        return self._ensure("occlusion")

    @property
    def saliency_overlay(self):
        """The :class:`~cnnwidgets.SaliencyOverlay` tab (built when first read or shown)."""
        return self._ensure("saliency")

    @property
    def built_tabs(self):
        """Names of the tabs built so far."""
        return tuple(name for name in TABS if name in self._widgets)

    def widget(self, tab=None):
        """The widget of ``tab`` (default: the tab shown), built if needed."""
        return self._ensure(self.tab if tab is None else tab)

    def _ensure(self, name):
        if name not in TABS:
            raise ValueError(f"unknown tab {name!r}; use one of {', '.join(TABS)}")
        with self._lock:
            widget = self._widgets.get(name)
            if widget is None:
                builder = {"filters": self._build_filter_grid, "occlusion": self._build_occlusion_painter,
                           "saliency": self._build_saliency_overlay}[name]
                widget = self._widgets[name] = builder()
                self._tab_boxes[TABS.index(name)].children = (widget,)
            return widget

    def _on_tab(self, change):
        try:
            self._ensure(change["new"])
        except Exception as exc:  # a tab that cannot be built says why, the others keep working
            self._tab_boxes[TABS.index(change["new"])].children = (
                widgets.HTML(f"<span class='cnnwidgets-error' style='color:{ERROR}'>"
                             f"{html.escape(TAB_TITLES[change['new']])} cannot be shown: "
                             f"{html.escape(str(exc))}</span>"),
            )
            self.show_error(exc)

    def _link(self, source, target, transform=None):
        self._links.append(widgets.link(source, target, transform=transform))

    # -------------------------------------------------------------- builders
    # The tabs are composed through the public classes of ``cnnwidgets.widgets``
    # (never a widget's own modules), imported when the tab is built.
    def _build_layer_browser(self, layer):
        from .. import LayerBrowser

        browser = LayerBrowser(self.inspector, images=self.images, labels=self.labels, layer=layer,
                               width=self._width - 20)
        if browser.thumbnails is not None:  # the Explorer's strip above the tabs replaces it
            browser.thumbnails.widget.layout.display = "none"
        self._widgets["layers"] = browser
        self._tab_boxes[0].children = (browser,)
        self.set_trait("layer", browser.layer)
        self._link((self, "image_index"), (browser, "image_index"))
        self._link((self, "layer"), (browser, "layer"))
        self._link_target(browser)
        # An upload or a drawing replaces the LayerBrowser's input (image_index -1): the
        # other tabs follow. These observers run after the LayerBrowser's own ones.
        browser.upload.observe(self._browser_input_changed, "value")
        if browser.pad is not None:
            browser.pad.on_change(self._browser_input_changed)
        return browser

    def _build_filter_grid(self):
        from .. import FilterGrid

        grid = FilterGrid(self.inspector, layer=self.layer, image=self.image)
        # FilterGrid.layer may be None (a model without conv layers): the Explorer keeps its layer then.
        self._link((self, "layer"), (grid, "layer"), transform=(lambda v: v, lambda v: self.layer if v is None else v))
        return grid

    def _build_occlusion_painter(self):
        from .. import OcclusionPainter

        self._require_targets(OcclusionPainter, "Occlusion")
        painter = OcclusionPainter(self.inspector, self.image, class_index=self.class_index)
        self._link_target(painter)
        return painter

    def _build_saliency_overlay(self):
        from .. import SaliencyOverlay

        self._require_targets(SaliencyOverlay, "Saliency")
        overlay = SaliencyOverlay(self.inspector, self.image, class_index=self.class_index,
                                  layer=self._spatial_layer(self.layer, None))
        self._link_target(overlay)
        return overlay

    def _require_targets(self, widget_class, title):
        """On a model that is not a classifier, refuse a tab whose widget takes only classes."""
        if not self.inspector.is_classifier and "output" not in widget_class.class_trait_names():
            raise NotAClassifierError(
                f"the {title} tab explains a class, and this {widget_class.__name__} takes only classifiers; the "
                f"model's outputs are {', '.join(f'{n} ({k})' for n, k in zip(self.inspector.output_names, self.inspector.output_kinds))}. "
                "The Layers and Filters tabs work on it; explain with insp.explain(image, method, "
                "cw.targets.Region/Value/Output(...)) meanwhile"
            )

    def _link_target(self, widget):
        """Link the class with ``widget``, and where it has them, the output and the value sign.

        (A painted ``region`` is an array, which ``link`` cannot compare; it is not linked.)
        """
        if widget.has_trait("output"):
            widget.output = self.output  # before class_index: a new output resets the class
            self._link((self, "output"), (widget, "output"))
        self._link((self, "class_index"), (widget, "class_index"))
        if widget.has_trait("value_sign"):
            widget.value_sign = self.value_sign
            self._link((self, "value_sign"), (widget, "value_sign"))

    def _spatial_layer(self, path, default):
        """``path`` if Grad-CAM can use it, else ``default``."""
        overlay = self._widgets.get("saliency")
        if overlay is not None:
            return path if path in overlay.cam_layers else default
        record = self.inspector.layer(path)
        return path if record.is_spatial and not record.is_model else default

    # ============================================================= observers
    def _on_image_index(self, change):
        self.thumbnails.select(change["new"] if change["new"] >= 0 else None)
        self._push_image()

    def _browser_input_changed(self, change):
        if self.layer_browser.image_index == -1:
            self._push_image()

    @traitlets.observe("image")
    def _on_image(self, change):
        """An image set from outside (code or a link): the LayerBrowser shows it, and so every tab."""
        if self._pushing:
            return
        self.layer_browser.set_image(change["new"])  # its image_index becomes -1, and so the Explorer's
        self._push_image()

    def _push_image(self):
        """Show the selected image in every built tab but the LayerBrowser (linked by index); reset the class."""
        image = self._selected_image()
        if image is None:
            return
        key = self.inspector.prepare(image)[2]
        if key == self._pushed_key:
            return
        self._pushed_key = key
        self._show_image_quietly(image)
        image = self.image  # (checked, read-only: every tab holds this one array)
        self._predict(image)
        for name in ("filters", "occlusion", "saliency"):
            widget = self._widgets.get(name)
            if widget is not None:
                widget.image = image
        self.class_index = None  # a new image: the predicted class
        self._describe()

    def _on_output(self, change):
        """Another output: its prediction for the image shown (the class was reset to the predicted one)."""
        self._predict(self.image)
        self._describe()

    def _on_layer(self, change):
        overlay = self._widgets.get("saliency")
        if overlay is not None:
            path = self._spatial_layer(change["new"], None)
            if path is not None:
                overlay.layer = path

    # ================================================================ actions
    def wait(self, timeout=60):
        """Block until every built tab has drawn its pending computations (for scripts and tests)."""
        for widget in list(self._widgets.values()):
            widget.wait(timeout)

    def stop(self):
        """Stop the running computations of every tab."""
        for widget in list(self._widgets.values()):
            widget.stop()

    def halt(self):
        """Cancel the computations of every tab quietly."""
        for widget in list(self._widgets.values()):
            widget.halt()

    @property
    def busy(self):
        """True while any built tab computes."""
        return any(widget.busy for widget in list(self._widgets.values()))

    def refresh(self, if_idle=False):
        """Recompute every built tab (and the prediction in the caption) from the model's current weights.

        With ``if_idle``, a tab still computing (e.g. a synthesis) is skipped
        while the others refresh. Returns whether any tab was refreshed.
        """
        self._predict(self.image)
        self._describe()
        return any([widget.refresh(if_idle) for widget in list(self._widgets.values())])

    def _refresh_from_weights(self):
        self.refresh()

    def snapshot(self):
        """The shown tab as one uint8 RGBA array, under a line naming the image, class and layer."""
        widget = self.widget()
        names = self.output_class_names

        def name(index):
            return "-" if index is None else names[index]

        where = f"image {self.image_index}" if self.image_index >= 0 else "uploaded/drawn input"
        line = (f"{self.inspector.model.name} · {TAB_TITLES[self.tab]} · {where} · "
                f"predicted {name(self.predicted_class)} · class {name(self.target)} · layer {self.layer}")
        body = widget.snapshot()
        return stack_panels([text_rgba(line, height=16), body], axis=0, gap=6, background=_WHITE)

    def _snapshot_panels(self):
        return [self.snapshot()]
