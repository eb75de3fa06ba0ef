"""Faithfulness metrics (``Inspector.evaluate``) and the randomization cascade.

Metric numbers are checked against brute-force references written here: a
loop that changes the pixels one step at a time and calls the Keras model
itself, a dense linear solve for ROAD's imputation, the paper's formula for
average drop; the similarity measures against scipy and scikit-image. On a
linear model, where weight x input is the exact relevance, the exact map must
beat a random map on deletion and insertion at every step.
"""

import hashlib
import threading

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import cnnwidgets as cw  # noqa: E402
from cnnwidgets.backend.metrics.road import NEIGHBOURS, linear_imputation  # noqa: E402
from cnnwidgets.backend.metrics.similarity import normalise, spearman, ssim  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    model = cw.demo.digits_model()
    images, labels = cw.demo.digits_samples()
    return model, cw.Inspector(model), images


def model_probability(model, image, target):
    """The class probability straight from the Keras model (the digits model ends in softmax)."""
    return float(np.asarray(model(np.asarray(image, np.float32)[None], training=False))[0, target])


def brute_force_curve(model, image, saliency, target, fill, steps, insert):
    """Deletion/insertion the slow way: a loop that changes the next pixels and calls the model."""
    height, width = saliency.shape
    order = np.argsort(-saliency.ravel(), kind="stable")
    counts = np.round(np.linspace(0, 1, steps + 1) * height * width).astype(int)
    current = (fill if insert else image).astype(np.float64).copy()
    source = image if insert else fill
    probabilities = [model_probability(model, current, target)]
    for step in range(1, steps + 1):
        for pixel in order[counts[step - 1] : counts[step]]:
            y, x = divmod(int(pixel), width)
            current[y, x] = source[y, x]
        probabilities.append(model_probability(model, current, target))
    return np.array(probabilities)


# ------------------------------------------------------------- the catalogue
def test_catalogue_lists_every_metric_with_its_spec():
    names = [m.name for m in cw.metrics()]
    assert names == ["deletion", "insertion", "road", "average_drop", "increase_in_confidence"]
    assert [m.name for m in cw.metrics(curve=True)] == ["deletion", "insertion", "road"]
    for spec in cw.metrics():
        assert spec.label and spec.description and spec.paper and spec.url.startswith("https://")
        assert all(isinstance(p, cw.ParamSpec) for p in spec.params)
        assert isinstance(spec.better_is_higher(), bool)
    assert cw.get_metric("deletion").better_is_higher() is False
    assert cw.get_metric("insertion").better_is_higher() is True
    assert cw.get_metric("road").better_is_higher({"order": "least"}) is True
    assert cw.get_metric("road").better_is_higher({"order": "most"}) is False


def test_bad_input_gets_typed_errors(digits):
    model, insp, images = digits
    image = images[0]
    good = insp.explain(image, "vanilla")
    with pytest.raises(cw.UnknownMetricError, match="did you mean 'deletion'"):
        insp.evaluate(image, good, metric="deleton")
    with pytest.raises(cw.InvalidParameterError, match="its parameters are: steps, fill, sigma"):
        insp.evaluate(image, good, metric="deletion", step=3)
    with pytest.raises(cw.InvalidParameterError, match="at least 2"):
        insp.evaluate(image, good, metric="deletion", steps=1)
    with pytest.raises(cw.InvalidParameterError, match="unknown fill 'white'"):
        insp.evaluate(image, good, metric="insertion", fill="white")
    with pytest.raises(cw.InvalidMapError, match=r"shape \(7, 7\).*28x28"):
        insp.evaluate(image, np.ones((7, 7)))
    bad = good.copy()
    bad[3, 4] = np.nan
    with pytest.raises(cw.InvalidMapError, match="1 NaN"):
        insp.evaluate(image, bad)
    with pytest.raises(cw.CNNWidgetsError, match="height"):
        insp.evaluate(image, good, fill=np.zeros((20, 28)))
    with pytest.raises(cw.InvalidParameterError, match="batch_size"):
        insp.evaluate(image, good, batch_size=0)
    with pytest.raises(cw.ClassNotFoundError):
        insp.evaluate(image, good, class_index=10)
    for error in (cw.UnknownMetricError, cw.InvalidMapError):
        assert issubclass(error, cw.CNNWidgetsError)


# --------------------------------------------------- deletion and insertion
@pytest.mark.parametrize("metric", ["deletion", "insertion"])
@pytest.mark.parametrize("fill", ["black", "mean", "blur", "baseline"])
def test_curves_match_a_brute_force_loop(digits, metric, fill):
    from scipy.ndimage import gaussian_filter

    model, insp, images = digits
    image = images[3].astype(np.float64)
    saliency = insp.explain(images[3], "gradient_x_input")
    target = int(np.argmax(insp.predict(images[3])))
    if fill == "black":
        fill_image = np.zeros_like(image)
    elif fill == "mean":
        fill_image = np.broadcast_to(image.mean(axis=(0, 1)), image.shape)
    elif fill == "blur":  # numpy's 'reflect' padding is scipy's 'mirror'; radius round(3 sigma)
        fill_image = gaussian_filter(image, sigma=(3.0, 3.0, 0), truncate=3.0, mode="mirror")
    else:
        fill_image = np.random.default_rng(1).uniform(0, 255, image.shape)
    given = {"fill": fill_image.astype(np.float32)} if fill == "baseline" else {"fill": fill, "sigma": 3.0}
    result = insp.evaluate(images[3], saliency, metric=metric, steps=14, batch_size=4, **given)
    expected = brute_force_curve(model, image, saliency, target, fill_image, 14, insert=metric == "insertion")
    np.testing.assert_allclose(result.fractions, np.linspace(0, 1, 15))
    np.testing.assert_allclose(result.probabilities, expected, atol=2e-5)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 (the oldest claimed) has only trapz
    np.testing.assert_allclose(result.score, trapezoid(expected, result.fractions), atol=2e-5)
    assert result.class_index == target and result.higher_is_better == (metric == "insertion")


def test_fill_is_made_in_display_pixels_then_preprocessed():
    """With a preprocess (MobileNet style, [-1, 1]), 'black' is display 0, i.e. model input -1."""
    layers = keras.layers
    inp = keras.Input((6, 6, 3))
    out = layers.Dense(3, activation="softmax")(layers.Flatten()(inp))
    model = keras.Model(inp, out)
    model.set_weights([w + 0.05 * np.random.default_rng(2).normal(size=w.shape) for w in model.get_weights()])

    def preprocess(batch):
        return batch / 127.5 - 1.0

    insp = cw.Inspector(model, preprocess=preprocess)
    image = np.random.default_rng(3).uniform(0, 255, (6, 6, 3)).astype(np.float32)
    saliency = np.random.default_rng(4).random((6, 6))
    result = insp.evaluate(image, saliency, class_index=2, metric="deletion", steps=6)
    order = np.argsort(-saliency.ravel(), kind="stable")
    counts = np.round(np.linspace(0, 1, 7) * 36).astype(int)
    expected = []
    for count in counts:
        current = image.copy().reshape(36, 3)
        current[order[:count]] = 0.0  # black in display pixels
        x = preprocess(current.reshape(1, 6, 6, 3))
        expected.append(float(np.asarray(model(x))[0, 2]))
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-5)


def linear_model(seed=0):
    """8x8x1 -> Dense(2, softmax) with w1 = -w0: p1 = sigmoid(2 w.x), so w1-w0 times x is the exact relevance."""
    inp = keras.Input((8, 8, 1))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inp))
    model = keras.Model(inp, out)
    w = np.random.default_rng(seed).normal(0, 0.004, (64, 1))
    model.set_weights([np.concatenate([-w, w], axis=1).astype(np.float32), np.zeros(2, np.float32)])
    return model, 2.0 * w[:, 0].reshape(8, 8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_map_beats_random_map_on_a_linear_model(seed):
    model, weight = linear_model(seed)
    insp = cw.Inspector(model)
    image = np.random.default_rng(10 + seed).uniform(0, 255, (8, 8, 1)).astype(np.float32)
    exact = weight * image[..., 0]  # the logit difference is exactly the sum of these
    random_map = np.random.default_rng(20 + seed).random((8, 8))
    curves = {}
    for metric in ("deletion", "insertion"):
        for name, saliency in (("exact", exact), ("random", random_map), ("anti", -exact)):
            curves[metric, name] = insp.evaluate(image, saliency, class_index=1, metric=metric, steps=16,
                                                 fill="black")
    tol = 1e-6
    # Deleting the largest contributions first is the fastest possible fall, at every step.
    assert np.all(curves["deletion", "exact"].probabilities <= curves["deletion", "random"].probabilities + tol)
    assert np.all(curves["deletion", "random"].probabilities <= curves["deletion", "anti"].probabilities + tol)
    assert np.all(curves["insertion", "exact"].probabilities >= curves["insertion", "random"].probabilities - tol)
    assert np.all(curves["insertion", "random"].probabilities >= curves["insertion", "anti"].probabilities - tol)
    assert curves["deletion", "exact"].score < curves["deletion", "random"].score < curves["deletion", "anti"].score
    assert curves["insertion", "exact"].score > curves["insertion", "random"].score > curves["insertion", "anti"].score


# ------------------------------------------------------------------- ROAD
def dense_imputation(image, missing):
    """Reference: the same equations, assembled pixel by pixel, solved densely (no anchor)."""
    height, width, _ = image.shape
    where = [(y, x) for y in range(height) for x in range(width) if missing[y, x]]
    index = {p: i for i, p in enumerate(where)}
    matrix = np.zeros((len(where), len(where)))
    rhs = np.zeros((len(where), image.shape[2]))
    for i, (y, x) in enumerate(where):
        for dy, dx, weight in NEIGHBOURS:
            ny, nx = y + dy, x + dx
            if 0 <= ny < height and 0 <= nx < width:
                matrix[i, i] += weight
                if missing[ny, nx]:
                    matrix[i, index[ny, nx]] -= weight
                else:
                    rhs[i] += weight * image[ny, nx]
    out = image.astype(np.float64).copy()
    for (y, x), value in zip(where, np.linalg.solve(matrix, rhs)):
        out[y, x] = value
    return out


def test_linear_imputation_matches_a_dense_solve():
    rng = np.random.default_rng(5)
    image = rng.uniform(0, 255, (9, 7, 3))
    missing = rng.random((9, 7)) < 0.5
    filled = linear_imputation(image, missing)
    np.testing.assert_allclose(filled, dense_imputation(image, missing), atol=1e-3)
    np.testing.assert_array_equal(filled[~missing], image[~missing])
    all_missing = linear_imputation(image, np.ones((9, 7), bool))  # no kept pixel: still finite
    assert np.isfinite(all_missing).all()


@pytest.mark.parametrize("order", ["most", "least"])
def test_road_matches_a_brute_force_loop(digits, order):
    model, insp, images = digits
    image = images[5].astype(np.float64)
    saliency = insp.explain(images[5], "vanilla")
    target = int(np.argmax(insp.predict(images[5])))
    result = insp.evaluate(images[5], saliency, metric="road", order=order, steps=4, noise=0.02, seed=3)
    ranking = np.argsort(-saliency.ravel(), kind="stable")
    if order == "least":
        ranking = ranking[::-1]
    rng = np.random.default_rng(3)
    expected = []
    for count in np.round(np.arange(5) / 5 * 784).astype(int):
        missing = np.zeros(784, bool)
        missing[ranking[:count]] = True
        missing = missing.reshape(28, 28)
        filled = dense_imputation(image, missing) if count else image.copy()
        filled[missing] += rng.normal(0.0, 0.02 * 255, filled[missing].shape)
        expected.append(model_probability(model, np.clip(filled, 0, 255), target))
    np.testing.assert_allclose(result.fractions, np.arange(5) / 5)
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-3)
    assert result.higher_is_better == (order == "least")


# ----------------------------------------------- average drop / increase
def test_average_drop_and_increase_follow_the_paper(digits):
    model, insp, images = digits
    image = images[7].astype(np.float64)
    cam = insp.explain(images[7], "gradcam")
    target = int(np.argmax(insp.predict(images[7])))
    kept = image * (np.maximum(cam, 0) / cam.max())[..., None]
    original, explained = model_probability(model, image, target), model_probability(model, kept, target)
    drop = insp.evaluate(images[7], cam, metric="average_drop")
    increase = insp.evaluate(images[7], cam, metric="increase_in_confidence")
    assert drop.score == pytest.approx(max(0.0, original - explained) / original, abs=1e-5)
    assert increase.score == float(explained > original)
    assert drop.details["original"] == pytest.approx(original, abs=1e-6)
    assert drop.fractions is None and drop.probabilities is None


# ----------------------------------------------- batching, caching, jobs
def test_one_curve_goes_through_the_model_in_few_batches_without_retracing(digits, monkeypatch):
    model, insp, images = digits
    saliency = insp.explain(images[1], "vanilla")
    calls = []
    original = type(insp)._batch_scores

    def counting(self, batch, targets, kind="probability"):
        calls.append(len(batch))
        return original(self, batch, targets, kind)

    monkeypatch.setattr(type(insp), "_batch_scores", counting)
    insp.evaluate(images[1], saliency, metric="deletion", steps=50)
    assert calls == [51]
    calls.clear()
    insp.evaluate(images[1], saliency, metric="insertion", steps=50, batch_size=16)
    assert calls == [16, 16, 16, 3]
    assert insp.trace_counts["class_scores:probability:0:class"] == 1  # one function per output and target kind


def test_results_are_cached_per_image_map_class_and_parameters(digits):
    model, insp, images = digits
    saliency = insp.explain(images[2], "vanilla")
    first = insp.evaluate(images[2], saliency, metric="deletion", steps=10)
    assert insp.evaluate(images[2], saliency.copy(), metric="deletion", steps=10) is first
    assert insp.evaluate(images[2], saliency, metric="deletion", steps=11) is not first
    assert insp.evaluate(images[2], saliency, metric="deletion", steps=10, class_index=3) is not first
    assert insp.evaluate(images[2], saliency * 2 + 1, metric="deletion", steps=10) is not first
    with pytest.raises(ValueError):
        first.probabilities[0] = 1.0  # read-only: the cached result cannot be changed by a caller


def test_progress_and_cancel(digits):
    model, insp, images = digits
    saliency = insp.explain(images[4], "vanilla") + 1.0
    seen = []
    insp.evaluate(images[4], saliency, metric="deletion", steps=20, batch_size=8, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(8, 21), (16, 21), (21, 21)]
    stop = threading.Event()

    def stop_after_first(done, total):
        stop.set()

    with pytest.raises(cw.JobCancelled):
        insp.evaluate(images[4], saliency, metric="insertion", steps=20, batch_size=8, progress=stop_after_first,
                      cancel=stop)
    stop.clear()
    seen.clear()
    insp.evaluate(images[4], saliency, metric="insertion", steps=20, batch_size=8, progress=lambda d, t: seen.append(d))
    assert seen == [8, 16, 21]  # recomputed: nothing half-done was cached


# -------------------------------------------------------------- similarity
def test_similarity_measures_match_scipy_and_scikit_image():
    from scipy.stats import spearmanr

    structural_similarity = pytest.importorskip("skimage.metrics").structural_similarity  # the test extra's reference

    rng = np.random.default_rng(6)
    a = rng.random((28, 28))
    b = a + rng.random((28, 28))
    b[:4, :4] = b[0, 0]  # ties
    assert spearman(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel())[0], abs=1e-12)
    reference = structural_similarity(normalise(a), normalise(b), data_range=1.0, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False)
    assert ssim(a, b) == pytest.approx(reference, abs=1e-12)
    assert spearman(a, a) == pytest.approx(1.0) and ssim(a, a) == pytest.approx(1.0)
    assert spearman(a, np.zeros_like(a)) == 0.0


# ------------------------------------------------------------- the cascade
def weights_checksum(model):
    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(variable.path.encode())
        digest.update(np.ascontiguousarray(np.asarray(variable)).tobytes())
    return digest.hexdigest()


def test_cascade_on_digits_destroys_gradcam_and_leaves_the_model_alone(digits):
    """Adebayo et al. average over images: one random draw can leave one digit's map alike by chance."""
    model, insp, images = digits
    before = weights_checksum(model)
    last_spearman, last_ssim = [], []
    for image in images[::10]:
        result = insp.randomization_cascade(image, "gradcam")
        assert result.labels == ("trained", "predictions", "dense1", "conv3", "conv2", "conv1")
        assert result.randomized[-1] == ("predictions", "dense1", "conv3", "conv2", "conv1")
        np.testing.assert_allclose(result.maps[0], insp.explain(image, "gradcam"), atol=1e-6)
        assert result.spearman[0] == pytest.approx(1.0) and result.ssim[0] == pytest.approx(1.0)
        last_spearman.append(result.spearman[-1])
        last_ssim.append(result.ssim[-1])
    # All convolution layers randomized: the map no longer resembles the trained one.
    assert np.mean(last_spearman) < 0.3 and np.mean(last_ssim) < 0.3
    assert weights_checksum(model) == before
    assert insp.predict(images[0]).argmax() == 0  # the bound inspector still sees the trained model


def test_cascade_groups_steps_and_checks_its_arguments(digits):
    model, insp, images = digits
    result = insp.randomization_cascade(images[0], "vanilla", steps=2, layers=["conv2", "conv3", "dense1"])
    assert result.randomized == ((), ("dense1", "conv3"), ("dense1", "conv3", "conv2"))
    assert result.maps.shape == (3, 28, 28)
    with pytest.raises(cw.InvalidParameterError, match="no weights"):
        insp.randomization_cascade(images[0], "vanilla", layers=["pool1"])
    with pytest.raises(cw.UnknownMethodError):
        insp.randomization_cascade(images[0], "gradcan")
    with pytest.raises(cw.InvalidParameterError, match="steps"):
        insp.randomization_cascade(images[0], "vanilla", steps=0)


def test_cascade_randomizes_inside_a_nested_model_on_a_copy():
    layers = keras.layers
    base = keras.Sequential([keras.Input((12, 12, 3)), layers.Conv2D(6, 3, activation="relu", name="c1"),
                             layers.Conv2D(5, 3, activation="relu", name="c2")], name="base")
    inp = keras.Input((12, 12, 3))
    out = layers.Dense(3, activation="softmax", name="head")(layers.GlobalAveragePooling2D()(base(inp)))
    model = keras.Model(inp, out)
    insp = cw.Inspector(model)
    image = np.random.default_rng(7).uniform(0, 255, (12, 12, 3)).astype(np.float32)
    before = weights_checksum(model)
    result = insp.randomization_cascade(image, "gradcam", layer="base/c2", progress=None)
    assert result.labels == ("trained", "head", "base/c2", "base/c1")
    assert weights_checksum(model) == before
    copy = insp._randomization_inspector.model
    assert copy is not model and weights_checksum(copy) != before  # the randomized weights live in the copy
    assert not {id(v) for v in copy.weights} & {id(v) for v in model.weights}
    stop = threading.Event()
    stop.set()
    with pytest.raises(cw.JobCancelled):
        insp.randomization_cascade(image, "gradcam", cancel=stop)
