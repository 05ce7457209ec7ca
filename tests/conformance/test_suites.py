"""The official engine.io and socket.io suites pass in full against the kit's servers.

The suites are the socket.io project's own (kit/conformance/suites/, unmodified), run
with mocha under Node.js; `kit.conformance.run` installs them with npm on first use.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import kit
from kit.conformance import SuiteUnavailable

ROOT = Path(__file__).resolve().parent.parent.parent


def run_suite(suite: str, **options) -> kit.conformance.SuiteRun:
    server = kit.serve(kit.conformance.suite_server(suite), name=f"suite {suite}")
    try:
        return kit.conformance.run(suite, server, **options)
    except SuiteUnavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the conformance suites must run in CI: {error}")
        pytest.skip(str(error))
    finally:
        server.stop()


@pytest.mark.parametrize(("suite", "total"), [("engine.io", 24), ("socket.io", 32)])
def test_the_official_suite_passes_in_full(no_leaks, node: str, suite: str, total: int) -> None:
    result = run_suite(suite)
    assert result.total == total, result.table()
    assert result.failures == [], result.table()
    assert result.passed == total


def test_grep_runs_one_layer_and_a_broken_server_fails_it(no_leaks, node: str) -> None:
    """The check can fail: a server with the wrong heartbeat fails the heartbeat tests."""
    heartbeat = run_suite("engine.io", grep="heartbeat")
    assert heartbeat.by_layer() == {
        "engine.io heartbeat HTTP long-polling": (2, 2),
        "engine.io heartbeat WebSocket": (2, 2),
    }
    slow = kit.EngineIOServer(ping_interval=0.3, ping_timeout=5.0, cors_allowed_origins="*")
    server = kit.serve(slow, name="suite slow")
    result = kit.conformance.run("engine.io", server, grep="heartbeat")
    assert result.total == 4 and result.passed == 2, result.table()
    assert {test.title for test in result.failures} == {"closes the session upon ping timeout"}
    assert "FAIL" in result.table()
    # Retries are for late pings on a busy machine: they do not hide a real failure.
    retried = kit.conformance.run("engine.io", server, grep="ping timeout", retries=1)
    assert retried.total == 2 and retried.passed == 0, retried.table()
    with pytest.raises(ValueError, match="retries"):
        kit.conformance.run("engine.io", server, retries=-1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("suite", "path"), [("engine.io", "engine.io"), ("socket.io", "socket.io")]
)
def test_the_command_serves_the_suite_configuration_until_interrupted(
    suite: str, path: str
) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "kit.conformance", suite, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith(
            f"serving the {suite} suite's configuration on http://127.0.0.1:{port}"
        )
        url = f"http://127.0.0.1:{port}/{path}/?EIO=4&transport=polling"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            opening = json.loads(response.read().decode()[1:])
        assert opening["pingInterval"] == 300 and opening["pingTimeout"] == 200
        assert opening["maxPayload"] == 1_000_000 and opening["upgrades"] == ["websocket"]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
        assert process.returncode == 0, err
        assert out.strip().endswith("stopped")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
