"""Trait-level tests of the SaliencyOverlay widget (no browser).

The map a widget holds must be exactly what the inspector computes for its
settings, and the canvases must hold exactly the rendering of that map.
"""

import numpy as np
import pytest
import traitlets

keras = pytest.importorskip("keras")

import ipywidgets as widgets  # noqa: E402

import cnnwidgets as cw  # noqa: E402
from cnnwidgets import demo  # noqa: E402
from cnnwidgets.render import image_to_rgba, decode_image  # noqa: E402
from cnnwidgets.render.saliency import render_heatmap  # noqa: E402
from cnnwidgets.widgets.saliency_overlay import SaliencyOverlay  # noqa: E402

FAST = {"smoothgrad": dict(samples=4, noise=0.1), "integrated_gradients": dict(steps=6)}


@pytest.fixture(scope="module")
def digits():
    model = demo.digits_model()
    images, labels = demo.digits_samples()
    return model, images, labels


@pytest.fixture
def view(digits):
    model, images, _ = digits
    widget = SaliencyOverlay(model, images[42], class_names=demo.DIGIT_CLASS_NAMES)
    for method, params in FAST.items():
        widget.set_method_params(method, **params)
    widget.wait()
    yield widget
    widget.stop()
    widget.wait()


def expected_map(view, method=None, class_index=None, layer=None):
    """What the inspector computes for the widget's settings (the method's own parameters)."""
    method = method or view.method
    class_index = view.target if class_index is None else class_index
    layer = (layer or view.layer) if cw.get_method(method).needs_layer else None
    return view.inspector.explain(view.image, method, class_index, layer=layer, **view.method_params_of(method))


def expected_rendering(view, values, signed=None):
    signed = bool(view.method_params.get("signed", False)) if signed is None else signed
    return render_heatmap(image_to_rgba(view.image, view.inspector.input_range), values, view.colormap, signed,
                          view.clip_percentile, view.opacity)


def assert_shows(view, values):
    """The widget's map equals ``values`` and its canvases hold their rendering."""
    np.testing.assert_allclose(view.heatmap, values, rtol=1e-6, atol=0)
    rendering = expected_rendering(view, values)
    np.testing.assert_array_equal(view.heatmap_canvas.image, rendering.heat)
    np.testing.assert_array_equal(view.overlay_canvas.image, rendering.overlay)
    assert view.heatmap_limits == rendering.limits


def test_default_is_grad_cam_of_the_predicted_class_at_the_last_conv_layer(view, digits):
    _, images, _ = digits
    assert view.method == "gradcam"
    assert view.layer == "conv3" == view.inspector.default_cam_layer.path
    # class_index None: the predicted class is explained (and follows a new image)
    assert view.class_index is None
    assert view.target == view.predicted_class == int(np.argmax(view.inspector.predict(images[42])))
    assert view.heatmap.shape == (28, 28) and view.heatmap.dtype == np.float32
    assert_shows(view, expected_map(view))
    np.testing.assert_array_equal(view.image_canvas.image, image_to_rgba(images[42]))
    assert "Grad-CAM" in view.status.value


SIGNED_CASES = [(spec.name, signed) for spec in cw.methods() for signed in (False, True)
                if not signed or "signed" in spec.defaults]


@pytest.mark.parametrize("method, signed", SIGNED_CASES)
def test_map_and_canvases_equal_the_backend_for_every_method(view, method, signed):
    view.method = method
    if signed:
        view.method_params = {"signed": True}
    view.wait()
    assert view.method_params == view.method_params_of(method)
    assert_shows(view, expected_map(view))
    if signed:
        low, high = view.heatmap_limits
        assert low == -high < 0  # a diverging map centred on zero
        assert view.colormap == "RdBu_r"
    else:
        lowest, top = np.abs(view.heatmap).min(), view.heatmap_limits[1]
        assert view.heatmap_limits[0] == (pytest.approx(lowest) if lowest >= 0.01 * top else 0.0)  # a floor if far from 0
        assert view.colormap == "turbo"


def test_method_parameters_reach_the_backend(view):
    view.method = "smoothgrad"
    view.method_params = {"samples": 6, "noise": 0.2}
    view.wait()
    assert view.method_params == {"samples": 6, "noise": 0.2, "seed": 0, "signed": False}
    assert_shows(view, expected_map(view))
    view.method = "integrated_gradients"
    for baseline in ("black", "blur", "gray"):
        view.method_params = {"baseline": baseline, "steps": 5}
        view.wait()
        assert_shows(view, expected_map(view))
    custom = np.full((28, 28, 1), 64, np.uint8)
    view.method_params = {"baseline": custom}  # an image baseline, from code
    view.wait()
    assert isinstance(view.method_params["baseline"], np.ndarray)
    assert_shows(view, view.inspector.explain(view.image, "integrated_gradients", view.target, steps=5,
                                              baseline=custom))
    menu = view._param_controls["integrated_gradients"].controls["baseline"]
    assert [label for label, _ in menu.options][-1] == "image (set in code)" and menu.label == "image (set in code)"
    assert view._param_controls["integrated_gradients"].values()["baseline"] is view.method_params["baseline"]
    menu.value = "gray"  # picking a named baseline in the menu replaces the image
    view.wait()
    assert view.method_params["baseline"] == "gray"
    view.method = "smoothgrad"  # each method keeps its own parameters
    assert view.method_params["samples"] == 6


def test_switching_class_redraws(view):
    before = view.overlay_canvas.image.copy()
    other = int(view.class_picker.order[1])
    view.class_index = other
    view.wait()
    assert_shows(view, expected_map(view, class_index=other))
    assert not np.array_equal(before, view.overlay_canvas.image)
    assert view.class_picker.buttons[1].button_style == "primary"
    assert view.class_picker.buttons[0].button_style == ""
    assert view.class_picker.chooser.value == demo.DIGIT_CLASS_NAMES[other]


def test_class_buttons_and_name_box_pick_the_class(view):
    third = view.class_picker.order[2]
    view.class_picker.buttons[2].click()
    view.wait()
    assert view.class_index == third
    assert_shows(view, expected_map(view))
    view.class_picker.chooser.value = "7"  # what the browser sends when a name is chosen
    view.wait()
    assert view.class_index == 7 and view.class_name == "7"
    assert_shows(view, expected_map(view, class_index=7))
    view.class_name = "2"
    assert view.class_index == 2
    view.class_index = "5"  # a name works too; None is the predicted class
    assert view.class_index == 5
    view.class_index = None
    assert view.class_index is None and view.target == int(np.argmax(view.probabilities))
    with pytest.raises(traitlets.TraitError):
        view.predicted_class = 1  # read-only
    # the buttons show the top classes with their probabilities
    probabilities = view.probabilities
    top = view.class_picker.order
    assert top == list(np.argsort(-probabilities, kind="stable")[:5])
    assert view.class_picker.buttons[0].description.startswith(f"{top[0]} \u00b7 ")


def test_switching_method_redraws(view):
    before = view.overlay_canvas.image.copy()
    view.method = "vanilla"
    view.wait()
    assert not np.array_equal(before, view.overlay_canvas.image)
    assert_shows(view, expected_map(view))
    view._method_menu.value = "gradcam_plus_plus"  # the dropdown is linked to the trait
    view.wait()
    assert view.method == "gradcam_plus_plus"
    assert_shows(view, expected_map(view))


def test_layer_chooser_lists_every_spatial_layer(view):
    spatial = [r.path for r in view.inspector.spatial_layers if not r.is_model]
    assert view.cam_layers == spatial == ["rescale", "conv1", "pool1", "conv2", "pool2", "conv3"]
    assert [value for _, value in view._layer_menu.options] == spatial
    view.layer = "conv2"
    view.wait()
    assert_shows(view, expected_map(view, layer="conv2"))
    with pytest.raises(traitlets.TraitError, match="not \\(H, W, C\\)"):
        view.layer = "dense1"
    with pytest.raises(traitlets.TraitError, match="did you mean"):
        view.layer = "conv_3"
    assert view.layer == "conv2"


def test_display_settings_redraw_without_recomputing(view):
    view.wait()
    runs = view._runner.runs
    values = view.heatmap.copy()
    view.opacity = 0.9
    view.colormap = "viridis"
    view.clip_percentile = 90.0
    view.wait()
    assert view._runner.runs == runs
    assert_shows(view, values)
    with pytest.raises(traitlets.TraitError, match="unknown colormap"):
        view.colormap = "not-a-colormap"
    with pytest.raises(traitlets.TraitError, match="between 50 and 100"):
        view.clip_percentile = 20


def test_bad_values_are_refused_with_a_message(view):
    with pytest.raises(traitlets.TraitError, match="out of range"):
        view.class_index = 10
    with pytest.raises(traitlets.TraitError, match="unknown class 'cat'"):
        view.class_index = "cat"
    with pytest.raises(traitlets.TraitError, match="class index, a class name or None"):
        view.class_index = 2.5
    with pytest.raises(traitlets.TraitError, match="28, 28"):
        view.image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(traitlets.TraitError, match="unknown explanation method 'lime'.*scorecam"):
        view.method = "lime"
    with pytest.raises(traitlets.TraitError, match="did you mean 'gradcam_plus_plus'"):
        view.method = "gradcam_plus_plu"
    with pytest.raises(traitlets.TraitError, match="takes no parameter 'samples'"):
        view.method_params = {"samples": 3}  # Grad-CAM has no samples
    assert "takes no parameter &#x27;samples&#x27;" in view.status.value  # the catalogue's message, shown too
    view.method = "smoothgrad"
    with pytest.raises(traitlets.TraitError, match="noise must be at most 1"):
        view.method_params = {"noise": 3.0}
    assert view.method_params["noise"] == 0.1  # unchanged
    with pytest.raises(TypeError, match="method_params="):
        SaliencyOverlay(view.inspector, view.image, samples=4)
    view.wait()
    assert_shows(view, expected_map(view))  # still working


def test_latest_request_wins(view):
    view.method = "smoothgrad"
    for index in range(10):
        view.class_index = index
    view.wait()
    assert view.class_index == 9
    assert_shows(view, expected_map(view, class_index=9))


def test_stop_cancels_a_slow_method(view):
    view.method = "vanilla"
    view.wait()
    vanilla = expected_map(view)
    # SmoothGrad with 500 noisy copies of 4 seeds: a second or more even on this small model
    view.set_method_params("smoothgrad", samples=500, seed=7)
    view.method = "smoothgrad"
    assert view._stop_button.layout.display == ""  # a long method: Stop is shown
    view.stop()
    view.wait()
    assert "Stopped" in view.status.value
    np.testing.assert_allclose(view.heatmap, vanilla, rtol=1e-6)  # the previous map stays shown
    view.method_params = {"samples": 3}  # any change computes again
    view.wait()
    assert view.method == "smoothgrad"
    assert_shows(view, expected_map(view))


def test_progress_is_reported_for_slow_methods(view):
    seen = []
    view.progress.observe(lambda change: seen.append(change.new), names="value")
    view.set_method_params("smoothgrad", samples=40)
    view.method = "smoothgrad"
    view.wait()
    assert seen and max(seen) == pytest.approx(1.0)


def test_hover_shows_the_value_under_the_pointer(view):
    values = view.heatmap
    row, column = np.unravel_index(np.argmax(values), values.shape)
    view.overlay_canvas._handle_frontend_event(None, {"event": "mouse_move", "x": column + 0.5, "y": row + 0.3}, [])
    assert f"x={column}, y={row}" in view.hover_label.value
    assert f"{values[row, column]:.4g}" in view.hover_label.value
    view.overlay_canvas._handle_frontend_event(None, {"event": "mouse_out", "x": 0, "y": 0}, [])
    assert view.hover_label.value == ""


def test_compare_methods_classes_and_layers(view):
    view.compare_methods = ["vanilla", "integrated_gradients", "gradcam"]
    view.compare = True
    view.wait()
    assert view._tabs.selected_index == 1
    assert all(canvas.layout.width == "280px" for canvas in view.compare_canvases)  # three fit in one row
    titles = [title for title, _ in view.compare_heatmaps]
    assert titles == ["Vanilla gradient", "Integrated Gradients", "Grad-CAM"]
    for (title, values), canvas, method in zip(view.compare_heatmaps, view.compare_canvases,
                                               ["vanilla", "integrated_gradients", "gradcam"]):
        np.testing.assert_allclose(values, expected_map(view, method=method), rtol=1e-6)
        expected = expected_rendering(view, values, signed=False)
        np.testing.assert_array_equal(canvas.image, expected.overlay)

    view.compare_by = "class"
    view.compare_classes = [3, 8]
    view.wait()
    assert len(view.compare_canvases) == 2
    for (title, values), index in zip(view.compare_heatmaps, [3, 8]):
        assert title.startswith(f"{index} (")
        np.testing.assert_allclose(values, expected_map(view, class_index=index), rtol=1e-6)
    assert view._compare_class_menu.value == (3, 8)

    view.compare_by = "layer"
    view._compare_layer_menu.value = ("conv1", "conv3")  # picked in the multi-select
    view.wait()
    assert view.compare_layers == ["conv1", "conv3"]
    for (title, values), layer in zip(view.compare_heatmaps, ["conv1", "conv3"]):
        assert layer in title
        np.testing.assert_allclose(values, expected_map(view, method="gradcam", layer=layer), rtol=1e-6)

    before = [canvas.image.copy() for canvas in view.compare_canvases]
    view.class_index = int(view.class_picker.order[1])
    view.wait()
    assert any(not np.array_equal(b, c.image) for b, c in zip(before, view.compare_canvases))
    snapshot = view.snapshot()
    assert snapshot.shape[1] > 2 * 280 and snapshot.dtype == np.uint8

    view._tabs.selected_index = 0  # the Overlay tab leaves compare mode
    assert view.compare is False


def test_image_and_class_link_with_another_widget(view, digits):
    model, images, _ = digits
    other = SaliencyOverlay(model, images[0], method="vanilla")
    other.wait()
    image_link = widgets.link((view, "image"), (other, "image"))
    class_link = widgets.link((view, "class_index"), (other, "class_index"))
    try:
        view.image = images[77]
        view.wait()
        other.wait()
        np.testing.assert_array_equal(other.image, images[77].astype(np.float32))
        predicted = int(np.argmax(view.inspector.predict(images[77])))
        assert view.class_index is other.class_index is None  # the class follows the new prediction
        assert view.target == other.target == view.predicted_class == predicted
        np.testing.assert_array_equal(other.image_canvas.image, image_to_rgba(images[77]))
        assert_shows(other, expected_map(other))
        assert_shows(view, expected_map(view))
        other.image = images[5]  # and the other way round
        other.class_index = 4
        view.wait()
        other.wait()
        np.testing.assert_array_equal(view.image, images[5].astype(np.float32))
        assert view.class_index == 4
        assert_shows(view, expected_map(view, class_index=4))
    finally:
        image_link.unlink()
        class_link.unlink()
    assert other.inspector is view.inspector  # one model, one shared inspector


def test_links_with_the_occlusion_painter(view, digits):
    from cnnwidgets.widgets.occlusion_painter import OcclusionPainter

    model, images, _ = digits
    painter = OcclusionPainter(model, images[42], class_names=demo.DIGIT_CLASS_NAMES)
    image_link = widgets.link((painter, "image"), (view, "image"))
    class_link = widgets.link((painter, "class_index"), (view, "class_index"))
    try:
        painter.image = images[61]
        view.wait()
        np.testing.assert_array_equal(view.image, images[61].astype(np.float32))
        predicted = int(np.argmax(view.inspector.predict(images[61])))
        assert view.class_index is None and view.target == predicted  # None: the predicted class, in both
        painter.class_index = 3
        view.wait()
        assert view.class_index == 3
        assert_shows(view, expected_map(view, class_index=3))
        view.class_index = 5
        view.image = images[12]
        assert painter.class_index == 5
        np.testing.assert_array_equal(painter.image, images[12].astype(np.float32))
    finally:
        image_link.unlink()
        class_link.unlink()
        painter.stop()
        painter.wait()


def test_chosen_class_stays_when_the_image_changes(view, digits):
    _, images, _ = digits
    view.class_index = 3
    view.image = images[90]
    view.wait()
    assert view.class_index == 3
    assert_shows(view, expected_map(view, class_index=3))


def test_snapshot_and_save_png(view, tmp_path):
    snapshot = view.snapshot()
    assert snapshot.dtype == np.uint8 and snapshot.ndim == 3 and snapshot.shape[-1] == 4
    assert snapshot.shape[1] >= 3 * 280  # three panels enlarged to 280 px
    path = view.save_png(tmp_path / "saliency.png")
    decoded = decode_image(path.read_bytes() if hasattr(path, "read_bytes") else open(path, "rb").read())
    assert decoded.shape[:2] == snapshot.shape[:2]


def test_panels_are_enlarged_with_crisp_pixels(view):
    for canvas in (view.image_canvas, view.heatmap_canvas, view.overlay_canvas):
        assert (canvas.width, canvas.height) == (28, 28)  # the image's own pixels travel
        assert canvas.layout.width == "280px" and canvas.layout.height == "280px"
        assert "cnnwidgets-crisp" in canvas._dom_classes
    assert "image-rendering: pixelated" in view.children[0].value


def test_model_without_spatial_layer_disables_cam_methods():
    flat = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    images, _ = demo.digits_samples()
    view = SaliencyOverlay(flat, images[0], method="gradcam")  # asked for, not available: no failure
    view.wait()
    assert view.method == "vanilla"  # the catalogue's first quick method
    layerless = [spec.name for spec in cw.methods() if not spec.needs_layer]
    assert list(view.available_methods) == layerless and "gradcam" not in layerless
    assert [value for _, value in view._method_menu.options] == layerless
    assert view._layer_menu.disabled and view.cam_layers == []
    assert "spatial" in view.status.value
    np.testing.assert_allclose(view.heatmap, view.inspector.saliency(images[0], view.target), rtol=1e-6)
    view.method = "gradcam_plus_plus"
    assert view.method == "vanilla"
    assert "Grad-CAM++ is not available" in view.status.value and "spatial" in view.status.value
    view.method = "rise"  # a perturbation method needs no layer
    view.wait()
    np.testing.assert_allclose(view.heatmap, view.inspector.explain(images[0], "rise", view.target),
                               rtol=1e-6)
    view.compare_by = "layer"
    view.compare = True
    view.wait()
    assert view.compare_heatmaps == []
    with pytest.raises(traitlets.TraitError, match="cannot compare"):
        view.compare_methods = ["gradcam"]


def test_nested_model_layers_are_listed_and_used():
    inner = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="inner_conv"),
    ], name="backbone")
    outer = keras.Sequential([
        keras.Input((16, 16, 3)),
        inner,
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(3, name="logits"),
    ])
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    view = SaliencyOverlay(outer, image)
    view.wait()
    assert "backbone/inner_conv" in view.cam_layers
    assert view.layer == "backbone/inner_conv"
    np.testing.assert_allclose(view.heatmap, view.inspector.gradcam(image, view.target,
                                                                    layer="backbone/inner_conv"), rtol=1e-6)
    assert view.image_canvas.layout.width == "272px"  # 16 px x 17


def test_class_zero_button_is_marked_from_the_start(digits):
    model, images, labels = digits[0], digits[1], digits[2]
    zero = images[int(np.flatnonzero(labels == 0)[0])]
    view = SaliencyOverlay(model, zero)
    view.wait()
    assert view.target == 0
    marked = [b for b in view.class_picker.buttons if b.button_style == "primary"]
    assert len(marked) == 1 and marked[0].description.startswith("0 ")


def test_legend_follows_a_new_image_size():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    rng = np.random.default_rng(0)
    view = SaliencyOverlay(model, rng.integers(0, 255, (16, 16, 3)).astype(np.uint8))
    view.wait()
    heat_width = view.heatmap_canvas.layout.width
    assert view._legend_labels.layout.width == heat_width
    assert view._legend_canvas.image.shape[1] == int(heat_width[:-2])
