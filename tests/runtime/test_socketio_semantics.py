"""What python-socketio really does with rooms, namespaces, disconnects, acks and reserved names.

The seed article teaches socket.io on a Node.js server (``socket.broadcast.to('room one')``,
``socket.disconnect(true)``, ``io.close()``); the lessons run python-socketio instead. These
tests pin, against the real libraries, every claim a lesson makes about who receives what and
what goes on the wire, and each comment says where the Node server the article uses differs.

Negative checks ("this client did NOT get it") never sleep: the server then sends a sentinel
to everyone, and since one connection delivers in order, a message that had not arrived before
the sentinel never will.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import socketio

import kit
from kit.runtime.loop import runtime

pytestmark = pytest.mark.usefixtures("no_leaks")

C2S, S2C = "client->server", "server->client"
NAMESPACES = ("/", "/post", "/get")
# What python-socketio passes to disconnect(sid, reason) on the server, and to a client's
# disconnect(reason): 'client disconnect', 'server disconnect', 'transport close'...
REASON = socketio.AsyncServer.reason
CLIENT_REASON = socketio.AsyncClient.reason


# -- the article's server, with a journal of what its handlers saw --------------------------


class Journal:
    """What the server's handlers saw (on the runtime thread), readable from the test."""

    def __init__(self) -> None:
        self.entries: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()

    def add(self, *entry: Any) -> None:
        with self._cond:
            self.entries.append(entry)
            self._cond.notify_all()

    def wait_for(self, *prefix: Any, timeout: float = 5.0) -> tuple[Any, ...]:
        """The first entry starting with ``prefix``, waiting for it if need be."""

        def found() -> tuple[Any, ...] | None:
            return next((e for e in self.entries if e[: len(prefix)] == prefix), None)

        with self._cond:
            entry = self._cond.wait_for(found, timeout)
        assert entry is not None, f"the server never logged {prefix} (log: {self.entries})"
        return entry

    def starting_with(self, *prefix: Any) -> list[tuple[Any, ...]]:
        with self._cond:
            return [e for e in self.entries if e[: len(prefix)] == prefix]


def _register(sio: socketio.AsyncServer, namespace: str, journal: Journal) -> None:
    """The same handlers on every namespace."""

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        journal.add("connect", namespace, sid, environ.get("REMOTE_ADDR"))

    async def disconnect(sid: str, reason: str) -> None:
        # python-socketio calls this BEFORE the client leaves its rooms; Node fires
        # "disconnecting" with the rooms and "disconnect" after they are gone.
        journal.add("disconnect", namespace, sid, reason, set(sio.rooms(sid, namespace)))

    async def whoami(sid: str) -> str:
        return sid

    async def close(sid: str) -> None:
        # The article: the client emits "close", the server calls socket.disconnect(true).
        await sio.disconnect(sid, namespace=namespace)

    for name, handler in (
        ("connect", connect),
        ("disconnect", disconnect),
        ("whoami", whoami),
        ("close", close),
    ):
        sio.on(name, handler, namespace=namespace)


def article_server(journal: Journal) -> socketio.AsyncServer:
    """The article's chat server in python-socketio, on "/", "/post" and "/get"."""
    sio = socketio.AsyncServer(async_mode="aiohttp")
    for namespace in NAMESPACES:
        _register(sio, namespace, journal)

    @sio.on("new message")
    async def new_message(sid: str, data: Any) -> None:
        # Node: socket.broadcast.to('room one').emit('recive message', data)
        await sio.emit("recive message", data, to="room one", skip_sid=sid)

    @sio.on("enter")
    async def enter(sid: str, room: str) -> list[str]:
        await sio.enter_room(sid, room)
        return sorted(sio.rooms(sid))

    @sio.on("leave")
    async def leave(sid: str, room: str) -> list[str]:
        await sio.leave_room(sid, room)
        return sorted(sio.rooms(sid))

    @sio.on("close hard")
    async def close_hard(sid: str) -> None:
        # The nearest thing to Node's socket.disconnect(true): close the engine.io session.
        await sio.eio.disconnect(sio.manager.eio_sid_from_sid(sid, "/"))

    @sio.on("shout")
    async def shout(sid: str, text: str) -> str:
        return text.upper()

    @sio.on("pair")
    async def pair(sid: str) -> tuple[str, int]:
        return "a", 1

    @sio.on("shrug")
    async def shrug(sid: str) -> None:
        return None

    return sio


def on_loop(function: Callable[[], Any]) -> Any:
    """Call ``function`` on the runtime loop: it sees the server between two of its steps."""

    async def call() -> Any:
        return function()

    return runtime.run(call(), timeout=5)


def engine_packets(tap: kit.Tap, direction: str) -> list[str]:
    """The engine.io packets as written on the wire: '0{...}', '40/post,{}', '41', '1'..."""
    return [
        e.raw.decode("utf-8", "replace") for e in tap.select(layer="engine.io", direction=direction)
    ]


def close_frames(tap: kit.Tap) -> list[tuple[str, str]]:
    """(direction, summary) of every WebSocket CLOSE frame, in order."""
    return [
        (e.direction.value, e.summary.split(" [")[0])
        for e in tap.select("CLOSE", layer="websocket")
    ]


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def sio(journal: Journal) -> socketio.AsyncServer:
    return article_server(journal)


@pytest.fixture
def server(sio: socketio.AsyncServer) -> kit.Server:
    return kit.serve(sio, name="semantics")


@pytest.fixture
def tap(server: kit.Server) -> kit.Tap:
    return kit.tap(server)


# -- 1. who receives what ---------------------------------------------------------------------

ROOM_ONE = {"ann", "bob", "cat"}
ROOM_TWO = {"dan", "eve"}
ROOT = ROOM_ONE | ROOM_TWO | {"fay"}  # fay is in no room
MEMBERS = {
    **{name: ("/",) for name in sorted(ROOT)},
    "poe": ("/post",),
    "gil": ("/get",),
    "duo": ("/post", "/get"),  # one client, two namespaces
}


@dataclass
class Crowd:
    """Nine connected clients and the server they talk to."""

    sio: socketio.AsyncServer
    clients: dict[str, kit.SocketIOClient]
    sids: dict[str, str]
    _tokens: Iterator[int] = field(default_factory=itertools.count)

    def emit(self, message: Any, **options: Any) -> None:
        runtime.run(self.sio.emit("recive message", message, **options), timeout=5)

    def who_got(self, message: Any) -> dict[str, list[str]]:
        """Client name -> the namespace of each arrival of ``message`` (one entry each)."""
        token = next(self._tokens)
        for namespace in NAMESPACES:
            runtime.run(self.sio.emit("sentinel", token, namespace=namespace), timeout=5)
        got: dict[str, list[str]] = {}
        for name, client in self.clients.items():
            for namespace in MEMBERS[name] if client.connected else ():
                assert client.wait_for("sentinel", namespace=namespace) == [token]
            arrivals = [
                ns for ns, event, args in client.received if args == [message] and "recive" in event
            ]
            if arrivals:
                got[name] = arrivals
        return got


def everyone_in(names: set[str], namespace: str = "/") -> dict[str, list[str]]:
    return {name: [namespace] for name in names}


@pytest.fixture
def crowd(server: kit.Server, sio: socketio.AsyncServer) -> Crowd:
    clients = {
        name: kit.SocketIOClient(server, namespaces=list(spaces), transports=["websocket"])
        for name, spaces in MEMBERS.items()
    }
    sids = {name: clients[name].call("whoami") for name in ROOT}
    for name in ROOM_ONE:
        runtime.run(sio.enter_room(sids[name], "room one"), timeout=5)
    for name in ROOM_TWO:
        runtime.run(sio.enter_room(sids[name], "room two"), timeout=5)
    return Crowd(sio, clients, sids)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(lambda sid: {}, everyone_in(ROOT), id="io.emit: everyone on /"),
        pytest.param(lambda sid: {"to": "room one"}, everyone_in(ROOM_ONE), id="to=room"),
        pytest.param(
            lambda sid: {"to": "room one", "skip_sid": sid["ann"]},
            everyone_in(ROOM_ONE - {"ann"}),
            id="socket.broadcast.to(room): to=room, skip_sid=sender",
        ),
        pytest.param(
            lambda sid: {"to": ["room one", "room two"]},
            everyone_in(ROOM_ONE | ROOM_TWO),
            id="to=[room, room]: the union",
        ),
        pytest.param(lambda sid: {"to": sid["eve"]}, everyone_in({"eve"}), id="to=sid: one"),
        pytest.param(
            lambda sid: {"skip_sid": sid["ann"]},
            everyone_in(ROOT - {"ann"}),
            id="socket.broadcast.emit: skip_sid=sender",
        ),
        pytest.param(
            lambda sid: {"skip_sid": [sid["ann"], sid["dan"]]},
            everyone_in(ROOT - {"ann", "dan"}),
            id="skip_sid=[sid, sid]",
        ),
        pytest.param(
            lambda sid: {"namespace": "/post"},
            {"poe": ["/post"], "duo": ["/post"]},
            id="namespace=/post: not /get, not /",
        ),
        pytest.param(
            lambda sid: {"namespace": "/get"},
            {"gil": ["/get"], "duo": ["/get"]},
            id="namespace=/get",
        ),
        pytest.param(
            lambda sid: {"to": "room one", "namespace": "/post"},
            {},
            id="rooms belong to one namespace",
        ),
        # A trap: python-socketio reads `to or room`, so an empty list means "everyone".
        pytest.param(lambda sid: {"to": []}, everyone_in(ROOT), id="to=[] is everyone!"),
    ],
)
def test_who_receives_each_broadcast(
    crowd: Crowd,
    options: Callable[[dict[str, str]], dict[str, Any]],
    expected: dict[str, list[str]],
) -> None:
    message = f"case {options(crowd.sids)}"
    crowd.emit(message, **options(crowd.sids))
    assert crowd.who_got(message) == expected


def test_the_articles_handler_broadcasts_to_room_one_without_the_sender(crowd: Crowd) -> None:
    crowd.clients["ann"].emit("new message", {"mess": "hi room one"})
    assert crowd.who_got({"mess": "hi room one"}) == everyone_in({"bob", "cat"})


def test_a_client_in_two_listed_rooms_gets_the_message_once(crowd: Crowd) -> None:
    runtime.run(crowd.sio.enter_room(crowd.sids["cat"], "room two"), timeout=5)
    crowd.emit("to both rooms", to=["room one", "room two"])
    got = crowd.who_got("to both rooms")
    assert got == everyone_in(ROOM_ONE | ROOM_TWO)
    assert got["cat"] == ["/"]  # once, not twice


def test_two_namespaces_share_one_engineio_connection(tap: kit.Tap, sio) -> None:
    client = kit.SocketIOClient(tap.url, namespaces=["/post", "/get"], transports=["websocket"])
    runtime.run(sio.emit("recive message", "for /post", namespace="/post"), timeout=5)
    runtime.run(sio.emit("recive message", "for /get", namespace="/get"), timeout=5)
    assert client.wait_for("recive message", namespace="/post") == ["for /post"]
    assert client.wait_for("recive message", namespace="/get") == ["for /get"]
    # One TCP connection, one WebSocket, one engine.io session...
    assert len(tap.select("client connected", layer="tcp")) == 1
    assert len(tap.select("101 Switching Protocols", layer="http")) == 1
    assert len(tap.select("OPEN sid=", layer="engine.io")) == 1
    assert {e.connection for e in tap.events} == {1}
    # ...and one socket.io CONNECT per namespace on it, each answered with its own sid.
    sent = engine_packets(tap, C2S)
    assert "40/post,{}" in sent and "40/get,{}" in sent
    answers = dict(p.split(",", 1) for p in engine_packets(tap, S2C) if p.startswith("40/"))
    assert sorted(answers) == ["40/get", "40/post"]
    engine_sid = json.loads(engine_packets(tap, S2C)[0][1:])["sid"]  # from OPEN: 0{"sid":...
    socket_sids = {json.loads(answer)["sid"] for answer in answers.values()}
    assert len(socket_sids) == 2 and engine_sid not in socket_sids  # three different ids
    events = [p for p in engine_packets(tap, S2C) if p.startswith("42")]
    assert events == [
        '42/post,["recive message","for /post"]',
        '42/get,["recive message","for /get"]',
    ]


# -- 2. rooms live on the server ---------------------------------------------------------------


def test_a_client_cannot_join_a_room_by_itself(crowd: Crowd) -> None:
    fay = crowd.clients["fay"]
    # There is no client API for rooms (Node's socket.join is server-side too): "join" is
    # just an event name, and without a handler the server drops it without even an ack.
    with pytest.raises(socketio.exceptions.TimeoutError):
        fay.call("join", "room one", timeout=0.2)
    assert crowd.sio.rooms(crowd.sids["fay"]) == [crowd.sids["fay"]]  # only its own room
    crowd.emit("room one only", to="room one")
    assert "fay" not in crowd.who_got("room one only")


def test_a_server_handler_moves_a_client_in_and_out_of_rooms(crowd: Crowd) -> None:
    fay, sid = crowd.clients["fay"], crowd.sids["fay"]
    assert fay.call("enter", "room one") == sorted([sid, "room one"])  # its sid room stays
    crowd.emit("after enter", to="room one")
    assert crowd.who_got("after enter") == everyone_in(ROOM_ONE | {"fay"})
    assert fay.call("leave", "room one") == [sid]
    crowd.emit("after leave", to="room one")
    assert crowd.who_got("after leave") == everyone_in(ROOM_ONE)


def test_every_client_is_alone_in_a_room_named_after_its_sid(crowd: Crowd) -> None:
    for name, sid in crowd.sids.items():
        chosen = {"room one"} if name in ROOM_ONE else {"room two"} if name in ROOM_TWO else set()
        assert set(crowd.sio.rooms(sid)) == {sid} | chosen
        assert [s for s, _ in crowd.sio.manager.get_participants("/", sid)] == [sid]


def test_a_disconnected_client_leaves_every_room(crowd: Crowd, journal: Journal) -> None:
    sid = crowd.sids["cat"]
    crowd.clients["cat"].disconnect()
    _, _, _, _, rooms_in_handler = journal.wait_for("disconnect", "/", sid)
    # Inside disconnect(sid, reason) python-socketio still shows the rooms (like Node's
    # "disconnecting"; Node's "disconnect" handler already sees an empty socket.rooms).
    assert rooms_in_handler == {sid, "room one"}
    assert on_loop(lambda: crowd.sio.rooms(sid)) == []
    members = on_loop(lambda: {s for s, _ in crowd.sio.manager.get_participants("/", "room one")})
    assert members == {crowd.sids["ann"], crowd.sids["bob"]}
    crowd.emit("after cat left", to="room one")
    assert crowd.who_got("after cat left") == everyone_in({"ann", "bob"})


# -- 3a. the client disconnects ------------------------------------------------------------------


def test_python_client_disconnect_over_websocket_sends_only_a_close_frame(
    tap: kit.Tap, journal: Journal
) -> None:
    client = kit.SocketIOClient(tap.url, transports=["websocket"])
    sid = client.call("whoami")
    client.disconnect()
    tap.wait_for("closed the connection", count=2)
    # python-socketio's disconnect() puts DISCONNECT (41) and engine.io CLOSE (1) in its
    # send queue, then closes the WebSocket before its writer task gets to them: only the
    # close handshake reaches the wire.
    # The official JS client sends 41 first (see the Node test below).
    assert [p for p in engine_packets(tap, C2S) if p in ("41", "1")] == []
    assert close_frames(tap) == [(C2S, "CLOSE 1000 (OK)"), (S2C, "CLOSE 1000 (OK)")]
    # So the server learns it from the transport, not from the client's goodbye.
    assert journal.wait_for("disconnect", "/", sid)[3] == REASON.TRANSPORT_CLOSE
    assert not client.connected
    assert ("/", "disconnect", [CLIENT_REASON.CLIENT_DISCONNECT]) in client.received


def test_python_client_disconnect_over_polling_sends_41_and_1(
    tap: kit.Tap, journal: Journal
) -> None:
    client = kit.SocketIOClient(tap.url, transports=["polling"])
    sid = client.call("whoami")
    client.disconnect()  # about 1 s: the kit stops waiting for the pending long-poll
    journal.wait_for("disconnect", "/", sid)
    tap.wait_for("CLOSE", layer="engine.io", direction=C2S)
    sent = engine_packets(tap, C2S)
    assert sent[-2:] == ["41", "1"]  # socket.io DISCONNECT, then engine.io CLOSE
    # Both in one POST, whose body is the payload "41\x1e1" (\x1e separates packets).
    assert len(tap.select("body [4 bytes, 2 packets]", layer="http", direction=C2S)) == 1
    assert journal.wait_for("disconnect", "/", sid)[3] == REASON.CLIENT_DISCONNECT


# -- 3b. the server disconnects one client ---------------------------------------------------


def test_server_disconnect_sends_41_and_the_python_client_closes_the_connection(
    server: kit.Server, tap: kit.Tap, journal: Journal
) -> None:
    bystander = kit.SocketIOClient(server, transports=["websocket"])
    client = kit.SocketIOClient(tap.url, transports=["websocket"])
    sid = client.call("whoami")
    client.emit("close")  # the article's pattern; the handler awaits sio.disconnect(sid)
    assert client.wait_for("disconnect") == [CLIENT_REASON.SERVER_DISCONNECT]
    tap.wait_for("closed the connection", count=2)
    assert engine_packets(tap, S2C)[-1] == "41"  # socket.io DISCONNECT, no engine.io CLOSE
    assert "1" not in engine_packets(tap, S2C)
    # The python CLIENT closes the WebSocket, because it has no namespace left. The
    # server only left the namespace: that is Node's socket.disconnect(), not
    # socket.disconnect(true), which would close the connection itself.
    assert close_frames(tap) == [(C2S, "CLOSE 1000 (OK)"), (S2C, "CLOSE 1000 (OK)")]
    assert journal.wait_for("disconnect", "/", sid)[3] == REASON.SERVER_DISCONNECT
    assert not client.connected
    assert bystander.connected and bystander.call("shout", "still here") == "STILL HERE"


def test_after_41_the_engineio_session_stays_open_for_a_client_that_keeps_it(
    tap: kit.Tap, sio, journal: Journal
) -> None:
    ws = kit.WebSocket(f"{tap.ws_url}/socket.io/?EIO=4&transport=websocket")
    ws.wait_open()
    assert ws.wait_message().data.startswith('0{"sid":')
    ws.send("40")
    first = json.loads(ws.wait_message().data[2:])["sid"]
    ws.send('42["close"]')
    assert ws.wait_message().data == "41"
    journal.wait_for("disconnect", "/", first)
    # A hand-written client that does not hang up: the connection and the engine.io
    # session are still there, and the same connection can join the namespace again.
    assert ws.readyState == 1 and len(on_loop(lambda: sio.eio.sockets)) == 1
    ws.send("40")
    second = json.loads(ws.wait_message().data[2:])["sid"]
    assert second != first
    ws.send('421["shout","again"]')
    assert ws.wait_message().data == '431["AGAIN"]'
    ws.close()
    ws.wait_closed()
    assert journal.wait_for("disconnect", "/", second)[3] == REASON.TRANSPORT_CLOSE


def test_closing_the_engineio_session_is_the_nearest_to_disconnect_true(
    tap: kit.Tap, journal: Journal
) -> None:
    client = kit.SocketIOClient(tap.url, transports=["websocket"])
    sid = client.call("whoami")
    client.emit("close hard")  # await sio.eio.disconnect(eio_sid)
    assert client.wait_for("disconnect") == [CLIENT_REASON.SERVER_DISCONNECT]
    tap.wait_for("closed the connection", count=2)
    # engine.io CLOSE and no socket.io DISCONNECT (Node's disconnect(true) sends 41 for
    # each namespace, then closes the connection).
    assert engine_packets(tap, S2C)[-1] == "1"
    assert "41" not in engine_packets(tap, S2C)
    assert journal.wait_for("disconnect", "/", sid)[3] == REASON.SERVER_DISCONNECT


def test_disconnecting_one_namespace_keeps_the_connection_for_the_others(
    tap: kit.Tap, journal: Journal
) -> None:
    client = kit.SocketIOClient(tap.url, namespaces=["/post", "/get"], transports=["websocket"])
    post_sid = client.call("whoami", namespace="/post")
    get_sid = client.call("whoami", namespace="/get")
    client.emit("close", namespace="/post")
    assert client.wait_for("disconnect", namespace="/post") == [CLIENT_REASON.SERVER_DISCONNECT]
    assert journal.wait_for("disconnect", "/post", post_sid)[3] == REASON.SERVER_DISCONNECT
    assert engine_packets(tap, S2C)[-1] == "41/post,"
    # Still connected on /get, over the same WebSocket, with nothing closed.
    assert client.connected and client.call("whoami", namespace="/get") == get_sid
    assert close_frames(tap) == []
    assert "1" not in engine_packets(tap, S2C)
    assert {e.connection for e in tap.events} == {1}
    assert journal.starting_with("disconnect", "/get") == []
    with pytest.raises(socketio.exceptions.BadNamespaceError):
        client.emit("whoami", namespace="/post")


# -- 3c. closing everything -------------------------------------------------------------------


def test_sio_shutdown_alone_disconnects_nobody(server: kit.Server, sio, journal: Journal) -> None:
    client = kit.SocketIOClient(server, transports=["websocket"])
    runtime.run(sio.shutdown(), timeout=5)
    # It only stops python-engineio's service task, which watches for overdue pongs (the
    # pings go on: next test). Node's io.close() closes every client and the HTTP server.
    assert client.connected
    assert client.call("shout", "still on") == "STILL ON"
    assert [event for _, event, _ in client.received] == ["connect"]  # no disconnect
    assert journal.starting_with("disconnect") == []
    # It cannot be called twice: python-engineio then awaits a task handle it cleared.
    with pytest.raises(TypeError):
        runtime.run(sio.shutdown(), timeout=5)


def test_after_sio_shutdown_the_server_still_pings() -> None:
    """Lesson 04: shutdown() stops the timeout watcher, not the pings (each connection's)."""
    fast = socketio.AsyncServer(async_mode="aiohttp", ping_interval=1, ping_timeout=2)
    tap = kit.tap(kit.serve(fast, name="pinging"))
    client = kit.SocketIOClient(tap.url, transports=["websocket"])
    runtime.run(fast.shutdown(), timeout=5)
    tap.clear()
    ping = tap.wait_for("PING", layer="engine.io", direction=S2C, timeout=3)
    assert ping.raw == b"2" and client.connected


def test_server_stop_after_sio_shutdown_still_closes_every_client(server: kit.Server, sio) -> None:
    client = kit.SocketIOClient(server, transports=["websocket"])
    runtime.run(sio.shutdown(), timeout=5)
    server.stop()
    assert client.wait_for("disconnect") == [CLIENT_REASON.SERVER_DISCONNECT]


def test_server_stop_sends_engineio_close_to_every_client(
    server: kit.Server, tap: kit.Tap, journal: Journal
) -> None:
    over_websocket = kit.SocketIOClient(tap.url, transports=["websocket"])
    over_polling = kit.SocketIOClient(tap.url, transports=["polling"])
    sids = {over_websocket.call("whoami"), over_polling.call("whoami")}
    server.stop()
    for client in (over_websocket, over_polling):
        assert client.wait_for("disconnect") == [CLIENT_REASON.SERVER_DISCONNECT]
        assert not client.connected
    for sid in sids:
        assert journal.wait_for("disconnect", "/", sid)[3] == REASON.SERVER_DISCONNECT
    # engine.io CLOSE on each connection (on the WebSocket, and as a long-poll answer),
    # never a socket.io DISCONNECT. Node's io.close() calls each socket's
    # _onclose("server shutting down"), closes engine.io and the HTTP server.
    closes = tap.select("CLOSE", layer="engine.io", direction=S2C)
    assert sorted(e.transport for e in closes) == ["polling", "websocket"]
    assert "41" not in engine_packets(tap, S2C)


# -- 4. acknowledgements ---------------------------------------------------------------------


def test_call_returns_what_the_handler_returns(tap: kit.Tap) -> None:
    client = kit.SocketIOClient(tap.url, transports=["websocket"])
    assert client.call("shout", "hi") == "HI"
    assert client.call("pair") == ("a", 1)  # a returned tuple becomes several ack arguments
    assert client.call("shrug") is None
    tap.wait_for("ACK", layer="socket.io", count=3)
    # python-socketio numbers acks from 1 on both sides; the JS client starts at 0.
    assert [p for p in engine_packets(tap, C2S) if p.startswith("42")] == [
        '421["shout","hi"]',
        '422["pair"]',
        '423["shrug"]',
    ]
    assert [p for p in engine_packets(tap, S2C) if p.startswith("43")] == [
        '431["HI"]',
        '432["a",1]',
        "433[]",
    ]


def test_a_call_nobody_answers_raises_timeout_error(tap: kit.Tap) -> None:
    client = kit.SocketIOClient(tap.url, transports=["websocket"])
    with pytest.raises(socketio.exceptions.TimeoutError):
        client.call("nobody listens", timeout=0.2)
    assert tap.select("ACK", layer="socket.io") == []
    assert client.connected  # a missing ack is not an error of the connection


def test_server_call_gets_the_python_clients_ack(tap: kit.Tap, sio) -> None:
    answering = socketio.AsyncClient(reconnection=False)

    @answering.on("question")
    async def question(text: str) -> str:
        return f"answer to {text}"

    runtime.run(answering.connect(tap.url, transports=["websocket"]), timeout=5)
    try:
        sid = answering.get_sid("/")
        reply = runtime.run(sio.call("question", "life", to=sid, timeout=2), timeout=5)
        assert reply == "answer to life"
        assert '421["question","life"]' in engine_packets(tap, S2C)
        assert '431["answer to life"]' in engine_packets(tap, C2S)
    finally:
        runtime.run(answering.disconnect(), timeout=5)


def test_the_python_client_acks_every_call_even_from_a_catch_all_handler(tap: kit.Tap, sio) -> None:
    client = kit.SocketIOClient(tap.url, transports=["websocket"])  # records with on("*")
    sid = client.call("whoami")
    # Its handler returns None, and python-socketio acks that at once. A JS listener
    # acks only if it calls the callback it is given; otherwise the server times out.
    assert runtime.run(sio.call("question", "life", to=sid, timeout=2), timeout=5) is None
    assert client.wait_for("question") == ["life"]
    assert "431[]" in engine_packets(tap, C2S)


def test_server_call_times_out_when_the_client_never_acks(tap: kit.Tap, sio) -> None:
    ws = kit.WebSocket(f"{tap.ws_url}/socket.io/?EIO=4&transport=websocket")
    ws.wait_open()
    ws.wait_message()  # OPEN
    ws.send("40")
    sid = json.loads(ws.wait_message().data[2:])["sid"]
    with pytest.raises(socketio.exceptions.TimeoutError):
        runtime.run(sio.call("question", "life", to=sid, timeout=0.2), timeout=5)
    assert ws.wait_message().data == '421["question","life"]'  # it did arrive
    ws.close()
    ws.wait_closed()


def test_server_call_cannot_broadcast(sio) -> None:
    # Node can: io.timeout(ms).emitWithAck(...) collects one ack per client.
    with pytest.raises(ValueError, match="Cannot use call\\(\\) to broadcast"):
        runtime.run(sio.call("question", "life"), timeout=5)


# -- 5. reserved event names -----------------------------------------------------------------


def test_the_server_may_emit_reserved_names_and_the_python_client_obeys(tap: kit.Tap, sio) -> None:
    client = kit.SocketIOClient(tap.url, transports=["websocket"])
    sid = client.call("whoami")
    # Node's socket.emit("disconnect") throws '"disconnect" is a reserved event name';
    # python-socketio sends them like any other event.
    for name in ("connect", "disconnect", "connect_error"):
        runtime.run(sio.emit(name, to=sid), timeout=5)
    runtime.run(sio.emit("sentinel", to=sid), timeout=5)
    client.wait_for("sentinel")
    sent = [p for p in engine_packets(tap, S2C) if p.startswith("42")]
    assert sent[:3] == ['42["connect"]', '42["disconnect"]', '42["connect_error"]']
    # The kit's tap flags them (the protocol reserves these names).
    assert len(tap.select("reserved name", layer="socket.io", direction=S2C)) == 3
    # The python client runs its own connect and disconnect handlers for them (and drops
    # connect_error, which it has no handler for), while it stays connected.
    assert [(ns, event) for ns, event, _ in client.received] == [
        ("/", "connect"),
        ("/", "connect"),
        ("/", "disconnect"),
        ("/", "sentinel"),
    ]
    assert client.connected and client.call("whoami") == sid
    assert client.state == "connected"  # what the connection is, not what was said


def test_a_python_client_may_emit_reserved_names_and_the_server_obeys(
    tap: kit.Tap, sio, journal: Journal
) -> None:
    client = kit.SocketIOClient(tap.url, transports=["websocket"])
    sid = client.call("whoami")
    # The JS client refuses (see the Node test below); python-socketio sends them.
    client.emit("connect", {"REMOTE_ADDR": "spoofed"})
    client.emit("disconnect", "spoofed")
    # The server runs its connect handler again, with the client's data as environ,
    # and its disconnect handler with the client's reason, while nothing disconnected.
    assert journal.wait_for("disconnect", "/", sid)[3] == "spoofed"
    assert '42["disconnect","spoofed"]' in engine_packets(tap, C2S)
    journal.wait_for("connect", "/", sid, "spoofed")
    assert [e[3] for e in journal.starting_with("connect", "/", sid)] == ["127.0.0.1", "spoofed"]
    assert client.connected and client.call("whoami") == sid
    assert on_loop(lambda: sio.rooms(sid)) == [sid]  # still a member of its own room


# -- the official JavaScript client, for comparison --------------------------------------------

NODE_CLIENT = r"""
const { io } = require(process.argv[1]);
const [url, mode] = process.argv.slice(2);
setTimeout(() => { console.error("no disconnect within 5 s"); process.exit(2); }, 5000).unref();
const socket = io(url, { transports: ["websocket"], reconnection: false });
socket.on("connect", () => {
  const refused = [];
  for (const name of ["connect", "disconnect", "connect_error"]) {
    try { socket.emit(name, "spoofed"); } catch (error) { refused.push(error.message); }
  }
  socket.on("disconnect", (reason) => console.log(JSON.stringify({ refused, reason })));
  if (mode === "client") socket.disconnect(); else socket.emit("close");
});
"""


def run_node_client(bundle: Path, url: str, mode: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Node.js must be installed in CI")
        pytest.skip("Node.js is not installed")
    package = bundle.parent.parent  # .../socket.io-client/dist/socket.io.min.js
    done = subprocess.run(
        [node, "-e", NODE_CLIENT, str(package), url, mode],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


RESERVED_REFUSALS = [
    '"connect" is a reserved event name',
    '"disconnect" is a reserved event name',
    '"connect_error" is a reserved event name',
]


def test_the_js_client_refuses_reserved_names_and_says_41_before_closing(
    tap: kit.Tap, journal: Journal, socketio_client_js: Path
) -> None:
    result = run_node_client(socketio_client_js, tap.url, "client")
    assert result == {"refused": RESERVED_REFUSALS, "reason": "io client disconnect"}
    tap.wait_for("closed the connection", count=2)
    assert engine_packets(tap, C2S)[-1] == "41"  # unlike the python client over WebSocket
    assert close_frames(tap)[0][0] == C2S
    assert journal.wait_for("disconnect", "/")[3] == REASON.CLIENT_DISCONNECT


def test_the_js_client_also_hangs_up_after_a_server_41(
    tap: kit.Tap, journal: Journal, socketio_client_js: Path
) -> None:
    result = run_node_client(socketio_client_js, tap.url, "server")
    assert result["reason"] == "io server disconnect"  # python client: "server disconnect"
    tap.wait_for("closed the connection", count=2)
    assert engine_packets(tap, S2C)[-1] == "41"
    assert close_frames(tap)[0][0] == C2S  # the client closes the WebSocket, not the server
    assert journal.wait_for("disconnect", "/")[3] == REASON.SERVER_DISCONNECT
