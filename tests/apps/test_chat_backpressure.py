"""The chat server and clients that cannot keep up: skipped, told, or refused; never a pile.

The slow clients are raw sockets that complete the engine.io upgrade, join ``/`` and then
stop reading (kit.bench.peers): python-socketio's client would read too eagerly.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import kit
from kit.apps import chat as chatapp
from kit.bench import peers
from kit.wire import Frame, MessageReader, Opcode
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaks")

BIG = "b" * 40_000  # big messages fill the socket buffers quickly


@pytest.fixture
def rude() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def socketio_events(
    sock: socket.socket, *, until: str, timeout: float = 10.0, within: float | None = None
) -> list[list]:
    """Read a raw engine.io-over-WebSocket peer until event ``until``; answer PINGs.

    ``within``: fail after that many seconds even if PINGs keep coming."""
    sock.settimeout(timeout)
    reader = MessageReader(mask_required=False, max_size=None)
    events: list[list] = []
    deadline = time.monotonic() + within if within is not None else None
    while True:
        assert deadline is None or time.monotonic() < deadline, (
            f"no {until!r} within {within} s; events: {events[-3:]}"
        )
        data = sock.recv(65536)
        assert data, f"the server closed the connection; events so far: {events[-3:]}"
        reader.feed(data)
        for message in reader:
            if isinstance(message, Frame):
                continue
            text = message.data
            if text == "2":
                sock.sendall(peers.masked(Frame(Opcode.TEXT, b"3")))
            elif text.startswith("42"):
                events.append(json.loads(text[2:]))
                if events[-1][0] == until:
                    return events


def fill(sender: kit.SocketIOClient, chat: chatapp.ChatApp, sid: str) -> int:
    """Broadcast big messages until client ``sid`` is behind; return how many it took."""
    for count in range(1, 400):
        answer = sender.call("recive message", {"message": BIG})
        assert answer == {"ok": True}, answer
        if chat.backlog(sid) > chat.max_backlog:
            return count
    pytest.fail("the stalled client never fell behind")


def stalled_sid(chat: chatapp.ChatApp, known: set[str]) -> str:
    eventually(lambda: len(set(chat.sio.manager.get_participants("/", None))) > len(known))
    (sid,) = {sid for sid, _ in chat.sio.manager.get_participants("/", None)} - known
    return sid


def test_a_client_that_stops_reading_is_skipped_and_the_others_get_everything(rude) -> None:
    chat = kit.chat_app(max_text=50_000, max_backlog=5)
    server = kit.serve(chat, name="chat")
    sender, bystander = kit.SocketIOClient(server), kit.SocketIOClient(server)
    bystander.wait_for("new message")  # the welcome
    rude.append(peers.stalled_socketio(server.port))
    slow = stalled_sid(chat, {sender.sid(), bystander.sid()})
    sent = fill(sender, chat, slow)
    for _ in range(50):  # and then some: the slow one must not grow any further
        assert sender.call("recive message", {"message": BIG}) == {"ok": True}
    assert chat.backlog(slow) <= chat.max_backlog + 2
    for _ in range(sent + 50):
        assert bystander.wait_for("new message", timeout=10)[0]["mess"] == BIG


def test_a_client_that_caught_up_is_told_how_many_messages_it_missed(rude) -> None:
    chat = kit.chat_app(max_text=50_000, max_backlog=5)
    server = kit.serve(chat, name="chat")
    sender = kit.SocketIOClient(server)
    late = peers.stalled_socketio(server.port)
    rude.append(late)
    slow = stalled_sid(chat, {sender.sid()})
    fill(sender, chat, slow)
    for _ in range(7):
        sender.call("recive message", {"message": BIG})
    drained = socketio_events_until_quiet(late)
    eventually(lambda: chat.backlog(slow) == 0, what="the slow client caught up")
    sender.call("recive message", {"message": "are you back?"})
    events = drained + socketio_events(late, until="new message")
    missed = [args for name, *args in events if name == "missed messages"]
    assert missed and missed[-1][0]["count"] >= 7
    assert "more than 5 messages behind" in missed[-1][0]["why"]
    names = [name for name, *_ in events]
    assert names.index("missed messages") < len(names) - 1  # told before the next message


def socketio_events_until_quiet(sock: socket.socket, quiet: float = 0.5) -> list[list]:
    """Read what is waiting until nothing arrives for ``quiet`` seconds."""
    sock.settimeout(quiet)
    reader = MessageReader(mask_required=False, max_size=None)
    events: list[list] = []
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return events
        if not data:
            return events
        reader.feed(data)
        for message in reader:
            if not isinstance(message, Frame) and message.data.startswith("42"):
                events.append(json.loads(message.data[2:]))


def test_when_most_recipients_are_behind_a_message_is_refused_as_busy(rude) -> None:
    chat = kit.chat_app(max_text=50_000, max_backlog=5)
    server = kit.serve(chat, name="chat")
    sender = kit.SocketIOClient(server)
    known = {sender.sid()}
    for _ in range(2):
        rude.append(peers.stalled_socketio(server.port))
        known.add(stalled_sid(chat, known))
    answers = [sender.call("recive message", {"message": BIG}) for _ in range(300)]
    refused = [answer for answer in answers if "error" in answer]
    assert refused, "with 2 of 3 recipients behind, messages must be refused"
    assert refused[0]["error"].startswith("busy: 2 of 3 recipients still have over 5 messages")
    assert answers.index(refused[0]) < 300 - 1  # refused early, not at the end
    assert all(chat.backlog(sid) <= 5 + 2 for sid in known - {sender.sid()})


def test_a_private_message_to_someone_behind_is_refused(rude) -> None:
    chat = kit.chat_app(max_text=50_000, max_backlog=5)
    server = kit.serve(chat, name="chat")
    ann = kit.SocketIOClient(server)
    ann.call("add user", "ann")
    sock = peers.stalled_socketio(server.port)
    rude.append(sock)
    bob = stalled_sid(chat, {ann.sid()})
    sock.sendall(peers.masked(Frame(Opcode.TEXT, b'42["add user","bob"]')))
    eventually(lambda: "bob" in chat.users, what="bob logged in")
    fill(ann, chat, bob)
    answer = ann.call("private message", {"to": "bob", "message": "psst"})
    busy = "busy: 'bob' still has over 5 messages waiting; try again in a moment"
    assert answer == {"error": busy}


def test_max_backlog_is_checked() -> None:
    with pytest.raises(ValueError, match="max_backlog must be at least 1 packet"):
        kit.chat_app(max_backlog=0)


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "100"])
def test_max_deliveries_is_checked(bad: object) -> None:
    with pytest.raises(ValueError, match="max_deliveries must be a whole number of at least 1"):
        kit.chat_app(max_deliveries=bad)  # type: ignore[arg-type]


def test_max_deliveries_is_an_option_and_none_turns_the_budget_off() -> None:
    assert kit.chat_app(max_deliveries=7).max_deliveries == 7
    assert kit.chat_app(max_deliveries=None).max_deliveries is None


def test_while_too_many_broadcasts_are_going_out_a_message_is_refused_as_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chat = kit.chat_app()
    server = kit.serve(chat, name="chat")
    ann = kit.SocketIOClient(server)
    monkeypatch.setattr(chatapp, "MAX_IN_FLIGHT", 0)  # as if 32 were going out now
    answer = ann.call("recive message", {"message": "hi"})
    assert answer == {
        "error": "busy: 0 messages are still going out to everyone; try again in a moment"
    }
    monkeypatch.setattr(chatapp, "MAX_IN_FLIGHT", 32)
    assert ann.call("recive message", {"message": "hi"}) == {"ok": True}


def raw_text_frames(sock: socket.socket, count: int, timeout: float = 10.0) -> list[bytes]:
    """The next ``count`` TEXT payloads starting ``42`` (socket.io EVENTs), as raw bytes."""
    sock.settimeout(timeout)
    reader = MessageReader(mask_required=False, max_size=None)
    payloads: list[bytes] = []
    while len(payloads) < count:
        data = sock.recv(65536)
        assert data, f"the server closed the connection after {payloads}"
        reader.feed(data)
        for message in reader:
            if not isinstance(message, Frame) and message.data.startswith("42"):
                payloads.append(message.data.encode())
    return payloads


def test_a_broadcast_puts_the_same_bytes_on_the_wire_as_python_socketio_emit(rude) -> None:
    """The chat's own fan-out (no task per recipient) against ``sio.emit``, byte for byte."""
    chat = kit.chat_app()
    server = kit.serve(chat, name="chat")
    sender = kit.SocketIOClient(server)
    peer = peers.stalled_socketio(server.port)  # reads below, when the test says so
    rude.append(peer)
    stalled_sid(chat, {sender.sid()})
    (welcome,) = raw_text_frames(peer, 1)
    assert welcome.startswith(b'42["new message",{"mess":')
    text = 'h\u00e9llo "quoted" \\ \u2603 \U0001f600 </script>'
    stamp = "2024-05-01T08:00:00.000Z"
    assert sender.call("recive message", {"message": text, "time": stamp}) == {"ok": True}
    data = {"user": "anonymous", "mess": text, "time": stamp, "room": None}
    kit.run(chat.sio.emit("new message", data))  # python-socketio's own path
    ours, theirs = raw_text_frames(peer, 2)
    assert ours == theirs
    assert json.loads(ours[2:]) == ["new message", data]


def test_a_broadcast_makes_no_task_per_recipient(rude) -> None:
    """Handing a message to 20 clients starts no task per client (python-socketio's emit
    starts one each): the runtime loop's work for a broadcast no longer grows with tasks."""
    chat = kit.chat_app()
    server = kit.serve(chat, name="chat")
    listener = kit.SocketIOClient(server)
    assert "welcome" in listener.wait_for("new message")[0]["mess"]
    for _ in range(20):
        rude.append(peers.stalled_socketio(server.port))
    eventually(lambda: len(list(chat.sio.manager.get_participants("/", None))) == 21)

    async def tasks_made_by(send: Callable[[], Awaitable[object]]) -> int:
        loop = asyncio.get_running_loop()
        factory = loop.get_task_factory()
        made = 0

        def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
            nonlocal made
            made += 1
            assert factory is not None
            return factory(loop, coro, **kwargs)

        loop.set_task_factory(counting)
        try:
            await send()
        finally:
            loop.set_task_factory(factory)
        return made

    data = {"user": "ann", "mess": "hi", "time": "t", "room": None}
    ours = kit.run(tasks_made_by(lambda: chat._broadcast("new message", data)))
    theirs = kit.run(tasks_made_by(lambda: chat.sio.emit("new message", data)))
    assert theirs >= 21, "python-socketio's emit was expected to make a task per recipient"
    assert ours == 0


BURST_DATA = {"user": "ann", "mess": "hi", "time": "t", "room": None}


async def burst(chat: chatapp.ChatApp, count: int) -> list[str]:
    """``count`` broadcasts of BURST_DATA in one go: "ok" or the refusal, for each."""
    answers = []
    for _ in range(count):  # no await that yields to the loop in between
        try:
            await chat._broadcast("new message", BURST_DATA)
            answers.append("ok")
        except chatapp.Refused as exc:
            answers.append(str(exc))
    return answers


def test_a_burst_handed_out_faster_than_the_writers_run_is_refused_as_busy() -> None:
    """On a server on its own: 40 broadcasts in one go, with no chance for the recipients'
    writer tasks to run in between; after 32 (MAX_IN_FLIGHT) the loop counts as saturated."""
    chat = kit.chat_app()
    server = kit.serve(chat, name="chat")
    clients = [kit.SocketIOClient(server) for _ in range(3)]
    for client in clients:
        client.wait_for("new message")  # the welcome
    answers = kit.run(burst(chat, 40))
    assert answers[:32] == ["ok"] * 32
    busy = "busy: 32 messages are still going out to everyone; try again in a moment"
    assert answers[32:] == [busy] * 8
    for client in clients:
        for _ in range(32):
            assert client.wait_for("new message", timeout=10)[0] == BURST_DATA
    assert clients[0].call("recive message", {"message": "after"}) == {"ok": True}


def test_one_slow_reader_of_two_recipients_does_not_make_the_server_busy(rude) -> None:
    """The busy rule looks at a typical recipient (the lower median), not at the slowest."""
    chat = kit.chat_app(max_text=50_000)
    server = kit.serve(chat, name="chat")
    sender = kit.SocketIOClient(server)
    rude.append(peers.stalled_socketio(server.port))
    slow = stalled_sid(chat, {sender.sid()})
    for _ in range(400):
        assert sender.call("recive message", {"message": BIG}) == {"ok": True}
        if chat.backlog(slow) > 2 * chatapp.MAX_IN_FLIGHT:
            break
    else:
        pytest.fail("the stalled client never fell behind")
    assert sender.call("recive message", {"message": "still fine"}) == {"ok": True}


def test_past_its_delivery_budget_a_server_refuses_messages_as_busy() -> None:
    """MAX_DELIVERIES: one message to three clients is three deliveries; past the budget
    the message is refused with the reason, and the budget refills with time."""
    chat = kit.chat_app()
    assert chat.max_deliveries == chatapp.MAX_DELIVERIES == 5_000
    server = kit.serve(chat, name="chat")
    clients = [kit.SocketIOClient(server) for _ in range(3)]
    for client in clients:
        client.wait_for("new message")  # the welcome
    chat.max_deliveries = 10
    answers = kit.run(burst(chat, 5))
    busy = (
        "busy: this server hands out at most 10 deliveries a second (this message would "
        "be 3); try again in a moment"
    )
    assert answers == ["ok"] * 3 + [busy] * 2
    for client in clients:
        for _ in range(3):
            assert client.wait_for("new message", timeout=10)[0] == BURST_DATA
    eventually(
        lambda: clients[0].call("recive message", {"message": "later"}) == {"ok": True},
        what="the budget refilled",
    )
    chat.max_deliveries = None
    assert kit.run(burst(chat, 5)) == ["ok"] * 5


def test_a_client_whose_heartbeat_answer_is_late_is_skipped_and_told_when_it_answers(
    rude,
) -> None:
    """A client whose queue here is empty but whose PONG is over MAX_LAG late is behind
    (its backlog is in the socket buffers and its own loop): broadcasts skip it, and once
    it answers it is told how many it missed, with no further broadcast needed."""
    chat = kit.chat_app()
    chat.sio.eio.ping_interval = 0.3  # python-engineio's option: a PING every 0.3 s
    server = kit.serve(chat, name="chat")
    sender, bystander = kit.SocketIOClient(server), kit.SocketIOClient(server)
    bystander.wait_for("new message")  # the welcome
    late = peers.stalled_socketio(server.port)  # reads nothing, answers no PING
    rude.append(late)
    slow = stalled_sid(chat, {sender.sid(), bystander.sid()})
    eio_socket = chat.sio.eio.sockets[chat.sio.manager.eio_sid_from_sid(slow, "/")]

    def pong_late() -> bool:  # what chat.lag(slow) > MAX_LAG (2 s) says, read directly
        sent = eio_socket.last_ping
        return bool(sent) and time.time() - sent > 2.0

    eventually(pong_late, what="the PONG over 2 s late", timeout=10)
    assert chat.backlog(slow) <= chat.max_backlog  # its queue here says nothing
    for number in range(3):
        answer = sender.call("recive message", {"message": f"while you were away {number}"})
        assert answer == {"ok": True}
        assert bystander.wait_for("new message")[0]["mess"] == f"while you were away {number}"
    events = socketio_events(late, until="missed messages", within=10)  # answers PINGs
    assert [e for e in events if "away" in str(e)] == []
    missed = events[-1][1]
    assert missed["count"] == 3
    assert "over 2 s late" in missed["why"]
    assert chat.lag(slow) <= chatapp.MAX_LAG == 2.0
