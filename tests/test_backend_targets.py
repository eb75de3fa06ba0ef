"""Targets (``cnnwidgets.targets``): segmentation, regression and multi-output models.

References are written here: a float64-free but independent ``GradientTape``
on the hand-built model (or its pre-activation twin), the formula of
Grad-CAM in numpy, weight x input for a linear model, brute-force occlusion.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import cnnwidgets as cw  # noqa: E402
from cnnwidgets.targets import Class, Output, Region, Value  # noqa: E402

H, W = 8, 8
QUICK = {"smoothgrad": {"samples": 3}, "vargrad": {"samples": 3}, "integrated_gradients": {"steps": 4},
         "rise": {"masks": 16}, "occlusion": {"patch": 4, "stride": 4}}
L = keras.layers


def seeded(seed=0):
    keras.utils.set_random_seed(seed)


def images(count=3, channels=1, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (count, H, W, channels)).astype(np.float32)


@pytest.fixture(scope="module")
def segmenter():
    """8x8x1 -> conv1 (relu) -> conv2 (1x1, 3 classes: the logits) -> softmax; and its logits twin."""
    seeded(0)
    inp = keras.Input((H, W, 1))
    x = L.Rescaling(1 / 255)(inp)
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(x)
    logits = L.Conv2D(3, 1, name="logits")(x)
    model = keras.Model(inp, L.Softmax(name="probs")(logits))
    return model, keras.Model(inp, logits), keras.Model(inp, [x, logits])


@pytest.fixture(scope="module")
def regressor():
    """8x8x1 -> conv (relu) -> GAP -> Dense(2) linear: a two-value regression with a spatial layer."""
    seeded(1)
    inp = keras.Input((H, W, 1))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(L.Rescaling(1 / 255)(inp))
    out = L.Dense(2, name="value")(L.GlobalAveragePooling2D()(x))
    return keras.Model(inp, out)


def tape_gradient(model, image, score):
    x = tf.constant(image[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = score(model(x))
    return tape.gradient(value, x).numpy()[0]


# ------------------------------------------------------------------ Region
@pytest.mark.parametrize("softmax", [True, False])
def test_region_gradient_and_gradcam_equal_the_summed_score_by_hand(segmenter, softmax):
    model, twin, both = segmenter
    insp = cw.Inspector(model if softmax else twin)
    image = images()[0]
    mask = np.zeros((H, W), np.float32)
    mask[2:6, 1:5] = 1
    target = Region(2, mask)
    want = tape_gradient(twin, image, lambda y: tf.reduce_sum(y[..., 2] * mask))
    np.testing.assert_allclose(insp.gradient(image, target), want, rtol=1e-4, atol=1e-7)
    x = tf.constant(image[None])
    with tf.GradientTape() as tape:
        feats, logits = both(x)
        score = tf.reduce_sum(logits[..., 2] * mask)
    grads = tape.gradient(score, feats).numpy()[0].astype(np.float64)
    feats = feats.numpy()[0].astype(np.float64)
    cam = np.maximum(np.einsum("hwk,k->hw", feats, grads.mean(axis=(0, 1))), 0)
    got = insp.explain(image, "gradcam", target, layer="conv1", upsample=False)
    np.testing.assert_allclose(got, cam, rtol=1e-4, atol=1e-6 * max(1.0, cam.max()))


def test_region_on_a_fused_softmax_conv_head_explains_its_logits(segmenter):
    """A 1x1 Conv2D(activation="softmax") head: the pre-activation is split off exactly, as for Dense."""
    _, twin, _ = segmenter
    inp = keras.Input((H, W, 1))
    x = twin.get_layer("conv1")(twin.layers[1](inp))
    logits_layer = twin.get_layer("logits")
    head = L.Conv2D(3, 1, activation="softmax")
    fused = keras.Model(inp, head(x))
    head.set_weights(logits_layer.get_weights())
    insp = cw.Inspector(fused)
    assert insp.output_activations == ["softmax"]
    mask = np.zeros((H, W), np.float32)
    mask[4:, :3] = 1
    image = images()[2]
    want = tape_gradient(twin, image, lambda y: tf.reduce_sum(y[..., 0] * mask))
    np.testing.assert_allclose(insp.gradient(image, Region(0, mask)), want, rtol=1e-4, atol=1e-7)
    probs = fused(image[None]).numpy()[0]
    assert insp.target_score(image, Region(0, mask)) == pytest.approx(float((probs[..., 0] * mask).sum()), rel=1e-5)


def test_a_pixel_explained_lies_in_its_input_window():
    """Two stacked valid 3x3 convs: output pixel (i, j) sees input rows i..i+4, cols j..j+4 only."""
    seeded(2)
    inp = keras.Input((H, W, 1))
    x = L.Conv2D(3, 3, activation="tanh")(inp)
    model = keras.Model(inp, L.Conv2D(2, 3)(x))
    insp = cw.Inspector(model, input_range=(0, 1))
    mask = np.zeros((4, 4), np.float32)
    mask[1, 2] = 1
    image = images()[0] / 255
    for method in ("vanilla", "gradient_x_input", "occlusion"):
        params = {"patch": 1, "stride": 1} if method == "occlusion" else {}
        saliency = insp.explain(image, method, Region(1, mask), **params)
        inside = np.zeros((H, W), bool)
        inside[1:6, 2:7] = True
        peak = np.abs(saliency[inside]).max()
        assert peak > 0, method
        assert np.abs(saliency[~inside]).max() <= 1e-5 * peak, method  # occlusion: float32 batch rounding


# ------------------------------------------------------------------ Value
def test_value_target_on_a_linear_model_is_weight_times_input():
    seeded(3)
    inp = keras.Input((H, W, 1))
    model = keras.Model(inp, L.Dense(2)(L.Flatten()(inp)))
    kernel = model.layers[-1].kernel.numpy()
    insp = cw.Inspector(model, input_range=(0, 1))
    image = images()[0] / 255
    for index, sign in ((0, 1), (1, -1)):
        want = sign * kernel[:, index].reshape(H, W) * image[..., 0]
        got = insp.explain(image, "gradient_x_input", Value(index, sign), signed=True)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
        assert insp.target_score(image, Value(index, sign)) == pytest.approx(
            sign * float(image.reshape(-1) @ kernel[:, index] + model.layers[-1].bias.numpy()[index]), rel=1e-5)
    # Occlusion of a linear model: the drop is w . (x - fill) over the patch, averaged per pixel.
    occ = insp.occlusion_map(image, Value(0), patch=2, stride=2, fill="black")
    drop = (kernel[:, 0].reshape(H, W) * image[..., 0]).reshape(4, 2, 4, 2).sum(axis=(1, 3))
    np.testing.assert_allclose(occ, np.kron(drop, np.ones((2, 2))), rtol=1e-4, atol=1e-6)
    covered = insp.occlude(image, box=(0, 0, 2, 2), fill="black", target=Value(0))
    assert covered == pytest.approx(insp.target_score(image, Value(0)) - drop[0, 0], abs=1e-5)


def test_class_apis_on_a_non_classifier_ask_for_a_target(segmenter, regressor):
    insp = cw.Inspector(segmenter[0])
    image = images()[0]
    assert not insp.is_classifier and insp.num_classes is None
    for call in (lambda: insp.predict(image), lambda: insp.explain(image, "gradcam"),
                 lambda: insp.explain(image, "gradcam", 1), lambda: insp.occlude(image, (0, 0, 2, 2))):
        with pytest.raises(cw.NotAClassifierError, match="target"):
            call()
    (out,) = insp.predict_outputs(image)
    np.testing.assert_allclose(out, segmenter[0](image[None]).numpy()[0], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------- multi-output
@pytest.fixture(scope="module")
def two_heads():
    """Nested conv base, then a class head (softmax) and a box head (linear)."""
    seeded(4)
    base_in = keras.Input((H, W, 1))
    base = keras.Model(base_in, L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(base_in), name="base")
    inp = keras.Input((H, W, 1))
    pooled = L.GlobalAveragePooling2D()(base(L.Rescaling(1 / 255)(inp)))
    cls = L.Dense(3, activation="softmax", name="cls")(pooled)
    box = L.Dense(4, name="box")(pooled)
    return keras.Model(inp, [cls, box])


def test_multi_output_targets_match_tape_references(two_heads):
    insp = cw.Inspector(two_heads)
    assert insp.output_names == ["cls", "box"] and insp.output_shapes == [(3,), (4,)]
    image = images()[1]
    cls_layer = two_heads.get_layer("cls")

    def cls_logit(outputs):  # pre-softmax score of class 1, by hand
        pooled = tf.reduce_mean(two_heads.get_layer("base")(outputs / 255.0), axis=[1, 2])
        return (pooled @ cls_layer.kernel + cls_layer.bias)[:, 1]

    x = tf.constant(image[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = cls_logit(x)
    want = tape.gradient(score, x).numpy()[0]
    np.testing.assert_allclose(insp.gradient(image, Output("cls", 1)), want, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(insp.gradient(image, Output(0, Class(1))), want, rtol=1e-4, atol=1e-7)
    want_box = tape_gradient(two_heads, image, lambda ys: -ys[1][:, 2])
    np.testing.assert_allclose(insp.gradient(image, Output("box", Value(2, -1))), want_box, rtol=1e-4, atol=1e-7)
    # A plain callable gets every output.
    got = insp.gradient(image, lambda ys: ys[0][:, 0] + ys[1][:, 3])
    np.testing.assert_allclose(got, tape_gradient(two_heads, image, lambda ys: ys[0][:, 0] + ys[1][:, 3]),
                               rtol=1e-4, atol=1e-7)
    # Occlusion watches the class probability on the softmax head.
    probs = insp.predict_outputs(image)[0]
    assert insp.target_score(image, Output("cls", 2)) == pytest.approx(float(probs[2]), rel=1e-5)
    cam = insp.explain(image, "gradcam", Output("box", Value(0)), layer="base/conv")
    assert cam.shape == (H, W) and np.isfinite(cam).all()
    with pytest.raises(cw.NotAClassifierError):
        insp.gradient(image, 1)


# ------------------------------------------------------------ catalogue
def test_every_method_runs_with_region_and_value_targets(segmenter, regressor):
    seg, reg = cw.Inspector(segmenter[0]), cw.Inspector(regressor)
    batch = images(2)
    mask = np.zeros((H, W), bool)
    mask[:4] = True
    for spec in cw.methods():
        params = dict(QUICK.get(spec.name, {}))
        for insp, target, layer in ((seg, Region(1, mask), "conv1"), (reg, Value(1, -1), "conv")):
            got = insp.explain(batch[0], spec.name, target, layer=layer, **params)
            assert got.shape == (H, W) and got.dtype == np.float32 and np.isfinite(got).all(), spec.name
            many = insp.explain_batch(batch, spec.name, target, layer=layer, **params)
            assert many.shape == (2, H, W) and np.isfinite(many).all(), spec.name
            np.testing.assert_allclose(many[0], got, rtol=1e-3, atol=1e-5 * max(1.0, np.abs(got).max()),
                                       err_msg=spec.name)


def test_default_layer_of_a_segmenter_is_a_feature_map_and_heads_are_refused(segmenter):
    insp = cw.Inspector(segmenter[0])
    assert insp.default_cam_layer.path == "conv1"  # not the logits conv nor the softmax
    target = Region(1, np.ones((H, W)))
    with pytest.raises(cw.NoSpatialLayerError, match="does not depend on layer"):
        insp.explain(images()[0], "gradcam", target, layer="probs")


def test_targets_key_the_cache_and_never_retrace(segmenter):
    insp = cw.Inspector(segmenter[0])
    image = images()[0]
    rng = np.random.default_rng(0)
    maps = []
    for c in range(3):
        mask = rng.uniform(size=(H, W)) > 0.5
        maps.append(insp.explain(image, "gradcam", Region(c, mask), layer="conv1"))
        insp.explain(image, "scorecam", Region(c, mask), layer="conv1")
    assert not np.allclose(maps[0], maps[1])
    again = insp.explain(image, "gradcam", Region(2, np.asarray(mask)), layer="conv1")
    np.testing.assert_array_equal(again, maps[2])  # same class and mask content: a cache hit
    counts = {name: n for name, n in insp.trace_counts.items()}
    assert counts and all(n == 1 for n in counts.values()), counts
    assert insp.explain(image, "gradcam", Region(1, mask), layer="conv1") is not None
    insp.explain_batch(images(2), "vanilla", [Region(0, mask), Region(2, ~mask)])
    assert all(n == 1 for n in insp.trace_counts.values()), insp.trace_counts


# ------------------------------------------------------------ bad targets
def test_bad_targets_get_typed_errors(segmenter, two_heads, regressor):
    seg, heads, reg = cw.Inspector(segmenter[0]), cw.Inspector(two_heads), cw.Inspector(regressor)
    image = images()[0]
    cases = [
        (seg, Region(1, np.ones((4, 4))), "mask has shape"),
        (seg, Region(5, np.ones((H, W))), "out of range"),
        (seg, Value(0), "dense output"),
        (reg, Region(0, np.ones((H, W))), "vector output"),
        (reg, Value(2), "out of range"),
        (reg, Value(0, sign=3), "sign"),
        (heads, Output(2, Value(0)), "out of range"),
        (heads, Output("nope", Value(0)), "no output named"),
        (seg, lambda y: y[..., 0], "one score per batch item"),
        (seg, object(), "cannot explain"),
    ]
    for insp, target, message in cases:
        with pytest.raises(cw.InvalidTargetError, match=message):
            insp.gradient(image, target)
    with pytest.raises(cw.InvalidTargetError, match="one kind"):
        seg.explain_batch(images(2), "vanilla", [Region(0, np.ones((H, W))), lambda y: tf.reduce_sum(y, [1, 2, 3])])
    # The inspector keeps working after a bad target.
    assert np.isfinite(seg.gradient(image, Region(0, np.ones((H, W))))).all()


def test_keras_application_base_with_class_and_box_heads():
    """MobileNetV2 (weights=None) nested as a base, a softmax class head and a linear box head."""
    seeded(5)
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None, alpha=0.35)
    inp = keras.Input((32, 32, 3))
    pooled = L.GlobalAveragePooling2D()(base(inp))
    model = keras.Model(inp, [L.Dense(4, activation="softmax", name="cls")(pooled), L.Dense(4, name="box")(pooled)])
    insp = cw.Inspector(model, preprocess=keras.applications.mobilenet_v2.preprocess_input)
    assert insp.default_cam_layer.path.startswith(base.name + "/")
    image = np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype(np.float32)
    for target in (Output("cls", 2), Output("box", Value(3)), Output(1, lambda box: box[:, 0] - box[:, 1])):
        for method in ("gradcam", "vanilla"):
            got = insp.explain(image, method, target)
            assert got.shape == (32, 32) and np.isfinite(got).all(), (method, target)
    x = keras.applications.mobilenet_v2.preprocess_input(image[None].copy())
    want = tape_gradient(model, x[0], lambda ys: ys[1][:, 0] - ys[1][:, 1])
    got = insp.gradient(image, Output(1, lambda box: box[:, 0] - box[:, 1]))
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6 * np.abs(want).max())


def test_output_kinds_are_guessed_and_can_be_said(segmenter, regressor, two_heads):
    model, logits_model, _ = segmenter
    assert cw.Inspector(model).output_kinds == ["map"]
    assert cw.Inspector(two_heads).output_kinds == ["classes", "values"]
    # A linear vector of two is taken for logits unless the person says it holds values.
    guessed, said = cw.Inspector(regressor), cw.Inspector(regressor, output_kinds="values")
    assert guessed.output_kinds == ["classes"] and guessed.is_classifier
    assert said.output_kinds == ["values"] and not said.is_classifier and said.num_classes is None
    assert cw.Inspector(two_heads, output_kinds={"box": "values", 0: "classes"}).output_kinds == ["classes", "values"]
    # A single linear value is a regression.
    seeded(2)
    single = keras.Sequential([keras.Input((H, W, 1)), L.Flatten(), L.Dense(1)])
    assert cw.Inspector(single).output_kinds == ["values"]
    for bad in ("boxes", ["classes", "values"], {"nope": "values"}):
        with pytest.raises(cw.UnsupportedModelError):
            cw.Inspector(model, output_kinds=bad)
    with pytest.raises(cw.UnsupportedModelError, match="can only be a 'map'"):
        cw.Inspector(model, output_kinds="values")
    # for_model reuses an inspector only when the kinds agree.
    first = cw.Inspector.for_model(regressor, output_kinds="values")
    assert cw.Inspector.for_model(regressor, output_kinds="values") is first
    assert cw.Inspector.for_model(regressor).output_kinds in (["values"], ["classes"])


def test_ints_on_a_regression_output_mean_values(regressor):
    insp = cw.Inspector(regressor, output_kinds="values")
    image = images(1)[0]
    values = insp.predict_outputs(image)[0]
    np.testing.assert_allclose(insp.predict_output(image), values)
    assert insp.target_score(image, 1) == pytest.approx(float(values[1]), rel=1e-5)
    np.testing.assert_allclose(insp.explain(image, "vanilla", 1), insp.explain(image, "vanilla", Value(1)))
    with pytest.raises(cw.NotAClassifierError):
        insp.predict(image)
    named = cw.Inspector(regressor, class_names=["row", "column"], output_kinds="values")
    assert named.output_class_names(0) == ("row", "column")
    for target in (Value(1), "column", Value("column"), 1):
        assert named.target_score(image, target) == pytest.approx(float(values[1]), rel=1e-5)
    with pytest.raises(cw.InvalidTargetError, match="no class named 'col'"):
        named.target_score(image, "col")


def test_predict_output_and_predicted_mask_of_a_segmenter(segmenter, two_heads):
    model, logits_model, _ = segmenter
    image = images(1)[0]
    insp = cw.Inspector(model, class_names=["sky", "ground", "tank"])
    probs = insp.predict_output(image, "probs")
    assert probs.shape == (H, W, 3)
    np.testing.assert_allclose(probs, model(image[None]).numpy()[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(insp.predicted_mask(image), probs.argmax(-1))
    assert insp.output_class_names(0) == ("sky", "ground", "tank") and insp.class_count(0) == 3
    # A class name works in a Region on the map's channels.
    mask = np.ones((H, W))
    assert insp.target_score(image, Region("tank", mask)) == pytest.approx(float(probs[..., 2].sum()), rel=1e-5)
    with pytest.raises(cw.InvalidTargetError, match="no class named 'tnak'"):
        insp.target_score(image, Region("tnak", mask))
    with pytest.raises(cw.ClassNotFoundError):
        cw.Inspector(model, class_names=["a", "b"])
    # Logits: predict_output gives raw scores; one channel: thresholded at 0.
    raw = cw.Inspector(logits_model)
    np.testing.assert_array_equal(raw.predicted_mask(image), logits_model(image[None]).numpy()[0].argmax(-1))
    # A class head's logits come as probabilities; a box head as values; a vector has no mask.
    heads = cw.Inspector(two_heads)
    first = heads.predict_output(images(1, channels=3)[0] if heads.input_shape[-1] == 3 else image, 0)
    assert first.sum() == pytest.approx(1.0, abs=1e-5) and first.min() >= 0
    with pytest.raises(cw.InvalidTargetError, match="not a dense map"):
        heads.predicted_mask(image if heads.input_shape[-1] == 1 else images(1, channels=3)[0], 1)


def test_maximize_on_a_segmenters_output_layer_maximizes_its_channels():
    seeded(3)
    inp = keras.Input((H, W, 1))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(L.Rescaling(1 / 255)(inp))
    model = keras.Model(inp, L.Conv2D(3, 1, activation="softmax", name="seg")(x))
    insp = cw.Inspector(model)
    result = insp.maximize("seg", [0, 2], steps=5)
    assert result.images.shape[0] == 2 and np.isfinite(result.scores).all()
    assert np.mean(result.scores) > np.mean(result.initial_scores)  # the channels' mean logits rose
    with pytest.raises(cw.LayerNotFoundError, match="3 channels"):
        insp.maximize("seg", [3], steps=2)


def test_the_default_cam_layer_follows_the_targets_output_on_separate_branches():
    """Two heads on two branches: a target on one head is explained at that branch's last feature map."""
    seeded(5)
    inp = keras.Input((H, W, 1))
    x = L.Rescaling(1 / 255)(inp)
    a = L.Conv2D(4, 3, padding="same", activation="relu", name="mask_conv")(x)
    b = L.Conv2D(4, 3, padding="same", activation="relu", name="cls_conv")(x)
    mask = L.Conv2D(2, 1, activation="softmax", name="mask")(a)
    cls = L.Dense(3, activation="softmax", name="cls")(L.GlobalAveragePooling2D()(b))
    insp = cw.Inspector(keras.Model(inp, [cls, mask]))
    assert insp.default_cam_layer_for("mask").path == "mask_conv"
    assert insp.default_cam_layer_for(0).path == "cls_conv"
    image = images(1)[0]
    region = Output("mask", Region(1, np.ones((H, W))))
    np.testing.assert_allclose(insp.explain(image, "gradcam", region),
                               insp.explain(image, "gradcam", region, layer="mask_conv"))
    np.testing.assert_allclose(insp.explain(image, "gradcam", Output("cls", 2)),
                               insp.explain(image, "gradcam", Output("cls", 2), layer="cls_conv"))
    many = insp.explain_batch(images(2), "gradcam", region)
    assert many.shape == (2, H, W) and np.abs(many).sum() > 0
    with pytest.raises(cw.InvalidTargetError):
        insp.default_cam_layer_for("nope")
