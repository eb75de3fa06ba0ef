"""FilterGrid: trait-level tests, with the canvas clicks a browser would send.

Expected tiles are recomputed from ``Inspector.filters`` with the render
functions (and one colour by hand from matplotlib's colormap); maximized
activations are checked independently with a Keras sub-model.
"""

import threading
import time

import ipywidgets as widgets
import numpy as np
import pytest
import traitlets
from matplotlib import colormaps

from cnnwidgets.render.filters import (
    caption_tiles,
    diverging_tiles,
    feature_map_tile,
    filter_planes,
    filter_stack,
    filter_statistics,
    format_value,
    image_tiles,
    page_grid,
    rgb_tiles,
    symmetric_limit,
    tile_scale,
)

MARGIN, GAP, CAPTION = 2, 4, 12


@pytest.fixture(scope="module")
def digits():
    import cnnwidgets as cw

    model = cw.demo.digits_model()
    images, labels = cw.demo.digits_samples()
    return model, images, labels


@pytest.fixture(scope="module")
def rgb_model():
    import keras

    inputs = keras.Input((12, 12, 3), name="rgb")
    x = keras.layers.Conv2D(6, 3, activation="relu", name="first")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="second")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="scores")(x)
    model = keras.Model(inputs, outputs, name="tiny_rgb")
    model.get_layer("first").set_weights(
        [np.random.default_rng(5).normal(size=(3, 3, 3, 6)).astype(np.float32), np.zeros(6, np.float32)]
    )
    return model


def grid_of(**kwargs):
    import cnnwidgets as cw

    return cw.FilterGrid(**kwargs)


def click(canvas, x, y):
    canvas._handle_frontend_event(None, {"event": "mouse_down", "x": x, "y": y}, [])


def tile_origin(grid, position):
    """Canvas pixel of the top-left corner of the tile at ``position`` on the page."""
    view = grid._view
    height, width = view.tiles.shape[1:3]
    row, col = divmod(position, view.columns)
    return MARGIN + row * (height + GAP), MARGIN + col * (width + GAP)


def expected_weights_grid(kernel, indices, channel, columns=8, cmap="RdBu_r", target=64, colour=False):
    stack = filter_stack(kernel, "conv")
    scale = tile_scale(max(stack.shape[1:3]), target)
    if colour:
        tiles = rgb_tiles(stack[list(indices)], symmetric_limit(stack), scale)
    else:
        planes = filter_planes(stack, channel)
        tiles = diverging_tiles(planes[list(indices)], symmetric_limit(planes), cmap, scale)
    captioned = caption_tiles(tiles, [str(i) for i in indices], height=CAPTION)
    return page_grid(captioned, columns, gap=GAP, margin=MARGIN)


def hand_rdbu(weight, vmax):
    unit = min(1.0, max(0.0, 0.5 + 0.5 * weight / vmax))
    return tuple(int(c * 255 + 0.5) for c in colormaps["RdBu_r"](int(unit * 255 + 0.5) / 255.0)[:3])


# ============================================================ weights mode
def test_default_layer_is_first_conv_and_inspector_is_shared(digits):
    import cnnwidgets as cw

    model = digits[0]
    grid = grid_of(model=model)
    assert grid.layer == "conv1" and grid.mode == "weights" and grid.channel == -1 and grid.page == 0
    assert grid.inspector is cw.Inspector.for_model(model)
    assert grid_of(model=grid.inspector).inspector is grid.inspector
    assert [path for _, path in grid.layer_dropdown.options] == ["conv1", "conv2", "conv3"]


def test_weights_drawn_match_inspector_filters(digits):
    grid = grid_of(model=digits[0], layer="conv2")
    kernel = grid.inspector.filters("conv2")  # (3, 3, 16, 32)
    np.testing.assert_array_equal(grid.grid_canvas.image, expected_weights_grid(kernel, range(32), -1))

    # one pixel by hand: filter 9, kernel row 2, column 1, mean over the 16 input channels
    planes = kernel.mean(axis=2)
    vmax = np.abs(planes).max()
    y, x = tile_origin(grid, 9)
    scale = 21  # 3x3 kernels enlarged to 63 px
    pixel = grid.grid_canvas.image[y + 2 * scale + 10, x + 1 * scale + 10]
    assert tuple(pixel[:3]) == hand_rdbu(planes[2, 1, 9], vmax) and pixel[3] == 255

    grid.channel = 5
    np.testing.assert_array_equal(grid.grid_canvas.image, expected_weights_grid(kernel, range(32), 5))
    vmax5 = np.abs(kernel[:, :, 5, :]).max()
    pixel = grid.grid_canvas.image[y + 10, x + 2 * scale + 10]
    assert tuple(pixel[:3]) == hand_rdbu(kernel[0, 2, 5, 9], vmax5)
    assert grid.channel_dropdown.value == 5
    # the legend's ends are the symmetric limits
    legend = grid._view.legend
    assert tuple(legend[-1 - 12 - 2 - 5, 0, :3]) == hand_rdbu(-vmax5, vmax5)


def test_channel_validation(digits):
    grid = grid_of(model=digits[0], layer="conv2")
    with pytest.raises(traitlets.TraitError, match="16 input channels"):
        grid.channel = 16
    with pytest.raises(traitlets.TraitError):
        grid.channel = -2
    grid.channel = 15
    grid.layer = "conv1"  # one input channel: the channel resets to "all"
    assert grid.channel == -1 and grid.channel_dropdown.disabled


def test_rgb_first_layer_shows_colour_filters(rgb_model):
    grid = grid_of(model=rgb_model)
    assert grid.layer == "first"
    kernel = grid.inspector.filters("first")
    np.testing.assert_array_equal(
        grid.grid_canvas.image, expected_weights_grid(kernel, range(6), -1, colour=True)
    )
    vmax = np.abs(kernel).max()
    y, x = tile_origin(grid, 4)
    pixel = grid.grid_canvas.image[y + 21 + 3, x + 3]  # kernel row 1, column 0 of filter 4
    expected = np.clip(np.floor((0.5 + 0.5 * kernel[1, 0, :, 4] / vmax) * 255 + 0.5), 0, 255)
    assert tuple(pixel[:3]) == tuple(expected.astype(int))
    assert grid.channel_dropdown.options[0][0] == "all (RGB colour)"
    grid.channel = 2  # one colour channel: the diverging map
    np.testing.assert_array_equal(grid.grid_canvas.image, expected_weights_grid(kernel, range(6), 2))
    grid.layer = "second"  # a deeper layer with 6 inputs: mean, not colour
    np.testing.assert_array_equal(
        grid.grid_canvas.image, expected_weights_grid(grid.inspector.filters("second"), range(4), -1)
    )


def test_paging(digits):
    grid = grid_of(model=digits[0], layer="conv2", page_size=8)
    kernel = grid.inspector.filters("conv2")
    assert "page 1/4" in grid.page_label.value and grid.prev_button.disabled
    grid.next_button.click()
    assert grid.page == 1
    np.testing.assert_array_equal(grid.grid_canvas.image, expected_weights_grid(kernel, range(8, 16), -1))
    grid.page = 99
    assert grid.page == 3 and grid.next_button.disabled and "filters 24&ndash;31 of 32" in grid.page_label.value
    grid.layer = "conv1"
    assert grid.page == 0


def test_click_shows_the_filter_large_with_statistics_and_feature_map(digits):
    import keras

    model, images, _ = digits
    grid = grid_of(model=model, layer="conv2", image=images[41])
    assert grid.detail_box.layout.display == "none"
    y, x = tile_origin(grid, 11)
    assert grid.tile_position(11) == (x + 31, y + (63 + CAPTION) // 2)
    click(grid.grid_canvas, x + 30, y + 30)
    assert grid.selected == 11
    stats = filter_statistics(grid.inspector.filters("conv2")[..., 11])
    assert "Filter 11 of conv2" in grid.detail_info.value
    assert f"max {format_value(stats['max'])}" in grid.detail_info.value
    assert f"L2 norm {format_value(stats['l2'])}" in grid.detail_info.value
    # the selection outline is drawn in the gap around the tile
    assert tuple(grid.grid_canvas.image[y - 1, x + 20]) == (255, 140, 0, 255)
    # the feature map: independently, from a Keras sub-model
    sub = keras.Model(model.inputs[0], model.get_layer("conv2").output)
    fmap = np.asarray(sub(images[41:42].astype(np.float32)))[0, ..., 11]
    expected = feature_map_tile(fmap, 160)
    shown = grid.feature_canvas.image
    np.testing.assert_array_equal(shown[:, -expected.shape[1] :], expected)
    assert grid.feature_canvas.layout.display == ""
    # clicking the gap between tiles changes nothing
    click(grid.grid_canvas, x - 2, y + 30)
    assert grid.selected == 11
    # snapshot: the grid and the detail side by side
    snapshot = grid.snapshot()
    assert snapshot.shape[1] > grid.grid_canvas.image.shape[1] + 150
    assert snapshot.dtype == np.uint8 and snapshot.shape[2] == 4


def test_non_conv_layer_shows_a_message_and_links(digits):
    grid = grid_of(model=digits[0])
    source = widgets.Text(value="conv1")
    widgets.link((source, "value"), (grid, "layer"))
    source.value = "pool1"
    assert grid.layer == "pool1"
    assert "not a convolution layer" in grid.status.value and "conv2" in grid.status.value
    assert grid.layer_dropdown.value is None
    assert grid._view.kind == "message" and grid.detail_box.layout.display == "none"
    source.value = "dense1"
    assert "Dense" in grid.status.value
    source.value = "convv3"
    assert "did you mean" in grid.status.value
    source.value = "conv3"
    assert grid.layer_dropdown.value == "conv3" and grid._view.kind == "weights"
    assert grid.grid_canvas.image.shape[0] > 100
    grid.layer_dropdown.value = "conv2"
    assert grid.layer == "conv2" and source.value == "conv2"
    grid.layer = "predictions"  # the output layer has no conv filters in weights mode
    assert "output layer" in grid.status.value


def test_layer_linked_to_a_layer_browser(digits):
    import cnnwidgets as cw

    model, images, _ = digits
    browser = cw.LayerBrowser(model, images=images[:2])
    grid = grid_of(model=model)
    widgets.link((browser, "layer"), (grid, "layer"))
    browser.layer = "pool1"
    assert grid.layer == "pool1" and "not a convolution layer" in grid.status.value
    browser.layer = "conv3"
    assert grid._view.kind == "weights" and "conv3: 32 filters" in grid.status.value
    grid.layer_dropdown.value = "conv2"
    assert browser.layer == "conv2"


def test_bad_image_is_reported_not_raised(digits):
    grid = grid_of(model=digits[0], image=np.zeros((5, 5, 7)))
    assert grid.image is None and "cnnwidgets-error" in grid.status.value
    with pytest.raises(traitlets.TraitError):  # later, like every widget's image trait
        grid.image = np.zeros((5, 5, 7))


def test_image_and_colormap_are_traits(digits):
    model, images = digits[0], digits[1]
    grid = grid_of(model=model, layer="conv2")
    grid.image = images[3]
    np.testing.assert_array_equal(grid.image, images[3].astype(np.float32))
    assert not grid.image.flags.writeable
    grid.colormap = "coolwarm"
    kernel = grid.inspector.filters("conv2")
    np.testing.assert_array_equal(grid.grid_canvas.image,
                                  expected_weights_grid(kernel, range(32), -1, cmap="coolwarm"))
    with pytest.raises(traitlets.TraitError, match="colormap"):
        grid.colormap = "no-such-map"
    grid.image = None
    assert grid.image is None


def test_save_png(digits, tmp_path):
    from PIL import Image

    grid = grid_of(model=digits[0], layer="conv1")
    grid.selected = 3
    path = grid.save_png(tmp_path / "grid.png")
    with Image.open(path) as img:
        assert img.size == (grid.snapshot().shape[1], grid.snapshot().shape[0])


# =========================================================== maximize mode
def start_images(count, shape, seed=0):
    """The random start of ``Inspector.maximize``, rebuilt from its documented recipe."""
    unit = 0.1 * np.random.default_rng(seed).standard_normal((count,) + shape).astype(np.float32)
    return 127.5 + 127.5 * unit


def test_maximize_raises_every_live_filter_well_above_the_random_start(digits):
    import keras

    model = digits[0]
    grid = grid_of(model=model, layer="conv2", mode="maximize")
    assert grid.maximize_controls.layout.display == "" and grid.weights_controls.layout.display == "none"
    grid.wait(120)
    result = grid.maximization
    assert grid.maximization_layer == "conv2" and result.channels == tuple(range(32))
    sub = keras.Model(model.inputs[0], model.get_layer("conv2").output)
    rows = np.arange(32)
    final = np.asarray(sub(result.images)).mean(axis=(1, 2))[rows, rows]
    start = np.asarray(sub(start_images(32, (28, 28, 1)))).mean(axis=(1, 2))[rows, rows]
    # A filter (almost) off everywhere on the grey start has (almost) no gradient to
    # follow: on digits conv2 that is filters 17 (exactly 0) and 21 (1e-4).
    live = start > 1e-3
    assert live.sum() >= 30
    assert np.all(final[live] >= 2 * start[live]), (start, final)  # at least doubled ...
    assert np.all(final[live] - start[live] >= 0.04), (start, final)  # ... and by a visible amount
    assert np.median(final[live] / start[live]) > 5
    # the tiles drawn are the synthesized images
    tiles = caption_tiles(image_tiles(result.images, 64), [str(i) for i in range(32)], height=CAPTION)
    np.testing.assert_array_equal(grid.grid_canvas.image, page_grid(tiles, 8, gap=GAP, margin=MARGIN))
    assert "synthesized" in grid.status.value


def test_output_layer_shows_one_typical_input_per_class(digits):
    model = digits[0]
    grid = grid_of(model=model, mode="maximize", steps=48)
    assert "predictions" in [path for _, path in grid.layer_dropdown.options]
    grid.layer_dropdown.value = "predictions"
    grid.wait(120)
    assert grid.maximization.channels == tuple(range(10))
    probabilities = model.predict(grid.maximization.images, verbose=0)
    assert (probabilities.argmax(axis=1) == np.arange(10)).sum() >= 9
    assert "classes 0&ndash;9 of 10" in grid.page_label.value
    grid.selected = 7
    assert "Class 7" in grid.detail_info.value and grid.detail_canvas.layout.display == ""
    grid.mode = "weights"  # no conv filters there: a message, no error
    assert "output layer" in grid.status.value and "predictions" not in [p for _, p in grid.layer_dropdown.options]


def test_paging_back_is_served_from_the_cache(digits):
    grid = grid_of(model=digits[0], layer="conv2", mode="maximize", page_size=8, steps=16)
    grid.wait(60)
    first = grid.grid_canvas.image.copy()
    grid.page = 1
    grid.wait(60)
    assert grid.maximization.channels == tuple(range(8, 16))
    runs = grid._runner.runs
    grid.page = 0  # drawn at once, from the cache, without a job
    assert grid._runner.runs == runs and not grid._runner.busy
    np.testing.assert_array_equal(grid.grid_canvas.image, first)
    assert grid.maximization.channels == tuple(range(8))
    grid.steps = 24  # other settings: a new optimization
    grid.wait(60)
    assert grid._runner.runs == runs + 1


def wait_until(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def test_stop_cancels_within_one_step(digits):
    grid = grid_of(model=digits[0], layer="conv3", steps=100000)
    grid.mode = "maximize"
    wait_until(lambda: grid.optimization_progress[0] >= 3)
    grid.stop_button.click()
    at_stop = grid.optimization_progress[0]
    grid.wait(30)
    done, total = grid.optimization_progress
    assert done <= at_stop + 1 and total == 100000
    assert grid.maximization is None and "stopped after" in grid.status.value
    assert grid.progress.layout.visibility == "hidden"


def test_changing_layer_during_an_optimization_drops_the_stale_job(digits):
    grid = grid_of(model=digits[0], layer="conv2", steps=32)
    calls = []
    entered, release = threading.Event(), threading.Event()
    report = grid._report_progress

    def gated_progress(done, total):  # holds the first job inside its first step
        calls.append((done, total))
        if len(calls) == 1:
            entered.set()
            release.wait(30)
        report(done, total)

    grid._report_progress = gated_progress
    grid.mode = "maximize"  # job A: conv2
    assert entered.wait(30)
    grid.layer = "conv3"  # job B waits ...
    grid.layer = "conv1"  # ... and is replaced by job C before it starts
    release.set()
    grid.wait(60)
    assert grid._runner.runs == 2 and grid._runner.dropped == 1
    assert calls == [(1, 32)] + [(i, 32) for i in range(1, 33)]  # A stopped after one step, C ran
    assert grid.maximization_layer == "conv1" and grid.maximization.channels == tuple(range(16))
    assert grid.layer == "conv1" and "conv1: synthesized" in grid.status.value


def test_switching_to_weights_cancels_the_optimization(digits):
    grid = grid_of(model=digits[0], layer="conv3", steps=100000, mode="maximize")
    wait_until(lambda: grid.optimization_progress[0] >= 2)
    grid.mode = "weights"
    grid.wait(30)
    assert grid.optimization_progress[0] < 100000 and grid.maximization is None
    assert grid._view.kind == "weights"
    np.testing.assert_array_equal(
        grid.grid_canvas.image, expected_weights_grid(grid.inspector.filters("conv3"), range(32), -1)
    )


# ================================================== nested and larger models
def test_nested_conv_layers_are_offered_and_drawn():
    import keras

    inner_in = keras.Input((10, 10, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inner_in)
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="depthwise_b")(h)
    inner = keras.Model(inner_in, h, name="base")
    outer = keras.Sequential(
        [keras.Input((10, 10, 1)), inner, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)],
        name="outer",
    )
    grid = grid_of(model=outer, page_size=4)
    labels = dict((path, label) for label, path in grid.layer_dropdown.options)
    assert list(labels) == ["base/conv_a", "base/depthwise_b"]
    assert labels["base/conv_a"].startswith("\u2003")  # indented under its model
    assert grid.layer == "base/conv_a"
    grid.layer = "depthwise_b"  # a bare name resolves to the path
    assert grid.layer == "base/depthwise_b" and "page 1/2" in grid.page_label.value
    kernel = grid.inspector.filters("base/depthwise_b")  # (3, 3, 4, 2): output o = c * 2 + m
    grid.page = 1
    planes = kernel.transpose(2, 3, 0, 1).reshape(8, 3, 3)
    expected = caption_tiles(diverging_tiles(planes[4:8], np.abs(planes).max(), "RdBu_r", 21),
                             ["4", "5", "6", "7"], height=CAPTION)
    np.testing.assert_array_equal(grid.grid_canvas.image, page_grid(expected, 8, gap=GAP, margin=MARGIN))
    assert grid.channel_dropdown.disabled  # one input channel per depthwise filter
    grid.steps = 8
    grid.mode = "maximize"
    grid.wait(60)
    assert grid.maximization_layer == "base/depthwise_b" and grid.maximization.channels == (4, 5, 6, 7)


def test_mobilenet_deep_layer_runs_in_the_background():
    import keras

    model = keras.applications.MobileNetV2(weights=None, input_shape=(64, 64, 3), alpha=0.35)
    grid = grid_of(model=model, layer="block_16_project", steps=3, page_size=4)
    assert grid.page_size == 4 and "1x1 over" in grid.status.value
    assert grid.layer_dropdown.options[0][1] == "Conv1"
    grid.layer = "Conv1"  # the first layer sees RGB: colour tiles
    assert grid.channel_dropdown.options[0][0] == "all (RGB colour)"
    grid.layer = "block_16_depthwise"
    grid.mode = "maximize"
    assert grid._runner.busy  # the setter returned while the optimization runs on the worker
    grid.wait(300)
    assert grid.maximization_layer == "block_16_depthwise" and grid.maximization.images.shape == (4, 64, 64, 3)
    assert "synthesized" in grid.status.value
