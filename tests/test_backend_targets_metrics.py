"""Targets in the trust tools: faithfulness metrics and the randomization cascade.

References are written here without the library: a hand-built segmenter and
a linear regressor whose forward passes are a few lines of numpy, brute-force
loops that delete or insert pixels in the map's order, the cascade redone on
a clone randomized by hand, scipy's Spearman correlation.
"""

import hashlib

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import cnnwidgets as cw  # noqa: E402
from cnnwidgets.backend.metrics.road import linear_imputation  # noqa: E402
from cnnwidgets.backend.randomization import reinitialize_layer  # noqa: E402
from cnnwidgets.targets import Output, Region, Value  # noqa: E402

L = keras.layers
S = 6  # the segmenter's side


# ------------------------------------------------------------------ models
def segmenter_weights():
    rng = np.random.default_rng(11)
    return rng.normal(0, 1.5, (3, 3, 1, 2)).astype(np.float32), np.array([0.3, -0.2], np.float32)


def build_segmenter(softmax=True):
    """(6, 6, 1) in [0, 1] -> one 3x3 'same' convolution, 2 classes (hand-set weights) -> softmax or raw."""
    inp = keras.Input((S, S, 1))
    conv = L.Conv2D(2, 3, padding="same", name="conv")
    out = conv(inp)
    model = keras.Model(inp, L.Softmax(name="probs")(out) if softmax else out)
    conv.set_weights(segmenter_weights())
    return model


def numpy_segmenter(image, softmax=True):
    """The same in numpy: cross-correlation over the zero-padded image, then softmax over the channels."""
    kernel, bias = segmenter_weights()
    padded = np.pad(np.asarray(image, np.float64)[..., 0], 1)
    out = np.empty((S, S, 2))
    for i in range(S):
        for j in range(S):
            out[i, j] = np.einsum("ab,abk->k", padded[i:i + 3, j:j + 3], kernel[:, :, 0, :].astype(np.float64)) + bias
    if softmax:
        out = np.exp(out - out.max(axis=-1, keepdims=True))
        out /= out.sum(axis=-1, keepdims=True)
    return out


@pytest.fixture(scope="module")
def segmenter():
    return build_segmenter(True), build_segmenter(False)


def linear_weights():
    rng = np.random.default_rng(12)
    return rng.normal(0, 1, (4 * 4 * 2, 3)).astype(np.float32), np.array([0.5, -1.0, 2.0], np.float32)


@pytest.fixture(scope="module")
def regressor():
    """(4, 4, 2) -> Flatten -> Dense(3) linear, hand-set weights: three regression values."""
    inp = keras.Input((4, 4, 2))
    dense = L.Dense(3, name="values")
    model = keras.Model(inp, dense(L.Flatten()(inp)))
    dense.set_weights(linear_weights())
    return model


def numpy_regressor(image):
    weights, bias = linear_weights()
    return np.asarray(image, np.float64).ravel() @ weights.astype(np.float64) + bias


def scene(seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (S, S, 1)).astype(np.float32)


def region_mask():
    mask = np.zeros((S, S), np.float32)
    mask[1:4, 2:6] = 1
    mask[5, 0] = 0.5  # weights, not only 0/1
    return mask


def distinct_map(shape, seed=3):
    """A map without ties, so that the order of pixels is the same for any stable sort."""
    return np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)


def brute_force_curve(score, image, saliency, fill, steps, insert):
    """Deletion/insertion the slow way: change the next pixels in the map's order, score the image."""
    height, width = saliency.shape
    order = np.argsort(-saliency.ravel(), kind="stable")
    counts = np.round(np.linspace(0, 1, steps + 1) * height * width).astype(int)
    current = (fill if insert else image).astype(np.float64).copy()
    source = image if insert else fill
    scores = [score(current)]
    for step in range(1, steps + 1):
        for pixel in order[counts[step - 1]:counts[step]]:
            y, x = divmod(int(pixel), width)
            current[y, x] = source[y, x]
        scores.append(score(current))
    return np.array(scores)


def trapezoid(values, fractions):
    return float(np.sum((values[1:] + values[:-1]) * np.diff(fractions)) / 2)


# ------------------------------------------------------- curves, by target
@pytest.mark.parametrize("metric", ["deletion", "insertion"])
@pytest.mark.parametrize("softmax", [True, False])
def test_region_curve_is_the_summed_output_over_the_mask_of_a_brute_force_loop(segmenter, metric, softmax):
    """Probabilities summed over the mask (softmax output), raw scores summed (no activation)."""
    model = segmenter[0 if softmax else 1]
    insp = cw.Inspector(model, input_range=(0.0, 1.0))
    image, mask, saliency = scene(), region_mask(), distinct_map((S, S))
    fill = np.zeros_like(image) if metric == "deletion" else np.full_like(image, image.mean())
    result = insp.evaluate(image, saliency, Region(1, mask), metric, steps=9,
                           fill="black" if metric == "deletion" else "mean", batch_size=4)
    expected = brute_force_curve(lambda x: float((numpy_segmenter(x, softmax)[..., 1] * mask).sum()),
                                 image, saliency, fill, 9, insert=metric == "insertion")
    np.testing.assert_allclose(result.scores, expected, rtol=1e-5, atol=1e-5)
    assert result.score == pytest.approx(trapezoid(expected, np.linspace(0, 1, 10)), abs=1e-5)
    assert result.class_index == 1 and result.target == Region(1, mask)
    assert result.scores is result.probabilities and "target Region(class_index=1" in repr(result)


@pytest.mark.parametrize("sign", [1, -1])
def test_value_curve_on_a_linear_model_and_the_exact_map_beats_a_random_one(regressor, sign):
    insp = cw.Inspector(regressor, input_range=(0.0, 1.0), output_kinds="values")
    image = np.random.default_rng(4).uniform(0, 1, (4, 4, 2)).astype(np.float32)
    target = Value(1, sign=sign)
    weights, _ = linear_weights()
    exact = (sign * weights[:, 1].reshape(4, 4, 2) * image).sum(axis=-1)  # weight x input, per pixel

    def value(x):
        return sign * float(numpy_regressor(x)[1])

    for saliency in (exact, distinct_map((4, 4))):
        result = insp.evaluate(image, saliency, target, "deletion", steps=16)
        expected = brute_force_curve(value, image, saliency, np.zeros_like(image), 16, insert=False)
        np.testing.assert_allclose(result.scores, expected, rtol=1e-5, atol=1e-5)
        assert result.class_index is None and result.target == target
    # Deleting in the exact order removes the largest contributions first: the lowest curve there is.
    random = insp.evaluate(image, distinct_map((4, 4)), target, "deletion", steps=16)
    best = insp.evaluate(image, exact, target, "deletion", steps=16)
    assert np.all(best.scores <= random.scores + 1e-5) and best.score < random.score
    # An int on a "values" output means Value(int): the same curve.
    if sign == 1:
        np.testing.assert_allclose(insp.evaluate(image, exact, 1, "deletion", steps=16).scores, best.scores)


def test_output_targets_on_a_class_head_and_a_box_head():
    keras.utils.set_random_seed(5)
    inp = keras.Input((8, 8, 3))
    x = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, activation="relu", name="conv")(inp))
    model = keras.Model(inp, [L.Dense(3, activation="softmax", name="cls")(x), L.Dense(4, name="box")(x)])
    insp = cw.Inspector(model)
    image = np.random.default_rng(6).uniform(0, 255, (8, 8, 3)).astype(np.float32)
    saliency = distinct_map((8, 8))

    def head(x, output, index):
        return float(np.asarray(model(x[None].astype(np.float32), training=False)[output])[0, index])

    for target, output, index in ((Output("box", Value(2)), 1, 2), (Output("cls", 1), 0, 1)):
        result = insp.evaluate(image, saliency, target, "insertion", steps=8, fill="black")
        expected = brute_force_curve(lambda x: head(x, output, index), image, saliency, np.zeros_like(image), 8,
                                     insert=True)
        np.testing.assert_allclose(result.scores, expected, rtol=1e-4, atol=1e-5)
        assert result.target == target
    with pytest.raises(cw.NotAClassifierError):
        insp.evaluate(image, saliency)  # two outputs: say which one


def test_road_follows_the_target_score(segmenter):
    insp = cw.Inspector(segmenter[0], input_range=(0.0, 1.0))
    image, mask, saliency = scene(1), region_mask(), distinct_map((S, S), seed=5)
    result = insp.evaluate(image, saliency, Region(0, mask), "road", steps=4, noise=0.0)
    rank = np.argsort(np.argsort(-saliency.ravel(), kind="stable")).reshape(S, S)
    expected = []
    for fraction in np.arange(5) / 5:
        missing = rank < round(fraction * S * S)
        filled = np.clip(linear_imputation(image, missing), 0, 1)
        expected.append((numpy_segmenter(filled)[..., 0] * mask).sum())
    np.testing.assert_allclose(result.scores, expected, rtol=1e-5, atol=1e-5)


def test_average_drop_and_increase_take_target_scores_and_refuse_a_negative_base(regressor):
    insp = cw.Inspector(regressor, input_range=(0.0, 1.0), output_kinds="values")
    image = np.random.default_rng(7).uniform(0, 1, (4, 4, 2)).astype(np.float32)
    saliency = distinct_map((4, 4))
    kept = (saliency / saliency.max())[..., None] * image  # low end 0: E = M x
    for index in range(3):
        for sign in (1, -1):
            original = sign * numpy_regressor(image)[index]
            explained = sign * numpy_regressor(kept)[index]
            target = Value(index, sign)
            increase = insp.evaluate(image, saliency, target, "increase_in_confidence")
            assert increase.score == float(explained > original)
            if original < 0:
                with pytest.raises(cw.InvalidTargetError, match="sign=-1"):
                    insp.evaluate(image, saliency, target, "average_drop")
            else:
                drop = insp.evaluate(image, saliency, target, "average_drop")
                assert drop.score == pytest.approx(max(0.0, original - explained) / original, rel=1e-5, abs=1e-6)
                assert drop.details["original"] == pytest.approx(original, rel=1e-5)


def test_a_callable_target_scores_like_the_region_it_computes(segmenter):
    insp = cw.Inspector(segmenter[0], input_range=(0.0, 1.0))
    image, mask, saliency = scene(2), region_mask(), distinct_map((S, S), seed=8)
    by_hand = tf.constant(mask)

    def tank_area(outputs):
        return tf.reduce_sum(outputs[..., 1] * by_hand, axis=[1, 2])

    result = insp.evaluate(image, saliency, tank_area, "deletion", steps=6)
    region = insp.evaluate(image, saliency, Region(1, mask), "deletion", steps=6)
    np.testing.assert_allclose(result.scores, region.scores, rtol=1e-6, atol=1e-6)
    assert result.class_index is None and result.target is tank_area


# ------------------------------------------------- cache keys and tracing
def test_new_masks_never_retrace_and_targets_are_part_of_the_cache_key(segmenter):
    insp = cw.Inspector(segmenter[0], input_range=(0.0, 1.0))
    image, saliency = scene(3), distinct_map((S, S))
    masks = [region_mask(), np.eye(S, dtype=np.float32), np.ones((S, S), np.float32)]
    results = [insp.evaluate(image, saliency, Region(c, m), "deletion", steps=5) for m in masks for c in (0, 1)]
    assert insp.trace_counts["class_scores:probability:0:region"] == 1
    assert len({id(r) for r in results}) == len(results)
    assert len({tuple(r.scores) for r in results}) == len(results)
    again = insp.evaluate(image, saliency, Region(1, region_mask().copy()), "deletion", steps=5)
    assert again is results[1]  # an equal mask in a new object: the cached result


# ---------------------------------------------------------------- errors
def test_bad_targets_get_typed_errors(segmenter, regressor):
    insp = cw.Inspector(segmenter[0], input_range=(0.0, 1.0))
    image, saliency = scene(), distinct_map((S, S))
    cases = [
        (None, cw.NotAClassifierError, "not one vector of class scores"),
        (1, cw.NotAClassifierError, "Region"),
        (Region(1, np.ones((3, 3))), cw.InvalidTargetError, "spatial shape"),
        (Region(2, np.ones((S, S))), cw.InvalidTargetError, "out of range"),
        (Value(0), cw.InvalidTargetError, "Value targets a vector output"),
        (Output(3, Region(0, np.ones((S, S)))), cw.InvalidTargetError, "output index 3"),
        (lambda outputs: outputs[..., 0], cw.InvalidTargetError, "one score per batch item"),
        (lambda outputs: outputs["tank"], cw.InvalidTargetError, "callable '.*<lambda>' raised"),
    ]
    for target, error, match in cases:
        with pytest.raises(error, match=match):
            insp.evaluate(image, saliency, target, "deletion", steps=3)
    values = cw.Inspector(regressor, input_range=(0.0, 1.0), output_kinds="values")
    with pytest.raises(cw.InvalidTargetError, match="value index 3"):
        values.evaluate(np.zeros((4, 4, 2)), np.ones((4, 4)), Value(3), "deletion")
    with pytest.raises(cw.InvalidTargetError, match="sign"):
        values.evaluate(np.zeros((4, 4, 2)), np.ones((4, 4)), Value(0, sign=2), "deletion")


# ------------------------------------------------------------ the cascade
def weights_checksum(model):
    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(variable)).tobytes())
    return digest.hexdigest()


def two_conv_segmenter():
    keras.utils.set_random_seed(9)
    inp = keras.Input((S, S, 1))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    return keras.Model(inp, L.Softmax(name="probs")(L.Conv2D(2, 1, name="conv2")(x)))


@pytest.mark.parametrize("method", ["gradient_x_input", "occlusion"])
def test_cascade_on_a_region_equals_the_maps_of_clones_randomized_by_hand(method):
    from scipy.stats import spearmanr

    model = two_conv_segmenter()
    before = weights_checksum(model)
    insp = cw.Inspector(model, input_range=(0.0, 1.0))
    image, mask = scene(4), region_mask()
    target = Region(1, mask)
    params = {"patch": 2, "stride": 1} if method == "occlusion" else {}
    result = insp.randomization_cascade(image, method, target, seed=3, **params)
    assert result.labels == ("trained", "conv2", "conv1") and result.target == target and result.class_index == 1
    np.testing.assert_allclose(result.maps[0], insp.explain(image, method, target, **params), atol=1e-6)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    for step, name in enumerate(("conv2", "conv1"), start=1):
        reinitialize_layer(clone.get_layer(name), 3 + 7919 * step)
        fresh = cw.Inspector(clone, input_range=(0.0, 1.0))
        np.testing.assert_allclose(result.maps[step], fresh.explain(image, method, target, **params),
                                   rtol=1e-4, atol=1e-6)
        want = spearmanr(result.maps[0].ravel(), result.maps[step].ravel())[0]
        assert result.spearman[step] == pytest.approx(0.0 if np.isnan(want) else want, abs=1e-9)
    assert weights_checksum(model) == before
    with pytest.raises(cw.NotAClassifierError):
        insp.randomization_cascade(image, method)
    with pytest.raises(cw.InvalidTargetError):
        insp.randomization_cascade(image, method, Region(1, np.ones((2, 2))))


def test_cascade_keeps_the_output_kinds_on_its_copy(regressor):
    """An int on a "values" output is Value(int) on the randomized copy too: occlusion reports the raw value."""
    insp = cw.Inspector(regressor, input_range=(0.0, 1.0), output_kinds="values")
    image = np.random.default_rng(10).uniform(0, 1, (4, 4, 2)).astype(np.float32)
    result = insp.randomization_cascade(image, "occlusion", 2, patch=1, stride=1, fill="black")
    assert result.target == 2 and result.class_index is None
    clone = keras.models.clone_model(regressor)
    clone.set_weights(regressor.get_weights())
    reinitialize_layer(clone.get_layer("values"), 7919)
    fresh = cw.Inspector(clone, input_range=(0.0, 1.0), output_kinds="values")
    want = fresh.explain(image, "occlusion", Value(2), patch=1, stride=1, fill="black")
    np.testing.assert_allclose(result.maps[1], want, rtol=1e-4, atol=1e-5)
    # Blacking out pixel p of a linear model changes the value by w_p . x_p: the trained map is exact.
    weights, _ = linear_weights()
    exact = (weights[:, 2].reshape(4, 4, 2) * image).sum(axis=-1)
    np.testing.assert_allclose(result.maps[0], exact, rtol=1e-4, atol=1e-5)


def test_cascade_on_one_head_randomizes_the_layers_that_head_depends_on():
    keras.utils.set_random_seed(13)
    inp = keras.Input((8, 8, 3))
    trunk = L.Conv2D(4, 3, activation="relu", name="trunk")(inp)
    cls = L.Dense(3, activation="softmax", name="cls")(L.GlobalAveragePooling2D()(trunk))
    box_features = L.Conv2D(3, 3, activation="relu", name="box_conv")(trunk)
    box = L.Dense(4, name="box")(L.Flatten()(box_features))
    model = keras.Model(inp, [cls, box])
    insp = cw.Inspector(model)
    image = np.random.default_rng(14).uniform(0, 255, (8, 8, 3)).astype(np.float32)
    on_box = insp.randomization_cascade(image, "vanilla", Output("box", Value(1)))
    assert on_box.labels == ("trained", "box", "box_conv", "trunk")
    on_cls = insp.randomization_cascade(image, "vanilla", Output("cls", 2))
    assert on_cls.labels == ("trained", "cls", "trunk") and on_cls.class_index == 2
    # Every step changes the map: no step randomizes a layer the explained head cannot see.
    assert np.all([np.abs(on_box.maps[k] - on_box.maps[k - 1]).max() > 0 for k in range(1, 4)])
    whole = insp.randomization_cascade(image, "vanilla", lambda outputs: outputs[1][:, 0] + outputs[0][:, 0])
    assert set(whole.labels[1:]) == {"cls", "box", "box_conv", "trunk"}
