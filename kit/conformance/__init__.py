"""The official engine.io and socket.io test suites, run against the kit's own servers.

The socket.io project publishes a test suite for each protocol, for anyone who writes a
server (copies in ``kit/conformance/suites/``, with where they come from). Each expects
a server on ``http://localhost:3000`` configured as its README says; :func:`suite_server`
builds the kit's server in exactly that configuration::

    >>> import kit
    >>> server = kit.serve(kit.conformance.suite_server("engine.io"), name="suite")
    >>> result = kit.conformance.run("engine.io", server)        # doctest: +SKIP
    >>> print(result.table())                                     # doctest: +SKIP

:func:`run` installs the suite's Node.js dependencies once (``npm ci`` in a cache folder;
``npm`` needs the registry the first time), runs mocha with a JSON reporter, and
returns a :class:`SuiteRun`: every test with its verdict. ``grep`` runs one layer only
(``grep="heartbeat"``). Where Node.js or npm is missing, :class:`SuiteUnavailable` says
what to install.

From a shell, ``python -m kit.conformance engine.io`` serves that configuration on port
3000 until Ctrl-C (run the suite by hand from another shell), and ``--run`` runs the
suite against it and prints the table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from kit.apps.engineio import EngineIOServer
from kit.apps.socketio import SocketIOServer
from kit.runtime.npm import find_tool, install_once
from kit.runtime.servers import Server

__all__ = [
    "SUITES",
    "SuiteRun",
    "SuiteUnavailable",
    "TestResult",
    "install",
    "run",
    "suite_server",
]

HERE = Path(__file__).resolve().parent
SUITES = {"engine.io": "engine.io-protocol", "socket.io": "socket.io-protocol"}
"""Suite name -> folder under ``kit/conformance/suites/``."""
SUITE_TIMEOUT = 120.0
"""Seconds a whole suite may take before it is stopped."""

PING_INTERVAL, PING_TIMEOUT = 0.3, 0.2
MAX_PAYLOAD = 1_000_000
CONNECT_TIMEOUT = 1.0


class SuiteUnavailable(RuntimeError):
    """A suite cannot run here: Node.js or npm is missing, or ``npm ci`` failed."""


def suite_server(suite: str) -> EngineIOServer | SocketIOServer:
    """The kit's server configured as the suite's README asks.

    engine.io: pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1e6, CORS ``*``, path
    ``/engine.io/``, every message sent back unchanged. socket.io: the same heartbeat and
    maxPayload, connectTimeout 1000 ms, path ``/socket.io/``; on connection to ``/`` and
    ``/custom`` it emits ``auth`` with the client's auth payload; ``message`` is answered
    with ``message-back`` and the same arguments; ``message-with-ack`` is acknowledged
    with the same arguments.
    """
    _check_suite(suite)
    if suite == "engine.io":
        return EngineIOServer(
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            max_payload=MAX_PAYLOAD,
            cors_allowed_origins="*",
        )
    sio = SocketIOServer(
        namespaces=["/", "/custom"],
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        max_payload=MAX_PAYLOAD,
        connect_timeout=CONNECT_TIMEOUT,
        cors_allowed_origins="*",
    )
    for namespace in ("/", "/custom"):

        async def connect(
            sid: str, environ: dict[str, Any], auth: Any, ns: str = namespace
        ) -> None:
            await sio.emit("auth", auth, to=sid, namespace=ns)

        async def message(sid: str, *args: Any, ns: str = namespace) -> None:
            await sio.emit("message-back", args, to=sid, namespace=ns)

        async def message_with_ack(sid: str, *args: Any) -> tuple[Any, ...]:
            return args

        sio.on("connect", connect, namespace=namespace)
        sio.on("message", message, namespace=namespace)
        sio.on("message-with-ack", message_with_ack, namespace=namespace)
    return sio


@dataclasses.dataclass(frozen=True)
class TestResult:
    """One test of a suite: where it sits, its title, and whether it passed."""

    layer: str
    """Its ``describe`` blocks, e.g. ``"Engine.IO protocol heartbeat WebSocket"``."""
    title: str
    passed: bool
    error: str = ""
    duration_ms: int = 0


@dataclasses.dataclass(frozen=True)
class SuiteRun:
    """The verdicts of one run of a suite (or of the tests ``grep`` selected)."""

    suite: str
    tests: list[TestResult]

    @property
    def passed(self) -> int:
        return sum(test.passed for test in self.tests)

    @property
    def total(self) -> int:
        return len(self.tests)

    @property
    def failures(self) -> list[TestResult]:
        return [test for test in self.tests if not test.passed]

    def by_layer(self) -> dict[str, tuple[int, int]]:
        """``{"handshake": (passed, total), ...}``, layers in the suite's order."""
        layers: dict[str, tuple[int, int]] = {}
        for test in self.tests:
            name = _layer_name(test.layer)
            passed, total = layers.get(name, (0, 0))
            layers[name] = (passed + test.passed, total + 1)
        return layers

    def table(self) -> str:
        """One line per layer, then the total: what a lesson prints."""
        lines = [f"{self.suite} suite"]
        for layer, (passed, total) in self.by_layer().items():
            mark = "ok" if passed == total else "FAIL"
            lines.append(f"  {layer:<40} {passed:>2}/{total:<2} {mark}")
        lines.append(f"  {'total':<40} {self.passed:>2}/{self.total:<2}")
        for test in self.failures:
            lines.append(f"  failed: {test.layer} {test.title}: {test.error[:200]}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return f"{self.suite}: {self.passed}/{self.total} passed"


def _layer_name(layer: str) -> str:
    for prefix in ("Engine.IO protocol ", "Socket.IO protocol "):
        if layer.startswith(prefix):
            kind = "engine.io" if prefix.startswith("Engine") else "socket.io"
            return f"{kind} {layer[len(prefix) :]}"
    return layer


def _check_suite(suite: str) -> None:
    if suite not in SUITES:
        raise ValueError(f"the suites are {', '.join(SUITES)}, not {suite!r}")


NEEDED_FOR = "the official suites run under Node.js"


def _tool(name: str) -> str:
    return find_tool(name, SuiteUnavailable, NEEDED_FOR)


def install(suite: str) -> Path:
    """The folder holding ``suite`` and its ``node_modules``, installed once with npm ci
    (into the kit's cache folder, :func:`kit.runtime.npm.cache_dir`).

    Raises:
        SuiteUnavailable: no Node.js or npm, or ``npm ci`` failed (no registry, say).
    """
    _check_suite(suite)
    source = HERE / "suites" / SUITES[suite]
    harness = HERE / "harness" / "node-imports.js"  # see suites/README.md
    return install_once(
        [*sorted(source.iterdir()), harness],
        folder="conformance",
        name=SUITES[suite],
        ready="node_modules/mocha",
        npm_args=["ci"],
        error=SuiteUnavailable,
        needed_for=NEEDED_FOR,
    )


def run(
    suite: str,
    server: Server | str = "localhost:3000",
    *,
    grep: str | None = None,
    retries: int = 0,
    timeout: float = SUITE_TIMEOUT,
) -> SuiteRun:
    """Run the official ``suite`` against ``server`` (a kit Server, or ``"host:port"``).

    Args:
        grep: run only the tests whose full title contains this text (mocha's
            ``--grep``), e.g. ``"heartbeat"`` or ``"Socket.IO protocol connect"``.
        retries: run a failed test again up to this many times (mocha's
            ``--retries``). The suites' heartbeat is 300 ms: on a busy machine a ping
            that comes late can fail a test a quiet machine passes. A lesson retries;
            CI does not (``tests/conformance``), so there a late ping is a failure.

    Raises:
        SuiteUnavailable: Node.js or npm is missing, or the install failed.
        RuntimeError: mocha did not report (it crashed, or ran over ``timeout``).
    """
    folder = install(suite)
    node = _tool("node")
    target = server if isinstance(server, str) else f"{server.host}:{server.port}"
    with tempfile.TemporaryDirectory(prefix="kit-suite-") as scratch:
        report = Path(scratch) / "report.json"
        command = [
            node,
            str(folder / "node_modules" / "mocha" / "bin" / "mocha"),
            "test-suite.js",
            "--exit",
            "--reporter",
            "json",
            "--reporter-option",
            f"output={report}",
        ]
        if grep:
            command += ["--grep", grep]
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries is how many times to re-run a failed test, not {retries!r}")
        if retries:
            command += ["--retries", str(retries)]
        env = {**os.environ, "NODE_OPTIONS": "--dns-result-order=ipv4first"}
        if target != "localhost:3000":
            env["KIT_SUITE_TARGET"] = target
        try:
            done = subprocess.run(
                command, cwd=folder, capture_output=True, text=True, timeout=timeout, env=env
            )
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(f"the {suite} suite ran over {timeout:g} s") from error
        if not report.exists():
            raise RuntimeError(
                f"mocha wrote no report (exit {done.returncode}): {done.stderr[-800:]}"
            )
        data = json.loads(report.read_text())
    return SuiteRun(suite, [_result(test) for test in data["tests"]])


def _result(test: dict[str, Any]) -> TestResult:
    title, full = test["title"], test["fullTitle"]
    error = test.get("err") or {}
    return TestResult(
        layer=full[: -len(title)].strip() if full.endswith(title) else full,
        title=title,
        passed=not error,
        error=str(error.get("message", "")) if error else "",
        duration_ms=int(test.get("duration") or 0),
    )
