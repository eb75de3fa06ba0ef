"""Benchmark the cnnwidgets compute backend against bare TensorFlow floors.

Run from the repository root::

    python benchmarks/bench_backend.py                  # both models
    python benchmarks/bench_backend.py --model digits --repeats 200
    python benchmarks/bench_backend.py --model mobilenet --repeats 30

Each operation of :class:`cnnwidgets.Inspector` is timed (median over
``--repeats`` calls, after warm-up calls that trace every tf.function) and
printed as a RATIO to a floor measured in the same run, interleaved with it:

* ``F``  -- a bare ``tf.function`` forward pass ``model(x, training=False)``
  with a fixed input signature, on one image;
* ``FB`` -- a bare ``tf.function`` forward + backward: the GradientTape
  gradient of one output score with respect to the input, on one image;
* ``F x n`` -- for ``occlusion_map``: the same occluded copies, prebuilt in
  numpy (building them is *not* part of the floor), pushed through ``F`` in
  the same batch sizes.

See ``benchmarks/README.md`` for what each row measures and why ratios.
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

from _timing import format_table, interleaved, machine_header, make_floors, table_footer  # noqa: E402

#: Default repeats per model (``--repeats`` overrides both). The digits model
#: runs in well under a millisecond, so it needs many samples for a stable
#: median; MobileNetV2 needs ~15 ms per forward pass on 2 cores.
DEFAULT_REPEATS = {"digits": 100, "mobilenet": 15}
#: (patch, stride) for occlusion_map; None = the inspector's default. Digits:
#: the defaults (patch 5, stride 2: 169 positions, batches 64+64+41).
#: MobileNetV2: the default patch (37) with stride 28 -- 64 positions, one
#: full batch -- instead of the default stride 18 (144 positions, ~1.3 s a
#: map on 2 cores) to keep the whole run under ~3 minutes.
OCCLUSION_GEOMETRY = {"digits": (None, None), "mobilenet": (None, 28)}


class Row:
    """One line of the report."""

    def __init__(self, name, measurement, floor_name, target=None, note=""):
        self.name = name
        self.m = measurement
        self.floor_name = floor_name
        self.target = target
        self.note = note

    @property
    def passed(self):
        return None if self.target is None else self.m.ratio <= self.target

    @property
    def noisy(self):
        """The two ratio estimates disagree by more than 15%: rerun before trusting it.

        Ignored for tiny ratios (a cache hit at 0.04x vs 0.06x of F says the same).
        """
        ratio, paired = self.m.ratio, self.m.paired_ratio
        return max(ratio, paired) >= 0.25 and abs(ratio / paired - 1) > 0.15

    def cells(self):
        verdict = "" if self.target is None else ("PASS" if self.passed else "MISS")
        if self.noisy:
            verdict = (verdict + " (noisy)").strip()
        return [
            self.name,
            f"{self.m.op_median * 1e3:.2f}",
            self.floor_name,
            f"{self.m.floor_median * 1e3:.2f}",
            f"{self.m.ratio:.2f}x",
            f"{self.m.paired_ratio:.2f}x",
            "context" if self.target is None else f"<= {self.target:g}x",
            verdict,
        ]


HEADER = ["operation", "median ms", "floor", "floor ms", "ratio", "paired", "target", "result"]


def load_model(which):
    """(model, inspector, display image, description) for ``which``."""
    import keras

    from cnnwidgets import demo
    from cnnwidgets.backend import Inspector

    if which == "digits":
        model = demo.digits_model()
        images, _ = demo.digits_samples()
        image = images[0]  # uint8 (28, 28, 1)
        insp = Inspector(model, class_names=demo.DIGIT_CLASS_NAMES)
        return model, insp, image, "embedded digits CNN, 28x28x1, 10 classes"
    if which == "mobilenet":
        model = keras.applications.MobileNetV2(weights=None)
        insp = Inspector(model, preprocess=keras.applications.mobilenet_v2.preprocess_input)
        image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
        return model, insp, image, "keras.applications.MobileNetV2(weights=None), 224x224x3, 1000 classes"
    raise ValueError(which)


def bare_every_layer(model, input_shape):
    """A bare tf.function returning every top-level layer's output, or None for nested models."""
    import keras
    import tensorflow as tf

    from cnnwidgets.backend.graph import _is_container

    layers = [lay for lay in model.layers if not isinstance(lay, keras.layers.InputLayer)]
    if any(_is_container(lay) for lay in layers):
        return None
    multi = keras.Model(model.inputs, [lay.output for lay in layers])
    spec = tf.TensorSpec((None,) + tuple(input_shape), tf.float32)

    @tf.function(input_signature=[spec], autograph=False)
    def every_layer(x):
        return multi(x, training=False)

    return every_layer


def occlusion_batches(insp, image, patch, stride, batch_size, fill="gray"):
    """The occluded model inputs ``occlusion_map`` needs, prebuilt, in its batch sizes."""
    from cnnwidgets.backend.occlusion import default_patch, fill_image, patch_positions

    display, model_input, _ = insp.prepare(image)
    height, width = display.shape[:2]
    patch = int(patch) if patch else default_patch(height, width)
    stride = int(stride) if stride else max(1, patch // 2)
    filler = insp._preprocess(fill_image(display, fill, insp.input_range)[None])[0]
    positions = [(y, x) for y in patch_positions(height, patch, stride) for x in patch_positions(width, patch, stride)]
    size = min(patch, height), min(patch, width)
    batches = []
    for start in range(0, len(positions), batch_size):
        chunk = positions[start : start + batch_size]
        batch = np.repeat(model_input[None], len(chunk), axis=0)
        for i, (y, x) in enumerate(chunk):
            batch[i, y : y + size[0], x : x + size[1]] = filler[y : y + size[0], x : x + size[1]]
        batches.append(batch)
    return batches, patch, stride, len(positions)


def cycle(values):
    """A callable returning the next item of ``values`` on each call, round and round."""
    state = {"i": -1}

    def nxt():
        state["i"] = (state["i"] + 1) % len(values)
        return values[state["i"]]

    return nxt


def bench_model(which, repeats, occlusion_repeats, log):
    t0 = time.perf_counter()
    model, insp, image, description = load_model(which)
    display, model_input, _ = insp.prepare(image)
    x1 = model_input[None].copy()  # the preprocessed image, (1, H, W, C) float32
    forward, forward_backward = make_floors(model, insp.input_shape)
    probs = insp.predict(image)
    top = [int(i) for i in np.argsort(probs)[::-1][:2]]  # two classes to alternate between
    height, width = display.shape[:2]

    def floor_f():
        return forward(x1).numpy()

    next_fb_class = cycle(top)

    def floor_fb():
        return forward_backward(x1, np.int32(next_fb_class())).numpy()

    def clear_and_prime():
        # A class switch on an image already shown: results are recomputed,
        # but the validated/preprocessed input stays cached, as it would.
        insp.clear_cache()
        insp.prepare(image)

    rows = []

    def add(row):
        rows.append(row)
        log(f"  [{which}] {row.name}: {row.m.ratio:.2f}x {row.floor_name}")

    log(f"[{which}] {description}; setup {time.perf_counter() - t0:.1f}s, repeats {repeats}")

    # --- Grad-CAM, class switch ---------------------------------------------
    next_class = cycle(top)
    add(Row(
        f"gradcam class switch ({insp.default_cam_layer.path})",
        interleaved(lambda: insp.gradcam(image, next_class()), floor_fb, repeats, op_setup=clear_and_prime),
        "FB", 1.5,
    ))

    # --- vanilla saliency, class switch -------------------------------------
    next_class = cycle(top)
    add(Row(
        "saliency vanilla class switch",
        interleaved(lambda: insp.saliency(image, next_class(), method="vanilla"), floor_fb, repeats,
                    op_setup=clear_and_prime),
        "FB", 1.5,
    ))

    # --- all activations, uncached (a new image: the cache is cleared, untimed)
    add(Row(
        f"all_activations new image ({len(insp.layers)} layers)",
        interleaved(lambda: insp.all_activations(image), floor_f, repeats, op_setup=insp.clear_cache),
        "F", 1.5,
    ))
    add(Row(
        "all_activations cache hit (context)",
        interleaved(lambda: insp.all_activations(image), floor_f, repeats),
        "F", None,
    ))
    # What fetching every layer costs in TensorFlow alone: a bare tf.function
    # of a Keras multi-output model over the same (top-level) layers.
    every_layer = bare_every_layer(model, insp.input_shape)
    if every_layer is not None:
        add(Row(
            "bare tf.function, every layer's output (context)",
            interleaved(lambda: [np.asarray(t) for t in every_layer(x1)], floor_f, repeats),
            "F", None,
        ))

    # --- occlude, a new box each call ---------------------------------------
    rng = np.random.default_rng(1)
    side = max(2, min(height, width) // 4)
    boxes = []
    for _ in range(max(16, repeats + 4)):
        y, x = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        boxes.append((y, x, y + side, x + side))
    next_box = cycle(boxes)
    # method="auto" compiles an incremental plan on a background thread the first time a patch
    # size is seen, computing in full meanwhile, and keeps the plan only if it measures faster.
    # Let that happen before timing (a forced incremental call compiles and measures it), so
    # the rows time the steady state, not a compile thread sharing the cores.
    insp.occlude(image, boxes[0], method="incremental")
    add(Row(
        "occlude new box",
        interleaved(lambda: insp.occlude(image, next_box()), floor_f, repeats),
        "F", 1.3,
    ))

    # --- occlusion map --------------------------------------------------------
    batch_size = 64
    patch, stride = OCCLUSION_GEOMETRY[which]
    batches, patch, stride, positions = occlusion_batches(insp, image, patch, stride, batch_size)

    def floor_batches():
        for batch in batches:
            forward(batch).numpy()

    def prime_map():
        # New map parameters on an image already shown: the input and its
        # prediction are cached, the map is not (it takes its base score in
        # its first batch, one extra row).
        insp.clear_cache()
        insp.predict(image)

    sizes = "+".join(str(len(b)) for b in batches)
    insp.occlusion_map(image, top[0], patch=patch, stride=stride, method="incremental")  # (see occlude above)
    add(Row(
        f"occlusion_map patch={patch} stride={stride} ({positions} pos.)",
        interleaved(
            lambda: insp.occlusion_map(image, top[0], patch=patch, stride=stride, batch_size=batch_size),
            floor_batches, occlusion_repeats, warmup=1, op_setup=prime_map,
        ),
        f"F x {sizes}", 1.2,
    ))

    # --- context ---------------------------------------------------------------
    add(Row(
        "Inspector.predict new image (context)",
        interleaved(lambda: insp.predict(image), floor_f, repeats, op_setup=insp.clear_cache),
        "F", None,
    ))
    add(Row(
        "model.predict(x, verbose=0) (context)",
        interleaved(lambda: model.predict(x1, verbose=0), floor_f, repeats),
        "F", None,
    ))
    add(Row(
        "model(x) eager (context)",
        interleaved(lambda: np.asarray(model(x1)), floor_f, repeats),
        "F", None,
    ))

    traces = dict(insp.trace_counts)
    return {
        "which": which,
        "description": description,
        "rows": rows,
        "traces": traces,
        "classes": top,
        "occlusion_repeats": occlusion_repeats,
        "repeats": repeats,
    }


def report(result):
    lines = [
        "",
        f"== {result['which']}: {result['description']}",
        f"   repeats: {result['repeats']} (occlusion_map: {result['occlusion_repeats']}); "
        f"class switches alternate classes {result['classes']} and clear the inspector's cache "
        "before each call (untimed; the prepared input is re-cached, untimed)",
        "",
        format_table(HEADER, [r.cells() for r in result["rows"]]),
        "",
    ]
    lines += table_footer(result["rows"], result["traces"])
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["digits", "mobilenet", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed calls per operation (default: digits 100, mobilenet 15); "
                             "occlusion_map uses a third of it, at least 3")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if any target is missed")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    started = time.perf_counter()
    print("cnnwidgets backend benchmark -- medians as ratios to floors measured in the same run")
    print(f"tensorflow {tf.__version__}, keras {keras.__version__} ({keras.backend.backend()}), numpy {np.__version__}")
    for line in machine_header():
        print(line)
    print(f"tf intra-op threads: {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}, "
          f"inter-op: {tf.config.threading.get_inter_op_parallelism_threads() or 'default'}")
    print("F = bare tf.function model(x, training=False), 1 image;  FB = bare tf.function "
          "GradientTape d(score)/d(input), 1 image;  ratio = median(op) / median(floor); "
          "paired = median of per-repeat ratios")
    sys.stdout.flush()

    models = ["digits", "mobilenet"] if args.model == "all" else [args.model]
    any_miss = False
    for which in models:
        repeats = args.repeats or DEFAULT_REPEATS[which]
        result = bench_model(which, repeats, max(3, repeats // 3), log)
        print(report(result), flush=True)
        any_miss |= any(r.passed is False for r in result["rows"])
    print(f"\ntotal wall time {time.perf_counter() - started:.0f}s")
    return 1 if (any_miss and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
