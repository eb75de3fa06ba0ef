"""Sanity checks for saliency maps (Adebayo et al., NeurIPS 2018, "Sanity Checks for Saliency Maps").

A map that explains the *model* must change when the model's weights are
replaced by random ones. We clone the embedded digits CNN with fresh random
weights (``keras.models.clone_model`` re-initializes every layer; seeded),
both all at once and layer by layer from the top ("cascading"), and measure
the Spearman rank correlation between the trained model's maps and the
randomized model's maps on ten held-out digits, one per class. The trained
model compared with itself gives 1; a method that merely outlines the
digit (an edge detector) would keep a high correlation.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cnnwidgets import demo  # noqa: E402
from cnnwidgets.backend import Inspector  # noqa: E402

#: One held-out digit per class (the samples are sorted by class, 10 each).
SAMPLE_INDICES = tuple(range(0, 100, 10))
#: Mean Spearman correlation a method must stay below after randomization.
THRESHOLD = 0.5


def rank(values):
    """Ranks 0..n-1 of the flattened values, ties given their mean rank."""
    values = np.asarray(values, np.float64).ravel()
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, np.float64)
    ranks[order] = np.arange(values.size)
    _, groups, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.bincount(groups, weights=ranks) / counts)[groups]


def spearman(a, b):
    """Spearman rank correlation of two maps (0 when either is constant)."""
    ra, rb = rank(a), rank(b)
    ra -= ra.mean()
    rb -= rb.mean()
    scale = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / scale) if scale > 0 else 0.0


def test_spearman_matches_its_definition():
    x = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    assert spearman(x, x**3 + 7) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    # ties get their mean rank: ranks of [1, 2, 2, 3] are [0, 1.5, 1.5, 3]
    assert rank([1, 2, 2, 3]).tolist() == [0.0, 1.5, 1.5, 3.0]
    # textbook example (n = 5): d^2 sum 4 -> rho = 1 - 6*4/(5*24) = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert spearman(np.zeros(4), x[:4]) == 0.0


@pytest.fixture(scope="module")
def digits():
    model = demo.digits_model()
    images, labels = demo.digits_samples()
    keras.utils.set_random_seed(0)
    randomized = keras.models.clone_model(model)  # same architecture, fresh random weights
    return model, Inspector(model), Inspector(randomized), randomized, images, labels


def _maps(inspector, method, images, labels):
    if method == "gradcam":
        return [inspector.gradcam(images[i], int(labels[i])) for i in SAMPLE_INDICES]
    return [inspector.saliency(images[i], int(labels[i]), method="vanilla") for i in SAMPLE_INDICES]


def _mean_correlation(maps_a, maps_b):
    return float(np.mean([spearman(a, b) for a, b in zip(maps_a, maps_b)]))


@pytest.mark.parametrize("method", ["gradcam", "vanilla"])
def test_full_randomization_changes_the_maps(digits, method):
    model, trained, randomized, _, images, labels = digits
    trained_maps = _maps(trained, method, images, labels)
    self_correlation = _mean_correlation(trained_maps, _maps(trained, method, images, labels))
    random_correlation = _mean_correlation(trained_maps, _maps(randomized, method, images, labels))
    assert self_correlation == pytest.approx(1.0)
    assert random_correlation < THRESHOLD, (method, random_correlation)
    assert random_correlation < self_correlation - 0.4


def test_cascading_randomization_changes_the_maps(digits):
    """Randomize the weighted layers one by one from the output down (Adebayo et al.'s cascade).

    Randomizing the last Dense layer alone is a weak change (with some seeds
    its random class weights happen to agree with the trained ones), so it is
    reported but not checked; from the second stage on, both maps must have
    changed substantially.
    """
    model, trained, _, randomized, images, labels = digits
    trained_maps = {m: _maps(trained, m, images, labels) for m in ("gradcam", "vanilla")}
    weighted = [layer.name for layer in model.layers if layer.weights]
    cascade = keras.models.clone_model(model)
    cascade.set_weights(model.get_weights())
    stages = []
    for name in reversed(weighted):
        cascade.get_layer(name).set_weights(randomized.get_layer(name).get_weights())
        inspector = Inspector(cascade)  # fresh caches and compiled functions for the new weights
        stages.append((name, {m: _mean_correlation(trained_maps[m], _maps(inspector, m, images, labels))
                              for m in trained_maps}))
    assert [name for name, _ in stages] == ["predictions", "dense1", "conv3", "conv2", "conv1"]
    for name, correlations in stages[1:]:
        assert max(correlations.values()) < THRESHOLD, stages


def test_widget_shows_the_randomized_models_map(digits):
    """What a user sees in the widget for the randomized model is that model's map."""
    from cnnwidgets.widgets.saliency_overlay import SaliencyOverlay

    _, trained, randomized_inspector, _, images, labels = digits
    image, label = images[30], int(labels[30])
    view = SaliencyOverlay(randomized_inspector, image, class_index=label)
    view.wait()
    np.testing.assert_allclose(view.heatmap, randomized_inspector.gradcam(image, label), rtol=1e-6)
    assert spearman(view.heatmap, trained.gradcam(image, label)) < THRESHOLD
