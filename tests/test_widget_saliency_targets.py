"""SaliencyOverlay beyond classification, at trait level: segmentation, regression, several outputs.

The overlay must show exactly what ``Inspector.explain`` returns for the
target written out here with :mod:`cnnwidgets.targets` (independently of the
widget's traits): a ``Region`` of the predicted mask or of the pixels painted
through the target panel's mouse handler, a ``Value`` with its sign, an
``Output`` of a several-output model. Models: the tank segmenter and locator
of ``cw.demo`` trained for two epochs, and a hand-built class head + box head.
"""

import html

import numpy as np
import pytest
import traitlets

keras = pytest.importorskip("keras")

import cnnwidgets as cw  # noqa: E402
from cnnwidgets.errors import InvalidTargetError  # noqa: E402
from cnnwidgets.targets import Output, Region, Value  # noqa: E402
from cnnwidgets.widgets.saliency_overlay import SaliencyOverlay  # noqa: E402

L = keras.layers
#: Parameters that keep the long methods quick (applied where a method has them).
FAST = {"samples": 4, "steps": 4, "masks": 64}


@pytest.fixture(scope="module")
def scenes():
    images, masks = cw.demo.tank_scenes(240, seed=0)
    return images, masks


@pytest.fixture(scope="module")
def segmenter(scenes):
    return cw.demo.train_tank_segmenter(*scenes, epochs=2)


@pytest.fixture(scope="module")
def locator(scenes):
    return cw.demo.train_tank_locator(epochs=2)


@pytest.fixture(scope="module")
def heads():
    keras.utils.set_random_seed(1)
    inp = keras.Input((12, 12, 3))
    x = L.Conv2D(6, 3, padding="same", activation="relu", name="conv")(L.Rescaling(1 / 255)(inp))
    pooled = L.GlobalAveragePooling2D()(L.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x))
    cls = L.Dense(3, activation="softmax", name="cls")(pooled)
    box = L.Dense(4, name="box")(pooled)
    return keras.Model(inp, [cls, box], name="two_heads")


def tank_scene(scenes):
    images, masks = scenes
    index = int(np.argmax(masks.sum(axis=(1, 2))))
    return images[index], masks[index]


@pytest.fixture
def seg_view(segmenter, scenes):
    view = SaliencyOverlay(segmenter, tank_scene(scenes)[0], class_names=cw.demo.scenes.SEGMENT_CLASS_NAMES)
    view.wait()
    yield view
    view.stop()
    view.wait()


def explained(view, target, method=None, **params):
    method = method or view.method
    spec = cw.get_method(method)
    return view.inspector.explain(view.image, method, target, layer=view.layer if spec.needs_layer else None,
                                  **{**view.method_params_of(method), **params})


def send(view, event, row, col):
    """A browser event over output pixel ``(row, col)`` of the target panel's mask (floats)."""
    panel = view.target_panel
    f = panel.mask_canvas.width / view.predicted_mask.shape[1]
    panel.mouse_layer._handle_frontend_event(None, {"event": event, "x": col * f, "y": row * f}, [])


def test_a_segmenter_explains_the_predicted_tank_area_beside_the_mask(seg_view):
    view = seg_view
    mask = view.inspector.predicted_mask(view.image)
    assert view.output_kind == "map" and view.target_panel is not None
    assert view.class_picker.layout.display == "none"
    assert view.target_panel in view._tabs.children[0].children  # beside the image, in the Overlay tab
    assert view.target == 1 and view.class_name == "tank"  # the class over the largest area, not background
    np.testing.assert_allclose(view.heatmap, explained(view, Output(0, Region(1, mask == 1))), rtol=1e-5, atol=1e-7)
    described = view.describe_target()
    assert described.startswith("tank over its predicted area")
    assert described in view._heat_view.title and described in view.status.value
    assert view.target_panel.mask_image.shape == (192, 192, 4)  # as large as the image beside it
    assert view.image_canvas.css_size == (192, 192)
    assert view.snapshot().shape[1] > 4 * 192  # image, mask, map, overlay


def test_a_dense_output_starts_on_a_pixel_method_whose_map_follows_the_region(seg_view):
    view = seg_view
    spec = cw.get_method(view.method)
    assert not spec.needs_layer and not spec.long  # the catalogue's first quick pixel method
    whole = view.heatmap.copy()
    corner = np.zeros(view.predicted_mask.shape, bool)
    corner[:3, :3] = True  # sky, far from the tank
    view.region = corner
    view.wait()
    assert not np.allclose(view.heatmap / np.abs(view.heatmap).max(), whole / np.abs(whole).max(), atol=1e-3)
    # A classifier still starts on the first quick layer method.
    clf = SaliencyOverlay(cw.demo.digits_model(), cw.demo.digits_samples()[0][0])
    assert cw.get_method(clf.method).needs_layer


def test_a_click_on_the_mask_and_a_painted_region_choose_what_is_explained(seg_view):
    view = seg_view
    mask = view.predicted_mask
    row, col = map(int, np.argwhere(mask == 0)[0])
    send(view, "mouse_down", row + 0.5, col + 0.5)
    send(view, "mouse_up", row + 0.5, col + 0.5)
    view.wait()
    assert view.class_index == 0 and view.region is None
    np.testing.assert_allclose(view.heatmap, explained(view, Output(0, Region(0, mask == 0))), rtol=1e-5, atol=1e-7)
    view.target_panel.class_buttons[1].click()
    view.target_panel.brush_size = 1
    send(view, "mouse_down", 20.5, 4.5)
    for col in (6.5, 9.5, 12.5):
        send(view, "mouse_move", 20.5, col)
    send(view, "mouse_up", 20.5, 12.5)
    view.wait()
    painted = np.zeros(mask.shape, bool)
    painted[20, 4:13] = True
    np.testing.assert_array_equal(view.region, painted)
    np.testing.assert_allclose(view.heatmap, explained(view, Output(0, Region(1, painted))), rtol=1e-5, atol=1e-7)
    assert "tank over its painted region (9 px)" in view.status.value
    view.target_panel.whole_button.click()
    view.wait()
    assert view.region is None and "predicted area" in view._heat_view.title


@pytest.mark.parametrize("method", [spec.name for spec in cw.methods()])
def test_every_catalogue_method_explains_a_region_through_the_widget(seg_view, scenes, method):
    view = seg_view
    region = tank_scene(scenes)[1]
    view.region = region
    params = {p.name: FAST[p.name] for p in cw.get_method(method).params if p.name in FAST}
    with view.hold_trait_notifications():
        view.method = method
    if params:
        view.method_params = params
    view.wait()
    assert view.heatmap.shape == view.image.shape[:2] and np.isfinite(view.heatmap).all()
    np.testing.assert_allclose(view.heatmap, explained(view, Output(0, Region(1, region))), rtol=1e-4, atol=1e-6)
    assert "error" not in view.status.value


def test_compare_by_class_compares_the_map_channels(seg_view):
    view = seg_view
    mask = view.predicted_mask
    assert view.compare_classes == [0, 1]  # by predicted area, largest first
    view.compare, view.compare_by = True, "class"
    view.wait()
    titles = [title for title, _ in view.compare_heatmaps]
    assert titles[0].startswith("background (") and "of the map" in titles[0]
    for (_, values), index in zip(view.compare_heatmaps, view.compare_classes):
        np.testing.assert_allclose(values, explained(view, Output(0, Region(index, mask == index))), rtol=1e-5,
                                   atol=1e-7)
    with pytest.raises(traitlets.TraitError, match="out of range for output 'probabilities'"):
        view.compare_classes = [2]


def test_a_regression_value_and_its_sign_through_the_panel(locator, scenes):
    view = SaliencyOverlay(locator, tank_scene(scenes)[0], output_kinds="values", method="gradient_x_input")
    view.wait()
    panel = view.target_panel
    values = view.inspector.predict_outputs(view.image)[0]
    assert view.output_kind == "values" and view.target == 0 and panel.rows.order == [0, 1]
    np.testing.assert_allclose(panel.rows.values, values, rtol=1e-6)
    np.testing.assert_allclose(view.heatmap, explained(view, Output(0, Value(0, 1))), rtol=1e-5, atol=1e-7)
    panel.rows.buttons[1].click()
    panel.sign_buttons.value = -1
    view.wait()
    assert (view.class_index, view.value_sign) == (1, -1)
    np.testing.assert_allclose(view.heatmap, explained(view, Output(0, Value(1, -1))), rtol=1e-5, atol=1e-7)
    assert "1 (down)" in view.status.value and view._image_view.title.startswith("Image \u00b7 0 = ")
    view.method_params = {"signed": True}
    view.wait()
    up = explained(view, Output(0, Value(1, 1)))
    np.testing.assert_allclose(view.heatmap, -up, rtol=1e-5, atol=1e-7)  # the sign flips a signed map


def test_several_outputs_pick_the_output_in_the_panel(heads):
    image = np.random.default_rng(0).uniform(0, 255, (12, 12, 3)).astype(np.float32)
    view = SaliencyOverlay(heads, image, method="vanilla")
    view.wait()
    panel = view.target_panel
    probabilities = view.inspector.predict_output(image, "cls")
    predicted = int(np.argmax(probabilities))
    assert view.output == "cls" and panel.output_menu.layout.display == ""
    assert view.explained_target == Output(0, predicted)
    np.testing.assert_allclose(view.heatmap, explained(view, Output(0, predicted)), rtol=1e-5, atol=1e-7)
    assert f"for {predicted} (p = {probabilities[predicted]:.3f}) of output 'cls'" in html.unescape(view.status.value)
    panel.output_menu.value = "box"
    view.wait()
    assert view.output_kind == "values" and view.class_index is None and view.compare_classes == [0, 1, 2]
    np.testing.assert_allclose(view.heatmap, explained(view, Output(1, Value(0, 1))), rtol=1e-5, atol=1e-7)
    view.compare_classes = [1, 3]
    view.compare, view.compare_by = True, "class"
    view.wait()
    for (title, values), index in zip(view.compare_heatmaps, [1, 3]):
        assert title.startswith(f"{index} = ")
        np.testing.assert_allclose(values, explained(view, Output(1, Value(index, 1))), rtol=1e-5, atol=1e-7)
    with pytest.raises(traitlets.TraitError, match="out of range for output 'box'"):
        view.compare_classes = [4]
    view.output = "cls"
    view.wait()
    assert view.compare_classes == [int(i) for i in np.argsort(-probabilities, kind="stable")]


def test_bad_input_is_refused_with_what_to_do_and_the_widget_keeps_working(seg_view, heads):
    view = seg_view
    shown = view.heatmap.copy()
    for name, value, words in (("region", np.ones((8, 8), bool), "must match"),
                               ("region", np.zeros((32, 32), bool), "empty"),
                               ("class_index", "tnak", "no class or value named"),
                               ("output", "mask", "no output named"),
                               ("value_sign", 0, "\\+1 or -1")):
        with pytest.raises(traitlets.TraitError, match=words):
            setattr(view, name, value)
    view.wait()
    np.testing.assert_array_equal(view.heatmap, shown)
    with pytest.raises(traitlets.TraitError, match="no output named"):
        SaliencyOverlay(heads, np.zeros((12, 12, 3), np.float32), output="boxes")


def test_a_backend_error_is_shown_in_the_status_line(seg_view, monkeypatch):
    view = seg_view

    def refuse(*args, **kwargs):
        raise InvalidTargetError("the mask has the wrong shape; pass one of (32, 32)")

    monkeypatch.setattr(view.inspector, "explain", refuse)
    view.class_index = 0
    view.wait()
    assert "wrong shape" in view.status.value and "Traceback" not in view.status.value
    assert "cnnwidgets-error" in view.status.value
    monkeypatch.undo()
    view.class_index = 1
    view.wait()
    assert "error" not in view.status.value


def test_the_latest_region_wins(seg_view):
    view = seg_view
    regions = []
    for row in range(4, 28, 4):
        region = np.zeros((32, 32), bool)
        region[row:row + 3, 8:20] = True
        regions.append(region)
        view.region = region
    view.wait()
    np.testing.assert_array_equal(view.region, regions[-1])
    np.testing.assert_allclose(view.heatmap, explained(view, Output(0, Region(1, regions[-1]))), rtol=1e-5, atol=1e-7)


def test_trust_panel_and_randomization_check_take_the_target_or_say_why_not(seg_view):
    view = seg_view
    view.trust.wait()
    if view.trust.results:  # the metrics measure the region's score
        assert view.trust.figure.axes[1].label == "score of the target"
        assert "predicted area" in view.trust.summary.value
    else:
        assert "cannot measure this target yet" in view.trust.summary.value
    view.cascade.steps = 2
    view.cascade.run()
    view.cascade.wait()
    if view.cascade.result is None:
        assert "cannot run for this target yet" in view.cascade.note.value
    else:
        assert "tank over its predicted area" in view.cascade.note.value
    view.class_index = 0
    view.wait()
    assert view.target == 0 and view.heatmap is not None and "error" not in view.status.value


def test_a_classifier_keeps_its_class_buttons():
    view = SaliencyOverlay(cw.demo.digits_model(), cw.demo.digits_samples()[0][3])
    view.wait()
    assert view.target_panel is None and view.class_picker.layout.display != "none"
    assert view.explained_target == view.predicted_class


def test_a_one_channel_sigmoid_segmenter_explains_its_foreground():
    keras.utils.set_random_seed(3)
    inp = keras.Input((16, 16, 3))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(L.Rescaling(1 / 255)(inp))
    model = keras.Model(inp, L.Conv2D(1, 1, activation="sigmoid", name="fg")(x))
    image = np.random.default_rng(3).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    view = SaliencyOverlay(model, image)
    view.wait()
    foreground = view.inspector.predict_output(image)[..., 0] > 0.5
    assert foreground.any() and view.target == 0
    np.testing.assert_allclose(view.heatmap, explained(view, Output(0, Region(0, foreground))), rtol=1e-5, atol=1e-7)
    assert f"0 over its predicted area ({foreground.sum()} px)" in view.status.value


def test_a_class_head_and_a_mask_head_switch_between_buttons_and_the_mask():
    keras.utils.set_random_seed(4)
    inp = keras.Input((16, 16, 3))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(L.Rescaling(1 / 255)(inp))
    cls = L.Dense(2, activation="softmax", name="cls")(L.GlobalAveragePooling2D()(x))
    seg = L.Conv2D(3, 1, activation="softmax", name="seg")(L.MaxPooling2D(2, name="pool")(x))
    model = keras.Model(inp, [cls, seg])
    image = np.random.default_rng(4).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    view = SaliencyOverlay(model, image, method="gradient_x_input")
    view.wait()
    panel = view.target_panel
    assert panel._map_box.layout.display == "none" and panel.rows.layout.display == ""
    panel.output_menu.value = "seg"
    view.wait()
    assert view.output_kind == "map" and panel._map_box.layout.display == "" and panel.rows.layout.display == "none"
    assert view.predicted_mask.shape == (8, 8) and len(panel.class_buttons) == 3
    panel.tool = "box"
    send(view, "mouse_down", 1.5, 2.5)
    send(view, "mouse_move", 3.5, 5.5)
    send(view, "mouse_up", 3.5, 5.5)
    view.wait()
    box = np.zeros((8, 8), bool)
    box[1:4, 2:6] = True
    np.testing.assert_array_equal(view.region, box)
    np.testing.assert_allclose(view.heatmap, explained(view, Output(1, Region(view.target, box))), rtol=1e-5,
                               atol=1e-7)
    view.output = "cls"
    view.wait()
    assert view.region is None and panel._map_box.layout.display == "none"
    np.testing.assert_allclose(view.heatmap, explained(view, Output(0, view.predicted_class)), rtol=1e-5, atol=1e-7)


def test_the_snapshot_shows_the_values_beside_the_image(heads):
    view = SaliencyOverlay(heads, np.full((12, 12, 3), 120, np.float32), output="box", method="vanilla")
    view.wait()
    snapshot = view.snapshot()
    zoom = view.image_canvas.zoom
    assert snapshot.shape[1] > 3 * 12 * zoom + 200  # image, values, map, overlay
    assert snapshot.dtype == np.uint8 and snapshot.shape[-1] == 4


def test_a_layer_on_another_heads_branch_gives_way_to_one_the_output_depends_on():
    keras.utils.set_random_seed(4)
    inp = keras.Input((16, 16, 3))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(L.Rescaling(1 / 255)(inp))
    cls = L.Dense(2, activation="softmax", name="cls")(L.GlobalAveragePooling2D(name="gap")(x))
    pooled = L.Conv2D(4, 3, padding="same", activation="relu", name="seg_conv")(L.MaxPooling2D(2, name="pool")(x))
    seg = L.Conv2D(3, 1, activation="softmax", name="seg")(pooled)
    model = keras.Model(inp, [cls, seg])
    image = np.random.default_rng(4).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    insp = cw.Inspector(model)
    assert insp.default_cam_layer.path == "seg_conv"  # on the mask head's branch: no gradient for "cls"
    view = SaliencyOverlay(insp, image, method="gradcam")
    view.wait()
    assert view.layer == "conv" and "error" not in view.status.value
    np.testing.assert_allclose(view.heatmap, explained(view, Output(0, view.predicted_class)), rtol=1e-5, atol=1e-7)
    view.output = "seg"
    view.wait()
    assert view.layer == "conv"  # it feeds the mask head too: kept
    view.layer = "seg_conv"
    view.wait()
    np.testing.assert_allclose(view.heatmap, explained(view, view.explained_target), rtol=1e-5, atol=1e-7)
    view.output = "cls"
    view.wait()
    assert view.layer == "conv" and "error" not in view.status.value
