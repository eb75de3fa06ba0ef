"""The default CAM layer on keras.applications families (weights=None, small inputs).

The expected layers are the last spatial outputs before the spatial axes
collapse, the ones the keras.io Grad-CAM example and tf-keras-vis use (issue
10, section 4). Each model is built once, at the smallest input that still
leaves its last feature map larger than 1x1; nothing is downloaded.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

import cnnwidgets as cw  # noqa: E402

#: family -> (constructor name, input side, expected default layer)
FAMILIES = {
    "MobileNetV3Small": ("MobileNetV3Small", 64, "activation_17"),
    "InceptionV3": ("InceptionV3", 139, "mixed10"),
    "DenseNet121": ("DenseNet121", 64, "relu"),
    "ResNet50": ("ResNet50", 64, "conv5_block3_out"),
    "MobileNetV2": ("MobileNetV2", 64, "out_relu"),
    "EfficientNetB0": ("EfficientNetB0", 64, "top_activation"),
    "Xception": ("Xception", 71, "block14_sepconv2_act"),
}


def build(family):
    constructor, side, _ = FAMILIES[family]
    keras.backend.clear_session()  # layer counters restart, so auto-named layers get their usual names
    return getattr(keras.applications, constructor)(weights=None, input_shape=(side, side, 3), classes=4)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_default_cam_layer_is_the_last_spatial_output(family):
    model = build(family)
    insp = cw.Inspector(model)
    record = insp.default_cam_layer
    assert record.name == FAMILIES[family][2]
    height, width = record.output_shape[:2]
    assert height * width > 1


def test_default_layer_inside_a_nested_base_and_a_working_map():
    """A transfer-learning classifier: the default is inside the base, and every CAM method runs there."""
    keras.backend.clear_session()
    base = keras.applications.MobileNetV2(weights=None, input_shape=(64, 64, 3), include_top=False)
    inp = keras.Input((64, 64, 3))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(base(inp))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="predictions")(x))
    insp = cw.Inspector(model, preprocess=keras.applications.mobilenet_v2.preprocess_input)
    assert insp.default_cam_layer.path == base.name + "/out_relu"
    image = np.random.default_rng(0).uniform(0, 255, (64, 64, 3)).astype(np.float32)
    for spec in cw.methods("cam"):
        cam = insp.explain(image, spec.name, 1, upsample=False)
        assert cam.shape == ((64, 64) if spec.name == "guided_gradcam" else (2, 2)) and np.isfinite(cam).all()
    # MobileNetV2's ReLU6 layers are gated by guided backpropagation: it differs from the plain gradient.
    guided = insp.explain(image, "guided_backprop", 1, signed=True)
    vanilla = insp.explain(image, "vanilla", 1, signed=True)  # random weights: tiny values, compare relatively
    assert np.isfinite(guided).all() and np.abs(guided - vanilla).max() > 0.1 * np.abs(vanilla).max()


def test_collapsed_maps_after_pooling_are_skipped():
    """A 1x1 map after global pooling with kept dims, and the 1x1 conv head on it, are not picked."""
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="features")(inp)
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    x = keras.layers.Conv2D(3, 1, name="head_conv")(pooled)
    out = keras.layers.Activation("softmax", name="probs")(keras.layers.Flatten(name="flat")(x))
    insp = cw.Inspector(keras.Model(inp, out))
    assert insp.default_cam_layer.path == "features"
