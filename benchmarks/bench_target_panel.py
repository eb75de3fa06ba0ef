"""Benchmark painting a region on the target panel's mask against the cost of sending one picture.

Run from the repository root::

    python benchmarks/bench_target_panel.py
    python benchmarks/bench_target_panel.py --repeats 300

What is timed (median over ``--repeats``): one pointer move of a brush
stroke on :class:`~cnnwidgets.widgets.common.target_panel.TargetPanel`,
delivered as the browser delivers it (``_handle_frontend_event``): the
canvas point mapped to output pixels, the stroke extended, the mask drawn
with the previewed region (colours, image beneath, outline) and sent to the
canvas as a PNG. The stroke alternates between two points so that every
move changes the preview.

The floor ``DRAW`` is drawing a ready-made picture of the same size on a
canvas (``ImageCanvas.show``: the drawing lock, the fast PNG encoder, the
message to the browser; two pictures alternate so that each call sends),
the least any redraw of the mask costs, measured in the same run,
interleaved with the move. Maps of 32x32 (enlarged), 128x128 and 512x512
(drawn smaller than the map: the mask is rendered at the size shown). The
target is a ratio of at most 15: with no browser attached a draw costs about
0.3 ms here, so a move stays within a quarter of a 60 Hz frame, and a large
map costs no more than a small one drawn as large.
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

TARGET = 15.0
SIDES = (32, 128, 512)
DISPLAY = 256


def build_panel(side):
    """A TargetPanel on a one-layer 3-class segmenter with ``side`` x ``side`` input and output."""
    import keras
    import traitlets

    import cnnwidgets as cw
    from cnnwidgets.widgets.common.target_panel import TargetPanel
    from cnnwidgets.widgets.common.targets import RequestedTarget
    from cnnwidgets.widgets.common.traits import ImageArrayTrait

    class Owner(RequestedTarget):
        image = ImageArrayTrait()

        def __init__(self, inspector, image):
            self.inspector = inspector
            super().__init__()
            self.image = image
            self._update_prediction(self.image)

        @traitlets.observe("output")
        def _predict(self, change):
            self._update_prediction(self.image)

    keras.utils.set_random_seed(0)
    inp = keras.Input((side, side, 3))
    model = keras.Model(inp, keras.layers.Conv2D(3, 1, activation="softmax")(keras.layers.Rescaling(1 / 255)(inp)))
    image = np.random.default_rng(0).uniform(0, 255, (side, side, 3)).astype(np.float32)
    owner = Owner(cw.Inspector(model), image)
    return TargetPanel(owner, display_size=DISPLAY)


def bench_side(side, repeats):
    from cnnwidgets.widgets.common.canvas import ImageCanvas

    panel = build_panel(side)
    layer = panel.mouse_layer
    height, width = panel.mask_image.shape[:2]
    points = [(0.2 * width, 0.5 * height), (0.8 * width, 0.6 * height)]
    state = {"i": 0}

    def send(event, x, y):
        layer._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])

    send("mouse_down", *points[0])

    def move():
        state["i"] ^= 1
        send("mouse_move", *points[state["i"]])

    pictures = [panel.mask_image.copy(), 255 - panel.mask_image]
    pictures[1][..., 3] = 255
    canvas = ImageCanvas(width, height)

    def floor():
        state["f"] = 1 - state.get("f", 0)
        canvas.show(pictures[state["f"]])

    measurement = interleaved(move, floor, repeats, warmup=4)
    send("mouse_up", *points[state["i"]])
    assert panel.owner.region is not None, "the stroke did not set a region"
    return (height, width), measurement


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=150, help="timed moves per map size")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    print("TargetPanel brush-move benchmark -- medians as ratios to a floor measured in the same run")
    for line in machine_header():
        print(line)
    print("op = one mouse_move of a brush stroke (map point -> stroke -> mask_rgba with the preview -> PNG -> canvas)")
    print("DRAW = ImageCanvas.show of a ready same-size picture; ratio = median(op) / median(DRAW); paired = median "
          "of per-repeat ratios")
    header = ["map", "shown (px)", "median ms", "DRAW ms", "ratio", "paired", "target", "result"]
    rows, missed = [], False
    for side in SIDES:
        shown, m = bench_side(side, args.repeats)
        passed = m.ratio <= TARGET
        missed |= not passed
        rows.append([f"{side}x{side}", f"{shown[0]}x{shown[1]}", f"{m.op_median * 1e3:.2f}",
                     f"{m.floor_median * 1e3:.2f}", f"{m.ratio:.2f}x", f"{m.paired_ratio:.2f}x", f"<= {TARGET:g}x",
                     "PASS" if passed else "MISS"])
    print()
    print(format_table(header, rows))
    print(f"\ntotal {time.perf_counter() - started:.0f}s, {args.repeats} moves per map")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
