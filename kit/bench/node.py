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
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from kit.runtime.npm import find_tool, install_once

__all__ = ["NodeServer", "NodeUnavailable", "install"]

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
        ready="node_modules/socket.io",
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

    def cpu(self) -> tuple[float, int]:
        """(CPU seconds used so far, peak resident set in bytes) of the Node process."""
        answer = self._ask("cpu", "cpu")
        return float(answer["cpu"]), int(answer["peak_rss"])

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
