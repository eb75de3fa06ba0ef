"""Benchmark cw.audit: batched audit vs a plain loop over insp.gradcam, and the Ray engine's overhead.

Run from the repository root::

    python benchmarks/bench_audit.py                       # digits and MobileNetV2 160, then Ray
    python benchmarks/bench_audit.py --model digits --no-ray
    python benchmarks/bench_audit.py --repeats 5

Rows (images per second, medians of interleaved repeats, and their ratio):

* ``audit vs loop``: ``cw.audit(model, images, method="gradcam")`` (default
  engine, batches of ``--batch-size``: prediction, Grad-CAM, downsampled map
  and thumbnail of every image) against the floor a user would write without
  it, ``[insp.gradcam(image) for image in images]`` with the inspector's
  cache cleared first. Target: the audit is at least 3x faster (batching).
* ``ray vs default``: the same audit with ``engine="ray"`` on a local Ray
  (``num_cpus`` = this machine's usable CPUs, started before timing: what
  is timed includes the actors' start and the model's shipping) against the
  default engine. Reported as a ratio and as seconds more per call (mostly
  the actors' start: each imports TensorFlow and loads the model), no
  target: on one machine Ray can only add cost; it pays off on a cluster.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # the repository root, for an uninstalled cnnwidgets

import numpy as np  # noqa: E402

from _timing import format_table, interleaved, machine_header  # noqa: E402

#: Images per model (digits: the embedded samples; MobileNetV2: random uint8 160x160x3).
DEFAULT_IMAGES = {"digits": 256, "mobilenet": 64}
TARGET_SPEEDUP = 3.0


def load(name, count):
    import cnnwidgets as cw

    if name == "digits":
        images, _ = cw.demo.digits_samples()
        reps = -(-count // len(images))
        return cw.demo.digits_model(), None, np.concatenate([images] * reps)[:count]
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(160, 160, 3))
    images = np.random.default_rng(0).integers(0, 256, (count, 160, 160, 3), dtype=np.uint8)
    return model, keras.applications.mobilenet_v2.preprocess_input, images


def bench_model(name, count, repeats, batch_size):
    import cnnwidgets as cw

    model, preprocess, images = load(name, count)
    insp = cw.Inspector.for_model(model, preprocess=preprocess, cache_size=4 * count)

    def audit():
        cw.audit(insp, images, method="gradcam", batch_size=batch_size)

    def loop():
        for image in images:
            insp.gradcam(image)

    m = interleaved(audit, loop, repeats, warmup=1, floor_setup=insp.clear_cache)
    speedup = m.floor_median / m.op_median
    return [f"{name} audit vs loop ({count} images)", f"{count / m.op_median:.1f}", f"{count / m.floor_median:.1f}",
            f"{speedup:.2f}x faster", f">= {TARGET_SPEEDUP:.0f}x", "ok" if speedup >= TARGET_SPEEDUP else "MISS"]


def bench_ray(count, repeats, batch_size):
    import ray

    import cnnwidgets as cw
    from cnnwidgets.backend.audit.ray_engine import ensure_ray

    model, _, images = load("digits", count)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ensure_ray(num_cpus=cpus)  # retries a start that a busy machine made fail
    try:
        def on_ray():
            cw.audit(model, images, batch_size=batch_size, engine="ray")

        def default():
            cw.audit(model, images, batch_size=batch_size)

        m = interleaved(on_ray, default, repeats, warmup=1)
    finally:
        ray.shutdown()
    return [f"digits ray vs default ({count} images, {cpus} CPUs)", f"{count / m.op_median:.1f}",
            f"{count / m.floor_median:.1f}", f"{m.ratio:.1f}x the time",
            f"{m.op_median - m.floor_median:.1f} s more a call", "overhead"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["digits", "mobilenet", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray engine row")
    args = parser.parse_args()
    print("\n".join(machine_header()))
    rows = []
    for name in (["digits", "mobilenet"] if args.model == "all" else [args.model]):
        rows.append(bench_model(name, DEFAULT_IMAGES[name], args.repeats, args.batch_size))
        print(rows[-1], flush=True)
    if not args.no_ray:
        rows.append(bench_ray(DEFAULT_IMAGES["digits"], args.repeats, args.batch_size))
    print()
    print(format_table(["row", "op img/s", "floor img/s", "result", "target", ""], rows))


if __name__ == "__main__":
    main()
