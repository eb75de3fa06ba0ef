"""LayerBrowser at the trait level: no browser, simulated mouse events, recomputed pixels.

Two models: the embedded digits model (samples, drawing pad, uploads) and a
mid-size functional model with a nested Sequential backbone whose 28 layers
are grouped by name (diagram expand/collapse, paging, byte budget).
"""

import io
import json

import numpy as np
import pytest
import traitlets

from cnnwidgets.errors import InvalidImageError
from cnnwidgets.render import apply_colormap, colorbar, decode_image, normalize, stack_panels
from cnnwidgets.render.feature_maps import (
    plan_feature_grid,
    plan_vector_strip,
    render_channel,
    render_feature_grid,
    render_vector_strip,
)

BYTE_BUDGET = 1024 * 1024


def _event(canvas, kind, x, y):
    """Deliver a browser mouse event to an OverlayCanvas (or a plain ipycanvas Canvas)."""
    layer = canvas.mouse_layer if hasattr(canvas, "mouse_layer") else canvas
    layer._handle_frontend_event(None, {"event": kind, "x": x, "y": y}, [])


def _png(array, mode):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _upload_value(name, data):
    """What ``FileUpload.value`` holds after a browser upload (ipywidgets 8)."""
    from datetime import datetime, timezone

    return ({"name": name, "type": "image/png", "size": len(data), "content": memoryview(data),
             "last_modified": datetime(2024, 1, 1, tzinfo=timezone.utc)},)


@pytest.fixture(scope="module")
def digits():
    import cnnwidgets as cw

    browser = cw.LayerBrowser(cw.demo.digits_model())
    browser.wait(120)
    yield browser
    browser.stop()


@pytest.fixture
def lb(digits):
    """The digits browser reset to conv1, sample 0, default view."""
    digits.layer = "conv1"
    digits.image_index = 0
    digits.colormap, digits.normalization, digits.channel_order = "viridis", "shared", "channel"
    digits.wait(60)
    return digits


def build_mid_model():
    """64x64 RGB, a stem, a nested 28-layer Sequential 'backbone' (blocks by name), a head."""
    import keras
    from keras import layers

    backbone = keras.Sequential(name="backbone")
    backbone.add(keras.Input((64, 64, 16)))
    for block, channels in enumerate((16, 32, 64, 96, 128, 128), start=1):
        backbone.add(layers.Conv2D(channels, 3, padding="same", name=f"block{block}_conv"))
        backbone.add(layers.BatchNormalization(name=f"block{block}_bn"))
        backbone.add(layers.ReLU(name=f"block{block}_relu"))
        backbone.add(layers.Conv2D(channels, 1, name=f"block{block}_mix"))
        if block <= 4:
            backbone.add(layers.MaxPooling2D(name=f"block{block}_pool"))
    inputs = keras.Input((64, 64, 3))
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="stem")(inputs)
    x = backbone(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(32, activation="relu", name="fc")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mid_cnn")


@pytest.fixture(scope="module")
def mid():
    import cnnwidgets as cw

    browser = cw.LayerBrowser(build_mid_model())
    browser.wait(120)
    yield browser
    browser.stop()


# ------------------------------------------------------------------ defaults
def test_digits_model_offers_its_samples(lb):
    from cnnwidgets.demo import DIGIT_CLASS_NAMES

    assert lb.is_digits_default
    assert lb.images.shape == (100, 28, 28, 1) and lb.labels.shape == (100,)
    assert lb.thumbnails is not None and lb.thumbnails.count == 100 and lb.pad is not None
    assert lb.inspector.class_names == DIGIT_CLASS_NAMES
    assert lb.layer == "conv1" and lb.image_index == 0
    np.testing.assert_array_equal(lb.image, lb.images[0].astype(np.float32))
    assert "digits samples" in lb.status.value
    assert lb.class_index is None and lb.predicted_class == int(np.argmax(lb.inspector.predict(lb.images[0])))


def test_other_model_without_images_shows_noise_and_asks_for_images(mid):
    assert len(mid.images) == 0 and mid.thumbnails is None
    assert mid.pad is None  # RGB model: no drawing pad
    assert mid.image_index == -1 and mid.image.shape == (64, 64, 3) and mid.image.std() > 10
    assert "random image" in mid.status.value and "images=" in mid.status.value
    assert mid.layer == "stem"


def test_inspector_is_shared(lb):
    import cnnwidgets as cw

    assert cw.Inspector.for_model(lb.inspector.model) is lb.inspector
    assert cw.LayerBrowser(lb.inspector, images=lb.images[:3]).inspector is lb.inspector


# ------------------------------------------------------------- feature maps
def test_setting_layer_draws_exactly_its_maps(lb):
    lb.layer = "conv2"
    lb.wait(60)
    acts = lb.inspector.activations(lb.image, "conv2")
    assert acts.shape == (14, 14, 32)
    layout = plan_feature_grid(acts.shape[:2], range(32), width=lb.maps.width, max_values=lb.max_values)
    expected = render_feature_grid(acts, layout, "shared", "viridis")
    np.testing.assert_array_equal(lb.maps.grid.image, expected)
    # tile i shows channel i: each shown cell is the colour of that activation
    unit = normalize(acts, "minmax")
    for index in range(32):
        y0, x0, y1, x1 = layout.tile_box(index)
        tile = lb.maps.grid.image[y0:y1, x0:x1]
        np.testing.assert_array_equal(tile[:: layout.scale, :: layout.scale], apply_colormap(unit[..., index]))
    assert lb.frame.path == "conv2" and lb.shown_channel == 0


def test_most_active_first_per_channel_and_colormap(lb):
    lb.layer = "conv3"
    lb.channel_order = "most active"
    lb.normalization = "per-channel"
    lb.colormap = "magma"
    lb.wait(60)
    acts = lb.inspector.activations(lb.image, "conv3")
    order = np.argsort(-acts.reshape(-1, 32).mean(axis=0), kind="stable")
    assert list(lb.frame.layout.channels) == order.tolist()
    layout = plan_feature_grid(acts.shape[:2], order, width=lb.maps.width, max_values=lb.max_values)
    np.testing.assert_array_equal(lb.maps.grid.image, render_feature_grid(acts, layout, "per-channel", "magma"))
    assert lb.maps.colormap.value == "magma" and lb.maps.normalization.value == "per-channel"
    assert lb.shown_channel == order[0]  # the enlarged tile is the first one
    with pytest.raises(traitlets.TraitError, match="colormap"):
        lb.colormap = "not-a-colormap"


def test_dense_layer_is_drawn_as_a_vector(lb):
    lb.layer = "dense1"
    lb.wait(60)
    acts = lb.inspector.activations(lb.image, "dense1")
    assert lb.frame.kind == "vector" and lb.maps.detail.layout.display == "none"
    layout = plan_vector_strip(range(64), width=lb.maps.width)
    np.testing.assert_array_equal(lb.maps.grid.image, render_vector_strip(acts, layout, "viridis"))
    lb.layer = "flatten"  # 1568 units: coloured cells
    lb.wait(60)
    assert lb.frame.layout.style == "cells" and lb.frame.layout.count == 1568


def test_hover_reads_the_value_under_the_pointer(lb):
    lb.layer = "pool1"
    lb.wait(60)
    acts = lb.inspector.activations(lb.image, "pool1")
    layout = lb.frame.layout
    y0, x0, _, _ = layout.tile_box(5)
    row, col = 6, 9
    _event(lb.maps.grid, "mouse_move", x0 + col * layout.scale + 1, y0 + row * layout.scale + 1)
    readout = lb.maps.readout.value
    assert "channel <b>5</b>" in readout and f"row {row}, col {col}" in readout
    assert f"{float(acts[row, col, 5]):.4g}" in readout
    assert "hover" in lb.maps.grid.outlines
    _event(lb.maps.grid, "mouse_out", 0, 0)
    assert lb.maps.readout.value == "" and "hover" not in lb.maps.grid.outlines


def test_clicking_a_tile_enlarges_it(lb):
    lb.layer = "conv2"
    lb.wait(60)
    y0, x0, y1, x1 = lb.frame.layout.tile_box(7)
    _event(lb.maps.grid, "mouse_down", (x0 + x1) / 2, (y0 + y1) / 2)
    lb.wait(60)
    assert lb.channel == 7 and lb.shown_channel == 7
    acts = lb.inspector.activations(lb.image, "conv2")
    enlarged, _, _ = render_channel(acts, 7, "shared", "viridis", lb.maps.detail_size)
    expected = stack_panels([enlarged, colorbar("viridis", enlarged.shape[1], 10)], axis=0, gap=4,
                            background=(255, 255, 255, 255))
    np.testing.assert_array_equal(lb.maps.detail.image, expected)
    assert lb.maps.grid.outlines["selected"][0] == ((y0, x0, y1, x1),)
    assert "channel 7" in lb.maps.detail_info.value
    lb.layer = "pool2"  # a new layer starts again at its first tile
    lb.wait(60)
    assert lb.channel == -1 and lb.shown_channel == 0


def test_pages_of_a_wide_layer(mid):
    mid.layer = "backbone/block5_conv"  # 128 channels: two pages of 64
    mid.wait(60)
    assert mid.frame.pages == 2 and list(mid.frame.layout.channels) == list(range(64))
    mid.page = 1
    mid.wait(60)
    assert list(mid.frame.layout.channels) == list(range(64, 128))
    assert "65–128 of 128" in mid.maps.page_label.value and mid.maps.next_page.disabled
    mid.page = 7
    assert mid.page == 1  # clipped to the last page
    mid.maps.previous_page.click()
    mid.wait(60)
    assert mid.page == 0 and list(mid.frame.layout.channels)[0] == 0


# ------------------------------------------------------------------- layers
def test_layer_trait_validates_and_normalizes(mid, lb):
    mid.layer = "block2_relu"  # a name inside the nested model
    assert mid.layer == "backbone/block2_relu"
    assert mid.layer_dropdown.value == "backbone/block2_relu"
    with pytest.raises(traitlets.TraitError, match="did you mean"):
        lb.layer = "conv22"
    assert lb.layer == "conv1"
    lb.layer_dropdown.value = "pool1"  # the dropdown is linked
    assert lb.layer == "pool1"
    lb.next_layer.click()
    assert lb.layer == "conv2"


def test_clicking_the_diagram_selects_that_layer(lb):
    x, y = lb.diagram_position("pool2")
    _event(lb.diagram.canvas, "mouse_down", x, y)
    lb.wait(60)
    assert lb.layer == "pool2" and lb.frame.path == "pool2"
    box = lb.diagram.layout.find("pool2")
    x0, y0, x1, y1 = box.rect
    assert lb.diagram.canvas.outlines["selected"][0] == ((y0, x0, y1, x1),)
    x, y = lb.diagram.layout.find("__input__").center
    _event(lb.diagram.canvas, "mouse_down", x, y)  # the input block is not a layer
    assert lb.layer == "pool2"
    _event(lb.diagram.canvas, "mouse_move", *lb.diagram_position("dense1"))
    assert "dense1" in lb.diagram_hover.value and "Dense" in lb.diagram_hover.value


def test_nested_model_and_blocks_expand_and_collapse_on_click(mid):
    mid.layer = "stem"
    mid.wait(60)
    diagram = mid.diagram
    assert "backbone" not in diagram.expanded and diagram.layout.find("backbone").action == "expand"
    _event(diagram.canvas, "mouse_down", *diagram.layout.find("backbone").center)
    mid.wait(60)
    assert mid.layer == "backbone" and "backbone" in diagram.expanded
    block = diagram.layout.find("group:backbone/block3")
    assert block is not None and block.action == "expand" and block.node.layer_count == 5
    _event(diagram.canvas, "mouse_down", *block.center)
    mid.wait(60)
    assert mid.layer == "backbone/block3_pool"  # a block stands for its last layer
    assert diagram.layout.find("backbone/block3_relu").action == "select"
    _event(diagram.canvas, "mouse_down", *diagram.layout.header("group:backbone/block3").center)
    assert "group:backbone/block3" not in diagram.expanded
    # the selection now lives in the collapsed block, which is highlighted
    x0, y0, x1, y1 = diagram.layout.find("group:backbone/block3").rect
    assert diagram.canvas.outlines["selected"][0] == ((y0, x0, y1, x1),)
    # choosing a hidden layer from the dropdown reveals it; moving on hides it again
    mid.layer = "backbone/block5_bn"
    assert diagram.layout.find("backbone/block5_bn") is not None
    mid.layer = "backbone/block1_conv"
    assert diagram.layout.find("backbone/block5_bn") is None
    mid.wait(60)


def test_layer_switch_stays_under_the_byte_budget(mid, monkeypatch):
    from ipywidgets import Widget

    sent = []
    original = Widget._send

    def counting(self, msg, buffers=None):
        sent.append(len(json.dumps(msg, default=str)) + sum(memoryview(b).nbytes for b in buffers or ()))
        return original(self, msg, buffers)

    monkeypatch.setattr(Widget, "_send", counting)
    mid.layer = "fc"
    mid.wait(60)
    per_switch = {}
    for record in mid.records:
        sent.clear()
        mid.layer = record.path
        mid.wait(60)
        per_switch[record.path] = sum(sent)
    assert max(per_switch.values()) <= BYTE_BUDGET, sorted(per_switch.items(), key=lambda kv: -kv[1])[:3]
    assert min(per_switch.values()) > 0
    # a switch inside the visible diagram does not re-send the diagram image
    mid.layer = "backbone/block1_conv"
    mid.wait(60)
    shown = mid.diagram.canvas.image
    mid.layer = "backbone/block1_relu"
    mid.wait(60)
    assert mid.diagram.canvas.image is shown


def test_busy_indicator(lb):
    lb._set_busy(True)
    assert "computing" in lb.busy_label.value and lb.progress.layout.visibility == "visible"
    lb._set_busy(False)
    assert lb.busy_label.value == "" and lb.progress.layout.visibility == "hidden"


def test_latest_layer_wins(lb):
    for name in ("conv1", "pool1", "conv2", "pool2", "conv3", "pool1"):
        lb.layer = name
    lb.wait(60)
    assert lb.frame.path == "pool1"
    acts = lb.inspector.activations(lb.image, "pool1")
    layout = plan_feature_grid(acts.shape[:2], range(16), width=lb.maps.width, max_values=lb.max_values)
    np.testing.assert_array_equal(lb.maps.grid.image, render_feature_grid(acts, layout))


# ------------------------------------------------------------------- inputs
def test_image_index_updates_prediction_preview_and_maps(lb):
    before = lb.maps.grid.image
    lb.image_index = 42
    lb.wait(60)
    probabilities = lb.inspector.predict(lb.images[42])
    assert lb.class_index is None and lb.target == lb.predicted_class == int(np.argmax(probabilities))
    np.testing.assert_allclose(lb.chart.values, np.sort(probabilities)[::-1][: lb.chart.top_k], rtol=1e-6)
    assert "sample 42" in lb.preview_caption.value
    assert not np.array_equal(before, lb.maps.grid.image)
    with pytest.raises(traitlets.TraitError, match="out of range"):
        lb.image_index = 100
    with pytest.raises(traitlets.TraitError, match="read-only"):
        lb.predicted_class = 3


def test_class_index_is_the_class_highlighted_in_the_chart(lb):
    from cnnwidgets.widgets.common.charts import HIGHLIGHT_COLOUR

    probabilities = lb.inspector.predict(lb.image)
    least = int(np.argmin(probabilities))  # not among the top classes: the chart adds it
    lb.class_index = str(least)  # a class name works too
    assert lb.class_index == least == lb.target
    assert lb.chart.highlight == least and lb.chart.order[-1] == least
    assert lb.chart._bars.colors[-1] == HIGHLIGHT_COLOUR
    assert lb.chart.figure.title.startswith(f"Prediction: {lb.predicted_class} ")
    lb.class_index = None
    assert lb.chart.highlight == lb.predicted_class == lb.chart.order[0]
    with pytest.raises(traitlets.TraitError, match="class"):
        lb.class_index = 10


def test_clicking_a_thumbnail_selects_that_image(lb):
    x, y = lb.thumbnails.position(12)
    _event(lb.thumbnails.canvas, "mouse_down", x, y)
    lb.wait(60)
    assert lb.image_index == 12
    np.testing.assert_array_equal(lb.image, lb.images[12].astype(np.float32))
    assert lb.thumbnails.canvas.outlines["selected"][0][0][1] == 4 + 12 * 44 - 3
    acts = lb.inspector.activations(lb.images[12], "conv1")
    layout = plan_feature_grid(acts.shape[:2], range(16), width=lb.maps.width, max_values=lb.max_values)
    np.testing.assert_array_equal(lb.maps.grid.image, render_feature_grid(acts, layout))


def test_upload_converts_the_image_and_says_how(lb):
    digit = np.full((48, 64, 3), 255, np.uint8)  # a dark stroke on white paper, RGB, wrong size
    digit[8:40, 28:36] = 0
    data = _png(digit, "RGB")
    lb.upload.value = _upload_value("seven.png", data)
    lb.wait(60)
    assert lb.image_index == -1 and lb.upload.value == ()
    expected = 255 - decode_image(data, size=(28, 28), channels=1)  # inverted: MNIST is light on dark
    np.testing.assert_array_equal(lb.image, expected.astype(np.float32))
    status = lb.status.value
    assert "seven.png" in status and "resized from 64×48 to 28×28" in status
    assert "converted from RGB to grayscale" in status and "inverted" in status
    assert "upload: seven.png" in lb.preview_caption.value
    assert lb.predicted_class == int(np.argmax(lb.inspector.predict(expected)))
    assert lb.thumbnails.canvas.outlines.get("selected") is None


@pytest.mark.parametrize("data, message", [
    (b"%PDF-1.4 this is not a picture", "not an image"),
    (_png(np.zeros((2, 2), np.uint8), "L"), "too small"),
])
def test_bad_upload_shows_a_message_and_the_widget_keeps_working(lb, data, message):
    shown = lb.image
    lb.upload.value = _upload_value("bad.png", data)
    assert "cnnwidgets-error" in lb.status.value
    assert ("not an image" in lb.status.value) if message == "not an image" else ("only 2×2" in lb.status.value)
    assert "Traceback" not in lb.status.value
    np.testing.assert_array_equal(lb.image, shown)
    lb.layer = "conv3"
    lb.wait(60)
    assert lb.frame.path == "conv3" and "cnnwidgets-error" not in lb.status.value


def test_drawing_a_digit_feeds_the_model(lb):
    pad = lb.pad
    pad.clear()
    _event(pad.canvas, "mouse_down", 70, 20)
    for y in range(30, 130, 10):
        _event(pad.canvas, "mouse_move", 70, y)
    _event(pad.canvas, "mouse_up", 70, 130)
    _event(pad.canvas, "mouse_move", 10, 10)  # not drawing: ignored
    lb.wait(60)
    from cnnwidgets.widgets.layer_browser.inputs import mnist_style

    assert pad.strokes[70, 70] == 255 and pad.strokes[10, 10] == 0
    expected = mnist_style(pad.strokes).astype(np.float32)
    assert lb.image_index == -1
    np.testing.assert_array_equal(lb.image[..., 0], expected)
    assert lb.predicted_class == int(np.argmax(lb.inspector.predict(expected)))
    assert "drawing" in lb.preview_caption.value and "like MNIST" in lb.status.value
    pad.clear_button.click()
    assert pad.empty


def test_set_image_pushes_an_image(lb):
    lb.set_image(lb.images[5], caption="from the Explorer")
    lb.wait(60)
    assert lb.image_index == -1 and "from the Explorer" in lb.preview_caption.value
    lb.image = lb.images[9]  # the trait: shown like set_image (a link can set it too)
    lb.wait(60)
    np.testing.assert_array_equal(lb.image, lb.images[9].astype(np.float32))
    assert lb.image_index == -1 and "pushed image" in lb.preview_caption.value
    with pytest.raises(traitlets.TraitError):
        lb.image = np.zeros((5, 5, 3))
    with pytest.raises(InvalidImageError):
        lb.set_image(np.zeros((5, 5, 3)))
    lb.image_index = 9  # back to a sample by index
    lb.wait(60)
    assert "sample 9" in lb.preview_caption.value


# ----------------------------------------------------------------- snapshot
def test_snapshot_and_save_png(lb, tmp_path):
    snap = lb.snapshot()
    assert snap.dtype == np.uint8 and snap.ndim == 3 and snap.shape[2] == 4
    diagram = lb.diagram.canvas.composite()
    assert snap.shape[1] >= diagram.shape[1] and snap.shape[0] > diagram.shape[0] + lb.maps.grid.image.shape[0]
    np.testing.assert_array_equal(snap[: diagram.shape[0], : diagram.shape[1]], diagram)
    from cnnwidgets.render import encode_png_fast

    assert lb.sent_png_bytes() == len(encode_png_fast(lb.maps.grid.image)) + len(encode_png_fast(lb.maps.detail.image))
    path = lb.save_png(tmp_path / "browser.png")
    assert decode_image(open(path, "rb").read(), channels=3).shape[:2] == snap.shape[:2]


def test_composite_shows_the_tile_outline(lb):
    composite = lb.maps.composite()
    y0, x0, y1, x1 = lb.frame.layout.tile_box(0)
    assert tuple(composite[y0, x0 + 3]) == (255, 127, 14, 255)
    inside = (slice(y0 + 5, y1 - 5), slice(x0 + 5, x1 - 5))
    np.testing.assert_array_equal(composite[inside], lb.maps.grid.image[inside])

