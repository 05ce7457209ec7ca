"""Tests for kit.wire.errors: one tree, documented as drawn, each error carrying its remedy."""

from __future__ import annotations

import inspect
import re

import pytest

from kit.wire import errors
from kit.wire.errors import (
    ControlFrameTooLong,
    ForbiddenHost,
    ForbiddenOrigin,
    HandshakeError,
    InvalidCloseCode,
    InvalidHost,
    InvalidTLSRecord,
    InvalidUTF8,
    InvalidVersion,
    MessageTooBig,
    ProtocolError,
    WebSocketProtocolError,
)

ERROR_CLASSES = [getattr(errors, name) for name in errors.__all__]


def drawn_tree() -> dict[str, tuple[int, str | None]]:
    """Parse the module docstring's bullet tree into {class: (depth, parent)}."""
    tree: dict[str, tuple[int, str | None]] = {}
    stack: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^( *)\* :exc:`(\w+)`", line)
        if match:
            depth = len(match.group(1)) // 4
            del stack[depth:]
            tree[match.group(2)] = (depth, stack[-1] if stack else None)
            stack.append(match.group(2))
    return tree


def test_the_docstring_draws_every_error_with_its_real_parent() -> None:
    tree = drawn_tree()
    assert set(tree) == set(errors.__all__)
    for name, (_depth, parent) in tree.items():
        cls = getattr(errors, name)
        expected_parent = cls.__bases__[0].__name__
        assert parent == (None if cls is ProtocolError else expected_parent), name


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_is_a_protocol_error_with_a_docstring(cls: type[Exception]) -> None:
    assert issubclass(cls, ProtocolError)
    assert inspect.getdoc(cls)


def test_frame_errors_carry_the_close_code_to_send() -> None:
    frame_errors = [cls for cls in ERROR_CLASSES if issubclass(cls, WebSocketProtocolError)]
    codes = {cls.__name__: cls.close_code for cls in frame_errors}
    assert codes.pop("InvalidUTF8") == 1007
    assert codes.pop("MessageTooBig") == 1009
    assert codes.pop("TooManyFragments") == 1009
    assert set(codes.values()) == {1002}


def test_handshake_errors_carry_the_status_to_answer() -> None:
    statuses = {
        cls.__name__: cls.status for cls in ERROR_CLASSES if issubclass(cls, HandshakeError)
    }
    assert statuses.pop("InvalidVersion") == 426
    assert statuses.pop("ForbiddenOrigin") == 403
    assert statuses.pop("ForbiddenHost") == 403
    assert statuses.pop("HeadTooLarge") == 431
    client_side = {name for name, status in statuses.items() if status is None}
    assert client_side == {"InvalidStatus", "InvalidAccept", "UnexpectedProtocol"}
    assert {status for status in statuses.values() if status is not None} == {400}


@pytest.mark.parametrize(
    ("error", "fragments"),
    [
        (ControlFrameTooLong(9, 126), ["PING", "126", "125", "1002"]),
        (InvalidCloseCode(1005), ["1005", "reserved", "1002"]),
        (InvalidUTF8("text message", "invalid start byte"), ["text message", "1007"]),
        (MessageTooBig(2000, 1024), ["2000", "max_size=1024", "1009"]),
        (InvalidVersion("8"), ["Sec-WebSocket-Version", "'8'", "426", "13"]),
        (ForbiddenOrigin("http://evil", ["http://ok"]), ["Origin", "'http://evil'", "http://ok"]),
        (InvalidVersion(None), ["Sec-WebSocket-Version header is missing"]),
        (
            ForbiddenHost("evil.example:8000", ["127.0.0.1"]),
            [
                "Host",
                "'evil.example:8000'",
                "'127.0.0.1'",
                "DNS-rebinding",
                "'evil.example'",
                "403",
            ],
        ),
        (InvalidHost("[::1]:x", "the port 'x' is wrong"), ["Host", "port 'x'", "400"]),
        (InvalidTLSRecord(0, "content type 71"), ["byte 0", "content type 71", "RFC 8446"]),
    ],
)
def test_messages_say_what_where_and_what_to_do(error: Exception, fragments: list[str]) -> None:
    message = str(error)
    for fragment in fragments:
        assert fragment in message


def test_426_error_names_the_headers_to_add() -> None:
    assert ("Sec-WebSocket-Version", "13") in InvalidVersion("8").response_headers
    assert ForbiddenOrigin(None, []).response_headers == []
