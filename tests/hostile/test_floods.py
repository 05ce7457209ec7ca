"""Floods: a decompression bomb through the tap, and a message in a million pieces."""

from __future__ import annotations

import contextlib
import socket

import psutil
import pytest

import kit
from kit.apps.scratch import ScratchServer
from kit.bench import peers
from kit.wire import Close, Frame, MessageReader, Opcode

pytestmark = pytest.mark.usefixtures("no_leaks")


def read_close(sock: socket.socket, timeout: float = 10.0) -> Close | None:
    """Read server frames until a CLOSE; None if the connection ends without one."""
    sock.settimeout(timeout)
    reader = MessageReader(mask_required=False, max_size=None)
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return None
        if not data:
            return None
        reader.feed(data)
        for event in reader:
            if isinstance(event, Frame) and event.opcode == Opcode.CLOSE:
                return Close.parse(event.payload)


def test_a_decompression_bomb_through_the_tap_is_inflated_only_to_its_limit(
    echo_handler: object,
) -> None:
    bomb = peers.masked(peers.deflate_bomb(200 * 2**20))  # 200 MiB in about 200 KB
    server = kit.serve(echo_handler, name="echo")  # websockets: deflate on, max_size 1 MiB
    tap = kit.tap(server)
    sock, head = peers.websocket_upgrade(
        tap.port, extensions="permessage-deflate; client_max_window_bits", rcvbuf=None
    )
    assert b"permessage-deflate" in head
    process = psutil.Process()
    before = process.memory_info().rss
    try:
        sock.sendall(bomb)
        close = read_close(sock)
    finally:
        sock.close()
    grown = process.memory_info().rss - before
    assert close is not None and close.code == 1009  # the server's verdict, relayed
    row = tap.wait_for("invalid message", timeout=5)
    assert "exceeds max_size=1048576" in row.summary and "1009" in row.summary
    # The tap (and the server) inflated at most about 1 MiB of the 200 MiB.
    assert grown < 64 * 2**20, f"the kernel grew by {grown / 2**20:.0f} MiB"


def test_a_flood_of_empty_fragments_is_cut_off_with_1009() -> None:
    server = kit.serve(ScratchServer("echo"), name="scratch")
    other = kit.WebSocket(server.ws_url)
    other.wait_open()
    sock, _ = peers.websocket_upgrade(server.port, rcvbuf=None)
    try:
        # The server may hang up mid-flood, as it should.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(peers.empty_fragments(100_000))
        close = read_close(sock)
    finally:
        sock.close()
    assert close is not None and close.code == 1009
    assert "max_fragments=4096" in close.reason
    other.send("still here")
    assert other.wait_message(timeout=5).data == "still here"
