"""Tests for kit.wire.messages: fragments to messages, checked against websockets' traffic."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from kit.wire.errors import (
    InvalidUTF8,
    MaskingError,
    MessageTooBig,
    ProtocolError,
    TooManyFragments,
    UnexpectedContinuation,
    UnfinishedMessage,
    WebSocketProtocolError,
)
from kit.wire.frames import Close, Frame, Opcode
from kit.wire.messages import Message, MessageAssembler, MessageReader
from tests.conftest import examples

# RFC 6455 section 5.7: a fragmented unmasked text message, and an unmasked ping.
TEXT_HEL_FRAGMENT = bytes.fromhex("01 03 48 65 6c")
CONT_LO_FRAGMENT = bytes.fromhex("80 02 6c 6f")
PING_HELLO = bytes.fromhex("89 05 48 65 6c 6c 6f")


def read_all(data: bytes, **options: object) -> list[Message | Frame]:
    reader = MessageReader(**options)  # type: ignore[arg-type]
    reader.feed(data)
    return list(reader)


def test_rfc_fragmented_message_is_reassembled() -> None:
    assert read_all(TEXT_HEL_FRAGMENT + CONT_LO_FRAGMENT) == [Message("Hello", fragments=2)]


def test_control_frames_between_fragments_come_out_first() -> None:
    events = read_all(TEXT_HEL_FRAGMENT + PING_HELLO + CONT_LO_FRAGMENT)
    assert events == [Frame(Opcode.PING, b"Hello"), Message("Hello", fragments=2)]


def test_binary_message_is_bytes() -> None:
    data = Frame(Opcode.BINARY, b"\x00\x01", fin=False).serialize() + bytes.fromhex("80 01 02")
    [message] = read_all(data)
    assert message == Message(b"\x00\x01\x02", fragments=2)
    assert message.opcode == Opcode.BINARY
    assert Message("Hello").opcode == Opcode.TEXT


def test_continuation_without_a_message_is_a_protocol_error() -> None:
    with pytest.raises(UnexpectedContinuation) as caught:
        read_all(CONT_LO_FRAGMENT)
    assert caught.value.close_code == 1002
    assert "CONT" in str(caught.value)


def test_new_message_while_one_is_open_is_a_protocol_error() -> None:
    with pytest.raises(UnfinishedMessage) as caught:
        read_all(TEXT_HEL_FRAGMENT + Frame(Opcode.BINARY, b"x").serialize())
    assert (caught.value.opcode, caught.value.open_opcode) == (Opcode.BINARY, Opcode.TEXT)
    assert caught.value.close_code == 1002
    assert "BINARY frame arrived while a fragmented TEXT message" in str(caught.value)


def test_utf8_may_be_split_across_fragments() -> None:
    first = Frame(Opcode.TEXT, b"caf\xc3", fin=False).serialize()
    second = Frame(Opcode.CONT, b"\xa9").serialize()
    assert read_all(first + second) == [Message("café", fragments=2)]


def test_invalid_utf8_is_refused_at_the_first_bad_fragment() -> None:
    assembler = MessageAssembler()
    with pytest.raises(InvalidUTF8) as caught:
        assembler.add(Frame(Opcode.TEXT, b"ok \xff", fin=False))
    assert caught.value.close_code == 1007
    assert caught.value.where == "text message"


def test_truncated_utf8_at_the_end_of_a_message_is_invalid() -> None:
    with pytest.raises(InvalidUTF8):
        read_all(Frame(Opcode.TEXT, b"caf\xc3").serialize())


def test_binary_messages_are_not_decoded() -> None:
    assert read_all(Frame(Opcode.BINARY, b"\xff").serialize()) == [Message(b"\xff")]


def test_max_size_counts_the_whole_message_and_is_checked_from_the_head() -> None:
    reader = MessageReader(max_size=4)
    reader.feed(TEXT_HEL_FRAGMENT)
    assert reader.next_event() is None
    reader.feed(CONT_LO_FRAGMENT[:2])  # only the head of "lo": 3 + 2 > 4
    with pytest.raises(MessageTooBig) as caught:
        reader.next_event()
    assert (caught.value.size, caught.value.max_size) == (5, 4)
    assert caught.value.close_code == 1009
    with pytest.raises(MessageTooBig):
        reader.next_event()  # the error is sticky


def test_max_size_ignores_control_frames() -> None:
    events = read_all(TEXT_HEL_FRAGMENT + PING_HELLO + CONT_LO_FRAGMENT, max_size=5)
    assert events == [Frame(Opcode.PING, b"Hello"), Message("Hello", fragments=2)]


def test_default_max_size_is_one_mebibyte() -> None:
    head = bytes.fromhex("82 7f 0000000000100001")  # 2**20 + 1 bytes announced
    with pytest.raises(MessageTooBig):
        read_all(head)
    assert read_all(head, max_size=None) == []


def test_max_fragments_bounds_the_frames_of_one_message() -> None:
    empty_cont = bytes.fromhex("00 00")  # CONT, FIN = 0, no payload: costs work, not bytes
    stream = TEXT_HEL_FRAGMENT + empty_cont * 3 + CONT_LO_FRAGMENT
    assert read_all(stream, max_fragments=5) == [Message("Hello", fragments=5)]
    with pytest.raises(TooManyFragments) as caught:
        read_all(stream, max_fragments=4)
    assert (caught.value.fragments, caught.value.max_fragments) == (5, 4)
    assert caught.value.close_code == 1009
    assert "max_fragments=4" in str(caught.value)


def test_default_max_fragments_stops_a_flood_of_empty_frames() -> None:
    reader = MessageReader(mask_required=None)
    reader.feed(TEXT_HEL_FRAGMENT + bytes.fromhex("00 00") * 5000)
    with pytest.raises(TooManyFragments):
        list(reader)
    assert read_all(TEXT_HEL_FRAGMENT + bytes.fromhex("00 00") * 5000, max_fragments=None) == []


def test_assembler_size_and_remaining() -> None:
    assembler = MessageAssembler(max_size=10)
    assert (assembler.opcode, assembler.size, assembler.remaining) == (None, 0, 10)
    assembler.add(Frame(Opcode.TEXT, b"Hel", fin=False))
    assert (assembler.opcode, assembler.size, assembler.remaining) == (Opcode.TEXT, 3, 7)
    assert assembler.add(Frame(Opcode.CONT, b"lo")) == Message("Hello", fragments=2)
    assert (assembler.opcode, assembler.size, assembler.remaining) == (None, 0, 10)


def test_assembler_refuses_control_frames() -> None:
    with pytest.raises(ValueError, match="control frame"):
        MessageAssembler().add(Frame(Opcode.PING, b""))


def test_reader_checks_masking() -> None:
    with pytest.raises(MaskingError):
        read_all(PING_HELLO, mask_required=True)


# websockets as an oracle: real traffic in both directions --------------------------


def test_we_read_what_a_websockets_client_sends() -> None:
    client = ClientProtocol(parse_uri("ws://localhost/"), state=State.OPEN)
    client.send_text(b"Hel", fin=False)
    client.send_ping(b"are you there")
    client.send_continuation(b"lo", fin=True)
    client.send_binary(b"\x00" * 70_000)
    client.send_close(1000, "bye")
    wire = b"".join(client.data_to_send())

    events = read_all(wire, mask_required=True)

    assert [type(event) for event in events] == [Frame, Message, Message, Frame]
    ping, text, binary, close = events
    assert isinstance(ping, Frame) and isinstance(close, Frame)
    assert (ping.opcode, ping.payload, ping.masked) == (Opcode.PING, b"are you there", True)
    assert text == Message("Hello", fragments=2)
    assert binary == Message(b"\x00" * 70_000)
    assert Close.parse(close.payload) == Close(1000, "bye")


def test_a_websockets_server_reads_what_we_send() -> None:
    server = ServerProtocol(state=State.OPEN)
    frames = [
        Frame(Opcode.TEXT, "café".encode(), fin=False),
        Frame(Opcode.PING, b"ping"),
        Frame(Opcode.CONT, b"!"),
        Frame(Opcode.CLOSE, Close(1001, "going").serialize()),
    ]
    masks = [b"\x01\x02\x03\x04", b"\xff\x00\xff\x00", b"abcd", b"\x00\x00\x00\x00"]
    server.receive_data(b"".join(f.serialize(mask=m) for f, m in zip(frames, masks, strict=True)))

    received = server.events_received()
    assert all(isinstance(f, WsFrame) for f in received)

    assert [(f.opcode, bytes(f.data), f.fin) for f in received] == [  # type: ignore[union-attr]
        (WsOpcode.TEXT, "café".encode(), False),
        (WsOpcode.PING, b"ping", True),
        (WsOpcode.CONT, b"!", True),
        (WsOpcode.CLOSE, b"\x03\xe9going", True),
    ]
    assert server.close_rcvd is not None and server.close_rcvd.code == 1001


# Fuzzing ---------------------------------------------------------------------------


def read_bounded(reader: MessageReader, data: bytes, cuts: list[int]) -> list[Message | Frame]:
    events: list[Message | Frame] = []
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    for start, end in itertools.pairwise(bounds):
        reader.feed(data[start:end])
        for _ in range(len(data) + 1):  # each event consumes 2+ bytes: bounds the loop
            event = reader.next_event()
            if event is None:
                break
            events.append(event)
        else:
            pytest.fail("next_event kept returning events without consuming bytes")
    return events


@settings(max_examples=examples(300))
@given(
    data=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
    mask_required=st.sampled_from([None, True, False]),
    max_size=st.sampled_from([None, 0, 10, 1000]),
)
def test_arbitrary_bytes_decode_or_raise_a_protocol_error(
    data: bytes, cuts: list[int], mask_required: bool | None, max_size: int | None
) -> None:
    reader = MessageReader(mask_required=mask_required, max_size=max_size)
    try:
        events = read_bounded(reader, data, cuts)
    except ProtocolError as exc:
        assert isinstance(exc, WebSocketProtocolError)
        assert exc.close_code in (1002, 1007, 1009)
        return
    assert len(events) <= len(data) // 2


fragment_frames = st.builds(
    Frame,
    opcode=st.sampled_from([Opcode.CONT, Opcode.TEXT, Opcode.BINARY, Opcode.PING]),
    payload=st.sampled_from([b"", b"a", b"\xc3", b"\xa9", b"\xff", b"Hello"]),
    fin=st.booleans(),
)


@settings(max_examples=examples(300))
@given(frames=st.lists(fragment_frames, max_size=12), cuts=st.lists(st.integers(0), max_size=6))
def test_random_fragment_sequences_decode_or_raise_a_protocol_error(
    frames: list[Frame], cuts: list[int]
) -> None:
    data = b"".join(frame.serialize(validate=False) for frame in frames)
    try:
        events = read_bounded(MessageReader(), data, cuts)
    except WebSocketProtocolError:
        return
    messages = [event for event in events if isinstance(event, Message)]
    assert sum(message.fragments for message in messages) <= len(frames)
