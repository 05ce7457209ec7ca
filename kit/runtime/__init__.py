"""The kit's I/O layer: one runtime thread, the servers on it, and clients of them.

- :mod:`~kit.runtime.loop` - the background event-loop thread every server and client shares
- :mod:`~kit.runtime.cells` - output from that thread lands in the cell it belongs to
- :mod:`~kit.runtime.servers` - ``serve()``: start, replace and stop servers safely
- :mod:`~kit.runtime.apps` - how each kind of app (socket.io, aiohttp, websockets) is run
- :mod:`~kit.runtime.events` - browser-style events and ``settle()``
- :mod:`~kit.runtime.scratch` - ``ScratchServer``, a WebSocket server built on ``kit.wire`` alone
- :mod:`~kit.runtime.sioclient` - ``SocketIOClient``: python-socketio from plain cells
- :mod:`~kit.runtime.tap` - ``tap()``: a recording relay that decodes every layer
- :mod:`~kit.runtime.websocket` - ``WebSocket``, the browser API mirror
- :mod:`~kit.runtime.chat` - ``ChatClient``, the connection behind a chat panel
- :mod:`~kit.runtime.chatapp` - ``chat_app()``: the article's chat server, page included
"""

from __future__ import annotations

from kit.runtime.chat import ChatClient, ChatMessage
from kit.runtime.chatapp import ChatApp, chat_app
from kit.runtime.errors import (
    InvalidAccessError,
    InvalidStateError,
    PortInUseError,
    ServeError,
    UnsafeHostError,
    UnsupportedAppError,
    WebSocketAPIError,
    WebSocketSyntaxError,
)
from kit.runtime.events import CloseEvent, Event, MessageEvent, settle
from kit.runtime.loop import run
from kit.runtime.scratch import ScratchConnection, ScratchServer
from kit.runtime.servers import Server, running_servers, serve, serve_async, stop, stop_all
from kit.runtime.sioclient import SocketIOClient
from kit.runtime.tap import Tap, tap
from kit.runtime.websocket import WebSocket

__all__ = [
    "ChatApp",
    "ChatClient",
    "ChatMessage",
    "CloseEvent",
    "Event",
    "InvalidAccessError",
    "InvalidStateError",
    "MessageEvent",
    "PortInUseError",
    "ScratchConnection",
    "ScratchServer",
    "ServeError",
    "Server",
    "SocketIOClient",
    "Tap",
    "UnsafeHostError",
    "UnsupportedAppError",
    "WebSocket",
    "WebSocketAPIError",
    "WebSocketSyntaxError",
    "chat_app",
    "run",
    "running_servers",
    "serve",
    "serve_async",
    "settle",
    "stop",
    "stop_all",
    "tap",
]
