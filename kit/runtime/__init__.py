"""The kit's I/O core: one runtime thread, the servers on it, and what keeps cells sane.

- :mod:`~kit.runtime.loop` - the background event-loop thread every server and client shares
- :mod:`~kit.runtime.cells` - output from that thread goes to the cell that waits for it
- :mod:`~kit.runtime.events` - browser-style events and ``settle()``
- :mod:`~kit.runtime.servers` - ``serve()``: start, replace and stop servers safely
- :mod:`~kit.runtime.adapters` - how each kind of app (socket.io, aiohttp, websockets) runs
- :mod:`~kit.runtime.processes` - programs run as child processes (redis-server, haproxy)
- :mod:`~kit.runtime.logbook` - library log records filed with their server, never printed
- :mod:`~kit.runtime.links` - the address a browser should open (JupyterHub's proxy too)
- :mod:`~kit.runtime.errors` - what goes wrong, and what to do

Built on it, each in its own package: :mod:`kit.clients` (``kit.WebSocket``, the socket.io
and chat clients), :mod:`kit.apps` (the chat app, the from-scratch WebSocket server) and
:mod:`kit.wiretap` (the recording relay).
"""

from __future__ import annotations

from kit.runtime.errors import (
    ChildProgramError,
    InvalidAccessError,
    InvalidStateError,
    PortInUseError,
    ProgramNotFoundError,
    ServeError,
    UnsafeHostError,
    UnsupportedAppError,
    WebSocketAPIError,
    WebSocketSyntaxError,
)
from kit.runtime.events import CloseEvent, Event, MessageEvent, settle
from kit.runtime.loop import run
from kit.runtime.servers import Server, running_servers, serve, serve_async, stop, stop_all

__all__ = [
    "ChildProgramError",
    "CloseEvent",
    "Event",
    "InvalidAccessError",
    "InvalidStateError",
    "MessageEvent",
    "PortInUseError",
    "ProgramNotFoundError",
    "ServeError",
    "Server",
    "UnsafeHostError",
    "UnsupportedAppError",
    "WebSocketAPIError",
    "WebSocketSyntaxError",
    "run",
    "running_servers",
    "serve",
    "serve_async",
    "settle",
    "stop",
    "stop_all",
]
