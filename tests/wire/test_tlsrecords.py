"""kit.wire.tlsrecords: the headers of TLS records, read from a byte stream, fuzzed."""

from __future__ import annotations

import ssl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.wire.decoder import ConnectionDecoder, Direction, Layer, Stage
from kit.wire.errors import InvalidTLSRecord
from kit.wire.tlsrecords import (
    MAX_RECORD,
    ContentType,
    HandshakeType,
    TLSRecord,
    TLSRecordReader,
    looks_like_tls,
)

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT


def record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return bytes([content_type]) + version.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body


def real_client_hello() -> bytes:
    """The first bytes Python's own TLS client writes (a real ClientHello)."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


def test_a_real_client_hello_is_one_handshake_record() -> None:
    hello = real_client_hello()
    assert looks_like_tls(hello)
    (first,) = TLSRecordReader().feed(hello)
    assert first.content_type is ContentType.HANDSHAKE
    assert first.handshake is HandshakeType.CLIENT_HELLO
    assert first.length == len(hello) - 5
    assert str(first) == f"HANDSHAKE {first.version_name} [{first.length} bytes] ClientHello"


def test_records_split_anywhere_come_out_whole_and_in_order() -> None:
    stream = record(22, b"\x02" + b"s" * 40) + record(20, b"\x01") + record(23, b"x" * 300)
    expected = [
        TLSRecord(ContentType.HANDSHAKE, 0x0303, 41, HandshakeType.SERVER_HELLO),
        TLSRecord(ContentType.CHANGE_CIPHER_SPEC, 0x0303, 1),
        TLSRecord(ContentType.APPLICATION_DATA, 0x0303, 300),
    ]
    for cut in range(len(stream) + 1):
        reader = TLSRecordReader()
        got = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert got == expected, cut
        assert reader.at_boundary
    one_by_one = TLSRecordReader()
    assert [r for i in range(len(stream)) for r in one_by_one.feed(stream[i : i + 1])] == expected
    assert str(expected[2]) == "APPLICATION_DATA TLS 1.2 [300 bytes]"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (
            b"GET / HTTP/1.1\r\n",
            "content type 71 ('G') is not 20-24 (plain HTTP sent to a TLS port?)",
        ),
        (bytes.fromhex("1702000001") + b"x", "version 0x0200 is not 3.x"),
        (bytes.fromhex("17030348ff"), f"length 18687 is over {MAX_RECORD} bytes"),
    ],
)
def test_bytes_no_tls_peer_writes_are_refused_with_where_and_why(data: bytes, says: str) -> None:
    with pytest.raises(InvalidTLSRecord) as caught:
        TLSRecordReader().feed(data)
    assert says in str(caught.value) and "at byte 0" in str(caught.value)


def test_the_offset_of_a_bad_header_counts_the_records_before_it() -> None:
    with pytest.raises(InvalidTLSRecord, match="at byte 9"):
        TLSRecordReader().feed(record(23, b"abcd") + b"\x00\x03\x03\x00\x00")


def test_the_decoder_shows_tls_records_and_never_decodes_their_bodies() -> None:
    decoder = ConnectionDecoder()
    hello = real_client_hello()
    rows = decoder.feed(C2S, hello)
    assert decoder.stage is Stage.TLS and decoder.transport == "tls"
    assert [(r.layer, r.summary.split(" [")[0]) for r in rows] == [
        (Layer.TLS, f"HANDSHAKE {rows[0].decoded.version_name}")
    ]
    assert rows[0].raw == hello[:5]  # the header only: nothing of the body is kept
    secret = b"GET /secret HTTP/1.1"  # what looks like HTTP inside a record stays inside
    rows = decoder.feed(S2C, record(23, secret))
    assert [r.summary for r in rows] == ["APPLICATION_DATA TLS 1.2 [20 bytes]"]
    assert all(secret not in r.raw for r in rows)


def test_an_answer_in_tls_to_a_plain_request_is_shown_as_tls() -> None:
    decoder = ConnectionDecoder()
    decoder.feed(C2S, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    alert = record(21, b"\x02\x46", version=0x0301)
    rows = decoder.feed(S2C, alert)
    assert rows and rows[-1].layer in (Layer.TCP, Layer.TLS)


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_any_bytes_give_records_or_one_invalid_tls_record_error(chunks: list[bytes]) -> None:
    reader = TLSRecordReader()
    total = 0
    try:
        for chunk in chunks:
            for got in reader.feed(chunk):
                assert 0 <= got.length <= MAX_RECORD
                total += 5 + got.length
    except InvalidTLSRecord as error:
        assert "not a TLS record at byte" in str(error)
    else:
        assert total <= sum(map(len, chunks))


@given(st.lists(st.tuples(st.sampled_from([20, 21, 22, 23]), st.binary(max_size=300)), max_size=8))
def test_well_formed_records_always_come_back_as_written(bodies: list[tuple[int, bytes]]) -> None:
    stream = b"".join(record(kind, body) for kind, body in bodies)
    got = TLSRecordReader().feed(stream)
    assert [(r.content_type, r.length) for r in got] == [(k, len(b)) for k, b in bodies]


@given(st.binary(max_size=200))
def test_the_decoder_never_raises_on_tls_looking_bytes(noise: bytes) -> None:
    decoder = ConnectionDecoder()
    decoder.feed(C2S, b"\x16\x03\x01" + noise)
    decoder.feed(S2C, noise)
