"""Every catalogue method's deletion and insertion AUC, averaged over the shipped data.

Run from the repository root (about 10 minutes on 2 busy cores)::

    python benchmarks/faithfulness_table.py               # prints the README's markdown table
    python benchmarks/faithfulness_table.py --limit 20    # fewer images, a quick look

Data: the 100 held-out digits of ``cnnwidgets.demo.digits_samples()`` on the
embedded digits CNN, and the tank story's 200 held-out test scenes
(``tank_data(200, confounded=True, seed=1)``) on the flawed tank model trained as
in ``notebooks/05_tank_story.ipynb`` (``train_tank_model`` on
``tank_data(400, confounded=True, seed=0)``, 12 epochs, seed 0). Each method
explains the predicted class with its default parameters and its default
layer; deletion uses its default fill (black), insertion its default (blur,
sigma 5), 50 steps each. A uniformly random map is the reference row.

Deletion: lower is better. Insertion: higher is better. The two can rank the
methods differently, and both depend on the fill (Tomsett et al. 2020,
"Sanity Checks for Saliency Metrics").
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root

import numpy as np  # noqa: E402


def data_sets(limit):
    import cnnwidgets as cw
    from cnnwidgets.demo import TANK_CLASS_NAMES, tank_data, train_tank_model

    digits, _ = cw.demo.digits_samples()
    yield "digits", cw.Inspector(cw.demo.digits_model()), digits[:limit]
    train_images, train_labels = tank_data(400, confounded=True, seed=0)
    model = train_tank_model(train_images, train_labels, epochs=12, seed=0)
    test_images, _ = tank_data(200, confounded=True, seed=1)
    yield "tank", cw.Inspector(model, class_names=TANK_CLASS_NAMES), test_images[:limit]


def mean_aucs(insp, images, maps):
    deletion = [insp.evaluate(img, m, metric="deletion").score for img, m in zip(images, maps)]
    insertion = [insp.evaluate(img, m, metric="insertion").score for img, m in zip(images, maps)]
    insp.clear_cache()
    return float(np.mean(deletion)), float(np.mean(insertion))


def main(argv=None):
    import cnnwidgets as cw

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images of each set")
    args = parser.parse_args(argv)
    results = {}
    names = []
    for data_name, insp, images in data_sets(args.limit):
        names.append(f"{data_name} ({len(images)})")
        rng = np.random.default_rng(0)
        rows = [("uniform random map (reference)", rng.random((len(images),) + images.shape[1:3]))]
        for spec in cw.methods():
            start = time.perf_counter()
            rows.append((spec.label, insp.explain_batch(images, spec.name)))
            print(f"[{data_name}] {spec.name}: maps in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        for label, maps in rows:
            results.setdefault(label, []).extend(mean_aucs(insp, images, maps))
    header = "| method | " + " | ".join(f"{n} deletion ↓ | {n} insertion ↑" for n in names) + " |"
    lines = [header, "|---" * (1 + 2 * len(names)) + "|"]
    for label, values in results.items():
        lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
