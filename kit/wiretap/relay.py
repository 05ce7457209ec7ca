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
  between frames) and drops every connection after ``LINGER`` seconds at most;
- faults (:mod:`kit.wiretap.faults`) keep these bounds: a black hole holds one read per
  direction (the rest waits in the kernel, and TCP slows the sender), latency delays a
  chunk without reading ahead, a connection cut with a FIN is dropped ``LINGER`` seconds
  later whatever its peers do, and ``stop()`` and ``abort()`` end held connections too.

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
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kit.runtime.loop import connection_handler
from kit.wire import Close, CloseCode, Frame, Opcode
from kit.wire.decoder import ConnectionDecoder, Decoder, Record
from kit.wiretap.capture import Capture
from kit.wiretap.faults import Faults, sleep_unless
from kit.wiretap.records import Direction, Layer

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
    cut: str | None = None
    """How the tap cut this connection on purpose (``"reset"``, ``"fin"``), or None."""
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the relay let go of the connection: held bytes are then thrown away."""
    held: set[Direction] = field(default_factory=set)
    """The directions whose held bytes have been noted (one row per black hole)."""

    def writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client, self.server) if w is not None]

    def abort(self) -> None:
        self.dropped.set()
        for writer in self.writers():
            writer.transport.abort()

    def reset(self) -> None:
        """Drop both sockets with a TCP reset (RST) instead of a FIN."""
        self.dropped.set()
        for writer in self.writers():
            reset(writer)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``'s socket with a TCP reset: SO_LINGER on, 0 s, then close.

    A close with lingering on and a zero timeout discards what is unsent and sends RST
    (``socket(7)``, ``SO_LINGER``): the peer's next read fails with ECONNRESET.
    """
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
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
        self._faults: Faults | None = None

    @property
    def faults(self) -> Faults:
        """The fault state (:mod:`kit.wiretap.faults`); made on the runtime loop."""
        if self._faults is None:
            self._faults = Faults(self._note_fault, self._cut)
        return self._faults

    def _note_fault(self, summary: str, link: _Link | None = None) -> None:
        """A row at the fault layer: about one connection, or the whole tap (#0)."""
        transport = getattr(link.decoder, "transport", "tcp") if link else "tap"
        record = Record(C2S, transport, Layer.FAULT, summary)
        self.capture.add(link.number if link else 0, record)

    def _cut(self, how: str) -> int:
        """Cut every connection: a TCP reset, or a FIN each way (then dropped LINGER s later)."""
        links = [link for link in self._links if link.cut is None]
        for link in links:
            link.cut = how
            if how == "reset":
                self._note_fault("cut: reset (RST) both ways by the tap", link)
                link.reset()
                continue
            self._note_fault("cut: closed (FIN) both ways by the tap", link)
            link.dropped.set()
            for writer in link.writers():
                if writer.can_write_eof() and not writer.is_closing():
                    with contextlib.suppress(OSError, RuntimeError):
                        writer.write_eof()
            asyncio.get_running_loop().call_later(LINGER, link.abort)
        return len(links)

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
        if self._faults is not None:
            self._faults.heal(quiet=True)  # schedules and timers end; held links are dropped
        for link in list(self._links):
            if link.held:
                link.dropped.set()
        for link in list(self._links):
            self._goodbye(link)
        if self._links:
            writers = [writer for link in self._links for writer in link.writers()]
            closed = [asyncio.ensure_future(writer.wait_closed()) for writer in writers]
            await asyncio.wait(closed, timeout=LINGER)
            for future in closed:
                future.cancel()
        self.abort()
        # Each connection's handler closes its sockets and lets go of it: wait for that,
        # so that a stopped tap holds nothing (held or cut connections included).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER
        while self._links and loop.time() < deadline:
            await asyncio.sleep(0.01)
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
        faults = self.faults
        if faults.refusing:
            faults.refused += 1
            self._note_fault("refused: reset as it arrived (the tap refuses connections)", link)
            link.reset()
            return
        self._links.add(link)
        try:
            if faults.holding:
                link.held.add(C2S)
                self._note_fault("held: not connected to the server (black hole)", link)
                if not await faults.released(link.dropped):
                    return
            try:
                server_in, link.server = await asyncio.open_connection(host, port)
            except OSError as exc:
                note = f"cannot reach the server at {host}:{port}: {exc}"
                self.capture.add(number, decoder.note(C2S, note))
                return
            if link.cut is not None or link.dropped.is_set():
                return  # cut while connecting: the finally closes the server side too
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
                if link.cut is None:
                    self.capture.add(
                        number,
                        decoder.note(S2C, f"dropped: the other side still busy {LINGER:g} s later"),
                    )
                link.abort()  # unblocks a write waiting on a peer that does not read
                await asyncio.wait(pending)
        finally:
            link.dropped.set()
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
        faults = self.faults
        loop = asyncio.get_running_loop()
        try:
            while data := await source.read(READ_SIZE):
                arrived = loop.time()
                if link.cut is not None:
                    continue  # cut on purpose: what still arrives goes nowhere
                if faults.holding:  # a black hole: hold this chunk, read no more
                    if direction not in link.held:
                        link.held.add(direction)
                        way = direction.value
                        held = f"holding {len(data)} bytes {way} (black hole)"
                        self._note_fault(held, link)
                    if not await faults.released(link.dropped):
                        return
                    link.held.discard(direction)
                if faults.latency and not await sleep_unless(
                    link.dropped, arrived + faults.latency - loop.time()
                ):
                    return
                if link.cut is not None:
                    continue
                self._sent[direction] += len(data)
                # Record first, so the row exists before the other side can react.
                if self.decode:
                    for record in decoder.feed(direction, data):
                        self.capture.add(number, record)
                sink.write(data)
                try:
                    await sink.drain()  # read no more until the other side took this
                except (ConnectionError, OSError) as exc:
                    if link.cut is None:
                        note = f"{other} connection lost: {exc}"
                        self.capture.add(number, decoder.note(direction, note))
                    return
            if link.cut is not None:
                return  # the fault row says what happened
            self.capture.add(number, decoder.note(direction, f"{who} closed the connection"))
            if sink.can_write_eof() and not sink.is_closing():
                sink.write_eof()  # pass the half-close on
        except (ConnectionError, OSError) as exc:
            if link.cut is None:
                note = f"{who} connection lost: {exc}"
                self.capture.add(number, decoder.note(direction, note))
            sink.transport.abort()  # pass the reset on
