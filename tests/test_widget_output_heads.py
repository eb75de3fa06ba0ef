"""LayerBrowser, FilterGrid, Explorer, AuditBrowser and LiveView on models that are not classifiers.

Models: the demo tank segmenter (a few epochs), the demo tank locator
(regression, ``output_kinds="values"``) and tiny hand-built ones: a dense
output with a fused softmax, a class + box two-head functional model on a
nested base, and a ``Dense(1)`` regression. The numbers each head shows are
compared with ``insp.predict_outputs`` (softmax applied by hand where the
output holds logits).
"""

import numpy as np
import pytest
import traitlets

import cnnwidgets as cw
from cnnwidgets.errors import NotAClassifierError


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


@pytest.fixture(scope="module")
def scenes():
    images, masks = cw.demo.tank_scenes(48, seed=3)
    return images, masks


@pytest.fixture(scope="module")
def segmenter(scenes):
    images, masks = scenes
    return cw.demo.train_tank_segmenter(images, masks, epochs=3)


@pytest.fixture(scope="module")
def two_head():
    """Class head (softmax, 3) and box head (linear, 4) on a nested Sequential base."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(1)
    base = keras.Sequential([keras.Input((32, 32, 3)), layers.Rescaling(1 / 255.0, name="scale"),
                             layers.Conv2D(6, 3, activation="relu", name="base_conv"),
                             layers.GlobalAveragePooling2D(name="gap")], name="base")
    inp = keras.Input((32, 32, 3), name="image")
    features = base(inp)
    cls = layers.Dense(3, activation="softmax", name="cls")(features)
    box = layers.Dense(4, name="box")(features)
    return keras.Model(inp, [cls, box], name="class_and_box")


@pytest.fixture(scope="module")
def dense_softmax():
    """A segmentation-style model whose last conv has a fused softmax (3 classes)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(2)
    inp = keras.Input((16, 16, 3))
    x = layers.Rescaling(1 / 255.0)(inp)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="feat")(x)
    out = layers.Conv2D(3, 1, activation="softmax", name="seg")(x)
    return keras.Model(inp, out, name="fused_seg")


@pytest.fixture(scope="module")
def regressor():
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((16, 16, 3)), layers.Conv2D(4, 3, activation="relu", name="conv"),
                             layers.Flatten(name="flat"), layers.Dense(1, name="age")], name="age_regressor")


def _browser(model, images, **kwargs):
    browser = cw.LayerBrowser(model, images, **kwargs)
    browser.wait(120)
    assert "error" not in browser.status.value, browser.status.value
    return browser


# ------------------------------------------------------------- LayerBrowser
def test_segmenter_head_shows_its_mask_and_score_maps(segmenter, scenes):
    images, _ = scenes
    browser = _browser(segmenter, images[:6], class_names=cw.demo.SEGMENT_CLASS_NAMES)
    browser.image_index = 2
    browser.wait(60)
    raw = browser.inspector.predict_outputs(images[2])[0]  # softmax probabilities (32, 32, 2)
    (head,) = browser.output_heads
    assert head.kind == "map" and head.names == ("background", "tank")
    np.testing.assert_allclose(head.values, raw, atol=1e-6)
    np.testing.assert_array_equal(head.mask, np.argmax(raw, axis=-1))
    np.testing.assert_array_equal(browser.predicted_mask, np.argmax(raw, axis=-1))
    assert browser.output_kind == "map" and browser.probabilities is None
    # The card paints each predicted tank pixel as a 4x4 block of the tank's colour (plus the legend's swatch).
    from cnnwidgets.render.masks import class_palette

    tank = class_palette(2)[1]
    canvas = browser.heads.cards[0].canvas.image
    painted = int(np.all(canvas == tank, axis=-1).sum())
    assert painted == 16 * int((head.mask == 1).sum()) + 100
    assert "tank" in browser.preview_caption.value or "background" in browser.preview_caption.value


def test_segmenter_class_index_outlines_its_score_map(segmenter, scenes):
    from cnnwidgets.render.heads import HEAD_HIGHLIGHT

    images, _ = scenes
    browser = _browser(segmenter, images[:3], class_names=cw.demo.SEGMENT_CLASS_NAMES)
    browser.class_index = "tank"
    assert browser.class_index == 1 and browser.class_name == "tank"
    marked = browser.heads.cards[0].canvas.image
    browser.class_index = None
    browser.class_index = 0
    other = browser.heads.cards[0].canvas.image
    assert not np.array_equal(marked, other)
    assert np.all(marked == HEAD_HIGHLIGHT, axis=-1).any()
    with pytest.raises(traitlets.TraitError, match="no class or value named"):
        browser.class_index = "cat"


def test_two_heads_show_top_classes_and_box_values(two_head, scenes):
    images, _ = scenes
    browser = _browser(two_head, images[:4])
    cls, box = browser.inspector.predict_outputs(images[0])
    heads = browser.output_heads
    assert [(h.name, h.kind) for h in heads] == [("cls", "classes"), ("box", "values")]
    np.testing.assert_allclose(heads[0].values, cls, atol=1e-6)
    np.testing.assert_allclose(heads[1].values, box, atol=1e-6)
    chart = browser.chart
    assert chart is browser.heads.cards[0].chart
    order = np.argsort(-cls, kind="stable")
    np.testing.assert_allclose(chart.values, cls[order], atol=1e-6)
    assert chart.figure.title.startswith(f"cls: {order[0]} ")
    assert browser.output == "cls" and browser.predicted_class == int(order[0])
    np.testing.assert_allclose(browser.probabilities, cls, atol=1e-6)

    browser.output = "box"
    assert browser.output_kind == "values" and browser.class_index is None
    np.testing.assert_allclose(browser.output_values, box, atol=1e-6)
    assert browser.predicted_class is None and browser.probabilities is None
    before = browser.heads.cards[1].canvas.image
    browser.class_index = 2
    assert not np.array_equal(before, browser.heads.cards[1].canvas.image)
    with pytest.raises(traitlets.TraitError, match="out of range"):
        browser.class_index = 4
    assert "selected" in browser.heads.cards[1].title.value
    assert "selected" not in browser.heads.cards[0].title.value


def test_each_card_picks_the_class_it_highlights(two_head, scenes):
    images, _ = scenes
    browser = _browser(two_head, images[:2])
    classes, values = browser.heads.cards
    assert [label for label, _ in values.picker.options] == ["first value", "0", "1", "2", "3"]
    values.picker.value = 2
    assert browser.output == "box" and browser.class_index == 2 and browser.output_kind == "values"
    classes.picker.value = 1
    assert browser.output == "cls" and browser.class_index == 1 and values.picker.value == -1
    assert browser.chart.highlight == 1
    browser.class_index = None  # the trait drives the picker back
    assert classes.picker.value == -1 and browser.chart.highlight == browser.predicted_class
    browser.output, browser.class_index = "box", 3
    assert values.picker.value == 3 and classes.picker.value == -1


def test_diagram_marks_the_output_heads(two_head, dense_softmax, segmenter, scenes):
    images, _ = scenes
    browser = _browser(two_head, images[:2])
    assert browser.diagram.heads == {"cls": "out 1 · classes", "box": "out 2 · values"}
    marked = {n.key: n.head for n in browser.diagram.nodes() if n.head}
    assert marked == browser.diagram.heads
    assert "out 2 · values" in cw.widgets.layer_browser.architecture.describe_node(
        next(n for n in browser.diagram.nodes() if n.key == "box"))
    assert "class_and_box" in browser.diagram.title and "box (4 values)" in browser.diagram.title
    assert _browser(segmenter, images[:2]).diagram.heads == {"probabilities": "output · map"}
    digits = cw.LayerBrowser(cw.demo.digits_model())
    digits.wait(60)
    assert list(digits.diagram.heads.values()) == ["output · classes"]


def test_digits_diagram_draws_the_head_frame():
    from cnnwidgets.render.architecture import HEAD_COLOUR

    digits = cw.LayerBrowser(cw.demo.digits_model())
    digits.wait(60)
    drawn = digits.diagram.canvas.composite()
    assert np.all(drawn[..., :3] == HEAD_COLOUR, axis=-1).sum() > 40  # the frame and its label


def test_locator_values_head(scenes):
    images, masks = cw.demo.tank_scenes(32, tank_share=1.0, seed=4)
    model = cw.demo.train_tank_locator(images, masks, epochs=1)
    browser = _browser(model, images[:3], output_kinds="values", labels=cw.demo.tank_centres(masks)[:3])
    (head,) = browser.output_heads
    raw = browser.inspector.predict_outputs(images[0])[0]
    assert head.kind == "values"
    np.testing.assert_allclose(head.values, raw, atol=1e-6)
    np.testing.assert_allclose(browser.output_values, raw, atol=1e-6)
    assert browser.chart is None and browser.target == 0
    assert f"{raw[0]:.4g}" in browser.preview_caption.value
    assert "label" in browser.preview_caption.value  # the true centre, as numbers


def test_dense_regression_and_logits(regressor):
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    browser = _browser(regressor, images)
    (head,) = browser.output_heads
    raw = browser.inspector.predict_outputs(images[0])[0]
    assert head.kind == "values" and head.values.shape == (1,)
    np.testing.assert_allclose(head.values, raw, atol=1e-6)
    assert browser.snapshot().shape[0] > 100


def test_dense_softmax_head(dense_softmax):
    images = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    browser = _browser(dense_softmax, images)
    (head,) = browser.output_heads
    raw = browser.inspector.predict_outputs(images[0])[0]
    np.testing.assert_allclose(head.values, raw, atol=1e-6)
    np.testing.assert_array_equal(head.mask, np.argmax(raw, axis=-1))
    assert browser.diagram.heads == {"seg": "output · map"}


def test_classifier_logits_head_is_the_softmax():
    import keras
    from keras import layers

    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3, name="c"), layers.Flatten(),
                              layers.Dense(4, name="logits")])
    images = np.random.default_rng(2).uniform(0, 255, (2, 8, 8, 1)).astype(np.float32)
    browser = _browser(model, images)
    raw = browser.inspector.predict_outputs(images[0])[0]
    np.testing.assert_allclose(browser.output_heads[0].values, _softmax(raw.astype(np.float64)), atol=1e-5)
    assert browser.chart.figure.title.startswith("Prediction: ")


# --------------------------------------------------------------- FilterGrid
def test_filter_grid_works_on_a_segmenter(segmenter, scenes):
    images, _ = scenes
    grid = cw.FilterGrid(segmenter, image=images[0])
    grid.wait(60)
    assert grid.layer == "conv1" and "error" not in grid.status.value
    assert all("output:" not in label for label, _ in grid.layer_dropdown.options)
    grid.layer = "logits"  # the 1x1 head's weights
    grid.wait(60)
    assert "error" not in grid.status.value and grid._count() == 2
    grid.mode = "maximize"
    grid.steps = 2
    grid.wait(120)
    assert "error" not in grid.status.value and grid.maximization_layer == "logits"


def test_filter_grid_maximizes_the_channels_of_a_fused_segmentation_head(dense_softmax):
    image = np.random.default_rng(3).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    grid = cw.FilterGrid(dense_softmax, image=image, layer="seg")
    grid.wait(60)
    assert "error" not in grid.status.value and grid._count() == 3  # its weights
    grid.mode = "maximize"
    grid.steps = 2
    grid.wait(120)
    assert "error" not in grid.status.value and grid.maximization_layer == "seg"
    assert grid._count() == 3  # one tile per class of the map


def test_filter_grid_on_two_heads(two_head, scenes):
    images, _ = scenes
    grid = cw.FilterGrid(two_head, image=images[0], mode="maximize", steps=2)
    grid.wait(120)
    assert grid.layer == "base/base_conv" and "error" not in grid.status.value
    assert [path for _, path in grid.layer_dropdown.options] == ["base/base_conv"]


# ----------------------------------------------------------------- Explorer
def test_explorer_on_two_heads_links_output_and_class(two_head, scenes):
    images, _ = scenes
    explorer = cw.Explorer(two_head, images[:4])
    explorer.wait(60)
    browser = explorer.layer_browser
    assert "cls (classes), box (values)" in explorer._title.value
    assert "predicted" in explorer.caption.value
    explorer.output = "box"
    assert browser.output == "box" and explorer.output_kind == "values"
    browser.class_index = 3
    assert explorer.class_index == 3
    assert "output <b>box</b>" in explorer.caption.value and "<b>3</b>" in explorer.caption.value
    explorer.value_sign = -1
    assert browser.value_sign == -1
    explorer.image_index = 1
    assert explorer.class_index is None and browser.class_index is None
    np.testing.assert_allclose(explorer.output_values, explorer.inspector.predict_outputs(images[1])[1], atol=1e-6)
    assert explorer.filter_grid.layer == "base/base_conv"
    assert explorer.snapshot().shape[0] > 100


@pytest.mark.parametrize("tab,attribute,widget_name",
                         [("occlusion", "occlusion_painter", "OcclusionPainter"),
                          ("saliency", "saliency_overlay", "SaliencyOverlay")])
def test_explorer_class_tabs_on_a_segmenter(segmenter, scenes, tab, attribute, widget_name):
    images, _ = scenes
    explorer = cw.Explorer(segmenter, images[:3])
    explorer.wait(60)
    assert "over" in explorer.caption.value  # the predicted class's share of the map
    widget_class = getattr(cw, widget_name)
    if "output" in widget_class.class_trait_names():  # a target-aware widget: built and linked
        widget = getattr(explorer, attribute)
        assert widget.output == explorer.output
    else:  # a class-only widget: the tab says why, the others keep working
        with pytest.raises(NotAClassifierError, match="Layers and Filters tabs work"):
            getattr(explorer, attribute)
        explorer.tab = tab
        assert "cannot be shown" in explorer._tab_boxes[explorer.tabs.selected_index].children[0].value
        explorer.tab = "filters"
        explorer.wait(60)
        assert "error" not in explorer.filter_grid.status.value


# ------------------------------------------------------------ AuditBrowser
def test_audit_browser_refuses_the_class_rules_on_a_segmenter_before_starting(segmenter, scenes):
    images, _ = scenes
    with pytest.raises(NotAClassifierError, match="needs a classifier") as raised:
        cw.AuditBrowser.run(segmenter, images[:4])
    assert "PerImage" in str(raised.value)  # what to pass instead
    with pytest.raises(cw.errors.InvalidTargetError):  # a target that does not fit: also before the thread
        cw.AuditBrowser.run(segmenter, images[:4], class_index=cw.targets.Region(1, np.ones((5, 5), bool)))


def test_audit_browser_shows_an_audit_of_regions(segmenter, scenes):
    from cnnwidgets.targets import PerImage, Region

    images, masks = scenes
    tanks = [i for i in range(len(images)) if masks[i].any()][:12]
    browser = cw.AuditBrowser.run(segmenter, (images[tanks], masks[tanks]), method="gradcam",
                                  class_index=PerImage(lambda image, mask: Region(1, mask)), map_size=(8, 8))
    browser.wait(300)
    assert "error" not in browser.status.value, browser.status.value
    assert browser.audit_class == 1 and browser.result.output_kind == "map"
    assert [value for _, value in browser.class_picker.options] == [1]
    assert browser.clusters_canvas.image.shape[0] > 40
    browser.image_index = int(browser.clusters.rows[0])  # opens the image in an Explorer on the same inspector
    assert browser.explorer is not None and browser.explorer.inspector is browser.result.inspector
    assert "array 32×32" in browser.explorer.caption.value  # its label is its mask


# ----------------------------------------------------------------- LiveView
def test_live_view_follows_a_segmenter_while_it_trains(scenes):
    import keras

    images, masks = scenes
    model = cw.demo.train_tank_segmenter(images, masks, epochs=1)
    browser = _browser(model, images[:2])
    before = browser.output_heads[0].values.copy()
    live = cw.callbacks.LiveView(browser, replay=False)
    model.fit(images.astype("float32"), masks.astype("int32"), epochs=2, batch_size=16, verbose=0,
              callbacks=[live])
    browser.wait(60)
    after = browser.output_heads[0].values
    fresh = cw.Inspector(model).predict_outputs(images[0])[0]
    np.testing.assert_allclose(after, fresh, atol=1e-5)
    assert not np.allclose(before, after)
    assert live.refreshes >= 3 and isinstance(model, keras.Model)


def test_training_curves_of_a_fit_without_validation_data():
    """Only ``loss`` (no metric, no validation): one series, drawn from the first epoch on."""
    from cnnwidgets.widgets.training.curves import TrainingCurves

    curves = TrainingCurves()
    curves.add(1, {"loss": 0.5})
    curves.add(2, {"loss": 0.25})
    np.testing.assert_allclose(curves.values("loss"), [0.5, 0.25])
    lines = curves._charts["loss"]["lines"]
    np.testing.assert_allclose(np.asarray(lines.y, np.float64).ravel(), [0.5, 0.25])


def test_output_inside_a_nested_model_marks_its_collapsed_group(segmenter, scenes):
    """The segmenter wrapped in an outer model: its output layer lives inside the nested model."""
    import keras

    images, _ = scenes
    inputs = keras.Input((32, 32, 3))
    outer = keras.Model(inputs, segmenter(inputs), name="wrapped")
    browser = _browser(outer, images[:2])
    assert browser.diagram.heads == {"tank_segmenter/probabilities": "output · map"}
    browser.diagram.collapse("tank_segmenter")  # (expanded to show the first conv, inside it)
    group = next(n for n in browser.diagram.nodes() if n.key == "tank_segmenter")
    assert not group.expanded and group.head == "output · map"
    np.testing.assert_allclose(browser.output_heads[0].values, segmenter.predict(images[:1], verbose=0)[0],
                               atol=1e-5)


@pytest.mark.slow
def test_mobilenet_base_with_class_and_box_heads():
    """keras.applications MobileNetV2 (weights=None, 32 px) as a nested base under two heads."""
    import keras

    keras.utils.set_random_seed(4)
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None, alpha=0.35)
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D(name="pool")(base(inputs))
    model = keras.Model(inputs, [keras.layers.Dense(5, activation="softmax", name="label")(features),
                                 keras.layers.Dense(4, name="box")(features)], name="mobilenet_heads")
    images = np.random.default_rng(5).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    browser = _browser(model, images)
    label, box = browser.inspector.predict_outputs(images[0])
    np.testing.assert_allclose(browser.output_heads[0].values, label, atol=1e-6)
    np.testing.assert_allclose(browser.output_heads[1].values, box, atol=1e-6)
    assert browser.diagram.heads == {"label": "out 1 · classes", "box": "out 2 · values"}
    assert browser.layer.startswith(base.name + "/")  # the first conv, inside the base
    grid = cw.FilterGrid(model, image=images[0])
    grid.wait(60)
    assert "error" not in grid.status.value and grid.layer.startswith(base.name + "/")


@pytest.mark.parametrize("activation", ["sigmoid", None])
def test_one_channel_maps(activation):
    """A binary mask (sigmoid, thresholded at 0.5) and a raw score map (thresholded at 0) with one channel."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(6)
    model = keras.Sequential([keras.Input((12, 12, 3)), layers.Rescaling(1 / 255.0),
                              layers.Conv2D(3, 3, padding="same", activation="relu", name="feat"),
                              layers.Conv2D(1, 1, activation=activation, name="mask")], name="binary")
    images = np.random.default_rng(7).uniform(0, 255, (2, 12, 12, 3)).astype(np.float32)
    browser = _browser(model, images)
    (head,) = browser.output_heads
    raw = browser.inspector.predict_outputs(images[0])[0]
    np.testing.assert_allclose(head.values, raw, atol=1e-6)
    expected = (raw[..., 0] > (0.5 if activation else 0.0)).astype(int)
    np.testing.assert_array_equal(head.mask, expected)
    assert head.mask_names == ("not 0", "0")
    np.testing.assert_allclose(head.shares, [1 - expected.mean(), expected.mean()])
    assert browser.heads.cards[0].canvas.image.shape[0] > 100
    # the map's one class is channel 0, whether or not it covers most pixels
    assert head.predicted == 0 and browser.predicted_class == 0 and browser.class_name == "0"


def test_a_map_with_many_classes_lists_the_ones_predicted():
    from cnnwidgets.widgets.layer_browser.heads import HeadFrame, _legend_rows, render_map_head

    rng = np.random.default_rng(8)
    scores = rng.random((8, 8, 30)).astype(np.float32)
    scores[..., 4] += 2.0 * (np.arange(8)[:, None] < 4)  # class 4 wins the top half
    mask = np.argmax(scores, axis=-1)
    head = HeadFrame(0, "seg", "map", scores, tuple(f"c{i}" for i in range(30)), mask)
    rows = _legend_rows(head.shares)
    assert 4 in rows and len(rows) <= 12 and all(head.shares[i] > 0 for i in rows)
    assert 29 in _legend_rows(head.shares, highlight=29)  # the highlighted class is always listed
    tall = render_map_head(head, highlight=29)
    assert tall.shape[0] < 600  # not 30 legend rows
    assert _legend_rows(np.array([0.5, 0.5, 0.0])) == [0, 1, 2]  # a few classes: all of them


def test_many_class_score_maps_show_the_highlighted_class():
    from cnnwidgets.render.heads import HEAD_HIGHLIGHT
    from cnnwidgets.widgets.layer_browser.heads import HeadFrame, render_map_head

    scores = np.zeros((8, 8, 30), np.float32)
    scores[..., 0] = 1.0  # background everywhere: class 29 is predicted nowhere
    head = HeadFrame(0, "seg", "map", scores, tuple(f"c{i}" for i in range(30)), np.zeros((8, 8), int))
    plain = render_map_head(head)
    marked = render_map_head(head, highlight=29)
    assert not np.all(plain == HEAD_HIGHLIGHT, axis=-1).any()
    assert np.all(marked == HEAD_HIGHLIGHT, axis=-1).sum() > 4 * 40  # c29's score map framed (and its legend row)
