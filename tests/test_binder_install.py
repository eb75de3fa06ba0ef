"""Install from scratch what mybinder.org installs, then run the tour with it.

A new virtual environment gets ``pip install -r binder/requirements.txt`` (run
from the repository root, as repo2docker does), must pass ``pip check``, must
import cnnwidgets from the new environment rather than from this checkout, and
must execute ``notebooks/00_tour.ipynb`` without an error in a kernel running
the new environment's Python.

It needs the package index. The test is skipped, with the reason, only when a
``pip download`` of one tiny package fails within 20 seconds; any other
failure fails the test.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "binder" / "requirements.txt"
RUNTIME = REPO / "binder" / "runtime.txt"
TOUR = REPO / "notebooks" / "00_tour.ipynb"
KERNEL_NAME = "cnnwidgets-binder-test"
INSTALL_TIMEOUT_S = 1800
EXECUTE_TIMEOUT_S = 600
#: A small pure-Python package, used only to tell whether the index answers.
PROBE_PACKAGE = "six"


def _run(command, timeout, **kwargs):
    """Run ``command``; on failure raise an AssertionError that shows its output."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-6000:]
        raise AssertionError(f"{' '.join(map(str, command))} exited with {result.returncode}:\n{output}")
    return result


def _index_unreachable_reason(tmp_path):
    """Why the package index cannot be used, or None when a tiny download works."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
        "--quiet", "--dest", str(tmp_path / "probe"), PROBE_PACKAGE,
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return f"the package index did not answer within 20 s (pip download {PROBE_PACKAGE})"
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"the package index is unreachable (pip download {PROBE_PACKAGE}: {last_line})"
    return None


def _clean_environment(**extra):
    """This process's environment without anything that could leak its packages in."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


def test_binder_files_are_consistent():
    """runtime.txt names this interpreter's Python, and requirements.txt installs cnnwidgets itself."""
    runtime = RUNTIME.read_text().strip()
    assert runtime == f"python-{sys.version_info.major}.{sys.version_info.minor}", (
        f"binder/runtime.txt says {runtime!r}; the install test runs Python "
        f"{sys.version_info.major}.{sys.version_info.minor}"
    )
    lines = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    requirements = [line for line in lines if line]
    itself = [line for line in requirements if line.removeprefix("-e ").startswith(".")]
    assert itself == [".[cpu,notebooks]"], (
        "binder/requirements.txt must install cnnwidgets from the checkout with the CPU build of TensorFlow "
        f"and the notebooks' extra: .[cpu,notebooks]; found {itself}"
    )
    pinned = [line for line in requirements if line not in itself]
    unpinned = [line for line in pinned if "==" not in line]
    assert not unpinned, f"pin exact versions in binder/requirements.txt: {unpinned}"


def test_fresh_install_runs_the_tour(tmp_path):
    reason = _index_unreachable_reason(tmp_path)
    if reason is not None:
        pytest.skip(reason)

    venv = tmp_path / "binder-env"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    python = venv / "bin" / "python"
    env = _clean_environment()

    _run(
        # --no-compile: skip byte-compiling every installed module up front (minutes for
        # TensorFlow); what the tour imports is compiled when imported.
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--no-compile",
         "-r", str(REQUIREMENTS)],
        timeout=INSTALL_TIMEOUT_S, cwd=REPO, env=env,
    )
    _run([str(python), "-m", "pip", "check"], timeout=120, env=env)

    # cnnwidgets must come from the new environment, not from this checkout.
    located = _run(
        [str(python), "-c", "import cnnwidgets, sys; print(cnnwidgets.__file__); print(sys.prefix)"],
        timeout=120, cwd=tmp_path, env=env,
    ).stdout.split()
    assert Path(located[0]).resolve().is_relative_to(venv.resolve()), (
        f"cnnwidgets was imported from {located[0]}, not from the new environment {venv}"
    )

    # A kernelspec that runs the new environment's Python, in a private prefix.
    prefix = tmp_path / "kernels"
    _run(
        [str(python), "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", KERNEL_NAME],
        timeout=120, env=env,
    )
    spec = json.loads((prefix / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json").read_text())
    # Not resolved: the venv's python is a symlink to the base interpreter.
    assert Path(spec["argv"][0]).absolute().is_relative_to(venv.absolute()), spec["argv"]

    executed = tmp_path / "00_tour.executed.ipynb"
    _run(
        [
            str(python), "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
            f"--ExecutePreprocessor.kernel_name={KERNEL_NAME}",
            f"--ExecutePreprocessor.timeout={EXECUTE_TIMEOUT_S}",
            "--output", str(executed), str(TOUR),
        ],
        timeout=EXECUTE_TIMEOUT_S + 120, cwd=TOUR.parent,
        env=_clean_environment(JUPYTER_PATH=str(prefix / "share" / "jupyter")),
    )
    notebook = json.loads(executed.read_text())
    errors = [
        output for cell in notebook["cells"] if cell["cell_type"] == "code"
        for output in cell.get("outputs", []) if output.get("output_type") == "error"
    ]
    assert not errors, f"the tour raised in the fresh environment: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code_cells and all(cell.get("execution_count") for cell in code_cells), "not every cell of the tour ran"
