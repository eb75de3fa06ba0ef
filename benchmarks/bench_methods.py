"""Benchmark every explanation method of the catalogue against bare TensorFlow floors.

Run from the repository root::

    python benchmarks/bench_methods.py                   # both models
    python benchmarks/bench_methods.py --model digits --repeats 60
    python benchmarks/bench_methods.py --model mobilenet --repeats 10
    python benchmarks/bench_methods.py --only gradcam,rise,explain_batch

Each ``Inspector.explain(image, method, class)`` is timed as a class switch
(the two top classes alternate; the inspector's cache is cleared before each
call, untimed, and the prepared input re-cached) and printed as a RATIO to a
floor measured in the same run, interleaved with it:

* gradient and CAM methods: ``FB``, a bare ``tf.function`` forward + input
  gradient of one score on one image, times the passes the method needs
  (``FB x 16+9``: SmoothGrad's 25 noisy copies in the same batches, prebuilt;
  ``FB + FB``: Guided Grad-CAM's two passes); Eigen-CAM, which needs no
  gradient, against ``F``. Target <= 1.5x.
* perturbation methods (Score-CAM, Ablation-CAM, RISE): ``F`` over exactly the
  copies they push through the model, **prebuilt in numpy** (building them is
  not part of the floor), in the same batch sizes, plus the one forward pass
  that finds the layer's features. Target <= 1.2x.
* ``explain_batch`` (Grad-CAM on N images) against a Python loop of
  ``gradcam`` over the same images: the ratio is the batch's share of the
  loop's time. Target <= 1/3 (at least 3x faster).

See ``benchmarks/README.md``.
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
from bench_backend import HEADER, Row, cycle, load_model  # noqa: E402

#: Timed calls per model for one-pass methods; long methods use a fifth (at least 3).
DEFAULT_REPEATS = {"digits": 60, "mobilenet": 10}
#: Parameters and layers per model. MobileNetV2's out_relu has 1280 channels:
#: Score-CAM uses its "faster" top-k variant there and Ablation-CAM a 160-channel layer,
#: RISE 256 masks, so that the whole run stays within a few minutes on 2 cores.
SETTINGS = {
    "digits": {"scorecam": {}, "ablationcam": {}, "rise": {}, "batch_images": 64},
    "mobilenet": {"scorecam": {"top_k": 64}, "ablationcam": {"layer": "block_15_add"},
                  "rise": {"masks": 256}, "batch_images": 16},
}
ONE_PASS = ("vanilla", "gradient_x_input", "guided_backprop", "gradcam", "gradcam_plus_plus", "hirescam",
            "xgradcam", "layercam")


def bench_model(which, repeats, log, only=None):
    import cnnwidgets as cw
    from cnnwidgets.backend.explaining import DEFAULT_BATCH_SIZES

    t0 = time.perf_counter()
    model, insp, image, description = load_model(which)
    settings = SETTINGS[which]
    display, model_input, _ = insp.prepare(image)
    x1 = model_input[None].copy()
    forward, forward_backward = make_floors(model, insp.input_shape)
    top = [int(i) for i in np.argsort(insp.predict(image))[::-1][:2]]
    long_repeats = max(3, repeats // 5)
    rows = []

    def add(row):
        rows.append(row)
        log(f"  [{which}] {row.name}: {row.m.ratio:.2f}x {row.floor_name}")

    def prime():
        insp.clear_cache()
        insp.prepare(image)

    next_fb_class = cycle(top)

    def floor_fb():
        return forward_backward(x1, np.int32(next_fb_class())).numpy()

    def floor_f():
        return forward(x1).numpy()

    def forward_batches(batches, features=True):
        def run():
            if features:  # the pass that finds the layer's feature maps
                forward(x1).numpy()
            for batch in batches:
                forward(batch).numpy()
        return run

    def wanted(name):
        return not only or name in only

    def explain_row(name, floor, floor_name, target, count, **params):
        if not wanted(name):
            return
        next_class = cycle(top)
        measured = interleaved(lambda: insp.explain(image, name, next_class(), **params), floor, count,
                               warmup=1 if count < 10 else 2, op_setup=prime)
        label = name + "".join(f" {k}={v}" for k, v in params.items())
        add(Row(label, measured, floor_name, target))

    log(f"[{which}] {description}; setup {time.perf_counter() - t0:.1f}s, default CAM layer "
        f"{insp.default_cam_layer.path}")

    # --- one tape pass ------------------------------------------------------
    for name in ONE_PASS:
        explain_row(name, floor_fb, "FB", 1.5, repeats)
    explain_row("eigencam", floor_f, "F", 1.5, repeats)
    explain_row("guided_gradcam", lambda: (floor_fb(), floor_fb()), "FB + FB", 1.5, repeats)

    # --- many tape passes over prebuilt copies --------------------------------
    gradient_batch = DEFAULT_BATCH_SIZES["gradient"]
    for name, count in (("smoothgrad", 25), ("vargrad", 25), ("integrated_gradients", 32)):
        if not wanted(name):
            continue
        copies = x1 + np.random.default_rng(0).normal(size=(count,) + x1.shape[1:]).astype(np.float32)
        batches = [copies[s : s + gradient_batch] for s in range(0, count, gradient_batch)]

        def floor_many(batches=batches):
            c = np.int32(next_fb_class())
            for batch in batches:
                forward_backward(batch, c).numpy()

        sizes = "+".join(str(len(b)) for b in batches)
        explain_row(name, floor_many, f"FB x {sizes}", 1.5, long_repeats)

    # --- perturbation methods: forward passes over prebuilt copies -------------
    batch = DEFAULT_BATCH_SIZES["perturbation"]
    rng = np.random.default_rng(1)

    def split(copies):
        return [copies[s : s + batch] for s in range(0, len(copies), batch)]

    if wanted("scorecam"):
        score = settings["scorecam"]
        channels = score.get("top_k") or insp.default_cam_layer.output_shape[-1]
        masked = x1 * rng.uniform(0, 1, (channels,) + x1.shape[1:3] + (1,)).astype(np.float32)
        explain_row("scorecam", forward_batches(split(masked)), f"F + F x {channels}", 1.2, long_repeats, **score)

    if wanted("ablationcam"):
        ablation = settings["ablationcam"]
        layer = insp.layer(ablation.get("layer")) if ablation.get("layer") else insp.default_cam_layer
        tiled = np.repeat(x1, layer.output_shape[-1] + 1, axis=0)
        explain_row("ablationcam", forward_batches(split(tiled)), f"F + F x {len(tiled)}", 1.2, long_repeats,
                    **ablation)

    if wanted("rise"):
        rise = settings["rise"]
        count = rise.get("masks", cw.get_method("rise").param("masks").default)
        masked = x1 * rng.uniform(0, 1, (count,) + x1.shape[1:3] + (1,)).astype(np.float32)
        explain_row("rise", forward_batches(split(masked), features=False), f"F x {count}", 1.2, long_repeats,
                    **rise)

    # --- explain_batch vs a loop of gradcam ------------------------------------
    if not wanted("explain_batch"):
        return {"which": which, "description": description, "rows": rows, "traces": dict(insp.trace_counts),
                "classes": top, "repeats": repeats, "long_repeats": long_repeats}
    n = settings["batch_images"]
    images = np.clip(display[None] + rng.normal(0, 10, (n,) + display.shape), *insp.input_range).astype(np.float32)
    add(Row(
        f"explain_batch gradcam, {n} images (floor: loop of gradcam)",
        interleaved(lambda: insp.explain_batch(images, "gradcam"),
                    lambda: [insp.gradcam(img) for img in images], long_repeats, warmup=1,
                    op_setup=insp.clear_cache, floor_setup=insp.clear_cache),
        "loop", round(1 / 3, 2),
    ))
    return {"which": which, "description": description, "rows": rows, "traces": dict(insp.trace_counts),
            "classes": top, "repeats": repeats, "long_repeats": long_repeats}


def report(result):
    lines = [
        "",
        f"== {result['which']}: {result['description']}",
        f"   repeats: {result['repeats']} (long methods and explain_batch: {result['long_repeats']}); class "
        f"switches alternate classes {result['classes']}; the cache is cleared before each call (untimed)",
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
                        help="timed calls per one-pass method (default: digits 60, mobilenet 10); "
                             "long methods use a fifth, at least 3")
    parser.add_argument("--only", default="", help="comma-separated method names (and/or explain_batch) to time")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if any target is missed")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    started = time.perf_counter()
    print("cnnwidgets explanation-method benchmark -- medians as ratios to floors measured in the same run")
    print(f"tensorflow {tf.__version__}, keras {keras.__version__} ({keras.backend.backend()}), numpy {np.__version__}")
    for line in machine_header():
        print(line)
    print("F = bare tf.function model(x, training=False); FB = bare tf.function d(score)/d(input); "
          "copies prebuilt in numpy; ratio = median(op) / median(floor); paired = median of per-repeat ratios")
    sys.stdout.flush()
    models = ["digits", "mobilenet"] if args.model == "all" else [args.model]
    any_miss = False
    for which in models:
        only = {name.strip() for name in args.only.split(",") if name.strip()}
        result = bench_model(which, args.repeats or DEFAULT_REPEATS[which], log, only)
        print(report(result), flush=True)
        any_miss |= any(r.passed is False for r in result["rows"])
    print(f"\ntotal wall time {time.perf_counter() - started:.0f}s")
    return 1 if (any_miss and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
