"""The tank story, made reproducible: a synthetic data set with a weather confound.

The story (told in the source article): a network was trained to spot
camouflaged tanks in photos of a forest. It scored perfectly on held-out
photos, then failed in the field: every tank photo had been taken on a cloudy
day and every empty-forest photo on a sunny one, so the network had learnt to
tell the weather, not to find tanks.

:func:`tank_data` draws small RGB scenes (a forest, sometimes with a
camouflaged tank) whose lighting either follows the class (``confounded=True``:
tanks under clouds, empty forests in sunshine) or is random. A model trained on
the confounded set scores well on a confounded test set and falls to chance on
an unconfounded one; saliency and occlusion show that it looks at the sky and
the overall brightness, not at the tank.

Everything here is numpy, seeded, and generated on the fly: nothing to download.
"""

import numpy as np

from ..compat import load_keras

__all__ = ["TANK_CLASS_NAMES", "tank_data", "tank_sky_mask", "build_tank_model", "train_tank_model"]

#: Class names of the tank data set, in label order.
TANK_CLASS_NAMES = ("forest", "tank")

_SIZE = 32
_HORIZON = 9  # rows of sky at the top of every scene


def _forest(rng, size):
    """A dappled green-brown forest texture, float RGB in [0, 1]."""
    coarse = rng.random((size // 4 + 1, size // 4 + 1, 1))
    coarse = np.kron(coarse, np.ones((4, 4, 1)))[:size, :size]
    fine = rng.random((size, size, 1))
    shade = 0.55 * coarse + 0.45 * fine
    green = np.array([0.20, 0.42, 0.16])
    brown = np.array([0.36, 0.28, 0.14])
    image = green * (1 - shade) + brown * shade
    for _ in range(rng.integers(3, 6)):  # tree trunks
        x = rng.integers(0, size - 2)
        image[:, x : x + rng.integers(1, 3)] = brown * rng.uniform(0.6, 0.9)
    return image


def _draw_tank(image, rng):
    """Paint a camouflaged tank (hull, turret, gun) in the lower half of the scene."""
    size = image.shape[0]
    hull_w, hull_h = rng.integers(12, 16), rng.integers(5, 7)
    x0 = rng.integers(1, size - hull_w - 1)
    y0 = rng.integers(_HORIZON + 8, size - hull_h - 1)
    olive = np.array([0.30, 0.33, 0.17]) * rng.uniform(0.8, 1.0)
    dark = np.array([0.12, 0.13, 0.08])
    image[y0 : y0 + hull_h, x0 : x0 + hull_w] = olive
    image[y0 + hull_h - 2 : y0 + hull_h, x0 : x0 + hull_w] = dark  # tracks
    turret_w = hull_w // 2
    tx = x0 + (hull_w - turret_w) // 2
    image[y0 - 3 : y0, tx : tx + turret_w] = olive * 0.9
    direction = 1 if rng.random() < 0.5 else -1
    gun_x = tx + turret_w if direction > 0 else tx - 6
    image[y0 - 2, max(0, gun_x) : max(0, gun_x + 6)] = dark
    # camouflage blotches
    for _ in range(4):
        by, bx = rng.integers(y0, y0 + hull_h - 2), rng.integers(x0, x0 + hull_w - 2)
        image[by : by + 2, bx : bx + 2] = np.array([0.22, 0.30, 0.13])


def _light(image, rng, sunny):
    """Sky and lighting: bright blue sky and sunlight, or grey clouds and dim light."""
    if sunny:
        sky = np.array([0.55, 0.75, 0.98]) * rng.uniform(0.9, 1.05)
        gain = rng.uniform(1.25, 1.5)
    else:
        sky = np.array([0.55, 0.57, 0.60]) * rng.uniform(0.7, 0.9)
        gain = rng.uniform(0.6, 0.8)
    image[:_HORIZON] = sky + rng.normal(0, 0.02, (_HORIZON, image.shape[1], 3))
    image[_HORIZON:] *= gain
    return image


def tank_data(n=400, confounded=True, seed=0):
    """Draw ``n`` synthetic scenes, half with a tank.

    Parameters
    ----------
    n : int
        Number of images (classes alternate, so they are balanced).
    confounded : bool
        True: every tank is photographed on a cloudy day and every empty
        forest on a sunny day (the flawed data set of the story). False: the
        weather is a fair coin, independent of the class.
    seed : int
        Random seed; the same seed gives the same images.

    Returns
    -------
    images : numpy.ndarray
        uint8 ``(n, 32, 32, 3)`` RGB.
    labels : numpy.ndarray
        int64 ``(n,)``: 0 = forest, 1 = tank (see :data:`TANK_CLASS_NAMES`).
    """
    rng = np.random.default_rng(seed)
    images = np.empty((n, _SIZE, _SIZE, 3), np.uint8)
    labels = np.arange(n, dtype=np.int64) % 2
    rng.shuffle(labels)
    for i, label in enumerate(labels):
        scene = _forest(rng, _SIZE)
        if label == 1:
            _draw_tank(scene, rng)
        sunny = (label == 0) if confounded else bool(rng.random() < 0.5)
        scene = _light(scene, rng, sunny)
        scene += rng.normal(0, 0.02, scene.shape)
        images[i] = np.clip(scene * 255 + 0.5, 0, 255).astype(np.uint8)
    return images, labels


def tank_sky_mask():
    """The sky region of every :func:`tank_data` scene: a boolean ``(32, 32)`` mask (the top rows).

    For measuring how much of an explanation falls on the sky; the audit
    itself is never told about it.
    """
    mask = np.zeros((_SIZE, _SIZE), bool)
    mask[:_HORIZON] = True
    return mask


def build_tank_model():
    """A small CNN for the 32x32 RGB tank scenes (raw 0-255 input).

    Returns
    -------
    keras.Sequential
        ``rescale`` -> ``conv1`` (8) -> ``pool1`` -> ``conv2`` (16) -> ``pool2``
        -> ``conv3`` (16) -> ``gap`` -> ``predictions`` (2-way softmax), uncompiled.
    """
    keras = load_keras()
    layers = keras.layers

    return keras.Sequential(
        [
            keras.Input(shape=(_SIZE, _SIZE, 3), name="image"),
            layers.Rescaling(1.0 / 255, name="rescale"),
            layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Conv2D(16, 3, padding="same", activation="relu", name="conv3"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(2, activation="softmax", name="predictions"),
        ],
        name="tank_cnn",
    )


def train_tank_model(images, labels, epochs=12, seed=0):
    """Train :func:`build_tank_model` on the given scenes (a few seconds on a CPU).

    Parameters
    ----------
    images : numpy.ndarray
        uint8 ``(n, 32, 32, 3)`` scenes from :func:`tank_data`.
    labels : numpy.ndarray
        ``(n,)`` labels.
    epochs : int
        Training epochs.
    seed : int
        Seed for the weights and the shuffling.

    Returns
    -------
    keras.Sequential
        The trained model.
    """
    keras = load_keras()
    keras.utils.set_random_seed(seed)
    model = build_tank_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images.astype("float32"), labels, epochs=epochs, batch_size=32, verbose=0)
    return model
