"""Trait-level tests of the Explorer: four widgets on one inspector, linked (no browser).

Mouse events are simulated the way ipycanvas dispatches browser events
(``_handle_frontend_event`` on the layer that receives them).
"""

import numpy as np
import pytest
import traitlets

keras = pytest.importorskip("keras")

from cnnwidgets import Inspector, demo  # noqa: E402
from cnnwidgets.errors import InvalidImageError  # noqa: E402
from cnnwidgets.render import image_to_rgba, upscale_nearest  # noqa: E402
from cnnwidgets.widgets.explorer import TABS, Explorer  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    model = demo.digits_model()
    images, labels = demo.digits_samples()
    return model, images, labels


@pytest.fixture
def explorer(digits):
    model, images, labels = digits
    widget = Explorer(model, images, class_names=demo.DIGIT_CLASS_NAMES, labels=labels)
    widget.wait()
    yield widget
    widget.stop()
    widget.wait()


@pytest.fixture
def built(explorer):
    """An Explorer with every tab built."""
    for name in TABS:
        explorer.widget(name)
    explorer.wait()
    return explorer


def mouse(layer, kind, x, y):
    layer._handle_frontend_event(None, {"event": kind, "x": x, "y": y}, [])


def predicted(inspector, image):
    return int(np.argmax(inspector.predict(image)))


def assert_all_show(explorer, image):
    """Every tab holds ``image`` and has drawn it."""
    insp = explorer.inspector
    expected = insp.prepare(image)[0]
    rgba = image_to_rgba(expected, insp.input_range)
    browser, grid = explorer.layer_browser, explorer.filter_grid
    painter, overlay = explorer.occlusion_painter, explorer.saliency_overlay
    for widget in (browser, grid, painter, overlay):
        np.testing.assert_array_equal(widget.image, expected, err_msg=type(widget).__name__)
    np.testing.assert_array_equal(overlay.image_canvas.image, rgba)
    np.testing.assert_array_equal(painter.canvas.image_rgba, upscale_nearest(rgba, painter.canvas.factor))


# ------------------------------------------------------------- one inspector
def test_the_four_widgets_share_one_inspector(built, digits):
    insp = built.inspector
    assert insp is Inspector.for_model(digits[0])
    for widget in (built.layer_browser, built.filter_grid, built.occlusion_painter, built.saliency_overlay):
        assert widget.inspector is insp
    assert built.built_tabs == TABS


def test_tabs_other_than_layers_are_built_when_first_shown(explorer):
    assert explorer.built_tabs == ("layers",)
    assert explorer.tabs.children[0].children == (explorer.layer_browser,)
    explorer.tabs.selected_index = TABS.index("occlusion")  # what a click on the tab title does
    assert explorer.tab == "occlusion"
    assert explorer.built_tabs == ("layers", "occlusion")
    assert explorer.tabs.children[2].children == (explorer.occlusion_painter,)
    explorer.tab = "saliency"
    assert explorer.tabs.selected_index == 3
    assert explorer.tabs.children[3].children == (explorer.saliency_overlay,)
    assert "filters" not in explorer.built_tabs
    # reading the attribute builds the tab too, in its place
    grid = explorer.filter_grid
    assert explorer.tabs.children[1].children == (grid,)


# ------------------------------------------------------------------ the image
def test_changing_the_image_index_updates_every_widget(built, digits):
    _, images, labels = digits
    assert_all_show(built, images[0])
    picker = built.saliency_overlay.class_picker  # the shown class's button is marked, class 0 included
    assert built.class_index is None and built.target == built.predicted_class == 0
    assert picker.buttons[picker.order.index(0)].button_style == "primary"
    np.testing.assert_array_equal(built.image, images[0].astype(np.float32))
    built.image_index = 93
    built.wait()
    assert_all_show(built, images[93])
    assert built.layer_browser.image_index == 93
    assert "sample 93" in built.layer_browser.preview_caption.value
    assert built.thumbnails.canvas.outlines["selected"][0]  # the strip outlines the pick
    np.testing.assert_array_equal(built.image, images[93].astype(np.float32))
    # the class follows the new image's prediction, in every widget
    expected = predicted(built.inspector, images[93])
    widgets = (built, built.layer_browser, built.occlusion_painter, built.saliency_overlay)
    assert all(w.class_index is None for w in widgets)
    assert [w.target for w in widgets] == [expected] * 4
    assert [w.predicted_class for w in widgets] == [expected] * 4
    assert built.saliency_overlay._result.request.main.class_index == expected
    assert built.layer_browser.chart.highlight == expected


def test_a_tab_built_later_shows_the_current_image_class_and_layer(explorer, digits):
    _, images, _ = digits
    explorer.image_index = 42
    explorer.layer = "conv2"
    explorer.class_index = 3
    overlay = explorer.saliency_overlay
    overlay.wait()
    np.testing.assert_array_equal(overlay.image, explorer.inspector.prepare(images[42])[0])
    assert overlay.class_index == 3 and overlay.layer == "conv2"
    np.testing.assert_allclose(overlay.heatmap, explorer.inspector.gradcam(images[42], 3, layer="conv2"), rtol=1e-6)
    assert explorer.filter_grid.layer == "conv2"


def test_clicking_a_thumbnail_and_the_arrows_pick_the_image(explorer, digits):
    _, images, _ = digits
    painter = explorer.occlusion_painter
    x, y = explorer.thumbnails.position(12)
    mouse(explorer.thumbnails.canvas.mouse_layer, "mouse_down", x, y)
    assert explorer.image_index == 12
    explorer.next_image.click()
    assert explorer.image_index == 13
    explorer.previous_image.click()
    explorer.previous_image.click()
    assert explorer.image_index == 11
    explorer.image_index = 0
    explorer.previous_image.click()  # wraps around
    assert explorer.image_index == len(images) - 1
    explorer.wait()
    np.testing.assert_array_equal(painter.image, explorer.inspector.prepare(images[-1])[0])


def test_a_drawing_in_the_layer_browser_reaches_the_other_tabs(built):
    browser = built.layer_browser
    pad = browser.pad.canvas
    mouse(pad, "mouse_down", 70, 20)
    mouse(pad, "mouse_move", 70, 120)
    mouse(pad, "mouse_up", 70, 120)
    built.wait()
    assert browser.image_index == -1 and built.image_index == -1
    first = browser.image
    assert_all_show(built, first)
    assert built.predicted_class == predicted(built.inspector, first) == browser.predicted_class
    np.testing.assert_array_equal(built.image, first)
    # a second stroke (still image_index -1) is followed too
    mouse(pad, "mouse_down", 30, 70)
    mouse(pad, "mouse_move", 110, 70)
    mouse(pad, "mouse_up", 110, 70)
    built.wait()
    assert not np.array_equal(browser.image, first)
    assert_all_show(built, browser.image)
    assert "own input" in built.caption.value


# ------------------------------------------------------------------ the class
def test_setting_the_class_on_one_widget_updates_the_other(built):
    painter, overlay = built.occlusion_painter, built.saliency_overlay
    overlay.class_index = 3  # e.g. a class button of the SaliencyOverlay
    assert painter.class_index == 3 and built.class_index == 3
    painter.class_dropdown.value = 5  # the OcclusionPainter's "Watch" menu
    assert overlay.class_index == 5 and built.class_index == 5
    built.class_index = 2
    assert painter.class_index == overlay.class_index == built.layer_browser.class_index == 2
    assert built.layer_browser.chart.highlight == 2
    built.wait()
    assert painter.target == 2
    assert overlay._result.request.main.class_index == 2
    np.testing.assert_allclose(overlay.heatmap, built.inspector.gradcam(overlay.image, 2, layer=overlay.layer),
                               rtol=1e-6)
    # the painter's "predicted class" entry is None, the predicted class, for all of them
    painter.class_dropdown.value = -1
    assert painter.class_index is overlay.class_index is built.class_index is None
    assert overlay.target == painter.target == built.predicted_class
    built.class_name = "7"
    assert painter.class_index == overlay.class_index == 7


def test_setting_the_image_shows_it_in_every_tab(built, digits):
    _, images, _ = digits
    rotated = np.rot90(images[30]).copy()
    built.image = rotated
    built.wait()
    assert built.image_index == -1 and built.layer_browser.image_index == -1
    assert_all_show(built, rotated.astype(np.float32))
    assert built.predicted_class == predicted(built.inspector, rotated)
    with pytest.raises(traitlets.TraitError):
        built.image = np.zeros((5, 5, 1))


def test_a_new_image_resets_the_class_to_the_prediction(built, digits):
    _, images, _ = digits
    built.saliency_overlay.class_index = 4
    built.image_index = 78
    built.wait()
    expected = predicted(built.inspector, images[78])
    assert built.class_index is built.occlusion_painter.class_index is built.saliency_overlay.class_index is None
    assert built.target == built.occlusion_painter.target == built.saliency_overlay.target == expected


# ------------------------------------------------------------------ the layer
def test_changing_the_layer_in_the_layer_browser_updates_the_filter_grid(built):
    browser, grid, overlay = built.layer_browser, built.filter_grid, built.saliency_overlay
    browser.layer = "conv2"
    built.wait()
    assert grid.layer == built.layer == "conv2"
    assert grid._view.record.path == "conv2"  # the grid shows conv2's filters now
    assert overlay.layer == "conv2"
    np.testing.assert_allclose(overlay.heatmap, built.inspector.gradcam(overlay.image, overlay.class_index,
                                                                        layer="conv2"), rtol=1e-6)
    grid.layer_dropdown.value = "conv3"  # and back from the FilterGrid's own menu
    assert browser.layer == built.layer == overlay.layer == "conv3"
    built.layer = "pool1"  # a name; normalized to the path
    assert browser.layer == grid.layer == overlay.layer == "pool1"


def test_a_non_spatial_layer_does_not_break_the_saliency_overlay(built):
    browser, grid, overlay = built.layer_browser, built.filter_grid, built.saliency_overlay
    browser.layer = "conv2"
    built.wait()
    for layer in ("flatten", "dense1", "predictions"):
        browser.layer = layer
        built.wait()
        assert overlay.layer == "conv2"  # Grad-CAM keeps its spatial layer
        assert "cnnwidgets-error" not in overlay.status.value
        assert grid.layer == layer and "cnnwidgets-error" not in grid.status.value
    overlay.class_index = 6  # still computing, at its layer
    built.wait()
    np.testing.assert_allclose(overlay.heatmap, built.inspector.gradcam(overlay.image, 6, layer="conv2"), rtol=1e-6)
    browser.layer = "conv3"
    assert overlay.layer == "conv3"


# ---------------------------------------------------------- checks, snapshot
def test_bad_values_are_refused_with_a_reason(explorer, digits):
    model, images, _ = digits
    with pytest.raises(traitlets.TraitError, match="out of range"):
        explorer.image_index = len(images)
    with pytest.raises(traitlets.TraitError, match="10 classes"):
        explorer.class_index = 10
    with pytest.raises(traitlets.TraitError):
        explorer.layer = "no_such_layer"
    assert explorer.image_index == 0 and explorer.layer == "conv1"
    with pytest.raises(InvalidImageError, match="model expects"):
        Explorer(model, np.zeros((3, 32, 32, 3), np.uint8))
    with pytest.raises(InvalidImageError, match="non-empty batch"):
        Explorer(model, np.zeros((0, 28, 28, 1), np.uint8))
    with pytest.raises(InvalidImageError, match="one label per image"):
        Explorer(model, images[:4], labels=[1, 2])
    with pytest.raises(ValueError, match="unknown tab"):
        explorer.widget("weights")


def test_snapshot_is_the_visible_tab(built, tmp_path):
    for name in TABS:
        built.tab = name
        built.wait()
        body = built.widget().snapshot()
        snap = built.snapshot()
        assert snap.dtype == np.uint8 and snap.shape[2] == 4
        assert snap.shape[1] >= body.shape[1] and snap.shape[0] > body.shape[0]
        # the widget's own snapshot sits at the bottom of the Explorer's
        np.testing.assert_array_equal(snap[-body.shape[0]:, : body.shape[1]], body)
    path = built.save_png(tmp_path / "explorer.png")
    assert path.exists() and path.stat().st_size > 1000


def test_a_model_without_conv_layers_still_gets_four_working_tabs():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(name="flat"),
                              keras.layers.Dense(3, activation="softmax", name="out")], name="tiny_dense")
    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 1)).astype(np.float32)
    explorer = Explorer(model, images)
    for name in TABS:
        explorer.widget(name)
    explorer.wait()
    assert explorer.saliency_overlay.method == "vanilla" and explorer.saliency_overlay.layer == ""
    explorer.image_index = 2
    explorer.layer = "out"
    explorer.class_index = 1
    explorer.wait()
    assert explorer.saliency_overlay.layer == ""
    assert explorer.filter_grid.layer == "out"
    assert explorer.occlusion_painter.target == explorer.saliency_overlay.class_index == 1
    for widget in (explorer.layer_browser, explorer.occlusion_painter, explorer.saliency_overlay):
        assert "cnnwidgets-error" not in widget.status.value, widget.status.value
