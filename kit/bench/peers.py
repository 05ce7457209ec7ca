"""Hostile peers made of raw sockets: clients too rude for any client library.

A library client reads what it is sent, answers pings, keeps its messages small and
closes politely. The peers here do not, on purpose, and each one is a few lines over a
blocking loopback socket, so a test or a benchmark can point one at a kit server and
watch what the server does about it:

- :func:`stalled_websocket` completes the upgrade and never reads again (with a tiny
  receive buffer, so the server's writes back up quickly);
- :func:`stalled_socketio` does the same, then joins the default socket.io namespace;
- :func:`deflate_bomb` builds a permessage-deflate frame that inflates to many times
  its size (a "zip bomb" for WebSockets);
- :func:`empty_fragments` builds a message cut into many empty CONT frames.

Only loopback addresses are accepted: these peers are for the kit's own servers.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import socket
import zlib

from kit.wire import Frame, Opcode

__all__ = [
    "deflate_bomb",
    "empty_fragments",
    "masked",
    "stalled_socketio",
    "stalled_websocket",
    "websocket_upgrade",
]


def _check_loopback(host: str) -> None:
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"hostile peers only talk to loopback, not {host!r}")


def websocket_upgrade(
    port: int,
    path: str = "/",
    *,
    host: str = "127.0.0.1",
    extensions: str | None = None,
    rcvbuf: int | None = 4096,
    timeout: float = 5.0,
) -> tuple[socket.socket, bytes]:
    """Open a TCP connection and upgrade it; return the socket and the response head.

    Raises ConnectionError when the server does not answer ``101``.
    """
    _check_loopback(host)
    sock = socket.socket()
    if rcvbuf is not None:  # before connect(), so the window is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        byte = sock.recv(1)  # one byte at a time: leave what follows the head unread
        if not byte:
            sock.close()
            raise ConnectionError(f"the server closed during the upgrade: {head!r}")
        head += byte
    if not head.startswith(b"HTTP/1.1 101"):
        sock.close()
        raise ConnectionError(f"the server refused the upgrade: {head.splitlines()[0]!r}")
    return sock, head


def masked(frame: Frame) -> bytes:
    """The frame as a client must send it: masked with a fresh key."""
    return frame.serialize(mask=os.urandom(4), validate=False)


def stalled_websocket(port: int, path: str = "/", **options: object) -> socket.socket:
    """A WebSocket client that has upgraded and will never read another byte."""
    sock, _head = websocket_upgrade(port, path, **options)  # type: ignore[arg-type]
    return sock


def stalled_socketio(port: int, **options: object) -> socket.socket:
    """A socket.io client (engine.io over WebSocket) that joins ``/`` and stops reading."""
    sock, _head = websocket_upgrade(
        port,
        "/socket.io/?EIO=4&transport=websocket",
        **options,  # type: ignore[arg-type]
    )
    sock.sendall(masked(Frame(Opcode.TEXT, b"40")))  # socket.io CONNECT to "/"
    return sock


def deflate_bomb(inflated_size: int, *, chunk: int = 2**20) -> Frame:
    """A compressed TEXT frame (RSV1) whose payload inflates to ``inflated_size`` spaces.

    Deflate shrinks a run of one byte about a thousand times, so 100 MiB of spaces is
    a frame of about 100 KB: well under any ``max_size`` that is checked on the wire
    before inflating (RFC 7692 section 7.2.2: the last 4 bytes, ``00 00 ff ff``, are
    left off).
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = b" " * min(chunk, inflated_size)
    parts, left = [], inflated_size
    while left > 0:
        piece = block if left >= len(block) else block[:left]
        parts.append(compressor.compress(piece))
        left -= len(piece)
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    payload = b"".join(parts)
    assert payload.endswith(b"\x00\x00\xff\xff")
    return Frame(Opcode.TEXT, payload[:-4], rsv1=True)


def empty_fragments(count: int) -> bytes:
    """A TEXT message of ``count`` frames: ``"a"`` then ``count - 1`` empty CONT frames,
    the last with FIN; masked, ready to send."""
    frames = [masked(Frame(Opcode.TEXT, b"a", fin=False))]
    empty = masked(Frame(Opcode.CONT, b"", fin=False))
    frames.extend([empty] * (count - 2))
    frames.append(masked(Frame(Opcode.CONT, b"", fin=True)))
    return b"".join(frames)
