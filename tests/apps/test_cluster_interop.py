"""Lesson 08's interop: official clients on one chat server process, ours on another.

- the official JavaScript client in Node.js on process one and a python client on process
  two, in one room: each gets every message of the other, in order, none lost (1,000 each);
- the lesson 06 chat page in Chromium, served by process one, chats with a notebook chat
  panel connected to process two.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

import kit

pytestmark = pytest.mark.usefixtures("no_leaks")

CLUSTER_JS = Path(__file__).resolve().parents[1] / "js" / "cluster.mjs"
MESSAGES = 1000


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Node.js must be installed in CI (Debian: apt-get install nodejs)")
        pytest.skip("Node.js is not installed (Debian: apt-get install nodejs)")
    return node


def test_the_official_node_client_and_a_python_client_on_two_processes(
    socketio_client_js: Path,
) -> None:
    node = _node()
    redis = kit.redis()
    one = kit.chat_process(redis=redis, name="one")
    two = kit.chat_process(redis=redis, name="two")
    python = kit.SocketIOClient(two, transports=["websocket"])
    python.call("add user", "python")
    python.call("join", "room one")
    got: list[str] = []
    echoes = threading.Semaphore(0)
    everything = threading.Event()

    def listen(namespace: str, event: str, args: list) -> None:
        if event != "new message" or not args or not isinstance(args[0], dict):
            return
        data = args[0]
        if data.get("user") == "node":
            got.append(data["mess"])
        elif data.get("user") == "python":
            echoes.release()
        if len(got) >= MESSAGES:
            everything.set()

    python.add_listener(listen)
    script = subprocess.Popen(
        [node, str(CLUSTER_JS), one.url, "room one", str(MESSAGES), "90000"],
        cwd=CLUSTER_JS.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert script.stdout is not None
        assert script.stdout.readline().strip() == "ready", script.stderr.read()
        for number in range(MESSAGES):
            python.emit("recive message", {"message": f"python {number}", "room": "room one"})
        out, err = script.communicate(timeout=120)
    finally:
        if script.poll() is None:
            script.kill()
            script.communicate()
    assert script.returncode == 0, out + err
    result = json.loads(out.splitlines()[-1])
    assert result["transport"] == "websocket"
    assert result["received"] == [f"python {n}" for n in range(MESSAGES)]  # none lost, in order
    assert result["ownEchoes"] == MESSAGES
    assert everything.wait(30), f"python got {len(got)} of {MESSAGES} node messages"
    assert got == [f"node {n}" for n in range(MESSAGES)]
    assert all(echoes.acquire(timeout=10) for _ in range(MESSAGES))


def test_the_lesson_06_page_on_one_process_chats_with_a_panel_on_another(
    page, socketio_client_js: Path, monkeypatch
) -> None:
    from playwright.sync_api import expect

    monkeypatch.setenv("KIT_SOCKETIO_JS", str(socketio_client_js))  # no CDN in CI
    redis = kit.redis()
    one = kit.chat_process(redis=redis, name="one")
    two = kit.chat_process(redis=redis, name="two")
    bob = kit.ChatPanel(two, user="bob", room="room one")
    page.goto(f"{one.url}/")
    expect(page.locator("#client-source")).to_contain_text("local copy")
    expect(page.locator("#status")).to_have_text("connected over websocket")
    page.fill("#nickname", "ann")
    page.click("#login-button")
    expect(page.locator("#me")).to_have_text("ann")
    page.fill("#room", "room one")
    page.click("#join")
    expect(page.locator("#my-rooms li")).to_have_text(["room one"])
    page.select_option("#target", "room:room one")
    page.fill("#message", "from the page on process one")
    page.click("#send")
    message = bob.wait_message(timeout=10)
    assert (message.user, message.text, message.room) == (
        "ann",
        "from the page on process one",
        "room one",
    )
    bob.send("from the panel on process two")
    expect(page.locator("li.message", has_text="from the panel on process two")).to_have_count(1)
    # The online list is the cluster's: the page sees bob's login on the other process.
    carol = kit.SocketIOClient(two, transports=["websocket"])
    carol.call("add user", "carol")
    expect(page.locator("#online li.user")).to_have_text(["ann", "carol"])
