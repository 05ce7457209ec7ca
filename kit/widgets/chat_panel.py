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

Stable CSS classes for browser tests and styling: ``kit-chat-panel``,
``kit-chat-header``, ``kit-chat-log``, ``kit-chat-message``, ``kit-chat-input``,
``kit-chat-send``.
"""

from __future__ import annotations

import html
import threading

import ipywidgets as widgets

from kit.runtime.chat import ChatClient, ChatMessage
from kit.runtime.events import Event
from kit.runtime.servers import Server

__all__ = ["ChatPanel"]

LOG_ROWS = 200
"""How many of the latest messages the log shows."""

_STATES = {0: "connecting", 1: "online", 2: "leaving", 3: "offline"}


class ChatPanel(widgets.VBox):
    """A chat window for one user.

    Args:
        server: a running kit server (or a ``ws://`` URL) that relays every message to
            every client.
        user: this panel's user name.
    """

    def __init__(self, server: Server | str, *, user: str, **kwargs: object) -> None:
        self.client = ChatClient(server, user=user)
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
        super().__init__(
            [self._header, self._log, widgets.HBox([self._input, self._button])],
            layout=widgets.Layout(width="22em", border="1px solid #ccc", padding="4px"),
            **kwargs,
        )
        self.add_class("kit-chat-panel")
        self._button.on_click(lambda _: self._send_typed())
        self._input.observe(lambda _: self._send_typed(), "value")  # Enter in the box
        self.client.on_message(lambda _: self._render_log())
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

    def close(self) -> None:
        """Leave the chat and close the widget."""
        self.client.close()
        super().close()

    def __repr__(self) -> str:
        return f"ChatPanel(user={self.client.user!r}, url={self.client.url!r})"

    # -- rendering ------------------------------------------------------------------

    def _send_typed(self) -> None:
        text = self._input.value
        if not text.strip():
            return
        self._input.value = ""
        self.send(text)

    def _render_header(self, _: Event | None = None) -> None:
        state = _STATES[self.client.socket.readyState]
        self._header.value = (
            f"<b>{html.escape(self.client.user)}</b> <span class='kit-chat-state'>({state})</span>"
        )

    def _render_log(self) -> None:
        rows = []
        for message in self.client.messages[-LOG_ROWS:]:
            me = " kit-chat-mine" if message.user == self.client.user else ""
            who = html.escape(message.user or "?")
            rows.append(
                f"<div class='kit-chat-message{me}'><b>{who}</b>: {html.escape(message.text)}</div>"
            )
        with self._lock:
            self._log.value = "\n".join(rows)
