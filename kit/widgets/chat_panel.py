"""``ChatPanel``: a chat window in a notebook cell, connected to a real server.

A panel is a message log, a text box and a Send button around a
:class:`~kit.clients.chat.ChatClient` it owns. Type and press Enter or click Send; or
drive it from code, which is what lessons and tests do::

    alice = kit.ChatPanel(server, user="alice")
    bob = kit.ChatPanel(server, user="bob")
    display(widgets.HBox([alice, bob]))
    alice.send("hi bob")
    print(bob.wait_message())        # alice: hi bob

The panel is built on the kernel's main thread; messages arriving on the runtime thread
only change widget traits (the log's ``value``), never print.

What a learner can rely on:

- only **Enter** or **Send** sends; leaving the text box with a half-typed line does not;
- the log follows new messages (it stays scrolled to the newest line);
- the header tells the truth: ``online``, or ``offline`` with the reason once the
  connection or the server goes away (``kit.stop_all()`` included), and a message typed
  while offline is not sent: a note in the log says so, and the text stays in the box;
- what the server refuses (``kit.chat_app()``'s ``error message``) shows as a note.

Over socket.io a panel also has a namespace and rooms: a Join and a Leave button ask the
server to move the user (the server decides), and each message shows its sender and room.

Stable CSS classes for browser tests and styling: ``kit-chat-panel``,
``kit-chat-header``, ``kit-chat-state``, ``kit-chat-log``, ``kit-chat-message``
(``kit-chat-mine`` for one's own), ``kit-chat-note``, ``kit-chat-input``,
``kit-chat-send``, and for socket.io ``kit-chat-room``, ``kit-chat-join``,
``kit-chat-leave``.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets

from kit.clients.chat import ChatClient, ChatMessage, SocketIOChatClient
from kit.runtime.servers import Server
from kit.widgets.static import with_static_fallback
from kit.wire.text import usv

__all__ = ["ChatPanel"]


def _escape(text: str, quote: bool = True) -> str:
    """HTML-escape text for a widget; a lone surrogate shows as U+FFFD.

    Widget values travel to the browser as UTF-8 JSON, which cannot carry a lone
    surrogate: one in a message would break every later update of the panel.
    """
    return html.escape(usv(text), quote=quote)


LOG_ROWS = 200
"""How many of the latest messages the log shows."""

LOG_HEIGHT = "12em"

# A column-reverse flex box starts scrolled to its end and stays there as rows are
# added: the log follows new messages without any JavaScript.
_SCROLLER = (
    f"<div class='kit-chat-scroll' style='height:{LOG_HEIGHT};overflow-y:auto;"
    "display:flex;flex-direction:column-reverse'><div>{rows}</div></div>"
)


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
        reconnection: socket.io only: reconnect after a drop, with backoff (on by
            default, as in the JS client; ``False`` leaves the panel offline); the header
            says ``reconnecting n`` meanwhile (``gave up`` at the end), and the panel asks
            for its rooms again on every reconnect.
        backoff: socket.io only: the reconnection options by name
            (``{"reconnection_delay": 0.2, "reconnection_attempts": 5}``).
        resume, retries, ack_timeout, message_ids: socket.io only: the delivery
            guarantees of :class:`~kit.clients.chat.SocketIOChatClient` (pass one of
            ``kit.DELIVERY_LEVELS`` as ``**kit.DELIVERY_LEVELS["exactly-once"]``); a
            message that finally fails shows as a note, and stays in ``client.failed``.
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
        reconnection: bool | None = None,
        backoff: Mapping[str, float] | None = None,
        resume: bool = False,
        retries: int = 0,
        ack_timeout: float = 1.0,
        message_ids: bool = False,
        **kwargs: object,
    ) -> None:
        protocol = protocol or _protocol_of(server, namespace, room)
        delivery = (resume, retries, message_ids)
        if protocol == "socket.io":
            self.client: ChatClient | SocketIOChatClient = SocketIOChatClient(
                server,
                user=user,
                namespace=namespace or "/",
                room=room,
                reconnection=True if reconnection is None else reconnection,
                backoff=backoff,
                resume=resume,
                retries=retries,
                ack_timeout=ack_timeout,
                message_ids=message_ids,
            )
        elif protocol == "websocket":
            if reconnection or backoff:
                raise ValueError("reconnection= is for socket.io panels (protocol='socket.io')")
            if any(delivery):
                raise ValueError(
                    "resume=, retries= and message_ids= are for socket.io panels "
                    "(protocol='socket.io')"
                )
            if namespace is not None or room is not None:
                raise ValueError(
                    "namespaces and rooms are socket.io ideas; pass protocol='socket.io'"
                )
            self.client = ChatClient(server, user=user)
        else:
            raise ValueError(f"protocol must be 'websocket' or 'socket.io', not {protocol!r}")
        self.protocol = protocol
        self._lock = threading.Lock()
        self._notes: list[tuple[int, str]] = []  # (messages shown before it, text)
        self._header = widgets.HTML()
        self._log = widgets.HTML(value=_SCROLLER.format(rows=""))
        # continuous_update keeps the kernel's copy of the text current as it is typed;
        # nothing is sent until Enter (a "submit" message from the box) or Send.
        self._input = widgets.Text(
            placeholder=f"Message as {self.client.user}",
            continuous_update=True,
            layout=widgets.Layout(flex="1"),
        )
        self._button = widgets.Button(
            description="Send", button_style="primary", layout=widgets.Layout(width="auto")
        )
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
            self._join = widgets.Button(description="Join", layout=widgets.Layout(width="auto"))
            self._leave = widgets.Button(description="Leave", layout=widgets.Layout(width="auto"))
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
        self._input.on_msg(self._input_message)  # Enter in the box
        self.client.on_message(lambda _: self._render_log())
        self.client.on_state(self._render_header)
        self.client.on_note(self.note)
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
    def state(self) -> str:
        """What the header says: ``online``, ``offline``, ``reconnecting 2``, ``gave up``."""
        return self.client.state

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

    def note(self, text: str) -> None:
        """Show ``text`` in the log as a note from the panel itself (not a message)."""
        with self._lock:
            self._notes.append((len(self.client.messages), text))
        self._render_log()

    @property
    def notes(self) -> list[str]:
        """The notes shown in the log (refusals, "not sent: offline"), oldest first."""
        with self._lock:
            return [text for _, text in self._notes]

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

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live panel, plus a static card for where widgets cannot render (GitHub)."""
        where = ""
        if isinstance(self.client, SocketIOChatClient):
            where = f", namespace {_escape(self.client.namespace)}"
            if self.client.room:
                where += f", room {_escape(self.client.room)}"
        card = (
            f"<b>{_escape(self.client.user)}</b>: chat panel on "
            f"<code>{_escape(self.client.url)}</code>{where}. "
            "<i>Run the notebook to type into it.</i>"
        )
        return with_static_fallback(super()._repr_mimebundle_(**kwargs), card)

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

    def _input_message(self, _: Any, content: dict[str, Any], buffers: object) -> None:
        if content.get("event") == "submit":  # the front end's Enter key
            self._send_typed()

    def _send_typed(self) -> None:
        """Send what is in the box; on failure keep it there and say why in the log.

        This runs in a widget callback, whose exceptions would only reach JupyterLab's
        hidden log console: every failure becomes a visible note instead.
        """
        text = self._input.value
        if not text.strip():
            return
        try:
            self.send(text)
        except (ConnectionError, TimeoutError, ValueError, TypeError) as error:
            self.note(f"not sent: {error}")
            self._render_header()
            return
        self._input.value = ""

    def _room_action(self, action: Callable[[str], None]) -> None:
        room = self._room.value.strip()
        if not room:
            return
        try:
            action(room)
        except (ConnectionError, TimeoutError, ValueError) as error:
            self.note(f"{action.__name__} {room!r} failed: {error}")

    def _render_header(self, *_: object) -> None:
        where = ""
        if isinstance(self.client, SocketIOChatClient):
            rooms = ", ".join(self.client.rooms) or "no room"
            where = (
                f" <span class='kit-chat-where'>{_escape(self.client.namespace)} · "
                f"{_escape(rooms)}</span>"
            )
        state = self.client.state
        reason = self.client.offline_reason if state == "offline" else ""
        title = f" title='{_escape(reason, quote=True)}'" if reason else ""
        self._header.value = (
            f"<b>{_escape(self.client.user)}</b> "
            f"<span class='kit-chat-state'{title}>({state})</span>{where}"
        )

    def _render_log(self) -> None:
        with self._lock:
            messages = self.client.messages
            notes = list(self._notes)
        # Sort keys: message i is (i, 1); a note shown after i messages is (i, 0), so it
        # sits after message i - 1 and before message i.
        rows: list[tuple[tuple[int, int], str]] = []
        for index, message in enumerate(messages):
            me = " kit-chat-mine" if message.user == self.client.user else ""
            who = _escape(message.user or "?")
            room = f" <i>@{_escape(message.room)}</i>" if message.room else ""
            rows.append(
                (
                    (index, 1),
                    f"<div class='kit-chat-message{me}'><b>{who}</b>{room}: "
                    f"{_escape(message.text)}</div>",
                )
            )
        for position, text in notes:
            rows.append(
                (
                    (position, 0),
                    "<div class='kit-chat-note' style='color:#888;font-style:italic'>"
                    f"{_escape(text)}</div>",
                )
            )
        rows.sort(key=lambda row: row[0])
        shown = "\n".join(row for _, row in rows[-LOG_ROWS:])
        with self._lock:
            self._log.value = _SCROLLER.format(rows=shown)
