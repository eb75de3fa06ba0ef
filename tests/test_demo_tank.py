"""The tank-story data set: the confound is real and a model falls for it."""

import numpy as np
import pytest

from cnnwidgets.demo import TANK_CLASS_NAMES, tank_data, train_tank_model


def _accuracy(model, images, labels):
    return float((model(images.astype("float32"), training=False).numpy().argmax(1) == labels).mean())


@pytest.fixture(scope="module")
def confounded_model():
    images, labels = tank_data(600, confounded=True, seed=0)
    return train_tank_model(images, labels, epochs=12, seed=0)


def test_tank_data_is_seeded_balanced_uint8():
    images, labels = tank_data(40, seed=5)
    again, labels_again = tank_data(40, seed=5)
    assert images.dtype == np.uint8 and images.shape == (40, 32, 32, 3)
    assert np.array_equal(images, again) and np.array_equal(labels, labels_again)
    assert np.bincount(labels).tolist() == [20, 20]
    assert len(TANK_CLASS_NAMES) == 2


def test_confounded_set_ties_brightness_to_the_class():
    images, labels = tank_data(200, confounded=True, seed=1)
    brightness = images.reshape(len(images), -1).mean(axis=1)
    # every empty forest (sunny) is brighter than every tank (cloudy)
    assert brightness[labels == 0].min() > brightness[labels == 1].max()
    fair_images, fair_labels = tank_data(200, confounded=False, seed=1)
    fair = fair_images.reshape(len(fair_images), -1).mean(axis=1)
    assert fair[fair_labels == 0].min() < fair[fair_labels == 1].max()


def test_confounded_model_fails_without_the_confound(confounded_model):
    same_confound = _accuracy(confounded_model, *tank_data(200, confounded=True, seed=11))
    no_confound = _accuracy(confounded_model, *tank_data(200, confounded=False, seed=12))
    assert same_confound >= 0.95
    assert no_confound <= 0.7
