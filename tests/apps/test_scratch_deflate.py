"""permessage-deflate in the from-scratch server, against the websockets library.

Both directions, with and without context takeover, smaller windows, fragmented
messages with control frames between the fragments, and what a peer must not do.
"""

from __future__ import annotations

import zlib

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

import kit
from kit.wire import Frame, Opcode
from kit.wire.deflate import DeflateSettings

pytestmark = pytest.mark.usefixtures("no_leaks")

REPEATED = "the chat says hello to everyone in the room. " * 40
MESSAGES = [REPEATED, REPEATED, b"\x00\x01" * 700, "x", "", "你好, " * 100, REPEATED]

CLIENTS = {
    "defaults": None,  # websockets offers permessage-deflate; client_max_window_bits
    "no context takeover": ClientPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True
    ),
    "small windows": ClientPerMessageDeflateFactory(
        server_max_window_bits=10, client_max_window_bits=9
    ),
}


def scratch(**settings) -> tuple[kit.Server, kit.Tap]:
    compression = DeflateSettings(**settings) if settings else "deflate"
    server = kit.serve(kit.ScratchServer("echo", compression=compression), name="deflate")
    return server, kit.tap(server)


@pytest.mark.parametrize("offer", list(CLIENTS), ids=list(CLIENTS))
def test_messages_go_both_ways_compressed(offer: str) -> None:
    _server, tap = scratch()
    factory = CLIENTS[offer]
    options = {} if factory is None else {"extensions": [factory]}
    with connect(tap.ws_url, **options) as client:
        agreed = client.response.headers["Sec-WebSocket-Extensions"]
        assert agreed.startswith("permessage-deflate")
        for message in MESSAGES:
            client.send(message)
            assert client.recv(timeout=5) == message
    tap.settle()
    inflated = [e for e in tap.select(layer="websocket") if e.summary.startswith("inflated")]
    # Every message from the client, and every one of 32 bytes or more from the server.
    from_server = [e for e in inflated if e.direction.arrow == "<-"]
    assert len(inflated) - len(from_server) == len(MESSAGES)
    assert len(from_server) == sum(len(m) >= 32 for m in MESSAGES)
    first, second = from_server[0].summary, from_server[1].summary
    if offer == "no context takeover":
        assert first == second  # each message starts afresh: the same bytes twice
    else:
        assert first != second  # the second refers back to the first


def test_the_server_can_insist_on_fresh_contexts_and_a_small_window() -> None:
    server, _ = scratch(server_no_context_takeover=True, server_max_window_bits=10)
    with connect(server.ws_url) as client:
        agreed = client.response.headers["Sec-WebSocket-Extensions"]
        assert agreed == "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
        for message in MESSAGES:
            client.send(message)
            assert client.recv(timeout=5) == message


def test_small_messages_stay_uncompressed_below_min_size() -> None:
    _server, tap = scratch(min_size=100)
    with connect(tap.ws_url) as client:
        client.send("short and sweet")
        assert client.recv(timeout=5) == "short and sweet"
    tap.settle()
    answer = tap.select(layer="websocket", direction="server->client")[0]
    assert answer.summary == "TEXT 'short and sweet' [15 bytes]"


def test_a_fragmented_compressed_message_with_pings_between_its_fragments() -> None:
    server, _ = scratch()
    with connect(server.ws_url) as client:
        deflater = zlib.compressobj(wbits=-15)
        wire = deflater.compress(REPEATED.encode()) + deflater.flush(zlib.Z_SYNC_FLUSH)
        wire = wire[:-4]
        thirds = [wire[: len(wire) // 3], wire[len(wire) // 3 : 2 * len(wire) // 3]]
        thirds.append(wire[2 * len(wire) // 3 :])
        frames = [
            Frame(Opcode.TEXT, thirds[0], fin=False, rsv1=True),
            Frame(Opcode.PING, b"between"),
            Frame(Opcode.CONT, thirds[1], fin=False),
            Frame(Opcode.PING, b"again"),
            Frame(Opcode.CONT, thirds[2]),
        ]
        client.socket.sendall(b"".join(f.serialize(mask=b"\x01\x02\x03\x04") for f in frames))
        # websockets' own client context was not used: the echo is compressed with the
        # server's, which websockets inflates.
        assert client.recv(timeout=5) == REPEATED


@pytest.mark.parametrize(
    ("frame", "code", "why"),
    [
        (Frame(Opcode.PING, b"x", rsv1=True), 1002, "RSV1 set on a PING frame"),
        (Frame(Opcode.TEXT, b"not deflate at all", rsv1=True), 1002, "does not inflate"),
        (
            Frame(Opcode.BINARY, zlib.compress(b"\x00" * 3_000_000)[2:-4], rsv1=True),
            1009,
            "",
        ),
    ],
    ids=["rsv1 on a ping", "not deflate", "a bomb"],
)
def test_a_peer_that_breaks_the_rules_is_closed_and_the_others_go_on(
    frame: Frame, code: int, why: str
) -> None:
    server, _ = scratch()
    with connect(server.ws_url) as bystander, connect(server.ws_url) as rude:
        rude.socket.sendall(frame.serialize(mask=b"\x01\x02\x03\x04"))
        with pytest.raises(ConnectionClosedError) as caught:
            rude.recv(timeout=5)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == code
        assert why in caught.value.rcvd.reason
        bystander.send(REPEATED)
        assert bystander.recv(timeout=5) == REPEATED


def test_without_compression_the_server_negotiates_nothing() -> None:
    server = kit.serve(kit.ScratchServer("echo"), name="plain")
    with connect(server.ws_url) as client:
        assert "Sec-WebSocket-Extensions" not in client.response.headers
        client.send(REPEATED)
        assert client.recv(timeout=5) == REPEATED


def test_a_bad_compression_option_is_refused() -> None:
    with pytest.raises(ValueError, match="'deflate', a DeflateSettings"):
        kit.ScratchServer(compression="gzip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="9 to 15"):
        DeflateSettings(server_max_window_bits=8)
