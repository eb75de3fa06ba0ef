"""Benchmark faithfulness metrics: deletion + insertion curves vs the forward passes they need.

Run from the repository root::

    python benchmarks/bench_metrics.py                     # MobileNetV2 224, its segmenter, digits
    python benchmarks/bench_metrics.py --model mobilenet --repeats 9
    python benchmarks/bench_metrics.py --model segmenter   # a Region target on a dense head

The operation is ``Inspector.evaluate(image, map, metric="deletion", steps=50)``
then the same with ``metric="insertion"`` (default fills: black, blur), on an
image already shown (its input and prediction cached, the curves not). The
floor is the *same* 2 x 51 perturbed copies, **prebuilt in numpy** (building
them is not part of the floor), pushed through a bare ``tf.function`` forward
pass in the same batches. Target: ratio <= 1.2. ROAD (10 imputed copies, one
sparse solve each) is reported against its forward passes for context.

``--model segmenter`` measures the same for a target: a softmax 1x1
convolution on MobileNetV2's 7x7 features (a dense output), each curve
recording a ``Region`` target's summed probability, with a different mask
on every repeat (a new mask must not retrace).
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # the repository root, for an uninstalled cnnwidgets

import numpy as np  # noqa: E402

from _timing import format_table, interleaved, machine_header, make_floors  # noqa: E402

DEFAULT_REPEATS = {"digits": 30, "mobilenet": 7, "segmenter": 7}
STEPS = 50
#: The issue's target is for MobileNetV2; on the digits model a forward pass of 51 copies takes ~10 ms, so
#: the fixed per-call work (hashing, ranking, the blur) weighs more and is reported for context.
TARGETS = {"mobilenet": 1.2, "segmenter": 1.2}


def load(which):
    import keras

    import cnnwidgets as cw

    if which == "digits":
        images, _ = cw.demo.digits_samples()
        return cw.Inspector(cw.demo.digits_model()), images[0], "embedded digits CNN, 28x28x1"
    if which == "segmenter":
        base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(224, 224, 3))
        head = keras.layers.Conv2D(3, 1, activation="softmax", name="segments")(base.output)
        insp = cw.Inspector(keras.Model(base.input, head),
                            preprocess=keras.applications.mobilenet_v2.preprocess_input)
        image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
        return insp, image, "MobileNetV2(weights=None) + softmax 1x1 conv head (7x7x3), Region targets"
    model = keras.applications.MobileNetV2(weights=None)
    insp = cw.Inspector(model, preprocess=keras.applications.mobilenet_v2.preprocess_input)
    image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    return insp, image, "keras.applications.MobileNetV2(weights=None), 224x224x3"


def prebuilt_copies(insp, image, saliency, fill_name, insert):
    """The copies one curve needs, built independently of the library, as model inputs."""
    from cnnwidgets.backend.images import gaussian_blur

    display = np.asarray(image, np.float32)
    fill = np.zeros_like(display) if fill_name == "black" else gaussian_blur(display, 5.0)
    order = np.argsort(-saliency.ravel(), kind="stable")
    counts = np.round(np.linspace(0, 1, STEPS + 1) * saliency.size).astype(int)
    copies = []
    for count in counts:
        shown = np.zeros(saliency.size, bool)
        shown[order[:count]] = True
        shown = shown.reshape(saliency.shape)[..., None]
        copies.append(np.where(shown, display, fill) if insert else np.where(shown, fill, display))
    return insp._preprocess(np.stack(copies).astype(np.float32))


def region_targets(which):
    """None (the predicted class) for a classifier; for the segmenter, Region targets with changing masks."""
    from cnnwidgets.targets import Region

    if which != "segmenter":
        return lambda: None
    masks = np.random.default_rng(2).random((64, 7, 7)) < 0.3
    count = iter(range(10**9))
    return lambda: Region(1, masks[next(count) % len(masks)])


def bench(which, repeats, log):
    insp, image, description = load(which)
    next_target = region_targets(which)
    kind = "region" if which == "segmenter" else "class"
    forward, _ = make_floors(insp.model, insp.input_shape)
    saliency = np.random.default_rng(1).random(np.shape(image)[:2])
    batches = [prebuilt_copies(insp, image, saliency, "black", False), prebuilt_copies(insp, image, saliency, "blur", True)]

    def prime():
        insp.clear_cache()
        insp.predict(image) if insp.is_classifier else insp.predict_outputs(image)

    def curves():
        target = next_target()
        insp.evaluate(image, saliency, target, metric="deletion", steps=STEPS)
        insp.evaluate(image, saliency, target, metric="insertion", steps=STEPS)

    def floor():
        for batch in batches:
            for start in range(0, len(batch), 64):
                forward(batch[start : start + 64]).numpy()

    log(f"[{which}] deletion + insertion ...")
    rows = [("deletion + insertion, 50 steps", interleaved(curves, floor, repeats, op_setup=prime),
             f"F x {len(batches[0])}+{len(batches[1])}", TARGETS.get(which))]

    def road():
        insp.evaluate(image, saliency, next_target(), metric="road")

    road_inputs = batches[0][:10]

    def road_floor():
        forward(road_inputs).numpy()

    log(f"[{which}] ROAD ...")
    rows.append(("ROAD, 10 imputed copies (context)", interleaved(road, road_floor, max(3, repeats // 2), warmup=1,
                                                                    op_setup=prime), "F x 10", None))
    assert insp.trace_counts[f"class_scores:probability:0:{kind}"] == 1, insp.trace_counts
    table = []
    for name, m, floor_name, target in rows:
        verdict = "" if target is None else ("PASS" if m.ratio <= target else "MISS")
        table.append([name, f"{m.op_median * 1e3:.1f}", floor_name, f"{m.floor_median * 1e3:.1f}", f"{m.ratio:.2f}",
                      f"{m.paired_ratio:.2f}", "" if target is None else f"<= {target}", verdict])
    return description, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("digits", "mobilenet", "segmenter", "all"), default="all")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--strict", action="store_true", help="exit status 1 on any MISS")
    args = parser.parse_args(argv)
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    print("\n".join(machine_header()))
    missed = False
    for which in (("mobilenet", "segmenter", "digits") if args.model == "all" else (args.model,)):
        description, table = bench(which, args.repeats or DEFAULT_REPEATS[which], log)
        print(f"\n{which}: {description}")
        print(format_table(["operation", "median ms", "floor", "floor ms", "ratio", "paired", "target", "result"],
                           table))
        missed |= any(row[-1] == "MISS" for row in table)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
