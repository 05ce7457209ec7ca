"""engine.io packets and payloads (engine.io protocol v4, and v3): pure codecs, no I/O.

engine.io is the transport under socket.io: it opens a session over HTTP long-polling or a
WebSocket, keeps it alive with PING/PONG, and carries MESSAGE packets. A text packet is one
type digit followed by its data::

    0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,...}
    2probe         PING 'probe': the client tests a fresh WebSocket during an upgrade
    3probe         PONG 'probe': the server's answer
    5              UPGRADE: the client switches to the WebSocket
    4hello         MESSAGE 'hello'
    6              NOOP: the server flushes a pending poll

Binary data (protocol v4) travels as the raw bytes of a WebSocket binary frame (no type
prefix: a binary frame is always a MESSAGE), or over long-polling as ``b`` + base64:
``bAQID`` is the bytes ``01 02 03``.

A polling request or response carries a *payload*: several packets in one HTTP body.
In v4 they are joined by the record separator ``\\x1e``; in v3 each is prefixed with its
length and a colon::

    v4: 4hello\\x1e4€€€
    v3: 6:4hello4:4€€€

Protocol v3 (``EIO=3``, socket.io 2.x) differs in three more places: the client sends
PING and the server answers PONG (v4 reversed this: the server pings), binary over
polling is ``b4`` + base64 (the type digit follows ``b``), and a binary WebSocket frame
starts with the packet type as a byte (``04 01 02 03``). An XHR2 v3 polling body may also
be binary (see :func:`decode_payload`). The OPEN data has ``maxPayload`` in v4 only.

Everything here follows https://github.com/socketio/engine.io-protocol and is checked
against python-engineio (v4 only).

Why this module is long: it holds both protocol revisions, v4 and v3, side by side, as
lesson 03 compares them.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import json
from collections.abc import Iterable
from typing import Literal, TypeVar

from kit.wire.errors import (
    EmptyPacket,
    InvalidBase64,
    InvalidOpenPacket,
    InvalidPayload,
    UnknownPacketType,
    UnsupportedEngineVersion,
)
from kit.wire.jsontext import STRICT_JSON, elide, json_kind

__all__ = [
    "RECORD_SEPARATOR",
    "SUPPORTED_VERSIONS",
    "EnginePacket",
    "EnginePacketType",
    "OpenPacket",
    "decode_payload",
    "encode_payload",
]

RECORD_SEPARATOR = "\x1e"
"""Joins the packets of a v4 polling payload: ``4hello\\x1e4€€€`` is two MESSAGEs."""

SUPPORTED_VERSIONS = (4, 3)
"""engine.io protocol versions, as in the ``EIO`` query parameter of every request."""


class EnginePacketType(enum.IntEnum):
    """The first character of an engine.io packet: ``4hello`` is a MESSAGE."""

    OPEN = 0
    """Server -> client, first packet of a session: JSON with sid and timings."""
    CLOSE = 1
    """Either side: close the session (the transport closes too)."""
    PING = 2
    """v4: server -> client heartbeat; v3: client -> server. ``2probe`` tests an upgrade."""
    PONG = 3
    """Answer to a PING, with the same data: v4 client -> server; ``3probe`` from the server."""
    MESSAGE = 4
    """Either side: application data, text or binary (socket.io packets ride in these)."""
    UPGRADE = 5
    """Client -> server over the new WebSocket: switch to it, after ``2probe``/``3probe``."""
    NOOP = 6
    """Server -> client: completes a pending poll during an upgrade; carries nothing."""


_ALLOWED_BINARY_AS = ("frame", "base64")


def _check_version(version: object) -> int:
    # bool is an int in Python; True is not a protocol version.
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise UnsupportedEngineVersion(version)
    return version


def _type_from_digit(char: str, *, index: int | None) -> EnginePacketType:
    if len(char) == 1 and "0" <= char <= "6":
        return EnginePacketType(int(char))
    raise UnknownPacketType(repr(char), index=index)


def _type_from_byte(byte: int, *, index: int | None) -> EnginePacketType:
    if byte <= 6:
        return EnginePacketType(byte)
    raise UnknownPacketType(f"byte {byte:#04x}", index=index)


def _b64decode(text: str, offset: int, *, index: int | None) -> bytes:
    """Strict base64: standard alphabet, padded, nothing else (python's default skips junk)."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except UnicodeEncodeError:
        raise InvalidBase64(text, offset, "non-ASCII character", index=index) from None
    except binascii.Error as exc:
        raise InvalidBase64(text, offset, str(exc), index=index) from exc


def _hex(data: bytes) -> str:
    if len(data) > 16:
        return f"{data[:12].hex(' ')} ... {data[-4:].hex(' ')}"
    return data.hex(" ")


@dataclasses.dataclass(frozen=True)
class EnginePacket:
    """One engine.io packet: a type and its data, text or bytes.

    ``EnginePacket.parse("4hello")`` is ``EnginePacket(EnginePacketType.MESSAGE, "hello")``
    and ``EnginePacket.parse(b"\\x01\\x02\\x03")`` (a binary WebSocket frame) is a MESSAGE
    whose data is ``b"\\x01\\x02\\x03"``. The data is opaque to engine.io: ``4[1,2]`` is
    the string ``"[1,2]"``, never a list (socket.io parses it, one layer up).
    """

    type: EnginePacketType
    data: str | bytes = ""

    def __post_init__(self) -> None:
        # Accept plain ints (EnginePacket(4, "hi")) but store the enum member.
        object.__setattr__(self, "type", EnginePacketType(self.type))
        if isinstance(self.data, (bytearray, memoryview)):
            object.__setattr__(self, "data", bytes(self.data))
        if not isinstance(self.data, (str, bytes)):
            raise TypeError(f"engine.io packet data is str or bytes, not {type(self.data)}")

    @property
    def binary(self) -> bool:
        """Whether the data is bytes (a binary MESSAGE)."""
        return isinstance(self.data, bytes)

    @classmethod
    def parse(cls, data: str | bytes, *, version: int = 4) -> EnginePacket:
        """Decode one packet: text as received in a TEXT frame or a payload, or the bytes
        of a binary WebSocket frame.

        >>> EnginePacket.parse("2probe")
        EnginePacket(type=<EnginePacketType.PING: 2>, data='probe')
        >>> EnginePacket.parse("bAQID").data
        b'\\x01\\x02\\x03'

        Args:
            data: ``str`` for a text packet (``"4hello"``, ``"bAQID"``), ``bytes`` for
                a binary WebSocket frame (v4: the message itself; v3: a type byte, then
                the message).
            version: 4 (``EIO=4``) or 3 (``EIO=3``).

        Raises:
            EngineIOError: EmptyPacket, UnknownPacketType, InvalidBase64, or
                UnsupportedEngineVersion.
        """
        return cls._parse(data, _check_version(version), index=None)

    @classmethod
    def _parse(cls, data: str | bytes, version: int, *, index: int | None) -> EnginePacket:
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
            if version == 4:
                return cls(EnginePacketType.MESSAGE, data)  # even b"": an empty message
            if not data:
                raise EmptyPacket(index=index)
            return cls(_type_from_byte(data[0], index=index), data[1:])
        if not isinstance(data, str):
            raise TypeError(f"an engine.io packet is str or bytes, not {type(data)}")
        if not data:
            raise EmptyPacket(index=index)
        if data[0] == "b":
            if version == 4:
                return cls(EnginePacketType.MESSAGE, _b64decode(data[1:], 1, index=index))
            if len(data) < 2:
                raise UnknownPacketType("nothing after 'b'", index=index)
            packet_type = _type_from_digit(data[1], index=index)
            return cls(packet_type, _b64decode(data[2:], 2, index=index))
        return cls(_type_from_digit(data[0], index=index), data[1:])

    def serialize(
        self, *, binary_as: Literal["frame", "base64"] = "frame", version: int = 4
    ) -> str | bytes:
        """Encode the packet: text packets as ``str``, binary ones as frame bytes or base64.

        >>> EnginePacket(EnginePacketType.PONG, "probe").serialize()
        '3probe'
        >>> EnginePacket(EnginePacketType.MESSAGE, b"\\x01\\x02\\x03").serialize(binary_as="base64")
        'bAQID'

        Args:
            binary_as: for bytes data, ``"frame"`` gives the bytes of a binary WebSocket
                frame, ``"base64"`` the text used over long-polling (``b`` + base64 in v4,
                ``b4`` + base64 in v3).
            version: 4 or 3.
        """
        version = _check_version(version)
        if binary_as not in _ALLOWED_BINARY_AS:
            raise ValueError(f"binary_as is 'frame' or 'base64', not {binary_as!r}")
        if isinstance(self.data, str):
            return f"{int(self.type)}{self.data}"
        if version == 4 and self.type != EnginePacketType.MESSAGE:
            raise ValueError(
                f"in engine.io v4 only MESSAGE packets carry bytes, not {self.type.name}"
            )
        if binary_as == "frame":
            return self.data if version == 4 else bytes([self.type]) + self.data
        encoded = base64.b64encode(self.data).decode("ascii")
        return f"b{encoded}" if version == 4 else f"b{int(self.type)}{encoded}"

    def __str__(self) -> str:
        """One inspector row: ``MESSAGE 'hello'``, ``PING 'probe'``, ``NOOP``,
        ``MESSAGE <3 bytes: 01 02 03>``, or for OPEN its fields
        (``OPEN sid=lv_VI97HAXpY6yYWAAAC upgrades=websocket pingInterval=25000 ...``).
        """
        name = self.type.name
        if isinstance(self.data, bytes):
            size = len(self.data)
            if not size:
                return f"{name} <0 bytes>"
            return f"{name} <{size} byte{'' if size == 1 else 's'}: {_hex(self.data)}>"
        if self.type == EnginePacketType.OPEN:
            try:
                return f"{name} {OpenPacket.from_packet(self).summary()}"
            except InvalidOpenPacket:
                pass  # show the raw data: the inspector must not fail on a bad packet
        if not self.data:
            return name
        return f"{name} {elide(repr(self.data))}"


_Kind = TypeVar("_Kind", str, int, list[object])


def _optional(obj: dict[str, object], name: str, kind: type[_Kind]) -> _Kind | None:
    """The field ``name`` of the OPEN data, of type ``kind``, or None when absent."""
    if name not in obj:
        return None
    value = obj[name]
    # JSON true/false are bool, and bool is an int subclass: refuse them explicitly.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidOpenPacket(
            f"it is {json.dumps(value)}, {json_kind(value)}; expected {json_kind(kind())}",
            name,
        )
    if isinstance(value, int) and value < 0:
        raise InvalidOpenPacket(f"it is {value}; expected a count of milliseconds >= 0", name)
    return value


def _field(obj: dict[str, object], name: str, kind: type[_Kind]) -> _Kind:
    """The field ``name`` of the OPEN data, of type ``kind``; it must be there."""
    value = _optional(obj, name, kind)
    if value is None:
        raise InvalidOpenPacket("it is missing", name)
    return value


@dataclasses.dataclass(frozen=True)
class OpenPacket:
    """The data of the OPEN packet, the server's first words in a session.

    ``0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,
    "pingTimeout":20000,"maxPayload":1000000}``: the session id to put in every later
    request (``?EIO=4&transport=polling&sid=...``), the transports the client may
    upgrade to, how often the heartbeat runs and how long to wait for it (ms), and the
    largest payload the server accepts (bytes, v4 only; ``None`` when absent, as in v3).
    """

    sid: str
    upgrades: list[str]
    ping_interval: int
    ping_timeout: int
    max_payload: int | None = None

    @classmethod
    def parse(cls, json_text: str) -> OpenPacket:
        """Decode the JSON after the ``0`` of an OPEN packet; unknown fields are ignored.

        Raises:
            InvalidOpenPacket: not a JSON object, or a field missing or ill-typed.
        """
        try:
            obj = STRICT_JSON.decode(json_text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            raise InvalidOpenPacket(f"{elide(json_text, 60)!r} is not JSON ({exc})") from exc
        if not isinstance(obj, dict):
            raise InvalidOpenPacket(f"it is {json_kind(obj)}, not an object")
        sid = _field(obj, "sid", str)
        if not sid:
            raise InvalidOpenPacket("it is empty; expected the session id", "sid")
        upgrades = _field(obj, "upgrades", list)
        for position, upgrade in enumerate(upgrades):
            if not isinstance(upgrade, str):
                raise InvalidOpenPacket(
                    f"item {position} is {json.dumps(upgrade)}; expected transport names "
                    'like "websocket"',
                    "upgrades",
                )
        return cls(
            sid=sid,
            upgrades=[str(upgrade) for upgrade in upgrades],
            ping_interval=_field(obj, "pingInterval", int),
            ping_timeout=_field(obj, "pingTimeout", int),
            max_payload=_optional(obj, "maxPayload", int),
        )

    @classmethod
    def from_packet(cls, packet: EnginePacket) -> OpenPacket:
        """Decode the data of an OPEN :class:`EnginePacket` (e.g. ``EnginePacket.parse("0{...}")``).

        Raises:
            InvalidOpenPacket: the packet is not a text OPEN packet, or its data is bad.
        """
        if packet.type != EnginePacketType.OPEN:
            raise InvalidOpenPacket(f"the packet is {packet.type.name}, not OPEN")
        if isinstance(packet.data, bytes):
            raise InvalidOpenPacket("the OPEN packet carries bytes, not JSON text")
        return cls.parse(packet.data)

    def to_packet(self) -> EnginePacket:
        """The OPEN packet a server sends, fields in the order of the protocol's example."""
        fields: dict[str, object] = {
            "sid": self.sid,
            "upgrades": list(self.upgrades),
            "pingInterval": self.ping_interval,
            "pingTimeout": self.ping_timeout,
        }
        if self.max_payload is not None:
            fields["maxPayload"] = self.max_payload
        return EnginePacket(EnginePacketType.OPEN, json.dumps(fields, separators=(",", ":")))

    def summary(self) -> str:
        """The fields on one line, as in an inspector row."""
        text = (
            f"sid={self.sid} upgrades={','.join(self.upgrades) or '-'} "
            f"pingInterval={self.ping_interval} pingTimeout={self.ping_timeout}"
        )
        if self.max_payload is not None:
            text += f" maxPayload={self.max_payload}"
        return text


# Payloads: several packets in one polling body ---------------------------------------


def _utf16_units(char: str) -> int:
    """JavaScript's length of one character: 2 outside the BMP (a surrogate pair)."""
    return 2 if ord(char) > 0xFFFF else 1


def _utf16_length(text: str) -> int:
    """JavaScript's ``text.length``: ``_utf16_length("😀")`` is 2."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _take_utf16(text: str, start: int, units: int, prefix_offset: int) -> int:
    """The index in ``text`` where ``units`` UTF-16 code units from ``start`` end."""
    end = start
    remaining = units
    while remaining > 0:
        if end >= len(text):
            available = _utf16_length(text[start:])
            raise InvalidPayload(
                f"length {units} announces {units} characters but only {available} follow",
                prefix_offset,
                3,
            )
        remaining -= _utf16_units(text[end])
        end += 1
    if remaining < 0:
        raise InvalidPayload(
            f"length {units} ends inside the character {text[end - 1]!r} at offset "
            f"{end - 1}, which JavaScript counts as 2 (a UTF-16 surrogate pair)",
            prefix_offset,
            3,
        )
    return end


_MAX_LENGTH_DIGITS = 15  # more digits than that overrun any payload a server accepts


def _length_from_digits(digits: str, offset: int, available: int, version: int) -> int:
    significant = digits.lstrip("0")
    if len(significant) > _MAX_LENGTH_DIGITS:
        raise InvalidPayload(
            f"length {elide(digits, 20)} overruns the {available} characters that follow",
            offset,
            version,
        )
    return int(digits)


def _decode_v3_text(text: str) -> list[EnginePacket]:
    packets: list[EnginePacket] = []
    position = 0
    while position < len(text):
        colon = text.find(":", position)
        digits = text[position:] if colon == -1 else text[position:colon]
        if colon == -1:
            raise InvalidPayload(
                f"the length prefix {elide(digits, 20)!r} is not followed by ':'",
                position,
                3,
            )
        if not digits or not all("0" <= char <= "9" for char in digits):
            raise InvalidPayload(
                f"the length prefix {elide(digits, 20)!r} is not decimal digits",
                position,
                3,
            )
        start = colon + 1
        length = _length_from_digits(digits, position, len(text) - start, 3)
        if length == 0:
            raise EmptyPacket(index=len(packets))
        end = _take_utf16(text, start, length, position)
        packets.append(EnginePacket._parse(text[start:end], 3, index=len(packets)))
        position = end
    return packets


def _decode_v3_binary(body: bytes) -> list[EnginePacket]:
    """XHR2 binary payload: per packet, 0x00 (text) or 0x01 (binary), the length as one
    byte per decimal digit, 0xff, then the packet (UTF-8 text, or type byte + bytes)."""
    packets: list[EnginePacket] = []
    position = 0
    while position < len(body):
        kind = body[position]
        if kind not in (0, 1):
            raise InvalidPayload(
                f"byte {kind:#04x} must be 0x00 (a text packet follows) or 0x01 (binary)",
                position,
                3,
            )
        end_of_length = body.find(b"\xff", position + 1)
        if end_of_length == -1:
            raise InvalidPayload("no 0xff byte ends the length", position + 1, 3)
        digits = body[position + 1 : end_of_length]
        bad = next((i for i, byte in enumerate(digits) if byte > 9), None)
        if not digits or bad is not None:
            where = position + 1 + (bad or 0)
            raise InvalidPayload(
                "the length must be one byte 0x00-0x09 per decimal digit, then 0xff",
                where,
                3,
            )
        start = end_of_length + 1
        text_digits = "".join(str(byte) for byte in digits)
        length = _length_from_digits(text_digits, position + 1, len(body) - start, 3)
        if start + length > len(body):
            raise InvalidPayload(
                f"length {length} announces {length} bytes but only {len(body) - start} follow",
                position + 1,
                3,
            )
        chunk = body[start : start + length]
        index = len(packets)
        if not chunk:
            raise EmptyPacket(index=index)
        if kind == 0:
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidPayload(f"text packet {index} is not UTF-8 ({exc})", start, 3) from exc
            packets.append(EnginePacket._parse(text, 3, index=index))
        else:
            packets.append(EnginePacket._parse(chunk, 3, index=index))
        position = start + length
    return packets


def decode_payload(data: str | bytes, version: int = 4) -> list[EnginePacket]:
    """Split a long-polling body into packets.

    >>> [str(packet) for packet in decode_payload("4hello\\x1e4€€€")]
    ["MESSAGE 'hello'", "MESSAGE '€€€'"]
    >>> decode_payload("6:4hello4:4€€€", version=3) == decode_payload("4hello\\x1e4€€€")
    True

    ``data`` is the body as text, or as the raw bytes of the HTTP body: v4 bodies are
    UTF-8 text; a v3 body that starts with a byte 0x00 or 0x01 is an XHR2 binary payload
    (``00 06 ff`` + ``4hello`` in UTF-8: a 6-byte text packet; ``01 04 ff 04 01 02 03``:
    a 4-byte binary packet, type byte 04 then the data), any other v3 body is UTF-8 text.

    An empty body is refused: a payload carries at least one packet (both reference
    JavaScript parsers report an error for it).

    Raises:
        EngineIOError: InvalidPayload (where it fails to split, by offset), or the
            error of the packet at fault (with its ``index``), or
            UnsupportedEngineVersion.
    """
    version = _check_version(version)
    if isinstance(data, (bytes, bytearray, memoryview)):
        body = bytes(data)
        if version == 3 and body[:1] in (b"\x00", b"\x01"):
            return _decode_v3_binary(body)
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidPayload(
                f"the body is not UTF-8 ({exc.reason})", exc.start, version
            ) from exc
    if not isinstance(data, str):
        raise TypeError(f"an engine.io payload is str or bytes, not {type(data)}")
    if not data:
        raise InvalidPayload("the body is empty: a payload carries at least one packet", 0, version)
    if version == 3:
        return _decode_v3_text(data)
    return [
        EnginePacket._parse(text, 4, index=index)
        for index, text in enumerate(data.split(RECORD_SEPARATOR))
    ]


def encode_payload(packets: Iterable[EnginePacket], version: int = 4) -> str:
    """Join packets into one long-polling body; bytes data travels as base64.

    >>> encode_payload([EnginePacket(4, "hello"), EnginePacket(4, b"\\x01\\x02\\x03")])
    '4hello\\x1ebAQID'
    >>> encode_payload([EnginePacket(4, "hello"), EnginePacket(4, "€€€")], version=3)
    '6:4hello4:4€€€'

    Raises:
        ValueError: no packets, or (v4) a text packet containing ``\\x1e``, which
            would split it in two on the other side.
    """
    version = _check_version(version)
    encoded: list[str] = []
    for index, packet in enumerate(packets):
        text = packet.serialize(binary_as="base64", version=version)
        assert isinstance(text, str)  # base64 is always text
        if version == 4 and RECORD_SEPARATOR in text:
            raise ValueError(
                f"packet {index} contains the record separator '\\x1e', which splits a v4 "
                "payload: send it over the WebSocket, or escape it in the data"
            )
        encoded.append(text if version == 4 else f"{_utf16_length(text)}:{text}")
    if not encoded:
        raise ValueError("a payload carries at least one packet; send a NOOP (6) if idle")
    return (RECORD_SEPARATOR if version == 4 else "").join(encoded)
