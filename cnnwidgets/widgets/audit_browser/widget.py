"""AuditBrowser: a data set's explanations clustered per class (SpRAy), as mosaics and a scatter.

>>> result = cw.audit(model, images)                                # doctest: +SKIP
>>> cw.AuditBrowser(result)                                         # doctest: +SKIP
>>> cw.AuditBrowser.run(model, images, method="gradcam")            # doctest: +SKIP

Per class (the dropdown), each cluster is one row: its mean map, its size,
its distance from the class's typical map (rank 1 is the farthest, the
first place to look for a shortcut) and its most typical images with their
maps. The scatter is the 2-D spectral embedding of the class's maps,
coloured by cluster: brushing points shows those images below it. Clicking
any image opens it in an :class:`~cnnwidgets.Explorer` on the same
inspector, with the other images of its cluster in the Explorer's strip.
"""

import html
import threading

import bqplot
import ipywidgets as widgets
import numpy as np
import traitlets

from ...errors import CNNWidgetsError, InvalidParameterError
from ...render import stack_panels, text_rgba
from ..common.canvas import OverlayCanvas
from ..common.runner import join_at_exit
from ..common.traits import ArrayTrait
from ..common.style import as_card, card, hex_to_rgba, show, stylesheet
from .panels import WHITE, cluster_row, mosaic

__all__ = ["AuditBrowser", "CLUSTER_COLOURS"]

#: Colours of clusters 1, 2, ... in the scatter (category10).
CLUSTER_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf")
_SELECTED = "#ff7f0e"


class AuditBrowser(widgets.VBox):
    """Browse an :class:`~cnnwidgets.AuditResult`: clusters per class, their embedding, their images.

    Parameters
    ----------
    result : AuditResult, optional
        From :func:`cnnwidgets.audit`. None: an empty browser (see :meth:`run`).
    audit_class : int or str, optional
        Class whose clusters to show first; default the class with the most images.
    n_clusters : int
        Clusters per class; 0 chooses by the eigengap.
    tile : int
        Side of an image tile in pixels.
    per_cluster : int
        Images shown per cluster row.
    opacity : float
        Opacity of the maps over the images (0 hides them).

    Traits
    ------
    audit_class : int
        The class whose clusters are shown (a class of the audit, not a
        requested class of one image: there is no "predicted" here).
    n_clusters : int
        0 = by eigengap.
    selected : list of int
        Image indices (rows of the result) selected in the scatter.
    image_index : int
        The image opened in the Explorer (-1: none).
    image : ndarray or None
        Read-only: the image opened in the Explorer, as the audit keeps it.
    """

    audit_class = traitlets.Int(0, help="the explained class whose clusters are shown")
    n_clusters = traitlets.Int(0, help="clusters per class; 0 = read from the eigengap")
    selected = traitlets.List(traitlets.Int(), help="rows of the result selected in the scatter")
    image_index = traitlets.Int(-1, help="row of the result open in the Explorer; -1 for none")
    image = ArrayTrait(None, allow_none=True, read_only=True, help="the image open in the Explorer, or None")

    def __init__(self, result=None, audit_class=None, *, n_clusters=0, tile=40, per_cluster=12, opacity=0.5,
                 width=980, **kwargs):
        super().__init__(**kwargs)
        self.result = None
        self.explorer = None
        self._tile, self._per_cluster, self._opacity, self._width = int(tile), int(per_cluster), float(opacity), width
        self._boxes, self._selection_boxes = [], []
        self._job = None
        self.add_class("cnnwidgets")
        self.add_class("cnnwidgets-audit-browser")
        self._build()
        self.set_trait("n_clusters", int(n_clusters))
        if result is not None:
            self.show_result(result, audit_class)

    # -------------------------------------------------------------- layout
    def _build(self):
        self.class_picker = widgets.Dropdown(description="Class", layout=widgets.Layout(width="220px"))
        self.cluster_picker = widgets.Dropdown(
            description="Clusters", options=[("auto", 0)] + [(str(k), k) for k in range(2, 9)], value=0,
            layout=widgets.Layout(width="160px"))
        self.summary = widgets.HTML()
        self.progress = widgets.FloatProgress(min=0.0, max=1.0, layout=widgets.Layout(width="240px", display="none"))
        self.stop_button = widgets.Button(description="Stop", icon="stop", layout=widgets.Layout(display="none",
                                                                                                width="90px"))
        self.stop_button.on_click(lambda _: self.stop())
        self.status = widgets.HTML(layout=widgets.Layout(min_height="1.6em"))
        header = widgets.HBox([self.class_picker, self.cluster_picker, self.progress, self.stop_button, self.summary],
                              layout=widgets.Layout(align_items="center", gap="12px"))
        self.clusters_canvas = OverlayCanvas(10, 10, css_class="cnnwidgets-audit-clusters")
        self.clusters_canvas.on_mouse_down(lambda x, y: self._pick(self._boxes, x, y))
        self.selection_canvas = OverlayCanvas(10, 10, css_class="cnnwidgets-audit-selection")
        self.selection_canvas.on_mouse_down(lambda x, y: self._pick(self._selection_boxes, x, y))
        self._x_scale, self._y_scale = bqplot.LinearScale(), bqplot.LinearScale()
        self.scatter = bqplot.Scatter(
            x=[], y=[], scales={"x": self._x_scale, "y": self._y_scale}, default_size=24, stroke="white",
            selected_style={"opacity": 1.0, "stroke": "black"}, unselected_style={"opacity": 0.35},
        )
        self._brush = bqplot.interacts.BrushSelector(x_scale=self._x_scale, y_scale=self._y_scale,
                                                     marks=[self.scatter], color=_SELECTED)
        self.figure = bqplot.Figure(
            marks=[self.scatter], interaction=self._brush, title="Embedding of the maps (brush to select)",
            fig_margin={"top": 40, "bottom": 20, "left": 20, "right": 10},
            layout=widgets.Layout(width="340px", height="320px"),
        )
        self.figure.add_class("cnnwidgets-audit-scatter")
        self.selection_label = widgets.HTML("<i>Brush points in the scatter to see their images.</i>")
        self.explorer_box = widgets.VBox()
        # Both canvases are drawn on white: they sit on light cards, in the dark theme too.
        clusters_box = as_card(widgets.Box([self.clusters_canvas.widget],
                                           layout=widgets.Layout(overflow="auto", max_height="460px",
                                                                 flex="0 1 auto", align_self="flex-start")))
        right = widgets.VBox([self.figure, self.selection_label, card(self.selection_canvas.widget)],
                             layout=widgets.Layout(width="360px"))
        self.children = [stylesheet(), header, widgets.HBox([clusters_box, right], layout=widgets.Layout(gap="12px")),
                         self.status, self.explorer_box]
        self.class_picker.observe(lambda change: self.set_trait("audit_class", change["new"]), "value")
        self.cluster_picker.observe(lambda change: self.set_trait("n_clusters", change["new"]), "value")
        self.scatter.observe(self._scatter_selected, "selected")

    # --------------------------------------------------------------- result
    def show_result(self, result, audit_class=None):
        """Show ``result`` (an :class:`~cnnwidgets.AuditResult`), starting on class ``audit_class``."""
        self.result = result
        classes = [int(c) for c in result.classes()]
        names = result.class_names
        counts = {c: len(result.rows(c)) for c in classes}
        self.class_picker.options = [(f"{names[c]} ({counts[c]})", c) for c in classes]
        start = max(classes, key=lambda c: counts[c]) if audit_class is None else result._class(audit_class)
        if start not in classes:
            raise InvalidParameterError(f"class {audit_class!r} has no image in this audit; pick one of {classes}")
        stopped = "" if result.complete else " (stopped early)"
        self.summary.value = html.escape(f"{len(result)} images, {result.meta['method']} maps{stopped}")
        if self.audit_class == start:
            self._redraw()
        self.audit_class = start
        self.class_picker.value = start

    @property
    def clusters(self):
        """The :class:`~cnnwidgets.backend.audit.ClassClusters` shown."""
        return self.result.clusters(self.audit_class, self.n_clusters or None)

    @traitlets.observe("audit_class", "n_clusters")
    def _class_changed(self, change):
        if change["name"] == "n_clusters":
            self.cluster_picker.value = change["new"]
        if self.result is not None:
            self._redraw()

    def _redraw(self):
        try:
            found = self.clusters
        except CNNWidgetsError as exc:
            self._show_error(str(exc))
            return
        self.status.value = ""
        rows, boxes, y = [], [], 0
        for cluster in found.clusters:
            rgba, tiles = cluster_row(self.result, cluster, self._tile, self._per_cluster, self._opacity)
            band = np.empty((6, rgba.shape[1], 4), np.uint8)
            band[...] = np.array(hex_to_rgba(CLUSTER_COLOURS[cluster.rank % len(CLUSTER_COLOURS)]), np.uint8)
            rows.extend([band, rgba])
            boxes.extend((y0 + y + 6, x0, y1 + y + 6, x1, i) for y0, x0, y1, x1, i in tiles)
            y += 6 + rgba.shape[0] + 10
        panel = stack_panels(rows, axis=0, gap=10, background=WHITE) if rows else text_rgba("no clusters")
        self._boxes = boxes
        self.clusters_canvas.show(panel)
        self.scatter.selected = None
        self.scatter.x, self.scatter.y = found.embedding[:, 0], found.embedding[:, 1]
        self.scatter.colors = [CLUSTER_COLOURS[int(r) % len(CLUSTER_COLOURS)] for r in found.labels]  # per point
        self.selected = []

    # ------------------------------------------------------------ selection
    def _scatter_selected(self, change):
        points = change["new"]
        rows = [] if points is None or self.result is None else [int(self.clusters.rows[p]) for p in points]
        self.selected = rows

    @traitlets.observe("selected")
    def _selection_changed(self, change):
        rows = list(change["new"])
        if not rows:
            self.selection_label.value = "<i>Brush points in the scatter to see their images.</i>"
            self.selection_canvas.show(np.full((4, 4, 4), 255, np.uint8))
            show(self.selection_canvas.widget, False)  # its card hides with it
            self._selection_boxes = []
            return
        show(self.selection_canvas.widget, True)
        shown = rows[:48]
        more = f" (first {len(shown)})" if len(rows) > len(shown) else ""
        self.selection_label.value = html.escape(f"{len(rows)} images selected{more}; click one to explore it")
        rgba, self._selection_boxes = mosaic(self.result, shown, self._tile, columns=8, opacity=self._opacity)
        self.selection_canvas.show(rgba)

    def _show_error(self, text):
        """One line in the status, marked up as the other widgets' errors are."""
        self.status.value = f'<span class="cnnwidgets-error" style="color:#b3261e">{html.escape(text)}</span>'

    def _pick(self, boxes, x, y):
        for y0, x0, y1, x1, index in boxes:
            if y0 <= y < y1 and x0 <= x < x1:
                self.image_index = index
                return

    # ------------------------------------------------------------- explorer
    @traitlets.observe("image_index")
    def _open(self, change):
        index = change["new"]
        if index < 0 or self.result is None:
            self.explorer_box.children = []
            self.explorer = None
            self.set_trait("image", None)
            return
        self.set_trait("image", self.result.image(index))
        if self.result.inspector is None:
            self._show_error("this audit has no model: call result.attach(model) to explore its images")
            return
        from .. import Explorer  # through the package's public class, as the Explorer composes the others

        found = self.clusters
        cluster = found.cluster_of(index) if index in set(found.rows.tolist()) else None
        rows = [index] + [int(r) for r in (cluster.rows if cluster is not None else []) if r != index][:23]
        images = np.stack([self.result.image(r) for r in rows])
        labels = None if self.result.labels is None else np.asarray(self.result.labels)[rows]
        try:
            self.explorer = Explorer(self.result.inspector, images, labels=labels, tab="saliency", width=self._width,
                                     layer=self.result.meta.get("layer"))  # the audit's layer (CAM methods)
        except CNNWidgetsError as exc:
            self._show_error(str(exc))
            return
        try:  # the Saliency tab shows the audit's method
            self.explorer.saliency_overlay.method = self.result.meta["method"]
        except (CNNWidgetsError, traitlets.TraitError):
            pass
        title = widgets.HTML(html.escape(f"Image {index} and the rest of its cluster, in an Explorer"))
        self.explorer_box.children = [title, self.explorer]

    # ------------------------------------------------------------ running
    @classmethod
    def run(cls, model, data, **audit_kwargs):
        """Start :func:`cnnwidgets.audit` on a background thread and return a browser that shows it.

        The browser shows a progress bar and a Stop button while the audit
        runs (the kernel stays free); Stop keeps the images done so far.
        ``audit_kwargs`` go to :func:`cnnwidgets.audit`; :meth:`wait`
        blocks until the result is shown.

        Raises
        ------
        NotAClassifierError, InvalidTargetError, ClassNotFoundError
            What the audit is to explain does not fit the model (checked
            before the thread starts), e.g. ``class_index="predicted"`` on a
            segmentation model (pass a target: see :func:`cnnwidgets.audit`).
        """
        browser = cls()
        browser.start(model, data, **audit_kwargs)
        return browser

    def start(self, model, data, **audit_kwargs):
        """Run an audit in the background and show its result here (see :meth:`run`)."""
        from ...backend.audit import audit

        _check_request(model, audit_kwargs)
        if self._job is not None and self._job.is_alive():
            raise InvalidParameterError("an audit is already running in this browser; stop() it first")
        self._cancel = threading.Event()
        self.progress.value = 0.0
        self.progress.layout.display = self.stop_button.layout.display = ""
        self.summary.value = "auditing…"

        also = audit_kwargs.pop("progress", None)

        def progress(done, total):
            if also is not None:
                also(done, total)
            self.progress.value = done / total if total else 0.5
            self.summary.value = html.escape(f"auditing: {done}" + (f" of {total} images" if total else " images"))

        def work():
            try:
                result = audit(model, data, progress=progress, cancel=self._cancel, **audit_kwargs)
            except Exception as exc:  # shown, the browser keeps working
                message = str(exc) if isinstance(exc, CNNWidgetsError) else f"{type(exc).__name__}: {exc}"
                self._show_error(message)
                self.summary.value = ""
            else:
                self.show_result(result)
            finally:
                self.progress.layout.display = self.stop_button.layout.display = "none"

        self._job = threading.Thread(target=work, name="cnnwidgets-audit", daemon=True)
        if not getattr(self, "_exit_hook", False):  # a daemon killed inside TensorFlow aborts the process
            self._exit_hook = True
            join_at_exit(self, AuditBrowser.stop, lambda browser: browser._job)
        self._job.start()

    def stop(self):
        """Stop a running audit; the browser then shows the images done so far."""
        if getattr(self, "_cancel", None) is not None:
            self._cancel.set()

    def wait(self, timeout=600):
        """Block until a running audit is shown (for scripts and tests)."""
        if self._job is not None:
            self._job.join(timeout)
            if self._job.is_alive():
                raise TimeoutError(f"audit still running after {timeout} s")

    # ------------------------------------------------------------ snapshot
    def snapshot(self):
        """The cluster rows and the selected images, as one uint8 RGBA array."""
        panels = [self.clusters_canvas.composite()]
        if self.selected:
            panels.append(self.selection_canvas.composite())
        return stack_panels(panels, axis=1, gap=8, background=WHITE)

    def save_png(self, path):
        """Write :meth:`snapshot` to ``path`` as PNG; returns the path."""
        from ...render import save_png

        return save_png(self.snapshot(), path)




def _check_request(model, audit_kwargs):
    """Check the model and what the audit is to explain now, so a bad request raises here, not on the thread.

    The backend's own check (:class:`~cnnwidgets.backend.audit.targets.AuditTargets`): on a model that is
    not a classifier the class rules ("predicted", "label") are refused with a message naming the targets
    to pass instead.
    """
    from ...backend import Inspector
    from ...backend.audit.targets import AuditTargets

    inspector = Inspector.for_model(model, class_names=audit_kwargs.get("class_names"),
                                    preprocess=audit_kwargs.get("preprocess"),
                                    output_kinds=audit_kwargs.get("output_kinds"))
    AuditTargets.check(inspector, audit_kwargs.get("class_index", "predicted"))
