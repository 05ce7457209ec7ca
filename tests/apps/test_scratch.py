"""The from-scratch server against real clients: websockets, kit.WebSocket, raw bytes, Chromium."""

from __future__ import annotations

import socket

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.sync.client import connect

import kit
from kit.wire import Close, Frame, MessageReader, Opcode, UpgradeRequest, UpgradeResponse

pytestmark = pytest.mark.usefixtures("no_leaks")


def serve(mode: str = "echo", **options) -> kit.Server:
    return kit.serve(kit.ScratchServer(mode, **options), name="scratch")


# -- a real client: the websockets library ----------------------------------------------


def test_echo_text_binary_and_fragments():
    server = serve()
    with connect(server.ws_url) as ws:
        ws.send("hello")
        assert ws.recv() == "hello"
        ws.send(b"\x00\xff")
        assert ws.recv() == b"\x00\xff"
        ws.send(["Hel", "lo"])  # one message in two frames
        assert ws.recv() == "Hello"
        ws.send(b"x" * 70_000)  # a 64-bit length header each way
        assert ws.recv() == b"x" * 70_000


def test_ping_is_answered_with_the_same_payload():
    with connect(serve().ws_url) as ws:
        assert ws.ping(b"are you there?").wait(timeout=5)


def test_the_client_close_code_is_echoed_and_the_close_is_clean():
    server = serve()
    with connect(server.ws_url) as ws:
        ws.send("hi")
        ws.recv()
        ws.close(4001, "done here")
        assert ws.protocol.close_rcvd == ws.protocol.close_sent
        assert ws.protocol.close_rcvd.code == 4001
    assert server.app.connections == set()
    assert server.app.log[-1].endswith("closed: 4001 (private use) done here")


def test_broadcast_reaches_every_client():
    server = serve("broadcast")
    with connect(server.ws_url) as alice, connect(server.ws_url) as bob:
        alice.send("to everyone")
        assert alice.recv(timeout=5) == "to everyone"
        assert bob.recv(timeout=5) == "to everyone"


def test_an_oversized_message_is_closed_with_1009():
    with connect(serve(max_size=1024).ws_url) as ws:
        ws.send("x" * 1025)
        with pytest.raises(ConnectionClosedError) as caught:
            ws.recv(timeout=5)
    assert caught.value.rcvd.code == 1009


def test_a_subprotocol_is_chosen_from_the_client_list():
    server = serve(subprotocols=["chat.v1", "chat.v2"])
    with connect(server.ws_url, subprotocols=["chat.v2", "chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v2"  # the client's preference order decides


def test_a_custom_handler_can_close_with_its_own_code():
    async def handler(connection, message):
        if message == "bye":
            await connection.close(4002, "see you")
        else:
            await connection.send(message.upper())

    with connect(serve(handler=handler).ws_url) as ws:
        ws.send("shout")
        assert ws.recv() == "SHOUT"
        ws.send("bye")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert (ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason) == (4002, "see you")


def test_kit_websocket_talks_to_it():
    ws = kit.WebSocket(serve().ws_url)
    ws.wait_open()
    ws.send("mirror")
    assert ws.wait_message().data == "mirror"
    ws.close(1000, "thanks")
    closed = ws.wait_closed()
    assert (closed.code, closed.reason, closed.wasClean) == (1000, "thanks", True)


def test_stopping_closes_clients_with_1001():
    server = serve()
    ws = kit.WebSocket(server.ws_url)
    ws.wait_open()
    server.stop()
    assert ws.wait_closed().code == 1001


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="'echo' or 'broadcast'"):
        kit.ScratchServer("shout")

    def not_async(connection, message):
        return None

    with pytest.raises(TypeError, match="async def handler"):
        kit.ScratchServer(handler=not_async)


# -- raw bytes: broken rules get the right answer ---------------------------------------


class RawClient:
    """A TCP socket that speaks only what the test writes."""

    def __init__(self, server: kit.Server) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        self.server = server

    def handshake(self) -> None:
        request = UpgradeRequest(host=f"127.0.0.1:{self.server.port}")
        self.sock.sendall(request.serialize())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(4096)
        UpgradeResponse.parse(head).check(request.key)

    def refusal(self, request: bytes) -> bytes:
        self.sock.sendall(request)
        return self.read_all()

    def read_all(self) -> bytes:
        data = b""
        while chunk := self.sock.recv(65536):
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw():
    clients = []

    def make(server: kit.Server) -> RawClient:
        clients.append(RawClient(server))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def server_frames(data: bytes) -> list[Frame]:
    reader = MessageReader(mask_required=False)
    reader.feed(data)
    return [e for e in reader if isinstance(e, Frame)]


MASK = b"\x37\xfa\x21\x3d"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (Frame(Opcode.TEXT, b"unmasked").serialize(), 1002),
        (Frame(Opcode.TEXT, b"\xff\xfe").serialize(mask=MASK, validate=False), 1007),
        (Frame(Opcode.PING, b"x" * 126).serialize(mask=MASK, validate=False), 1002),
        (Frame(Opcode.CONT, b"orphan").serialize(mask=MASK), 1002),
        (bytes([0x83, 0x80]) + MASK, 1002),  # opcode 3 is reserved
    ],
    ids=["unmasked", "invalid-utf8", "long-ping", "orphan-continuation", "reserved-opcode"],
)
def test_protocol_errors_are_answered_with_the_right_close_code(raw, frame, code):
    client = raw(serve())
    client.handshake()
    client.sock.sendall(frame)
    frames = server_frames(client.read_all())  # the server hangs up after its CLOSE
    assert [f.opcode for f in frames] == [Opcode.CLOSE]
    assert Close.parse(frames[0].payload).code == code


@pytest.mark.parametrize(
    ("request_bytes", "status", "needle"),
    [
        (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"400", b"GET"),
        (
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
            b"426",
            b"Sec-WebSocket-Version: 13",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
            b"400",
            b"Sec-WebSocket-Key",
        ),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"400", b"Upgrade"),
        (b"NOT HTTP AT ALL\r\n\r\n", b"400", b""),
    ],
    ids=["post", "version-8", "short-key", "plain-get", "garbage"],
)
def test_broken_handshakes_are_refused_with_the_status_of_the_rule(
    raw, request_bytes, status, needle
):
    answer = raw(serve()).refusal(request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status)
    assert needle in answer


def test_an_origin_outside_the_allow_list_gets_403(raw):
    server = serve(origins=["http://127.0.0.1:8888"])
    request = UpgradeRequest(host="127.0.0.1", origin="http://evil.example")
    answer = raw(server).refusal(request.serialize())
    assert answer.startswith(b"HTTP/1.1 403")
    assert b"http://evil.example" in answer
    allowed = UpgradeRequest(host="127.0.0.1", origin="http://127.0.0.1:8888")
    client = raw(server)
    client.sock.sendall(allowed.serialize())
    assert client.sock.recv(4096).startswith(b"HTTP/1.1 101")


# -- a real browser ----------------------------------------------------------------------

BROWSER_SESSION = """
([url, protocols]) => new Promise((resolve) => {
  const log = [];
  const ws = new WebSocket(url, protocols);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { log.push("open " + ws.protocol); ws.send("hello"); };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {
      log.push("text " + event.data);
      ws.send(new Uint8Array([1, 2, 3]));
    } else {
      log.push("binary " + Array.from(new Uint8Array(event.data)).join(","));
      ws.close(4000, "bye");
    }
  };
  ws.onerror = () => log.push("error");
  ws.onclose = (e) => { log.push(`close ${e.code} ${e.reason} ${e.wasClean}`); resolve(log); };
})
"""


def test_chromium_native_websocket_accepts_the_server(no_leaks, page):
    server = serve(subprotocols=["chat.v1"])
    log = page.evaluate(BROWSER_SESSION, [server.ws_url, ["chat.v1"]])
    assert log == ["open chat.v1", "text hello", "binary 1,2,3", "close 4000 bye true"]


def test_chromium_refuses_an_answer_without_the_subprotocol_it_asked_for(no_leaks, page):
    # RFC 6455 lets a server answer without choosing a subprotocol; Chromium then fails
    # the connection anyway: what a from-scratch server must know about real clients.
    server = serve()
    log = page.evaluate(BROWSER_SESSION, [server.ws_url, ["chat.v1"]])
    assert log == ["error", "close 1006  false"]
