"""Fuzzing kit.SocketIOServer through real sockets: arbitrary bytes, payloads and packets.

Three ways in, each with a bounded number of generated cases (Hypothesis):

- arbitrary bytes on a raw TCP connection (HTTP that is not HTTP, truncated requests);
- a real long-polling session whose POST bodies are arbitrary engine.io payloads;
- a real WebSocket session sending arbitrary engine.io/socket.io packets, text and binary.

After every case the server is still serving: a well-behaved client connected before the
fuzzing starts still gets its acks and its broadcasts. After all of them, and once the
heartbeat has had time to end the sessions the fuzzer abandoned, the only session left is
the well-behaved client's: nothing leaked. No handler ran for garbage and nothing was
logged as an error by the server.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect as ws_connect

import kit

EXAMPLES = 30
"""Cases per way in: bounded, so the test stays a few seconds long."""

HEARTBEAT = 0.2  # seconds: abandoned sessions end after ping_interval + ping_timeout

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
json_text = json_values.map(json.dumps)

# Packets that look like socket.io, with the parts a parser trips over: types, attachment
# counts, namespaces, ack ids and JSON data, each right or wrong.
socketio_packets = st.builds(
    lambda kind, attachments, namespace, ack, data: f"{kind}{attachments}{namespace}{ack}{data}",
    st.sampled_from([*"0123456789", "", "x"]),
    st.sampled_from(["", "1-", "0-", "99999999999-", "-"]),
    st.sampled_from(["", "/,", "/custom,", "/nope,", "/", ","]),
    st.sampled_from(["", "1", "0", "12345678901234567890", "-1"]),
    st.one_of(json_text, st.text(max_size=20), st.sampled_from(['["connect"]', '["x"', "{}"])),
)
# engine.io packets: a type digit (right or wrong) in front of a socket.io packet or text.
engine_packets = st.builds(
    lambda kind, rest: kind + rest,
    st.sampled_from([*"0123456789", "b", ""]),
    st.one_of(socketio_packets, st.text(max_size=30)),
)
ws_messages = st.one_of(engine_packets, st.binary(max_size=40))
payloads = st.one_of(
    st.lists(engine_packets, min_size=1, max_size=4).map(lambda ps: "\x1e".join(ps).encode()),
    st.binary(max_size=80),
)
raw_requests = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda line, headers, body: line + headers + b"\r\n" + body,
        st.sampled_from(
            [
                b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n",
                b"POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\n",
                b"GET /socket.io/?EIO=3 HTTP/1.1\r\n",
                b"GET / HTTP/1.0\r\n",
                b"BREW /socket.io/ HTTP/1.1\r\n",
            ]
        ),
        st.lists(
            st.sampled_from(
                [
                    b"Host: 127.0.0.1\r\n",
                    b"Content-Length: 5\r\n",
                    b"Content-Length: -1\r\n",
                    b"Transfer-Encoding: chunked\r\n",
                    b"Upgrade: websocket\r\nConnection: Upgrade\r\n",
                    b"Sec-WebSocket-Version: 13\r\n",
                    b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n",
                    b"Origin: http://elsewhere.example\r\n",
                    b"X: \xff\x00\r\n",
                ]
            ),
            max_size=5,
        ).map(b"".join),
        st.binary(max_size=30),
    ),
)

FUZZ = settings(
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def still_served(client: kit.SocketIOClient, server: kit.Server) -> None:
    """The well-behaved client gets its ack and a broadcast, as before the case."""
    assert client.call("echo", "still there", timeout=5) == "still there"
    kit.run(server.app.emit("tick", "all"))
    assert client.wait_for("tick", timeout=5) == ["all"]


def wait_until_only(server: kit.Server, sids: set[str], timeout: float = 5.0) -> None:
    """Abandoned sessions end by the heartbeat; wait for them, and say which are left."""
    deadline = time.monotonic() + timeout
    while set(server.app.engine.sessions) != sids and time.monotonic() < deadline:
        time.sleep(0.05)
    left = {sid: repr(s) for sid, s in server.app.engine.sessions.items() if sid not in sids}
    assert left == {}, f"sessions leaked: {left}"


@pytest.fixture
def fuzzed(no_leaks):
    """A server (short heartbeat) with one well-behaved client; no errors logged at the end."""
    handled: list[Any] = []
    sio = kit.SocketIOServer(
        namespaces=["/", "/custom"], ping_interval=HEARTBEAT, ping_timeout=HEARTBEAT
    )

    @sio.on("echo")
    def echo(sid, *args):
        handled.append(args)
        return args

    server = kit.serve(sio, name="scratch-sio-fuzz")
    client = kit.SocketIOClient(server, transports=["websocket"])
    before = set(server.app.engine.sessions)  # the well-behaved client's session
    assert len(before) == 1
    yield server, client
    wait_until_only(server, before)
    assert server.app.sockets() == [client.sid()]
    assert server.errors == [], [f"{e}\n{e.traceback}" for e in server.errors]
    assert all(args == ("still there",) for args in handled), handled


def test_arbitrary_bytes_on_a_raw_connection(fuzzed) -> None:
    server, client = fuzzed

    @FUZZ
    @given(raw_requests)
    def case(data: bytes) -> None:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(data)
            raw.shutdown(socket.SHUT_WR)  # the server must answer or close: never hang
            while raw.recv(65536):
                pass
        still_served(client, server)

    case()


def test_arbitrary_payloads_on_a_polling_session(fuzzed) -> None:
    server, client = fuzzed

    @FUZZ
    @given(st.lists(payloads, min_size=1, max_size=3))
    def case(bodies: list[bytes]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            connection.request("GET", "/socket.io/?EIO=4&transport=polling")
            opening = connection.getresponse().read().decode()
            sid = json.loads(opening[1:])["sid"]
            for body in bodies:
                connection.request(
                    "POST", f"/socket.io/?EIO=4&transport=polling&sid={sid}", body=body
                )
                answer = connection.getresponse()
                answer.read()
                assert answer.status in (200, 400), answer.status
                if answer.status == 400:
                    assert sid not in server.app.engine.sessions  # bad payload: session over
                    break
        finally:
            connection.close()
        still_served(client, server)

    case()


def test_arbitrary_packets_on_a_websocket_session(fuzzed) -> None:
    server, client = fuzzed
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"

    @FUZZ
    @given(st.lists(ws_messages, min_size=1, max_size=5), st.booleans())
    def case(messages: list[str | bytes], join_first: bool) -> None:
        with ws_connect(url, open_timeout=5, close_timeout=2) as websocket:
            assert str(websocket.recv(timeout=5)).startswith("0{")
            if join_first:  # a connected socket.io client first, then garbage
                websocket.send("40")
                assert str(websocket.recv(timeout=5)).startswith("40{")
            try:
                for message in messages:
                    websocket.send(message)
            except WebSocketException:
                pass  # the server closed the connection on a bad packet: its answer
        still_served(client, server)

    case()
