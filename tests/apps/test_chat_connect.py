"""kit.chat_app(): its heartbeat options, what it answers to a CONNECT, in which order.

The heartbeat options reach the OPEN packet; a CONNECT that came twice (or for a namespace
the chat does not serve) is refused with a message that names the reason; with a store,
the CONNECT answer goes out before the welcome and the replay.

Both over raw engine.io long-polling against a real server on loopback (urllib, one
request at a time), so that each packet the server sends is read as it went out.
"""

from __future__ import annotations

import json
import math
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import kit
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaks")


def polling(server: kit.Server, sid: str | None = None, body: str | None = None) -> str:
    """One long-polling request: a GET (``body`` None) or a POST of ``body``."""
    url = f"{server.url}/socket.io/?EIO=4&transport=polling"
    if sid is not None:
        url += f"&sid={sid}"
    data = body.encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=5) as answer:
        return str(answer.read().decode())


def handshake(server: kit.Server) -> dict[str, object]:
    """The engine.io OPEN packet's payload ("0{...}")."""
    body = polling(server)
    assert body.startswith("0{"), body
    opened = json.loads(body[1:])
    assert isinstance(opened, dict)
    return opened


def test_the_heartbeat_defaults_are_25_and_20_seconds() -> None:
    server = kit.serve(kit.chat_app(), name="chat")
    opened = handshake(server)
    assert (opened["pingInterval"], opened["pingTimeout"]) == (25000, 20000)


def test_the_heartbeat_options_reach_the_open_packet() -> None:
    chat = kit.chat_app(ping_interval=2, ping_timeout=1.5)
    assert (chat.ping_interval, chat.ping_timeout) == (2.0, 1.5)
    server = kit.serve(chat, name="chat")
    opened = handshake(server)
    assert (opened["pingInterval"], opened["pingTimeout"]) == (2000, 1500)


def test_python_engineio_announces_a_fractional_ping_interval_truncated() -> None:
    """Why ``kit.chat_app`` refuses ``ping_interval=1.5`` (see ``check_heartbeat``)."""
    import socketio

    server = kit.serve(socketio.AsyncServer(async_mode="aiohttp", ping_interval=1.5), name="raw")
    opened = handshake(server)
    assert opened["pingInterval"] == 1000  # int(1.5) * 1000, not 1500


@pytest.mark.parametrize(
    ("option", "value", "error", "why"),
    [
        ("ping_interval", 0, ValueError, "ping_interval must be a positive number of seconds"),
        ("ping_timeout", -1, ValueError, "ping_timeout must be a positive number of seconds"),
        ("ping_interval", math.inf, ValueError, "positive number of seconds, not inf"),
        ("ping_timeout", math.nan, ValueError, "positive number of seconds, not nan"),
        ("ping_interval", "25", TypeError, "ping_interval must be a number of seconds, not '25'"),
        ("ping_timeout", True, TypeError, "ping_timeout must be a number of seconds, not True"),
        ("ping_interval", None, TypeError, "not None"),
        ("ping_interval", 1.5, ValueError, "whole number of seconds, not 1.5: python-engineio"),
    ],
)
def test_a_bad_heartbeat_option_is_a_clear_error(
    option: str, value: object, error: type[Exception], why: str
) -> None:
    with pytest.raises(error, match=why.replace("(", r"\(")):
        kit.chat_app(**{option: value})  # type: ignore[arg-type]


def test_a_connect_that_came_twice_is_refused_with_its_reason() -> None:
    server = kit.serve(kit.chat_app(), name="chat")
    sid = str(handshake(server)["sid"])
    assert polling(server, sid, "40{}") == "OK"
    assert '40{"sid":' in polling(server, sid)  # connected (and the welcome)
    # The same CONNECT again on this engine.io connection, as a POST the browser sent
    # again after a cut would bring it. python-socketio answers with a bare string, which
    # the official JS client reads as a refusal without a message: here it says why.
    assert polling(server, sid, "40{}") == "OK"
    packets = polling(server, sid).split("\x1e")
    refusals = [json.loads(p[2:]) for p in packets if p.startswith("44")]
    assert len(refusals) == 1, packets
    refusal = refusals[0]
    assert refusal["message"].startswith("Unable to connect: this connection already has ")
    assert "namespace '/'" in refusal["message"] and "connect again" in refusal["message"]
    assert refusal["data"] == {"retry": True}


def test_a_connect_to_a_namespace_the_chat_does_not_serve_says_so() -> None:
    server = kit.serve(kit.chat_app(), name="chat")
    sid = str(handshake(server)["sid"])
    assert polling(server, sid, "40/admin,{}") == "OK"
    packets = polling(server, sid).split("\x1e")
    refusals = [json.loads(p[len("44/admin,") :]) for p in packets if p.startswith("44/admin,")]
    assert refusals == [
        {
            "message": "Unable to connect: this server has no namespace '/admin'; connect to '/'",
            "data": {"retry": False},
        }
    ], packets


def test_with_a_store_the_connect_answer_goes_out_before_the_welcome_and_the_replay(
    tmp_path: Path,
) -> None:
    # The official JS client keeps events that come before the CONNECT answer and drops
    # them when the connection breaks first: a replay sent ahead of the answer was lost
    # whole at every cut. The answer now leads; the welcome and the replay follow it.
    chat = kit.chat_app(store=tmp_path / "chat.sqlite")
    server = kit.serve(chat, name="chat")
    ann = kit.SocketIOChatClient(server, user="ann", retries=5, message_ids=True)
    try:
        for n in range(3):
            ann.send(f"m{n}")
        ann.wait_sent(10)
    finally:
        ann.close()
    sid = str(handshake(server)["sid"])
    auth = json.dumps({"offset": 0, "store": chat.store.id})
    assert polling(server, sid, f"40{auth}") == "OK"
    packets: list[str] = []
    for _ in range(10):  # each GET brings what was queued: stop at the welcome + 3
        packets += polling(server, sid).split("\x1e")
        if sum(p.startswith('42["new message"') for p in packets) >= 4:
            break
    assert packets[0].startswith('40{"sid":'), packets
    said = [json.loads(p[2:])[1] for p in packets[1:]]
    assert said[0]["mess"] == "welcome to the chat" and said[0]["offset"] == 3
    assert [(m["mess"], m["offset"], m["replay"]) for m in said[1:]] == [
        (f"m{n}", n + 1, True) for n in range(3)
    ]
    chat.store.close()


def login(server: kit.Server, client: str | None, name: str = "ann") -> tuple[Any, Any]:
    """A client over WebSocket (no reconnection) with ``client`` in its auth, and its answer."""
    auth = {"client": client} if client is not None else None
    socket = kit.SocketIOClient(server, transports=["websocket"], auth=auth, reconnection=False)
    return socket, socket.call("add user", name)


def test_the_same_client_takes_its_name_over_from_its_old_session(tmp_path: Path) -> None:
    # The server still holds "ann" for her old session (it has not seen it go: a cut
    # long-poll, a black hole); her page comes back with the same client id and logs in.
    chat = kit.chat_app(store=tmp_path / "chat.sqlite")
    server = kit.serve(chat, name="chat")
    watcher, _ = login(server, None, "bob")
    old, answer = login(server, "tab-0123456789")
    assert answer["users"] == ["bob", "ann"]
    new, answer = login(server, "tab-0123456789")
    assert "error" not in answer and sorted(answer["users"]) == ["ann", "bob"]
    eventually(lambda: not old.connected, what="the old session to be disconnected")
    assert old.state == "disconnected"
    assert watcher.wait_for("user left") == [{"username": "ann", "numUsers": 1}]
    assert watcher.wait_for("user joined") == [{"username": "ann", "numUsers": 2}]
    # The new session is ann: it sends as ann.
    assert new.call("recive message", {"message": "back"})["ok"]
    # Another client, or one without an id, still finds the name taken.
    for other in ("tab-9876543210", None):
        _, answer = login(server, other)
        assert answer == {"error": "the name 'ann' is taken"}
    assert new.connected
    chat.store.close()


def test_without_a_store_a_client_id_takes_nothing_over() -> None:
    server = kit.serve(kit.chat_app(), name="chat")
    old, _ = login(server, "tab-0123456789")
    _, answer = login(server, "tab-0123456789")
    assert answer == {"error": "the name 'ann' is taken"}
    assert old.connected


@pytest.mark.parametrize("client", ["short", "x" * 65, "tab 0123456789", 12345678, ["tab"]])
def test_a_bad_client_id_refuses_the_connection(tmp_path: Path, client: object) -> None:
    chat = kit.chat_app(store=tmp_path / "chat.sqlite")
    server = kit.serve(chat, name="chat")
    with pytest.raises(ConnectionRefusedError, match="the server refused the connection") as info:
        kit.SocketIOClient(server, transports=["websocket"], auth={"client": client})
    why = f"the client id in your auth must be 8 to 64 letters, digits, '-' or '_', not {client!r}"
    assert why in str(info.value)
    chat.store.close()
