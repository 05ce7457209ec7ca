"""Node's socket.io server as a child process: the reference ``kit.bench fanout`` compares with.

``python -m kit.bench fanout --server node`` (or ``--server node,scratch,python-socketio``)
measures Node's own socket.io 4.8.1 with the same clients as the Python servers. The
server is ``node_server/fanout_server.mjs``, driven line by line over its stdin/stdout
(what it answers is described at its top); its socket.io package is installed once with
npm into the kit's cache folder (``$KIT_CACHE_DIR`` or ``~/.cache/wire-to-room``), which
needs the npm registry the first time.

Its CPU figure is the whole Node process's (``process.cpuUsage()``, user + system) over the
broadcast, and its memory the peak resident set sampled every 50 ms: Node runs the server
and nothing else, so both are the server's own.

:class:`NodeClients` is the other side: ``--client-kind node`` (the default where Node.js
is installed) makes the benchmark's audience the official client, socket.io-client 4.8.1,
in Node processes (``node_server/fanout_clients.mjs``, installed with the server). It
spends a fraction of python-socketio's client CPU per delivery, so it keeps up with
every server measured and a loss it counts is the server's.
"""

from __future__ import annotations

import collections
import contextlib
import json
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

from kit.runtime.npm import find_tool, install_once

__all__ = ["NodeClients", "NodeServer", "NodeUnavailable", "install"]

HERE = Path(__file__).resolve().parent / "node_server"
START_TIMEOUT = 20.0


class NodeUnavailable(RuntimeError):
    """Node's server cannot run here: Node.js or npm is missing, or npm install failed."""


NEEDED_FOR = "--server node runs Node's socket.io"


def _tool(name: str) -> str:
    return find_tool(name, NodeUnavailable, NEEDED_FOR)


def install() -> Path:
    """The folder holding the server script and its ``node_modules``, installed once
    (into the kit's cache folder, :func:`kit.runtime.npm.cache_dir`)."""
    return install_once(
        sorted(path for path in HERE.iterdir() if path.is_file()),
        folder="bench",
        name="node-server",
        ready="node_modules/socket.io-client",
        npm_args=["install", "--no-package-lock"],
        error=NodeUnavailable,
        needed_for=NEEDED_FOR,
    )


class NodeServer:
    """Node's socket.io server in a child process, stopped by :meth:`stop` (or ``with``)."""

    def __init__(self) -> None:
        folder = install()
        self.process = subprocess.Popen(
            [_tool("node"), "fanout_server.mjs"],
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            port = self._answer("listening")["listening"]
        except BaseException:
            self.stop()
            raise
        self.url = f"http://127.0.0.1:{port}"

    def _answer(self, key: str) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:  # it exited: say why, with the end of what it wrote on stderr
            try:
                code = self.process.wait(5)
                stderr = self.process.stderr.read()[-600:] if self.process.stderr else ""
            finally:
                self.stop()
            raise NodeUnavailable(f"Node's server exited (code {code}): {stderr}")
        answer: dict[str, Any] = json.loads(line)
        if key not in answer:
            raise NodeUnavailable(f"Node's server answered {answer}, expected {key!r}")
        return answer

    def _ask(self, command: str, key: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer(key)

    def room_size(self) -> int:
        """Clients in the room."""
        return int(self._ask("room", "room")["room"])

    def broadcast(self, messages: int) -> tuple[float, float, float]:
        """Emit ``messages`` ticks; (wall start, CPU start, wall end) as the Python side's."""
        answer = self._ask(f"broadcast {messages}", "started")
        return answer["started"], answer["cpu_started"], answer["ended"]

    def cpu(self) -> tuple[float, int, dict[str, int]]:
        """(CPU seconds used so far, peak resident set in bytes) of the Node process, and
        how many connections it saw end so far, by socket.io's disconnect reason."""
        answer = self._ask("cpu", "cpu")
        drops = {str(reason): int(count) for reason, count in answer["drops"].items()}
        return float(answer["cpu"]), int(answer["peak_rss"]), drops

    def stop(self) -> None:
        """Close its stdin (it exits), then terminate or kill it if it does not."""
        if self.process.poll() is None:
            try:
                if self.process.stdin is not None:
                    self.process.stdin.close()
                self.process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()

    def __enter__(self) -> NodeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class NodeClients:
    """A share of ``kit.bench fanout``'s clients: the official socket.io client, in Node.

    ``plan`` is a :class:`kit.bench.fanout.ClientsPlan` as a dict; the script
    ``node_server/fanout_clients.mjs`` connects its clients and then obeys the same steps
    as the Python clients process (``collect S``, ``disconnect``), answering one line of
    JSON per step. :meth:`stop` ends it whatever state it is in.
    """

    def __init__(self, plan: dict[str, Any]) -> None:
        folder = install()
        self.process = subprocess.Popen(
            [_tool("node"), "fanout_clients.mjs", json.dumps(plan)],
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self.process.pid
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        for target, name in ((self._read_stdout, "out"), (self._read_stderr, "err")):
            threading.Thread(
                target=target, name=f"kit-bench-node-clients-{name}", daemon=True
            ).start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        with contextlib.suppress(ValueError, OSError):  # closed by stop()
            for line in self.process.stdout:
                self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        with contextlib.suppress(ValueError, OSError):
            for line in self.process.stderr:
                self._stderr.append(line)

    def send(self, command: str) -> None:
        """One command line; nothing happens if the process is gone (:meth:`next` says so)."""
        if self.process.stdin is None or self.process.stdin.closed:
            return
        with contextlib.suppress(OSError):
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next answer, or None if none came within ``timeout`` seconds.

        Raises:
            NodeUnavailable: the process ended; the message has the end of its stderr.
        """
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            self._lines.put(None)  # every later call says so too
            code = self.process.wait(5)
            raise NodeUnavailable(
                f"Node's clients exited (code {code}): {''.join(self._stderr)[-600:]}"
            )
        answer: dict[str, Any] = json.loads(line)
        return answer

    def alive(self) -> bool:
        return self.process.poll() is None

    def join(self, timeout: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)

    def stop(self) -> None:
        """Close its stdin (it disconnects its clients and exits); kill it if it does not."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                if self.process.stdin is not None:
                    self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
