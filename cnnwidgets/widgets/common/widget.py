"""The base of every widget (status line, progress bar, worker, snapshot) and the input checks."""

import html

import ipywidgets as widgets
import numpy as np

from ...backend import Inspector
from ...backend.images import describe_shape
from ...errors import CNNWidgetsError, InvalidImageError
from ...render import save_png, stack_panels
from .runner import WIDGET_WORKER_LINGER, LatestRequestRunner
from .style import LEVEL_COLOURS

__all__ = [
    "InspectorWidget",
    "resolve_inspector",
    "image_batch",
    "is_embedded_digits_model",
    "name_digits_classes",
]


def is_embedded_digits_model(inspector):
    """True for :func:`cnnwidgets.demo.digits_model` (name ``digits_cnn``, input 28x28x1)."""
    name = getattr(inspector.model, "name", "")
    return name == "digits_cnn" and tuple(inspector.input_shape) == (28, 28, 1)


def name_digits_classes(inspector):
    """Give the embedded digits model its class names ("0".."9") if it has none."""
    if inspector.class_names is None and is_embedded_digits_model(inspector):
        from ...demo import DIGIT_CLASS_NAMES

        inspector.class_names = inspector._check_class_names(DIGIT_CLASS_NAMES)


def resolve_inspector(model, class_names=None, preprocess=None, output_kinds=None):
    """The shared :class:`~cnnwidgets.Inspector` for ``model`` (or ``model`` itself if it is one).

    ``output_kinds`` says what the model's outputs hold (see :class:`~cnnwidgets.Inspector`).
    """
    if isinstance(model, Inspector):
        if class_names is not None and model.class_names is None:
            model.class_names = model._check_class_names(class_names)
        return model
    return Inspector.for_model(model, class_names=class_names, preprocess=preprocess, output_kinds=output_kinds)


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


class InspectorWidget(widgets.VBox):
    """Base of the widgets: a shared inspector, a status line, a progress bar, a worker.

    Subclasses build their controls and set ``children`` (placing
    :attr:`status` and :attr:`progress` where they fit), submit their
    computations with :meth:`_submit` (latest request wins; a superseded
    result is never drawn) and implement :meth:`_snapshot_panels`.
    """

    def __init__(self, model, class_names=None, preprocess=None, output_kinds=None, **kwargs):
        super().__init__(**kwargs)
        #: The shared compute backend (``Inspector.for_model(model)``).
        self.inspector = resolve_inspector(model, class_names, preprocess, output_kinds)
        self.status = widgets.HTML(layout=widgets.Layout(min_height="1.6em"))
        self.progress = widgets.FloatProgress(
            min=0.0, max=1.0, value=0.0, description="", layout=widgets.Layout(width="220px", visibility="hidden")
        )
        self._runner = LatestRequestRunner(on_busy=self._set_busy, linger=WIDGET_WORKER_LINGER)
        self.add_class("cnnwidgets")

    # ----------------------------------------------------------- status line
    def show_message(self, text, level="info"):
        """Show a one-line message under the widget (``level``: info, warning or error)."""
        colour = LEVEL_COLOURS.get(level, LEVEL_COLOURS["info"])
        self.status.value = f'<span class="cnnwidgets-{level}" style="color:{colour}">{html.escape(str(text))}</span>'

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

    @property
    def busy(self):
        """True while a computation of the widget runs or waits."""
        return self._runner.busy

    def halt(self):
        """Cancel every computation quietly (no message); :meth:`wait` then returns once none runs."""
        self._runner.cancel()

    # --------------------------------------------------------------- refresh
    def refresh(self, if_idle=False):
        """Recompute and redraw everything the widget shows from the model's current weights.

        Call it after the weights changed and the inspector was told so
        (:meth:`Inspector.weights_changed`); :class:`cnnwidgets.callbacks.LiveView`
        does both during ``model.fit``. The settings (image, layer, class,
        page, ...) stay as they are. Computations run on the widget's worker
        as usual: the latest request wins, so a refresh replaces one still
        under way and its result is never drawn.

        Parameters
        ----------
        if_idle : bool
            Skip the refresh while a computation is still under way (a long
            view, e.g. a synthesis or a sweep, then refreshes at most as often
            as it can finish, instead of being restarted and never finishing).

        Returns
        -------
        bool
            Whether a refresh was requested.
        """
        if if_idle and self.busy:
            return False
        self._refresh_from_weights()
        return True

    def _refresh_from_weights(self):
        """Drop what the widget derived from the old weights and request its views again."""
        raise NotImplementedError

    def show_banner(self, html_text):
        """Show (or with ``""`` hide) a line above the widget, e.g. the training status.

        The banner is created on first use and placed first in ``children``.
        """
        banner = getattr(self, "banner", None)
        if banner is None:
            if not html_text:
                return
            banner = self.banner = widgets.HTML(layout=widgets.Layout(min_height="1.6em"))
            banner.add_class("cnnwidgets-banner")
            self.children = (banner, *self.children)
        banner.value = html_text
        banner.layout.display = "" if html_text else "none"

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
