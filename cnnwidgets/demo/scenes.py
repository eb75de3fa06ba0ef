"""Beyond classification, offline: segmentation and regression on the tank-story scenes.

The scenes are those of :mod:`cnnwidgets.demo.tank`; the tank's pixels are
known when it is painted, so every scene comes with its mask, and every tank
with its position. Two small models train on them in seconds on a CPU,
seeded, on demand (no weights are shipped: like the tank classifier, they
are part of the lesson and cost less to train than to store):

* :func:`train_tank_segmenter`: a tiny fully convolutional network, per-pixel
  ``("background", "tank")`` scores ``(32, 32, 2)`` through a separate
  ``Softmax`` layer (so ``targets.Region`` explains true logits).
* :func:`train_tank_locator`: a regression CNN, the tank's centre
  ``(row, column)`` as fractions of the image side.
"""

import numpy as np

from ..compat import load_keras
from .tank import _SIZE, _draw_tank, _forest, _light

__all__ = ["SEGMENT_CLASS_NAMES", "tank_scenes", "tank_centres", "train_tank_segmenter", "train_tank_locator"]

#: Channel names of the segmenter's output.
SEGMENT_CLASS_NAMES = ("background", "tank")


def tank_scenes(n=200, tank_share=0.5, seed=0):
    """Draw ``n`` tank-story scenes (random weather) with the tank's mask.

    Parameters
    ----------
    n : int
        Number of scenes.
    tank_share : float
        Share of scenes with a tank (the others are empty forest, mask all False).
    seed : int
        Random seed; the same seed gives the same scenes.

    Returns
    -------
    images : numpy.ndarray
        uint8 ``(n, 32, 32, 3)``.
    masks : numpy.ndarray
        bool ``(n, 32, 32)``: the pixels the tank was painted on.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((n, _SIZE, _SIZE, 3), np.uint8)
    masks = np.zeros((n, _SIZE, _SIZE), bool)
    for i in range(n):
        scene = _forest(rng, _SIZE)
        if rng.random() < tank_share:
            before = scene.copy()
            _draw_tank(scene, rng)
            masks[i] = (scene != before).any(axis=-1)
        scene = _light(scene, rng, bool(rng.random() < 0.5))
        scene += rng.normal(0, 0.02, scene.shape)
        images[i] = np.clip(scene * 255 + 0.5, 0, 255).astype(np.uint8)
    return images, masks


def tank_centres(masks):
    """``(n, 2)`` float32 centre (row, column) of each mask as fractions of the side (0.5 where empty)."""
    rows, cols = np.indices(masks.shape[1:])
    area = np.maximum(masks.sum(axis=(1, 2)), 1)
    centre = np.stack([(masks * rows).sum(axis=(1, 2)), (masks * cols).sum(axis=(1, 2))], axis=1) / area[:, None]
    centre = np.where(masks.any(axis=(1, 2))[:, None], centre / (_SIZE - 1), 0.5)
    return centre.astype(np.float32)


def train_tank_segmenter(images=None, masks=None, epochs=40, seed=0):
    """A tiny fully convolutional segmenter, trained in a few seconds.

    Returns
    -------
    keras.Model
        ``(32, 32, 3)`` raw 0-255 -> ``logits`` (1x1 conv) -> ``probabilities``
        (``Softmax``) ``(32, 32, 2)``; channel 1 is the tank.
    """
    keras = load_keras()
    layers = keras.layers
    if images is None:
        images, masks = tank_scenes(240, seed=seed)
    keras.utils.set_random_seed(seed)
    inp = keras.Input((_SIZE, _SIZE, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inp)
    x = layers.Conv2D(12, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.Conv2D(12, 3, padding="same", dilation_rate=2, activation="relu", name="conv2")(x)
    logits = layers.Conv2D(2, 1, name="logits")(x)
    model = keras.Model(inp, layers.Softmax(name="probabilities")(logits), name="tank_segmenter")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    # Tank pixels are ~3% of a scene: weigh them up so the net does not settle for "all background".
    share = max(float(masks.mean()), 1e-3)
    weights = np.where(masks, 0.5 / share, 0.5 / (1 - share)).astype("float32")
    model.fit(images.astype("float32"), masks.astype("int32"), sample_weight=weights, epochs=epochs,
              batch_size=32, verbose=0)
    return model


def train_tank_locator(images=None, masks=None, epochs=15, seed=0):
    """A small regression CNN: where the tank is, ``(row, column)`` as fractions of the side.

    Trained on scenes that all hold a tank.

    Returns
    -------
    keras.Model
        ``(32, 32, 3)`` raw 0-255 -> ``conv1`` -> ``pool1`` -> ``conv2`` ->
        ``pool2`` -> ``flatten`` -> ``centre`` (Dense(2), linear). Its one
        output of two linear values would be taken for class logits: bind it
        with ``output_kinds="values"`` (``cw.Inspector(model,
        output_kinds="values")`` or the same keyword on any widget).
    """
    keras = load_keras()
    layers = keras.layers
    if images is None:
        images, masks = tank_scenes(400, tank_share=1.0, seed=seed)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((_SIZE, _SIZE, 3), name="image"),
        layers.Rescaling(1.0 / 255, name="rescale"),
        layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(2, name="centre"),
    ], name="tank_locator")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    model.fit(images.astype("float32"), tank_centres(masks), epochs=epochs, batch_size=32, verbose=0)
    return model
