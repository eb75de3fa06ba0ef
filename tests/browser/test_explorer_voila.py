"""The Explorer as a Voila app (``notebooks/explorer.ipynb``), driven by headless Chromium.

Voila runs the notebook before the page's widget views exist, so every canvas
drawn at start must be replayed to the late view (``ImageCanvas`` and the
widgets' own canvases do it in ``on_client_ready``); the tabs other than
Layers are built when first shown. The test checks that the Layers tab's
canvases show something, picks another image in the shared strip (the
caption, the input preview and the feature maps change), opens the Occlusion
tab and drags the occluder (the canvas and the scores change), opens the
Saliency tab and picks another class (the map changes, and the Occlusion tab
then watches that class: the link works in the browser too), and opens the
Filters tab. Screenshots: ``tests/artifacts/screenshots/explorer-voila-*.png``.
"""

from __future__ import annotations

import shutil
from pathlib import Path


NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "explorer.ipynb"
#: The Explorer's strip: ``ThumbnailStrip`` defaults (40 px thumbnails, 4 px gaps).
THUMB, GAP = 40, 4
#: A "1" (the digits samples are sorted by class, ten of each); the app starts on sample 0, a "0".
PICKED = 13


def _wait_text(page, locator, text, timeout=60):
    page.wait_for_function("([node, text]) => node.innerText.includes(text)",
                           arg=[locator.element_handle(), text], timeout=timeout * 1000)


def _open_tab(explorer, title):
    tab_bar = explorer.locator(".cnnwidgets-explorer-tabs > .lm-TabBar")
    tab_bar.locator(".lm-TabBar-tab", has_text=title).first.click()


def test_explorer_app_in_voila(page, voila_server, harness):
    drawn = lambda px: not harness.is_blank(px, 10)  # noqa: E731
    shutil.copy(NOTEBOOK, voila_server.root_dir / NOTEBOOK.name)
    run = harness.open_in_voila(page, voila_server, NOTEBOOK.name,
                                wait_for=[".cnnwidgets-explorer", ".cnnwidgets-layer-diagram",
                                          ".cnnwidgets-feature-maps"])
    explorer = run.root.locator(".cnnwidgets-explorer").first
    caption = explorer.locator(".cnnwidgets-explorer-caption").first
    layers = explorer.locator(".cnnwidgets-layer-browser").first
    strip = explorer.locator(".cnnwidgets-explorer-header .cnnwidgets-thumbnails").first

    # 1. Layers: every canvas drawn before the page connected shows up (replayed for the late view)
    canvases = {name: layers.locator(css).first for name, css in (
        ("diagram", ".cnnwidgets-layer-diagram"), ("maps", ".cnnwidgets-feature-maps"),
        ("preview", "canvas.cnnwidgets-input-preview"), ("detail", "canvas.cnnwidgets-feature-detail"))}
    canvases["strip"] = strip
    pixels = {name: harness.wait_for_pixels(page, canvas, drawn, timeout=60,
                                            message=f"the Layers tab's {name} canvas to be drawn in Voila")
              for name, canvas in canvases.items()}
    _wait_text(page, caption, "image 0")
    harness.save_screenshot(explorer, "explorer-voila-layers")

    # pick another image in the shared strip: caption, input preview and feature maps follow
    strip.click(position={"x": GAP + PICKED * (THUMB + GAP) + THUMB / 2, "y": GAP + THUMB / 2})
    _wait_text(page, caption, f"image {PICKED} · label 1 · predicted 1")
    for name in ("preview", "maps", "strip"):
        harness.wait_for_pixels(page, canvases[name], harness.changed(pixels[name]), timeout=60,
                                message=f"the {name} canvas to change after picking image {PICKED}")
    harness.save_screenshot(explorer, "explorer-voila-layers-picked")

    # 2. Occlusion: built now, drawn, the occluder follows a drag and the scores answer
    _open_tab(explorer, "Occlusion")
    painter = explorer.locator(".cnnwidgets-occlusion-painter").first
    canvas = painter.locator(".cnnwidgets-occlusion-canvas").first
    target = painter.locator(".cnnwidgets-occlusion-target").first
    image = harness.wait_for_pixels(page, canvas, drawn, timeout=60,
                                    message="the Occlusion tab's canvas to be drawn in Voila")
    _wait_text(page, target, "p(1) = ")
    scores_before = target.inner_text()
    box = canvas.bounding_box()
    at = lambda fx, fy: (box["x"] + fx * box["width"], box["y"] + fy * box["height"])  # noqa: E731
    page.mouse.move(*at(0.2, 0.2))
    for _ in range(8):  # the wheel enlarges the square (5 -> 13 pixels), enough to hide the 1
        page.mouse.wheel(0, -100)
    _wait_text(page, painter, "13")
    page.mouse.down()
    page.mouse.move(*at(0.4, 0.4), steps=6)
    page.mouse.move(*at(0.52, 0.5), steps=6)  # onto the stroke of the 1
    page.mouse.up()
    harness.wait_for_pixels(page, canvas, harness.changed(image), timeout=60,
                            message="the occluder to be drawn after the drag in Voila")
    page.wait_for_function("([node, before]) => node.innerText !== before",
                           arg=[target.element_handle(), scores_before], timeout=60_000)
    harness.save_screenshot(explorer, "explorer-voila-occlusion")

    # 3. Saliency: drawn; another class changes the map, and the Occlusion tab watches it too
    _open_tab(explorer, "Saliency")
    saliency = explorer.locator(".cnnwidgets-saliency").first
    views = {name: saliency.locator(f"canvas.cnnwidgets-saliency-{name}").first
             for name in ("image", "heatmap", "overlay")}
    shown = {name: harness.wait_for_pixels(page, view, drawn, timeout=60,
                                           message=f"the Saliency tab's {name} canvas to be drawn in Voila")
             for name, view in views.items() if name != "heatmap"}
    shown["heatmap"] = harness.canvas_pixels(page, views["heatmap"])
    _wait_text(page, saliency, "Grad-CAM for class '1'")
    button = saliency.locator(".cnnwidgets-class-button").filter(visible=True).nth(1)
    name = button.inner_text().split(" · ")[0]
    button.click()
    _wait_text(page, saliency, f"for class '{name}'")
    harness.wait_for_pixels(page, views["heatmap"], harness.changed(shown["heatmap"]), timeout=60,
                            message=f"the saliency map to change after picking class {name}")
    harness.save_screenshot(explorer, "explorer-voila-saliency")
    _wait_text(page, caption, f"class explained: {name}")
    _open_tab(explorer, "Occlusion")
    _wait_text(page, target, f"p({name}) = ")

    # 4. Filters: built now and drawn
    _open_tab(explorer, "Filters")
    grid = explorer.locator("canvas.cnnwidgets-filter-grid").first
    harness.wait_for_pixels(page, grid, drawn, timeout=60, message="the Filters tab's grid to be drawn in Voila")
    harness.save_screenshot(explorer, "explorer-voila-filters")
    # the whole app, back on the Occlusion tab (the README shows this one)
    _open_tab(explorer, "Occlusion")
    harness.wait_for_pixels(page, canvas, drawn, timeout=30, message="the Occlusion tab to show its canvas again")
    page.evaluate("() => window.scrollTo(0, 0)")
    harness.save_screenshot(page, "explorer-voila-page")
