"""LayerBrowser in a real JupyterLab, driven by headless Chromium.

A notebook shows ``LayerBrowser(cw.demo.digits_model())`` and prints where
the ``pool2`` block and the 8th thumbnail are on their canvases. The test
clicks them with Playwright's mouse and checks that the canvases' pixels
change (diagram highlight, feature maps, input preview). Screenshots go to
``tests/artifacts/screenshots/layer-browser-*.png``.
"""

from __future__ import annotations

import json

import numpy as np

NOTEBOOK = "layer_browser_browser.ipynb"

CELLS = [
    """\
import json
import cnnwidgets as cw

browser = cw.LayerBrowser(cw.demo.digits_model())
browser.wait(120)
browser""",
    """\
print(json.dumps({
    "pool2": browser.diagram_position("pool2"),
    "thumbnail": browser.thumbnails.position(7),
    "tile": [c + 5 for c in browser.maps.frame.tile_box(3)[1::-1]],
}))""",
]


def _positions(run):
    for cell_outputs in run.outputs:
        for out in cell_outputs:
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            if out.get("name") == "stdout" and text.strip().startswith("{"):
                return json.loads(text)
    raise AssertionError(f"the notebook printed no positions; outputs: {run.outputs}")


def _changed(before):
    return lambda px: px.shape != before.shape or np.abs(px.astype(int) - before.astype(int)).max() > 30


def test_layer_browser_clicks_in_jupyterlab(page, jupyter_server, harness, notebook_root):
    harness.write_notebook(notebook_root, NOTEBOOK, CELLS)
    run = harness.run_notebook_in_lab(
        page, jupyter_server, NOTEBOOK,
        wait_for=[".cnnwidgets-layer-diagram", ".cnnwidgets-feature-maps", ".cnnwidgets-thumbnails"],
    )
    positions = _positions(run)
    diagram = run.root.locator(".cnnwidgets-layer-diagram").first
    maps = run.root.locator(".cnnwidgets-feature-maps").first
    preview = run.root.locator("canvas.cnnwidgets-input-preview").first
    thumbnails = run.root.locator(".cnnwidgets-thumbnails").first

    # Everything drawn: the maps show conv1's 16 tiles, the diagram its blocks.
    maps_before = harness.wait_for_pixels(page, maps, lambda px: not harness.is_blank(px, 10),
                                          message="the feature maps to be drawn")
    diagram_before = harness.wait_for_pixels(page, diagram, lambda px: not harness.is_blank(px, 10),
                                             message="the diagram to be drawn")
    preview_before = harness.canvas_pixels(page, preview)
    diagram.scroll_into_view_if_needed()
    harness.save_screenshot(page, "layer-browser-lab-start")

    # Click the pool2 block: the highlight moves and the maps become pool2's.
    x, y = positions["pool2"]
    diagram.click(position={"x": x, "y": y})
    harness.wait_for_pixels(page, maps, _changed(maps_before), timeout=60,
                            message="the feature maps to change after clicking pool2 in the diagram")
    after_layer = harness.wait_for_pixels(page, diagram, _changed(diagram_before), timeout=30,
                                          message="the diagram highlight to move to pool2")
    assert not np.array_equal(after_layer, diagram_before)
    info = run.root.locator(".cnnwidgets-layer-browser").first.inner_text()
    assert "pool2" in info and "MaxPooling2D" in info
    maps_pool2 = harness.canvas_pixels(page, maps)
    harness.save_screenshot(page, "layer-browser-lab-pool2")

    # Click the 8th thumbnail: the input preview and the maps change.
    x, y = positions["thumbnail"]
    thumbnails.scroll_into_view_if_needed()
    thumbnails.click(position={"x": x, "y": y})
    harness.wait_for_pixels(page, preview, _changed(preview_before), timeout=60,
                            message="the input preview to change after clicking a thumbnail")
    harness.wait_for_pixels(page, maps, _changed(maps_pool2), timeout=60,
                            message="the feature maps to change after clicking a thumbnail")
    assert "sample 7" in run.root.locator(".cnnwidgets-layer-browser").first.inner_text()

    # Hovering a tile shows the value under the pointer.
    maps.hover(position={"x": positions["tile"][0], "y": positions["tile"][1]})
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.cnnwidgets-layer-browser .widget-html'))"
        ".some(n => n.innerText.includes('value'))",
        timeout=30000,
    )
    harness.save_screenshot(page, "layer-browser-lab-after-clicks")
    harness.save_screenshot(run.root.locator(".cnnwidgets-layer-browser").first, "layer-browser-lab-widget")


MOBILENET_NOTEBOOK = "layer_browser_mobilenet.ipynb"

MOBILENET_CELLS = [
    """\
import json
import keras
import cnnwidgets as cw

browser = cw.LayerBrowser(keras.applications.MobileNetV2(weights=None))
browser.wait(300)
browser""",
    """\
print(json.dumps({"block_5": browser.diagram.layout.find("group:block_5").center,
                  "collapsed": sum(b.action == "expand" for b in browser.diagram.layout.boxes)}))""",
]


def test_mobilenet_diagram_folds_blocks_and_expands_on_click(page, jupyter_server, harness, notebook_root):
    harness.write_notebook(notebook_root, MOBILENET_NOTEBOOK, MOBILENET_CELLS)
    run = harness.run_notebook_in_lab(page, jupyter_server, MOBILENET_NOTEBOOK,
                                      wait_for=[".cnnwidgets-layer-diagram", ".cnnwidgets-feature-maps"])
    positions = _positions(run)
    assert positions["collapsed"] >= 16  # block_1 ... block_16 folded
    diagram = run.root.locator(".cnnwidgets-layer-diagram").first
    maps = run.root.locator(".cnnwidgets-feature-maps").first
    diagram_before = harness.wait_for_pixels(page, diagram, lambda px: not harness.is_blank(px, 10),
                                             message="the MobileNetV2 diagram to be drawn")
    maps_before = harness.wait_for_pixels(page, maps, lambda px: not harness.is_blank(px, 10),
                                          message="the MobileNetV2 feature maps to be drawn")
    diagram.scroll_into_view_if_needed()
    harness.save_screenshot(page, "layer-browser-lab-mobilenet")

    x, y = positions["block_5"]
    diagram.click(position={"x": x, "y": y})
    harness.wait_for_pixels(page, diagram, _changed(diagram_before), timeout=60,
                            message="the diagram to expand block_5")
    harness.wait_for_pixels(page, maps, _changed(maps_before), timeout=60,
                            message="the maps to show block_5's output")
    assert "block_5_add" in run.root.locator(".cnnwidgets-layer-browser").first.inner_text()
    harness.save_screenshot(page, "layer-browser-lab-mobilenet-expanded")
