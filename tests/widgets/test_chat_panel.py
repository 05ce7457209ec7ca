"""ChatPanel, headless: two panels chat through a real broadcast server."""

from __future__ import annotations

import time

import pytest

import kit
from kit.clients.chat import MAX_TEXT, ChatClient, ChatMessage

pytestmark = pytest.mark.usefixtures("no_leaks")


@pytest.fixture
def broadcast_server():
    clients = set()

    async def broadcast(websocket):
        clients.add(websocket)
        try:
            async for message in websocket:
                for client in list(clients):
                    await client.send(message)
        finally:
            clients.discard(websocket)

    return kit.serve(broadcast, name="chat")


def test_two_panels_round_trip(broadcast_server):
    alice = kit.ChatPanel(broadcast_server, user="alice")
    bob = kit.ChatPanel(broadcast_server, user="bob")
    alice.send("hi bob")
    assert bob.wait_message() == ChatMessage("alice", "hi bob")
    bob.send("hi alice <3")
    assert alice.wait_message() == ChatMessage("bob", "hi alice <3")
    assert alice.transcript == bob.transcript == "alice: hi bob\nbob: hi alice <3"
    # The log widget shows both lines, HTML-escaped, own messages marked.
    log = alice._log.value
    assert "hi alice &lt;3" in log and log.count("kit-chat-message") == 2
    assert "kit-chat-mine" in log.split("\n")[0] and "kit-chat-mine" not in log.split("\n")[1]
    assert "(online)" in alice._header.value


def _eventually(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the condition never became true"
        time.sleep(0.01)


def _press_enter(panel):
    """What the front end sends when Enter is pressed in the text box."""
    panel._input._handle_custom_msg({"event": "submit"}, [])


def test_only_enter_or_send_sends_never_leaving_the_box(broadcast_server):
    alice = kit.ChatPanel(broadcast_server, user="alice")
    bob = kit.ChatPanel(broadcast_server, user="bob")
    alice.client.socket.wait_open()
    alice._input.value = "half-typed"  # synced while typing, and again on blur
    kit.settle()
    assert bob.messages == [] and alice._input.value == "half-typed"
    _press_enter(alice)
    assert bob.wait_message().text == "half-typed"
    assert alice._input.value == ""
    alice._input.value = "clicked"
    alice._button.click()
    assert bob.wait_message().text == "clicked"
    alice._button.click()  # the box is empty again: nothing more is sent
    kit.settle()
    assert [m.text for m in bob.messages] == ["half-typed", "clicked"]


def test_the_log_follows_new_messages_and_buttons_keep_their_labels(broadcast_server):
    alice = kit.ChatPanel(broadcast_server, user="alice")
    alice.send("first")
    alice.client.wait_message  # noqa: B018 - (alice hears her own echo in messages)
    kit.settle()
    # column-reverse keeps the scroll position at the newest row, with no JavaScript
    assert "flex-direction:column-reverse" in alice._log.value
    assert alice._button.layout.width == "auto"


def test_a_panel_whose_server_goes_away_says_so_and_does_not_pretend_to_send(
    broadcast_server,
):
    alice = kit.ChatPanel(broadcast_server, user="alice")
    alice.client.socket.wait_open()
    broadcast_server.stop()
    alice.client.socket.wait_closed()
    assert "(offline)" in alice._header.value
    assert "1001" in alice._header.value  # the reason, in the state's title
    alice._input.value = "anyone there?"
    _press_enter(alice)
    assert alice._input.value == "anyone there?"  # kept, not lost
    assert alice.notes[-1].startswith("not sent: alice is offline: the connection closed")
    assert "kit-chat-note" in alice._log.value
    with pytest.raises(ConnectionError, match="alice is offline"):
        alice.send("from code")


def test_stop_all_leaves_panels_saying_offline(broadcast_server):
    alice = kit.ChatPanel(broadcast_server, user="alice")
    alice.client.socket.wait_open()
    assert "(online)" in alice._header.value
    kit.stop_all()
    assert "(offline)" in alice._header.value


def test_panels_have_stable_css_classes(broadcast_server):
    panel = kit.ChatPanel(broadcast_server, user="carol")
    widgets = (panel, *panel.children, *panel.children[2].children)
    classes = {css for widget in widgets for css in widget._dom_classes}
    expected = {"kit-chat-panel", "kit-chat-header", "kit-chat-log", "kit-chat-input"}
    assert expected | {"kit-chat-send"} <= classes
    assert repr(panel) == f"ChatPanel(user='carol', url='{broadcast_server.ws_url}')"


def test_bad_input_is_refused_clearly(broadcast_server):
    with pytest.raises(ValueError, match="non-empty name"):
        ChatClient(broadcast_server, user="  ")
    client = ChatClient(broadcast_server, user="dave")
    with pytest.raises(ValueError, match="needs some text"):
        client.send("   ")
    with pytest.raises(ValueError, match=f"at most {MAX_TEXT}"):
        client.send("x" * (MAX_TEXT + 1))
    with pytest.raises(TypeError, match="text, not bytes"):
        client.send(b"raw")


def test_frames_from_other_programs_are_shown_not_dropped():
    assert ChatMessage.from_wire("plain text") == ChatMessage("", "plain text")
    assert ChatMessage.from_wire('["json", "but not ours"]').text == '["json", "but not ours"]'
    assert ChatMessage.from_wire(b"\x00\x01") == ChatMessage("", "<2 bytes of binary data>")
    message = ChatMessage("émile", "ça va ?")
    assert ChatMessage.from_wire(message.to_wire()) == message
    assert str(ChatMessage("", "anonymous")) == "?: anonymous"


def test_closing_a_panel_says_goodbye(broadcast_server):
    alice = kit.ChatPanel(broadcast_server, user="alice")
    alice.client.socket.wait_open()
    alice.close()
    closed = alice.client.socket.wait_closed()
    assert (closed.code, closed.reason) == (1000, "alice left")


# -- socket.io panels: namespaces and rooms ----------------------------------------------


@pytest.fixture
def rooms_server():
    """The article's events on /post; rooms decided by the server."""
    import socketio

    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.on("join", namespace="/post")
    async def join(sid, data):
        await sio.enter_room(sid, data["room"], namespace="/post")

    @sio.on("leave", namespace="/post")
    async def leave(sid, data):
        await sio.leave_room(sid, data["room"], namespace="/post")

    @sio.on("recive message", namespace="/post")
    async def relay(sid, data):
        message = {"user": data["user"], "mess": data["message"], "room": data["room"]}
        await sio.emit("new message", message, to=data["room"], namespace="/post")

    return kit.serve(sio, name="rooms")


def test_socketio_panels_only_hear_their_room(rooms_server):
    alice = kit.ChatPanel(rooms_server, user="alice", namespace="/post", room="room one")
    bob = kit.ChatPanel(rooms_server, user="bob", namespace="/post", room="room one")
    carol = kit.ChatPanel(rooms_server, user="carol", namespace="/post", room="room two")
    alice.send("only room one")
    assert bob.wait_message() == ChatMessage("alice", "only room one", "room one")
    # A sentinel in room two: carol gets it, and nothing from room one before it.
    dave = kit.ChatPanel(rooms_server, user="dave", namespace="/post", room="room two")
    dave.send("room two here")
    assert carol.wait_message() == ChatMessage("dave", "room two here", "room two")
    assert [m.text for m in carol.messages] == ["room two here"]
    assert "@room one" in bob.transcript and "room two" not in bob.transcript
    assert "<i>@room one</i>" in bob._log.value
    assert "/post · room one" in alice._header.value
    assert repr(alice).endswith("namespace='/post', room='room one')")


def test_join_and_leave_buttons_ask_the_server(rooms_server):
    alice = kit.ChatPanel(rooms_server, user="alice", namespace="/post", room="lobby")
    bob = kit.ChatPanel(rooms_server, user="bob", namespace="/post")
    bob._room.value = "lobby"
    bob._join.click()
    assert bob.client.rooms == ["lobby"]
    alice.send("welcome, bob")
    assert bob.wait_message().text == "welcome, bob"
    bob._leave.click()
    assert bob.client.rooms == []
    assert {"kit-chat-room", "kit-chat-join", "kit-chat-leave"} <= {
        css for row in bob.children for w in getattr(row, "children", ()) for css in w._dom_classes
    }


def test_a_socketio_panel_shows_refusals_and_its_disconnection():
    chat = kit.chat_app()
    server = kit.serve(chat, name="chat-app")
    alice = kit.ChatPanel(server, user="alice")
    alice._room.value = "room nine"
    alice._join.click()  # refused with an error ack: shown as a note
    assert alice.notes == [
        "join 'room nine' failed: the server refused to join 'room nine': "
        "no room 'room nine' here (rooms: room one, room two)"
    ]
    kit.run(chat.sio.emit("error message", {"event": "x", "error": "because"}))
    _eventually(lambda: alice.notes[-1] == "refused 'x': because")
    kit.run(chat.sio.emit("missed messages", {"count": 3, "why": "slow"}))
    _eventually(lambda: alice.notes[-1] == "missed 3 message(s): this panel fell too far behind")
    server.stop()
    _eventually(lambda: "(offline)" in alice._header.value)
    alice._input.value = "hello?"
    _press_enter(alice)
    assert alice.notes[-1].startswith("not sent: alice is offline: disconnected")


def test_a_server_without_a_join_handler_cannot_put_anyone_in_a_room():
    import socketio

    server = kit.serve(socketio.AsyncServer(async_mode="aiohttp"), name="no-rooms")
    client = kit.clients.chat.SocketIOChatClient(server, user="eve")
    with pytest.raises(TimeoutError, match="rooms are decided by the server"):
        client.join("room one", timeout=0.3)
    assert client.rooms == []


def test_rooms_are_refused_on_a_plain_websocket_panel(broadcast_server):
    with pytest.raises(ValueError, match=r"socket\.io ideas"):
        kit.ChatPanel(broadcast_server, user="frank", room="room one")
    panel = kit.ChatPanel(broadcast_server, user="frank")
    with pytest.raises(TypeError, match=r"rooms are a socket\.io idea"):
        panel.join("room one")
