"""Tests for kit.wire.frames: RFC 6455 section 5.7 vectors, websockets as an oracle, fuzzing."""

from __future__ import annotations

import itertools
import random
import struct
from unittest import mock

import pytest
import websockets.frames as ws_frames
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.streams import StreamReader

from kit.wire.errors import (
    CloseReasonTooLong,
    ControlFrameTooLong,
    FragmentedControlFrame,
    InvalidCloseCode,
    InvalidClosePayload,
    InvalidLength,
    InvalidOpcode,
    InvalidUTF8,
    MaskingError,
    MessageTooBig,
    ProtocolError,
    ReservedBitsSet,
    TrailingData,
    TruncatedFrame,
    WebSocketProtocolError,
)
from kit.wire.frames import (
    Close,
    CloseCode,
    Frame,
    FrameReader,
    Opcode,
    apply_mask,
    is_sendable_close_code,
)
from tests.conftest import examples

# RFC 6455 section 5.7, "Examples".
MASK = bytes.fromhex("37fa213d")
TEXT_HELLO = bytes.fromhex("81 05 48 65 6c 6c 6f")
TEXT_HELLO_MASKED = bytes.fromhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")
TEXT_HEL_FRAGMENT = bytes.fromhex("01 03 48 65 6c")
CONT_LO_FRAGMENT = bytes.fromhex("80 02 6c 6f")
PING_HELLO = bytes.fromhex("89 05 48 65 6c 6c 6f")
PONG_HELLO_MASKED = bytes.fromhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58")
BINARY_256_HEAD = bytes.fromhex("82 7E 0100")
BINARY_64K_HEAD = bytes.fromhex("82 7F 0000000000010000")

RFC_VECTORS = [
    pytest.param(TEXT_HELLO, Frame(Opcode.TEXT, b"Hello"), id="unmasked-text"),
    pytest.param(TEXT_HELLO_MASKED, Frame(Opcode.TEXT, b"Hello", mask=MASK), id="masked-text"),
    pytest.param(TEXT_HEL_FRAGMENT, Frame(Opcode.TEXT, b"Hel", fin=False), id="fragment-1"),
    pytest.param(CONT_LO_FRAGMENT, Frame(Opcode.CONT, b"lo"), id="fragment-2"),
    pytest.param(PING_HELLO, Frame(Opcode.PING, b"Hello"), id="unmasked-ping"),
    pytest.param(PONG_HELLO_MASKED, Frame(Opcode.PONG, b"Hello", mask=MASK), id="masked-pong"),
    pytest.param(
        BINARY_256_HEAD + bytes(range(256)), Frame(Opcode.BINARY, bytes(range(256))), id="256-bytes"
    ),
    pytest.param(BINARY_64K_HEAD + bytes(65536), Frame(Opcode.BINARY, bytes(65536)), id="64KiB"),
]


def assert_frame_data(frame: Frame, data: bytes, **parse_options: object) -> None:
    """``data`` parses to ``frame`` and ``frame`` serializes to ``data``: both directions."""
    assert (Frame.parse(data, **parse_options), frame.serialize()) == (frame, data)  # type: ignore[arg-type]


@pytest.mark.parametrize(("data", "frame"), RFC_VECTORS)
def test_rfc_6455_examples_parse_and_serialize(data: bytes, frame: Frame) -> None:
    assert_frame_data(frame, data)


def test_masked_example_needs_the_mask_given_to_serialize() -> None:
    assert Frame(Opcode.TEXT, b"Hello").serialize(mask=MASK) == TEXT_HELLO_MASKED
    assert Frame(Opcode.TEXT, b"Hello", mask=b"\x00" * 4).serialize(mask=MASK) == (
        TEXT_HELLO_MASKED
    )


def test_parsed_frame_remembers_whether_it_was_masked() -> None:
    assert Frame.parse(TEXT_HELLO_MASKED).masked
    assert not Frame.parse(TEXT_HELLO).masked


# Masking ---------------------------------------------------------------------------


def test_apply_mask_rfc_example() -> None:
    assert apply_mask(b"Hello", MASK) == bytes.fromhex("7f 9f 4d 51 58")


@given(data=st.binary(max_size=300), mask=st.binary(min_size=4, max_size=4))
def test_apply_mask_matches_byte_by_byte_definition_and_is_its_own_inverse(
    data: bytes, mask: bytes
) -> None:
    expected = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
    assert apply_mask(data, mask) == expected
    assert apply_mask(expected, mask) == data


def test_apply_mask_handles_large_payloads() -> None:
    """Correct on 8 MiB; how fast it is, is measured by `python -m kit.bench codecs`."""
    payload = random.Random(1).randbytes(8 * 2**20)
    masked = apply_mask(payload, MASK)
    assert masked[:4] == bytes(a ^ b for a, b in zip(payload[:4], MASK, strict=True))
    assert apply_mask(masked, MASK) == payload


@pytest.mark.parametrize("mask", [b"", b"abc", b"abcde"])
def test_apply_mask_refuses_a_key_that_is_not_4_bytes(mask: bytes) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        apply_mask(b"Hello", mask)


# Lengths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "head_size"),
    [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (100_000, 10)],
)
def test_length_takes_7_16_or_64_bits(length: int, head_size: int) -> None:
    frame = Frame(Opcode.BINARY, b"x" * length)
    data = frame.serialize()
    assert len(data) == head_size + length
    assert_frame_data(frame, data)


@pytest.mark.parametrize(
    ("data", "length", "bits"),
    [
        (bytes.fromhex("81 7e 0005") + b"Hello", 5, 16),
        (bytes.fromhex("81 7e 007d") + b"x" * 125, 125, 16),
        (bytes.fromhex("82 7f 000000000000ffff") + b"x" * 65535, 65535, 64),
        (bytes.fromhex("82 7f 8000000000000000"), 2**63, 64),
    ],
)
def test_non_minimal_or_oversized_length_is_a_protocol_error(
    data: bytes, length: int, bits: int
) -> None:
    with pytest.raises(InvalidLength) as caught:
        Frame.parse(data)
    assert (caught.value.length, caught.value.field_bits) == (length, bits)
    assert caught.value.close_code == 1002
    assert f"{bits}-bit" in str(caught.value)


# Frame rules -----------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_reserved_opcodes_are_refused(opcode: int) -> None:
    with pytest.raises(InvalidOpcode) as caught:
        Frame.parse(bytes([0x80 | opcode, 0]))
    assert caught.value.opcode == opcode
    assert caught.value.close_code == 1002
    assert f"{opcode:#x}" in str(caught.value)


@pytest.mark.parametrize(
    ("head1", "bits"),
    [
        (0b11000001, (True, False, False)),
        (0b10100001, (False, True, False)),
        (0b10010001, (False, False, True)),
    ],
)
def test_reserved_bits_need_an_extension(head1: int, bits: tuple[bool, bool, bool]) -> None:
    data = bytes([head1, 0])
    with pytest.raises(ReservedBitsSet) as caught:
        Frame.parse(data)
    assert (caught.value.rsv1, caught.value.rsv2, caught.value.rsv3) == bits
    assert caught.value.close_code == 1002
    frame = Frame.parse(data, allow_rsv=True)
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == bits
    assert frame.serialize() == data


def test_control_frame_payload_is_at_most_125_bytes() -> None:
    assert_frame_data(Frame(Opcode.PING, b"x" * 125), bytes([0x89, 125]) + b"x" * 125)
    too_long = bytes.fromhex("89 7e 007e") + b"x" * 126
    with pytest.raises(ControlFrameTooLong) as caught:
        Frame.parse(too_long)
    assert (caught.value.opcode, caught.value.length) == (Opcode.PING, 126)
    assert "PING" in str(caught.value) and "125" in str(caught.value)
    with pytest.raises(ControlFrameTooLong):
        Frame(Opcode.PONG, b"x" * 126).serialize()


@pytest.mark.parametrize("opcode", [Opcode.CLOSE, Opcode.PING, Opcode.PONG])
def test_control_frames_are_never_fragmented(opcode: Opcode) -> None:
    with pytest.raises(FragmentedControlFrame) as caught:
        Frame.parse(bytes([opcode, 0]))
    assert caught.value.opcode == opcode
    assert caught.value.close_code == 1002
    with pytest.raises(FragmentedControlFrame):
        Frame(opcode, b"", fin=False).serialize()


def test_serialize_can_craft_a_broken_frame_on_purpose() -> None:
    data = Frame(Opcode.PING, b"x" * 126).serialize(validate=False)
    assert data[:4] == bytes.fromhex("89 7e 007e")


def test_server_requires_masked_frames_and_client_requires_unmasked() -> None:
    with pytest.raises(MaskingError) as caught:
        Frame.parse(TEXT_HELLO, mask_required=True)
    assert caught.value.masked is False
    assert "client" in str(caught.value)
    with pytest.raises(MaskingError) as caught:
        Frame.parse(TEXT_HELLO_MASKED, mask_required=False)
    assert caught.value.masked is True
    assert caught.value.close_code == 1002
    assert_frame_data(
        Frame(Opcode.TEXT, b"Hello", mask=MASK), TEXT_HELLO_MASKED, mask_required=True
    )
    assert_frame_data(Frame(Opcode.TEXT, b"Hello"), TEXT_HELLO, mask_required=False)


def test_max_size_applies_to_data_frames() -> None:
    with pytest.raises(MessageTooBig) as caught:
        Frame.parse(TEXT_HELLO, max_size=4)
    assert (caught.value.size, caught.value.max_size) == (5, 4)
    assert caught.value.close_code == 1009
    assert Frame.parse(TEXT_HELLO, max_size=5) == Frame(Opcode.TEXT, b"Hello")
    assert Frame.parse(PING_HELLO, max_size=0) == Frame(Opcode.PING, b"Hello")


@pytest.mark.parametrize(
    ("data", "needed"),
    [(b"", 2), (b"\x81", 2), (b"\x81\x7e\x01", 4), (b"\x81\x85\x00", 6), (TEXT_HELLO[:-1], 7)],
)
def test_parse_needs_the_whole_frame(data: bytes, needed: int) -> None:
    with pytest.raises(TruncatedFrame) as caught:
        Frame.parse(data)
    assert (caught.value.needed, caught.value.received) == (needed, len(data))
    assert "FrameReader" in str(caught.value)


def test_parse_refuses_bytes_after_the_frame() -> None:
    with pytest.raises(TrailingData) as caught:
        Frame.parse(TEXT_HELLO + PING_HELLO)
    assert (caught.value.frame_size, caught.value.extra) == (7, 7)


# Close payloads --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "close"),
    [
        (b"", Close(CloseCode.NO_STATUS_RCVD, "")),
        (b"\x03\xe8", Close(CloseCode.NORMAL_CLOSURE, "")),
        (b"\x03\xe8done", Close(CloseCode.NORMAL_CLOSURE, "done")),
        (b"\x03\xe9caf\xc3\xa9", Close(CloseCode.GOING_AWAY, "café")),
        (b"\x0b\xb8", Close(3000, "")),
        (b"\x13\x87private", Close(4999, "private")),
    ],
)
def test_close_payload_parse_and_serialize(payload: bytes, close: Close) -> None:
    assert (Close.parse(payload), close.serialize()) == (close, payload)


def test_close_one_byte_payload_is_invalid() -> None:
    with pytest.raises(InvalidClosePayload) as caught:
        Close.parse(b"\x03")
    assert caught.value.close_code == 1002
    assert "03" in str(caught.value)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_close_codes_that_may_not_be_sent(code: int) -> None:
    assert not is_sendable_close_code(code)
    with pytest.raises(InvalidCloseCode) as caught:
        Close.parse(struct.pack("!H", code))
    assert caught.value.code == code
    assert caught.value.close_code == 1002
    assert str(code) in str(caught.value)
    with pytest.raises(InvalidCloseCode):
        Close(code, "reason").serialize()


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999])
def test_close_codes_that_may_be_sent(code: int) -> None:
    assert is_sendable_close_code(code)
    assert Close.parse(struct.pack("!H", code)).code == code


def test_close_reason_must_be_utf8() -> None:
    with pytest.raises(InvalidUTF8) as caught:
        Close.parse(b"\x03\xe8\xff")
    assert caught.value.close_code == 1007
    assert caught.value.where == "close reason"
    with pytest.raises(InvalidUTF8):
        Frame.parse(b"\x88\x03\x03\xe8\xff")


def test_close_reason_is_at_most_123_bytes() -> None:
    assert len(Close(1000, "é" * 61 + "x").serialize()) == 125
    with pytest.raises(CloseReasonTooLong) as caught:
        Close(1000, "x" * 124).serialize()
    assert caught.value.size == 124
    with pytest.raises(ControlFrameTooLong):
        Close.parse(b"\x03\xe8" + b"x" * 124)


def test_close_frame_payload_is_checked() -> None:
    assert Frame.parse(b"\x88\x02\x03\xe8").payload == b"\x03\xe8"
    with pytest.raises(InvalidClosePayload):
        Frame.parse(b"\x88\x01\x03")
    with pytest.raises(InvalidCloseCode):
        Frame(Opcode.CLOSE, b"\x03\xed").serialize()  # 1005


def test_close_str() -> None:
    assert str(Close(1000, "done")) == "1000 (OK) done"
    assert str(Close(1001, "")) == "1001 (going away)"
    assert str(Close(3001, "")) == "3001 (registered)"
    assert str(Close(4000, "bye")) == "4000 (private use) bye"
    assert str(Close(2500, "")) == "2500 (unknown)"


# Readable frames -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "text"),
    [
        (Frame(Opcode.TEXT, b"hello", mask=MASK), "TEXT 'hello' [5 bytes, masked]"),
        (Frame(Opcode.BINARY, b"Hello"), "BINARY 48 65 6c 6c 6f [5 bytes]"),
        (Frame(Opcode.CLOSE, b"\x03\xe8done"), "CLOSE 1000 (OK) done [6 bytes]"),
        (Frame(Opcode.CLOSE, b""), "CLOSE '' [0 bytes]"),
        (Frame(Opcode.TEXT, b"Hel", fin=False), "TEXT 'Hel' [3 bytes, continued]"),
        (Frame(Opcode.CONT, b"lo"), "CONT 'lo' [2 bytes]"),
        (Frame(Opcode.CONT, b"\x00\xff", fin=False), "CONT 00 ff [2 bytes, continued]"),
        (Frame(Opcode.TEXT, b"caf\xc3", fin=False), "TEXT 'caf' [4 bytes, continued]"),
        (Frame(Opcode.PING, b"Hello"), "PING 'Hello' [5 bytes]"),
        (Frame(Opcode.PONG, b"\x00\x01"), "PONG 00 01 [2 bytes]"),
        (Frame(Opcode.TEXT, b"\xff"), "TEXT ff [1 byte]"),
        (Frame(Opcode.CLOSE, b"\x03"), "CLOSE 03 [1 byte]"),
    ],
)
def test_str_is_one_readable_line(frame: Frame, text: str) -> None:
    assert str(frame) == text


def test_str_elides_long_payloads() -> None:
    text = str(Frame(Opcode.TEXT, b"a" * 1000 + b"THE END"))
    assert "..." in text and text.endswith("THE END' [1007 bytes]")
    assert len(text) < 100
    binary = str(Frame(Opcode.BINARY, bytes(range(256)) * 4))
    assert binary.startswith("BINARY 00 01 02") and "..." in binary
    assert binary.endswith("fe ff [1024 bytes]")
    assert len(binary) < 100


@given(
    opcode=st.integers(0, 15),
    payload=st.binary(max_size=400),
    fin=st.booleans(),
    mask=st.none() | st.binary(min_size=4, max_size=4),
)
def test_str_never_fails(opcode: int, payload: bytes, fin: bool, mask: bytes | None) -> None:
    text = str(Frame(opcode, payload, fin=fin, mask=mask))  # type: ignore[arg-type]
    assert text.endswith("]")
    assert len(text) < 140


# Stream reading --------------------------------------------------------------------

STREAM = TEXT_HEL_FRAGMENT + PING_HELLO + CONT_LO_FRAGMENT + TEXT_HELLO
STREAM_FRAMES = [
    Frame(Opcode.TEXT, b"Hel", fin=False),
    Frame(Opcode.PING, b"Hello"),
    Frame(Opcode.CONT, b"lo"),
    Frame(Opcode.TEXT, b"Hello"),
]


def read_in_chunks(reader: FrameReader, data: bytes, cuts: list[int]) -> list[Frame]:
    frames: list[Frame] = []
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    for start, end in itertools.pairwise(bounds):
        reader.feed(data[start:end])
        frames.extend(reader)
    return frames


def test_reader_waits_for_the_whole_frame() -> None:
    reader = FrameReader(mask_required=True)
    reader.feed(TEXT_HELLO_MASKED[:6])  # head and masking key
    assert reader.next_frame() is None
    assert reader.buffered == 6
    reader.feed(TEXT_HELLO_MASKED[6:])
    assert reader.next_frame() == Frame(Opcode.TEXT, b"Hello", mask=MASK)
    assert reader.next_frame() is None
    assert reader.buffered == 0


@given(cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_reader_gives_the_same_frames_whatever_the_chunks(cuts: list[int]) -> None:
    assert read_in_chunks(FrameReader(mask_required=False), STREAM, cuts) == STREAM_FRAMES


def test_reader_refuses_an_oversized_frame_from_its_head() -> None:
    reader = FrameReader(max_size=65535)
    reader.feed(BINARY_64K_HEAD)  # only the 10-byte head: no payload yet
    with pytest.raises(MessageTooBig) as caught:
        reader.next_frame()
    assert (caught.value.size, caught.value.max_size) == (65536, 65535)
    reader.feed(bytes(65536))
    assert reader.buffered == 0  # a broken reader stops buffering
    with pytest.raises(MessageTooBig):
        reader.next_frame()  # and keeps failing


def test_reader_error_is_sticky() -> None:
    reader = FrameReader(mask_required=True)
    reader.feed(TEXT_HELLO)
    with pytest.raises(MaskingError) as first:
        reader.next_frame()
    with pytest.raises(MaskingError) as second:
        reader.next_frame()
    assert second.value is first.value


def test_reader_accepts_both_directions_when_mask_is_not_required() -> None:
    reader = FrameReader()
    reader.feed(TEXT_HELLO + TEXT_HELLO_MASKED)
    assert [frame.masked for frame in reader] == [False, True]


@settings(max_examples=examples(300), suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
    mask_required=st.sampled_from([None, True, False]),
    max_size=st.sampled_from([None, 0, 10, 1000]),
)
def test_reader_on_arbitrary_bytes_decodes_or_raises_a_protocol_error(
    data: bytes, cuts: list[int], mask_required: bool | None, max_size: int | None
) -> None:
    reader = FrameReader(mask_required=mask_required, max_size=max_size)
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    decoded = 0
    try:
        for start, end in itertools.pairwise(bounds):
            reader.feed(data[start:end])
            for _ in range(len(data) + 1):  # a frame takes 2+ bytes: this bounds the loop
                frame = reader.next_frame()
                if frame is None:
                    break
                decoded += 1
                str(frame)
            else:
                pytest.fail("next_frame kept returning frames without consuming bytes")
    except ProtocolError as exc:
        assert isinstance(exc, WebSocketProtocolError)
        assert exc.close_code in (1002, 1007, 1009)
        assert str(exc)
    assert decoded <= len(data) // 2


@given(data=st.binary(max_size=200))
def test_parse_on_arbitrary_bytes_decodes_or_raises_a_protocol_error(data: bytes) -> None:
    try:
        frame = Frame.parse(data)
    except ProtocolError:
        return
    assert frame.serialize() == data  # lengths are minimal and the mask is kept: exact


# websockets as an oracle -----------------------------------------------------------

LENGTHS = [0, 1, 2, 3, 4, 5, 124, 125, 126, 127, 128, 65535, 65536, 70000]


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    """Random valid frames: any opcode, FIN, payload length around the boundaries."""
    opcode = draw(st.sampled_from(list(Opcode)))
    if opcode == Opcode.CLOSE:
        code = draw(st.sampled_from([1000, 1001, 1011, 3000, 4999]))
        reason = draw(st.text(max_size=30))
        payload = Close(code, reason).serialize() if len(reason.encode()) <= 123 else b""
        return Frame(opcode, payload)
    if opcode in (Opcode.PING, Opcode.PONG):
        return Frame(opcode, draw(st.binary(max_size=125)))
    length = draw(st.sampled_from(LENGTHS) | st.integers(0, 300))
    payload = random.Random(draw(st.integers(0, 2**32))).randbytes(length)
    return Frame(opcode, payload, fin=draw(st.booleans()))


def websockets_parse(data: bytes, *, mask: bool) -> ws_frames.Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = ws_frames.Frame.parse(reader.read_exact, mask=mask)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("websockets wanted more bytes")


@settings(max_examples=examples(150), deadline=None)
@given(frame=frames(), mask=st.none() | st.binary(min_size=4, max_size=4))
def test_websockets_parses_what_we_serialize(frame: Frame, mask: bytes | None) -> None:
    theirs = websockets_parse(frame.serialize(mask=mask), mask=mask is not None)
    assert (theirs.opcode, bytes(theirs.data), theirs.fin) == (
        frame.opcode,
        frame.payload,
        frame.fin,
    )


@settings(max_examples=examples(150), deadline=None)
@given(frame=frames(), mask=st.none() | st.binary(min_size=4, max_size=4))
def test_we_parse_what_websockets_serializes(frame: Frame, mask: bytes | None) -> None:
    theirs = ws_frames.Frame(ws_frames.Opcode(frame.opcode), frame.payload, fin=frame.fin)
    with mock.patch.object(ws_frames.secrets, "token_bytes", return_value=mask):
        data = theirs.serialize(mask=mask is not None)
    expected = Frame(frame.opcode, frame.payload, fin=frame.fin, mask=mask)
    assert_frame_data(expected, data, mask_required=mask is not None)
