"""OcclusionPainter in a real JupyterLab, driven by headless Chromium.

1. A small notebook shows the painter on a handwritten 9. The test drags the
   occluder with Playwright's mouse across the digit to the spot where a grey
   square turns the 9 into an 8, and checks that the canvas shows the grey
   square there and that the bqplot bars changed (heights read from the SVG,
   and the figure's pixels). Then Sweep draws the occlusion map (red over the
   canvas, a legend, hover values), and Paint mode brushes a stroke. The
   screenshots are ``tests/artifacts/screenshots/occlusion-painter-*.png``.
2. ``notebooks/03_occlusion_painter.ipynb`` itself runs in JupyterLab without
   errors and draws its widgets.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

NOTEBOOK = "occlusion_painter_browser.ipynb"
REPO_NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03_occlusion_painter.ipynb"
FACTOR = 12  # 28x28 image shown at 336 px

CELLS = [
    """\
import cnnwidgets as cw

model = cw.demo.digits_model()
images, labels = cw.demo.digits_samples()
painter = cw.OcclusionPainter(model, images[93], class_names=cw.demo.DIGIT_CLASS_NAMES)
painter""",
]

# Heights of the filled bars (the first Bars mark; the second holds the outlined reference bars).
BAR_HEIGHTS_JS = """
(figure) => {
  const parents = [...new Set(Array.from(figure.querySelectorAll('.bargroup')).map(g => g.parentNode))];
  if (!parents.length) return [];
  return Array.from(parents[0].querySelectorAll(':scope > .bargroup rect.bar'))
      .map(r => parseFloat(r.getAttribute('height') || '0'));
}
"""


def _screen_point(box, row, col):
    """Page coordinates of the centre of image pixel (row, col) on the canvas' bounding box."""
    scale_x, scale_y = box["width"] / (28 * FACTOR), box["height"] / (28 * FACTOR)
    return box["x"] + (col + 0.5) * FACTOR * scale_x, box["y"] + (row + 0.5) * FACTOR * scale_y


def _drag(page, box, path, steps=6):
    """Press at the first pixel, move through the others (several mouse events each), release."""
    page.mouse.move(*_screen_point(box, *path[0]))
    page.mouse.down()
    for row, col in path[1:]:
        page.mouse.move(*_screen_point(box, row, col), steps=steps)
    page.mouse.up()


def test_dragging_the_occluder_changes_the_chart_in_jupyterlab(page, jupyter_server, harness, notebook_root):
    harness.write_notebook(notebook_root, NOTEBOOK, CELLS)
    run = harness.run_notebook_in_lab(page, jupyter_server, NOTEBOOK,
                                      wait_for=[".cnnwidgets-occlusion-canvas", ".cnnwidgets-occlusion-chart"])
    widget = run.root.locator(".cnnwidgets-occlusion-painter").first
    canvas = run.root.locator(".cnnwidgets-occlusion-canvas").first
    figure = run.root.locator(".cnnwidgets-occlusion-chart").first
    widget.scroll_into_view_if_needed()

    # the digit is drawn, enlarged with crisp pixels, at its pixel size
    image = harness.wait_for_pixels(page, canvas, lambda px: not harness.is_blank(px, 10),
                                    message="the digit to be drawn")
    assert abs(image.shape[0] - 336) <= 1 and abs(image.shape[1] - 336) <= 1
    harness.wait_text(page, ".cnnwidgets-occlusion-target", "p(9) = 1.000")
    heights = lambda: page.evaluate(BAR_HEIGHTS_JS, figure.element_handle())  # noqa: E731
    page.wait_for_function(f"(f) => ({BAR_HEIGHTS_JS})(f).length === 5", arg=figure.element_handle())
    bars_before = heights()
    chart_before = harness.canvas_pixels(page, figure)
    harness.save_screenshot(widget, "occlusion-painter-lab-initial")

    # drag across the digit, ending right of the lower stroke: the 9 becomes an 8
    box = canvas.bounding_box()
    _drag(page, box, [(8, 6), (12, 12), (16, 14), (20, 16), (22, 17)])
    harness.wait_text(page, ".cnnwidgets-occlusion-target", "p(9) = 0.000", timeout=60)
    dragged = harness.wait_for_pixels(page, canvas, harness.changed(image), message="the occluder to be drawn")
    # the grey square (model's grey, 128) covers pixels (20..24, 15..19); the outline is orange
    sy, sx = dragged.shape[0] / 336, dragged.shape[1] / 336
    inside = dragged[int(22.5 * FACTOR * sy) - 8 : int(22.5 * FACTOR * sy) + 8,
                     int(17.5 * FACTOR * sx) - 8 : int(17.5 * FACTOR * sx) + 8]
    assert np.abs(inside.astype(int) - 128).max() <= 3, inside.reshape(-1, 3)[:4]
    page.wait_for_function(
        f"([f, before]) => {{ const h = ({BAR_HEIGHTS_JS})(f); return h.length && h.some((v, i) => Math.abs(v - before[i]) > 5); }}",
        arg=[figure.element_handle(), bars_before], timeout=30_000,
    )
    bars_after = heights()
    assert max(bars_before) - bars_before[0] < 1  # uncovered: the 9 (first bar) is the tallest
    assert bars_after[0] < 0.1 * bars_before[0]  # covered: its bar is (almost) gone
    chart_after = harness.wait_for_pixels(page, figure, harness.changed(chart_before), message="the chart to change")
    assert chart_after.shape[:2] == chart_before.shape[:2]
    harness.save_screenshot(widget, "occlusion-painter-lab-dragged")
    harness.save_screenshot(figure, "occlusion-painter-lab-chart-dragged")

    # Sweep: the occlusion map is drawn over the image (red where covering hurts), with a legend
    widget.locator(".cnnwidgets-occlusion-sweep").first.click()
    legend = run.root.locator(".cnnwidgets-occlusion-legend").first
    legend.wait_for(state="visible", timeout=60_000)
    swept = harness.wait_for_pixels(page, canvas, harness.changed(dragged), timeout=60, message="the map to be drawn")
    # red below the stroke, where covering hurts the 9 most (the square covers the peak itself)
    sy, sx = swept.shape[0] / 336, swept.shape[1] / 336
    hot = (slice(int(25 * FACTOR * sy), int(28 * FACTOR * sy) - 2), slice(int(14 * FACTOR * sx), int(21 * FACTOR * sx)))
    redness = lambda px: float((px[hot][..., 0].astype(int) - px[hot][..., 2].astype(int)).mean())  # noqa: E731
    assert redness(dragged) < 5 < 60 < redness(swept), (redness(dragged), redness(swept))
    assert not harness.is_blank(harness.canvas_pixels(page, legend), 10)
    page.mouse.move(*_screen_point(box, 21, 15))
    harness.wait_text(page, ".cnnwidgets-occlusion-hover", "map at row 21, column 15", timeout=30)
    harness.save_screenshot(widget, "occlusion-painter-lab-swept")

    # Paint mode: brush a stroke over the loop of the 9
    widget.get_by_text("Paint", exact=True).first.click()
    before_paint = harness.canvas_pixels(page, canvas)
    _drag(page, box, [(7, 10), (7, 20), (12, 20), (12, 10)])
    painted = harness.wait_for_pixels(page, canvas, harness.changed(before_paint), timeout=30,
                                      message="the painted stroke to be drawn")
    grey = (np.abs(painted.astype(int) - 128).max(axis=-1) <= 3).mean()
    assert grey > 0.05
    page.wait_for_function(
        f"([f, before]) => {{ const h = ({BAR_HEIGHTS_JS})(f); return h.length && h.some((v, i) => Math.abs(v - before[i]) > 5); }}",
        arg=[figure.element_handle(), bars_after], timeout=30_000,
    )
    harness.save_screenshot(widget, "occlusion-painter-lab-painted")
    harness.save_screenshot(page, "occlusion-painter-lab-page")


def test_occlusion_notebook_runs_in_jupyterlab(page, jupyter_server, harness, notebook_root):
    shutil.copy(REPO_NOTEBOOK, notebook_root / REPO_NOTEBOOK.name)
    run = harness.run_notebook_in_lab(page, jupyter_server, REPO_NOTEBOOK.name, timeout=300,
                                      wait_for=[".cnnwidgets-occlusion-canvas"])
    canvases = run.root.locator(".cnnwidgets-occlusion-canvas")
    assert canvases.count() == 2
    for i in range(2):
        harness.wait_for_pixels(page, canvases.nth(i), lambda px: not harness.is_blank(px, 10), timeout=60,
                                message=f"painter {i} of the notebook to be drawn")
    painters = run.root.locator(".cnnwidgets-occlusion-painter")
    painters.nth(0).scroll_into_view_if_needed()
    harness.save_screenshot(painters.nth(0), "occlusion-painter-notebook")
