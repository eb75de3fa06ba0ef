"""Every private API cnnwidgets uses, through ``cnnwidgets.compat``, on the installed versions.

Each test exercises one internal of Keras, ipycanvas or traitlets directly and,
if it has moved, fails with a message that names the installed version (so the
bounds in pyproject.toml can be set from the failure). The same file runs on
the oldest versions cnnwidgets claims (``./dev oldest``). The quiet start-up
of TensorFlow and the missing-TensorFlow error are tested here too.
"""

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cnnwidgets import compat
from cnnwidgets.errors import CNNWidgetsError, MissingDependencyError

REPO = Path(__file__).resolve().parents[1]


def installed(distribution):
    for name in (distribution, distribution.replace("-", "_")):
        try:
            return f"{distribution} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return f"{distribution} (not installed)"


def require(condition, distribution, what):
    """Fail loudly, naming the installed version, when a private API has moved."""
    if not condition:
        pytest.fail(
            f"{what} is gone or changed in {installed(distribution)}: update cnnwidgets/compat.py "
            "and the upper bound in pyproject.toml",
            pytrace=False,
        )


# ------------------------------------------------------------------- Keras
@pytest.fixture(scope="module")
def keras():
    return compat.load_keras()


@pytest.fixture(scope="module")
def functional(keras):
    layers = keras.layers
    inp = keras.Input((6, 6, 1), name="image")
    conv = layers.Conv2D(2, 3, name="conv")(inp)
    drop = layers.Dropout(0.5, name="drop")(conv)
    out = layers.Add(name="add")([conv, drop])
    return keras.Model(inp, out, name="functional")


def test_functional_class(keras, functional):
    try:
        cls = compat.functional_class()
    except CNNWidgetsError as exc:
        require(False, "keras", f"keras.src.models.functional.Functional ({exc})")
    require(isinstance(functional, cls), "keras", "keras.src.models.functional.Functional as the functional model class")
    sequential = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert compat.is_container_model(functional) and compat.is_container_model(sequential)
    assert not compat.is_container_model(functional.get_layer("conv"))


def test_nodes_by_depth_and_node_api(functional):
    graph = getattr(functional, "_nodes_by_depth", None)
    require(isinstance(graph, dict) and graph, "keras", "Functional._nodes_by_depth (a {depth: [Node]} dict)")
    nodes = [node for depth in sorted(graph, reverse=True) for node in graph[depth]]
    require(all(hasattr(node, "is_input") for node in nodes), "keras", "Node.is_input")
    require(all(hasattr(getattr(node, "arguments", None), "fill_in") for node in nodes), "keras",
            "Node.arguments.fill_in (SymbolicArguments)")
    inputs = [node for node in nodes if compat.node_is_input(node)]
    assert len(inputs) == 1 and inputs[0] is nodes[0]
    # fill_in maps each symbolic tensor (by id) to a value, keeping the call's structure.
    add = next(node for node in nodes if node.operation is not None and node.operation.name == "add")
    values = {id(t): f"value of {t.name}" for t in add.input_tensors}
    args, kwargs = compat.fill_in_node_arguments(add, values)
    require(isinstance(args, (tuple, list)) and isinstance(kwargs, dict), "keras",
            "Node.arguments.fill_in returning (args, kwargs)")
    assert list(args[0]) == [values[id(t)] for t in add.input_tensors]


def test_keras_history_names_the_producer(functional):
    require(hasattr(functional.outputs[0], "_keras_history"), "keras", "KerasTensor._keras_history")
    assert compat.producer_layer(functional.outputs[0]) is functional.get_layer("add")
    assert compat.producer_layer(np.zeros(3)) is None


def test_call_has_training_arg(functional):
    drop, conv = functional.get_layer("drop"), functional.get_layer("conv")
    require(isinstance(getattr(drop, "_call_has_training_arg", None), bool), "keras",
            "Layer._call_has_training_arg")
    assert compat.call_has_training_arg(drop) is True
    assert compat.call_has_training_arg(conv) is False


def test_build_shapes_dict_of_a_subclassed_model(keras):
    class Tiny(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(keras.ops.mean(x, axis=(1, 2)))

    model = Tiny()
    require(hasattr(model, "_build_shapes_dict"), "keras", "Layer._build_shapes_dict")
    assert compat.built_input_shapes(model) == []
    model(np.zeros((1, 5, 4, 3), np.float32))
    shapes = compat.built_input_shapes(model)
    require(len(shapes) == 1 and shapes[0] is not None and tuple(shapes[0])[1:] == (5, 4, 3), "keras",
            f"Layer._build_shapes_dict holding the build input shape (got {shapes})")


def test_missing_tensorflow_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import tensorflow now raises ModuleNotFoundError
    with pytest.raises(MissingDependencyError, match=r'cnnwidgets\[tensorflow\]') as info:
        compat.load_tensorflow()
    assert "cnnwidgets[cpu]" in str(info.value) and sys.prefix in str(info.value)
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_keras_on_another_backend_is_refused(keras, monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(MissingDependencyError, match="KERAS_BACKEND=tensorflow"):
        compat.load_keras()


def test_private_api_error_names_the_version():
    error = compat._moved("keras", "Functional._nodes_by_depth")
    assert isinstance(error, CNNWidgetsError)
    assert f"keras {importlib.metadata.version('keras')}" in str(error)
    assert "pyproject.toml" in str(error)


# --------------------------------------------------------------- ipycanvas
@pytest.fixture
def canvas_log(monkeypatch):
    """A fresh canvas and the draw commands its manager sends (recorded, not sent)."""
    ipycanvas = pytest.importorskip("ipycanvas")
    from ipycanvas import canvas as canvas_module

    canvas = ipycanvas.Canvas(width=4, height=3)
    manager = getattr(canvas, "_canvas_manager", None)
    require(manager is not None and hasattr(manager, "send_draw_command"), "ipycanvas",
            "Canvas._canvas_manager.send_draw_command")
    require(getattr(canvas_module, "_CANVAS_MANAGER", None) is manager, "ipycanvas",
            "ipycanvas.canvas._CANVAS_MANAGER (the manager every canvas shares)")
    sent = []
    monkeypatch.setattr(manager, "send_draw_command",
                        lambda target, name, args=[], buffers=[]: sent.append((target, name, args, buffers)))
    yield canvas, sent
    canvas.close()


def test_send_png_image_sends_what_put_image_data_sends(canvas_log):
    from ipycanvas import canvas as canvas_module

    canvas, sent = canvas_log
    commands = getattr(canvas_module, "COMMANDS", None)
    require(commands is not None and "putImageData" in commands, "ipycanvas", "ipycanvas.canvas.COMMANDS['putImageData']")
    canvas.put_image_data(np.zeros((2, 2, 4), np.uint8), 1, 1)  # ipycanvas' own path, for reference
    require(len(sent) == 1 and sent[0][1] == commands["putImageData"] and list(sent[0][2]) == [1, 1], "ipycanvas",
            "put_image_data sending COMMANDS['putImageData'] with [x, y] and one PNG buffer")
    png = b"\x89PNG fake bytes"
    compat.send_png_image(canvas, png, x=2, y=1)
    target, name, args, buffers = sent[1]
    assert target is canvas and name == commands["putImageData"] and list(args) == [2, 1] and list(buffers) == [png]


def test_forget_current_canvas(canvas_log):
    from ipycanvas import canvas as canvas_module

    manager = canvas_module._CANVAS_MANAGER
    require(hasattr(manager, "_current_canvas"), "ipycanvas", "_CANVAS_MANAGER._current_canvas")
    canvas, _ = canvas_log
    manager._current_canvas = canvas
    compat.forget_current_canvas()
    assert manager._current_canvas is None


# --------------------------------------------------------------- traitlets
def test_set_trait_value_quietly():
    traitlets = pytest.importorskip("traitlets")

    class Holder(traitlets.HasTraits):
        value = traitlets.Int(7)

    holder = Holder()
    require(isinstance(getattr(holder, "_trait_values", None), dict), "traitlets", "HasTraits._trait_values")
    changes = []
    holder.observe(changes.append, "value")
    assert compat.set_trait_value_quietly(holder, "value", 3) == 7  # never set: the default
    assert holder.value == 3
    assert compat.set_trait_value_quietly(holder, "value", 5) == 3
    assert holder.value == 5 and changes == []
    holder.value = 6  # ordinary assignment still notifies, from the quietly set value
    assert [(c.old, c.new) for c in changes] == [(5, 6)]


# ------------------------------------------------------------ quiet start-up
NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796187554.766881    6704 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. "
    "To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "2026-12-02 05:00:04.922556: I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
    "compiler flags.",
    "E0000 00:00:1796187554.1 1 cuda_dnn.cc:8579] Unable to register cuDNN factory: Attempting to register factory "
    "for plugin cuDNN when one has already been registered",
]


def test_quiet_startup_drops_noise_and_replays_the_rest(capfd):
    with compat.quiet_startup():
        for line in NOISE:
            os.write(2, (line + "\n").encode())
        os.write(2, b"E0000 real_error.cc:1] something real went wrong\n")
    os.write(2, b"after the import\n")
    err = capfd.readouterr().err
    assert "something real went wrong" in err and "after the import" in err
    assert not any(line[:40] in err for line in NOISE), err


def _run_python(code, **env):
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    environment["PYTHONPATH"] = str(REPO)
    environment.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, env=environment, cwd=REPO)


@pytest.mark.slow
def test_a_notebooks_first_cell_prints_nothing_on_stderr_and_later_warnings_show():
    """What the tour's first cell does, with TensorFlow's default log level, then real messages."""
    result = _run_python(
        """
        import os, sys, warnings
        import numpy as np
        import cnnwidgets as cw

        model = cw.demo.digits_model()
        images, labels = cw.demo.digits_samples()
        print("first cell done", flush=True)
        sys.stderr.write("=== after start-up ===\\n"); sys.stderr.flush()

        import tensorflow as tf
        tf.print("a message TensorFlow's runtime writes to stderr", output_stream=sys.stderr)
        warnings.warn("a real warning after start-up")
        assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ, "the log level must stay TensorFlow's default"
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "first cell done" in result.stdout
    before, _, after = result.stderr.partition("=== after start-up ===")
    assert before == "", f"the first cell printed on stderr:\n{before}"
    assert "a message TensorFlow's runtime writes to stderr" in after
    assert "a real warning after start-up" in after


PRIVATE_NAMES = (
    "keras.src", "_nodes_by_depth", "arguments.fill_in", ".is_input", "_keras_history",
    "_call_has_training_arg", "_build_shapes_dict", "_CANVAS_MANAGER", "send_draw_command",
    "COMMANDS[", "_trait_values",
)


def test_private_apis_are_used_only_in_compat():
    """Every private Keras/ipycanvas/traitlets use goes through cnnwidgets/compat.py."""
    import pathlib

    import cnnwidgets

    root = pathlib.Path(cnnwidgets.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "compat.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if '"""' in line or "``" in line:
                continue  # docstrings may name the internal they avoid
            offenders += [f"{path.relative_to(root)}:{number}: {name}" for name in PRIVATE_NAMES if name in code]
    assert not offenders, "private APIs outside cnnwidgets/compat.py:\n" + "\n".join(offenders)
