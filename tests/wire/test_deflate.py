"""permessage-deflate: parameters from the handshake, inflation within limits (RFC 7692)."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.wire import Frame, Opcode
from kit.wire.deflate import DeflateParams, Deflater, DeflateSettings, Inflater, negotiate
from kit.wire.errors import InvalidDeflate, MessageTooBig, MisplacedRSV1
from kit.wire.messages import Message, MessageAssembler, MessageReader


def deflate(data: bytes, packer=None) -> bytes:
    """What a sender puts on the wire: the deflated message without 00 00 ff ff."""
    packer = packer or zlib.compressobj(wbits=-15)
    out = packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def test_parameters_come_from_the_servers_answer() -> None:
    assert DeflateParams.parse("x-webkit-deflate-frame") is None
    params = DeflateParams.parse(
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
    )
    assert params == DeflateParams(server_no_context_takeover=True, client_max_window_bits=10)
    assert params.inflater("server").keep_context is False
    assert params.inflater("client").window_bits == 10


def test_the_rfc_example_hello() -> None:
    """RFC 7692 section 7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00."""
    assert Inflater().inflate(bytes.fromhex("f248cdc9c90700")) == b"Hello"


def test_context_takeover_and_a_fresh_context() -> None:
    packer = zlib.compressobj(wbits=-15)
    first, second = deflate(b"hello " * 20, packer), deflate(b"hello " * 20, packer)
    assert len(second) < len(first)  # the second one refers back to the first
    keeping = Inflater()
    assert keeping.inflate(first) == keeping.inflate(second) == b"hello " * 20
    with pytest.raises(InvalidDeflate, match="RFC 7692"):
        Inflater(keep_context=False).inflate(second)  # a back-reference to nothing


def test_a_bomb_stops_at_max_size() -> None:
    bomb = deflate(b"\x00" * 5_000_000)
    with pytest.raises(MessageTooBig) as caught:
        Inflater(max_size=10_000).inflate(bomb)
    assert caught.value.close_code == 1009
    assert "10001" in str(caught.value)


def test_the_assembler_inflates_fragmented_compressed_text() -> None:
    wire = deflate("你好, hello".encode())
    assembler = MessageAssembler(inflater=Inflater())
    assert assembler.add(Frame(Opcode.TEXT, wire[:3], fin=False, rsv1=True)) is None
    message = assembler.add(Frame(Opcode.CONT, wire[3:]))
    assert message == Message("你好, hello", fragments=2, compressed=len(wire))


@given(data=st.binary(max_size=2000), chunks=st.integers(min_value=1, max_value=4))
def test_round_trip_through_zlib(data: bytes, chunks: int) -> None:
    packer = zlib.compressobj(wbits=-15)
    inflater = Inflater(max_size=None)
    for _ in range(chunks):
        assert inflater.inflate(deflate(data, packer)) == data


# The server's side: negotiation and the Deflater ---------------------------------------

NEGOTIATIONS = [
    # (client's offers, server settings, the answer or None)
    ("permessage-deflate", DeflateSettings(), "permessage-deflate"),
    ("permessage-deflate; client_max_window_bits", DeflateSettings(), "permessage-deflate"),
    (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        DeflateSettings(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    ),
    (
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
        DeflateSettings(),
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
    ),
    (
        "permessage-deflate",
        DeflateSettings(server_no_context_takeover=True, server_max_window_bits=12),
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=12",
    ),
    (
        "permessage-deflate; server_max_window_bits=14",
        DeflateSettings(server_max_window_bits=11),
        "permessage-deflate; server_max_window_bits=11",
    ),
    # A server must decline what it cannot honour, then try the next offer.
    ("permessage-deflate; server_max_window_bits=8", DeflateSettings(), None),
    (
        "permessage-deflate; server_max_window_bits=8, permessage-deflate",
        DeflateSettings(),
        "permessage-deflate",
    ),
    ("permessage-deflate; unknown_param", DeflateSettings(), None),
    ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None, None),
    ("permessage-deflate; server_max_window_bits", DeflateSettings(), None),
    ("permessage-deflate; server_max_window_bits=16", DeflateSettings(), None),
    ("permessage-deflate; client_max_window_bits=010", DeflateSettings(), None),
    ("permessage-deflate; server_no_context_takeover=1", DeflateSettings(), None),
    ("x-webkit-deflate-frame", DeflateSettings(), None),
]


@pytest.mark.parametrize(("offers", "settings", "answer"), NEGOTIATIONS)
def test_negotiation_follows_rfc_7692_section_7(offers, settings, answer) -> None:
    agreed = negotiate(offers, settings)
    assert (agreed[1] if agreed else None) == answer
    if agreed is not None:  # what the server answered is what the client will parse
        assert DeflateParams.parse(agreed[1]) == agreed[0]


def test_offers_on_several_header_lines_are_read_in_order() -> None:
    agreed = negotiate(["foo", "permessage-deflate; client_no_context_takeover"])
    assert agreed is not None and agreed[0].client_no_context_takeover


@given(
    messages=st.lists(st.binary(max_size=3000), min_size=1, max_size=5),
    keep=st.booleans(),
    bits=st.integers(min_value=9, max_value=15),
)
def test_what_the_deflater_writes_zlib_and_the_inflater_read_back(
    messages: list[bytes], keep: bool, bits: int
) -> None:
    deflater = Deflater(window_bits=bits, keep_context=keep)
    inflater = Inflater(window_bits=bits, keep_context=keep, max_size=None)
    independent = zlib.decompressobj(-15)  # what any RFC 7692 peer with context does
    for data in messages:
        wire = deflater.deflate(data)
        assert not wire.endswith(b"\x00\x00\xff\xff")
        assert inflater.inflate(wire) == data
        if not keep:
            independent = zlib.decompressobj(-15)
        assert independent.decompress(wire + b"\x00\x00\xff\xff") == data


def test_context_takeover_makes_a_repeated_message_smaller() -> None:
    text = b"the same sentence, once more. " * 20
    keeping, fresh = Deflater(), Deflater(keep_context=False)
    assert len(keeping.deflate(text)) == len(fresh.deflate(text))
    assert len(keeping.deflate(text)) < len(fresh.deflate(text)) // 3


@pytest.mark.parametrize(
    ("frame", "bits"),
    [
        (Frame(Opcode.PING, b"x", rsv1=True), "RSV1 set on a PING frame"),
        (Frame(Opcode.TEXT, b"x", rsv2=True), "RSV2 set on a TEXT frame"),
        (Frame(Opcode.BINARY, b"x", rsv1=True, rsv3=True), "RSV1, RSV3 set on a BINARY"),
    ],
)
def test_rsv_bits_where_permessage_deflate_never_puts_them_are_refused(frame, bits) -> None:
    reader = MessageReader(mask_required=False, inflater=Inflater())
    reader.feed(frame.serialize())
    with pytest.raises(MisplacedRSV1, match=bits) as caught:
        list(reader)
    assert caught.value.close_code == 1002


def test_rsv1_on_a_continuation_frame_is_refused() -> None:
    wire = Deflater().deflate(b"hello hello hello")
    reader = MessageReader(mask_required=False, inflater=Inflater())
    reader.feed(Frame(Opcode.TEXT, wire[:3], fin=False, rsv1=True).serialize())
    reader.feed(Frame(Opcode.CONT, wire[3:], rsv1=True).serialize())
    with pytest.raises(MisplacedRSV1, match="RSV1 set on a CONT frame"):
        list(reader)
