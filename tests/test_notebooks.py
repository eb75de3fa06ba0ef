"""Every notebook in ``notebooks/`` runs top to bottom, and is committed without outputs.

Each notebook is executed with nbclient in a fresh kernel whose kernelspec
(written to a temporary directory) runs this interpreter, ``sys.executable``,
with ``notebooks/`` as the working directory. A notebook fails when a cell
raises, when a background thread prints a traceback, or when a widget ends up
showing an error message (widgets catch their errors and display them, so the
cell itself would not raise). A notebook that shows a widget error on purpose
(to teach error handling) says so in its metadata:
``{"cnnwidgets": {"expect_widget_errors": true}}``.
"""

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_NAME = "python3"
TIMEOUT_S = 300
#: Markup of ``InspectorWidget.show_error`` (see ``cnnwidgets/widgets/base.py``).
WIDGET_ERROR_MARK = 'class="cnnwidgets-error"'
#: The lessons every checkout must have (the glob would quietly run none if they went missing).
REQUIRED = ("00_tour.ipynb", "05_tank_story.ipynb", "06_your_own_model.ipynb", "07_which_map_to_trust.ipynb",
            "10_beyond_classification.ipynb")


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A directory holding one kernelspec, ``python3``, that runs ``sys.executable``."""
    kernels = tmp_path_factory.mktemp("kernels")
    spec_dir = kernels / KERNEL_NAME
    spec_dir.mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (test interpreter)",
        "language": "python",
        "env": {"TF_CPP_MIN_LOG_LEVEL": "2"},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return kernels


@pytest.fixture(scope="module")
def executed(kernel_dir):
    """``executed(path)``: the notebook run top to bottom (once per module), or a failure saying what raised."""
    done = {}

    def run(path):
        if path not in done:
            done[path] = _execute(path, kernel_dir)
        return done[path]

    return run


def _execute(path, kernel_dir):
    notebook = nbformat.read(path, as_version=4)
    manager = AsyncKernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]),
    )
    assert manager.kernel_spec.argv[0] == sys.executable
    client = NotebookClient(
        notebook,
        km=manager,
        kernel_name=KERNEL_NAME,
        timeout=TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} raised:\n{exc}", pytrace=False)
    return notebook


def _notebook_id(path):
    return path.stem


def test_the_lessons_are_there():
    names = {path.name for path in NOTEBOOKS}
    missing = [name for name in REQUIRED if name not in names]
    assert not missing, f"notebooks missing from {NOTEBOOK_DIR}: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_notebook_id)
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        index for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} have outputs or execution counts; clear them before committing "
        f"(jupyter nbconvert --clear-output --inplace {path.relative_to(REPO)})"
    )
    assert "widgets" not in notebook.metadata, f"{path.name}: saved widget state in the metadata; clear it"


def _widget_errors(notebook):
    """Error messages that widgets display at the end of the run."""
    state = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    messages = []
    for model in state.get("state", {}).values():
        value = model.get("state", {}).get("value")
        if isinstance(value, str) and WIDGET_ERROR_MARK in value:
            messages.append(value)
    return messages


def _stderr_tracebacks(notebook):
    """(cell index, text) of stderr outputs that carry a Python traceback."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                if "Traceback (most recent call last)" in output.get("text", ""):
                    found.append((index, output["text"][-2000:]))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_notebook_id)
def test_notebook_runs(path, executed):
    notebook = executed(path)
    tracebacks = _stderr_tracebacks(notebook)
    assert not tracebacks, f"{path.name}: cell {tracebacks[0][0]} printed a traceback:\n{tracebacks[0][1]}"
    errors = _widget_errors(notebook)
    expected = notebook.metadata.get("cnnwidgets", {}).get("expect_widget_errors", False)
    assert expected or not errors, f"{path.name}: widgets show errors: {errors}"
    unexecuted = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and not cell.execution_count]
    assert not unexecuted, f"{path.name}: cells {unexecuted} did not run"


def test_the_checks_catch_widget_errors_and_thread_tracebacks():
    """The two checks that a raising cell would not trigger, on a hand-made executed notebook."""
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("w", outputs=[
            nbformat.v4.new_output("stream", name="stderr", text="Exception in thread Thread-1:\n"
                                   "Traceback (most recent call last):\nZeroDivisionError: division by zero\n"),
        ]),
        nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("stream", name="stderr", text="a warning\n")]),
    ])
    error_html = '<span class="cnnwidgets-error" style="color:#b3261e">ValueError: boom</span>'
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {
        "a": {"model_name": "HTMLModel", "state": {"value": error_html}},
        "b": {"model_name": "HTMLModel", "state": {"value": '<span class="cnnwidgets-info">fine</span>'}},
        "c": {"model_name": "FloatProgressModel", "state": {"value": 0.5}},
    }}}
    assert _widget_errors(notebook) == [error_html]
    assert [index for index, _ in _stderr_tracebacks(notebook)] == [0]


# ------------------------------------------------------- lesson 10's claims
BEYOND = NOTEBOOK_DIR / "10_beyond_classification.ipynb"


def _cell(notebook, needle):
    """The one code cell whose source contains ``needle``."""
    found = [cell for cell in notebook.cells if cell.cell_type == "code" and needle in cell.source]
    assert len(found) == 1, f"{len(found)} code cells of {BEYOND.name} contain {needle!r}"
    return found[0]


def _stdout(cell):
    return "".join(out.get("text", "") for out in cell.outputs if out.get("output_type") == "stream"
                   and out.get("name") == "stdout")


def _number(text, label):
    """The number printed after ``label`` in ``text``."""
    found = re.search(re.escape(label) + r"\s*(-?[0-9.]+)", text)
    assert found, f"{BEYOND.name} no longer prints {label!r}; its output was:\n{text}"
    return float(found.group(1))


@pytest.mark.slow
def test_the_beyond_classification_lesson_shows_what_its_text_says(executed):
    """Lesson 10's prose asks questions whose answers come from the trained models: they must still hold."""
    notebook = executed(BEYOND)
    # every picture the lesson talks about is drawn
    for cell in notebook.cells:
        if cell.cell_type == "code" and "show(" in cell.source and "def show" not in cell.source:
            assert any("image/png" in out.get("data", {}) for out in cell.outputs), f"no picture from:\n{cell.source}"

    kinds = _stdout(_cell(notebook, "insp.output_kinds[0]"))
    assert "kind 'map'" in kinds and "kind 'values'" in kinds, kinds

    # "In which weather does the segmenter see tank pixels where there is no tank?": clearly the cloudy one
    predictions = _stdout(_cell(notebook, "predicted = np.stack"))
    assert _number(predictions, "intersection over union") > 0.4, predictions
    cloudy, sunny = _number(predictions, "empty cloudy scenes:"), _number(predictions, "empty sunny  scenes:")
    assert cloudy >= 5 and cloudy >= 3 * sunny, predictions
    assert _number(predictions, "off by") < 3 and _number(predictions, "px (row) and") < 3, predictions

    # "Does the segmenter look at the tank?": every map puts well over the tank's share of the picture on it
    region = _stdout(_cell(notebook, "def on_tank"))
    tank_share = _number(region, "the tank is")
    for method in ("Grad-CAM", "Integrated Gradients", "Occlusion"):
        assert _number(region, method) >= 2 * tank_share, region

    # "Which method's map changes when the region changes?": not Grad-CAM on this 1x1-convolution head
    gradcam, integrated = (float(x) for x in re.findall(r"correlation (-?[0-9.]+)",
                                                          _stdout(_cell(notebook, "why_sky_pixel = "))))
    assert gradcam >= 0.99 and integrated < 0.5, (gradcam, integrated)

    # "Which end of the tank makes it say left?": the left end; without the tank it guesses nearer the middle
    blurred = _stdout(_cell(notebook, "column_of = "))
    seen = _number(blurred, "column as seen:")
    left, right = _number(blurred, "left half of the tank blurred:"), _number(blurred, "right half of the tank blurred:")
    whole = _number(blurred, "the whole tank blurred:")
    assert seen < 0.45, f"the chosen tank is not on the left:\n{blurred}"
    assert left - seen >= 0.04 and left - seen > 2 * abs(right - seen), blurred
    assert abs(whole - 0.5) < abs(seen - 0.5), blurred

    heads = _stdout(_cell(notebook, "two_heads = keras.Model"))
    assert "{'probabilities': 'map', 'centre': 'values'}" in heads, heads
    assert "each head's map equals its own model's: True True" in heads, heads

    # the widgets on these models are shown (test_notebook_runs fails on any error they display)
    for constructor in ("cw.SaliencyOverlay(", "cw.OcclusionPainter(", "cw.LayerBrowser("):
        outputs = _cell(notebook, constructor).outputs
        assert any("application/vnd.jupyter.widget-view+json" in out.get("data", {}) for out in outputs), (
            f"the cell with {constructor} shows no widget")
    painted = _stdout(_cell(notebook, "overlay.region = "))
    assert "tank over its painted region" in painted, painted
