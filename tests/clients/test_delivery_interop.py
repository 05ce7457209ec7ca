"""The official JS client (Node, socket.io-client 4.8.1) against kit.chat_app(store=...).

Through a real tap that cuts every connection every 300 ms, two Node clients each send
500 messages with the client's own ``retries``/``ackTimeout``, an ``auth`` function that
sends the last offset and the store id on every reconnect, and message ids: 1,000
messages up (each stored once) and 1,000 down to each client, 0 lost and 0 duplicated.
Then the same across restarts of the server on the same SQLite file (``kit.serve`` of
the same name and port): nothing acknowledged is lost.
"""

from __future__ import annotations

import collections
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import kit

pytestmark = pytest.mark.usefixtures("no_leaks")

JS = Path(__file__).resolve().parents[1] / "js"
DELIVERY_JS = JS / "delivery.mjs"


class NodeClient:
    """One ``node delivery.mjs`` process, its JSON lines read as they come."""

    def __init__(self, node: str, url: str, name: str, count: int, expected: int) -> None:
        self.name, self.lines = name, []
        self.process = subprocess.Popen(
            [node, str(DELIVERY_JS), url, name, str(count), str(expected), "150000"],
            cwd=JS,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(json.loads(line))

    def wait_step(self, step: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if line.get("step") == step:
                    return line
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        stderr = self.process.stderr.read() if self.process.poll() is not None else ""
        pytest.fail(f"{self.name}: no {step!r} (lines: {self.lines[-5:]}, stderr: {stderr})")

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def check_everything_once(done: dict[str, Any], names: list[str], count: int) -> None:
    counts = collections.Counter(done["received"])
    expected = {f"{name} #{n}" for name in names for n in range(count)}
    assert set(counts) == expected, f"lost: {sorted(expected - set(counts))[:5]}"
    assert max(counts.values()) == 1, "a message arrived twice"
    assert done["acked"] == count
    for name in names:  # each sender's messages in the order it sent them
        own = [m for m in done["received"] if m.startswith(name + " #")]
        assert own == [f"{name} #{n}" for n in range(count)]


def test_the_official_client_with_retries_and_offsets_loses_and_doubles_nothing(
    node: str, socketio_client_js: Path, tmp_path: Path
) -> None:
    chat = kit.chat_app(store=tmp_path / "chat.sqlite")
    server = kit.serve(chat, name="delivery interop")
    tap = kit.tap(server, decode=False)
    names, count = ["ann", "bob"], 500
    clients = [NodeClient(node, tap.url, name, count, count * len(names)) for name in names]
    try:
        for client in clients:
            client.wait_step("ready", 30)
        cuts = tap.schedule("cut", every=0.3, duration=150)
        for client in clients:
            client.go()
        results = [client.wait_step("done", 150) for client in clients]
        cuts.stop()
    finally:
        for client in clients:
            client.end()
    assert tap.faults.cuts >= 3, "the tap did not cut: this test proved nothing"
    assert all(r["connects"] >= 2 for r in results), "nobody reconnected"
    for done in results:
        check_everything_once(done, names, count)
    # Up: 1,000 messages, each stored once (the ids' UNIQUE constraint held the retries).
    assert chat.store.count == count * len(names)
    # The auth function sent an offset on the reconnects.
    assert any(isinstance(o, int) for r in results for o in r["offsetsSent"])


def test_a_server_restarted_on_its_store_mid_run_loses_nothing_acknowledged(
    node: str, socketio_client_js: Path, tmp_path: Path
) -> None:
    path = tmp_path / "chat.sqlite"
    first = kit.chat_app(store=path)
    server = kit.serve(first, name="restarting chat")
    port = server.port
    tap = kit.tap(server, decode=False)
    names, count = ["ann", "bob"], 300
    clients = [NodeClient(node, tap.url, name, count, count * len(names)) for name in names]
    apps = [first]
    try:
        for client in clients:
            client.wait_step("ready", 30)
        for client in clients:
            client.go()
        for _ in range(2):  # two restarts while the messages flow
            time.sleep(1.0)
            kept_before = apps[-1].store.count
            apps.append(kit.chat_app(store=path))  # the same file: the same store id
            assert apps[-1].store.id == first.store.id
            assert apps[-1].store.count >= kept_before
            server = kit.serve(apps[-1], name="restarting chat", port=port)
        results = [client.wait_step("done", 150) for client in clients]
    finally:
        for client in clients:
            client.end()
    assert kit.running_servers()  # the last server is still serving
    assert all(r["connects"] >= 2 for r in results), "the restart did not reach the clients"
    for done in results:
        check_everything_once(done, names, count)
    assert apps[-1].store.count == count * len(names)
    for app in apps:
        app.store.close()
