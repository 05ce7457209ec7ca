"""wire-to-room: from the WebSocket wire to socket.io chat rooms, one lesson at a time.

The top-level names are all a lesson needs:

- ``kit.serve(app, name=...)`` starts a real server inside the kernel (socket.io,
  aiohttp or a websockets handler) and returns a :class:`Server` with ``.url``;
  ``kit.stop_all()`` stops everything the kit started.
- ``kit.WebSocket(url)`` is the browser's WebSocket API in Python.
- ``kit.run(coro)`` runs a server-side coroutine (``sio.emit(...)``) from a cell.
- ``kit.settle()`` waits until every event your actions caused has been delivered.
- ``kit.ChatPanel(server, user=...)`` is a chat window you can type into;
  ``kit.side_by_side(alice, bob)`` shows several in a row.
- ``kit.tap(server)`` records every byte between clients and a server, decoded layer by
  layer; ``kit.FrameInspector(tap)`` shows it live.
- ``kit.SocketIOClient(url)`` is python-socketio's client, usable from plain cells;
  ``kit.SocketIOChatClient(url, user=...)`` is a chat user without a panel, and
  ``kit.DELIVERY_LEVELS`` names its delivery guarantees (at most once ... exactly once).
- ``kit.chat_app()`` is the article's chat server with its page: ``kit.serve(kit.chat_app())``;
  ``kit.chat_app(redis=kit.redis())`` joins every server on that Redis into one chat;
  ``kit.chat_app(store="chat.sqlite")`` keeps every message, with offsets, for replay;
  ``kit.TokenSigner`` and ``kit.RateLimit`` are for its ``tokens=`` and ``rate_limit=``,
  ``kit.page_app(html)`` serves a page from another origin, and
  ``kit.serve(app, tls=True)`` serves ``https://`` and ``wss://`` with a local CA;
  ``kit.classroom_chat(host=...)`` serves the chat to a class on the local network.
- ``kit.chat_process(redis=...)`` runs ``python -m kit.chat`` in a process of its own;
  ``kit.redis()`` starts a real redis-server for the kernel; ``kit.balancer(servers)`` a
  real HAProxy in front of several servers.
- ``kit.EngineIOServer()`` and ``kit.SocketIOServer()`` are engine.io and socket.io built
  from scratch on ``kit.wire``; ``kit.conformance`` runs the official suites against them.
- ``kit.NewsServer()`` offers news four ways (short polling, long-polling, server-sent
  events, WebSocket); ``kit.ShortPollingClient``, ``kit.LongPollingClient``,
  ``kit.EventSourceClient`` and ``kit.WebSocketNewsClient`` time what they hear;
  ``kit.measure_push()`` and ``kit.compare_push()`` measure the four side by side, and
  ``kit.PushRace(server)`` shows them live.
- ``kit.exercise(name, hint=...)`` checks a lesson's exercise: ``with kit.exercise(...):``.
- ``kit.wire`` holds the pure codecs: handshake, frames, engine.io and socket.io.

Layers, each importing only the ones below it: ``kit.widgets`` -> ``kit.clients``,
``kit.apps``, ``kit.wiretap`` -> ``kit.runtime`` -> ``kit.wire`` (``kit.bench`` measures
with all of them).
"""

from __future__ import annotations

from kit import conformance, wire
from kit.apps import (
    Balancer,
    ChatApp,
    EngineIOServer,
    MemoryRecoveryStore,
    News,
    NewsServer,
    PushMethod,
    RateLimit,
    RecoveryOptions,
    Redis,
    RedisUnavailableError,
    ScratchServer,
    SocketIOServer,
    SqliteRecoveryStore,
    TokenSigner,
    balancer,
    chat_app,
    chat_process,
    classroom_chat,
    page_app,
    redis,
)
from kit.bench.push import PushComparison, PushRun, compare_push, measure_push
from kit.clients import (
    DELIVERY_LEVELS,
    ChatClient,
    ChatMessage,
    EventSourceClient,
    LongPollingClient,
    NewsClient,
    NewsClientError,
    ShortPollingClient,
    SocketIOChatClient,
    SocketIOClient,
    WebSocket,
    WebSocketNewsClient,
    news_client,
)
from kit.exercises import Exercise, exercise
from kit.runtime import (
    ChildProgramError,
    CloseEvent,
    Event,
    MessageEvent,
    PortInUseError,
    ProgramNotFoundError,
    Server,
    run,
    running_servers,
    serve,
    serve_async,
    settle,
    stop,
    stop_all,
)
from kit.widgets import ChatPanel, FrameInspector, PushRace, side_by_side
from kit.wiretap import Tap, tap

__version__ = "0.1.0"

__all__ = [
    "DELIVERY_LEVELS",
    "Balancer",
    "ChatApp",
    "ChatClient",
    "ChatMessage",
    "ChatPanel",
    "ChildProgramError",
    "CloseEvent",
    "EngineIOServer",
    "Event",
    "EventSourceClient",
    "Exercise",
    "FrameInspector",
    "LongPollingClient",
    "MemoryRecoveryStore",
    "MessageEvent",
    "News",
    "NewsClient",
    "NewsClientError",
    "NewsServer",
    "PortInUseError",
    "ProgramNotFoundError",
    "PushComparison",
    "PushMethod",
    "PushRace",
    "PushRun",
    "RateLimit",
    "RecoveryOptions",
    "Redis",
    "RedisUnavailableError",
    "ScratchServer",
    "Server",
    "ShortPollingClient",
    "SocketIOChatClient",
    "SocketIOClient",
    "SocketIOServer",
    "SqliteRecoveryStore",
    "Tap",
    "TokenSigner",
    "WebSocket",
    "WebSocketNewsClient",
    "balancer",
    "chat_app",
    "chat_process",
    "classroom_chat",
    "compare_push",
    "conformance",
    "exercise",
    "measure_push",
    "news_client",
    "page_app",
    "redis",
    "run",
    "running_servers",
    "serve",
    "serve_async",
    "settle",
    "side_by_side",
    "stop",
    "stop_all",
    "tap",
    "wire",
]
