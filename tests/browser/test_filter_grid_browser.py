"""FilterGrid in a real JupyterLab, driven by headless Chromium.

1. A small notebook shows ``FilterGrid`` on the digits model's ``conv2``
   (8 filters a page) and prints where filter 10's tile is. The test pages
   the grid with the next button, clicks a tile, switches to "What excites
   it", and checks that the canvas pixels change at each step. Screenshots:
   ``tests/artifacts/screenshots/filter-grid-*.png``.
2. ``notebooks/02_filter_grid.ipynb`` itself runs in JupyterLab without
   errors and draws both modes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path


NOTEBOOK = "filter_grid_browser.ipynb"
REPO_NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02_filter_grid.ipynb"

CELLS = [
    """\
import json
import cnnwidgets as cw

model = cw.demo.digits_model()
images, labels = cw.demo.digits_samples()
grid = cw.FilterGrid(model, layer="conv2", image=images[78], page_size=8, steps=48)
grid""",
    """\
grid.page = 1
print(json.dumps({"tile10": grid.tile_position(10)}))
grid.page = 0""",
]


def _positions(run):
    for cell_outputs in run.outputs:
        for out in cell_outputs:
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            if out.get("name") == "stdout" and text.strip().startswith("{"):
                return json.loads(text)
    raise AssertionError(f"the notebook printed no positions; outputs: {run.outputs}")


def test_filter_grid_pages_clicks_and_maximizes_in_jupyterlab(page, jupyter_server, harness, notebook_root):
    harness.write_notebook(notebook_root, NOTEBOOK, CELLS)
    run = harness.run_notebook_in_lab(page, jupyter_server, NOTEBOOK,
                                      wait_for=["canvas.cnnwidgets-filter-grid", ".cnnwidgets-filter-legend"])
    tile10 = _positions(run)["tile10"]
    widget = run.root.locator(".cnnwidgets-filter-grid-widget").first
    grid = run.root.locator("canvas.cnnwidgets-filter-grid").first

    weights = harness.wait_for_pixels(page, grid, lambda px: not harness.is_blank(px, 10),
                                      message="the weight tiles to be drawn")
    # the canvas is shown at its pixel size (not stretched)
    exact = harness.canvas_pixels(page, grid, method="dataurl", mode="RGBA")
    assert abs(weights.shape[0] - exact.shape[0]) <= 1 and abs(weights.shape[1] - exact.shape[1]) <= 1
    # RdBu_r tiles: both reds and blues are on screen
    rgb = weights.astype(int)
    assert ((rgb[..., 0] - rgb[..., 2]) > 60).mean() > 0.01 and ((rgb[..., 2] - rgb[..., 0]) > 60).mean() > 0.01
    widget.scroll_into_view_if_needed()
    harness.save_screenshot(page, "filter-grid-lab-weights-page1")

    # Page forward with the button: other filters, other pixels.
    widget.locator(".cnnwidgets-filter-next").first.click()
    page2 = harness.wait_for_pixels(page, grid, harness.changed(weights), timeout=30,
                                    message="the grid to change after the next-page button")
    harness.wait_text(page, ".cnnwidgets-filter-grid-widget", "page 2/4", timeout=30)

    # Click filter 10's tile: it is outlined and shown large with its statistics.
    grid.click(position={"x": tile10[0], "y": tile10[1]})
    harness.wait_text(page, ".cnnwidgets-filter-info", "Filter 10 of conv2", timeout=30)
    detail = run.root.locator("canvas.cnnwidgets-filter-detail").first
    harness.wait_for_pixels(page, detail, lambda px: not harness.is_blank(px, 10),
                            message="the selected filter to be drawn large")
    feature = run.root.locator("canvas.cnnwidgets-filter-feature-map").first
    harness.wait_for_pixels(page, feature, lambda px: not harness.is_blank(px, 10),
                            message="the feature map of the selected filter")
    harness.wait_for_pixels(page, grid, harness.changed(page2, tolerance=60), timeout=30,
                            message="the selection outline to appear")
    harness.save_screenshot(page, "filter-grid-lab-weights-selected")

    # Switch to "What excites it": synthesized images replace the weights.
    before = harness.canvas_pixels(page, grid)
    widget.get_by_text("What excites it").first.click()
    harness.wait_text(page, ".cnnwidgets-filter-grid-widget", "synthesized in", timeout=180)
    maximized = harness.wait_for_pixels(page, grid, harness.changed(before), timeout=60,
                                        message="the grid to show the synthesized images")
    # grey-scale images now, no red/blue weights
    spread = maximized.astype(int).max(axis=-1) - maximized.astype(int).min(axis=-1)
    assert (spread > 60).mean() < 0.02
    assert not harness.is_blank(maximized, 30)
    harness.wait_text(page, ".cnnwidgets-filter-info", "(random start:", timeout=30)
    widget.scroll_into_view_if_needed()
    harness.save_screenshot(page, "filter-grid-lab-maximize")
    harness.save_screenshot(widget, "filter-grid-lab-widget")


def test_filter_grid_notebook_runs_in_jupyterlab(page, jupyter_server, harness, notebook_root):
    shutil.copy(REPO_NOTEBOOK, notebook_root / REPO_NOTEBOOK.name)
    run = harness.run_notebook_in_lab(page, jupyter_server, REPO_NOTEBOOK.name, timeout=300,
                                      wait_for=["canvas.cnnwidgets-filter-grid"])
    grids = run.root.locator("canvas.cnnwidgets-filter-grid")
    assert grids.count() == 3
    for i in range(3):
        harness.wait_for_pixels(page, grids.nth(i), lambda px: not harness.is_blank(px, 10), timeout=60,
                                message=f"filter grid {i} of the notebook to be drawn")
    widgets = run.root.locator(".cnnwidgets-filter-grid-widget")
    widgets.nth(0).scroll_into_view_if_needed()
    harness.save_screenshot(widgets.nth(0), "filter-grid-notebook-conv2-maximize")
    widgets.nth(1).scroll_into_view_if_needed()
    harness.save_screenshot(widgets.nth(1), "filter-grid-notebook-classes")
