"""Benchmark incremental occlusion inference against full batched recomputation.

Run from the repository root::

    python benchmarks/bench_incremental.py                       # VGG16, ResNet50, MobileNetV2 at 224

The image is a tank scene of the demo data enlarged to 224 px (offline, structured).
    python benchmarks/bench_incremental.py --model vgg16 --positions 64
    python benchmarks/bench_incremental.py --model mobilenetv2 --no-approximate

Every ratio compares two things measured in the same run, interleaved:

* **exact sweep**: patch 16, stride 8 (27 x 27 = 729 positions at 224 px). A
  full sweep through VGG16 on 2 shared cores takes minutes, so both sides run
  the same fixed subset of ``--positions`` positions (corners included,
  the rest spread evenly over the grid), in batches of ``--batch``. The
  floor is the inspector's compiled full forward pass on the occluded copies,
  prebuilt in numpy (building them is not timed); the operation is the
  incremental engine, building its patch batch inside the timed call, with
  the clean image's cached maps (one forward pass per image, amortized over
  the whole sweep). Target: >= 3x faster (VGG16), >= 1.5x (ResNet50, MobileNetV2).
* **approximate sweep** (VGG16): the whole 729-position sweep through
  ``occlusion_map(method="approximate")`` with its defaults (tau 1,
  ``DrillDown(coarse=2, keep=0.3)``), against the full sweep's time estimated as the measured per-position
  full time x 729; Spearman against the exact map (computed incrementally,
  which equals full recomputation within 1e-4, see
  tests/test_backend_incremental.py). Target: >= 10x, Spearman >= 0.95.
* **occluder move** (VGG16): ``occlude(image, box)`` with a 16 px square at
  a new place each call (incremental, clean maps cached for the image) vs one
  bare ``tf.function`` forward pass on one image. Target: <= 0.5x.

Under each model a per-layer breakdown: share of each layer's multiply-adds
that the incremental pass recomputes, and the share of time each layer takes
in an eager incremental and an eager full pass of the same batch (eager
timing adds per-op overhead, so read the shares, not the milliseconds).
"""

import argparse
import os
import re
import sys
import time
from collections import OrderedDict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import numpy as np  # noqa: E402

from _timing import format_table, interleaved, machine_header, make_floors  # noqa: E402

MODELS = {
    "vgg16": ("VGG16", "vgg16", 3.0),
    "resnet50": ("ResNet50", "resnet50", 1.5),
    "mobilenetv2": ("MobileNetV2", "mobilenet_v2", 1.5),
}
PATCH, STRIDE, SIZE = 16, 8, 224


def load(which):
    import keras

    from cnnwidgets.backend import Inspector

    name, module, target = MODELS[which]
    model = getattr(keras.applications, name)(weights=None, input_shape=(SIZE, SIZE, 3))
    preprocess = getattr(keras.applications, module).preprocess_input
    insp = Inspector(model, preprocess=preprocess)
    return model, insp, scene(), f"keras.applications.{name}(weights=None), {SIZE}x{SIZE}x3", target


def scene():
    """A structured offline image: the first tank scene of the demo data, enlarged to 224 px.

    (Occlusion maps of a random-noise image are noise too, which says little
    about how well an approximation keeps a map's ranking.)
    """
    from PIL import Image

    from cnnwidgets.demo.tank import tank_data

    images, labels = tank_data(n=4, seed=0)
    small = np.asarray(images[int(np.argmax(labels))]).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((SIZE, SIZE), Image.BILINEAR))


def subset(count):
    """``count`` fixed positions of the patch-16/stride-8 grid: the four corners, then evenly spread."""
    from cnnwidgets.backend.occlusion import patch_positions

    grid = [(y, x) for y in patch_positions(SIZE, PATCH, STRIDE) for x in patch_positions(SIZE, PATCH, STRIDE)]
    last = SIZE - PATCH
    corners = [(0, 0), (0, last), (last, 0), (last, last)]
    rest = [p for p in grid if p not in corners]
    picks = np.linspace(0, len(rest) - 1, max(0, count - 4)).round().astype(int)
    return corners[:count] + [rest[i] for i in picks], len(grid)


def group_of(path):
    name = path.split("/")[-1]
    match = re.match(r"(block_?\d+|conv\d+|mixed\d+|[a-z]+)", name)
    return match.group(1) if match else name


def breakdown(insp, plan, clean, patches, ys, xs):
    """Rows: group, steps, mode(s), FLOPs share of the full pass, share recomputed, time shares."""
    engine = insp._incremental
    inc, full = engine.profile(plan, clean, patches, ys, xs)
    groups = OrderedDict()
    for step, sp, ti, tf_ in zip(engine.steps, plan.step_plans, inc, full):
        g = groups.setdefault(group_of(step.path), dict(n=0, modes=set(), ff=0.0, fd=0.0, ti=0.0, tf=0.0))
        g["n"] += 1
        g["modes"].add("inc" if sp.mode == "incremental" else "full")
        g["ff"] += sp.flops_full
        g["fd"] += sp.flops_done
        g["ti"] += ti
        g["tf"] += tf_
    total_ff = sum(g["ff"] for g in groups.values()) or 1.0
    total_ti, total_tf = sum(inc) or 1.0, sum(full) or 1.0
    rows = []
    for name, g in groups.items():
        rows.append([
            name, str(g["n"]), "+".join(sorted(g["modes"])),
            f"{g['ff'] / total_ff:.1%}", f"{g['fd'] / g['ff']:.1%}" if g["ff"] else "-",
            f"{g['ti'] / total_ti:.1%}", f"{g['tf'] / total_tf:.1%}", f"{g['ti'] / g['tf']:.2f}" if g["tf"] else "-",
        ])
    rows.append(["total", str(len(engine.steps)), "", "100%", f"{plan.flops_fraction:.1%}", "100%", "100%",
                 f"{total_ti / total_tf:.2f}"])
    header = ["layers", "steps", "mode", "FLOPs share", "recomputed", "time share inc", "time share full",
              "inc/full time"]
    return format_table(header, rows)


def bench_model(which, args, log):
    t0 = time.perf_counter()
    model, insp, image, description, target = load(which)
    display, model_input, key = insp.prepare(image)
    label = int(np.argmax(insp.predict(image)))
    positions, grid = subset(args.positions)
    engine = insp._incremental
    plan = engine.plan((PATCH, PATCH))
    clean = insp._clean_maps(model_input, key)
    filler = insp._model_fill(display, key, "gray")
    forward = insp._forward_fn()
    batches = []
    for start in range(0, len(positions), args.batch):
        chunk = positions[start : start + args.batch]
        batch = np.repeat(model_input[None], len(chunk), axis=0)
        for i, (y, x) in enumerate(chunk):
            batch[i, y : y + PATCH, x : x + PATCH] = filler[y : y + PATCH, x : x + PATCH]
        batches.append((chunk, batch))

    def full_sweep():
        return np.concatenate([forward(batch)[0].numpy()[:, label] for _, batch in batches])

    def incremental_sweep():
        out = []
        for chunk, _ in batches:
            patches = np.stack([filler[y : y + PATCH, x : x + PATCH] for y, x in chunk])
            ys, xs = zip(*chunk)
            out.append(engine.probabilities(plan, clean, patches, ys, xs)[:, label])
        return np.concatenate(out)

    error = float(np.abs(incremental_sweep() - full_sweep()).max())
    log(f"[{which}] {description}; setup {time.perf_counter() - t0:.1f}s; max |inc - full| = {error:.2e}")
    rows = []
    m = interleaved(incremental_sweep, full_sweep, args.repeats, warmup=1)
    per_position_full = m.floor_median / len(positions)
    rows.append([
        f"exact sweep, {len(positions)} of {grid} positions, batch {args.batch}",
        f"{m.op_median * 1e3:.0f}", f"{m.floor_median * 1e3:.0f}", f"{1 / m.ratio:.2f}x", f"{1 / m.paired_ratio:.2f}x",
        f">= {target:g}x", "PASS" if 1 / m.ratio >= target else "MISS",
    ])
    log(f"  exact sweep: {1 / m.ratio:.2f}x faster")
    notes = [f"   max |incremental - full| over the subset: {error:.2e} (probabilities)",
             f"   plan: {plan.flops_fraction:.1%} of the full pass's multiply-adds; full computation from "
             f"{plan.switch_path}"]

    if which == "vgg16" and not args.no_move:
        floor_f, _ = make_floors(model, insp.input_shape)
        x1 = model_input[None].copy()
        rng = np.random.default_rng(1)
        boxes = [(int(y), int(x), int(y) + PATCH, int(x) + PATCH) for y, x in rng.integers(0, SIZE - PATCH, (64, 2))]
        state = {"i": 0}

        def move():
            state["i"] = (state["i"] + 1) % len(boxes)
            return insp.occlude(image, box=boxes[state["i"]], method="incremental")

        mm = interleaved(move, lambda: floor_f(x1).numpy(), max(5, args.repeats * 3), warmup=2)
        rows.append([
            "occluder move, 16 px square (vs one forward F)", f"{mm.op_median * 1e3:.0f}",
            f"{mm.floor_median * 1e3:.0f}", f"{mm.ratio:.2f}x of F", f"{mm.paired_ratio:.2f}x of F", "<= 0.5x of F",
            "PASS" if mm.ratio <= 0.5 else "MISS",
        ])
        log(f"  move: {mm.ratio:.2f}x of F")

    if which == "vgg16" and not args.no_approximate:
        from cnnwidgets.backend.incremental import deviation

        # Full recomputation was just measured: no calibration chunk inside the timed sweep.
        # The default approximate sweep (tau 1, drill-down) uses the exact plan, already compiled.
        insp.occlusion_stats.full_seconds["sweep"] = per_position_full
        start = time.perf_counter()
        approx = insp.occlusion_map(image, label, patch=PATCH, stride=STRIDE, method="approximate",
                                    batch_size=args.batch)
        approx_seconds = time.perf_counter() - start
        run = insp.occlusion_stats.sweep
        log(f"  approximate sweep: {approx_seconds:.1f}s for {run.positions} positions; exact map next")
        start = time.perf_counter()
        exact = insp.occlusion_map(image, label, patch=PATCH, stride=STRIDE, method="incremental",
                                   batch_size=args.batch)
        exact_seconds = time.perf_counter() - start
        dev = deviation(approx, exact)
        full_estimate = per_position_full * grid
        speedup = full_estimate / approx_seconds
        ok = speedup >= 10 and dev["spearman"] >= 0.95
        rows.append([
            f"approximate sweep, all {grid} positions ({run.positions} run)", f"{approx_seconds * 1e3:.0f}",
            f"{full_estimate * 1e3:.0f} (est.)", f"{speedup:.2f}x", "-", ">= 10x, Spearman >= 0.95",
            "PASS" if ok else "MISS",
        ])
        notes.append(f"   approximate: defaults (tau 1, DrillDown(coarse=2, keep=0.3)); Spearman vs exact {dev['spearman']:.4f}, "
                     f"max |approx - exact| {dev['max_abs']:.2e} (map range {float(np.ptp(exact)):.2e}); "
                     f"full sweep estimated as {per_position_full * 1e3:.1f} ms/position x {grid}")
        notes.append(f"   exact incremental sweep, all {grid} positions, through occlusion_map: {exact_seconds:.1f}s "
                     f"= {full_estimate / exact_seconds:.2f}x faster than the estimated full sweep")

    table_rows = rows
    profile_chunk = batches[0][0][: min(8, len(batches[0][0]))]
    patches = np.stack([filler[y : y + PATCH, x : x + PATCH] for y, x in profile_chunk])
    ys, xs = zip(*profile_chunk)
    table = breakdown(insp, plan, clean, patches, ys, xs)
    return description, table_rows, notes, table, dict(insp.trace_counts)


HEADER = ["operation", "op ms", "floor ms", "speed-up", "paired", "target", "result"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=[*MODELS, "all"], default="all")
    parser.add_argument("--positions", type=int, default=32, help="positions of the exact-sweep subset (default 32)")
    parser.add_argument("--batch", type=int, default=32, help="positions per compiled call (default 32)")
    parser.add_argument("--repeats", type=int, default=3, help="timed sweeps of each side (default 3)")
    parser.add_argument("--no-approximate", action="store_true", help="skip the approximate VGG16 sweep (~2 min)")
    parser.add_argument("--no-move", action="store_true", help="skip the occluder-move row")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    started = time.perf_counter()
    print("cnnwidgets incremental occlusion benchmark -- speed-ups against full recomputation in the same run")
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, numpy {np.__version__}")
    for line in machine_header():
        print(line)
    print(f"patch {PATCH}, stride {STRIDE}, fill gray; speed-up = median(full) / median(incremental); "
          "paired = median of per-repeat ratios")
    for which in MODELS if args.model == "all" else [args.model]:
        description, rows, notes, table, traces = bench_model(which, args, log)
        print(f"\n== {which}: {description}\n")
        print(format_table(HEADER, rows))
        print("\n".join(notes))
        print("   traces: " + ", ".join(f"{k}={v}" for k, v in sorted(traces.items())))
        print("\n   per-layer breakdown (eager profile of one batch of 8 positions):\n")
        print("\n".join("   " + line for line in table.splitlines()))
        sys.stdout.flush()
    print(f"\ntotal wall time {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
