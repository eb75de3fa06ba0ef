"""Pure-numpy tests of cnnwidgets.render.saliency (no TensorFlow)."""

import numpy as np
import pytest

from cnnwidgets.render import apply_colormap, blend, image_to_rgba
from cnnwidgets.render.saliency import (
    display_zoom,
    is_diverging,
    legend_rgba,
    map_limits,
    paint_over,
    render_heatmap,
    titled_panel,
    zoom_rgba,
)


def test_display_zoom_enlarges_small_images_by_whole_pixels_and_shrinks_large_ones():
    assert display_zoom(28, 28) == 10.0  # 280 px
    assert display_zoom(32, 32) == 8.0  # 256 px
    assert display_zoom(224, 224) == 1.0
    assert display_zoom(16, 20) == 14.0  # the longer side decides
    assert display_zoom(560, 280) == pytest.approx(0.5)


def test_zoom_rgba_is_crisp_upwards_and_smooth_downwards():
    rgba = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    big = zoom_rgba(rgba, 3.0)
    assert big.shape == (6, 9, 4)
    np.testing.assert_array_equal(big[::3, ::3], rgba)
    np.testing.assert_array_equal(big[2, 8], rgba[0, 2])
    assert zoom_rgba(np.zeros((40, 20, 4), np.uint8), 0.5).shape == (20, 10, 4)


def test_map_limits_use_the_percentile_of_magnitudes():
    values = np.linspace(-1, 3, 101, dtype=np.float32)
    assert map_limits(values, signed=False, clip_percentile=100) == (0.0, 3.0)
    low, high = map_limits(values, signed=True, clip_percentile=100)
    assert (low, high) == (-3.0, 3.0)
    assert map_limits(values, clip_percentile=50)[1] == pytest.approx(np.percentile(np.abs(values), 50))
    assert map_limits(np.array([np.nan, np.inf, 2.0]))[1] == pytest.approx(2.0)
    assert map_limits(np.zeros((3, 3))) == (0.0, 0.0)
    # a map that never reaches zero (RISE's probabilities) starts the colormap at its smallest value
    offset = np.array([0.5, 0.6, 0.7, 0.65], np.float32)
    assert map_limits(offset, clip_percentile=100) == pytest.approx((0.5, 0.7))
    assert map_limits(offset, clip_percentile=50)[0] == pytest.approx(0.5)
    assert map_limits(np.full(4, 2.0), clip_percentile=90) == (0.0, 2.0)  # constant: all at the top colour
    assert map_limits(np.array([1e-7, 0.5, 1.0]), clip_percentile=100) == (0.0, 1.0)  # near zero: from 0
    with pytest.raises(ValueError, match="clip_percentile"):
        map_limits(values, clip_percentile=0)


def test_render_heatmap_colours_magnitudes_or_a_scale_centred_on_zero():
    image = image_to_rgba(np.full((2, 2), 100, np.uint8))
    values = np.array([[-2.0, 0.0], [1.0, 2.0]], np.float32)
    rendering = render_heatmap(image, values, "viridis", signed=False, clip_percentile=100, opacity=1.0)
    assert rendering.limits == (0.0, 2.0)
    np.testing.assert_array_equal(rendering.heat, apply_colormap(np.array([[1.0, 0.0], [0.5, 1.0]]), "viridis"))
    np.testing.assert_array_equal(rendering.overlay[0, 0], rendering.heat[0, 0])  # |-2| is the strongest
    np.testing.assert_array_equal(rendering.overlay[0, 1], image[0, 1])  # zero: the image shows through
    signed = render_heatmap(image, values, "RdBu_r", signed=True, clip_percentile=100, opacity=1.0)
    assert signed.limits == (-2.0, 2.0)
    np.testing.assert_array_equal(signed.heat, apply_colormap(np.array([[0.0, 0.5], [0.75, 1.0]]), "RdBu_r"))
    np.testing.assert_array_equal(signed.overlay[0, 1], image[0, 1])
    np.testing.assert_array_equal(signed.overlay[0, 0], signed.heat[0, 0])
    # saturation: clipped at the 50th percentile, the larger half gets the top colour
    ramp = np.arange(16, dtype=np.float32).reshape(4, 4)
    clipped = render_heatmap(image_to_rgba(np.zeros((4, 4), np.uint8)), ramp, "viridis", clip_percentile=50)
    top = apply_colormap(np.ones(1), "viridis")[0]
    assert (clipped.heat.reshape(-1, 4) == top).all(axis=1).sum() == 8
    # opacity 0 leaves the image untouched; a map that is zero everywhere too
    np.testing.assert_array_equal(render_heatmap(image, values, opacity=0.0).overlay, image)
    np.testing.assert_array_equal(render_heatmap(image, np.zeros((2, 2)), opacity=1.0).overlay, image)


def test_paint_over_equals_blend():
    rng = np.random.default_rng(0)
    image = image_to_rgba(rng.integers(0, 256, (6, 5, 3)).astype(np.uint8))
    colours = rng.integers(0, 256, (6, 5, 4)).astype(np.uint8)
    assert np.abs(paint_over(image, colours).astype(int) - blend(image, colours, 1.0)).max() <= 1
    translucent = image.copy()
    translucent[..., 3] = 128  # not opaque: the general path
    np.testing.assert_array_equal(paint_over(translucent, colours), blend(translucent, colours, 1.0))
    with pytest.raises(ValueError, match="cannot paint"):
        paint_over(image, colours[:2])


def test_render_heatmap_checks_the_shape():
    image = np.zeros((4, 5, 4), np.uint8)
    rendering = render_heatmap(image, np.ones((4, 5)), opacity=0.5)
    assert rendering.heat.shape == rendering.overlay.shape == (4, 5, 4)
    assert rendering.limits == (0.0, 1.0)
    with pytest.raises(ValueError, match="match the image"):
        render_heatmap(image, np.ones((5, 4)))


def test_is_diverging():
    assert is_diverging("RdBu_r") and is_diverging("RdBu") and is_diverging("coolwarm")
    assert not is_diverging("turbo") and not is_diverging("viridis_r")


def test_legend_and_titles():
    legend = legend_rgba("viridis", (-1.5, 1.5), width=120)
    assert legend.shape[1] == 120 and legend.shape[0] >= 20
    np.testing.assert_array_equal(legend[0, 0], apply_colormap(np.zeros(1), "viridis")[0])
    assert (legend[14:, :, :3] < 128).any()  # the labels are drawn
    panel = titled_panel(np.zeros((10, 50, 4), np.uint8), "Grad-CAM")
    assert panel.shape[1] >= 50 and panel.shape[0] > 10
