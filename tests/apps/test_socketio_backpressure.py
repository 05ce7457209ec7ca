"""A broadcast never lets a client that does not read grow the server's memory.

kit.SocketIOServer writes a broadcast's bytes straight into each recipient's socket
buffer. A client that stops reading fills the kernel's buffers, then the server's; once
``max_backlog`` bytes wait for it, the WebSocket layer closes it with 1008 and the
socket.io server hears "too slow"; the broadcast goes on to everyone else, complete and
in order.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest
from websockets.sync.client import connect as ws_connect

import kit

pytestmark = pytest.mark.usefixtures("no_leaks")

MESSAGES = 3000
TEXT = "x" * 4000  # 12 MB in all: far more than loopback's kernel buffers hold


def test_a_client_that_never_reads_is_dropped_and_the_others_get_everything() -> None:
    sio = kit.SocketIOServer(max_backlog=2**18)
    sio.engine.websocket.close_timeout = 0.5  # how long a CLOSE may wait for its answer
    reasons: list[str] = []

    @sio.event
    async def connect(sid, environ, auth):
        await sio.enter_room(sid, "audience")

    @sio.event
    def disconnect(sid, reason):
        reasons.append(reason)

    server = kit.serve(sio, name="scratch-sio-slow")
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    # The slow one: a socket with a small receive buffer that joins, then never reads.
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    with (
        ws_connect(url, open_timeout=5, close_timeout=1) as reader,
        ws_connect(url, sock=raw, max_queue=1, open_timeout=5, close_timeout=1) as slow,
    ):
        for client in (reader, slow):
            assert str(client.recv(timeout=5)).startswith("0{")
            client.send("40")
            assert str(client.recv(timeout=5)).startswith("40{")
        for _ in range(100):
            if len(sio.sockets()) == 2:
                break
            time.sleep(0.02)
        assert len(sio.sockets()) == 2

        async def broadcast() -> None:  # paced so that a client that reads keeps up
            for seq in range(MESSAGES):
                await sio.emit("tick", [seq, TEXT], to="audience")
                if seq % 20 == 19:
                    await asyncio.sleep(0.005)

        sender = threading.Thread(target=kit.run, args=(broadcast(),))
        sender.start()
        got = []
        while len(got) < MESSAGES:
            frame = str(reader.recv(timeout=10))
            if frame.startswith("42"):  # pings ("2") are answered below
                got.append(json.loads(frame[2:])[1][0])
            elif frame == "2":
                reader.send("3")
        sender.join(10)
        assert got == list(range(MESSAGES))  # complete and in order
        # It never reads the CLOSE either: it is hung up on after the close timeout.
        deadline = time.monotonic() + 10
        while not reasons and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reasons == ["too slow"], reasons
        assert any("too slow" in line for line in sio.engine.websocket.log)  # close 1008
        assert len(sio.sockets()) == 1
