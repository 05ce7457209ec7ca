"""``ChatPanel``: a chat window in a notebook cell, connected to a real server.

A panel is a message log, a text box and a Send button around a
:class:`~kit.runtime.chat.ChatClient` it owns. Type and press Enter or click Send; or
drive it from code, which is what lessons and tests do::

    alice = kit.ChatPanel(server, user="alice")
    bob = kit.ChatPanel(server, user="bob")
    display(widgets.HBox([alice, bob]))
    alice.send("hi bob")
    print(bob.wait_message())        # alice: hi bob

The panel is built on the kernel's main thread; messages arriving on the runtime thread
only change widget traits (the log's ``value``), never print.

Over socket.io a panel also has a namespace and rooms: a Join and a Leave button ask the
server to move the user (the server decides), and each message shows its sender and room.

Stable CSS classes for browser tests and styling: ``kit-chat-panel``,
``kit-chat-header``, ``kit-chat-log``, ``kit-chat-message`` (``kit-chat-mine`` for one's
own), ``kit-chat-input``, ``kit-chat-send``, and for socket.io ``kit-chat-room``,
``kit-chat-join``, ``kit-chat-leave``.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable

import ipywidgets as widgets

from kit.runtime.chat import ChatClient, ChatMessage, SocketIOChatClient
from kit.runtime.events import Event
from kit.runtime.servers import Server

__all__ = ["ChatPanel"]

LOG_ROWS = 200
"""How many of the latest messages the log shows."""


def _protocol_of(server: Server | str, namespace: str | None, room: str | None) -> str:
    if isinstance(server, Server):
        return "socket.io" if server.socketio else "websocket"
    if server.startswith(("http://", "https://")) or namespace is not None or room is not None:
        return "socket.io"
    return "websocket"


class ChatPanel(widgets.VBox):
    """A chat window for one user.

    Args:
        server: a running kit server, or its URL: ``ws://`` for a plain WebSocket server
            that relays every message to every client, ``http://`` for socket.io.
        user: this panel's user name.
        namespace: socket.io only: the namespace to chat on (default ``/``).
        room: socket.io only: a room to ask the server for right away.
        protocol: ``"websocket"`` or ``"socket.io"``; by default a kit server that speaks
            socket.io or an ``http://`` URL means socket.io, anything else a plain WebSocket.
    """

    def __init__(
        self,
        server: Server | str,
        *,
        user: str,
        namespace: str | None = None,
        room: str | None = None,
        protocol: str | None = None,
        **kwargs: object,
    ) -> None:
        protocol = protocol or _protocol_of(server, namespace, room)
        if protocol == "socket.io":
            self.client: ChatClient | SocketIOChatClient = SocketIOChatClient(
                server, user=user, namespace=namespace or "/", room=room
            )
        elif protocol == "websocket":
            if namespace is not None or room is not None:
                raise ValueError(
                    "namespaces and rooms are socket.io ideas; pass protocol='socket.io'"
                )
            self.client = ChatClient(server, user=user)
        else:
            raise ValueError(f"protocol must be 'websocket' or 'socket.io', not {protocol!r}")
        self.protocol = protocol
        self._lock = threading.Lock()
        self._header = widgets.HTML()
        self._log = widgets.HTML(layout=widgets.Layout(height="12em", overflow="auto"))
        self._input = widgets.Text(
            placeholder=f"Message as {self.client.user}",
            continuous_update=False,
            layout=widgets.Layout(flex="1"),
        )
        self._button = widgets.Button(description="Send", button_style="primary")
        for widget, css in (
            (self._header, "kit-chat-header"),
            (self._log, "kit-chat-log"),
            (self._input, "kit-chat-input"),
            (self._button, "kit-chat-send"),
        ):
            widget.add_class(css)
        rows: list[widgets.Widget] = [self._header, self._log]
        if protocol == "socket.io":
            self._room = widgets.Text(placeholder="room", layout=widgets.Layout(flex="1"))
            self._join = widgets.Button(description="Join")
            self._leave = widgets.Button(description="Leave")
            for widget, css in (
                (self._room, "kit-chat-room"),
                (self._join, "kit-chat-join"),
                (self._leave, "kit-chat-leave"),
            ):
                widget.add_class(css)
            self._join.on_click(lambda _: self._room_action(self.join))
            self._leave.on_click(lambda _: self._room_action(self.leave))
            rows.append(widgets.HBox([self._room, self._join, self._leave]))
        rows.append(widgets.HBox([self._input, self._button]))
        super().__init__(
            rows,
            layout=widgets.Layout(width="22em", border="1px solid #ccc", padding="4px"),
            **kwargs,
        )
        self.add_class("kit-chat-panel")
        self._button.on_click(lambda _: self._send_typed())
        self._input.observe(lambda _: self._send_typed(), "value")  # Enter in the box
        self.client.on_message(lambda _: self._render_log())
        if isinstance(self.client, ChatClient):
            for type_ in ("open", "close"):
                self.client.socket.add_event_listener(type_, self._render_header)
        self._render_header()

    # -- driving the panel from code ------------------------------------------------

    def send(self, text: str) -> None:
        """Send ``text`` as this panel's user (what typing and clicking Send does)."""
        self.client.send(text)

    def wait_message(self, timeout: float = 5.0) -> ChatMessage:
        """Return the next message from another user, waiting up to ``timeout`` s."""
        return self.client.wait_message(timeout)

    @property
    def messages(self) -> list[ChatMessage]:
        """Every message shown in the log, in order."""
        return list(self.client.messages)

    @property
    def transcript(self) -> str:
        """The log as plain text, one ``user: text`` line per message."""
        return self.client.transcript

    def join(self, room: str) -> None:
        """socket.io: ask the server to put this user in ``room``."""
        self._socketio().join(room)
        self._render_header()

    def leave(self, room: str) -> None:
        """socket.io: ask the server to take this user out of ``room``."""
        self._socketio().leave(room)
        self._render_header()

    def _socketio(self) -> SocketIOChatClient:
        if not isinstance(self.client, SocketIOChatClient):
            raise TypeError("rooms are a socket.io idea: this panel talks plain WebSocket")
        return self.client

    def close(self) -> None:
        """Leave the chat and close the widget."""
        client = getattr(self, "client", None)  # None if __init__ refused its arguments
        if client is not None:
            client.close()
        super().close()

    def __repr__(self) -> str:
        if not hasattr(self, "client"):
            return "ChatPanel(<not connected>)"
        where = ""
        if isinstance(self.client, SocketIOChatClient):
            where = f", namespace={self.client.namespace!r}"
            if self.client.room:
                where += f", room={self.client.room!r}"
        return f"ChatPanel(user={self.client.user!r}, url={self.client.url!r}{where})"

    # -- rendering ------------------------------------------------------------------

    def _send_typed(self) -> None:
        text = self._input.value
        if not text.strip():
            return
        self._input.value = ""
        self.send(text)

    def _room_action(self, action: Callable[[str], None]) -> None:
        room = self._room.value.strip()
        if room:
            action(room)

    def _render_header(self, _: Event | None = None) -> None:
        where = ""
        if isinstance(self.client, SocketIOChatClient):
            rooms = ", ".join(self.client.rooms) or "no room"
            where = (
                f" <span class='kit-chat-where'>{html.escape(self.client.namespace)} · "
                f"{html.escape(rooms)}</span>"
            )
        self._header.value = (
            f"<b>{html.escape(self.client.user)}</b> "
            f"<span class='kit-chat-state'>({self.client.state})</span>{where}"
        )

    def _render_log(self) -> None:
        rows = []
        for message in self.client.messages[-LOG_ROWS:]:
            me = " kit-chat-mine" if message.user == self.client.user else ""
            who = html.escape(message.user or "?")
            room = f" <i>@{html.escape(message.room)}</i>" if message.room else ""
            rows.append(
                f"<div class='kit-chat-message{me}'><b>{who}</b>{room}: "
                f"{html.escape(message.text)}</div>"
            )
        with self._lock:
            self._log.value = "\n".join(rows)
