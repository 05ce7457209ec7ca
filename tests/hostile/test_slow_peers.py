"""Peers that do not read, leave abruptly or flood: each can slow only itself.

The peers are raw sockets (kit.bench.peers): a library client would read and answer too
politely to show the problem. Timings here are generous deadlines for things that must
happen at all; the figures (how fast) are in ``python -m kit.bench hostile``.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator

import pytest
import websockets

import kit
from kit.apps.scratch import ScratchServer
from kit.bench import peers
from kit.runtime.errors import ServeError
from kit.wire import CloseCode, Frame, Opcode
from tests.waiting import eventually


async def flood(websocket: object) -> None:
    """A websockets handler that sends 64 KiB messages until the client is gone."""
    try:
        while True:
            await websocket.send("x" * 65536)  # type: ignore[attr-defined]
    except websockets.ConnectionClosed:
        pass


@pytest.fixture
def stalled() -> Iterator[list[socket.socket]]:
    """Sockets to close after the test (peers that never read)."""
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


# -- a slow reader in a broadcast ---------------------------------------------------------


def test_a_client_that_does_not_read_cannot_hold_up_a_broadcast(
    no_leaks: None, stalled: list[socket.socket]
) -> None:
    server = kit.serve(ScratchServer("broadcast"), name="room")
    stalled.append(peers.stalled_websocket(server.port))
    bystander = kit.WebSocket(server.ws_url)
    bystander.wait_open()
    sender = kit.WebSocket(server.ws_url)
    sender.wait_open()
    for number in range(160):  # 10 MiB in all: far more than the stalled peer's buffers
        sender.send(f"{number:03d} " + "y" * 65536)
    received = [bystander.wait_message(timeout=5).data[:3] for _ in range(160)]
    assert received == [f"{number:03d}" for number in range(160)]


def test_a_client_too_far_behind_is_closed_with_1008(
    no_leaks: None, stalled: list[socket.socket]
) -> None:
    app = ScratchServer("broadcast", max_backlog=2**20, close_timeout=0.5)
    server = kit.serve(app, name="room")
    slow = peers.stalled_websocket(server.port)
    stalled.append(slow)
    sender = kit.WebSocket(server.ws_url)
    sender.wait_open()
    for _ in range(100):
        sender.send("z" * 65536)
    eventually(lambda: any("too slow" in line for line in app.log), what="a 'too slow' line")
    line = next(line for line in app.log if "too slow" in line)
    assert "max_backlog=1048576" in line and "close 1008" in line
    eventually(lambda: len(app.connections) == 1, what="the slow client dropped")
    assert sender.readyState == kit.WebSocket.OPEN  # the others go on


def test_scratch_server_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_backlog must be a positive int"):
        ScratchServer(max_backlog=0)
    with pytest.raises(ValueError, match="max_fragments"):
        ScratchServer(max_fragments=-1)


def test_one_scratch_server_cannot_be_served_twice(no_leaks: None) -> None:
    app = ScratchServer()
    kit.serve(app, name="one")
    with pytest.raises(ServeError, match="already being served"):
        kit.serve(app, name="two")
    assert [s.name for s in kit.running_servers()] == ["one"]


# -- stops and re-serves with stuck peers ------------------------------------------------


def _websockets_app() -> object:
    return flood


def _scratch_app() -> object:
    return ScratchServer("broadcast")


def _chat_app() -> object:
    return kit.chat_app()


@pytest.mark.parametrize(
    ("make", "stall"),
    [
        (_websockets_app, peers.stalled_websocket),
        (_scratch_app, peers.stalled_websocket),
        (_chat_app, peers.stalled_socketio),
    ],
    ids=["websockets", "scratch", "chat"],
)
def test_re_serving_with_a_peer_that_does_not_read_replaces_the_server(
    no_leaks: None,
    stalled: list[socket.socket],
    make: Callable[[], object],
    stall: Callable[[int], socket.socket],
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = kit.serve(make(), name="s")
    stalled.append(stall(old.port))
    if old.kind == "scratch":  # a broadcast server sends only when someone talks
        talker = kit.WebSocket(old.ws_url)
        talker.wait_open()
        for _ in range(100):
            talker.send("y" * 65536)
    elif old.socketio:
        chat = kit.SocketIOClient(old.url)
        for _ in range(600):
            chat.emit("recive message", {"message": "w" * 480})
    time.sleep(0.3)  # let the server's writes to the stalled peer back up
    with caplog.at_level(logging.WARNING):
        new = kit.serve(make(), name="s")  # must not raise, whatever the old peers do
        assert new.running and not old.running
        assert [s.name for s in kit.running_servers()] == ["s"]
        kit.stop_all()
    assert "Task was destroyed" not in caplog.text
    assert all(entry.level != "ERROR" for entry in old.log), old.log


def test_a_stop_that_had_to_drop_peers_says_so_in_the_server_log(
    no_leaks: None, stalled: list[socket.socket]
) -> None:
    server = kit.serve(flood, name="s")
    stalled.append(peers.stalled_websocket(server.port))
    time.sleep(0.3)
    server.stop()
    notes = [str(entry) for entry in server.log]
    assert any("a peer is not reading" in note and "dropped 1" in note for note in notes)


# -- the tap's relay ------------------------------------------------------------------------


def test_the_tap_lets_go_of_a_client_that_stopped_reading_and_left(
    no_leaks: None, echo_handler: object
) -> None:
    # The deadlock this guards against: an echo server, and a client that sends but never
    # reads. The echoes back up into the relay, the relay stops reading the server, the
    # server stops reading the relay. When the client leaves, the direction towards it
    # ends; the other one waits for a server that waits for the relay: forever, unless
    # the relay gives the rest of the connection a deadline.
    server = kit.serve(echo_handler, name="echo")
    tap = kit.tap(server)
    rude, _ = peers.websocket_upgrade(tap.port)
    rude.setblocking(False)
    message = peers.masked(Frame(Opcode.BINARY, b"e" * 65536))
    sent, pending, refused = 0, memoryview(b""), 0
    while refused < 5 and sent < 2**28:  # until every buffer on the way is full
        try:
            pending = pending or memoryview(message)  # never cut a frame short
            count = rude.send(pending)
        except BlockingIOError:
            refused += 1
            time.sleep(0.05)
            continue
        pending, sent, refused = pending[count:], sent + count, 0
    assert sent > 2**20, "the buffers should hold more than 1 MiB before they fill"
    assert tap.connections == 1
    rude.close()  # unread data: the kernel answers with a reset
    eventually(lambda: tap.connections == 0, timeout=5, what="the relay let go")
    assert tap.select("dropped: the other side still busy")
    client = kit.WebSocket(server.ws_url)  # and the server behind is still fine
    client.wait_open()
    client.send("ok?")
    assert client.wait_message().data == "ok?"


def test_stopping_a_tap_says_goodbye_with_1001(no_leaks: None, echo_handler: object) -> None:
    server = kit.serve(echo_handler, name="echo")
    tap = kit.tap(server)
    client = kit.WebSocket(tap.ws_url)
    client.wait_open()
    tap.stop()
    closed = client.wait_closed(timeout=5)
    assert (closed.code, closed.reason) == (CloseCode.GOING_AWAY, "tap stopped")
    assert tap.select("tap stopping: CLOSE 1001")
