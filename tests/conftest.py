"""Shared fixtures: every test that touches the runtime is checked for leaks."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psutil
import pytest

import kit


def _sockets() -> set[tuple[int, object]]:
    """The process's open inet sockets, by file descriptor and local address."""
    return {(c.fd, c.laddr) for c in psutil.Process().net_connections(kind="inet")}


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """After the test and kit.stop_all(): no new thread, socket or kit server is left."""
    threads = set(threading.enumerate())
    sockets = _sockets()
    yield
    kit.stop_all()
    new_threads = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    assert new_threads == [], f"threads left running: {new_threads}"
    assert _sockets() - sockets == set(), "sockets left open"
    assert kit.running_servers() == []


@pytest.fixture
def echo_handler():
    """A websockets handler that sends every message back."""

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    return echo
