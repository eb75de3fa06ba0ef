"""Unit tests for cnnwidgets.render: numpy in, uint8 RGBA out (no TensorFlow, no widgets).

Expectations are computed independently: by hand on small arrays, from
matplotlib's own colormaps, and by round trips through Pillow.
"""

import ast
import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

from cnnwidgets import render
from cnnwidgets.render import (
    apply_colormap,
    bar_chart_rgba,
    blend,
    colorbar,
    decode_image,
    encode_png,
    grayscale_to_rgba,
    grid_shape,
    image_to_rgba,
    normalize,
    outline_box,
    resize_rgba,
    save_png,
    stack_panels,
    text_rgba,
    tile_at,
    tile_grid,
    upscale_nearest,
)

REPO = Path(__file__).resolve().parents[1]
RENDER_DIR = REPO / "cnnwidgets" / "render"
rng = np.random.default_rng(1234)


def random_rgba(shape):
    return rng.integers(0, 256, size=tuple(shape) + (4,), dtype=np.uint8)


def solid(shape, color):
    out = np.empty(tuple(shape) + (len(color),), np.uint8)
    out[...] = color
    return out


def png_bytes(array, mode=None, **save_args):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format=save_args.pop("format", "PNG"), **save_args)
    return buffer.getvalue()


# --------------------------------------------------------------------- normalize
class TestNormalize:
    def test_minmax_hand_computed(self):
        out = normalize([[1.0, 2.0], [3.0, 5.0]])
        assert out.dtype == np.float32 and out.shape == (2, 2)
        np.testing.assert_allclose(out, [[0.0, 0.25], [0.5, 1.0]], atol=1e-6)

    def test_symmetric_maps_zero_to_half(self):
        out = normalize([-2.0, 0.0, 1.0, 4.0], mode="symmetric")
        np.testing.assert_allclose(out, [0.25, 0.5, 0.625, 1.0], atol=1e-6)

    def test_symmetric_largest_magnitude_negative(self):
        np.testing.assert_allclose(normalize([-4.0, 2.0], mode="symmetric"), [0.0, 0.75], atol=1e-6)

    def test_absolute(self):
        out = normalize([-4.0, 2.0, 0.0, -1.0], mode="absolute")
        np.testing.assert_allclose(out, [1.0, 0.5, 0.0, 0.25], atol=1e-6)

    def test_fixed_ends_clip(self):
        np.testing.assert_allclose(normalize([-5.0, 5.0, 20.0], vmin=0, vmax=10), [0.0, 0.5, 1.0])
        np.testing.assert_allclose(normalize([-4.0, 1.0, 9.0], mode="symmetric", vmax=2), [0.0, 0.75, 1.0])

    def test_percentile_clipping(self):
        # For 0..100 the p-th percentile (linear interpolation) is exactly p.
        data = np.arange(101, dtype=np.float64)
        out = normalize(data, percentile=90)
        assert out[0] == 0.0 and out[10] == 0.0 and out[90] == 1.0 and out[100] == 1.0
        np.testing.assert_allclose(out[[30, 50, 70]], [0.25, 0.5, 0.75], atol=1e-6)

    def test_percentile_ignores_outlier(self):
        data = np.r_[np.linspace(0.0, 1.0, 999), 1e6]
        assert normalize(data)[500] < 1e-3  # the outlier washes the rest out
        assert normalize(data, percentile=99.0)[500] == pytest.approx(0.5, abs=0.01)

    def test_symmetric_percentile(self):
        data = np.arange(-100.0, 101.0)
        out = normalize(data, mode="symmetric", percentile=50)  # |data| median = 50
        assert out[100] == 0.5  # value 0
        np.testing.assert_allclose(out[[75, 125]], [0.25, 0.75], atol=1e-6)  # -25, +25
        assert out[0] == 0.0 and out[-1] == 1.0

    @pytest.mark.parametrize(
        "mode, value, expected",
        # minmax has no spread: 0. symmetric/absolute: the value is its own largest magnitude.
        [("minmax", 7.0, 0.0), ("minmax", -7.0, 0.0), ("symmetric", 7.0, 1.0), ("symmetric", -7.0, 0.0),
         ("absolute", -7.0, 1.0)],
    )
    def test_constant_input(self, mode, value, expected):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = normalize(np.full((3, 4), value), mode=mode)
        assert out.shape == (3, 4) and out.dtype == np.float32
        np.testing.assert_array_equal(out, expected)

    @pytest.mark.parametrize("mode, expected", [("minmax", 0.0), ("symmetric", 0.5), ("absolute", 0.0)])
    def test_all_zero(self, mode, expected):
        np.testing.assert_array_equal(normalize(np.zeros(5), mode=mode), expected)

    @pytest.mark.parametrize("mode", ["minmax", "symmetric", "absolute"])
    def test_nan_is_kept_and_ignored_for_the_ends(self, mode):
        out = normalize([np.nan, 0.0, 1.0, 2.0], mode=mode)
        assert np.isnan(out[0])
        finite = out[1:]
        assert np.all((finite >= 0) & (finite <= 1))
        assert finite[-1] == 1.0

    def test_nan_minmax_values(self):
        np.testing.assert_allclose(normalize([np.nan, 0.0, 1.0, 2.0])[1:], [0.0, 0.5, 1.0])

    @pytest.mark.parametrize("mode", ["minmax", "symmetric"])
    def test_nan_in_constant_and_all_nan_input(self, mode):
        out = normalize([np.nan, 3.0, 3.0], mode=mode)
        assert np.isnan(out[0]) and np.all(np.isfinite(out[1:]))
        assert np.all(np.isnan(normalize([np.nan, np.nan], mode=mode)))

    def test_infinities_do_not_set_the_ends(self):
        np.testing.assert_allclose(normalize([0.0, 1.0, np.inf, -np.inf, 0.5]), [0, 1, 1, 0, 0.5])

    def test_integer_input(self):
        np.testing.assert_allclose(normalize(np.array([0, 5, 10], np.int64)), [0.0, 0.5, 1.0])

    def test_unknown_mode(self):
        with pytest.raises(ValueError, match="unknown normalization 'log'"):
            normalize([1.0, 2.0], mode="log")


# ------------------------------------------------------------------ colormaps
def matplotlib_rgba(cmap, values):
    return np.asarray(matplotlib.colormaps[cmap](np.asarray(values, np.float64))) * 255


class TestApplyColormap:
    @pytest.mark.parametrize("cmap", ["viridis", "magma", "RdBu_r", "gray", "coolwarm"])
    def test_matches_matplotlib_within_one_level(self, cmap):
        out = apply_colormap([0.0, 0.5, 1.0], cmap)
        assert out.dtype == np.uint8 and out.shape == (3, 4)
        diff = np.abs(out.astype(np.float64) - matplotlib_rgba(cmap, [0.0, 0.5, 1.0]))
        assert diff.max() <= 1.0, diff

    def test_gray_is_linear(self):
        values = np.linspace(0, 1, 11)
        out = apply_colormap(values, "gray")
        assert np.abs(out[:, 0].astype(float) - values * 255).max() <= 1.0
        assert np.all(out[:, 0] == out[:, 1]) and np.all(out[:, 1] == out[:, 2])

    def test_shape_and_default_opaque(self):
        out = apply_colormap(rng.random((2, 3, 5)))
        assert out.shape == (2, 3, 5, 4) and out.dtype == np.uint8
        assert np.all(out[..., 3] == 255)

    def test_nan_is_transparent(self):
        out = apply_colormap(np.array([[np.nan, 0.5], [1.0, np.nan]]), alpha=200)
        np.testing.assert_array_equal(out[..., 3], [[0, 200], [200, 0]])

    def test_scalar_and_array_alpha(self):
        assert np.all(apply_colormap(np.zeros((2, 2)), alpha=128)[..., 3] == 128)
        alpha = np.array([[0, 64], [128, 255]])
        np.testing.assert_array_equal(apply_colormap(np.zeros((2, 2)), alpha=alpha)[..., 3], alpha)
        # broadcast a per-column alpha
        np.testing.assert_array_equal(apply_colormap(np.zeros((3, 2)), alpha=[10, 20])[..., 3], [[10, 20]] * 3)

    def test_alpha_out_of_range_is_clipped(self):
        np.testing.assert_array_equal(apply_colormap(np.zeros(3), alpha=[-5, 127.6, 300])[..., 3], [0, 128, 255])

    def test_values_outside_unit_interval_clip(self):
        out = apply_colormap([-1.0, 0.0, 1.0, 2.0], "viridis")
        np.testing.assert_array_equal(out[0], out[1])
        np.testing.assert_array_equal(out[2], out[3])

    def test_unknown_colormap(self):
        with pytest.raises(ValueError, match="unknown colormap 'not_a_cmap'"):
            apply_colormap([0.5], "not_a_cmap")

    def test_repeated_calls_do_not_share_output(self):
        first = apply_colormap([0.0], "viridis")
        first[...] = 0
        assert apply_colormap([0.0], "viridis")[0, 3] == 255


class TestColorbar:
    def test_horizontal_low_left_high_right(self):
        bar = colorbar("viridis", length=64, thickness=5, horizontal=True)
        assert bar.shape == (5, 64, 4) and bar.dtype == np.uint8
        assert np.all(bar == bar[:1])  # every row the same
        assert np.abs(bar[0, 0].astype(float) - matplotlib_rgba("viridis", [0.0])[0]).max() <= 1
        assert np.abs(bar[0, -1].astype(float) - matplotlib_rgba("viridis", [1.0])[0]).max() <= 1

    def test_vertical_low_bottom_high_top(self):
        bar = colorbar("magma", length=50, thickness=7, horizontal=False)
        assert bar.shape == (50, 7, 4)
        assert np.all(bar == bar[:, :1])  # every column the same
        assert np.abs(bar[-1, 0].astype(float) - matplotlib_rgba("magma", [0.0])[0]).max() <= 1
        assert np.abs(bar[0, 0].astype(float) - matplotlib_rgba("magma", [1.0])[0]).max() <= 1

    def test_vertical_is_horizontal_rotated_counter_clockwise(self):
        horizontal = colorbar("RdBu", length=40, thickness=6)
        vertical = colorbar("RdBu", length=40, thickness=6, horizontal=False)
        np.testing.assert_array_equal(vertical, np.rot90(horizontal))


# -------------------------------------------------------------------- compose
class TestImageToRgba:
    def test_grayscale_uint8(self):
        image = np.array([[0, 17], [128, 255]], np.uint8)
        out = image_to_rgba(image)
        assert out.shape == (2, 2, 4) and out.dtype == np.uint8
        for c in range(3):
            np.testing.assert_array_equal(out[..., c], image)
        assert np.all(out[..., 3] == 255)
        np.testing.assert_array_equal(image_to_rgba(image[..., None]), out)

    def test_rgb_uint8_is_exact(self):
        image = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
        out = image_to_rgba(image)
        np.testing.assert_array_equal(out[..., :3], image)
        assert np.all(out[..., 3] == 255)

    def test_rgba_keeps_alpha(self):
        image = random_rgba((3, 3))
        np.testing.assert_array_equal(image_to_rgba(image), image)

    def test_value_range(self):
        np.testing.assert_array_equal(image_to_rgba(np.array([[0.0, 0.5, 1.0]]), value_range=(0, 1))[0, :, 0], [0, 128, 255])
        np.testing.assert_array_equal(image_to_rgba(np.array([[-1.0, 0.0, 1.0]]), value_range=(-1, 1))[0, :, 0], [0, 128, 255])
        np.testing.assert_array_equal(image_to_rgba(np.array([[-3.0, 9.0]]), value_range=(0, 1))[0, :, 0], [0, 255])

    def test_rescale_stretches_min_max(self):
        out = image_to_rgba(np.array([[10.0, 20.0], [30.0, 50.0]]), rescale=True)
        np.testing.assert_array_equal(out[..., 0], [[0, 64], [128, 255]])

    def test_rescale_rgba_stretches_colour_not_alpha(self):
        image = np.zeros((1, 2, 4), np.float32)
        image[..., :3] = [[[2, 2, 2], [4, 4, 4]]]
        image[..., 3] = 255
        out = image_to_rgba(image, rescale=True)
        np.testing.assert_array_equal(out[0, :, 0], [0, 255])
        np.testing.assert_array_equal(out[..., 3], 255)

    def test_rescale_constant_and_nan(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert np.all(image_to_rgba(np.full((2, 2), 3.0), rescale=True)[..., :3] == 0)
            out = image_to_rgba(np.array([[np.nan, 1.0, 3.0]]), rescale=True)
        np.testing.assert_array_equal(out[0, :, 0], [0, 0, 255])

    @pytest.mark.parametrize("shape", [(4,), (2, 2, 2), (2, 2, 5), (1, 2, 2, 3)])
    def test_bad_shapes(self, shape):
        with pytest.raises(ValueError, match="cannot show an image of shape"):
            image_to_rgba(np.zeros(shape))

    def test_grayscale_to_rgba(self):
        out = grayscale_to_rgba(np.array([[0.0, 0.5, 1.0, 2.0]]))
        np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255, 255])
        assert np.all(out[..., 3] == 255)


class TestUpscaleNearest:
    def test_exact_block_repetition(self):
        image = random_rgba((3, 4))
        out = upscale_nearest(image, 3)
        assert out.shape == (9, 12, 4) and out.dtype == np.uint8
        for c in range(4):
            np.testing.assert_array_equal(out[..., c], np.kron(image[..., c], np.ones((3, 3), np.uint8)))
        ys, xs = np.mgrid[0:9, 0:12]
        np.testing.assert_array_equal(out, image[ys // 3, xs // 3])

    def test_factor_one_and_2d(self):
        image = random_rgba((2, 2))
        np.testing.assert_array_equal(upscale_nearest(image, 1), image)
        np.testing.assert_array_equal(upscale_nearest(np.array([[1, 2]]), 2), [[1, 1, 2, 2], [1, 1, 2, 2]])


class TestResizeRgba:
    def test_same_size_unchanged(self):
        image = random_rgba((5, 6))
        np.testing.assert_array_equal(resize_rgba(image, (5, 6)), image)

    def test_size_is_height_width(self):
        out = resize_rgba(random_rgba((4, 4)), (5, 7))
        assert out.shape == (5, 7, 4) and out.dtype == np.uint8

    def test_nearest_integer_enlargement_equals_block_repetition(self):
        image = random_rgba((3, 5))
        np.testing.assert_array_equal(resize_rgba(image, (6, 10), smooth=False), upscale_nearest(image, 2))

    def test_smooth_constant_stays_constant(self):
        image = solid((4, 6), (10, 200, 30, 255))
        np.testing.assert_array_equal(resize_rgba(image, (9, 13)), solid((9, 13), (10, 200, 30, 255)))

    def test_smooth_downscale_averages(self):
        checker = np.zeros((8, 8, 4), np.uint8)
        checker[..., 3] = 255
        checker[::2, ::2, :3] = 255
        checker[1::2, 1::2, :3] = 255
        out = resize_rgba(checker, (4, 4))
        assert np.all(np.abs(out[..., :3].astype(int) - 128) <= 4)

    def test_bad_input(self):
        with pytest.raises(ValueError):
            resize_rgba(np.zeros((4, 4, 3), np.uint8), (2, 2))
        with pytest.raises(ValueError):
            resize_rgba(random_rgba((4, 4)), (0, 2))


class TestBlend:
    def test_opacity_zero_is_base(self):
        base, overlay = random_rgba((4, 4)), random_rgba((4, 4))
        base[..., 3] = 255
        np.testing.assert_array_equal(blend(base, overlay, 0.0), base)

    def test_opacity_one_with_opaque_overlay_is_overlay(self):
        base, overlay = random_rgba((4, 4)), random_rgba((4, 4))
        overlay[..., 3] = 255
        np.testing.assert_array_equal(blend(base, overlay, 1.0), overlay)

    def test_half_opacity_is_midpoint(self):
        base = solid((2, 2), (0, 10, 200, 255))
        overlay = solid((2, 2), (200, 21, 100, 255))
        out = blend(base, overlay, 0.5)
        assert np.abs(out[..., :3].astype(float) - [100, 15.5, 150]).max() <= 0.5
        assert np.all(out[..., 3] == 255)

    def test_transparent_overlay_pixels_leave_base(self):
        base = random_rgba((3, 3))
        base[..., 3] = 255
        overlay = random_rgba((3, 3))
        overlay[..., 3] = 0
        np.testing.assert_array_equal(blend(base, overlay, 1.0), base)

    def test_overlay_alpha_scales_weight(self):
        out = blend(solid((1, 1), (0, 0, 0, 255)), solid((1, 1), (255, 255, 255, 102)), 0.5)
        assert abs(int(out[0, 0, 0]) - 51) <= 1  # 255 * 102/255 * 0.5
        assert out[0, 0, 3] == 255

    def test_over_transparent_base_keeps_overlay(self):
        out = blend(solid((1, 1), (0, 0, 0, 0)), solid((1, 1), (200, 100, 50, 128)), 1.0)
        np.testing.assert_array_equal(out[0, 0], [200, 100, 50, 128])

    def test_half_transparent_base_and_overlay(self):
        # Porter-Duff over: alpha = a_o + a_b (1 - a_o) = 0.75
        out = blend(solid((1, 1), (0, 0, 0, 128)), solid((1, 1), (255, 255, 255, 128)), 1.0)
        assert abs(int(out[0, 0, 3]) - 191) <= 1
        assert abs(int(out[0, 0, 0]) - 170) <= 1  # 255 * 0.502 / 0.751

    def test_shape_mismatch(self):
        with pytest.raises(ValueError, match="cannot blend"):
            blend(random_rgba((2, 2)), random_rgba((2, 3)))


class TestOutlineBox:
    @staticmethod
    def border_mask(shape, y0, x0, y1, x1, width=1):
        """Pixels of the (already clipped) box within ``width`` of its edge."""
        ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
        inside = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)
        interior = (ys >= y0 + width) & (ys < y1 - width) & (xs >= x0 + width) & (xs < x1 - width)
        return inside & ~interior

    @pytest.mark.parametrize("width", [1, 2])
    def test_only_border_pixels_change(self, width):
        image = random_rgba((10, 12))
        image[..., 3] = 0  # so the colour is never already there
        original = image.copy()
        out = outline_box(image, (2, 3, 8, 10), color=(1, 2, 3, 255), width=width)
        np.testing.assert_array_equal(image, original)  # works on a copy
        changed = np.any(out != image, axis=-1)
        np.testing.assert_array_equal(changed, self.border_mask((10, 12), 2, 3, 8, 10, width))
        assert np.all(out[changed] == [1, 2, 3, 255])

    def test_hand_drawn_small_box(self):
        out = outline_box(np.zeros((5, 5, 4), np.uint8), (1, 1, 4, 4), color=(9, 9, 9, 9))
        expected = np.array(
            [[0, 0, 0, 0, 0], [0, 9, 9, 9, 0], [0, 9, 0, 9, 0], [0, 9, 9, 9, 0], [0, 0, 0, 0, 0]], np.uint8
        )
        np.testing.assert_array_equal(out[..., 0], expected)

    def test_clipped_to_the_image(self):
        image = np.zeros((10, 10, 4), np.uint8)
        out = outline_box(image, (5, 5, 20, 20), color=(255, 0, 0, 255))
        np.testing.assert_array_equal(np.any(out != 0, axis=-1), self.border_mask((10, 10), 5, 5, 10, 10))
        out = outline_box(image, (-5, -3, 4, 4), color=(255, 0, 0, 255))
        np.testing.assert_array_equal(np.any(out != 0, axis=-1), self.border_mask((10, 10), 0, 0, 4, 4))

    def test_box_outside_or_empty_changes_nothing(self):
        image = random_rgba((6, 6))
        for box in [(10, 10, 20, 20), (-9, -9, -1, -1), (3, 3, 3, 5), (4, 4, 2, 2)]:
            np.testing.assert_array_equal(outline_box(image, box), image)

    def test_rgb_colour_on_rgba_is_opaque(self):
        out = outline_box(np.zeros((4, 4, 4), np.uint8), (0, 0, 4, 4), color=(10, 20, 30))
        np.testing.assert_array_equal(out[0, 0], [10, 20, 30, 255])


# ---------------------------------------------------------------------- tiles
class TestTiles:
    def test_grid_shape(self):
        assert grid_shape(0) == (0, 0)
        assert grid_shape(1) == (1, 1)
        assert grid_shape(7) == (3, 3)
        assert grid_shape(16) == (4, 4)
        assert grid_shape(10, columns=4) == (3, 4)
        assert grid_shape(3, columns=10) == (1, 3)

    @pytest.mark.parametrize("count, columns, gap", [(7, 3, 2), (12, 5, 0), (5, None, 3), (1, None, 2)])
    def test_every_pixel_maps_back_to_its_tile(self, count, columns, gap):
        height, width = 3, 5
        tiles = np.zeros((count, height, width, 4), np.uint8)
        tiles[..., :3] = (np.arange(count) + 1)[:, None, None, None]
        tiles[..., 3] = 255
        background = (0, 0, 0, 0)
        grid = tile_grid(tiles, columns=columns, gap=gap, background=background)
        rows, cols = grid_shape(count, columns)
        assert grid.shape == (rows * height + (rows - 1) * gap, cols * width + (cols - 1) * gap, 4)
        seen = np.zeros(count, int)
        for y in range(grid.shape[0]):
            for x in range(grid.shape[1]):
                index = tile_at(x + 0.5, y + 0.5, (height, width), cols, count, gap=gap)
                assert index == tile_at(x, y, (height, width), cols, count, gap=gap)
                if index is None:
                    assert tuple(grid[y, x]) == background, (x, y)
                else:
                    assert grid[y, x, 0] == index + 1, (x, y)
                    seen[index] += 1
        np.testing.assert_array_equal(seen, height * width)  # every tile, whole

    def test_tile_positions_hand_computed(self):
        tiles = random_rgba((5, 2, 3))
        grid = tile_grid(tiles, columns=2, gap=1, background=(7, 7, 7, 7))
        assert grid.shape == (3 * 2 + 2, 2 * 3 + 1, 4)
        np.testing.assert_array_equal(grid[0:2, 0:3], tiles[0])
        np.testing.assert_array_equal(grid[0:2, 4:7], tiles[1])
        np.testing.assert_array_equal(grid[3:5, 4:7], tiles[3])
        np.testing.assert_array_equal(grid[6:8, 0:3], tiles[4])
        assert np.all(grid[6:8, 4:7] == 7)  # the missing sixth tile
        assert np.all(grid[2] == 7) and np.all(grid[:, 3] == 7)  # gaps

    def test_outside_points(self):
        args = dict(tile_size=(3, 5), columns=3, count=7, gap=2)
        assert tile_at(-1, 0, **args) is None
        assert tile_at(0, -0.5, **args) is None
        assert tile_at(5, 0, **args) is None  # in the gap after column 0
        assert tile_at(21, 0, **args) is None  # right of the grid
        assert tile_at(0, 100, **args) is None  # below the grid
        assert tile_at(7, 5, **args) == 4
        assert tile_at(7, 10, **args) is None  # row 2, column 1: index 7 does not exist

    def test_empty_and_bad_input(self):
        assert tile_grid(np.zeros((0, 3, 3, 4), np.uint8)).shape == (0, 0, 4)
        with pytest.raises(ValueError, match="tiles must be"):
            tile_grid(np.zeros((2, 3, 3, 3), np.uint8))


# ------------------------------------------------------------------------ PNG
class TestPng:
    def test_encode_rgba_round_trip_through_pillow(self):
        image = random_rgba((7, 9))
        data = encode_png(image)
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        decoded = Image.open(io.BytesIO(data))
        assert decoded.mode == "RGBA" and decoded.size == (9, 7)
        np.testing.assert_array_equal(np.asarray(decoded), image)

    def test_encode_rgb_and_grayscale(self):
        rgb = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
        decoded = Image.open(io.BytesIO(encode_png(rgb)))
        assert decoded.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(decoded), rgb)
        grey = rng.integers(0, 256, (4, 6), dtype=np.uint8)
        for array in (grey, grey[..., None]):
            decoded = Image.open(io.BytesIO(encode_png(array)))
            assert decoded.mode == "L"
            np.testing.assert_array_equal(np.asarray(decoded), grey)

    def test_encode_bad_shape(self):
        with pytest.raises(ValueError, match="cannot encode"):
            encode_png(np.zeros((2, 2, 2), np.uint8))

    def test_save_png(self, tmp_path):
        image = random_rgba((3, 4))
        path = tmp_path / "x.png"
        assert save_png(image, path) == path
        np.testing.assert_array_equal(np.asarray(Image.open(path)), image)

    def test_decode_rgb_round_trip(self):
        image = rng.integers(0, 256, (5, 8, 3), dtype=np.uint8)
        out = decode_image(encode_png(image))
        assert out.dtype == np.uint8 and out.shape == (5, 8, 3)
        np.testing.assert_array_equal(out, image)

    def test_decode_grayscale_round_trip(self):
        grey = rng.integers(0, 256, (6, 4), dtype=np.uint8)
        out = decode_image(encode_png(grey), channels=1)
        assert out.shape == (6, 4, 1)
        np.testing.assert_array_equal(out[..., 0], grey)
        # grey to RGB repeats the channel
        np.testing.assert_array_equal(decode_image(encode_png(grey)), np.repeat(grey[..., None], 3, axis=-1))

    def test_decode_rgb_as_grayscale_uses_luma(self):
        image = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
        out = decode_image(encode_png(image), channels=1)[0, :, 0]
        expected = 255 * np.array([0.299, 0.587, 0.114, 1.0])  # ITU-R 601-2 luma
        assert np.abs(out - expected).max() <= 1

    def test_decode_rgba_drops_alpha(self):
        image = random_rgba((3, 3))
        np.testing.assert_array_equal(decode_image(encode_png(image)), image[..., :3])

    def test_decode_resizes_to_model_size(self):
        image = solid((56, 40), (30, 60, 90))
        out = decode_image(encode_png(image), size=(28, 28))
        assert out.shape == (28, 28, 3)
        assert np.all(out == [30, 60, 90])
        assert decode_image(encode_png(image), size=(20, 30), channels=1).shape == (20, 30, 1)
        assert decode_image(encode_png(image), size=(None, None)).shape == (56, 40, 3)

    def test_decode_resize_matches_pillow_bilinear(self):
        image = rng.integers(0, 256, (16, 12, 3), dtype=np.uint8)
        expected = np.asarray(Image.fromarray(image).resize((5, 7), Image.BILINEAR))
        np.testing.assert_array_equal(decode_image(encode_png(image), size=(7, 5)), expected)

    def test_decode_jpeg_and_memoryview(self):
        image = solid((16, 16), (200, 40, 40))
        data = png_bytes(image, format="JPEG", quality=95)
        out = decode_image(memoryview(data))
        assert out.shape == (16, 16, 3)
        assert np.abs(out.astype(int) - [200, 40, 40]).max() <= 8

    def test_decode_16_bit_grayscale_is_scaled(self):
        wide = np.array([[0, 257 * 100, 65535]], np.uint16)
        out = decode_image(png_bytes(wide), channels=1)
        np.testing.assert_array_equal(out[0, :, 0], [0, 100, 255])

    def test_decode_applies_exif_orientation(self):
        image = rng.integers(0, 256, (4, 8, 3), dtype=np.uint8)
        exif = Image.Exif()
        exif[0x0112] = 6  # stored rotated: turn 90 degrees clockwise to display
        out = decode_image(png_bytes(image, exif=exif))
        np.testing.assert_array_equal(out, np.rot90(image, k=-1))

    @pytest.mark.parametrize("data", [b"this is not an image", b"\x00" * 100, b"GIF89a broken"])
    def test_non_image_bytes_raise_value_error(self, data):
        with pytest.raises(ValueError, match=r"not an image that can be read.*PNG, JPEG") as info:
            decode_image(data)
        assert "BytesIO" not in str(info.value)

    def test_empty_and_truncated(self):
        with pytest.raises(ValueError, match="empty"):
            decode_image(b"")
        data = encode_png(random_rgba((32, 32)))
        with pytest.raises(ValueError, match="could not be decoded|not an image"):
            decode_image(data[: len(data) // 2])

    def test_bad_channels(self):
        with pytest.raises(ValueError, match="channels must be 1"):
            decode_image(encode_png(random_rgba((2, 2))), channels=4)


# --------------------------------------------------------------------- panels
class TestStackPanels:
    def test_side_by_side_top_aligned(self):
        a, b = solid((4, 2), (1, 1, 1, 255)), solid((2, 3), (2, 2, 2, 255))
        out = stack_panels([a, b], axis=1, gap=1, background=(9, 9, 9, 255))
        assert out.shape == (4, 6, 4) and out.dtype == np.uint8
        np.testing.assert_array_equal(out[:, 0:2], a)
        assert np.all(out[:, 2] == (9, 9, 9, 255))
        np.testing.assert_array_equal(out[0:2, 3:6], b)
        assert np.all(out[2:, 3:6] == (9, 9, 9, 255))

    def test_top_to_bottom(self):
        a, b = solid((2, 5), (1, 1, 1, 255)), solid((3, 2), (2, 2, 2, 255))
        out = stack_panels([a, b], axis=0, gap=2, background=(0, 0, 0, 0))
        assert out.shape == (7, 5, 4)
        np.testing.assert_array_equal(out[0:2], a)
        assert np.all(out[2:4] == 0)
        np.testing.assert_array_equal(out[4:7, 0:2], b)
        assert np.all(out[4:7, 2:] == 0)

    @pytest.mark.parametrize("align, rows", [("start", slice(0, 2)), ("center", slice(1, 3)), ("end", slice(2, 4))])
    def test_align(self, align, rows):
        tall, short = solid((4, 1), (1, 1, 1, 255)), solid((2, 1), (2, 2, 2, 255))
        out = stack_panels([tall, short], gap=0, align=align)
        assert np.all(out[rows, 1] == (2, 2, 2, 255))
        assert np.sum(np.all(out[:, 1] == (2, 2, 2, 255), axis=-1)) == 2

    def test_widget_snapshot_call_and_mixed_inputs(self):
        rgb = np.full((3, 2, 3), 50, np.uint8)
        grey = np.full((1, 1), 70, np.uint8)
        out = stack_panels([rgb, None, grey], axis=1, gap=8, background=(255, 255, 255, 255))
        assert out.shape == (3, 2 + 8 + 1, 4)
        np.testing.assert_array_equal(out[:, :2], np.full((3, 2, 4), [50, 50, 50, 255]))
        np.testing.assert_array_equal(out[0, -1], [70, 70, 70, 255])
        assert np.all(out[1:, -1] == 255) and np.all(out[:, 2:10] == 255)

    def test_no_panels_and_bad_input(self):
        assert stack_panels([]).shape == (0, 0, 4)
        with pytest.raises(ValueError, match="axis"):
            stack_panels([random_rgba((2, 2))], axis=2)
        with pytest.raises(ValueError, match="panel"):
            stack_panels([np.zeros((2, 2, 2), np.uint8)])


class TestTextRgba:
    @pytest.mark.parametrize("height", [8, 12, 20])
    def test_height_and_ink(self, height):
        out = text_rgba("Hello 42", height, color=(10, 20, 30, 255))
        assert out.dtype == np.uint8 and out.shape[0] == height and out.shape[2] == 4
        assert out.shape[1] > 0
        assert np.all(out[..., :3] == [10, 20, 30])
        alpha = out[..., 3]
        assert alpha.max() >= 150 and (alpha == 0).sum() > alpha.size // 2 - height
        inked = np.flatnonzero(alpha.any(axis=0))
        assert inked[0] <= 3 and inked[-1] >= out.shape[1] - 4  # the width is the text's

    def test_width_grows_with_text_and_height(self):
        assert text_rgba("WWWW", 12).shape[1] > text_rgba("W", 12).shape[1]
        assert text_rgba("cat", 24).shape[1] > text_rgba("cat", 10).shape[1]

    def test_empty_text_and_newlines(self):
        assert text_rgba("", 10).shape == (10, 0, 4)
        assert text_rgba("a\nb", 10).shape[0] == 10

    def test_colour_alpha_scales_coverage(self):
        full, half = text_rgba("Ag", 16), text_rgba("Ag", 16, color=(0, 0, 0, 128))
        assert half.shape == full.shape and half[..., 3].max() <= 128
        np.testing.assert_array_equal(half[..., 3] > 0, full[..., 3] > 0)
        assert np.abs(half[..., 3].astype(int) - full[..., 3].astype(int) * 128 / 255).max() <= 1

    def test_bad_height(self):
        with pytest.raises(ValueError):
            text_rgba("x", 0)

    def test_characters_past_latin1_with_the_bitmap_fallback_font(self, monkeypatch):
        """Pillow < 10.1 (the oldest supported) has only a Latin-1 bitmap default font: "\u2026" must not raise."""
        from PIL import ImageFont

        from cnnwidgets.render import panels

        bitmap = ImageFont.load_default_imagefont() if hasattr(ImageFont, "load_default_imagefont") \
            else ImageFont.load_default()
        if not isinstance(bitmap, ImageFont.ImageFont):
            pytest.skip("this Pillow has no bitmap default font")
        line = bitmap.getbbox("Ag")[3]
        monkeypatch.setattr(panels, "_font", lambda height: (bitmap, line))
        out = text_rgba("3 more \u2026 \u2212 1 \u4e00", 12)
        np.testing.assert_array_equal(out, text_rgba("3 more ... - 1 ?", 12))
        assert out[..., 3].max() > 0


class TestBarChartRgba:
    BAR = (31, 119, 180, 255)
    HIGHLIGHT = (255, 127, 14, 255)

    @classmethod
    def bar_lengths(cls, chart, count, color=BAR):
        """Columns holding ``color`` in each of ``count`` equal horizontal bands."""
        mask = np.all(chart == color, axis=-1)
        band = chart.shape[0] // count
        return [int(mask[i * band : (i + 1) * band].any(axis=0).sum()) for i in range(count)]

    def test_shape_and_proportional_bars(self):
        chart = bar_chart_rgba([1.0, 0.5, 0.25, 0.0], ["cat", "dog", "bird", "fish"], (120, 300))
        assert chart.shape == (120, 300, 4) and chart.dtype == np.uint8
        lengths = self.bar_lengths(chart, 4)
        assert lengths[0] > 100
        assert abs(lengths[1] - lengths[0] / 2) <= 1 and abs(lengths[2] - lengths[0] / 4) <= 1
        assert lengths[3] == 0
        # bars start in the same column, after the labels
        starts = [np.argmax(np.all(chart[i * 30 : (i + 1) * 30] == self.BAR, axis=-1).any(axis=0)) for i in range(3)]
        assert len(set(starts)) == 1 and starts[0] > 0

    def test_labels_and_values_are_drawn(self):
        chart = bar_chart_rgba([0.8, 0.2], ["cat", "dog"], (60, 300))
        dark = np.all(chart[..., :3] < 100, axis=-1)
        start = np.argmax(np.all(chart == self.BAR, axis=-1).any(axis=0))
        assert dark[:, :start].any()  # labels left of the bars
        end = start + self.bar_lengths(chart, 2)[0]
        assert dark[:, end:].any()  # value text right of the bars
        # the rest is the white background
        assert np.all(chart[..., 3] == 255)

    def test_no_value_text_gives_longer_bars(self):
        with_values = self.bar_lengths(bar_chart_rgba([1.0], ["a"], (30, 200)), 1)[0]
        without = self.bar_lengths(bar_chart_rgba([1.0], ["a"], (30, 200), value_format=None), 1)[0]
        assert without > with_values

    def test_highlight(self):
        chart = bar_chart_rgba([0.3, 0.6, 0.9], ["a", "b", "c"], (90, 200), highlight=1)
        assert self.bar_lengths(chart, 3, self.HIGHLIGHT)[0] == 0
        assert self.bar_lengths(chart, 3, self.HIGHLIGHT)[1] > 0
        assert self.bar_lengths(chart, 3, self.HIGHLIGHT)[2] == 0
        assert self.bar_lengths(chart, 3)[1] == 0
        assert self.bar_lengths(chart, 3)[0] > 0 and self.bar_lengths(chart, 3)[2] > 0

    def test_vmax(self):
        full = self.bar_lengths(bar_chart_rgba([1.0], ["a"], (20, 200)), 1)[0]
        half = self.bar_lengths(bar_chart_rgba([1.0], ["a"], (20, 200), vmax=2.0), 1)[0]
        assert abs(half - full / 2) <= 1

    def test_values_beyond_one_scale_to_largest(self):
        lengths = self.bar_lengths(bar_chart_rgba([2.0, 4.0], None, (40, 200)), 2)
        assert abs(lengths[1] - 2 * lengths[0]) <= 1

    def test_probabilities_use_full_scale_of_one(self):
        lengths = self.bar_lengths(bar_chart_rgba([0.5, 0.25], ["a", "b"], (40, 200), value_format=None), 2)
        reference = self.bar_lengths(bar_chart_rgba([1.0, 0.25], ["a", "b"], (40, 200), value_format=None), 2)
        assert abs(lengths[0] - reference[0] / 2) <= 1

    def test_negative_nan_and_tiny_rows(self):
        chart = bar_chart_rgba([np.nan, -1.0, 1.0], ["a", "b", "c"], (60, 100))
        assert self.bar_lengths(chart, 3)[:2] == [0, 0]
        tiny = bar_chart_rgba([1.0, 0.5, 0.2, 0.1, 0.0], None, (10, 100))  # rows too short for text
        assert tiny.shape == (10, 100, 4)
        assert self.bar_lengths(tiny, 5)[0] == 100

    def test_empty_values_is_background(self):
        chart = bar_chart_rgba([], [], (10, 20), background=(1, 2, 3, 4))
        np.testing.assert_array_equal(chart, solid((10, 20), (1, 2, 3, 4)))

    def test_errors(self):
        with pytest.raises(ValueError, match="labels"):
            bar_chart_rgba([1.0, 2.0], ["a"], (10, 10))
        with pytest.raises(ValueError, match="1-D"):
            bar_chart_rgba([[1.0]], ["a"], (10, 10))
        with pytest.raises(ValueError, match="out of range"):
            bar_chart_rgba([1.0], ["a"], (10, 10), highlight=3)
        with pytest.raises(ValueError, match="size"):
            bar_chart_rgba([1.0], ["a"], (0, 10))


# -------------------------------------------------------------- import hygiene
HEAVY = ("tensorflow", "keras", "ipywidgets", "ipycanvas", "bqplot", "jax", "torch")


def test_import_render_loads_no_tensorflow_or_widgets():
    code = (
        "import sys, numpy as np\n"
        "import cnnwidgets.render as r\n"
        "r.encode_png(r.apply_colormap(r.normalize(np.eye(3)), 'viridis'))\n"
        "r.stack_panels([r.text_rgba('x', 10), r.bar_chart_rgba([0.5], ['a'], (20, 40))])\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout


def test_render_sources_do_not_import_heavy_modules():
    for path in sorted(RENDER_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in HEAVY, f"{path.name} imports {name}"


def test_public_names_are_exported():
    for name in render.__all__:
        assert callable(getattr(render, name)), name
    for name in ("stack_panels", "text_rgba", "bar_chart_rgba"):
        assert name in render.__all__


def test_encode_png_levels_and_fast_encoder_are_lossless():
    import io

    from PIL import Image

    from cnnwidgets.render import encode_png, encode_png_fast

    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    large = rng.integers(0, 256, (300, 260, 4), dtype=np.uint8)  # over the stored-size limit: deflated
    encoded = [encode_png(small, compress_level=level) for level in (0, 1, 9)]
    encoded += [encode_png_fast(small), encode_png_fast(large)]
    expected = [small] * 4 + [large]
    for data, image in zip(encoded, expected):
        with Image.open(io.BytesIO(data)) as decoded:
            assert decoded.mode == "RGBA"
            np.testing.assert_array_equal(np.asarray(decoded), image)
    with pytest.raises(ValueError, match="RGBA"):
        encode_png_fast(small[..., :3])
