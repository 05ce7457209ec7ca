"""Clients that run on the kit's runtime thread and are driven from plain cells.

- :mod:`~kit.clients.websocket` - ``kit.WebSocket``, the browser's WebSocket API in Python
- :mod:`~kit.clients.socketio` - ``kit.SocketIOClient``: python-socketio from cells
- :mod:`~kit.clients.chat` - the chat users behind a chat panel (WebSocket or socket.io)
- :mod:`~kit.clients.push` - news clients: short polling, long-polling, ``EventSource``,
  WebSocket, each timing the news it hears
"""

from __future__ import annotations

from kit.clients.chat import DELIVERY_LEVELS, ChatClient, ChatMessage, SocketIOChatClient
from kit.clients.push import (
    Delivery,
    EventSourceClient,
    LongPollingClient,
    NewsClient,
    NewsClientError,
    ShortPollingClient,
    WebSocketNewsClient,
    news_client,
)
from kit.clients.socketio import SocketIOClient
from kit.clients.websocket import WebSocket

__all__ = [
    "DELIVERY_LEVELS",
    "ChatClient",
    "ChatMessage",
    "Delivery",
    "EventSourceClient",
    "LongPollingClient",
    "NewsClient",
    "NewsClientError",
    "ShortPollingClient",
    "SocketIOChatClient",
    "SocketIOClient",
    "WebSocket",
    "WebSocketNewsClient",
    "news_client",
]
