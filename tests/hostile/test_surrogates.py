"""Text that UTF-8 cannot carry (a lone surrogate such as ``"\\ud800"``) breaks nothing.

A JavaScript string may hold a lone surrogate and ``JSON.stringify`` sends it as the
escape ``"\\ud800"``; python-socketio decodes that into a Python ``str`` holding it. The
chat app refuses it in names and replaces it with U+FFFD in messages; a panel shows
U+FFFD whatever it is given; ``kit.WebSocket.send`` sends U+FFFD, as a browser does.
"""

from __future__ import annotations

import time

import pytest
import socketio

import kit
from kit.clients.chat import ChatMessage

pytestmark = pytest.mark.usefixtures("no_leaks")

LONE = "\ud800"


def _eventually(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the condition never became true"
        time.sleep(0.01)


def test_websocket_send_replaces_a_lone_surrogate_like_a_browser(echo_handler) -> None:
    server = kit.serve(echo_handler, name="echo")
    ws = kit.WebSocket(server.ws_url)
    ws.wait_open()
    ws.send(f"a{LONE}b \ud83d\ude00")  # a lone half, and a pair given as two halves
    assert ws.wait_message().data == "a\ufffdb 😀"
    ws.send("still open")
    assert ws.wait_message().data == "still open"
    assert ws.readyState == kit.WebSocket.OPEN


def test_the_chat_app_refuses_a_name_that_utf8_cannot_carry() -> None:
    server = kit.serve(kit.chat_app(), name="chat")
    client = kit.SocketIOClient(server.url)
    answer = client.call("add user", f"vic{LONE}tim")
    assert "lone surrogate (U+D800)" in answer["error"]
    assert "character 3" in answer["error"]
    answer = client.call("join", {"room": f"room{LONE}"})
    assert "lone surrogate" in answer["error"]
    assert client.call("add user", "victim")["numUsers"] == 1  # the connection goes on


def test_the_chat_app_replaces_a_lone_surrogate_in_a_message() -> None:
    server = kit.serve(kit.chat_app(), name="chat")
    sender, reader = kit.SocketIOClient(server.url), kit.SocketIOClient(server.url)
    reader.wait_for("new message")  # the welcome
    sender.call("add user", "ann")
    assert sender.call("recive message", {"message": f"hi {LONE}!"}) == {"ok": True}
    (message,) = reader.wait_for("new message")
    assert message["mess"] == "hi \ufffd!" and message["user"] == "ann"


def test_a_panel_keeps_updating_after_text_utf8_cannot_carry() -> None:
    # A server that is not the kit's chat app may send anything: the panel must cope.
    sio = socketio.AsyncServer(async_mode="aiohttp")
    server = kit.serve(sio, name="raw")
    panel = kit.ChatPanel(server, user="alice")
    bad = {"user": f"x{LONE}", "mess": f"bad {LONE}", "time": "now", "room": None}
    kit.run(sio.emit("new message", bad))
    kit.run(sio.emit("new message", {"user": "bob", "mess": "fine", "time": "now"}))
    _eventually(lambda: panel.client.messages[-1:] == [ChatMessage("bob", "fine")])
    for widget in (panel._log, panel._header):
        widget.value.encode("utf-8")  # what the comm to the browser will do
    assert "bad \ufffd" in panel._log.value and "fine" in panel._log.value
