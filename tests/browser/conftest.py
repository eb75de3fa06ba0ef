"""Real-browser test harness: JupyterLab / Voila servers driven by headless Chromium.

Everything under ``tests/browser/`` is marked ``browser`` automatically.

Fixtures
--------
jupyter_environment (session)
    Isolated Jupyter directories plus a ``python3`` kernelspec that runs
    ``sys.executable`` (the interpreter running pytest).
notebook_root (session)
    Temporary directory served by both servers; tests write notebooks into it
    (see :func:`write_notebook`).
jupyter_server (session)
    A JupyterLab server (:class:`ServerInfo`).
voila_server (session)
    A Voila server over the same directory (:class:`ServerInfo`).
browser (session)
    Playwright Chromium (``/usr/bin/chromium``).
page (function)
    A fresh browser context and page; on test failure a screenshot is saved
    and the browser console errors are printed.
harness (session)
    The helpers below as attributes; use it instead of importing conftest.

Helpers
-------
write_notebook, run_notebook_in_lab, open_in_voila, canvas_pixels,
wait_for_pixels, is_blank, save_screenshot, console_messages, page_errors.

Pitfalls handled here
---------------------
* The venv's stock ``python3`` kernelspec says ``"python"`` (jupyter_client
  maps that to the *server's* interpreter, and a user-level spec in
  ``~/.local/share/jupyter`` would shadow it).  We install our own spec with
  the absolute path of ``sys.executable`` into a temporary prefix, put it
  first on ``JUPYTER_PATH`` and assert the server reports it.
* JupyterLab restores the previous workspace (previously opened notebooks
  would start kernels again): workspaces and user settings live in temporary
  directories and every notebook is opened with ``?reset``.
* "Run All" is issued through the ``notebook:run-all-cells`` command of the
  application object exposed with ``--LabApp.expose_app_in_browser`` (what
  Galata does) rather than by clicking menus; the promise it returns tells
  when the last cell finished.
* Notebook windowing is switched off (``windowingMode: none``) so that all
  cell outputs are attached to the DOM.
* Requests to anything but the local servers are aborted (Voila asks a CDN
  for fonts; the test machines have no internet).
* Voila 0.5.13 ships JupyterLab 4.2 core; extensions built for 4.6 log
  "Unsatisfied version" warnings (harmless) and Notebook 7's lab extension
  fails to load, so it is deny-listed for Voila.
* ipycanvas keeps no pixels: a client that connects after the drawing
  (Voila, reloaded page) sees an empty canvas unless the kernel redraws in
  ``Canvas.on_client_ready`` -- see ``test_harness.py`` for a caveat.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
ARTIFACTS_DIR = REPO_ROOT / "tests" / "artifacts"
SCREENSHOT_DIR = ARTIFACTS_DIR / "screenshots"

CHROMIUM_PATH = os.environ.get("CNNWIDGETS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
SERVER_START_TIMEOUT = 120.0
DEFAULT_NOTEBOOK_TIMEOUT = 240.0

# Browser console messages per page (key: id(page)); see console_messages().
_CONSOLE: dict[int, list[str]] = {}


# --------------------------------------------------------------------------
# pytest hooks
# --------------------------------------------------------------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test collected below ``tests/browser/`` with ``browser``.

    Parameters
    ----------
    config : pytest.Config
        The pytest configuration (unused).
    items : list of pytest.Item
        All collected items of the session; only those under this directory
        are marked.
    """
    for item in items:
        try:
            Path(str(item.path)).resolve().relative_to(HERE)
        except ValueError:
            continue
        item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Store each phase's report on the item (``item.rep_setup`` ...).

    The ``page`` fixture uses it to save a screenshot of failed tests.
    """
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# --------------------------------------------------------------------------
# processes and servers
# --------------------------------------------------------------------------
def _free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Return the ids of all living descendants of process ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    if not os.path.isdir("/proc"):  # not Linux: rely on the servers' own cleanup
        return []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
            # the command name (2nd field) may contain spaces: split after ")"
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    result, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            result.append(child)
            todo.append(child)
    return result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - not ours
        return True
    try:  # a zombie is as good as dead
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _stop_process_tree(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """Stop a server started by this module, and the kernels it started.

    The server gets SIGTERM (Jupyter Server and Voila then shut their kernels
    down); anything of its process tree still alive afterwards (kernels live in
    their own sessions, so a process-group kill would miss them) is
    terminated by pid.
    """
    if proc.poll() is not None:
        return
    descendants = _descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = [pid for pid in descendants if _alive(pid)]
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while left and time.monotonic() < deadline:
            left = [pid for pid in left if _alive(pid)]
            time.sleep(0.1)
        if not left:
            break


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ServerInfo:
    """A running JupyterLab or Voila server.

    Attributes
    ----------
    kind : {"lab", "voila"}
        Which application runs.
    base_url : str
        ``http://127.0.0.1:<port>/`` (with trailing slash).
    token : str
        Authentication token (also accepted as ``?token=`` by the pages).
    root_dir : pathlib.Path
        Directory served; notebooks are addressed relative to it.
    log_path : pathlib.Path
        File receiving the server's stdout and stderr.
    process : subprocess.Popen
        The server process.
    kernel_ids : list of str
        Kernels opened through the helpers (Voila); shut down after each test.
    """

    kind: str
    base_url: str
    token: str
    root_dir: Path
    log_path: Path
    process: subprocess.Popen
    kernel_ids: list[str] = field(default_factory=list)

    def url(self, path: str = "", **query: str | None) -> str:
        """Build an absolute URL carrying the token.

        Parameters
        ----------
        path : str
            Path relative to ``base_url`` (already quoted where needed).
        **query : str or None
            Extra query parameters; ``None`` gives a bare flag (``?reset``).

        Returns
        -------
        str
            The URL.
        """
        parts = []
        for key, value in query.items():
            parts.append(key if value is None else f"{key}={urllib.parse.quote(str(value))}")
        if self.token:
            parts.append(f"token={self.token}")
        url = self.base_url + path.lstrip("/")
        return url + ("?" + "&".join(parts) if parts else "")

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        """Call the server's REST API with the token.

        Parameters
        ----------
        method : str
            HTTP method.
        path : str
            Path relative to ``base_url``, e.g. ``"api/kernels"``.
        body : object, optional
            JSON-serialisable request body.
        timeout : float
            Seconds.

        Returns
        -------
        object or None
            The decoded JSON answer, ``None`` for an empty one.
        """
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path.lstrip("/"), data=data, method=method)
        if self.token:
            req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw.strip() else None

    def log_tail(self, lines: int = 60) -> str:
        """Return the last ``lines`` lines of the server log."""
        return _tail(self.log_path, lines)

    def shutdown_kernels(self) -> None:
        """Shut down the kernels this test started (best effort).

        JupyterLab: every session/kernel of the server.  Voila: the kernels
        recorded in :attr:`kernel_ids` by :func:`open_in_voila`.
        """
        ids = list(self.kernel_ids)
        self.kernel_ids.clear()
        if self.kind == "lab":
            try:
                ids += [k["id"] for k in self.api("GET", "api/kernels")]
            except (OSError, urllib.error.URLError, ValueError):
                return
        for kernel_id in dict.fromkeys(ids):
            try:
                self.api("DELETE", f"api/kernels/{kernel_id}")
            except (OSError, urllib.error.URLError):
                pass


def _start_server(
    kind: str,
    make_cmd: Callable[[int, str], list[str]],
    ready_path: str,
    env: dict[str, str],
    root_dir: Path,
    log_dir: Path,
    attempts: int = 3,
) -> ServerInfo:
    """Start a server on a free port and wait until ``ready_path`` answers 200."""
    token = secrets.token_hex(16)
    last_log: Path | None = None
    for attempt in range(attempts):
        port = _free_port()
        log_path = log_dir / f"{kind}-server-{attempt}.log"
        last_log = log_path
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                make_cmd(port, token),
                cwd=root_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        info = ServerInfo(kind, f"http://127.0.0.1:{port}/", token, root_dir, log_path, proc)
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                req = urllib.request.Request(info.base_url + ready_path)
                req.add_header("Authorization", f"token {token}")
                with urllib.request.urlopen(req, timeout=5) as resp:
                    if resp.status == 200:
                        return info
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.25)
        _stop_process_tree(proc)
        if "already in use" not in _tail(log_path, 200):
            break  # not a port race: do not retry
    pytest.fail(
        f"{kind} server did not start (log {last_log}); last lines:\n{_tail(last_log)}"
        if last_log
        else f"{kind} server did not start",
        pytrace=False,
    )


# --------------------------------------------------------------------------
# fixtures: environment and servers
# --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def jupyter_environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Isolated Jupyter directories and a kernelspec running this interpreter.

    A ``python3`` kernelspec is installed with ``sys.executable -m ipykernel
    install --prefix <tmp>`` (its ``argv[0]`` is the absolute path of
    ``sys.executable``) and ``<tmp>/share/jupyter`` is put first on
    ``JUPYTER_PATH``, so it shadows the environment's own ``python3`` spec.
    Config, data, runtime, IPython, JupyterLab settings and workspace
    directories are temporary, so nothing from ``~`` leaks in.  The repo root
    is prepended to ``PYTHONPATH`` so kernels can ``import cnnwidgets``.

    Parameters
    ----------
    tmp_path_factory : pytest.TempPathFactory
        pytest's session temp directory factory.

    Returns
    -------
    dict
        ``env`` (environment for the servers), ``base`` (temp directory),
        ``kernel_argv`` (the spec's argv), ``settings_dir`` and
        ``workspaces_dir`` (JupyterLab's).
    """
    base = tmp_path_factory.mktemp("jupyter")
    dirs = {name: base / name for name in ("config", "data", "runtime", "ipython", "kernels",
                                           "lab-settings", "lab-workspaces", "logs")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)

    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        IPYTHONDIR=str(dirs["ipython"]),
        JUPYTER_PATH=os.pathsep.join(
            [str(dirs["kernels"] / "share" / "jupyter")]
            + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
        ),
        PYTHONPATH=os.pathsep.join(
            [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        PYTHONUNBUFFERED="1",
    )
    # Kernels run as a user's do: with TensorFlow's default log level, and forwarding
    # what C++ code writes to fd 2 (ipykernel does not when it sees
    # PYTEST_CURRENT_TEST); cnnwidgets' quiet start must keep the start-up lines away.
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env.pop("PYTEST_CURRENT_TEST", None)
    env.pop("JUPYTER_TOKEN", None)

    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--prefix", str(dirs["kernels"]),
         "--name", "python3", "--display-name", "Python 3 (cnnwidgets tests)"],
        env=env, check=True, capture_output=True,
    )
    spec_file = dirs["kernels"] / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    argv = json.loads(spec_file.read_text())["argv"]
    assert argv[0] == sys.executable, f"kernelspec runs {argv[0]!r}, not {sys.executable!r}"

    # JupyterLab user settings: all cells attached (no windowing), no news/update toasts.
    settings = dirs["lab-settings"] / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))

    return {
        "env": env,
        "base": base,
        "kernel_argv": argv,
        "settings_dir": dirs["lab-settings"],
        "workspaces_dir": dirs["lab-workspaces"],
        "log_dir": dirs["logs"],
    }


@pytest.fixture(scope="session")
def notebook_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Temporary directory served by :func:`jupyter_server` and :func:`voila_server`.

    Returns
    -------
    pathlib.Path
        The directory; write notebooks into it with :func:`write_notebook`.
    """
    return tmp_path_factory.mktemp("notebooks")


@pytest.fixture(scope="session")
def jupyter_server(
    jupyter_environment: dict[str, Any], notebook_root: Path
) -> Iterable[ServerInfo]:
    """A JupyterLab server on a free port of 127.0.0.1.

    Started as ``sys.executable -m jupyter lab`` with a random token, no
    news / update checks, the application object exposed to the page
    (``window.jupyterapp``), temporary settings and workspaces, and
    ``root_dir`` = :func:`notebook_root`.  Stopped (with its kernels) at the
    end of the session.

    Yields
    ------
    ServerInfo
        ``base_url``, ``token``, ``root_dir``, ``log_path`` ...
    """
    env = jupyter_environment

    def cmd(port: int, token: str) -> list[str]:
        return [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
            f"--port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.token={token}", f"--ServerApp.root_dir={notebook_root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={env['settings_dir']}",
            f"--LabApp.workspaces_dir={env['workspaces_dir']}",
        ]

    server = _start_server("lab", cmd, "api/status", env["env"], notebook_root, env["log_dir"])
    try:
        specs = server.api("GET", "api/kernelspecs")
        argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
        assert argv[0] == sys.executable, f"server's python3 kernel runs {argv[0]!r}"
        yield server
    finally:
        server.shutdown_kernels()
        _stop_process_tree(server.process)


@pytest.fixture(scope="session")
def voila_server(jupyter_environment: dict[str, Any], notebook_root: Path) -> Iterable[ServerInfo]:
    """A Voila server (``python -m voila <root_dir>``) on a free port.

    Notebooks are served at ``/voila/render/<name>``; tracebacks are shown.
    Stopped (with its kernels) at the end of the session.

    Yields
    ------
    ServerInfo
        Same shape as :func:`jupyter_server`.
    """
    env = jupyter_environment

    def cmd(port: int, token: str) -> list[str]:
        return [
            sys.executable, "-m", "voila", "--no-browser", f"--port={port}",
            "--Voila.port_retries=0", "--Voila.ip=127.0.0.1", f"--Voila.token={token}",
            "--show_tracebacks=True",
            # Voila 0.5.13 bundles JupyterLab 4.2 core: Notebook 7's lab extension
            # (loaded by Voila like any federated extension) fails there (#RUNTIME-012).
            "--VoilaConfiguration.extension_denylist=@jupyter-notebook/lab-extension",
            str(notebook_root),
        ]

    server = _start_server("voila", cmd, "", env["env"], notebook_root, env["log_dir"])
    try:
        yield server
    finally:
        _stop_process_tree(server.process)


@pytest.fixture(autouse=True)
def _shutdown_test_kernels(request: pytest.FixtureRequest) -> Iterable[None]:
    """After each test, shut down the kernels it started (they cost memory)."""
    yield
    for name in ("jupyter_server", "voila_server"):
        if name in request.fixturenames:
            request.getfixturevalue(name).shutdown_kernels()


# --------------------------------------------------------------------------
# fixtures: browser
# --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser() -> Iterable[Any]:
    """Headless Chromium from ``/usr/bin/chromium`` (Playwright sync API).

    Fails (does not skip) when the executable is missing: browser tests must
    not silently vanish from CI.

    Yields
    ------
    playwright.sync_api.Browser
    """
    if not os.path.exists(CHROMIUM_PATH):
        pytest.fail(
            f"Chromium not found at {CHROMIUM_PATH}. Install it with "
            "`apt-get install chromium` (Debian) or point CNNWIDGETS_CHROMIUM at a "
            "Chromium/Chrome binary. Browser tests are not skipped on purpose.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        pw.stop()


_LOCAL_URL = re.compile(r"^(https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?/")


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterable[Any]:
    """A new browser context and page (viewport 1400x1000, device scale 1).

    Requests to non-local hosts are aborted (logged as ``[blocked] <url>``);
    console messages are collected (:func:`console_messages`).  If the test fails, a screenshot
    ``FAILED-<test>.png`` is saved and console errors are printed.

    Yields
    ------
    playwright.sync_api.Page
    """
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(30_000)

    def _route(route: Any) -> None:
        if _LOCAL_URL.match(route.request.url) or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            log.append(f"[blocked] {route.request.url}")
            route.abort()

    log: list[str] = []
    context.route(re.compile(r"^https?://"), _route)
    pg = context.new_page()
    _CONSOLE[id(pg)] = log
    pg.on("console", lambda msg: log.append(f"[{msg.type}] {msg.text}"))
    pg.on("pageerror", lambda exc: log.append(f"[pageerror] {exc}"))
    try:
        yield pg
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            try:
                path = save_screenshot(pg, f"FAILED-{request.node.name}")
                print(f"\nscreenshot of failed test: {path}")
            except Exception as exc:  # noqa: BLE001 - diagnostics only
                print(f"\n(no failure screenshot: {exc})")
            errors = [m for m in log if m.startswith(("[error]", "[pageerror]"))
                      and "net::ERR_FAILED" not in m]
            if errors:
                print("browser console errors:\n  " + "\n  ".join(errors[-30:]))
        _CONSOLE.pop(id(pg), None)
        context.close()


def console_messages(page: Any) -> list[str]:
    """Browser console messages of a page made by the ``page`` fixture.

    Parameters
    ----------
    page : playwright.sync_api.Page

    Returns
    -------
    list of str
        ``"[type] text"`` entries, oldest first (``[pageerror]`` for uncaught
        exceptions).
    """
    return list(_CONSOLE.get(id(page), []))


# --------------------------------------------------------------------------
# notebooks
# --------------------------------------------------------------------------
def write_notebook(root: Path, name: str, cells: Sequence[str | Any]) -> Path:
    """Write a notebook (with ``python3`` kernelspec metadata) into ``root``.

    Parameters
    ----------
    root : pathlib.Path
        Directory served by the servers (``server.root_dir``).
    name : str
        File name, ``.ipynb`` appended if missing; may contain sub-directories.
    cells : sequence of str or nbformat cells
        Strings become code cells; strings starting with ``"%%md\\n"``
        become markdown cells.

    Returns
    -------
    pathlib.Path
        The notebook's path.
    """
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in cells:
        if isinstance(cell, str):
            if cell.startswith("%%md\n"):
                cell = nbformat.v4.new_markdown_cell(cell[len("%%md\n"):])
            else:
                cell = nbformat.v4.new_code_cell(cell)
        nb.cells.append(cell)
    if not name.endswith(".ipynb"):
        name += ".ipynb"
    path = Path(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@dataclass
class NotebookRun:
    """What :func:`run_notebook_in_lab` / :func:`open_in_voila` saw.

    Attributes
    ----------
    root : playwright.sync_api.Locator
        The notebook panel (Lab) or the rendered cells (Voila); search
        widgets inside it.
    outputs : list of list of dict
        Lab: nbformat outputs of each code cell. Voila: empty.
    stderr : list of str
        Texts of stderr streams and tracebacks.
    widgets : int
        Number of rendered widget outputs.
    seconds : float
        Time from navigation until everything had rendered.
    """

    root: Any
    outputs: list[list[dict]]
    stderr: list[str]
    widgets: int
    seconds: float


def _poll(page: Any, check: Callable[[], Any], timeout: float, what: Callable[[], str],
          interval: float = 0.25) -> Any:
    """Call ``check`` until it returns a truthy value; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what()}", pytrace=False)
        page.wait_for_timeout(interval * 1000)


def _console_errors(page: Any, n: int = 15) -> str:
    # "net::ERR_FAILED" is what the aborted non-local requests produce ("[blocked]")
    errors = [m for m in console_messages(page) if m.startswith(("[error]", "[pageerror]"))
              and "net::ERR_FAILED" not in m]
    return ("\nbrowser console errors:\n  " + "\n  ".join(errors[-n:])) if errors else ""


_LAB_STATE_JS = """
(name) => {
  const app = window.jupyterapp;
  const st = {app: !!app, dialog: null, panel: false, kernel: null, busyPrompts: 0};
  const dlg = document.querySelector('.jp-Dialog');
  if (dlg) st.dialog = dlg.innerText.slice(0, 300);
  if (!app || !app.shell) return st;
  let panel = null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === name && w.content && w.content.model) panel = w;
  }
  if (!panel) return st;
  st.panel = true;
  st.panelId = panel.id;
  const sc = panel.sessionContext;
  const kernel = sc && sc.session && sc.session.kernel;
  st.kernel = kernel ? kernel.status + '/' + kernel.connectionStatus : null;
  st.ready = !!(sc && sc.isReady && kernel && kernel.status === 'idle'
                && kernel.connectionStatus === 'connected');
  st.busyPrompts = Array.from(panel.node.querySelectorAll('.jp-InputPrompt'))
      .filter(n => n.textContent.includes('*')).length;
  return st;
}
"""

_LAB_OUTPUTS_JS = """
(name) => {
  const app = window.jupyterapp;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === name && w.content && w.content.model) {
      const res = [];
      for (const cell of w.content.model.cells) {
        if (cell.type === 'code') res.push(cell.outputs.toJSON());
      }
      return res;
    }
  }
  return null;
}
"""

# Counts rendered widget views below `root`; reports placeholders and errors.
_WIDGET_STATE_JS = """
(root) => {
  const outs = Array.from(root.querySelectorAll('.jp-OutputArea-output'));
  let rendered = 0, loading = 0;
  const errors = [];
  for (const n of outs) {
    if (n.hasAttribute('data-mime-type')) continue;   // text/html/image renderers
    const text = n.textContent.trim();
    if (text.startsWith('Loading widget')) { loading++; continue; }
    if (text.startsWith('Error displaying widget')) { errors.push(text.slice(0, 300)); continue; }
    if (n.childElementCount > 0) rendered++;
  }
  for (const n of root.querySelectorAll('.jupyter-widgets-error-widget')) {
    errors.push('widget view error: ' + (n.innerText || '').slice(0, 300));
  }
  return {rendered, loading, errors};
}
"""


def _fail_on_page_errors(page: Any, notebook_name: str) -> None:
    errors = [m for m in console_messages(page) if m.startswith("[pageerror]")]
    if errors:
        pytest.fail(f"{notebook_name}: uncaught JavaScript exception(s) in the page:\n  "
                    + "\n  ".join(errors[-15:]), pytrace=False)


def page_errors(page: Any) -> list[str]:
    """Uncaught JavaScript exceptions of a page made by the ``page`` fixture.

    Widget views often fail asynchronously (e.g. while replaying draw
    commands); check this at the end of a test.

    Parameters
    ----------
    page : playwright.sync_api.Page

    Returns
    -------
    list of str
    """
    return [m for m in console_messages(page) if m.startswith("[pageerror]")]


def _wait_selectors(root: Any, wait_for: str | Sequence[str] | None, timeout: float) -> None:
    if not wait_for:
        return
    for selector in [wait_for] if isinstance(wait_for, str) else wait_for:
        root.locator(selector).first.wait_for(state="visible", timeout=timeout * 1000)


def _stream_texts(outputs: list[list[dict]]) -> tuple[list[str], list[str]]:
    """Return (stderr texts, error texts) found in nbformat outputs."""
    stderr, errors = [], []
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    for cell_outputs in outputs:
        for out in cell_outputs:
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = out.get("text", "")
                stderr.append("".join(text) if isinstance(text, list) else text)
            elif out.get("output_type") == "error":
                tb = ansi.sub("", "\n".join(out.get("traceback", [])))
                errors.append(tb or f"{out.get('ename')}: {out.get('evalue')}")
    return stderr, errors


def run_notebook_in_lab(
    page: Any,
    server: ServerInfo,
    notebook_name: str,
    timeout: float = DEFAULT_NOTEBOOK_TIMEOUT,
    *,
    wait_for: str | Sequence[str] | None = None,
    allow_errors: bool = False,
    fail_on_stderr: bool = False,
    fail_on_page_errors: bool = True,
) -> NotebookRun:
    """Open a notebook in JupyterLab, run all cells, wait for every widget.

    Steps: open ``/lab/tree/<name>?reset`` (fresh workspace); accept a
    kernel-selection dialog if one appears; wait until the kernel is idle and
    connected; execute the ``notebook:run-all-cells`` command through
    ``window.jupyterapp`` and wait for its promise; wait until no ``[*]``
    prompt is left and the kernel is idle; then until every widget output of
    the notebook model is rendered in the DOM (no ``Loading widget...``), and
    finally until the ``wait_for`` selectors are visible.

    Parameters
    ----------
    page : playwright.sync_api.Page
    server : ServerInfo
        The :func:`jupyter_server` fixture.
    notebook_name : str
        Path of the notebook relative to ``server.root_dir``.
    timeout : float
        Seconds for the whole procedure (kernel start + execution + render).
    wait_for : str or sequence of str, optional
        CSS selectors (inside the notebook) that must become visible, e.g.
        ``"canvas"``.
    allow_errors : bool
        Do not fail when a cell raised.
    fail_on_stderr : bool
        Also fail when a cell wrote to stderr (warnings, logging).
    fail_on_page_errors : bool
        Fail when the page threw an uncaught JavaScript exception (e.g. in a
        widget view) before everything rendered.

    Returns
    -------
    NotebookRun

    Raises
    ------
    pytest.fail.Exception
        On timeout, cell errors, ``Error displaying widget`` or widget view
        errors; the message contains tracebacks / stderr outputs, the kernel
        state and browser console errors.
    """
    start = time.monotonic()
    deadline = start + timeout
    left = lambda: max(1.0, deadline - time.monotonic())  # noqa: E731
    path = "lab/tree/" + urllib.parse.quote(notebook_name)
    page.goto(server.url(path, reset=None), wait_until="domcontentloaded", timeout=left() * 1000)

    state: dict[str, Any] = {}

    def kernel_ready() -> bool:
        state.update(page.evaluate(_LAB_STATE_JS, notebook_name))
        if state.get("dialog"):
            # "Select Kernel" (notebook without kernelspec): accept the default.
            button = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
            if button.count():
                button.first.click()
        return bool(state.get("ready"))

    _poll(page, kernel_ready, left(),
          lambda: f"the kernel of {notebook_name} to be idle (state {state}){_console_errors(page)}"
                  f"\nserver log:\n{server.log_tail(20)}")

    page.evaluate(
        """(id) => {
          const app = window.jupyterapp;
          app.shell.activateById(id);
          window.__cnnRunAll = undefined;
          app.commands.execute('notebook:run-all-cells').then(
            (r) => { window.__cnnRunAll = {ok: r !== false}; },
            (e) => { window.__cnnRunAll = {ok: false, error: String(e)}; });
        }""",
        state["panelId"],
    )
    run_result = _poll(page, lambda: page.evaluate("() => window.__cnnRunAll"), left(),
                       lambda: f"'Run All Cells' of {notebook_name} to finish "
                               f"(state {page.evaluate(_LAB_STATE_JS, notebook_name)})")

    def settled() -> bool:
        state.update(page.evaluate(_LAB_STATE_JS, notebook_name))
        return bool(state.get("ready")) and state.get("busyPrompts") == 0

    _poll(page, settled, left(), lambda: f"execution of {notebook_name} to settle (state {state})")

    outputs = page.evaluate(_LAB_OUTPUTS_JS, notebook_name) or []
    stderr, errors = _stream_texts(outputs)
    if run_result.get("error") and not allow_errors:
        errors.append(f"run-all command failed: {run_result['error']}")
    if not run_result.get("ok") and not errors:
        errors.append("'Run All Cells' reported a failure but no cell shows an error "
                      "(kernel died or restarted?); server log:\n" + server.log_tail(20))
    problems = errors if not fail_on_stderr else errors + stderr
    if problems and not allow_errors:
        pytest.fail(
            f"{notebook_name}: {len(problems)} error output(s) in JupyterLab:\n\n"
            + "\n\n".join(problems)
            + ("\n\nstderr outputs:\n" + "\n".join(stderr) if stderr and not fail_on_stderr else "")
            + _console_errors(page),
            pytrace=False,
        )

    expected = sum(
        1
        for cell_outputs in outputs
        for out in cell_outputs
        if WIDGET_MIME in out.get("data", {}) and out["data"][WIDGET_MIME].get("model_id")
    )
    panel = page.locator(f"[id='{state['panelId']}']")
    panel_handle = panel.element_handle()
    widgets: dict[str, Any] = {}

    def widgets_rendered() -> bool:
        widgets.update(page.evaluate(_WIDGET_STATE_JS, panel_handle))
        if widgets["errors"]:
            pytest.fail(f"{notebook_name}: widget rendering failed in JupyterLab:\n  "
                        + "\n  ".join(widgets["errors"]) + _console_errors(page), pytrace=False)
        return widgets["loading"] == 0 and widgets["rendered"] >= expected

    _poll(page, widgets_rendered, left(),
          lambda: f"{expected} widget output(s) of {notebook_name} to render "
                  f"(now {widgets}){_console_errors(page)}")
    _wait_selectors(panel, wait_for, left())
    if fail_on_page_errors:
        _fail_on_page_errors(page, notebook_name)
    return NotebookRun(panel, outputs, stderr + errors, widgets["rendered"],
                       time.monotonic() - start)


_VOILA_STATE_JS = """
() => {
  const st = {ready: document.readyState === 'complete',
              loading: !!document.getElementById('loading'),
              pending: document.querySelectorAll(
                  'script[type="application/vnd.voila.cell-output+json"]').length,
              stderr: Array.from(document.querySelectorAll(
                  '[data-mime-type="application/vnd.jupyter.stderr"]')).map(n => n.innerText),
              kernelId: null};
  const cfg = document.getElementById('jupyter-config-data');
  if (cfg) { try { st.kernelId = JSON.parse(cfg.textContent).kernelId || null; } catch (e) {} }
  return st;
}
"""


def open_in_voila(
    page: Any,
    server: ServerInfo,
    notebook_name: str,
    timeout: float = DEFAULT_NOTEBOOK_TIMEOUT,
    *,
    wait_for: str | Sequence[str] | None = None,
    allow_errors: bool = False,
    fail_on_page_errors: bool = True,
) -> NotebookRun:
    """Open ``/voila/render/<name>`` and wait until all widgets are rendered.

    Voila executes the notebook while streaming the page; then its frontend
    turns each output script into a rendered output. We wait until the page
    has loaded, the spinner is gone, no output script is pending, no widget
    shows ``Loading widget...`` and the number of rendered widgets is stable
    for two polls; then for the ``wait_for`` selectors.  The kernel is
    recorded and shut down after the test.

    Parameters
    ----------
    page : playwright.sync_api.Page
    server : ServerInfo
        The :func:`voila_server` fixture.
    notebook_name : str
        Path relative to ``server.root_dir``.
    timeout : float
        Seconds for execution and rendering.
    wait_for : str or sequence of str, optional
        CSS selectors that must become visible.
    allow_errors : bool
        Do not fail on tracebacks in the page.
    fail_on_page_errors : bool
        Fail when the page threw an uncaught JavaScript exception.

    Returns
    -------
    NotebookRun
        ``outputs`` is empty (Voila does not expose the notebook model).
    """
    start = time.monotonic()
    deadline = start + timeout
    left = lambda: max(1.0, deadline - time.monotonic())  # noqa: E731
    path = "voila/render/" + urllib.parse.quote(notebook_name)
    page.goto(server.url(path), wait_until="commit", timeout=left() * 1000)

    state: dict[str, Any] = {}
    widgets: dict[str, Any] = {}
    history: list[int] = []

    def rendered() -> bool:
        state.update(page.evaluate(_VOILA_STATE_JS))
        if state.get("kernelId") and state["kernelId"] not in server.kernel_ids:
            server.kernel_ids.append(state["kernelId"])
        body = page.locator("body")
        widgets.update(page.evaluate(_WIDGET_STATE_JS, body.element_handle()))
        if widgets["errors"]:
            pytest.fail(f"{notebook_name}: widget rendering failed in Voila:\n  "
                        + "\n  ".join(widgets["errors"]) + _console_errors(page), pytrace=False)
        done = state["ready"] and not state["loading"] and state["pending"] == 0 \
            and widgets["loading"] == 0
        history.append(widgets["rendered"] if done else -1)
        return done and len(history) >= 2 and history[-2] == history[-1]

    _poll(page, rendered, left(),
          lambda: f"Voila to render {notebook_name} (page {state}, widgets {widgets})"
                  f"{_console_errors(page)}\nvoila log:\n{server.log_tail(20)}", interval=0.3)
    stderr = state.get("stderr", [])
    tracebacks = [t for t in stderr
                  if "Traceback" in t or re.search(r"^\w+(Error|Exception)\b", t, re.M)]
    if tracebacks and not allow_errors:
        pytest.fail(f"{notebook_name}: error output(s) in Voila:\n\n" + "\n\n".join(tracebacks)
                    + _console_errors(page), pytrace=False)
    root = page.locator("#rendered_cells") if page.locator("#rendered_cells").count() \
        else page.locator("body")
    _wait_selectors(root, wait_for, left())
    if fail_on_page_errors:
        _fail_on_page_errors(page, notebook_name)
    return NotebookRun(root, [], stderr, widgets["rendered"], time.monotonic() - start)


# --------------------------------------------------------------------------
# pixels and screenshots
# --------------------------------------------------------------------------
def _locator(page: Any, target: Any) -> Any:
    return page.locator(target).first if isinstance(target, str) else target


def canvas_pixels(page: Any, selector_or_locator: Any, *, method: str = "screenshot",
                  mode: str = "RGB") -> np.ndarray:
    """Pixels of a canvas (or any element) as a ``uint8`` array.

    Parameters
    ----------
    page : playwright.sync_api.Page
    selector_or_locator : str or playwright.sync_api.Locator
        CSS selector (first match) or locator.
    method : {"screenshot", "dataurl"}
        ``"screenshot"`` (default): element screenshot, i.e. what the user
        sees at CSS size, composited (works for any element, e.g. the
        container of a multi-layer ipycanvas ``MultiCanvas``).
        ``"dataurl"``: ``canvas.toDataURL()`` of a single ``<canvas>``: the
        exact backing-store pixels, alpha included, not affected by CSS.
    mode : str
        PIL mode of the result, ``"RGB"`` (H, W, 3) or ``"RGBA"`` (H, W, 4).

    Returns
    -------
    numpy.ndarray
        Array of shape (height, width, channels), dtype ``uint8``.
    """
    from PIL import Image

    loc = _locator(page, selector_or_locator)
    loc.wait_for(state="visible")
    if method == "screenshot":
        loc.scroll_into_view_if_needed()
        png = loc.screenshot(animations="disabled", caret="hide")
    elif method == "dataurl":
        import base64

        url = loc.evaluate("(c) => c.toDataURL('image/png')")
        png = base64.b64decode(url.split(",", 1)[1])
    else:
        raise ValueError(f"unknown method {method!r}")
    with Image.open(io.BytesIO(png)) as img:
        return np.asarray(img.convert(mode), dtype=np.uint8).copy()


def is_blank(pixels: np.ndarray, tolerance: int = 0) -> bool:
    """True if all pixels have (within ``tolerance``) the same colour."""
    flat = pixels.reshape(-1, pixels.shape[-1]).astype(np.int16)
    return bool(np.all(np.abs(flat - flat[0]) <= tolerance))


def wait_for_pixels(page: Any, selector_or_locator: Any,
                    predicate: Callable[[np.ndarray], bool], timeout: float = 20.0,
                    message: str = "canvas pixels to satisfy the condition",
                    **kwargs: Any) -> np.ndarray:
    """Poll :func:`canvas_pixels` until ``predicate(pixels)`` is true.

    Widget views draw asynchronously (comm messages, ``requestAnimationFrame``),
    so compare pixels with this instead of a fixed sleep.

    Parameters
    ----------
    page, selector_or_locator
        As for :func:`canvas_pixels`.
    predicate : callable
        Receives the pixel array.
    timeout : float
        Seconds.
    message : str
        Used in the failure message.
    **kwargs
        Passed to :func:`canvas_pixels` (``method``, ``mode``).

    Returns
    -------
    numpy.ndarray
        The first pixels satisfying ``predicate``.
    """
    box: dict[str, np.ndarray] = {}

    def check() -> bool:
        box["px"] = canvas_pixels(page, selector_or_locator, **kwargs)
        return bool(predicate(box["px"]))

    _poll(page, check, timeout, lambda: message, interval=0.2)
    return box["px"]


#: Screenshots the README shows: test screenshot name -> file in docs/screenshots/.
#: Every run of the browser tests refreshes them, so the README stays current.
README_SCREENSHOTS = {
    "layer-browser-lab-widget": "layer_browser.png",
    "filter-grid-notebook-conv2-maximize": "filter_grid.png",
    "occlusion-painter-lab-swept": "occlusion_painter.png",
    "saliency-overlay-lab-initial": "saliency_overlay.png",
    "saliency-overlay-lab-compare": "saliency_compare.png",
    "saliency-overlay-lab-compare-cams": "saliency_compare_cams.png",
    "saliency-overlay-lab-compare-cams-dark": "saliency_compare_cams_dark.png",
    "saliency-targets-lab-painted": "saliency_segmenter.png",
    "saliency-targets-lab-painted-dark": "saliency_segmenter_dark.png",
    "explorer-voila-page": "explorer_voila.png",
    "theme-light-layer-browser": "theme_light.png",
    "theme-dark-layer-browser": "theme_dark.png",
    "theme-dark-occlusion-painter": "theme_dark_occlusion.png",
    "theme-dark-saliency-overlay": "theme_dark_saliency.png",
    "theme-dark-audit-browser": "theme_dark_audit_browser.png",
    "occlusion-targets-segmenter-light": "occlusion_painter_segmenter.png",
    "occlusion-targets-segmenter-dark": "occlusion_painter_segmenter_dark.png",
    "occlusion-targets-locator-light": "occlusion_painter_locator.png",
    "occlusion-targets-locator-dark": "occlusion_painter_locator_dark.png",
    "trust-lab-panel": "trust_panel.png",
    "trust-lab-cascade": "randomization_cascade.png",
    "audit-browser-lab-clusters": "audit_browser.png",
    "layer-browser-heads-segmenter": "layer_browser_heads.png",
    "layer-browser-heads-segmenter-dark": "layer_browser_heads_dark.png",
}
README_SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def save_screenshot(page_or_locator: Any, name: str) -> Path:
    """Save a PNG screenshot under ``tests/artifacts/screenshots/``.

    Names listed in :data:`README_SCREENSHOTS` are also copied into
    ``docs/screenshots/`` for the README.

    Parameters
    ----------
    page_or_locator : playwright.sync_api.Page or Locator
        Whole viewport of a page, or one element.
    name : str
        File name (``.png`` appended); unsafe characters become ``_``.

    Returns
    -------
    pathlib.Path
        Path of the written file.
    """
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "screenshot"
    if not safe.endswith(".png"):
        safe += ".png"
    path = SCREENSHOT_DIR / safe
    page_or_locator.screenshot(path=str(path), animations="disabled")
    readme_name = README_SCREENSHOTS.get(safe[: -len(".png")])
    if readme_name is not None:
        README_SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, README_SCREENSHOT_DIR / readme_name)
    return path


DARK_THEME, LIGHT_THEME = "JupyterLab Dark", "JupyterLab Light"


def set_theme(page: Any, theme: str, settle_ms: int = 1500) -> None:
    """Switch JupyterLab to ``theme`` (:data:`DARK_THEME` or :data:`LIGHT_THEME`) and let its stylesheet apply."""
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    page.wait_for_function("(light) => document.body.dataset.jpThemeLight === light",
                           arg="true" if "Light" in theme else "false", timeout=30_000)
    page.wait_for_timeout(settle_ms)  # the theme's stylesheet applies, charts re-render


def wait_text(page: Any, selector: str, text: str, timeout: float = 60) -> None:
    """Wait until an element matching ``selector`` shows ``text`` (``timeout`` in seconds)."""
    page.wait_for_function(
        "([sel, text]) => Array.from(document.querySelectorAll(sel)).some(n => n.innerText.includes(text))",
        arg=[selector, text], timeout=timeout * 1000,
    )


def changed(before: np.ndarray, tolerance: int = 30) -> Callable[[np.ndarray], bool]:
    """A :func:`wait_for_pixels` check: the canvas differs from ``before`` by more than ``tolerance``."""
    return lambda px: px.shape != before.shape or np.abs(px.astype(int) - before.astype(int)).max() > tolerance


@pytest.fixture(scope="session")
def harness() -> SimpleNamespace:
    """The helpers of this conftest, as attributes (``harness.run_notebook_in_lab``).

    Test modules should use this fixture rather than ``from conftest import
    ...``: with several ``conftest.py`` files in the tree, the module named
    ``conftest`` in ``sys.modules`` is whichever pytest imported last.

    Returns
    -------
    types.SimpleNamespace
        ``write_notebook``, ``run_notebook_in_lab``, ``open_in_voila``,
        ``canvas_pixels``, ``wait_for_pixels``, ``is_blank``,
        ``save_screenshot``, ``console_messages``, ``page_errors``,
        ``set_theme`` (with ``DARK_THEME``, ``LIGHT_THEME``), ``wait_text``,
        ``changed``, ``SCREENSHOT_DIR`` ...
    """
    return SimpleNamespace(**{name: globals()[name] for name in __all__})


__all__ = [
    "ServerInfo", "NotebookRun", "write_notebook", "run_notebook_in_lab", "open_in_voila",
    "canvas_pixels", "wait_for_pixels", "is_blank", "save_screenshot", "console_messages",
    "page_errors", "SCREENSHOT_DIR", "CHROMIUM_PATH", "CHROMIUM_ARGS",
    "DARK_THEME", "LIGHT_THEME", "set_theme", "wait_text", "changed",
]
