"""The tap's relay: accept a client, connect to the server, move bytes both ways.

It only moves bytes. Each chunk is handed, before it is passed on, to the connection's
:class:`~kit.wire.decoder.ConnectionDecoder`, whose rows go to the tap's
:class:`~kit.wiretap.capture.Capture`: decoding never touches the bytes that are relayed, and
whatever the decoder fails to understand is recorded as such and passed on as it came.

``kit.serve`` runs a relay like any server: it has a ``kind`` and ``start``/``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from kit.runtime.loop import connection_handler
from kit.wire.decoder import ConnectionDecoder, Decoder
from kit.wiretap.capture import Capture
from kit.wiretap.records import Direction

__all__ = ["READ_SIZE", "TapRelay"]

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT
READ_SIZE = 65536


class TapRelay:
    """A loopback relay to ``host:port`` that records what it relays in ``capture``.

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
        decoder: Callable[[], Decoder] = ConnectionDecoder,
    ) -> None:
        self.target = (host, port)
        self.decoder = decoder
        self.capture = capture if capture is not None else Capture()
        self._count = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

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
        decoder = self.decoder()
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
        decoder: Decoder,
    ) -> None:
        who = "client" if direction is C2S else "server"
        try:
            while data := await source.read(READ_SIZE):
                # Record first, so the row exists before the other side can react.
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
