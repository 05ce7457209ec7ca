"""kit.SocketIOServer (socket.io from scratch) against python-socketio's clients.

kit.SocketIOClient (python-socketio's AsyncClient on the kit's runtime thread) and a bare
AsyncClient on its own event loop, over polling, over WebSocket and across the upgrade:
namespaces (dynamic ones too), rooms, broadcasts with exclusions, acks both ways, binary
attachments, middleware refusals and disconnections from either side.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import socketio

import kit

pytestmark = pytest.mark.usefixtures("no_leaks")

TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": None}


class Journal:
    """What the server's handlers saw, from the runtime thread, for the test to wait on."""

    def __init__(self) -> None:
        self.entries: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()

    def add(self, *entry: Any) -> None:
        with self._cond:
            self.entries.append(entry)
            self._cond.notify_all()

    def wait_for(self, *prefix: Any, timeout: float = 5.0) -> tuple[Any, ...]:
        def find() -> tuple[Any, ...] | None:
            return next((e for e in self.entries if e[: len(prefix)] == prefix), None)

        with self._cond:
            found = self._cond.wait_for(find, timeout)
        assert found, f"no {prefix} in {self.entries}"
        return found


def chat_server(journal: Journal, **options: Any) -> kit.SocketIOServer:
    sio = kit.SocketIOServer(namespaces=["/", "/custom"], **options)

    @sio.event
    async def connect(sid, environ, auth):
        journal.add("connect", sid, environ["QUERY_STRING"], auth)
        await sio.emit("welcome", {"sid": sid}, to=sid)

    @sio.event
    async def disconnect(sid, reason):
        journal.add("disconnect", sid, reason)

    @sio.on("join")
    async def join(sid, room):
        await sio.enter_room(sid, room)
        return sio.rooms(sid)

    @sio.on("say")
    async def say(sid, room, text):
        await sio.emit("said", {"from": sid, "text": text}, to=room, skip_sid=sid)
        return "sent"

    @sio.on("echo", namespace="*")  # on every namespace
    def echo(sid, *args):  # a plain function: runs at once, its result is the ack
        return args

    @sio.on("bytes")
    async def reverse(sid, data):
        await sio.emit("bytes back", {"reversed": data[::-1], "size": len(data)}, to=sid)

    @sio.on("ask me")
    async def ask_me(sid, question):
        answer = await sio.call("question", question, to=sid, timeout=5)
        journal.add("answer", sid, answer)

    @sio.on("kick me")
    async def kick_me(sid):
        await sio.disconnect(sid)

    return sio


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_kit_socketio_client_over_each_transport(journal: Journal, transport: str) -> None:
    server = kit.serve(chat_server(journal), name="scratch-sio")
    assert server.kind == "scratch-socketio" and server.socketio
    client = kit.SocketIOClient(server, transports=TRANSPORTS[transport])
    assert client.wait_for("welcome") == [{"sid": client.sid()}]
    expected = "polling" if transport == "polling" else "websocket"
    if transport == "upgrade":  # it connects over polling, then upgrades
        assert "transport=polling" in journal.wait_for("connect", client.sid())[2]
        for _ in range(100):
            if client.transport == "websocket":
                break
            kit.run(asyncio.sleep(0.02))
    assert client.transport == expected
    assert client.call("echo", 1, "two", {"3": [True]}) == (1, "two", {"3": [True]})
    assert client.call("echo", "one") == "one"
    # Binary attachments both ways: BINARY_EVENT with placeholders.
    client.emit("bytes", b"\x00\x01\xff" * 1000)
    back = client.wait_for("bytes back")[0]
    assert back == {"reversed": (b"\x00\x01\xff" * 1000)[::-1], "size": 3000}
    assert client.call("echo", b"\x01\x02", "x") == (b"\x01\x02", "x")
    client.disconnect()
    assert journal.wait_for("disconnect", client.sid() or journal.entries[0][1])[2] in (
        "client namespace disconnect",
        "transport close",
    )


def test_rooms_and_broadcasts_with_exclusions(journal: Journal) -> None:
    server = kit.serve(chat_server(journal), name="scratch-sio")
    ann, bob, cid = (kit.SocketIOClient(server, transports=["websocket"]) for _ in range(3))
    assert ann.call("join", "room one") == [ann.sid(), "room one"]
    assert bob.call("join", "room one") == [bob.sid(), "room one"]
    assert ann.call("say", "room one", "hello room") == "sent"
    assert bob.wait_for("said") == [{"from": ann.sid(), "text": "hello room"}]
    assert cid.call("say", "room one", "from outside") == "sent"  # not a member: may send
    assert ann.wait_for("said") == [{"from": cid.sid(), "text": "from outside"}]
    assert bob.wait_for("said") == [{"from": cid.sid(), "text": "from outside"}]
    # Everyone, but not those in room one.
    kit.run(server.app.emit("notice", "not for room one", skip_sid="room one"))
    assert cid.wait_for("notice") == ["not for room one"]
    kit.run(server.app.emit("notice", "everyone"))
    for client in (ann, bob, cid):
        assert client.wait_for("notice") == ["everyone"]
    kit.settle()
    assert [e for _, e, _ in ann.received].count("said") == 1  # never its own message
    assert [e for _, e, _ in ann.received].count("notice") == 1
    assert sorted(server.app.sockets()) == sorted(c.sid() for c in (ann, bob, cid))


def test_a_broadcast_is_encoded_once_and_the_same_bytes_reach_every_recipient() -> None:
    sio = kit.SocketIOServer()

    @sio.event
    async def connect(sid, environ, auth):
        await sio.enter_room(sid, "audience")

    tap = kit.tap(kit.serve(sio, name="scratch-sio"))
    clients = [kit.SocketIOClient(tap.url, transports=["websocket"]) for _ in range(3)]
    before = sio.packets_encoded
    kit.run(sio.emit("tick", {"seq": 1}, to="audience"))
    for client in clients:
        assert client.wait_for("tick") == [{"seq": 1}]
    assert sio.packets_encoded - before == 1
    kit.run(sio.emit("tick", {"seq": 2}, to=clients[0].sid()))  # to one socket: one more
    assert clients[0].wait_for("tick") == [{"seq": 2}]
    assert sio.packets_encoded - before == 2
    frames = tap.select('42["tick",{"seq":1}]', layer="websocket", direction="server->client")
    assert len({frame.connection for frame in frames}) == 3
    assert len({frame.raw for frame in frames}) == 1  # byte for byte the same frame


def test_the_server_asks_and_the_client_answers(journal: Journal) -> None:
    server = kit.serve(chat_server(journal), name="scratch-sio")

    async def answer(question):
        return question.upper()

    client = kit.SocketIOClient(server)
    client._client.on("question", answer)  # python-socketio: a handler's return is the ack
    client.emit("ask me", "why?")
    assert journal.wait_for("answer", client.sid())[2] == "WHY?"


def test_disconnects_from_either_side(journal: Journal) -> None:
    server = kit.serve(chat_server(journal), name="scratch-sio")
    client = kit.SocketIOClient(server, transports=["websocket"])
    sid = client.sid()
    client.emit("kick me")
    assert journal.wait_for("disconnect", sid)[2] == "server namespace disconnect"
    assert client.wait_for("disconnect") is not None
    other = kit.SocketIOClient(server, transports=["websocket"])
    other_sid = other.sid()
    other.disconnect()
    assert journal.wait_for("disconnect", other_sid)[2] in (
        "client namespace disconnect",
        "transport close",
    )
    kit.settle()
    assert server.app.sockets() == []


def test_namespaces_static_dynamic_and_refused(journal: Journal) -> None:
    sio = kit.SocketIOServer(namespaces=["/", "/chat", re.compile(r"/room-\d+")])

    @sio.on("where", namespace="*")
    async def where(sid):
        return "somewhere"

    server = kit.serve(sio, name="scratch-sio")
    client = kit.SocketIOClient(server, namespaces=["/chat", "/room-42"])
    assert client.call("where", namespace="/room-42") == "somewhere"
    assert client.call("where", namespace="/chat") == "somewhere"
    assert client.sid("/chat") != client.sid("/room-42")
    with pytest.raises(socketio.exceptions.ConnectionError, match="/room-x"):
        kit.SocketIOClient(server, namespaces=["/room-x"], timeout=2)


async def connect_error_of(url: str, auth: dict[str, Any]) -> Any:
    """What a python-socketio client's connect_error handler receives for this auth."""
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", lambda data: errors.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, auth=auth, wait_timeout=3, transports=["websocket"])
    await client.disconnect()
    return errors[0]


def test_middleware_and_connect_handler_can_refuse(journal: Journal) -> None:
    sio = kit.SocketIOServer()

    def check_token(sid, environ, auth):
        if auth.get("token") != "secret":
            raise ConnectionRefusedError("bad token", {"hint": "ask the admin"})

    sio.use(check_token)

    @sio.event
    async def connect(sid, environ, auth):
        journal.add("connect", sid)
        return auth.get("name") != "mallory"  # False refuses

    server = kit.serve(sio, name="scratch-sio")
    refused = asyncio.run(connect_error_of(server.url, {"token": "nope"}))
    assert refused == {"message": "bad token", "data": {"hint": "ask the admin"}}
    rejected = asyncio.run(connect_error_of(server.url, {"token": "secret", "name": "mallory"}))
    assert rejected == {"message": "Connection rejected by server"}
    client = kit.SocketIOClient(server, auth={"token": "secret", "name": "ann"})
    assert journal.wait_for("connect", client.sid())
    assert len([e for e in journal.entries if e[0] == "connect"]) == 2  # the middleware stopped one


def test_reserved_names_cannot_be_emitted(journal: Journal) -> None:
    sio = chat_server(journal)
    kit.serve(sio, name="scratch-sio")
    for name in ("connect", "disconnect", "connect_error", "disconnecting", "newListener"):
        with pytest.raises(ValueError, match="reserved"):
            kit.run(sio.emit(name, "x"))


def test_a_bare_async_client_on_its_own_loop(journal: Journal) -> None:
    """python-socketio's AsyncClient in the test's own event loop, polling then upgrading."""
    server = kit.serve(chat_server(journal), name="scratch-sio")

    async def session() -> dict[str, Any]:
        client = socketio.AsyncClient(reconnection=False)
        seen: dict[str, Any] = {}
        welcomed = asyncio.Event()

        @client.on("welcome")
        async def welcome(data):
            seen["welcome"] = data
            welcomed.set()

        await client.connect(server.url, auth={"me": "bare"}, wait_timeout=5)
        await asyncio.wait_for(welcomed.wait(), 5)
        seen["ack"] = await client.call("echo", {"n": 1}, timeout=5)
        for _ in range(100):
            if client.transport() == "websocket":
                break
            await asyncio.sleep(0.02)
        seen["transport"] = client.transport()
        seen["sid"] = client.get_sid()
        await client.disconnect()
        return seen

    seen = asyncio.run(session())
    assert seen["welcome"] == {"sid": seen["sid"]}
    assert seen["ack"] == {"n": 1}
    assert seen["transport"] == "websocket"
    assert journal.wait_for("connect", seen["sid"])[3] == {"me": "bare"}


# -- the official JavaScript client, in Node.js ---------------------------------------------------

SCRATCH_CLIENTS = Path(__file__).resolve().parent.parent / "js" / "scratch_clients.mjs"


@pytest.mark.parametrize("mode", list(TRANSPORTS))
def test_the_official_node_client_over_each_transport(
    journal: Journal, socketio_client_js: Path, node: str, mode: str
) -> None:
    server = kit.serve(chat_server(journal), name="scratch-sio")
    done = subprocess.run(
        [node, str(SCRATCH_CLIENTS), server.url, mode],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=SCRATCH_CLIENTS.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["welcome"] is True
    assert result["transport"] == ("polling" if mode == "polling" else "websocket")
    assert result["echo"] == [1, "two", {"3": [True]}]
    assert result["customEcho"] == ["on custom"] and result["idsDiffer"] is True
    assert result["bytes"] == {"reversed": [255, 1, 0], "size": 3}
    ann_rooms, bob_rooms = result["rooms"]
    assert ann_rooms[0][1:] == ["room one"] and bob_rooms[0][1:] == ["room one"]
    assert result["say"] == ["sent"] and result["heard"]["text"] == "hello room"
    assert result["kicked"] == "io server disconnect"
    answer = journal.wait_for("answer")
    assert answer[2] == "WHY?"
    assert journal.wait_for("disconnect", answer[1])[2] == "server namespace disconnect"


# -- the official client in Chromium ---------------------------------------------------------------

PAGE = """<!doctype html><meta charset="utf-8"><title>scratch socket.io</title>
<script src="/socket.io.min.js"></script>
<script>
window.talk = async (url, mode) => {
  const transports = {
    polling: ["polling"], websocket: ["websocket"], upgrade: ["polling", "websocket"],
  }[mode];
  const socket = io(url, { transports, reconnection: false, forceNew: true });
  const once = (event) => new Promise((resolve) => socket.once(event, (...args) => resolve(args)));
  const failed = new Promise((_, reject) =>
    socket.once("connect_error", (error) => reject(new Error(`connect_error: ${error.message}`))));
  const [welcome] = await Promise.race([once("welcome"), failed]);
  if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
    await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
  }
  const echo = await new Promise((resolve) => socket.emit("echo", "hi", 2, (...a) => resolve(a)));
  socket.emit("bytes", new Uint8Array([9, 8, 7]));
  const [back] = await once("bytes back");
  const result = {
    sameId: welcome.sid === socket.id,
    transport: socket.io.engine.transport.name,
    echo,
    reversed: Array.from(new Uint8Array(back.reversed)),
  };
  socket.disconnect();
  return result;
};
</script>"""


def page_server(bundle: Path) -> kit.Server:
    """A real loopback HTTP server for the page and the client bundle.

    The page must come from a real address: Chromium's local network access checks
    block a WebSocket to 127.0.0.1 from a page whose address it does not know (a page
    Playwright fulfils itself), while polling would still work.
    """
    from aiohttp import web

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def client(_: web.Request) -> web.FileResponse:
        return web.FileResponse(bundle)

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/socket.io.min.js", client)
    return kit.serve(app, name="scratch-sio-page")


@pytest.mark.parametrize("mode", list(TRANSPORTS))
def test_the_official_client_in_chromium(
    journal: Journal, page, socketio_client_js: Path, mode: str
) -> None:
    pages = page_server(socketio_client_js)
    # The page's origin is another port: the server must allow it by name (CORS).
    sio = chat_server(journal, cors_allowed_origins=[pages.url])
    server = kit.serve(sio, name="scratch-sio")
    page.goto(f"{pages.url}/")
    result = page.evaluate("([url, mode]) => window.talk(url, mode)", [server.url, mode])
    assert result == {
        "sameId": True,
        "transport": "polling" if mode == "polling" else "websocket",
        "echo": ["hi", 2],
        "reversed": [7, 8, 9],
    }
    assert journal.wait_for("connect")[2].startswith("EIO=4")


def test_chromium_from_an_origin_not_allowed_is_refused(
    journal: Journal, page, socketio_client_js: Path
) -> None:
    pages = page_server(socketio_client_js)
    server = kit.serve(chat_server(journal), name="scratch-sio")  # its own origin only
    page.goto(f"{pages.url}/")
    with pytest.raises(Exception, match="connect_error"):
        page.evaluate("([url, mode]) => window.talk(url, mode)", [server.url, "polling"])
    assert any("not allowed" in line for line in server.app.engine.log)
    assert journal.entries == []
