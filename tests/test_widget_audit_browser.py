"""AuditBrowser at trait level: clusters drawn, scatter selection, Explorer on click, run/stop."""

import numpy as np
import pytest

import cnnwidgets as cw
from cnnwidgets.widgets.audit_browser.panels import cluster_row, representatives


@pytest.fixture(scope="module")
def digits_audit():
    images, labels = cw.demo.digits_samples()
    model = cw.demo.digits_model()
    return model, images[:60], cw.audit(model, (images[:60], labels[:60]), class_names=cw.demo.DIGIT_CLASS_NAMES)


def test_browser_shows_the_clusters_of_the_largest_class(digits_audit):
    model, images, result = digits_audit
    browser = cw.AuditBrowser(result)
    counts = {int(c): len(result.rows(c)) for c in result.classes()}
    assert browser.audit_class == max(counts, key=counts.get)
    found = browser.clusters
    assert len(browser.scatter.x) == len(found.rows) and len(browser.scatter.colors) == len(found.rows)
    assert browser.clusters_canvas.image.shape[0] > 40
    every = {box[4] for box in browser._boxes}
    assert every <= set(found.rows.tolist()) and every
    other = next(c for c in counts if c != browser.audit_class)
    browser.class_picker.value = other
    assert browser.audit_class == other and len(browser.scatter.x) == counts[other]
    browser.n_clusters = 2
    assert browser.clusters.n_clusters == 2 and browser.cluster_picker.value == 2


def test_scatter_selection_shows_images_and_a_click_opens_an_explorer(digits_audit):
    model, images, result = digits_audit
    browser = cw.AuditBrowser(result)
    found = browser.clusters
    browser.scatter.selected = [0, 1, 2]
    assert browser.selected == [int(r) for r in found.rows[:3]]
    assert len(browser._selection_boxes) == 3 and "3 images selected" in browser.selection_label.value
    y0, x0, y1, x1, index = browser._selection_boxes[1]
    browser._pick(browser._selection_boxes, (x0 + x1) / 2, (y0 + y1) / 2)
    assert browser.image_index == index == int(found.rows[1])
    explorer = browser.explorer
    assert explorer is not None and explorer.inspector is cw.Inspector.for_model(model)
    np.testing.assert_array_equal(explorer.images[0], images[index])
    assert explorer.image_index == 0
    np.testing.assert_array_equal(browser.image, result.image(index))  # the vocabulary's read-only image
    assert explorer.layer == result.meta["layer"] and explorer.saliency_overlay.method == "gradcam"
    browser.image_index = -1
    assert browser.explorer is None and browser.explorer_box.children == () and browser.image is None


def test_cluster_rows_show_the_most_typical_images_first(digits_audit):
    _, _, result = digits_audit
    cluster = result.clusters(int(result.classes()[0])).clusters[0]
    ordered = representatives(np.asarray(result.maps[cluster.rows]), cluster.rows, cluster.mean_map)
    assert sorted(ordered.tolist()) == sorted(cluster.rows.tolist())
    rgba, boxes = cluster_row(result, cluster, tile=20, count=4)
    assert rgba.dtype == np.uint8 and rgba.shape[-1] == 4
    assert [b[4] for b in boxes] == ordered[:4].tolist()
    for y0, x0, y1, x1, _ in boxes:
        assert y1 <= rgba.shape[0] and x1 <= rgba.shape[1]


def test_run_shows_progress_and_stop_keeps_what_was_done(digits_audit):
    model, images, _ = digits_audit
    browser = cw.AuditBrowser.run(model, images, batch_size=20)
    browser.wait(120)
    assert browser.result is not None and len(browser.result) == len(images) and browser.result.complete
    assert browser.progress.layout.display == "none"

    stopping = cw.AuditBrowser()
    stopping.start(model, images, batch_size=20, progress=lambda done, total: stopping.stop())
    stopping.wait(120)
    assert len(stopping.result) == 20 and not stopping.result.complete
    assert "stopped early" in stopping.summary.value


def test_errors_are_shown_and_the_browser_keeps_working(digits_audit):
    model, images, result = digits_audit
    browser = cw.AuditBrowser.run(model, images, method="no-such-method")
    browser.wait(60)
    assert "no-such-method" in browser.status.value and browser.result is None
    browser.show_result(result)
    assert browser.result is result
    with pytest.raises(cw.InvalidParameterError):
        browser.show_result(result, audit_class=99)
