"""The method catalogue and ``Inspector.explain``: every method, checked against references.

Part 1 iterates the catalogue: every method runs on the digits model and on
a nested model, returns a finite ``(H, W)`` float32 map, is cached, batches,
never retraces, and rejects bad parameters with typed errors.

Part 2 checks each method's numbers against an independent reference written
here (the paper's formula in float64 numpy, or a float64 GradientTape on a
twin of a tiny hand-built model) or against an exact property.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import cnnwidgets as cw  # noqa: E402

H, W, C, K = 8, 8, 3, 5
#: Parameters that keep the long methods quick in the catalogue-wide tests.
QUICK = {"smoothgrad": {"samples": 4}, "vargrad": {"samples": 4}, "integrated_gradients": {"steps": 6},
         "rise": {"masks": 48}, "occlusion": {"patch": 4, "stride": 4}}


def quick(name):
    return dict(QUICK.get(name, {}))


# ----------------------------------------------------------------- models
def build_tiny(dtype="float32", final_activation="softmax", hidden="relu", fused=True, head="flatten"):
    """8x8x3 -> conv1 -> pool -> conv2 -> (flatten | gap) -> dense. ``fused``: ReLU inside the convs."""
    layers = keras.layers
    inp = keras.Input((H, W, C), name="image", dtype=dtype)
    x = layers.Rescaling(1.0 / 255, name="rescale", dtype=dtype)(inp)
    for name, filters in (("conv1", 6), ("conv2", 4)):
        act = hidden if fused else None
        x = layers.Conv2D(filters, 3, padding="same", activation=act, name=name, dtype=dtype)(x)
        if not fused:
            x = layers.ReLU(name=name + "_relu", dtype=dtype)(x)
        if name == "conv1":
            x = layers.MaxPooling2D(2, name="pool", dtype=dtype)(x)
    if head == "flatten":
        x = layers.Flatten(name="flatten", dtype=dtype)(x)
    else:
        x = layers.GlobalAveragePooling2D(name="gap", dtype=dtype)(x)
    out = layers.Dense(K, activation=final_activation, name="predictions", dtype=dtype)(x)
    return keras.Model(inp, out, name="tiny")


def seeded_weights(model, seed):
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 1
        scale = np.sqrt(2.0 / fan_in) if w.ndim > 1 else 0.1
        weights.append((rng.standard_normal(w.shape) * scale).astype(np.float32))
    return weights


@pytest.fixture(scope="module")
def tiny():
    """The tiny model, its float64 logits twin and a few images."""
    model = build_tiny()
    weights = seeded_weights(model, 1234)
    model.set_weights(weights)
    twin = build_tiny("float64", final_activation=None)
    twin.set_weights([w.astype(np.float64) for w in weights])
    images = np.random.default_rng(3).uniform(0, 255, (4, H, W, C)).astype(np.float32)
    return {"model": model, "twin": twin, "weights": weights, "images": images, "insp": cw.Inspector(model)}


@pytest.fixture(scope="module")
def digits():
    model = cw.demo.digits_model()
    images, labels = cw.demo.digits_samples()
    return cw.Inspector(model, class_names=cw.demo.DIGIT_CLASS_NAMES), images[:3]


@pytest.fixture(scope="module")
def nested():
    """A functional base nested in a Sequential classifier, with preprocessing."""
    keras.utils.set_random_seed(11)
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="block1_conv")(inp)
    x = keras.layers.MaxPooling2D(2, name="block1_pool")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="block2_conv")(x)
    base = keras.Model(inp, x, name="base")
    model = keras.Sequential([keras.Input((12, 12, 3)), base, keras.layers.GlobalAveragePooling2D(name="gap"),
                              keras.layers.Dense(3, activation="softmax", name="predictions")], name="nested")
    insp = cw.Inspector(model, preprocess=keras.applications.mobilenet_v2.preprocess_input)
    images = np.random.default_rng(4).uniform(0, 255, (3, 12, 12, 3)).astype(np.float32)
    return insp, images


def twin_logits(tiny, batch):
    return np.asarray(tiny["twin"](np.asarray(batch, np.float64), training=False))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def twin_features_and_gradients(tiny, image, k, layer):
    """Float64 features of ``layer`` and the gradient of logit ``k`` with respect to them, by tape."""
    twin = tiny["twin"]
    names = [lay.name for lay in twin.layers]
    front = keras.Model(twin.input, twin.get_layer(layer).output)
    feats = tf.constant(np.asarray(front(image[None].astype(np.float64), training=False)))
    with tf.GradientTape() as tape:
        tape.watch(feats)
        x = feats
        for name in names[names.index(layer) + 1 :]:
            x = twin.get_layer(name)(x)
        logit = x[0, k]
    return feats.numpy()[0], tape.gradient(logit, feats).numpy()[0]


# ================================================== part 1: the catalogue
def test_catalogue_lists_at_least_fourteen_well_formed_methods():
    specs = cw.methods()
    names = [s.name for s in specs]
    assert len(specs) >= 14 and len(set(names)) == len(names)
    for required in ("vanilla", "smoothgrad", "integrated_gradients", "gradient_x_input", "gradcam",
                     "gradcam_plus_plus", "scorecam", "ablationcam", "layercam", "hirescam", "xgradcam",
                     "eigencam", "guided_backprop", "guided_gradcam", "rise", "vargrad", "occlusion"):
        assert required in names
    for spec in specs:
        assert spec.family in ("gradient", "cam", "perturbation")
        assert spec.label and spec.description and spec.paper and spec.url.startswith("https://")
        for param in spec.params:
            assert param.kind in ("float", "int", "choice", "bool")
            assert param.validate(param.default) == param.default  # defaults are valid values
            if param.kind == "choice":
                assert param.default in param.choices
            if param.kind in ("int", "float"):
                assert param.min is not None and param.max is not None and param.step
        assert cw.get_method(spec.name) is spec
    assert {s.family for s in cw.methods("cam")} == {"cam"}
    assert [s.name for s in cw.methods("gradient")] + [s.name for s in cw.methods("cam")] + [
        s.name for s in cw.methods("perturbation")] == sorted(names, key=lambda n: (
            ("gradient", "cam", "perturbation").index(cw.get_method(n).family), names.index(n)))
    tunable = {(s.name, p.name) for s in specs for p in s.params}
    for pair in (("smoothgrad", "noise"), ("smoothgrad", "samples"), ("integrated_gradients", "steps"),
                 ("integrated_gradients", "baseline"), ("rise", "masks"), ("rise", "cells"), ("scorecam", "top_k")):
        assert pair in tunable


def test_unknown_method_and_family_are_typed_errors_listing_valid_names():
    with pytest.raises(cw.UnknownMethodError) as info:
        cw.get_method("grad_cam")
    assert isinstance(info.value, cw.InvalidParameterError) and isinstance(info.value, cw.CNNWidgetsError)
    message = str(info.value)
    assert "'gradcam'" in message and "scorecam" in message and "rise" in message  # suggestion and the list
    with pytest.raises(cw.InvalidParameterError, match="gradient, cam, perturbation"):
        cw.methods("saliency")


def test_readme_method_table_is_the_catalogue():
    from cnnwidgets.backend.methods import method_table_markdown

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("<!-- methods-table")
    block = readme[readme.index("\n", start) + 1 : readme.index("<!-- /methods-table -->")]
    assert block.strip() == method_table_markdown(), (
        "README.md's method table is stale: paste the output of "
        "cnnwidgets.backend.methods.method_table_markdown() between the methods-table markers"
    )
    for spec in cw.methods():
        assert f"`{spec.name}`" in block


def test_methods_import_no_tensorflow():
    code = textwrap.dedent(
        """
        import sys
        import cnnwidgets as cw
        specs = cw.methods()
        assert len(specs) >= 14 and cw.get_method("rise").long
        heavy = sorted(m for m in ("tensorflow", "keras", "ipywidgets") if m in sys.modules)
        print(heavy)
        sys.exit(1 if heavy else 0)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", [s.name for s in cw.methods()])
def test_every_method_runs_caches_and_batches_on_digits(digits, name):
    insp, images = digits
    spec = cw.get_method(name)
    params = quick(name)
    got = insp.explain(images[0], name, 3, **params)
    assert got.shape == (28, 28) and got.dtype == np.float32 and np.isfinite(got).all()
    assert np.abs(got).max() > 0, f"{name} returned an all-zero map"
    hits = insp._cache.hits
    again = insp.explain(images[0], name, 3, **params)
    assert insp._cache.hits > hits
    np.testing.assert_array_equal(again, got)
    again[...] = -1  # the caller's copy, not the cache
    np.testing.assert_array_equal(insp.explain(images[0], name, 3, **params), got)
    if spec.needs_layer:
        small = insp.explain(images[0], name, 3, layer="conv3", upsample=False, **params)
        assert small.shape == ((28, 28) if name == "guided_gradcam" else (7, 7))
    batch = insp.explain_batch(images, name, [3, 1, 4], batch_size=2, **params)
    assert batch.shape == (3, 28, 28) and batch.dtype == np.float32
    for i, k in enumerate((3, 1, 4)):
        one = insp.explain(images[i], name, k, **params)
        np.testing.assert_allclose(batch[i], one, rtol=2e-4, atol=1e-6 * max(1.0, np.abs(one).max()))


@pytest.mark.parametrize("name", [s.name for s in cw.methods()])
def test_every_method_runs_on_a_nested_model(nested, name):
    insp, images = nested
    assert insp.default_cam_layer.path == "base/block2_conv"
    got = insp.explain(images[0], name, 1, **quick(name))
    assert got.shape == (12, 12) and got.dtype == np.float32 and np.isfinite(got).all()
    if cw.get_method(name).needs_layer:
        inner = insp.explain(images[0], name, 1, layer="base/block1_conv", upsample=False, **quick(name))
        assert inner.shape == (12, 12)
    predicted = insp.explain_batch(images[:2], name, **quick(name))  # None: each image's predicted class
    for i in range(2):
        np.testing.assert_allclose(predicted[i], insp.explain(images[i], name, **quick(name)), rtol=2e-4,
                                   atol=1e-6 * max(1.0, np.abs(predicted[i]).max()))


@pytest.mark.parametrize("name", [s.name for s in cw.methods()])
def test_bad_parameters_are_typed_errors(tiny, name):
    insp, image = tiny["insp"], tiny["images"][0]
    spec = cw.get_method(name)
    with pytest.raises(cw.InvalidParameterError) as info:
        insp.explain(image, name, 0, no_such_option=1)
    for param in spec.params:
        assert repr(param.name) not in str(info.value)
        assert param.name in str(info.value)  # the valid names are listed
    for param in spec.params:
        bad = {"bool": "yes", "choice": "nonsense", "int": 2.5, "float": "big"}[param.kind]
        with pytest.raises(cw.InvalidParameterError, match=param.name):
            insp.explain(image, name, 0, **{param.name: bad})
        if param.kind in ("int", "float"):
            with pytest.raises(cw.InvalidParameterError, match="at least"):
                insp.explain(image, name, 0, **{param.name: param.min - 1})
            with pytest.raises(cw.InvalidParameterError, match="at most"):
                insp.explain(image, name, 0, **{param.name: param.max + 1})
    with pytest.raises(cw.InvalidParameterError, match="batch_size"):
        insp.explain(image, name, 0, batch_size=0)
    with pytest.raises(cw.UnknownMethodError):
        insp.explain(image, name + "x", 0)


def test_no_retracing_across_images_classes_and_parameters(tiny):
    insp = cw.Inspector(tiny["model"])
    rng = np.random.default_rng(8)
    for i in range(3):
        image = rng.uniform(0, 255, (H, W, C)).astype(np.float32)
        for spec in cw.methods():
            params = quick(spec.name)
            if spec.name == "rise":
                params["masks"] += 8 * i  # another batch size
            insp.explain(image, spec.name, i % K, **params)
            if spec.needs_layer:
                insp.explain(image, spec.name, (i + 1) % K, layer="conv1", **params)
    insp.explain_batch(rng.uniform(0, 255, (5, H, W, C)), "gradcam", batch_size=3)
    assert set(insp.trace_counts.values()) == {1}, dict(insp.trace_counts)


def test_explain_batch_takes_one_pass_per_batch(tiny):
    insp = cw.Inspector(tiny["model"])
    calls = []
    original = insp._layer_gradients

    def counting(x, targets, path):
        calls.append(len(x))
        return original(x, targets, path)

    insp._layer_gradients = counting
    images = np.random.default_rng(9).uniform(0, 255, (10, H, W, C)).astype(np.float32)
    maps = insp.explain_batch(images, "gradcam", 2, batch_size=4)
    assert calls == [4, 4, 2] and maps.shape == (10, H, W)
    with pytest.raises(cw.ClassNotFoundError, match="one per image"):
        insp.explain_batch(images, "gradcam", [1, 2])
    with pytest.raises(cw.InvalidImageError):
        insp.explain_batch(images[0], "gradcam")


def test_every_method_scores_through_the_one_hook(tiny):
    """Swap the hook for "the next class's score": each method must then explain the next class."""
    shifted = cw.Inspector(tiny["model"])
    original = shifted._class_scores

    def next_class(outputs, targets, kind="logit"):
        scorer, indices, weights = targets
        return original(outputs, (scorer, (indices + 1) % K, weights), kind)

    shifted._class_scores = next_class
    plain, image = tiny["insp"], tiny["images"][1]
    for spec in cw.methods():
        want = plain.explain(image, spec.name, 2, **quick(spec.name))
        got = shifted.explain(image, spec.name, 1, **quick(spec.name))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * max(1.0, np.abs(want).max()),
                                   err_msg=spec.name)


def test_long_methods_report_progress_and_stop(tiny):
    import threading

    insp, image = cw.Inspector(tiny["model"]), tiny["images"][2]
    for spec in cw.methods():
        if not spec.long:
            continue
        calls, event = [], threading.Event()

        def progress(done, total, calls=calls, event=event):
            calls.append((done, total))
            event.set()

        with pytest.raises(cw.JobCancelled):
            insp.explain(image, spec.name, 1, batch_size=2, progress=progress, cancel=event, **quick(spec.name))
        assert len(calls) == 1, spec.name  # stopped after the first batch
        done = []
        insp.explain(image, spec.name, 1, batch_size=2, progress=lambda d, t: done.append((d, t)),
                     **quick(spec.name))
        assert done[-1][0] == done[-1][1], spec.name  # nothing half-done was cached


def test_methods_without_layer_access_fail_clearly_on_subclassed_models():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(3, 3, activation="relu")
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(self.pool(self.conv(x)))

    model = Sub()
    model(np.zeros((1, 6, 6, 1), np.float32))
    insp = cw.Inspector(model)
    image = np.random.default_rng(0).uniform(0, 255, (6, 6, 1)).astype(np.float32)
    assert insp.explain(image, "vanilla", 0).shape == (6, 6)
    assert insp.explain(image, "rise", 0, masks=16).shape == (6, 6)
    for name in ("guided_backprop", "gradcam", "scorecam"):
        with pytest.raises(cw.UnsupportedModelError):
            insp.explain(image, name, 0)


# =================================================== part 2: references
@pytest.mark.parametrize("name", ["hirescam", "xgradcam", "layercam"])
def test_gradient_cams_match_float64_tape_formulas(tiny, name):
    for i, k, layer in ((0, 1, "conv2"), (1, 4, "conv1"), (2, 0, "conv2")):
        image = tiny["images"][i]
        a, g = twin_features_and_gradients(tiny, image, k, layer)
        if name == "hirescam":
            want = np.maximum((g * a).sum(-1), 0)
        elif name == "xgradcam":
            weights = (g * a).sum(axis=(0, 1)) / np.where(a.sum(axis=(0, 1)) == 0, 1, a.sum(axis=(0, 1)))
            want = np.maximum((weights * a).sum(-1), 0)
        else:
            want = np.maximum((np.maximum(g, 0) * a).sum(-1), 0)
        got = tiny["insp"].explain(image, name, k, layer, upsample=False)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, want.max()), err_msg=name)


def test_hirescam_equals_gradcam_on_a_gap_dense_head():
    model = build_tiny(head="gap")
    model.set_weights(seeded_weights(model, 77))
    insp = cw.Inspector(model)
    nonzero = 0
    for image in np.random.default_rng(5).uniform(0, 255, (3, H, W, C)).astype(np.float32):
        for k in range(K):
            hires = insp.explain(image, "hirescam", k, upsample=False)
            np.testing.assert_allclose(hires, insp.explain(image, "gradcam", k, upsample=False), rtol=1e-5,
                                       atol=1e-7)
            nonzero += hires.max() > 0
    assert nonzero >= 5  # the property is not met by maps that are all zero


@pytest.mark.parametrize("layer", ["conv1", "conv2"])  # 8x8x6 and 4x4x4: more positions than channels
def test_eigencam_is_the_projection_on_the_first_singular_vector(tiny, layer):
    for i in range(3):
        image = tiny["images"][i]
        a, _ = twin_features_and_gradients(tiny, image, 0, layer)
        flat = a.reshape(-1, a.shape[-1])
        projection = flat @ np.linalg.svd(flat)[2][0]  # the paper: A times the first right singular vector
        projection = projection if projection.sum() >= 0 else -projection
        want = np.maximum(projection, 0).reshape(a.shape[:2])
        for k in (0, 3):  # class-agnostic
            got = tiny["insp"].explain(image, "eigencam", k, layer, upsample=False)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * want.max())


def test_eigencam_on_a_wide_layer_uses_the_small_gram_matrix():
    """More channels than positions (the usual last layer): the same projection, through A A^T."""
    from cnnwidgets.backend.methods.cam import eigencam

    feats = np.abs(np.random.default_rng(2).normal(size=(2, 3, 3, 40)))
    for i in range(2):
        flat = feats[i].reshape(9, 40)
        projection = flat @ np.linalg.svd(flat)[2][0]
        projection = projection if projection.sum() >= 0 else -projection
        np.testing.assert_allclose(eigencam(feats, None, {})[i], np.maximum(projection, 0).reshape(3, 3),
                                   rtol=1e-8, atol=1e-10)


def reference_scorecam(tiny, image, k, top_k=0):
    """Score-CAM on conv1 (8x8, the input's size: the upsampling is the identity) in float64."""
    a, _ = twin_features_and_gradients(tiny, image, k, "conv1")
    channels = np.arange(a.shape[-1])
    if top_k:
        channels = np.sort(np.argsort(-a.mean(axis=(0, 1)))[:top_k])
    weights = np.zeros(a.shape[-1])
    for c in channels:
        m = a[..., c]
        span = m.max() - m.min()
        mask = (m - m.min()) / span if span > 0 else np.zeros_like(m)
        weights[c] = softmax(twin_logits(tiny, image[None] * mask[None, ..., None]))[0, k]
    return np.maximum((a * weights).sum(-1), 0)


@pytest.mark.parametrize("top_k", [0, 2])
def test_scorecam_matches_the_paper_formula(tiny, top_k):
    for i, k in ((0, 2), (3, 4)):
        image = tiny["images"][i]
        want = reference_scorecam(tiny, image, k, top_k)
        got = tiny["insp"].explain(image, "scorecam", k, "conv1", upsample=False, top_k=top_k, batch_size=4)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * want.max())


def test_ablationcam_matches_the_paper_formula(tiny):
    """Zero one conv2 channel at a time; the head (flatten, dense) applied by hand in float64."""
    kernel, bias = (w.astype(np.float64) for w in tiny["weights"][-2:])
    for i, k in ((1, 0), (2, 3)):
        image = tiny["images"][i]
        a, _ = twin_features_and_gradients(tiny, image, k, "conv2")
        base = a.reshape(-1) @ kernel[:, k] + bias[k]
        weights = []
        for c in range(a.shape[-1]):
            ablated = a.copy()
            ablated[..., c] = 0
            weights.append((base - (ablated.reshape(-1) @ kernel[:, k] + bias[k])) / base)
        want = np.maximum((a * np.array(weights)).sum(-1), 0)
        got = tiny["insp"].explain(image, "ablationcam", k, "conv2", upsample=False, batch_size=3)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * max(1.0, want.max()))


def guided_reference(tiny, image, k):
    """Guided backprop by hand in float64: convolutions by tf.nn, ReLUs with the guided gradient."""

    @tf.custom_gradient
    def guided_relu(z):
        return tf.nn.relu(z), lambda dy: dy * tf.cast(z > 0, dy.dtype) * tf.cast(dy > 0, dy.dtype)

    k1, b1, k2, b2, kd, bd = (w.astype(np.float64) for w in tiny["weights"])
    x = tf.constant(image[None].astype(np.float64))
    with tf.GradientTape() as tape:
        tape.watch(x)
        h = guided_relu(tf.nn.conv2d(x / 255.0, k1, 1, "SAME") + b1)
        h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        h = guided_relu(tf.nn.conv2d(h, k2, 1, "SAME") + b2)
        logit = (tf.reshape(h, (1, -1)) @ kd + bd)[0, k]
    return tape.gradient(logit, x).numpy()[0]


def test_guided_backprop_matches_a_hand_written_guided_tape(tiny):
    insp = tiny["insp"]
    for i, k in ((0, 1), (3, 2)):
        image = tiny["images"][i]
        want = guided_reference(tiny, image, k)
        got = insp.explain(image, "guided_backprop", k, signed=True)
        np.testing.assert_allclose(got, want.sum(-1), rtol=1e-4, atol=1e-6 * np.abs(want).max())
        vanilla = insp.explain(image, "vanilla", k, signed=True)
        assert not np.allclose(got, vanilla)  # the gate changes something on this model


def test_guided_backprop_treats_fused_and_standalone_relus_alike_and_leaves_the_model_alone(tiny):
    fused, standalone = tiny["model"], build_tiny(fused=False)
    standalone.set_weights(tiny["weights"])
    image = tiny["images"][1]
    before = np.asarray(fused(image[None]))
    a = cw.Inspector(fused).explain(image, "guided_backprop", 3, signed=True)
    b = cw.Inspector(standalone).explain(image, "guided_backprop", 3, signed=True)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7 * np.abs(a).max())
    # The user's model is untouched: same activations, same outputs, same gradients.
    assert fused.get_layer("conv1").activation is keras.activations.relu
    np.testing.assert_array_equal(np.asarray(fused(image[None])), before)
    x = tf.constant(image[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = fused(x)[0, 3]
    assert tape.gradient(score, x) is not None


def test_guided_backprop_without_relus_is_the_vanilla_gradient():
    model = build_tiny(hidden="tanh")
    model.set_weights(seeded_weights(model, 21))
    insp = cw.Inspector(model)
    for i, image in enumerate(np.random.default_rng(6).uniform(0, 255, (2, H, W, C)).astype(np.float32)):
        np.testing.assert_array_equal(insp.explain(image, "guided_backprop", i, signed=True),
                                      insp.explain(image, "vanilla", i, signed=True))


def test_guided_gradcam_is_guided_backprop_times_gradcam(tiny):
    """On conv1 the Grad-CAM map is already at input resolution: no resizing in the reference."""
    for i, k in ((0, 0), (2, 4)):
        image = tiny["images"][i]
        a, g = twin_features_and_gradients(tiny, image, k, "conv1")
        cam = np.maximum((a * g.mean(axis=(0, 1))).sum(-1), 0)
        want = np.abs(guided_reference(tiny, image, k) * cam[..., None]).max(-1)
        got = tiny["insp"].explain(image, "guided_gradcam", k, "conv1")
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * max(want.max(), 1e-30))


def tape_gradients64(tiny, batch, k):
    x = tf.constant(np.asarray(batch, np.float64))
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(tiny["twin"](x, training=False)[:, k])
    return tape.gradient(score, x).numpy()


def test_vargrad_is_the_variance_of_noisy_gradients(tiny):
    image, k, samples, noise, seed = tiny["images"][0], 2, 7, 0.2, 5
    # The noise as documented: default_rng(seed) normals times noise x the model-input range (0-255 here).
    draws = np.random.default_rng(seed).normal(size=(samples, H, W, C)) * (noise * 255.0)
    grads = tape_gradients64(tiny, image[None] + draws.astype(np.float32), k)
    want = grads.var(axis=0).max(-1)
    got = tiny["insp"].explain(image, "vargrad", k, samples=samples, noise=noise, seed=seed, batch_size=3)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-4 * want.max())
    smooth = tiny["insp"].explain(image, "smoothgrad", k, samples=samples, noise=noise, seed=seed, signed=True)
    np.testing.assert_allclose(smooth, grads.mean(0).sum(-1), rtol=2e-3, atol=1e-4 * np.abs(grads).max())


def rise_masks(height, width, count, cells, keep, seed):
    """RISE's masks in float64 numpy, from the recipe documented in ``methods.rise.draw_masks``."""
    rng = np.random.default_rng(seed)
    grids = rng.random((count, cells, cells)) < keep
    cell_h, cell_w = -(-height // cells), -(-width // cells)
    dy, dx = rng.integers(0, cell_h, count), rng.integers(0, cell_w, count)

    def upsample_axis(values, axis, out):  # bilinear, half-pixel centres, clamped at the edges
        centres = np.clip((np.arange(out) + 0.5) * cells / out - 0.5, 0, cells - 1)
        low = np.floor(centres).astype(int)
        high = np.minimum(low + 1, cells - 1)
        frac = (centres - low).reshape([-1 if a == axis else 1 for a in range(values.ndim)])
        return np.take(values, low, axis) * (1 - frac) + np.take(values, high, axis) * frac

    masks = np.empty((count, height, width))
    for i in range(count):
        big = upsample_axis(upsample_axis(grids[i].astype(np.float64), 0, (cells + 1) * cell_h), 1,
                            (cells + 1) * cell_w)
        masks[i] = big[dy[i] : dy[i] + height, dx[i] : dx[i] + width]
    return masks


def test_reference_rise_masks_are_soft_and_keep_the_given_fraction():
    masks = rise_masks(28, 28, 400, 7, 0.3, seed=1)
    assert masks.shape == (400, 28, 28) and masks.min() >= 0 and masks.max() <= 1
    assert len(np.unique(masks)) > 10  # soft, not binary
    assert masks.mean() == pytest.approx(0.3, abs=0.03)


def test_rise_matches_the_paper_formula(tiny):
    image, k, count, cells, keep = tiny["images"][3], 1, 40, 3, 0.5
    masks = rise_masks(H, W, count, cells, keep, seed=4)
    probs = softmax(twin_logits(tiny, image[None] * masks[..., None]))[:, k]
    want = (probs[:, None, None] * masks).sum(0) / (count * keep)
    got = tiny["insp"].explain(image, "rise", k, masks=count, cells=cells, keep=keep, seed=4, batch_size=16)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_rise_on_a_constant_score_is_flat():
    """A model whose output ignores the input: every pixel gets the same saliency, p / keep * E[M] ~ p."""
    inp = keras.Input((H, W, 1))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.Lambda(lambda t: t[:, 0, 0, :] * 0)(inp))
    insp = cw.Inspector(keras.Model(inp, out))
    got = insp.explain(np.full((H, W, 1), 7.0, np.float32), "rise", 0, masks=200, cells=4, keep=0.5)
    assert got.std() < 0.06 * got.mean() and got.mean() == pytest.approx(0.5, rel=0.1)


def test_occlusion_method_is_the_occlusion_map(tiny):
    insp, image = tiny["insp"], tiny["images"][0]
    np.testing.assert_array_equal(
        insp.explain(image, "occlusion", 2, patch=3, stride=2, fill="black"),
        insp.occlusion_map(image, 2, patch=3, stride=2, fill="black"),
    )
    np.testing.assert_array_equal(insp.explain(image, "occlusion", 2), insp.occlusion_map(image, 2))


def test_saliency_and_gradcam_are_shortcuts_over_explain(tiny):
    insp, image = tiny["insp"], tiny["images"][2]
    np.testing.assert_array_equal(insp.saliency(image, 1, method="smoothgrad", samples=5, noise=0.1),
                                  insp.explain(image, "smoothgrad", 1, samples=5, noise=0.1))
    baseline = np.full((H, W, C), 40.0, np.float32)
    np.testing.assert_array_equal(
        insp.saliency(image, 1, method="integrated_gradients", steps=9, baseline=baseline, signed=True),
        insp.explain(image, "integrated_gradients", 1, steps=9, baseline=baseline, signed=True))
    np.testing.assert_array_equal(insp.gradcam(image, 3, plus_plus=True, upsample=False),
                                  insp.explain(image, "gradcam_plus_plus", 3, upsample=False))
    assert cw.backend.SALIENCY_METHODS == ("vanilla", "smoothgrad", "integrated_gradients", "gradient_x_input")


def test_both_catalogues_share_one_registry_that_refuses_duplicates_and_strangers():
    """Methods and metrics register through backend.catalogue.Registry; its guards hold for both."""
    from cnnwidgets.backend.methods import catalogue as method_catalogue
    from cnnwidgets.backend.metrics import catalogue as metric_catalogue

    gradcam = method_catalogue.get_method("gradcam")
    deletion = metric_catalogue.get_metric("deletion")
    with pytest.raises(ValueError, match="explanation method 'gradcam' is already registered"):
        method_catalogue.register(gradcam, lambda inspector, request: None)
    with pytest.raises(ValueError, match="metric 'deletion' is already registered"):
        metric_catalogue.register(deletion, lambda inspector, request: None)
    with pytest.raises(TypeError, match="takes a MethodSpec"):
        method_catalogue.register(deletion, lambda inspector, request: None)
    with pytest.raises(TypeError, match="takes a MetricSpec"):
        metric_catalogue.register(gradcam, lambda inspector, request: None)
    assert method_catalogue.methods() == tuple(method_catalogue.get_method(s.name) for s in method_catalogue.methods())
