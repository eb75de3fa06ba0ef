"""How cnnwidgets gets TensorFlow: pip resolutions (``--dry-run --report``), no install.

cnnwidgets depends on Keras 3 and takes TensorFlow from the environment or from
its ``tensorflow`` / ``cpu`` extras (see pyproject.toml and the README). Checked:

* every ``pip install`` line of the README's install section, resolved into a
  fresh venv, brings the TensorFlow it promises (and the plain one none);
* resolved into a venv that already has ``tensorflow``, cnnwidgets (alone, with
  the ``tensorflow`` extra or the notebooks' extra) adds no ``tensorflow-cpu``
  and does not replace ``tensorflow``;
* ``.[test]``, what ``./dev`` and CI install, brings TensorFlow.

That a resolved line also *works* is tested by real installs: the Binder test
(``.[cpu,notebooks]`` pinned, then the tour) and the notebook-extras test
(the README's notebooks line, then every notebook). Needs the package index;
skipped, with the reason, only when a tiny download fails within 20 s.
"""

import json
import platform
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from test_binder_install import _clean_environment, _index_unreachable_reason, _run

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RESOLVE_TIMEOUT_S = 600
#: Where pip puts the CPU-only build on this machine (see the `cpu` extra).
CPU_BUILD = "tensorflow-cpu" if sys.platform == "linux" and platform.machine() == "x86_64" else "tensorflow"


def readme_install_lines():
    """The ``pip install ...`` commands of the README's "Install" section, in order."""
    text = README.read_text()
    section = re.search(r"^## Install\b(.*?)^## ", text, flags=re.S | re.M)
    assert section, "README.md has no '## Install' section"
    commands = re.findall(r"^(pip install [^#\n]*?)\s*(?:#.*)?$", section.group(1), flags=re.M)
    assert commands, "the README's Install section shows no pip install line"
    return commands


def requirement_of(command):
    """``pip install ".[cpu]"`` -> ``.[cpu]`` (the one requirement the line installs)."""
    words = command.split()[2:]
    assert len(words) == 1, f"expected one requirement in {command!r}"
    return words[0].strip("\"'")


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    reason = _index_unreachable_reason(tmp_path_factory.mktemp("probe"))
    if reason is not None:
        pytest.skip(reason)


def _venv(path, with_tensorflow=None):
    """A fresh venv; with ``with_tensorflow="2.21.0"`` it already "has" that ``tensorflow``.

    The installed ``tensorflow`` is its metadata only (a ``dist-info``), which
    is all pip's resolver reads: nothing is downloaded to set it up.
    """
    _run([sys.executable, "-m", "venv", str(path)], timeout=300)
    if with_tensorflow:
        purelib = subprocess.run(
            [str(path / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        info = Path(purelib) / f"tensorflow-{with_tensorflow}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tensorflow\nVersion: {with_tensorflow}\n")
        (info / "INSTALLER").write_text("pip\n")
        (info / "RECORD").write_text("")
    return path / "bin" / "python"


def _resolve(python, requirement, report):
    """``{name: version}`` that ``pip install requirement`` would install into ``python``'s venv."""
    _run(
        [str(python), "-m", "pip", "install", "--dry-run", "--quiet", "--disable-pip-version-check",
         "--report", str(report), requirement],
        timeout=RESOLVE_TIMEOUT_S, cwd=REPO, env=_clean_environment(),
    )
    installs = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"] for item in installs}


def _tensorflows(resolution):
    return {name: version for name, version in resolution.items() if name in ("tensorflow", "tensorflow-cpu")}


def test_the_readme_shows_the_extras():
    requirements = [requirement_of(line) for line in readme_install_lines()]
    assert ".[tensorflow]" in requirements and ".[cpu]" in requirements and "." in requirements, requirements
    assert any("notebooks" in r for r in requirements), requirements


def test_resolutions(index, tmp_path):
    # Build cnnwidgets once; each resolution then reads the wheel's metadata.
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
          "--wheel-dir", str(tmp_path / "wheel"), str(REPO)], timeout=600, env=_clean_environment())
    (wheel,) = (tmp_path / "wheel").glob("cnnwidgets-*.whl")
    fresh = _venv(tmp_path / "fresh")
    has_tensorflow = _venv(tmp_path / "has-tensorflow", with_tensorflow="2.21.0")
    jobs = [(fresh, requirement_of(line)) for line in readme_install_lines()]
    jobs += [(fresh, ".[test]")]
    jobs += [(has_tensorflow, r) for r in (".", ".[tensorflow]", ".[notebooks]")]
    def resolve(numbered):
        number, (python, requirement) = numbered
        return _resolve(python, str(wheel) + requirement[1:], tmp_path / f"report-{number}.json")

    with ThreadPoolExecutor(max_workers=3) as pool:  # the index answers in parallel
        resolutions = list(pool.map(resolve, enumerate(jobs)))
    results = {(python.parent.parent.name, requirement): r for (python, requirement), r in zip(jobs, resolutions)}

    for (venv, requirement), resolution in results.items():
        assert "cnnwidgets" in resolution and "keras" in resolution, (venv, requirement, sorted(resolution))
        tensorflows = _tensorflows(resolution)
        if venv == "has-tensorflow":
            assert not tensorflows, (
                f"pip install {requirement} into an environment that has tensorflow would add {tensorflows}"
            )
        elif requirement == ".":
            assert not tensorflows, f"plain cnnwidgets must leave TensorFlow to the user, got {tensorflows}"
        elif "tensorflow" in requirement:
            assert set(tensorflows) == {"tensorflow"}, (requirement, tensorflows)
        else:  # the cpu extra, alone, with the notebooks' extra, or through .[test]
            assert set(tensorflows) == {CPU_BUILD}, (requirement, tensorflows)
        assert all(v.startswith("2.") for v in tensorflows.values()), tensorflows
