"""Smoke test of the browser harness with third-party widgets only.

A notebook with an ``ipycanvas.Canvas`` + ``ipywidgets.Button`` (the click
repaints the canvas) and a ``bqplot`` bar chart is run in JupyterLab and
rendered in Voila; pixels are checked and screenshots saved under
``tests/artifacts/screenshots/``.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

NOTEBOOK = "harness_smoke.ipynb"

CELLS = [
    "import sys\nprint(sys.executable)",
    """\
import ipycanvas
import ipywidgets as widgets

canvas = ipycanvas.Canvas(width=200, height=100)
canvas.add_class("smoke-canvas")
state = {"color": "#ff0000"}

def draw():
    canvas.fill_style = state["color"]
    canvas.fill_rect(0, 0, 200, 100)

def redraw_for_new_client():
    # ipycanvas keeps no pixels: a client that connects later (Voila renders
    # after execution, a reloaded page) gets an empty canvas unless we redraw.
    # ipycanvas 0.14.3 also remembers, kernel-side, which canvas the last
    # command targeted and then omits "switchCanvas"; the new client has no
    # current canvas and throws "Cannot read properties of undefined
    # (reading 'setAttr')". Forget it so the redraw starts with a switch.
    ipycanvas.canvas._CANVAS_MANAGER._current_canvas = None
    draw()

canvas.on_client_ready(redraw_for_new_client)
draw()

button = widgets.Button(description="Paint blue")
button.add_class("smoke-button")

def paint_blue(_):
    state["color"] = "#0000ff"
    draw()

button.on_click(paint_blue)
widgets.HBox([canvas, button])""",
    """\
import bqplot.pyplot as plt

fig = plt.figure(title="smoke bars", layout=widgets.Layout(width="600px", height="350px"))
fig.add_class("smoke-figure")
plt.bar(["a", "b", "c"], [1, 3, 2])
fig""",
]


def _fraction(pixels: np.ndarray, rgb: tuple[int, int, int], tol: int = 40) -> float:
    """Fraction of pixels within ``tol`` of colour ``rgb``."""
    diff = np.abs(pixels[..., :3].astype(int) - np.array(rgb)).max(axis=-1)
    return float((diff <= tol).mean())


@pytest.fixture(scope="module")
def smoke_notebook(notebook_root, harness) -> str:
    harness.write_notebook(notebook_root, NOTEBOOK, CELLS)
    return NOTEBOOK


def test_lab_renders_and_reacts(page, jupyter_server, harness, smoke_notebook):
    run = harness.run_notebook_in_lab(page, jupyter_server, smoke_notebook,
                                      wait_for=[".smoke-canvas", ".smoke-figure"])
    assert run.widgets >= 2

    # The kernel is this interpreter (the harness's kernelspec).
    stdout = "".join(o.get("text", "") for o in run.outputs[0] if o.get("name") == "stdout")
    assert stdout.strip() == sys.executable

    canvas = run.root.locator("canvas.smoke-canvas")
    before = harness.wait_for_pixels(page, canvas, lambda px: _fraction(px, (255, 0, 0)) > 0.9,
                                     message="the canvas to show its red fill")
    # element screenshots are taken at CSS size; a fractional position may add a row
    assert abs(before.shape[0] - 100) <= 1 and abs(before.shape[1] - 200) <= 1

    figure = run.root.locator(".smoke-figure")
    fig_px = harness.canvas_pixels(page, figure)
    assert not harness.is_blank(fig_px)
    # bqplot's default bar colour (steelblue #4682b4) covers part of the figure.
    assert _fraction(fig_px, (70, 130, 180), tol=30) > 0.05

    harness.save_screenshot(page, "harness-lab-before-click")
    run.root.locator(".smoke-button").click()
    after = harness.wait_for_pixels(page, canvas, lambda px: _fraction(px, (0, 0, 255)) > 0.9,
                                    message="the canvas to turn blue after the click")
    assert not np.array_equal(before, after)
    harness.save_screenshot(page, "harness-lab-after-click")
    harness.save_screenshot(canvas, "harness-lab-canvas")
    harness.save_screenshot(figure, "harness-lab-bqplot")

    # exact backing-store pixels of the canvas, alpha included
    exact = harness.canvas_pixels(page, canvas, method="dataurl", mode="RGBA")
    assert exact.shape == (100, 200, 4) and (exact[..., 3] == 255).all()
    assert not harness.page_errors(page)


def test_voila_renders(page, voila_server, harness, smoke_notebook):
    run = harness.open_in_voila(page, voila_server, smoke_notebook,
                                wait_for=[".smoke-canvas", ".smoke-figure"])
    assert run.widgets >= 2
    canvas = page.locator("canvas.smoke-canvas")
    harness.wait_for_pixels(page, canvas, lambda px: _fraction(px, (255, 0, 0)) > 0.9,
                            message="the canvas to show its red fill in Voila")
    assert not harness.is_blank(harness.canvas_pixels(page, ".smoke-figure"))
    harness.save_screenshot(page, "harness-voila")
    page.locator(".smoke-button").click()
    harness.wait_for_pixels(page, canvas, lambda px: _fraction(px, (0, 0, 255)) > 0.9,
                            message="the canvas to turn blue after the click in Voila")
    harness.save_screenshot(page, "harness-voila-after-click")
    assert not harness.page_errors(page)
