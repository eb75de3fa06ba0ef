"""The shared target panel (widgets/common/target_panel.py) at trait level, driven by the mouse events a browser sends.

The owner is a bare :class:`RequestedTarget` with an image, on hand-built
models (a segmenter, a class head + box head, a classifier). Expected
regions are written out by hand from the pixels the pointer passes;
expected pictures come from :func:`cnnwidgets.render.masks.mask_rgba`.
"""

import numpy as np
import pytest
import traitlets

keras = pytest.importorskip("keras")

import cnnwidgets as cw  # noqa: E402
from cnnwidgets.render import image_to_rgba  # noqa: E402
from cnnwidgets.render.masks import class_palette, mask_rgba  # noqa: E402
from cnnwidgets.widgets.common.target_panel import TargetPanel  # noqa: E402
from cnnwidgets.widgets.common.targets import RequestedTarget  # noqa: E402
from cnnwidgets.widgets.common.traits import ImageArrayTrait  # noqa: E402

L = keras.layers
H = W = 8
ZOOM = 32  # an 8x8 map is shown 256 px wide


class Owner(RequestedTarget):
    """The smallest owner: keeps its prediction current, as a widget does."""

    image = ImageArrayTrait()

    def __init__(self, inspector, image, **traits):
        self.inspector = inspector
        super().__init__(**traits)
        self.image = image
        self._update_prediction(self.image)

    @traitlets.observe("output", "image")
    def _predict_again(self, change):
        if self.image is not None:
            self._update_prediction(self.image)


@pytest.fixture(scope="module")
def models(tiny_target_models):
    """The segmenter, the class + box heads and the classifier of ``tests/conftest.py``."""
    return tiny_target_models


def image(seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (H, W, 1)).astype(np.float32)


def send(panel, event, row, col):
    """A browser event over output pixel ``(row, col)`` (floats: 2.5 is the centre of row 2)."""
    panel.mouse_layer._handle_frontend_event(None, {"event": event, "x": col * ZOOM, "y": row * ZOOM}, [])


def drag(panel, *points):
    send(panel, "mouse_down", *points[0])
    for point in points[1:]:
        send(panel, "mouse_move", *point)
    send(panel, "mouse_up", *points[-1])


@pytest.fixture
def segmenter(models):
    owner = Owner(cw.Inspector(models[0], class_names=["sky", "ground", "tank"]), image())
    return owner, TargetPanel(owner)


def test_the_mask_panel_shows_the_predicted_mask_with_area_shares(segmenter):
    owner, panel = segmenter
    mask = owner.predicted_mask
    assert panel.output_menu.layout.display == "none"  # one output: no picker
    assert panel._map_box.layout.display == "" and panel.rows.layout.display == "none"
    expected = mask_rgba(mask, 3, image_to_rgba(owner.image), mask == owner.predicted_class, factor=ZOOM)
    np.testing.assert_array_equal(panel.mask_image, expected)
    shares = [100 * np.mean(mask == k) for k in range(3)]
    for button, name, share in zip(panel.class_buttons, ["sky", "ground", "tank"], shares):
        assert button.description.startswith(name) and (f"{share:.0f}%" in button.description or share < 0.5)
    chosen = panel.class_buttons[owner.predicted_class]
    assert chosen.style.font_weight == "bold"
    assert "over its predicted area" in panel.note.value


def test_a_click_on_the_mask_picks_the_class_under_the_pointer_and_its_whole_area(segmenter):
    owner, panel = segmenter
    mask = owner.predicted_mask
    other = next((r, c) for (r, c), k in np.ndenumerate(mask) if k != owner.predicted_class)
    owner.region = np.eye(H, dtype=bool)
    send(panel, "mouse_down", other[0] + 0.5, other[1] + 0.5)
    send(panel, "mouse_up", other[0] + 0.5, other[1] + 0.5)
    assert owner.class_index == mask[other] and owner.region is None
    np.testing.assert_array_equal(owner.region_mask, mask == mask[other])
    panel.class_buttons[2].click()
    assert owner.class_index == 2 and owner.region is None


def test_a_brush_drag_paints_a_region_at_the_output_resolution(segmenter):
    owner, panel = segmenter
    panel.brush_size = 1
    drag(panel, (1.5, 1.5), (1.5, 4.5))
    expected = np.zeros((H, W), bool)
    expected[1, 1:5] = True
    np.testing.assert_array_equal(owner.region, expected)
    drag(panel, (5.5, 6.5), (6.5, 6.5))  # a second stroke adds to the region
    expected[5:7, 6] = True
    np.testing.assert_array_equal(owner.region, expected)
    np.testing.assert_array_equal(panel.mask_image, mask_rgba(owner.predicted_mask, 3, image_to_rgba(owner.image),
                                                              expected, factor=ZOOM))
    assert "painted region (6 px)" in panel.note.value
    target = owner.explained_target.target
    np.testing.assert_array_equal(target.mask, expected.astype(np.float32))


def test_box_mode_erase_and_whole_class(segmenter):
    owner, panel = segmenter
    panel.tool = "box"
    drag(panel, (5.2, 1.8), (5.9, 3.0), (2.4, 4.1))  # corners: pixel (5, 1) and pixel (2, 4)
    expected = np.zeros((H, W), bool)
    expected[2:6, 1:5] = True
    np.testing.assert_array_equal(owner.region, expected)
    panel.tool, panel.erase, panel.brush_size = "brush", True, 1
    drag(panel, (3.5, 0.5), (3.5, 7.5))
    expected[3] = False
    np.testing.assert_array_equal(owner.region, expected)
    panel.whole_button.click()
    assert owner.region is None
    # erasing from the whole class carves the class's predicted area
    area = owner.region_mask.copy()
    drag(panel, (0.5, 0.5), (0.5, 7.5))
    area[0] = False
    np.testing.assert_array_equal(owner.region, area)


def test_erasing_everything_goes_back_to_the_whole_class(segmenter):
    owner, panel = segmenter
    panel.brush_size = 1
    drag(panel, (2.5, 2.5), (2.5, 3.5))
    panel.erase = True
    panel.brush_size = 4
    drag(panel, (2.5, 1.5), (2.5, 4.5))
    assert owner.region is None and "back to the class" in panel.note.value


def test_a_drag_only_previews_until_release(segmenter):
    owner, panel = segmenter
    panel.brush_size = 1
    send(panel, "mouse_down", 1.5, 1.5)
    send(panel, "mouse_move", 1.5, 3.5)
    assert owner.region is None  # nothing is requested while painting
    preview = np.zeros((H, W), bool)
    preview[1, 1:4] = True
    np.testing.assert_array_equal(panel.mask_image, mask_rgba(owner.predicted_mask, 3, image_to_rgba(owner.image),
                                                              preview, factor=ZOOM))
    send(panel, "mouse_out", 1.5, 3.5)  # leaving the canvas ends the stroke
    np.testing.assert_array_equal(owner.region, preview)


def test_several_outputs_choose_the_output_then_a_value_and_its_sign(models):
    owner = Owner(cw.Inspector(models[1]), image(1))
    panel = TargetPanel(owner)
    assert panel.output_menu.layout.display == "" and panel.output_menu.value == "cls"
    probabilities = owner.output_values
    assert panel.rows.order == list(np.argsort(-probabilities, kind="stable"))
    assert panel.sign_buttons.layout.display == "none"
    panel.rows.buttons[2].click()
    assert owner.class_index == panel.rows.order[2]
    panel.output_menu.value = "box"
    assert owner.output == "box" and owner.output_kind == "values" and owner.class_index is None
    np.testing.assert_allclose(panel.rows.values, owner.inspector.predict_outputs(image(1))[1], rtol=1e-6)
    assert panel.rows.order == [0, 1] and panel.rows.selected == 0
    assert panel.sign_buttons.layout.display == "" and panel._map_box.layout.display == "none"
    panel.rows.buttons[1].click()
    panel.sign_buttons.value = -1
    assert owner.class_index == 1 and owner.value_sign == -1
    assert owner.explained_target == cw.targets.Output(1, cw.targets.Value(1, -1))
    assert "1 (down)" in panel.note.value
    assert panel.rows.buttons[1].button_style == "primary" and panel.rows.buttons[0].button_style == ""


def test_show_values_and_score_show_a_change_from_a_reference(models):
    owner = Owner(cw.Inspector(models[1], output_kinds=["classes", "values"]), image(2))
    panel = TargetPanel(owner)
    owner.output = "box"
    panel.show_values([0.25, -0.5], reference=[0.5, -0.5])
    np.testing.assert_array_equal(panel.rows.values, [0.25, -0.5])
    assert "was 0.5 (-0.25)" in panel.rows._labels[0].value
    panel.show_score(0.25, reference=0.5)
    assert "score 0.25 (was 0.5, -0.25)" in panel.note.value
    with pytest.raises(ValueError, match="for an output of 2"):
        panel.show_values([1.0, 2.0, 3.0])
    panel.show_values(None)
    np.testing.assert_allclose(panel.rows.values, owner.output_values, rtol=1e-6)
    owner.image = image(3)  # a new prediction replaces the values shown
    np.testing.assert_allclose(panel.rows.values, owner.inspector.predict_outputs(image(3))[1], rtol=1e-6)


def test_a_classifier_lists_its_classes_and_hides_the_picker(models):
    owner = Owner(cw.Inspector(models[2], class_names=["a", "b", "c"]), image())
    panel = TargetPanel(owner)
    assert panel.output_menu.layout.display == "none" and panel.rows.layout.display == ""
    assert [b.description for b in panel.rows.buttons] == [["a", "b", "c"][i] for i in panel.rows.order]
    assert panel.rows.selected == owner.predicted_class
    send(panel, "mouse_down", 1.5, 1.5)  # no mask: the canvas ignores the pointer
    send(panel, "mouse_up", 1.5, 1.5)
    assert owner.class_index is None and owner.region is None


def test_a_refused_region_is_shown_and_the_panel_keeps_working(segmenter, monkeypatch):
    owner, panel = segmenter

    def refuse(region):
        raise RuntimeError("no")

    monkeypatch.setattr(panel, "_combined", refuse)
    drag(panel, (1.5, 1.5), (1.5, 4.5))
    assert "RuntimeError: no" in panel.note.value and panel._drag is None
    monkeypatch.undo()
    drag(panel, (1.5, 1.5), (1.5, 4.5))
    assert owner.region is not None


def test_a_one_channel_sigmoid_map_explains_its_foreground():
    keras.utils.set_random_seed(2)
    inp = keras.Input((H, W, 1))
    x = L.Conv2D(4, 3, padding="same", activation="relu")(L.Rescaling(1 / 255)(inp))
    model = keras.Model(inp, L.Conv2D(1, 1, activation="sigmoid", name="fg")(x))
    owner = Owner(cw.Inspector(model), image(4))
    panel = TargetPanel(owner)
    foreground = owner.inspector.predict_output(owner.image)[..., 0] > 0.5
    assert owner.predicted_class == 0 and owner.target == 0
    np.testing.assert_array_equal(owner.region_mask, foreground)
    target = owner.explained_target.target
    assert target.class_index == 0
    np.testing.assert_array_equal(target.mask, (foreground if foreground.any() else np.ones_like(foreground)))
    assert [b.description for b in panel.class_buttons] == [f"0 \u00b7 {100 * foreground.mean():.0f}%"] or \
        foreground.mean() < 0.005
    foreground_colour = "#{:02x}{:02x}{:02x}".format(*class_palette(2)[1, :3])
    assert panel.class_buttons[0].style.button_color == foreground_colour  # the foreground's colour on the mask
    send(panel, "mouse_down", 0.5, 0.5)
    send(panel, "mouse_up", 0.5, 0.5)
    assert owner.class_index == 0 and owner.region is None


def test_a_map_larger_than_the_display_is_drawn_smaller_and_pointed_at_its_own_pixels():
    keras.utils.set_random_seed(5)
    side = 288
    inp = keras.Input((side, side, 1))
    model = keras.Model(inp, L.Conv2D(2, 1, activation="softmax", name="seg")(L.Rescaling(1 / 255)(inp)))
    owner = Owner(cw.Inspector(model), np.random.default_rng(5).uniform(0, 255, (side, side, 1)).astype(np.float32))
    panel = TargetPanel(owner)  # display_size 256
    assert panel.mask_image.shape == (256, 256, 4) and panel.mask_canvas.css_size == (256, 256)
    panel.tool = "box"
    layer = panel.mouse_layer
    for event, (x, y) in (("mouse_down", (10.0, 20.0)), ("mouse_move", (100.0, 50.0)), ("mouse_up", (100.0, 50.0))):
        layer._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])
    scale = side / 256
    expected = np.zeros((side, side), bool)
    expected[int(20 * scale):int(50 * scale) + 1, int(10 * scale):int(100 * scale) + 1] = True
    np.testing.assert_array_equal(owner.region, expected)


def test_hovering_the_mask_reads_the_class_and_its_probability_there(segmenter):
    owner, panel = segmenter
    mask, values = owner.predicted_mask, owner.output_values
    row, col = 3, 5
    label = int(mask[row, col])
    send(panel, "mouse_move", row + 0.5, col + 0.5)
    text = panel.hover_label.value
    assert f"row {row}, col {col}" in text and ["sky", "ground", "tank"][label] in text
    assert f"{100 * values[row, col, label]:.0f}%" in text
    assert owner.region is None  # hovering paints nothing
    send(panel, "mouse_out", row + 0.5, col + 0.5)
    assert panel.hover_label.value == ""
