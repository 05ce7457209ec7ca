"""The tap's decoder on its own: captured byte streams in, records out; never an exception."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kit.wire import Frame, Opcode
from kit.wire.decoder import ConnectionDecoder, Direction, Layer, Record, Stage

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT
CAPTURES = json.loads((Path(__file__).parent / "captures" / "sessions.json").read_text())
"""TCP chunks of real sessions, recorded by a plain proxy: python-socketio server and
client (polling, upgrade, an event, a binary call), and websockets with permessage-deflate."""


def replay(session: str) -> list[Record]:
    decoders: dict[int, ConnectionDecoder] = {}
    records: list[Record] = []
    for number, way, chunk in CAPTURES[session]:
        decoder = decoders.setdefault(number, ConnectionDecoder())
        records += decoder.feed(C2S if way == "c2s" else S2C, base64.b64decode(chunk))
    return records


def rows(records: list[Record], layer: Layer) -> list[str]:
    return [f"{r.direction.arrow} {r.summary}" for r in records if r.layer is layer]


def test_a_captured_socketio_session_decodes_layer_by_layer() -> None:
    records = replay("socketio")
    engine = rows(records, Layer.ENGINEIO)
    assert engine[0].startswith("<- OPEN sid=")
    assert engine[1:4] == ["-> PING 'probe'", "<- PONG 'probe'", "-> UPGRADE"]
    socket = rows(records, Layer.SOCKETIO)
    assert socket[0] == "-> CONNECT / {}"
    assert '-> EVENT / ["recive message",{"message":"hi"}]' in socket
    binary = socket.index(
        '-> BINARY_EVENT / #1 ["reverse bytes",{"_placeholder":true,"num":0}] +1 attachment'
    )
    assert socket[binary + 1] == "-> attachment 1/1 [4 bytes]"
    assert socket[-1] == "<- attachment 1/1 [4 bytes]"
    assert [r.transport for r in records][:4] == ["polling"] * 4
    assert records[-1].summary == "CLOSE 1000 (OK) [2 bytes]"


def test_compressed_messages_are_inflated_with_the_context_kept() -> None:
    inflated = rows(replay("deflate"), Layer.WEBSOCKET)
    assert (
        "-> inflated 'hello hello hello hello hello hello hell'... [300 bytes from 13]" in inflated
    )
    # The second message compressed to 6 bytes only because the context was kept.
    assert (
        "-> inflated 'hello hello hello hello hello hello hell'... [360 bytes from 6]" in inflated
    )
    assert "<- inflated 'short' [5 bytes from 7]" in inflated


def test_the_decoder_runs_without_a_loop_or_a_socket_and_holds_its_stage() -> None:
    decoder = ConnectionDecoder()
    assert decoder.stage is Stage.HTTP
    decoder.feed(
        C2S, b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    decoder.feed(S2C, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
    assert decoder.stage is Stage.WEBSOCKET and decoder.transport == "websocket"
    (record,) = decoder.feed(S2C, Frame(Opcode.TEXT, b"hi").serialize())
    assert (record.layer, record.summary) == (Layer.WEBSOCKET, "TEXT 'hi' [2 bytes]")


def _upgraded(extensions: str = "", max_message: int = 1000) -> ConnectionDecoder:
    decoder = ConnectionDecoder(max_message=max_message)
    decoder.feed(
        C2S,
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    header = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
    decoder.feed(
        S2C, f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n{header}\r\n".encode()
    )
    assert decoder.stage is Stage.WEBSOCKET
    return decoder


def test_a_broken_message_is_a_row_and_decoding_goes_on() -> None:
    decoder = _upgraded()
    bad = decoder.feed(S2C, Frame(Opcode.TEXT, b"\xff\xfe").serialize(validate=False))
    assert bad[-1].summary.startswith("invalid message: text message is not valid UTF-8")
    close = decoder.feed(S2C, Frame(Opcode.CLOSE, b"\x03\xef").serialize())
    assert close[0].summary == "CLOSE 1007 (invalid payload data) [2 bytes]"
    assert decoder.stage is Stage.WEBSOCKET


def test_a_decompression_bomb_is_refused_at_the_limit_not_inflated() -> None:
    decoder = _upgraded("permessage-deflate", max_message=20_000)
    packer = zlib.compressobj(wbits=-15)
    bomb = packer.compress(b"\x00" * 10_000_000) + packer.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 20_000  # 10 MB of zeros travel in under 10 KB
    frame = Frame(Opcode.BINARY, bomb[:-4], rsv1=True).serialize(validate=False)
    records = decoder.feed(S2C, frame)
    assert records[-1].summary.startswith(
        "invalid message: message of at least 20001 bytes exceeds max_size=20000: close with 1009"
    )
    ok = decoder.feed(S2C, Frame(Opcode.TEXT, b"4hello").serialize())
    assert [r.summary for r in ok][1] == "MESSAGE 'hello'"  # and decoding went on


def test_what_is_not_http_is_noted_once_and_then_relayed_undecoded() -> None:
    decoder = ConnectionDecoder()
    (record,) = decoder.feed(C2S, b"\x00\x01 neither HTTP nor TLS")
    assert record.layer is Layer.TCP and record.summary.startswith("not decoded any more")
    assert decoder.stage is Stage.OPAQUE
    assert decoder.feed(C2S, b"more bytes") == []
    tls = ConnectionDecoder()  # a TLS ClientHello is read as TLS records instead
    assert tls.feed(C2S, b"\x16\x03\x01\x02\x00 a TLS client hello") == []
    assert tls.stage is Stage.TLS


@given(
    chunks=st.lists(st.tuples(st.sampled_from([C2S, S2C]), st.binary(max_size=200)), max_size=20)
)
def test_arbitrary_bytes_give_records_never_an_exception(chunks) -> None:
    decoder = ConnectionDecoder()
    for direction, data in chunks:
        for record in decoder.feed(direction, data):
            assert isinstance(record, Record)


@given(
    frames=st.lists(
        st.tuples(
            st.sampled_from([C2S, S2C]),
            st.sampled_from(list(Opcode)),
            st.binary(max_size=60),
            st.booleans(),
            st.booleans(),
        ),
        max_size=15,
    )
)
def test_arbitrary_frames_after_an_upgrade_never_raise(frames) -> None:
    decoder = _upgraded("permessage-deflate; server_no_context_takeover")
    for direction, opcode, payload, fin, rsv1 in frames:
        data = Frame(opcode, payload, fin=fin, rsv1=rsv1).serialize(validate=False)
        for record in decoder.feed(direction, data):
            assert isinstance(record, Record)


KEEP_ALIVE_POLLS = [
    (C2S, b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n"),
    (S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"),
    (C2S, b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n"),
    (S2C, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[1\r\n1\r\n]\r\n0\r\n\r\n"),
    (C2S, b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n"),
    (S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"),
]
"""Three polls on one kept-alive connection, one answer in chunks."""


def test_each_head_row_holds_exactly_its_head_on_a_kept_alive_connection() -> None:
    decoder = ConnectionDecoder()
    records = [r for way, data in KEEP_ALIVE_POLLS for r in decoder.feed(way, data)]
    heads = [r.raw for r in records if r.layer is Layer.HTTP and not r.summary.startswith("body")]
    assert heads == [data.split(b"\r\n\r\n")[0] + b"\r\n\r\n" for _, data in KEEP_ALIVE_POLLS]
    assert [r.raw for r in records if r.summary.startswith("body")] == [b"[]", b"[1]", b"[]"]


EVENT_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def test_server_sent_events_are_rows_as_they_arrive_and_the_body_is_not_kept() -> None:
    decoder = ConnectionDecoder()
    decoder.feed(C2S, b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    head = decoder.feed(S2C, EVENT_STREAM_HEAD)
    assert [r.summary for r in head] == ["200 OK (text/event-stream)"]
    first = b"id: 1\ndata: hello\n\n"
    got = decoder.feed(S2C, b"%x\r\n%s\r\n" % (len(first), first))
    assert [(r.layer, r.summary, r.raw) for r in got] == [(Layer.HTTP, "event id=1 'hello'", first)]
    # An event split across chunks, then a keep-alive comment: one row, for the event.
    assert decoder.feed(S2C, b"6\r\nevent:\r\n") == []
    rest = b" news\ndata: x\n\n: keep-alive\n\n"
    (news,) = decoder.feed(S2C, b"%x\r\n%s\r\n" % (len(rest), rest))
    assert news.summary == "event 'news' id=1 'x'"
    for _ in range(2000):  # a long stream: nothing of it piles up in the decoder
        decoder.feed(S2C, b"%x\r\n%s\r\n" % (len(first), first))
    side = decoder._sides[S2C]  # (white box: the decoder's buffers stay empty)
    assert len(side.head) < 16 and len(side.body) == 0  # (a chunk's CRLF may wait)
    end = decoder.feed(S2C, b"0\r\n\r\n")
    assert end == []  # the stream ended: no body row, nothing left over
    # The connection goes on as plain HTTP.
    decoder.feed(C2S, b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
    (answer, body) = decoder.feed(S2C, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
    assert (answer.summary, body.summary) == ("200 OK", "body [2 bytes]")


def test_an_error_answer_on_an_engineio_url_is_text_not_a_payload() -> None:
    """python-socketio's 400 for a foreign Origin: the body is a sentence, shown as one."""
    decoder = ConnectionDecoder()
    body = b'"http://127.0.0.1:5500 is not an accepted origin."'
    request = b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n40{}"
    records = decoder.feed(C2S, request) + decoder.feed(S2C, answer)
    assert rows(records, Layer.HTTP)[-1] == f"<- body {body.decode()!r}"
    assert rows(records, Layer.ENGINEIO) == []
    # The next answer on the connection, a 200, is an engine.io payload again.
    records = decoder.feed(C2S, request) + decoder.feed(S2C, ok)
    assert rows(records, Layer.ENGINEIO) == ["<- MESSAGE '0{}'"]
