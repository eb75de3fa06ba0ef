"""OcclusionPainter beyond classifiers: segmentation, regression and several-output models, at trait level.

Every expected score is computed here without the widget: the occluded image
is built by hand (a grey box is the middle of the 0-255 range) and the Keras
model is called directly; the sweep is a brute-force loop over the square's
positions. Mouse events are delivered as the browser sends them.
"""

import time

import numpy as np
import pytest
import traitlets

keras = pytest.importorskip("keras")

import cnnwidgets as cw  # noqa: E402
from cnnwidgets.targets import Output, Region, Value  # noqa: E402
from cnnwidgets.widgets.common.charts import ClassScoresChart, signed_range  # noqa: E402
from cnnwidgets.widgets.occlusion_painter import OcclusionPainter  # noqa: E402
from cnnwidgets.render import image_to_rgba  # noqa: E402
from cnnwidgets.render.masks import mask_rgba  # noqa: E402
from cnnwidgets.widgets.occlusion_painter.outputs import region_means, vector_order  # noqa: E402
from cnnwidgets.widgets.occlusion_painter.target_view import mask_view_scale  # noqa: E402

L = keras.layers
H = W = 12
GRAY = 127.5


def send(layer, event, x=0.0, y=0.0):
    """Deliver one browser event to an ipycanvas layer, as the frontend sends it."""
    layer._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])


def drag_to(painter, row, col):
    """Press and release the mouse over image pixel (row, col) in square mode."""
    f = painter.canvas.factor
    x, y = (col + 0.5) * f, (row + 0.5) * f
    send(painter.canvas.mouse_layer, "mouse_down", x, y)
    send(painter.canvas.mouse_layer, "mouse_up", x, y)
    painter.wait()


def occluded(image, box):
    y0, x0, y1, x1 = box
    out = np.array(image, np.float32, copy=True)
    out[y0:y1, x0:x1] = GRAY
    return out


def run(model, image):
    """The Keras model's outputs for one image, as a list of numpy arrays (the reference)."""
    outputs = model(np.asarray(image, np.float32)[None], training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(o)[0].astype(np.float64) for o in outputs]


@pytest.fixture(scope="module")
def tiny():
    """A softmax segmenter and a class-head + box-head model on 12x12x1 images (hand-built, seeded)."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((H, W, 1))
    x = L.Conv2D(6, 3, padding="same", activation="relu", name="conv")(L.Rescaling(1 / 255)(inp))
    seg = keras.Model(inp, L.Conv2D(3, 1, activation="softmax", name="seg")(x), name="tiny_seg")
    pooled = L.GlobalAveragePooling2D()(L.Conv2D(6, 3, activation="relu", name="conv_b")(x))
    heads = keras.Model(inp, [L.Dense(3, activation="softmax", name="cls")(pooled), L.Dense(4, name="box")(pooled)],
                        name="two_heads")
    image = np.random.default_rng(0).uniform(0, 255, (H, W, 1)).astype(np.float32)
    return seg, heads, image


@pytest.fixture(scope="module")
def locator():
    images, masks = cw.demo.tank_scenes(24, tank_share=1.0, seed=5)
    return cw.demo.train_tank_locator(images, masks, epochs=2), images


# ================================================================ helpers
def test_signed_range_holds_zero_and_every_value():
    assert signed_range([0.2, -0.1], [0.5]) == (-0.16, 0.56)
    assert signed_range([2.0, 3.0]) == (0.0, 3.3)
    assert signed_range([0.0], None) == (-1.0, 1.0)


def test_the_chart_keeps_its_probability_axis_and_draws_signed_values_on_request():
    chart = ClassScoresChart(top_k=3)
    chart.update([0.1, 0.7, 0.2], ["a", "b", "c"], reference=[0.2, 0.6, 0.2], highlight=1)
    assert (chart._y_scale.min, chart._y_scale.max) == (0.0, 1.0) and not chart.signed
    assert chart.names == ["b", "a", "c"]
    chart.update([0.4, -0.3], ["x", "y"], reference=[0.5, 0.1], highlight=1, order=[0, 1], signed=True,
                 title="values")
    assert chart.signed and chart._y_scale.min < -0.3 and chart._y_scale.max > 0.5
    assert chart.figure.title == "values" and chart.snapshot().shape[1] == 320
    chart.update([0.1, 0.9], ["a", "b"])
    assert (chart._y_scale.min, chart._y_scale.max) == (0.0, 1.0)


def test_the_mask_view_is_sent_small_and_enlarged_by_the_browser():
    assert mask_view_scale(32) == (2, 3.0)  # 64 canvas pixels shown at 192
    assert mask_view_scale(12) == (2, 8.0)
    assert mask_view_scale(128) == (1, 1.0)
    assert mask_view_scale(384) == (1, 0.5)


def test_region_means_and_vector_order():
    scores = np.arange(2 * 2 * 2, dtype=float).reshape(2, 2, 2)
    region = np.array([[True, False], [False, True]])
    np.testing.assert_allclose(region_means(scores, region), [(0 + 6) / 2, (1 + 7) / 2])
    np.testing.assert_allclose(region_means(scores, np.zeros((2, 2), bool)), scores.reshape(4, 2).mean(0))
    assert vector_order(8, 6, 3) == [0, 1, 6] and vector_order(2, 1, 5) == [0, 1]


# ============================================================ regression
def test_a_regression_painter_shows_values_and_their_change(locator):
    model, images = locator
    painter = OcclusionPainter(model, images[0], output_kinds="values", patch=10)
    painter.wait()
    clean = run(model, images[0])[0]
    assert painter.output_kind == "values" and painter.probabilities is None
    assert painter.uncovered_score == pytest.approx(clean[0], abs=1e-5) == painter.score
    assert painter.chart.signed and painter.chart.names == ["0", "1"]
    np.testing.assert_allclose(painter.chart.values, clean, atol=1e-5)
    panel = painter.target_panel
    assert panel.sign_buttons.layout.display != "none" and panel.output_menu.layout.display == "none"
    assert painter.class_dropdown.layout.display == "none"  # the panel chooses the value

    drag_to(painter, 8, 20)
    box = painter.box
    expected = run(model, occluded(images[0], box))[0]
    insp = painter.inspector
    assert painter.score == pytest.approx(expected[0], abs=1e-5)
    assert painter.score == pytest.approx(insp.target_score(painter.occluded_image, Output(0, Value(0))), abs=1e-6)
    np.testing.assert_allclose(painter.occluded_output, expected, atol=1e-5)
    np.testing.assert_allclose(painter.chart.reference, clean, atol=1e-5)
    assert f"change {expected[0] - clean[0]:+.4g}" in painter.target_label.value
    np.testing.assert_allclose(panel.rows.values, expected, atol=1e-5)  # the panel lists the occluded values
    np.testing.assert_allclose(panel.rows.reference, clean, atol=1e-5)

    panel.rows.buttons[panel.rows.order.index(1)].click()  # as the browser clicks the value's name
    panel.sign_buttons.value = -1
    painter.wait()
    assert painter.class_index == 1 and painter.explained_target == Output(0, Value(1, -1))
    assert painter.score == pytest.approx(-expected[1], abs=1e-5)
    assert painter.uncovered_score == pytest.approx(-clean[1], abs=1e-5)
    snap = painter.snapshot()
    assert snap.ndim == 3 and snap.shape[-1] == 4


def test_a_regression_sweep_equals_a_brute_force_loop(locator):
    model, images = locator
    painter = OcclusionPainter(model, images[1], output_kinds="values", class_index=1)
    heat = painter.sweep(patch=8, stride=8)
    clean = run(model, images[1])[0][1]
    expected = np.zeros((32, 32))
    for y in range(0, 32, 8):
        for x in range(0, 32, 8):
            expected[y:y + 8, x:x + 8] = clean - run(model, occluded(images[1], (y, x, y + 8, x + 8)))[0][1]
    np.testing.assert_allclose(heat, expected, atol=1e-4)
    assert "Drop of centre[1]" in painter.legend_caption.value


# ========================================================== segmentation
def test_a_segmenter_watches_a_region_of_a_class(tiny):
    seg, _, image = tiny
    painter = OcclusionPainter(seg, image, class_names=["sky", "ground", "tank"], patch=4)
    painter.wait()
    assert painter.output_kind == "map" and painter._mask_column.layout.display != "none"
    painter.class_index = "tank"
    region = np.zeros((H, W), bool)
    region[3:9, 4:10] = True
    painter.region = region  # (tests/test_widget_target_panel.py drives the panel's brush and box)
    painter.box = (2, 2, 8, 8)
    painter.wait()
    clean, covered = run(seg, image)[0], run(seg, occluded(image, (2, 2, 8, 8)))[0]
    assert painter.uncovered_score == pytest.approx(clean[..., 2][region].sum(), rel=1e-5)
    assert painter.score == pytest.approx(covered[..., 2][region].sum(), rel=1e-5)
    np.testing.assert_allclose(painter.occluded_output, covered, atol=1e-5)
    np.testing.assert_allclose(painter.chart.values, covered[region].mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(painter.chart.reference, clean[region].mean(axis=0), atol=1e-5)
    assert not painter.chart.signed  # a softmax map: mean probabilities on a 0-1 axis
    # the mask view shows the mask predicted under the occluder, with the region outlined
    factor = painter.mask_canvas.image.shape[0] // H
    assert factor == 2 and painter.mask_canvas.css_size == (192, 192)
    picture = image_to_rgba(occluded(image, (2, 2, 8, 8)), (0, 255))
    expected_view = mask_rgba(np.argmax(covered, axis=-1), 3, picture, region, factor)
    np.testing.assert_array_equal(painter.mask_canvas.image, expected_view)
    assert "summed over 36 px" in painter.target_label.value
    assert len(painter._snapshot_panels()) == 4  # image, panel mask, occluded mask, chart
    # a painted occluder of any shape
    painter.mode = "paint"
    painted = np.zeros((H, W), bool)
    painted[0:5, 6:12] = True
    painter.mask = painted
    painter.wait()
    by_hand = np.array(image, copy=True)
    by_hand[painted] = GRAY
    assert painter.score == pytest.approx(run(seg, by_hand)[0][..., 2][region].sum(), rel=1e-5)


def test_the_default_region_is_the_predicted_area_of_the_predicted_class(tiny):
    seg, _, image = tiny
    painter = OcclusionPainter(seg, image)
    painter.wait()
    mask = np.argmax(run(seg, image)[0], axis=-1)
    target = painter.explained_target.target
    assert isinstance(target, Region) and target.class_index == painter.predicted_class
    np.testing.assert_array_equal(target.mask, mask == painter.predicted_class)


def test_a_one_channel_sigmoid_segmenter_watches_its_foreground():
    keras.utils.set_random_seed(3)
    inp = keras.Input((H, W, 1))
    x = L.Conv2D(4, 3, padding="same", activation="relu")(L.Rescaling(1 / 255)(inp))
    model = keras.Model(inp, L.Conv2D(1, 1, activation="sigmoid", name="fg")(x))
    image = np.random.default_rng(4).uniform(0, 255, (H, W, 1)).astype(np.float32)
    painter = OcclusionPainter(model, image, patch=4)
    painter.box = (4, 4, 8, 8)
    painter.wait()
    clean, covered = run(model, image)[0][..., 0], run(model, occluded(image, (4, 4, 8, 8)))[0][..., 0]
    foreground = clean > 0.5
    assert painter.target == 0 and np.array_equal(painter.region_mask, foreground)
    assert painter.score == pytest.approx(covered[foreground].sum(), rel=1e-5)
    assert painter.uncovered_score == pytest.approx(clean[foreground].sum(), rel=1e-5)
    assert "error" not in painter.status.value and painter.mask_canvas.image.any()


def test_a_region_sweep_equals_a_brute_force_loop(tiny):
    seg, _, image = tiny
    painter = OcclusionPainter(seg, image, class_index=1)
    region = np.zeros((H, W), bool)
    region[6:, :5] = True
    painter.region = region
    patch, stride = 4, 3
    heat = painter.sweep(patch=patch, stride=stride)
    clean = run(seg, image)[0][..., 1][region].sum()
    starts = [0, 3, 6, 8]  # every stride, the last flush with the edge
    total, count = np.zeros((H, W)), np.zeros((H, W))
    for y in starts:
        for x in starts:
            box = (y, x, y + patch, x + patch)
            total[y:y + patch, x:x + patch] += clean - run(seg, occluded(image, box))[0][..., 1][region].sum()
            count[y:y + patch, x:x + patch] += 1
    np.testing.assert_allclose(heat, total / count, rtol=1e-4, atol=1e-4)
    assert "summed over its painted region (30 px)" in painter.legend_caption.value


def test_a_storm_of_moves_on_a_segmenter_computes_only_the_latest(tiny):
    seg, _, image = tiny

    class SlowInspector(cw.Inspector):
        """Each occlusion takes 30 ms more, like a large model."""

        calls = 0

        def occlude(self, *args, **kwargs):
            type(self).calls += 1
            time.sleep(0.03)
            return super().occlude(*args, **kwargs)

    painter = OcclusionPainter(SlowInspector(seg), image, patch=3)
    painter.wait()
    layer, f = painter.canvas.mouse_layer, painter.canvas.factor
    points = np.random.default_rng(2).uniform(0, H * f, size=(300, 2))
    send(layer, "mouse_down", *points[0])
    for x, y in points:
        send(layer, "mouse_move", x, y)
    painter.wait()
    assert 1 <= SlowInspector.calls <= 25, SlowInspector.calls
    box = painter.box
    assert painter.score == pytest.approx(
        run(seg, occluded(image, box))[0][..., painter.target][painter.region_mask].sum(), rel=1e-5)


# ============================================================ several outputs
def test_the_output_picker_switches_between_a_class_head_and_a_box_head(tiny):
    _, heads, image = tiny
    painter = OcclusionPainter(heads, image, class_names=["cat", "dog", "car"], patch=5)
    painter.wait()
    menu = painter.target_panel.output_menu
    assert [value for _, value in menu.options] == ["cls", "box"] and menu.layout.display != "none"
    clean_cls, clean_box = run(heads, image)
    assert painter.output_kind == "classes" and painter.predicted_class == int(np.argmax(clean_cls))
    np.testing.assert_allclose(painter.probabilities, clean_cls, atol=1e-5)
    assert not painter.chart.signed

    painter.box = (0, 0, 6, 6)
    menu.value = "box"  # as the browser picks it
    painter.wait()
    covered_cls, covered_box = run(heads, occluded(image, (0, 0, 6, 6)))
    assert painter.output == "box" and painter.output_kind == "values" and painter.class_index is None
    assert painter.chart.signed and painter.probabilities is None and painter.chart.names == ["0", "1", "2", "3"]
    assert painter.score == pytest.approx(covered_box[0], abs=1e-5)
    painter.class_index = 3
    painter.wait()
    assert painter.score == pytest.approx(covered_box[3], abs=1e-5)
    assert painter.uncovered_score == pytest.approx(clean_box[3], abs=1e-5)

    painter.output = "cls"
    painter.class_index = "dog"
    painter.wait()
    assert painter.score == pytest.approx(covered_cls[1], abs=1e-5)
    np.testing.assert_allclose(painter.probabilities, covered_cls, atol=1e-5)
    assert painter.explained_target == Output(0, 1)
    assert "p(<b>dog</b>)" in painter.target_label.value


# ================================================================ bad input
def test_bad_input_gets_typed_errors_and_the_painter_keeps_working(tiny):
    seg, heads, image = tiny
    painter = OcclusionPainter(heads, image, patch=4)
    painter.wait()
    for name, value, words in (("output", "nope", "no output named"), ("class_index", 7, "out of range"),
                               ("class_index", "zebra", "no class or value named"), ("value_sign", 0, r"\+1 or -1"),
                               ("region", np.ones((H, W), bool), "dense output")):
        with pytest.raises(traitlets.TraitError, match=words):
            setattr(painter, name, value)
    with pytest.raises(traitlets.TraitError, match="no output named 'nope'"):
        OcclusionPainter(heads, image, output="nope")
    segmenter = OcclusionPainter(seg, image)
    for bad, words in ((np.ones((3, 3), bool), "must match"), (np.zeros((H, W), bool), "empty")):
        with pytest.raises(traitlets.TraitError, match=words):
            segmenter.region = bad
    with pytest.raises(traitlets.TraitError, match="image"):
        painter.image = np.zeros((5, 5, 1))
    # still working: a move gives the model's answer
    painter.output = "box"
    painter.box = (4, 4, 8, 8)
    painter.wait()
    assert painter.score == pytest.approx(run(heads, occluded(image, (4, 4, 8, 8)))[1][0], abs=1e-5)
    assert "error" not in painter.status.value


def test_new_weights_are_read_again():
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((H, W, 1)), L.Rescaling(1 / 255), L.Flatten(), L.Dense(2, name="out")])
    image = np.full((H, W, 1), 200.0, np.float32)
    painter = OcclusionPainter(model, image, output_kinds="values")
    painter.wait()
    kernel, bias = model.get_layer("out").get_weights()
    model.get_layer("out").set_weights([kernel, bias + 1.0])
    painter.inspector.weights_changed()
    painter.refresh()
    painter.wait()
    assert painter.uncovered_score == pytest.approx(run(model, image)[0][0], abs=1e-5)
    np.testing.assert_allclose(painter.output_values, run(model, image)[0], atol=1e-5)


def test_a_classifier_shows_no_target_controls(tiny):
    digits = cw.demo.digits_model()
    images, _ = cw.demo.digits_samples()
    painter = OcclusionPainter(digits, images[0])
    painter.wait()
    assert painter.target_panel is None and painter._mask_column.layout.display == "none"
    assert painter.class_dropdown.layout.display != "none"
    assert painter.explained_target == painter.predicted_class
    assert painter.score == pytest.approx(float(painter.probabilities[painter.predicted_class]))
