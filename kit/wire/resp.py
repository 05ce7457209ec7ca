"""RESP, the Redis serialization protocol: what chat servers say to Redis, as pure codecs.

Every Redis command and reply is one RESP value. The first byte says its type, a line
ends with CRLF, and strings carry their length up front, so a reader always knows where a
value ends (Redis serialization protocol specification, "RESP protocol description")::

    *3\\r\\n$7\\r\\nPUBLISH\\r\\n$12\\r\\nwire-to-room\\r\\n$5\\r\\nhello\\r\\n
    -> an array of 3 bulk strings: PUBLISH wire-to-room hello
    :2\\r\\n
    -> the integer 2: two subscribers got the message

==========  ===================  ============================================  ======
first byte  type                 example                                       RESP
==========  ===================  ============================================  ======
``+``       simple string        ``+OK\\r\\n``                                   2, 3
``-``       simple error         ``-ERR unknown command\\r\\n``                  2, 3
``:``       integer              ``:1000\\r\\n``                                 2, 3
``$``       bulk string          ``$5\\r\\nhello\\r\\n`` (``$-1\\r\\n``: null)      2, 3
``*``       array                ``*2\\r\\n:1\\r\\n:2\\r\\n`` (``*-1\\r\\n``: null)   2, 3
``_``       null                 ``_\\r\\n``                                     3
``#``       boolean              ``#t\\r\\n``                                    3
``,``       double               ``,3.14\\r\\n``                                 3
``(``       big number           ``(3492890328409238509324850943850943825024385``  3
``!``       bulk error           ``!21\\r\\nSYNTAX invalid syntax\\r\\n``           3
``=``       verbatim string      ``=15\\r\\ntxt:Some string\\r\\n``                 3
``%``       map                  ``%1\\r\\n+key\\r\\n:1\\r\\n``                       3
``~``       set                  ``~1\\r\\n:1\\r\\n``                              3
``>``       push                 ``>3\\r\\n$7\\r\\nmessage\\r\\n...`` (pub/sub)      3
``|``       attribute            ``|1\\r\\n+ttl\\r\\n:3600\\r\\n`` before a value      3
==========  ===================  ============================================  ======

A client may also send an *inline command*, a plain line such as ``PING\\r\\n`` (what you
type into ``telnet``); :class:`RespReader` reads those when told it reads a client.

:class:`RespReader` is sans-I/O like :class:`~kit.wire.frames.FrameReader`: feed it bytes
as they arrive, take whole values out. Broken input raises a
:class:`~kit.wire.errors.RespProtocolError` saying what and where.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from kit.wire.errors import (
    InvalidRespLength,
    InvalidRespNumber,
    MissingCRLF,
    RespTooDeep,
    UnknownRespType,
)

__all__ = [
    "MAX_BULK",
    "MAX_DEPTH",
    "MAX_INLINE",
    "RespReader",
    "RespType",
    "RespValue",
    "encode_command",
]

MAX_BULK = 512 * 2**20
"""The longest bulk string read, in bytes (Redis's own ``proto-max-bulk-len``)."""
MAX_DEPTH = 32
"""How deeply arrays, maps and sets may nest."""
MAX_INLINE = 64 * 1024
"""The longest inline command (or simple line) read, in bytes (Redis's inline limit)."""


class RespType(enum.Enum):
    """The RESP type named by a value's first byte."""

    SIMPLE_STRING = "+"
    """A short text without CR or LF: ``+OK``."""
    SIMPLE_ERROR = "-"
    """An error reply: ``-ERR unknown command``."""
    INTEGER = ":"
    """A signed 64-bit integer: ``:2``."""
    BULK_STRING = "$"
    """Binary-safe bytes with their length first: ``$5 hello``; ``$-1`` is null."""
    ARRAY = "*"
    """A count, then that many values: every command is an array of bulk strings."""
    NULL = "_"
    """RESP3 null."""
    BOOLEAN = "#"
    """RESP3 ``#t`` or ``#f``."""
    DOUBLE = ","
    """RESP3 floating point number."""
    BIG_NUMBER = "("
    """RESP3 integer of any size."""
    BULK_ERROR = "!"
    """RESP3 error with its length first."""
    VERBATIM_STRING = "="
    """RESP3 text with a 3-letter format first: ``txt:...``."""
    MAP = "%"
    """RESP3 key-value pairs."""
    SET = "~"
    """RESP3 unordered collection."""
    PUSH = ">"
    """RESP3 out-of-band data: pub/sub messages to a subscriber."""
    ATTRIBUTE = "|"
    """RESP3 key-value pairs about the value that follows."""


_AGGREGATES = {RespType.ARRAY, RespType.MAP, RespType.SET, RespType.PUSH, RespType.ATTRIBUTE}
_BLOBS = {RespType.BULK_STRING, RespType.BULK_ERROR, RespType.VERBATIM_STRING}
_TYPES = {member.value.encode(): member for member in RespType}


@dataclass(frozen=True)
class RespValue:
    """One RESP value: its type and what it holds.

    ``value`` is ``str`` (simple strings, errors, big numbers), ``bytes`` (bulk strings,
    bulk errors, verbatim strings), ``int``, ``float``, ``bool``, ``None`` (nulls), or a
    tuple of :class:`RespValue` (arrays, sets, pushes; maps and attributes hold keys and
    values alternately). ``inline`` is True for a client's inline command.
    """

    type: RespType
    value: Any
    inline: bool = False

    @property
    def items(self) -> tuple[RespValue, ...]:
        """The values inside an aggregate (empty for anything else)."""
        return self.value if isinstance(self.value, tuple) else ()

    @property
    def words(self) -> list[str] | None:
        """A command or pub/sub message as text words (``["PUBLISH", "chan", "{...}"]``).

        None unless this is an array (or push) of strings.
        """
        if self.type not in (RespType.ARRAY, RespType.PUSH) or not isinstance(self.value, tuple):
            return None
        words = []
        for item in self.value:
            if isinstance(item.value, bytes):
                words.append(item.value.decode("utf-8", "replace"))
            elif isinstance(item.value, (str, int)) and not isinstance(item.value, bool):
                words.append(str(item.value))
            else:
                return None
        return words

    @property
    def payload(self) -> bytes:
        """The message a pub/sub value carries: PUBLISH's or a ``message``'s last word.

        For any other value, its bytes or text; ``b""`` for aggregates and nulls.
        """
        words = self.words
        if words and len(words) >= 3 and words[0].lower() in ("publish", "message", "spublish"):
            last = self.value[-1].value
            return last if isinstance(last, bytes) else str(last).encode()
        if isinstance(self.value, bytes):
            return self.value
        if isinstance(self.value, str):
            return self.value.encode()
        return b""

    def __str__(self) -> str:
        return _show(self)


_PLAIN = re.compile(r"[A-Za-z0-9:_.*+-]{1,64}")


def _elide(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _show(value: RespValue, limit: int = 120) -> str:
    """A one-line reading: ``PUBLISH wire-to-room '{"method":"emit"...}'``, ``integer 2``."""
    words = value.words
    if words is not None and words:
        # A plain word as it is; a message (JSON, spaces...) quoted, so its ends show.
        shown = [w if _PLAIN.fullmatch(w) else repr(w) for w in words]
        return _elide(" ".join(shown), limit)
    kind = value.type
    if kind is RespType.INTEGER:
        return f"integer {value.value}"
    if kind in (RespType.SIMPLE_STRING, RespType.BIG_NUMBER):
        return _elide(f"{kind.name.lower().replace('_', ' ')} {value.value}", limit)
    if kind in (RespType.SIMPLE_ERROR, RespType.BULK_ERROR):
        text = (
            value.value if isinstance(value.value, str) else value.value.decode("utf-8", "replace")
        )
        return _elide(f"error {text}", limit)
    if value.value is None:
        return "null"
    if kind is RespType.BOOLEAN:
        return "true" if value.value else "false"
    if kind is RespType.DOUBLE:
        return f"double {value.value!r}"
    if kind in _BLOBS:
        return _elide(f"bulk {value.value!r}", limit)
    inner = ", ".join(_show(item, 40) for item in value.items)
    return _elide(f"{kind.name.lower()} [{inner}]", limit)


def encode_command(*words: str | bytes | int) -> bytes:
    """The RESP array a client sends for a command: ``encode_command("PING")``."""
    out = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word if isinstance(word, bytes) else str(word).encode()
        out.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(out)


class _Incomplete(Exception):
    """More bytes are needed (internal: never escapes the reader)."""


class RespReader:
    """Reads RESP values from a stream that arrives in pieces.

    Args:
        client: True for what a client sends (it may send inline commands).
        max_bulk: the longest bulk string accepted, in bytes.
        max_depth: how deeply aggregates may nest.

    >>> reader = RespReader()
    >>> reader.feed(b":2\\r\\n+OK")
    >>> str(reader.next_value()), reader.next_value()
    ('integer 2', None)
    """

    def __init__(
        self, *, client: bool = False, max_bulk: int = MAX_BULK, max_depth: int = MAX_DEPTH
    ) -> None:
        self.client, self.max_bulk, self.max_depth = client, max_bulk, max_depth
        self._buffer = bytearray()
        self._offset = 0  # stream offset of the buffer's first byte, for messages
        self.last_raw = b""
        """The bytes of the value :meth:`next_value` returned last, exactly as received."""

    def feed(self, data: bytes) -> None:
        """Add bytes received."""
        self._buffer += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a whole value."""
        return len(self._buffer)

    def next_value(self) -> RespValue | None:
        """The next whole value, or None until more bytes arrive.

        Raises:
            RespProtocolError: the bytes break RESP; the reader cannot go on after it.
        """
        if not self._buffer:
            return None
        try:
            value, end = self._parse(0, 0)
        except _Incomplete:
            self._check_line_length()
            return None
        self.last_raw = bytes(self._buffer[:end])
        del self._buffer[:end]
        self._offset += end
        return value

    def _check_line_length(self) -> None:
        # A line that never ends (no CRLF yet) must not grow without bound.
        if b"\r\n" not in self._buffer[: MAX_INLINE + 2] and len(self._buffer) > MAX_INLINE:
            raise InvalidRespLength(
                "a line", len(self._buffer), f"no CRLF within {MAX_INLINE} bytes", self._offset
            )

    def _line(self, start: int) -> tuple[bytes, int]:
        end = self._buffer.find(b"\r\n", start)
        if end < 0:
            raise _Incomplete
        return bytes(self._buffer[start:end]), end + 2

    def _parse(self, start: int, depth: int) -> tuple[RespValue, int]:
        if start >= len(self._buffer):
            raise _Incomplete
        marker = bytes(self._buffer[start : start + 1])
        kind = _TYPES.get(marker)
        if kind is None:
            if self.client and depth == 0:
                return self._inline(start)
            raise UnknownRespType(marker[0], self._offset + start)
        line, after = self._line(start + 1)
        where = self._offset + start
        if kind in (RespType.SIMPLE_STRING, RespType.SIMPLE_ERROR, RespType.BIG_NUMBER):
            text = line.decode("utf-8", "replace")
            if kind is RespType.BIG_NUMBER and not _is_integer(line):
                raise InvalidRespNumber("big number", line, where)
            return RespValue(kind, text), after
        if kind is RespType.INTEGER:
            if not _is_integer(line):
                raise InvalidRespNumber("integer", line, where)
            return RespValue(kind, int(line)), after
        if kind is RespType.NULL:
            if line:
                raise InvalidRespNumber("null", line, where)
            return RespValue(kind, None), after
        if kind is RespType.BOOLEAN:
            if line not in (b"t", b"f"):
                raise InvalidRespNumber("boolean", line, where)
            return RespValue(kind, line == b"t"), after
        if kind is RespType.DOUBLE:
            try:
                number = float(line.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                raise InvalidRespNumber("double", line, where) from None
            return RespValue(kind, number), after
        length = self._length(kind, line, where)
        if kind in _BLOBS:
            if length < 0:
                return RespValue(kind, None), after
            end = after + length
            if len(self._buffer) < end + 2:
                raise _Incomplete
            if self._buffer[end : end + 2] != b"\r\n":
                raise MissingCRLF(length, bytes(self._buffer[end : end + 2]), where)
            return RespValue(kind, bytes(self._buffer[after:end])), end + 2
        # An aggregate: arrays, sets and pushes hold `length` values, maps and attributes
        # `length` pairs.
        if length < 0:
            return RespValue(kind, None), after
        if depth + 1 > self.max_depth:
            raise RespTooDeep(self.max_depth, where)
        count = length * 2 if kind in (RespType.MAP, RespType.ATTRIBUTE) else length
        items: list[RespValue] = []
        position = after
        for _ in range(count):
            item, position = self._parse(position, depth + 1)
            items.append(item)
        return RespValue(kind, tuple(items)), position

    def _length(self, kind: RespType, line: bytes, where: int) -> int:
        if not _is_integer(line):
            raise InvalidRespLength(kind.name.lower(), line, "not a decimal count", where)
        length = int(line)
        nullable = kind in (RespType.BULK_STRING, RespType.ARRAY)
        if length < (-1 if nullable else 0) or (length == -1 and not nullable):
            raise InvalidRespLength(kind.name.lower(), line, "a negative count", where)
        if kind in _BLOBS and length > self.max_bulk:
            raise InvalidRespLength(kind.name.lower(), line, f"over {self.max_bulk} bytes", where)
        return length

    def _inline(self, start: int) -> tuple[RespValue, int]:
        line, after = self._line(start)
        words = tuple(RespValue(RespType.BULK_STRING, word) for word in line.split())
        return RespValue(RespType.ARRAY, words, inline=True), after


def _is_integer(text: bytes) -> bool:
    digits = text[1:] if text[:1] in (b"-", b"+") else text
    return bool(digits) and digits.isdigit() and digits.isascii()
