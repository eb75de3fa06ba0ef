"""The notebooks need nothing beyond cnnwidgets and its ``notebooks`` extra.

* ``cw.demo.require`` imports a lesson's optional package, or raises a one-line
  :class:`~cnnwidgets.MissingDependencyError` naming the extra to install.
* Every module a notebook imports comes from the standard library or from a
  distribution that the base dependencies or the ``notebooks`` extra bring
  (read from pyproject.toml, followed through installed metadata): fast.
* Slow, needs the package index: a fresh venv gets the README's notebooks
  line (``pip install ".[cpu,notebooks]"``), nothing else, and runs every
  notebook in a kernel on that venv, with the checks of tests/test_notebooks.py
  and no stderr output in any notebook's first code cell (the quiet start).
"""

import ast
import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

import cnnwidgets as cw
from test_binder_install import _clean_environment, _index_unreachable_reason, _run
from test_install import readme_install_lines, requirement_of
from test_notebooks import NOTEBOOKS, _stderr_tracebacks, _widget_errors

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
INSTALL_TIMEOUT_S = 1200
CELL_TIMEOUT_S = 600


# ------------------------------------------------------------------ require
def test_require_imports_what_is_installed():
    assert cw.demo.require("json.decoder") is sys.modules["json.decoder"]


def test_require_says_in_one_line_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(cw.MissingDependencyError) as info:
        cw.demo.require("skimage.data")
    message = str(info.value)
    assert "\n" not in message
    assert "scikit-image" in message and 'pip install "cnnwidgets[notebooks]"' in message, message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # one line, no chained trace


def test_require_keras_loads_it_the_way_cnnwidgets_does():
    from cnnwidgets import compat

    assert cw.demo.require("keras") is compat.load_keras()


# ------------------------------------------------- imports vs. declared extras
def _distribution_name(requirement):
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _declared_closure():
    """Distributions that base + ``notebooks`` bring, followed through installed metadata."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    todo = [_distribution_name(r) for r in project["dependencies"] + project["optional-dependencies"]["notebooks"]]
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo += [_distribution_name(r) for r in requires if "extra ==" not in r]
    return seen


def _imported_modules(path):
    """Top-level modules a notebook imports (``import``, ``from``, ``cw.demo.require``)."""
    notebook = nbformat.read(path, as_version=4)
    modules = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "require"
                  and node.args and isinstance(node.args[0], ast.Constant)):
                modules.add(node.args[0].value.split(".")[0])
    return modules


def test_every_import_of_the_notebooks_is_declared():
    declared = _declared_closure() | {"cnnwidgets"}
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for path in NOTEBOOKS:
        for module in _imported_modules(path):
            if module in sys.stdlib_module_names or module == "cnnwidgets":
                continue
            distributions = {d.lower().replace("_", "-") for d in providers.get(module, [module])}
            if not distributions & declared:
                undeclared.setdefault(path.name, []).append(f"{module} ({', '.join(sorted(distributions))})")
    assert not undeclared, (
        f"notebooks import packages that neither cnnwidgets nor its notebooks extra installs: {undeclared}; "
        "add them to the notebooks extra in pyproject.toml"
    )


# ------------------------------------------------- a venv with only the extra
def _notebooks_line():
    lines = [requirement_of(line) for line in readme_install_lines() if "notebooks" in line]
    assert lines, "the README's Install section has no line with the notebooks extra"
    return lines[0]


@pytest.mark.slow
def test_every_notebook_runs_with_only_the_notebooks_extra(tmp_path, monkeypatch):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    reason = _index_unreachable_reason(tmp_path)
    if reason is not None:
        pytest.skip(reason)
    venv = tmp_path / "notebooks-env"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    python = venv / "bin" / "python"
    env = _clean_environment()
    env.pop("TF_CPP_MIN_LOG_LEVEL")  # TensorFlow's default log level, as on a user's machine
    env.pop("PYTEST_CURRENT_TEST", None)  # else ipykernel does not forward what C++ code writes to fd 2
    _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--no-compile",
          _notebooks_line()], timeout=INSTALL_TIMEOUT_S, cwd=REPO, env=env)
    _run([str(python), "-m", "pip", "check"], timeout=120, env=env)
    installed = _run([str(python), "-m", "pip", "list", "--format=json"], timeout=120, env=env).stdout
    names = {item["name"].lower() for item in json.loads(installed)}
    assert "scikit-image" in names and "pytest" not in names and "mlxtend" not in names, sorted(names)

    # A kernelspec running the new venv's Python, found through JUPYTER_PATH, so that
    # nbclient owns each kernel it starts (and shuts it down after the notebook).
    share = tmp_path / "share" / "jupyter"
    (share / "kernels" / "notebooks-env").mkdir(parents=True)
    (share / "kernels" / "notebooks-env" / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "notebooks extra only", "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(share))
    failures = []
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(notebook, kernel_name="notebooks-env", timeout=CELL_TIMEOUT_S,
                                resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
        assert client.kernel_manager_class().kernel_spec_manager.get_kernel_spec("notebooks-env").argv[0] == str(python)
        try:
            client.execute(env=env)
        except CellExecutionError as exc:
            failures.append(f"{path.name} raised:\n{str(exc)[-3000:]}")
            continue
        code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        first_stderr = [o.get("text", "") for o in code_cells[0].outputs
                        if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        if first_stderr:
            failures.append(f"{path.name}: the first code cell wrote to stderr:\n{''.join(first_stderr)[-2000:]}")
        tracebacks = _stderr_tracebacks(notebook)
        if tracebacks:
            failures.append(f"{path.name}: cell {tracebacks[0][0]} printed a traceback:\n{tracebacks[0][1]}")
        errors = _widget_errors(notebook)
        if errors and not notebook.metadata.get("cnnwidgets", {}).get("expect_widget_errors", False):
            failures.append(f"{path.name}: widgets show errors: {errors}")
        if not all(cell.execution_count for cell in code_cells):
            failures.append(f"{path.name}: not every cell ran")
    assert not failures, "\n\n".join(failures)
