"""Pieces every cnnwidgets widget shares: the canvas, the status line, the worker."""

import html
import numbers
import threading
from contextlib import contextmanager

import ipywidgets as widgets
import numpy as np
import traitlets
from ipycanvas import Canvas, hold_canvas

from ..backend import Inspector
from ..backend.images import describe_shape
from ..errors import CNNWidgetsError, InvalidImageError
from ..render import apply_colormap, encode_png_fast, save_png, stack_panels
from .runner import WIDGET_WORKER_LINGER, LatestRequestRunner

__all__ = [
    "ImageCanvas",
    "InspectorWidget",
    "resolve_inspector",
    "forget_current_canvas",
    "drawing",
    "image_batch",
    "checked_colormap",
    "checked_class_index",
]

# ipycanvas batches draw commands in ONE process-wide cache (its canvas
# manager), interleaving "switch canvas" commands as the target changes. Widgets
# draw from their worker threads, so two widgets drawing at once could send
# commands to the wrong canvas. Every batch of drawing goes through this lock.
_CANVAS_COMMANDS_LOCK = threading.RLock()


@contextmanager
def drawing():
    """Batch ipycanvas draw commands and send them at once, safely from any thread.

    Use instead of ``ipycanvas.hold_canvas()`` for every sequence of drawing
    commands: it also holds a process-wide lock, because ipycanvas' command
    cache is shared by all canvases and is not thread-safe.
    """
    with _CANVAS_COMMANDS_LOCK, hold_canvas():
        yield


def forget_current_canvas():
    """Make ipycanvas re-send its "switch to this canvas" command before the next draw.

    Call it in ``on_client_ready`` callbacks before replaying drawings: a
    browser view that connects late has no current canvas yet (ipycanvas
    issue 342). ``_CANVAS_MANAGER`` is private in ipycanvas 0.14; if it moves,
    this does nothing.
    """
    from ipycanvas import canvas as canvas_module

    manager = getattr(canvas_module, "_CANVAS_MANAGER", None)
    if manager is not None and hasattr(manager, "_current_canvas"):
        manager._current_canvas = None


def resolve_inspector(model, class_names=None, preprocess=None):
    """The shared :class:`~cnnwidgets.Inspector` for ``model`` (or ``model`` itself if it is one)."""
    if isinstance(model, Inspector):
        if class_names is not None and model.class_names is None:
            model.class_names = model._check_class_names(class_names)
        return model
    return Inspector.for_model(model, class_names=class_names, preprocess=preprocess)


def image_batch(inspector, images, labels=None):
    """Check a batch of images (and their labels) against the model's input.

    Parameters
    ----------
    inspector : Inspector
        The backend whose model the images are for.
    images : array_like
        ``(N, H, W, C)``, or ``(N, H, W)`` for a grayscale model; ``N >= 1``.
    labels : array_like, optional
        One label per image.

    Returns
    -------
    images : numpy.ndarray
        ``(N, H, W, C)``; every image passed the backend's checks.
    labels : numpy.ndarray or None

    Raises
    ------
    InvalidImageError
        Not a non-empty batch, a bad image (the backend's message), or a label count mismatch.
    """
    array = np.asarray(images)
    if array.ndim == 3 and inspector.input_shape[-1] == 1:
        array = array[..., None]
    if array.ndim != 4 or len(array) == 0:
        raise InvalidImageError(
            f"images must be a non-empty batch (N, H, W, C) matching the model input "
            f"{describe_shape(inspector.input_shape)}, got shape {array.shape}"
        )
    for image in array:  # every image checked now, with the backend's message
        inspector.prepare(image)
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(array):
            raise InvalidImageError(f"got {len(labels)} labels for {len(array)} images; give one label per image")
    return array, labels


def checked_colormap(name):
    """``name`` if it is a matplotlib colormap, else :class:`traitlets.TraitError` (for trait validators)."""
    try:
        apply_colormap(np.zeros(1, np.float32), name)
    except ValueError as exc:
        raise traitlets.TraitError(str(exc)) from None
    return name


def checked_class_index(inspector, spec):
    """Resolve a class index or name for a trait validator; a bad one raises :class:`traitlets.TraitError`."""
    if isinstance(spec, (bool, np.bool_)) or not isinstance(spec, (numbers.Integral, str)):
        raise traitlets.TraitError(f"class_index must be a class index, a class name or None, not {spec!r}")
    try:
        return inspector.class_index(spec if isinstance(spec, str) else int(spec))
    except CNNWidgetsError as exc:
        raise traitlets.TraitError(str(exc)) from None


class ImageCanvas(Canvas):
    """An ipycanvas ``Canvas`` shown at exactly its pixel size that remembers what it shows.

    Parameters
    ----------
    width, height : int
        Size in pixels; the CSS size is pinned to it so the browser never
        stretches or blurs the image.

    Attributes
    ----------
    image : numpy.ndarray
        The uint8 RGBA array last drawn with :meth:`show` (kept in the kernel,
        never synced).
    """

    def __init__(self, width, height, **kwargs):
        layout = kwargs.pop("layout", None) or widgets.Layout()
        super().__init__(width=int(width), height=int(height), layout=layout, **kwargs)
        self._pin_css_size()
        self.image = np.zeros((int(height), int(width), 4), np.uint8)
        self.on_client_ready(self._redraw)

    @property
    def css_size(self):
        """``(height, width)`` on screen, in CSS pixels (the pixel size)."""
        return self.height, self.width

    def _pin_css_size(self):
        height, width = self.css_size
        self.layout.width = f"{width}px"
        self.layout.height = f"{height}px"
        self.layout.min_width = f"{width}px"
        self.layout.flex = "0 0 auto"

    def show(self, rgba):
        """Replace the canvas content with a uint8 RGBA image (resizing the canvas to fit)."""
        rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
        if rgba.ndim != 3 or rgba.shape[-1] != 4:
            raise ValueError(f"show needs uint8 (H, W, 4) RGBA, got shape {rgba.shape}")
        height, width = rgba.shape[:2]
        if (width, height) != (self.width, self.height):
            self.width, self.height = width, height
            self._pin_css_size()
        self._send_image(rgba)
        self.image = rgba

    def _send_image(self, rgba):
        """Clear and draw ``rgba`` at the origin, as one batch of commands."""
        with drawing():
            self.clear()
            try:
                from ipycanvas.canvas import COMMANDS

                # ipycanvas' put_image_data encodes with Pillow (filtered,
                # level 6): several times slower for images drawn once.
                self._canvas_manager.send_draw_command(
                    self, COMMANDS["putImageData"], [0, 0], [encode_png_fast(rgba)]
                )
            except (ImportError, KeyError, AttributeError):  # another ipycanvas version
                self.put_image_data(rgba, 0, 0)

    def _redraw(self):
        """Replay the image for a browser view that connected after it was drawn (e.g. Voila).

        ipycanvas 0.14 keeps no draw history and skips its "switch canvas"
        command when this canvas was the last one drawn on, which a new view
        needs; forgetting the current canvas makes the manager send it.
        """
        if self.image.any():
            forget_current_canvas()
            self._send_image(self.image)


class InspectorWidget(widgets.VBox):
    """Base of the four widgets: a shared inspector, a status line, a progress bar, a worker.

    Subclasses build their controls, call :meth:`_finish_layout` with them and
    implement :meth:`_snapshot_panels`.
    """

    def __init__(self, model, class_names=None, preprocess=None, **kwargs):
        super().__init__(**kwargs)
        #: The shared compute backend (``Inspector.for_model(model)``).
        self.inspector = resolve_inspector(model, class_names, preprocess)
        self.status = widgets.HTML(layout=widgets.Layout(min_height="1.6em"))
        self.progress = widgets.FloatProgress(
            min=0.0, max=1.0, value=0.0, description="", layout=widgets.Layout(width="220px", visibility="hidden")
        )
        self._runner = LatestRequestRunner(on_busy=self._set_busy, linger=WIDGET_WORKER_LINGER)
        self.add_class("cnnwidgets")

    # ----------------------------------------------------------- status line
    def show_message(self, text, level="info"):
        """Show a one-line message under the widget (``level``: info, warning or error)."""
        colours = {"info": "#555", "warning": "#9a6700", "error": "#b3261e"}
        self.status.value = (
            f'<span class="cnnwidgets-{level}" style="color:{colours.get(level, "#555")}">{html.escape(str(text))}</span>'
        )

    def clear_message(self):
        """Remove the message."""
        self.status.value = ""

    def show_error(self, exc):
        """Show an exception's message; cnnwidgets' own errors are shown without their type."""
        text = str(exc) if isinstance(exc, CNNWidgetsError) else f"{type(exc).__name__}: {exc}"
        self.show_message(text, "error")

    # -------------------------------------------------------------- progress
    def _set_busy(self, busy):
        self.progress.layout.visibility = "visible" if busy else "hidden"
        if not busy:
            self.progress.value = 0.0

    def _report_progress(self, done, total):
        self.progress.value = done / total if total else 1.0

    # ---------------------------------------------------------------- worker
    def _submit(self, compute, on_result):
        """Run ``compute(cancel)`` on the worker (latest request wins) and draw with ``on_result``."""

        def on_error(exc):
            self.show_error(exc)

        return self._runner.submit(compute, on_result, on_error)

    def wait(self, timeout=60):
        """Block until pending computations are drawn (for scripts and tests)."""
        if not self._runner.wait(timeout):
            raise TimeoutError(f"{type(self).__name__} still busy after {timeout} s")

    def stop(self):
        """Cancel the running computation and any waiting one."""
        self._runner.cancel()

    # -------------------------------------------------------------- snapshot
    def _snapshot_panels(self):
        """RGBA panels (left to right) that make up what the widget shows."""
        raise NotImplementedError

    def snapshot(self):
        """What the widget shows, as one uint8 RGBA array (panels side by side)."""
        return stack_panels(self._snapshot_panels(), axis=1, gap=8, background=(255, 255, 255, 255))

    def save_png(self, path):
        """Write :meth:`snapshot` to ``path`` as PNG; returns the path."""
        return save_png(self.snapshot(), path)
