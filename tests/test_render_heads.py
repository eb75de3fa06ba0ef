"""Output-head pictures (render/heads.py): palettes, masks, score maps and value bars, pixel by pixel."""

import numpy as np
import pytest

from cnnwidgets.render import apply_colormap
from cnnwidgets.render.heads import (
    HEAD_HIGHLIGHT,
    format_head_value,
    mask_legend_rgba,
    mask_rgba,
    score_maps_rgba,
    values_rgba,
)
from cnnwidgets.render.masks import BACKGROUND_COLOUR, class_palette


@pytest.mark.parametrize("count", [1, 2, 5, 11, 21, 40])
def test_palette_gives_every_class_its_own_opaque_colour(count):
    palette = class_palette(count)
    assert palette.shape == (count, 4) and palette.dtype == np.uint8
    assert (palette[:, 3] == 255).all()
    assert tuple(palette[0]) == BACKGROUND_COLOUR
    assert len({tuple(c) for c in palette}) == count


def test_palette_without_background_starts_with_tab10():
    from matplotlib import colormaps

    palette = class_palette(3, background=False)
    expected = np.round(np.asarray(colormaps["tab10"].colors[:3]) * 255).astype(np.uint8)
    np.testing.assert_array_equal(palette[:, :3], expected)


def test_mask_is_painted_with_crisp_pixels_of_the_palette():
    mask = np.zeros((8, 4), int)
    mask[2:5, 1:3] = 1
    mask[7, 3] = 2
    palette = class_palette(3)
    rgba = mask_rgba(mask, palette, size=32)
    assert rgba.shape == (32, 16, 4)  # factor 4 on the longer side
    for y in range(8):
        for x in range(4):
            block = rgba[4 * y: 4 * y + 4, 4 * x: 4 * x + 4]
            assert (block == palette[mask[y, x]]).all()


def test_mask_with_a_class_outside_the_palette_is_refused():
    with pytest.raises(ValueError, match="palette has 2 colours"):
        mask_rgba(np.full((3, 3), 2), class_palette(2))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        mask_rgba(np.zeros((3, 3, 1), int), class_palette(2))


def test_legend_has_one_swatch_per_class():
    palette = class_palette(3)
    legend = mask_legend_rgba(["bg", "tank", "sky"], palette, [0.5, 0.3, 0.2], text_height=12)
    for colour in palette:
        inside = np.all(legend == colour, axis=-1)
        assert inside.sum() == 10 * 10  # a 12-pixel swatch inside its 1-pixel frame


def test_score_maps_show_each_class_on_a_shared_probability_scale():
    rng = np.random.default_rng(0)
    scores = rng.random((4, 4, 3)).astype(np.float32)
    grid, limits = score_maps_rgba(scores, ["a", "b", "c"], cmap="viridis", tile=8, columns=3)
    assert limits == (0.0, 1.0)
    for k in range(3):  # every class's map, enlarged x2, appears in the grid exactly as the colormap says
        expected = np.repeat(np.repeat(apply_colormap(scores[..., k], "viridis"), 2, 0), 2, 1)
        found = False
        for y in range(grid.shape[0] - 7):
            for x in range(grid.shape[1] - 7):
                if np.array_equal(grid[y: y + 8, x: x + 8], expected):
                    found = True
                    break
            if found:
                break
        assert found, f"map of class {k} not found"


def test_score_maps_of_raw_scores_use_their_range_and_outline_the_highlight():
    scores = np.stack([np.full((2, 2), -3.0), np.full((2, 2), 5.0)], axis=-1)
    grid, limits = score_maps_rgba(scores, ["x", "y"], tile=4, highlight=1)
    assert limits == (-3.0, 5.0)
    assert np.all(grid == HEAD_HIGHLIGHT, axis=-1).sum() > 0
    unmarked, _ = score_maps_rgba(scores, ["x", "y"], tile=4)
    assert np.all(unmarked == HEAD_HIGHLIGHT, axis=-1).sum() == 0
    with pytest.raises(ValueError, match="names"):
        score_maps_rgba(scores, ["x"])


def _bar_extent(row_pixels, colour):
    columns = np.nonzero(np.all(row_pixels == colour, axis=-1))[0]
    return (int(columns.min()), int(columns.max()) + 1) if columns.size else None


def test_values_are_signed_bars_around_a_zero_line_proportional_to_the_values():
    from cnnwidgets.render.heads import _NEGATIVE, _POSITIVE

    values = np.array([2.0, -1.0, 0.5])
    rgba = values_rgba(values, ["a", "b", "c"], width=300, row_height=18)
    assert rgba.shape == (54, 300, 4)
    middles = [9, 27, 45]
    pos = _bar_extent(rgba[middles[0]], _POSITIVE)
    neg = _bar_extent(rgba[middles[1]], _NEGATIVE)
    half = _bar_extent(rgba[middles[2]], _POSITIVE)
    zero = pos[0]
    assert neg[1] == zero  # negative bars end at the zero line, positive ones start after it
    assert abs((pos[1] - pos[0]) - 2 * (neg[1] - neg[0])) <= 1
    assert abs((pos[1] - pos[0]) - 4 * (half[1] - half[0])) <= 1


def test_highlighted_value_is_drawn_in_the_highlight_colour():
    rgba = values_rgba([1.0, 2.0], ["a", "b"], highlight=1)
    assert _bar_extent(rgba[27], HEAD_HIGHLIGHT) is not None
    assert _bar_extent(rgba[9], HEAD_HIGHLIGHT) is None


def test_values_format():
    assert format_head_value(0.41234) == "0.4123"
    assert format_head_value(-12.345) == "-12.35"
    assert format_head_value(float("nan")) == "nan"


def test_overlay_tints_only_the_classes_found_at_the_input_resolution():
    from cnnwidgets.render import blend
    from cnnwidgets.render.heads import mask_overlay_rgba

    image = np.zeros((8, 8, 4), np.uint8)
    image[..., :3] = np.arange(64, dtype=np.uint8).reshape(8, 8, 1) * 3
    image[..., 3] = 255
    mask = np.zeros((4, 4), int)
    mask[1, 2] = 1  # a coarser output: one mask pixel covers 2x2 input pixels
    palette = class_palette(2)
    out = mask_overlay_rgba(image, mask, palette, opacity=0.5)
    tinted = np.zeros((8, 8), bool)
    tinted[2:4, 4:6] = True
    np.testing.assert_array_equal(out[~tinted], image[~tinted])
    solid = np.broadcast_to(palette[1], (2, 2, 4))
    np.testing.assert_array_equal(out[2:4, 4:6], blend(image[2:4, 4:6], np.ascontiguousarray(solid), 0.5))


def test_large_maps_are_subsampled_not_sent_whole():
    mask = np.zeros((224, 224), int)
    mask[100:, :] = 1
    rgba = mask_rgba(mask, class_palette(2), size=128)
    assert rgba.shape == (112, 112, 4)  # every 2nd pixel
    assert (rgba[60, 0] == class_palette(2)[1]).all() and (rgba[40, 0] == class_palette(2)[0]).all()
    grid, _ = score_maps_rgba(np.zeros((224, 224, 2), np.float32), ["a", "b"], tile=96, columns=2)
    assert grid.shape[0] < 140 and grid.shape[1] < 2 * 120
