"""The inspector learns that the weights changed: versioned cache keys, no recompiling, no retracing."""

import threading

import numpy as np
import pytest

from cnnwidgets.backend.cache import ResultCache


@pytest.fixture(scope="module")
def untrained():
    import keras

    import cnnwidgets as cw

    keras.utils.set_random_seed(3)
    return cw.demo.build_digits_model()


@pytest.fixture(scope="module")
def image():
    import cnnwidgets as cw

    images, _ = cw.demo.digits_samples()
    return images[7]


def _views(insp, image):
    """Every kind of cached result the widgets show for one image."""
    return {
        "predict": insp.predict(image),
        "activations": insp.activations(image, "conv2"),
        "gradcam": insp.gradcam(image, 3, layer="conv3"),
        "saliency": insp.saliency(image, 3),
        "explain": insp.explain(image, "layercam", 3, layer="conv3"),
        "occlusion": insp.occlusion_map(image, 3, patch=7, stride=7),
        "occlude": insp.occlude(image, box=(0, 0, 14, 14)),
        "maximize": insp.maximize("conv1", [0, 1], steps=3).images,
        "filters": insp.filters("conv1"),
    }


def _perturb(model, scale=0.3, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([w + scale * rng.standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()])


def test_cache_version_is_part_of_every_key():
    cache = ResultCache()
    cache.put("a", np.ones(2))
    assert cache.get("a") is not None
    cache.version = 1
    assert cache.get("a") is None, "a result from version 0 was returned for version 1"
    cache.put("a", np.zeros(2))
    cache.version = 0
    np.testing.assert_array_equal(cache.get("a"), np.ones(2))  # back to old weights: found again


def test_a_computation_that_outlives_a_weights_change_is_filed_under_its_own_version():
    cache = ResultCache()
    assert cache.get("k") is None  # miss at version 0 ...
    cache.version = 1  # ... the weights change while it computes ...
    cache.put("k", np.full(2, 7.0))  # ... and it lands under version 0
    assert cache.get("k") is None
    cache.version = 0
    np.testing.assert_array_equal(cache.get("k"), np.full(2, 7.0))


def test_get_or_compute_keeps_the_version_it_started_with():
    cache = ResultCache()

    def compute():
        cache.version = 5  # the weights changed during the computation
        return np.ones(1)

    cache.get_or_compute("k", compute)
    assert cache.get("k") is None
    assert cache.get("k", version=0) is not None


def test_pending_versions_are_per_thread():
    cache = ResultCache()
    assert cache.get("k") is None  # this thread saw version 0
    cache.version = 1

    def other():
        cache.put("k", np.ones(1))  # another thread, no get: the current version

    worker = threading.Thread(target=other)
    worker.start()
    worker.join()
    assert cache.get("k") is not None


def test_weights_changed_gives_fresh_results_without_retracing(untrained, image):
    import cnnwidgets as cw

    insp = cw.Inspector(untrained)
    before = _views(insp, image)
    assert set(insp.trace_counts.values()) == {1}
    traced = dict(insp.trace_counts)
    version = insp.weights_version
    _perturb(untrained)
    stale = _views(insp, image)
    # Without being told, the cache answers from the old weights (documented: call weights_changed).
    np.testing.assert_array_equal(stale["activations"], before["activations"])
    new_version = insp.weights_changed()
    assert new_version != version and insp.weights_version == new_version
    after = _views(insp, image)
    fresh = _views(cw.Inspector(untrained), image)
    for name in after:
        np.testing.assert_allclose(after[name], fresh[name], rtol=1e-5, atol=1e-6, err_msg=name)
        assert not np.allclose(after[name], before[name]), f"{name} did not change with the weights"
    assert dict(insp.trace_counts) == traced, "new weights retraced a compiled function"
    assert set(insp.trace_counts.values()) == {1}


def test_going_back_to_a_version_finds_its_results(untrained, image):
    import cnnwidgets as cw

    insp = cw.Inspector(untrained)
    weights = untrained.get_weights()
    first = insp.weights_changed(("epoch", 1))
    acts_1 = insp.activations(image, "conv1")
    _perturb(untrained, seed=1)
    insp.weights_changed(("epoch", 2))
    acts_2 = insp.activations(image, "conv1")
    assert not np.allclose(acts_1, acts_2)
    untrained.set_weights(weights)
    hits = insp._cache.hits
    insp.weights_changed(first)
    np.testing.assert_array_equal(insp.activations(image, "conv1"), acts_1)
    assert insp._cache.hits > hits
