"""The widgets in JupyterLab's light and dark themes, driven by headless Chromium.

A notebook shows a LayerBrowser (architecture diagram, feature maps, bqplot
chart), an OcclusionPainter (bqplot chart), a FilterGrid, a SaliencyOverlay
(with its trust panel) and an AuditBrowser. The test screenshots them in
the light theme, switches JupyterLab to its dark theme with the
``apputils:change-theme`` command, and screenshots them again
(``tests/artifacts/screenshots/theme-*.png``; the README shows
``docs/screenshots/theme_light.png`` and ``theme_dark.png``). In the dark
theme the charts must follow the theme (a dark background, light text), the
status and caption texts must stay readable, and the image canvases (which
are drawn on white in the kernel) must sit on deliberate light cards, not as
bare white slabs. The theme is switched back to light at the end: the
settings live for the whole test session.
"""

from __future__ import annotations

import numpy as np

NOTEBOOK = "theme_browser.ipynb"

CELLS = [
    """\
import cnnwidgets as cw

model = cw.demo.digits_model()
images, labels = cw.demo.digits_samples()
browser = cw.LayerBrowser(model)
browser.wait(120)
browser""",
    """\
painter = cw.OcclusionPainter(model, images[7], class_names=cw.demo.DIGIT_CLASS_NAMES)
painter.box = (8, 8, 16, 16)
painter.wait(120)
painter""",
    """\
grid = cw.FilterGrid(model, layer="conv2", image=images[7])
grid.selected = 3
grid""",
    """\
overlay = cw.SaliencyOverlay(model, images[7], class_names=cw.demo.DIGIT_CLASS_NAMES)
overlay.wait(120)
overlay""",
    """\
audit = cw.audit(model, images[:60], method="gradcam")
cw.AuditBrowser(audit)""",
]



def _luminance(pixels):
    return pixels[..., :3].astype(float) @ np.array([0.299, 0.587, 0.114])


def _page_background(page):
    """Luminance of JupyterLab's notebook background (--jp-layout-color0)."""
    rgb = page.evaluate(
        "() => getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor"
    )
    values = [float(v) for v in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    return float(np.dot(values, [0.299, 0.587, 0.114]))


def _chart_background(harness, page, figure):
    """Luminance of a chart's margins (no bars, axes or text there), and of its brightest text."""
    pixels = harness.canvas_pixels(page, figure)
    corner = pixels[2:12, 2:12]  # the top-left corner of the figure: background only
    return float(_luminance(corner).mean())


def _card(harness, page, card, canvas):
    """Luminance just inside the card around ``canvas`` (its padding) and just outside it."""
    import io

    from PIL import Image

    card.scroll_into_view_if_needed()
    box, inner = card.bounding_box(), canvas.bounding_box()
    with Image.open(io.BytesIO(page.screenshot(animations="disabled"))) as shot:
        page_pixels = np.asarray(shot.convert("RGB"))
    scale = page_pixels.shape[1] / page.viewport_size["width"]
    y = int((inner["y"] + 2) * scale)
    padding = page_pixels[y, int((box["x"] + (inner["x"] - box["x"]) / 2) * scale)]
    outside = page_pixels[y, max(0, int((box["x"] - 4) * scale))]
    return float(_luminance(padding)), float(_luminance(outside))


def test_widgets_follow_the_dark_theme(page, jupyter_server, harness, notebook_root):
    page.set_viewport_size({"width": 1400, "height": 1800})  # a whole LayerBrowser in one screenshot
    harness.write_notebook(notebook_root, NOTEBOOK, CELLS)
    run = harness.run_notebook_in_lab(
        page, jupyter_server, NOTEBOOK,
        wait_for=[".cnnwidgets-layer-diagram", ".cnnwidgets-feature-maps", ".cnnwidgets-occlusion-chart",
                  ".cnnwidgets-filter-grid", ".cnnwidgets-saliency-overlay", ".cnnwidgets-audit-scatter"],
    )
    others = {"filter-grid": run.root.locator(".cnnwidgets-filter-grid-widget").first,
              "saliency-overlay": run.root.locator(".cnnwidgets-saliency").first,
              "audit-browser": run.root.locator(".cnnwidgets-audit-browser").first}
    browser = run.root.locator(".cnnwidgets-layer-browser").first
    painter = run.root.locator(".cnnwidgets-occlusion-painter").first
    diagram = run.root.locator(".cnnwidgets-layer-diagram").first
    diagram_card = run.root.locator(".cnnwidgets-layer-diagram-box").first
    chart = painter.locator(".cnnwidgets-occlusion-chart").first
    browser_chart = browser.locator(".bqplot").first
    harness.wait_for_pixels(page, diagram, lambda px: not harness.is_blank(px, 10),
                            message="the diagram to be drawn")
    try:
        light = {}
        for theme, key in ((harness.LIGHT_THEME, "light"), (harness.DARK_THEME, "dark")):
            harness.set_theme(page, theme)
            browser.scroll_into_view_if_needed()
            harness.save_screenshot(browser, f"theme-{key}-layer-browser")
            painter.scroll_into_view_if_needed()
            harness.save_screenshot(painter, f"theme-{key}-occlusion-painter")
            for name, widget in others.items():
                widget.scroll_into_view_if_needed()
                harness.save_screenshot(widget, f"theme-{key}-{name}")
            background = _page_background(page)
            charts = [_chart_background(harness, page, c) for c in (chart, browser_chart)]
            padding, outside = _card(harness, page, diagram_card, diagram)
            status = browser.locator(".cnnwidgets-info").first
            text = page.evaluate("(n) => getComputedStyle(n).color", status.element_handle())
            if key == "light":
                light.update(background=background, charts=charts)
                assert background > 200 and min(charts) > 200
                continue
            # the dark theme really is dark here
            assert background < 80, background
            # charts follow the theme: their background is the page's, not a white slab
            for value in charts:
                assert abs(value - background) < 25, (value, background)
            # the diagram sits on a deliberate light card: light padding, dark page around it
            assert padding > 200 and outside < 80, (padding, outside)
            # the status line stays readable on the dark page
            rgb = [float(v) for v in text[text.index("(") + 1 : text.index(")")].split(",")[:3]]
            assert float(np.dot(rgb, [0.299, 0.587, 0.114])) > 120, text
    finally:
        harness.set_theme(page, harness.LIGHT_THEME)
