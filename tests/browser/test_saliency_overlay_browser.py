"""SaliencyOverlay in a real JupyterLab, driven by headless Chromium.

1. A small notebook shows the overlay on a handwritten 9 (Grad-CAM of the
   predicted class). The test checks the three panels are drawn at 280 px
   with crisp pixels, clicks the second class button and checks that the
   map and overlay canvases changed, reads a value by hovering, then opens
   the Compare tab and checks that one overlay per method is drawn. The
   screenshots are ``tests/artifacts/screenshots/saliency-overlay-*.png``.
2. ``notebooks/04_saliency_overlay.ipynb`` itself runs in JupyterLab without
   errors and draws its widgets.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

NOTEBOOK = "saliency_overlay_browser.ipynb"
REPO_NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04_saliency_overlay.ipynb"
PANEL = 280  # 28x28 digits enlarged 10 times

CELLS = [
    """\
import cnnwidgets as cw

model = cw.demo.digits_model()
images, labels = cw.demo.digits_samples()
view = cw.SaliencyOverlay(model, images[93], class_names=cw.demo.DIGIT_CLASS_NAMES,
                          compare_methods=["vanilla", "smoothgrad", "integrated_gradients", "gradcam"])
view""",
]


def _changed(before, tolerance=30):
    return lambda px: px.shape != before.shape or np.abs(px.astype(int) - before.astype(int)).max() > tolerance


def _wait_text(page, selector, text, timeout=60):
    page.wait_for_function(
        "([sel, text]) => Array.from(document.querySelectorAll(sel)).some(n => n.innerText.includes(text))",
        arg=[selector, text],
        timeout=timeout * 1000,
    )


def _blockiness(pixels, factor=10):
    """Largest colour spread inside the 10x10 screen blocks of one image pixel (0 = crisp)."""
    height, width = (pixels.shape[0] // factor) * factor, (pixels.shape[1] // factor) * factor
    blocks = pixels[:height, :width, :3].astype(int).reshape(height // factor, factor, width // factor, factor, 3)
    inner = blocks[:, 1:-1, :, 1:-1]  # ignore a rounding row/column at the block edges
    return int((inner.max(axis=(1, 3)) - inner.min(axis=(1, 3))).max())


def test_class_buttons_and_compare_in_jupyterlab(page, jupyter_server, harness, notebook_root):
    harness.write_notebook(notebook_root, NOTEBOOK, CELLS)
    run = harness.run_notebook_in_lab(page, jupyter_server, NOTEBOOK,
                                      wait_for=[".cnnwidgets-saliency-overlay", ".cnnwidgets-class-button"])
    widget = run.root.locator(".cnnwidgets-saliency").first
    image_canvas = run.root.locator("canvas.cnnwidgets-saliency-image").first
    heat_canvas = run.root.locator("canvas.cnnwidgets-saliency-heatmap").first
    overlay_canvas = run.root.locator("canvas.cnnwidgets-saliency-overlay").first
    widget.scroll_into_view_if_needed()

    digit = harness.wait_for_pixels(page, image_canvas, lambda px: not harness.is_blank(px, 10),
                                    message="the digit to be drawn")
    overlay = harness.wait_for_pixels(page, overlay_canvas, _changed(digit, 20),
                                      message="the Grad-CAM overlay to be drawn")
    heat = harness.wait_for_pixels(page, heat_canvas, lambda px: not harness.is_blank(px, 10),
                                   message="the Grad-CAM map to be drawn")
    for pixels in (digit, heat, overlay):  # 28x28 canvases shown at 280 px, enlarged with crisp pixels
        assert abs(pixels.shape[0] - PANEL) <= 1 and abs(pixels.shape[1] - PANEL) <= 1
        assert _blockiness(pixels) <= 2, _blockiness(pixels)
    exact = harness.canvas_pixels(page, overlay_canvas, method="dataurl", mode="RGBA")
    assert exact.shape == (28, 28, 4) and (exact[..., 3] == 255).all()  # the image's own pixels travel
    _wait_text(page, ".cnnwidgets-saliency", "Grad-CAM for class '9'")
    harness.save_screenshot(widget, "saliency-overlay-lab-initial")

    # the second class button: the map and the overlay are recomputed for that class
    buttons = widget.locator(".cnnwidgets-class-button")
    second = buttons.nth(1)
    label = second.inner_text()
    second_class = label.split("\u00b7")[0].strip()
    second.click()
    heat_after = harness.wait_for_pixels(page, heat_canvas, _changed(heat), message="the map to change")
    overlay_after = harness.wait_for_pixels(page, overlay_canvas, _changed(overlay),
                                            message="the overlay to change after the class click")
    assert not np.array_equal(overlay, overlay_after) and not np.array_equal(heat, heat_after)
    _wait_text(page, ".cnnwidgets-saliency", f"Grad-CAM for class '{second_class}'")
    page.wait_for_function("(b) => b.classList.contains('mod-primary')", arg=second.element_handle(),
                           timeout=30_000)

    # hover: the value under the pointer
    box = overlay_canvas.bounding_box()
    page.mouse.move(box["x"] + 14.5 * box["width"] / 28, box["y"] + 20.5 * box["height"] / 28)
    _wait_text(page, ".cnnwidgets-saliency", "x=14, y=20", timeout=30)
    harness.save_screenshot(widget, "saliency-overlay-lab-class-switched")

    # another method from the dropdown: signed gradients on a diverging map
    widget.locator("select").first.select_option(label="Gradient")
    gradient = harness.wait_for_pixels(page, overlay_canvas, _changed(overlay_after),
                                       message="the gradient overlay to be drawn")
    assert gradient.shape[:2] == overlay_after.shape[:2]

    # Compare tab: one titled overlay per method
    widget.locator(".lm-TabBar-tab", has_text="Compare").first.click()
    panels = run.root.locator(".cnnwidgets-saliency-compare canvas")
    page.wait_for_function("(n) => document.querySelectorAll('.cnnwidgets-saliency-compare canvas').length === n",
                           arg=4, timeout=60_000)
    drawn = [harness.wait_for_pixels(page, panels.nth(i), lambda px: not harness.is_blank(px, 10),
                                     message=f"compare panel {i} to be drawn") for i in range(4)]
    assert all(abs(px.shape[1] - 196) <= 1 for px in drawn)  # four panels of 28 px x 7 fit in one row
    tops = {round(panels.nth(i).bounding_box()["y"]) for i in range(4)}
    assert len(tops) == 1, tops
    assert len({px.tobytes() for px in drawn}) == 4  # four different maps
    for title in ("Gradient", "SmoothGrad", "Integrated Gradients", "Grad-CAM"):
        _wait_text(page, ".cnnwidgets-saliency-compare", title, timeout=30)
    harness.save_screenshot(widget, "saliency-overlay-lab-compare")
    harness.save_screenshot(page, "saliency-overlay-lab-page")


def test_saliency_notebook_runs_in_jupyterlab(page, jupyter_server, harness, notebook_root):
    shutil.copy(REPO_NOTEBOOK, notebook_root / REPO_NOTEBOOK.name)
    run = harness.run_notebook_in_lab(page, jupyter_server, REPO_NOTEBOOK.name, timeout=300,
                                      wait_for=[".cnnwidgets-saliency-overlay"])
    overlays = run.root.locator("canvas.cnnwidgets-saliency-overlay")
    assert overlays.count() >= 2
    harness.wait_for_pixels(page, overlays.first, lambda px: not harness.is_blank(px, 10),
                            message="the notebook's overlay to be drawn")
    last = run.root.locator(".cnnwidgets-saliency").last
    last.scroll_into_view_if_needed()
    harness.save_screenshot(last, "saliency-overlay-notebook-linked")
