"""The tap's decoder: one TCP connection, every layer, from bytes alone.

A wire tap relays bytes between a client and a server; this is what makes sense of them.
Like websockets' ``Protocol`` and h11's ``Connection``, it does no I/O: feed it the bytes
that went one way, and it returns what they were, layer by layer, as :class:`Record`
rows::

    >>> decoder = ConnectionDecoder()
    >>> [r.summary for r in decoder.feed(Direction.CLIENT_TO_SERVER,
    ...     b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")]
    ['GET /socket.io/?EIO=4&transport=polling']

What it follows, as the stages of :class:`Stage`:

- ``HTTP``: requests and responses, each parsed by h11 (one parser per direction, kept
  in step), their bodies decoded as engine.io payloads when the URL says ``EIO=``, and
  a ``text/event-stream`` response's server-sent events one row each as they arrive
  (:mod:`~kit.wire.eventstream`; such a body is never kept whole);
- ``WEBSOCKET``: after a ``101``, frames (:class:`~kit.wire.frames.FrameReader`), whole
  messages (:class:`~kit.wire.messages.MessageAssembler`, inflated when permessage-deflate
  was negotiated, within ``max_message`` bytes), engine.io packets in them, socket.io
  packets in those, and binary attachments counted
  (:class:`~kit.wire.socketio.AttachmentCollector`);
- ``OPAQUE``: the bytes broke a rule the decoder cannot step over (not HTTP, a frame
  that cannot be delimited); one row says why, and later bytes are not decoded (the tap
  still relays them).

Decoding never raises: a problem inside one message is a row of its own (``invalid ...``)
and decoding goes on with the next.

:class:`RespConnectionDecoder` does the same for a connection to Redis: every command and
reply (RESP, :mod:`kit.wire.resp`) is one row at the ``redis`` layer, so a tap in front of
Redis shows what chat servers publish (``PUBLISH wire-to-room '{"method":"emit",...}'``)
and what Redis pushes to subscribers (``message wire-to-room '{...}'``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import h11

from kit.wire.deflate import DeflateParams
from kit.wire.engineio import EnginePacket, EnginePacketType, decode_payload
from kit.wire.errors import ProtocolError
from kit.wire.eventstream import EVENT_STREAM, EventStreamParser
from kit.wire.frames import Frame, FrameReader, Opcode
from kit.wire.messages import DEFAULT_MAX_FRAGMENTS, MessageAssembler
from kit.wire.resp import RespReader
from kit.wire.socketio import AttachmentCollector, SocketPacket

__all__ = [
    "DEFAULT_MAX_MESSAGE",
    "ConnectionDecoder",
    "Decoder",
    "Direction",
    "Layer",
    "Record",
    "RespConnectionDecoder",
    "Stage",
]

DEFAULT_MAX_MESSAGE = 2**20
"""The largest message (or HTTP body) decoded, in bytes, inflated; larger ones are noted."""


class Direction(enum.Enum):
    """Which way the bytes went."""

    CLIENT_TO_SERVER = "client->server"
    """From the client to the server (requests, client frames)."""
    SERVER_TO_CLIENT = "server->client"
    """From the server to the client (responses, server frames)."""

    @property
    def arrow(self) -> str:
        """``->`` for client to server, ``<-`` for server to client."""
        return "->" if self is Direction.CLIENT_TO_SERVER else "<-"


class Layer(enum.Enum):
    """The protocol layer a record belongs to, lowest first."""

    TCP = "tcp"
    """A TCP connection opening or closing."""
    HTTP = "http"
    """An HTTP request or response head (polling, the WebSocket upgrade)."""
    WEBSOCKET = "websocket"
    """A WebSocket frame."""
    ENGINEIO = "engine.io"
    """An engine.io packet (open, close, ping, pong, message, upgrade, noop)."""
    SOCKETIO = "socket.io"
    """A socket.io packet (connect, disconnect, event, ack, connect_error, binary...)."""
    REDIS = "redis"
    """A Redis command or reply (RESP), on a connection to Redis."""


class Stage(enum.Enum):
    """What a connection's bytes are understood as, now."""

    HTTP = "http"
    """HTTP/1.1 requests and responses (long-polling, or the upgrade request)."""
    WEBSOCKET = "websocket"
    """WebSocket frames, after a ``101 Switching Protocols``."""
    OPAQUE = "opaque"
    """Not understood any more: relayed, not decoded."""
    RESP = "resp"
    """Redis commands and replies (a :class:`RespConnectionDecoder`)."""


@dataclass(frozen=True)
class Record:
    """One thing seen at one layer: ``TEXT '2probe' [6 bytes, masked]`` at WEBSOCKET.

    ``raw`` holds the bytes it stands for (a frame as sent, a packet's text, a request
    head), ``decoded`` the decoded object (an h11 event, a Frame, an EnginePacket...).
    """

    direction: Direction
    transport: str
    layer: Layer
    summary: str
    raw: bytes = b""
    decoded: object = field(default=None, compare=False, repr=False)


C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT


def _raw(data: str | bytes) -> bytes:
    return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)


@dataclass
class _Side:
    """What the decoder keeps for one direction."""

    http: h11.Connection
    head: bytearray = field(default_factory=bytearray)
    body: bytearray = field(default_factory=bytearray)
    body_too_big: bool = False
    frames: FrameReader | None = None
    messages: MessageAssembler | None = None
    attachments: AttachmentCollector = field(default_factory=AttachmentCollector)
    events: EventStreamParser | None = None  # while a text/event-stream response runs


class ConnectionDecoder:
    """Decodes one TCP connection between a client and a server, both ways.

    Args:
        max_message: the largest WebSocket message (after inflating) or HTTP body that
            is decoded; a larger one gets a row saying so (1009 for a message), and
            decoding goes on after it.
    """

    def __init__(self, *, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self.max_message = max_message
        self.stage = Stage.HTTP
        self.transport = "tcp"
        """``"polling"``, ``"websocket"``, ``"http"`` or ``"tcp"`` (not known yet)."""
        self.engine_version = 4
        self._socketio = False
        self._engineio = False
        self._request: h11.Request | None = None
        self._sides = {
            C2S: _Side(h11.Connection(h11.SERVER)),  # parses what the client sends
            S2C: _Side(h11.Connection(h11.CLIENT)),  # parses what the server sends
        }
        self._out: list[Record] = []

    # -- the public surface ---------------------------------------------------------

    def feed(self, direction: Direction, data: bytes) -> list[Record]:
        """Decode ``data``, sent ``direction``; return the records it completes."""
        self._out = []
        try:
            if self.stage is Stage.HTTP:
                self._feed_http(direction, data)
            elif self.stage is Stage.WEBSOCKET:
                self._feed_websocket(direction, data)
        except Exception as exc:  # a bug here must never break the relay that feeds us
            self._give_up(direction, f"{type(exc).__name__}: {exc}", data)
        return self._out

    def at_frame_boundary(self, direction: Direction) -> bool:
        """True when the connection speaks WebSocket and the bytes seen in ``direction``
        end exactly where a frame ends: a frame may be slipped in there (a relay that
        stops says goodbye with a CLOSE frame of its own)."""
        frames = self._sides[direction].frames
        return self.stage is Stage.WEBSOCKET and frames is not None and frames.buffered == 0

    def note(self, direction: Direction, summary: str) -> Record:
        """A TCP-level row for this connection (connected, closed, lost)."""
        return Record(direction, self.transport, Layer.TCP, summary)

    # -- recording --------------------------------------------------------------------

    def _record(
        self, direction: Direction, layer: Layer, summary: str, raw: bytes, decoded: object
    ) -> None:
        self._out.append(Record(direction, self.transport, layer, summary, raw, decoded))

    def _give_up(self, direction: Direction, why: str, data: bytes) -> None:
        self.stage = Stage.OPAQUE
        self._record(direction, Layer.TCP, f"not decoded any more: {why}", data, None)

    # -- HTTP -----------------------------------------------------------------------------

    def _feed_http(self, direction: Direction, data: bytes) -> None:
        side = self._sides[direction]
        side.head += data
        side.http.receive_data(data)
        progress = True
        while progress and self.stage is Stage.HTTP:
            progress = self._next_http(C2S) or self._next_http(S2C)
            client, server = self._sides[C2S].http, self._sides[S2C].http
            if client.our_state is h11.DONE and client.their_state is h11.DONE:
                client.start_next_cycle()
                server.start_next_cycle()
                progress = True

    def _next_http(self, direction: Direction) -> bool:
        side, other = self._sides[direction], self._sides[_other(direction)]
        try:
            event = side.http.next_event()
        except h11.RemoteProtocolError as exc:
            self._give_up(direction, f"not HTTP/1.1 ({exc})", bytes(side.head))
            return False
        if event is h11.NEED_DATA or event is h11.PAUSED or not isinstance(event, h11.Event):
            return False
        if isinstance(event, h11.ConnectionClosed):
            return False
        other.http.send(event)  # keep the other parser's idea of the exchange in step
        # What h11 has consumed for this event: the head's exact bytes, or body bytes
        # (with their chunk framing) that are dropped here, never kept.
        consumed = len(side.head) - len(side.http.trailing_data[0])
        raw = bytes(side.head[:consumed])
        del side.head[:consumed]
        if isinstance(event, h11.Request):
            self._on_request(event, raw)
        elif isinstance(event, h11.InformationalResponse | h11.Response):
            self._on_response(event, raw)
        elif isinstance(event, h11.Data):
            if direction is S2C and side.events is not None:
                self._on_event_stream(side.events, event.data)
            elif len(side.body) + len(event.data) > self.max_message:
                side.body_too_big = True
            else:
                side.body += event.data
        elif isinstance(event, h11.EndOfMessage):
            self._on_body(direction)
        return True

    def _on_request(self, request: h11.Request, raw: bytes) -> None:
        self._request = request
        target = request.target.decode("latin-1")
        url = urlsplit(target)
        query = parse_qs(url.query)
        if "EIO" in query and query["EIO"][0].isdigit():
            self.engine_version = int(query["EIO"][0])
        self._engineio = "EIO" in query
        self._socketio = url.path.startswith("/socket.io")
        upgrade = any(k == b"upgrade" and b"websocket" in v.lower() for k, v in request.headers)
        self.transport = query.get("transport", ["websocket" if upgrade else "http"])[0]
        method = request.method.decode("latin-1")
        self._record(C2S, Layer.HTTP, f"{method} {target}", raw, request)

    def _on_response(self, response: h11.InformationalResponse | h11.Response, raw: bytes) -> None:
        reason = response.reason.decode("latin-1")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in response.headers}
        summary = f"{response.status_code} {reason}"
        if "content-type" in headers:
            summary += f" ({headers['content-type']})"
        self._record(S2C, Layer.HTTP, summary, raw, response)
        if response.status_code == 101:
            self._to_websocket(headers.get("sec-websocket-extensions", ""))
        elif media_type(headers.get("content-type", "")) == EVENT_STREAM:
            self._sides[S2C].events = EventStreamParser()  # until this response ends

    def _on_event_stream(self, parser: EventStreamParser, data: bytes) -> None:
        # A response that never ends: each server-sent event is a row as it arrives.
        for event in parser.feed(data):
            shown = repr(event.data[:40]) + ("..." if len(event.data) > 40 else "")
            kind = "" if event.event == "message" else f" {event.event!r}"
            at = f" id={event.id}" if event.id else ""
            summary = f"event{kind}{at} {shown}"
            self._record(S2C, Layer.HTTP, summary, event.serialize(), event)

    def _on_body(self, direction: Direction) -> None:
        side = self._sides[direction]
        side.events = None
        body, too_big = bytes(side.body), side.body_too_big
        side.body.clear()
        side.body_too_big = False
        request = self._request
        if too_big:
            summary = f"body over {self.max_message} bytes: not decoded"
            self._record(direction, Layer.HTTP, summary, b"", None)
            return
        if not body or request is None:
            return
        if direction is S2C and request.method == b"POST":
            # The answer to a polling POST: "ok" in the spec (python-engineio says "OK").
            self._record(direction, Layer.HTTP, f"body {body!r}", body, body)
            return
        if not self._engineio:
            self._record(direction, Layer.HTTP, f"body [{len(body)} bytes]", body, body)
            return
        try:
            # Bytes as they came: decode_payload tells v3's binary bodies from text itself.
            packets = decode_payload(body, version=self.engine_version)
        except ProtocolError as exc:
            self._record(direction, Layer.HTTP, f"body not engine.io: {exc}", body, body)
            return
        summary = f"body [{len(body)} bytes, {len(packets)} packets]"
        self._record(direction, Layer.HTTP, summary, body, body)
        for packet in packets:
            self._on_engine_packet(direction, packet)

    # -- WebSocket ------------------------------------------------------------------------

    def _to_websocket(self, extensions: str) -> None:
        self.stage, self.transport = Stage.WEBSOCKET, "websocket"
        deflate = DeflateParams.parse(extensions)
        for direction, sender in ((C2S, "client"), (S2C, "server")):
            side = self._sides[direction]
            side.frames = FrameReader(allow_rsv=deflate is not None)
            inflater = deflate.inflater(sender, max_size=self.max_message) if deflate else None
            side.messages = MessageAssembler(
                max_size=self.max_message,
                inflater=inflater,
                max_fragments=DEFAULT_MAX_FRAGMENTS,
            )
        # Bytes that came right after the heads are already frames.
        for direction in (C2S, S2C):
            side = self._sides[direction]
            trailing, _ = side.http.trailing_data
            side.head.clear()
            if trailing:
                self._feed_websocket(direction, bytes(trailing))

    def _feed_websocket(self, direction: Direction, data: bytes) -> None:
        side = self._sides[direction]
        assert side.frames is not None and side.messages is not None
        side.frames.feed(data)
        while True:
            try:
                frame = side.frames.next_frame()
            except ProtocolError as exc:  # the stream cannot be split into frames any more
                self._give_up(direction, str(exc), b"")
                return
            if frame is None:
                return
            raw = frame.serialize(mask=frame.mask, validate=False)
            self._record(direction, Layer.WEBSOCKET, str(frame), raw, frame)
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                self._on_data_frame(direction, frame, side.messages)

    def _on_data_frame(
        self, direction: Direction, frame: Frame, messages: MessageAssembler
    ) -> None:
        try:
            message = messages.add(frame)
        except ProtocolError as exc:  # this message is broken; the next one may not be
            messages.reset()
            self._record(direction, Layer.WEBSOCKET, f"invalid message: {exc}", b"", exc)
            return
        if message is None:
            return
        if message.compressed is not None:
            size = len(_raw(message.data))
            shown = repr(message.data[:40]) + ("..." if size > 40 else "")
            summary = f"inflated {shown} [{size} bytes from {message.compressed}]"
            self._record(direction, Layer.WEBSOCKET, summary, _raw(message.data), message)
        if self._engineio:
            self._on_engine_data(direction, message.data)

    # -- engine.io and socket.io ----------------------------------------------------------

    def _on_engine_data(self, direction: Direction, data: str | bytes) -> None:
        try:
            packet = EnginePacket.parse(data, version=self.engine_version)
        except ProtocolError as exc:
            self._record(direction, Layer.ENGINEIO, f"not engine.io: {exc}", _raw(data), None)
            return
        self._on_engine_packet(direction, packet)

    def _on_engine_packet(self, direction: Direction, packet: EnginePacket) -> None:
        wire = packet.serialize(version=self.engine_version)
        self._record(direction, Layer.ENGINEIO, str(packet), _raw(wire), packet)
        if not self._socketio or packet.type != EnginePacketType.MESSAGE:
            return
        attachments = self._sides[direction].attachments
        if isinstance(packet.data, bytes):
            if attachments.expected:
                try:
                    index, total, _ = attachments.add(packet.data)
                except ProtocolError as exc:  # placeholders that name no attachment
                    self._record(direction, Layer.SOCKETIO, f"invalid: {exc}", packet.data, None)
                    return
                summary = f"attachment {index}/{total} [{len(packet.data)} bytes]"
                self._record(direction, Layer.SOCKETIO, summary, packet.data, packet.data)
            return
        try:
            message = SocketPacket.parse(packet.data)
        except ProtocolError as exc:
            summary = f"invalid: {exc}"
            self._record(direction, Layer.SOCKETIO, summary, _raw(packet.data), None)
            return
        attachments.expect(message)
        self._record(direction, Layer.SOCKETIO, str(message), _raw(packet.data), message)


def media_type(content_type: str) -> str:
    """``text/event-stream`` from ``Text/Event-Stream; charset=utf-8``."""
    return content_type.split(";", 1)[0].strip().lower()


def _other(direction: Direction) -> Direction:
    return S2C if direction is C2S else C2S


class Decoder(Protocol):
    """What the tap's relay needs from a decoder: bytes in, rows out, and notes."""

    def feed(self, direction: Direction, data: bytes) -> list[Record]: ...

    def note(self, direction: Direction, summary: str) -> Record: ...


class RespConnectionDecoder:
    """Decodes one TCP connection between a Redis client and Redis, both ways.

    Each whole RESP value is one row at :attr:`Layer.REDIS`, its ``decoded`` a
    :class:`~kit.wire.resp.RespValue` and its ``raw`` the value's bytes. Bytes that break
    RESP get one row saying why (``not decoded any more``), and later bytes are relayed
    undecoded: a RESP stream cannot be resynchronised. Never raises.
    """

    def __init__(self) -> None:
        self.stage = Stage.RESP
        self.transport = "redis"
        self._readers = {C2S: RespReader(client=True), S2C: RespReader()}

    def feed(self, direction: Direction, data: bytes) -> list[Record]:
        """Decode ``data``, sent ``direction``; return the rows of the values it completes."""
        if self.stage is Stage.OPAQUE:
            return []
        reader = self._readers[direction]
        out: list[Record] = []
        try:
            reader.feed(data)
            while (value := reader.next_value()) is not None:
                out.append(
                    Record(
                        direction, self.transport, Layer.REDIS, str(value), reader.last_raw, value
                    )
                )
        except Exception as exc:  # ProtocolError, or a bug: never break the relay
            self.stage = Stage.OPAQUE
            why = str(exc) if isinstance(exc, ProtocolError) else f"{type(exc).__name__}: {exc}"
            out.append(Record(direction, self.transport, Layer.TCP, f"not decoded any more: {why}"))
        return out

    def note(self, direction: Direction, summary: str) -> Record:
        """A TCP-level row for this connection (connected, closed, lost)."""
        return Record(direction, self.transport, Layer.TCP, summary)
