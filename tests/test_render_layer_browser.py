"""LayerBrowser's pure parts, without TensorFlow: feature-map tiles, vector strips,
the architecture diagram (layout, hit-testing, grouping) and the input converters."""

import io
from types import SimpleNamespace

import numpy as np
import pytest

from cnnwidgets.errors import InvalidImageError
from cnnwidgets.render import apply_colormap, decode_image, normalize, upscale_nearest
from cnnwidgets.render.architecture import (
    DiagramNode,
    block_geometry,
    format_count,
    format_shape,
    layer_category,
    layout_diagram,
    render_diagram,
)
from cnnwidgets.render.feature_maps import (
    channel_order,
    downsample_maps,
    normalize_feature_maps,
    page_count,
    page_slice,
    plan_feature_grid,
    plan_vector_strip,
    render_channel,
    render_feature_grid,
    render_vector_strip,
)


@pytest.fixture
def maps():
    rng = np.random.default_rng(1)
    acts = rng.gamma(1.0, 1.0, size=(9, 7, 6)).astype(np.float32)
    acts[..., 2] *= 5.0  # the most active channel
    acts[..., 4] = 0.25  # a constant channel
    return acts


# ------------------------------------------------------------- feature maps
def test_channel_order_by_index_and_by_mean_activation(maps):
    assert channel_order(maps, "channel").tolist() == list(range(6))
    means = maps.reshape(-1, 6).mean(axis=0)
    order = channel_order(maps, "most active")
    assert order[0] == 2
    assert order.tolist() == np.argsort(-means, kind="stable").tolist()
    assert channel_order(np.array([1.0, 3.0, 3.0, -1.0]), "most active").tolist() == [1, 2, 0, 3]
    with pytest.raises(ValueError, match="most active"):
        channel_order(maps, "loudest")


def test_pages_cover_every_channel_once():
    order = np.arange(150)[::-1]
    assert page_count(150, 64) == 3 and page_count(0, 64) == 1
    pages = [page_slice(order, p, 64) for p in range(3)]
    assert [len(p) for p in pages] == [64, 64, 22]
    assert sorted(np.concatenate(pages).tolist()) == list(range(150))
    assert page_slice(order, 99, 64).tolist() == pages[-1].tolist()  # clipped to the last page


def test_shared_and_per_channel_normalization(maps):
    shared = normalize_feature_maps(maps, "shared")
    np.testing.assert_allclose(shared, (maps - maps.min()) / (maps.max() - maps.min()), atol=1e-6)
    per = normalize_feature_maps(maps, "per-channel")
    for c in range(6):
        channel = maps[..., c]
        if c == 4:
            assert (per[..., c] == 0).all()  # constant: lowest colour, no division by zero
        else:
            np.testing.assert_allclose(per[..., c], (channel - channel.min()) / np.ptp(channel), atol=1e-6)
    with_nan = maps.copy()
    with_nan[0, 0, 1] = np.nan
    assert np.isnan(normalize_feature_maps(with_nan, "per-channel")[0, 0, 1])
    with pytest.raises(ValueError, match="per-channel"):
        normalize_feature_maps(maps, "global")


def test_downsample_averages_blocks_including_edges():
    grid = np.arange(25, dtype=np.float32).reshape(5, 5)
    small = downsample_maps(grid, 2)
    assert small.shape == (3, 3)
    assert small[0, 0] == pytest.approx(np.mean([0, 1, 5, 6]))
    assert small[2, 2] == pytest.approx(24.0)  # the corner block has one pixel
    assert small[0, 2] == pytest.approx(np.mean([4, 9]))
    assert downsample_maps(grid, 1) is not None and np.array_equal(downsample_maps(grid, 1), grid)


def test_plan_keeps_small_maps_exact_and_caps_large_pages():
    small = plan_feature_grid((28, 28), range(16), width=448)
    assert (small.stride, small.columns) == (1, 4) and small.scale >= 3
    assert small.size[1] <= 448
    big = plan_feature_grid((224, 224), range(64), width=448, max_values=65536)
    assert big.stride > 1
    assert big.shown_values <= 65536
    assert big.size[1] <= 448
    lone = plan_feature_grid((7, 7), [5], width=448, max_tile=150)
    assert lone.tile_shape[0] <= 150


def test_grid_tiles_follow_the_channel_order_pixel_for_pixel(maps):
    order = channel_order(maps, "most active")
    layout = plan_feature_grid(maps.shape[:2], order, width=200)
    image = render_feature_grid(maps, layout, "shared", "magma")
    assert image.shape[:2] == layout.size and image.dtype == np.uint8
    unit = normalize(maps, "minmax")
    for index, channel in enumerate(order):
        y0, x0, y1, x1 = layout.tile_box(index)
        expected = upscale_nearest(apply_colormap(unit[..., channel], "magma"), layout.scale)
        np.testing.assert_array_equal(image[y0:y1, x0:x1], expected)
    # gaps are white
    y0, x0, y1, x1 = layout.tile_box(0)
    assert (image[y0:y1, x1] == 255).all()


def test_locate_maps_grid_pixels_back_to_activations(maps):
    layout = plan_feature_grid(maps.shape[:2], [3, 0, 5], width=300)
    for index, channel in enumerate([3, 0, 5]):
        y0, x0, _, _ = layout.tile_box(index)
        for row, col in [(0, 0), (4, 6), (8, 3)]:
            x = x0 + col * layout.scale + layout.scale // 2
            y = y0 + row * layout.scale + layout.scale // 2
            assert layout.locate(x, y) == (index, channel, row, col)
    y0, x0, y1, x1 = layout.tile_box(0)
    assert layout.locate(x1, y0) is None  # the gap
    assert layout.locate(-1, 5) is None


def test_locate_with_downsampling_points_at_the_block_start():
    layout = plan_feature_grid((100, 100), range(4), width=120, max_values=4 * 25 * 25)
    assert layout.stride == 4
    y0, x0, _, _ = layout.tile_box(1)
    _, channel, row, col = layout.locate(x0 + 3 * layout.scale, y0 + 10 * layout.scale)
    assert (channel, row, col) == (1, 40, 12)


def test_render_channel_enlarges_crisply(maps):
    rgba, scale, stride = render_channel(maps, 2, "per-channel", "viridis", size=90)
    assert stride == 1 and scale == 10 and rgba.shape == (90, 70, 4)
    unit = normalize_feature_maps(maps, "per-channel")[..., 2]
    np.testing.assert_array_equal(rgba[::scale, ::scale], apply_colormap(unit, "viridis"))


def test_vector_bars_and_cells():
    values = np.array([0.0, 2.0, 1.0, -1.0], np.float32)
    layout = plan_vector_strip(range(4), width=100, bar_height=41)
    assert layout.style == "bars"
    image = render_vector_strip(values, layout, "viridis")
    assert image.shape[:2] == layout.size
    colours = apply_colormap(normalize(values, "minmax"), "viridis")
    heights = []
    for index in range(4):
        y0, x0, y1, x1 = layout.position_box(index)
        column = image[:, x0]
        filled = np.all(column == colours[index], axis=-1)
        heights.append(int(filled.sum()))
        assert layout.position_at(x0, 5) == index
    assert heights[1] > heights[2] > 1  # bar height grows with the value
    assert heights[3] > 1  # negative values hang below the baseline
    many = plan_vector_strip(range(1568), width=448)
    assert many.style == "cells"
    cells = render_vector_strip(np.linspace(0, 1, 1568), many, "gray")
    y0, x0, _, _ = many.position_box(1567)
    assert tuple(cells[y0, x0]) == (255, 255, 255, 255)  # the largest value is white in 'gray'
    assert many.position_at(x0 + 1, y0 + 1) == 1567


# -------------------------------------------------------------- architecture
def _digits_nodes():
    spec = [("rescale", "Rescaling", (28, 28, 1), 0), ("conv1", "Conv2D", (28, 28, 16), 160),
            ("pool1", "MaxPooling2D", (14, 14, 16), 0), ("conv2", "Conv2D", (14, 14, 32), 4640),
            ("flatten", "Flatten", (1568,), 0), ("dense1", "Dense", (64,), 100416),
            ("predictions", "Dense", (10,), 650)]
    nodes = [DiagramNode("__input__", "input", "Input", (28, 28, 1), selectable=False)]
    return nodes + [DiagramNode(n, n, t, s, p) for n, t, s, p in spec]


def test_categories_and_labels():
    assert layer_category("Conv2D") == "conv"
    assert layer_category("DepthwiseConv2D") == "depthwise conv"
    assert layer_category("GlobalAveragePooling2D") == "pooling"
    assert layer_category("BatchNormalization") == "normalization"
    assert layer_category("ReLU") == "activation"
    assert layer_category("Add") == "merge"
    assert layer_category("Functional") == "model"
    assert layer_category("Whatever") == "other"
    assert format_shape((7, 7, 1280)) == "7×7×1280" and format_shape(None) == "?"
    assert [format_count(n) for n in (950, 4640, 2_257_984)] == ["950", "4.6k", "2.3M"]


def test_block_size_tracks_output_shape():
    big, small = block_geometry((224, 224, 64)), block_geometry((7, 7, 64))
    assert big["face"] > small["face"] and big["depth"] > small["depth"]
    thin, thick = block_geometry((28, 28, 8)), block_geometry((28, 28, 512))
    assert thick["thickness"] > thin["thickness"] and thick["face"] == thin["face"]
    assert block_geometry((4096,))["kind"] == "vector"
    assert block_geometry((4096,))["face"] > block_geometry((10,))["face"]


def test_layout_boxes_hit_their_own_layers():
    layout = layout_diagram(_digits_nodes(), width=900, title="digits")
    keys = [b.key for b in layout.boxes]
    assert keys[0] == "__input__" and "conv2" in keys
    for box in layout.boxes:
        assert layout.hit(*box.center) is box
    assert layout.find("__input__").action == "none"
    assert layout.find("conv1").action == "select"
    xs = [layout.find(k).center[0] for k in ("rescale", "conv1", "pool1", "conv2")]
    assert xs == sorted(xs)  # left to right, in model order
    assert layout.hit(1, 1) is None
    image = render_diagram(layout)
    assert image.shape == layout.size + (4,) and image.dtype == np.uint8
    assert len(np.unique(image.reshape(-1, 4), axis=0)) > 10


def test_layout_wraps_rows_to_the_width():
    wide = layout_diagram(_digits_nodes(), width=1200)
    narrow = layout_diagram(_digits_nodes(), width=300)
    assert len(wide.rows) == 1 and len(narrow.rows) >= 2
    assert narrow.size[1] == 300
    assert all(box.rect[2] <= 300 for box in narrow.boxes)


def test_groups_collapse_to_one_block_and_expand_to_a_band():
    kids = tuple(DiagramNode(f"m/block_1_{n}", n, "Conv2D", (14, 14, 8), 10) for n in ("a", "b", "c"))
    collapsed = DiagramNode("group:m/block_1", "block_1", "Group", (14, 14, 8), 30, kids, False, 3)
    layout = layout_diagram([collapsed], width=600)
    box = layout.find("group:m/block_1")
    assert box.action == "expand" and layout.find("m/block_1_a") is None and not layout.bands
    expanded = DiagramNode("group:m/block_1", "block_1", "Group", (14, 14, 8), 30, kids, True, 3)
    layout = layout_diagram([expanded], width=600)
    assert [layout.find(f"m/block_1_{n}").action for n in "abc"] == ["select"] * 3
    header = layout.header("group:m/block_1")
    assert header.action == "collapse" and layout.hit(*header.center) == header
    band = layout.bands[0]
    for n in "abc":  # the band encloses its layers
        x0, y0, x1, y1 = layout.find(f"m/block_1_{n}").block
        assert band.rect[0] <= x0 and x1 <= band.rect[2] and band.rect[1] <= y0 and y1 <= band.rect[3]


# ------------------------------------------------------- structure from records
def _record(index, path, type_, shape, parent=None, depth=0, is_model=False, params=1):
    return SimpleNamespace(index=index, path=path, name=path.split("/")[-1], type=type_, output_shape=shape,
                           param_count=params, parent=parent, depth=depth, is_model=is_model,
                           is_conv="Conv" in type_, is_spatial=len(shape) == 3)


def _big_records():
    records = [_record(0, "base", "Functional", (7, 7, 64), is_model=True, params=0)]
    records.append(_record(1, "base/Conv1", "Conv2D", (28, 28, 16), "base", 1))
    for block in range(1, 8):
        for part in ("expand", "expand_BN", "expand_relu", "project"):
            records.append(_record(len(records), f"base/block_{block}_{part}", "Conv2D", (14, 14, 32), "base", 1))
    records.append(_record(len(records), "base/out_relu", "ReLU", (7, 7, 64), "base", 1))
    records.append(_record(len(records), "gap", "GlobalAveragePooling2D", (64,)))
    records.append(_record(len(records), "predictions", "Dense", (10,)))
    return records


def test_name_group_keys():
    from cnnwidgets.widgets.layer_browser.architecture import name_group_key

    assert name_group_key("block_3_expand_BN") == "block_3"
    assert name_group_key("block1_conv2") == "block1"
    assert name_group_key("conv2_block1_1_conv") == "conv2_block1"
    assert name_group_key("block1a_dwconv") == "block1a"
    assert name_group_key("expanded_conv_project_BN") == "expanded_conv"
    assert name_group_key("conv1_pad") == "conv1"
    assert name_group_key("conv2d_3") is None
    assert name_group_key("predictions") is None


def test_nested_model_and_name_blocks_become_groups():
    from cnnwidgets.widgets.layer_browser.architecture import build_diagram_nodes

    records = _big_records()
    nodes, groups = build_diagram_nodes(records, (28, 28, 3))
    assert [n.key for n in nodes] == ["__input__", "base", "gap", "predictions"]
    base = nodes[1]
    assert base.is_group and not base.expanded and base.layer_count == len(records) - 3
    inner = [n.key for n in base.children]
    assert inner[0] == "base/Conv1" and inner[-1] == "base/out_relu"
    assert "group:base/block_3" in inner and len(inner) == 9
    block = base.children[3]
    assert [k.label for k in block.children] == ["expand", "expand_BN", "expand_relu", "project"]
    assert groups["group:base/block_3"] == ("base/block_3_project", [k.key for k in block.children])
    assert groups["base"][0] == "base"
    # few layers: no name grouping
    flat, _ = build_diagram_nodes(records[1:10], None, group_threshold=24)
    assert not any(n.is_group for n in flat)


# --------------------------------------------------------------- input helpers
def _png(array, mode):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_uploaded_files_reads_both_ipywidgets_formats():
    from cnnwidgets.widgets.layer_browser.inputs import uploaded_files

    v8 = ({"name": "a.png", "type": "image/png", "size": 3, "content": memoryview(b"abc"), "last_modified": 0},)
    assert uploaded_files(v8) == [("a.png", b"abc")]
    v7 = {"b.png": {"content": b"xyz", "metadata": {"size": 3}}}
    assert uploaded_files(v7) == [("b.png", b"xyz")]
    assert uploaded_files(()) == []


def test_convert_upload_resizes_converts_and_says_so():
    from cnnwidgets.widgets.layer_browser.inputs import convert_upload

    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[10:30, 20:40] = (200, 100, 50)
    data = _png(rgb, "RGB")
    image, text = convert_upload("photo.png", data, (28, 28, 1))
    np.testing.assert_array_equal(image, decode_image(data, size=(28, 28), channels=1))
    assert "resized from 64×48 to 28×28" in text and "aspect ratio changed" in text
    assert "converted from RGB to grayscale" in text
    paper = np.full((28, 28), 250, np.uint8)
    paper[5:20, 12:15] = 10
    image, text = convert_upload("paper.png", _png(paper, "L"), (28, 28, 1), invert_light_background=True)
    assert image.mean() < 60 and "inverted" in text
    same, text = convert_upload("ok.png", _png(rgb, "RGB"), (48, 64, 3))
    assert same.shape == (48, 64, 3) and "used as is" in text


@pytest.mark.parametrize("data, message", [
    (b"just some text, not a picture", "not an image"),
    (b"", "empty"),
    (None, "only 2×2 pixels"),
])
def test_convert_upload_rejects_bad_files(data, message):
    from cnnwidgets.widgets.layer_browser.inputs import convert_upload

    if data is None:
        data = _png(np.zeros((2, 2), np.uint8), "L")
    with pytest.raises(InvalidImageError, match=message):
        convert_upload("bad.png", data, (28, 28, 1))


def test_mnist_style_centres_and_scales_a_drawing():
    from cnnwidgets.widgets.layer_browser.inputs import mnist_style

    strokes = np.zeros((140, 140), np.uint8)
    strokes[10:100, 100:115] = 255  # a vertical bar in the top-right corner
    digit = mnist_style(strokes)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    rows, cols = np.nonzero(digit > 30)
    assert rows.max() - rows.min() + 1 <= 21 and rows.max() - rows.min() + 1 >= 18
    total = digit.astype(float).sum()
    cy = (digit.sum(axis=1) * np.arange(28)).sum() / total
    cx = (digit.sum(axis=0) * np.arange(28)).sum() / total
    assert abs(cy - 13.5) < 1.0 and abs(cx - 13.5) < 1.0
    assert not mnist_style(np.zeros((140, 140))).any()
