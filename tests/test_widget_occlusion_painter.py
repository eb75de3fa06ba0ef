"""OcclusionPainter: trait-level tests driven by the canvas mouse events a browser sends.

Expectations are computed independently of the widget: boxes by hand from the
canvas coordinates, scores with the backend's own ``Inspector.occlude`` (or the
Keras model called directly), the sweep with a brute-force loop. The
pure-numpy helpers (geometry, heat-map rendering) are tested without
TensorFlow.
"""

import threading
import time

import numpy as np
import pytest
import traitlets

from cnnwidgets.render.heatmap import heatmap_legend, heatmap_range, heatmap_rgba
from cnnwidgets.widgets.occlusion_painter.geometry import centered_box, display_factor, mask_runs, stroke_mask

DIGIT = 93  # a 9 whose score collapses when the lower stroke is covered


# ----------------------------------------------------------------- helpers
def send(canvas_layer, event, x=0.0, y=0.0):
    """Deliver one browser event to an ipycanvas layer, exactly as the frontend sends it."""
    canvas_layer._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])


def at_pixel(painter, row, col):
    """Canvas coordinates of the centre of image pixel (row, col)."""
    f = painter.canvas.factor
    return (col + 0.5) * f, (row + 0.5) * f


# ======================================================= pure numpy helpers
class TestGeometry:
    def test_display_factor_enlarges_to_about_the_target(self):
        assert display_factor(28, 28) == 12
        assert display_factor(224, 224) == 2
        assert display_factor(1000, 500) == 1
        assert display_factor(28, 56, target=336) == 6

    def test_centered_box_is_centred_and_moved_inside(self):
        assert centered_box(10.5, 10.5, 5, 28, 28) == (8, 8, 13, 13)
        assert centered_box(13.4, 12.5, 5, 28, 28) == (11, 10, 16, 15)
        assert centered_box(0.2, 27.9, 5, 28, 28) == (0, 23, 5, 28)  # shifted in, not cut
        assert centered_box(5, 5, 100, 28, 20) == (0, 0, 20, 20)

    def test_stroke_mask_is_a_capsule_around_the_segment(self):
        mask = stroke_mask((20, 20), (10.5, 2.5), (10.5, 17.5), diameter=3)
        rows, cols = np.nonzero(mask)
        assert set(rows) == {9, 10, 11}
        assert cols.min() == 1 and cols.max() == 18
        # every covered pixel centre is within the radius of the segment
        assert np.all(np.abs(rows + 0.5 - 10.5) <= 1.5)

    def test_stroke_mask_one_pixel_brush_leaves_a_trace(self):
        mask = stroke_mask((8, 8), (3.9, 3.9), (3.9, 3.9), diameter=1)
        assert mask.sum() >= 1 and mask[3, 3]

    def test_mask_runs_cover_the_mask_exactly(self):
        rng = np.random.default_rng(0)
        mask = rng.random((17, 23)) > 0.6
        rows, starts, lengths = mask_runs(mask)
        rebuilt = np.zeros_like(mask)
        for r, s, n in zip(rows, starts, lengths):
            assert not rebuilt[r, s : s + n].any()
            rebuilt[r, s : s + n] = True
        assert np.array_equal(rebuilt, mask)
        assert mask_runs(np.zeros((3, 3), bool))[0].size == 0


class TestHeatmapRendering:
    def test_range_modes(self):
        values = np.array([[-0.5, 0.1], [0.2, np.nan]])
        assert heatmap_range(values, "symmetric") == (-0.5, 0.5)
        assert heatmap_range(values, "minmax") == (-0.5, 0.2)
        assert heatmap_range(values, "absolute") == (0.0, 0.5)
        assert heatmap_range(values, "symmetric", vmax=2) == (-2.0, 2.0)
        with pytest.raises(ValueError, match="unknown normalization"):
            heatmap_range(values, "log")

    def test_rgba_zero_is_the_colormap_middle_and_crisp_upscale(self):
        from matplotlib import colormaps

        values = np.array([[-1.0, 0.0], [0.5, 1.0]], np.float32)
        rgba = heatmap_rgba(values, "RdBu_r", opacity=0.5, size=(8, 8))
        assert rgba.shape == (8, 8, 4)
        expected_mid = np.round(np.array(colormaps["RdBu_r"](0.5)[:3]) * 255)
        assert np.abs(rgba[0, 4, :3].astype(int) - expected_mid).max() <= 2
        assert np.all(rgba[..., 3] == 128)
        assert np.all(rgba[:4, :4] == rgba[0, 0])  # one value = one 4x4 block

    def test_fade_makes_zero_transparent_and_extremes_opaque(self):
        values = np.array([[-1.0, 0.0, 0.25, 1.0]], np.float32)
        alpha = heatmap_rgba(values, opacity=1.0, fade=True)[0, :, 3]
        assert alpha[1] == 0 and alpha[0] == 255 and alpha[3] == 255
        assert 0 < alpha[2] < 255

    def test_legend_has_bar_and_labels(self):
        legend = heatmap_legend(-0.5, 0.5, "RdBu_r", width=120)
        assert legend.shape == (24, 120, 4)
        assert (legend[12:, :, :3] < 128).any()  # some label text is drawn


# ================================================================ widget
@pytest.fixture(scope="module")
def digits():
    import cnnwidgets as cw

    model = cw.demo.digits_model()
    images, labels = cw.demo.digits_samples()
    inspector = cw.Inspector.for_model(model, class_names=cw.demo.DIGIT_CLASS_NAMES)
    return model, inspector, images, labels


@pytest.fixture()
def painter(digits):
    from cnnwidgets.widgets.occlusion_painter import OcclusionPainter

    _, inspector, images, _ = digits
    widget = OcclusionPainter(inspector, images[DIGIT])
    widget.wait()
    yield widget
    widget.stop()
    widget.wait()


def test_initial_scores_are_the_unoccluded_prediction(painter, digits):
    _, inspector, images, labels = digits
    assert painter.inspector is inspector
    np.testing.assert_array_equal(painter.probabilities, inspector.predict(images[DIGIT]))
    assert painter.target == labels[DIGIT] == 9
    assert painter.patch == 5 and painter.canvas.factor == 12
    assert painter.canvas.widget.width == 336
    assert painter.chart.names[0] == "9"


def test_dragging_the_square_gives_exactly_occlude_for_that_box(painter, digits):
    _, inspector, images, _ = digits
    layer = painter.canvas.mouse_layer
    send(layer, "mouse_move", 150, 160)  # no button: nothing moves
    painter.wait()
    assert painter.box is None
    send(layer, "mouse_down", 150, 160)
    send(layer, "mouse_move", *at_pixel(painter, 22, 17))
    painter.wait()
    # pixel (22, 17) centre is (22.5, 17.5): a 5x5 square from (20, 15)
    assert painter.box == (20, 15, 25, 20)
    expected = inspector.occlude(images[DIGIT], box=(20, 15, 25, 20), fill="gray")
    np.testing.assert_array_equal(painter.probabilities, expected)
    # a grey square beside the lower stroke closes a loop: the 9 reads as an 8
    assert painter.probabilities[9] < 0.01 and painter.probabilities.argmax() == 8
    # the chart shows these scores over the unoccluded ones
    order = [int(n) for n in painter.chart.names]
    np.testing.assert_allclose(painter.chart.values, expected[order])
    np.testing.assert_allclose(painter.chart.reference, inspector.predict(images[DIGIT])[order])
    assert "drop" in painter.target_label.value
    # the occluder layer shows exactly that square, filled with the model's grey
    assert painter.canvas.occluder == ("box", (20, 15, 25, 20))
    shown = painter.canvas.composite()
    f = painter.canvas.factor
    assert np.all(shown[20 * f + 3 : 25 * f - 3, 15 * f + 3 : 20 * f - 3, :3] == 128)
    send(layer, "mouse_up", *at_pixel(painter, 22, 17))
    send(layer, "mouse_move", *at_pixel(painter, 3, 3))  # released: the square stays
    painter.wait()
    assert painter.box == (20, 15, 25, 20)


def test_box_trait_is_settable_and_validated(painter, digits):
    _, inspector, images, _ = digits
    painter.box = [2, 3, 9.0, 11]
    painter.wait()
    assert painter.box == (2, 3, 9, 11)
    np.testing.assert_array_equal(painter.probabilities, inspector.occlude(images[DIGIT], box=(2, 3, 9, 11)))
    with pytest.raises(traitlets.TraitError, match="covers no pixel"):
        painter.box = (5, 5, 5, 9)
    with pytest.raises(traitlets.TraitError, match="four numbers"):
        painter.box = (1, 2)
    painter.reset()
    painter.wait()
    np.testing.assert_array_equal(painter.probabilities, inspector.predict(images[DIGIT]))


def test_wheel_and_slider_resize_the_square_about_its_centre(painter, digits):
    _, inspector, images, _ = digits
    painter.box = (10, 10, 15, 15)
    send(painter.canvas.mouse_layer, "mouse_wheel", 0, -100)  # wheel up: larger
    assert painter.patch == 6 and painter.size_slider.value == 6
    painter.size_slider.value = 9
    painter.wait()
    assert painter.box == (8, 8, 17, 17)
    np.testing.assert_array_equal(painter.probabilities, inspector.occlude(images[DIGIT], box=(8, 8, 17, 17)))
    for _ in range(40):
        send(painter.canvas.mouse_layer, "mouse_wheel", 0, 100)
    assert painter.patch == 1
    with pytest.raises(traitlets.TraitError, match="between 1 and 28"):
        painter.patch = 29


@pytest.mark.parametrize("fill", ["black", "mean", "blur"])
def test_fills_match_the_backend(painter, digits, fill):
    _, inspector, images, _ = digits
    painter.fill_dropdown.value = fill
    painter.box = (14, 6, 24, 16)
    painter.wait()
    np.testing.assert_array_equal(painter.probabilities, inspector.occlude(images[DIGIT], box=(14, 6, 24, 16), fill=fill))
    # what the browser shows under the square is what the model sees
    occluded = inspector.occluded_image(images[DIGIT], box=(14, 6, 24, 16), fill=fill)
    f = painter.canvas.factor
    shown = painter.canvas.composite()[16 * f + f // 2 :: f, 8 * f + f // 2 :: f][:6, :6, 0]
    expected = np.clip(occluded[16:22, 8:14, 0] + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(shown, expected)


def test_painting_a_stroke_occludes_the_painted_pixels_only(painter, digits):
    model, inspector, images, _ = digits
    layer = painter.canvas.mouse_layer
    painter.mode_buttons.value = "paint"
    painter.patch = 3
    assert not painter.brush_buttons.disabled
    send(layer, "mouse_down", *at_pixel(painter, 18, 8))
    send(layer, "mouse_move", *at_pixel(painter, 22, 16))
    send(layer, "mouse_up", *at_pixel(painter, 22, 16))
    painter.wait()
    expected_mask = stroke_mask((28, 28), (18.5, 8.5), (22.5, 16.5), 3)
    np.testing.assert_array_equal(painter.mask, expected_mask)
    assert 15 < painter.mask.sum() < 60
    np.testing.assert_array_equal(painter.probabilities, inspector.occlude(images[DIGIT], mask=expected_mask))
    # independently: the Keras model on the image with exactly those pixels grey
    covered = np.where(expected_mask[..., None], 127.5, images[DIGIT].astype(np.float32))
    direct = np.asarray(model(covered[None], training=False))[0]
    np.testing.assert_allclose(painter.probabilities, direct, atol=1e-5)
    assert painter.canvas.occluder[0] == "mask"
    np.testing.assert_array_equal(painter.canvas.covered_pixels(), expected_mask)
    # the square is not applied in paint mode
    assert painter.box is None

    # erase part of the stroke
    painter.brush_buttons.value = True
    send(layer, "mouse_down", *at_pixel(painter, 22, 16))
    send(layer, "mouse_up", *at_pixel(painter, 22, 16))
    painter.wait()
    erased = expected_mask & ~stroke_mask((28, 28), (22.5, 16.5), (22.5, 16.5), 3)
    np.testing.assert_array_equal(painter.mask, erased)
    np.testing.assert_array_equal(painter.probabilities, inspector.occlude(images[DIGIT], mask=erased))

    painter.reset_button.click()
    painter.wait()
    assert not painter.mask.any()
    np.testing.assert_array_equal(painter.probabilities, inspector.predict(images[DIGIT]))


def test_switching_modes_keeps_each_occluder(painter, digits):
    _, inspector, images, _ = digits
    painter.box = (0, 0, 6, 6)
    mask = np.zeros((28, 28), bool)
    mask[20:, :] = True
    painter.mask = mask  # stored, not applied in square mode
    painter.wait()
    np.testing.assert_array_equal(painter.probabilities, inspector.occlude(images[DIGIT], box=(0, 0, 6, 6)))
    painter.mode = "paint"
    painter.wait()
    np.testing.assert_array_equal(painter.probabilities, inspector.occlude(images[DIGIT], mask=mask))
    painter.mode = "square"
    painter.wait()
    np.testing.assert_array_equal(painter.probabilities, inspector.occlude(images[DIGIT], box=(0, 0, 6, 6)))
    with pytest.raises(traitlets.TraitError, match="must match the image"):
        painter.mask = np.zeros((5, 5), bool)


def test_sweep_matches_a_brute_force_loop(painter, digits):
    _, inspector, images, _ = digits
    image = images[DIGIT]
    patch, stride = 7, 3
    result = painter.sweep(patch=patch, stride=stride)
    assert painter.patch == patch and painter.stride_slider.value == stride
    # brute force: every square position through the backend's own occlude
    base = inspector.predict(image)[9]
    starts = list(range(0, 28 - patch + 1, stride))
    if starts[-1] != 28 - patch:
        starts.append(28 - patch)
    total, count = np.zeros((28, 28)), np.zeros((28, 28))
    for y in starts:
        for x in starts:
            drop = base - inspector.occlude(image, box=(y, x, y + patch, x + patch))[9]
            total[y : y + patch, x : x + patch] += drop
            count[y : y + patch, x : x + patch] += 1
    np.testing.assert_allclose(result, total / count, atol=2e-6)
    assert painter.heatmap is result
    assert painter.legend_box.layout.display == "flex"
    assert "7x7 gray" in painter.legend_caption.value
    layer = painter.canvas.heatmap_rgba
    assert layer is not None and layer.shape == (336, 336, 4)
    # hovering over the map shows the value there
    send(painter.canvas.mouse_layer, "mouse_move", *at_pixel(painter, 21, 12))
    assert f"{result[21, 12]:+.3f}" in painter.hover_label.value
    # opacity and colormap re-render the layer; hiding removes it
    painter.opacity = 0.2
    assert painter.canvas.heatmap_rgba[..., 3].max() <= 52
    painter.show_map_checkbox.value = False
    assert painter.canvas.heatmap_rgba is None and painter.legend_box.layout.display == "none"
    with pytest.raises(traitlets.TraitError, match="colormap"):
        painter.colormap = "no-such-map"


def test_class_index_by_name_and_for_the_sweep(painter, digits):
    _, inspector, images, _ = digits
    painter.class_index = "4"
    painter.box = (18, 10, 23, 15)
    painter.wait()
    assert painter.class_index == 4 and painter.target == 4
    assert painter.chart.highlight == 4 and "4" in painter.chart.names
    heat = painter.sweep(patch=6, stride=2)
    np.testing.assert_allclose(heat, inspector.occlusion_map(images[DIGIT], class_index=4, patch=6, stride=2))
    with pytest.raises(traitlets.TraitError, match="unknown class"):
        painter.class_index = "giraffe"
    assert painter.class_dropdown.value == 4
    painter.class_dropdown.value = -1  # the "predicted class" entry
    painter.wait()
    assert painter.class_index is None
    assert painter.target == painter.predicted_class == 9
    with pytest.raises(traitlets.TraitError, match="class index, a class name or None"):
        painter.class_index = 2.5


def test_image_trait_replaces_the_image_and_links(painter, digits):
    from cnnwidgets.widgets.occlusion_painter import OcclusionPainter

    _, inspector, images, _ = digits
    painter.sweep(patch=6, stride=3)
    painter.box = (10, 10, 16, 16)
    painter.image = images[9]
    painter.wait()
    assert painter.heatmap is None and painter.canvas.heatmap_rgba is None
    np.testing.assert_array_equal(painter.probabilities, inspector.occlude(images[9], box=(10, 10, 16, 16)))
    assert painter.class_index is None and painter.target == painter.predicted_class == 0
    np.testing.assert_array_equal(painter.canvas.image_rgba[::12, ::12, 0], images[9][..., 0])
    assert not painter.image.flags.writeable

    other = OcclusionPainter(inspector, images[0])
    link = traitlets.link((painter, "image"), (other, "image"))
    painter.image = images[10]
    other.wait()
    np.testing.assert_array_equal(other.image, images[10][..., 0:1].astype(np.float32))
    other.image = images[11]
    painter.wait()
    np.testing.assert_array_equal(painter.image, images[11].astype(np.float32))
    link.unlink()
    # a one-way link from any object with an image trait
    source = traitlets.HasTraits()
    source.add_traits(image=traitlets.Any())
    source.image = images[13]
    traitlets.dlink((source, "image"), (painter, "image"))
    source.image = images[12]
    painter.wait()
    np.testing.assert_array_equal(painter.probabilities, inspector.occlude(images[12], box=(10, 10, 16, 16)))
    with pytest.raises(traitlets.TraitError, match="image"):
        painter.image = np.zeros((5, 5))
    with pytest.raises(traitlets.TraitError, match="image is required"):
        painter.image = None
    other.stop()


def test_errors_are_shown_and_the_widget_keeps_working(digits):
    import cnnwidgets as cw
    from cnnwidgets.widgets.occlusion_painter import OcclusionPainter

    model, _, images, _ = digits

    class FlakyInspector(cw.Inspector):
        fail = False

        def occlude(self, *args, **kwargs):
            if self.fail:
                raise cw.InvalidImageError("the occluder fell off")
            return super().occlude(*args, **kwargs)

    inspector = FlakyInspector(model)
    painter = OcclusionPainter(inspector, images[DIGIT])
    inspector.fail = True
    painter.box = (1, 1, 5, 5)
    painter.wait()
    assert "the occluder fell off" in painter.status.value
    assert "Traceback" not in painter.status.value
    inspector.fail = False
    painter.box = (2, 2, 6, 6)
    painter.wait()
    np.testing.assert_array_equal(painter.probabilities, inspector.occlude(images[DIGIT], box=(2, 2, 6, 6)))


def test_event_storm_runs_only_a_handful_of_forward_passes(digits):
    import cnnwidgets as cw
    from cnnwidgets.widgets.occlusion_painter import OcclusionPainter

    model, _, images, _ = digits

    class SlowInspector(cw.Inspector):
        """Each occlusion takes 50 ms more, like a large model."""

        calls = 0

        def occlude(self, *args, **kwargs):
            type(self).calls += 1
            time.sleep(0.05)
            return super().occlude(*args, **kwargs)

    inspector = SlowInspector(model)
    painter = OcclusionPainter(inspector, images[DIGIT])
    painter.wait()
    layer = painter.canvas.mouse_layer
    rng = np.random.default_rng(7)
    points = rng.uniform(0, 336, size=(500, 2))
    send(layer, "mouse_down", *points[0])
    handler_thread = threading.get_ident()
    for x, y in points:
        send(layer, "mouse_move", x, y)
    assert threading.get_ident() == handler_thread
    painter.wait()
    moves = 500
    final_box = centered_box(points[-1][1] / 12, points[-1][0] / 12, painter.patch, 28, 28)
    assert painter.box == final_box
    # a handful of forward passes, not one per move
    assert 1 <= SlowInspector.calls <= 25, SlowInspector.calls
    assert painter._runner.dropped >= moves - 25 - 1
    expected = cw.Inspector.occlude(inspector, images[DIGIT], box=final_box)
    np.testing.assert_array_equal(painter.probabilities, expected)
    assert painter.canvas.occluder == ("box", final_box)


def test_stop_cancels_a_background_sweep(digits):
    import cnnwidgets as cw
    from cnnwidgets.widgets.occlusion_painter import OcclusionPainter

    model, _, images, _ = digits
    started = threading.Event()

    class EndlessSweep(cw.Inspector):
        def occlusion_map(self, image, class_index=None, patch=None, stride=None, fill="gray",
                          batch_size=64, progress=None, cancel=None):
            started.set()
            for step in range(1000):
                progress(step, 1000)
                if cancel.wait(0.01):
                    raise cw.JobCancelled("stopped")
            raise AssertionError("the sweep was never stopped")

    painter = OcclusionPainter(EndlessSweep(model), images[DIGIT])
    painter.sweep_button.click()
    assert started.wait(30)
    assert painter.sweep_button.disabled and not painter.stop_button.disabled
    # the live loop still answers while the sweep runs
    painter.box = (3, 3, 8, 8)
    painter._runner.wait(30)
    np.testing.assert_array_equal(painter.probabilities, painter.inspector.occlude(images[DIGIT], box=(3, 3, 8, 8)))
    painter.stop_button.click()
    painter.wait()
    assert painter.heatmap is None
    assert not painter.sweep_button.disabled and painter.stop_button.disabled
    assert painter.progress.layout.visibility == "hidden"


def test_snapshot_and_save_png(painter, tmp_path):
    from PIL import Image

    painter.box = (18, 10, 23, 15)
    painter.sweep(patch=5, stride=2)
    snap = painter.snapshot()
    assert snap.dtype == np.uint8 and snap.ndim == 3 and snap.shape[2] == 4
    assert snap.shape[1] > 336 + 200 and snap.shape[0] >= 336
    path = painter.save_png(tmp_path / "painter.png")
    with Image.open(path) as img:
        assert img.size == (snap.shape[1], snap.shape[0])


def test_passing_a_model_binds_the_shared_inspector(digits):
    import cnnwidgets as cw

    model, inspector, images, _ = digits
    painter = cw.OcclusionPainter(model, images[0])
    assert painter.inspector is cw.Inspector.for_model(model)
    painter.wait()
    assert painter.probabilities.shape == (10,)


# ============================================ the live worker stays alive
class TestLingeringRunner:
    """``LatestRequestRunner(linger=...)``: the worker waits for the next request instead of ending."""

    def test_requests_reuse_one_thread_and_wait_still_returns(self):
        from cnnwidgets.widgets.common.runner import LatestRequestRunner

        busy = []
        runner = LatestRequestRunner(on_busy=busy.append, linger=30)
        threads, results = [], []
        for i in range(5):
            runner.submit(lambda cancel, i=i: (threads.append(threading.get_ident()), i)[1], results.append)
            assert runner.wait(10)
            assert not runner.busy
        assert results == [0, 1, 2, 3, 4]
        assert len(set(threads)) == 1
        assert busy == [True, False] * 5  # balanced, in order
        assert runner._thread is not None and runner._thread.is_alive()

    def test_thread_ends_after_the_linger_time(self):
        from cnnwidgets.widgets.common.runner import LatestRequestRunner

        runner = LatestRequestRunner(linger=0.05)
        runner.submit(lambda cancel: 1)
        assert runner.wait(10)
        thread = runner._thread
        if thread is not None:  # still lingering
            thread.join(10)
            assert not thread.is_alive()
        assert runner._thread is None
        done = threading.Event()
        runner.submit(lambda cancel: 2, lambda value: done.set())  # a new thread starts
        assert done.wait(10) and runner.wait(10)

    def test_a_request_cancelled_before_the_worker_wakes_does_not_hang_wait(self):
        from cnnwidgets.widgets.common.runner import LatestRequestRunner

        ran = []
        runner = LatestRequestRunner(linger=30)
        runner.submit(lambda cancel: None)
        assert runner.wait(10)
        for _ in range(50):  # wake the lingering worker, then take the request away again
            runner.submit(lambda cancel: ran.append(1))
            runner.cancel()
            assert runner.wait(10)
        assert runner.dropped >= len(ran)


def test_a_model_of_any_input_size_gets_a_new_canvas_for_a_new_image_size():
    import keras

    import cnnwidgets as cw
    from cnnwidgets.widgets.occlusion_painter import OcclusionPainter

    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((None, None, 1)),
        keras.layers.Rescaling(1 / 255.0),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    rng = np.random.default_rng(0)
    small, large = rng.integers(0, 256, (20, 20, 1)), rng.integers(0, 256, (30, 42, 1))
    painter = OcclusionPainter(model, small, patch=4)
    painter.box = (2, 2, 6, 6)
    painter.wait()
    assert painter.canvas.widget.width == 20 * 17
    painter.image = large
    painter.wait()
    assert painter.box is None and painter.mask.shape == (30, 42)
    factor = painter.canvas.factor
    assert factor == 8 and (painter.canvas.widget.width, painter.canvas.widget.height) == (42 * 8, 30 * 8)
    assert painter._image_column.children[0] is painter.canvas.widget
    send(painter.canvas.mouse_layer, "mouse_down", 40.5 * factor, 28.2 * factor)
    painter.wait()
    assert painter.box == (26, 38, 30, 42)
    np.testing.assert_array_equal(painter.probabilities,
                                  cw.Inspector.for_model(model).occlude(large, box=(26, 38, 30, 42)))


def test_a_superseded_score_is_never_shown(painter):
    """The stale-result guard (common.runner): only the latest occluder's scores reach the chart."""
    release = threading.Event()
    real_occlude = painter.inspector.occlude
    shown = []

    def slow_first(image, box=None, **kwargs):
        if box == (0, 0, 6, 6):
            release.wait(10)  # the first move is still computing when the next ones arrive
        return real_occlude(image, box=box, **kwargs)

    painter.inspector.occlude = slow_first
    painter.observe(lambda change: shown.append(change["new"]), "probabilities")
    try:
        painter.box = (0, 0, 6, 6)
        time.sleep(0.1)
        painter.box = (10, 10, 16, 16)
        painter.box = (14, 14, 20, 20)
        release.set()
        painter.wait()
    finally:
        del painter.inspector.occlude
    final = real_occlude(painter.image, box=(14, 14, 20, 20), fill=painter.fill)
    assert len(shown) == 1  # neither the superseded first nor the never-run second
    np.testing.assert_allclose(shown[0], final, rtol=1e-6)
    np.testing.assert_allclose(painter.chart.values, final[painter.chart.order], rtol=1e-6)


def test_compute_status_says_how_the_sweep_and_the_moves_ran(digits):
    import html

    import cnnwidgets as cw
    from cnnwidgets.widgets.occlusion_painter import OcclusionPainter

    model, _, images, _ = digits
    inspector = cw.Inspector(model)  # its own stats, untouched by other tests
    painter = OcclusionPainter(inspector, images[DIGIT])
    painter.wait()
    try:
        assert painter.compute_status == ""
        painter.box = (4, 4, 11, 11)
        painter.wait()
        move = inspector.occlusion_stats.move
        assert painter.compute_status == f"Move: {move.summary()}"
        assert move.mode in ("full", "incremental")
        painter.sweep(patch=6, stride=3)
        sweep = inspector.occlusion_stats.sweep
        assert painter.compute_status == f"Sweep: {sweep.summary()}; Move: {move.summary()}"
        assert sweep.summary() in html.unescape(painter.compute_label.value)
        painter.sweep()  # the same map again: from the cache
        assert painter.compute_status.startswith("Sweep: cached; Move: ")
        with pytest.raises(traitlets.TraitError):
            painter.compute_status = "fast"
    finally:
        painter.stop()
        painter.wait()
