"""The one door to TensorFlow/Keras and to other libraries' private APIs.

Everything cnnwidgets needs from Keras, ipycanvas or traitlets that is not
public API goes through a function here, so that a new release that moves an
internal breaks one function (and its test in ``tests/test_compat.py``, which
names the installed version), not the widgets. ``pyproject.toml`` bounds each
dependency to the versions CI tests: the newest in the development environment
and the oldest in ``./dev oldest`` (``.ci/oldest-constraints.txt``).

TensorFlow and Keras are loaded by :func:`load_keras` (and
:func:`load_tensorflow`): the first call imports them with TensorFlow's C++
start-up lines held back (see :func:`quiet_startup`), and says which extra to
install when TensorFlow is missing. Every other import here happens inside a
function, so ``import cnnwidgets`` stays cheap and the backend never imports
ipywidgets or ipycanvas.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect
import os
import re
import sys
import tempfile
import threading

from .errors import MissingDependencyError, PrivateAPIError

__all__ = [
    "load_keras",
    "load_tensorflow",
    "quiet_startup",
    "is_startup_noise",
    "functional_class",
    "is_container_model",
    "nodes_by_depth",
    "node_is_input",
    "fill_in_node_arguments",
    "producer_layer",
    "call_has_training_arg",
    "built_input_shapes",
    "forget_current_canvas",
    "send_png_image",
    "set_trait_value_quietly",
]

#: How to install TensorFlow for cnnwidgets (named in :class:`MissingDependencyError`).
INSTALL_HINT = (
    'pip install "cnnwidgets[tensorflow]" (or "cnnwidgets[cpu]" for the smaller CPU-only build; '
    "with conda: conda install tensorflow)"
)

# Serialises the first import of TensorFlow: capturing fd 2 is process-wide.
_LOAD_LOCK = threading.Lock()

#: Lines TensorFlow's C++ runtime prints while it loads (any version from 2.16
#: on, CPU and GPU builds on machines with or without a GPU). They are
#: informational; everything else written to stderr during the import is replayed.
_STARTUP_NOISE = re.compile(
    "|".join(
        [
            r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
            r"oneDNN custom operations are on",
            r"cpu_feature_guard\.cc",
            r"This TensorFlow binary is optimized to use available CPU instructions",
            r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags",
            r"Unable to register cu(DNN|FFT|BLAS) factory",
            r"computation placer already registered",
            r"Could not find cuda drivers on your machine",
            r"TF-TRT Warning: Could not find TensorRT",
            r"Unable to register cuDNN|Attempting to register factory for plugin",
            r"^\S+\s+\S+: [IW] external/local_tsl/tsl/cuda/cudart_stub\.cc",
            r"Could not load dynamic library 'libcudart",
            r"Ignore above cudart dlerror if you do not have a GPU",
        ]
    )
)


def _version(distribution):
    """Installed version of ``distribution`` (a pip name), or ``"not installed"``."""
    for name in (distribution, distribution.replace("-", "_")):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def _moved(distribution, what, exc=None):
    """The :class:`PrivateAPIError` for a private ``what`` of ``distribution`` that is gone."""
    detail = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    return PrivateAPIError(
        f"cnnwidgets uses {what}, which {distribution} {_version(distribution)} does not have{detail}; "
        f"install a {distribution} version inside the bounds in cnnwidgets' pyproject.toml, "
        "or report this at the cnnwidgets issue tracker"
    )


# ------------------------------------------------------------ loading TensorFlow
def is_startup_noise(line):
    """Whether a stderr line is one of TensorFlow's informational start-up lines."""
    return bool(_STARTUP_NOISE.search(line))


@contextlib.contextmanager
def quiet_startup():
    """Hold back what is written to file descriptor 2; replay all but start-up noise.

    TensorFlow's C++ runtime writes to the process's stderr (fd 2), past
    Python's ``sys.stderr``; in Jupyter, ipykernel forwards fd 2 to the
    notebook, where its start-up lines read as a red error block. Inside this
    context fd 2 points at a temporary file; on exit it is restored and every
    line that :func:`is_startup_noise` does not recognise is written to
    ``sys.stderr``, so real warnings and errors still show (after the fact).
    Nothing changes TensorFlow's log level: later messages print as usual.
    """
    try:
        sys.stderr.flush()
    except Exception:  # a closed or odd stderr: capture nonetheless
        pass
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (e.g. a service without stderr): nothing to quiet
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except Exception:
                pass
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if line.strip() and not is_startup_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def load_tensorflow():
    """Import TensorFlow quietly the first time and return the module.

    Raises
    ------
    MissingDependencyError
        TensorFlow is not installed; the message names the extra to install.
    """
    module = sys.modules.get("tensorflow")
    if module is not None and hasattr(module, "function"):
        return module
    with _LOAD_LOCK:
        try:
            with quiet_startup():
                import tensorflow
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.split(".")[0] != "tensorflow":
                raise
            raise MissingDependencyError(
                f"cnnwidgets computes with TensorFlow, which is not installed in this environment "
                f"({sys.prefix}); install it with: {INSTALL_HINT}"
            ) from exc
    return tensorflow


def load_keras():
    """Import Keras on its TensorFlow backend (quietly, the first time) and return it.

    Every place in cnnwidgets that needs Keras first calls this, so that the
    first import of TensorFlow, wherever it happens (``demo.digits_model()``,
    ``Inspector(model)``, a widget), is the quiet one.

    Raises
    ------
    MissingDependencyError
        TensorFlow is not installed, or Keras is set to another backend.
    """
    keras = sys.modules.get("keras")
    if keras is None or not hasattr(keras, "Model"):
        load_tensorflow()
        with _LOAD_LOCK, quiet_startup():
            import keras
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise MissingDependencyError(
            f"Keras runs on its {backend!r} backend here; cnnwidgets computes with TensorFlow. "
            "Set the environment variable KERAS_BACKEND=tensorflow before Keras is imported "
            "(or in ~/.keras/keras.json), then restart the kernel"
        )
    return keras


# --------------------------------------------------------------- Keras internals
def functional_class():
    """Keras' ``Functional`` model class (``keras.src.models.functional``)."""
    try:
        from keras.src.models.functional import Functional
    except ImportError as exc:
        raise _moved("keras", "keras.src.models.functional.Functional", exc) from exc
    return Functional


def is_container_model(layer):
    """Whether ``layer`` is a Sequential or functional model whose layers can be walked."""
    keras = load_keras()
    return isinstance(layer, (keras.Sequential, functional_class()))


def nodes_by_depth(model):
    """A functional model's ``{depth: [node, ...]}`` graph (``Functional._nodes_by_depth``)."""
    try:
        return model._nodes_by_depth
    except AttributeError as exc:
        raise _moved("keras", "Functional._nodes_by_depth", exc) from exc


def node_is_input(node):
    """Whether a graph node is an input placeholder (``Node.is_input``)."""
    try:
        return node.is_input
    except AttributeError as exc:
        raise _moved("keras", "Node.is_input", exc) from exc


def fill_in_node_arguments(node, tensors):
    """``(args, kwargs)`` of a node's call with ``{id(symbolic): value}`` filled in.

    Uses ``Node.arguments.fill_in`` (Keras' ``SymbolicArguments``).
    """
    try:
        fill_in = node.arguments.fill_in
    except AttributeError as exc:
        raise _moved("keras", "Node.arguments.fill_in", exc) from exc
    return fill_in(tensors)


def producer_layer(tensor):
    """The layer that produced a symbolic Keras tensor (``_keras_history[0]``), or None."""
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history[0]


def call_has_training_arg(layer):
    """Whether ``layer.call`` takes ``training`` (``Layer._call_has_training_arg``).

    Falls back to reading ``call``'s signature if the attribute is gone.
    """
    value = getattr(layer, "_call_has_training_arg", None)
    if isinstance(value, bool):
        return value
    try:
        return "training" in inspect.signature(layer.call).parameters
    except (TypeError, ValueError, AttributeError):
        return False


def built_input_shapes(model):
    """The input shapes a subclassed model was built with (``Layer._build_shapes_dict``).

    Returns
    -------
    list of tuple
        One shape per build argument; empty when the model is not built.
    """
    try:
        shapes = model._build_shapes_dict
    except AttributeError as exc:
        raise _moved("keras", "Layer._build_shapes_dict", exc) from exc
    return [tuple(shape) if shape is not None else None for shape in (shapes or {}).values()]


# ----------------------------------------------------------- ipycanvas internals
def forget_current_canvas():
    """Make ipycanvas re-send its "switch to this canvas" command before the next draw.

    ipycanvas' process-wide canvas manager (``ipycanvas.canvas._CANVAS_MANAGER``)
    remembers which canvas the last command targeted and skips the switch when
    the next command targets it again; a browser view that connects late has no
    current canvas yet (ipycanvas issue 342). Call this before replaying a
    drawing for such a view. With an ipycanvas whose manager has moved it does
    nothing (``tests/test_compat.py`` fails on such a version).
    """
    from ipycanvas import canvas as canvas_module

    manager = getattr(canvas_module, "_CANVAS_MANAGER", None)
    if manager is not None and hasattr(manager, "_current_canvas"):
        manager._current_canvas = None


def send_png_image(canvas, png_bytes, x=0, y=0):
    """Draw an already-encoded PNG on ``canvas`` at ``(x, y)``, as one draw command.

    ipycanvas' ``put_image_data`` encodes the pixels itself with Pillow
    (filtered, level 6), several times slower than cnnwidgets' own encoder for
    images drawn once; this sends the PNG through the canvas manager as the
    ``putImageData`` command that ``put_image_data`` would send. With an
    ipycanvas whose internals have moved it decodes the PNG and calls the
    public ``put_image_data`` instead (``tests/test_compat.py`` fails on such a
    version).

    Parameters
    ----------
    canvas : ipycanvas.Canvas
    png_bytes : bytes
        A PNG image (RGBA).
    x, y : int
        Top-left corner on the canvas, in canvas pixels.
    """
    try:
        from ipycanvas.canvas import COMMANDS

        command = COMMANDS["putImageData"]
        send = canvas._canvas_manager.send_draw_command
    except (ImportError, KeyError, AttributeError):
        import io

        import numpy as np
        from PIL import Image

        with Image.open(io.BytesIO(png_bytes)) as image:
            canvas.put_image_data(np.asarray(image.convert("RGBA")), x, y)
        return
    send(canvas, command, [x, y], [png_bytes])


# ----------------------------------------------------------- traitlets internals
def set_trait_value_quietly(obj, name, value):
    """Store ``value`` as trait ``name`` of ``obj`` without validation or notification.

    For traits that decide for themselves whether a change is real (e.g. numpy
    arrays, which traitlets' ``==`` test cannot compare): write the value, then
    notify only if it differs. Writes ``HasTraits._trait_values``.

    Returns
    -------
    object
        The previous value (the trait's default if it was never set).
    """
    try:
        values = obj._trait_values
    except AttributeError as exc:
        raise _moved("traitlets", "HasTraits._trait_values", exc) from exc
    if name in values:
        old = values[name]
    else:
        old = obj.traits()[name].default_value
    values[name] = value
    return old
