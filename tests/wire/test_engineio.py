"""Tests for kit.wire.engineio: protocol examples, python-engineio as an oracle, fuzzing."""

from __future__ import annotations

import contextlib
import json

import engineio.packet as eio_packet
import engineio.payload as eio_payload
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.wire.engineio import (
    EnginePacket,
    EnginePacketType,
    OpenPacket,
    decode_payload,
    encode_payload,
)
from kit.wire.errors import (
    EmptyPacket,
    EngineIOError,
    InvalidBase64,
    InvalidOpenPacket,
    InvalidPayload,
    ProtocolError,
    UnknownPacketType,
    UnsupportedEngineVersion,
)

# engine.io protocol examples (github.com/socketio/engine.io-protocol).
OPEN_DATA = (
    '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
    '"pingTimeout":20000,"maxPayload":1000000}'
)
OPEN_V3_DATA = (
    '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
    '"pingTimeout":5000}'
)
OPEN = "0" + OPEN_DATA
PING_PROBE = "2probe"
PONG_PROBE = "3probe"
UPGRADE = "5"
NOOP = "6"
MESSAGE_HELLO = "4hello"
BINARY_BASE64 = "bAQID"  # bytes 01 02 03 over long-polling, v4
BINARY_BASE64_V3 = "b4AQID"  # the same in v3: the type digit follows "b"
BINARY_FRAME = b"\x01\x02\x03"  # a binary WebSocket frame's payload, v4
BINARY_FRAME_V3 = b"\x04\x01\x02\x03"  # v3: the type as a byte first
PAYLOAD_V4 = "4hello\x1e4€€€"
PAYLOAD_V3 = "6:4hello4:4€€€"
# v3 XHR2 binary body: 00 (text) 0 6 ff "4hello", 01 (binary) 4 ff 04 01 02 03.
PAYLOAD_V3_BINARY = b"\x00\x06\xff4hello\x01\x04\xff\x04\x01\x02\x03"

MESSAGE = EnginePacketType.MESSAGE
HELLO_EUROS = [EnginePacket(MESSAGE, "hello"), EnginePacket(MESSAGE, "€€€")]

TEXT_VECTORS = [
    pytest.param(OPEN, EnginePacket(EnginePacketType.OPEN, OPEN_DATA), id="open"),
    pytest.param(PING_PROBE, EnginePacket(EnginePacketType.PING, "probe"), id="ping-probe"),
    pytest.param(PONG_PROBE, EnginePacket(EnginePacketType.PONG, "probe"), id="pong-probe"),
    pytest.param(UPGRADE, EnginePacket(EnginePacketType.UPGRADE), id="upgrade"),
    pytest.param(NOOP, EnginePacket(EnginePacketType.NOOP), id="noop"),
    pytest.param(MESSAGE_HELLO, EnginePacket(MESSAGE, "hello"), id="message"),
    pytest.param("1", EnginePacket(EnginePacketType.CLOSE), id="close"),
    pytest.param("4", EnginePacket(MESSAGE, ""), id="empty-message"),
    pytest.param("4[1,2]", EnginePacket(MESSAGE, "[1,2]"), id="json-stays-text"),
]


@pytest.mark.parametrize(("text", "packet"), TEXT_VECTORS)
@pytest.mark.parametrize("version", [4, 3])
def test_text_packets_parse_and_serialize(text: str, packet: EnginePacket, version: int) -> None:
    parsed = EnginePacket.parse(text, version=version)
    assert (parsed, packet.serialize(version=version)) == (packet, text)


def test_binary_v4_is_a_raw_frame_or_b_plus_base64() -> None:
    packet = EnginePacket(MESSAGE, BINARY_FRAME)
    assert (EnginePacket.parse(BINARY_FRAME), EnginePacket.parse(BINARY_BASE64)) == (packet, packet)
    assert packet.serialize() == BINARY_FRAME
    assert packet.serialize(binary_as="base64") == BINARY_BASE64


def test_binary_v3_frame_starts_with_the_type_byte_and_base64_with_b4() -> None:
    packet = EnginePacket(MESSAGE, BINARY_FRAME)
    assert EnginePacket.parse(BINARY_FRAME_V3, version=3) == packet
    assert EnginePacket.parse(BINARY_BASE64_V3, version=3) == packet
    assert packet.serialize(version=3) == BINARY_FRAME_V3
    assert packet.serialize(binary_as="base64", version=3) == BINARY_BASE64_V3


def test_an_empty_binary_frame_is_an_empty_message_in_v4_only() -> None:
    assert EnginePacket.parse(b"") == EnginePacket(MESSAGE, b"")
    assert EnginePacket.parse("b") == EnginePacket(MESSAGE, b"")
    with pytest.raises(EmptyPacket):
        EnginePacket.parse(b"", version=3)


def test_v4_sends_only_message_packets_as_bytes() -> None:
    with pytest.raises(ValueError, match="only MESSAGE"):
        EnginePacket(EnginePacketType.PING, b"x").serialize()
    assert EnginePacket(EnginePacketType.PING, b"x").serialize(version=3) == b"\x02x"


def test_packet_type_accepts_ints_and_refuses_unknown_ones() -> None:
    assert EnginePacket(4, "hi").type is EnginePacketType.MESSAGE  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EnginePacket(7, "hi")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        EnginePacket(MESSAGE, 42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("packet", "row"),
    [
        (
            EnginePacket(MESSAGE, '2["new message",{"mess":"hi"}]'),
            """MESSAGE '2["new message",{"mess":"hi"}]'""",
        ),
        (EnginePacket(EnginePacketType.PING, "probe"), "PING 'probe'"),
        (EnginePacket(EnginePacketType.NOOP), "NOOP"),
        (EnginePacket(MESSAGE, BINARY_FRAME), "MESSAGE <3 bytes: 01 02 03>"),
        (EnginePacket(MESSAGE, b"\x00"), "MESSAGE <1 byte: 00>"),
        (
            EnginePacket(EnginePacketType.OPEN, OPEN_DATA),
            "OPEN sid=lv_VI97HAXpY6yYWAAAC upgrades=websocket pingInterval=25000 "
            "pingTimeout=20000 maxPayload=1000000",
        ),
        (EnginePacket(EnginePacketType.OPEN, "{oops"), "OPEN '{oops'"),
    ],
)
def test_str_is_one_readable_inspector_row(packet: EnginePacket, row: str) -> None:
    assert str(packet) == row


def test_str_elides_long_data_keeping_both_ends() -> None:
    row = str(EnginePacket(MESSAGE, "a" * 50 + "b" * 50))
    assert row.startswith("MESSAGE 'aaa") and row.endswith("bbb'") and "..." in row
    assert len(row) < 90
    row = str(EnginePacket(MESSAGE, bytes(range(100))))
    assert row.startswith("MESSAGE <100 bytes: 00 01") and row.endswith("62 63>")


# Errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version", "error", "fragment"),
    [
        ("", 4, EmptyPacket, "empty"),
        ("7hello", 4, UnknownPacketType, "'7'"),
        ("xhello", 3, UnknownPacketType, "'x'"),
        ("٤hello", 4, UnknownPacketType, "digit"),  # an Arabic-Indic 4 is not a type
        ("bAQI*", 4, InvalidBase64, "AQI*"),
        ("bAQI", 4, InvalidBase64, "padding"),
        ("bAQ€D", 4, InvalidBase64, "non-ASCII"),
        ("b", 3, UnknownPacketType, "nothing after 'b'"),
        ("b9AQID", 3, UnknownPacketType, "'9'"),
        ("bAQID", 3, UnknownPacketType, "'A'"),  # a v4 base64 packet read as v3
    ],
)
def test_malformed_packets_raise_typed_errors(
    text: str, version: int, error: type[EngineIOError], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        EnginePacket.parse(text, version=version)
    assert fragment in str(caught.value)
    assert caught.value.index is None


def test_a_v3_frame_with_an_unknown_type_byte() -> None:
    with pytest.raises(UnknownPacketType, match="byte 0x07"):
        EnginePacket.parse(b"\x07abc", version=3)


@pytest.mark.parametrize("version", [2, 5, 0, "4", True, None])
def test_only_versions_4_and_3_are_spoken(version: object) -> None:
    with pytest.raises(UnsupportedEngineVersion) as caught:
        EnginePacket.parse("4hi", version=version)  # type: ignore[arg-type]
    assert "EIO=4" in str(caught.value)
    with pytest.raises(UnsupportedEngineVersion):
        decode_payload("4hi", version=version)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedEngineVersion):
        encode_payload([EnginePacket(MESSAGE, "hi")], version=version)  # type: ignore[arg-type]


# Payloads -------------------------------------------------------------------------


def test_protocol_payload_examples_decode_and_encode_in_both_versions() -> None:
    assert (decode_payload(PAYLOAD_V4), encode_payload(HELLO_EUROS)) == (HELLO_EUROS, PAYLOAD_V4)
    assert (decode_payload(PAYLOAD_V3, 3), encode_payload(HELLO_EUROS, 3)) == (
        HELLO_EUROS,
        PAYLOAD_V3,
    )


def test_binary_in_a_payload_is_base64() -> None:
    packets = [EnginePacket(MESSAGE, "hello"), EnginePacket(MESSAGE, BINARY_FRAME)]
    assert encode_payload(packets) == "4hello\x1ebAQID"
    assert encode_payload(packets, version=3) == "6:4hello6:b4AQID"
    assert decode_payload("6:4hello6:b4AQID", version=3) == packets


def test_v3_lengths_count_utf16_code_units_like_javascript() -> None:
    # "4😀" is 2 code points but 3 JavaScript characters: the emoji is a surrogate pair.
    emoji = [EnginePacket(MESSAGE, "😀")]
    assert encode_payload(emoji, version=3) == "3:4😀"
    assert decode_payload("3:4😀", version=3) == emoji
    assert decode_payload("5:4a😀b2:4c", version=3) == [
        EnginePacket(MESSAGE, "a😀b"),
        EnginePacket(MESSAGE, "c"),
    ]
    with pytest.raises(InvalidPayload, match="surrogate pair"):
        decode_payload("2:4😀", version=3)


def test_v3_xhr2_binary_payload() -> None:
    packets = [EnginePacket(MESSAGE, "hello"), EnginePacket(MESSAGE, BINARY_FRAME)]
    assert decode_payload(PAYLOAD_V3_BINARY, version=3) == packets
    # A text packet's length counts its UTF-8 bytes: "4€" is 4 bytes.
    assert decode_payload(b"\x00\x04\xff4\xe2\x82\xac", version=3) == [EnginePacket(MESSAGE, "€")]
    # Lengths of 10 and more take one byte per decimal digit.
    long = "4" + "x" * 11
    assert decode_payload(b"\x00\x01\x02\xff" + long.encode(), version=3) == [
        EnginePacket(MESSAGE, "x" * 11)
    ]


def test_bytes_bodies_are_utf8_text_unless_a_v3_binary_payload() -> None:
    assert decode_payload(PAYLOAD_V4.encode()) == HELLO_EUROS
    assert decode_payload(PAYLOAD_V3.encode(), version=3) == HELLO_EUROS
    with pytest.raises(InvalidPayload, match="not UTF-8"):
        decode_payload(b"4\xff")


@pytest.mark.parametrize(
    ("body", "version", "error", "where"),
    [
        ("", 4, InvalidPayload, "offset 0"),
        ("", 3, InvalidPayload, "offset 0"),
        ("4hello\x1e", 4, EmptyPacket, "packet 1"),
        ("4a\x1e\x1e6", 4, EmptyPacket, "packet 1"),
        ("4hello\x1e7x", 4, UnknownPacketType, "packet 1"),
        ("6\x1ebAQ", 4, InvalidBase64, "packet 1"),
        ("6:4hello4:4€€", 3, InvalidPayload, "offset 8"),  # overruns: 3 characters left
        ("6:4hello9", 3, InvalidPayload, "offset 8"),  # no colon after the length
        ("x:4hello", 3, InvalidPayload, "offset 0"),
        ("-1:4", 3, InvalidPayload, "offset 0"),
        (":4", 3, InvalidPayload, "offset 0"),
        ("٦:4hello", 3, InvalidPayload, "offset 0"),  # Arabic-Indic 6 is not a digit here
        ("0:", 3, EmptyPacket, "packet 0"),
        ("1:7", 3, UnknownPacketType, "packet 0"),
        ("9" * 5000 + ":4", 3, InvalidPayload, "overruns"),  # beyond Python's int() limit
        ("4hello", 3, InvalidPayload, "not followed by ':'"),  # a v4 body read as v3
        (b"\x00\x01\xff4\x02\x01\xff4", 3, InvalidPayload, "offset 4: byte 0x02 must be 0x00"),
        (b"\x00\x01\x024", 3, InvalidPayload, "no 0xff"),
        (b"\x00\x0a\xff4", 3, InvalidPayload, "0x00-0x09"),
        (b"\x00\xff4", 3, InvalidPayload, "0x00-0x09"),
        (b"\x00\x09\xff4", 3, InvalidPayload, "only 1 follow"),
        (b"\x00\x00\xff", 3, EmptyPacket, "packet 0"),
        (b"\x00\x02\xff4\xff", 3, InvalidPayload, "not UTF-8"),
        (b"\x01\x02\xff\x09\x01", 3, UnknownPacketType, "byte 0x09"),
    ],
)
def test_malformed_payloads_say_where(
    body: str | bytes, version: int, error: type[EngineIOError], where: str
) -> None:
    with pytest.raises(error) as caught:
        decode_payload(body, version=version)
    assert where in str(caught.value)


def test_payload_errors_show_a_valid_payload() -> None:
    with pytest.raises(InvalidPayload) as caught:
        decode_payload("6:4hel", version=3)
    assert PAYLOAD_V3 in str(caught.value)
    assert caught.value.offset == 0


def test_encode_payload_refuses_what_would_not_decode() -> None:
    with pytest.raises(ValueError, match="at least one packet"):
        encode_payload([])
    with pytest.raises(ValueError, match="record separator"):
        encode_payload([EnginePacket(MESSAGE, "a\x1eb")])
    assert encode_payload([EnginePacket(MESSAGE, "a\x1eb")], version=3) == "4:4a\x1eb"


# OPEN -------------------------------------------------------------------------------


def test_open_packet_example() -> None:
    open_packet = OpenPacket("lv_VI97HAXpY6yYWAAAC", ["websocket"], 25000, 20000, 1000000)
    assert OpenPacket.from_packet(EnginePacket.parse(OPEN)) == open_packet
    assert open_packet.to_packet().serialize() == OPEN


def test_v3_open_packet_has_no_max_payload() -> None:
    open_packet = OpenPacket.parse(OPEN_V3_DATA)
    assert open_packet.max_payload is None
    assert open_packet.to_packet().data == OPEN_V3_DATA


def test_open_packet_ignores_unknown_fields() -> None:
    data = json.loads(OPEN_DATA) | {"future": True}
    assert OpenPacket.parse(json.dumps(data)).sid == "lv_VI97HAXpY6yYWAAAC"


def _open_with(**changes: object) -> str:
    data = json.loads(OPEN_DATA)
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ("{oops", None, "not JSON"),
        ("[]", None, "array"),
        ('{"sid":"a","upgrades":[],"pingInterval":NaN,"pingTimeout":1}', None, "not JSON"),
        ("[" * 100_000, None, "not JSON"),
        (_open_with(sid=...), "sid", "missing"),
        (_open_with(sid=""), "sid", "empty"),
        (_open_with(sid=12), "sid", "integer"),
        (_open_with(upgrades="websocket"), "upgrades", "string"),
        (_open_with(upgrades=[1]), "upgrades", "item 0"),
        (_open_with(pingInterval="25000"), "pingInterval", "string"),
        (_open_with(pingInterval=25000.5), "pingInterval", "number"),
        (_open_with(pingTimeout=True), "pingTimeout", "boolean"),
        (_open_with(pingTimeout=-1), "pingTimeout", ">= 0"),
        (_open_with(pingTimeout=...), "pingTimeout", "missing"),
        (_open_with(maxPayload=None), "maxPayload", "null"),
    ],
)
def test_bad_open_data_is_refused_naming_the_field(
    data: str, field: str | None, fragment: str
) -> None:
    with pytest.raises(InvalidOpenPacket) as caught:
        OpenPacket.parse(data)
    assert caught.value.field == field
    assert fragment in str(caught.value)
    assert OPEN_DATA in str(caught.value)  # shows what a valid one looks like


def test_open_packet_must_be_a_text_open() -> None:
    with pytest.raises(InvalidOpenPacket, match="MESSAGE, not OPEN"):
        OpenPacket.from_packet(EnginePacket(MESSAGE, OPEN_DATA))
    with pytest.raises(InvalidOpenPacket, match="bytes"):
        OpenPacket.from_packet(EnginePacket(EnginePacketType.OPEN, b"{}"))


# python-engineio as an oracle (it speaks v4 only) ---------------------------------------

text_data = st.text(max_size=40)
binary_data = st.binary(max_size=40)
packet_types = st.sampled_from(EnginePacketType)


def opaque_to_engineio(data: str) -> bool:
    """python-engineio JSON-decodes packet data unless it starts with a digit; keep only
    data it leaves as a string, so both libraries can be compared."""
    if not data or data[0].isnumeric():
        return True
    try:
        json.loads(data)
    except ValueError:
        return True
    return False


engine_packets = st.one_of(
    st.builds(EnginePacket, packet_types, text_data.filter(opaque_to_engineio)),
    st.builds(EnginePacket, st.just(MESSAGE), binary_data),
)


@given(engine_packets)
def test_python_engineio_decodes_what_the_kit_encodes(packet: EnginePacket) -> None:
    for binary_as in ("frame", "base64"):
        theirs = eio_packet.Packet(encoded_packet=packet.serialize(binary_as=binary_as))  # type: ignore[arg-type]
        assert (theirs.packet_type, theirs.data) == (packet.type, packet.data)


@given(engine_packets)
def test_the_kit_decodes_what_python_engineio_encodes(packet: EnginePacket) -> None:
    theirs = eio_packet.Packet(int(packet.type), packet.data)
    assert EnginePacket.parse(theirs.encode()) == packet
    assert EnginePacket.parse(
        eio_packet.Packet(int(packet.type), packet.data).encode(b64=True)
    ) == (packet)


@given(st.lists(engine_packets, min_size=1, max_size=16))
def test_payloads_round_trip_through_python_engineio(packets: list[EnginePacket]) -> None:
    packets = [p for p in packets if not (isinstance(p.data, str) and "\x1e" in p.data)]
    if not packets:
        return
    ours = encode_payload(packets)
    theirs = eio_payload.Payload(packets=[eio_packet.Packet(int(p.type), p.data) for p in packets])
    assert ours == theirs.encode()
    decoded = eio_payload.Payload(encoded_payload=ours).packets
    assert [(p.packet_type, p.data) for p in decoded] == [(p.type, p.data) for p in packets]
    assert decode_payload(ours) == packets


@given(
    st.lists(
        st.one_of(
            st.builds(EnginePacket, packet_types, st.text(max_size=20)),
            st.builds(EnginePacket, packet_types, binary_data),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_v3_payloads_round_trip(packets: list[EnginePacket]) -> None:
    assert decode_payload(encode_payload(packets, version=3), version=3) == packets


def encode_xhr2(packets: list[EnginePacket]) -> bytes:
    """The v3 XHR2 binary payload, written from the protocol's description."""
    body = b""
    for packet in packets:
        if isinstance(packet.data, bytes):
            kind, chunk = b"\x01", bytes([packet.type]) + packet.data
        else:
            kind, chunk = b"\x00", f"{int(packet.type)}{packet.data}".encode()
        body += kind + bytes(int(d) for d in str(len(chunk))) + b"\xff" + chunk
    return body


@given(
    st.lists(
        st.one_of(
            st.builds(EnginePacket, packet_types, st.text(max_size=20)),
            st.builds(EnginePacket, packet_types, binary_data),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_v3_binary_payloads_decode(packets: list[EnginePacket]) -> None:
    assert decode_payload(encode_xhr2(packets), version=3) == packets


def test_python_engineio_departs_from_the_protocol() -> None:
    # The data of a packet is opaque, but python-engineio parses it as JSON when it can:
    # '4"hi"' comes back as '4hi', '4true' as '4True', '4null' as '4'.
    assert eio_packet.Packet(encoded_packet='4"hi"').encode() == "4hi"
    assert eio_packet.Packet(encoded_packet="4true").encode() == "4True"
    assert eio_packet.Packet(encoded_packet="4null").encode() == "4"
    for text in ('4"hi"', "4true", "4null"):
        assert EnginePacket.parse(text).serialize() == text
    # It skips characters that are not base64 instead of refusing them.
    assert eio_packet.Packet(encoded_packet="bAQ*ID").data == BINARY_FRAME
    with pytest.raises(InvalidBase64):
        EnginePacket.parse("bAQ*ID")
    # It reads a packet type 7, 8 or 9, which the protocol does not define.
    assert eio_packet.Packet(encoded_packet="7x").packet_type == 7
    with pytest.raises(UnknownPacketType):
        EnginePacket.parse("7x")
    # An empty body is no packets for it, an error for the JavaScript parsers and the kit.
    assert eio_payload.Payload(encoded_payload="").packets == []
    with pytest.raises(InvalidPayload):
        decode_payload("")
    # It refuses payloads of more than 16 packets, a limit the protocol does not have.
    with pytest.raises(ValueError, match="Too many packets"):
        eio_payload.Payload(encoded_payload="\x1e".join(["6"] * 17))
    assert len(decode_payload("\x1e".join(["6"] * 17))) == 17


# Garbage in: a ProtocolError out, nothing else -------------------------------------

v3_like = st.text(alphabet="0123456789:b4€😀\x1eAQID", max_size=30)


@given(st.one_of(st.text(max_size=60), st.binary(max_size=60), v3_like), st.sampled_from([4, 3]))
def test_garbage_decodes_or_raises_a_protocol_error(data: str | bytes, version: int) -> None:
    for decode in (
        lambda: EnginePacket.parse(data, version=version),
        lambda: decode_payload(data, version=version),
    ):
        with contextlib.suppress(ProtocolError):
            decode()


@given(st.binary(max_size=40).map(lambda b: bytes([b[0] % 2]) + b[1:] if b else b))
def test_garbage_v3_binary_payloads_decode_or_raise_a_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_payload(data, version=3)


@given(
    st.one_of(
        st.text(max_size=80),
        st.dictionaries(
            st.sampled_from(["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]),
            st.one_of(
                st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.lists(st.text())
            ),
        ).map(json.dumps),
    )
)
def test_garbage_open_data_parses_or_raises_invalid_open_packet(data: str) -> None:
    with contextlib.suppress(InvalidOpenPacket):
        OpenPacket.parse(data)
