"""Tests for kit.wire.handshake: RFC 6455 keys, every server rule, websockets as an oracle."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import itertools
import secrets
from unittest import mock

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame as WsFrame
from websockets.http11 import Request as WsRequest
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri
from websockets.utils import accept_key as websockets_accept_key

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
    ProtocolError,
    UnexpectedProtocol,
)
from kit.wire.handshake import (
    GUID,
    RequestReader,
    ResponseReader,
    UpgradeRequest,
    UpgradeResponse,
    accept_key,
    check_request,
    error_response,
    generate_key,
)
from tests.conftest import examples

# RFC 6455 section 1.3: the sample key ("the sample nonce" in base64) and its accept value.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
NONCE = b"the sample nonce"

# The seed article's captured handshake: its key, and the accept value that follows from it
# (computed here and by websockets; the article's printed accept is not available).
ARTICLE_KEY = "PJS0iPLxrL0ueNPoAFUSiA=="
ARTICLE_ACCEPT = "I4jyFwm0r1J8lrnD3yN+EvxTABQ="

# RFC 6455 section 1.3, the client's handshake (with Host moved first, as h11 writes it).
RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"\r\n"
)
RFC_REQUEST_FIELDS = UpgradeRequest(
    host="server.example.com",
    path="/chat",
    key=KEY,
    origin="http://example.com",
    protocols=["chat", "superchat"],
)
RFC_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)


# Keys ------------------------------------------------------------------------------


def test_guid_is_the_rfc_constant() -> None:
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def test_accept_key_rfc_example() -> None:
    assert accept_key(KEY) == ACCEPT


def test_accept_key_article_example_agrees_with_websockets() -> None:
    assert accept_key(ARTICLE_KEY) == websockets_accept_key(ARTICLE_KEY) == ARTICLE_ACCEPT


@given(st.binary(min_size=16, max_size=16))
def test_accept_key_agrees_with_websockets_on_any_key(nonce: bytes) -> None:
    key = base64.b64encode(nonce).decode()
    assert accept_key(key) == websockets_accept_key(key)


def test_generate_key_is_16_random_bytes_in_base64() -> None:
    with mock.patch.object(secrets, "token_bytes", return_value=NONCE) as token_bytes:
        assert generate_key() == KEY
    token_bytes.assert_called_once_with(16)
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(base64.b64decode(key, validate=True)) == 16 for key in keys)


# Request: serialize and parse ------------------------------------------------------


def test_rfc_request_parse_and_serialize() -> None:
    assert (UpgradeRequest.parse(RFC_REQUEST), RFC_REQUEST_FIELDS.serialize()) == (
        RFC_REQUEST_FIELDS,
        RFC_REQUEST,
    )


def test_rfc_response_parse_and_serialize() -> None:
    response = UpgradeResponse(accept=ACCEPT, protocol="chat")
    assert (UpgradeResponse.parse(RFC_RESPONSE), response.serialize()) == (response, RFC_RESPONSE)


def test_a_new_request_gets_a_fresh_key() -> None:
    with mock.patch.object(secrets, "token_bytes", return_value=NONCE):
        request = UpgradeRequest(host="localhost:8000")
    assert request.key == KEY
    check_request(UpgradeRequest.parse(request.serialize()))


def test_other_headers_keep_their_name_and_order() -> None:
    request = dataclasses.replace(
        RFC_REQUEST_FIELDS, headers=[("User-Agent", "kit"), ("X-Room", "lobby")]
    )
    assert request.serialize().endswith(b"User-Agent: kit\r\nX-Room: lobby\r\n\r\n")
    assert UpgradeRequest.parse(request.serialize()) == request


def test_repeated_headers_are_joined_like_http_lists() -> None:
    data = RFC_REQUEST.replace(
        b"\r\n\r\n", b"\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n"
    )
    request = UpgradeRequest.parse(data)
    assert request.key == f"{KEY}, AAAAAAAAAAAAAAAAAAAAAA=="
    with pytest.raises(InvalidKey):
        check_request(request)


def test_serialize_refuses_what_h11_cannot_write() -> None:
    with pytest.raises(ValueError, match=r"HTTP/1\.1"):
        dataclasses.replace(RFC_REQUEST_FIELDS, http_version="1.0").serialize()
    with pytest.raises(ValueError, match="h11"):
        dataclasses.replace(RFC_REQUEST_FIELDS, origin="evil\r\nX: y").serialize()


# Server rules ----------------------------------------------------------------------


def test_the_rfc_request_passes_every_rule() -> None:
    check_request(UpgradeRequest.parse(RFC_REQUEST), origins=["http://example.com"])


@pytest.mark.parametrize(
    "change",
    [
        {"upgrade": "WebSocket"},
        {"upgrade": "websocket, h2c"},
        {"connection": "keep-alive, Upgrade"},
        {"connection": "upgrade"},
        {"origin": None},
        {"protocols": []},
    ],
)
def test_valid_variants_pass(change: dict[str, object]) -> None:
    request = dataclasses.replace(RFC_REQUEST_FIELDS, **change)  # type: ignore[arg-type]
    check_request(UpgradeRequest.parse(request.serialize()))


BROKEN_REQUESTS = [
    # (bytes, error class, status, header, bad value)
    (RFC_REQUEST.replace(b"GET", b"POST", 1), InvalidMethod, 400, "method", "POST"),
    (RFC_REQUEST.replace(b"GET", b"get", 1), InvalidMethod, 400, "method", "get"),
    (
        RFC_REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0", 1),
        InvalidHTTPVersion,
        400,
        "HTTP version",
        "HTTP/1.0",
    ),
    (RFC_REQUEST.replace(b"Upgrade: websocket\r\n", b""), InvalidUpgrade, 400, "Upgrade", None),
    (
        RFC_REQUEST.replace(b"Upgrade: websocket", b"Upgrade: h2c"),
        InvalidUpgrade,
        400,
        "Upgrade",
        "h2c",
    ),
    (
        RFC_REQUEST.replace(b"Connection: Upgrade\r\n", b""),
        InvalidConnection,
        400,
        "Connection",
        None,
    ),
    (
        RFC_REQUEST.replace(b"Connection: Upgrade", b"Connection: keep-alive"),
        InvalidConnection,
        400,
        "Connection",
        "keep-alive",
    ),
    (RFC_REQUEST.replace(KEY.encode(), b"abc"), InvalidKey, 400, "Sec-WebSocket-Key", "abc"),
    (
        RFC_REQUEST.replace(KEY.encode(), base64.b64encode(bytes(15))),
        InvalidKey,
        400,
        "Sec-WebSocket-Key",
        base64.b64encode(bytes(15)).decode(),
    ),
    (
        RFC_REQUEST.replace(KEY.encode(), b"!!!!!!!!!!!!!!!!!!!!!!=="),
        InvalidKey,
        400,
        "Sec-WebSocket-Key",
        "!!!!!!!!!!!!!!!!!!!!!!==",
    ),
    (
        RFC_REQUEST.replace(b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n", b""),
        InvalidKey,
        400,
        "Sec-WebSocket-Key",
        None,
    ),
    (
        RFC_REQUEST.replace(b"Version: 13", b"Version: 8"),
        InvalidVersion,
        426,
        "Sec-WebSocket-Version",
        "8",
    ),
    (
        RFC_REQUEST.replace(b"Sec-WebSocket-Version: 13\r\n", b""),
        InvalidVersion,
        426,
        "Sec-WebSocket-Version",
        None,
    ),
    (
        RFC_REQUEST.replace(b"http://example.com", b"http://evil.example"),
        ForbiddenOrigin,
        403,
        "Origin",
        "http://evil.example",
    ),
    (
        RFC_REQUEST.replace(b"Origin: http://example.com\r\n", b""),
        ForbiddenOrigin,
        403,
        "Origin",
        None,
    ),
]


@pytest.mark.parametrize(("data", "error", "status", "header", "value"), BROKEN_REQUESTS)
def test_each_broken_rule_has_its_error(
    data: bytes, error: type[HandshakeError], status: int, header: str, value: str | None
) -> None:
    request = UpgradeRequest.parse(data)
    with pytest.raises(error) as caught:
        check_request(request, origins=["http://example.com"])
    exc = caught.value
    assert (exc.status, exc.header, exc.value) == (status, header, value)
    message = str(exc)
    assert header in message
    assert (repr(value) if value is not None else "missing") in message
    assert str(status) in message


def test_no_origin_can_be_allowed_explicitly() -> None:
    request = dataclasses.replace(RFC_REQUEST_FIELDS, origin=None)
    check_request(request, origins=["http://example.com", None])
    with pytest.raises(ForbiddenOrigin) as caught:
        check_request(request, origins=["http://example.com"])
    assert caught.value.allowed == ["http://example.com"]


# Error responses -------------------------------------------------------------------


def parse_error_response(data: bytes) -> tuple[h11.Response, bytes]:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    response = conn.next_event()
    body = conn.next_event()
    assert isinstance(response, h11.Response) and isinstance(body, h11.Data)
    assert isinstance(conn.next_event(), h11.EndOfMessage)
    return response, bytes(body.data)


def test_426_response_names_the_version_to_use() -> None:
    error = InvalidVersion("8")
    data = error_response(error)
    assert data.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    response, body = parse_error_response(data)
    headers = dict(response.headers)
    assert headers[b"sec-websocket-version"] == b"13"
    assert headers[b"upgrade"] == b"websocket"
    assert body.decode() == f"{error}\n"


@pytest.mark.parametrize(("data", "error", "status", "header", "value"), BROKEN_REQUESTS)
def test_every_server_error_makes_a_valid_http_response(
    data: bytes, error: type[HandshakeError], status: int, header: str, value: str | None
) -> None:
    with pytest.raises(error) as caught:
        check_request(UpgradeRequest.parse(data), origins=["http://example.com"])
    response, body = parse_error_response(error_response(caught.value))
    assert response.status_code == status
    assert dict(response.headers)[b"connection"] == b"close"
    assert header in body.decode()
    assert (b"sec-websocket-version" in dict(response.headers)) == (status == 426)


def test_client_side_errors_have_no_response() -> None:
    with pytest.raises(ValueError, match="client"):
        error_response(InvalidAccept("x", ACCEPT))


# Reading heads incrementally -------------------------------------------------------


def test_request_reader_waits_for_the_blank_line() -> None:
    reader = RequestReader()
    frame = bytes.fromhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")
    data = RFC_REQUEST + frame
    results = [reader.feed(data[i : i + 1]) for i in range(len(data))]
    end = len(RFC_REQUEST) - 1
    assert results[:end] == [None] * end
    assert results[end] == RFC_REQUEST_FIELDS
    assert results[end + 1 :] == [None] * len(frame)
    assert reader.trailing_data == frame


def test_request_reader_keeps_bytes_that_came_with_the_head() -> None:
    reader = RequestReader()
    assert reader.feed(RFC_REQUEST + b"\x81\x00") == RFC_REQUEST_FIELDS
    assert reader.trailing_data == b"\x81\x00"


def test_malformed_http_is_a_400_chained_to_h11() -> None:
    with pytest.raises(MalformedHTTP) as caught:
        UpgradeRequest.parse(b"HELLO\r\n\r\n")
    assert caught.value.status == 400
    assert isinstance(caught.value.__cause__, h11.RemoteProtocolError)
    assert "malformed HTTP" in str(caught.value)


def test_malformed_response_tells_the_client_to_fail() -> None:
    with pytest.raises(MalformedHTTP) as caught:
        UpgradeResponse.parse(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    assert caught.value.header == "response"
    assert "fail the connection" in str(caught.value)
    with pytest.raises(IncompleteHead, match="response head"):
        UpgradeResponse.parse(RFC_RESPONSE[:-2])


def test_missing_host_is_malformed_http() -> None:
    with pytest.raises(MalformedHTTP, match="Host"):
        UpgradeRequest.parse(RFC_REQUEST.replace(b"Host: server.example.com\r\n", b""))


def test_parse_refuses_bytes_after_the_head() -> None:
    with pytest.raises(MalformedHTTP, match="2 bytes follow"):
        UpgradeRequest.parse(RFC_REQUEST + b"\x81\x00")


def test_head_too_large_while_waiting() -> None:
    reader = RequestReader(max_head_size=1024)
    reader.feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(HeadTooLarge) as caught:
        reader.feed(b"X-Padding: " + b"x" * 1024 + b"\r\n")
    assert caught.value.status == 431
    assert caught.value.max_head_size == 1024
    with pytest.raises(HeadTooLarge):
        reader.feed(b"\r\n")  # the reader stays broken


def test_head_too_large_in_one_chunk() -> None:
    with pytest.raises(HeadTooLarge) as caught:
        UpgradeRequest.parse(RFC_REQUEST, max_head_size=100)
    assert caught.value.size == len(RFC_REQUEST)


def test_connection_closed_inside_the_head() -> None:
    reader = RequestReader()
    assert reader.feed(RFC_REQUEST[:20]) is None
    with pytest.raises(IncompleteHead) as caught:
        reader.feed_eof()
    assert caught.value.received == 20
    with pytest.raises(IncompleteHead):
        UpgradeRequest.parse(RFC_REQUEST[:-2])


def test_feed_eof_after_the_head_is_fine() -> None:
    reader = RequestReader()
    reader.feed(RFC_REQUEST)
    reader.feed_eof()


def test_response_reader_skips_100_continue_and_keeps_the_first_frames() -> None:
    reader = ResponseReader()
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + RFC_RESPONSE + b"\x81\x00"
    assert reader.feed(data) == UpgradeResponse(accept=ACCEPT, protocol="chat")
    assert reader.trailing_data == b"\x81\x00"


# Client rules ----------------------------------------------------------------------


def test_response_for_the_rfc_request_passes_the_client_check() -> None:
    response = UpgradeResponse.for_request(RFC_REQUEST_FIELDS, protocols=["superchat", "chat"])
    assert response == UpgradeResponse(accept=ACCEPT, protocol="chat")  # client's preference
    UpgradeResponse.parse(response.serialize()).check(KEY, protocols=["chat", "superchat"])


def test_no_common_subprotocol_means_none() -> None:
    assert UpgradeResponse.for_request(RFC_REQUEST_FIELDS, protocols=["mqtt"]).protocol is None


@pytest.mark.parametrize(
    ("response", "error", "header"),
    [
        (UpgradeResponse(accept="x" * 28), InvalidAccept, "Sec-WebSocket-Accept"),
        (UpgradeResponse(accept=None), InvalidAccept, "Sec-WebSocket-Accept"),
        (UpgradeResponse(accept=ACCEPT, upgrade=None), InvalidUpgrade, "Upgrade"),
        (UpgradeResponse(accept=ACCEPT, connection="close"), InvalidConnection, "Connection"),
        (
            UpgradeResponse(accept=ACCEPT, protocol="mqtt"),
            UnexpectedProtocol,
            "Sec-WebSocket-Protocol",
        ),
    ],
)
def test_each_broken_response_rule_has_its_error(
    response: UpgradeResponse, error: type[HandshakeError], header: str
) -> None:
    parsed = UpgradeResponse.parse(response.serialize())
    with pytest.raises(error) as caught:
        parsed.check(KEY, protocols=["chat"])
    assert caught.value.header == header
    assert header in str(caught.value)


def test_a_refusal_is_an_invalid_status_for_the_client() -> None:
    response = UpgradeResponse.parse(error_response(InvalidVersion("8")))
    assert (response.status, response.reason) == (426, "Upgrade Required")
    with pytest.raises(InvalidStatus) as caught:
        response.check(KEY)
    assert caught.value.response_status == 426
    assert caught.value.status is None
    assert "426 Upgrade Required" in str(caught.value)


def test_accept_error_names_both_values() -> None:
    with pytest.raises(InvalidAccept) as caught:
        UpgradeResponse(accept=ACCEPT).check(ARTICLE_KEY)
    assert (caught.value.value, caught.value.expected) == (ACCEPT, ARTICLE_ACCEPT)
    assert ACCEPT in str(caught.value) and ARTICLE_ACCEPT in str(caught.value)


# websockets as an oracle -----------------------------------------------------------


def websockets_client(**options: object) -> tuple[ClientProtocol, bytes]:
    client = ClientProtocol(parse_uri("ws://localhost:8000/chat?room=lobby"), **options)  # type: ignore[arg-type]
    client.send_request(client.connect())
    [data] = client.data_to_send()
    return client, data


def test_we_accept_a_websockets_client() -> None:
    client, data = websockets_client(
        origin=Origin("http://localhost:8888"),
        subprotocols=[Subprotocol("chat")],
        extensions=[ClientPerMessageDeflateFactory()],  # what websockets.connect() offers
    )

    request = UpgradeRequest.parse(data)
    check_request(request, origins=["http://localhost:8888"])
    assert (request.host, request.path, request.key) == (
        "localhost:8000",
        "/chat?room=lobby",
        client.key,
    )
    assert request.protocols == ["chat"]
    assert "Sec-WebSocket-Extensions" in dict(request.headers)

    response = UpgradeResponse.for_request(request, protocols=["chat"])
    client.receive_data(response.serialize() + bytes.fromhex("81 05 48 65 6c 6c 6f"))

    assert client.handshake_exc is None
    assert client.state is State.OPEN
    assert client.subprotocol == "chat"
    assert client.extensions == []  # we negotiated none: no compression
    [_response, frame] = client.events_received()
    assert isinstance(frame, WsFrame)
    assert bytes(frame.data) == b"Hello"


def test_a_websockets_client_rejects_a_wrong_accept() -> None:
    client, _data = websockets_client()
    response = UpgradeResponse(accept=ACCEPT)  # the answer to someone else's key
    client.receive_data(response.serialize())
    assert client.handshake_exc is not None
    assert client.state is not State.OPEN


def test_a_websockets_server_accepts_our_request_and_we_accept_its_answer() -> None:
    request = RFC_REQUEST_FIELDS
    server = ServerProtocol(
        origins=[Origin("http://example.com")], subprotocols=[Subprotocol("superchat")]
    )
    server.receive_data(request.serialize())
    [ws_request] = server.events_received()
    assert isinstance(ws_request, WsRequest)
    ws_response = server.accept(ws_request)
    server.send_response(ws_response)
    assert server.handshake_exc is None

    reader = ResponseReader()
    response = reader.feed(b"".join(server.data_to_send()))
    assert response is not None
    response.check(request.key or "", protocols=request.protocols)
    assert (response.status, response.accept, response.protocol) == (101, ACCEPT, "superchat")


def test_websockets_also_refuses_a_wrong_version_but_without_426() -> None:
    bad = RFC_REQUEST.replace(b"Version: 13", b"Version: 8")
    server = ServerProtocol()
    server.receive_data(bad)
    [ws_request] = server.events_received()
    assert isinstance(ws_request, WsRequest)
    theirs = server.accept(ws_request)
    # websockets answers a plain 400; RFC 6455 section 4.4 asks for 426 + the version.
    assert theirs.status_code == 400
    assert b"Sec-WebSocket-Version" in theirs.body
    with pytest.raises(InvalidVersion) as caught:
        check_request(UpgradeRequest.parse(bad))
    assert b"Sec-WebSocket-Version: 13\r\n" in error_response(caught.value)


# Fuzzing ---------------------------------------------------------------------------

HEAD_PIECES = st.sampled_from(
    [
        b"GET / HTTP/1.1\r\n",
        b"POST /x HTTP/1.0\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n",
        b"Host: a\r\n",
        b"Upgrade: websocket\r\n",
        b"Connection: Upgrade\r\n",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        b"Sec-WebSocket-Version: 13\r\n",
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
        b"Content-Length: 3\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"\r\n",
        b"\n",
        b": \r\n",
        b"\x00\xff",
    ]
)
HEADS = st.lists(HEAD_PIECES | st.binary(max_size=20), max_size=12).map(b"".join) | st.binary(
    max_size=300
)


def feed_in_chunks(reader: RequestReader | ResponseReader, data: bytes, cuts: list[int]) -> object:
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    result = None
    for start, end in itertools.pairwise(bounds):
        result = reader.feed(data[start:end]) or result
    reader.feed_eof()
    return result


@settings(max_examples=examples(300))
@given(
    data=HEADS,
    cuts=st.lists(st.integers(0), max_size=6),
    max_head_size=st.sampled_from([64, 16384]),
)
def test_request_reader_on_arbitrary_bytes_raises_only_handshake_errors(
    data: bytes, cuts: list[int], max_head_size: int
) -> None:
    try:
        request = feed_in_chunks(RequestReader(max_head_size=max_head_size), data, cuts)
        assert isinstance(request, UpgradeRequest)
        check_request(request, origins=["http://example.com"])
    except ProtocolError as exc:
        assert isinstance(exc, HandshakeError)
        assert exc.status in (400, 403, 426, 431)
        assert str(exc)
        error_response(exc)


@settings(max_examples=examples(300))
@given(data=HEADS, cuts=st.lists(st.integers(0), max_size=6))
def test_response_reader_on_arbitrary_bytes_raises_only_handshake_errors(
    data: bytes, cuts: list[int]
) -> None:
    try:
        response = feed_in_chunks(ResponseReader(max_head_size=1024), data, cuts)
        assert isinstance(response, UpgradeResponse)
        response.check(KEY)
    except ProtocolError as exc:
        assert isinstance(exc, HandshakeError)
        assert str(exc)


@given(data=HEADS)
def test_parse_on_arbitrary_bytes_raises_only_handshake_errors(data: bytes) -> None:
    for parse in (UpgradeRequest.parse, UpgradeResponse.parse):
        with contextlib.suppress(HandshakeError):
            parse(data)
