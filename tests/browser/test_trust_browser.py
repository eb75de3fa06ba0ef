"""SaliencyOverlay's trust panel and randomization check in a real JupyterLab (headless Chromium).

A notebook shows the overlay on a handwritten 9. The test waits for the
deletion and insertion curves (bqplot) and their areas, opens Compare and
checks the ranking of the compared maps, then opens the randomization check,
runs it, checks the strip of maps and the similarity chart, clicks a step and
checks it is shown large. Screenshots (light, then dark theme) go to
``tests/artifacts/screenshots/trust-*.png``; the light ones also to
``docs/screenshots/`` for the README.
"""

from __future__ import annotations

NOTEBOOK = "trust_browser.ipynb"
CELLS = [
    """\
import cnnwidgets as cw

model = cw.demo.digits_model()
images, labels = cw.demo.digits_samples()
view = cw.SaliencyOverlay(model, images[93], class_names=cw.demo.DIGIT_CLASS_NAMES,
                          compare_methods=["vanilla", "smoothgrad", "integrated_gradients", "gradcam"])
view""",
]


def _theme(page, name):
    page.evaluate("(name) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: name})", name)
    page.wait_for_function("(light) => document.body.dataset.jpThemeLight === light",
                           arg="true" if "Light" in name else "false", timeout=30_000)
    page.wait_for_timeout(800)


def test_trust_panel_and_cascade_in_jupyterlab(page, jupyter_server, harness, notebook_root):
    harness.write_notebook(notebook_root, NOTEBOOK, CELLS)
    run = harness.run_notebook_in_lab(page, jupyter_server, NOTEBOOK,
                                      wait_for=[".cnnwidgets-saliency-overlay", ".cnnwidgets-trust-curves"])
    widget = run.root.locator(".cnnwidgets-saliency").first
    section = run.root.locator(".cnnwidgets-trust-section").first
    section.scroll_into_view_if_needed()

    # the curves of the Grad-CAM map shown, and their areas
    harness.wait_text(page, ".cnnwidgets-trust-summary", "Deletion", timeout=90)
    harness.wait_text(page, ".cnnwidgets-trust-summary", "Insertion", timeout=90)
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.cnnwidgets-trust-curves path.line'))"
        ".filter(p => (p.getAttribute('d') || '').length > 100).length >= 2",
        timeout=60_000,
    )
    harness.save_screenshot(widget, "trust-lab-overlay")

    # Compare: the compared maps ranked by deletion
    widget.locator(".lm-TabBar-tab", has_text="Compare").first.click()
    harness.wait_text(page, ".cnnwidgets-trust-ranking", "best first", timeout=90)
    for title in ("Gradient", "SmoothGrad", "Integrated Gradients", "Grad-CAM"):
        harness.wait_text(page, ".cnnwidgets-trust-ranking", title, timeout=30)
    section.scroll_into_view_if_needed()
    harness.save_screenshot(section, "trust-lab-panel")

    # the randomization check: run, strip, chart, a step shown large
    section.get_by_text("Randomization check (Adebayo et al. 2018)").first.click()
    run_button = section.locator("button", has_text="Run randomization check").first
    run_button.wait_for(state="visible", timeout=30_000)
    run_button.click()
    strip = section.locator(".cnnwidgets-cascade-strip canvas")
    page.wait_for_function(
        "() => document.querySelectorAll('.cnnwidgets-cascade-strip canvas').length === 6", timeout=120_000)
    harness.wait_text(page, ".cnnwidgets-cascade", "once every layer is randomized", timeout=120)
    for index in range(6):
        harness.wait_for_pixels(page, strip.nth(index), lambda px: not harness.is_blank(px, 10),
                                message=f"cascade step {index} to be drawn")
    box = strip.nth(3).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    harness.wait_text(page, ".cnnwidgets-cascade-large", "step 3", timeout=90)
    large = section.locator(".cnnwidgets-cascade-large canvas").first
    harness.wait_for_pixels(page, large, lambda px: not harness.is_blank(px, 10), message="the large step")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.cnnwidgets-cascade-chart path.line'))"
        ".filter(p => (p.getAttribute('d') || '').length > 20).length >= 2",
        timeout=30_000,
    )
    cascade = section.locator(".cnnwidgets-cascade").first
    cascade.scroll_into_view_if_needed()
    harness.save_screenshot(cascade, "trust-lab-cascade")

    # the same views in JupyterLab's dark theme
    try:
        _theme(page, "JupyterLab Dark")
        harness.save_screenshot(cascade, "trust-lab-cascade-dark")
        section.get_by_text("Which map to trust?").first.click()
        section.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        harness.save_screenshot(section, "trust-lab-panel-dark")
    finally:
        _theme(page, "JupyterLab Light")
