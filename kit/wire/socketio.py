"""socket.io packets (socket.io protocol v5): parse, serialize, validate; no I/O.

A socket.io packet rides inside an engine.io MESSAGE (``42["foo"]`` on the wire is
engine.io type 4, then the socket.io packet ``2["foo"]``). Its text layout::

    <type>[<#attachments>-][<namespace>,][<ack id>][JSON data]

    0                                       CONNECT to the main namespace "/"
    0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}  the server's answer: connected to /admin
    2["foo"]                                EVENT "foo", no arguments
    212["foo"]                              EVENT "foo", asking for an ACK with id 12
    3/admin,13["bar"]                       ACK id 13 on /admin, with the answer "bar"
    4/random,{"message":"Unauthorized"}     CONNECT_ERROR: the server refused /random
    1/admin,                                DISCONNECT from /admin
    51-["baz",{"_placeholder":true,"num":0}]
                                            BINARY_EVENT with 1 attachment: the next
                                            binary message replaces the placeholder

The namespace is omitted when it is ``/``; the attachment count only appears on the
binary types. :func:`deconstruct` and :func:`reconstruct` swap bytes and placeholders.

Validation follows the reference JavaScript parser, socket.io-parser 4.2
(``Decoder.isPayloadValid`` and ``decodeString``), and is stricter in a few documented
places (:meth:`SocketPacket.check`). python-socketio's own decoder is more lenient
still: it accepts ``2["connect"]``, ``1/admin,["x"]``, ``0["x"]`` or ``9`` (see the tests).

Why this module is long: binary attachments (deconstruct, reconstruct, the collector)
live with the packet they belong to.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Sequence

from kit.wire.errors import (
    InvalidAckId,
    InvalidAttachments,
    InvalidJSON,
    InvalidPlaceholder,
    InvalidSocketPayload,
    ReservedEventName,
    SocketIOError,
    UnknownSocketPacketType,
)
from kit.wire.jsontext import STRICT_JSON, elide, json_kind

__all__ = [
    "BINARY_TYPES",
    "MAX_ACK_ID",
    "RESERVED_EVENTS",
    "AttachmentCollector",
    "SocketPacket",
    "SocketPacketType",
    "deconstruct",
    "reconstruct",
]


class SocketPacketType(enum.IntEnum):
    """The first character of a socket.io packet: ``2["foo"]`` is an EVENT."""

    CONNECT = 0
    """Client -> server: join a namespace (optional auth object); the server answers
    CONNECT with ``{"sid": ...}``."""
    DISCONNECT = 1
    """Either side: leave a namespace; carries no data."""
    EVENT = 2
    """Either side: an event, ``["name", arg1, ...]``, with an ack id if it wants an answer."""
    ACK = 3
    """Either side: the answer to the EVENT with the same ack id, ``[result, ...]``."""
    CONNECT_ERROR = 4
    """Server -> client: the namespace refused the CONNECT, ``{"message": ...}``."""
    BINARY_EVENT = 5
    """An EVENT whose arguments contain bytes, sent as N attachments after the packet."""
    BINARY_ACK = 6
    """An ACK whose answers contain bytes, sent as N attachments after the packet."""


BINARY_TYPES = frozenset({SocketPacketType.BINARY_EVENT, SocketPacketType.BINARY_ACK})
"""Packet types followed by binary attachments; only they carry the ``N-`` count."""

_ID_TYPES = frozenset(
    {
        SocketPacketType.EVENT,
        SocketPacketType.ACK,
        SocketPacketType.BINARY_EVENT,
        SocketPacketType.BINARY_ACK,
    }
)
_ACK_TYPES = frozenset({SocketPacketType.ACK, SocketPacketType.BINARY_ACK})
_EVENT_TYPES = frozenset({SocketPacketType.EVENT, SocketPacketType.BINARY_EVENT})

RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
"""Event names the libraries fire themselves; an EVENT packet may not carry them."""

MAX_ACK_ID = 2**53 - 1
"""Largest ack id (and attachment count) a JavaScript number holds exactly."""

_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() would accept "٣" or "²"
_MAX_DIGITS = len(str(MAX_ACK_ID))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_payload(packet_type: SocketPacketType, data: object, packet: str) -> None:
    """The shape rules of socket.io-parser 4.2's isPayloadValid, plus "data required"."""
    name = packet_type.name
    if packet_type == SocketPacketType.CONNECT:
        if data is not None and not isinstance(data, dict):
            raise InvalidSocketPayload(name, f"is {json_kind(data)}", packet=packet)
    elif packet_type == SocketPacketType.DISCONNECT:
        if data is not None:
            raise InvalidSocketPayload(name, f"is {json_kind(data)}", packet=packet)
    elif data is None:
        raise InvalidSocketPayload(name, "is missing", packet=packet)
    elif packet_type == SocketPacketType.CONNECT_ERROR:
        if not isinstance(data, (dict, str)):
            raise InvalidSocketPayload(name, f"is {json_kind(data)}", packet=packet)
    elif not isinstance(data, list):
        raise InvalidSocketPayload(name, f"is {json_kind(data)}", packet=packet)
    elif packet_type in _EVENT_TYPES:
        if not data:
            raise InvalidSocketPayload(name, "is an empty array, without a name", packet=packet)
        event = data[0]
        if isinstance(event, str):
            if event in RESERVED_EVENTS:
                raise ReservedEventName(event, packet=packet)
        elif not _is_number(event):
            raise InvalidSocketPayload(
                name, f"starts with {json_kind(event)}, not a name", packet=packet
            )


def _dumps(data: object) -> str:
    """Compact JSON as JavaScript's JSON.stringify writes it: non-ASCII kept as is."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    # A lone surrogate cannot be sent as UTF-8; JSON.stringify escapes it too.
    return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


def _render(value: object) -> str:
    """Data as compact JSON for an inspector row, bytes shown as ``<3 bytes>``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        size = len(bytes(value))
        return f"<{size} byte{'' if size == 1 else 's'}>"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_render(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{_dumps(str(key))}:{_render(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    try:
        return _dumps(value)
    except (TypeError, ValueError):
        return repr(value)


@dataclasses.dataclass(frozen=True)
class SocketPacket:
    """One socket.io packet, e.g. ``SocketPacket(SocketPacketType.EVENT, data=["foo"])``.

    ``data`` is the decoded JSON (``None``: no data); ``id`` is the ack id (``None``:
    no answer wanted); ``attachments`` counts the binary messages that follow a
    BINARY_EVENT or BINARY_ACK. ``SocketPacket.parse('3/admin,13["bar"]')`` is
    ``SocketPacket(SocketPacketType.ACK, "/admin", ["bar"], id=13)``.
    """

    type: SocketPacketType
    namespace: str = "/"
    data: object = None
    id: int | None = None
    attachments: int = 0

    def __post_init__(self) -> None:
        # Accept plain ints (SocketPacket(2, data=["foo"])) but store the enum member.
        object.__setattr__(self, "type", SocketPacketType(self.type))

    @classmethod
    def parse(cls, text: str) -> SocketPacket:
        """Decode one packet, as found in an engine.io MESSAGE (after its ``4``).

        >>> packet = SocketPacket.parse('212["foo"]')
        >>> (packet.type.name, packet.namespace, packet.data, packet.id)
        ('EVENT', '/', ['foo'], 12)

        Raises:
            SocketIOError: UnknownSocketPacketType, InvalidAttachments, InvalidAckId,
                InvalidJSON, InvalidSocketPayload (ReservedEventName).
        """
        if not isinstance(text, str):
            raise TypeError(f"a socket.io packet is text (str), not {type(text)}")
        if not text or not "0" <= text[0] <= "6":
            raise UnknownSocketPacketType(packet=text)
        packet_type = SocketPacketType(int(text[0]))
        position = 1

        # <#attachments>-: BINARY_EVENT and BINARY_ACK only.
        count = _DIGITS.match(text, position)
        dash = count is not None and text.startswith("-", count.end())
        attachments = 0
        if packet_type in BINARY_TYPES:
            if count is None or not dash:
                raise InvalidAttachments(
                    f"{packet_type.name} has no attachment count at offset 1", packet=text
                )
            attachments = _bounded(count.group(), "attachment count", text, InvalidAttachments)
            position = count.end() + 1
        elif dash:
            raise InvalidAttachments(
                f"{packet_type.name} carries an attachment count {count.group()!r}-",  # type: ignore[union-attr]
                packet=text,
            )

        # <namespace>,: starts with "/", ends at the first comma (or the end).
        namespace = "/"
        if text.startswith("/", position):
            comma = text.find(",", position)
            end = len(text) if comma == -1 else comma
            namespace = text[position:end]
            position = end + 1 if comma != -1 else end

        # <ack id>: decimal digits right before the JSON.
        ack_id = None
        digits = _DIGITS.match(text, position)
        if digits is not None:
            if packet_type not in _ID_TYPES:
                raise InvalidAckId(
                    f"{packet_type.name} carries an ack id {digits.group()!r} at offset {position}",
                    packet=text,
                )
            ack_id = _bounded(digits.group(), "ack id", text, InvalidAckId)
            position = digits.end()
        if ack_id is None and packet_type in _ACK_TYPES:
            raise InvalidAckId(
                f"{packet_type.name} has no ack id at offset {position}", packet=text
            )

        # [JSON data]: one value, then nothing.
        data = None
        if position < len(text):
            try:
                data, end = STRICT_JSON.raw_decode(text, position)
            except json.JSONDecodeError as exc:
                raise InvalidJSON(exc.pos, exc.msg, packet=text) from exc
            except (ValueError, RecursionError) as exc:
                raise InvalidJSON(position, str(exc) or "nested too deeply", packet=text) from exc
            if end != len(text):
                raise InvalidJSON(end, "extra data after the JSON value", packet=text)
            if data is None:
                raise InvalidSocketPayload(packet_type.name, "is null", packet=text)
        _check_payload(packet_type, data, text)
        return cls(packet_type, namespace, data, ack_id, attachments)

    def serialize(self, *, validate: bool = True) -> str:
        """Encode the packet as the text of an engine.io MESSAGE.

        >>> SocketPacket(SocketPacketType.ACK, "/admin", ["bar"], id=13).serialize()
        '3/admin,13["bar"]'

        JSON is compact and keeps non-ASCII characters, as JavaScript writes it. Bytes
        in ``data`` must first be swapped for placeholders with :func:`deconstruct`.

        Args:
            validate: run :meth:`check` first; pass False to craft a broken packet.
        """
        if validate:
            self.check()
        text = str(int(self.type))
        if self.type in BINARY_TYPES:
            text += f"{self.attachments}-"
        if self.namespace != "/":
            text += f"{self.namespace},"
        if self.id is not None:
            text += str(self.id)
        if self.data is not None:
            text += _dumps(self.data)
        return text

    def check(self) -> None:
        """Enforce the rules :meth:`parse` enforces, on a packet about to be sent.

        What is checked, compared with socket.io-parser 4.2 (the reference decoder):

        - CONNECT data is an object or absent; DISCONNECT has no data (same).
        - CONNECT_ERROR data is an object or a string (same: 4.2 accepts a string, which
          the v4 protocol doc does not show, but older servers sent ``4"Not authorized"``).
        - EVENT data is an array whose first item is a string that is not reserved, or a
          number (same: 4.2 accepts ``2[1]``); ACK data is an array (same).
        - Stricter than 4.2: data is required on EVENT, ACK and CONNECT_ERROR (4.2 accepts
          ``2`` and ``3/admin,1``); JSON ``null`` is refused; ACK needs an id; CONNECT,
          DISCONNECT and CONNECT_ERROR take none (4.2 reads ``05`` as CONNECT with id 5);
          ids and counts are ASCII digits up to 2**53 - 1; the attachment count has at
          least one digit (4.2 reads ``5-["a"]`` as 0 attachments); no whitespace around
          the JSON, no NaN/Infinity in it, no number beyond a double (``1e400``).

        Raises:
            SocketIOError: the subclass for the first rule broken.
            ValueError: a namespace that does not start with "/" or contains ",", bytes
                in ``data`` (call :func:`deconstruct`), or data JSON cannot encode.
        """
        if not self.namespace.startswith("/") or "," in self.namespace:
            raise ValueError(f"namespace {self.namespace!r} must start with '/' and contain no ','")
        text = _safe_text(self)
        if self.type in BINARY_TYPES:
            if not 0 <= self.attachments <= MAX_ACK_ID:
                raise InvalidAttachments(f"attachment count {self.attachments}", packet=text)
        elif self.attachments:
            raise InvalidAttachments(
                f"{self.type.name} carries an attachment count {self.attachments}", packet=text
            )
        if self.id is not None:
            if self.type not in _ID_TYPES:
                raise InvalidAckId(f"{self.type.name} carries an ack id {self.id}", packet=text)
            if isinstance(self.id, bool) or not 0 <= self.id <= MAX_ACK_ID:
                raise InvalidAckId(f"ack id {self.id!r} is out of range", packet=text)
        elif self.type in _ACK_TYPES:
            raise InvalidAckId(f"{self.type.name} has no ack id", packet=text)
        if _has_bytes(self.data):
            raise ValueError("data contains bytes: call deconstruct(packet) before serialize()")
        _check_payload(self.type, self.data, text)

    @property
    def event(self) -> str | int | float | None:
        """The event name of an EVENT or BINARY_EVENT (``"foo"`` for ``2["foo",1]``), else None."""
        if self.type in _EVENT_TYPES and isinstance(self.data, list) and self.data:
            return self.data[0]
        return None

    @property
    def args(self) -> list[object]:
        """The arguments: ``[1]`` for ``2["foo",1]``, the answers of an ACK, else ``[]``."""
        if not isinstance(self.data, list):
            return []
        if self.type in _EVENT_TYPES:
            return list(self.data[1:])
        if self.type in _ACK_TYPES:
            return list(self.data)
        return []

    def __str__(self) -> str:
        """One inspector row: ``EVENT / ["new message",{"mess":"hi"}]``,
        ``ACK /admin #13 ["bar"]``, ``BINARY_EVENT / ["baz",<3 bytes>] +1 attachment``.
        """
        parts = [self.type.name, self.namespace]
        if self.id is not None:
            parts.append(f"#{self.id}")
        if self.data is not None:
            parts.append(elide(_render(self.data)))
        if self.type in BINARY_TYPES:
            parts.append(f"+{self.attachments} attachment{'' if self.attachments == 1 else 's'}")
        return " ".join(parts)


def _bounded(digits: str, what: str, text: str, error: type[SocketIOError]) -> int:
    if len(digits.lstrip("0")) > _MAX_DIGITS or int(digits) > MAX_ACK_ID:
        raise error(f"{what} {elide(digits, 24)} is over 2**53 - 1", packet=text)
    return int(digits)


def _safe_text(packet: SocketPacket) -> str:
    """The packet as text for an error message, even when it cannot be serialized."""
    try:
        return packet.serialize(validate=False)
    except (TypeError, ValueError):
        return str(packet)


def _has_bytes(value: object) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_bytes(item) for item in value)
    if isinstance(value, dict):
        return any(_has_bytes(item) for item in value.values())
    return False


# Binary attachments ------------------------------------------------------------------


def deconstruct(packet: SocketPacket) -> tuple[SocketPacket, list[bytes]]:
    """Swap every bytes value in the data for a numbered placeholder.

    ``SocketPacket(SocketPacketType.EVENT, data=["baz", b"\\x01\\x02\\x03"])`` becomes
    the packet ``51-["baz",{"_placeholder":true,"num":0}]`` and the attachment list
    ``[b"\\x01\\x02\\x03"]``: the packet is sent as a text message, then each
    attachment as a binary message, in order. EVENT becomes BINARY_EVENT, ACK becomes
    BINARY_ACK; a packet without bytes comes back unchanged with ``[]``.

    Raises:
        ValueError: bytes in a packet type that cannot carry them (CONNECT...).
    """
    attachments: list[bytes] = []

    def swap(value: object) -> object:
        if isinstance(value, (bytes, bytearray, memoryview)):
            attachments.append(bytes(value))
            return {"_placeholder": True, "num": len(attachments) - 1}
        if isinstance(value, (list, tuple)):
            return [swap(item) for item in value]
        if isinstance(value, dict):
            return {key: swap(item) for key, item in value.items()}
        return value

    data = swap(packet.data)
    if not attachments:
        return packet, []
    binary_type = {
        SocketPacketType.EVENT: SocketPacketType.BINARY_EVENT,
        SocketPacketType.ACK: SocketPacketType.BINARY_ACK,
        SocketPacketType.BINARY_EVENT: SocketPacketType.BINARY_EVENT,
        SocketPacketType.BINARY_ACK: SocketPacketType.BINARY_ACK,
    }.get(packet.type)
    if binary_type is None:
        raise ValueError(f"a {packet.type.name} packet cannot carry bytes: only EVENT and ACK")
    return dataclasses.replace(
        packet, type=binary_type, data=data, attachments=len(attachments)
    ), attachments


def reconstruct(packet: SocketPacket, attachments: Sequence[bytes]) -> SocketPacket:
    """Put the attachments back where their placeholders are.

    The inverse of :func:`deconstruct`: ``51-["baz",{"_placeholder":true,"num":0}]`` with
    ``[b"\\x01\\x02\\x03"]`` gives data ``["baz", b"\\x01\\x02\\x03"]``. The type stays
    BINARY_EVENT (or BINARY_ACK) and ``attachments`` keeps the count, so
    ``deconstruct(reconstruct(p, a)) == (p, a)`` when the placeholders are in order.

    Raises:
        InvalidAttachments: not exactly ``packet.attachments`` attachments given.
        InvalidPlaceholder: a placeholder whose ``num`` is not an int naming one of them.
        ValueError: the packet is not BINARY_EVENT or BINARY_ACK.
    """
    if packet.type not in BINARY_TYPES:
        raise ValueError(
            f"only BINARY_EVENT and BINARY_ACK have attachments, not {packet.type.name}"
        )
    text = _safe_text(packet)
    if len(attachments) != packet.attachments:
        raise InvalidAttachments(
            f"{len(attachments)} attachment(s) arrived for a packet announcing "
            f"{packet.attachments}",
            packet=text,
        )

    def fill(value: object) -> object:
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, dict):
            if value.get("_placeholder") is True:  # JavaScript: data._placeholder === true
                num = value.get("num")
                if not isinstance(num, int) or isinstance(num, bool):
                    raise InvalidPlaceholder(num, len(attachments), packet=text)
                if not 0 <= num < len(attachments):
                    raise InvalidPlaceholder(num, len(attachments), packet=text)
                return bytes(attachments[num])
            return {key: fill(item) for key, item in value.items()}
        return value

    return dataclasses.replace(packet, data=fill(packet.data))


class AttachmentCollector:
    """Wait for a binary packet's attachments, then put them back (one per direction).

    A BINARY_EVENT announces ``N-`` attachments; the next N binary engine.io messages of
    that direction are them, in order::

        collector = AttachmentCollector()
        collector.expect(SocketPacket.parse('51-["up",{"_placeholder":true,"num":0}]'))
        collector.add(b"\\x00\\xff")   # -> (1, 1, the packet with data ["up", b"\\x00\\xff"])

    A packet without attachments is ignored by :meth:`expect`.
    """

    def __init__(self) -> None:
        self._packet: SocketPacket | None = None
        self._received: list[bytes] = []

    @property
    def expected(self) -> int:
        """How many attachments the open packet still waits for (0: none open)."""
        if self._packet is None:
            return 0
        return self._packet.attachments - len(self._received)

    def expect(self, packet: SocketPacket) -> None:
        """A packet arrived: start collecting its attachments, if it announces any."""
        if packet.attachments:
            self._packet, self._received = packet, []

    def add(self, attachment: bytes) -> tuple[int, int, SocketPacket | None]:
        """Take one attachment: (its number from 1, the count, the packet once complete).

        Raises:
            ValueError: no packet is waiting for attachments.
            InvalidPlaceholder: the complete packet's placeholders do not match.
        """
        packet = self._packet
        if packet is None:
            raise ValueError("an attachment arrived, but no binary packet announced one")
        self._received.append(bytes(attachment))
        index, total = len(self._received), packet.attachments
        if index < total:
            return index, total, None
        received, self._packet, self._received = self._received, None, []
        return index, total, reconstruct(packet, received)
