"""kit.chat_app(store=...): messages kept in a real SQLite file, replayed, kept once.

Every test uses a real SQLite file under ``tmp_path`` and real socket.io clients over
loopback. The bad-input cases are the issue's: an offset that is not a number, negative,
from the future or from another store; an id reused for other content; a store file that
is locked (another connection holds an exclusive lock), read-only or corrupt (garbage
bytes); each gets a clear error, and nothing stored is lost.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import kit
from kit.apps.chatstore import ChatStore, IdReused, check_offset
from kit.apps.recovery import SqliteRecoveryStore, StoreFileError

pytestmark = pytest.mark.usefixtures("no_leaks")

ROOT = Path(__file__).resolve().parents[2]
COMMAND_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's kit, in the child too


def connect(server: kit.Server, auth: dict[str, Any] | None = None) -> kit.SocketIOClient:
    """A client over WebSocket that has had its welcome (returned in ``client.welcome``)."""
    client = kit.SocketIOClient(server, transports=["websocket"], auth=auth)
    client.welcome = client.wait_for("new message")[0]  # type: ignore[attr-defined]
    return client


def chat_messages(client: kit.SocketIOClient) -> list[dict[str, Any]]:
    """The payloads of the ``new message`` events with a user (the welcome has none)."""
    return [
        args[0]
        for _, event, args in client.received
        if event == "new message" and "user" in args[0]
    ]


def send(client: kit.SocketIOClient, text: str, **more: Any) -> Any:
    return client.call("recive message", {"message": text, "user": "ann", **more})


def settle(chat: kit.ChatApp, *clients: kit.SocketIOClient, token: str = "s") -> None:
    """Send a sentinel after every replay and message under way; wait for it to arrive.

    Replays and stored messages go out under the chat's order lock (a replay follows the
    CONNECT answer and the welcome, in a task of its own): the sentinel waits its turn.
    """

    async def sentinel() -> None:
        async with chat._order:
            await chat.sio.emit("sentinel", token)

    kit.run(sentinel())
    for client in clients:
        assert client.wait_for("sentinel") == [token]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "chat.sqlite"


def test_without_a_store_nothing_changes_on_the_wire() -> None:
    chat = kit.chat_app()
    server = kit.serve(chat, name="chat")
    client = connect(server, auth={"offset": "junk", "store": "x"})  # ignored, as before
    assert client.welcome == {"mess": "welcome to the chat", "rooms": ["room one", "room two"]}
    assert send(client, "hi", id="ann-1") == {"ok": True}
    settle(chat, client)
    (message,) = chat_messages(client)
    assert "offset" not in message and "id" not in message
    assert chat.store is None


def test_messages_are_stored_before_broadcast_with_growing_offsets(path: Path) -> None:
    chat = kit.chat_app(store=path)
    server = kit.serve(chat, name="chat")
    client = connect(server)
    assert client.welcome["offset"] == 0 and client.welcome["store"] == chat.store.id
    acks = [send(client, f"m{i}") for i in range(3)]
    assert acks == [{"ok": True, "offset": n} for n in (1, 2, 3)]
    settle(chat, client)
    assert [(m["mess"], m["offset"]) for m in chat_messages(client)] == [
        ("m0", 1),
        ("m1", 2),
        ("m2", 3),
    ]
    # In the file, read by another connection: nothing is only in memory.
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT number, body FROM chat_messages ORDER BY number").fetchall()
    assert [number for number, _ in rows] == [1, 2, 3] and '"mess":"m2"' in rows[2][1]


def test_a_client_that_comes_back_gets_what_it_missed_in_order(path: Path) -> None:
    chat = kit.chat_app(store=path)
    server = kit.serve(chat, name="chat")
    ann = connect(server)
    for i in range(5):
        send(ann, f"m{i}")
    room_one = connect(server)
    assert room_one.call("join", {"room": "room one"})["ok"]
    send(room_one, "in the room", room="room one")  # offset 6
    send(ann, "m5")  # offset 7
    store = chat.store.id
    back = connect(server, auth={"offset": 2, "store": store})
    assert back.welcome["offset"] == 7
    settle(chat, back)  # the replay follows the welcome, after the CONNECT answer
    replayed = chat_messages(back)
    assert [(m["mess"], m["offset"], m["replay"]) for m in replayed] == [
        ("m2", 3, True),
        ("m3", 4, True),
        ("m4", 5, True),
        ("m5", 7, True),  # the room's message is not for everyone
    ]
    # Joining with an offset replays that room's messages after it.
    answer = back.call("join", {"room": "room one", "offset": 2})
    assert answer["ok"] and answer["rooms"] == ["room one"]
    settle(chat, back)
    assert [(m["mess"], m["offset"]) for m in chat_messages(back)[4:]] == [("in the room", 6)]
    # A client up to date gets nothing again; one with offset 0 gets everything to everyone.
    up_to_date, from_zero = (connect(server, auth={"offset": n, "store": store}) for n in (7, 0))
    settle(chat, up_to_date, from_zero, token="t")
    assert chat_messages(up_to_date) == []
    assert len(chat_messages(from_zero)) == 6


def test_a_server_restarted_on_the_same_file_replays_across_the_restart(path: Path) -> None:
    first = kit.chat_app(store=path)
    server = kit.serve(first, name="chat")
    client = connect(server)
    send(client, "before the restart")
    store = first.store.id
    kit.stop("chat")
    first.store.close()
    again = kit.chat_app(store=path)
    assert again.store.id == store  # kept in the file
    server = kit.serve(again, name="chat")
    back = connect(server, auth={"offset": 0, "store": store})
    assert [m["mess"] for m in chat_messages(back)] == ["before the restart"]
    assert send(back, "after") == {"ok": True, "offset": 2}


def test_offsets_ride_in_the_auth_beside_a_token(path: Path) -> None:
    signer = kit.TokenSigner(b"a secret of at least thirty-two bytes")
    chat = kit.chat_app(store=path, tokens=signer)
    server = kit.serve(chat, name="chat")
    ann = connect(server, auth={"token": signer.issue("ann")})
    assert ann.call("add user", "ann")["numUsers"] == 1
    assert ann.call("recive message", {"message": "kept"})["ok"]
    back = connect(server, auth={"token": signer.issue("bob"), "offset": 0, "store": chat.store.id})
    assert [m["mess"] for m in chat_messages(back)] == ["kept"]
    with pytest.raises(ConnectionRefusedError, match="auth has no 'token'"):
        kit.SocketIOClient(server, transports=["websocket"], auth={"offset": 0})


def test_a_retry_with_the_same_id_is_stored_and_broadcast_once(path: Path) -> None:
    chat = kit.chat_app(store=path)
    server = kit.serve(chat, name="chat")
    client = connect(server)
    first = send(client, "once", id="ann-0001")
    assert first == {"ok": True, "offset": 1}
    assert send(client, "once", id="ann-0001") == {"ok": True, "offset": 1, "duplicate": True}
    refused = send(client, "something else", id="ann-0001")
    assert refused == {"error": "id 'ann-0001' was already used for a different message"}
    settle(chat, client)
    assert [(m["mess"], m["id"], m["offset"]) for m in chat_messages(client)] == [
        ("once", "ann-0001", 1)
    ]
    assert chat.store.count == 1


@pytest.mark.parametrize(
    ("message_id", "why"),
    [
        (7, "a message 'id' is text, not int"),
        ("", "a message 'id' has 1 to 64 characters"),
        ("x" * 65, "a message 'id' has 1 to 64 characters"),
    ],
)
def test_a_bad_message_id_is_refused(path: Path, message_id: Any, why: str) -> None:
    chat = kit.chat_app(store=path)
    server = kit.serve(chat, name="chat")
    answer = send(connect(server), "hi", id=message_id)
    assert why in answer["error"]
    assert chat.store.count == 0


@pytest.mark.parametrize(
    ("auth", "why"),
    [
        ({"offset": "3"}, "offset must be an integer (the last offset you saw), not '3'"),
        ({"offset": 1.5}, "offset must be an integer"),
        ({"offset": True}, "offset must be an integer"),
        ({"offset": -1}, "offset must be 0 or more, not -1"),
        ({"offset": 99}, "offset 99 is from the future: the newest message kept is 2"),
        ({"offset": 1, "store": "another-file"}, "the store 'another-file' in your auth is not"),
    ],
)
def test_a_bad_offset_refuses_the_connection_and_loses_nothing(
    path: Path, auth: dict[str, Any], why: str
) -> None:
    chat = kit.chat_app(store=path)
    server = kit.serve(chat, name="chat")
    client = connect(server)
    send(client, "one")
    send(client, "two")
    with pytest.raises(ConnectionRefusedError, match="the server refused the connection") as info:
        kit.SocketIOClient(server, transports=["websocket"], auth=auth)
    assert why in str(info.value)
    # The server goes on, and everything stored is still there.
    assert send(client, "three") == {"ok": True, "offset": 3}
    assert [m.payload["mess"] for m in chat.store.after(0)] == ["one", "two", "three"]


@pytest.mark.parametrize(
    ("offset", "why"),
    [("1", "must be an integer"), (-5, "must be 0 or more"), (10, "is from the future")],
)
def test_a_bad_offset_in_join_gets_an_error_answer(path: Path, offset: Any, why: str) -> None:
    chat = kit.chat_app(store=path)
    server = kit.serve(chat, name="chat")
    client = connect(server)
    answer = client.call("join", {"room": "room one", "offset": offset})
    assert why in answer["error"] and "the join's offset" in answer["error"]
    assert client.call("join", {"room": "room one", "offset": 0})["ok"]


def test_a_locked_store_file_is_a_clear_error_and_keeps_its_messages(path: Path) -> None:
    store = ChatStore(path)
    store.add({"user": "ann", "mess": "kept", "room": None})
    store.close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program, inside a transaction
    try:
        with pytest.raises(StoreFileError, match="locked") as info:
            kit.chat_app(store=path)
        assert str(path) in str(info.value) and "stop that program" in str(info.value)
        assert info.value.problem == "locked"
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert [m.payload["mess"] for m in ChatStore(path).after(0)] == ["kept"]


def _read_only(path: Path) -> None:
    """Make ``path`` read-only for this process: chmod, and chattr +i for root (root
    ignores the mode bits)."""
    path.chmod(0o444)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)


def _writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    path.chmod(0o644)


def test_a_read_only_store_file_is_a_clear_error_and_keeps_its_messages(path: Path) -> None:
    store = ChatStore(path)
    store.add({"user": "ann", "mess": "kept", "room": None})
    store.close()
    _read_only(path)
    try:
        with pytest.raises(StoreFileError, match="read-only") as info:
            kit.chat_app(store=path)
        assert str(path) in str(info.value) and "chmod u+w" in str(info.value)
    finally:
        _writable(path)
    assert [m.payload["mess"] for m in ChatStore(path).after(0)] == ["kept"]


def test_a_store_locked_while_serving_refuses_messages_and_the_server_goes_on(
    path: Path,
) -> None:
    chat = kit.chat_app(store=path)
    server = kit.serve(chat, name="chat")
    client = connect(server)
    assert send(client, "kept")["ok"]
    # Another connection holds the write lock: the next message cannot be kept.
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        answer = send(client, "not kept", id="ann-2")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "the message was not kept, try again later" in answer["error"]
    assert "locked" in answer["error"]
    # The retry with the same id now goes through, once.
    assert send(client, "not kept", id="ann-2") == {"ok": True, "offset": 2}
    settle(chat, client)
    assert [m["mess"] for m in chat_messages(client)] == ["kept", "not kept"]


@pytest.mark.parametrize("where", ["whole file", "one page"])
def test_a_corrupt_store_file_is_a_clear_error(path: Path, where: str) -> None:
    if where == "whole file":
        path.write_bytes(os.urandom(8192))
    else:
        store = ChatStore(path)
        for i in range(500):
            store.add({"user": "ann", "mess": f"message {i} " * 20, "room": None})
        store.close()
        data = bytearray(path.read_bytes())
        data[8192:12288] = b"\xa5" * 4096  # garbage over the third page
        path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(StoreFileError, match="corrupt") as info:
        kit.chat_app(store=path)
    assert str(path) in str(info.value) and "move it away" in str(info.value)
    assert path.read_bytes() == before  # the kit did not touch what was there


def test_the_command_refuses_a_bad_store_file(path: Path) -> None:
    path.write_bytes(b"not a database at all, " * 100)
    done = subprocess.run(
        [sys.executable, "-m", "kit.chat", "--port", "0", "--store", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=COMMAND_ENV,
    )
    assert done.returncode == 2
    assert "corrupt" in done.stderr and str(path) in done.stderr


def test_store_and_redis_together_are_refused(path: Path) -> None:
    with pytest.raises(ValueError, match="store= and redis= together are not supported"):
        kit.chat_app(store=path, redis="redis://127.0.0.1:6379/0")


def test_the_recovery_store_and_the_chat_store_share_one_file(path: Path) -> None:
    recovery = SqliteRecoveryStore(str(path))
    chat = ChatStore(path)
    offset, _ = chat.add({"user": "ann", "mess": "hi", "room": None})
    recovery.append("/", ["tick"], [], [], now=1.0)
    assert chat.after(0)[0].offset == offset and chat.newest == 1
    recovery.close()
    chat.close()
    with pytest.raises(StoreFileError, match="corrupt"):
        path.write_bytes(b"\x00" * 4096)
        SqliteRecoveryStore(str(path))


def test_check_offset_and_id_reuse_without_a_server(path: Path) -> None:
    assert check_offset(0) == 0
    with pytest.raises(ValueError, match="not None"):
        check_offset(None)
    store = ChatStore(path)
    store.add({"user": "a", "mess": "x", "room": "room one"}, message_id="a-1")
    with pytest.raises(IdReused):
        store.add({"user": "a", "mess": "x", "room": None}, message_id="a-1")  # other room
    assert store.resume_point({"token": "t"}) is None  # auth without offsets
    assert store.resume_point({"offset": 1, "store": store.id, "token": "t"}) == 1


def test_a_client_too_far_behind_is_caught_up_from_the_store_without_a_gap(path: Path) -> None:
    from kit.bench import peers
    from tests.apps.test_chat_backpressure import BIG, socketio_events_until_quiet, stalled_sid

    chat = kit.chat_app(store=path, max_text=50_000, max_backlog=5)
    server = kit.serve(chat, name="chat")
    sender = kit.SocketIOClient(server)
    late = peers.stalled_socketio(server.port)
    try:
        slow = stalled_sid(chat, {sender.sid()})
        sent = 0
        while chat.backlog(slow) <= chat.max_backlog:
            assert sender.call("recive message", {"message": BIG})["ok"]
            sent += 1
            assert sent < 400, "the stalled client never fell behind"
        for n in range(7):  # these skip it for now: it is behind
            assert sender.call("recive message", {"message": f"later {n}"})["ok"]
        sent += 7
        assert chat.backlog(slow) <= chat.max_backlog + 1  # bounded: not queued for it
        offsets: list[int] = []
        deadline = time.monotonic() + 20
        while len(offsets) < sent and time.monotonic() < deadline:
            events = socketio_events_until_quiet(late)  # reading: it catches up
            offsets += [e[1]["offset"] for e in events if e[0] == "new message" and "user" in e[1]]
        assert offsets == list(range(1, sent + 1))  # everything, once, in order
    finally:
        late.close()


def _chat_command(path: Path) -> tuple[subprocess.Popen[str], str]:
    """``python -m kit.chat --port 0 --store PATH`` started; (process, its URL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kit.chat", "--port", "0", "--store", str(path)],
        stderr=subprocess.PIPE,
        text=True,
        env=COMMAND_ENV,
    )
    assert process.stderr is not None
    line = process.stderr.readline()  # "kit.chat: serving http://127.0.0.1:PORT/ (...)"
    assert "serving" in line and f"store {path}" in line, line
    return process, line.split("serving ", 1)[1].split("/ ", 1)[0]


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    assert process.wait(30) == 0
    assert process.stderr is not None
    process.stderr.close()


def test_the_command_keeps_messages_across_a_restart_of_its_process(path: Path) -> None:
    process, url = _chat_command(path)
    try:
        client = kit.SocketIOClient(url, transports=["websocket"])
        welcome = client.wait_for("new message")[0]
        assert client.call("recive message", {"message": "before", "user": "ann"}) == {
            "ok": True,
            "offset": 1,
        }
        client.disconnect()
    finally:
        _stop(process)
    process, url = _chat_command(path)  # a new process on the same file
    try:
        auth = {"offset": 0, "store": welcome["store"]}
        back = kit.SocketIOClient(url, transports=["websocket"], auth=auth)
        back.wait_for("new message")  # the welcome
        assert back.wait_for("new message")[0]["mess"] == "before"
        back.disconnect()
    finally:
        _stop(process)
