"""LayerBrowser's output heads in a real JupyterLab, light and dark: a segmenter and a class + box model.

A notebook trains the demo tank segmenter (in seconds) and shows it in a
LayerBrowser with the tank class highlighted: its map head (the predicted
mask over the input and alone, the legend, a score map per class) sits
under the feature maps. A second LayerBrowser shows a two-head model (class
scores and box values) on a nested base. The test checks that the heads are
drawn in the page, that the map head's canvas sits on a light card in the
dark theme and that the class chart follows the theme, and screenshots both
browsers in both themes (``tests/artifacts/screenshots/layer-browser-heads-*.png``;
the README shows ``docs/screenshots/layer_browser_heads.png`` and ``_dark``).
"""

from __future__ import annotations

import numpy as np

NOTEBOOK = "layer_browser_heads_browser.ipynb"

CELLS = [
    """\
import numpy as np
import keras
import cnnwidgets as cw

images, masks = cw.demo.tank_scenes(240, seed=0)
segmenter = cw.demo.train_tank_segmenter(images, masks)
with_tank = [i for i in range(len(images)) if masks[i].any()][:8]
browser = cw.LayerBrowser(segmenter, images[with_tank], class_names=cw.demo.SEGMENT_CLASS_NAMES, layer="conv2")
browser.class_index = "tank"
browser.wait(120)
browser""",
    """\
keras.utils.set_random_seed(0)
base = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255, name="scale"),
                         keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
                         keras.layers.GlobalAveragePooling2D(name="gap")], name="base")
inputs = keras.Input((32, 32, 3), name="image")
features = base(inputs)
two_heads = keras.Model(inputs, [keras.layers.Dense(3, activation="softmax", name="kind")(features),
                                 keras.layers.Dense(4, name="box")(features)], name="kind_and_box")
heads = cw.LayerBrowser(two_heads, images[with_tank], layer="base/conv")
heads.output = "box"
heads.class_index = 2
heads.wait(120)
heads""",
]



def _luminance(pixels):
    return pixels[..., :3].astype(float) @ np.array([0.299, 0.587, 0.114])


def _card_padding(page, card, canvas):
    """Luminance of the page just inside ``card``, left of its ``canvas`` (the card's padding)."""
    import io

    from PIL import Image

    card.scroll_into_view_if_needed()
    box, inner = card.bounding_box(), canvas.bounding_box()
    with Image.open(io.BytesIO(page.screenshot(animations="disabled"))) as shot:
        pixels = np.asarray(shot.convert("RGB"))
    scale = pixels.shape[1] / page.viewport_size["width"]
    y = int((inner["y"] + 2) * scale)
    return float(_luminance(pixels[y, int((box["x"] + (inner["x"] - box["x"]) / 2) * scale)]))


def test_output_heads_in_light_and_dark(page, jupyter_server, harness, notebook_root):
    page.set_viewport_size({"width": 1400, "height": 1500})
    harness.write_notebook(notebook_root, NOTEBOOK, CELLS)
    run = harness.run_notebook_in_lab(
        page, jupyter_server, NOTEBOOK, wait_for=[".cnnwidgets-output-head-map", ".cnnwidgets-output-head-values"],
    )
    browsers = run.root.locator(".cnnwidgets-layer-browser")
    segmenter, two_heads = browsers.nth(0), browsers.nth(1)
    map_card = segmenter.locator(".cnnwidgets-output-head-map .cnnwidgets-card").first
    map_canvas = map_card.locator("canvas").first
    values_canvas = two_heads.locator(".cnnwidgets-output-head-values canvas").first
    chart = two_heads.locator(".cnnwidgets-output-head-classes .bqplot").first
    for canvas, what in ((map_canvas, "the map head"), (values_canvas, "the values head")):
        harness.wait_for_pixels(page, canvas, lambda px: not harness.is_blank(px, 10), message=f"{what} to be drawn")
    # the map head shows the tank's class colour (tab10 blue) in its mask
    pixels = harness.canvas_pixels(page, map_canvas)
    tank = np.all(np.abs(pixels[..., :3].astype(int) - [31, 119, 180]) <= 3, axis=-1)
    assert tank.sum() > 50, tank.sum()
    assert "selected" in two_heads.locator(".cnnwidgets-output-head-values").first.inner_text()
    try:
        for theme, key in ((harness.LIGHT_THEME, "light"), (harness.DARK_THEME, "dark")):
            harness.set_theme(page, theme)
            suffix = "" if key == "light" else "-dark"
            segmenter.scroll_into_view_if_needed()
            harness.save_screenshot(segmenter, f"layer-browser-heads-segmenter{suffix}")
            two_heads.scroll_into_view_if_needed()
            harness.save_screenshot(two_heads, f"layer-browser-heads-two-heads{suffix}")
            chart_pixels = harness.canvas_pixels(page, chart)
            corner = float(_luminance(chart_pixels[2:12, 2:12]).mean())
            padding = _card_padding(page, map_card, map_canvas)
            if key == "light":
                assert corner > 200 and padding > 200, (corner, padding)
            else:  # the chart follows the theme; the map head's canvas sits on a light card
                assert corner < 80, corner
                assert padding > 200, padding
    finally:
        harness.set_theme(page, harness.LIGHT_THEME)
