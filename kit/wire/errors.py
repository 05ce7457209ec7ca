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
        * :exc:`TooManyFragments`: a message in more than ``max_fragments`` frames (1009)
        * :exc:`InvalidDeflate`: a compressed message that does not inflate (1002)
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
    * :exc:`EventStreamError`: a server-sent event that cannot be written (``field``)
        * :exc:`InvalidEventField`: a line break in ``event`` or ``id``, a bad ``retry``
    * :exc:`RespProtocolError`: bytes that are not RESP, Redis's protocol (``offset``)
        * :exc:`UnknownRespType`: a first byte that names no RESP type
        * :exc:`InvalidRespLength`: a length that is not a count, is negative or too big
        * :exc:`InvalidRespNumber`: an integer, double, boolean or null that does not parse
        * :exc:`MissingCRLF`: bulk data not followed by CRLF
        * :exc:`RespTooDeep`: aggregates nested deeper than ``max_depth``

Engine.io and socket.io errors say where (packet index, offset, the packet text) and
show what a valid packet looks like.

How a class is written: it lists its ``fields`` once (they become attributes and
``args``, positional or by keyword, in that order) and says what went wrong in a
``template`` (``str.format`` over the fields), or in ``problem()`` when the wording
depends on the values. The rest of the message is built from data the class already
has: the rule's ``source`` and the ``remedy``, which for a frame error is "close with
<close_code>" and for a handshake error "answer <status> <phrase>".

Why this module is long: it is the one tree of errors, in one place as its docstring
draws it, and most of its lines are the messages a learner reads; the per-class
boilerplate is gone (fields are declared once, tails are built from data).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

_OPCODES = {0: "CONT", 1: "TEXT", 2: "BINARY", 8: "CLOSE", 9: "PING", 10: "PONG"}


class ProtocolError(Exception):
    """Bytes that break a protocol rule; base of every decoding failure in kit.wire.

    ``str(exc)`` is the problem, then `` (source)`` when the rule has one, then
    ``; remedy`` when there is something to do.
    """

    fields: ClassVar[tuple[str, ...]] = ()
    """The constructor's arguments, in order; each becomes an attribute."""
    defaults: ClassVar[dict[str, Any]] = {}
    template: ClassVar[str] = ""
    """The problem, as a ``str.format`` template over the fields (and ``_names()``)."""
    source: ClassVar[str] = ""
    """Where the rule is written, e.g. ``RFC 6455 section 5.2``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not self.fields and not kwargs:  # a plain message, as with any exception
            super().__init__(*args)
            return
        values = {**self.defaults, **dict(zip(self.fields, args, strict=False)), **kwargs}
        wrong = set(values) ^ set(self.fields) or len(args) > len(self.fields)
        if wrong:
            raise TypeError(f"{type(self).__name__} takes {', '.join(self.fields)}")
        for name in self.fields:
            setattr(self, name, values[name])
        super().__init__(*(values[name] for name in self.fields))
        self._derive()

    def _derive(self) -> None:
        """Set attributes computed from the fields (a subclass's business)."""

    if TYPE_CHECKING:  # the fields are attributes set from ``fields`` at run time

        def __getattr__(self, name: str) -> Any: ...

    def _names(self) -> dict[str, Any]:
        """What a template may use: the fields, plus words derived from them."""
        return {name: getattr(self, name) for name in self.fields}

    def problem(self) -> str:
        """What was wrong, and where."""
        if self.template:
            return self.template.format_map(self._names())
        return str(self.args[0]) if self.args else (self.__doc__ or "").split("\n")[0]

    @property
    def remedy(self) -> str:
        """What the receiving side should do about it (may be ``""``)."""
        return ""

    def __str__(self) -> str:
        text = self.problem() + (f" ({self.source})" if self.source else "")
        return f"{text}; {self.remedy}" if self.remedy else text


# WebSocket frames and messages (RFC 6455 section 5) --------------------------------


class WebSocketProtocolError(ProtocolError):
    """A WebSocket frame or message broke RFC 6455.

    ``close_code`` is the close code to send before closing, e.g. 1002 (protocol
    error), 1007 (invalid payload data) or 1009 (message too big).
    """

    close_code: ClassVar[int] = 1002

    @property
    def remedy(self) -> str:
        return f"close with {self.close_code}"

    def _names(self) -> dict[str, Any]:
        names = super()._names()
        for field in ("opcode", "open_opcode"):
            if field in names:
                code = names[field]
                names[f"{field}_name"] = _OPCODES.get(code, f"opcode {code}")
        return names


class InvalidOpcode(WebSocketProtocolError):
    """The low 4 bits of the first byte are not a defined opcode, e.g. ``0x83`` -> 3."""

    fields = ("opcode",)
    template = (
        "invalid opcode {opcode:#x} in the first byte of a frame: only 0x0-0x2 (data) and "
        "0x8-0xa (control) are defined"
    )
    source = "RFC 6455 section 5.2"


class ReservedBitsSet(WebSocketProtocolError):
    """RSV1, RSV2 or RSV3 is 1 but no extension that defines it was negotiated."""

    fields = ("rsv1", "rsv2", "rsv3")
    template = (
        "reserved bit {bits} set in the first byte of a frame, but no extension was "
        "negotiated to give it a meaning"
    )
    source = "RFC 6455 section 5.2"

    def _names(self) -> dict[str, Any]:
        flags = {"RSV1": self.rsv1, "RSV2": self.rsv2, "RSV3": self.rsv3}
        return {"bits": ", ".join(name for name, on in flags.items() if on)}


class MaskingError(WebSocketProtocolError):
    """The MASK bit is wrong for the sender: clients must mask, servers must not."""

    fields = ("masked",)
    source = "RFC 6455 section 5.1"

    def problem(self) -> str:
        if self.masked:
            return "a frame from the server arrived masked: servers must not mask"
        return "a frame from the client arrived unmasked: clients must mask every frame"

    @property
    def remedy(self) -> str:
        return f"the {'client' if self.masked else 'server'} closes with {self.close_code}"


class InvalidLength(WebSocketProtocolError):
    """An extended payload length that is not minimal, or has its top bit set."""

    fields = ("length", "field_bits")
    template = "payload length {length} in a {field_bits}-bit length field {what}"
    source = "RFC 6455 section 5.2"

    def _names(self) -> dict[str, Any]:
        top = self.length >= 2**63
        what = (
            "has its most significant bit set"
            if top
            else ("fits in a shorter length field: the minimal encoding is required")
        )
        return {**super()._names(), "what": what}


class ControlFrameTooLong(WebSocketProtocolError):
    """A CLOSE, PING or PONG frame carries more than 125 bytes."""

    fields = ("opcode", "length")
    template = (
        "{opcode_name} frame has a {length}-byte payload: control frames carry at most 125 bytes"
    )
    source = "RFC 6455 section 5.5"


class FragmentedControlFrame(WebSocketProtocolError):
    """A CLOSE, PING or PONG frame has FIN = 0."""

    fields = ("opcode",)
    template = "{opcode_name} frame has FIN = 0: control frames must not be fragmented"
    source = "RFC 6455 section 5.5"


class TruncatedFrame(WebSocketProtocolError):
    """``Frame.parse`` got fewer bytes than the frame's header announces."""

    fields = ("needed", "received")
    template = "frame is truncated: it needs {needed} bytes but only {received} were given"
    remedy = "to decode a stream that arrives in pieces, feed it to a FrameReader"


class TrailingData(WebSocketProtocolError):
    """``Frame.parse`` got more bytes than one frame: the rest belongs to later frames."""

    fields = ("frame_size", "extra")
    template = (
        "{extra} bytes follow the first {frame_size}-byte frame: Frame.parse decodes "
        "exactly one frame"
    )
    remedy = "use a FrameReader to split a stream into frames"


class InvalidClosePayload(WebSocketProtocolError):
    """A close payload of exactly 1 byte: too short for the 2-byte close code."""

    fields = ("payload",)
    template = (
        "close payload {hex} is 1 byte long: it must be empty or start with a 2-byte close code"
    )
    source = "RFC 6455 section 5.5.1"

    def _names(self) -> dict[str, Any]:
        return {"hex": self.payload.hex(" ")}


class InvalidCloseCode(WebSocketProtocolError):
    """A close code that may not appear in a CLOSE frame, e.g. 1005 or 999."""

    fields = ("code",)
    template = "close code {code} is not allowed in a CLOSE frame: {why}"
    source = "RFC 6455 section 7.4"

    def _names(self) -> dict[str, Any]:
        why = (
            "it is reserved for reporting, never sent in a frame"
            if self.code in (1005, 1006, 1015)
            else "only 1000-1003, 1007-1014 and 3000-4999 may be sent"
        )
        return {"code": self.code, "why": why}


class CloseReasonTooLong(WebSocketProtocolError):
    """A close reason longer than 123 bytes of UTF-8 (125 minus the 2-byte code)."""

    fields = ("size",)
    template = (
        "close reason is {size} bytes of UTF-8: at most 123 fit in a CLOSE frame after "
        "the 2-byte code"
    )
    source = "RFC 6455 section 5.5"
    remedy = "shorten the reason"


class UnexpectedContinuation(WebSocketProtocolError):
    """A CONT frame arrived while no fragmented message was open."""

    fields = ()
    template = (
        "CONT frame arrived but no fragmented message was started: a message starts with "
        "TEXT or BINARY"
    )
    source = "RFC 6455 section 5.4"


class UnfinishedMessage(WebSocketProtocolError):
    """A TEXT or BINARY frame arrived before the open fragmented message ended."""

    fields = ("opcode", "open_opcode")
    template = (
        "{opcode_name} frame arrived while a fragmented {open_opcode_name} message was "
        "still open: its next fragment must be a CONT frame"
    )
    source = "RFC 6455 section 5.4"


class InvalidUTF8(WebSocketProtocolError):
    """A text message or close reason that is not valid UTF-8."""

    close_code: ClassVar[int] = 1007
    fields = ("where", "detail")
    template = "{where} is not valid UTF-8 ({detail})"
    source = "RFC 6455 section 8.1"


class MessageTooBig(WebSocketProtocolError):
    """A message (or frame) larger than the reader's ``max_size``."""

    close_code: ClassVar[int] = 1009
    fields = ("size", "max_size")
    template = (
        "message of at least {size} bytes exceeds max_size={max_size}: close with 1009, "
        "or raise max_size if such messages are expected"
    )
    remedy = ""  # in the template: one side of an "or"


class TooManyFragments(WebSocketProtocolError):
    """A message cut into more frames than the reader's ``max_fragments``.

    Each frame costs the receiver work whatever its size: a million empty CONT frames
    (6 MB on the wire) would keep a server busy for seconds.
    """

    close_code: ClassVar[int] = 1009
    fields = ("fragments", "max_fragments")
    template = (
        "message still open after {fragments} fragments, over max_fragments={max_fragments}: "
        "each frame costs work whatever its size"
    )


class InvalidDeflate(WebSocketProtocolError):
    """A message marked compressed (RSV1) whose payload is not a deflate stream."""

    fields = ("detail",)
    template = "compressed message does not inflate ({detail})"
    source = "RFC 7692 section 7.2.2"


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
    fields: ClassVar[tuple[str, ...]] = ("header", "value")
    header: str
    value: str | None = None

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        """Headers the error response must carry, e.g. ``Sec-WebSocket-Version: 13``."""
        return []

    @property
    def remedy(self) -> str:
        if self.status is None or getattr(self, "header", "") == "response":
            return "fail the connection"
        return f"answer {self.status} {HTTPStatus(self.status).phrase}"

    def _names(self) -> dict[str, Any]:
        found = "missing" if self.value is None else f"{self.value!r}"
        return {
            **super()._names(),
            "header": self.header,
            "value": self.value,
            "found": f"{self.header} header is {found}",
        }


class MalformedHTTP(HandshakeError):
    """The bytes are not an HTTP/1.1 head; ``detail`` is h11's diagnosis.

    ``header`` is ``"request"`` (found by a server) or ``"response"`` (by a client).
    """

    fields = ("detail", "header")
    defaults: ClassVar[dict[str, Any]] = {"header": "request"}
    source = "RFC 6455 section 4.1"

    def problem(self) -> str:
        if self.header == "response":
            return f"malformed HTTP response: {self.detail}; the server did not answer in HTTP/1.1"
        return (
            f"malformed HTTP request: {self.detail}; a WebSocket opens with an HTTP/1.1 GET request"
        )


class HeadTooLarge(HandshakeError):
    """The head grew past ``max_head_size`` bytes; ``header`` is request or response."""

    status: ClassVar[int | None] = 431
    fields = ("size", "max_head_size", "header")
    defaults: ClassVar[dict[str, Any]] = {"header": "request"}
    template = (
        "HTTP {header} head of at least {size} bytes exceeds max_head_size={max_head_size}: "
        "{answer}, or raise max_head_size if such heads are legitimate"
    )

    def _names(self) -> dict[str, Any]:
        return {**super()._names(), "answer": HandshakeError.remedy.fget(self)}  # type: ignore[attr-defined]

    remedy = ""  # in the template: one side of an "or"


class IncompleteHead(HandshakeError):
    """The connection ended before the blank line that ends an HTTP head."""

    fields = ("received", "header")
    defaults: ClassVar[dict[str, Any]] = {"header": "request"}
    template = (
        "connection closed after {received} bytes, before the blank line that ends the "
        "HTTP {header} head: the peer sent an incomplete handshake"
    )
    remedy = ""


class InvalidMethod(HandshakeError):
    """The upgrade request's method is not GET."""

    fields = ("value",)
    header = "method"
    template = "method is {value!r} in the request line: the upgrade request must be a GET"
    source = "RFC 6455 section 4.1"


class InvalidHTTPVersion(HandshakeError):
    """The upgrade request is older than HTTP/1.1, e.g. ``HTTP/1.0``."""

    fields = ("value",)
    header = "HTTP version"
    template = "HTTP version is {value!r} in the request line: the upgrade needs HTTP/1.1 or later"
    source = "RFC 6455 section 4.1"


class InvalidUpgrade(HandshakeError):
    """``Upgrade`` is missing or does not name ``websocket``."""

    fields = ("value",)
    header = "Upgrade"
    template = "{found}: it must be 'websocket' (any case)"
    source = "RFC 6455 section 4.2.1"


class InvalidConnection(HandshakeError):
    """``Connection`` is missing or lacks the ``Upgrade`` token."""

    fields = ("value",)
    header = "Connection"
    template = "{found}: its comma-separated tokens must include 'Upgrade' (any case)"
    source = "RFC 6455 section 4.2.1"


class InvalidKey(HandshakeError):
    """``Sec-WebSocket-Key`` is missing or not the base64 of exactly 16 bytes."""

    fields = ("value",)
    header = "Sec-WebSocket-Key"
    template = (
        "{found}: it must be 16 random bytes in base64, 24 characters like "
        "'dGhlIHNhbXBsZSBub25jZQ=='"
    )
    source = "RFC 6455 section 4.2.1"


class InvalidVersion(HandshakeError):
    """``Sec-WebSocket-Version`` is missing or not ``13``: answer 426 with the version."""

    fields = ("value",)
    status: ClassVar[int | None] = 426
    header = "Sec-WebSocket-Version"
    template = "{found}: this server speaks version 13 only"
    source = "RFC 6455 section 4.4"

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        """Which version to retry with (RFC 6455 section 4.4), and which protocol
        (a 426 must name it in ``Upgrade``, RFC 9110 section 15.5.22)."""
        return [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")]

    @property
    def remedy(self) -> str:
        return f"{super().remedy} with 'Sec-WebSocket-Version: 13'"


class ForbiddenOrigin(HandshakeError):
    """``Origin`` is missing or not in the server's allow-list."""

    status: ClassVar[int | None] = 403
    fields = ("value", "allowed")
    header = "Origin"
    template = "{found}: this server only accepts pages from {allowed!r}"
    source = "RFC 6455 section 4.2.2"


class InvalidStatus(HandshakeError):
    """The server answered the upgrade with a status other than 101 (client side)."""

    status: ClassVar[int | None] = None
    fields = ("response_status", "reason")
    header = "status line"
    template = (
        "server answered {value!r} instead of '101 Switching Protocols': it refused the upgrade"
    )
    remedy = "read the response body for its reason"

    def _derive(self) -> None:
        self.value = f"{self.response_status} {self.reason}"  # the status line, e.g. 404 ...


class InvalidAccept(HandshakeError):
    """``Sec-WebSocket-Accept`` is not ``accept_key(key)`` (client side)."""

    status: ClassVar[int | None] = None
    fields = ("value", "expected")
    header = "Sec-WebSocket-Accept"
    template = (
        "{found}, expected {expected!r}: base64(SHA-1(key + GUID)) proves the server "
        "understood this handshake"
    )
    source = "RFC 6455 section 4.1"


class UnexpectedProtocol(HandshakeError):
    """The server picked a ``Sec-WebSocket-Protocol`` the client did not offer."""

    status: ClassVar[int | None] = None
    fields = ("value", "offered")
    header = "Sec-WebSocket-Protocol"
    template = (
        "{found} but the client offered {offered!r}: a server may only pick one of the "
        "offered subprotocols"
    )
    source = "RFC 6455 section 4.1"


# engine.io packets and payloads (engine.io protocol v4 and v3) ---------------------

_ENGINE_TYPES = "0 OPEN, 1 CLOSE, 2 PING, 3 PONG, 4 MESSAGE, 5 UPGRADE, 6 NOOP"
_OPEN_EXAMPLE = (
    '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
    '"pingTimeout":20000,"maxPayload":1000000}'
)


class EngineIOError(ProtocolError):
    """An engine.io packet or payload broke the engine.io protocol (v4 or v3).

    ``index`` is the position of the bad packet in a polling payload (``None`` for a
    packet on its own, e.g. a WebSocket message). An engine.io server closes the
    session on such an error; over HTTP long-polling it answers 400 Bad Request.
    """

    def __init__(self, *args: Any, index: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.index = index

    def _names(self) -> dict[str, Any]:
        at = "the packet" if self.index is None else f"packet {self.index} of the payload"
        return {**super()._names(), "at": at}


class EmptyPacket(EngineIOError):
    """A packet with no type digit at all: ``""``, or ``4hello\\x1e\\x1e6`` in a payload."""

    fields = ()
    template = (
        "{at} is empty: a packet is at least its type digit, e.g. '6' (NOOP) or '4hello' (MESSAGE)"
    )


class UnknownPacketType(EngineIOError):
    """The first character of a packet is not a digit 0-6 (nor ``b``), e.g. ``7hello``."""

    fields = ("found",)
    template = (
        "packet type {found} at offset 0 of {at} is not an engine.io packet type: a packet "
        f"starts with a digit ({_ENGINE_TYPES}), or with 'b' for base64 binary, e.g. "
        "'4hello' or 'bAQID'"
    )


class InvalidBase64(EngineIOError):
    """The base64 after ``b`` (v4) or ``b4`` (v3) does not decode, e.g. ``bAQI*``."""

    fields = ("text", "offset", "detail")
    template = (
        "binary data {shown!r} at offset {offset} of {at} is not valid base64 ({detail}): "
        "a binary MESSAGE over polling is 'b' then standard padded base64, e.g. 'bAQID' "
        "for bytes 01 02 03 ('b4AQID' in v3)"
    )

    def _names(self) -> dict[str, Any]:
        shown = self.text if len(self.text) <= 40 else f"{self.text[:37]}..."
        return {**super()._names(), "shown": shown}


class InvalidPayload(EngineIOError):
    """A polling body that does not split into packets: a bad v3 length prefix, say."""

    fields = ("detail", "offset", "version")
    template = "invalid v{version} payload at offset {offset}: {detail}; {shape}"

    def _names(self) -> dict[str, Any]:
        shape = (
            "a v3 payload is <length>:<packet> repeated, the length counting UTF-16 code "
            "units, e.g. '6:4hello4:4€€€'"
            if self.version == 3
            else "a v4 payload is packets joined by the record separator '\\x1e', "
            "e.g. '4hello\\x1e4€€€'"
        )
        return {**super()._names(), "shape": shape}


class InvalidOpenPacket(EngineIOError):
    """The OPEN packet's data is not the JSON handshake object, or a field is ill-typed."""

    fields = ("detail", "field")
    defaults: ClassVar[dict[str, Any]] = {"field": None}
    template = "invalid {what}: {detail}; a valid OPEN data is {example}"

    def _names(self) -> dict[str, Any]:
        what = "OPEN packet data" if self.field is None else f"field {self.field!r} of OPEN"
        return {**super()._names(), "what": what, "example": _OPEN_EXAMPLE}


class UnsupportedEngineVersion(EngineIOError):
    """An engine.io protocol version other than 4 or 3, e.g. ``EIO=2`` in the URL."""

    fields = ("version",)
    template = (
        "engine.io protocol version {version!r} is not supported: kit.wire speaks 4 (EIO=4, "
        "socket.io 3 and later) and 3 (EIO=3, socket.io 2); a server answers 400 Bad Request"
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

    def __init__(self, *args: Any, packet: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.packet = packet

    def _names(self) -> dict[str, Any]:
        shown = self.packet if len(self.packet) <= 60 else f"{self.packet[:57]}..."
        return {**super()._names(), "within": f"in socket.io packet {shown!r}"}


class UnknownSocketPacketType(SocketIOError):
    """The first character is not a digit 0-6, e.g. ``7["foo"]``, or the packet is empty."""

    fields = ()
    template = (
        "socket.io packet type {found} at offset 0 {within} is not a type: a packet "
        f"starts with a digit ({_SOCKET_TYPES}), e.g. '2[\"foo\"]'"
    )

    def _names(self) -> dict[str, Any]:
        found = "nothing" if not self.packet else repr(self.packet[0])
        return {**super()._names(), "found": found}


class InvalidAttachments(SocketIOError):
    """The ``N-`` attachment count is missing, malformed, or where it does not belong."""

    fields = ("detail",)
    template = (
        "{detail} {within}: BINARY_EVENT and BINARY_ACK (and only they) give their "
        "attachment count then '-' after the type, e.g. "
        '\'51-["baz",{{"_placeholder":true,"num":0}}]\''
    )


class InvalidAckId(SocketIOError):
    """An ack id where none belongs, none where one must be, or one too big for JS."""

    fields = ("detail",)
    template = (
        "{detail} {within}: EVENT may carry an ack id and ACK must carry the id it "
        "answers, as decimal digits right before the JSON, e.g. '212[\"foo\"]' and "
        "'312[\"bar\"]'"
    )


class InvalidJSON(SocketIOError):
    """The data part is not exactly one JSON value: ``2["foo"`` or ``2["foo"]x``."""

    fields = ("offset", "detail")
    template = (
        "data at offset {offset} {within} is not one JSON value ({detail}): after the "
        "type, namespace and ack id comes a single JSON value and nothing else, e.g. "
        '\'2["foo",{{"a":1}}]\''
    )


class InvalidSocketPayload(SocketIOError):
    """The JSON data has the wrong shape for the packet type, e.g. ``0["x"]``."""

    fields: ClassVar[tuple[str, ...]] = ("packet_type", "detail")
    template = "{packet_type} data {detail} {within}: it must be {rule}"
    rules: ClassVar[dict[str, str]] = {
        "CONNECT": 'an object or nothing, e.g. \'0{"token":"abc"}\'',
        "DISCONNECT": "nothing, e.g. '1/admin,'",
        "EVENT": "an array starting with the event name, e.g. '2[\"foo\",1]'",
        "BINARY_EVENT": "an array starting with the event name",
        "ACK": "an array of answers, e.g. '3/admin,13[\"bar\"]'",
        "BINARY_ACK": "an array of answers",
        "CONNECT_ERROR": 'an object (or a string), e.g. \'4{"message":"Unauthorized"}\'',
    }

    def _names(self) -> dict[str, Any]:
        return {**super()._names(), "rule": self.rules.get(self.packet_type, "")}


class ReservedEventName(InvalidSocketPayload):
    """An EVENT named like a built-in event (``connect``, ``disconnect``...)."""

    fields = ("name",)
    packet_type = "EVENT"
    template = (
        "EVENT {name!r} {within} uses a reserved name: 'connect', 'connect_error', "
        "'disconnect', 'disconnecting', 'newListener' and 'removeListener' are fired by "
        "the library itself and must not be sent as events (the JavaScript client "
        "refuses to)"
    )

    def _derive(self) -> None:
        # What is wrong with the EVENT's data, in InvalidSocketPayload's words.
        self.detail = f"names the reserved event {self.name!r}"


class InvalidPlaceholder(SocketIOError):
    """A ``{"_placeholder":true,"num":N}`` whose ``num`` names no attachment."""

    fields = ("num", "count")
    template = (
        "placeholder num {num!r} {within} names no attachment: with {count} attachment(s) "
        'it must be {valid}, e.g. {{"_placeholder":true,"num":0}} for the first'
    )

    def _names(self) -> dict[str, Any]:
        valid = (
            f"an int from 0 to {self.count - 1}"
            if self.count
            else "absent: the packet has no attachments"
        )
        return {**super()._names(), "valid": valid}


# Server-sent events (WHATWG HTML, section 9.2) ------------------------------------


class EventStreamError(ProtocolError):
    """A server-sent event that cannot be written as ``text/event-stream``.

    Reading an event stream never fails (the standard says what a browser makes of any
    bytes); writing one can, when a value would be misread on the other side.
    """

    source = "WHATWG HTML, section 9.2.5"


class InvalidEventField(EventStreamError):
    """A field value a reader would misread: ``id: 1\\ndata: x`` is two fields, not one."""

    fields = ("field", "value", "detail")
    template = (
        "the {field!r} of a server-sent event {detail}: {shown!r}; a field is one line, "
        "so put line breaks in 'data' only (each line becomes its own 'data:' line)"
    )

    def _names(self) -> dict[str, Any]:
        shown = self.value if len(self.value) <= 40 else f"{self.value[:37]}..."
        return {**super()._names(), "shown": shown}


# RESP, the Redis serialization protocol (RESP2 and RESP3) ---------------------------

_RESP_SOURCE = "Redis serialization protocol specification"


class RespProtocolError(ProtocolError):
    """Bytes that break RESP, the protocol of Redis commands and replies.

    ``offset`` is where the broken value starts in the stream. Redis answers a client
    that sends such bytes with ``-ERR Protocol error: ...`` and closes the connection.
    """

    source = _RESP_SOURCE
    remedy = "close the connection: a RESP stream cannot be resynchronised"


class UnknownRespType(RespProtocolError):
    """A value starts with a byte that is no RESP type, e.g. ``?`` or ``x``."""

    fields = ("byte", "offset")
    template = (
        "byte {byte:#04x} at offset {offset} starts no RESP value: a value starts with its "
        "type, one of + - : $ * (RESP2) or _ # , ( ! = % ~ > | (RESP3), e.g. ':2\\r\\n'"
    )


class InvalidRespLength(RespProtocolError):
    """A bulk or aggregate length that is not a decimal count, is negative, or too big."""

    fields = ("what", "found", "detail", "offset")
    template = (
        "the length {shown} of a {what} at offset {offset} is {detail}: a length is decimal "
        "digits then CRLF, e.g. '$5\\r\\nhello\\r\\n' (-1 alone means null)"
    )

    def _names(self) -> dict[str, Any]:
        found = self.found
        shown = repr(found[:20]) if isinstance(found, (bytes, str)) else str(found)
        return {**super()._names(), "shown": shown}


class InvalidRespNumber(RespProtocolError):
    """An integer, double, boolean or null whose line does not parse, e.g. ``:12a``."""

    fields = ("what", "found", "offset")
    template = (
        "{found!r} at offset {offset} is not a RESP {what}: an integer is ':' then digits, a "
        "double ',' then a number, a boolean '#t' or '#f', a null '_', each ending in CRLF"
    )


class MissingCRLF(RespProtocolError):
    """The bytes after a bulk string's announced length are not CRLF."""

    fields = ("length", "found", "offset")
    template = (
        "the bulk value at offset {offset} announced {length} bytes, but they are followed "
        "by {found!r}, not CRLF: the length must count the data exactly"
    )


class RespTooDeep(RespProtocolError):
    """Arrays, maps or sets nested deeper than the reader allows."""

    fields = ("max_depth", "offset")
    template = (
        "an aggregate at offset {offset} is nested deeper than max_depth={max_depth}: "
        "Redis's own replies nest a few levels at most"
    )


# Every class above, so the list cannot drift from the tree (a test compares both
# with the docstring's drawing).
__all__ = sorted(
    name
    for name, value in list(globals().items())
    if isinstance(value, type) and issubclass(value, ProtocolError)
)
