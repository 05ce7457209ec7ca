"""``ChatClient``: one chat user on a broadcast WebSocket server.

On the wire a chat message is one text frame holding a small JSON object::

    {"user": "alice", "text": "hi bob"}

The server relays every frame to every client (the sender included), so each client
sees the whole conversation in the same order. A frame that is not such an object is
still shown, as text from an unknown sender: nothing is dropped silently.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kit.runtime.events import MessageEvent
from kit.runtime.servers import Server
from kit.runtime.websocket import WebSocket

__all__ = ["MAX_TEXT", "ChatClient", "ChatMessage"]

MAX_TEXT = 4096
"""Longest message a client sends, in characters."""


@dataclass(frozen=True)
class ChatMessage:
    """One line of the conversation, as a client received it."""

    user: str
    text: str

    def __str__(self) -> str:
        return f"{self.user or '?'}: {self.text}"

    @classmethod
    def from_wire(cls, data: str | bytes) -> ChatMessage:
        """Decode a received frame; anything but our JSON object becomes raw text."""
        if isinstance(data, bytes):
            return cls("", f"<{len(data)} bytes of binary data>")
        try:
            obj = json.loads(data)
        except ValueError:
            return cls("", data)
        if isinstance(obj, dict) and isinstance(obj.get("text"), str):
            return cls(str(obj.get("user", "")), obj["text"])
        return cls("", data)

    def to_wire(self) -> str:
        """The text frame a client sends for this message."""
        return json.dumps({"user": self.user, "text": self.text}, ensure_ascii=False)


class ChatClient:
    """A chat user: sends lines, keeps the transcript, lets a cell wait for replies.

    Args:
        server: a running kit :class:`~kit.runtime.servers.Server` or a ``ws://`` URL of
            a server that relays every text frame to every client.
        user: the name shown beside this user's messages.
    """

    def __init__(self, server: Server | str, *, user: str) -> None:
        if not isinstance(user, str) or not user.strip():
            raise ValueError(f"user must be a non-empty name, not {user!r}")
        self.user = user.strip()
        self.url = server.ws_url if isinstance(server, Server) else server
        self.messages: list[ChatMessage] = []
        """Every message received, the echoes of this user's own included, in order."""
        self._inbox: deque[ChatMessage] = deque()
        self._watchers: list[Callable[[ChatMessage], object]] = []
        self._lock = threading.Lock()
        self.socket = WebSocket(self.url)
        self.socket.add_event_listener("message", self._received)

    def on_message(self, watcher: Callable[[ChatMessage], object]) -> None:
        """Call ``watcher(message)`` for every message received (on the runtime thread)."""
        self._watchers.append(watcher)

    def send(self, text: str, timeout: float = 5.0) -> None:
        """Send one line; waits for the connection to open first if needed."""
        if not isinstance(text, str):
            raise TypeError(f"a chat message is text, not {type(text).__name__}")
        if not text.strip():
            raise ValueError("a chat message needs some text")
        if len(text) > MAX_TEXT:
            raise ValueError(f"a chat message has at most {MAX_TEXT} characters, not {len(text)}")
        if self.socket.readyState == WebSocket.CONNECTING:
            self.socket.wait_open(timeout)
        self.socket.send(ChatMessage(self.user, text).to_wire())

    def wait_message(self, timeout: float = 5.0) -> ChatMessage:
        """Return the oldest message from *another* user not returned yet, waiting if needed."""
        self.socket._channel.wait_for(
            lambda: bool(self._inbox), timeout, f"chat message for {self.user}"
        )
        with self._lock:
            return self._inbox.popleft()

    @property
    def transcript(self) -> str:
        """The conversation so far, one ``user: text`` line per message."""
        return "\n".join(str(m) for m in self.messages)

    def close(self) -> None:
        """Leave the chat (a normal closure, code 1000)."""
        self.socket.close(1000, f"{self.user} left")

    def _received(self, event: MessageEvent) -> None:
        message = ChatMessage.from_wire(event.data)
        with self._lock:
            self.messages.append(message)
            if message.user != self.user:
                self._inbox.append(message)
        for watcher in self._watchers:
            watcher(message)
