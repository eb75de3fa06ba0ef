"""SaliencyOverlay on a segmentation model in a real JupyterLab, driven by headless Chromium.

The tank segmenter of ``cw.demo`` (trained in seconds, offline) explains a
tank scene. The test checks the predicted mask is drawn beside the image
(image, mask, map and overlay in one row, the same size), clicks a background pixel of the mask with the
mouse (the map is recomputed for "background over its predicted area"),
clicks the tank's button, then drags a stroke across the mask (the map is
recomputed for the painted region), and takes screenshots in the light and
the dark theme: ``tests/artifacts/screenshots/saliency-targets-lab-*.png``
(the README's ``saliency_segmenter.png`` and ``saliency_segmenter_dark.png``).
A second overlay on the tank locator (a regression) shows the values
beside the image, the second one explained downwards.
"""

from __future__ import annotations


from cnnwidgets.backend.methods import get_method
from cnnwidgets.widgets.saliency_overlay.methods import default_method

NOTEBOOK = "saliency_targets_browser.ipynb"
#: The method a dense output starts on (the catalogue's first quick pixel method).
LABEL = get_method(default_method(True, dense_output=True)).label
SIDE = 192  # 32x32 scenes and masks enlarged 6 times (four panels in a row)

CELLS = [
    """\
import numpy as np
import cnnwidgets as cw

scenes, masks = cw.demo.tank_scenes(240, seed=0)
segmenter = cw.demo.train_tank_segmenter(scenes, masks, epochs=15)
scene = scenes[int(np.argmax(masks.sum(axis=(1, 2))))]
view = cw.SaliencyOverlay(segmenter, scene, class_names=cw.demo.scenes.SEGMENT_CLASS_NAMES)
view.wait(120)
view""",
    """\
locator = cw.demo.train_tank_locator(epochs=5)
values_view = cw.SaliencyOverlay(locator, scene, output_kinds="values", method="integrated_gradients",
                                 value_sign=-1, class_index=1)
values_view.wait(120)
values_view""",
]



def _screen(box, row, col, side=32):
    """Screen point of the centre of mask pixel ``(row, col)``."""
    return box["x"] + (col + 0.5) * box["width"] / side, box["y"] + (row + 0.5) * box["height"] / side


def test_segmenter_mask_click_and_paint_in_jupyterlab(page, jupyter_server, harness, notebook_root):
    page.set_viewport_size({"width": 1400, "height": 1300})
    harness.write_notebook(notebook_root, NOTEBOOK, CELLS)
    run = harness.run_notebook_in_lab(page, jupyter_server, NOTEBOOK, timeout=300,
                                      wait_for=[".cnnwidgets-saliency-overlay", ".cnnwidgets-target-mask"])
    widget = run.root.locator(".cnnwidgets-saliency").first
    image_canvas = run.root.locator("canvas.cnnwidgets-saliency-image").first
    mask_canvas = run.root.locator("canvas.cnnwidgets-target-mask").first
    overlay_canvas = run.root.locator("canvas.cnnwidgets-saliency-overlay").first
    widget.scroll_into_view_if_needed()

    scene = harness.wait_for_pixels(page, image_canvas, lambda px: not harness.is_blank(px, 10),
                                    message="the scene to be drawn")
    mask = harness.wait_for_pixels(page, mask_canvas, lambda px: not harness.is_blank(px, 10),
                                   message="the predicted mask to be drawn")
    overlay = harness.wait_for_pixels(page, overlay_canvas, harness.changed(scene, 20), message="the overlay to be drawn")
    for pixels in (scene, mask, overlay):
        assert abs(pixels.shape[0] - SIDE) <= 1 and abs(pixels.shape[1] - SIDE) <= 1, pixels.shape
    image_box, mask_box = image_canvas.bounding_box(), mask_canvas.bounding_box()
    assert abs(image_box["y"] - mask_box["y"]) < 2 and mask_box["x"] > image_box["x"] + image_box["width"]
    assert abs(overlay_canvas.bounding_box()["y"] - image_box["y"]) < 2  # image, mask, map, overlay: one row
    harness.wait_text(page, ".cnnwidgets-saliency", f"{LABEL} for tank over its predicted area")
    harness.save_screenshot(widget, "saliency-targets-lab-segmenter")

    # hovering reads the class under the pointer; a click on the sky explains the background's predicted area
    page.mouse.move(*_screen(mask_box, 1, 1))
    harness.wait_text(page, ".cnnwidgets-target-hover", "row 1, col 1 background")
    page.mouse.click(*_screen(mask_box, 1, 1))
    harness.wait_text(page, ".cnnwidgets-saliency", f"{LABEL} for background over its predicted area")
    overlay_background = harness.wait_for_pixels(page, overlay_canvas, harness.changed(overlay),
                                                 message="the overlay to change for the background")

    # the tank's button, then a stroke painted across the mask
    widget.locator(".cnnwidgets-target-class", has_text="tank").first.click()
    harness.wait_text(page, ".cnnwidgets-saliency", f"{LABEL} for tank over its predicted area")
    harness.wait_for_pixels(page, overlay_canvas, harness.changed(overlay_background),
                            message="the overlay to change back for the tank")
    before = harness.canvas_pixels(page, mask_canvas)
    page.mouse.move(*_screen(mask_box, 24, 3))
    page.mouse.down()
    for col in range(4, 30, 2):
        page.mouse.move(*_screen(mask_box, 24, col))
    page.mouse.up()
    page.mouse.move(5, 5)  # off the mask: the hover line clears
    harness.wait_text(page, ".cnnwidgets-saliency", "tank over its painted region")
    harness.wait_for_pixels(page, mask_canvas, harness.changed(before), message="the painted region to be outlined")
    values_view = run.root.locator(".cnnwidgets-saliency").nth(1)
    rows = values_view.locator(".cnnwidgets-value-rows").first
    assert rows.locator(".cnnwidgets-value-button").count() == 2
    assert "mod-primary" in rows.locator(".cnnwidgets-value-button").nth(1).get_attribute("class")
    harness.wait_text(page, ".cnnwidgets-saliency", "Integrated Gradients for 1 (down)")
    try:
        for theme, suffix in ((harness.LIGHT_THEME, ""), (harness.DARK_THEME, "-dark")):
            harness.set_theme(page, theme)
            widget.scroll_into_view_if_needed()
            harness.save_screenshot(widget, f"saliency-targets-lab-painted{suffix}")
            values_view.scroll_into_view_if_needed()
            harness.save_screenshot(values_view, f"saliency-targets-lab-values{suffix}")
    finally:
        harness.set_theme(page, harness.LIGHT_THEME)
