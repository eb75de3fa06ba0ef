"""Benchmark FilterGrid's activation maximization: why the filters of a page are batched.

Run from the repository root::

    python benchmarks/bench_filter_grid.py                 # digits conv2, 32 filters
    python benchmarks/bench_filter_grid.py --steps 96 --repeats 5

``Inspector.maximize(layer, channels)`` optimizes one synthesized input per
channel in one batch: every gradient step is one forward and backward pass
over a batch of ``len(channels)`` images. The alternative is one optimization
per filter. Both are timed here, interleaved, with the inspector's result
cache cleared before every call so that each call really optimizes, and
reported as ratios:

* ``batched / one at a time``: 32 filters in one run against 32 runs of one
  filter each (the same steps and settings). Target: at most 1/8.
* ``FilterGrid / batched``: the widget end to end (switch a page to maximize
  mode, wait for the tiles) against the bare batched call, i.e. the cost of
  the background worker and of drawing the tiles.
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

from _timing import format_table, interleaved, machine_header  # noqa: E402

TARGET_BATCH_RATIO = 1 / 8


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layer", default="conv2", help="digits model layer with >= --filters channels")
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--steps", type=int, default=48, help="gradient steps per optimization")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    import cnnwidgets as cw

    print("FilterGrid benchmark -- medians as ratios to a floor measured in the same run")
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, numpy {np.__version__}")
    for line in machine_header():
        print(line)
    started = time.perf_counter()

    model = cw.demo.digits_model()
    inspector = cw.Inspector.for_model(model)
    channels = list(range(args.filters))
    width = inspector.layer(args.layer).output_shape[-1]
    if width < args.filters:
        parser.error(f"layer {args.layer} has {width} channels, fewer than --filters {args.filters}")
    steps = args.steps

    def batched():
        inspector.maximize(args.layer, channels, steps=steps)

    def one_at_a_time():
        for channel in channels:
            inspector.maximize(args.layer, [channel], steps=steps)

    batch = interleaved(batched, one_at_a_time, args.repeats, warmup=1,
                        op_setup=inspector.clear_cache, floor_setup=inspector.clear_cache)

    grid = cw.FilterGrid(inspector, layer=args.layer, steps=steps, page_size=args.filters)

    def widget():
        grid.mode = "maximize"
        grid.wait(600)
        grid.mode = "weights"

    def widget_setup():
        inspector.clear_cache()
        grid.clear_results()

    overhead = interleaved(widget, batched, args.repeats, warmup=1,
                           op_setup=widget_setup, floor_setup=inspector.clear_cache)
    if grid.maximization is None or len(grid.maximization.channels) != args.filters:
        raise SystemExit("the widget did not draw a maximization")

    rows = [
        [f"batched: {args.filters} filters in 1 run", f"{batch.op_median * 1e3:.0f} ms",
         f"one at a time: {args.filters} runs", f"{batch.floor_median * 1e3:.0f} ms",
         f"{batch.ratio:.3f} (1/{1 / batch.ratio:.1f})", f"<= {TARGET_BATCH_RATIO:.3f}",
         "PASS" if batch.ratio <= TARGET_BATCH_RATIO else "FAIL"],
        [f"FilterGrid page of {args.filters}", f"{overhead.op_median * 1e3:.0f} ms",
         "batched maximize", f"{overhead.floor_median * 1e3:.0f} ms",
         f"{overhead.ratio:.2f}", "", ""],
    ]
    print(f"\nmodel digits_cnn, layer {args.layer}, {steps} steps, {args.repeats} interleaved repeats "
          "(medians; paired-ratio cross-check "
          f"{batch.paired_ratio:.3f} and {overhead.paired_ratio:.2f})\n")
    print(format_table(["operation", "median", "floor", "floor median", "ratio", "target", ""], rows))
    print(f"\nbatched / one-at-a-time ratio: {batch.ratio:.3f} "
          f"(batching is {1 / batch.ratio:.1f}x cheaper per filter)")
    print(f"total wall time {time.perf_counter() - started:.0f}s")
    return 0 if batch.ratio <= TARGET_BATCH_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
