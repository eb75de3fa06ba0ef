"""LiveView in a real JupyterLab: the widgets redraw while ``fit`` keeps the kernel busy; replay afterwards.

A notebook shows a LiveView panel, a FilterGrid and a LayerBrowser on an
untrained digits CNN. The test then starts ``model.fit`` through the
kernel (the kernel stays busy, as when a person runs the training cell) and,
while it runs, checks in the browser that

* the banner over the widgets counts the epochs (``● training — epoch k/N``),
* the filter grid's canvas changes from one epoch to a later one (the
  drawing reaches the browser while the cell runs),
* a click on a filter tile during training is *not* answered before ``fit``
  returns, and is answered after (clicks apply when the cell finishes).

After ``fit``, the replay slider is moved with the keyboard to an early
epoch (the filters change back) and to the end again, and the panel is
screenshotted in the dark theme too. Screenshots:
``tests/artifacts/screenshots/live-view-*.png``; the mid-training and the
final ones are copied to ``docs/screenshots/``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path


NOTEBOOK = "live_view_browser.ipynb"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
EPOCHS = 10

CELLS = [
    """\
import ipywidgets as widgets
import keras
import numpy as np

import cnnwidgets as cw
from cnnwidgets.demo.train_digits import load_mnist_subset

x, y = load_mnist_subset()
pick = np.random.default_rng(0).permutation(len(x))[:3000]
x, y = x[pick], y[pick]
keras.utils.set_random_seed(0)
model = cw.demo.build_digits_model()
model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
filters = cw.FilterGrid(model, layer="conv1")
browser = cw.LayerBrowser(model, layer="conv1")
live = cw.callbacks.LiveView(filters, browser)
widgets.VBox([live.panel, filters])""",
    "browser",
]

FIT = (f"history = model.fit(x, y, epochs={EPOCHS}, batch_size=64, validation_split=0.2, verbose=0, "
       "callbacks=[live])")


def _poll(condition, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def _start_in_kernel(page, panel_id, code):
    """Send ``code`` to the notebook's kernel without waiting (the kernel is busy until it finishes)."""
    page.evaluate(
        """([id, code]) => {
          const app = window.jupyterapp;
          let panel = null;
          for (const w of app.shell.widgets('main')) { if (w.id === id) panel = w; }
          const kernel = panel.sessionContext.session.kernel;
          window.__cnnFit = 'running';
          const future = kernel.requestExecute({code: code});
          future.onReply = (msg) => { window.__cnnFit = msg.content.status; };
        }""",
        [panel_id, code],
    )


def test_widgets_follow_fit_and_replay_in_jupyterlab(page, jupyter_server, harness, notebook_root):
    harness.write_notebook(notebook_root, NOTEBOOK, CELLS)
    run = harness.run_notebook_in_lab(page, jupyter_server, NOTEBOOK, timeout=240,
                                      wait_for=["canvas.cnnwidgets-filter-grid", ".cnnwidgets-live-view"])
    panel_id = run.root.get_attribute("id")
    grid = run.root.locator("canvas.cnnwidgets-filter-grid").first
    banner = run.root.locator(".cnnwidgets-filter-grid-widget .cnnwidgets-banner").first
    status = run.root.locator(".cnnwidgets-live-status").first
    top = run.root.locator(".jp-OutputArea-output").filter(has=page.locator(".cnnwidgets-live-view")).first
    harness.wait_for_pixels(page, grid, lambda px: not harness.is_blank(px, 10), timeout=60,
                            message="the filter grid to be drawn")

    _start_in_kernel(page, panel_id, FIT)
    assert _poll(lambda: banner.count() and "epoch 2/" in banner.inner_text(), 120), (
        "the banner never said 'epoch 2/' while training: " + (banner.inner_text() if banner.count() else "none"))
    early = harness.canvas_pixels(page, grid)
    assert page.evaluate("() => window.__cnnFit") == "running"
    # A click during training waits in the kernel's queue: no detail view until fit returns.
    grid.click(position={"x": 34, "y": 34})
    detail = run.root.locator("canvas.cnnwidgets-filter-detail").first
    assert _poll(lambda: banner.count() and "epoch 5/" in banner.inner_text(), 120), banner.inner_text()
    harness.wait_for_pixels(page, grid, harness.changed(early), timeout=60,
                            message="the filters to change between epoch 2 and epoch 5, while fit runs")
    assert page.evaluate("() => window.__cnnFit") == "running", "training ended too early to see it live"
    assert "training" in status.inner_text()
    assert not detail.is_visible(), "a click was answered while the kernel was busy training"
    shot = harness.save_screenshot(top, "live-view-training")
    shutil.copyfile(shot, DOCS / "live_view_training.png")
    shutil.copyfile(harness.save_screenshot(run.root.locator(".cnnwidgets-layer-browser").first,
                                            "live-view-training-layer-browser"),
                    DOCS / "live_view_training_layer_browser.png")

    assert _poll(lambda: page.evaluate("() => window.__cnnFit") != "running", 240), "fit did not finish"
    assert page.evaluate("() => window.__cnnFit") == "ok"
    assert _poll(lambda: "done" in status.inner_text(), 30), status.inner_text()
    assert _poll(lambda: "final weights" in banner.inner_text(), 30), banner.inner_text()
    detail.wait_for(state="visible", timeout=60_000)  # the queued click applied once the cell finished
    final = harness.canvas_pixels(page, grid)
    shutil.copyfile(harness.save_screenshot(top, "live-view-after"), DOCS / "live_view_after.png")

    handle = run.root.locator(".cnnwidgets-replay-slider .noUi-handle").first
    handle.focus()
    for _ in range(EPOCHS - 1):
        page.keyboard.press("ArrowLeft")
    assert _poll(lambda: "replay" in banner.inner_text() and "after epoch 1 " in banner.inner_text(), 60), (
        banner.inner_text())
    harness.wait_for_pixels(page, grid, harness.changed(final), timeout=60, message="the filters of epoch 1")
    shutil.copyfile(harness.save_screenshot(top, "live-view-replay"), DOCS / "live_view_replay.png")
    for _ in range(EPOCHS - 1):
        page.keyboard.press("ArrowRight")
    assert _poll(lambda: "showing the final weights" in banner.inner_text(), 60), banner.inner_text()
    # (the inside only: the focus ring of the clicked canvas comes and goes with the keyboard focus)
    inside = lambda px: px[4:-4, 4:-4]  # noqa: E731
    harness.wait_for_pixels(page, grid, lambda px: px.shape == final.shape and not harness.changed(inside(final))(inside(px)),
                            timeout=60,
                            message="the final filters again")

    # The same panel in JupyterLab's dark theme (switched back at the end: the setting lasts the session).
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30000)
    try:
        page.wait_for_timeout(1500)  # the charts restyle
        shutil.copyfile(harness.save_screenshot(top, "live-view-after-dark"), DOCS / "live_view_after_dark.png")
    finally:
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', "
                      "{theme: 'JupyterLab Light'})")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'", timeout=30000)
