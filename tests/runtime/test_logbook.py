"""The log book: library records are kept with their server, and nothing is printed."""

from __future__ import annotations

import logging

import pytest

import kit
from kit.runtime import logbook

pytestmark = pytest.mark.usefixtures("no_leaks")


def test_a_handler_that_raises_is_in_its_server_errors_not_on_stderr(capfd) -> None:
    async def broken(websocket):
        await websocket.recv()
        raise RuntimeError("boom")

    server = kit.serve(broken, name="broken")
    other = kit.serve(broken, name="other")
    ws = kit.WebSocket(server.ws_url)
    ws.wait_open()
    ws.send("go")
    assert ws.wait_closed().code == 1011  # websockets: internal error
    (entry,) = server.errors
    assert str(entry) == "ERROR connection handler failed: RuntimeError: boom"
    assert "Traceback" in entry.traceback and "RuntimeError: boom" in entry.traceback
    assert other.errors == []  # filed with its own server only
    assert "1 error in .errors" in repr(server)
    out, err = capfd.readouterr()
    assert "boom" not in out + err


def test_a_socketio_handler_error_is_filed_too() -> None:
    import socketio

    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.on("divide")
    async def divide(sid, n):
        return 1 / n

    server = kit.serve(sio, name="sio")
    client = kit.SocketIOClient(server.url, transports=["websocket"])
    assert client.call("divide", 4) == 0.25
    with pytest.raises(socketio.exceptions.TimeoutError):
        client.call("divide", 0, timeout=0.5)
    assert any("ZeroDivisionError" in str(entry) for entry in server.errors), server.log


def test_records_propagate_for_those_who_configure_logging(caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="kit"):
        logbook.SERVER_LOGGER.error("seen by the root logger too")
    assert "seen by the root logger too" in caplog.text
    assert logbook.recent()[-1].message == "seen by the root logger too"
