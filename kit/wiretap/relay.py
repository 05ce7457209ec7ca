"""The tap's relay: accept a client, connect to the server, move bytes both ways.

It only moves bytes. Each chunk is handed, before it is passed on, to the connection's
:class:`~kit.wire.decoder.ConnectionDecoder`, whose rows go to the tap's
:class:`~kit.wiretap.capture.Capture`: decoding never touches the bytes that are relayed, and
whatever the decoder fails to understand is recorded as such and passed on as it came.

It also counts what it relays (:class:`ByteCount`): bytes each way, exactly as they went
by, HTTP heads and chunk framing included, and the TCP connections it accepted. With
``decode=False`` it only counts: nothing is decoded or kept, which costs next to nothing
per byte (what a benchmark with hundreds of clients needs).

``kit.serve`` runs a relay like any server: it has a ``kind`` and ``start``/``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from kit.runtime.loop import connection_handler
from kit.wire.decoder import ConnectionDecoder
from kit.wiretap.capture import Capture
from kit.wiretap.records import Direction

__all__ = ["READ_SIZE", "ByteCount", "TapRelay"]

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT
READ_SIZE = 65536


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
    """

    kind = "tap"

    def __init__(
        self, host: str, port: int, capture: Capture | None = None, *, decode: bool = True
    ) -> None:
        self.target = (host, port)
        self.capture = capture if capture is not None else Capture()
        self.decode = decode
        self._sent = {C2S: 0, S2C: 0}
        self._count = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def bytes(self) -> ByteCount:
        """Everything relayed since the relay started (a snapshot)."""
        return ByteCount(self._sent[C2S], self._sent[S2C], self._count)

    async def start(self, sock: Any) -> None:
        self._server = await asyncio.start_server(connection_handler(self._relay), sock=sock)

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for writer in list(self._writers):
            writer.close()
        await server.wait_closed()

    async def _relay(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        self._count += 1
        number = self._count
        decoder = ConnectionDecoder()
        host, port = self.target
        self._writers.add(client_out)
        try:
            server_in, server_out = await asyncio.open_connection(host, port)
        except OSError as exc:
            note = f"cannot reach the server at {host}:{port}: {exc}"
            self.capture.add(number, decoder.note(C2S, note))
            client_out.close()
            self._writers.discard(client_out)
            return
        self._writers.add(server_out)
        self.capture.add(number, decoder.note(C2S, f"client connected, relayed to {host}:{port}"))
        try:
            await asyncio.gather(
                self._pump(client_in, server_out, C2S, number, decoder),
                self._pump(server_in, client_out, S2C, number, decoder),
            )
        finally:
            for writer in (client_out, server_out):
                writer.close()
                self._writers.discard(writer)
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        direction: Direction,
        number: int,
        decoder: ConnectionDecoder,
    ) -> None:
        who = "client" if direction is C2S else "server"
        try:
            while data := await source.read(READ_SIZE):
                self._sent[direction] += len(data)
                # Record first, so the row exists before the other side can react.
                if self.decode:
                    for record in decoder.feed(direction, data):
                        self.capture.add(number, record)
                sink.write(data)
                await sink.drain()
            self.capture.add(number, decoder.note(direction, f"{who} closed the connection"))
            if sink.can_write_eof():
                sink.write_eof()  # pass the half-close on
        except (ConnectionError, OSError) as exc:
            self.capture.add(number, decoder.note(direction, f"{who} connection lost: {exc}"))
            sink.close()
