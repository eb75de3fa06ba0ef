"""What a LayerBrowser sends to the browser per layer switch, and how long a switch takes.

Run from the repository root::

    python benchmarks/bench_layer_browser.py                     # all models
    python benchmarks/bench_layer_browser.py --model vgg16 --layers 0
    python benchmarks/bench_layer_browser.py --model mobilenet_nested --repeats 10

For every model, the browser is shown, then switched through its layers
(``--layers N`` evenly spaced layers, 0 for all of them). Each switch is one
``browser.layer = path`` followed by ``browser.wait()``; everything the
kernel sends to the front end meanwhile is counted by wrapping
``ipywidgets.Widget._send`` (JSON state, canvas commands and binary
buffers), and the PNG part by wrapping the encoder every canvas sends
through (``cnnwidgets.widgets.common.canvas.encode_png_fast``).
The budget is 1 MiB per switch.

Also reported: an image switch (a new input: preview, chart, maps), a group
expansion (clicking a collapsed block, which re-sends the diagram), and the
switch time as a RATIO to a floor measured in the same run, interleaved with
it: one bare forward pass of the model (``Inspector.predict_batch`` on a new
image). A switch reuses the cached activations of the input, so the ratio
says how much the drawing costs relative to running the network once.

Models: ``digits`` (the embedded default), ``vgg16`` (``VGG16(weights=None)``,
23 layers, 224x224x3), ``mobilenet`` (``MobileNetV2(weights=None)``, 155
layers) and ``mobilenet_nested`` (MobileNetV2 without its top as the base of
a Sequential classifier) and ``segmenter`` (that base under a 1x1 conv, a
32x bilinear upsampling and a softmax: a dense ``224x224x21`` output, whose
map head the image switch redraws). No weights are downloaded.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # the repository root, for an uninstalled cnnwidgets

import numpy as np  # noqa: E402

from _timing import format_table, interleaved, machine_header  # noqa: E402

BUDGET = 1024 * 1024
MODELS = ("digits", "vgg16", "mobilenet", "mobilenet_nested", "segmenter")


class SendCounter:
    """Counts bytes sent to the front end (all widgets) and the PNG bytes among them."""

    def __init__(self):
        from ipywidgets import Widget

        from cnnwidgets.widgets.common import canvas as canvas_module

        self.total = 0
        self.png = 0
        self._widget_send = Widget._send
        self._encode = canvas_module.encode_png_fast
        counter = self

        def send(widget, msg, buffers=None):
            counter.total += len(json.dumps(msg, default=str).encode())
            counter.total += sum(memoryview(b).nbytes for b in buffers or ())
            return counter._widget_send(widget, msg, buffers)

        def encode(array):
            data = counter._encode(array)
            counter.png += len(data)
            return data

        Widget._send = send
        canvas_module.encode_png_fast = encode

    def reset(self):
        self.total = self.png = 0


def build_model(name):
    import keras

    import cnnwidgets as cw

    if name == "digits":
        return cw.demo.digits_model()
    if name == "vgg16":
        return keras.applications.VGG16(weights=None)
    if name == "mobilenet":
        return keras.applications.MobileNetV2(weights=None)
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(224, 224, 3))
    if name == "segmenter":
        inputs = keras.Input((224, 224, 3))
        scores = keras.layers.Conv2D(21, 1, name="class_scores")(base(inputs))
        scores = keras.layers.UpSampling2D(32, interpolation="bilinear", name="upsample")(scores)
        return keras.Model(inputs, keras.layers.Softmax(name="segmentation")(scores), name="voc_segmenter")
    return keras.Sequential(
        [keras.Input((224, 224, 3)), base, keras.layers.GlobalAveragePooling2D(name="pool"),
         keras.layers.Dense(5, activation="softmax", name="classes")],
        name="flowers_classifier",
    )


def pick_layers(records, count):
    if count <= 0 or count >= len(records):
        return list(records)
    step = len(records) / count
    return [records[int(i * step)] for i in range(count)]


def kib(n):
    return f"{n / 1024:,.0f} KiB"


def bench(name, layer_count, repeats):
    import cnnwidgets as cw

    counter = SendCounter()
    model = build_model(name)
    start = time.perf_counter()
    browser = cw.LayerBrowser(model)
    browser.wait(600)
    shown_after = time.perf_counter() - start
    print(f"\n== {name}: {len(browser.records)} layers; shown in {shown_after:.1f} s "
          f"(model built, first forward pass traced); diagram {browser.diagram.canvas.image.shape[1]}x"
          f"{browser.diagram.canvas.image.shape[0]} px", flush=True)

    rows, totals, pngs = [], [], []
    for record in pick_layers(browser.records, layer_count):
        counter.reset()
        browser.layer = record.path
        browser.wait(600)
        frame = browser.frame
        layout = frame.layout
        shape = "×".join(str(d) for d in record.output_shape)
        how = (f"{layout.count} tiles, stride {layout.stride}, x{layout.scale}" if frame.kind == "spatial"
               else f"{layout.count} units ({layout.style})")
        totals.append(counter.total)
        pngs.append(counter.png)
        rows.append((record.path, shape, how, kib(counter.png), kib(counter.total)))
    rows.sort(key=lambda r: -float(r[-1].split()[0].replace(",", "")))
    print(format_table(("layer", "output", "page drawn", "PNG", "sent"), rows[:8]))
    print(f"layer switches: {len(totals)}; sent per switch: median {kib(statistics.median(totals))}, "
          f"max {kib(max(totals))} ({rows[0][0]}); PNG median {kib(statistics.median(pngs))}, "
          f"max {kib(max(pngs))}; budget {kib(BUDGET)}: {'PASS' if max(totals) <= BUDGET else 'FAIL'}")

    # A new input (the preview, the chart and the maps change).
    rng = np.random.default_rng(0)
    low, high = browser.inspector.input_range
    shape = tuple(d or 224 for d in browser.inspector.input_shape)
    counter.reset()
    browser.set_image(rng.uniform(low, high, shape).astype(np.float32))
    browser.wait(600)
    print(f"image switch ({browser.layer}): sent {kib(counter.total)} (PNG {kib(counter.png)})")

    # Expanding a collapsed group re-sends the diagram.
    collapsed = [b for b in browser.diagram.layout.boxes if b.action == "expand"]
    if collapsed:
        box = collapsed[len(collapsed) // 2]
        counter.reset()
        browser.diagram.canvas.mouse_layer._handle_frontend_event(
            None, {"event": "mouse_down", "x": box.center[0], "y": box.center[1]}, [])
        browser.wait(600)
        print(f"expand {box.key}: sent {kib(counter.total)} (PNG {kib(counter.png)}); diagram now "
              f"{browser.diagram.canvas.image.shape[1]}x{browser.diagram.canvas.image.shape[0]} px")

    # Time of a layer switch relative to one bare forward pass.
    spatial = [r.path for r in browser.records if r.is_spatial][:: max(1, len(browser.records) // 12)] or [
        browser.records[0].path]
    cycle = {"i": 0}

    def switch():
        cycle["i"] += 1
        browser.layer = spatial[cycle["i"] % len(spatial)]
        browser.wait(600)

    def forward():
        image = rng.uniform(low, high, shape).astype(np.float32)
        if browser.inspector.is_classifier:
            browser.inspector.predict_batch(image[None])
        else:  # (a new image each time: never a cache hit)
            browser.inspector.predict_outputs(image)

    timing = interleaved(switch, forward, repeats)
    print(f"layer switch {timing.op_median * 1e3:.0f} ms vs forward pass {timing.floor_median * 1e3:.0f} ms: "
          f"ratio {timing.ratio:.2f} (paired {timing.paired_ratio:.2f})")
    browser.stop()
    return max(totals) <= BUDGET


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=MODELS + ("all",), default="all")
    parser.add_argument("--layers", type=int, default=40, help="layers to switch through (0: all)")
    parser.add_argument("--repeats", type=int, default=10, help="timed switches (and forward passes)")
    args = parser.parse_args()
    print("\n".join(machine_header()))
    names = MODELS if args.model == "all" else (args.model,)
    passed = [bench(name, args.layers, args.repeats) for name in names]
    print(f"\nbyte budget ({kib(BUDGET)} per layer switch): {'PASS' if all(passed) else 'FAIL'}")
    return 0 if all(passed) else 1


if __name__ == "__main__":
    sys.exit(main())
