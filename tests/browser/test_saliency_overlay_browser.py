"""SaliencyOverlay in a real JupyterLab, driven by headless Chromium.

1. A small notebook shows the overlay on a handwritten 9 (Grad-CAM of the
   predicted class). The test checks the three panels are drawn at 280 px
   with crisp pixels, clicks the second class button and checks that the
   map and overlay canvases changed, reads a value by hovering, picks other
   methods from the catalogue's picker (a long one shows Stop and its
   parameter sliders; moving a slider recomputes), then opens the Compare
   tab and checks that one overlay per catalogue method is drawn, six a row.
   The screenshots are ``tests/artifacts/screenshots/saliency-overlay-*.png``.
2. Compare with six CAM methods on the nested MobileNetV2 classifier of
   ``notebooks/06_your_own_model.ipynb`` (random weights, offline), in the
   light and the dark theme: the README's ``saliency_compare_cams.png`` and
   ``saliency_compare_cams_dark.png``.
3. ``notebooks/04_saliency_overlay.ipynb`` itself runs in JupyterLab without
   errors and draws its widgets.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

import cnnwidgets as cw

NOTEBOOK = "saliency_overlay_browser.ipynb"
REPO_NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04_saliency_overlay.ipynb"
PANEL = 280  # 28x28 digits enlarged 10 times

CELLS = [
    """\
import cnnwidgets as cw

model = cw.demo.digits_model()
images, labels = cw.demo.digits_samples()
view = cw.SaliencyOverlay(model, images[93], class_names=cw.demo.DIGIT_CLASS_NAMES,
                          compare_methods=[m.name for m in cw.methods()])
view""",
]
CAMS_NOTEBOOK = "saliency_overlay_cams_browser.ipynb"
# The nested classifier of notebooks/06_your_own_model.ipynb, built as it builds it offline: MobileNetV2
# with random weights (the notebook's keep_signal_alive), its base reused inside a small classifier.
CAMS_CELLS = [
    """\
import keras
import numpy as np
import skimage.data
from PIL import Image as PILImage, ImageOps

import cnnwidgets as cw

SIZE = 224


def square(photo, size=SIZE):
    return np.asarray(ImageOps.fit(PILImage.fromarray(photo), (size, size), PILImage.Resampling.BICUBIC))


def keep_signal_alive(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)):
            kernel = layer.weights[0]
            shape = tuple(kernel.shape)
            depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
            fan_in = int(np.prod(shape[:2] if depthwise else shape[:-1]))
            gain = 1.0 if "project" in layer.name else 2.0
            kernel.assign(rng.normal(0.0, np.sqrt(gain / fan_in), shape).astype("float32"))


keras.utils.set_random_seed(0)  # the same random head, and the same screenshot, every run
photo_names = ["cat", "coffee", "astronaut"]
photos = np.stack([square(skimage.data.chelsea()), square(skimage.data.coffee()), square(skimage.data.astronaut())])
preprocess = keras.applications.mobilenet_v2.preprocess_input
model = keras.applications.MobileNetV2(weights=None)
keep_signal_alive(model)
base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
for layer in base.layers:
    if layer.weights:
        layer.set_weights(model.get_layer(layer.name).get_weights())
classifier = keras.Sequential(
    [keras.Input((SIZE, SIZE, 3)), base,
     keras.layers.GlobalAveragePooling2D(name="pool"),
     keras.layers.Dense(3, activation="softmax", name="my_classes")],
    name="my_classifier",
)""",
    """\
cams = [m.name for m in cw.methods("cam")][:6]
view = cw.SaliencyOverlay(classifier, photos[0], class_names=photo_names, preprocess=preprocess,
                          compare=True, compare_methods=cams)
view""",
]




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
    overlay = harness.wait_for_pixels(page, overlay_canvas, harness.changed(digit, 20),
                                      message="the Grad-CAM overlay to be drawn")
    heat = harness.wait_for_pixels(page, heat_canvas, lambda px: not harness.is_blank(px, 10),
                                   message="the Grad-CAM map to be drawn")
    for pixels in (digit, heat, overlay):  # 28x28 canvases shown at 280 px, enlarged with crisp pixels
        assert abs(pixels.shape[0] - PANEL) <= 1 and abs(pixels.shape[1] - PANEL) <= 1
        assert _blockiness(pixels) <= 2, _blockiness(pixels)
    exact = harness.canvas_pixels(page, overlay_canvas, method="dataurl", mode="RGBA")
    assert exact.shape == (28, 28, 4) and (exact[..., 3] == 255).all()  # the image's own pixels travel
    harness.wait_text(page, ".cnnwidgets-saliency", "Grad-CAM for class '9'")
    harness.save_screenshot(widget, "saliency-overlay-lab-initial")

    # the second class button: the map and the overlay are recomputed for that class
    buttons = widget.locator(".cnnwidgets-class-button")
    second = buttons.nth(1)
    label = second.inner_text()
    second_class = label.split("\u00b7")[0].strip()
    second.click()
    heat_after = harness.wait_for_pixels(page, heat_canvas, harness.changed(heat), message="the map to change")
    overlay_after = harness.wait_for_pixels(page, overlay_canvas, harness.changed(overlay),
                                            message="the overlay to change after the class click")
    assert not np.array_equal(overlay, overlay_after) and not np.array_equal(heat, heat_after)
    harness.wait_text(page, ".cnnwidgets-saliency", f"Grad-CAM for class '{second_class}'")
    page.wait_for_function("(b) => b.classList.contains('mod-primary')", arg=second.element_handle(),
                           timeout=30_000)

    # hover: the value under the pointer
    box = overlay_canvas.bounding_box()
    page.mouse.move(box["x"] + 14.5 * box["width"] / 28, box["y"] + 20.5 * box["height"] / 28)
    harness.wait_text(page, ".cnnwidgets-saliency", "x=14, y=20", timeout=30)
    harness.save_screenshot(widget, "saliency-overlay-lab-class-switched")

    # another method from the catalogue's picker (labelled by family)
    picker = widget.locator(".cnnwidgets-method-picker select")
    picker.select_option(label="Gradient \u00b7 Vanilla gradient")
    gradient = harness.wait_for_pixels(page, overlay_canvas, harness.changed(overlay_after),
                                       message="the gradient overlay to be drawn")
    assert gradient.shape[:2] == overlay_after.shape[:2]
    harness.wait_text(page, ".cnnwidgets-saliency", "Vanilla gradient for class")

    # a long method: its parameter sliders and Stop appear; moving a slider recomputes
    picker.select_option(label="Gradient \u00b7 SmoothGrad")
    smooth = harness.wait_for_pixels(page, overlay_canvas, harness.changed(gradient),
                                     message="the SmoothGrad overlay to be drawn")
    harness.wait_text(page, ".cnnwidgets-saliency", "SmoothGrad for class")
    params = widget.locator(".cnnwidgets-method-params")
    assert params.is_visible() and widget.locator(".cnnwidgets-stop").is_visible()
    for label in ("Samples", "Noise", "Seed", "Signed"):
        assert params.get_by_text(label, exact=True).count() == 1, label
    readout = params.locator(".widget-readout").first
    assert readout.inner_text().strip() == "25"
    params.locator(".noUi-handle").first.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("(el) => el.innerText.trim() === '30'", arg=readout.element_handle(), timeout=30_000)
    harness.wait_for_pixels(page, overlay_canvas, harness.changed(smooth, 5),
                            message="the overlay to change after the samples slider moved")
    harness.save_screenshot(widget, "saliency-overlay-lab-smoothgrad-params")

    # Compare tab: one titled overlay per catalogue method, six a row, for the predicted class
    buttons.nth(0).click()
    harness.wait_text(page, ".cnnwidgets-saliency", "SmoothGrad for class '9'")
    count = len(cw.methods())
    widget.locator(".lm-TabBar-tab", has_text="Compare").first.click()
    panels = run.root.locator(".cnnwidgets-saliency-compare canvas")
    page.wait_for_function("(n) => document.querySelectorAll('.cnnwidgets-saliency-compare canvas').length === n",
                           arg=count, timeout=60_000)
    drawn = [harness.wait_for_pixels(page, panels.nth(i), lambda px: not harness.is_blank(px, 10),
                                     message=f"compare panel {i} to be drawn") for i in range(count)]
    assert all(abs(px.shape[1] - 112) <= 1 for px in drawn)  # 28 px x 4: six panels fit in a row
    tops = [round(panels.nth(i).bounding_box()["y"]) for i in range(count)]
    assert len(set(tops)) == -(-count // 6) and tops[:6] == [tops[0]] * 6 and tops[6] > tops[0], tops
    assert len({px.tobytes() for px in drawn}) >= count - 1  # different maps (two may agree on a digit)
    for spec in cw.methods():
        harness.wait_text(page, ".cnnwidgets-saliency-compare", spec.label, timeout=30)
    harness.save_screenshot(widget, "saliency-overlay-lab-compare")
    harness.save_screenshot(page, "saliency-overlay-lab-page")


def test_compare_six_cam_methods_on_the_nested_mobilenet(page, jupyter_server, harness, notebook_root):
    harness.write_notebook(notebook_root, CAMS_NOTEBOOK, CAMS_CELLS)
    run = harness.run_notebook_in_lab(page, jupyter_server, CAMS_NOTEBOOK, timeout=400,
                                      wait_for=[".cnnwidgets-saliency-compare canvas"])
    widget = run.root.locator(".cnnwidgets-saliency").first
    widget.scroll_into_view_if_needed()
    panels = run.root.locator(".cnnwidgets-saliency-compare canvas")
    page.wait_for_function("() => document.querySelectorAll('.cnnwidgets-saliency-compare canvas').length === 6",
                           timeout=120_000)
    drawn = [harness.wait_for_pixels(page, panels.nth(i), lambda px: not harness.is_blank(px, 10), timeout=120,
                                     message=f"CAM panel {i} to be drawn") for i in range(6)]
    assert len({round(panels.nth(i).bounding_box()["y"]) for i in range(6)}) == 1  # one row
    # On a global-average-pooling head, HiResCAM and XGrad-CAM equal Grad-CAM (the gradient is constant over
    # each feature map); the other three differ.
    assert len({px.tobytes() for px in drawn}) == 4
    for spec in cw.methods("cam")[:6]:
        harness.wait_text(page, ".cnnwidgets-saliency-compare", spec.label, timeout=30)
    harness.wait_text(page, ".cnnwidgets-saliency", "explain mobilenetv2_1.00_224/out_relu", timeout=30)
    harness.save_screenshot(widget, "saliency-overlay-lab-compare-cams")
    try:  # and in JupyterLab's dark theme (the settings live for the whole session: switched back below)
        harness.set_theme(page, harness.DARK_THEME)
        widget.scroll_into_view_if_needed()
        harness.save_screenshot(widget, "saliency-overlay-lab-compare-cams-dark")
    finally:
        harness.set_theme(page, harness.LIGHT_THEME)


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
