"""What python-engineio (under python-socketio and kit.chat_app) does with odd HTTP and frames.

Each test pins a behaviour the README lists under "python-engineio behaviours the kit does not
change", seen with raw sockets: a library client would never send these requests. Where the
engine.io protocol or RFC 6455 says otherwise, the comment says so.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import socketio

import kit
from kit.bench import peers
from kit.wire import Frame, Message, MessageReader, Opcode

pytestmark = pytest.mark.usefixtures("no_leaks")


@pytest.fixture
def server() -> Iterator[kit.Server]:
    yield kit.serve(socketio.AsyncServer(async_mode="aiohttp"), name="eio")


def http(server: kit.Server, request: bytes, timeout: float = 2.0) -> bytes | None:
    """Send one raw HTTP request; the whole response, or None if none came in time."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(timeout)
        sock.sendall(request)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                head, found, body = data.partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if found and length and len(body) >= length[0]:
                    return data
        except TimeoutError:
            return None
        return data or None


def open_polling(server: kit.Server) -> str:
    response = http(
        server, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    assert response is not None
    body = response.partition(b"\r\n\r\n")[2]
    return json.loads(body[1:])["sid"]  # after the OPEN packet's type, 0


def test_jsonp_polling_is_enabled(server: kit.Server) -> None:
    # engine.io v4 dropped JSONP from its protocol; python-engineio still answers it.
    response = http(
        server, b"GET /socket.io/?EIO=4&transport=polling&j=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    assert response is not None
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body.startswith(b'___eio[0]("0{') and body.endswith(b'");')


def test_a_chunked_post_is_answered_ok_and_dropped(server: kit.Server) -> None:
    sid = open_polling(server).encode()
    post = (
        b"POST /socket.io/?EIO=4&transport=polling&sid=" + sid + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n2\r\n40\r\n0\r\n\r\n"
    )
    response = http(server, post)
    assert response is not None and response.endswith(b"\r\n\r\nOK")
    # The CONNECT ("40") in it was never read: no CONNECT answer waits for the next poll.
    get = (
        b"GET /socket.io/?EIO=4&transport=polling&sid="
        + sid
        + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    assert http(server, get, timeout=0.5) is None


def test_a_post_over_max_payload_gets_no_answer(server: kit.Server) -> None:
    sid = open_polling(server).encode()
    big = b"4" + b"x" * 1_100_000  # maxPayload is 1,000,000 bytes
    post = (
        b"POST /socket.io/?EIO=4&transport=polling&sid=" + sid + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: text/plain\r\nContent-Length: " + str(len(big)).encode() + b"\r\n\r\n"
    )
    # No error answer, no close: the client waits for nothing.
    assert http(server, post + big, timeout=0.5) is None


def test_a_websocket_message_over_max_payload_is_closed_with_1009() -> None:
    # The engine.io protocol announces maxPayload in the handshake; over WebSocket the
    # server (python-engineio on aiohttp) enforces it as the WebSocket's own size limit.
    sio = socketio.AsyncServer(async_mode="aiohttp", max_http_buffer_size=1000)
    server = kit.serve(sio, name="eio small")
    sock, _ = peers.websocket_upgrade(server.port, "/socket.io/?EIO=4&transport=websocket")
    with sock:
        sock.settimeout(5)
        reader = MessageReader(mask_required=False, max_size=None)
        received: list[Message | Frame] = []
        while not received:  # the OPEN packet, which announces the bound
            reader.feed(sock.recv(65536))
            received += list(reader)
        assert isinstance(received[0], Message) and '"maxPayload":1000' in received[0].data
        sock.sendall(peers.masked(Frame(Opcode.TEXT, b"4" + b"x" * 2000)))
        while not any(isinstance(m, Frame) and m.opcode is Opcode.CLOSE for m in received):
            data = sock.recv(65536)
            assert data, f"closed without a CLOSE frame; got {received}"
            reader.feed(data)
            received += list(reader)
    close = next(m for m in received if isinstance(m, Frame) and m.opcode is Opcode.CLOSE)
    assert int.from_bytes(close.payload[:2], "big") == 1009


def test_unmasked_client_frames_are_accepted(server: kit.Server) -> None:
    # RFC 6455 section 5.1: a server MUST close the connection on an unmasked client frame.
    sock, _ = peers.websocket_upgrade(server.port, "/socket.io/?EIO=4&transport=websocket")
    with sock:
        sock.sendall(Frame(Opcode.TEXT, b"40").serialize())  # no mask
        sock.settimeout(2)
        reader = MessageReader(mask_required=False, max_size=None)
        messages: list[Message | Frame] = []
        while len(messages) < 2:
            reader.feed(sock.recv(65536))
            messages += list(reader)
    assert isinstance(messages[1], Message) and messages[1].data.startswith('40{"sid":')
