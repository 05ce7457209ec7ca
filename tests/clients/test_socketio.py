"""kit.SocketIOClient: python-socketio's client from plain, blocking code."""

from __future__ import annotations

import asyncio

import pytest
import socketio

import kit

pytestmark = pytest.mark.usefixtures("no_leaks")


@pytest.fixture
def server():
    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.event
    async def connect(sid, environ, auth=None):
        await sio.emit("new message", {"mess": "welcome"}, to=sid)

    @sio.on("shout")
    async def shout(sid, data):
        return data.upper()

    @sio.on("slow")
    async def slow(sid, data):
        await asyncio.sleep(2)
        return data

    @sio.on("relay")
    async def relay(sid, data):
        await sio.emit("relayed", data)

    @sio.on("connect", namespace="/post")
    async def post(sid, environ, auth=None):
        await sio.emit("new message", {"mess": "post"}, to=sid, namespace="/post")

    return kit.serve(sio, name="sio")


def test_connect_upgrade_receive_emit_and_call(server):
    client = kit.SocketIOClient(server)
    assert client.transport == "websocket"  # polled first, then upgraded
    assert client.wait_for("new message") == [{"mess": "welcome"}]
    assert client.call("shout", "hello") == "HELLO"
    client.emit("relay", {"n": 1})
    assert client.wait_for("relayed") == [{"n": 1}]
    client.disconnect()
    assert not client.connected
    assert "disconnected" in repr(client)


def test_events_are_kept_per_namespace_until_taken(server):
    client = kit.SocketIOClient(server, namespaces=["/", "/post"])
    assert client.wait_for("new message", namespace="/post") == [{"mess": "post"}]
    assert client.wait_for("new message") == [{"mess": "welcome"}]
    with pytest.raises(TimeoutError, match=r"no 'new message' on / within 0\.2 s"):
        client.wait_for("new message", timeout=0.2)  # each arrival is returned once


def test_polling_only(server):
    client = kit.SocketIOClient(server, transports=["polling"])
    assert client.transport == "polling"
    assert client.call("shout", "poll") == "POLL"


def test_a_refused_connection_raises_and_leaves_nothing_behind():
    async def nothing(websocket):
        return None

    gone = kit.serve(nothing, name="gone")
    gone.stop()
    with pytest.raises(socketio.exceptions.ConnectionError):
        kit.SocketIOClient(gone.url, timeout=1)


def test_a_slow_handshake_fails_with_the_librarys_error_not_the_kernels_timeout():
    # Seen in lesson 08 on a loaded machine: the handshake took over a second, then
    # python-socketio waited `timeout` for a CONNECT answer that never came, and the
    # kernel's own wait (timeout + 1) ran out first with a bare TimeoutError.
    from aiohttp import web

    async def slow_open(request: web.Request) -> web.Response:
        await asyncio.sleep(1.5)
        return web.Response(
            text='0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,'
            '"maxPayload":1000000}'
        )

    app = web.Application()
    app.router.add_get("/socket.io/", slow_open)
    slow = kit.serve(app, name="slow handshake")
    with pytest.raises(socketio.exceptions.ConnectionError):
        kit.SocketIOClient(slow, transports=["polling"], timeout=1)
    slow.stop()


def test_stop_all_disconnects_clients(server):
    client = kit.SocketIOClient(server)
    kit.stop_all()
    assert not client.connected


def test_the_client_leaves_the_sigint_handler_alone(server):
    import signal

    before = signal.getsignal(signal.SIGINT)
    client = kit.SocketIOClient(server)
    client.disconnect()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_listener_can_answer_with_emit_soon(no_leaks) -> None:
    """The instructor guide's auto-reply bot: a listener answers from the runtime thread."""
    chat = kit.chat_app()
    server = kit.serve(chat, name="bot")
    bot, ann = kit.SocketIOClient(server.url), kit.SocketIOClient(server.url)
    bot.call("add user", "bot")
    ann.call("add user", "ann")

    def answer(namespace, event, args):
        if event == "private message":
            bot.emit_soon("private message", {"to": args[0]["from"], "message": "away"})

    bot.add_listener(answer)
    ann.call("private message", {"to": "bot", "message": "are you there?"})
    reply = ann.wait_for("private message")[0]
    assert (reply["from"], reply["mess"]) == ("bot", "away")


def test_a_call_whose_message_is_too_big_says_the_connection_closed(server):
    client = kit.SocketIOClient(server)
    with pytest.raises(ConnectionError, match="closed before the server answered") as caught:
        client.call("shout", "x" * 2_000_000, timeout=10)  # over max_http_buffer_size
    assert "max_http_buffer_size" in str(caught.value)
    assert isinstance(caught.value, socketio.exceptions.ConnectionError)
    with pytest.raises(ConnectionError, match="is not connected"):
        client.call("shout", "again")


def test_a_call_without_an_answer_in_time_names_the_event(server):
    client = kit.SocketIOClient(server)
    with pytest.raises(TimeoutError, match=r"no acknowledgement within 0\.3 s") as caught:
        client.call("slow", 1, timeout=0.3)
    assert "'slow'" in str(caught.value) and client.connected
    assert isinstance(caught.value, socketio.exceptions.TimeoutError)  # as AsyncClient's
