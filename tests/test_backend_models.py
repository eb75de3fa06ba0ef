"""The Inspector on real-world model shapes: nested bases, preprocessing, MobileNetV2.

References are Keras sub-models of the nested base and GradientTape
computations written here; nothing is compared with the Inspector itself.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import cnnwidgets as cw  # noqa: E402

S = 16  # input side of the small nested models
K = 3
preprocess_input = keras.applications.mobilenet_v2.preprocess_input


def make_base(seed):
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inp = keras.Input((S, S, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv")(inp)
    x = layers.MaxPooling2D(2, name="block1_pool")(x)
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="block2_conv")(x)
    return keras.Model(inp, x, name="base")


def make_head(seed):
    keras.utils.set_random_seed(seed)
    dense = keras.layers.Dense(K, activation="softmax", name="predictions")
    return keras.layers.GlobalAveragePooling2D(name="gap"), dense


class Case:
    """A classifier with a nested base and how display images reach each."""

    def __init__(self, model, base, preprocess, base_input):
        self.model, self.base, self.preprocess = model, base, preprocess
        self._base_input = base_input

    def model_input(self, images):
        images = np.array(images, np.float32)
        return images if self.preprocess is None else self.preprocess(images)

    def base_input(self, images):
        return self._base_input(self.model_input(images))

    def logits_from_model_input(self, model_input):
        """Pre-softmax scores by hand: base, mean pool, dense kernel and bias."""
        pooled = tf.reduce_mean(self.base(self._base_input(model_input), training=False), axis=[1, 2])
        dense = self.model.get_layer("predictions")
        return tf.matmul(pooled, dense.kernel) + dense.bias


@pytest.fixture(scope="module")
def sequential_case():
    """Rescaling in front, a functional base nested in a Sequential."""
    base = make_base(1)
    gap, dense = make_head(2)
    model = keras.Sequential(
        [keras.Input((S, S, 3)), keras.layers.Rescaling(1.0 / 255, name="rescale"), base, gap, dense],
        name="seq_classifier",
    )
    return Case(model, base, None, lambda x: x / 255.0)


@pytest.fixture(scope="module")
def functional_case():
    """No rescaling layer: the images go through ``preprocess_input`` first."""
    base = make_base(3)
    gap, dense = make_head(4)
    inp = keras.Input((S, S, 3), name="image")
    model = keras.Model(inp, dense(gap(base(inp))), name="func_classifier")
    return Case(model, base, preprocess_input, lambda x: x)


@pytest.fixture(scope="module", params=["sequential", "functional"])
def nested(request, sequential_case, functional_case):
    case = sequential_case if request.param == "sequential" else functional_case
    return case, cw.Inspector.for_model(case.model, preprocess=case.preprocess)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(5).uniform(0, 255, (3, S, S, 3)).astype(np.float32)


def reference_gradcam(case, image, k):
    """Grad-CAM (Selvaraju et al.) by tape: features from the base, head applied by hand."""
    features_model = keras.Model(case.base.input, case.base.get_layer("block2_conv").output)
    feats = tf.constant(np.asarray(features_model(case.base_input(image[None]), training=False)))
    dense = case.model.get_layer("predictions")
    with tf.GradientTape() as tape:
        tape.watch(feats)
        pooled = tf.reduce_mean(feats, axis=[1, 2])
        logit = (tf.matmul(pooled, dense.kernel) + dense.bias)[0, k]
    grads = tape.gradient(logit, feats).numpy()[0]
    weights = grads.mean(axis=(0, 1))
    return np.maximum((feats.numpy()[0] * weights).sum(-1), 0)


# ------------------------------------------------------------- nested bases
def test_nested_layers_have_paths(nested):
    case, insp = nested
    paths = [r.path for r in insp.layers]
    for path in ("base", "base/block1_conv", "base/block1_pool", "base/block2_conv", "gap", "predictions"):
        assert path in paths
    record = insp.layer("base/block2_conv")
    assert record.depth == 1 and record.parent == "base" and record.is_conv and record.is_spatial
    assert record.output_shape == (S // 2, S // 2, 6)
    assert insp.layer("base").is_model
    assert insp.layer("block2_conv").path == "base/block2_conv"  # bare name resolves too
    assert [r.path for r in insp.conv_layers] == ["base/block1_conv", "base/block2_conv"]
    want = np.asarray(case.base.get_layer("block1_conv").kernel)
    np.testing.assert_array_equal(insp.filters("base/block1_conv"), want)


def test_nested_activations_match_base_submodel(nested, images):
    case, insp = nested
    x = images[0]
    for name in ("block1_conv", "block1_pool", "block2_conv"):
        sub = keras.Model(case.base.input, case.base.get_layer(name).output)
        want = np.asarray(sub(case.base_input(x[None]), training=False))[0]
        np.testing.assert_allclose(insp.activations(x, "base/" + name), want, rtol=1e-5, atol=1e-6)


def test_nested_predict_and_gradient(nested, images):
    case, insp = nested
    x = images[1]
    want_probs = np.asarray(case.model(case.model_input(x[None]), training=False))[0]
    np.testing.assert_allclose(insp.predict(x), want_probs, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        insp.logits(x), case.logits_from_model_input(case.model_input(x[None])).numpy()[0], rtol=1e-5, atol=1e-6
    )
    # Gradients are of the logit w.r.t. the model input (after ``preprocess``).
    model_input = tf.constant(case.model_input(x[None]))
    with tf.GradientTape() as tape:
        tape.watch(model_input)
        logit = case.logits_from_model_input(model_input)[0, 2]
    want = tape.gradient(logit, model_input).numpy()[0]
    np.testing.assert_allclose(insp.gradient(x, 2), want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


def test_nested_gradcam_default_layer_matches_tape(nested, images):
    case, insp = nested
    assert insp.default_cam_layer.path == "base/block2_conv"
    for i, k in ((0, 0), (2, 1)):
        x = images[i]
        want = reference_gradcam(case, x, k)
        got = insp.gradcam(x, k, upsample=False)
        assert got.shape == want.shape == (S // 2, S // 2)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, want.max()))
        assert insp.gradcam(x, k).shape == (S, S)
        assert insp.gradcam(x, k, layer="base/block1_conv", upsample=False).shape == (S, S)


# ---------------------------------------------------------------- preprocess
def test_preprocess_is_applied_to_occlusion_and_baselines(functional_case, images):
    case = functional_case
    insp = cw.Inspector.for_model(case.model, preprocess=preprocess_input)
    x = images[2]
    covered = x.copy()
    covered[2:9, 3:12] = 127.5  # "gray" is the middle of the display range
    want = np.asarray(case.model(case.model_input(covered[None]), training=False))[0]
    np.testing.assert_allclose(insp.occlude(x, (2, 3, 9, 12), fill="gray"), want, rtol=1e-5, atol=1e-7)
    # Integrated Gradients from a black display image (-1 after preprocess):
    # completeness in model-input space.
    ig = insp.saliency(x, 1, method="integrated_gradients", signed=True, steps=128, batch_size=64)
    ends = case.logits_from_model_input(case.model_input(np.stack([x, np.zeros_like(x)]))).numpy()[:, 1]
    assert ig.sum() == pytest.approx(float(ends[0] - ends[1]), rel=2e-2, abs=1e-3)


def test_maximize_images_are_display_images(functional_case):
    case = functional_case
    insp = cw.Inspector.for_model(case.model, preprocess=preprocess_input)
    result = insp.maximize("base/block2_conv", [0, 1], steps=8)
    assert result.images.min() >= 0.0 and result.images.max() <= 255.0
    sub = keras.Model(case.base.input, case.base.get_layer("block2_conv").output)
    acts = np.asarray(sub(case.base_input(result.images), training=False)).mean(axis=(1, 2))
    np.testing.assert_allclose(result.scores, [acts[0, 0], acts[1, 1]], rtol=1e-4, atol=1e-5)


def test_for_model_shares_inspectors(sequential_case):
    model = sequential_case.model
    first = cw.Inspector.for_model(model)
    assert cw.Inspector.for_model(model) is first
    assert cw.Inspector.for_model(first) is first
    other = cw.Inspector.for_model(model, preprocess=preprocess_input)
    assert other is not first and other.preprocess is preprocess_input
    assert cw.Inspector.for_model(model, preprocess=preprocess_input) is other
    assert cw.Inspector(model) is not first  # the constructor always binds anew


# --------------------------------------------------------------- MobileNetV2
def test_mobilenetv2_base_resolves_and_gradcam_runs():
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), include_top=False)
    inp = keras.Input((96, 96, 3))
    out = keras.layers.Dense(4, activation="softmax", name="predictions")(
        keras.layers.GlobalAveragePooling2D(name="gap")(base(inp))
    )
    model = keras.Model(inp, out, name="mnv2_classifier")
    insp = cw.Inspector(model, class_names=["a", "b", "c", "d"], preprocess=preprocess_input)

    assert base.name == "mobilenetv2_1.00_96"
    record = insp.layer("mobilenetv2_1.00_96/block_16_project")
    assert record.is_conv and record.output_shape == (3, 3, 320) and record.parent == base.name
    assert insp.layer("block_16_project") is record
    assert insp.default_cam_layer.path == "mobilenetv2_1.00_96/out_relu"  # the last spatial output (issue 10)

    image = np.random.default_rng(0).uniform(0, 255, (96, 96, 3)).astype(np.float32)
    probs = insp.predict(image)
    np.testing.assert_allclose(probs, np.asarray(model(preprocess_input(image[None].copy())))[0], rtol=1e-4, atol=1e-6)
    cam = insp.gradcam(image, "c")
    assert cam.shape == (96, 96) and cam.dtype == np.float32
    assert np.isfinite(cam).all() and cam.min() >= 0
    assert insp.gradcam(image, "c", upsample=False).shape == (3, 3)
