"""Chat clients: one chat user, over a plain WebSocket or over socket.io.

**Over a plain WebSocket** (:class:`ChatClient`), a chat message is one text frame holding
a small JSON object, and the server relays every frame to every client::

    {"user": "alice", "text": "hi bob"}

**Over socket.io** (:class:`SocketIOChatClient`), the client follows the article's event
names. It sends ``recive message`` (the article's spelling) and listens for
``new message``; it asks the server to join or leave rooms, and the *server* decides::

    client -> server   "recive message"  {"user": "alice", "message": "hi", "room": "room one"}
    client -> server   "join" / "leave"  {"room": "room one"}
    server -> client   "new message"     {"user": "alice", "mess": "hi", "room": "room one"}

A message that does not fit these shapes is still shown, as text from an unknown sender:
nothing is dropped silently. A client never pretends: :attr:`state` says whether it is
``online``, sending while offline raises :class:`ConnectionError` saying why, and the
server's refusals (the ``error message`` event) reach :meth:`on_note` watchers.
"""

from __future__ import annotations

import functools
import json
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kit.clients.socketio import SocketIOClient
from kit.clients.websocket import WebSocket
from kit.runtime import cells
from kit.runtime.events import Event, MessageEvent
from kit.runtime.loop import Part, runtime
from kit.runtime.servers import Server

__all__ = ["MAX_TEXT", "ChatClient", "ChatMessage", "SocketIOChatClient"]

MAX_TEXT = 4096
"""Longest message a client sends, in characters."""


@dataclass(frozen=True)
class ChatMessage:
    """One line of the conversation, as a client received it."""

    user: str
    text: str
    room: str | None = None

    def __str__(self) -> str:
        where = f" @{self.room}" if self.room else ""
        return f"{self.user or '?'}{where}: {self.text}"

    @classmethod
    def from_wire(cls, data: str | bytes) -> ChatMessage:
        """Decode a received WebSocket frame; anything but our JSON object is raw text."""
        if isinstance(data, bytes):
            return cls("", f"<{len(data)} bytes of binary data>")
        try:
            obj = json.loads(data)
        except ValueError:
            return cls("", data)
        if isinstance(obj, dict) and isinstance(obj.get("text"), str):
            return cls(str(obj.get("user", "")), obj["text"])
        return cls("", data)

    @classmethod
    def from_event(cls, args: list[Any]) -> ChatMessage:
        """Decode the arguments of a socket.io ``new message`` event."""
        data = args[0] if len(args) == 1 else args
        if isinstance(data, dict):
            text = data.get("mess", data.get("message"))
            if isinstance(text, str):
                room = data.get("room")
                return cls(str(data.get("user", "")), text, room if isinstance(room, str) else None)
        return cls("", json.dumps(data, ensure_ascii=False, default=repr))

    def to_wire(self) -> str:
        """The WebSocket text frame a client sends for this message."""
        return json.dumps({"user": self.user, "text": self.text}, ensure_ascii=False)


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"a chat message is text, not {type(text).__name__}")
    if not text.strip():
        raise ValueError("a chat message needs some text")
    if len(text) > MAX_TEXT:
        raise ValueError(f"a chat message has at most {MAX_TEXT} characters, not {len(text)}")
    return text


class _Conversation:
    """What every chat client keeps: the transcript, an inbox, watchers."""

    def __init__(self, user: str) -> None:
        if not isinstance(user, str) or not user.strip():
            raise ValueError(f"user must be a non-empty name, not {user!r}")
        self.user = user.strip()
        self.messages: list[ChatMessage] = []
        """Every message received, the echoes of this user's own included, in order."""
        self._inbox: deque[ChatMessage] = deque()
        self._watchers: list[Callable[[ChatMessage], object]] = []
        self._state_watchers: list[Callable[[], object]] = []
        self._note_watchers: list[Callable[[str], object]] = []
        self._cond = threading.Condition()
        runtime.part(Conversations).all.add(self)

    def on_message(self, watcher: Callable[[ChatMessage], object]) -> None:
        """Call ``watcher(message)`` for every message received (on the runtime thread)."""
        self._watchers.append(watcher)

    def on_state(self, watcher: Callable[[], object]) -> None:
        """Call ``watcher()`` whenever :attr:`state` may have changed (any thread)."""
        self._state_watchers.append(watcher)

    def on_note(self, watcher: Callable[[str], object]) -> None:
        """Call ``watcher(text)`` for what the server refused (its ``error message``)."""
        self._note_watchers.append(watcher)

    def _state_changed(self, *_: object) -> None:
        for watcher in list(self._state_watchers):
            watcher()

    def _noted(self, text: str) -> None:
        for watcher in list(self._note_watchers):
            watcher(text)

    @property
    def state(self) -> str:  # pragma: no cover - each client says
        raise NotImplementedError

    @property
    def offline_reason(self) -> str:  # pragma: no cover - each client says
        raise NotImplementedError

    def _check_online(self) -> None:
        if self.state != "online":
            raise ConnectionError(f"{self.user} is offline: {self.offline_reason}; not sent")

    def _received(self, message: ChatMessage) -> None:
        with self._cond:
            self.messages.append(message)
            if message.user and message.user != self.user:
                self._inbox.append(message)
            self._cond.notify_all()
        for watcher in self._watchers:
            watcher(message)

    def _take(self, timeout: float) -> ChatMessage:
        with cells.waiting(), self._cond:
            if not self._cond.wait_for(lambda: bool(self._inbox), timeout):
                raise TimeoutError(f"no chat message for {self.user} within {timeout:g} s")
            return self._inbox.popleft()

    @property
    def transcript(self) -> str:
        """The conversation so far, one ``user: text`` line per message."""
        with self._cond:
            return "\n".join(str(m) for m in self.messages)


class ChatClient(_Conversation):
    """A chat user on a WebSocket server that relays every text frame to every client.

    Args:
        server: a running kit :class:`~kit.runtime.servers.Server` or a ``ws://`` URL.
        user: the name shown beside this user's messages.
        timeout: how long to wait for the connection to open.

    Raises:
        ConnectionError: the connection could not be opened (the reason is in the text).
    """

    def __init__(self, server: Server | str, *, user: str, timeout: float = 5.0) -> None:
        super().__init__(user)
        self.url = server.ws_url if isinstance(server, Server) else server
        self.socket = WebSocket(self.url)
        self.socket.add_event_listener("message", self._frame)
        for type_ in ("open", "close"):
            self.socket.add_event_listener(type_, self._state_changed)
        self.socket.add_event_listener("close", self._closed)
        # Return connected, like the socket.io client: a message sent by another user right
        # after this line must reach this one (a relay only sends to connections it has).
        self.socket.wait_open(timeout)

    def _frame(self, event: MessageEvent) -> None:
        self._received(ChatMessage.from_wire(event.data))

    def _closed(self, event: Event) -> None:
        if getattr(event, "code", 1000) != 1000:
            self._noted(f"offline: {self.offline_reason}")

    def send(self, text: str, timeout: float = 5.0) -> None:
        """Send one line; waits for the connection to open first if needed.

        Raises :class:`ConnectionError` when the connection is closed, saying why.
        """
        text = _check_text(text)
        if self.socket.readyState == WebSocket.CONNECTING:
            self.socket.wait_open(timeout)
        self._check_online()
        self.socket.send(ChatMessage(self.user, text).to_wire())

    def wait_message(self, timeout: float = 5.0) -> ChatMessage:
        """Return the oldest message from *another* user not returned yet, waiting if needed.

        Messages without a sender (a server's notice, a frame from another program) are in
        :attr:`messages` and the transcript, not here. Waiting also lets the socket deliver
        its events (see :mod:`kit.runtime.events`).
        """
        self.socket._channel.wait_for(
            lambda: bool(self._inbox), timeout, f"chat message for {self.user}"
        )
        return self._take(0)

    @property
    def state(self) -> str:
        """``connecting``, ``online``, ``leaving`` or ``offline``."""
        return ("connecting", "online", "leaving", "offline")[self.socket.readyState]

    @property
    def offline_reason(self) -> str:
        """Why the connection is not open, in words (``""`` while online)."""
        state = self.socket.readyState
        if state == WebSocket.OPEN:
            return ""
        if state == WebSocket.CONNECTING:
            return "still connecting"
        closed = self.socket.close_event
        if closed is None:
            return "the connection is closing" if state == WebSocket.CLOSING else "kit stopped"
        if closed.code == 1006:
            return "the connection failed or was cut (1006): is the server running?"
        why = f": {closed.reason}" if closed.reason else ""
        return f"the connection closed with {closed.code}{why}"

    def close(self) -> None:
        """Leave the chat (a normal closure, code 1000)."""
        self.socket.close(1000, f"{self.user} left")


class SocketIOChatClient(_Conversation):
    """A chat user on a socket.io server, with the article's event names.

    Args:
        server: a running kit server (or its ``http://`` URL, or a tap's ``url``).
        user: the name shown beside this user's messages.
        namespace: the namespace to chat on (the article uses ``/post`` and ``/get``).
        room: a room to ask the server for right away (the server decides).
        send_event, listen_event: the event names; the article's by default.
        reconnection: try again when the connection drops (on by default; see
            :class:`~kit.clients.socketio.SocketIOClient`); on every reconnect the client
            asks for its rooms again, since the server forgot them with the old session.
        backoff: the reconnection options of :class:`~kit.clients.socketio.SocketIOClient`
            (``reconnection_attempts``, ``reconnection_delay``, ...), by name.
    """

    def __init__(
        self,
        server: Server | str,
        *,
        user: str,
        namespace: str = "/",
        room: str | None = None,
        send_event: str = "recive message",
        listen_event: str = "new message",
        reconnection: bool = True,
        backoff: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(user)
        self.url = server.url if isinstance(server, Server) else server
        self.namespace, self.send_event, self.listen_event = namespace, send_event, listen_event
        self.rooms: list[str] = []
        """The rooms this client asked to join (the server may have said no)."""
        self._disconnect_reason = ""
        self._online = False
        self.rejoined = 0
        """Rooms asked for again after reconnects (rooms live on the server, per session)."""
        self._rejoining = 0  # rooms asked for again whose answer has not come yet
        self.client = SocketIOClient(
            self.url,
            namespaces=[namespace],
            listener=self._event,
            reconnection=reconnection,
            **_backoff(backoff),
        )
        if room is not None:
            self.join(room)

    def _event(self, namespace: str, event: str, args: list[Any]) -> None:
        if namespace != self.namespace:
            return
        if event == self.listen_event:
            self._received(ChatMessage.from_event(args))
        elif event in ("connect", "disconnect"):
            # python-socketio runs the disconnect handler before it clears `connected`:
            # the event, not that flag, says when this client went offline.
            self._online = event == "connect"
            self._disconnect_reason = ", ".join(map(str, args)) if event == "disconnect" else ""
            # The first connect arrives inside SocketIOClient(), before self.client is
            # set: only a later one is a reconnect.
            if event == "connect" and "client" in vars(self) and self.client.reconnects:
                self._restore()
            self._state_changed()
        elif event in ("connect_error", "gave up"):
            self._state_changed()  # "reconnecting n" moved on, or ended
        elif event == "error message":  # kit.chat_app() refusing something, and why
            data = args[0] if len(args) == 1 else args
            if isinstance(data, dict) and "error" in data:
                self._noted(f"refused {data.get('event', '')!r}: {data['error']}")
            else:
                self._noted(f"error: {data}")
        elif event == "missed messages":  # kit.chat_app() skipped us while we were behind
            data = args[0] if len(args) == 1 else {}
            count = data.get("count", "?") if isinstance(data, dict) else "?"
            self._noted(f"missed {count} message(s): this panel fell too far behind")

    def _restore(self) -> None:
        # On the runtime thread, in the connect handler: ask again, without waiting (a
        # blocking call here would wait for itself); the client says "rejoining" until
        # every answer came, so that nothing sent meanwhile misses the room. The name
        # needs no restoring: the article's chat sends it with every message.
        self._rejoining = len(self.rooms)
        for room in self.rooms:
            self.client.call_soon(
                "join",
                {"room": room},
                namespace=self.namespace,
                then=functools.partial(self._rejoined, room),
            )
            self.rejoined += 1
        if self.rooms:
            self._noted(f"reconnected: asked for {', '.join(map(repr, self.rooms))} again")

    def _rejoined(self, room: str, answer: Any) -> None:
        self._rejoining = max(0, self._rejoining - 1)
        if isinstance(answer, BaseException):
            self._noted(f"could not rejoin {room!r}: {answer or type(answer).__name__}")
        elif isinstance(answer, dict) and "error" in answer:
            self._noted(f"the server refused to rejoin {room!r}: {answer['error']}")
        self._state_changed()

    @property
    def room(self) -> str | None:
        """The room messages are sent to: the last one joined, or None (everyone)."""
        return self.rooms[-1] if self.rooms else None

    def send(self, text: str, timeout: float = 5.0) -> None:
        """Send one line to :attr:`room` (or to everyone on the namespace)."""
        payload = {"user": self.user, "message": _check_text(text), "room": self.room}
        self._check_online()
        self.client.emit(self.send_event, payload, namespace=self.namespace)

    def join(self, room: str, timeout: float = 5.0) -> None:
        """Ask the server to put this client in ``room`` (emits ``join``, waits for its ack)."""
        if not isinstance(room, str) or not room.strip():
            raise ValueError(f"a room needs a name, not {room!r}")
        self._check_online()
        self._ask("join", room, timeout)
        if room not in self.rooms:
            self.rooms.append(room)

    def leave(self, room: str, timeout: float = 5.0) -> None:
        """Ask the server to take this client out of ``room`` (emits ``leave``, waits)."""
        if room not in self.rooms:
            raise ValueError(f"{self.user} has not joined {room!r} (rooms: {self.rooms})")
        self._check_online()
        self._ask("leave", room, timeout)
        self.rooms.remove(room)

    def _ask(self, event: str, room: str, timeout: float = 5.0) -> None:
        # A call, not an emit: it returns once the server's handler has run (and acked),
        # so a message sent right after a join goes to the room.
        try:
            answer = self.client.call(
                event, {"room": room}, namespace=self.namespace, timeout=timeout
            )
        except TimeoutError:
            raise TimeoutError(
                f"the server did not answer {event!r} for room {room!r} on {self.namespace} "
                f"within {timeout:g} s: rooms are decided by the server, which needs a "
                f"handler for {event!r} that calls sio.enter_room / sio.leave_room"
            ) from None
        if isinstance(answer, dict) and "error" in answer:  # kit.chat_app() said no
            raise ValueError(f"the server refused to {event} {room!r}: {answer['error']}")

    def wait_message(self, timeout: float = 5.0) -> ChatMessage:
        """Return the oldest message from *another* user not returned yet, waiting if needed.

        A server's notice without a sender (the greeting pushed on connect) is in
        :attr:`messages` and the transcript, not here.
        """
        return self._take(timeout)

    @property
    def state(self) -> str:
        """``online`` or ``offline``; with reconnection, ``reconnecting n``, ``rejoining``
        (connected again, its rooms asked for but not all answered yet) or ``gave up``."""
        # client.state, not client.connected: python-socketio sets that flag only after
        # the connect handlers ran, and the panel header is drawn from one of them.
        phase = self.client.state
        if self._online and phase == "connected":
            return "rejoining" if self._rejoining else "online"
        return phase if phase.startswith("reconnecting") or phase == "gave up" else "offline"

    @property
    def offline_reason(self) -> str:
        """Why the client is not connected, in words (``""`` while online)."""
        state = self.state
        if state == "online":
            return ""
        if state == "rejoining":
            return "connected again, its rooms asked for but not all answered yet"
        if self._disconnect_reason:
            return f"disconnected ({self._disconnect_reason})"
        return "disconnected"

    def close(self) -> None:
        """Leave the chat (disconnect)."""
        self.client.disconnect()


BACKOFF_OPTIONS = (
    "reconnection_attempts",
    "reconnection_delay",
    "reconnection_delay_max",
    "randomization_factor",
)


def _backoff(options: Mapping[str, float] | None) -> dict[str, Any]:
    """``options`` checked by name (their values are checked by SocketIOClient)."""
    unknown = sorted(set(options or {}) - set(BACKOFF_OPTIONS))
    if unknown:
        raise ValueError(f"backoff has no option {unknown[0]!r}; it takes {BACKOFF_OPTIONS}")
    return dict(options or {})


class Conversations(Part):
    """Every chat client of the process, told when ``kit.stop_all()`` took them offline."""

    stop_order = -5  # after the sockets closed (-10), before the servers stop (10)

    def __init__(self) -> None:
        self.all: weakref.WeakSet[_Conversation] = weakref.WeakSet()

    async def on_stop(self) -> None:
        # kit.stop_all() mutes the clients' events; their watchers (panel headers) still
        # have to learn that they are offline now.
        for conversation in list(self.all):
            conversation._state_changed()
