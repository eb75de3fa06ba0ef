"""Benchmark the SaliencyOverlay widget's class switch against a bare TensorFlow floor.

Run from the repository root::

    python benchmarks/bench_saliency_overlay.py                   # both models
    python benchmarks/bench_saliency_overlay.py --model digits --repeats 200
    python benchmarks/bench_saliency_overlay.py --model mobilenet --repeats 20

What is timed (median over ``--repeats``, after warm-up calls that trace
every tf.function): a class switch *through the widget*, i.e. setting
``view.class_index`` and ``view.wait()``, which covers the observer, the
hand-off to the worker thread, the backend's Grad-CAM (or input gradient),
colouring the map, blending it over the image and drawing the heat-map and
overlay canvases (``put_image_data``, PNG-encoded for the browser). The two
most probable classes alternate, and the inspector's result cache is cleared
before each switch (untimed; the prepared input is re-cached, as it is when
the image is already shown), so every switch really recomputes.

The floor ``FB`` is a bare ``tf.function`` forward + backward of the same
model (the GradientTape gradient of one output score with respect to the
input, one image), measured in the same run, interleaved with the widget.
The target is a ratio of at most 1.5.
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

from _timing import format_table, interleaved, machine_header, make_floors  # noqa: E402

#: Default repeats per model (``--repeats`` overrides both).
DEFAULT_REPEATS = {"digits": 150, "mobilenet": 20}
TARGET = 1.5


def load(which):
    """(model, widget, image, description) for ``which``."""
    import keras

    from cnnwidgets import demo
    from cnnwidgets.widgets.saliency_overlay import SaliencyOverlay

    if which == "digits":
        model = demo.digits_model()
        images, _ = demo.digits_samples()
        image = images[0]
        view = SaliencyOverlay(model, image, class_names=demo.DIGIT_CLASS_NAMES)
        return model, view, image, "embedded digits CNN, 28x28x1, 10 classes (panels 28x28 px, shown at 280 px)"
    if which == "mobilenet":
        model = keras.applications.MobileNetV2(weights=None)
        image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
        view = SaliencyOverlay(model, image, preprocess=keras.applications.mobilenet_v2.preprocess_input)
        return model, view, image, "keras.applications.MobileNetV2(weights=None), 224x224x3, 1000 classes"
    raise ValueError(which)


def alternate(values):
    state = {"i": -1}

    def nxt():
        state["i"] = (state["i"] + 1) % len(values)
        return values[state["i"]]

    return nxt


def bench_model(which, repeats, log):
    started = time.perf_counter()
    model, view, image, description = load(which)
    view.wait()
    inspector = view.inspector
    _, model_input, _ = inspector.prepare(image)
    x1 = model_input[None].copy()
    _, floor = make_floors(model, inspector.input_shape)
    top = [int(i) for i in view.class_picker.order[:2]]
    next_floor_class = alternate(top)

    def floor_fb():
        return floor(x1, np.int32(next_floor_class())).numpy()

    def clear_and_prime():
        inspector.clear_cache()
        inspector.prepare(image)

    log(f"[{which}] {description}; setup {time.perf_counter() - started:.1f}s, repeats {repeats}")
    rows = []
    for method in ("gradcam", "vanilla"):
        view.method = method
        view.wait()
        next_class = alternate(top)

        def switch():
            view.class_index = next_class()
            view.wait()

        measurement = interleaved(switch, floor_fb, repeats, warmup=4, op_setup=clear_and_prime)
        label = f"{method} class switch" + (f" ({view.layer})" if method == "gradcam" else "")
        rows.append((label, measurement))
        log(f"  [{which}] {label}: {measurement.ratio:.2f}x FB")
    if view.status.value and "error" in view.status.value:
        raise RuntimeError(f"the widget reported an error: {view.status.value}")
    return description, rows, top, view.heatmap_canvas.image.shape


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["digits", "mobilenet", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed switches per method (default: digits 150, mobilenet 20)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    def log(message):
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    print("SaliencyOverlay class-switch benchmark -- medians as ratios to a floor measured in the same run")
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, numpy {np.__version__}")
    for line in machine_header():
        print(line)
    print("op = view.class_index = c; view.wait()  (observer -> worker -> backend -> render -> canvas draw)")
    print("FB = bare tf.function GradientTape d(score)/d(input), 1 image; ratio = median(op) / median(FB); "
          "paired = median of per-repeat ratios")
    header = ["operation", "median ms", "FB ms", "ratio", "paired", "target", "result"]
    any_miss = False
    for which in (["digits", "mobilenet"] if args.model == "all" else [args.model]):
        repeats = args.repeats or DEFAULT_REPEATS[which]
        description, rows, top, panel_shape = bench_model(which, repeats, log)
        table = []
        for label, m in rows:
            passed = m.ratio <= TARGET
            any_miss |= not passed
            table.append([label, f"{m.op_median * 1e3:.2f}", f"{m.floor_median * 1e3:.2f}", f"{m.ratio:.2f}x",
                          f"{m.paired_ratio:.2f}x", f"<= {TARGET:g}x", "PASS" if passed else "MISS"])
        print(f"\n== {which}: {description}")
        print(f"   {repeats} switches per method between classes {top}; "
              f"canvas panels {panel_shape[1]}x{panel_shape[0]}")
        print(format_table(header, table))
    print(f"\ntotal wall time {time.perf_counter() - started:.0f}s")
    return 1 if (any_miss and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
