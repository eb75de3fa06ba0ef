"""OcclusionPainter on a segmenter and on a regressor in a real JupyterLab, light and dark.

A notebook trains the demo's tank segmenter and tank locator (seconds, seeded)
and shows a painter on each, for a scene with a tank. The test drags the
occluder onto the tank with Playwright's mouse: on the segmenter the mask
predicted under the occluder changes and the tank region's score drops, and
Sweep lays the map of that drop over the image; on the locator the values'
readout changes. Then it screenshots both painters in
JupyterLab's light and dark themes (``tests/artifacts/screenshots/
occlusion-targets-*.png``; the README copies are listed in ``conftest.py``) and
checks that, in the dark theme, the chart follows the theme and the score line
stays readable.
"""

from __future__ import annotations

import numpy as np

NOTEBOOK = "occlusion_targets_browser.ipynb"
FACTOR = 11  # 32x32 scenes shown at 352 px (occlusion_painter.geometry.display_factor)
SCENE = 0  # the first scene of tank_scenes(240, seed=0) that holds a tank (found in the notebook and here)

CELLS = [
    """\
import numpy as np
import cnnwidgets as cw

images, masks = cw.demo.tank_scenes(240, seed=0)
scene = int(np.flatnonzero(masks.any(axis=(1, 2)))[0])
segmenter = cw.demo.train_tank_segmenter(images, masks, epochs=25)
seg_painter = cw.OcclusionPainter(segmenter, images[scene], class_names=cw.demo.SEGMENT_CLASS_NAMES, patch=8)
seg_painter.add_class("painter-segmenter")
seg_painter.wait(120)
seg_painter""",
    """\
locator = cw.demo.train_tank_locator(epochs=15)
loc_painter = cw.OcclusionPainter(locator, images[scene], output_kinds="values", patch=8)
loc_painter.add_class("painter-locator")
loc_painter.wait(120)
loc_painter""",
]



def _tank_centre():
    import cnnwidgets as cw

    _, masks = cw.demo.tank_scenes(240, seed=0)
    index = int(np.flatnonzero(masks.any(axis=(1, 2)))[0])
    rows, cols = np.nonzero(masks[index])
    return float(rows.mean()), float(cols.mean())


def _drag_to(page, canvas, row, col):
    box = canvas.bounding_box()
    scale = box["width"] / (32 * FACTOR)
    x, y = box["x"] + (col + 0.5) * FACTOR * scale, box["y"] + (row + 0.5) * FACTOR * scale
    page.mouse.move(x - 30, y - 30)
    page.mouse.down()
    page.mouse.move(x, y, steps=6)
    page.mouse.up()


def _text_changes(page, locator, before, timeout=60):
    page.wait_for_function("([node, before]) => node.innerText !== before && node.innerText.length > 0",
                           arg=[locator.element_handle(), before], timeout=timeout * 1000)
    return locator.inner_text()


def _luminance(rgb_text):
    values = [float(v) for v in rgb_text[rgb_text.index("(") + 1 : rgb_text.index(")")].split(",")[:3]]
    return float(np.dot(values, [0.299, 0.587, 0.114]))


def test_the_painter_on_a_segmenter_and_a_regressor(page, jupyter_server, harness, notebook_root):
    page.set_viewport_size({"width": 1400, "height": 1400})
    harness.write_notebook(notebook_root, NOTEBOOK, CELLS)
    run = harness.run_notebook_in_lab(
        page, jupyter_server, NOTEBOOK, timeout=400,
        wait_for=[".painter-segmenter .cnnwidgets-target-mask", ".painter-segmenter .cnnwidgets-occlusion-mask",
                  ".painter-locator .cnnwidgets-occlusion-chart"])
    segmenter = run.root.locator(".painter-segmenter").first
    locator = run.root.locator(".painter-locator").first
    row, col = _tank_centre()

    # segmenter: cover the tank; the mask under the occluder and the region's score answer
    segmenter.scroll_into_view_if_needed()
    mask_view = segmenter.locator(".cnnwidgets-occlusion-mask").first
    harness.wait_for_pixels(page, mask_view, lambda px: not harness.is_blank(px, 10), message="the occluded mask")
    before_mask = harness.canvas_pixels(page, mask_view)
    label = segmenter.locator(".cnnwidgets-occlusion-target").first
    before = label.inner_text()
    assert "summed over" in before and "uncovered" in before
    _drag_to(page, segmenter.locator(".cnnwidgets-occlusion-canvas").first, row, col)
    after = _text_changes(page, label, before)
    drop = float(after.split("drop ")[1].split()[0])
    assert drop > 0, after  # covering the tank lowers the tank region's score
    harness.wait_for_pixels(page, mask_view, lambda px: np.abs(px.astype(int) - before_mask.astype(int)).max() > 30,
                            message="the mask under the occluder to change")
    assert "Explaining" in segmenter.locator(".cnnwidgets-target-note").first.inner_text()
    # Sweep maps the drop of the tank region's score over the image
    canvas = segmenter.locator(".cnnwidgets-occlusion-canvas").first
    before_canvas = harness.canvas_pixels(page, canvas)
    segmenter.locator(".cnnwidgets-occlusion-sweep").first.click()
    page.wait_for_function("(node) => node.innerText.includes(\"Drop of tank's score summed over\")",
                           arg=segmenter.element_handle(), timeout=120000)
    harness.wait_for_pixels(page, canvas, lambda px: np.abs(px.astype(int) - before_canvas.astype(int)).max() > 40,
                            message="the occlusion map over the image")

    # locator: cover the tank; the values' readout answers
    locator.scroll_into_view_if_needed()
    label = locator.locator(".cnnwidgets-occlusion-target").first
    before = label.inner_text()
    assert "centre[0]" in before
    _drag_to(page, locator.locator(".cnnwidgets-occlusion-canvas").first, row, col)
    after = _text_changes(page, label, before)
    assert "change" in after and "uncovered" in after
    assert locator.locator(".cnnwidgets-value-sign").first.is_visible()

    try:
        for theme, key in ((harness.LIGHT_THEME, "light"), (harness.DARK_THEME, "dark")):
            harness.set_theme(page, theme)
            for name, widget in (("segmenter", segmenter), ("locator", locator)):
                widget.scroll_into_view_if_needed()
                harness.save_screenshot(widget, f"occlusion-targets-{name}-{key}")
            if key == "light":
                continue
            chart = locator.locator(".cnnwidgets-occlusion-chart").first
            corner = harness.canvas_pixels(page, chart)[2:12, 2:12].astype(float) @ np.array([0.299, 0.587, 0.114])
            assert corner.mean() < 80, corner.mean()  # the chart follows the dark theme
            for widget in (segmenter, locator):
                node = widget.locator(".cnnwidgets-occlusion-target div").first.element_handle()
                assert _luminance(page.evaluate("(n) => getComputedStyle(n).color", node)) > 120
    finally:
        harness.set_theme(page, harness.LIGHT_THEME)
