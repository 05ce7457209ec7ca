"""Tests for kit.wire.socketio: protocol examples, python-socketio as an oracle, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
import socketio.packet as sio_packet
from hypothesis import given
from hypothesis import strategies as st

from kit.wire.errors import (
    InvalidAckId,
    InvalidAttachments,
    InvalidJSON,
    InvalidPlaceholder,
    InvalidSocketPayload,
    ProtocolError,
    ReservedEventName,
    SocketIOError,
    UnknownSocketPacketType,
)
from kit.wire.socketio import (
    MAX_ACK_ID,
    SocketPacket,
    SocketPacketType,
    deconstruct,
    reconstruct,
)

# socket.io protocol v5 examples (github.com/socketio/socket.io-protocol).
CONNECT_MAIN = "0"
CONNECT_ADMIN_ANSWER = '0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}'
EVENT_FOO = '2["foo"]'
EVENT_FOO_WITH_ACK = '212["foo"]'
ACK_ADMIN = '3/admin,13["bar"]'
BINARY_EVENT_BAZ = '51-["baz",{"_placeholder":true,"num":0}]'
CONNECT_ERROR_RANDOM = '4/random,{"message":"Unauthorized"}'
DISCONNECT_ADMIN = "1/admin,"

T = SocketPacketType
PLACEHOLDER_0 = {"_placeholder": True, "num": 0}

VECTORS = [
    pytest.param(CONNECT_MAIN, SocketPacket(T.CONNECT), id="connect"),
    pytest.param(
        CONNECT_ADMIN_ANSWER,
        SocketPacket(T.CONNECT, "/admin", {"sid": "oSO0OpakMV_3jnilAAAA"}),
        id="connect-answer",
    ),
    pytest.param(EVENT_FOO, SocketPacket(T.EVENT, data=["foo"]), id="event"),
    pytest.param(EVENT_FOO_WITH_ACK, SocketPacket(T.EVENT, data=["foo"], id=12), id="event-ack"),
    pytest.param(ACK_ADMIN, SocketPacket(T.ACK, "/admin", ["bar"], id=13), id="ack"),
    pytest.param(
        BINARY_EVENT_BAZ,
        SocketPacket(T.BINARY_EVENT, data=["baz", PLACEHOLDER_0], attachments=1),
        id="binary-event",
    ),
    pytest.param(
        CONNECT_ERROR_RANDOM,
        SocketPacket(T.CONNECT_ERROR, "/random", {"message": "Unauthorized"}),
        id="connect-error",
    ),
    pytest.param(DISCONNECT_ADMIN, SocketPacket(T.DISCONNECT, "/admin"), id="disconnect"),
    pytest.param(
        '61-/admin,15[{"_placeholder":true,"num":0}]',
        SocketPacket(T.BINARY_ACK, "/admin", [PLACEHOLDER_0], id=15, attachments=1),
        id="binary-ack",
    ),
    pytest.param('2["€ 😀"]', SocketPacket(T.EVENT, data=["€ 😀"]), id="non-ascii-kept"),
    pytest.param(
        '4"Not authorized"',
        SocketPacket(T.CONNECT_ERROR, data="Not authorized"),
        id="connect-error-string",
    ),
    pytest.param("2[1,2]", SocketPacket(T.EVENT, data=[1, 2]), id="numeric-event-name"),
]


@pytest.mark.parametrize(("text", "packet"), VECTORS)
def test_protocol_examples_parse_and_serialize(text: str, packet: SocketPacket) -> None:
    assert (SocketPacket.parse(text), packet.serialize()) == (packet, text)


def test_namespace_without_comma_runs_to_the_end_like_the_js_parser() -> None:
    assert SocketPacket.parse("0/admin") == SocketPacket(T.CONNECT, "/admin")
    assert SocketPacket.parse("1/admin") == SocketPacket(T.DISCONNECT, "/admin")
    # v5 namespaces carry no query string: "?x=1" stays part of the name, as in JS.
    assert SocketPacket.parse("0/admin?x=1,").namespace == "/admin?x=1"


@pytest.mark.parametrize(
    ("packet", "row"),
    [
        (
            SocketPacket(T.EVENT, data=["new message", {"mess": "hi"}]),
            'EVENT / ["new message",{"mess":"hi"}]',
        ),
        (SocketPacket(T.CONNECT, "/post", {"sid": "abc"}), 'CONNECT /post {"sid":"abc"}'),
        (SocketPacket(T.ACK, "/admin", ["bar"], id=13), 'ACK /admin #13 ["bar"]'),
        (SocketPacket(T.DISCONNECT, "/admin"), "DISCONNECT /admin"),
        (
            SocketPacket(T.BINARY_EVENT, data=["baz", b"\x01\x02\x03"], attachments=1),
            'BINARY_EVENT / ["baz",<3 bytes>] +1 attachment',
        ),
    ],
)
def test_str_is_one_readable_inspector_row(packet: SocketPacket, row: str) -> None:
    assert str(packet) == row


def test_str_elides_long_data() -> None:
    row = str(SocketPacket(T.EVENT, data=["x" * 200]))
    assert row.startswith('EVENT / ["xxx') and row.endswith('xx"]') and "..." in row
    assert len(row) < 100


def test_event_and_args_helpers() -> None:
    event = SocketPacket.parse('2["new message",{"mess":"hi"},3]')
    assert (event.event, event.args) == ("new message", [{"mess": "hi"}, 3])
    ack = SocketPacket.parse(ACK_ADMIN)
    assert (ack.event, ack.args) == (None, ["bar"])
    connect = SocketPacket.parse(CONNECT_ADMIN_ANSWER)
    assert (connect.event, connect.args) == (None, [])


# Invalid input ------------------------------------------------------------------------

INVALID = [
    ("", UnknownSocketPacketType, "nothing"),
    ("7", UnknownSocketPacketType, "'7'"),
    ('x["foo"]', UnknownSocketPacketType, "'x'"),
    ('٢["foo"]', UnknownSocketPacketType, "'٢'"),
    ('5["baz"]', InvalidAttachments, "no attachment count"),
    ('5-["baz"]', InvalidAttachments, "no attachment count"),
    ('51["baz"]', InvalidAttachments, "no attachment count"),
    ('6/admin,1["bar"]', InvalidAttachments, "no attachment count"),
    ('21-["foo"]', InvalidAttachments, "EVENT carries an attachment count"),
    ("5" + "9" * 30 + '-["baz"]', InvalidAttachments, "over 2**53 - 1"),
    ("3", InvalidAckId, "ACK has no ack id"),
    ('3["bar"]', InvalidAckId, "ACK has no ack id"),
    ('61-[{"_placeholder":true,"num":0}]', InvalidAckId, "BINARY_ACK has no ack id"),
    ("05", InvalidAckId, "CONNECT carries an ack id '5'"),
    ("1/admin,3", InvalidAckId, "DISCONNECT carries an ack id"),
    ('47{"message":"x"}', InvalidAckId, "CONNECT_ERROR carries an ack id"),
    ("2" + "9" * 5000 + '["foo"]', InvalidAckId, "over 2**53 - 1"),
    ('2٣["foo"]', InvalidJSON, "offset 1"),  # not an ASCII digit: not an ack id
    ('2["foo"', InvalidJSON, "offset 7"),
    ('2["foo"]x', InvalidJSON, "extra data"),
    ('2["foo"] ', InvalidJSON, "extra data"),
    ('2 ["foo"]', InvalidJSON, "offset 1"),
    ("2NaN", InvalidJSON, "NaN"),
    ('2["foo",Infinity]', InvalidJSON, "Infinity"),
    ('2["foo",1e400]', InvalidJSON, "too large"),
    ('2["foo",' + "1" * 5000 + "]", InvalidJSON, "offset"),
    ("2" + "[" * 100_000, InvalidJSON, "offset"),
    ('0["x"]', InvalidSocketPayload, "CONNECT data is an array"),
    ('0"x"', InvalidSocketPayload, "CONNECT data is a string"),
    ("0null", InvalidSocketPayload, "is null"),
    ('1/admin,["x"]', InvalidSocketPayload, "DISCONNECT data is an array"),
    ("2", InvalidSocketPayload, "EVENT data is missing"),
    ("2[]", InvalidSocketPayload, "empty array"),
    ('2{"foo":1}', InvalidSocketPayload, "is an object"),
    ("2[null]", InvalidSocketPayload, "starts with null"),
    ("2[true]", InvalidSocketPayload, "starts with a boolean"),
    ('2[["foo"]]', InvalidSocketPayload, "starts with an array"),
    ('2/chat["foo"]', InvalidSocketPayload, "missing"),  # no comma: all of it is namespace
    ('3/admin,13{"a":1}', InvalidSocketPayload, "ACK data is an object"),
    ("4", InvalidSocketPayload, "CONNECT_ERROR data is missing"),
    ("4[1]", InvalidSocketPayload, "CONNECT_ERROR data is an array"),
    ('2["connect"]', ReservedEventName, "'connect'"),
    ('2/admin,["disconnect",1]', ReservedEventName, "'disconnect'"),
    ('51-["newListener",{"_placeholder":true,"num":0}]', ReservedEventName, "newListener"),
]


@pytest.mark.parametrize(("text", "error", "fragment"), INVALID)
def test_invalid_packets_raise_the_error_naming_what_was_wrong(
    text: str, error: type[SocketIOError], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        SocketPacket.parse(text)
    assert type(caught.value) is error
    assert fragment in str(caught.value)
    assert caught.value.packet == text


def test_errors_show_a_valid_packet() -> None:
    with pytest.raises(InvalidAttachments) as caught:
        SocketPacket.parse('5["baz"]')
    assert BINARY_EVENT_BAZ in str(caught.value)


# python-socketio departs: it accepts these, the reference JS parser and the kit refuse.
PYTHON_SOCKETIO_ACCEPTS = [
    pytest.param('2["connect"]', ReservedEventName, id="reserved-event-name"),
    pytest.param('1/admin,["x"]', InvalidSocketPayload, id="disconnect-with-data"),
    pytest.param('0["x"]', InvalidSocketPayload, id="connect-with-array"),
    pytest.param('2{"foo":1}', InvalidSocketPayload, id="event-not-an-array"),
    pytest.param("2[]", InvalidSocketPayload, id="event-without-name"),
    pytest.param("9", UnknownSocketPacketType, id="unknown-type-9"),
    pytest.param("2NaN", InvalidJSON, id="nan-is-not-json"),
    pytest.param('21-["a"]', InvalidAttachments, id="attachments-on-event"),
    pytest.param('5["a"]', InvalidAttachments, id="binary-without-count"),
    pytest.param('2٣["foo"]', InvalidJSON, id="arabic-indic-digit-as-ack-id"),
    pytest.param("05", InvalidAckId, id="ack-id-on-connect"),
]


@pytest.mark.parametrize(("text", "error"), PYTHON_SOCKETIO_ACCEPTS)
def test_python_socketio_accepts_what_the_kit_rejects(text: str, error: type[Exception]) -> None:
    sio_packet.Packet(encoded_packet=text)  # no exception: python-socketio takes it
    with pytest.raises(error):
        SocketPacket.parse(text)


def test_python_socketio_strips_a_query_from_the_namespace() -> None:
    assert sio_packet.Packet(encoded_packet="0/admin?x=1,").namespace == "/admin"
    assert SocketPacket.parse("0/admin?x=1,").namespace == "/admin?x=1"


def test_python_socketio_reads_an_arabic_indic_digit_as_ack_id_3() -> None:
    assert sio_packet.Packet(encoded_packet='2٣["foo"]').id == 3


# Serializing checks the same rules ---------------------------------------------------


@pytest.mark.parametrize(
    ("packet", "error"),
    [
        (SocketPacket(T.EVENT, data=["connect"]), ReservedEventName),
        (SocketPacket(T.EVENT), InvalidSocketPayload),
        (SocketPacket(T.ACK, data=["bar"]), InvalidAckId),
        (SocketPacket(T.CONNECT, id=1), InvalidAckId),
        (SocketPacket(T.EVENT, data=["foo"], id=-1), InvalidAckId),
        (SocketPacket(T.EVENT, data=["foo"], id=MAX_ACK_ID + 1), InvalidAckId),
        (SocketPacket(T.EVENT, data=["foo"], attachments=1), InvalidAttachments),
        (SocketPacket(T.BINARY_EVENT, data=["foo"], attachments=-1), InvalidAttachments),
        (SocketPacket(T.DISCONNECT, data={}), InvalidSocketPayload),
        (SocketPacket(T.EVENT, "admin", ["foo"]), ValueError),
        (SocketPacket(T.EVENT, "/a,b", ["foo"]), ValueError),
        (SocketPacket(T.EVENT, data=["foo", b"\x01"]), ValueError),
        (SocketPacket(T.EVENT, data=["foo", float("nan")]), ValueError),
    ],
)
def test_serialize_refuses_packets_parse_would_refuse(
    packet: SocketPacket, error: type[Exception]
) -> None:
    with pytest.raises(error):
        packet.serialize()


def test_serialize_without_validation_crafts_broken_packets() -> None:
    assert SocketPacket(T.EVENT, data=["connect"]).serialize(validate=False) == '2["connect"]'


def test_lone_surrogates_are_escaped_like_json_stringify() -> None:
    assert SocketPacket(T.EVENT, data=["\ud800"]).serialize() == '2["\\ud800"]'


# Binary attachments ------------------------------------------------------------------


def test_deconstruct_the_protocol_example() -> None:
    packet = SocketPacket(T.EVENT, data=["baz", b"\x01\x02\x03"])
    placeholders, attachments = deconstruct(packet)
    assert (placeholders.serialize(), attachments) == (BINARY_EVENT_BAZ, [b"\x01\x02\x03"])
    rebuilt = reconstruct(SocketPacket.parse(BINARY_EVENT_BAZ), attachments)
    assert rebuilt == SocketPacket(T.BINARY_EVENT, data=["baz", b"\x01\x02\x03"], attachments=1)


def test_bytes_anywhere_in_nested_data() -> None:
    data = ["up", {"files": [b"a", {"thumb": b"bb"}], "n": 1}, b"ccc"]
    packet = SocketPacket(T.ACK, "/admin", data, id=7)
    placeholders, attachments = deconstruct(packet)
    assert attachments == [b"a", b"bb", b"ccc"]
    assert placeholders.type == T.BINARY_ACK and placeholders.attachments == 3
    assert placeholders.serialize() == (
        '63-/admin,7["up",{"files":[{"_placeholder":true,"num":0},{"thumb":'
        '{"_placeholder":true,"num":1}}],"n":1},{"_placeholder":true,"num":2}]'
    )
    assert reconstruct(SocketPacket.parse(placeholders.serialize()), attachments).data == data


def test_deconstruct_leaves_a_packet_without_bytes_alone() -> None:
    packet = SocketPacket(T.EVENT, data=["foo"])
    assert deconstruct(packet) == (packet, [])


def test_only_events_and_acks_carry_bytes() -> None:
    with pytest.raises(ValueError, match="CONNECT"):
        deconstruct(SocketPacket(T.CONNECT, data={"token": b"x"}))
    with pytest.raises(ValueError, match="EVENT"):
        reconstruct(SocketPacket(T.EVENT, data=["foo"]), [])


@pytest.mark.parametrize(
    ("num", "count"),
    [(1, 1), (-1, 2), ("0", 1), (True, 2), (0.0, 1), (None, 1), (0, 0)],
)
def test_a_placeholder_that_names_no_attachment_is_refused(num: object, count: int) -> None:
    packet = SocketPacket(
        T.BINARY_EVENT, data=["baz", {"_placeholder": True, "num": num}], attachments=count
    )
    with pytest.raises(InvalidPlaceholder) as caught:
        reconstruct(packet, [b"x"] * count)
    assert caught.value.num == num
    assert repr(num) in str(caught.value)


def test_python_socketio_reads_placeholder_minus_1_as_the_last_attachment() -> None:
    data = [{"_placeholder": True, "num": -1}]
    assert sio_packet.Packet.reconstruct_binary(data, [b"a", b"b"]) == [b"b"]


def test_reconstruct_needs_exactly_the_announced_attachments() -> None:
    packet = SocketPacket.parse(BINARY_EVENT_BAZ)
    with pytest.raises(InvalidAttachments, match="2 attachment"):
        reconstruct(packet, [b"a", b"b"])
    with pytest.raises(InvalidAttachments, match="0 attachment"):
        reconstruct(packet, [])


def test_a_placeholder_marker_must_be_exactly_true() -> None:
    packet = SocketPacket(T.BINARY_EVENT, data=["baz", {"_placeholder": 1, "num": 0}])
    assert reconstruct(packet, []).data == ["baz", {"_placeholder": 1, "num": 0}]


# python-socketio as an oracle ----------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)
event_names = st.text(max_size=10).filter(lambda name: name not in {"connect", "disconnect"})
namespaces = st.sampled_from(["/", "/admin", "/chat-room", "/ü"])
ack_ids = st.none() | st.integers(0, MAX_ACK_ID)

valid_packets = st.one_of(
    st.builds(
        SocketPacket,
        st.just(T.CONNECT),
        namespaces,
        st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    ),
    st.builds(SocketPacket, st.just(T.DISCONNECT), namespaces),
    st.builds(
        lambda ns, name, args, ack_id: SocketPacket(T.EVENT, ns, [name, *args], ack_id),
        namespaces,
        event_names,
        st.lists(json_values, max_size=3),
        ack_ids,
    ),
    st.builds(
        lambda ns, args, ack_id: SocketPacket(T.ACK, ns, args, ack_id),
        namespaces,
        st.lists(json_values, max_size=3),
        st.integers(0, MAX_ACK_ID),
    ),
    st.builds(
        SocketPacket,
        st.just(T.CONNECT_ERROR),
        namespaces,
        st.dictionaries(st.text(max_size=5), json_values, min_size=1, max_size=3),
    ),
)


def theirs_as_tuple(packet: sio_packet.Packet) -> tuple[object, ...]:
    return (packet.packet_type, packet.namespace or "/", packet.data, packet.id)


def ours_as_tuple(packet: SocketPacket) -> tuple[object, ...]:
    return (packet.type, packet.namespace, packet.data, packet.id)


@given(valid_packets)
def test_python_socketio_decodes_what_the_kit_encodes(packet: SocketPacket) -> None:
    theirs = sio_packet.Packet(encoded_packet=packet.serialize())
    assert theirs_as_tuple(theirs) == ours_as_tuple(packet)
    assert SocketPacket.parse(packet.serialize()) == packet


@given(valid_packets)
def test_the_kit_decodes_what_python_socketio_encodes(packet: SocketPacket) -> None:
    theirs = sio_packet.Packet(int(packet.type), packet.data, packet.namespace, packet.id)
    assert SocketPacket.parse(theirs.encode()) == packet


@given(
    namespaces,
    event_names,
    st.lists(json_values | st.binary(max_size=8), max_size=4),
    ack_ids,
)
def test_binary_events_match_python_socketio(
    namespace: str, name: str, args: list[object], ack_id: int | None
) -> None:
    packet = SocketPacket(T.EVENT, namespace, [name, *args], ack_id)
    placeholders, attachments = deconstruct(packet)
    theirs = sio_packet.Packet(int(T.EVENT), packet.data, namespace, ack_id)
    encoded = theirs.encode()
    if not attachments:
        assert SocketPacket.parse(encoded) == packet  # type: ignore[arg-type]
        return
    # python-socketio escapes non-ASCII (\u00e9), JSON.stringify and the kit do not:
    # compare the parsed packets, and the attachments as they are.
    assert (SocketPacket.parse(encoded[0]), encoded[1:]) == (placeholders, attachments)
    assert reconstruct(SocketPacket.parse(encoded[0]), encoded[1:]).data == packet.data


# Garbage in: a ProtocolError out, nothing else ----------------------------------------

packet_like = st.text(alphabet='0123456789-/,[]{}"_:ab\\ ', max_size=30)


@given(st.one_of(st.text(max_size=60), packet_like))
def test_garbage_parses_or_raises_a_protocol_error(text: str) -> None:
    with contextlib.suppress(ProtocolError):
        packet = SocketPacket.parse(text)
        assert SocketPacket.parse(packet.serialize()) == packet


@given(json_values, st.lists(st.binary(max_size=4), max_size=3))
def test_garbage_placeholders_reconstruct_or_raise_a_protocol_error(
    data: object, attachments: list[bytes]
) -> None:
    packet = SocketPacket(T.BINARY_EVENT, data=data, attachments=len(attachments))
    with contextlib.suppress(ProtocolError):
        reconstruct(packet, attachments)


def test_an_attachment_collector_puts_the_bytes_back_in_order() -> None:
    from kit.wire.socketio import AttachmentCollector

    collector = AttachmentCollector()
    collector.expect(SocketPacket.parse('2["no attachments"]'))
    assert collector.expected == 0
    announced = SocketPacket.parse(
        '52-["up",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]'
    )
    collector.expect(announced)
    assert collector.expected == 2
    assert collector.add(b"a") == (1, 2, None)
    index, total, packet = collector.add(b"b")
    assert (index, total, collector.expected) == (2, 2, 0)
    assert packet is not None and packet.data == ["up", b"b", b"a"]
    with pytest.raises(ValueError, match="no binary packet"):
        collector.add(b"stray")
