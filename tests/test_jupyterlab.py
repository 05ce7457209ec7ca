"""End to end in JupyterLab: type into a lesson's ChatPanel, see it in the other panel.

A real ``jupyter lab`` (this interpreter's, as a subprocess) serves a temporary copy of the
lessons; headless Chromium opens one, runs its cells up to the panels, types into alice's
panel, clicks Send, and waits for the text in bob's log. The message goes browser ->
kernel (widget comm) -> in-kernel chat server -> bob's client -> bob's widget -> browser.

The lessons tested: lesson 01 (two panels on a plain WebSocket broadcast server) and the
end-to-end lesson, ``notebooks/06-*.ipynb`` (two panels on the socket.io chat app, both in
``room one``), when it exists; without a lesson 06 only lesson 01 runs.

The lessons end with ``kit.stop_all()``, which would stop the chat server before anyone
types. So each lesson's temporary copy keeps only the cells up to the first one that has
created both panels (the lessons create and display them in the same cell), with its saved
outputs and widget state removed: every panel on the page comes from the live kernel.

Needs JupyterLab (``.[lessons]``) and Chromium; without them the test skips with the
reason, and under ``CI=true`` fails instead. On failure a full-page screenshot and the
JupyterLab server log are saved in ``test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import importlib.util
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
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.conftest import _missing

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "test-artifacts"
FIRST = NOTEBOOKS / "01-open-a-websocket-and-listen.ipynb"

STARTUP_TIMEOUT = 60.0  # s, for the server to answer /api/status
KERNEL_TIMEOUT = 60_000  # ms, for the page to load and the kernel to be idle
RUN_TIMEOUT = 60_000  # ms, for the cells up to the panels to run
MESSAGE_TIMEOUT = 15_000  # ms, for alice's message to reach bob's panel


def _lessons() -> list[Path]:
    end_to_end = sorted(NOTEBOOKS.glob("06-*.ipynb"))
    return [FIRST, *end_to_end[:1]]


def _panel_constructor(user: str) -> re.Pattern[str]:
    return re.compile(r"ChatPanel\([^)]*user\s*=\s*[\"']" + user + r"[\"']")


def _keep_up_to_the_panels(source: Path, target: Path) -> None:
    """Write ``source`` to ``target`` cut after the cell that has made both panels.

    Outputs, execution counts and saved widget state go too, so that the only panels on
    the page are the ones the kernel makes now.
    """
    notebook = json.loads(source.read_text(encoding="utf-8"))
    alice, bob = _panel_constructor("alice"), _panel_constructor("bob")
    code, cut = "", None
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            code += "".join(cell["source"]) + "\n"
            if alice.search(code) and bob.search(code):
                cut = index + 1
                break
    if cut is None:
        raise AssertionError(
            f"{source.name}: no cell creates kit.ChatPanel(..., user='alice') and "
            "kit.ChatPanel(..., user='bob'), which this test drives"
        )
    notebook["cells"] = notebook["cells"][:cut]
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


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Lab]:
    """``jupyter lab`` on 127.0.0.1 with a token, over a temporary copy of the lessons."""
    for module, extra in (("jupyterlab", "lessons"), ("jupyterlab_widgets", "lessons")):
        if importlib.util.find_spec(module) is None:
            _missing(
                f"{module} is not installed (pip install jupyterlab; the '{extra}' extra has it)"
            )
    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "notebooks"
    root.mkdir()
    for lesson in _lessons():
        _keep_up_to_the_panels(lesson, root / lesson.name)
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ServerApp.open_browser=False",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
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
    with log.open("wb") as output:
        try:
            process = subprocess.Popen(
                command,
                cwd=home,
                env=_environment(home),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is pytest's alone
            )
        except OSError as error:
            _missing(f"cannot launch JupyterLab: {error}")
    lab = Lab(process, f"http://127.0.0.1:{port}", token, root, log, 0.0)
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


def _save_artifacts(page, lab: Lab, name: str) -> list[Path]:
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


@pytest.mark.parametrize("lesson", _lessons(), ids=lambda path: path.name[:2])
def test_a_message_typed_in_alice_panel_appears_in_bob_panel(
    lesson: Path, browser, page, lab: Lab, pytestconfig: pytest.Config
) -> None:
    # browser first: without Chromium the test skips before JupyterLab is started.
    from playwright.sync_api import expect

    started = time.perf_counter()
    text = f"hello bob, from the browser {uuid.uuid4().hex[:8]}"
    try:
        page.set_viewport_size({"width": 1280, "height": 1024})  # room for the screenshot
        page.goto(lab.page_url(lesson.name))
        page.wait_for_function("() => !!window.jupyterapp", timeout=KERNEL_TIMEOUT)
        expect(page.locator(".jp-NotebookPanel .jp-Notebook")).to_be_visible(timeout=KERNEL_TIMEOUT)
        page.wait_for_function(KERNEL_IDLE, arg=lesson.name, timeout=KERNEL_TIMEOUT)
        ran = page.evaluate(RUN_ALL, [lesson.name, RUN_TIMEOUT])
        errors = page.locator(".jp-OutputArea-output[data-mime-type*='stderr']")
        assert ran is True, (
            f"running the cells of {lesson.name} up to the panels: {ran!r}; "
            f"stderr: {errors.all_inner_texts()}"
        )

        panels = page.locator(".kit-chat-panel")
        alice = panels.filter(has=page.locator(".kit-chat-header", has_text="alice")).first
        bob = panels.filter(has=page.locator(".kit-chat-header", has_text="bob")).first
        expect(alice).to_be_visible()
        expect(bob).to_be_visible()
        # ipywidgets puts a widget's classes on its outer element: the Text's is a div
        # around the <input>, the Button's is the <button> itself.
        alice.locator(".kit-chat-input input").fill(text)
        alice.locator(".kit-chat-send").click()
        # "alice: text" over a plain WebSocket, "alice @room one: text" over socket.io.
        received = bob.locator(".kit-chat-log .kit-chat-message", has_text=text)
        expect(received).to_contain_text("alice", timeout=MESSAGE_TIMEOUT)
        expect(received).not_to_have_class(re.compile(r"\bkit-chat-mine\b"))
        expect(alice.locator(".kit-chat-input input")).to_have_value("")  # sent, cleared
    except Exception as error:
        saved = _save_artifacts(page, lab, lesson.stem[:2])
        raise AssertionError(
            f"{lesson.name} in JupyterLab: {error}\nsaved: {', '.join(map(str, saved))}"
        ) from error
    finally:
        with contextlib.suppress(OSError):  # a dead server: the error above says more
            lab.shut_down_kernels()
        _say(
            pytestconfig,
            f"\n{lesson.name} in JupyterLab: {time.perf_counter() - started:.1f} s "
            f"(server start {lab.started_in:.1f} s, once per module)",
        )
