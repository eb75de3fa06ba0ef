"""Trait-level tests of SaliencyOverlay's trust panel and randomization check (no browser).

The numbers the panel shows must be exactly what ``Inspector.evaluate``
gives for the map the overlay shows, recomputed when the map changes, and the
latest request must win.
"""

import hashlib

import numpy as np
import pytest
import traitlets

keras = pytest.importorskip("keras")

from cnnwidgets import demo  # noqa: E402
from cnnwidgets.widgets.saliency_overlay import SaliencyOverlay  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    model = demo.digits_model()
    images, labels = demo.digits_samples()
    return model, images


@pytest.fixture
def view(digits):
    model, images = digits
    widget = SaliencyOverlay(model, images[42], class_names=demo.DIGIT_CLASS_NAMES)
    settle(widget)
    yield widget
    widget.stop()
    widget.trust.stop()
    widget.cascade.stop()
    settle(widget)


def settle(view):
    view.wait()
    view.trust.wait()


def expected(view, metric, **params):
    return view.inspector.evaluate(view.image, view.heatmap, view.target, metric, **params)


def test_panel_shows_the_curves_of_the_map_shown(view):
    results = view.trust.results
    assert list(results) == ["deletion", "insertion"]
    for metric in ("deletion", "insertion"):
        reference = expected(view, metric, steps=50)
        assert results[metric].score == pytest.approx(reference.score)
        assert results[metric].class_index == view.target
    lines = view.trust._lines
    np.testing.assert_allclose(lines.y[0], results["deletion"].probabilities)
    np.testing.assert_allclose(lines.x[1], results["insertion"].fractions)
    assert lines.labels[0].startswith("Deletion") and "\u2193" in lines.labels[0]
    assert f"{results['insertion'].score:.3f}" in view.trust.summary.value
    assert "Tomsett" in view.trust.summary.value


@pytest.mark.parametrize("change", ["method", "class_index", "layer", "method_params"])
def test_recomputed_when_the_map_changes(view, change):
    before = view.trust.results["deletion"]
    if change == "method":
        view.method = "integrated_gradients"
    elif change == "class_index":
        view.class_index = (view.target + 1) % 10
    elif change == "layer":
        view.layer = "conv2"
    else:
        view.method = "smoothgrad"
        settle(view)
        before = view.trust.results["deletion"]
        view.method_params = {**view.method_params, "samples": 7}
    settle(view)
    after = view.trust.results["deletion"]
    assert after is not before
    assert after.score == pytest.approx(expected(view, "deletion", steps=50).score)
    assert after.class_index == view.target


def test_latest_request_wins(view):
    for method in ("vanilla", "gradient_x_input", "smoothgrad", "gradcam"):
        view.method = method
    view.class_index = 3
    settle(view)
    assert view.trust.results["insertion"].score == pytest.approx(expected(view, "insertion", steps=50).score)
    assert view.trust.results["insertion"].class_index == 3


def test_panel_settings_road_and_steps(view):
    view.trust.road = True
    view.trust.steps = 20
    settle(view)
    assert list(view.trust.results) == ["deletion", "insertion", "road:most", "road:least"]
    assert len(view.trust.results["deletion"].fractions) == 21
    assert view.trust.results["road:least"].higher_is_better and not view.trust.results["road:most"].higher_is_better
    assert view.trust.results["road:most"].score == pytest.approx(expected(view, "road", order="most").score)
    with pytest.raises(traitlets.TraitError, match="steps"):
        view.trust.steps = 1
    with pytest.raises(traitlets.TraitError, match="unknown metric 'delete'"):
        view.trust.rank_metric = "delete"


def test_compare_ranks_the_compared_maps(view):
    view.compare_methods = ["vanilla", "smoothgrad", "gradcam"]
    view.compare = True
    settle(view)
    ranking = view.trust.ranking
    titles = [title for title, _ in view.compare_heatmaps]
    assert sorted(t for t, _ in ranking) == sorted(titles)
    scores = {title: expected_score for title, expected_score in (
        (t, view.inspector.evaluate(view.image, m, view.target, "deletion", steps=50).score)
        for t, m in view.compare_heatmaps)}
    assert [t for t, _ in ranking] == sorted(scores, key=scores.get)  # deletion: lower first
    assert "best first" in view.trust.ranking_table.value
    view.trust.rank_metric = "insertion"
    settle(view)
    scores = {t: view.inspector.evaluate(view.image, m, view.target, "insertion", steps=50).score
              for t, m in view.compare_heatmaps}
    assert [t for t, _ in view.trust.ranking] == sorted(scores, key=scores.get, reverse=True)


def test_cascade_strip_chart_and_large_view(view, digits):
    model, _ = digits
    digest = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in model.weights)).hexdigest()
    view.cascade.steps = 3
    view.cascade.run()
    view.cascade.wait()
    result = view.cascade.result
    assert result.method == "gradcam" and result.class_index == view.target
    assert len(result.labels) == 4 and len(view.cascade.step_views) == 4
    assert view.cascade._strip.children == tuple(view.cascade.step_views)
    assert [v.title for v in view.cascade.step_views][0] == "trained"
    assert view.cascade.step_views[-1].title.endswith("(all)")
    np.testing.assert_allclose(view.cascade._lines.y[0], result.spearman)
    np.testing.assert_allclose(result.maps[0], view.heatmap, atol=1e-5)
    for step, step_view in enumerate(view.cascade.step_views):
        assert step_view.canvas.image.any()
    view.cascade.selected_step = 2
    assert view.cascade.large_view.title.startswith("step 2")
    np.testing.assert_array_equal(view.cascade.large_view.canvas.image, view.cascade.step_views[2].canvas.image)
    assert view.cascade.step_views[2].layout.border.startswith("2px solid #")
    assert view.cascade.step_views[0].layout.border.endswith("transparent")
    with pytest.raises(traitlets.TraitError):
        view.cascade.selected_step = 9
    assert not view.cascade.stale
    view.class_index = (view.target + 1) % 10
    settle(view)
    assert view.cascade.stale and "press Run" in view.cascade.note.value
    assert view.cascade.result is result  # not rerun by itself: it is the slow part
    assert hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in model.weights)).hexdigest() == digest


def test_cascade_error_is_shown_not_raised(view):
    view.method = "smoothgrad"
    view.method_params = {**view.method_params, "samples": 3}
    settle(view)
    view.cascade.steps = 2
    view.cascade.run()
    view.cascade.wait()
    assert view.cascade.result.method == "smoothgrad"
    np.testing.assert_allclose(view.cascade.result.maps[0], view.heatmap, atol=1e-5)  # the overlay's parameters
    view.cascade._context = lambda: {"image": view.image, "method": "nope", "class_index": 0, "layer": ""}
    view.cascade.run()
    view.cascade.wait()
    assert "unknown explanation method &#x27;nope&#x27;" in view.cascade.note.value
