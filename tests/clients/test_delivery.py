"""Delivery guarantees: SocketIOChatClient(resume=, retries=, message_ids=) against a real
kit.chat_app(store=...) on a real SQLite file, behind a real tap that cuts, delays or
swallows the traffic (kit.wiretap.faults).

The chaos test is the contract's promise at the strongest level: 0 lost, 0 duplicated,
with reconnection on and the tap cutting every connection every 200 ms. The latency tests
make retries certain (the ack cannot come back in time) to show at-least-once keeping a
retried message twice and exactly-once keeping it once.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest

import kit
from kit.clients.chat import SocketIOChatClient
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaks")

FAST = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.2, "randomization_factor": 0}


@pytest.fixture
def chat(tmp_path: Path) -> kit.ChatApp:
    return kit.chat_app(store=tmp_path / "chat.sqlite")


@pytest.fixture
def server(chat: kit.ChatApp) -> kit.Server:
    return kit.serve(chat, name="delivery chat")


def texts(client: SocketIOChatClient) -> list[str]:
    return [m.text for m in client.received if m.user]


def test_the_levels_are_ordered_and_name_the_client_keywords() -> None:
    assert list(kit.DELIVERY_LEVELS) == ["at-most-once", "replay", "at-least-once", "exactly-once"]
    assert kit.DELIVERY_LEVELS["at-most-once"] == {}
    assert kit.DELIVERY_LEVELS["exactly-once"] == {
        "resume": True,
        "retries": 5,
        "message_ids": True,
    }
    with pytest.raises(TypeError):
        kit.DELIVERY_LEVELS["mine"] = {}  # type: ignore[index]


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"retries": -1}, "retries must be a whole number, 0 or more"),
        ({"retries": 1.5}, "retries must be a whole number"),
        ({"ack_timeout": 0}, "ack_timeout must be over 0"),
        ({"ack_timeout": "1"}, "ack_timeout must be a number of seconds"),
    ],
)
def test_bad_delivery_options_are_refused_by_name(server, options, why) -> None:
    with pytest.raises(ValueError, match=why):
        SocketIOChatClient(server, user="ann", **options)


def test_exactly_once_through_a_tap_cutting_every_200_ms_loses_and_doubles_nothing(
    server,
) -> None:
    tap = kit.tap(server)
    clients = [
        SocketIOChatClient(
            tap.url,
            user=f"user{i}",
            reconnection=True,
            backoff=FAST,
            **kit.DELIVERY_LEVELS["exactly-once"],
        )
        for i in range(3)
    ]
    cuts = tap.schedule("cut", every=0.2, duration=30)
    for n in range(60):
        for client in clients:
            client.send(f"{client.user} {n}")
        time.sleep(0.005)
    for client in clients:
        client.wait_sent(60)
    cuts.stop()
    assert tap.faults.cuts >= 3, "the tap did not cut: this test proved nothing"
    expected = {f"user{i} {n}" for i in range(3) for n in range(60)}
    for client in clients:
        eventually(lambda c=client: set(texts(c)) == expected, 20, f"all of it at {client.user}")
        counts = collections.Counter(texts(client))
        assert max(counts.values()) == 1, "a message arrived twice"
        assert client.acked == 60 and client.failed == []
        # Each sender's messages arrive in the order it sent them.
        own = [t for t in texts(client) if t.startswith(client.user + " ")]
        assert own == [f"{client.user} {n}" for n in range(60)]
    for client in clients:
        client.close()


@pytest.mark.parametrize("level", ["at-least-once", "exactly-once"])
def test_a_retry_whose_first_try_arrived_is_kept_twice_without_ids_once_with(
    chat, server, level
) -> None:
    tap = kit.tap(server)
    watcher = SocketIOChatClient(server, user="watcher")  # not behind the tap
    ann = SocketIOChatClient(
        tap.url,
        user="ann",
        reconnection=True,
        backoff=FAST,
        ack_timeout=0.2,
        **kit.DELIVERY_LEVELS[level],
    )
    tap.latency(0.5)  # a round trip takes 1 s: the ack cannot come within 0.2 s
    ann.send("hello once")
    time.sleep(0.5)  # tries at 0, 0.2 and 0.4 s are on their way
    tap.latency(0)
    ann.wait_sent(10)
    assert ann.acked == 1 and ann.failed == []
    eventually(lambda: "hello once" in texts(watcher), what="the message at the watcher")
    time.sleep(1.2)  # every delayed try has reached the server by now
    kit.run(chat.sio.emit("new message", {"user": "server", "mess": "end"}))
    eventually(lambda: "end" in texts(watcher), what="the end marker")
    kept = texts(watcher).count("hello once")
    if level == "at-least-once":
        assert kept >= 2 and chat.store.count == kept
    else:
        assert kept == 1 and chat.store.count == 1
    watcher.close()
    ann.close()


def test_a_message_that_gets_no_ack_after_every_retry_is_reported_not_dropped(server) -> None:
    tap = kit.tap(server)
    ann = SocketIOChatClient(tap.url, user="ann", retries=2, ack_timeout=0.1)
    notes: list[str] = []
    ann.on_note(notes.append)
    tap.black_hole()  # bytes held: the client still thinks it is online
    ann.send("into the void")
    ann.wait_sent(5)
    assert [m.text for m in ann.failed] == ["into the void"]
    assert ann.acked == 0
    assert notes == ["not sent after 3 tries: 'into the void' (no ack within 0.1 s)"]
    tap.heal()
    ann.close()


def test_with_retries_messages_typed_while_offline_wait_and_go_in_order(server) -> None:
    tap = kit.tap(server)
    watcher = SocketIOChatClient(server, user="watcher")
    ann = SocketIOChatClient(
        tap.url, user="ann", reconnection=True, backoff=FAST, **kit.DELIVERY_LEVELS["exactly-once"]
    )
    tap.refuse(0.6)
    tap.cut()
    eventually(lambda: ann.state != "online", what="ann offline")
    for n in range(5):
        ann.send(f"while offline {n}")  # no ConnectionError: it waits
    assert ann.pending == 5
    ann.wait_sent(10)
    assert ann.acked == 5
    expected = [f"while offline {n}" for n in range(5)]
    eventually(lambda: texts(watcher) == expected, what="the five, in order")
    watcher.close()
    ann.close()


def test_without_retries_a_send_while_offline_is_refused_not_queued(server) -> None:
    tap = kit.tap(server)
    ann = SocketIOChatClient(tap.url, user="ann", reconnection=True, backoff=FAST)
    tap.refuse(0.5)
    tap.cut()
    eventually(lambda: ann.state != "online", what="ann offline")
    with pytest.raises(ConnectionError, match="ann is offline"):
        ann.send("lost")
    ann.close()


def test_resume_replays_what_was_missed_across_a_cut_and_drops_repeats(chat, server) -> None:
    tap = kit.tap(server)
    bob = SocketIOChatClient(server, user="bob")
    ann = SocketIOChatClient(
        tap.url, user="ann", room="room one", reconnection=True, backoff=FAST, resume=True
    )
    bob.join("room one")
    bob.send("before")
    eventually(lambda: texts(ann) == ["before"], what="the first message")
    assert ann.store == chat.store.id and ann.offset == 1
    tap.refuse(0.5)
    tap.cut()
    eventually(lambda: ann.state != "online", what="ann offline")
    bob.send("missed in the room")  # to room one
    bob.leave("room one")
    bob.send("missed by everyone")
    eventually(lambda: ann.state == "online", what="ann back")
    eventually(lambda: len(texts(ann)) == 3, what="the replay")
    assert sorted(texts(ann)[1:]) == ["missed by everyone", "missed in the room"]
    assert all(m.replay for m in ann.received[-2:])
    # The same offset again (a replay overlapping live traffic) is not shown twice.
    sid = ann.client.sid()
    again = {"user": "bob", "mess": "before", "room": "room one", "offset": 1}
    kit.run(chat.sio.emit("new message", again, to=sid))
    kit.run(chat.sio.emit("new message", {"user": "server", "mess": "end"}, to=sid))
    eventually(lambda: texts(ann)[-1] == "end", what="the end marker")
    assert texts(ann).count("before") == 1 and ann.duplicates_dropped == 1
    bob.close()
    ann.close()


def test_the_panel_takes_the_delivery_keywords(server) -> None:
    panel = kit.ChatPanel(server, user="ann", **kit.DELIVERY_LEVELS["exactly-once"])
    client = panel.client
    assert isinstance(client, SocketIOChatClient)
    assert (client.resume, client.retries, client.message_ids) == (True, 5, True)
    panel.send("from the panel")
    client.wait_sent(5)
    assert client.acked == 1
    eventually(lambda: [m.id for m in panel.messages if m.user] != [], what="the echo")
    (echo,) = [m for m in panel.messages if m.user]
    assert echo.offset == 1 and echo.id is not None and echo.id.startswith("ann-")
    panel.close()
    with pytest.raises(ValueError, match=r"are for socket\.io panels"):
        kit.ChatPanel("ws://127.0.0.1:9", user="ann", protocol="websocket", retries=3)
