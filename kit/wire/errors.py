"""Every way bytes can break a kit.wire rule, as one tree of exceptions.

Each error carries the remedy as data, as wsproto and h11 do: a WebSocket frame error
holds the close code the peer should send (``exc.close_code == 1002``), a handshake
error holds the HTTP status the server should answer with (``exc.status == 426``) and
the header at fault. ``str(exc)`` says what was wrong, where, and what to do.

* :exc:`ProtocolError`: base of every decoding failure in kit.wire
    * :exc:`WebSocketProtocolError`: a frame or message broke RFC 6455 (``close_code``)
        * :exc:`InvalidOpcode`: opcode 3-7 or 11-15 (1002)
        * :exc:`ReservedBitsSet`: RSV1-3 set without an extension (1002)
        * :exc:`MaskingError`: masked when it must not be, or the reverse (1002)
        * :exc:`InvalidLength`: length not in its shortest form, or over 2**63 (1002)
        * :exc:`ControlFrameTooLong`: CLOSE/PING/PONG payload over 125 bytes (1002)
        * :exc:`FragmentedControlFrame`: CLOSE/PING/PONG with FIN = 0 (1002)
        * :exc:`TruncatedFrame`: fewer bytes than the header announced (1002)
        * :exc:`TrailingData`: bytes left over after one frame (1002)
        * :exc:`InvalidClosePayload`: a close payload of exactly 1 byte (1002)
        * :exc:`InvalidCloseCode`: a close code that may not be sent (1002)
        * :exc:`CloseReasonTooLong`: a close reason over 123 bytes (1002)
        * :exc:`UnexpectedContinuation`: CONT with no message open (1002)
        * :exc:`UnfinishedMessage`: TEXT/BINARY while a message is open (1002)
        * :exc:`InvalidUTF8`: text that is not UTF-8 (1007)
        * :exc:`MessageTooBig`: a message over ``max_size`` (1009)
    * :exc:`HandshakeError`: the HTTP upgrade broke a rule (``status``, ``header``, ``value``)
        * :exc:`MalformedHTTP`: not parseable as HTTP/1.1 (400)
        * :exc:`HeadTooLarge`: the head exceeds ``max_head_size`` (431)
        * :exc:`IncompleteHead`: the connection ended inside the head (400)
        * :exc:`InvalidMethod`: not GET (400)
        * :exc:`InvalidHTTPVersion`: older than HTTP/1.1 (400)
        * :exc:`InvalidUpgrade`: ``Upgrade`` lacks ``websocket`` (400)
        * :exc:`InvalidConnection`: ``Connection`` lacks ``Upgrade`` (400)
        * :exc:`InvalidKey`: ``Sec-WebSocket-Key`` is not base64 of 16 bytes (400)
        * :exc:`InvalidVersion`: ``Sec-WebSocket-Version`` is not 13 (426)
        * :exc:`ForbiddenOrigin`: ``Origin`` not in the allow-list (403)
        * :exc:`InvalidStatus`: the server answered something other than 101 (client side)
        * :exc:`InvalidAccept`: ``Sec-WebSocket-Accept`` does not match the key (client side)
        * :exc:`UnexpectedProtocol`: the server chose a subprotocol not offered (client side)
    * :exc:`EngineIOError`: an engine.io packet or payload broke the protocol (``index``)
        * :exc:`EmptyPacket`: a packet without even a type digit
        * :exc:`UnknownPacketType`: a type that is not a digit 0-6 (nor ``b``)
        * :exc:`InvalidBase64`: ``b`` + data that is not padded base64
        * :exc:`InvalidPayload`: a polling body that does not split into packets
        * :exc:`InvalidOpenPacket`: OPEN data that is not the handshake JSON object
        * :exc:`UnsupportedEngineVersion`: an ``EIO`` version other than 4 or 3
    * :exc:`SocketIOError`: a socket.io packet broke the protocol (``packet``)
        * :exc:`UnknownSocketPacketType`: a type that is not a digit 0-6
        * :exc:`InvalidAttachments`: a missing, malformed or misplaced ``N-`` count
        * :exc:`InvalidAckId`: an ack id where none belongs, or none on an ACK
        * :exc:`InvalidJSON`: data that is not exactly one JSON value
        * :exc:`InvalidSocketPayload`: JSON of the wrong shape for the packet type
            * :exc:`ReservedEventName`: an EVENT named ``connect``, ``disconnect``...
        * :exc:`InvalidPlaceholder`: a binary placeholder naming no attachment

Engine.io and socket.io errors say where (packet index, offset, the packet text) and
show what a valid packet looks like.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CloseReasonTooLong",
    "ControlFrameTooLong",
    "EmptyPacket",
    "EngineIOError",
    "ForbiddenOrigin",
    "FragmentedControlFrame",
    "HandshakeError",
    "HeadTooLarge",
    "IncompleteHead",
    "InvalidAccept",
    "InvalidAckId",
    "InvalidAttachments",
    "InvalidBase64",
    "InvalidCloseCode",
    "InvalidClosePayload",
    "InvalidConnection",
    "InvalidHTTPVersion",
    "InvalidJSON",
    "InvalidKey",
    "InvalidLength",
    "InvalidMethod",
    "InvalidOpcode",
    "InvalidOpenPacket",
    "InvalidPayload",
    "InvalidPlaceholder",
    "InvalidSocketPayload",
    "InvalidStatus",
    "InvalidUTF8",
    "InvalidUpgrade",
    "InvalidVersion",
    "MalformedHTTP",
    "MaskingError",
    "MessageTooBig",
    "ProtocolError",
    "ReservedBitsSet",
    "ReservedEventName",
    "SocketIOError",
    "TrailingData",
    "TruncatedFrame",
    "UnexpectedContinuation",
    "UnexpectedProtocol",
    "UnfinishedMessage",
    "UnknownPacketType",
    "UnknownSocketPacketType",
    "UnsupportedEngineVersion",
    "WebSocketProtocolError",
]

# Close codes as plain ints: errors sit below frames.py, which defines CloseCode.
_PROTOCOL_ERROR = 1002
_INVALID_DATA = 1007
_MESSAGE_TOO_BIG = 1009


def _opcode_name(opcode: int) -> str:
    names = {0: "CONT", 1: "TEXT", 2: "BINARY", 8: "CLOSE", 9: "PING", 10: "PONG"}
    return names.get(opcode, f"opcode {opcode}")


class ProtocolError(Exception):
    """Bytes that break a protocol rule; base of every decoding failure in kit.wire."""


# WebSocket frames and messages (RFC 6455 section 5) --------------------------------


class WebSocketProtocolError(ProtocolError):
    """A WebSocket frame or message broke RFC 6455.

    ``close_code`` is the close code to send before closing, e.g. 1002 (protocol
    error), 1007 (invalid payload data) or 1009 (message too big).
    """

    close_code: ClassVar[int] = _PROTOCOL_ERROR


class InvalidOpcode(WebSocketProtocolError):
    """The low 4 bits of the first byte are not a defined opcode, e.g. ``0x83`` -> 3."""

    def __init__(self, opcode: int) -> None:
        super().__init__(opcode)
        self.opcode = opcode

    def __str__(self) -> str:
        return (
            f"invalid opcode {self.opcode:#x} in the first byte of a frame: only "
            "0x0-0x2 (data) and 0x8-0xa (control) are defined (RFC 6455 section 5.2); "
            "close with 1002"
        )


class ReservedBitsSet(WebSocketProtocolError):
    """RSV1, RSV2 or RSV3 is 1 but no extension that defines it was negotiated."""

    def __init__(self, rsv1: bool, rsv2: bool, rsv3: bool) -> None:
        super().__init__(rsv1, rsv2, rsv3)
        self.rsv1, self.rsv2, self.rsv3 = rsv1, rsv2, rsv3

    def __str__(self) -> str:
        flags = {"RSV1": self.rsv1, "RSV2": self.rsv2, "RSV3": self.rsv3}
        bits = [name for name, on in flags.items() if on]
        return (
            f"reserved bit {', '.join(bits)} set in the first byte of a frame, but no "
            "extension was negotiated to give it a meaning (RFC 6455 section 5.2); "
            "close with 1002"
        )


class MaskingError(WebSocketProtocolError):
    """The MASK bit is wrong for the sender: clients must mask, servers must not."""

    def __init__(self, masked: bool) -> None:
        super().__init__(masked)
        self.masked = masked

    def __str__(self) -> str:
        if self.masked:
            return (
                "a frame from the server arrived masked: servers must not mask "
                "(RFC 6455 section 5.1); the client closes with 1002"
            )
        return (
            "a frame from the client arrived unmasked: clients must mask every frame "
            "(RFC 6455 section 5.1); the server closes with 1002"
        )


class InvalidLength(WebSocketProtocolError):
    """An extended payload length that is not minimal, or has its top bit set."""

    def __init__(self, length: int, field_bits: int) -> None:
        super().__init__(length, field_bits)
        self.length = length
        self.field_bits = field_bits

    def __str__(self) -> str:
        if self.length >= 2**63:
            what = "has its most significant bit set"
        else:
            what = "fits in a shorter length field: the minimal encoding is required"
        return (
            f"payload length {self.length} in a {self.field_bits}-bit length field {what} "
            "(RFC 6455 section 5.2); close with 1002"
        )


class ControlFrameTooLong(WebSocketProtocolError):
    """A CLOSE, PING or PONG frame carries more than 125 bytes."""

    def __init__(self, opcode: int, length: int) -> None:
        super().__init__(opcode, length)
        self.opcode = opcode
        self.length = length

    def __str__(self) -> str:
        return (
            f"{_opcode_name(self.opcode)} frame has a {self.length}-byte payload: control "
            "frames carry at most 125 bytes (RFC 6455 section 5.5); close with 1002"
        )


class FragmentedControlFrame(WebSocketProtocolError):
    """A CLOSE, PING or PONG frame has FIN = 0."""

    def __init__(self, opcode: int) -> None:
        super().__init__(opcode)
        self.opcode = opcode

    def __str__(self) -> str:
        return (
            f"{_opcode_name(self.opcode)} frame has FIN = 0: control frames must not be "
            "fragmented (RFC 6455 section 5.5); close with 1002"
        )


class TruncatedFrame(WebSocketProtocolError):
    """``Frame.parse`` got fewer bytes than the frame's header announces."""

    def __init__(self, needed: int, received: int) -> None:
        super().__init__(needed, received)
        self.needed = needed
        self.received = received

    def __str__(self) -> str:
        return (
            f"frame is truncated: it needs {self.needed} bytes but only {self.received} "
            "were given; to decode a stream that arrives in pieces, feed it to a FrameReader"
        )


class TrailingData(WebSocketProtocolError):
    """``Frame.parse`` got more bytes than one frame: the rest belongs to later frames."""

    def __init__(self, frame_size: int, extra: int) -> None:
        super().__init__(frame_size, extra)
        self.frame_size = frame_size
        self.extra = extra

    def __str__(self) -> str:
        return (
            f"{self.extra} bytes follow the first {self.frame_size}-byte frame: Frame.parse "
            "decodes exactly one frame; use a FrameReader to split a stream into frames"
        )


class InvalidClosePayload(WebSocketProtocolError):
    """A close payload of exactly 1 byte: too short for the 2-byte close code."""

    def __init__(self, payload: bytes) -> None:
        super().__init__(payload)
        self.payload = payload

    def __str__(self) -> str:
        return (
            f"close payload {self.payload.hex(' ')} is 1 byte long: it must be empty or "
            "start with a 2-byte close code (RFC 6455 section 5.5.1); close with 1002"
        )


class InvalidCloseCode(WebSocketProtocolError):
    """A close code that may not appear in a CLOSE frame, e.g. 1005 or 999."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code

    def __str__(self) -> str:
        if self.code in (1005, 1006, 1015):
            why = "it is reserved for reporting, never sent in a frame"
        else:
            why = "only 1000-1003, 1007-1014 and 3000-4999 may be sent"
        return (
            f"close code {self.code} is not allowed in a CLOSE frame: {why} "
            "(RFC 6455 section 7.4); close with 1002"
        )


class CloseReasonTooLong(WebSocketProtocolError):
    """A close reason longer than 123 bytes of UTF-8 (125 minus the 2-byte code)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size

    def __str__(self) -> str:
        return (
            f"close reason is {self.size} bytes of UTF-8: at most 123 fit in a CLOSE "
            "frame after the 2-byte code (RFC 6455 section 5.5); shorten the reason"
        )


class UnexpectedContinuation(WebSocketProtocolError):
    """A CONT frame arrived while no fragmented message was open."""

    def __str__(self) -> str:
        return (
            "CONT frame arrived but no fragmented message was started: a message starts "
            "with TEXT or BINARY (RFC 6455 section 5.4); close with 1002"
        )


class UnfinishedMessage(WebSocketProtocolError):
    """A TEXT or BINARY frame arrived before the open fragmented message ended."""

    def __init__(self, opcode: int, open_opcode: int) -> None:
        super().__init__(opcode, open_opcode)
        self.opcode = opcode
        self.open_opcode = open_opcode

    def __str__(self) -> str:
        return (
            f"{_opcode_name(self.opcode)} frame arrived while a fragmented "
            f"{_opcode_name(self.open_opcode)} message was still open: its next fragment "
            "must be a CONT frame (RFC 6455 section 5.4); close with 1002"
        )


class InvalidUTF8(WebSocketProtocolError):
    """A text message or close reason that is not valid UTF-8."""

    close_code: ClassVar[int] = _INVALID_DATA

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(where, detail)
        self.where = where
        self.detail = detail

    def __str__(self) -> str:
        return (
            f"{self.where} is not valid UTF-8 ({self.detail}) (RFC 6455 section 8.1); "
            "close with 1007"
        )


class MessageTooBig(WebSocketProtocolError):
    """A message (or frame) larger than the reader's ``max_size``."""

    close_code: ClassVar[int] = _MESSAGE_TOO_BIG

    def __init__(self, size: int, max_size: int) -> None:
        super().__init__(size, max_size)
        self.size = size
        self.max_size = max_size

    def __str__(self) -> str:
        return (
            f"message of at least {self.size} bytes exceeds max_size={self.max_size}: "
            "close with 1009, or raise max_size if such messages are expected"
        )


# The HTTP upgrade (RFC 6455 section 4) ----------------------------------------------


class HandshakeError(ProtocolError):
    """The HTTP upgrade request or response broke a rule.

    ``header`` names where the problem is (``"Sec-WebSocket-Key"``, or ``"method"`` for
    the request line), ``value`` is what was found there (``None`` when missing), and
    ``status`` is the HTTP status a server answers with when it finds the problem in a
    request (400, 403, 426...). Errors a client finds in a response have ``status``
    ``None``: there is no one to answer, the client just fails the connection.
    """

    status: ClassVar[int | None] = 400

    def __init__(self, header: str, value: str | None) -> None:
        super().__init__(header, value)
        self.header = header
        self.value = value

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        """Headers the error response must carry, e.g. ``Sec-WebSocket-Version: 13``."""
        return []

    def _found(self) -> str:
        if self.value is None:
            return f"{self.header} header is missing"
        return f"{self.header} header is {self.value!r}"


class MalformedHTTP(HandshakeError):
    """The bytes are not an HTTP/1.1 head; ``detail`` is h11's diagnosis.

    ``header`` is ``"request"`` (found by a server) or ``"response"`` (by a client).
    """

    def __init__(self, detail: str, head: str = "request") -> None:
        super().__init__(head, None)
        self.args = (detail, head)
        self.detail = detail

    def __str__(self) -> str:
        if self.header == "response":
            return (
                f"malformed HTTP response: {self.detail}; the server did not answer in "
                "HTTP/1.1 (RFC 6455 section 4.1); fail the connection"
            )
        return (
            f"malformed HTTP request: {self.detail}; a WebSocket opens with an HTTP/1.1 "
            "GET request (RFC 6455 section 4.1); answer 400 Bad Request"
        )


class HeadTooLarge(HandshakeError):
    """The head grew past ``max_head_size`` bytes; ``header`` is request or response."""

    status: ClassVar[int | None] = 431

    def __init__(self, size: int, max_head_size: int, head: str = "request") -> None:
        super().__init__(head, None)
        self.args = (size, max_head_size, head)
        self.size = size
        self.max_head_size = max_head_size

    def __str__(self) -> str:
        remedy = (
            "answer 431 Request Header Fields Too Large"
            if self.header == "request"
            else "fail the connection"
        )
        return (
            f"HTTP {self.header} head of at least {self.size} bytes exceeds max_head_size="
            f"{self.max_head_size}: {remedy}, or raise max_head_size if such heads are "
            "legitimate"
        )


class IncompleteHead(HandshakeError):
    """The connection ended before the blank line that ends an HTTP head."""

    def __init__(self, received: int, head: str = "request") -> None:
        super().__init__(head, None)
        self.args = (received, head)
        self.received = received

    def __str__(self) -> str:
        return (
            f"connection closed after {self.received} bytes, before the blank line that "
            f"ends the HTTP {self.header} head: the peer sent an incomplete handshake"
        )


class InvalidMethod(HandshakeError):
    """The upgrade request's method is not GET."""

    def __init__(self, value: str) -> None:
        super().__init__("method", value)
        self.args = (value,)

    def __str__(self) -> str:
        return (
            f"method is {self.value!r} in the request line: the upgrade request must be a GET "
            "(RFC 6455 section 4.1); answer 400 Bad Request"
        )


class InvalidHTTPVersion(HandshakeError):
    """The upgrade request is older than HTTP/1.1, e.g. ``HTTP/1.0``."""

    def __init__(self, value: str) -> None:
        super().__init__("HTTP version", value)
        self.args = (value,)

    def __str__(self) -> str:
        return (
            f"HTTP version is {self.value!r} in the request line: the upgrade needs HTTP/1.1 "
            "or later "
            "(RFC 6455 section 4.1); answer 400 Bad Request"
        )


class InvalidUpgrade(HandshakeError):
    """``Upgrade`` is missing or does not name ``websocket``."""

    def __init__(self, value: str | None) -> None:
        super().__init__("Upgrade", value)
        self.args = (value,)

    def __str__(self) -> str:
        return (
            f"{self._found()}: it must be 'websocket' (any case) (RFC 6455 section 4.2.1); "
            "answer 400 Bad Request"
        )


class InvalidConnection(HandshakeError):
    """``Connection`` is missing or lacks the ``Upgrade`` token."""

    def __init__(self, value: str | None) -> None:
        super().__init__("Connection", value)
        self.args = (value,)

    def __str__(self) -> str:
        return (
            f"{self._found()}: its comma-separated tokens must include 'Upgrade' "
            "(any case) (RFC 6455 section 4.2.1); answer 400 Bad Request"
        )


class InvalidKey(HandshakeError):
    """``Sec-WebSocket-Key`` is missing or not the base64 of exactly 16 bytes."""

    def __init__(self, value: str | None) -> None:
        super().__init__("Sec-WebSocket-Key", value)
        self.args = (value,)

    def __str__(self) -> str:
        return (
            f"{self._found()}: it must be 16 random bytes in base64, 24 characters like "
            "'dGhlIHNhbXBsZSBub25jZQ==' (RFC 6455 section 4.2.1); answer 400 Bad Request"
        )


class InvalidVersion(HandshakeError):
    """``Sec-WebSocket-Version`` is missing or not ``13``: answer 426 with the version."""

    status: ClassVar[int | None] = 426

    def __init__(self, value: str | None) -> None:
        super().__init__("Sec-WebSocket-Version", value)
        self.args = (value,)

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        """Which version to retry with (RFC 6455 section 4.4), and which protocol
        (a 426 must name it in ``Upgrade``, RFC 9110 section 15.5.22)."""
        return [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")]

    def __str__(self) -> str:
        return (
            f"{self._found()}: this server speaks version 13 only (RFC 6455 section 4.4); "
            "answer 426 Upgrade Required with 'Sec-WebSocket-Version: 13'"
        )


class ForbiddenOrigin(HandshakeError):
    """``Origin`` is missing or not in the server's allow-list."""

    status: ClassVar[int | None] = 403

    def __init__(self, value: str | None, allowed: list[str | None]) -> None:
        super().__init__("Origin", value)
        self.args = (value, allowed)
        self.allowed = allowed

    def __str__(self) -> str:
        return (
            f"{self._found()}: this server only accepts pages from {self.allowed!r} "
            "(RFC 6455 section 4.2.2); answer 403 Forbidden"
        )


class InvalidStatus(HandshakeError):
    """The server answered the upgrade with a status other than 101 (client side)."""

    status: ClassVar[int | None] = None

    def __init__(self, response_status: int, reason: str) -> None:
        super().__init__("status line", f"{response_status} {reason}")
        self.args = (response_status, reason)
        self.response_status = response_status
        self.reason = reason

    def __str__(self) -> str:
        return (
            f"server answered {self.value!r} instead of '101 Switching Protocols': it "
            "refused the upgrade; read the response body for its reason"
        )


class InvalidAccept(HandshakeError):
    """``Sec-WebSocket-Accept`` is not ``accept_key(key)`` (client side)."""

    status: ClassVar[int | None] = None

    def __init__(self, value: str | None, expected: str) -> None:
        super().__init__("Sec-WebSocket-Accept", value)
        self.args = (value, expected)
        self.expected = expected

    def __str__(self) -> str:
        return (
            f"{self._found()}, expected {self.expected!r}: base64(SHA-1(key + GUID)) "
            "proves the server understood this handshake (RFC 6455 section 4.1); "
            "fail the connection"
        )


class UnexpectedProtocol(HandshakeError):
    """The server picked a ``Sec-WebSocket-Protocol`` the client did not offer."""

    status: ClassVar[int | None] = None

    def __init__(self, value: str, offered: list[str]) -> None:
        super().__init__("Sec-WebSocket-Protocol", value)
        self.args = (value, offered)
        self.offered = offered

    def __str__(self) -> str:
        return (
            f"{self._found()} but the client offered {self.offered!r}: a server may only "
            "pick one of the offered subprotocols (RFC 6455 section 4.1); fail the connection"
        )


# engine.io packets and payloads (engine.io protocol v4 and v3) ---------------------

_ENGINE_TYPES = "0 OPEN, 1 CLOSE, 2 PING, 3 PONG, 4 MESSAGE, 5 UPGRADE, 6 NOOP"
_OPEN_EXAMPLE = (
    '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
    '"pingTimeout":20000,"maxPayload":1000000}'
)


def _packet_at(index: int | None) -> str:
    """Where a packet is: alone, or at an index in a polling payload."""
    return "the packet" if index is None else f"packet {index} of the payload"


class EngineIOError(ProtocolError):
    """An engine.io packet or payload broke the engine.io protocol (v4 or v3).

    ``index`` is the position of the bad packet in a polling payload (``None`` for a
    packet on its own, e.g. a WebSocket message). An engine.io server closes the
    session on such an error; over HTTP long-polling it answers 400 Bad Request.
    """

    def __init__(self, *args: object, index: int | None = None) -> None:
        super().__init__(*args)
        self.index = index


class EmptyPacket(EngineIOError):
    """A packet with no type digit at all: ``""``, or ``4hello\\x1e\\x1e6`` in a payload."""

    def __str__(self) -> str:
        return (
            f"{_packet_at(self.index)} is empty: a packet is at least its type digit, "
            "e.g. '6' (NOOP) or '4hello' (MESSAGE)"
        )


class UnknownPacketType(EngineIOError):
    """The first character of a packet is not a digit 0-6 (nor ``b``), e.g. ``7hello``."""

    def __init__(self, found: str, *, index: int | None = None) -> None:
        super().__init__(found, index=index)
        self.found = found

    def __str__(self) -> str:
        return (
            f"packet type {self.found} at offset 0 of {_packet_at(self.index)} is not an "
            f"engine.io packet type: a packet starts with a digit ({_ENGINE_TYPES}), or "
            "with 'b' for base64 binary, e.g. '4hello' or 'bAQID'"
        )


class InvalidBase64(EngineIOError):
    """The base64 after ``b`` (v4) or ``b4`` (v3) does not decode, e.g. ``bAQI*``."""

    def __init__(self, text: str, offset: int, detail: str, *, index: int | None = None) -> None:
        super().__init__(text, offset, detail, index=index)
        self.text = text
        self.offset = offset
        self.detail = detail

    def __str__(self) -> str:
        shown = self.text if len(self.text) <= 40 else f"{self.text[:37]}..."
        return (
            f"binary data {shown!r} at offset {self.offset} of {_packet_at(self.index)} is "
            f"not valid base64 ({self.detail}): a binary MESSAGE over polling is 'b' then "
            "standard padded base64, e.g. 'bAQID' for bytes 01 02 03 ('b4AQID' in v3)"
        )


class InvalidPayload(EngineIOError):
    """A polling body that does not split into packets: a bad v3 length prefix, say."""

    def __init__(self, detail: str, offset: int, version: int) -> None:
        super().__init__(detail, offset, version)
        self.detail = detail
        self.offset = offset
        self.version = version

    def __str__(self) -> str:
        if self.version == 3:
            shape = (
                "a v3 payload is <length>:<packet> repeated, the length counting UTF-16 "
                "code units, e.g. '6:4hello4:4€€€'"
            )
        else:
            shape = (
                "a v4 payload is packets joined by the record separator '\\x1e', "
                "e.g. '4hello\\x1e4€€€'"
            )
        return f"invalid v{self.version} payload at offset {self.offset}: {self.detail}; {shape}"


class InvalidOpenPacket(EngineIOError):
    """The OPEN packet's data is not the JSON handshake object, or a field is ill-typed."""

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail, field)
        self.detail = detail
        self.field = field

    def __str__(self) -> str:
        where = "OPEN packet data" if self.field is None else f"field {self.field!r} of OPEN"
        return f"invalid {where}: {self.detail}; a valid OPEN data is {_OPEN_EXAMPLE}"


class UnsupportedEngineVersion(EngineIOError):
    """An engine.io protocol version other than 4 or 3, e.g. ``EIO=2`` in the URL."""

    def __init__(self, version: object) -> None:
        super().__init__(version)
        self.version = version

    def __str__(self) -> str:
        return (
            f"engine.io protocol version {self.version!r} is not supported: kit.wire speaks "
            "4 (EIO=4, socket.io 3 and later) and 3 (EIO=3, socket.io 2); a server "
            "answers 400 Bad Request"
        )


# socket.io packets (socket.io protocol v5) -----------------------------------------

_SOCKET_TYPES = (
    "0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR, 5 BINARY_EVENT, 6 BINARY_ACK"
)


class SocketIOError(ProtocolError):
    """A socket.io packet broke the socket.io protocol (v5).

    ``packet`` is the text of the offending packet. The reference server (socket.io
    4.x) closes the whole connection on such a packet ("parse error").
    """

    def __init__(self, *args: object, packet: str = "") -> None:
        super().__init__(*args)
        self.packet = packet

    def _in(self) -> str:
        shown = self.packet if len(self.packet) <= 60 else f"{self.packet[:57]}..."
        return f"in socket.io packet {shown!r}"


class UnknownSocketPacketType(SocketIOError):
    """The first character is not a digit 0-6, e.g. ``7["foo"]``, or the packet is empty."""

    def __str__(self) -> str:
        found = "nothing" if not self.packet else repr(self.packet[0])
        return (
            f"socket.io packet type {found} at offset 0 {self._in()} is not a type: a packet "
            f"starts with a digit ({_SOCKET_TYPES}), e.g. '2[\"foo\"]'"
        )


class InvalidAttachments(SocketIOError):
    """The ``N-`` attachment count is missing, malformed, or where it does not belong."""

    def __init__(self, detail: str, *, packet: str = "") -> None:
        super().__init__(detail, packet=packet)
        self.detail = detail

    def __str__(self) -> str:
        return (
            f"{self.detail} {self._in()}: BINARY_EVENT and BINARY_ACK (and only they) give "
            "their attachment count then '-' after the type, e.g. "
            '\'51-["baz",{"_placeholder":true,"num":0}]\''
        )


class InvalidAckId(SocketIOError):
    """An ack id where none belongs, none where one must be, or one too big for JS."""

    def __init__(self, detail: str, *, packet: str = "") -> None:
        super().__init__(detail, packet=packet)
        self.detail = detail

    def __str__(self) -> str:
        return (
            f"{self.detail} {self._in()}: EVENT may carry an ack id and ACK must carry "
            "the id it answers, as decimal digits right before the JSON, e.g. "
            "'212[\"foo\"]' and '312[\"bar\"]'"
        )


class InvalidJSON(SocketIOError):
    """The data part is not exactly one JSON value: ``2["foo"`` or ``2["foo"]x``."""

    def __init__(self, offset: int, detail: str, *, packet: str = "") -> None:
        super().__init__(offset, detail, packet=packet)
        self.offset = offset
        self.detail = detail

    def __str__(self) -> str:
        return (
            f"data at offset {self.offset} {self._in()} is not one JSON value "
            f"({self.detail}): after the type, namespace and ack id comes a single JSON "
            'value and nothing else, e.g. \'2["foo",{"a":1}]\''
        )


class InvalidSocketPayload(SocketIOError):
    """The JSON data has the wrong shape for the packet type, e.g. ``0["x"]``."""

    def __init__(self, packet_type: str, detail: str, *, packet: str = "") -> None:
        super().__init__(packet_type, detail, packet=packet)
        self.packet_type = packet_type
        self.detail = detail

    def __str__(self) -> str:
        rules = {
            "CONNECT": 'an object or nothing, e.g. \'0{"token":"abc"}\'',
            "DISCONNECT": "nothing, e.g. '1/admin,'",
            "EVENT": "an array starting with the event name, e.g. '2[\"foo\",1]'",
            "BINARY_EVENT": "an array starting with the event name",
            "ACK": "an array of answers, e.g. '3/admin,13[\"bar\"]'",
            "BINARY_ACK": "an array of answers",
            "CONNECT_ERROR": 'an object (or a string), e.g. \'4{"message":"Unauthorized"}\'',
        }
        rule = rules.get(self.packet_type, "")
        return f"{self.packet_type} data {self.detail} {self._in()}: it must be {rule}"


class ReservedEventName(InvalidSocketPayload):
    """An EVENT named like a built-in event (``connect``, ``disconnect``...)."""

    def __init__(self, name: str, *, packet: str = "") -> None:
        super().__init__("EVENT", f"names the reserved event {name!r}", packet=packet)
        self.args = (name,)
        self.name = name

    def __str__(self) -> str:
        return (
            f"EVENT {self.name!r} {self._in()} uses a reserved name: 'connect', "
            "'connect_error', 'disconnect', 'disconnecting', 'newListener' and "
            "'removeListener' are fired by the library itself and must not be sent as "
            "events (the JavaScript client refuses to)"
        )


class InvalidPlaceholder(SocketIOError):
    """A ``{"_placeholder":true,"num":N}`` whose ``num`` names no attachment."""

    def __init__(self, num: object, count: int, *, packet: str = "") -> None:
        super().__init__(num, count, packet=packet)
        self.num = num
        self.count = count

    def __str__(self) -> str:
        if self.count:
            valid = f"an int from 0 to {self.count - 1}"
        else:
            valid = "absent: the packet has no attachments"
        return (
            f"placeholder num {self.num!r} {self._in()} names no attachment: with "
            f"{self.count} attachment(s) it must be {valid}, e.g. "
            '{"_placeholder":true,"num":0} for the first'
        )
