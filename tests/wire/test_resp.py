"""kit.wire.resp: RESP2 and RESP3 values from the specification, in any chunking, fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.wire import (
    InvalidRespLength,
    InvalidRespNumber,
    MissingCRLF,
    RespProtocolError,
    RespReader,
    RespTooDeep,
    RespType,
    RespValue,
    UnknownRespType,
    encode_command,
)
from kit.wire.decoder import Direction, Layer, Record, RespConnectionDecoder, Stage

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT

# Examples from the Redis serialization protocol specification, with their reading.
SPEC = [
    (b"+OK\r\n", RespType.SIMPLE_STRING, "OK", "simple string OK"),
    (b"-ERR unknown command 'asdf'\r\n", RespType.SIMPLE_ERROR, "ERR unknown command 'asdf'", None),
    (b":1000\r\n", RespType.INTEGER, 1000, "integer 1000"),
    (b":-42\r\n", RespType.INTEGER, -42, "integer -42"),
    (b"$5\r\nhello\r\n", RespType.BULK_STRING, b"hello", "bulk b'hello'"),
    (b"$0\r\n\r\n", RespType.BULK_STRING, b"", "bulk b''"),
    (b"$-1\r\n", RespType.BULK_STRING, None, "null"),
    (b"*-1\r\n", RespType.ARRAY, None, "null"),
    (b"_\r\n", RespType.NULL, None, "null"),
    (b"#t\r\n", RespType.BOOLEAN, True, "true"),
    (b",1.23\r\n", RespType.DOUBLE, 1.23, "double 1.23"),
    (b",inf\r\n", RespType.DOUBLE, float("inf"), "double inf"),
    (b"(3492890328409238509324850943850943825024385\r\n", RespType.BIG_NUMBER, None, None),
    (b"!21\r\nSYNTAX invalid syntax\r\n", RespType.BULK_ERROR, b"SYNTAX invalid syntax", None),
    (b"=15\r\ntxt:Some string\r\n", RespType.VERBATIM_STRING, b"txt:Some string", None),
]


@pytest.mark.parametrize(("wire", "kind", "value", "shown"), SPEC)
def test_the_specification_examples(wire: bytes, kind: RespType, value, shown) -> None:
    reader = RespReader()
    reader.feed(wire)
    got = reader.next_value()
    assert got is not None and got.type is kind
    if value is not None:
        assert got.value == value
    if shown is not None:
        assert str(got) == shown
    assert reader.last_raw == wire and reader.buffered == 0


def test_a_publish_command_and_the_message_redis_pushes_carry_the_json() -> None:
    command = encode_command("PUBLISH", "wire-to-room", '{"method":"emit"}')
    assert command == (
        b'*3\r\n$7\r\nPUBLISH\r\n$12\r\nwire-to-room\r\n$17\r\n{"method":"emit"}\r\n'
    )
    reader = RespReader(client=True)
    reader.feed(command)
    value = reader.next_value()
    assert value is not None
    assert value.words == ["PUBLISH", "wire-to-room", '{"method":"emit"}']
    assert value.payload == b'{"method":"emit"}'
    assert str(value) == 'PUBLISH wire-to-room \'{"method":"emit"}\''
    pushed = RespReader()
    pushed.feed(b">3\r\n$7\r\nmessage\r\n$12\r\nwire-to-room\r\n$2\r\n{}\r\n")
    message = pushed.next_value()
    assert message is not None and message.type is RespType.PUSH
    assert str(message) == "message wire-to-room '{}'" and message.payload == b"{}"


def test_aggregates_nest_and_maps_hold_pairs() -> None:
    reader = RespReader()
    reader.feed(b"*2\r\n*1\r\n:1\r\n%1\r\n+key\r\n~2\r\n#f\r\n_\r\n")
    value = reader.next_value()
    assert value is not None and [item.type for item in value.items] == [
        RespType.ARRAY,
        RespType.MAP,
    ]
    key, members = value.items[1].items
    assert key == RespValue(RespType.SIMPLE_STRING, "key")
    assert [item.value for item in members.items] == [False, None]


def test_inline_commands_from_a_client_only() -> None:
    reader = RespReader(client=True)
    reader.feed(b"PING\r\nSET  k v\r\n")
    first, second = reader.next_value(), reader.next_value()
    assert first is not None and first.inline and first.words == ["PING"]
    assert second is not None and second.words == ["SET", "k", "v"]
    server = RespReader()
    server.feed(b"PING\r\n")
    with pytest.raises(UnknownRespType, match="byte 0x50 at offset 0"):
        server.next_value()


def test_a_value_split_anywhere_is_read_once_whole() -> None:
    wire = encode_command("PUBLISH", "chan", "x" * 300) + b":2\r\n"
    for cut in range(1, len(wire)):
        reader = RespReader(client=True)
        reader.feed(wire[:cut])
        values = []
        while (value := reader.next_value()) is not None:
            values.append(value)
        reader.feed(wire[cut:])
        while (value := reader.next_value()) is not None:
            values.append(value)
        assert [str(v)[:12] for v in values] == ["PUBLISH chan", "integer 2"], cut


@pytest.mark.parametrize(
    ("wire", "error", "fragment"),
    [
        (b"?\r\n", UnknownRespType, "byte 0x3f at offset 0"),
        (b"$x\r\n", InvalidRespLength, "not a decimal count"),
        (b"$-2\r\n", InvalidRespLength, "a negative count"),
        (b"%-1\r\n", InvalidRespLength, "a negative count"),
        (b"$999999999999\r\n", InvalidRespLength, "over 536870912 bytes"),
        (b":12a\r\n", InvalidRespNumber, "not a RESP integer"),
        (b"#x\r\n", InvalidRespNumber, "boolean"),
        (b",pi\r\n", InvalidRespNumber, "double"),
        (b"_1\r\n", InvalidRespNumber, "null"),
        (b"$3\r\nabcd\r\n", MissingCRLF, "announced 3 bytes"),
        (b"*1\r\n" * 40 + b":1\r\n", RespTooDeep, "max_depth=32"),
    ],
)
def test_broken_values_raise_typed_errors_saying_where(wire, error, fragment) -> None:
    reader = RespReader()
    reader.feed(wire)
    with pytest.raises(error, match=fragment) as caught:
        reader.next_value()
    assert isinstance(caught.value, RespProtocolError)
    assert "Redis serialization protocol specification" in str(caught.value)


def test_a_line_that_never_ends_is_refused_not_kept_growing() -> None:
    reader = RespReader(client=True)
    reader.feed(b"A" * 70_000)
    with pytest.raises(InvalidRespLength, match="no CRLF"):
        reader.next_value()


def test_the_taps_decoder_makes_one_row_per_value_and_gives_up_once() -> None:
    decoder = RespConnectionDecoder()
    rows = decoder.feed(C2S, encode_command("SUBSCRIBE", "wire-to-room"))
    assert [(r.layer, r.summary) for r in rows] == [(Layer.REDIS, "SUBSCRIBE wire-to-room")]
    assert rows[0].transport == "redis"
    broken = decoder.feed(S2C, b"?oops\r\n")
    assert broken[0].layer is Layer.TCP and "not decoded any more" in broken[0].summary
    assert decoder.stage is Stage.OPAQUE and decoder.feed(S2C, b":1\r\n") == []


resp_values = st.recursive(
    st.one_of(
        st.binary(max_size=20).map(lambda b: b"$%d\r\n" % len(b) + b + b"\r\n"),
        st.integers(-(2**63), 2**63 - 1).map(lambda i: b":%d\r\n" % i),
        st.sampled_from([b"+OK\r\n", b"-ERR x\r\n", b"_\r\n", b"#t\r\n", b",1.5\r\n", b"$-1\r\n"]),
    ),
    lambda inner: st.lists(inner, max_size=4).map(
        lambda items: b"*%d\r\n" % len(items) + b"".join(items)
    ),
    max_leaves=12,
)


@given(values=st.lists(resp_values, min_size=1, max_size=5), cut=st.integers(0, 400))
def test_valid_streams_decode_whole_in_any_two_pieces(values: list[bytes], cut: int) -> None:
    wire = b"".join(values)
    reader = RespReader()
    reader.feed(wire[:cut])
    raws = []
    while reader.next_value() is not None:
        raws.append(reader.last_raw)
    reader.feed(wire[cut:])
    while reader.next_value() is not None:
        raws.append(reader.last_raw)
    assert raws == values


@given(data=st.binary(max_size=300), client=st.booleans())
def test_arbitrary_bytes_give_values_or_a_resp_error_never_another_exception(
    data: bytes, client: bool
) -> None:
    reader = RespReader(client=client)
    reader.feed(data)
    try:
        while reader.next_value() is not None:
            pass
    except RespProtocolError:
        pass


@given(chunks=st.lists(st.tuples(st.sampled_from([C2S, S2C]), st.binary(max_size=80))))
def test_the_taps_resp_decoder_never_raises(chunks) -> None:
    decoder = RespConnectionDecoder()
    for direction, data in chunks:
        for record in decoder.feed(direction, data):
            assert isinstance(record, Record)
