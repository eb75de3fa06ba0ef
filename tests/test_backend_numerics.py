"""Numerical checks of the Inspector backend against independent references.

One tiny seeded model (8x8x3 -> conv -> pool -> conv -> flatten -> dense) is
built here, plus twins with the same weights that return logits (float32) and
compute in float64. Every reference (finite differences, brute-force
occlusion, a GradientTape Grad-CAM, Keras sub-models) is written in this file
and never calls the Inspector.
"""

import threading

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import cnnwidgets as cw  # noqa: E402

H, W, C, K = 8, 8, 3, 5
CONV = "conv2"


def build(dtype="float32", final_activation="softmax"):
    layers = keras.layers
    inp = keras.Input((H, W, C), name="image", dtype=dtype)
    x = layers.Rescaling(1.0 / 255, name="rescale", dtype=dtype)(inp)
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1", dtype=dtype)(x)
    x = layers.MaxPooling2D(2, name="pool", dtype=dtype)(x)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name=CONV, dtype=dtype)(x)
    x = layers.Flatten(name="flatten", dtype=dtype)(x)
    out = layers.Dense(K, activation=final_activation, name="predictions", dtype=dtype)(x)
    return keras.Model(inp, out, name="tiny")


@pytest.fixture(scope="module")
def nets():
    rng = np.random.default_rng(1234)
    model = build()
    weights = []
    for w in model.get_weights():
        fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 1
        scale = np.sqrt(2.0 / fan_in) if w.ndim > 1 else 0.1
        weights.append((rng.standard_normal(w.shape) * scale).astype(np.float32))
    model.set_weights(weights)
    logits32 = build(final_activation=None)
    logits32.set_weights(weights)
    logits64 = build("float64", final_activation=None)
    logits64.set_weights([w.astype(np.float64) for w in weights])
    images = rng.uniform(0, 255, size=(6, H, W, C)).astype(np.float32)
    return {"model": model, "logits32": logits32, "logits64": logits64, "images": images}


@pytest.fixture(scope="module")
def insp(nets):
    return cw.Inspector(nets["model"])


def logits64(nets, batch):
    return np.asarray(nets["logits64"](np.asarray(batch, np.float64), training=False))


def finite_difference_gradient(nets, image, k, eps=1e-2):
    """Central differences of the float64 logit k over every input value."""
    x = image.astype(np.float64)
    n = x.size
    steps = np.eye(n).reshape(n, *x.shape) * eps
    plus = logits64(nets, x[None] + steps)[:, k]
    minus = logits64(nets, x[None] - steps)[:, k]
    return ((plus - minus) / (2 * eps)).reshape(x.shape)


def reference_cam(nets, image, k, plus_plus):
    """Grad-CAM / Grad-CAM++ (paper formulas) with a direct float64 tape."""
    net = nets["logits64"]
    features_model = keras.Model(net.input, net.get_layer(CONV).output)
    feats = tf.constant(np.asarray(features_model(image[None].astype(np.float64), training=False)))
    dense = net.get_layer("predictions")
    with tf.GradientTape() as tape:
        tape.watch(feats)
        flat = tf.reshape(feats, (1, -1))
        score = (tf.matmul(flat, dense.kernel) + dense.bias)[0, k]
    grads = tape.gradient(score, feats).numpy()[0]
    feats = feats.numpy()[0]
    if plus_plus:
        g2, g3 = grads**2, grads**3
        denom = 2 * g2 + feats.sum(axis=(0, 1), keepdims=True) * g3
        alpha = np.where(denom != 0, g2 / np.where(denom != 0, denom, 1), 0.0)
        weights = (alpha * np.maximum(grads, 0)).sum(axis=(0, 1))
    else:
        weights = grads.mean(axis=(0, 1))
    return np.maximum((feats * weights).sum(-1), 0)


def positions(length, patch, stride):
    out = list(range(0, length - patch + 1, stride))
    if out[-1] + patch < length:
        out.append(length - patch)
    return out


def reference_occlusion(model, image, k, patch, stride, fill_value):
    """Brute force: one model call per patch position, mean drop per pixel."""
    base = float(np.asarray(model(image[None], training=False))[0, k])
    total = np.zeros((H, W))
    count = np.zeros((H, W))
    for y in positions(H, patch, stride):
        for x in positions(W, patch, stride):
            occluded = image.copy()
            occluded[y : y + patch, x : x + patch] = fill_value
            prob = float(np.asarray(model(occluded[None], training=False))[0, k])
            total[y : y + patch, x : x + patch] += base - prob
            count[y : y + patch, x : x + patch] += 1
    assert count.min() >= 1
    return total / count


# ---------------------------------------------------------------- gradients
def test_gradient_matches_finite_differences_of_the_logit(nets, insp):
    image = nets["images"][0]
    for k in (0, 3):
        fd = finite_difference_gradient(nets, image, k)
        got = insp.gradient(image, k)
        assert got.shape == (H, W, C)
        np.testing.assert_allclose(got, fd, rtol=1e-3, atol=1e-3 * np.abs(fd).max())
        signed = insp.saliency(image, k, method="vanilla", signed=True)
        np.testing.assert_allclose(signed, fd.sum(-1), rtol=1e-3, atol=1e-3 * np.abs(fd).max())
        unsigned = insp.saliency(image, k, method="vanilla")
        np.testing.assert_allclose(unsigned, np.abs(fd).max(-1), rtol=1e-3, atol=1e-3 * np.abs(fd).max())
        gxi = insp.saliency(image, k, method="gradient_x_input", signed=True)
        np.testing.assert_allclose(gxi, (fd * image).sum(-1), rtol=1e-3, atol=1e-3 * np.abs(fd * image).max())


def test_integrated_gradients_completeness(nets, insp):
    image = nets["images"][1]
    k = 2
    attribution = insp.saliency(image, k, method="integrated_gradients", signed=True, steps=256, batch_size=128)
    expected = logits64(nets, image[None])[0, k] - logits64(nets, np.zeros((1, H, W, C)))[0, k]
    assert abs(expected) > 1e-2
    assert attribution.sum() == pytest.approx(expected, rel=1e-2, abs=1e-3)


def test_smoothgrad_without_noise_is_vanilla(nets, insp):
    image = nets["images"][2]
    for signed in (False, True):
        vanilla = insp.saliency(image, 1, method="vanilla", signed=signed)
        smooth = insp.saliency(image, 1, method="smoothgrad", samples=1, noise=0.0, signed=signed)
        np.testing.assert_allclose(smooth, vanilla, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- occlusion
@pytest.mark.parametrize("patch,stride,fill,value", [(3, 2, "gray", 127.5), (3, 3, "black", 0.0), (5, 2, 200.0, 200.0)])
def test_occlusion_map_matches_brute_force(nets, insp, patch, stride, fill, value):
    image = nets["images"][3]
    k = 4
    got = insp.occlusion_map(image, k, patch=patch, stride=stride, fill=fill, batch_size=5)
    want = reference_occlusion(nets["model"], image, k, patch, stride, value)
    assert got.shape == (H, W)
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_occlude_matches_model_on_occluded_copy(nets, insp):
    image = nets["images"][3]
    occluded = image.copy()
    occluded[1:4, 2:7] = 127.5
    want = np.asarray(nets["model"](occluded[None], training=False))[0]
    np.testing.assert_allclose(insp.occlude(image, (1, 2, 4, 7)), want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(insp.predict(image), np.asarray(nets["model"](image[None]))[0], rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ Grad-CAM
@pytest.mark.parametrize("plus_plus", [False, True])
def test_gradcam_matches_reference_tape(nets, insp, plus_plus):
    assert insp.default_cam_layer.path == CONV
    for i, k in ((0, 0), (4, 1), (5, 3)):
        image = nets["images"][i]
        want = reference_cam(nets, image, k, plus_plus)
        got = insp.gradcam(image, k, plus_plus=plus_plus, upsample=False)
        assert got.shape == want.shape == (H // 2, W // 2)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, want.max()))
        same = insp.gradcam(image, k, layer=CONV, plus_plus=plus_plus, upsample=False)
        np.testing.assert_array_equal(same, got)
        assert insp.gradcam(image, k, plus_plus=plus_plus).shape == (H, W)


def test_softmax_model_and_logits_twin_agree(nets, insp):
    twin = cw.Inspector(nets["logits32"])
    image = nets["images"][5]
    for k in (0, 2):
        np.testing.assert_allclose(twin.gradcam(image, k), insp.gradcam(image, k), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            twin.gradcam(image, k, plus_plus=True), insp.gradcam(image, k, plus_plus=True), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            twin.saliency(image, k, signed=True), insp.saliency(image, k, signed=True), rtol=1e-5, atol=1e-8
        )
    np.testing.assert_allclose(twin.predict(image), insp.predict(image), rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------- activations
def test_activations_match_keras_submodels(nets, insp):
    model = nets["model"]
    image = nets["images"][0]
    for name in ("rescale", "conv1", "pool", CONV, "flatten", "predictions"):
        sub = keras.Model(model.input, model.get_layer(name).output)
        want = np.asarray(sub(image[None], training=False))[0]
        np.testing.assert_allclose(insp.activations(image, name), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(insp.filters("conv1"), np.asarray(model.get_layer("conv1").kernel))


# -------------------------------------------------------------- maximization
def test_maximize_conv_channels(nets, insp):
    model = nets["model"]
    channels = (0, 1, 2, 3)
    result = insp.maximize(CONV, channels, seed=3)
    assert result.images.shape == (len(channels), H, W, C)
    assert result.channels == channels
    sub = keras.Model(model.input, model.get_layer(CONV).output)
    acts = np.asarray(sub(result.images, training=False)).mean(axis=(1, 2))
    independent = acts[np.arange(len(channels)), list(channels)]
    np.testing.assert_allclose(result.scores, independent, rtol=1e-4, atol=1e-5)
    # Channels differ a lot in strength: measure the margin against what
    # random images reach on each channel.
    random = np.random.default_rng(0).uniform(0, 255, (512, H, W, C)).astype(np.float32)
    random_acts = np.asarray(sub(random, training=False)).mean(axis=(1, 2))[:, list(channels)]
    spread = random_acts.max(0) - random_acts.mean(0)
    assert np.all(result.scores >= result.initial_scores + 0.5 * spread), (result.initial_scores, result.scores)
    assert np.all(result.scores >= 0.8 * random_acts.max(0)), (random_acts.max(0), result.scores)
    low, high = insp.input_range
    assert result.images.min() >= low - 1e-3 and result.images.max() <= high + 1e-3


def test_maximize_output_classes(nets, insp):
    classes = (0, 2, 4)
    result = insp.maximize("predictions", classes, seed=5)
    logits = np.asarray(nets["logits32"](result.images, training=False))
    independent = logits[np.arange(len(classes)), list(classes)]
    np.testing.assert_allclose(result.scores, independent, rtol=1e-4, atol=1e-4)
    assert np.all(result.scores >= result.initial_scores + 0.5), (result.initial_scores, result.scores)
    # Better than the best of many random images, for every class.
    random = np.random.default_rng(0).uniform(0, 255, (512, H, W, C)).astype(np.float32)
    best_random = np.asarray(nets["logits32"](random, training=False)).max(axis=0)[list(classes)]
    assert np.all(result.scores > best_random), (best_random, result.scores)


# ---------------------------------------------------- progress / cancellation
def test_progress_reports_until_total(nets, insp):
    image = nets["images"][4]
    calls = []
    insp.occlusion_map(image, 0, patch=2, stride=2, batch_size=3, progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1] == (16, 16)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert all(t == 16 for _, t in calls)

    calls = []
    insp.maximize("conv1", 0, steps=5, seed=11, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 5) for i in range(1, 6)]

    calls = []
    insp.saliency(image, 0, method="smoothgrad", samples=5, batch_size=2, seed=11,
                  progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (5, 5) and len(calls) == 3


def test_cancel_already_set_raises(nets, insp):
    image = nets["images"][4]
    event = threading.Event()
    event.set()
    with pytest.raises(cw.JobCancelled):
        insp.occlusion_map(image, 1, patch=3, stride=1, cancel=event)
    with pytest.raises(cw.JobCancelled):
        insp.maximize("conv1", [0, 1], steps=5, seed=12, cancel=event)
    with pytest.raises(cw.JobCancelled):
        insp.saliency(image, 1, method="smoothgrad", samples=4, seed=12, cancel=lambda: True)
    with pytest.raises(cw.JobCancelled):
        insp.saliency(image, 1, method="integrated_gradients", steps=8, cancel=event)


def test_cancel_during_progress_stops_occlusion_early(nets, insp):
    image = nets["images"][2]
    event = threading.Event()
    calls = []

    def progress(done, total):
        calls.append((done, total))
        if done >= 8:
            event.set()

    with pytest.raises(cw.JobCancelled):
        insp.occlusion_map(image, 2, patch=2, stride=1, batch_size=4, progress=progress, cancel=event)
    assert calls == [(4, 49), (8, 49)]
    # Nothing half-done was cached: the same call without cancel completes.
    calls.clear()
    full = insp.occlusion_map(image, 2, patch=2, stride=1, batch_size=4, progress=progress)
    assert calls[-1] == (49, 49)
    np.testing.assert_allclose(full, reference_occlusion(nets["model"], image, 2, 2, 1, 127.5), atol=2e-6)


# ---------------------------------------------------------- tracing / caching
def test_no_retracing_across_images_and_classes(nets):
    insp = cw.Inspector(nets["model"])
    rng = np.random.default_rng(7)
    for i in range(4):
        image = rng.uniform(0, 255, (H, W, C)).astype(np.float32)
        k = i % K
        insp.predict(image)
        insp.logits(image)
        insp.gradcam(image, k)
        insp.gradcam(image, (k + 1) % K, plus_plus=True)
        insp.saliency(image, k)
        insp.saliency(image, k, method="smoothgrad", samples=3 + i, batch_size=2)
        insp.occlude(image, (i, i, i + 3, i + 2))
        insp.activations(image, "conv1")
    insp.occlusion_map(image, 1, patch=3, stride=2, batch_size=7)
    insp.predict_batch(rng.uniform(0, 255, (3, H, W, C)))
    assert insp.trace_counts, "no compiled function was used"
    assert set(insp.trace_counts.values()) == {1}, dict(insp.trace_counts)


def test_repeated_call_is_a_cache_hit(nets, insp):
    image = nets["images"][1]
    first = insp.gradcam(image, 3)
    hits = insp._cache.hits
    second = insp.gradcam(image, 3)
    assert insp._cache.hits > hits
    np.testing.assert_array_equal(first, second)


def test_mutating_a_result_does_not_corrupt_the_cache(nets, insp):
    image = nets["images"][1]
    calls = {
        "predict": lambda: insp.predict(image),
        "logits": lambda: insp.logits(image),
        "gradient": lambda: insp.gradient(image, 1),
        "saliency": lambda: insp.saliency(image, 1),
        "gradcam": lambda: insp.gradcam(image, 1),
        "gradcam_small": lambda: insp.gradcam(image, 1, upsample=False),
        "occlusion_map": lambda: insp.occlusion_map(image, 1, patch=4, stride=4),
        "activations": lambda: insp.activations(image, "conv1"),
        "all_activations": lambda: insp.all_activations(image)["conv1"],
        "maximize": lambda: insp.maximize("conv1", 0, steps=2).images,
    }
    for name, call in calls.items():
        result = call()
        kept = np.array(result)
        result[...] = -7.0  # results are the caller's: writable, and not the cached array
        np.testing.assert_array_equal(call(), kept, err_msg=name)
