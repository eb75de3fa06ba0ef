"""The shared widget internals: package layout rule, canvas module, latest-request runner guard."""

import ast
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ipycanvas")

import cnnwidgets.widgets as widgets_package  # noqa: E402
from cnnwidgets.widgets.common import canvas as canvas_module  # noqa: E402
from cnnwidgets.widgets.common.canvas import ImageCanvas, OverlayCanvas, drawing  # noqa: E402
from cnnwidgets.widgets.common.runner import LatestRequestRunner  # noqa: E402

WIDGETS_DIR = Path(widgets_package.__file__).parent
WIDGET_PACKAGES = ("layer_browser", "filter_grid", "occlusion_painter", "saliency_overlay", "explorer")


# ----------------------------------------------------------------- layout rule
def _imported_modules(path):
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    package = "cnnwidgets." + ".".join(path.relative_to(WIDGETS_DIR.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names]
    return found


def test_every_widget_has_its_subpackage_and_the_public_names_load_lazily():
    for name in WIDGET_PACKAGES:
        assert (WIDGETS_DIR / name / "__init__.py").is_file()
    assert not [p.name for p in WIDGETS_DIR.glob("*.py") if p.name != "__init__.py"], "modules outside subpackages"
    for name in widgets_package.__all__:
        assert getattr(widgets_package, name).__name__ == name


@pytest.mark.parametrize("package", WIDGET_PACKAGES + ("common",))
def test_no_widget_module_imports_another_widgets_modules(package):
    for path in sorted((WIDGETS_DIR / package).glob("*.py")):
        for module in _imported_modules(path):
            if not module.startswith("cnnwidgets.widgets."):
                continue  # the package itself (``from .. import LayerBrowser``) is the public API
            owner = module.split(".")[2]
            allowed = {"common"} if package == "common" else {"common", package}
            if owner in WIDGET_PACKAGES or owner == "common":
                assert owner in allowed, f"{path.relative_to(WIDGETS_DIR)} imports {module}"


def test_files_read_in_one_sitting():
    long = {str(p.relative_to(WIDGETS_DIR)): n for p in WIDGETS_DIR.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 600}
    assert not long


# ---------------------------------------------------------------------- canvas
@pytest.fixture
def sent_pngs(monkeypatch):
    """Count the PNGs the canvas module encodes (every image sent goes through it)."""
    sent = []
    original = canvas_module.encode_png_fast

    def counting(rgba):
        sent.append(rgba.shape)
        return original(rgba)

    monkeypatch.setattr(canvas_module, "encode_png_fast", counting)
    return sent


def _client_ready(canvas):
    canvas._handle_frontend_event(None, {"event": "client_ready"}, [])


def test_image_canvas_sends_once_pins_its_size_and_replays_for_a_late_view(sent_pngs):
    canvas = ImageCanvas(4, 4, zoom=3)
    rgba = np.zeros((5, 7, 4), np.uint8)
    rgba[..., 3] = 255
    canvas.show(rgba)
    assert (canvas.width, canvas.height) == (7, 5)
    assert (canvas.layout.width, canvas.layout.height) == ("21px", "15px")
    canvas.show(rgba.copy())  # the same image is not sent again
    assert sent_pngs == [(5, 7, 4)]
    _client_ready(canvas)
    assert sent_pngs == [(5, 7, 4)] * 2
    np.testing.assert_array_equal(canvas.image, rgba)


def test_empty_canvas_replays_nothing(sent_pngs):
    _client_ready(ImageCanvas(4, 4))
    assert sent_pngs == []


def test_overlay_canvas_keeps_outlines_and_replays_both_layers(sent_pngs):
    canvas = OverlayCanvas(10, 10)
    rgba = np.full((10, 12, 4), 255, np.uint8)
    canvas.show(rgba, outlines={})
    assert canvas.set_outline("selected", [(1, 1, 5, 5)], "#ff0000", 1)
    assert not canvas.set_outline("selected", [(1, 1, 5, 5)], "#ff0000", 1)  # unchanged: nothing sent
    composite = canvas.composite()
    assert tuple(composite[1, 1]) == (255, 0, 0, 255) and tuple(composite[3, 3]) == (255, 255, 255, 255)
    _client_ready(canvas.mouse_layer)
    assert sent_pngs == [(10, 12, 4)] * 2


def test_drawing_is_one_reentrant_lock_shared_by_every_thread():
    entered = threading.Event()
    inside = []

    def other():
        with drawing():
            inside.append(time.monotonic())

    with drawing():
        with drawing():  # re-entrant
            thread = threading.Thread(target=lambda: (entered.set(), other()))
            thread.start()
            entered.wait(5)
            time.sleep(0.05)
            assert inside == []  # the other thread waits for the lock
    thread.join(5)
    assert len(inside) == 1


# ---------------------------------------------------------------------- runner
def test_a_superseded_result_is_never_delivered():
    runner = LatestRequestRunner(linger=1.0)
    release = threading.Event()
    drawn = []
    runner.submit(lambda cancel: (release.wait(5), "old")[1], drawn.append)
    time.sleep(0.05)
    runner.submit(lambda cancel: "new", drawn.append)
    release.set()
    assert runner.wait(5)
    assert drawn == ["new"]


def test_cancel_waits_for_a_delivery_under_way_and_nothing_cancelled_is_drawn_after():
    runner = LatestRequestRunner()
    drawing_started, finish_drawing = threading.Event(), threading.Event()
    events = []

    def slow_draw(value):
        drawing_started.set()
        finish_drawing.wait(5)
        events.append(("drawn", value))

    runner.submit(lambda cancel: 1, slow_draw)
    assert drawing_started.wait(5)
    stopper = threading.Thread(target=lambda: (runner.cancel(), events.append(("cancel returned", None))))
    stopper.start()
    time.sleep(0.05)
    assert events == []  # cancel() waits for the draw under way
    finish_drawing.set()
    stopper.join(5)
    assert events == [("drawn", 1), ("cancel returned", None)]


def test_a_result_cancelled_before_delivery_is_dropped_and_errors_go_through_the_same_guard():
    runner = LatestRequestRunner()
    release = threading.Event()
    drawn, errors = [], []

    def compute(cancel):
        release.wait(5)
        raise ValueError("late")

    runner.submit(compute, drawn.append, errors.append)
    time.sleep(0.05)
    runner.cancel()
    release.set()
    assert runner.wait(5)
    assert drawn == [] and errors == []
    runner.submit(compute, drawn.append, errors.append)
    assert runner.wait(5)
    assert [str(e) for e in errors] == ["late"]
