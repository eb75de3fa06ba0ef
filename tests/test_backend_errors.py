"""Bad inputs raise the right CNNWidgetsError subclass with a helpful message,
and the same Inspector keeps answering correctly right after."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import cnnwidgets as cw  # noqa: E402

H, W, C = 8, 8, 3
NAMES = ("cat", "dog", "bird")


@pytest.fixture(scope="module")
def conv_model():
    keras.utils.set_random_seed(0)
    layers = keras.layers
    inp = keras.Input((H, W, C), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inp)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(x)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_b")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(len(NAMES), activation="softmax", name="predictions")(x)
    return keras.Model(inp, out, name="small_cnn")


@pytest.fixture(scope="module")
def insp(conv_model):
    return cw.Inspector(conv_model, class_names=NAMES)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(1).uniform(0, 255, (H, W, C)).astype(np.float32)


def still_works(insp, model, image):
    """The inspector answers correctly after an error."""
    want = np.asarray(model(image[None], training=False))[0]
    np.testing.assert_allclose(insp.predict(image), want, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------- images
@pytest.mark.parametrize(
    "bad,words",
    [
        (np.zeros((H, W, 1)), ["channel count is 1", "(8, 8, 3)"]),
        (np.zeros((H + 1, W, C)), ["height is 9", "(8, 8, 3)"]),
        (np.zeros((H, W - 2, C)), ["width is 6", "(8, 8, 3)"]),
        (np.zeros((H, W)), ["grayscale", "3 channels", "(8, 8, 3)"]),
        (np.zeros((2, H, W, C)), ["batch of 2", "(8, 8, 3)"]),
        (np.zeros((H, W, C, 1, 1)), ["shape (8, 8, 3, 1, 1)", "(8, 8, 3)"]),
        (np.full((H, W, C), "x"), ["dtype", "(8, 8, 3)"]),
    ],
    ids=["channels", "height", "width", "gray", "batch", "rank5", "strings"],
)
def test_wrong_image_shape_names_expected_shape(insp, conv_model, image, bad, words):
    with pytest.raises(cw.InvalidImageError) as info:
        insp.gradcam(bad, 0)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert isinstance(info.value, cw.CNNWidgetsError) and isinstance(info.value, ValueError)
    still_works(insp, conv_model, image)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels(insp, conv_model, image, value):
    bad = image.copy()
    bad[3, 4, 1] = value
    bad[0, 0, 0] = value
    for call in (insp.predict, lambda x: insp.saliency(x, 0), lambda x: insp.occlusion_map(x, 0)):
        with pytest.raises(cw.InvalidImageError, match="2 NaN or infinite"):
            call(bad)
    still_works(insp, conv_model, image)


# ------------------------------------------------------------ layers/classes
def test_unknown_layer_suggests_close_names(insp, conv_model, image):
    with pytest.raises(cw.LayerNotFoundError) as info:
        insp.activations(image, "conv_c")
    message = str(info.value)
    assert "'conv_c'" in message and "did you mean" in message and "'conv_a'" in message
    with pytest.raises(cw.LayerNotFoundError, match="did you mean 'gap'"):
        insp.gradcam(image, 0, layer="gapp")
    with pytest.raises(cw.LayerNotFoundError, match=r"out of range.*0 to 4"):
        insp.layer(5)
    with pytest.raises(cw.NoSpatialLayerError, match="conv_b"):
        insp.gradcam(image, 0, layer="gap")
    with pytest.raises(cw.LayerNotFoundError, match=r"4 channels \(0 to 3\)"):
        insp.maximize("conv_a", [1, 4], steps=1)
    with pytest.raises(cw.LayerNotFoundError, match="no kernel"):
        insp.filters("gap")
    np.testing.assert_allclose(
        insp.activations(image, "conv_b"),
        np.asarray(keras.Model(conv_model.input, conv_model.get_layer("conv_b").output)(image[None]))[0],
        rtol=1e-5,
        atol=1e-6,
    )
    still_works(insp, conv_model, image)


def test_bad_class_index_and_name(insp, conv_model, image):
    with pytest.raises(cw.ClassNotFoundError) as info:
        insp.gradcam(image, 3)
    assert "out of range" in str(info.value) and "0 to 2" in str(info.value)
    with pytest.raises(cw.ClassNotFoundError, match="0 to 2"):
        insp.saliency(image, -1)
    with pytest.raises(cw.ClassNotFoundError) as info:
        insp.occlusion_map(image, "brid")
    assert "did you mean 'bird'" in str(info.value)
    with pytest.raises(cw.ClassNotFoundError, match="one name per output class"):
        cw.Inspector(conv_model, class_names=["a", "b"])
    # Names resolve, and the map for "bird" equals the one for index 2.
    np.testing.assert_array_equal(insp.gradcam(image, "bird"), insp.gradcam(image, 2))
    still_works(insp, conv_model, image)


def test_occlusion_patch_and_stride_must_be_positive(insp, conv_model, image):
    for kwargs, word in (({"patch": 0}, "patch"), ({"patch": -3}, "patch"), ({"patch": 3, "stride": 0}, "stride")):
        with pytest.raises(cw.InvalidParameterError) as info:
            insp.occlusion_map(image, 0, **kwargs)
        assert word in str(info.value) and "at least 1" in str(info.value)
    with pytest.raises(cw.InvalidParameterError, match="unknown fill"):
        insp.occlude(image, (0, 0, 2, 2), fill="purple")
    with pytest.raises(cw.InvalidParameterError, match="four numbers"):
        insp.occlude(image, (0, 0, 2))
    # A patch larger than the image covers all of it: one position, uniform map.
    whole = insp.occlusion_map(image, 0, patch=20)
    covered = np.full_like(image, 127.5)
    drop = np.asarray(conv_model(image[None]))[0, 0] - np.asarray(conv_model(covered[None]))[0, 0]
    np.testing.assert_allclose(whole, np.full((H, W), drop), atol=1e-6)
    still_works(insp, conv_model, image)


# ------------------------------------------------------- unsupported models
def test_gradcam_without_spatial_layer():
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((H, W, C)),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(6, activation="relu", name="hidden"),
            keras.layers.Dense(4, activation="softmax", name="predictions"),
        ],
        name="dense_only",
    )
    insp = cw.Inspector(model)
    image = np.random.default_rng(3).uniform(0, 255, (H, W, C)).astype(np.float32)
    with pytest.raises(cw.NoSpatialLayerError) as info:
        insp.gradcam(image, 0)
    message = str(info.value)
    assert "spatial" in message and "saliency" in message and "occlusion_map" in message
    with pytest.raises(cw.NoSpatialLayerError):
        insp.gradcam(image, 0, layer="hidden")
    still_works(insp, model, image)
    assert insp.saliency(image, 1).shape == (H, W)
    assert insp.occlusion_map(image, 1, patch=4, stride=4).shape == (H, W)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.conv = keras.layers.Conv2D(3, 3, activation="relu")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.dense = keras.layers.Dense(3, activation="softmax")

    def call(self, x):
        return self.dense(self.pool(self.conv(x / 255.0)))


def test_subclassed_model_predicts_but_has_no_layers():
    keras.utils.set_random_seed(4)
    model = Subclassed()
    with pytest.raises(cw.UnsupportedModelError, match="built"):
        cw.Inspector(model)  # not built yet: says how to build it
    image = np.random.default_rng(4).uniform(0, 255, (H, W, C)).astype(np.float32)
    model(image[None])
    insp = cw.Inspector(model)
    assert insp.input_shape == (H, W, C) and insp.num_classes == 3
    for call in (
        lambda: insp.activations(image, "conv2d"),
        lambda: insp.gradcam(image, 0),
        lambda: insp.layers,
        lambda: insp.maximize(0, 0),
    ):
        with pytest.raises(cw.UnsupportedModelError) as info:
            call()
        assert "subclassed" in str(info.value) and "functional API" in str(info.value)
    still_works(insp, model, image)
    # Softmax output detected: gradients are of log-probabilities, finite and shaped.
    assert insp.output_activation == "softmax"
    grad = insp.gradient(image, 1)
    assert grad.shape == (H, W, C) and np.isfinite(grad).all()
    covered = image.copy()
    covered[:4] = 127.5
    want = np.asarray(model(covered[None]))[0]
    np.testing.assert_allclose(insp.occlude(image, (0, 0, 4, W)), want, rtol=1e-5, atol=1e-7)


def test_not_an_image_model():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    with pytest.raises(cw.UnsupportedModelError, match=r"\(H, W, C\)"):
        cw.Inspector(model)
    with pytest.raises(cw.UnsupportedModelError, match="keras.Model"):
        cw.Inspector("not a model")


# ------------------------------------------------------------------- import
def test_import_cnnwidgets_does_not_import_tensorflow():
    code = textwrap.dedent(
        """
        import sys
        import cnnwidgets as cw
        cw.CNNWidgetsError, cw.demo.DIGIT_CLASS_NAMES
        heavy = sorted(m for m in ("tensorflow", "keras", "ipywidgets") if m in sys.modules)
        print(heavy)
        sys.exit(1 if heavy else 0)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_unknown_saliency_method_and_baseline_are_library_errors(insp, conv_model, image):
    with pytest.raises(cw.InvalidParameterError, match="vanilla"):
        insp.saliency(image, 0, method="lime")
    with pytest.raises(cw.InvalidParameterError, match="baseline"):
        insp.saliency(image, 0, method="integrated_gradients", baseline="noise")
    still_works(insp, conv_model, image)


def test_sizes_fills_and_channels_are_checked_before_any_work(insp, conv_model, image):
    for kwargs in ({"method": "smoothgrad", "samples": 0}, {"method": "integrated_gradients", "steps": 0},
                   {"method": "smoothgrad", "batch_size": 0}):
        with pytest.raises(cw.InvalidParameterError, match="at least 1"):
            insp.saliency(image, 0, **kwargs)
    with pytest.raises(cw.InvalidParameterError, match="at least 1"):
        insp.occlusion_map(image, 0, patch=2, batch_size=0)
    with pytest.raises(cw.InvalidParameterError, match="fill"):
        insp.occlude(image, (0, 0, 2, 2), fill=None)
    with pytest.raises(cw.InvalidParameterError):
        insp.maximize(insp.conv_layers[0], ["a"], steps=1)
    still_works(insp, conv_model, image)


# -------------------------------------------------- stricter inputs (issue 11)
@pytest.mark.parametrize(
    "box,words",
    [
        ((20, 20, 10, 10), ["reversed", "y0 < y1", "(10, 10, 20, 20)"]),
        ((2, 6, 5, 1), ["reversed", "x0 < x1", "(2, 1, 5, 6)"]),
        ((3, 3, 3, 6), ["covers no pixel", "zero height"]),
        ((10, 0, 14, 4), ["wholly outside", "8x8"]),
        ((-6, -6, -1, -1), ["wholly outside"]),
        ((0, 8, 8, 12), ["wholly outside"]),
    ],
    ids=["reversed", "reversed-x", "empty", "below", "above-left", "right"],
)
def test_reversed_or_outside_boxes_are_errors(insp, conv_model, image, box, words):
    for call in (lambda: insp.occlude(image, box=box), lambda: insp.occluded_image(image, box=box)):
        with pytest.raises(cw.InvalidParameterError) as info:
            call()
        for word in words:
            assert word in str(info.value), str(info.value)
    still_works(insp, conv_model, image)


def test_boxes_partly_outside_are_clipped(insp, conv_model, image):
    """A box that sticks out covers what lies inside the image, as a border drag does."""
    clipped = image.copy()
    clipped[5:, 6:] = 127.5
    want = np.asarray(conv_model(clipped[None]))[0]
    np.testing.assert_allclose(insp.occlude(image, box=(5, 6, 30, 30)), want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("steps", [0, -3, 2.5, "many", True])
def test_maximize_needs_at_least_one_step(insp, conv_model, image, steps):
    with pytest.raises(cw.InvalidParameterError) as info:
        insp.maximize("conv_a", [0], steps=steps)
    message = str(info.value)
    assert "steps" in message and "steps=96" in message, message
    assert insp.maximize("conv_a", [0], steps=2.0).images.shape == (1, H, W, C)  # a whole float is fine
    still_works(insp, conv_model, image)


def test_a_failing_preprocess_is_named_with_shape_and_dtype(conv_model, image):
    def my_preprocess(batch):
        return batch.reshape(-1, 3) @ np.ones((4, 4))  # a bug: wrong matrix size

    insp = cw.Inspector(conv_model, class_names=NAMES, preprocess=my_preprocess)
    for call in (lambda: insp.predict(image), lambda: insp.saliency(image, 0), lambda: insp.occlude(image, (0, 0, 2, 2))):
        with pytest.raises(cw.PreprocessError) as info:
            call()
        message = str(info.value)
        assert "your preprocess function" in message and "my_preprocess" in message, message
        assert f"(1, {H}, {W}, {C})" in message and "float32" in message, message
        assert "ValueError" in message
        assert isinstance(info.value.__cause__, ValueError)  # the original, chained
        assert isinstance(info.value, cw.CNNWidgetsError)
    # A preprocess that works again makes the same model answer.
    fixed = cw.Inspector(conv_model, class_names=NAMES, preprocess=lambda batch: batch)
    still_works(fixed, conv_model, image)
