"""The shared widget internals: package layout rule, canvas module, latest-request runner guard."""

import os
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


# ------------------------------------------------------------ trait vocabulary
def _public_traits(cls):
    import ipywidgets

    base = set(ipywidgets.VBox.class_trait_names())
    traits = cls.class_traits()
    return {name: traits[name] for name in cls.class_trait_names() if name not in base and not name.startswith("_")}


def _readme_rows():
    readme = (WIDGETS_DIR.parents[1] / "README.md").read_text()
    section = readme.split("### Traits", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def test_readme_lists_every_public_trait_of_every_widget():
    import re

    rows = _readme_rows()
    assert set(rows) == set(widgets_package.__all__)
    for name in widgets_package.__all__:
        traits = _public_traits(getattr(widgets_package, name))
        listed = []
        for cell in rows[name]:
            while re.search(r"\([^()]*\)", cell):  # drop the notes in parentheses, innermost first
                cell = re.sub(r"\([^()]*\)", "", cell)
            listed.append(set(re.findall(r"`(\w+)`", cell)))
        settable, read_only = listed
        assert settable == {t for t, trait in traits.items() if not trait.read_only}, name
        assert read_only == {t for t, trait in traits.items() if trait.read_only}, name


def test_one_vocabulary_across_widgets():
    classes = {name: getattr(widgets_package, name) for name in widgets_package.__all__}
    for name, cls in classes.items():
        traits = _public_traits(cls)
        assert "cmap" not in traits, name
        assert "image" in traits, name  # a trait everywhere, never a property
        if "class_index" in traits:
            assert traits["class_index"].allow_none and traits["class_index"].default_value is None, name
            assert traits["predicted_class"].read_only, name
        if name in ("OcclusionPainter", "SaliencyOverlay"):
            assert traits["heatmap"].read_only, name
    assert {n for n, c in classes.items() if "class_index" in _public_traits(c)} == {
        "LayerBrowser", "OcclusionPainter", "SaliencyOverlay", "Explorer"}


def test_a_script_that_exits_while_a_widget_computes_exits_cleanly(tmp_path):
    """A daemon worker killed inside TensorFlow at exit aborts the process (status 134); the exit hook cancels it."""
    import subprocess
    import sys

    script = tmp_path / "exit_mid_compute.py"
    script.write_text(
        "import cnnwidgets as cw\n"
        "images, _ = cw.demo.digits_samples()\n"
        "view = cw.SaliencyOverlay(cw.demo.digits_model(), images[0])\n"  # its first map and trust panel compute
        "assert view.busy\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "terminate called" not in done.stderr
