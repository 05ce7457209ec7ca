"""A real JupyterLab in a subprocess, and Chromium driving it: the harness for lab tests.

``start_lab`` runs ``jupyter lab`` (this interpreter's) on 127.0.0.1 with a token, over a
temporary copy of the lessons with their outputs cleared, in a Jupyter home of its own (no
user setting is read or written). ``LabPage`` opens a notebook in a fresh workspace, runs
all of it the way the Run All button does, and finds the chat panels a lesson made.

Needs JupyterLab (``.[lessons]``) and Chromium; without them a test skips with the reason,
and under ``CI=true`` fails instead. On failure a full-page screenshot and the JupyterLab
server log are saved in ``test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.conftest import _missing

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "test-artifacts"

STARTUP_TIMEOUT = 60.0  # s, for the server to answer /api/status
KERNEL_TIMEOUT = 60_000  # ms, for the page to load and the kernel to be idle
RUN_TIMEOUT = 60_000  # ms, for the cells up to the panels to run
MESSAGE_TIMEOUT = 15_000  # ms, for a message to reach another panel


def lesson(prefix: str) -> Path:
    """The lesson whose file name starts with ``prefix`` ("01")."""
    (path,) = NOTEBOOKS.glob(f"{prefix}-*.ipynb")
    return path


def copy_cleared(source: Path, target: Path) -> None:
    """Write ``source`` to ``target`` with no outputs: every output on the page is live."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["metadata"].pop("widgets", None)
    target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(path: Path, chars: int = 3000) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return text[-chars:]


@dataclass
class Lab:
    """A running JupyterLab server over a temporary copy of the lessons."""

    process: subprocess.Popen[bytes]
    url: str
    token: str
    root: Path
    log: Path
    started_in: float
    pids: set[int] = field(default_factory=set)
    root_url: str = ""  # scheme://host:port, without the base URL

    def api(self, path: str, method: str = "GET") -> object:
        separator = "&" if "?" in path else "?"
        request = urllib.request.Request(
            f"{self.url}{path}{separator}token={self.token}", method=method
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def page_url(self, notebook: str) -> str:
        """The notebook in a new, empty workspace: no tab of an earlier test comes back."""
        workspace = f"test-{uuid.uuid4().hex[:12]}"
        return f"{self.url}/lab/workspaces/{workspace}/tree/{notebook}?token={self.token}"

    def remember_processes(self) -> None:
        """Note the server's descendants (kernels), so teardown can check they are gone."""
        with contextlib.suppress(psutil.NoSuchProcess):
            self.pids.update(p.pid for p in psutil.Process(self.process.pid).children(True))

    def shut_down_kernels(self) -> None:
        """End every session (and so its kernel and the kit servers in it)."""
        self.remember_processes()
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", method="DELETE")


def _environment(home: Path) -> dict[str, str]:
    """Jupyter's directories in ``home``: no user setting is read or written.

    The ``python3`` kernelspec in ``JUPYTER_PATH`` (searched first) runs this very
    interpreter, in which the kit is installed, whatever other kernelspecs say.
    """
    kernel = home / "path" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    (kernel / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    # No "would you like news?" toast over the page in the screenshots.
    settings = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_PATH=str(home / "path"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        IPYTHONDIR=str(home / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    return env


def _say(pytestconfig: pytest.Config, line: str) -> None:
    """Print ``line`` on the terminal even while pytest captures output (for timings)."""
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def _stop(lab: Lab) -> list[str]:
    """Stop the server (it shuts its kernels down); return what had to be killed."""
    lab.remember_processes()
    killed = []
    if lab.process.poll() is None:
        lab.process.send_signal(signal.SIGTERM)  # the server's own clean stop: kernels too
        try:
            lab.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.process.kill()
            lab.process.wait(timeout=10)
            killed.append(f"jupyter lab (pid {lab.process.pid})")
    leftovers = []
    for pid in lab.pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            leftovers.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(leftovers, timeout=10)
    for process in alive:
        killed.append(f"{process.name()} (pid {process.pid})")
        process.kill()
    psutil.wait_procs(alive, timeout=10)
    return killed


@contextlib.contextmanager
def start_lab(
    home: Path,
    lessons: list[Path],
    pytestconfig: pytest.Config,
    *,
    base_url: str = "/",
    env: dict[str, str] | None = None,
) -> Iterator[Lab]:
    """``jupyter lab`` on 127.0.0.1 with a token, over cleared copies of ``lessons``.

    ``base_url`` and ``env`` let a test stand in for a JupyterHub single-user server
    (which runs under ``/user/NAME/`` with ``JUPYTERHUB_SERVICE_PREFIX`` set).
    """
    for module, extra in (("jupyterlab", "lessons"), ("jupyterlab_widgets", "lessons")):
        if importlib.util.find_spec(module) is None:
            _missing(
                f"{module} is not installed (pip install jupyterlab; the '{extra}' extra has it)"
            )
    root = home / "notebooks"
    root.mkdir()
    for source in lessons:
        copy_cleared(source, root / source.name)
    (root / "solutions").symlink_to(NOTEBOOKS / "solutions")
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ServerApp.open_browser=False",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={base_url}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.terminals_enabled=False",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = home / "jupyterlab.log"
    children_before = {p.pid for p in psutil.Process().children(recursive=True)}
    started = time.perf_counter()
    environment = {**_environment(home), **(env or {})}
    with log.open("wb") as output:
        try:
            process = subprocess.Popen(
                command,
                cwd=home,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is pytest's alone
            )
        except OSError as error:
            _missing(f"cannot launch JupyterLab: {error}")
    root_url = f"http://127.0.0.1:{port}"
    lab = Lab(process, root_url + base_url.rstrip("/"), token, root, log, 0.0, root_url=root_url)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"jupyter lab exited with {process.returncode} before answering:\n{_tail(log)}"
                )
            try:
                lab.api("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"jupyter lab did not answer /api/status within {STARTUP_TIMEOUT:g} s:"
                        f"\n{_tail(log)}"
                    ) from None
                time.sleep(0.2)
        lab.started_in = time.perf_counter() - started
        _say(pytestconfig, f"\njupyter lab answered in {lab.started_in:.1f} s ({lab.url})")
        yield lab
    finally:
        killed = _stop(lab)
        left = [
            f"{p.pid} {' '.join(p.cmdline())[:120]}"
            for p in psutil.Process().children(recursive=True)
            if p.pid not in children_before and (p.pid in lab.pids or p.pid == process.pid)
        ]
        assert left == [], f"processes left running after jupyter lab stopped: {left}"
        assert killed == [], f"had to kill what did not stop by itself: {killed}"


def save_artifacts(page, lab: Lab, name: str) -> list[Path]:
    ARTIFACTS.mkdir(exist_ok=True)
    stem = ARTIFACTS / f"jupyterlab-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    saved = []
    try:
        page.screenshot(path=f"{stem}.png", full_page=True)
        saved.append(Path(f"{stem}.png"))
    except Exception as error:  # a closed or crashed page: the log still helps
        print(f"no screenshot: {error}", file=sys.stderr)
    shutil.copyfile(lab.log, f"{stem}.log")
    saved.append(Path(f"{stem}.log"))
    return saved


# The lesson's own tab, by its path: the command acts on the current notebook, and a tab
# restored from a workspace must never be the one that runs.
NOTEBOOK = """(path) => {
    const app = window.jupyterapp;
    if (!app) return null;
    for (const widget of app.shell.widgets('main')) {
        if (widget.context && widget.context.path === path && widget.sessionContext) {
            return widget;
        }
    }
    return null;
}"""

KERNEL_IDLE = f"""(path) => {{
    const panel = ({NOTEBOOK})(path);
    const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
    return !!(kernel && panel.context.isReady && kernel.connectionStatus === 'connected'
        && kernel.status === 'idle');
}}"""

RUN_ALL = f"""async ([path, timeout]) => {{
    const app = window.jupyterapp;
    const panel = ({NOTEBOOK})(path);
    app.shell.activateById(panel.id);
    if (app.shell.currentWidget !== panel) return 'not the current tab: ' + path;
    const done = app.commands.execute('notebook:run-all-cells');
    const late = new Promise((resolve) => setTimeout(() => resolve('timed out'), timeout));
    return await Promise.race([done, late]);
}}"""


def open_notebook(page, lab: Lab, name: str) -> None:
    """Open notebook ``name`` in a fresh workspace and wait until its kernel is idle."""
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1280, "height": 1024})  # room for the screenshot
    page.goto(lab.page_url(name))
    page.wait_for_function("() => !!window.jupyterapp", timeout=KERNEL_TIMEOUT)
    expect(page.locator(".jp-NotebookPanel .jp-Notebook")).to_be_visible(timeout=KERNEL_TIMEOUT)
    page.wait_for_function(KERNEL_IDLE, arg=name, timeout=KERNEL_TIMEOUT)


def run_all(page, name: str) -> None:
    """Run every cell of the open notebook ``name``, as Run All does, and wait for the end."""
    ran = page.evaluate(RUN_ALL, [name, RUN_TIMEOUT])
    errors = page.locator(".jp-OutputArea-output[data-mime-type*='stderr']")
    assert ran is True, f"running all cells of {name}: {ran!r}; stderr: {errors.all_inner_texts()}"
    page.wait_for_function(KERNEL_IDLE, arg=name, timeout=KERNEL_TIMEOUT)


def stderr_outputs(page) -> list[str]:
    """The text of every stderr or error output on the page (a clean lesson has none)."""
    selector = (
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
    )
    return page.locator(selector).all_inner_texts()


def panel(page, user: str):
    """The chat panel whose header names ``user`` (the first one, if a lesson has more)."""
    panels = page.locator(".kit-chat-panel")
    return panels.filter(has=page.locator(".kit-chat-header", has_text=user)).first


def type_and_enter(chat_panel, text: str) -> None:
    """Type ``text`` into a panel's box and press Enter."""
    box = chat_panel.locator(".kit-chat-input input")
    box.fill(text)
    box.press("Enter")


def received(chat_panel, text: str):
    """The messages in a panel's log that contain ``text``."""
    return chat_panel.locator(".kit-chat-log .kit-chat-message", has_text=text)
