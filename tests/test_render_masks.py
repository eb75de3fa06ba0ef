"""cnnwidgets.render.masks: predicted masks as pictures and painted regions (numpy only, no TensorFlow).

Expectations are worked out by hand on small arrays or by brute-force loops.
"""

import numpy as np
import pytest

from cnnwidgets.render.masks import (
    BACKGROUND_COLOUR,
    box_region,
    brush_region,
    channel_areas,
    class_areas,
    class_palette,
    mask_rgba,
    region_outline,
    sample_nearest,
)


def rgb(hex_colour):
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], np.float64)


def test_palette_is_opaque_and_distinct_with_the_background_first():
    palette = class_palette(14)
    assert palette.dtype == np.uint8 and palette.shape == (14, 4)
    assert (palette[:, 3] == 255).all() and tuple(palette[0]) == BACKGROUND_COLOUR
    assert len({tuple(c) for c in palette}) == 14
    with pytest.raises(ValueError):
        class_palette(0)


def test_class_areas_are_shares_of_the_pixels():
    mask = np.array([[0, 0, 1], [2, 2, 2]])
    np.testing.assert_allclose(class_areas(mask, 4), [2 / 6, 1 / 6, 3 / 6, 0])


def test_a_one_channel_map_covers_the_pixels_labelled_one():
    mask = np.array([[0, 1, 1], [0, 0, 1]])
    np.testing.assert_allclose(channel_areas(mask, 1), [0.5])
    np.testing.assert_allclose(channel_areas(mask, 2), [0.5, 0.5])


def test_sample_nearest_takes_pixel_centres():
    array = np.arange(4).reshape(2, 2)
    np.testing.assert_array_equal(sample_nearest(array, (4, 4)), np.kron(array, np.ones((2, 2), int)))
    np.testing.assert_array_equal(sample_nearest(np.arange(36).reshape(6, 6), (2, 2)), [[7, 10], [25, 28]])


def test_mask_colours_without_image_or_region_are_the_palette():
    mask = np.array([[0, 1], [2, 1]])
    out = mask_rgba(mask, 3, factor=3)
    assert out.shape == (6, 6, 4) and out.dtype == np.uint8 and (out[..., 3] == 255).all()
    for (r, c), label in np.ndenumerate(mask):
        block = out[3 * r:3 * r + 3, 3 * c:3 * c + 3, :3].reshape(-1, 3)
        assert (block == class_palette(3)[label, :3]).all()


def test_image_shows_through_and_outside_the_region_is_dimmed():
    mask = np.zeros((4, 4), int)
    image = np.zeros((8, 8, 4), np.uint8)
    image[..., :3] = 200
    image[..., 3] = 255
    region = np.zeros((4, 4), bool)
    region[1:3, 1:3] = True
    out = mask_rgba(mask, 2, image, region, factor=8, image_share=0.25, dim=0.5).astype(np.float64)
    mixed = 0.75 * class_palette(2)[0, :3].astype(np.float64) + 0.25 * 200
    np.testing.assert_allclose(out[20, 20, :3], np.round(mixed), atol=1)  # inside the region, off the outline
    np.testing.assert_allclose(out[2, 2, :3], np.round(0.5 * mixed), atol=1)  # outside, far from it
    inside, outside = region_outline(sample_nearest(region, (32, 32)), width=2)
    assert (out[inside][:, :3] == 255).all() and (out[outside][:, :3] == 0).all()
    # 2-pixel rings; the outer one in 4-neighbour steps misses 3 pixels at each corner
    assert inside.sum() == 16 * 16 - 12 * 12 and outside.sum() == 20 * 20 - 16 * 16 - 4 * 3


def test_region_outline_matches_a_brute_force_neighbour_test():
    region = np.zeros((6, 7), bool)
    region[1:4, 2:6] = True
    region[0, 0] = True
    inside, outside = region_outline(region)
    for (r, c), value in np.ndenumerate(region):
        neighbours = [(r + dr, c + dc) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))]
        off = [not (0 <= y < 6 and 0 <= x < 7) or not region[y, x] for y, x in neighbours]
        on = [0 <= y < 6 and 0 <= x < 7 and region[y, x] for y, x in neighbours]
        assert inside[r, c] == (value and any(off))
        assert outside[r, c] == (not value and any(on))


def test_mask_rgba_refuses_mismatched_regions():
    with pytest.raises(ValueError, match="must match"):
        mask_rgba(np.zeros((4, 4), int), 2, region=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="class labels"):
        mask_rgba(np.zeros((4, 4, 2), int), 2)


@pytest.mark.parametrize("start, end, diameter", [((2.5, 2.5), (8.5, 10.5), 3.0), ((-2.0, 13.2), (11.9, 0.1), 5.0),
                                                  ((0.3, 0.2), (0.4, 9.0), 1.5)])
def test_brush_region_is_a_capsule_around_the_stroke(start, end, diameter):
    shape = (12, 14)
    region = brush_region(shape, start, end, diameter)
    a, b = np.array(start), np.array(end)
    for (r, c), value in np.ndenumerate(region):
        p = np.array([r + 0.5, c + 0.5])
        t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0, 1)
        ends = [(int(np.floor(y)), int(np.floor(x))) for y, x in (start, end)]
        assert value == (np.linalg.norm(p - (a + t * (b - a))) <= diameter / 2 or (r, c) in ends)
    dot = brush_region(shape, (4.2, 4.9), (4.2, 4.9), 0.1)
    assert dot.sum() == 1 and dot[4, 4]


def test_box_region_spans_both_corners_in_any_order_and_clips():
    region = box_region((6, 6), (4.9, 1.2), (2.1, 3.7))
    expected = np.zeros((6, 6), bool)
    expected[2:5, 1:4] = True
    np.testing.assert_array_equal(region, expected)
    assert box_region((6, 6), (-3, -3), (9, 1)).sum() == 12


def test_a_large_mask_is_drawn_at_the_size_asked_for():
    mask = np.zeros((64, 64), int)
    mask[:, 32:] = 1
    out = mask_rgba(mask, 2, size=(16, 16))
    assert out.shape == (16, 16, 4)
    assert (out[:, :8, :3] == class_palette(2)[0, :3]).all() and (out[:, 8:, :3] == class_palette(2)[1, :3]).all()
    np.testing.assert_array_equal(mask_rgba(mask[:8, 28:36], 2, size=(24, 24)), mask_rgba(mask[:8, 28:36], 2, factor=3))
