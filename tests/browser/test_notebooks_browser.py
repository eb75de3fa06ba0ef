"""Every notebook in ``notebooks/`` in a real JupyterLab: run all, every widget drawn, each kind used once.

For each notebook (a copy in the server's root; the notebooks need no other
file) the test runs all cells, waits for every widget view, checks that the
main canvas of every visible cnnwidgets widget shows something, and then
uses the first visible widget of each kind once, as a person would:

* LayerBrowser: click a block of the architecture diagram (the layer menu,
  the diagram highlight and the feature maps change);
* FilterGrid: the next page (or, for a one-page layer, a click on a tile);
* OcclusionPainter: drag the occluder across the image (beyond classifiers, the values read in
  its target panel change too);
* SaliencyOverlay: click the second class button (the map changes); on a model that is not a
  classifier (a segmenter), paint a region on the predicted mask of its target panel instead;
* AuditBrowser: click the first image of the first cluster (an Explorer opens on it).

Widgets inside an Explorer are reached through its tabs. A LayerBrowser that shows output heads
(lesson 10's two-headed model) must show every head the notebook expects (``HEADS``). The interacted
canvases must change pixels; screenshots go to
``tests/artifacts/screenshots/notebook-<notebook>-<widget>.png``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: Seconds for running a notebook and rendering its widgets (MobileNetV2 needs more).
SLOW_NOTEBOOKS = {"06_your_own_model.ipynb": 420}
TIMEOUT = 240

#: Stable CSS classes: the widget, and its canvas that must show something.
WIDGETS = {
    "layer-browser": (".cnnwidgets-layer-browser", ".cnnwidgets-feature-maps"),
    "filter-grid": (".cnnwidgets-filter-grid-widget", "canvas.cnnwidgets-filter-grid"),
    "occlusion-painter": (".cnnwidgets-occlusion-painter", ".cnnwidgets-occlusion-canvas"),
    "saliency-overlay": (".cnnwidgets-saliency", "canvas.cnnwidgets-saliency-overlay"),
    "audit-browser": (".cnnwidgets-audit-browser", ".cnnwidgets-audit-clusters"),
}
#: Title of each widget's tab in an Explorer.
EXPLORER_TABS = {"layer-browser": "Layers", "filter-grid": "Filters", "occlusion-painter": "Occlusion",
                 "saliency-overlay": "Saliency"}
#: The output heads a notebook's LayerBrowser shows, by kind (CSS class ``cnnwidgets-output-head-<kind>``).
HEADS = {"10_beyond_classification.ipynb": ("map", "values")}
#: Diagram points tried in turn until one selects another layer: the first row of blocks
#: (digits CNN: conv2, a conv layer, so that a linked FilterGrid shows filters; MobileNetV2: Conv1_relu).
DIAGRAM_CLICKS = [(298, 86), (282, 90), (230, 86), (200, 90), (162, 86)]


def _drawn(harness):
    return lambda px: not harness.is_blank(px, 10)


def _poll(condition, timeout, interval=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


# --------------------------------------------------------------- interactions
def _use_layer_browser(page, harness, widget, timeout):
    diagram = widget.locator(".cnnwidgets-layer-diagram").first
    maps = widget.locator(".cnnwidgets-feature-maps").first
    menu = widget.locator(".cnnwidgets-layer-select select").first
    diagram_before = harness.wait_for_pixels(page, diagram, _drawn(harness), timeout=timeout,
                                             message="the LayerBrowser diagram to be drawn")
    maps_before = harness.canvas_pixels(page, maps)
    layer_before = menu.input_value()
    for x, y in DIAGRAM_CLICKS:
        diagram.click(position={"x": x, "y": y})
        if _poll(lambda: menu.input_value() != layer_before, 5):
            break
    else:
        pytest.fail(f"no click on the diagram at {DIAGRAM_CLICKS} selected another layer than {layer_before!r}")
    harness.wait_for_pixels(page, diagram, harness.changed(diagram_before), timeout=30,
                            message=f"the diagram highlight to move to {menu.input_value()}")
    harness.wait_for_pixels(page, maps, harness.changed(maps_before), timeout=timeout,
                            message=f"the feature maps to change to {menu.input_value()}")
    return f"layer {layer_before} -> {menu.input_value()}"


def _use_filter_grid(page, harness, widget, timeout):
    grid = widget.locator("canvas.cnnwidgets-filter-grid").first
    before = harness.canvas_pixels(page, grid)
    next_page = widget.locator("button.cnnwidgets-filter-next").first
    if next_page.is_enabled():
        label = widget.inner_text()
        next_page.click()
        # a page of "what excites it" is synthesized in the background: give it time
        harness.wait_for_pixels(page, grid, harness.changed(before), timeout=max(timeout, 180),
                                message="the filter grid to show the next page")
        assert widget.inner_text() != label
        return "next page"
    grid.click(position={"x": 34, "y": 34})  # one page only: select the first tile
    harness.wait_for_pixels(page, grid, harness.changed(before), timeout=timeout,
                            message="the filter grid to outline the clicked tile")
    widget.locator("canvas.cnnwidgets-filter-detail").first.wait_for(state="visible", timeout=timeout * 1000)
    return "tile click"


def _drag(page, locator, points, steps=6):
    """Press at the first point, move through the others, release; points as fractions of ``locator``'s box."""
    box = locator.bounding_box()
    at = lambda fx, fy: (box["x"] + fx * box["width"], box["y"] + fy * box["height"])  # noqa: E731
    page.mouse.move(*at(*points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*at(*point), steps=steps)
    page.mouse.up()


def _use_occlusion_painter(page, harness, widget, timeout):
    canvas = widget.locator(".cnnwidgets-occlusion-canvas").first
    canvas.scroll_into_view_if_needed()
    before = harness.canvas_pixels(page, canvas)
    panel = widget.locator(".cnnwidgets-target-panel").filter(visible=True)
    readout = panel.first.inner_text() if panel.count() else None
    _drag(page, canvas, [(0.25, 0.3), (0.45, 0.5), (0.6, 0.65)])
    harness.wait_for_pixels(page, canvas, harness.changed(before), timeout=timeout,
                            message="the occluder to be drawn after the drag")
    if readout is None:
        return "drag"
    assert _poll(lambda: panel.first.inner_text() != readout, timeout), (
        f"the target panel still reads {readout!r} after the occluder moved")
    return "drag (the values under the occluder changed)"


def _use_saliency_overlay(page, harness, widget, timeout):
    heatmap = widget.locator("canvas.cnnwidgets-saliency-heatmap").first
    overlay = widget.locator("canvas.cnnwidgets-saliency-overlay").first
    before = {"heatmap": harness.canvas_pixels(page, heatmap), "overlay": harness.canvas_pixels(page, overlay)}
    panel = widget.locator(".cnnwidgets-target-panel").filter(visible=True)
    if panel.count():
        # not a classifier: paint a region across the lower part of the predicted mask (the tanks' band)
        mask = panel.first.locator(".cnnwidgets-target-mask").first
        mask.scroll_into_view_if_needed()
        note = panel.first.locator(".cnnwidgets-target-note").first
        said = note.inner_text()
        _drag(page, mask, [(0.1, 0.72), (0.5, 0.75), (0.9, 0.72)])
        assert _poll(lambda: note.inner_text() != said and "painted region" in note.inner_text(), timeout), (
            f"the target panel does not say it explains the newly painted region: {note.inner_text()!r}")
        name = note.inner_text()
    else:
        # the buttons are the top classes, most probable first; the shown class is (usually) the first
        button = widget.locator(".cnnwidgets-class-button").filter(visible=True).nth(1)
        name = button.inner_text()
        button.click()
        page.wait_for_function("(b) => b.classList.contains('mod-primary')", arg=button.element_handle(),
                               timeout=timeout * 1000)

    def changed():
        return any(harness.changed(before[key])(harness.canvas_pixels(page, canvas))
                   for key, canvas in (("heatmap", heatmap), ("overlay", overlay)))

    assert _poll(changed, timeout), f"the saliency map did not change after choosing {name!r}"
    return f"target {name}"


#: Where the AuditBrowser draws the first image of its first cluster (the colour band is 6 px,
#: the mean map and caption 150 px plus a gap of 8; tiles are 40 px): its centre.
AUDIT_FIRST_TILE = (158 + 20, 6 + 20)


def _use_audit_browser(page, harness, widget, timeout):
    clusters = widget.locator(".cnnwidgets-audit-clusters").first
    harness.wait_for_pixels(page, clusters, _drawn(harness), timeout=timeout, message="the audit's clusters to be drawn")
    widget.locator(".cnnwidgets-audit-scatter").first.wait_for(state="visible", timeout=timeout * 1000)
    harness.save_screenshot(widget, "audit-browser-lab-clusters")
    clusters.click(position={"x": AUDIT_FIRST_TILE[0], "y": AUDIT_FIRST_TILE[1]})
    explorer = widget.locator(".cnnwidgets-explorer").first
    explorer.wait_for(state="visible", timeout=timeout * 1000)
    harness.wait_for_pixels(page, explorer.locator(".cnnwidgets-saliency canvas.cnnwidgets-saliency-overlay").first,
                            _drawn(harness), timeout=timeout, message="the Explorer opened from the audit to draw")
    return "image opened in an Explorer"


# The AuditBrowser last: the Explorer it opens must not stand in for the other kinds' own widgets.
INTERACTIONS = {
    "layer-browser": _use_layer_browser,
    "filter-grid": _use_filter_grid,
    "occlusion-painter": _use_occlusion_painter,
    "saliency-overlay": _use_saliency_overlay,
    "audit-browser": _use_audit_browser,
}


def _visible(root, selector):
    return root.locator(selector).filter(visible=True)


def _reveal_in_explorer(root, kind, timeout):
    """Show ``kind``'s tab of the first Explorer (built when first shown); the widget's locator, or None."""
    explorers = root.locator(".cnnwidgets-explorer")
    if not explorers.count():
        return None
    tab_bar = explorers.first.locator(".cnnwidgets-explorer-tabs > .lm-TabBar")
    tab_bar.locator(".lm-TabBar-tab", has_text=EXPLORER_TABS[kind]).first.click()
    widget = _visible(explorers.first, WIDGETS[kind][0])
    widget.first.wait_for(state="visible", timeout=timeout * 1000)
    return widget


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_and_its_widgets_respond_in_jupyterlab(notebook, page, jupyter_server, harness):
    timeout = SLOW_NOTEBOOKS.get(notebook.name, TIMEOUT)
    shutil.copy(notebook, jupyter_server.root_dir / notebook.name)
    run = harness.run_notebook_in_lab(page, jupyter_server, notebook.name, timeout=timeout)
    root = run.root
    if notebook.name == "00_tour.ipynb":
        # A quiet start: loading TensorFlow through cnnwidgets shows no red block of C++ start-up lines.
        first_stderr = [out for out in run.outputs[0] if out.get("output_type") == "stream" and out.get("name") == "stderr"]
        assert not first_stderr, f"the tour's first code cell wrote to stderr: {first_stderr}"

    # every visible widget's main canvas shows something
    kinds_shown = {}
    for kind, (widget_css, canvas_css) in WIDGETS.items():
        canvases = _visible(root, f"{widget_css} {canvas_css}")
        kinds_shown[kind] = canvases.count()
        for i in range(canvases.count()):
            harness.wait_for_pixels(page, canvases.nth(i), _drawn(harness), timeout=60,
                                    message=f"{notebook.name}: {kind} {i} to be drawn")
    assert run.widgets > 0 and (any(kinds_shown.values()) or root.locator(".cnnwidgets-explorer").count()), (
        f"{notebook.name} shows no cnnwidgets widget ({kinds_shown})")

    used = {}
    for kind, use in INTERACTIONS.items():
        widget = _visible(root, WIDGETS[kind][0])
        if not widget.count():
            if kind not in EXPLORER_TABS:
                continue
            widget = _reveal_in_explorer(root, kind, timeout=120)
            if widget is None:
                continue
            harness.wait_for_pixels(page, widget.first.locator(WIDGETS[kind][1]).first, _drawn(harness),
                                    timeout=120, message=f"{notebook.name}: the Explorer's {kind} to be drawn")
        widget = widget.first
        widget.scroll_into_view_if_needed()
        used[kind] = use(page, harness, widget, timeout=120)
        harness.save_screenshot(widget, f"notebook-{notebook.stem}-{kind}")
    assert used, f"{notebook.name}: no widget to use"
    for kind in HEADS.get(notebook.name, ()):
        head = _visible(root, f".cnnwidgets-layer-browser .cnnwidgets-output-head-{kind}")
        assert head.count(), f"{notebook.name}: the LayerBrowser shows no {kind} output head"
        head.first.scroll_into_view_if_needed()
        harness.save_screenshot(head.first, f"notebook-{notebook.stem}-head-{kind}")
    print(f"{notebook.name}: {run.seconds:.0f} s to run and render; {kinds_shown}; used {used}")
