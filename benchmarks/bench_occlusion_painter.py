"""Benchmark the OcclusionPainter: the live loop per mouse move, and the sweep.

Run from the repository root::

    python benchmarks/bench_occlusion_painter.py                  # both models
    python benchmarks/bench_occlusion_painter.py --model digits --moves 200
    python benchmarks/bench_occlusion_painter.py --model mobilenet --moves 200 --sweeps 3
    python benchmarks/bench_occlusion_painter.py --model segmenter   # a Region target (not in "both")

1. Live loop: mouse event -> messages sent
------------------------------------------
Each sample delivers one ``mouse_move`` (button held) to the canvas exactly as
ipycanvas delivers a browser event (``_handle_frontend_event`` on the top
layer, on this thread) and waits until the widget is idle. The time measured
is from just before the event is handed over to the moment the *last*
message of that move was sent: the occluder rectangle (canvas commands),
the bqplot bars and reference bars, and the target-class text. "Sent" is
taken where the kernel would send: each of those widgets' comm
``publish_msg`` is wrapped so that it JSON-serializes the message and
touches its binary buffers, as ``ipykernel`` does before handing the bytes
to ZMQ, and then records ``perf_counter``. Without a kernel the comms are
``comm.DummyComm`` objects that drop the bytes after that.

Moves follow a serpentine path over the image, one image pixel per move, so
every move changes the square and costs one forward pass
(``Inspector.occlude``; nothing is cached). For MobileNetV2 the
classifier kernel is rescaled first (see :func:`wake_up_classifier`) so that
the untrained network's scores move with the occluder. The floor ``F`` is one bare
``tf.function`` forward pass of the model on one image (``model(x,
training=False)``, fixed input signature), timed right after each move, so
the two alternate on the same machine. Reported: median and 95th percentile
of the latency, and the target ``p95 <= 1.3 x median(F) + 5 ms``. On the
demo's tank segmenter (``--model segmenter``) the painter watches a Region
target: a move costs two passes (the target's score, and the output under the
occluder for the chart and the mask view), so its target is
``p95 <= 2 x 1.3 x median(F) + 5 ms``; on a busy
machine the forward pass itself has a long tail, so the paired form is given
too: the 95th percentile over moves of ``latency - 1.3 x F`` (each move
against the forward pass timed right after it) should be at most 5 ms. Also the
time the kernel's thread spends in the event handler (until it is free for
the next event or another cell).

2. Sweep vs tf-explain's approach
---------------------------------
``painter.sweep()`` (blocking; includes colouring and drawing the map) at
the widget's default patch and stride, with the inspector's caches cleared
before each run, against a reimplementation of tf-explain's
``OcclusionSensitivity``: every occluded copy is built in numpy and all of
them go through ``model.predict`` (Keras' default batch size, 32), then the
per-pixel mean drop is accumulated in numpy. Both use the same square
positions, so their maps are checked equal before timing. Interleaved, the
ratio is median(sweep) / median(reference); below 1 means faster.
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

from _timing import format_table, interleaved, machine_header, make_floors  # noqa: E402

DEFAULT_MOVES = 200
DEFAULT_SWEEPS = {"digits": 15, "mobilenet": 3, "segmenter": 15}


def load(which):
    """(model, painter, description) for ``which``."""
    import keras

    from cnnwidgets import demo
    from cnnwidgets.widgets.occlusion_painter import OcclusionPainter

    if which == "digits":
        model = demo.digits_model()
        images, _ = demo.digits_samples()
        painter = OcclusionPainter(model, images[93], class_names=demo.DIGIT_CLASS_NAMES)
        return model, painter, "embedded digits CNN, 28x28x1, 10 classes (canvas 336 px)"
    if which == "mobilenet":
        model = keras.applications.MobileNetV2(weights=None)
        rng = np.random.default_rng(0)
        image = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
        wake_up_classifier(model, keras.applications.mobilenet_v2.preprocess_input(image[None].astype("float32")))
        painter = OcclusionPainter(model, image, preprocess=keras.applications.mobilenet_v2.preprocess_input)
        return model, painter, "keras.applications.MobileNetV2(weights=None), 224x224x3, 1000 classes (canvas 448 px)"
    if which == "segmenter":
        images, masks = demo.tank_scenes(240, seed=0)
        model = demo.train_tank_segmenter(images, masks, epochs=10)
        scene = int(np.flatnonzero(masks.any(axis=(1, 2)))[0])
        painter = OcclusionPainter(model, images[scene], class_names=demo.SEGMENT_CLASS_NAMES, class_index="tank")
        return model, painter, ("demo tank segmenter, 32x32x3 -> 32x32x2 softmax, Region target: tank over its "
                                "predicted area (canvas 352 px)")
    raise ValueError(which)


def wake_up_classifier(model, batch):
    """Scale the last Dense kernel so that an untrained network's scores depend on its input.

    At random initialization MobileNetV2's activations shrink block after
    block (to ~1e-11 before the classifier), so its softmax is exactly
    uniform in float32 and no occluder changes any score: the widget would
    then (rightly) send no chart update. Multiplying the classifier kernel by
    a constant (logits with a standard deviation of about 3) makes the scores
    move with the occluder; the computation, and its cost, are unchanged.
    """
    import keras

    dense = model.layers[-1]
    features = np.asarray(keras.Model(model.input, dense.input)(batch))
    logits = features @ np.asarray(dense.kernel)
    dense.kernel.assign(np.asarray(dense.kernel) * (3.0 / float(logits.std())))


# ------------------------------------------------------------- send hooks
class SendLog:
    """Wraps widgets' comms so that each message is serialized and timestamped when sent."""

    def __init__(self):
        self.times = []
        self.tags = []
        self.messages = 0
        self.bytes = 0

    def hook(self, widget, tag=""):
        comm = widget.comm
        publish = comm.publish_msg

        def publish_and_record(msg_type, data=None, metadata=None, buffers=None, **keys):
            payload = json.dumps(data, separators=(",", ":"))  # what ipykernel's session does
            size = len(payload) + sum(memoryview(b).nbytes for b in (buffers or ()))
            publish(msg_type, data=data, metadata=metadata, buffers=buffers, **keys)
            self.times.append(time.perf_counter())
            self.tags.append(tag)
            self.messages += 1
            self.bytes += size

        comm.publish_msg = publish_and_record

    def clear(self):
        self.times.clear()
        self.tags.clear()


def serpentine(height, width, factor, count, patch):
    """``count`` canvas points, one image pixel apart, snaking over the image's interior."""
    lo, hi_r, hi_c = patch // 2, height - patch // 2 - 1, width - patch // 2 - 1
    points = []
    row, col, step = lo, lo, 1
    while len(points) < count:
        points.append(((col + 0.5) * factor, (row + 0.5) * factor))
        col += step
        if col > hi_c or col < lo:
            step = -step
            col += step
            row = row + 2 if row + 2 <= hi_r else lo
    return points


def percentile(values, q):
    return float(np.percentile(np.asarray(values), q))


def bench_live(model, painter, moves):
    """Latency of one move (event -> last message sent) and of the bare forward pass, interleaved."""
    insp = painter.inspector
    forward = make_floors(model, insp.input_shape)[0]
    _, model_input, _ = insp.prepare(painter.image)
    x = model_input[None]
    log = SendLog()
    log.hook(painter.canvas.widget._canvas_manager, "canvas")
    for widget in (painter.chart._bars, painter.chart._reference_bars, painter.target_label):
        log.hook(widget, "chart")
    layer = painter.canvas.mouse_layer
    height, width = painter.image.shape[:2]
    points = serpentine(height, width, painter.canvas.factor, moves + 5, painter.patch)
    layer._handle_frontend_event(None, {"event": "mouse_down", "x": points[0][0], "y": points[0][1]}, [])
    painter.wait()
    for _ in range(3):  # warm-up: trace, fill caches
        forward(x).numpy()
    latency, handler, floor, messages, charted = [], [], [], [], []
    boxes = set()
    for i, (px, py) in enumerate(points[1:]):
        log.clear()
        start = time.perf_counter()
        layer._handle_frontend_event(None, {"event": "mouse_move", "x": px, "y": py}, [])
        returned = time.perf_counter()
        painter.wait()
        t0 = time.perf_counter()
        forward(x).numpy()
        f = time.perf_counter() - t0
        if i < 5:  # warm-up moves
            continue
        boxes.add(painter.box)
        latency.append(max(log.times) - start)
        handler.append(returned - start)
        floor.append(f)
        messages.append(len(log.times))
        charted.append("chart" in log.tags)
    assert len(boxes) == len(latency), "every move must change the square"
    return dict(latency=latency, handler=handler, floor=floor, messages=messages, charted=charted, log=log)


def reference_sweep(model, insp, image, patch, stride, target):
    """tf-explain's OcclusionSensitivity approach: all occluded copies through ``model.predict``.

    ``target``: a class index, or a ``cnnwidgets.targets.Output(0, Region(...))`` (the summed probability).
    """
    from cnnwidgets.backend.occlusion import fill_image, patch_positions

    display = np.asarray(image, np.float32)
    if display.ndim == 2:
        display = display[..., None]
    height, width = display.shape[:2]
    grey = fill_image(display, "gray", insp.input_range)
    positions = [(y, x) for y in patch_positions(height, patch, stride) for x in patch_positions(width, patch, stride)]
    copies = np.repeat(display[None], len(positions) + 1, axis=0)  # the last copy is the uncovered image
    for i, (y, x) in enumerate(positions):
        copies[i, y : y + patch, x : x + patch] = grey[y : y + patch, x : x + patch]
    if insp.preprocess is not None:
        copies = insp.preprocess(copies)
    outputs = model.predict(copies, verbose=0)
    if isinstance(target, int):
        scores = outputs[:, target]
    else:  # a Region on a dense softmax output
        region = target.target
        scores = (outputs[..., region.class_index] * region.mask).sum(axis=(1, 2))
    base = scores[-1]
    total = np.zeros((height, width))
    count = np.zeros((height, width))
    for (y, x), score in zip(positions, scores[:-1]):
        total[y : y + patch, x : x + patch] += base - score
        count[y : y + patch, x : x + patch] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def bench_sweep(model, painter, repeats):
    insp = painter.inspector
    image, patch, stride = painter.image, painter.patch, painter.stride
    target = int(np.argmax(insp.predict(image))) if insp.is_classifier else painter.explained_target
    ours = painter.sweep()
    theirs = reference_sweep(model, insp, image, patch, stride, target)
    np.testing.assert_allclose(ours, theirs, atol=2e-4)
    measurement = interleaved(
        painter.sweep,
        lambda: reference_sweep(model, insp, image, patch, stride, target),
        repeats=repeats,
        warmup=1,
        op_setup=insp.clear_cache,
    )
    return measurement, patch, stride


def report(which, moves, sweeps):
    model, painter, description = load(which)
    painter.wait()
    print(f"\n== {which}: {description}")
    live = bench_live(model, painter, moves)
    lat, hnd, flo = live["latency"], live["handler"], live["floor"]
    f_med = statistics.median(flo)
    p50, p95 = statistics.median(lat), percentile(lat, 95)
    passes = 1 if painter.inspector.is_classifier else 2  # a target's score, and the output under the occluder
    allowance = 1.3 * passes
    target = allowance * f_med + 0.005
    # paired: each move against the forward pass timed right after it
    excess = [l - allowance * f for l, f in zip(lat, flo)]
    e95 = percentile(excess, 95)
    rows = [
        ["event -> last message sent", f"{p50 * 1e3:.2f}", f"{p95 * 1e3:.2f}",
         f"{p50 / f_med:.2f}x", f"{p95 / f_med:.2f}x", f"p95 <= {allowance:.1f} F + 5 = {target * 1e3:.2f} ms",
         "PASS" if p95 <= target else "MISS"],
        [f"  paired: latency - {allowance:.1f} x its F", f"{statistics.median(excess) * 1e3:.2f}", f"{e95 * 1e3:.2f}",
         "", "", "p95 <= 5 ms", "PASS" if e95 <= 0.005 else "MISS"],
        ["kernel thread busy in handler", f"{statistics.median(hnd) * 1e3:.2f}", f"{percentile(hnd, 95) * 1e3:.2f}",
         f"{statistics.median(hnd) / f_med:.2f}x", f"{percentile(hnd, 95) / f_med:.2f}x", "", ""],
        ["F: bare forward pass (floor)", f"{f_med * 1e3:.2f}", f"{percentile(flo, 95) * 1e3:.2f}", "1.00x",
         f"{percentile(flo, 95) / f_med:.2f}x", "", ""],
    ]
    print(f"live loop, {len(lat)} moves ({passes} forward pass(es) each), {sum(live['charted'])} of them changed the chart; "
          f"{statistics.median(live['messages']):.0f} messages per move, "
          f"{live['log'].bytes / max(1, live['log'].messages):.0f} bytes per message on average")
    print(format_table(["", "median ms", "p95 ms", "median/F", "p95/F", "target p95", "result"], rows))

    measurement, patch, stride = bench_sweep(model, painter, sweeps)
    from cnnwidgets.backend.occlusion import patch_positions

    positions = len(patch_positions(painter.image.shape[0], patch, stride))
    print(f"\nsweep, patch {patch}, stride {stride} ({positions}x{positions} positions), "
          f"{len(measurement.op)} runs each, interleaved; maps checked equal")
    print(format_table(
        ["", "median ms", "reference ms", "ratio", "paired"],
        [["painter.sweep() vs tf-explain approach", f"{measurement.op_median * 1e3:.1f}",
          f"{measurement.floor_median * 1e3:.1f}", f"{measurement.ratio:.2f}x", f"{measurement.paired_ratio:.2f}x"]],
    ))
    painter.stop()
    painter.wait()
    return p95 <= target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["digits", "mobilenet", "segmenter", "both"], default="both")
    parser.add_argument("--moves", type=int, default=DEFAULT_MOVES)
    parser.add_argument("--sweeps", type=int, default=None, help="sweep runs of each approach")
    args = parser.parse_args(argv)
    for line in machine_header():
        print(line)
    models = ["digits", "mobilenet"] if args.model == "both" else [args.model]
    for which in models:
        report(which, args.moves, args.sweeps or DEFAULT_SWEEPS[which])


if __name__ == "__main__":
    main()
