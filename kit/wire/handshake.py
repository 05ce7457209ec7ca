"""The opening handshake (RFC 6455 section 4): an HTTP/1.1 upgrade, no I/O.

The client asks to switch protocols (RFC 6455 section 1.3)::

    GET /chat HTTP/1.1
    Host: server.example.com
    Upgrade: websocket
    Connection: Upgrade
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
    Sec-WebSocket-Version: 13
    Origin: http://example.com
    Sec-WebSocket-Protocol: chat, superchat

and the server agrees, proving it read the key with ``accept_key(key)``::

    HTTP/1.1 101 Switching Protocols
    Upgrade: websocket
    Connection: Upgrade
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
    Sec-WebSocket-Protocol: chat

From then on both sides speak frames (:mod:`kit.wire.frames`). The HTTP itself is
read and written by h11, a sans-I/O HTTP/1.1 library; this module adds the WebSocket
rules on top, one typed error per rule (:mod:`kit.wire.errors`).

Why this module is long: the request and the response each need a reader, a builder and
the rule checks of RFC 6455 section 4, and they share the header helpers.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import http
import secrets
import sys
from collections.abc import Collection, Sequence
from typing import Generic, TypeVar

import h11

from kit.wire.errors import (
    ForbiddenOrigin,
    HandshakeError,
    HeadTooLarge,
    IncompleteHead,
    InvalidAccept,
    InvalidConnection,
    InvalidHTTPVersion,
    InvalidKey,
    InvalidMethod,
    InvalidStatus,
    InvalidUpgrade,
    InvalidVersion,
    MalformedHTTP,
    UnexpectedProtocol,
)

__all__ = [
    "DEFAULT_MAX_HEAD_SIZE",
    "GUID",
    "RequestReader",
    "ResponseReader",
    "UpgradeRequest",
    "UpgradeResponse",
    "accept_key",
    "check_request",
    "error_response",
    "generate_key",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The fixed string RFC 6455 appends to every key before hashing it."""

DEFAULT_MAX_HEAD_SIZE = 16 * 1024
"""Refuse HTTP heads over 16 KiB: browsers send well under 2 KiB."""


def generate_key() -> str:
    """Make a fresh ``Sec-WebSocket-Key``: 16 random bytes in base64.

    Returns:
        24 characters such as ``"dGhlIHNhbXBsZSBub25jZQ=="``.
    """
    return base64.b64encode(secrets.token_bytes(16)).decode()


def accept_key(key: str) -> str:
    """Compute ``Sec-WebSocket-Accept``: base64(SHA-1(key + GUID)).

    Only a server that understood the WebSocket request can answer with this value,
    so a plain HTTP server cannot be mistaken for a WebSocket one.

    Args:
        key: the client's ``Sec-WebSocket-Key``, e.g. ``"dGhlIHNhbXBsZSBub25jZQ=="``.

    Returns:
        The accept value, e.g. ``"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="``.
    """
    joined = key + GUID
    digest = hashlib.sha1(joined.encode()).digest()
    return base64.b64encode(digest).decode()


def _tokens(value: str | None) -> list[str]:
    """Comma-separated tokens, lowercased: ``"keep-alive, Upgrade"`` -> both, lowercase."""
    if value is None:
        return []
    return [token.strip().lower() for token in value.split(",") if token.strip()]


def _is_valid_key(key: str | None) -> bool:
    if key is None:
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def _collect_headers(
    event: h11.Request | h11.InformationalResponse | h11.Response, known: Collection[str]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Split h11 headers into known ones (repeats joined by ", ") and the others."""
    values: dict[str, str] = {}
    others: list[tuple[str, str]] = []
    for raw_name, raw_value in event.headers.raw_items():
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        lower = name.lower()
        if lower in known:
            values[lower] = f"{values[lower]}, {value}" if lower in values else value
        else:
            others.append((name, value))
    return values, others


def _server_connection(*, upgrade: bool) -> h11.Connection:
    """An h11 server that has read a GET, ready to answer (h11 writes only replies)."""
    conn = h11.Connection(h11.SERVER)
    proposal = b"Connection: Upgrade\r\nUpgrade: websocket\r\n" if upgrade else b""
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: kit\r\n" + proposal + b"\r\n")
    conn.next_event()
    return conn


_REQUEST_HEADERS = (
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "origin",
    "sec-websocket-protocol",
)


@dataclasses.dataclass
class UpgradeRequest:
    """The client's HTTP request to open a WebSocket.

    ``UpgradeRequest(host="localhost:8000", path="/chat")`` has a fresh random key and
    serializes to a valid request. Every header is a field, and a missing header is
    ``None``, so a parsed request shows exactly what the client sent, rules broken or
    not: :func:`check_request` judges it.

    Attributes:
        host: ``Host``, e.g. ``"localhost:8000"``.
        path: the request target, e.g. ``"/socket.io/?EIO=4&transport=websocket"``.
        key: ``Sec-WebSocket-Key``, 16 random bytes in base64.
        version: ``Sec-WebSocket-Version``, ``"13"``.
        origin: ``Origin``, the page's origin when a browser connects.
        protocols: ``Sec-WebSocket-Protocol``: subprotocols in order of preference.
        headers: every other header, e.g. ``[("User-Agent", "kit")]``.
        method: ``"GET"``. http_version: ``"1.1"``.
        upgrade: ``Upgrade``, ``"websocket"``. connection: ``Connection``, ``"Upgrade"``.
    """

    host: str
    path: str = "/"
    key: str | None = dataclasses.field(default_factory=generate_key)
    version: str | None = "13"
    origin: str | None = None
    protocols: list[str] = dataclasses.field(default_factory=list)
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    method: str = "GET"
    http_version: str = "1.1"
    upgrade: str | None = "websocket"
    connection: str | None = "Upgrade"

    def serialize(self) -> bytes:
        """Encode the request head, e.g. ``b"GET /chat HTTP/1.1\\r\\nHost: ..."``.

        Raises:
            ValueError: h11 refuses to write it (h11 only writes HTTP/1.1, and no
                control characters in header values).
        """
        fields = [
            ("Host", self.host),
            ("Upgrade", self.upgrade),
            ("Connection", self.connection),
            ("Sec-WebSocket-Key", self.key),
            ("Sec-WebSocket-Version", self.version),
            ("Origin", self.origin),
            ("Sec-WebSocket-Protocol", ", ".join(self.protocols) or None),
        ]
        headers = [(name, value) for name, value in fields if value is not None]
        headers += self.headers
        try:
            event = h11.Request(
                method=self.method,
                target=self.path,
                headers=headers,
                http_version=self.http_version,
            )
            data = h11.Connection(h11.CLIENT).send(event)
        except h11.LocalProtocolError as exc:
            raise ValueError(f"h11 cannot write this request: {exc}") from exc
        assert data is not None
        return data

    @classmethod
    def parse(cls, data: bytes, *, max_head_size: int = DEFAULT_MAX_HEAD_SIZE) -> UpgradeRequest:
        """Decode one complete request head (nothing may follow it).

        Raises:
            HandshakeError: MalformedHTTP, HeadTooLarge or IncompleteHead. The
                WebSocket rules are checked by :func:`check_request`, not here.
        """
        reader = RequestReader(max_head_size=max_head_size)
        request = reader.feed(data)
        if request is None:
            reader.feed_eof()  # raises IncompleteHead
            raise AssertionError("unreachable")
        if reader.trailing_data:
            raise MalformedHTTP(f"{len(reader.trailing_data)} bytes follow the request head")
        return request

    @classmethod
    def from_h11(cls, event: h11.Request) -> UpgradeRequest:
        """The request an HTTP server already parsed with h11 (``h11.Request``), as an
        :class:`UpgradeRequest` for :func:`check_request`: how a server that also answers
        plain HTTP (an engine.io server: long-polling and WebSocket on one port) reads an
        upgrade it found among its requests."""
        return cls._from_h11(event)

    @classmethod
    def _from_h11(cls, event: h11.Request) -> UpgradeRequest:
        values, others = _collect_headers(event, _REQUEST_HEADERS)
        return cls(
            host=values.get("host", ""),
            path=event.target.decode("latin-1"),
            key=values.get("sec-websocket-key"),
            version=values.get("sec-websocket-version"),
            origin=values.get("origin"),
            protocols=[
                token.strip()
                for token in values.get("sec-websocket-protocol", "").split(",")
                if token.strip()
            ],
            headers=others,
            method=event.method.decode("latin-1"),
            http_version=event.http_version.decode("latin-1"),
            upgrade=values.get("upgrade"),
            connection=values.get("connection"),
        )


def check_request(
    request: UpgradeRequest, *, origins: Collection[str | None] | None = None
) -> None:
    """Enforce RFC 6455 section 4.2.1 on a client's request, one rule at a time.

    Args:
        request: what the client sent, from :class:`RequestReader`.
        origins: the allowed ``Origin`` values, e.g. ``["http://localhost:8888"]``
            (include None to also allow clients that send no Origin, as non-browser
            clients do). None, the default, allows any origin.

    Raises:
        InvalidMethod, InvalidHTTPVersion, InvalidUpgrade, InvalidConnection,
        InvalidKey (all 400), InvalidVersion (426), ForbiddenOrigin (403): answer with
        ``error_response(exc)``.
    """
    if request.method != "GET":
        raise InvalidMethod(request.method)
    major, _, minor = request.http_version.partition(".")
    if not (major.isdigit() and minor.isdigit() and (int(major), int(minor)) >= (1, 1)):
        raise InvalidHTTPVersion(f"HTTP/{request.http_version}")
    if "websocket" not in _tokens(request.upgrade):
        raise InvalidUpgrade(request.upgrade)
    if "upgrade" not in _tokens(request.connection):
        raise InvalidConnection(request.connection)
    if not _is_valid_key(request.key):
        raise InvalidKey(request.key)
    if request.version != "13":
        raise InvalidVersion(request.version)
    if origins is not None and request.origin not in origins:
        raise ForbiddenOrigin(request.origin, list(origins))


def error_response(error: HandshakeError) -> bytes:
    """The HTTP response a server sends to refuse a handshake, then it closes.

    ``error_response(InvalidVersion("8"))`` starts with
    ``b"HTTP/1.1 426 Upgrade Required\\r\\n"``, carries ``Sec-WebSocket-Version: 13``
    so the client can retry in a version this server speaks, and its text body is
    ``str(error)``.

    Raises:
        ValueError: the error was found by a client (``status`` is None).
    """
    if error.status is None:
        raise ValueError(f"{type(error).__name__} is found by a client: no one to answer")
    body = f"{error}\n".encode()
    headers = [
        *error.response_headers,
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    conn = _server_connection(upgrade=False)
    reason = http.HTTPStatus(error.status).phrase
    head = conn.send(h11.Response(status_code=error.status, headers=headers, reason=reason))
    data = conn.send(h11.Data(data=body))
    assert head is not None and data is not None
    return head + data


@dataclasses.dataclass
class UpgradeResponse:
    """The server's answer: ``101 Switching Protocols`` with the accept value.

    ``UpgradeResponse.for_request(request)`` builds the answer to a checked request;
    a client parses what came back and calls ``check(key)``.

    Attributes:
        accept: ``Sec-WebSocket-Accept``, ``accept_key(request.key)``.
        protocol: ``Sec-WebSocket-Protocol``, the one subprotocol chosen, or None.
        headers: every other header.
        status: the HTTP status, 101 when the server agrees.
        reason: the reason phrase, ``"Switching Protocols"``.
        upgrade: ``Upgrade``, ``"websocket"``. connection: ``Connection``, ``"Upgrade"``.
    """

    accept: str | None
    protocol: str | None = None
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    status: int = 101
    reason: str = "Switching Protocols"
    upgrade: str | None = "websocket"
    connection: str | None = "Upgrade"

    @classmethod
    def for_request(
        cls, request: UpgradeRequest, *, protocols: Sequence[str] = ()
    ) -> UpgradeResponse:
        """Accept ``request``; choose the first of its subprotocols found in ``protocols``.

        Call :func:`check_request` first.
        """
        if request.key is None:
            raise InvalidKey(None)
        chosen = next((p for p in request.protocols if p in protocols), None)
        return cls(accept=accept_key(request.key), protocol=chosen)

    def serialize(self) -> bytes:
        """Encode the 101 response head; refusals are written by :func:`error_response`."""
        if self.status != 101:
            raise ValueError(f"status {self.status}: use error_response() to refuse")
        fields = [
            ("Upgrade", self.upgrade),
            ("Connection", self.connection),
            ("Sec-WebSocket-Accept", self.accept),
            ("Sec-WebSocket-Protocol", self.protocol),
        ]
        headers = [(name, value) for name, value in fields if value is not None]
        headers += self.headers
        conn = _server_connection(upgrade=True)
        try:
            event = h11.InformationalResponse(status_code=101, headers=headers, reason=self.reason)
            data = conn.send(event)
        except h11.LocalProtocolError as exc:
            raise ValueError(f"h11 cannot write this response: {exc}") from exc
        assert data is not None
        return data

    @classmethod
    def parse(cls, data: bytes, *, max_head_size: int = DEFAULT_MAX_HEAD_SIZE) -> UpgradeResponse:
        """Decode one complete response head (a refusal's body may follow it).

        Raises:
            HandshakeError: MalformedHTTP, HeadTooLarge or IncompleteHead.
        """
        reader = ResponseReader(max_head_size=max_head_size)
        response = reader.feed(data)
        if response is None:
            reader.feed_eof()  # raises IncompleteHead
            raise AssertionError("unreachable")
        return response

    @classmethod
    def _from_h11(cls, event: h11.InformationalResponse | h11.Response) -> UpgradeResponse:
        known = ("upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol")
        values, others = _collect_headers(event, known)
        return cls(
            accept=values.get("sec-websocket-accept"),
            protocol=values.get("sec-websocket-protocol"),
            headers=others,
            status=event.status_code,
            reason=event.reason.decode("latin-1"),
            upgrade=values.get("upgrade"),
            connection=values.get("connection"),
        )

    def check(self, key: str, *, protocols: Collection[str] = ()) -> None:
        """Client side: fail unless this is a valid answer to the request with ``key``.

        Args:
            key: the ``Sec-WebSocket-Key`` the client sent.
            protocols: the subprotocols the client offered.

        Raises:
            InvalidStatus, InvalidUpgrade, InvalidConnection, InvalidAccept,
            UnexpectedProtocol.
        """
        if self.status != 101:
            raise InvalidStatus(self.status, self.reason)
        if "websocket" not in _tokens(self.upgrade):
            raise InvalidUpgrade(self.upgrade)
        if "upgrade" not in _tokens(self.connection):
            raise InvalidConnection(self.connection)
        expected = accept_key(key)
        if self.accept != expected:
            raise InvalidAccept(self.accept, expected)
        if self.protocol is not None and self.protocol not in protocols:
            raise UnexpectedProtocol(self.protocol, list(protocols))


_T = TypeVar("_T")


class _HeadReader(Generic[_T]):
    """Accumulate bytes until h11 sees a complete HTTP head (ends with a blank line)."""

    def __init__(self, conn: h11.Connection, max_head_size: int, head: str) -> None:
        self.max_head_size = max_head_size
        self._head = head  # "request" or "response", for error messages
        self._conn = conn
        self._received = 0
        self._result: _T | None = None
        self._trailing = b""
        self._error: HandshakeError | None = None

    @property
    def trailing_data(self) -> bytes:
        """Bytes that arrived after the head: the first frames, or a refusal's body."""
        return self._trailing

    def feed(self, data: bytes) -> _T | None:
        """Add received bytes; return the decoded head once complete, else None.

        Raises:
            MalformedHTTP: not HTTP/1.1 (h11's diagnosis, chained).
            HeadTooLarge: the head is over ``max_head_size`` bytes.
        """
        if self._error is not None:
            raise self._error
        if self._result is not None:
            self._trailing += data
            return None
        if not data:  # for h11, empty data means end of stream
            return None
        try:
            self._result = self._read(data)
        except HandshakeError as exc:
            self._error = exc
            raise
        return self._result

    def feed_eof(self) -> None:
        """Tell the reader the connection closed.

        Raises:
            IncompleteHead: the head never completed.
        """
        if self._result is None:
            self._error = self._error or IncompleteHead(self._received, self._head)
            raise self._error

    def _read(self, data: bytes) -> _T | None:
        self._received += len(data)
        self._conn.receive_data(data)
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise MalformedHTTP(str(exc), self._head) from exc
            buffered = len(self._conn.trailing_data[0])
            head_size = self._received - buffered
            if event is h11.NEED_DATA:
                if buffered > self.max_head_size:
                    raise HeadTooLarge(buffered, self.max_head_size, self._head)
                return None
            if head_size > self.max_head_size:
                raise HeadTooLarge(head_size, self.max_head_size, self._head)
            result = self._convert(event)
            if result is not None:
                self._trailing = bytes(self._conn.trailing_data[0])
                return result

    def _convert(self, event: object) -> _T | None:
        raise NotImplementedError


class RequestReader(_HeadReader[UpgradeRequest]):
    """Server side: read the client's upgrade request from bytes as they arrive.

    ::

        reader = RequestReader()
        reader.feed(b"GET /chat HTTP/1.1\\r\\nHost: localhost\\r\\n")  # -> None
        request = reader.feed(b"Upgrade: websocket\\r\\n ... \\r\\n\\r\\n")  # -> UpgradeRequest
        check_request(request)

    Args:
        max_head_size: the longest head accepted, in bytes (16 KiB by default).
    """

    def __init__(self, *, max_head_size: int = DEFAULT_MAX_HEAD_SIZE) -> None:
        # Our own max_head_size check replaces h11's, to raise a typed error.
        super().__init__(
            h11.Connection(h11.SERVER, max_incomplete_event_size=sys.maxsize),
            max_head_size,
            "request",
        )

    def _convert(self, event: object) -> UpgradeRequest | None:
        if not isinstance(event, h11.Request):
            raise MalformedHTTP(f"h11 saw {type(event).__name__}")
        return UpgradeRequest._from_h11(event)


class ResponseReader(_HeadReader[UpgradeResponse]):
    """Client side: read the server's answer to the upgrade from bytes as they arrive.

    ``feed`` returns an :class:`UpgradeResponse` once the head is complete; call its
    ``check(key)``. Frames that follow a 101 are in ``trailing_data``.

    Args:
        max_head_size: the longest head accepted, in bytes (16 KiB by default).
    """

    def __init__(self, *, max_head_size: int = DEFAULT_MAX_HEAD_SIZE) -> None:
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=sys.maxsize)
        # h11 reads a response only after it has written a request: send a stand-in.
        conn.send(
            h11.Request(
                method="GET",
                target="/",
                headers=[("Host", "kit"), ("Connection", "Upgrade"), ("Upgrade", "websocket")],
            )
        )
        conn.send(h11.EndOfMessage())
        super().__init__(conn, max_head_size, "response")

    def _convert(self, event: object) -> UpgradeResponse | None:
        if isinstance(event, h11.InformationalResponse) and event.status_code != 101:
            return None  # 100 Continue and friends: the real answer follows
        if not isinstance(event, (h11.InformationalResponse, h11.Response)):
            raise MalformedHTTP(f"h11 saw {type(event).__name__}", "response")
        return UpgradeResponse._from_h11(event)
