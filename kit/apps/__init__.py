"""Servers the kit ships, each served by ``kit.serve`` like any app.

- :mod:`~kit.apps.chat` - ``kit.chat_app()``: the article's chat server, its page included
- :mod:`~kit.apps.scratch` - ``kit.ScratchServer``: a WebSocket server on ``kit.wire`` alone
- :mod:`~kit.apps.push` - ``kit.NewsServer``: news by short polling, long-polling,
  server-sent events and WebSocket, side by side
- :mod:`~kit.apps.engineio` - ``kit.EngineIOServer``: engine.io v4 from scratch, on
  ``kit.wire`` and the scratch WebSocket server
- :mod:`~kit.apps.socketio` - ``kit.SocketIOServer``: socket.io v5 from scratch, on the
  engine.io server, with python-socketio's surface; :mod:`~kit.apps.recovery` keeps what
  connection state recovery needs
- :mod:`~kit.apps.roster` - the chat's online list, in memory or shared in Redis
- :mod:`~kit.apps.redis` - ``kit.redis()``: a real redis-server child process
- :mod:`~kit.apps.chat_process` - ``kit.chat_process()``: ``python -m kit.chat`` as a child
- :mod:`~kit.apps.balancer` - ``kit.balancer()``: a real HAProxy in front of servers
- who may connect to the chat: :mod:`~kit.apps.admission` (the rules),
  :mod:`~kit.apps.tokens` (``kit.TokenSigner``), :mod:`~kit.apps.names` (names nobody can
  fake), :mod:`~kit.apps.ratelimit` (``kit.RateLimit``), :mod:`~kit.apps.pageheaders`
  (framing and CSP)
- :mod:`~kit.apps.pages` - ``kit.page_app(html)``: a page from another origin
- :mod:`~kit.apps.classroom` - ``kit.classroom_chat(host=...)``: the chat for a class on
  the local network, only when asked, with TLS, a join token, origins and the Host check
"""

from __future__ import annotations

from kit.apps.balancer import Balancer, balancer
from kit.apps.chat import ChatApp, ClusterState, chat_app
from kit.apps.chat_process import ChatProcess, chat_process
from kit.apps.classroom import Classroom, classroom_chat
from kit.apps.engineio import EncodedMessage, EngineIOServer, EngineSession
from kit.apps.pages import page_app
from kit.apps.push import News, NewsServer, PushMethod
from kit.apps.ratelimit import RateLimit
from kit.apps.recovery import (
    MemoryRecoveryStore,
    RecoveryStore,
    SavedSession,
    SqliteRecoveryStore,
)
from kit.apps.redis import Redis, redis
from kit.apps.roster import RedisUnavailableError
from kit.apps.scratch import ScratchConnection, ScratchServer
from kit.apps.socketio import RecoveryOptions, SocketIOServer
from kit.apps.tokens import TokenSigner

__all__ = [
    "Balancer",
    "ChatApp",
    "ChatProcess",
    "Classroom",
    "ClusterState",
    "EncodedMessage",
    "EngineIOServer",
    "EngineSession",
    "MemoryRecoveryStore",
    "News",
    "NewsServer",
    "PushMethod",
    "RateLimit",
    "RecoveryOptions",
    "RecoveryStore",
    "Redis",
    "RedisUnavailableError",
    "SavedSession",
    "ScratchConnection",
    "ScratchServer",
    "SocketIOServer",
    "SqliteRecoveryStore",
    "TokenSigner",
    "balancer",
    "chat_app",
    "chat_process",
    "classroom_chat",
    "page_app",
    "redis",
]
