"""Shared pytest setup for the whole suite (kept minimal on purpose).

Quiet TensorFlow's C++ logging before anything imports it, and seed the global
numpy RNG before each test so that tests relying on it are reproducible.
TensorFlow itself is *not* imported here: tests that need it import it.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _seed_numpy():
    np.random.seed(0)


@pytest.fixture(scope="session")
def tiny_target_models():
    """Three hand-built 8x8x1 models sharing one conv layer: a 3-class softmax segmenter (``seg``), a class
    head + box head (``cls``, ``box``) and a 3-class classifier (``probs``); for the target traits and panel."""
    keras = pytest.importorskip("keras")
    layers = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(layers.Rescaling(1 / 255)(inp))
    seg = keras.Model(inp, layers.Conv2D(3, 1, activation="softmax", name="seg")(x))
    pooled = layers.GlobalAveragePooling2D()(x)
    heads = keras.Model(inp, [layers.Dense(3, activation="softmax", name="cls")(pooled),
                              layers.Dense(2, name="box")(pooled)])
    clf = keras.Model(inp, layers.Dense(3, activation="softmax", name="probs")(pooled))
    return seg, heads, clf
