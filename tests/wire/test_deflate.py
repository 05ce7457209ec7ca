"""permessage-deflate: parameters from the handshake, inflation within limits (RFC 7692)."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.wire import Frame, Opcode
from kit.wire.deflate import DeflateParams, Inflater
from kit.wire.errors import InvalidDeflate, MessageTooBig
from kit.wire.messages import Message, MessageAssembler


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
