"""The target traits every widget shares (widgets/common/targets.py), at trait level, on hand-built models."""

import numpy as np
import pytest
import traitlets

keras = pytest.importorskip("keras")

import cnnwidgets as cw  # noqa: E402
from cnnwidgets.targets import Output, Region, Value  # noqa: E402
from cnnwidgets.widgets.common.targets import RequestedTarget, default_map_class  # noqa: E402

L = keras.layers
H = W = 8


class Holder(RequestedTarget):
    def __init__(self, inspector, **traits):
        self.inspector = inspector
        super().__init__(**traits)


@pytest.fixture(scope="module")
def models(tiny_target_models):
    """The segmenter, the class + box heads and the classifier of ``tests/conftest.py``."""
    return tiny_target_models


def image(seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (H, W, 1)).astype(np.float32)


def test_default_map_class_prefers_a_foreground_class():
    assert default_map_class(np.array([[0, 0, 0], [0, 2, 0]]), 3) == 2
    assert default_map_class(np.zeros((2, 2), int), 3) == 0
    assert default_map_class(np.array([[1, 1, 2]]), 3) == 1
    assert default_map_class(np.array([[1, 1, 0]]), 1) == 0  # one channel: its class, where the mask is 1


def test_a_classifier_keeps_plain_class_indices(models):
    holder = Holder(cw.Inspector(models[2], class_names=["a", "b", "c"]))
    holder._update_prediction(image())
    assert holder.output_kind == "classes" and holder.predicted_mask is None
    assert holder.explained_target == holder.predicted_class == int(np.argmax(holder.probabilities))
    holder.class_index = "b"
    assert holder.explained_target == 1 and holder.class_name == "b"
    with pytest.raises(traitlets.TraitError, match="out of range"):
        holder.class_index = 3
    with pytest.raises(traitlets.TraitError, match="dense output"):
        holder.region = np.ones((H, W), bool)


def test_a_segmenter_explains_the_predicted_area_or_a_painted_region(models):
    insp = cw.Inspector(models[0], class_names=["sky", "ground", "tank"])
    holder = Holder(insp)
    img = image()
    holder._update_prediction(img)
    mask = insp.predicted_mask(img)
    assert holder.output_kind == "map" and np.array_equal(holder.predicted_mask, mask)
    assert holder.predicted_class == default_map_class(mask, 3) and holder.probabilities is None
    target = holder.explained_target
    assert isinstance(target, Output) and isinstance(target.target, Region)
    np.testing.assert_array_equal(target.target.mask, (mask == holder.predicted_class).astype(np.float32))
    holder.class_index = "tank"
    painted = np.zeros((H, W), bool)
    painted[2:5, 2:5] = True
    holder.region = painted
    target = holder.explained_target.target
    assert target.class_index == 2 and target.mask.sum() == 9
    assert "painted region (9 px)" in holder.describe_target()
    score = insp.target_score(img, holder.explained_target)
    assert score == pytest.approx(float(insp.predict_output(img)[2:5, 2:5, 2].sum()), rel=1e-5)
    for bad, word in ((np.ones((4, 4), bool), "must match"), (np.zeros((H, W), bool), "empty")):
        with pytest.raises(traitlets.TraitError, match=word):
            holder.region = bad
    with pytest.raises(traitlets.TraitError, match="no class or value named"):
        holder.class_index = "tnak"


def test_several_outputs_choose_one_and_a_regression_value_and_sign(models):
    insp = cw.Inspector(models[1])
    holder = Holder(insp)
    img = image(1)
    holder._update_prediction(img)
    assert holder.output == "cls" and holder.output_kind == "classes"
    assert holder.explained_target == Output(0, holder.predicted_class)
    holder.class_index = 2
    holder.output = "box"
    assert holder.output_kind == "values" and holder.class_index is None
    holder._update_prediction(img)
    assert holder.predicted_class is None and holder.target == 0
    np.testing.assert_allclose(holder.output_values, insp.predict_outputs(img)[1])
    holder.class_index, holder.value_sign = 1, -1
    assert holder.explained_target == Output(1, Value(1, -1)) and holder.describe_target() == "1 (down)"
    assert insp.target_score(img, holder.explained_target) == pytest.approx(-float(holder.output_values[1]), rel=1e-5)
    with pytest.raises(traitlets.TraitError, match="no output named"):
        holder.output = "boxes"
    with pytest.raises(traitlets.TraitError, match="\\+1 or -1"):
        holder.value_sign = 2
