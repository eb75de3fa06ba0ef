"""SaliencyOverlay and the method catalogue, at trait level (no browser).

Every test iterates :func:`cnnwidgets.methods`: each method is in the picker
and in Compare, computes exactly what ``Inspector.explain`` returns and is
drawn; its parameter controls are built from its ParamSpecs and moving one
recomputes; long methods get ``progress`` and ``cancel`` and can be stopped.
No widget module names a method.
"""

import ast
import threading
from pathlib import Path

import numpy as np
import pytest
import traitlets

keras = pytest.importorskip("keras")

import ipywidgets as widgets  # noqa: E402

import cnnwidgets as cw  # noqa: E402
from cnnwidgets import demo  # noqa: E402
from cnnwidgets.errors import JobCancelled, UnknownMethodError  # noqa: E402
from cnnwidgets.render import image_to_rgba  # noqa: E402
from cnnwidgets.render.saliency import render_heatmap  # noqa: E402
from cnnwidgets.widgets.saliency_overlay import SaliencyOverlay  # noqa: E402
from cnnwidgets.widgets.saliency_overlay.methods import family_title  # noqa: E402

METHODS = [spec.name for spec in cw.methods()]
LONG = [spec.name for spec in cw.methods() if spec.long]
PARAMS = [(spec.name, p.name) for spec in cw.methods() for p in spec.params]
WIDGETS_DIR = Path(cw.__file__).resolve().parent / "widgets"
# String literals that equal a method's name but mean something else: the Explorer's tab key
# of its OcclusionPainter tab.
NOT_A_METHOD = {("explorer/widget.py", "occlusion")}


@pytest.fixture(scope="module")
def digits():
    return demo.digits_model(), demo.digits_samples()[0]


@pytest.fixture
def view(digits):
    model, images = digits
    widget = SaliencyOverlay(model, images[42], class_names=demo.DIGIT_CLASS_NAMES)
    widget.wait()
    yield widget
    widget.stop()
    widget.wait()


def explained(view, method, class_index=None, layer=None, **params):
    spec = cw.get_method(method)
    layer = (layer or view.layer) if spec.needs_layer else None
    class_index = view.target if class_index is None else class_index
    return view.inspector.explain(view.image, method, class_index, layer=layer,
                                  **{**view.method_params_of(method), **params})


def rendering(view, values, signed=False):
    return render_heatmap(image_to_rgba(view.image), values, view.colormap, signed, view.clip_percentile,
                          view.opacity)


def other_value(param):
    """A valid value of ``param`` other than its default."""
    if param.kind == "bool":
        return not param.default
    if param.kind == "choice":
        return next(c for c in param.choices if c != param.default)
    value = param.default + param.step
    return value if param.max is None or value <= param.max else param.default - param.step


def test_no_widget_module_names_a_method():
    names = set(METHODS)
    found = []
    for path in sorted(WIDGETS_DIR.rglob("*.py")):
        relative = path.relative_to(WIDGETS_DIR).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Constant) and node.value in names
                    and (relative, node.value) not in NOT_A_METHOD):
                found.append(f"{relative}:{node.lineno}: {node.value!r}")
    assert not found, "widget code names catalogue methods (read them from cnnwidgets.methods()):\n" + "\n".join(found)


def test_picker_and_compare_list_every_method_by_family(view):
    expected = [(f"{family_title(s.family)} \u00b7 {s.label}", s.name) for s in cw.methods()]
    assert list(view._method_menu.options) == expected
    assert list(view._compare_method_menu.options) == expected
    assert list(view.available_methods) == METHODS
    assert view.method == "gradcam"  # the catalogue's first quick method that explains a layer
    assert view.compare_methods == ["vanilla", "gradient_x_input", "gradcam", "gradcam_plus_plus"]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_computes_and_renders_from_the_picker(view, method):
    spec = cw.get_method(method)
    view._method_menu.value = method  # what the browser sends
    view.wait()
    assert view.method == method and view.method_params == spec.defaults
    np.testing.assert_allclose(view.heatmap, explained(view, method), rtol=1e-6, atol=0)
    expected = rendering(view, view.heatmap)
    np.testing.assert_array_equal(view.heatmap_canvas.image, expected.heat)
    np.testing.assert_array_equal(view.overlay_canvas.image, expected.overlay)
    assert spec.label in view.status.value and spec.label in view._heat_view.title
    assert spec.label in view._method_info.value and spec.url in view._method_info.value
    # what applies to this method, and only that, is shown
    assert (view._layer_menu.layout.display != "none") == spec.needs_layer
    assert (view._stop_button.layout.display != "none") == spec.long
    assert (view._params_box.layout.display != "none") == bool(spec.params)
    if spec.params:
        (controls,) = view._params_box.children
        assert controls.spec is spec


@pytest.mark.parametrize("method", [spec.name for spec in cw.methods() if spec.params])
def test_parameter_controls_match_the_specs(view, method):
    spec = cw.get_method(method)
    view.method = method
    controls = view._params_box.children[0].controls
    assert list(controls) == [p.name for p in spec.params]
    for param in spec.params:
        control = controls[param.name]
        assert control.description == param.label and control.tooltip == param.description
        assert control.value == param.default
        if param.kind == "bool":
            assert isinstance(control, widgets.Checkbox)
        elif param.kind == "choice":
            assert isinstance(control, widgets.Dropdown) and control.options == tuple((str(c), c) for c in param.choices)
        else:
            kind = int if param.kind == "int" else float
            assert isinstance(control.value, kind)
            assert (control.min, control.max) == (param.min, param.max)
            assert control.step == param.step
            slider = widgets.IntSlider if param.kind == "int" else widgets.FloatSlider
            positions = (param.max - param.min) / param.step
            assert isinstance(control, slider if positions <= 5000 else widgets.BoundedIntText)
            if isinstance(control, slider):
                assert control.continuous_update is False  # recompute on release


@pytest.mark.parametrize("method, name", PARAMS)
def test_moving_a_parameter_control_recomputes(view, method, name):
    param = cw.get_method(method).param(name)
    view.method = method
    view.wait()
    runs = view._runner.runs
    value = other_value(param)
    view._params_box.children[0].controls[name].value = value  # the user moves the control
    view.wait()
    assert view.method_params[name] == value and view._runner.runs > runs
    np.testing.assert_allclose(view.heatmap, explained(view, method), rtol=1e-6, atol=0)
    assert view.method_params_of(method)[name] == value


def test_parameter_set_from_code_moves_its_control_and_the_latest_value_wins(view):
    view.method = "rise"
    view.method_params = {"masks": 200, "keep": 0.3}  # a partial dict: the others keep their values
    controls = view._params_box.children[0].controls
    assert controls["masks"].value == 200 and controls["keep"].value == 0.3 and controls["cells"].value == 7
    assert view._params_box.children[0].values() == view.method_params
    for masks in range(100, 1100, 100):  # a drag: only the last value's map is drawn
        controls["masks"].value = masks
    view.wait()
    assert view.method_params == {"masks": 1000, "cells": 7, "keep": 0.3, "seed": 0}
    np.testing.assert_allclose(view.heatmap, explained(view, "rise"), rtol=1e-6, atol=0)


def test_each_method_keeps_its_own_parameters(view):
    view.set_method_params("smoothgrad", samples=7)  # not the selected method: nothing else changes
    assert view.method == "gradcam" and view.method_params == {}
    assert view.method_params_of("smoothgrad")["samples"] == 7
    view.method = "smoothgrad"
    assert view.method_params["samples"] == 7
    assert view._params_box.children[0].controls["samples"].value == 7
    params = view.method_params_of("smoothgrad")
    params["samples"] = 99  # a copy
    assert view.method_params["samples"] == 7
    with pytest.raises(UnknownMethodError, match="did you mean 'smoothgrad'"):
        view.set_method_params("smoothgrd", samples=3)


def test_compare_shows_every_method_with_its_parameters(view):
    view.set_method_params("rise", masks=300)
    seen = []
    view.progress.observe(lambda change: seen.append(change.new), names="value")
    view._compare_method_menu.value = tuple(METHODS)  # picked in the multi-select
    view.compare = True
    assert view._stop_button.layout.display != "none"
    view.wait()
    assert view.compare_methods == METHODS
    titles = [title for title, _ in view.compare_heatmaps]
    assert titles == [s.label for s in cw.methods()]  # the layer is in the note above the panels
    assert "explain conv3" in view._compare_note.value
    # six panels a row (the rest wrap), 28 px enlarged 4 times; titles end in an ellipsis at the panel's width
    assert {canvas.layout.width for canvas in view.compare_canvases} == {"112px"}
    assert {v.title_label.layout.max_width for v in view._compare_views} == {"112px"}
    assert view._compare_panels.layout.max_width == f"{6 * (112 + 8)}px"
    assert "text-overflow:ellipsis" in view._compare_views[0].title_label.value
    for (title, values), canvas, method in zip(view.compare_heatmaps, view.compare_canvases, METHODS):
        np.testing.assert_allclose(values, explained(view, method), rtol=1e-6, atol=0, err_msg=method)
        np.testing.assert_array_equal(canvas.image, rendering(view, values).overlay)
    assert seen and max(seen) == pytest.approx(1.0)
    assert view.progress.layout.visibility == "hidden"  # done
    view.set_method_params("rise", masks=100)  # a compared method's parameter: Compare recomputes
    view.wait()
    np.testing.assert_allclose(dict(view.compare_heatmaps)["RISE"], explained(view, "rise"), rtol=1e-6)


@pytest.mark.parametrize("method", LONG)
def test_compare_by_class_and_layer_with_long_methods(view, method):
    spec = cw.get_method(method)
    view.method = method
    view.compare_classes = [1, 7]
    view.compare_by = "class"
    view.compare = True
    view.wait()
    for (title, values), index in zip(view.compare_heatmaps, [1, 7]):
        assert title.startswith(f"{index} (") and title.endswith(spec.label)
        np.testing.assert_allclose(values, explained(view, method, class_index=index), rtol=1e-6, atol=0)
    view.compare_layers = ["conv1", "conv3"]
    view.compare_by = "layer"
    view.wait()
    layer_method = method if spec.needs_layer else "gradcam"  # else the catalogue's default layer method
    for (title, values), layer in zip(view.compare_heatmaps, ["conv1", "conv3"]):
        assert title.startswith(cw.get_method(layer_method).label) and layer in title
        np.testing.assert_allclose(values, explained(view, layer_method, layer=layer), rtol=1e-6, atol=0)


class BlockingExplain:
    """Stands in for ``Inspector.explain``: records its arguments, and blocks long methods until cancelled."""

    def __init__(self, explain):
        self.explain = explain
        self.calls = []
        self.entered = threading.Event()

    def __call__(self, image, method, class_index=None, layer=None, *, progress=None, cancel=None, **params):
        self.calls.append((method, progress, cancel))
        if not cw.get_method(method).long:
            return self.explain(image, method, class_index, layer, **params)
        progress(1, 4)
        self.entered.set()
        assert cancel.wait(30), "the widget never cancelled"
        raise JobCancelled("stopped")


@pytest.mark.parametrize("method", LONG)
def test_long_methods_show_progress_and_stop(view, method, monkeypatch):
    before = view.heatmap.copy()
    spy = BlockingExplain(view.inspector.explain)
    monkeypatch.setattr(view.inspector, "explain", spy)
    view.method = method
    assert view._stop_button.layout.display != "none"
    assert spy.entered.wait(30)
    (name, progress, cancel), = spy.calls
    assert name == method and callable(progress) and isinstance(cancel, threading.Event)
    assert view.progress.layout.visibility == "visible" and view.progress.value == pytest.approx(0.25)
    view._stop_button.click()
    view.wait()
    assert cancel.is_set() and "Stopped" in view.status.value
    np.testing.assert_array_equal(view.heatmap, before)  # the previous map stays
    assert view.progress.layout.visibility == "hidden"
    monkeypatch.undo()
    view.method_params = {}  # the same settings compute again after a Stop
    view._request()
    view.wait()
    np.testing.assert_allclose(view.heatmap, explained(view, method), rtol=1e-6, atol=0)


def test_quick_methods_get_no_progress_and_no_stop(view, monkeypatch):
    spy = BlockingExplain(view.inspector.explain)
    monkeypatch.setattr(view.inspector, "explain", spy)
    for spec in cw.methods():
        if not spec.long:
            view.method = spec.name
            view.wait()
            assert view._stop_button.layout.display == "none"
    assert spy.calls and all(progress is None and cancel is None for _, progress, cancel in spy.calls)


def test_a_backend_error_is_a_message_and_the_widget_keeps_working(view):
    view.method = "integrated_gradients"
    view.wait()
    shown = view.heatmap.copy()
    view.method_params = {"baseline": np.zeros((5, 5), np.float32)}  # the catalogue takes it; explain does not
    view.wait()
    assert "cnnwidgets-error" in view.status.value and "height is 5" in view.status.value
    np.testing.assert_array_equal(view.heatmap, shown)
    view.method_params = {"baseline": "blur"}
    view.wait()
    assert "cnnwidgets-error" not in view.status.value
    np.testing.assert_allclose(view.heatmap, explained(view, "integrated_gradients"), rtol=1e-6, atol=0)
    most = cw.get_method("integrated_gradients").param("steps").max
    with pytest.raises(traitlets.TraitError, match=f"steps must be at most {most}"):
        view.method_params = {"steps": most + 1}
    assert f"steps must be at most {most}" in view.status.value


def test_six_cam_methods_compared_on_a_nested_mobilenet():
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(96, 96, 3), alpha=0.35)
    model = keras.Sequential([keras.Input((96, 96, 3)), base, keras.layers.GlobalAveragePooling2D(name="pool"),
                              keras.layers.Dense(3, activation="softmax", name="my_classes")], name="my_classifier")
    image = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    cams = [spec.name for spec in cw.methods("cam")][:6]
    view = SaliencyOverlay(model, image, preprocess=keras.applications.mobilenet_v2.preprocess_input,
                           compare=True, compare_methods=cams)
    view.wait()
    assert view.layer == f"{base.name}/out_relu"  # inside the nested base
    assert len(view.compare_heatmaps) == 6
    for (title, values), method in zip(view.compare_heatmaps, cams):
        assert title == cw.get_method(method).label
        np.testing.assert_allclose(values, view.inspector.explain(image, method, view.target, layer=view.layer),
                                   rtol=1e-6, atol=1e-12)
    assert len({canvas.layout.width for canvas in view.compare_canvases}) == 1  # six of one size, in one row
