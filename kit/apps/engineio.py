"""An engine.io v4 server from scratch: long-polling, WebSocket, the upgrade, heartbeats.

engine.io (https://github.com/socketio/engine.io-protocol, protocol v4) is the session
layer under socket.io. This server is built from pieces the kit already has, and nothing
else: h11 reads and writes HTTP/1.1, :mod:`kit.wire.engineio` encodes packets and
payloads, and :class:`~kit.apps.scratch.ScratchConnection` (RFC 6455 on ``kit.wire``)
carries the WebSocket. By default it sends every message back (the server the official
test suite expects)::

    server = kit.serve(kit.EngineIOServer(), name="eio")

What a session goes through (the protocol's sections in brackets):

1. **handshake** [handshake]: ``GET /engine.io/?EIO=4&transport=polling`` is answered
   with the OPEN packet ``0{"sid":"...","upgrades":["websocket"],"pingInterval":25000,
   "pingTimeout":20000,"maxPayload":1000000}``; a WebSocket opened with
   ``transport=websocket`` and no ``sid`` gets the same packet as its first message
   (with ``"upgrades":[]``).
2. **long-polling** [HTTP long-polling]: a ``GET`` with the ``sid`` is held until the
   server has something to say, then answered with a payload (packets joined by
   ``\\x1e``); a ``POST`` carries the client's packets and is answered ``ok``.
3. **heartbeat** [heartbeat]: every ``ping_interval`` the server sends PING (``2``); a
   client that has not answered PONG (``3``) within ``ping_timeout`` is gone.
4. **upgrade** [upgrade]: the client opens a WebSocket with the same ``sid`` and sends
   ``2probe``; the server answers ``3probe`` and completes the pending poll with NOOP
   (``6``); the client's ``5`` (UPGRADE) switches the session to the WebSocket, and what
   was queued for polling follows there.
5. **close**: either side sends CLOSE (``1``), or the transport goes away.

What the protocol leaves to the server, answered as the reference server (Node's
engine.io 6) answers, so that the official suite passes: errors are ``400`` with a JSON
body ``{"code":N,"message":"..."}`` (0 unknown transport, 1 unknown session, 2 a handshake
that is not a GET, 3 bad request, 4 forbidden origin, 5 unsupported protocol version; the
kit adds ``"detail"``, saying what was wrong); an invalid packet closes the session; a
second poll while one is held is refused and closes the session (the held poll gets
``1``); a client's CLOSE completes the held poll with ``6``; a second WebSocket for an
upgraded session is accepted and closed at once.

One addition the protocol does not describe: a client that closes over polling may send
its last GET and the CLOSE at once on two connections (the official suite does), and on
a busy machine the server can read the CLOSE first. That one GET, if it comes within
``CROSSED_POLL_GRACE`` seconds, is answered ``6`` as if it had been held; any later
request for the session is refused as unknown.

What a client cannot do to it:

- send more than ``max_payload`` bytes at once: a POST is refused with 413 before its
  body is read, a WebSocket message closes with 1009;
- make the server buffer without bound: a polling client with more than ``max_backlog``
  bytes waiting is dropped ("too slow"), and so is a WebSocket client with as many bytes
  unsent (close 1008);
- hold a stop: ``stop()`` closes every session, and ``abort()`` drops what is left.

Sending never waits for a client and starts no task: :meth:`EngineSession.send` writes
the frame to the socket's buffer (WebSocket) or appends to the queue the next poll
takes. :class:`EncodedMessage` encodes a message once for many sessions, which is how a
socket.io broadcast reaches thousands of clients at the cost of one encoding.

What it deliberately leaves out: protocol v3 (``EIO=3``, socket.io 2.x clients: refused,
code 5), JSONP polling (removed from v4), binary polling bodies (v3's XHR2 form),
compression (HTTP and permessage-deflate), cookies, the ``allowRequest`` hook, the
WebTransport transport, and sessions shared between processes (a session lives in the
process that opened it: several processes need sticky sessions, as with Node).

Why this module is long: it is one protocol end to end (HTTP, the WebSocket handoff, the
session's state machine and its timers), kept in one file so a lesson can read it in
order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import logging
import secrets
import socket
import string
import time
from collections import deque
from collections.abc import Callable, Collection
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import h11

from kit.apps.scratch import ScratchConnection, ScratchServer
from kit.runtime.errors import ServeError
from kit.runtime.loop import connection_handler
from kit.wire import (
    CloseCode,
    EngineIOError,
    EnginePacket,
    EnginePacketType,
    Frame,
    HandshakeError,
    Opcode,
    OpenPacket,
    UpgradeRequest,
    UpgradeResponse,
    check_request,
    decode_payload,
    encode_payload,
    error_response,
)
from kit.wire.text import usv

__all__ = [
    "EncodedMessage",
    "EngineErrorCode",
    "EngineIOServer",
    "EngineSession",
    "new_id",
]

log = logging.getLogger("kit.apps.engineio")

READ_SIZE = 65536
LOG_LINES = 200
MAX_HEAD = 16384
"""The longest HTTP request head accepted, in bytes (h11's default)."""
IDLE_TIMEOUT = 60.0
"""Seconds a kept-alive HTTP connection may wait for its next request."""
CROSSED_POLL_GRACE = 2.0
"""Seconds after a client's CLOSE over polling in which its crossing GET gets NOOP."""

OnOpen = Callable[["EngineSession"], None]
OnMessage = Callable[["EngineSession", "str | bytes"], None]
OnClose = Callable[["EngineSession", str], None]


ID_ALPHABET = string.ascii_letters + string.digits


def new_id() -> str:
    """A random session id: 20 letters and digits (119 bits), like Node's length.

    Letters and digits only, unlike ``token_urlsafe``: an id never ends in ``-`` or
    ``_``, so a double-click selects it whole and a ``\\b``-bounded pattern (a test's,
    a sanitizer's) always finds its end.
    """
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(20))


class EngineErrorCode(enum.IntEnum):
    """The ``code`` of an error answer, as the reference server numbers them."""

    UNKNOWN_TRANSPORT = 0
    """``transport`` is missing, or neither ``polling`` nor ``websocket``."""
    UNKNOWN_SID = 1
    """No session has this ``sid`` (never opened, or closed since)."""
    BAD_HANDSHAKE_METHOD = 2
    """A handshake (no ``sid``) that is not a GET."""
    BAD_REQUEST = 3
    """Anything else the protocol does not allow, e.g. polling an upgraded session."""
    FORBIDDEN = 4
    """The page's ``Origin`` is not an allowed origin."""
    UNSUPPORTED_PROTOCOL_VERSION = 5
    """``EIO`` is missing or not ``4``."""

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    EngineErrorCode.UNKNOWN_TRANSPORT: "Transport unknown",
    EngineErrorCode.UNKNOWN_SID: "Session ID unknown",
    EngineErrorCode.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    EngineErrorCode.BAD_REQUEST: "Bad request",
    EngineErrorCode.FORBIDDEN: "Forbidden",
    EngineErrorCode.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


class _Refusal(Exception):
    """An engine.io error answer: HTTP status, code, and what was wrong."""

    def __init__(self, code: EngineErrorCode, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status

    def body(self) -> str:
        fields = {"code": int(self.code), "message": self.code.message, "detail": self.detail}
        return json.dumps(fields)


def _text_frame(text: str) -> bytes:
    return Frame(Opcode.TEXT, usv(text).encode()).serialize()


PING_FRAME = _text_frame("2")
PONG_PROBE_FRAME = _text_frame("3probe")
NOOP_FRAME = _text_frame("6")


@dataclasses.dataclass(frozen=True)
class EncodedMessage:
    """One engine.io MESSAGE, encoded once for any number of sessions.

    ``packet`` is what a polling session queues (``4hello``, or bytes that go out as
    ``b`` + base64); ``frame`` is the WebSocket frame that carries it, ready to be
    written as it is (``81 06 34 68 65 6c 6c 6f`` for ``4hello``).
    """

    packet: EnginePacket
    frame: bytes

    @classmethod
    def of(cls, data: str | bytes) -> EncodedMessage:
        """Encode ``data`` (text, or bytes for a binary message)."""
        packet = EnginePacket(EnginePacketType.MESSAGE, data)
        return cls(packet, _frame_of(packet))


def _frame_of(packet: EnginePacket) -> bytes:
    """The WebSocket frame carrying ``packet``: TEXT ``4hello``, or BINARY bytes (v4)."""
    if isinstance(packet.data, bytes):
        return Frame(Opcode.BINARY, packet.data).serialize()
    return _text_frame(f"{int(packet.type)}{packet.data}")


def _packet_size(packet: EnginePacket) -> int:
    """The packet's share of a polling payload, in characters (bytes go as base64)."""
    return 1 + (
        len(packet.data) * 4 // 3 + 4 if isinstance(packet.data, bytes) else len(packet.data)
    )


class EngineSession:
    """One client's engine.io session, over long-polling or a WebSocket.

    Attributes:
        sid: the session id, in every request of the session (``?sid=...``).
        transport: ``"polling"`` or ``"websocket"`` (after an upgrade, or from the start).
        query: the handshake request's query parameters (``EIO``, ``transport``, ...).
        headers: the handshake request's headers, names in lower case.
        peer: the client's address, ``"127.0.0.1:53211"``.
        closed: whether the session has ended; ``close_reason`` says why.
        data: room for the layer above (the socket.io server keeps its state here).
    """

    def __init__(
        self,
        server: EngineIOServer,
        sid: str,
        transport: Literal["polling", "websocket"],
        query: dict[str, str],
        headers: dict[str, str],
        peer: str,
    ) -> None:
        self.server, self.sid, self.transport = server, sid, transport
        self.query, self.headers, self.peer = query, headers, peer
        self.closed = False
        self.close_reason: str | None = None
        self.upgrading = False
        self.data: dict[str, Any] = {}
        self._websocket: ScratchConnection | None = None
        self._probe: ScratchConnection | None = None
        self._outbox: deque[EnginePacket] = deque()
        self._outbox_size = 0
        self._poll: asyncio.Future[str] | None = None
        self._loop = asyncio.get_running_loop()
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        self._upgrade_timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        state = f"closed: {self.close_reason}" if self.closed else self.transport
        return f"<EngineSession {self.sid} {state}>"

    # -- sending: never waits, never starts a task ------------------------------------

    def send(self, data: str | bytes) -> None:
        """Send one MESSAGE: text, or bytes as a binary message."""
        self.send_encoded(EncodedMessage.of(data))

    def send_encoded(self, message: EncodedMessage) -> None:
        """Send a message encoded once (:class:`EncodedMessage`): the broadcast path."""
        if self.closed:
            return
        websocket = self._websocket
        if websocket is not None:
            websocket.send_frame(message.frame)
        else:
            self._queue(message.packet)

    def close(self, reason: str = "forced close") -> None:
        """End the session from the server's side (a held poll gets CLOSE, ``1``)."""
        self._close(reason)

    def _send_control(self, packet: EnginePacket, frame: bytes) -> None:
        if self._websocket is not None:
            self._websocket.send_frame(frame)
        else:
            self._queue(packet)

    def _queue(self, packet: EnginePacket) -> None:
        """Keep a packet for the next poll, and answer a held poll now."""
        self._outbox.append(packet)
        self._outbox_size += _packet_size(packet)
        if self._outbox_size > self.server.max_backlog:
            self.server._note(
                f"{self.sid} is too slow: {self._outbox_size} characters not polled yet, "
                f"max_backlog={self.server.max_backlog} -> session closed"
            )
            self._close("too slow")
            return
        self._answer_poll()

    def _take_payload(self) -> str:
        packets, self._outbox, self._outbox_size = list(self._outbox), deque(), 0
        try:
            return encode_payload(packets)
        except ValueError as error:  # a text message holding "\x1e" cannot be polled
            self.server._note(f"{self.sid}: {error} -> session closed")
            self._close("transport error")
            return "1"

    def _answer_poll(self, payload: str | None = None) -> None:
        """Complete the held poll with ``payload`` (default: what is queued)."""
        poll = self._poll
        if poll is None or poll.done():
            return
        if payload is None:
            if not self._outbox:
                return
            payload = self._take_payload()
        poll.set_result(payload)

    # -- heartbeat: the server pings (v4) ---------------------------------------------

    def _schedule_ping(self) -> None:
        self._ping_timer = self._loop.call_later(self.server.ping_interval, self._ping)

    def _ping(self) -> None:
        self._ping_timer = None
        self._send_control(EnginePacket(EnginePacketType.PING), PING_FRAME)
        self._pong_timer = self._loop.call_later(
            self.server.ping_timeout, self._close, "ping timeout"
        )

    def _on_pong(self) -> None:
        if self._pong_timer is None:
            return  # a PONG nobody asked for: ignored, as the reference server does
        self._pong_timer.cancel()
        self._pong_timer = None
        self._schedule_ping()

    # -- receiving ---------------------------------------------------------------------

    def _on_packet(self, packet: EnginePacket) -> None:
        kind = packet.type
        if kind == EnginePacketType.MESSAGE:
            self.server._deliver(self, packet.data)
        elif kind == EnginePacketType.PONG:
            self._on_pong()
        elif kind == EnginePacketType.CLOSE:
            self._close("transport close", by_client=True)
        elif kind == EnginePacketType.PING:  # v4: only the server pings
            self.server._note(f"{self.sid} sent PING: in v4 only the server pings -> closed")
            self._close("transport error")
        # OPEN, UPGRADE and NOOP from a client on its transport carry nothing: ignored.

    def _on_websocket_message(self, connection: ScratchConnection, message: str | bytes) -> None:
        try:
            packet = EnginePacket.parse(message)
        except EngineIOError as error:
            self.server._note(f"{self.sid} sent an invalid packet: {error}")
            if connection is self._probe:
                self._drop_probe(CloseCode.PROTOCOL_ERROR)
            else:
                self._close("parse error")
            return
        if connection is self._probe:
            self._on_probe_packet(packet)
        elif connection is self._websocket:
            self._on_packet(packet)

    # -- the upgrade -------------------------------------------------------------------

    def _start_probe(self, connection: ScratchConnection) -> None:
        self._probe = connection
        self._upgrade_timer = self._loop.call_later(
            self.server.upgrade_timeout, self._drop_probe, CloseCode.NORMAL_CLOSURE
        )

    def _on_probe_packet(self, packet: EnginePacket) -> None:
        probe = self._probe
        assert probe is not None
        if packet.type == EnginePacketType.PING and packet.data == "probe":
            probe.send_frame(PONG_PROBE_FRAME)
            self.upgrading = True
            if self._poll is not None and not self._poll.done():  # end it: NOOP at least
                self._answer_poll(self._take_payload() if self._outbox else "6")
        elif packet.type == EnginePacketType.UPGRADE:
            self._finish_upgrade(probe)
        else:
            self.server._note(f"{self.sid} sent {packet} on the probe: upgrade abandoned")
            self._drop_probe(CloseCode.PROTOCOL_ERROR)

    def _finish_upgrade(self, probe: ScratchConnection) -> None:
        if self._upgrade_timer is not None:
            self._upgrade_timer.cancel()
        self._websocket, self._probe = probe, None
        self.transport, self.upgrading = "websocket", False
        self._answer_poll("6")  # a poll still held would wait forever otherwise
        queued, self._outbox, self._outbox_size = self._outbox, deque(), 0
        for packet in queued:
            probe.send_frame(_frame_of(packet))
        self.server._note(f"{self.sid} upgraded to websocket")

    def _drop_probe(self, code: int) -> None:
        probe, self._probe = self._probe, None
        self.upgrading = False
        if self._upgrade_timer is not None:
            self._upgrade_timer.cancel()
        if probe is not None:
            probe.start_close(code)

    def _transport_gone(self, connection: ScratchConnection) -> None:
        """A WebSocket of this session ended (the reading loop returned)."""
        if connection is self._probe:
            self._drop_probe(CloseCode.NORMAL_CLOSURE)
        elif connection is self._websocket:
            # The WebSocket layer closed it with 1008 for not reading: say so.
            sent = connection.close_sent
            slow = sent is not None and sent.code == CloseCode.POLICY_VIOLATION
            self._close("too slow" if slow else "transport close")

    # -- the end -----------------------------------------------------------------------

    def _close(
        self, reason: str, *, by_client: bool = False, code: int = CloseCode.NORMAL_CLOSURE
    ) -> None:
        if self.closed:
            return
        self.closed, self.close_reason = True, reason
        for timer in (self._ping_timer, self._pong_timer, self._upgrade_timer):
            if timer is not None:
                timer.cancel()
        # A client's CLOSE completes its held poll with NOOP; the server's own with CLOSE.
        held = self._poll is not None and not self._poll.done()
        if by_client and self.transport == "polling" and not held:
            self.server._crossed_close(self.sid)
        self._answer_poll("6" if by_client else "1")
        for connection in (self._websocket, self._probe):
            if connection is not None:
                connection.start_close(code)
        self._outbox.clear()
        self.server._forget(self, reason)


class EngineIOServer:
    """An engine.io v4 server on ``kit.wire``, served by ``kit.serve`` like any app.

    Args:
        on_open: ``on_open(session)`` when a session opens (after its OPEN packet).
        on_message: ``on_message(session, data)`` for each MESSAGE (``str`` or
            ``bytes``); the default sends it back to its session (an echo server).
        on_close: ``on_close(session, reason)`` when a session ends: ``"transport
            close"``, ``"transport error"``, ``"ping timeout"``, ``"parse error"``,
            ``"forced close"``, ``"too slow"`` or ``"server shutting down"``.
        path: where engine.io answers, ``"/engine.io/"`` (socket.io uses ``"/socket.io/"``).
        ping_interval, ping_timeout: the heartbeat, in seconds (25 and 20 by default).
        max_payload: the largest POST body or WebSocket message a client may send, bytes.
        max_backlog: bytes (polling: characters) waiting for one client before it is
            dropped as too slow.
        upgrade_timeout: seconds a probing WebSocket has to complete the upgrade.
        cors_allowed_origins: ``"*"`` (any page), a list of origins
            (``["http://127.0.0.1:8888"]``), or None: only pages from this server's own
            origin (and clients that send no ``Origin``). Others get 403 (code 4).
        transports: the transports offered, ``("polling", "websocket")``.

    The callbacks are plain functions, called on the server's event loop in the order
    packets arrive; they must not block. ``sessions`` holds the open sessions by sid.
    """

    kind = "engineio"

    def __init__(
        self,
        *,
        on_open: OnOpen | None = None,
        on_message: OnMessage | None = None,
        on_close: OnClose | None = None,
        path: str = "/engine.io/",
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_payload: int = 1_000_000,
        max_backlog: int = 2**22,
        upgrade_timeout: float = 10.0,
        cors_allowed_origins: str | Collection[str] | None = None,
        transports: Collection[str] = ("polling", "websocket"),
    ) -> None:
        for name, value in (("ping_interval", ping_interval), ("ping_timeout", ping_timeout)):
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} is in seconds and must be > 0, not {value!r}")
        for name, value in (("max_payload", max_payload), ("max_backlog", max_backlog)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int (bytes), not {value!r}")
        unknown = set(transports) - {"polling", "websocket"}
        if unknown or not transports:
            raise ValueError(f"transports are 'polling' and 'websocket', not {sorted(unknown)}")
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', not {path!r}")
        self.on_open, self.on_message, self.on_close = on_open, on_message, on_close
        self.path = path.rstrip("/") + "/"
        self.ping_interval, self.ping_timeout = float(ping_interval), float(ping_timeout)
        self.max_payload, self.max_backlog = max_payload, max_backlog
        self.upgrade_timeout = upgrade_timeout
        self.cors_allowed_origins = cors_allowed_origins
        self.transports = tuple(t for t in ("polling", "websocket") if t in transports)
        self.sessions: dict[str, EngineSession] = {}
        # sid -> until when: sessions a client closed over polling while no poll was
        # held; a GET that crossed that CLOSE on the way in still gets NOOP (see _session).
        self._closed_by_client: dict[str, float] = {}
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        """What the server saw, one line per event (sessions, refusals, closes)."""
        # The WebSocket layer: the kit's from-scratch server, for its limits and frames.
        self.websocket = ScratchServer(
            handler=self._on_websocket_message, max_size=max_payload, max_backlog=max_backlog
        )
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._idle: set[asyncio.StreamWriter] = set()  # waiting for their next request
        self._owners: dict[ScratchConnection, EngineSession] = {}
        self._stopping = False

    def __repr__(self) -> str:
        return f"EngineIOServer({self.path!r}, {len(self.sessions)} sessions)"

    def _note(self, line: str) -> None:
        self.log.append(line)
        log.debug(line)

    # -- sessions ----------------------------------------------------------------------

    def _open(
        self,
        transport: Literal["polling", "websocket"],
        query: dict[str, str],
        headers: dict[str, str],
        peer: str,
    ) -> tuple[EngineSession, EnginePacket]:
        sid = new_id()
        session = EngineSession(self, sid, transport, query, headers, peer)
        self.sessions[sid] = session
        upgrades = (
            ["websocket"] if transport == "polling" and "websocket" in self.transports else []
        )
        opening = OpenPacket(
            sid=sid,
            upgrades=upgrades,
            ping_interval=round(self.ping_interval * 1000),
            ping_timeout=round(self.ping_timeout * 1000),
            max_payload=self.max_payload,
        ).to_packet()
        session._schedule_ping()
        self._note(f"{peer} opened session {sid} over {transport}")
        return session, opening

    def _opened(self, session: EngineSession) -> None:
        if self.on_open is not None:
            self._call(self.on_open, session)

    def _deliver(self, session: EngineSession, data: str | bytes) -> None:
        if self.on_message is None:
            session.send(data)  # the echo server of the official suite
        else:
            self._call(self.on_message, session, data)

    def _crossed_close(self, sid: str) -> None:
        self._closed_by_client[sid] = time.monotonic() + CROSSED_POLL_GRACE

    def _crossed_poll(self, sid: str) -> bool:
        """True (once) for a GET that crossed its client's CLOSE on the way in.

        A client that closes over polling sends its last GET and the CLOSE POST at once
        (the official suite does, on two connections). Whichever the server reads first,
        the GET is answered as if it had been held: NOOP (``6``). A later GET for that sid
        is refused as unknown, as always.
        """
        now = time.monotonic()
        for old in [k for k, until in self._closed_by_client.items() if until < now]:
            del self._closed_by_client[old]
        return self._closed_by_client.pop(sid, None) is not None

    def _forget(self, session: EngineSession, reason: str) -> None:
        self.sessions.pop(session.sid, None)
        self._note(f"session {session.sid} closed: {reason}")
        if self.on_close is not None:
            self._call(self.on_close, session, reason)

    def _call(self, callback: Callable[..., object], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:  # the app's bug must not end the connection or the server
            log.exception("engine.io server: %r raised", callback)

    # -- the AppAdapter protocol (kit.serve) -------------------------------------------

    async def start(self, sock: socket.socket) -> None:
        """Serve on ``sock`` (called by ``kit.serve``)."""
        if self._server is not None:
            raise ServeError(
                f"this {type(self).__name__} is already being served; make one per kit.serve(...)"
            )
        self._stopping = False
        self._server = await asyncio.start_server(connection_handler(self._serve_client), sock=sock)

    async def stop(self) -> None:
        """Close every session (held polls get CLOSE, WebSockets 1001) and stop listening."""
        if self._server is None:
            return
        server, self._server = self._server, None
        self._stopping = True
        server.close()
        for session in list(self.sessions.values()):
            session._close("server shutting down", code=CloseCode.GOING_AWAY)
        for writer in list(self._idle):
            writer.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
        # Held polls answer on their next turn, WebSockets when their client answers.
        for _ in range(200):
            if not self._writers:
                break
            await asyncio.sleep(0.005)

    def abort(self) -> int:
        """Drop every connection now, without goodbye (the kit's last resort on stop)."""
        writers = list(self._writers)
        for writer in writers:
            writer.transport.abort()
        return len(writers)

    # -- HTTP --------------------------------------------------------------------------

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer_address = writer.get_extra_info("peername") or ("?", 0)
        peer = f"{peer_address[0]}:{peer_address[1]}"
        http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self._writers.add(writer)
        try:
            while not self._stopping:
                self._idle.add(writer)
                try:
                    event = await _next_event(http, reader, IDLE_TIMEOUT)
                finally:
                    self._idle.discard(writer)
                if not isinstance(event, h11.Request):
                    return  # the client closed, or sent nothing in time
                if _is_upgrade(event):
                    await self._upgrade(reader, writer, http, event, peer)
                    return
                if not await self._http_request(reader, writer, http, event, peer):
                    return
                if http.our_state is not h11.DONE or http.their_state is not h11.DONE:
                    return
                http.start_next_cycle()
        except h11.RemoteProtocolError as error:
            self._note(f"{peer} sent bad HTTP: {error}")
            with contextlib.suppress(h11.LocalProtocolError):
                if http.our_state is h11.SEND_RESPONSE:
                    body = f"bad HTTP request: {error}\n".encode()
                    writer.write(_raw_response(400, body))
        except (ConnectionError, TimeoutError, asyncio.TimeoutError):
            pass
        except Exception:  # a bug here must not take the server down
            log.exception("engine.io server: connection from %s crashed", peer)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), self.websocket.close_timeout)
            writer.transport.abort()
            self._writers.discard(writer)

    def _respond(
        self,
        writer: asyncio.StreamWriter,
        http: h11.Connection,
        request: h11.Request,
        status: int,
        body: str,
        *,
        content_type: str = "text/plain; charset=UTF-8",
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        data = body.encode()
        headers = [] if status == 204 else [("Content-Type", content_type)]
        headers += [
            ("Content-Length", str(len(data))),
            *self._cors_headers(request),
            *(extra or []),
        ]
        if self._stopping or status == 413:
            headers.append(("Connection", "close"))
        out = http.send(h11.Response(status_code=status, headers=headers))
        out += http.send(h11.Data(data=data)) if data else b""
        out += http.send(h11.EndOfMessage())
        writer.write(out)

    def _refuse(
        self,
        writer: asyncio.StreamWriter,
        http: h11.Connection,
        request: h11.Request,
        refusal: _Refusal,
        peer: str,
    ) -> None:
        self._note(f"{peer} refused: {refusal.status} {refusal.code.message}: {refusal.detail}")
        self._respond(
            writer, http, request, refusal.status, refusal.body(), content_type="application/json"
        )

    async def _http_request(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        http: h11.Connection,
        request: h11.Request,
        peer: str,
    ) -> bool:
        """Answer one plain HTTP request; False when the connection must end."""
        method = request.method.decode("latin-1")
        path, query = _split_target(request)
        if path != self.path and path + "/" != self.path:
            await _read_body(http, reader, self.max_payload)
            self._respond(
                writer, http, request, 404, f"not found: this server answers {self.path} only\n"
            )
            return True
        if method == "OPTIONS":  # a CORS preflight
            await _read_body(http, reader, self.max_payload)
            self._respond(writer, http, request, 204, "", extra=self._preflight_headers(request))
            return True
        length = _header(request, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_payload:
            self._note(f"{peer} refused: a body of {length} bytes, max_payload={self.max_payload}")
            self._respond(writer, http, request, 413, "payload too large\n")
            return False
        body = await _read_body(http, reader, self.max_payload)
        if body is None:  # a chunked body that grew past max_payload
            self._respond(writer, http, request, 413, "payload too large\n")
            return False
        try:
            self._check(request, query)
            sid = query.get("sid")
            if sid is None:
                if method != "GET":
                    raise _Refusal(
                        EngineErrorCode.BAD_HANDSHAKE_METHOD,
                        f"a handshake (no sid) is a GET, not {method}",
                    )
                if query["transport"] != "polling":
                    raise _Refusal(
                        EngineErrorCode.BAD_REQUEST,
                        "transport=websocket needs a WebSocket upgrade request",
                    )
                session, opening = self._open("polling", query, _headers(request), peer)
                self._respond(writer, http, request, 200, encode_payload([opening]))
                self._opened(session)
                return True
            if method == "GET" and self._crossed_poll(query["sid"]):
                self._respond(writer, http, request, 200, "6")
                return True
            session = self._session(query)
            if method == "GET":
                return await self._poll(reader, writer, http, request, session)
            if method == "POST":
                self._post(writer, http, request, session, body)
                return True
            raise _Refusal(EngineErrorCode.BAD_REQUEST, f"polling uses GET and POST, not {method}")
        except _Refusal as refusal:
            self._refuse(writer, http, request, refusal, peer)
            return True

    def _check(self, request: h11.Request, query: dict[str, str]) -> None:
        """The checks every engine.io request passes, in the reference server's order."""
        version = query.get("EIO")
        if version != "4":
            shown = "missing" if version is None else f"EIO={version!r}"
            raise _Refusal(
                EngineErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
                f"{shown}: this server speaks engine.io protocol v4 only (EIO=4)",
            )
        transport = query.get("transport")
        if transport not in self.transports:
            shown = "missing" if transport is None else f"transport={transport!r}"
            raise _Refusal(
                EngineErrorCode.UNKNOWN_TRANSPORT,
                f"{shown}: expected one of {', '.join(self.transports)}",
            )
        origin = _header(request, b"origin")
        if origin is not None and not self._origin_allowed(origin, _header(request, b"host")):
            raise _Refusal(
                EngineErrorCode.FORBIDDEN,
                f"origin {origin!r} is not allowed (cors_allowed_origins)",
                status=403,
            )

    def _session(self, query: dict[str, str]) -> EngineSession:
        sid = query["sid"]
        session = self.sessions.get(sid)
        if session is None:
            raise _Refusal(EngineErrorCode.UNKNOWN_SID, f"no open session has sid {sid!r}")
        return session

    async def _poll(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        http: h11.Connection,
        request: h11.Request,
        session: EngineSession,
    ) -> bool:
        """A GET: answer with what is queued, or hold it until there is something."""
        if session.transport != "polling":
            raise _Refusal(
                EngineErrorCode.BAD_REQUEST, f"session {session.sid} was upgraded to websocket"
            )
        if session._poll is not None and not session._poll.done():
            # Two polls at once: the reference server refuses the second and closes.
            session._close("transport error")
            raise _Refusal(EngineErrorCode.BAD_REQUEST, "a poll is already held for this session")
        if session._outbox:
            self._respond(writer, http, request, 200, session._take_payload())
            return True
        if session.upgrading:
            self._respond(writer, http, request, 200, "6")
            return True
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        session._poll = waiter
        try:
            payload = await _hold(waiter, reader, http)
        finally:
            session._poll = None
        if payload is None:  # the client went away while its poll was held
            session._close("transport close")
            return False
        self._respond(writer, http, request, 200, payload)
        return True

    def _post(
        self,
        writer: asyncio.StreamWriter,
        http: h11.Connection,
        request: h11.Request,
        session: EngineSession,
        body: bytes,
    ) -> None:
        """A POST: the client's packets, answered ``ok``."""
        if session.transport != "polling":
            raise _Refusal(
                EngineErrorCode.BAD_REQUEST, f"session {session.sid} was upgraded to websocket"
            )
        try:
            packets = decode_payload(body)
        except EngineIOError as error:
            session._close("parse error")
            raise _Refusal(EngineErrorCode.BAD_REQUEST, f"invalid payload: {error}") from None
        self._respond(writer, http, request, 200, "ok")
        for packet in packets:
            if session.closed:
                break
            session._on_packet(packet)

    # -- CORS --------------------------------------------------------------------------

    def _origin_allowed(self, origin: str, host: str | None) -> bool:
        allowed = self.cors_allowed_origins
        if allowed == "*":
            return True
        if allowed is None:  # same origin only
            return host is not None and urlsplit(origin).netloc == host
        return origin in allowed

    def _cors_headers(self, request: h11.Request) -> list[tuple[str, str]]:
        origin = _header(request, b"origin")
        if self.cors_allowed_origins == "*":
            return [("Access-Control-Allow-Origin", "*")]
        if origin is None or not self._origin_allowed(origin, _header(request, b"host")):
            return []
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Vary", "Origin"),
        ]

    def _preflight_headers(self, request: h11.Request) -> list[tuple[str, str]]:
        headers = [("Access-Control-Allow-Methods", "GET, POST")]
        asked = _header(request, b"access-control-request-headers")
        if asked:
            headers.append(("Access-Control-Allow-Headers", asked))
        return headers

    # -- the WebSocket -----------------------------------------------------------------

    async def _upgrade(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        http: h11.Connection,
        request: h11.Request,
        peer: str,
    ) -> None:
        """A WebSocket request: a new session, or the probe of an upgrade."""
        path, query = _split_target(request)
        try:
            if path != self.path and path + "/" != self.path:
                raise _Refusal(EngineErrorCode.BAD_REQUEST, f"this server answers {self.path} only")
            self._check(request, query)
            if query["transport"] != "websocket":
                raise _Refusal(
                    EngineErrorCode.BAD_REQUEST, "a WebSocket upgrade needs transport=websocket"
                )
            session = self._session(query) if "sid" in query else None
        except _Refusal as refusal:
            self._note(f"{peer} refused: {refusal.status} {refusal.code.message}: {refusal.detail}")
            headers = [("Content-Type", "application/json"), *self._cors_headers(request)]
            writer.write(_raw_response(refusal.status, refusal.body().encode(), headers))
            return
        upgrade = UpgradeRequest.from_h11(request)
        try:
            check_request(upgrade)
        except HandshakeError as error:
            self._note(f"{peer} refused: {error.status} {type(error).__name__}: {error}")
            writer.write(error_response(error))
            return
        writer.write(UpgradeResponse.for_request(upgrade).serialize())
        connection = ScratchConnection(self.websocket, reader, writer, upgrade, None)
        if session is None:
            session, opening = self._open("websocket", query, _headers(request), peer)
            session._websocket = connection
            connection.send_frame(_frame_of(opening))
            self._opened(session)
        elif session.transport != "polling" or session.upgrading or session._probe is not None:
            self._note(f"{peer}: session {session.sid} is already upgraded(ing): closed")
            connection.start_close(CloseCode.NORMAL_CLOSURE)
            session = None
        else:
            session._start_probe(connection)
        if session is not None:
            self._owners[connection] = session
        try:
            await connection.run(http.trailing_data[0])
        finally:
            if session is not None:
                self._owners.pop(connection, None)
                session._transport_gone(connection)

    async def _on_websocket_message(
        self, connection: ScratchConnection, message: str | bytes
    ) -> None:
        session = self._owners.get(connection)
        if session is not None and not session.closed:
            session._on_websocket_message(connection, message)


# -- HTTP helpers ------------------------------------------------------------------------


async def _next_event(http: h11.Connection, reader: asyncio.StreamReader, timeout: float) -> Any:
    """The next h11 event, reading as needed; ConnectionClosed on EOF."""
    while True:
        event = http.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await asyncio.wait_for(reader.read(READ_SIZE), timeout)
        http.receive_data(data)  # b"": the client closed


async def _read_body(
    http: h11.Connection, reader: asyncio.StreamReader, limit: int
) -> bytes | None:
    """The request's body, or None once it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await _next_event(http, reader, IDLE_TIMEOUT)
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > limit:
                return None
            chunks.append(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        else:
            raise ConnectionResetError("the client closed in the middle of its request")


async def _hold(
    waiter: asyncio.Future[str], reader: asyncio.StreamReader, http: h11.Connection
) -> str | None:
    """Wait for ``waiter``; None if the client closes its connection meanwhile."""
    while True:
        reading = asyncio.ensure_future(reader.read(READ_SIZE))
        either: set[asyncio.Future[Any]] = {waiter, reading}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not reading.done():
                reading.cancel()
                # Let it finish: the stream allows one reader at a time.
                with contextlib.suppress(asyncio.CancelledError):
                    await reading
        if waiter.done():
            if reading.done() and not reading.cancelled() and reading.exception() is None:
                http.receive_data(reading.result())  # a pipelined request, kept for later
            return waiter.result()
        if reading.exception() is not None or not reading.result():
            return None
        http.receive_data(reading.result())


def _is_upgrade(request: h11.Request) -> bool:
    upgrade = _header(request, b"upgrade") or ""
    return "websocket" in upgrade.lower()


def _header(request: h11.Request, name: bytes) -> str | None:
    for key, value in request.headers:
        if key == name:
            return value.decode("latin-1")
    return None


def _headers(request: h11.Request) -> dict[str, str]:
    return {key.decode("latin-1"): value.decode("latin-1") for key, value in request.headers}


def _split_target(request: h11.Request) -> tuple[str, dict[str, str]]:
    target = urlsplit(request.target.decode("latin-1"))
    return target.path, dict(parse_qsl(target.query, keep_blank_values=True))


def _raw_response(status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> bytes:
    """A complete response that ends the connection (outside h11's bookkeeping)."""
    import http as _http

    head = [f"HTTP/1.1 {status} {_http.HTTPStatus(status).phrase}"]
    fields = headers or [("Content-Type", "text/plain; charset=UTF-8")]
    fields = [*fields, ("Content-Length", str(len(body))), ("Connection", "close")]
    head += [f"{name}: {value}" for name, value in fields]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
