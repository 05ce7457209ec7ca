"""The tap's relay: accept a client, connect to the server, move bytes both ways.

It only moves bytes. Each chunk is handed, before it is passed on, to the connection's
:class:`~kit.wire.decoder.ConnectionDecoder`, whose rows go to the tap's
:class:`~kit.wiretap.capture.Capture`: decoding never touches the bytes that are relayed, and
whatever the decoder fails to understand is recorded as such and passed on as it came.

What the relay holds, and for how long, whatever the peers do:

- at most one read (``READ_SIZE``) plus the transport's write buffer per direction: it
  reads from one side only as fast as the other side takes the bytes (backpressure), so a
  peer that stops reading slows only its own connection;
- when one side has gone (end of stream or a reset), the other direction has ``LINGER``
  seconds to deliver what is in flight; then both sockets are dropped. A client that
  stops reading and then leaves cannot keep the relay, or the server behind it, waiting;
- ``stop()`` says goodbye where it can (a WebSocket CLOSE 1001 to both ends, slipped in
  between frames) and drops every connection after ``LINGER`` seconds at most.

It also counts what it relays (:class:`ByteCount`): bytes each way, exactly as they went
by, HTTP heads and chunk framing included, and the TCP connections it accepted. With
``decode=False`` it only counts: nothing is decoded or kept, which costs next to nothing
per byte (what a benchmark with hundreds of clients needs).

``kit.serve`` runs a relay like any server: it has a ``kind`` and ``start``/``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kit.runtime.loop import connection_handler
from kit.wire import Close, CloseCode, Frame, Opcode
from kit.wire.decoder import ConnectionDecoder, Decoder
from kit.wiretap.capture import Capture
from kit.wiretap.records import Direction

__all__ = ["LINGER", "READ_SIZE", "ByteCount", "TapRelay"]

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT
READ_SIZE = 65536
LINGER = 1.0
"""Seconds the rest of a connection may take once one of its sides has gone."""


@dataclass(eq=False)
class _Link:
    """One relayed TCP connection: its two sockets and its decoder."""

    number: int
    decoder: Decoder
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None

    def writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client, self.server) if w is not None]

    def abort(self) -> None:
        for writer in self.writers():
            writer.transport.abort()


@dataclass(frozen=True)
class ByteCount:
    """What a tap relayed: bytes each way (TCP payload, every header included).

    Subtract two counts to get what went by in between::

        before = tap.bytes
        ...                                    # clients talk
        print((tap.bytes - before).total)      # bytes both ways since

    TCP/IP headers (about 52 bytes per segment on Linux) are not counted: the tap sees the
    bytes the applications exchange, not the packets that carry them.
    """

    client_to_server: int = 0
    server_to_client: int = 0
    connections: int = 0
    """TCP connections the tap accepted."""

    @property
    def total(self) -> int:
        """Bytes both ways."""
        return self.client_to_server + self.server_to_client

    def __sub__(self, other: ByteCount) -> ByteCount:
        return ByteCount(
            self.client_to_server - other.client_to_server,
            self.server_to_client - other.server_to_client,
            self.connections - other.connections,
        )

    def __str__(self) -> str:
        return (
            f"{self.total} bytes ({self.client_to_server} client->server, "
            f"{self.server_to_client} server->client) over {self.connections} connection"
            f"{'s' * (self.connections != 1)}"
        )


class TapRelay:
    """A loopback relay to ``host:port`` that records what it relays in ``capture``.

    With ``decode=False`` it only counts bytes (:attr:`bytes`); ``capture`` then holds
    the connections' opening and closing rows only.
    ``decoder`` makes one decoder per connection: HTTP, WebSocket, engine.io and socket.io
    (:class:`~kit.wire.decoder.ConnectionDecoder`, the default), or Redis's RESP
    (:class:`~kit.wire.decoder.RespConnectionDecoder`).
    """

    kind = "tap"

    def __init__(
        self,
        host: str,
        port: int,
        capture: Capture | None = None,
        *,
        decoder: Callable[[], Decoder] = ConnectionDecoder,
        decode: bool = True,
    ) -> None:
        self.target = (host, port)
        self.decoder = decoder
        self.capture = capture if capture is not None else Capture()
        self.decode = decode
        self._sent = {C2S: 0, S2C: 0}
        self._count = 0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    @property
    def connections(self) -> int:
        """TCP connections being relayed now."""
        return len(self._links)

    @property
    def bytes(self) -> ByteCount:
        """Everything relayed since the relay started (a snapshot)."""
        return ByteCount(self._sent[C2S], self._sent[S2C], self._count)

    async def start(self, sock: Any) -> None:
        self._server = await asyncio.start_server(connection_handler(self._relay), sock=sock)

    async def stop(self) -> None:
        """Stop listening, say goodbye on WebSocket connections, drop the rest."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for link in list(self._links):
            self._goodbye(link)
        if self._links:
            writers = [writer for link in self._links for writer in link.writers()]
            closed = [asyncio.ensure_future(writer.wait_closed()) for writer in writers]
            await asyncio.wait(closed, timeout=LINGER)
            for future in closed:
                future.cancel()
        self.abort()
        await server.wait_closed()

    def abort(self) -> int:
        """Drop every relayed connection at once (both sockets, no goodbye)."""
        links = list(self._links)
        for link in links:
            link.abort()
        return len(links)

    def _goodbye(self, link: _Link) -> None:
        """Tell both ends the tap is going: CLOSE 1001 where a frame may be slipped in."""
        close = Close(CloseCode.GOING_AWAY, "tap stopped").serialize()
        ends = ((link.client, S2C, None), (link.server, C2S, os.urandom(4)))
        for writer, direction, mask in ends:
            if writer is None or writer.is_closing():
                continue
            at_boundary = getattr(link.decoder, "at_frame_boundary", None)
            if at_boundary is not None and at_boundary(direction):
                frame = Frame(Opcode.CLOSE, close).serialize(mask=mask)
                note = link.decoder.note(direction, "tap stopping: CLOSE 1001 (going away)")
                self.capture.add(link.number, note)
                writer.write(frame)
            writer.close()

    async def _relay(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        self._count += 1
        link = _Link(self._count, self.decoder(), client_out)
        number, decoder = link.number, link.decoder
        host, port = self.target
        self._links.add(link)
        try:
            try:
                server_in, link.server = await asyncio.open_connection(host, port)
            except OSError as exc:
                note = f"cannot reach the server at {host}:{port}: {exc}"
                self.capture.add(number, decoder.note(C2S, note))
                return
            note = f"client connected, relayed to {host}:{port}"
            self.capture.add(number, decoder.note(C2S, note))
            pumps = {
                asyncio.ensure_future(self._pump(client_in, link.server, C2S, link)),
                asyncio.ensure_future(self._pump(server_in, client_out, S2C, link)),
            }
            _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            if pending:  # one side has gone: the other gets LINGER seconds to finish
                _, pending = await asyncio.wait(pending, timeout=LINGER)
            if pending:
                self.capture.add(
                    number,
                    decoder.note(S2C, f"dropped: the other side still busy {LINGER:g} s later"),
                )
                link.abort()  # unblocks a write waiting on a peer that does not read
                await asyncio.wait(pending)
        finally:
            for writer in link.writers():
                writer.close()
            closing = [asyncio.ensure_future(w.wait_closed()) for w in link.writers()]
            _, slow = await asyncio.wait(closing, timeout=LINGER) if closing else ((), ())
            if slow:
                link.abort()
            for future in closing:
                future.cancel()
                with contextlib.suppress(BaseException):
                    await future
            self._links.discard(link)

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        direction: Direction,
        link: _Link,
    ) -> None:
        who, other = ("client", "server") if direction is C2S else ("server", "client")
        number, decoder = link.number, link.decoder
        try:
            while data := await source.read(READ_SIZE):
                self._sent[direction] += len(data)
                # Record first, so the row exists before the other side can react.
                if self.decode:
                    for record in decoder.feed(direction, data):
                        self.capture.add(number, record)
                sink.write(data)
                try:
                    await sink.drain()  # read no more until the other side took this
                except (ConnectionError, OSError) as exc:
                    note = f"{other} connection lost: {exc}"
                    self.capture.add(number, decoder.note(direction, note))
                    return
            self.capture.add(number, decoder.note(direction, f"{who} closed the connection"))
            if sink.can_write_eof() and not sink.is_closing():
                sink.write_eof()  # pass the half-close on
        except (ConnectionError, OSError) as exc:
            self.capture.add(number, decoder.note(direction, f"{who} connection lost: {exc}"))
            sink.transport.abort()  # pass the reset on
