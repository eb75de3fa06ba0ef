"""cw.audit on segmentation, regression and several-output models: one target, one per image, PerImage.

References are written here: GradientTape on the segmenter's logits twin
(gradient x input of the summed score over each image's mask), the Keras
model's own outputs for scores and readouts, weight x input on a linear
regressor.
"""

import threading

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import cnnwidgets as cw  # noqa: E402
from cnnwidgets.backend.audit import AuditResult  # noqa: E402
from cnnwidgets.targets import Output, PerImage, Region, Value  # noqa: E402

L = keras.layers
SIGNED = {"signed": True}


@pytest.fixture(scope="module")
def scenes():
    images, masks = cw.demo.tank_scenes(11, tank_share=0.8, seed=4)
    return images.astype(np.float32), masks


@pytest.fixture(scope="module")
def segmenter():
    """32x32x3 -> conv (relu) -> 1x1 conv logits (2 classes) -> softmax; and its logits twin."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((32, 32, 3))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(L.Rescaling(1 / 255)(inp))
    logits = L.Conv2D(2, 1, name="logits")(x)
    return keras.Model(inp, L.Softmax(name="probs")(logits)), keras.Model(inp, logits)


def gradient_x_input(twin, image, mask, channel=1):
    x = tf.constant(image[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(twin(x)[0, ..., channel] * mask)
    return (tape.gradient(score, x).numpy()[0] * image).sum(axis=-1)


def test_a_region_per_image_from_the_masks_explains_each_tank(segmenter, scenes):
    model, twin = segmenter
    images, masks = scenes
    seen = []
    result = cw.audit(model, (images, masks), "gradient_x_input", PerImage(lambda image, mask: Region(1, mask)),
                      batch_size=4, map_size=None, progress=lambda done, total: seen.append((done, total)), **SIGNED)
    assert seen == [(4, 11), (8, 11), (11, 11)]
    probs = np.asarray(model(images, training=False), np.float64)
    for i in range(len(images)):
        np.testing.assert_allclose(result.maps[i], gradient_x_input(twin, images[i], masks[i]), rtol=2e-3,
                                   atol=1e-4 * max(1.0, np.abs(result.maps[i]).max()))
    np.testing.assert_allclose(result.scores, (probs[..., 1] * masks).sum(axis=(1, 2)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(result.probabilities, probs.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    assert (result.targets == 1).all() and np.array_equal(result.labels, masks)
    assert result.meta["output_kind"] == "map" and result.output_kind == "map" and result.meta["class_index"] is None
    assert set(result.summary()) == {"predicted", "confidence", "target_score", "mass", "peak", "spread"}
    np.testing.assert_array_equal(result.rows(1), np.arange(len(images)))
    # The same targets as a sequence (one per image, rows across batches) and one Region for all images.
    insp = cw.Inspector(model)
    listed = cw.audit(insp, images, "gradient_x_input", [Region(1, m) for m in masks], batch_size=3, map_size=None,
                      **SIGNED)
    assert insp.trace_counts["input_gradients:0:region"] == 1  # eleven masks, four batches: traced once
    np.testing.assert_allclose(listed.maps, result.maps, rtol=1e-5, atol=1e-6)
    box = np.zeros((32, 32), bool)
    box[8:20, 4:28] = True
    fixed = cw.audit(model, images[:3], "gradient_x_input", Region(0, box), map_size=None, **SIGNED)
    for i in range(3):
        np.testing.assert_allclose(fixed.maps[i], gradient_x_input(twin, images[i], box, channel=0), rtol=2e-3,
                                   atol=1e-4 * max(1.0, np.abs(fixed.maps[i]).max()))
    assert (fixed.targets == 0).all() and fixed.labels is None


def test_gradcam_audit_of_regions_clusters_by_class_and_survives_save_and_open(segmenter, scenes, tmp_path):
    model, _ = segmenter
    images, masks = scenes
    insp = cw.Inspector(model, class_names=["forest", "tank"])
    result = cw.audit(insp, (images, masks), "gradcam", PerImage(lambda image, mask: Region("tank", mask)),
                      layer="conv", map_size=(8, 8), batch_size=5)
    for i in (0, 6):
        want = insp.explain(images[i], "gradcam", Region(1, masks[i]), layer="conv", upsample=False)
        np.testing.assert_allclose(result.maps[i], cw.backend.images.resize_map(want, (8, 8)), rtol=1e-4,
                                   atol=1e-6 * max(1.0, want.max()))
    assert result.class_names == ["forest", "tank"] and len(result.clusters("tank", n_clusters=2).clusters) == 2
    reopened = AuditResult.open(result.save(tmp_path / "seg"))
    for name in ("probabilities", "targets", "scores", "labels", "maps"):
        np.testing.assert_array_equal(np.asarray(getattr(reopened, name)), np.asarray(getattr(result, name)))
    assert reopened.meta["output"] == result.meta["output"] and reopened.class_names == ["forest", "tank"]
    assert reopened.attach(model).output_kinds == ["map"]


@pytest.fixture(scope="module")
def regressor():
    """(6, 6, 2) -> Flatten -> Dense(3) linear: three regression values, exact weight x input."""
    keras.utils.set_random_seed(5)
    inp = keras.Input((6, 6, 2))
    return keras.Model(inp, L.Dense(3, name="values")(L.Flatten()(inp)))


def test_a_value_target_on_a_linear_regressor_gives_weight_x_input(regressor):
    images = np.random.default_rng(6).uniform(0, 255, (7, 6, 6, 2)).astype(np.float32)
    weights, bias = (np.asarray(w, np.float64) for w in regressor.get_layer("values").get_weights())
    values = images.reshape(7, -1).astype(np.float64) @ weights + bias
    result = cw.audit(regressor, images, "gradient_x_input", Value(1, sign=-1), output_kinds="values", batch_size=3,
                      map_size=None, **SIGNED)
    exact = -(weights[:, 1].reshape(6, 6, 2) * images).sum(axis=-1)
    np.testing.assert_allclose(result.maps, exact, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(result.scores, -values[:, 1], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(result.probabilities, values, rtol=1e-5, atol=1e-3)  # the raw values
    assert (result.targets == 1).all() and result.output_kind == "values"
    stats = result.summary()
    assert "predicted" not in stats and "correct" not in stats
    np.testing.assert_array_equal(stats["target_score"], result.scores)
    with pytest.raises(cw.NotAClassifierError, match="regression values"):
        result.predicted
    # An int on a "values" output means Value(int); labels of a regression may be values.
    plain = cw.audit(regressor, (images, values), "gradient_x_input", 1, output_kinds="values", map_size=None,
                     **SIGNED)
    np.testing.assert_allclose(plain.maps, -exact, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(plain.labels, values)


def test_output_targets_on_a_class_head_and_a_box_head():
    keras.utils.set_random_seed(7)
    inp = keras.Input((10, 10, 3))
    x = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, activation="relu", name="conv")(L.Rescaling(1 / 255)(inp)))
    model = keras.Model(inp, [L.Dense(3, activation="softmax", name="cls")(x), L.Dense(4, name="box")(x)])
    images = np.random.default_rng(8).uniform(0, 255, (6, 10, 10, 3)).astype(np.float32)
    cls, box = (np.asarray(t, np.float64) for t in model(images, training=False))
    result = cw.audit(model, images, "gradcam", Output("box", Value(2)), layer="conv", batch_size=4)
    np.testing.assert_allclose(result.probabilities, box, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.scores, box[:, 2], rtol=1e-5, atol=1e-6)
    assert result.meta["output"] == "box" and (result.targets == 2).all()
    heads = cw.audit(model, images, "vanilla", [Output("cls", int(c)) for c in cls.argmax(1)])
    np.testing.assert_allclose(heads.probabilities, cls, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(heads.scores, cls.max(1), rtol=1e-5, atol=1e-6)
    assert heads.meta["output"] == "cls" and np.array_equal(heads.targets, cls.argmax(1))
    assert np.array_equal(heads.summary()["predicted"], cls.argmax(1))
    # Targets on different outputs, in one batch or in two: refused.
    mixed = PerImage(lambda image, label: Output("cls", 0) if image.mean() > 127 else Output("box", Value(0)))
    for size in (6, 1):
        with pytest.raises(cw.InvalidTargetError, match="one output|one kind"):
            cw.audit(model, images, "vanilla", mixed, batch_size=size)


def test_bad_targets_and_rules_get_typed_errors_before_any_image(segmenter, scenes):
    model, _ = segmenter
    images, masks = scenes
    for rule in ("predicted", "label"):
        with pytest.raises(cw.NotAClassifierError, match="PerImage"):
            cw.audit(model, (images, masks), "vanilla", rule)
    with pytest.raises(cw.NotAClassifierError):
        cw.audit(model, images, "vanilla", 1)  # a class means nothing on a dense output
    with pytest.raises(cw.InvalidTargetError, match="spatial shape"):
        cw.audit(model, images, "vanilla", Region(1, np.ones((8, 8))))
    with pytest.raises(cw.InvalidParameterError, match="3 targets for 11 images"):
        cw.audit(model, images, "vanilla", [Region(1, m) for m in masks[:3]])
    with pytest.raises(cw.InvalidTargetError, match="different shapes|one kind"):
        cw.audit(model, images[:2], "vanilla", [Region(1, masks[0]), Output(0, lambda out: out[..., 0, 0, 0])])
    with pytest.raises(cw.InvalidParameterError, match="PerImage"):
        cw.audit(model, images, "vanilla", lambda image, label: Region(1, label))  # a 2-argument target callable
    with pytest.raises(cw.InvalidTargetError, match="PerImage function .* raised KeyError") as caught:
        cw.audit(model, images, "vanilla", PerImage(lambda image, label: {}["mask"]))
    assert isinstance(caught.value.__cause__, KeyError)
    with pytest.raises(cw.InvalidTargetError, match="spatial shape"):
        cw.audit(model, (images, masks), "vanilla", PerImage(lambda image, mask: Region(1, mask[:8, :8])))
    with pytest.raises(cw.InvalidTargetError, match="audit"):
        cw.Inspector(model).explain(images[0], "vanilla", PerImage(lambda image, mask: Region(1, mask)))
    digits = cw.demo.digits_model()
    with pytest.raises(cw.InvalidParameterError, match="one class per image"):
        cw.audit(digits, (np.zeros((2, 28, 28, 1)), np.zeros((2, 28, 28))), "vanilla")


def test_cancel_keeps_the_batches_done_with_per_image_targets(segmenter, scenes):
    model, _ = segmenter
    images, masks = scenes
    stop = threading.Event()
    result = cw.audit(model, images, "vanilla", [Region(1, m) for m in masks], batch_size=4,
                      progress=lambda done, total: stop.set(), cancel=stop)
    assert not result.complete and len(result) == 4 and len(result.scores) == 4


def test_a_classifier_audit_also_stores_the_explained_scores_and_takes_targets():
    images, _ = cw.demo.digits_samples()
    model = cw.demo.digits_model()
    images = images[:6]
    result = cw.audit(model, images, "vanilla", batch_size=4)
    np.testing.assert_allclose(result.scores, result.probabilities.max(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(result.summary()["target_score"], result.scores)
    classes = [int(c) for c in result.targets]
    listed = cw.audit(model, images, "vanilla", classes, batch_size=4)
    np.testing.assert_allclose(listed.maps, result.maps, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(listed.targets, result.targets)
    np.testing.assert_allclose(listed.scores, result.scores, rtol=1e-5)


def test_the_trained_tank_segmenter_explains_each_tank_where_it_is():
    """The demo segmenter: each scene's tank Region, from its mask, is explained on the tank, and faithfully."""
    model = cw.demo.train_tank_segmenter()
    images, masks = cw.demo.tank_scenes(12, tank_share=1.0, seed=9)
    insp = cw.Inspector(model)
    result = cw.audit(insp, (images, masks), "gradcam", PerImage(lambda image, mask: Region("1", mask)),
                      layer="conv2", map_size=None)
    positive = np.clip(result.maps, 0, None)
    share = (positive * masks).sum(axis=(1, 2)) / positive.sum(axis=(1, 2))
    assert np.all(share > 2 * masks.mean(axis=(1, 2))), (share, masks.mean(axis=(1, 2)))
    rng = np.random.default_rng(0)
    for image, mask, saliency in zip(images[:4], masks[:4], result.maps[:4]):
        target = Region(1, mask)
        gradcam = insp.evaluate(image, saliency, target, "deletion", steps=20)
        random = insp.evaluate(image, rng.random(saliency.shape), target, "deletion", steps=20)
        assert gradcam.score < random.score and gradcam.scores[0] == pytest.approx(random.scores[0])
