"""A WebSocket server written from RFC 6455 and ``kit.wire`` alone, on asyncio streams.

No WebSocket library is involved: the bytes of the handshake and of every frame are
produced and checked by the codecs of :mod:`kit.wire`, and this module only moves them
between sockets. It is small enough to read in one sitting, and real clients (the
``websockets`` library, ``kit.WebSocket``, a browser's native ``WebSocket``) accept it::

    server = kit.serve(ScratchServer("broadcast"), name="scratch")

What one connection goes through:

1. read the HTTP request head (:class:`~kit.wire.RequestReader`), check every rule of
   RFC 6455 section 4.2.1 (:func:`~kit.wire.check_request`) and either refuse with the
   status the failed rule names (400, 403, 426) or answer ``101 Switching Protocols``;
2. read frames (:class:`~kit.wire.MessageReader`, which insists on masked client frames
   and reassembles fragments), hand each message to the handler, answer each PING with a
   PONG carrying the same payload (section 5.5.2);
3. on a CLOSE frame, echo its code and close the TCP connection, the server first
   (section 7.1.1); on a broken rule, send CLOSE with the code the error carries
   (1002, 1007, 1009) and drop the connection (section 7.1.7).

What a peer cannot do to it (each bound is an argument of :class:`ScratchServer`):

- hold others up by not reading: a send never waits for the peer. Frames go to the
  connection's transport buffer at once; a client with more than ``max_backlog`` bytes
  still unsent is too slow, and is closed with 1008 (and dropped if it does not read that
  either). A broadcast therefore reaches every other client straight away;
- make it chew through a flood of frames: one message may come in at most
  ``max_fragments`` frames (1009 past that), and a connection's reading loop yields to
  the others every ``FRAMES_PER_TURN`` frames;
- make a stop wait: ``stop()`` says goodbye (1001), and ``abort()`` (called by the kit
  when goodbyes take too long) drops whoever did not take it;
- inflate a bomb: with ``compression="deflate"`` (permessage-deflate, RFC 7692, off by
  default), a compressed message may inflate to ``max_size`` bytes at most (1009 past that).

permessage-deflate is negotiated in the handshake (:func:`~kit.wire.deflate.negotiate`:
the first acceptable offer, with its context-takeover and window-bits parameters); then
each message of ``min_size`` bytes or more is deflated (:class:`~kit.wire.deflate.Deflater`)
and sent with RSV1 on its frame, and each incoming message with RSV1 on its first frame
is inflated once whole. Control frames are never compressed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, Literal

from kit.runtime.errors import ServeError
from kit.runtime.hosts import RequestGuard, current_serving
from kit.runtime.loop import connection_handler
from kit.wire import (
    Close,
    CloseCode,
    Frame,
    HandshakeError,
    Message,
    MessageReader,
    Opcode,
    RequestReader,
    UpgradeRequest,
    UpgradeResponse,
    WebSocketProtocolError,
    check_request,
    error_response,
)
from kit.wire.deflate import DeflateParams, DeflateSettings, negotiate
from kit.wire.messages import DEFAULT_MAX_FRAGMENTS
from kit.wire.text import usv

__all__ = ["ScratchConnection", "ScratchServer"]

log = logging.getLogger("kit.apps.scratch")

Handler = Callable[["ScratchConnection", "str | bytes"], Awaitable[None]]

READ_SIZE = 65536
LOG_LINES = 200
FRAMES_PER_TURN = 64
"""Frames one connection handles before letting the other connections run."""


class ScratchConnection:
    """One client of a :class:`ScratchServer`, after a successful handshake.

    Attributes:
        request: the client's upgrade request, as parsed.
        protocol: the subprotocol the server chose, or None.
        close_received: the client's CLOSE payload, once it arrived.
        deflate: the permessage-deflate parameters agreed on, or None (no compression).
    """

    def __init__(
        self,
        server: ScratchServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: UpgradeRequest,
        protocol: str | None,
        deflate: DeflateParams | None = None,
    ) -> None:
        self.server, self.request, self.protocol = server, request, protocol
        self.deflate = deflate
        self._deflater = deflate.deflater("server") if deflate is not None else None
        self._reader, self._writer = reader, writer
        self.close_sent: Close | None = None
        self.close_received: Close | None = None
        self._close_answered = asyncio.Event()
        self._reading: asyncio.Task[Any] | None = None  # the task running run()
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.peer = f"{peer[0]}:{peer[1]}"

    @property
    def open(self) -> bool:
        """True until a CLOSE frame has been sent or received."""
        return self.close_sent is None and self.close_received is None

    @property
    def backlog(self) -> int:
        """Bytes sent to this client that its socket has not taken yet."""
        transport = self._writer.transport
        return 0 if transport.is_closing() else transport.get_write_buffer_size()

    async def send(self, data: str | bytes) -> None:
        """Send one message: ``str`` as a TEXT frame, ``bytes`` as a BINARY frame.

        It never waits for the client to read: the frame is queued and sent as the client
        takes it. A client more than ``max_backlog`` bytes behind is closed with 1008.
        Text that is not valid Unicode (a lone surrogate) goes out with U+FFFD in its
        place, as a browser would send it.
        """
        opcode = Opcode.TEXT if isinstance(data, str) else Opcode.BINARY
        payload = usv(data).encode() if isinstance(data, str) else bytes(data)
        if not self.open:
            return
        settings = self.server.deflate_settings
        if self._deflater is not None and settings and len(payload) >= settings.min_size:
            self._write(Frame(opcode, self._deflater.deflate(payload), rsv1=True))
        else:
            self._write(Frame(opcode, payload))

    def send_frame(self, data: bytes) -> None:
        """Queue a frame already serialized (``Frame(...).serialize()``), as it is.

        The fan-out path of a broadcast: a frame encoded once is written to every
        recipient with this call, which never waits and starts no task. Same rules as
        :meth:`send`: nothing once the connection is closing, close 1008 past
        ``max_backlog``.
        """
        if self.open:
            self._write_bytes(data)

    def start_close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Send CLOSE now and hang up ``close_timeout`` seconds later at the latest.

        For callers that cannot wait (a timer, a broadcast): the reading loop ends when
        the client answers, and the connection is dropped if it never does.
        """
        if self.close_sent is None:
            self._send_close(Close(code, reason))
            asyncio.get_running_loop().call_later(self.server.close_timeout, self.abort)

    async def ping(self, payload: bytes = b"") -> None:
        """Send a PING; the client answers with a PONG carrying the same payload."""
        self._write(Frame(Opcode.PING, payload))

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake; wait for the client's CLOSE, then close TCP.

        Called from a message handler (which runs inside this connection's reading loop),
        it only sends the CLOSE: the loop itself then reads the answer (at most
        ``close_timeout`` seconds) and closes TCP. Waiting here would wait for itself.
        """
        if self.close_sent is None:
            self._send_close(Close(code, reason))
        if asyncio.current_task() is self._reading:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._close_answered.wait(), self.server.close_timeout)
        self._writer.close()

    def abort(self) -> None:
        """Drop the TCP connection now: no CLOSE, unsent bytes discarded."""
        self._writer.transport.abort()

    # -- the connection's life ------------------------------------------------------

    def _write(self, frame: Frame) -> None:
        """Queue one frame; fail the connection if the client is too far behind."""
        self._write_bytes(frame.serialize(), control=frame.opcode == Opcode.CLOSE)

    def _write_bytes(self, data: bytes, *, control: bool = False) -> None:
        """Queue serialized frame bytes (server frames are never masked)."""
        if self._writer.is_closing():
            return
        limit = self.server.max_backlog
        if not control and self.backlog + len(data) > limit:
            self.server._note(
                f"{self.peer} is too slow: {self.backlog} bytes not taken yet, "
                f"max_backlog={limit} -> close 1008"
            )
            self._send_close(Close(CloseCode.POLICY_VIOLATION, "too slow: not reading"))
            # It does not read, so it may never see the CLOSE: hang up after the timeout.
            asyncio.get_running_loop().call_later(self.server.close_timeout, self.abort)
            return
        self._writer.write(data)

    def _send_close(self, close: Close) -> None:
        if self.close_sent is None:
            self.close_sent = close
            self._write(Frame(Opcode.CLOSE, close.serialize()))

    async def run(self, trailing: bytes) -> None:
        """Read frames until the connection ends; never raises for the peer's mistakes."""
        self._reading = asyncio.current_task()
        inflater = None
        if self.deflate is not None:
            inflater = self.deflate.inflater("client", max_size=self.server.max_size)
        frames = MessageReader(
            mask_required=True,
            max_size=self.server.max_size,
            max_fragments=self.server.max_fragments,
            inflater=inflater,
        )
        frames.feed(trailing)
        try:
            while True:
                for count, event in enumerate(frames, 1):
                    if await self._on_event(event):
                        return
                    if count % FRAMES_PER_TURN == 0:
                        await asyncio.sleep(0)  # a flood of frames must not starve others
                if self.close_sent is None:
                    data = await self._reader.read(READ_SIZE)
                else:  # waiting for the client's CLOSE: not forever
                    try:
                        timeout = self.server.close_timeout
                        data = await asyncio.wait_for(self._reader.read(READ_SIZE), timeout)
                    except (TimeoutError, asyncio.TimeoutError):
                        self.server._note(f"{self.peer} did not answer CLOSE: hanging up")
                        return
                if not data:
                    self.server._note(f"{self.peer} dropped the TCP connection without CLOSE")
                    return
                frames.feed(data)
        except WebSocketProtocolError as error:
            # Fail the connection (RFC 6455 section 7.1.7): say why, then hang up.
            self.server._note(f"{self.peer} broke a rule: {error} -> close {error.close_code}")
            reason = str(error).encode()[:123].decode("utf-8", "ignore")
            self._send_close(Close(error.close_code, reason))
        except ConnectionError:
            self.server._note(f"{self.peer} connection reset")
        finally:
            self._close_answered.set()

    async def _on_event(self, event: Message | Frame) -> bool:
        """Handle one message or control frame; True when the connection is over."""
        if isinstance(event, Message):
            if self.close_sent is None:
                await self.server._handle(self, event.data)
            return False
        if event.opcode == Opcode.PING:
            if self.close_sent is None:
                self._write(Frame(Opcode.PONG, event.payload))
            return False
        if event.opcode == Opcode.PONG:
            return False
        # CLOSE: the payload was already validated by the reader.
        self.close_received = Close.parse(event.payload)
        if self.close_sent is None:
            # Echo the code (an empty CLOSE is answered with an empty CLOSE).
            self._send_close(self.close_received)
        self.server._note(f"{self.peer} closed: {self.close_received}")
        return True


class ScratchServer:
    """A from-scratch WebSocket server: echo or broadcast, or your own handler.

    Args:
        mode: ``"echo"`` sends each message back to its sender; ``"broadcast"`` sends
            it to every connected client, the sender included.
        handler: ``async def handler(connection, message)`` to replace the mode.
        subprotocols: the subprotocols this server speaks, best first.
        origins: allowed ``Origin`` values (None allows any; add None to the list to
            also allow clients that send no Origin).
        max_size: the largest message accepted, in bytes; larger ones close with 1009.
        max_fragments: the most frames one message may come in; more close with 1009.
        max_backlog: bytes a client may leave unread before it is closed with 1008.
        open_timeout: seconds a client has to send its whole upgrade request.
        close_timeout: seconds to wait for the client's CLOSE before hanging up.
        compression: ``"deflate"`` (or a :class:`~kit.wire.deflate.DeflateSettings`) to
            accept permessage-deflate when a client offers it; None (the default) never
            compresses, like a server that implements no extension.
    """

    kind = "scratch"

    def __init__(
        self,
        mode: Literal["echo", "broadcast"] = "echo",
        *,
        handler: Handler | None = None,
        subprotocols: Sequence[str] = (),
        origins: Collection[str | None] | None = None,
        max_size: int = 2**20,
        max_fragments: int = DEFAULT_MAX_FRAGMENTS,
        max_backlog: int = 2**22,
        open_timeout: float = 10.0,
        close_timeout: float = 2.0,
        compression: Literal["deflate"] | DeflateSettings | None = None,
    ) -> None:
        if compression == "deflate":
            compression = DeflateSettings()
        if compression is not None and not isinstance(compression, DeflateSettings):
            raise ValueError(
                f"compression is 'deflate', a DeflateSettings(...) or None, not {compression!r}"
            )
        self.deflate_settings: DeflateSettings | None = compression
        if mode not in ("echo", "broadcast"):
            raise ValueError(f"mode must be 'echo' or 'broadcast', not {mode!r}")
        if handler is not None and not asyncio.iscoroutinefunction(handler):
            raise TypeError("handler must be `async def handler(connection, message)`")
        self.mode, self.handler = mode, handler
        self.subprotocols = list(subprotocols)
        self.origins = None if origins is None else list(origins)
        for name, value in (
            ("max_size", max_size),
            ("max_fragments", max_fragments),
            ("max_backlog", max_backlog),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int (bytes or frames), not {value!r}")
        self.max_size, self.max_fragments, self.max_backlog = max_size, max_fragments, max_backlog
        self.open_timeout, self.close_timeout = open_timeout, close_timeout
        self.connections: set[ScratchConnection] = set()
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        """What the server saw, one line per event (handshakes, refusals, closes)."""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()  # every socket, handshake or not
        self._guard: RequestGuard | None = None  # the Host check kit.serve asked for

    def __repr__(self) -> str:
        return f"ScratchServer({self.mode!r}, {len(self.connections)} connected)"

    def _note(self, line: str) -> None:
        self.log.append(line)
        log.debug(line)

    async def _handle(self, connection: ScratchConnection, message: str | bytes) -> None:
        if self.handler is not None:
            await self.handler(connection, message)
        elif self.mode == "echo":
            await connection.send(message)
        else:  # no send waits for its client: a slow one cannot hold the others up
            for client in list(self.connections):
                await client.send(message)

    # -- the AppAdapter protocol (kit.serve) -------------------------------------------

    async def start(self, sock: socket.socket) -> None:
        """Serve on ``sock`` (called by ``kit.serve``)."""
        if self._server is not None:
            raise ServeError(
                "this ScratchServer is already being served; make one ScratchServer(...) "
                "per kit.serve(...)"
            )
        self.connections.clear()
        serving = current_serving(sock)
        self._guard = serving.guard
        self._server = await asyncio.start_server(
            connection_handler(self._serve_client), sock=sock, ssl=serving.ssl
        )

    def abort(self) -> int:
        """Drop every connection now, without goodbye (the kit's last resort on stop)."""
        writers = list(self._writers)
        for writer in writers:
            writer.transport.abort()
        return len(writers)

    async def stop(self) -> None:
        """Close every connection with 1001 (going away) and stop listening."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        await asyncio.gather(
            *(c.close(CloseCode.GOING_AWAY, "server stopping") for c in list(self.connections)),
            return_exceptions=True,
        )
        await server.wait_closed()

    # -- one client -------------------------------------------------------------------

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        where = f"{peer[0]}:{peer[1]}"
        self._writers.add(writer)
        try:
            accepted = await self._handshake(reader, writer, where)
            if accepted is None:
                return
            request, response, trailing, deflate = accepted
            connection = ScratchConnection(
                self, reader, writer, request, response.protocol, deflate
            )
            self.connections.add(connection)
            try:
                await connection.run(trailing)
            finally:
                self.connections.discard(connection)
        except Exception:  # a bug here must not take the server down
            log.exception("scratch server: connection from %s crashed", where)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), self.close_timeout)
            writer.transport.abort()  # a peer that does not read never lets close() end
            self._writers.discard(writer)

    def _check_host(self, request: UpgradeRequest) -> None:
        """Refuse a request sent to a name this server is not (see kit.runtime.hosts)."""
        if self._guard is None:
            return
        others = _headers(request)
        others["host"] = request.host
        error = self._guard.refusal(lambda name: others.get(name.lower()) or None)
        if error is not None:
            raise error

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, where: str
    ) -> tuple[UpgradeRequest, UpgradeResponse, bytes, DeflateParams | None] | None:
        heads = RequestReader()
        try:
            request = await asyncio.wait_for(_read_head(reader, heads), self.open_timeout)
            self._check_host(request)
            check_request(request, origins=self.origins)
        except HandshakeError as error:
            self._note(f"{where} refused: {error.status} {type(error).__name__}: {error}")
            writer.write(error_response(error))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            return None
        except (TimeoutError, asyncio.TimeoutError):
            self._note(f"{where} sent no complete request within {self.open_timeout:g} s")
            return None
        response = UpgradeResponse.for_request(request, protocols=self.subprotocols)
        deflate = None
        if self.deflate_settings is not None:
            offers = [v for n, v in request.headers if n.lower() == "sec-websocket-extensions"]
            agreed = negotiate(offers, self.deflate_settings) if offers else None
            if agreed is not None:
                deflate, answer = agreed
                response.headers.append(("Sec-WebSocket-Extensions", answer))
        chosen = f" protocol={response.protocol}" if response.protocol else ""
        if deflate is not None:
            chosen += f" extensions={response.headers[-1][1]}"
        self._note(f"{where} upgraded: GET {request.path} -> 101{chosen}")
        writer.write(response.serialize())
        await writer.drain()
        return request, response, heads.trailing_data, deflate


def _headers(request: UpgradeRequest) -> dict[str, str]:
    """The request's headers by lower-case name (the first of each)."""
    found: dict[str, str] = {}
    for name, value in request.headers:
        found.setdefault(name.lower(), value)
    return found


async def _read_head(reader: asyncio.StreamReader, heads: RequestReader) -> UpgradeRequest:
    """Feed bytes to ``heads`` until the request head is complete."""
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            heads.feed_eof()  # raises IncompleteHead: the client gave up mid-request
        request = heads.feed(data)
        if request is not None:
            return request
