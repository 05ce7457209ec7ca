"""kit.chat_app(): every event of the chat protocol, the page, a browser and Node.

Negative checks ("bob did NOT get it") never sleep: the server then sends a sentinel to
everyone, and since one connection delivers in order, what had not arrived before the
sentinel never will.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import socketio

import kit
from kit.apps import chat as chatapp
from kit.clients.chat import ChatMessage, SocketIOChatClient

pytestmark = pytest.mark.usefixtures("no_leaks")

INTEROP = Path(__file__).resolve().parents[1] / "js" / "interop.mjs"
JS_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")  # new Date().toJSON()
WELCOME = {"mess": "welcome to the chat", "rooms": ["room one", "room two"]}
_tokens = itertools.count()


@pytest.fixture
def chat() -> kit.ChatApp:
    return kit.chat_app()


@pytest.fixture
def server(chat: kit.ChatApp) -> kit.Server:
    return kit.serve(chat, name="chat")


def connect(
    server: kit.Server | str, name: str | None = None, welcome: dict[str, Any] = WELCOME
) -> kit.SocketIOClient:
    """A client over WebSocket that has had its welcome, logged in as ``name`` if given."""
    client = kit.SocketIOClient(server, transports=["websocket"])
    assert client.wait_for("new message") == [welcome]
    if name is not None:
        assert name in client.call("add user", name)["users"]
    return client


def events(client: kit.SocketIOClient, *names: str) -> list[tuple[str, Any]]:
    """(event, first argument) of everything ``client`` received with one of ``names``."""
    return [
        (event, args[0] if args else None) for _, event, args in client.received if event in names
    ]


def settle(chat: kit.ChatApp, *clients: kit.SocketIOClient) -> None:
    """Send everyone a sentinel and wait for it: whatever was sent before has arrived."""
    token = next(_tokens)
    kit.run(chat.sio.emit("sentinel", token))
    for client in clients:
        assert client.wait_for("sentinel") == [token]


def fetch(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET on loopback."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
            return response.status, response.headers.get_content_type(), body
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers.get_content_type(), error.read().decode()


# -- the demo's events: who is here -----------------------------------------------------------


def test_login_counts_users_and_tells_the_others(chat, server) -> None:
    ann = connect(server)
    assert ann.call("add user", "ann") == {"users": ["ann"], "numUsers": 1}
    assert ann.wait_for("login") == [{"users": ["ann"], "numUsers": 1}]
    bob = connect(server)
    assert bob.call("add user", " bob ") == {"users": ["ann", "bob"], "numUsers": 2}
    assert ann.wait_for("user joined") == [{"username": "bob", "numUsers": 2}]
    settle(chat, ann, bob)
    roster = {"users": ["ann", "bob"], "numUsers": 2}
    assert events(bob, "login", "user joined", "users") == [("login", roster), ("users", roster)]
    assert events(ann, "users")[-1] == ("users", roster)
    assert chat.users == ["ann", "bob"]


def test_user_left_on_disconnect_and_the_name_is_free_again(chat, server) -> None:
    ann, bob = connect(server, "ann"), connect(server, "bob")
    bob.disconnect()
    assert ann.wait_for("user left") == [{"username": "bob", "numUsers": 1}]
    settle(chat, ann)
    assert events(ann, "users")[-1] == ("users", {"users": ["ann"], "numUsers": 1})
    assert chat.users == ["ann"]
    again = connect(server, "bob")
    assert again.call("users") == {"users": ["ann", "bob"], "numUsers": 2}


def test_the_online_list_by_ack_or_by_event(server) -> None:
    ann, bob = connect(server, "ann"), connect(server, "bob")
    connect(server)  # connected, not logged in: not on the list
    assert ann.call("users") == {"users": ["ann", "bob"], "numUsers": 2}
    bob.emit("users")  # no ack asked: the answer comes as an event
    roster = {"users": ["ann", "bob"], "numUsers": 2}
    assert bob.wait_for("users") == [roster]  # the broadcast when bob logged in
    assert bob.wait_for("users") == [roster]  # the answer to the emit


def test_typing_goes_to_the_others_only(chat, server) -> None:
    ann, bob, cat = connect(server, "ann"), connect(server, "bob"), connect(server, "cat")
    assert ann.call("typing") == {"ok": True}
    ann.emit("stop typing")
    for other in (bob, cat):
        assert other.wait_for("typing") == [{"username": "ann"}]
        assert other.wait_for("stop typing") == [{"username": "ann"}]
    settle(chat, ann, bob, cat)
    assert events(ann, "typing", "stop typing") == []


# -- the article's events: everyone, anonymous or not ---------------------------------------


def test_recive_message_reaches_everyone_even_a_receive_only_page(chat, server) -> None:
    listener = connect(server)  # the article's message.html: never logs in, only listens
    ann = connect(server, "ann")
    anonymous = connect(server)
    sent = {"message": "hi all", "time": "2024-05-01T08:00:00.000Z"}  # JSON of new Date()
    assert anonymous.call("recive message", sent) == {"ok": True}
    expected = {"user": "anonymous", "mess": "hi all", "time": sent["time"], "room": None}
    for client in (listener, ann, anonymous):  # the sender too, as the article's io.emit
        assert client.wait_for("new message") == [expected]
    ann.emit("recive message", {"message": "no time"})
    stamped = listener.wait_for("new message")[0]
    assert stamped["user"] == "ann" and JS_TIME.match(stamped["time"])
    anonymous.emit("recive message", {"message": "named", "time": 7, "user": "zed"})
    assert listener.wait_for("new message")[0]["user"] == "zed"  # a name, unchecked
    assert chat.users == ["ann"]


def test_the_kits_socketio_chat_client_talks_to_it(chat, server) -> None:
    outside = connect(server, "ann")
    carol = SocketIOChatClient(server, user="carol", room="room one")  # joins with a call
    # The welcome, pushed on connect, is in the transcript: the listener hears from the
    # first packet on.
    assert carol.messages[0] == ChatMessage("", "welcome to the chat")
    assert carol.client.wait_for("new message") == [WELCOME]
    inside = connect(server)
    assert inside.call("join", "room one")["rooms"] == ["room one"]
    carol.send("hello room one")
    received = inside.wait_for("new message")[0]
    assert received == {
        "user": "carol",  # the name it claims: it never logged in
        "mess": "hello room one",
        "time": received["time"],
        "room": "room one",
    }
    assert JS_TIME.match(received["time"])
    settle(chat, outside, inside)
    assert events(outside, "new message") == [("new message", WELCOME)]
    carol.close()


# -- private messages and rooms ------------------------------------------------------------------


def test_a_private_message_reaches_only_its_target(chat, server) -> None:
    ann, bob, cat = connect(server, "ann"), connect(server, "bob"), connect(server, "cat")
    listener = connect(server)
    reply = ann.call("private message", {"to": "bob", "message": "psst", "time": 3})
    assert reply == {"ok": True, "to": "bob"}
    assert bob.wait_for("private message") == [
        {"from": "ann", "to": "bob", "mess": "psst", "time": 3}
    ]
    settle(chat, ann, bob, cat, listener)
    for other in (ann, cat, listener):
        assert events(other, "private message", "new message") == [("new message", WELCOME)]


def test_messages_to_a_room_reach_only_its_members(chat, server) -> None:
    ann, bob, cat = connect(server, "ann"), connect(server, "bob"), connect(server, "cat")
    assert ann.call("join", {"room": "room one"}) == {
        "ok": True,
        "room": "room one",
        "rooms": ["room one"],
    }
    assert bob.call("join", "room one")["rooms"] == ["room one"]  # a plain name works too
    assert bob.call("join", "room two")["rooms"] == ["room one", "room two"]
    assert ann.call("join", "room one")["rooms"] == ["room one"]  # joining twice is fine
    ann.call("recive message", {"message": "for room one", "time": 1, "room": "room one"})
    expected = {"user": "ann", "mess": "for room one", "time": 1, "room": "room one"}
    assert ann.wait_for("new message") == [expected]
    assert bob.wait_for("new message") == [expected]
    assert bob.call("leave", "room one") == {"ok": True, "room": "room one", "rooms": ["room two"]}
    ann.call("recive message", {"message": "again", "time": 2, "room": "room one"})
    assert ann.wait_for("new message")[0]["mess"] == "again"
    settle(chat, ann, bob, cat)
    assert [m["mess"] for _, m in events(bob, "new message")][1:] == ["for room one"]
    assert [m["mess"] for _, m in events(cat, "new message")][1:] == []


def test_without_a_room_list_any_name_but_a_clients_sid() -> None:
    chat = kit.chat_app(rooms=None)
    free = kit.serve(chat, name="free rooms")
    welcome = {**WELCOME, "rooms": None}
    ann, bob = connect(free, "ann", welcome), connect(free, "bob", welcome)
    assert ann.call("join", "anything")["rooms"] == ["anything"]
    # python-socketio puts each client alone in a room named after its sid: joining it
    # would read that client's private messages.
    refused = {"error": f"{ann.sid()!r} is a client's own room (its sid)"}
    assert bob.call("join", ann.sid()) == refused


def test_one_client_may_be_in_a_bounded_number_of_rooms() -> None:
    chat = kit.chat_app(rooms=None)
    free = kit.serve(chat, name="free rooms")
    ann = connect(free, "ann", {**WELCOME, "rooms": None})
    for number in range(chatapp.MAX_ROOMS_PER_CLIENT):
        ann.call("join", f"r{number}")
    refused = ann.call("join", "one more")
    assert refused == {
        "error": "already in 50 rooms, the most one client may be in; leave one first"
    }
    assert ann.call("join", "r0")["ok"]  # joining a room it is in is still fine
    ann.call("leave", "r0")
    assert ann.call("join", "one more")["ok"]


def test_max_text_is_the_longest_message() -> None:
    chat = kit.chat_app(max_text=5)
    short = kit.serve(chat, name="short")
    ann = connect(short, "ann")
    assert ann.call("recive message", {"message": "hello"}) == {"ok": True}
    assert ann.call("recive message", {"message": "hello!"}) == {
        "error": "'message' has 6 characters; the limit is 5"
    }
    with pytest.raises(ValueError, match="at least 1"):
        kit.chat_app(max_text=0)


# -- bad input: an error for the sender, never a crash, never silence ---------------------------

LONG = "x" * (chatapp.MAX_TEXT + 1)
BAD_INPUT = [
    # (event, arguments, log in as bob first?, what the error says)
    ("recive message", (), False, "takes one argument"),
    ("recive message", ("hi",), False, "takes an object like"),
    ("recive message", ({},), False, "the field 'message' is missing"),
    ("recive message", ({"message": 5},), False, "'message' must be text, not int"),
    ("recive message", ({"message": "  "},), False, "'message' is empty"),
    ("recive message", ({"message": LONG},), False, "has 501 characters; the limit is 500"),
    ("recive message", ({"message": "hi", "time": True},), False, "'time' must be text or"),
    ("recive message", ({"message": "hi", "room": "room three"},), False, "no room 'room three'"),
    ("recive message", ({"message": "hi", "room": "room one"},), False, "join 'room one' before"),
    ("recive message", ({"message": "hi", "user": "ann"},), False, "'ann' is logged in on"),
    ("recive message", ({"message": "hi", "user": 5},), False, "'user' must be text"),
    ("recive message", ({"message": "hi", "user": "x" * 33},), False, "1 to 32 characters"),
    ("add user", (5,), False, "a name is text, not int"),
    ("add user", ("",), False, "a name has 1 to 32 characters, not 0"),
    ("add user", ("x" * 33,), False, "a name has 1 to 32 characters, not 33"),
    ("add user", ("ann",), False, "the name 'ann' is taken"),
    ("add user", ("anonymous",), False, "the name 'anonymous' is taken"),
    ("add user", ("bobby",), True, "already logged in as 'bob'"),
    ("add user", ("a", "b"), False, "takes one argument"),
    ("typing", (), False, "log in first"),
    ("typing", ("now",), True, "'typing' takes no arguments"),
    ("stop typing", (), False, "log in first"),
    ("users", ("all",), False, "'users' takes no arguments"),
    ("private message", ({"to": "ann", "message": "hi"},), False, "log in first"),
    ("private message", ({"to": "zed", "message": "hi"},), True, "no user 'zed' is online"),
    ("private message", ({"message": "hi"},), True, "'to' must name a user"),
    ("private message", ({"to": 1, "message": "hi"},), True, "'to' must be text"),
    ("private message", ({"to": "ann", "message": LONG},), True, "the limit is 500"),
    ("private message", ("ann",), True, "takes an object like"),
    ("join", ("room three",), False, "no room 'room three' here (rooms: room one, room two)"),
    ("join", ({"room": 5},), False, "a room is named by text, not int"),
    ("join", ({},), False, "the field 'room' is missing"),
    ("join", ("",), False, "a room name has 1 to 64 characters, not 0"),
    ("join", ("room one", "room two"), False, "takes one argument"),
    ("leave", ("room one",), False, "not in room 'room one' (rooms: none)"),
    ("new message", ({"message": "hi"},), False, "unknown event 'new message'"),
]


@pytest.mark.parametrize(
    ("event", "args", "logged_in", "error"),
    BAD_INPUT,
    ids=[f"{event}: {error}" for event, _, _, error in BAD_INPUT],
)
def test_bad_input_gets_an_error_ack_or_event(
    chat, server, event: str, args: tuple[Any, ...], logged_in: bool, error: str
) -> None:
    ann = connect(server, "ann")
    sender = connect(server, "bob" if logged_in else None)
    reply = sender.call(event, *args)
    assert set(reply) == {"error"} and error in reply["error"]
    sender.emit(event, *args)  # no ack asked: the refusal comes as an event
    assert sender.wait_for("error message") == [{"event": event, "error": reply["error"]}]
    # Nothing reached anyone else, and the server still works.
    settle(chat, ann, sender)
    assert events(ann, "new message", "private message", "typing", "stop typing") == [
        ("new message", WELCOME)
    ]
    assert sender.call("users")["users"] == (["ann", "bob"] if logged_in else ["ann"])
    assert sender.call("recive message", {"message": "still here"}) == {"ok": True}


@pytest.mark.parametrize("event", ["disconnect", "connect"])
def test_a_client_sent_reserved_event_is_refused_not_obeyed(chat, server, event) -> None:
    """python-socketio runs handlers for client events named connect/disconnect
    (test_a_python_client_may_emit_reserved_names_and_the_server_obeys); the chat
    server must not announce a user as gone, or greet them again, for it."""
    ann, bob = connect(server, "ann"), connect(server, "bob")
    answer = bob.call(event, {"fake": True})
    assert answer == {
        "error": f"{event!r} is reserved: only the socket.io library may fire it "
        "(use disconnect() to leave); this server ignored it"
    }
    bob.emit(event, "no ack asked")
    assert bob.wait_for("error message")[0]["event"] == event
    settle(chat, ann, bob)
    assert events(ann, "user left") == []
    assert chat.users == ["ann", "bob"] and bob.connected
    assert events(bob, "new message") == [("new message", WELCOME)]
    bob.disconnect()  # the real one still works
    assert ann.wait_for("user left") == [{"username": "bob", "numUsers": 1}]


def test_a_binary_event_is_answered_by_ack_when_it_asks_for_one(server) -> None:
    ann = connect(server, "ann")
    answer = ann.call("recive message", {"message": "hi", "time": b"\x00"})
    assert answer == {"error": "'time' must be text or a number, not bytes"}
    ann.emit("recive message", {"message": "hi", "time": b"\x00"})
    assert ann.wait_for("error message") == [
        {"event": "recive message", "error": "'time' must be text or a number, not bytes"}
    ]


def test_a_bug_in_a_handler_is_reported_not_swallowed(chat, server, monkeypatch, caplog) -> None:
    async def broken(sid: str, room: str, namespace: str | None = None) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(chat.sio, "enter_room", broken)
    ann = connect(server, "ann")
    assert ann.call("join", "room one") == {"error": "server error: RuntimeError('boom')"}
    assert "the chat server failed on 'join'" in caplog.text
    assert ann.call("users") == {"users": ["ann"], "numUsers": 1}


# -- HTTP: the article's handler -------------------------------------------------------------------


def test_get_slash_serves_the_page_with_the_local_client(socketio_client_js: Path) -> None:
    chat = kit.chat_app(client_js=socketio_client_js)
    server = kit.serve(chat, name="page")
    status, kind, html = fetch(f"{server.url}/")
    assert (status, kind) == (200, "text/html")
    assert '<script src="socket.io.min.js"></script>' in html
    assert "socket.io client: local copy (<code>socket.io.min.js</code>)" in html
    assert "__SOCKETIO" not in html and "cdn.socket.io" not in html
    status, kind, bundle = fetch(f"{server.url}/socket.io.min.js")
    assert (status, kind) == (200, "text/javascript")
    assert bundle == socketio_client_js.read_text()
    assert "Socket.IO v4.8.1" in bundle[:200]


def test_the_page_names_the_cdn_when_there_is_no_local_copy(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(chatapp.CLIENT_JS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # no node_modules here
    chat = kit.chat_app()
    assert chat.client_js is None and chat.client_src == chatapp.CDN_CLIENT_JS
    server = kit.serve(chat, name="page")
    status, _, html = fetch(f"{server.url}/")  # the CDN itself is never fetched
    assert status == 200
    assert '<script src="https://cdn.socket.io/4.8.1/socket.io.min.js"></script>' in html
    assert "socket.io client: from the CDN" in html
    status, _, body = fetch(f"{server.url}/socket.io.min.js")
    assert status == 404 and "the page loads https://cdn.socket.io/" in body


def test_where_the_client_comes_from(monkeypatch, tmp_path) -> None:
    bundle = tmp_path / "socket.io.min.js"
    bundle.write_text("/* a client */")
    monkeypatch.setenv(chatapp.CLIENT_JS_ENV, str(bundle))
    assert kit.chat_app().client_js == bundle
    assert kit.chat_app(client_js="https://example.test/io.js").client_js is None
    with pytest.raises(FileNotFoundError, match=r"no socket\.io client at"):
        kit.chat_app(client_js=tmp_path / "missing.js")
    monkeypatch.setenv(chatapp.CLIENT_JS_ENV, str(tmp_path / "missing.js"))
    with pytest.raises(FileNotFoundError, match=r"missing\.js"):
        kit.chat_app()
    # Where `npm install socket.io-client` puts it, in the working directory:
    monkeypatch.delenv(chatapp.CLIENT_JS_ENV)
    installed = tmp_path / chatapp.NPM_CLIENT_JS
    installed.parent.mkdir(parents=True)
    installed.write_text("/* npm's copy */")
    monkeypatch.chdir(tmp_path)
    assert kit.chat_app().client_js == installed


def test_a_missing_page_is_a_500_and_socketio_still_works(tmp_path, caplog) -> None:
    chat = kit.chat_app(page=tmp_path / "index.html")
    server = kit.serve(chat, name="page")
    assert fetch(f"{server.url}/") == (500, "text/plain", "Error loading index.html")
    assert "cannot read the chat page" in caplog.text
    (tmp_path / "index.html").write_text("<p>__SOCKETIO_CLIENT_ORIGIN__</p>")
    assert fetch(f"{server.url}/")[2] == f"<p>{chat.client_origin}</p>"  # read per request
    assert connect(server, "ann").call("users")["numUsers"] == 1


def test_serve_the_app_or_the_chat_again_after_a_stop(chat) -> None:
    first = kit.serve(chat.app, name="chat")
    ann = connect(first, "ann")
    first.stop()
    assert ann.wait_for("disconnect")
    assert chat.users == []  # the stop disconnected everyone, and they were let go
    second = kit.serve(chat, name="chat")
    assert second.app is chat and second.kind == "aiohttp"
    assert connect(second, "ann").call("users")["users"] == ["ann"]
    assert repr(chat) == f"<ChatApp 1 users, client {chat.client_origin}, page {chat.page}>"


# -- a browser: two pages chat, a python client listens, the tap watches -------------------------


def test_two_browsers_chat_while_python_listens_through_the_tap(
    no_leaks, page, browser, socketio_client_js: Path
) -> None:
    from playwright.sync_api import expect

    chat = kit.chat_app(client_js=socketio_client_js)
    server = kit.serve(chat, name="chat")
    tap = kit.tap(server)
    listener = connect(server)  # straight to the server: the tap records the browsers only
    second = browser.new_context()
    try:
        ann, bob = page, second.new_page()
        for tab, name in ((ann, "ann"), (bob, "bob")):
            # From the server itself (through the tap): Chromium blocks WebSockets to
            # loopback from a page whose origin it does not know.
            tab.goto(f"{tap.url}/")
            expect(tab.locator("#client-source")).to_contain_text("local copy")
            expect(tab.locator("#status")).to_have_text("connected over websocket")
            tab.fill("#nickname", name)
            tab.click("#login-button")
            expect(tab.locator("#me")).to_have_text(name)
        expect(ann.locator("#online li.user")).to_have_text(["ann", "bob"])
        expect(ann.locator("#num-users")).to_have_text("2")

        bob.fill("#message", "hello from bob")  # an input event: "typing"
        expect(ann.locator("#typing")).to_have_text("bob is typing…")
        bob.click("#send")  # "stop typing", then the message
        expect(ann.locator("#typing")).to_have_text("")
        expect(ann.locator("li.message")).to_have_text(["bob: hello from bob"])

        ann.fill("#room", "room one")
        ann.click("#join")
        expect(ann.locator("#my-rooms li")).to_have_text(["room one"])
        ann.select_option("#target", "room:room one")
        ann.fill("#message", "only room one")
        ann.click("#send")
        expect(ann.locator("li.message[data-room='room one']")).to_have_text(
            ["ann: only room one @room one"]
        )
        ann.click("#online li[data-name='bob']")  # pick bob for a private message
        ann.fill("#message", "psst")
        ann.click("#send")
        expect(bob.locator("li.private")).to_have_text(["ann (private): psst"])
        expect(ann.locator("li.private")).to_have_text(["ann to bob (private): psst"])
        bob.fill("#room", "room three")
        bob.click("#join")
        expect(bob.locator("li.error")).to_have_text(
            ["join: no room 'room three' here (rooms: room one, room two)"]
        )
        ann.select_option("#target", "all")
        ann.fill("#message", "bye all")
        ann.click("#send")
        # "bye all" came after the room and private messages on every connection.
        expect(bob.locator("li.message")).to_have_text(["bob: hello from bob", "ann: bye all"])
        # The python listener got the same, and not the room's nor the private message.
        assert listener.wait_for("new message")[0]["mess"] == "hello from bob"
        bye = listener.wait_for("new message")[0]
        assert bye == {"user": "ann", "mess": "bye all", "time": bye["time"], "room": None}
        assert JS_TIME.match(bye["time"])  # the page's new Date(), as JSON
        assert events(listener, "private message") == []
        assert [e for e, _ in events(listener, "user joined")] == ["user joined"] * 2
    finally:
        second.close()

    tap.wait_for("UPGRADE", layer="engine.io", count=2)
    c2s = "client->server"
    requests = [e.summary for e in tap.select("/socket.io/", layer="http", direction=c2s)]
    assert requests and all("EIO=4" in line for line in requests)
    assert any("transport=polling" in line for line in requests)
    assert sum("transport=websocket" in line for line in requests) == 2
    upgraded = {}
    for event in tap.select(layer="engine.io"):
        if event.transport == "websocket":
            upgraded.setdefault(event.connection, []).append((event.direction.arrow, event.summary))
    assert len(upgraded) == 2
    for packets in upgraded.values():
        assert packets[:3] == [("->", "PING 'probe'"), ("<-", "PONG 'probe'"), ("->", "UPGRADE")]
    sent = [e.summary for e in tap.select("add user", layer="socket.io", direction=c2s)]
    assert len(sent) == 2 and all(s.startswith("EVENT / #") for s in sent)  # with acks


def test_the_page_reconnects_after_a_cut_and_logs_in_and_joins_again(
    no_leaks, page, socketio_client_js: Path
) -> None:
    from playwright.sync_api import expect

    server = kit.serve(kit.chat_app(client_js=socketio_client_js), name="chat")
    tap = kit.tap(server)
    bob = connect(server, "bob")  # straight to the server: the cut is the page's alone
    bob.call("join", {"room": "room one"})
    page.goto(f"{tap.url}/")
    expect(page.locator("#status")).to_have_text("connected over websocket")
    page.fill("#nickname", "ann")
    page.click("#login-button")
    page.fill("#room", "room one")
    page.click("#join")
    expect(page.locator("#my-rooms li")).to_have_text(["room one"])
    first = tap.bytes.connections

    # The first attempt comes 0.5-1.5 s after the page saw the cut (1 s, times 1 +- 0.5):
    # refusing for 3 s makes sure it fails even when a loaded machine is slow to notice
    # (with 1.5 s, one .ci/run's page reconnected at its first attempt, never refused).
    tap.refuse(duration=3)
    tap.cut()
    expect(page.locator("#status")).to_have_text(re.compile(r"reconnecting \d"), timeout=5000)
    expect(page.locator("#status")).to_have_text("connected over websocket", timeout=15000)
    expect(page.locator("li.system").last).to_have_text(
        "reconnected: logged in as ann again and asked for room one again"
    )
    assert tap.bytes.connections > first
    assert tap.faults.refused >= 1
    # The server knows ann again (bob heard her log in twice) and put her in room one:
    # bob's message to the room reaches her.
    assert [e for e, _ in events(bob, "user joined")] == ["user joined"] * 2
    bob.emit("recive message", {"message": "welcome back", "room": "room one"})
    expect(page.locator("li.message[data-room='room one']")).to_have_text(
        ["bob: welcome back @room one"]
    )
    rejoined = tap.select('"join"', layer="socket.io", direction="client->server")
    assert len(rejoined) == 2  # the click, then the page's own after the reconnect
    bob.disconnect()


# -- Node: the official client on the article's /post and /get ----------------------------------


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Node.js must be installed in CI (Debian: apt-get install nodejs)")
        pytest.skip("Node.js is not installed (Debian: apt-get install nodejs)")
    return node


def article_namespaces(seen: list[tuple[str, str, str]], lock: threading.Lock):
    """The article's server: greet on /post and /get; what /post hears goes to /get."""
    sio = socketio.AsyncServer(async_mode="aiohttp")
    greetings = {"/post": "this is the post namespace", "/get": "this is the get namespace"}
    for namespace, greeting in greetings.items():

        async def connect(sid, environ, auth=None, namespace=namespace, greeting=greeting):
            with lock:
                seen.append((namespace, sid, sio.manager.eio_sid_from_sid(sid, namespace)))
            await sio.emit("new message", {"mess": greeting}, to=sid, namespace=namespace)

        async def recive_message(sid, data, namespace=namespace):
            relayed = {"mess": data["message"], "time": data["time"], "from": namespace}
            await sio.emit("new message", relayed, namespace="/get")
            return {"ok": True, "namespace": namespace}

        sio.on("connect", connect, namespace=namespace)
        sio.on("recive message", recive_message, namespace=namespace)
    return sio


def test_the_official_node_client_on_post_and_get(socketio_client_js: Path) -> None:
    node = _node()
    seen: list[tuple[str, str, str]] = []
    sio = article_namespaces(seen, threading.Lock())
    server = kit.serve(sio, name="article")
    python_get = kit.SocketIOClient(server, namespaces=["/get"], transports=["websocket"])
    done = subprocess.run(
        [node, str(INTEROP), server.url, "8000"],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=INTEROP.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["welcome"] == {
        "post": {"mess": "this is the post namespace"},
        "get": {"mess": "this is the get namespace"},
    }
    assert result["acks"] == {
        "post": {"ok": True, "namespace": "/post"},
        "get": {"ok": True, "namespace": "/get"},
    }
    broadcasts = [
        {"mess": "from /post", "time": 1, "from": "/post"},
        {"mess": "from /get", "time": 2, "from": "/get"},
    ]
    assert result["broadcasts"] == broadcasts
    assert result["postReceived"] == 1  # /post heard its greeting only
    assert result["transport"] == "websocket" and result["oneConnection"] is True
    # Both namespaces ride on one engine.io session (one eio sid), each with its own sid.
    node_sessions = [entry for entry in seen if entry[1] in result["ids"].values()]
    assert {ns: sid for ns, sid, _ in node_sessions} == {
        "/post": result["ids"]["post"],
        "/get": result["ids"]["get"],
    }
    assert len({eio for _, _, eio in node_sessions}) == 1
    # A python client on /get heard the same broadcasts.
    assert python_get.wait_for("new message", namespace="/get") == [
        {"mess": "this is the get namespace"}
    ]
    assert python_get.wait_for("new message", namespace="/get") == [broadcasts[0]]
    assert python_get.wait_for("new message", namespace="/get") == [broadcasts[1]]


def test_a_chat_client_made_with_a_room_connects_without_a_handler_error(server):
    # The client's connect handler once read self.client before SocketIOClient() had
    # returned: the AttributeError ended python-socketio's task for that packet (logged
    # as "Task exception was never retrieved") and connect() waited out its whole
    # wait_timeout (5 s) for a CONNECT it had already received.
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(level=logging.ERROR)
    logger = logging.getLogger("kit")  # the runtime's and the libraries' loggers below it
    logger.addHandler(keep)
    try:
        client = SocketIOChatClient(server, user="ann", room="room one")
        client.close()
    finally:
        logger.removeHandler(keep)
    assert [r.getMessage() for r in records] == []
