"""TLS records, as anyone between client and server sees them: headers, then ciphertext.

Everything on a ``wss://`` or ``https://`` connection travels in TLS records (RFC 8446
section 5.1). A record's first five bytes are in the clear::

    16 03 01 02 00    content type 22 (handshake), version 3.1, 512 bytes follow
    17 03 03 00 45    content type 23 (application data), version 3.3, 69 bytes follow

After the first few handshake records, every record is ``application_data`` whatever it
carries: an HTTP request, a WebSocket frame, an alert. A relay in the middle (the kit's
tap, a router, a proxy that does not terminate TLS) learns the sizes and the timing, and
nothing else. (TLS 1.3 writes the version ``03 03``, TLS 1.2's number, in every record
after the first for compatibility with middleboxes: the real version is negotiated
inside the handshake.)

    >>> reader = TLSRecordReader()
    >>> [str(r) for r in reader.feed(bytes.fromhex("1703030005") + b"12345")]
    ['APPLICATION_DATA TLS 1.2 [5 bytes]']
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kit.wire.errors import InvalidTLSRecord

__all__ = [
    "HEADER_SIZE",
    "MAX_RECORD",
    "ContentType",
    "HandshakeType",
    "TLSRecord",
    "TLSRecordReader",
    "looks_like_tls",
]

HEADER_SIZE = 5
MAX_RECORD = 2**14 + 2048
"""The longest record body a TLS 1.2 peer may send (RFC 5246 section 6.2.3); TLS 1.3
allows 2**14 + 256 (RFC 8446 section 5.2)."""

_VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2"}


class ContentType(enum.IntEnum):
    """What a record carries (RFC 8446 section 5.1)."""

    CHANGE_CIPHER_SPEC = 20
    """A one-byte marker, kept by TLS 1.3 only so that middleboxes are not confused."""
    ALERT = 21
    """A warning or an error (encrypted once the handshake is done)."""
    HANDSHAKE = 22
    """The handshake: ClientHello and ServerHello are readable, the rest is not (1.3)."""
    APPLICATION_DATA = 23
    """Encrypted data: the application's bytes, and in TLS 1.3 everything else too."""
    HEARTBEAT = 24
    """RFC 6520's keep-alive (the one Heartbleed was about); rarely seen."""


class HandshakeType(enum.IntEnum):
    """The first byte of a readable handshake message (RFC 8446 section 4)."""

    CLIENT_HELLO = 1
    """The client's offer: versions, ciphers, the server's name (SNI), key shares."""
    SERVER_HELLO = 2
    """The server's choice; in TLS 1.3 everything after it is encrypted."""


@dataclass(frozen=True)
class TLSRecord:
    """One record's header (its body stays opaque): ``HANDSHAKE TLS 1.0 [512 bytes]``.

    Attributes:
        content_type: :class:`ContentType`.
        version: the record-layer version, e.g. ``0x0303`` (written "TLS 1.2").
        length: the body's length in bytes.
        handshake: for a readable handshake record, its first message's type
            (``ClientHello``), else None.
    """

    content_type: ContentType
    version: int
    length: int
    handshake: HandshakeType | None = None

    @property
    def version_name(self) -> str:
        """``"TLS 1.2"`` for ``0x0303``."""
        return _VERSIONS.get(self.version, f"0x{self.version:04x}")

    def __str__(self) -> str:
        hello = f" {_camel(self.handshake.name)}" if self.handshake is not None else ""
        return f"{self.content_type.name} {self.version_name} [{self.length} bytes]{hello}"


def _camel(name: str) -> str:
    return "".join(word.capitalize() for word in name.split("_"))


def looks_like_tls(data: bytes) -> bool:
    """True when ``data`` starts like a TLS ClientHello record (``16 03 0x``)."""
    return len(data) >= 2 and data[0] == ContentType.HANDSHAKE and data[1] == 3


class TLSRecordReader:
    """Reads the records of one direction from a byte stream, keeping no ciphertext.

    Only a header (at most 5 bytes) and the first byte of a record body are ever held:
    the rest of each body is counted and skipped, so memory stays bounded however much
    goes by.
    """

    def __init__(self) -> None:
        self._header = bytearray()
        self._remaining = 0  # body bytes of the current record still to skip
        self._current: tuple[ContentType, int, int] | None = None
        self._first: int | None = None  # the current body's first byte, once seen
        self._offset = 0  # bytes consumed so far, for error messages

    @property
    def at_boundary(self) -> bool:
        """True when the bytes seen so far end exactly where a record ends."""
        return self._current is None and not self._header

    def feed(self, data: bytes) -> list[TLSRecord]:
        """The records whose header and body ``data`` completes, in order.

        Raises:
            InvalidTLSRecord: a header that no TLS peer writes (an unknown content
                type, a version that is not 3.x, a length over :data:`MAX_RECORD`).
        """
        records: list[TLSRecord] = []
        view = memoryview(data)
        while view:
            if self._current is None:
                piece = view[: HEADER_SIZE - len(self._header)]
                self._header += piece
                view = view[len(piece) :]
                self._offset += len(piece)
                if len(self._header) < HEADER_SIZE:
                    break
                self._current = self._parse_header(bytes(self._header))
                self._header.clear()
                self._remaining = self._current[2]
                self._first = None
            take = min(self._remaining, len(view))
            if take and self._first is None:
                self._first = view[0]
            view = view[take:]
            self._remaining -= take
            self._offset += take
            if self._remaining == 0:
                content_type, version, length = self._current
                handshake = None
                if content_type == ContentType.HANDSHAKE and self._first in (1, 2):
                    handshake = HandshakeType(self._first)
                records.append(TLSRecord(content_type, version, length, handshake))
                self._current = None
        return records

    def _parse_header(self, header: bytes) -> tuple[ContentType, int, int]:
        at = self._offset - HEADER_SIZE
        try:
            content_type = ContentType(header[0])
        except ValueError:
            shown = chr(header[0]) if 32 <= header[0] < 127 else f"0x{header[0]:02x}"
            plain = " (plain HTTP sent to a TLS port?)" if header[:3].isalpha() else ""
            raise InvalidTLSRecord(
                at, f"content type {header[0]} ({shown!r}) is not 20-24{plain}"
            ) from None
        version = int.from_bytes(header[1:3], "big")
        if header[1] != 3:
            raise InvalidTLSRecord(at, f"version 0x{version:04x} is not 3.x")
        length = int.from_bytes(header[3:5], "big")
        if length > MAX_RECORD:
            raise InvalidTLSRecord(at, f"length {length} is over {MAX_RECORD} bytes")
        return content_type, version, length
