"""Kernel and synthesized-image tiles of the FilterGrid (pure numpy, no TensorFlow)."""

import numpy as np
import pytest
from matplotlib import colormaps

from cnnwidgets.render import tile_grid
from cnnwidgets.render.filters import (
    caption_tiles,
    diverging_tiles,
    feature_map_tile,
    filter_planes,
    filter_stack,
    filter_statistics,
    format_value,
    image_tiles,
    labelled_colorbar,
    page_grid,
    rgb_tiles,
    robust_range,
    symmetric_limit,
    text_block,
    tile_scale,
)


def _hand_rdbu(weight, vmax):
    """RdBu_r colour of one weight, computed by hand from matplotlib's colormap."""
    unit = min(1.0, max(0.0, 0.5 + 0.5 * weight / vmax))
    index = int(unit * 255 + 0.5)
    return tuple(int(c * 255 + 0.5) for c in colormaps["RdBu_r"](index / 255.0)[:3])


# ------------------------------------------------------------------ stacks
def test_filter_stack_conv_puts_output_filters_first():
    kernel = np.arange(3 * 3 * 2 * 4, dtype=np.float32).reshape(3, 3, 2, 4)
    stack = filter_stack(kernel, "conv")
    assert stack.shape == (4, 3, 3, 2)
    for o in range(4):
        np.testing.assert_array_equal(stack[o], kernel[..., o])


def test_filter_stack_depthwise_orders_channels_times_multiplier():
    kernel = np.arange(3 * 3 * 2 * 3, dtype=np.float32).reshape(3, 3, 2, 3)  # c_in 2, multiplier 3
    stack = filter_stack(kernel, "depthwise")
    assert stack.shape == (6, 3, 3, 1)
    for c in range(2):
        for m in range(3):
            np.testing.assert_array_equal(stack[c * 3 + m, ..., 0], kernel[:, :, c, m])


def test_filter_stack_transpose_reads_output_channels_from_axis_two():
    kernel = np.random.default_rng(1).normal(size=(2, 2, 5, 3)).astype(np.float32)  # (kh, kw, out, in)
    stack = filter_stack(kernel, "transpose")
    assert stack.shape == (5, 2, 2, 3)
    np.testing.assert_array_equal(stack[4], kernel[:, :, 4, :])


def test_filter_stack_rejects_bad_input():
    with pytest.raises(ValueError, match="4-D"):
        filter_stack(np.zeros((3, 3, 4)))
    with pytest.raises(ValueError, match="layout"):
        filter_stack(np.zeros((3, 3, 1, 1)), "pointwise")


def test_filter_planes_mean_and_single_channel():
    stack = np.random.default_rng(2).normal(size=(4, 3, 3, 5)).astype(np.float32)
    np.testing.assert_allclose(filter_planes(stack, -1), stack.mean(axis=-1), rtol=1e-6)
    np.testing.assert_array_equal(filter_planes(stack, 2), stack[..., 2])
    with pytest.raises(ValueError, match="5 input"):
        filter_planes(stack, 5)


def test_symmetric_limit_ignores_nan_and_sign():
    assert symmetric_limit([0.5, -2.0, np.nan]) == 2.0
    assert symmetric_limit([np.nan]) == 0.0


def test_tile_scale_is_integer_and_at_least_one():
    assert tile_scale(3, 64) == 21
    assert tile_scale(28, 64) == 2
    assert tile_scale(224, 64) == 1
    with pytest.raises(ValueError):
        tile_scale(0, 64)


# ----------------------------------------------------------------- colours
def test_diverging_tiles_match_hand_computed_colormap():
    planes = np.array([[[-0.8, 0.0], [0.3, 0.8]], [[0.1, -0.4], [0.0, 0.2]]], np.float32)
    tiles = diverging_tiles(planes, cmap="RdBu_r", scale=3)
    assert tiles.shape == (2, 6, 6, 4) and tiles.dtype == np.uint8
    vmax = 0.8
    for n in range(2):
        for y in range(2):
            for x in range(2):
                block = tiles[n, 3 * y : 3 * y + 3, 3 * x : 3 * x + 3]
                # crisp upscaling: the whole 3x3 block is one colour
                assert (block == block[0, 0]).all()
                assert tuple(block[0, 0, :3]) == _hand_rdbu(planes[n, y, x], vmax)
                assert block[0, 0, 3] == 255
    # the sign reads as a colour: negative is blue, positive red, zero near white
    r, g, b = tiles[0, 0, 0, :3].astype(int)
    assert b > r + 60
    r, g, b = tiles[0, 3, 3, :3].astype(int)
    assert r > b + 60
    assert tiles[0, 0, 3, :3].min() > 230


def test_diverging_tiles_fixed_vmax_saturates():
    tiles = diverging_tiles(np.array([[[2.0, -2.0]]], np.float32), vmax=1.0)
    assert tuple(tiles[0, 0, 0, :3]) == _hand_rdbu(1.0, 1.0)
    assert tuple(tiles[0, 0, 1, :3]) == _hand_rdbu(-1.0, 1.0)


def test_rgb_tiles_grey_is_zero_and_extremes_are_black_and_white():
    stack = np.zeros((1, 1, 3, 3), np.float32)
    stack[0, 0, 1] = [0.5, -0.5, 0.25]
    stack[0, 0, 2] = [0.5, 0.5, 0.5]
    tiles = rgb_tiles(stack, scale=2)
    assert tiles.shape == (1, 2, 6, 4)
    assert tuple(tiles[0, 0, 0, :3]) == (128, 128, 128)  # zero weight: mid-grey
    assert tuple(tiles[0, 0, 2, :3]) == (255, 0, 191)  # 0.5 + 0.5 * w / 0.5 per channel
    assert tuple(tiles[0, 1, 5, :3]) == (255, 255, 255)
    assert (tiles[..., 3] == 255).all()
    with pytest.raises(ValueError, match="3"):
        rgb_tiles(np.zeros((1, 3, 3, 2)))


# ------------------------------------------------------------------ images
def test_image_tiles_enlarge_small_images_crisply():
    images = np.random.default_rng(3).uniform(0, 255, size=(2, 28, 28, 1)).astype(np.float32)
    tiles = image_tiles(images, target=64, value_range=(0, 255))
    assert tiles.shape == (2, 56, 56, 4)
    expected = np.clip(images[1, 5, 7, 0] + 0.5, 0, 255).astype(np.uint8)
    assert (tiles[1, 10:12, 14:16, :3] == expected).all()


def test_image_tiles_shrink_large_images():
    images = np.zeros((1, 224, 112, 3), np.float32)
    assert image_tiles(images, target=64).shape == (1, 64, 32, 4)


def test_image_tiles_stretch_each_image_robustly():
    image = np.full((1, 20, 20, 1), 10.0, np.float32)
    image[0, :10] = 20.0
    image[0, 0, 0] = 1000.0  # one outlier pixel must not wash the image out
    tile = image_tiles(image, target=20)[0]
    assert tile[15, 5, 0] == 0 and tile[5, 5, 0] == 255
    assert robust_range(image, 100.0) == (10.0, 1000.0)
    assert robust_range(np.full(4, 3.0)) == (3.0, 3.0)


def test_feature_map_tile_fits_target():
    fmap = np.arange(16, dtype=np.float32).reshape(4, 4)
    tile = feature_map_tile(fmap, target=40)
    assert tile.shape == (40, 40, 4)
    viridis_top = tuple(int(c * 255 + 0.5) for c in colormaps["viridis"](1.0)[:3])
    assert tuple(tile[39, 39, :3]) == viridis_top
    assert feature_map_tile(np.zeros((300, 150)), target=100).shape == (100, 50, 4)


# ---------------------------------------------------------------- assembly
def test_caption_tiles_adds_a_text_strip_below():
    tiles = np.zeros((2, 20, 30, 4), np.uint8)
    tiles[..., 3] = 255
    captioned = caption_tiles(tiles, ["7", "12"], height=12)
    assert captioned.shape == (2, 32, 30, 4)
    np.testing.assert_array_equal(captioned[:, :20], tiles)
    strip = captioned[0, 20:]
    assert strip[..., :3].min() < 200 and strip[..., :3].max() == 255  # dark text on white
    with pytest.raises(ValueError, match="captions"):
        caption_tiles(tiles, ["only one"])


def test_page_grid_outlines_the_selected_tile():
    tiles = np.zeros((5, 10, 10, 4), np.uint8)
    tiles[..., 3] = 255
    plain = page_grid(tiles, columns=3, gap=4, margin=2)
    inner = tile_grid(tiles, columns=3, gap=4, background=(255, 255, 255, 255))
    assert plain.shape == (inner.shape[0] + 4, inner.shape[1] + 4, 4)
    np.testing.assert_array_equal(plain[2:-2, 2:-2], inner)
    assert (plain[:2] == 255).all() and (plain[:, -2:] == 255).all()
    marked = page_grid(tiles, columns=3, gap=4, selected=4, margin=2)  # row 1, column 1: on the bottom edge
    y, x = 2 + 14, 2 + 14
    orange = (255, 140, 0, 255)
    assert tuple(marked[y - 1, x + 5]) == orange and tuple(marked[y + 10, x + 5]) == orange
    assert tuple(marked[y + 5, x - 2]) == orange and tuple(marked[y + 5, x + 11]) == orange
    np.testing.assert_array_equal(marked[y : y + 10, x : x + 10], tiles[4])  # the tile itself is untouched
    np.testing.assert_array_equal(marked[:12, :12], plain[:12, :12])


def test_labelled_colorbar_has_ramp_and_labels():
    legend = labelled_colorbar(-0.5, 0.5, "RdBu_r", length=100, thickness=8, title="weight")
    assert legend.shape[1] == 100 and legend.dtype == np.uint8
    strip_row = legend[12 + 2 + 4]  # below the title line and the gap
    assert tuple(strip_row[0, :3]) == _hand_rdbu(-0.5, 0.5)
    assert tuple(strip_row[99, :3]) == _hand_rdbu(0.5, 0.5)
    grey = labelled_colorbar(-1, 1, "rgb", length=50)
    assert tuple(grey[0, 0, :3]) == (0, 0, 0) and tuple(grey[0, 49, :3]) == (255, 255, 255)


def test_text_block_and_statistics():
    block = text_block(["one", "two lines"], text_height=12, gap=3)
    assert block.shape[0] == 27 and (block[..., 3] == 255).all()
    stats = filter_statistics(np.array([[3.0, -4.0]]))
    assert stats == {"min": -4.0, "max": 3.0, "mean": -0.5, "std": 3.5, "l2": 5.0, "count": 2}
    assert format_value(0) == "0" and format_value(0.123456) == "0.123" and format_value(-12345.0) == "-1.23e+04"
