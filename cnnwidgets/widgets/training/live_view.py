"""LiveView: a Keras callback that keeps widgets following ``model.fit``, with curves and replay.

What happens during ``fit``
---------------------------
``fit`` keeps the kernel busy until it returns. At each refresh point (every
epoch, or every N batches) the callback, on the training thread:

1. tells each widget's inspector that the weights changed
   (:meth:`~cnnwidgets.Inspector.weights_changed`: a new weights version,
   nothing recompiled);
2. keeps a copy of the weights for replay (every epoch, within a budget);
3. asks each widget to :meth:`refresh` (its worker computes and draws; the
   messages reach the browser while the cell runs), skipping a widget that
   is still computing the previous refresh (a synthesis, a sweep), so a long
   view refreshes at most as often as it can finish and never queues a
   backlog;
4. waits up to ``wait`` seconds for the widgets to finish, so that what they
   show was computed from exactly these weights, not from weights the next
   training steps are changing.

Messages *from* the browser (clicks, slider drags) wait in the kernel's queue
until the cell finishes, so the widgets follow training but do not answer
clicks before then; the banner over each widget says so.

Replay
------
After ``fit`` returns, the slider scrubs through the kept epochs. Scrubbing
loads that epoch's weights into the model (the widgets' inspector binds the
model itself, so its compiled functions are reused) and marks the inspector
with that epoch's weights version. The final weights come back when the
slider returns to the end, when :meth:`LiveView.restore` is called, and
before any cell runs (an IPython ``pre_run_cell`` hook), so code in the
notebook always sees the trained model.
"""

import html
import time

import ipywidgets as widgets
import numpy as np

from ...compat import load_keras
from ...errors import InvalidParameterError
from ..common.style import SUCCESS, TEXT_MUTED, WARNING
from .curves import TrainingCurves
from .snapshots import WeightSnapshots, parse_bytes

__all__ = ["LiveView"]

_TRAINING = SUCCESS
_REPLAY = WARNING


keras = load_keras()  # the quiet first import of TensorFlow, if this is the first


class LiveView(keras.callbacks.Callback):
    """Keep widgets following ``model.fit`` live; plot the training curves; replay training afterwards.

    Parameters
    ----------
    *widgets
        Any of :class:`~cnnwidgets.LayerBrowser`, :class:`~cnnwidgets.FilterGrid`,
        :class:`~cnnwidgets.OcclusionPainter`, :class:`~cnnwidgets.SaliencyOverlay`
        or an :class:`~cnnwidgets.Explorer`, built on the model being trained
        (or on a model inside it, e.g. the classifier a training wrapper
        with augmentation layers calls).
    every : "epoch" or int
        Refresh the widgets at the end of every epoch, or every ``every``
        training batches (and at the end of each epoch).
    replay : bool
        Keep per-epoch weight snapshots for the replay slider.
    memory : int or str
        Budget for the snapshots, e.g. ``"64 MB"``; when full, the kept
        epochs are thinned evenly (the first and the last always stay).
    wait : float
        Seconds the training thread waits, at each refresh point, for the
        widgets to finish (longer views go on in the background).

    Attributes
    ----------
    panel : ipywidgets.VBox
        The status line, the training curves and the replay slider (the
        callback displays it when it is the last expression of a cell).
    curves : TrainingCurves
    snapshots : WeightSnapshots
    epoch : int
        Epoch the widgets show now (0: before training).
    refreshes : int
        Refresh points so far in this run; :attr:`skipped` counts widgets
        left alone at one because they were still computing.

    Examples
    --------
    >>> live = cw.callbacks.LiveView(browser, grid, every="epoch")   # doctest: +SKIP
    >>> live                       # shows the curves and the replay slider   # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[live])                  # doctest: +SKIP
    """

    def __init__(self, *widgets, every="epoch", replay=True, memory="64 MB", wait=5.0):
        super().__init__()
        if not widgets:
            raise InvalidParameterError("LiveView needs at least one widget to keep up to date, e.g. "
                                        "LiveView(cw.LayerBrowser(model))")
        for widget in widgets:
            if not (hasattr(widget, "refresh") and hasattr(widget, "inspector")):
                raise InvalidParameterError(
                    f"LiveView follows cnnwidgets widgets (LayerBrowser, FilterGrid, OcclusionPainter, "
                    f"SaliencyOverlay, Explorer), not {type(widget).__name__}"
                )
        if every != "epoch" and not (isinstance(every, (int, np.integer)) and not isinstance(every, bool)
                                     and every >= 1):
            raise InvalidParameterError(f"every must be 'epoch' or a number of batches >= 1, got {every!r}")
        self.widgets = tuple(widgets)
        self.every = every
        if every != "epoch":
            # Only then a batch hook: any batch hook makes Keras wait for every batch's logs
            # (no asynchronous dispatch), which costs training time.
            self.on_train_batch_end = self._on_train_batch_end
        self.replay_enabled = bool(replay)
        self.wait = float(wait)
        inspectors = {id(w.inspector): w.inspector for w in self.widgets}
        self.inspectors = tuple(inspectors.values())
        models = {id(i.model): i.model for i in self.inspectors}
        self.models = tuple(models.values())
        self.snapshots = WeightSnapshots(parse_bytes(memory))
        self.epoch = None
        self.epochs = None
        self.refreshes = 0
        self.skipped = 0
        self.training = False
        self._run = 0
        self._final_epoch = None
        self._versions_final = []
        self._running_epoch = 0
        self._restore_to = None
        self._hook = None
        self._epoch_started = None
        self._seconds_per_epoch = []
        self._build_panel()

    # ================================================================= panel
    def _build_panel(self):
        self.status = widgets.HTML(f"<span style='color:{TEXT_MUTED}'>waiting for <code>model.fit(..., "
                                   "callbacks=[live])</code></span>", layout=widgets.Layout(min_height="1.6em"))
        self.status.add_class("cnnwidgets-live-status")
        self.curves = TrainingCurves()
        self.slider = widgets.SelectionSlider(options=[("–", 0)], value=0, description="replay epoch",
                                              disabled=True, continuous_update=False,
                                              style={"description_width": "90px"},
                                              layout=widgets.Layout(width="460px"))
        self.slider.add_class("cnnwidgets-replay-slider")
        self.final_button = widgets.Button(description="final weights", icon="step-forward", disabled=True,
                                           tooltip="show the weights fit returned (and put them back in the model)",
                                           layout=widgets.Layout(width="140px"))
        self.final_button.on_click(lambda _: self.restore())
        self.replay_note = widgets.HTML(layout=widgets.Layout(min_height="1.4em"))
        self.slider.observe(self._slider_moved, "value")
        self.panel = widgets.VBox([
            self.status, self.curves,
            widgets.HBox([self.slider, self.final_button], layout=widgets.Layout(align_items="center")),
            self.replay_note,
        ])
        self.panel.add_class("cnnwidgets-live-view")

    def _ipython_display_(self):
        from IPython.display import display

        display(self.panel)

    def _set_status(self, text, colour=TEXT_MUTED):
        self.status.value = f"<span style='color:{colour}'>{text}</span>"

    def _banner(self, text, colour):
        markup = f"<span style='color:{colour};font-size:13px'>{text}</span>" if text else ""
        for widget in self.widgets:
            widget.show_banner(markup)

    # ============================================================== training
    def on_train_begin(self, logs=None):
        self.restore()
        self._run += 1
        self.training = True
        self.epochs = self.params.get("epochs") if self.params else None
        self.steps = self.params.get("steps") if self.params else None
        self.refreshes = self.skipped = 0
        self._seconds_per_epoch = []
        self.curves.clear()
        self.snapshots.clear()
        self.slider.disabled = self.final_button.disabled = True
        self.replay_note.value = ("<small>the replay slider works once <code>fit</code> returns</small>"
                                  if self.replay_enabled else "")
        self._running_epoch = 0
        self._refresh(0, final=False, label="before training")
        if self.replay_enabled:
            self._keep(0)
        self._epoch_started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._running_epoch = epoch + 1

    def _on_train_batch_end(self, batch, logs=None):
        if (batch + 1) % int(self.every):
            return
        self._refresh(None, final=False, label=f"at epoch {self._running_epoch}, batch {batch + 1}"
                      + (f"/{self.steps}" if self.steps else ""))

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if self._epoch_started is not None:
            self._seconds_per_epoch.append(time.perf_counter() - self._epoch_started)
        self.curves.add(done, logs)
        if self.replay_enabled:
            self._keep(done)
        self._refresh(done, final=False, label=f"after epoch {done}")
        self._epoch_started = time.perf_counter()

    def on_train_end(self, logs=None):
        self.training = False
        done = self.epoch if self.epoch is not None else 0
        self._final_epoch = done
        if self.replay_enabled:
            if done in self.snapshots:
                self.snapshots.replace(done, self._weights())  # what fit returned (callbacks may restore weights)
            else:
                self._keep(done)
        self._refresh(done, final=True, label=f"final weights (after epoch {done})")
        self._versions_final = [insp.weights_version for insp in self.inspectors]
        self._offer_replay()

    def _weights(self):
        return [model.get_weights() for model in self.models]

    def _keep(self, epoch):
        if not self.snapshots.add(epoch, self._weights()):
            self.replay_note.value = (f"<small>no replay: one snapshot needs more than the "
                                      f"{self.snapshots.budget / 2**20:.1f} MB budget (raise memory=)</small>")

    def _refresh(self, epoch, final, label):
        """Tell the inspectors, refresh the widgets (skipping busy ones unless final), wait for them."""
        if epoch is not None:
            self.epoch = epoch
        for insp in self.inspectors:
            insp.weights_changed()  # a new version: results from earlier weights are never shown
        self.refreshes += 1
        waiting = []
        for widget in self.widgets:
            if widget.refresh(if_idle=not final):
                waiting.append(widget)
            else:
                self.skipped += 1
        total = f"/{self.epochs}" if self.epochs else ""
        if final:
            self._banner(f"trained {self.epoch} epoch{'s' if self.epoch != 1 else ''} · showing the final "
                         "weights · scrub back through training with the replay slider", TEXT_MUTED)
        else:
            self._banner(f"<b>● training</b> — epoch {self._running_epoch}{total}: this view shows the weights {label}. "
                         "It follows training; clicks and changes apply when the cell finishes.", _TRAINING)
        self._status_line(final, label)
        deadline = time.perf_counter() + (max(self.wait, 60.0) if final else self.wait)
        for widget in waiting:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            try:
                widget.wait(left)
            except TimeoutError:
                break

    def _status_line(self, final, label):
        total = f"/{self.epochs}" if self.epochs else ""
        last = {name: values[-1] for name, values in self.curves.history.items() if values}
        numbers = " · ".join(f"{name} {value:.4g}" for name, value in last.items()
                             if name in ("loss", "val_loss") or name.endswith("accuracy"))
        pace = ""
        if self._seconds_per_epoch:
            pace = f" · {np.median(self._seconds_per_epoch):.1f} s/epoch"
        if final:
            self._set_status(f"<b>done</b> — {self.epoch} epoch{'s' if self.epoch != 1 else ''}"
                             + (f" · {numbers}" if numbers else "") + pace)
        else:
            self._set_status(f"<b>● training</b> — epoch {self._running_epoch}{total} · views: weights {html.escape(label)}"
                             + (f" · {numbers}" if numbers else "") + pace, _TRAINING)

    # ================================================================ replay
    def _offer_replay(self):
        if not self.replay_enabled or not len(self.snapshots):
            return
        kept = self.snapshots.epochs
        options = [(("start" if e == 0 else str(e)) + (" (final)" if e == self._final_epoch else ""), e) for e in kept]
        self._quiet = True
        try:
            self.slider.options = options
            self.slider.value = self._final_epoch if self._final_epoch in kept else kept[-1]
        finally:
            self._quiet = False
        self.slider.disabled = len(kept) < 2
        self.curves.mark(None)
        self.replay_note.value = f"<small>{html.escape(self.snapshots.describe())}</small>"

    def _slider_moved(self, change):
        if getattr(self, "_quiet", False) or self.training:
            return
        self.show_epoch(change["new"])

    def show_epoch(self, epoch):
        """Show every widget as the model was after ``epoch`` (0: before training); see the module notes.

        The final weights come back with :meth:`restore`, at the last epoch,
        and before the next cell runs.
        """
        if self.training:
            raise InvalidParameterError("replay works once fit has returned")
        if epoch not in self.snapshots:
            raise InvalidParameterError(
                f"no snapshot of epoch {epoch}; kept: {', '.join(str(e) for e in self.snapshots.epochs) or 'none'}"
            )
        if epoch == self._final_epoch:
            self.restore()
            return
        self._quiesce()
        if self._restore_to is None:
            self._restore_to = self._weights()
            self._register_hook()
        for model, weights in zip(self.models, self.snapshots.get(epoch)):
            model.set_weights(weights)
        for insp in self.inspectors:
            # The same snapshot always gets the same version, so scrubbing back is instant.
            insp.weights_changed(("replay", id(self), self._run, epoch))
        self.epoch = epoch
        for widget in self.widgets:
            widget.refresh()
        when = "before training" if epoch == 0 else f"after epoch {epoch}"
        self._banner(f"<b>◀ replay</b> — the model as it was {when} of {self._final_epoch}, not the final weights. "
                     "Running any cell (or the final-weights button) puts the final weights back.", _REPLAY)
        self._set_status(f"<b>replay</b> — showing the weights {when}", _REPLAY)
        self.final_button.disabled = False
        self.curves.mark(epoch)
        self._set_slider(epoch)

    def restore(self):
        """Put the final weights back in the model and show them (a no-op when they are there)."""
        if self._restore_to is None:
            return
        self._quiesce()
        for model, weights in zip(self.models, self._restore_to):
            model.set_weights(weights)
        self._restore_to = None
        self._unregister_hook()
        for insp, version in zip(self.inspectors, self._versions_final):
            insp.weights_changed(version)  # the final weights' results are still cached
        self.epoch = self._final_epoch
        for widget in self.widgets:
            widget.refresh()
        self._banner(f"trained {self._final_epoch} epochs · showing the final weights · scrub back through "
                     "training with the replay slider", TEXT_MUTED)
        self._status_line(True, "final")
        self.final_button.disabled = True
        self.curves.mark(None)
        self._set_slider(self._final_epoch)

    def _set_slider(self, epoch):
        if epoch in self.snapshots and self.slider.value != epoch:
            self._quiet = True
            try:
                self.slider.value = epoch
            finally:
                self._quiet = False

    def _quiesce(self):
        """Stop the widgets' computations and wait for them, so that none reads weights being swapped."""
        for widget in self.widgets:
            widget.halt()
        for widget in self.widgets:
            try:
                widget.wait(30)
            except TimeoutError:
                pass

    def _register_hook(self):
        try:
            from IPython import get_ipython
        except ImportError:
            return
        shell = get_ipython()
        if shell is None:
            return

        def restore_before_cell(*_):
            self.restore()

        shell.events.register("pre_run_cell", restore_before_cell)
        self._hook = (shell, restore_before_cell)

    def _unregister_hook(self):
        if self._hook is None:
            return
        shell, callback = self._hook
        self._hook = None
        try:
            shell.events.unregister("pre_run_cell", callback)
        except ValueError:
            pass
