"""The beyond-classification demo: scenes with masks, a segmenter and a tank locator, trained offline."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import cnnwidgets as cw  # noqa: E402
from cnnwidgets.targets import Region, Value  # noqa: E402


def test_scenes_come_with_the_tank_mask():
    images, masks = cw.demo.tank_scenes(20, seed=3)
    again, _ = cw.demo.tank_scenes(20, seed=3)
    np.testing.assert_array_equal(images, again)
    has = masks.any(axis=(1, 2))
    assert 0 < has.sum() < 20
    area = masks[has].sum(axis=(1, 2))
    assert (area > 40).all() and (area < 200).all()  # a hull of 12-16 x 5-7 plus turret and gun
    assert not masks[:, :9].any()  # never in the sky
    centres = cw.demo.tank_centres(masks)
    assert centres.shape == (20, 2) and (centres[~has] == 0.5).all() and (centres[has, 0] > 0.5).all()


def test_demo_models_learn_and_explain_with_targets():
    seg = cw.demo.train_tank_segmenter()
    images, masks = cw.demo.tank_scenes(40, seed=11)
    predicted = seg.predict(images.astype("float32"), verbose=0).argmax(-1).astype(bool)
    assert (predicted & masks).sum() / (predicted | masks).sum() > 0.4  # IoU on unseen scenes
    insp = cw.Inspector(seg)
    with_tank = int(np.flatnonzero(masks.any(axis=(1, 2)))[0])
    cam = insp.explain(images[with_tank], "gradcam", Region(1, masks[with_tank]), layer="conv2")
    assert cam[masks[with_tank]].mean() > cam[~masks[with_tank]].mean()

    loc = cw.demo.train_tank_locator()
    images, masks = cw.demo.tank_scenes(40, tank_share=1.0, seed=12)
    truth = cw.demo.tank_centres(masks)
    error = np.abs(loc.predict(images.astype("float32"), verbose=0) - truth).mean()
    assert error < 0.6 * np.abs(truth - truth.mean(axis=0)).mean()
    grad = cw.Inspector(loc).explain(images[0], "gradient_x_input", Value(1))
    assert grad.shape == (32, 32) and np.isfinite(grad).all()
