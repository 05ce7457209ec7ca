"""Servers the kit ships, each served by ``kit.serve`` like any app.

- :mod:`~kit.apps.chat` - ``kit.chat_app()``: the article's chat server, its page included
- :mod:`~kit.apps.scratch` - ``kit.ScratchServer``: a WebSocket server on ``kit.wire`` alone
- :mod:`~kit.apps.push` - ``kit.NewsServer``: news by short polling, long-polling,
  server-sent events and WebSocket, side by side
"""

from __future__ import annotations

from kit.apps.chat import ChatApp, chat_app
from kit.apps.push import News, NewsServer, PushMethod
from kit.apps.scratch import ScratchConnection, ScratchServer

__all__ = [
    "ChatApp",
    "News",
    "NewsServer",
    "PushMethod",
    "ScratchConnection",
    "ScratchServer",
    "chat_app",
]
