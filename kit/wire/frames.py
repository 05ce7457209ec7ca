"""WebSocket frames (RFC 6455 section 5): parse and serialize bytes, no I/O.

After the handshake, each side sends frames. A frame is a 2-byte head, an optional
extended length, an optional 4-byte masking key, then the payload::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-------+-+-------------+-------------------------------+
    |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
    |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
    |N|V|V|V|       |S|             |   (if payload len==126/127)   |
    | |1|2|3|       |K|             |                               |
    +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
    |     Extended payload length continued, if payload len == 127  |
    + - - - - - - - - - - - - - - - +-------------------------------+
    |                               |Masking-key, if MASK set to 1  |
    +-------------------------------+-------------------------------+
    | Masking-key (continued)       |          Payload Data         |
    +-------------------------------- - - - - - - - - - - - - - - - +

``81 05 48 65 6c 6c 6f`` is a final (FIN=1) TEXT frame (opcode 1), unmasked, with
the 5-byte payload ``Hello``. A client masks every frame it sends: ``81 85 37 fa 21
3d 7f 9f 4d 51 58`` is the same frame masked with the key ``37 fa 21 3d``.

:class:`Frame` decodes exactly one frame; :class:`FrameReader` splits a stream that
arrives in arbitrary chunks into frames. Messages made of several frames are put back
together by :mod:`kit.wire.messages`.

Why this module is long: a frame's parse, serialize and check are one story told three
ways, and the stream reader shares their private head parser: splitting them would
scatter RFC 6455 section 5.2 over several files.
"""

from __future__ import annotations

import codecs
import dataclasses
import enum
import struct
from collections.abc import Iterator
from typing import NamedTuple

from kit.wire.errors import (
    CloseReasonTooLong,
    ControlFrameTooLong,
    FragmentedControlFrame,
    InvalidCloseCode,
    InvalidClosePayload,
    InvalidLength,
    InvalidOpcode,
    InvalidUTF8,
    MaskingError,
    MessageTooBig,
    ProtocolError,
    ReservedBitsSet,
    TrailingData,
    TruncatedFrame,
)

__all__ = [
    "CLOSE_CODE_EXPLANATIONS",
    "CONTROL_OPCODES",
    "DATA_OPCODES",
    "Close",
    "CloseCode",
    "Frame",
    "FrameReader",
    "Opcode",
    "apply_mask",
    "is_sendable_close_code",
]


class Opcode(enum.IntEnum):
    """The low 4 bits of a frame's first byte: what kind of frame it is (``0x81`` -> TEXT)."""

    CONT = 0x0
    """Continuation: the next fragment of a message started by TEXT or BINARY."""
    TEXT = 0x1
    """The first (or only) frame of a text message: UTF-8."""
    BINARY = 0x2
    """The first (or only) frame of a binary message: any bytes."""
    CLOSE = 0x8
    """Closing handshake: an optional 2-byte close code, then a UTF-8 reason."""
    PING = 0x9
    """Are you there? The peer answers with a PONG carrying the same payload."""
    PONG = 0xA
    """Answer to a PING (or an unsolicited heartbeat)."""


DATA_OPCODES = frozenset({Opcode.CONT, Opcode.TEXT, Opcode.BINARY})
"""Opcodes of frames that carry a message, possibly in several fragments."""

CONTROL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})
"""Opcodes of control frames: at most 125 bytes, never fragmented."""


class CloseCode(enum.IntEnum):
    """Why a connection closed: the first 2 bytes of a CLOSE payload (``03 e8`` -> 1000)."""

    NORMAL_CLOSURE = 1000
    """The purpose of the connection is fulfilled."""
    GOING_AWAY = 1001
    """The endpoint goes away: a server shutting down, a browser leaving the page."""
    PROTOCOL_ERROR = 1002
    """The peer broke the protocol, e.g. sent an unmasked client frame."""
    UNSUPPORTED_DATA = 1003
    """The endpoint cannot accept this kind of data, e.g. binary when it wants text."""
    NO_STATUS_RCVD = 1005
    """Reported when a CLOSE frame had no code; never sent on the wire."""
    ABNORMAL_CLOSURE = 1006
    """Reported when the connection dropped without a CLOSE frame; never sent."""
    INVALID_DATA = 1007
    """The payload did not match its type, e.g. a TEXT message that is not UTF-8."""
    POLICY_VIOLATION = 1008
    """The message breaks the endpoint's policy (generic code)."""
    MESSAGE_TOO_BIG = 1009
    """The message is too big to process."""
    MANDATORY_EXTENSION = 1010
    """The client needed an extension that the server did not negotiate."""
    INTERNAL_ERROR = 1011
    """The server hit an unexpected condition."""
    SERVICE_RESTART = 1012
    """The server is restarting; reconnect later."""
    TRY_AGAIN_LATER = 1013
    """The server is overloaded; reconnect later."""
    BAD_GATEWAY = 1014
    """A gateway or proxy got an invalid response upstream."""
    TLS_HANDSHAKE = 1015
    """Reported when the TLS handshake failed; never sent."""


CLOSE_CODE_EXPLANATIONS: dict[int, str] = {
    CloseCode.NORMAL_CLOSURE: "OK",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_DATA: "unsupported data",
    CloseCode.NO_STATUS_RCVD: "no status received",
    CloseCode.ABNORMAL_CLOSURE: "abnormal closure",
    CloseCode.INVALID_DATA: "invalid payload data",
    CloseCode.POLICY_VIOLATION: "policy violation",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.MANDATORY_EXTENSION: "mandatory extension",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "service restart",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.BAD_GATEWAY: "bad gateway",
    CloseCode.TLS_HANDSHAKE: "TLS handshake failure",
}
"""Short human words for each close code, as shown by ``str(Close(1000, ""))``."""


def is_sendable_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a CLOSE frame (RFC 6455 section 7.4).

    1000-1003 and 1007-1014 are defined for the wire, 3000-3999 are registered by
    libraries and frameworks, 4000-4999 are for private use. 1004 is reserved, and
    1005, 1006 and 1015 only report what happened, so ``is_sendable_close_code(1005)``
    is False.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated: masking and unmasking are the same.

    ``apply_mask(b"Hello", bytes.fromhex("37fa213d")).hex(" ")`` is
    ``'7f 9f 4d 51 58'``, the masked payload of RFC 6455 section 5.7. The whole
    payload is XORed as one big integer, which is much faster than a Python loop.
    """
    if len(mask) != 4:
        raise ValueError(f"a masking key is 4 bytes, got {len(mask)}")
    size = len(data)
    key = (bytes(mask) * (size // 4 + 1))[:size]
    masked = int.from_bytes(data, "big") ^ int.from_bytes(key, "big")
    return masked.to_bytes(size, "big")


class _Header(NamedTuple):
    """A decoded frame head: everything before the payload."""

    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    opcode: Opcode
    mask: bytes | None
    length: int
    size: int  # bytes taken by the head itself: 2 to 14


def _to_opcode(bits: int) -> Opcode:
    try:
        return Opcode(bits)
    except ValueError:
        raise InvalidOpcode(bits) from None


def _check_head(
    opcode: int, fin: bool, rsv: tuple[bool, bool, bool], length: int, allow_rsv: bool
) -> None:
    """Rules that only need the head: known opcode, RSV bits, control frame limits."""
    _to_opcode(opcode)
    if any(rsv) and not allow_rsv:
        raise ReservedBitsSet(*rsv)
    if opcode in CONTROL_OPCODES:
        if not fin:
            raise FragmentedControlFrame(opcode)
        if length > 125:
            raise ControlFrameTooLong(opcode, length)


def _parse_head(
    data: bytes | bytearray,
    *,
    mask_required: bool | None,
    max_size: int | None,
    allow_rsv: bool,
) -> _Header | None:
    """Decode and check the head at the start of ``data``; None if it is incomplete."""
    if len(data) < 2:
        return None
    head1, head2 = struct.unpack_from("!BB", data)

    fin = bool(head1 & 0b10000000)
    rsv1 = bool(head1 & 0b01000000)
    rsv2 = bool(head1 & 0b00100000)
    rsv3 = bool(head1 & 0b00010000)
    opcode = _to_opcode(head1 & 0b00001111)

    masked = bool(head2 & 0b10000000)
    length = head2 & 0b01111111

    if mask_required is not None and masked != mask_required:
        raise MaskingError(masked)

    size = 2
    if length == 126:
        if len(data) < 4:
            return None
        (length,) = struct.unpack_from("!H", data, 2)
        size = 4
        if length < 126:
            raise InvalidLength(length, 16)
    elif length == 127:
        if len(data) < 10:
            return None
        (length,) = struct.unpack_from("!Q", data, 2)
        size = 10
        if length < 65536 or length >= 2**63:
            raise InvalidLength(length, 64)

    _check_head(opcode, fin, (rsv1, rsv2, rsv3), length, allow_rsv)
    if max_size is not None and opcode in DATA_OPCODES and length > max_size:
        raise MessageTooBig(length, max_size)

    mask = None
    if masked:
        if len(data) < size + 4:
            return None
        mask = bytes(data[size : size + 4])
        size += 4
    return _Header(fin, rsv1, rsv2, rsv3, opcode, mask, length, size)


def _head_size(data: bytes | bytearray) -> int:
    """How many bytes the head at the start of ``data`` takes (2 if unknown yet)."""
    if len(data) < 2:
        return 2
    length_bits = data[1] & 0b01111111
    extended = {126: 2, 127: 8}.get(length_bits, 0)
    return 2 + extended + (4 if data[1] & 0b10000000 else 0)


_MAX_REPR = 75  # longest payload representation in str(frame) before eliding


def _elide(text: str) -> str:
    if len(text) <= _MAX_REPR:
        return text
    cut = _MAX_REPR // 3 - 1
    return f"{text[: 2 * cut]}...{text[-cut:]}"


def _hex(payload: bytes) -> str:
    if len(payload) > 24:  # 75 characters show 24 bytes: keep both ends only
        return f"{payload[:16].hex(' ')}...{payload[-8:].hex(' ')}"
    return payload.hex(" ")


def _text_or_none(payload: bytes, *, partial: bool) -> str | None:
    """The payload as text, or None if it is not UTF-8 (partial: may end mid-character)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        return decoder.decode(payload, final=not partial)
    except UnicodeDecodeError:
        return None


@dataclasses.dataclass
class Frame:
    """One WebSocket frame, e.g. ``Frame(Opcode.TEXT, b"Hello")``.

    ``payload`` is always the unmasked data. ``mask`` is the 4-byte masking key the
    frame arrived with (``None``: unmasked); ``serialize()`` masks with it, so a parsed
    frame serializes back to the very same bytes.
    """

    opcode: Opcode
    payload: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    mask: bytes | None = None

    @classmethod
    def parse(
        cls,
        data: bytes,
        *,
        mask_required: bool | None = None,
        max_size: int | None = None,
        allow_rsv: bool = False,
    ) -> Frame:
        """Decode exactly one frame from ``data``.

        ``Frame.parse(bytes.fromhex("810548656c6c6f"))`` is
        ``Frame(Opcode.TEXT, b"Hello")``.

        Args:
            data: the bytes of one whole frame, no more, no less.
            mask_required: True on a server (client frames must be masked), False on
                a client (server frames must not be), None to accept both.
            max_size: the largest payload accepted in a data frame, or None.
            allow_rsv: True when an extension gives RSV1-3 a meaning.

        Raises:
            WebSocketProtocolError: a subclass naming the broken rule and its close
                code; TruncatedFrame or TrailingData if ``data`` is not one frame.
        """
        head = _parse_head(
            data, mask_required=mask_required, max_size=max_size, allow_rsv=allow_rsv
        )
        if head is None:
            raise TruncatedFrame(_head_size(data), len(data))
        end = head.size + head.length
        if len(data) < end:
            raise TruncatedFrame(end, len(data))
        if len(data) > end:
            raise TrailingData(end, len(data) - end)
        return cls._from_head(head, data, allow_rsv=allow_rsv)

    @classmethod
    def _from_head(cls, head: _Header, data: bytes | bytearray, *, allow_rsv: bool) -> Frame:
        payload = bytes(data[head.size : head.size + head.length])
        if head.mask is not None:
            payload = apply_mask(payload, head.mask)
        frame = cls(head.opcode, payload, head.fin, head.rsv1, head.rsv2, head.rsv3, head.mask)
        frame.check(allow_rsv=allow_rsv)
        return frame

    def serialize(self, mask: bytes | None = None, *, validate: bool = True) -> bytes:
        """Encode the frame; a client passes a fresh 4-byte ``mask`` for every frame.

        ``Frame(Opcode.TEXT, b"Hello").serialize().hex(" ")`` is
        ``'81 05 48 65 6c 6c 6f'``. The length takes 7 bits up to 125, then 126 plus
        16 bits up to 65535, then 127 plus 64 bits: always the shortest form.

        Args:
            mask: the masking key, e.g. ``os.urandom(4)``; defaults to ``self.mask``.
            validate: run :meth:`check` first (RSV bits are allowed: an extension
                sets them). Pass False to craft a broken frame on purpose.
        """
        if validate:
            self.check(allow_rsv=True)
        key = self.mask if mask is None else mask
        head1 = (
            (0b10000000 if self.fin else 0)
            | (0b01000000 if self.rsv1 else 0)
            | (0b00100000 if self.rsv2 else 0)
            | (0b00010000 if self.rsv3 else 0)
            | self.opcode
        )
        head2 = 0b10000000 if key is not None else 0

        length = len(self.payload)
        if length < 126:
            head = struct.pack("!BB", head1, head2 | length)
        elif length < 65536:
            head = struct.pack("!BBH", head1, head2 | 126, length)
        else:
            head = struct.pack("!BBQ", head1, head2 | 127, length)

        if key is None:
            return head + self.payload
        return head + bytes(key) + apply_mask(self.payload, key)

    def check(self, *, allow_rsv: bool = False) -> None:
        """Enforce the rules a single frame must follow, whoever sent it.

        The opcode is defined, RSV1-3 are 0 unless ``allow_rsv``, control frames
        (CLOSE, PING, PONG) are final and carry at most 125 bytes, and a CLOSE
        payload is empty or a valid :class:`Close`.

        Raises:
            WebSocketProtocolError: the subclass for the first rule broken.
        """
        if self.mask is not None and len(self.mask) != 4:
            raise ValueError(f"a masking key is 4 bytes, got {len(self.mask)}")
        rsv = (self.rsv1, self.rsv2, self.rsv3)
        _check_head(self.opcode, self.fin, rsv, len(self.payload), allow_rsv)
        if self.opcode == Opcode.CLOSE:
            Close.parse(self.payload)

    @property
    def masked(self) -> bool:
        """Whether the frame is (or arrived) masked: True for every client frame."""
        return self.mask is not None

    def __str__(self) -> str:
        """One readable line, e.g. ``TEXT 'Hello' [5 bytes, masked]``.

        Text is shown quoted, binary as hex (``BINARY 48 65 6c 6c 6f [5 bytes]``), a
        CLOSE payload as code and reason (``CLOSE 1000 (OK) done [6 bytes]``); long
        payloads keep their start and end around ``...``.
        """
        try:
            name = Opcode(self.opcode).name
        except ValueError:
            name = f"OPCODE {int(self.opcode):#x}"
        size = len(self.payload)
        details = [f"{size} byte{'' if size == 1 else 's'}"]
        if self.mask is not None:
            details.append("masked")
        if not self.fin:
            details.append("continued")
        return f"{name} {self._payload_repr()} [{', '.join(details)}]"

    def _payload_repr(self) -> str:
        payload = bytes(self.payload)
        if not payload:
            return "''"
        if self.opcode == Opcode.CLOSE:
            try:
                return _elide(str(Close.parse(payload)))
            except ProtocolError:
                return _hex(payload)
        if self.opcode in (Opcode.TEXT, Opcode.CONT, Opcode.PING, Opcode.PONG):
            text = _text_or_none(payload, partial=not self.fin)
            if text is not None and (self.opcode in DATA_OPCODES or text.isprintable()):
                return _elide(repr(text))
        return _hex(payload)


@dataclasses.dataclass
class Close:
    """The payload of a CLOSE frame: a close code and a UTF-8 reason.

    ``Close(1000, "done").serialize()`` is ``b"\\x03\\xe8done"``: the code as a 2-byte
    big-endian integer, then the reason. An empty payload means "no code", which the
    receiver reports as 1005 (``CloseCode.NO_STATUS_RCVD``).
    """

    code: int
    reason: str = ""

    @classmethod
    def parse(cls, payload: bytes) -> Close:
        """Decode a CLOSE payload: ``Close.parse(b"\\x03\\xe8done") == Close(1000, "done")``.

        Raises:
            ControlFrameTooLong: over 125 bytes.
            InvalidClosePayload: exactly 1 byte.
            InvalidCloseCode: a code that may not be sent, like 1005 or 999.
            InvalidUTF8: a reason that is not UTF-8 (close code 1007).
        """
        if len(payload) > 125:
            raise ControlFrameTooLong(Opcode.CLOSE, len(payload))
        if not payload:
            return cls(CloseCode.NO_STATUS_RCVD, "")
        if len(payload) == 1:
            raise InvalidClosePayload(bytes(payload))
        (code,) = struct.unpack_from("!H", payload)
        if not is_sendable_close_code(code):
            raise InvalidCloseCode(code)
        try:
            reason = bytes(payload[2:]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidUTF8("close reason", str(exc)) from exc
        return cls(_as_close_code(code), reason)

    def serialize(self) -> bytes:
        """Encode as a CLOSE payload; ``Close(1005)`` (no status) encodes as ``b""``.

        Raises:
            InvalidCloseCode: the code may not be sent.
            CloseReasonTooLong: the reason is over 123 bytes of UTF-8.
        """
        if self.code == CloseCode.NO_STATUS_RCVD and not self.reason:
            return b""
        if not is_sendable_close_code(self.code):
            raise InvalidCloseCode(self.code)
        reason = self.reason.encode("utf-8")
        if len(reason) > 123:
            raise CloseReasonTooLong(len(reason))
        return struct.pack("!H", self.code) + reason

    def __str__(self) -> str:
        """Code, meaning and reason, e.g. ``1000 (OK) done``."""
        if 3000 <= self.code < 4000:
            meaning = "registered"
        elif 4000 <= self.code < 5000:
            meaning = "private use"
        else:
            meaning = CLOSE_CODE_EXPLANATIONS.get(self.code, "unknown")
        text = f"{int(self.code)} ({meaning})"
        return f"{text} {self.reason}" if self.reason else text


def _as_close_code(code: int) -> int:
    try:
        return CloseCode(code)
    except ValueError:
        return code


class FrameReader:
    """Split a byte stream into frames, whatever chunks it arrives in.

    Sans-I/O: the caller reads the socket and feeds the bytes; the reader never
    blocks and never does I/O::

        reader = FrameReader(mask_required=True)  # a server: clients must mask
        reader.feed(bytes.fromhex("818537fa213d"))  # the head and key arrive first
        reader.next_frame()  # -> None: the payload is not there yet
        reader.feed(bytes.fromhex("7f9f4d5158"))
        reader.next_frame()  # -> Frame(Opcode.TEXT, b'Hello', mask=b'7\\xfa!=')

    Each frame's head is checked as soon as it is complete, so an oversized frame is
    refused (:class:`MessageTooBig`) before its payload is buffered. After an error
    the reader is broken: it drops further bytes and raises the same error again.

    Args:
        mask_required: True on a server, False on a client, None to accept both
            (an inspector watching both directions).
        max_size: the largest payload accepted in a data frame, or None for no limit
            (control frames are capped at 125 bytes by the RFC anyway).
        allow_rsv: True when a negotiated extension gives RSV1-3 a meaning.
    """

    def __init__(
        self,
        *,
        mask_required: bool | None = None,
        max_size: int | None = None,
        allow_rsv: bool = False,
    ) -> None:
        self.mask_required = mask_required
        self.max_size = max_size
        self.allow_rsv = allow_rsv
        self._buffer = bytearray()
        self._error: ProtocolError | None = None

    def feed(self, data: bytes) -> None:
        """Add bytes received from the socket."""
        if self._error is None:
            self._buffer += data

    @property
    def buffered(self) -> int:
        """How many received bytes are waiting to complete a frame."""
        return len(self._buffer)

    def next_frame(self) -> Frame | None:
        """Return the next complete frame, or None until more bytes are fed.

        Raises:
            WebSocketProtocolError: the stream broke a rule; close with its close_code.
        """
        if self._error is not None:
            raise self._error
        try:
            head = _parse_head(
                self._buffer,
                mask_required=self.mask_required,
                max_size=self.max_size,
                allow_rsv=self.allow_rsv,
            )
            if head is None or len(self._buffer) < head.size + head.length:
                return None
            frame = Frame._from_head(head, self._buffer, allow_rsv=self.allow_rsv)
        except ProtocolError as exc:
            self._error = exc
            self._buffer.clear()
            raise
        del self._buffer[: head.size + head.length]
        return frame

    def __iter__(self) -> Iterator[Frame]:
        """Yield every complete frame fed so far."""
        while (frame := self.next_frame()) is not None:
            yield frame
