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

Delivery guarantees
-------------------
A client can ask for more than "at most once" (lesson 07; the server needs a store,
``kit.chat_app(store=...)``):

- ``resume=True``: the client remembers the last ``offset`` it saw and the server's
  ``store`` id, sends them in the CONNECT ``auth`` on every reconnect (and the offset in
  every ``join`` it makes again), and drops a message whose offset it already has (a
  replay can overlap what arrived live): :attr:`~SocketIOChatClient.duplicates_dropped`;
- ``retries=N``: each message waits ``ack_timeout`` seconds for the server's ack and is
  sent again, up to N more times; messages wait in order while the client is offline and
  go after the reconnect; one that finally fails is in :attr:`~SocketIOChatClient.failed`
  and noted, never dropped silently;
- ``message_ids=True``: each message carries an ``id`` of its own, the same in all its
  retries, so the server keeps it once.

:data:`DELIVERY_LEVELS` names the four usual combinations.

A message that does not fit these shapes is still shown, as text from an unknown sender:
nothing is dropped silently. A client never pretends: :attr:`state` says whether it is
``online``, sending while offline raises :class:`ConnectionError` saying why, and the
server's refusals (the ``error message`` event) reach :meth:`on_note` watchers.

Why this module is long: both chat clients share one conversation model, and the
socket.io one carries every delivery guarantee (resume, retries, ids) in one place, next
to the reconnection it depends on.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from kit.clients.socketio import SocketIOClient
from kit.clients.websocket import WebSocket
from kit.runtime import cells
from kit.runtime.events import Event, MessageEvent
from kit.runtime.loop import Part, runtime
from kit.runtime.servers import Server

__all__ = ["DELIVERY_LEVELS", "MAX_TEXT", "ChatClient", "ChatMessage", "SocketIOChatClient"]

MAX_TEXT = 4096
"""Longest message a client sends, in characters."""


DELIVERY_LEVELS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "at-most-once": MappingProxyType({}),
        "replay": MappingProxyType({"resume": True}),
        "at-least-once": MappingProxyType({"resume": True, "retries": 5}),
        "exactly-once": MappingProxyType({"resume": True, "retries": 5, "message_ids": True}),
    }
)
"""The delivery guarantees, weakest first: level name -> :class:`SocketIOChatClient` keywords.

- ``at-most-once``: nothing more (the default): what is cut off is lost;
- ``replay``: server to client, nothing lost: the client resumes from its last offset;
- ``at-least-once``: client to server too: acks, a timeout and retries (a retry whose
  first try did arrive is kept twice);
- ``exactly-once``: and ids, so a retry is kept once (exactly once *in effect*).

Every level but the first needs a server with a store (``kit.chat_app(store=...)``).
"""


@dataclass(frozen=True)
class ChatMessage:
    """One line of the conversation, as a client received it.

    ``offset``, ``id`` and ``replay`` are set when the server keeps messages
    (``kit.chat_app(store=...)``): the message's place in the store, the sender's own id
    for it, and whether it came again because this client had missed it.
    """

    user: str
    text: str
    room: str | None = None
    offset: int | None = None
    id: str | None = None
    replay: bool = False

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
                offset, message_id = data.get("offset"), data.get("id")
                return cls(
                    str(data.get("user", "")),
                    text,
                    room if isinstance(room, str) else None,
                    offset if isinstance(offset, int) and not isinstance(offset, bool) else None,
                    message_id if isinstance(message_id, str) else None,
                    data.get("replay") is True,
                )
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
        resume: send the last offset and store id seen in the CONNECT ``auth`` (and the
            offset in ``join``), and drop messages already seen (see the module's
            "Delivery guarantees").
        retries: send each message again, up to this many times, when its ack does not
            come within ``ack_timeout`` seconds; 0: send once, without asking for an ack.
        ack_timeout: seconds to wait for each ack (with ``retries``).
        message_ids: give each message an id of its own (``"ann-1f2e3d4c5b6a"``).
        auth: more for the CONNECT ``auth`` (a token), merged with the offsets.
        transports: as :class:`~kit.clients.socketio.SocketIOClient`. Default: long-polling,
            then the upgrade to WebSocket; with ``resume``, WebSocket only. Measured under
            a tap cutting every 200 ms (``kit.bench.chaos``, 20 users): over polling and
            the upgrade, python-socketio's client sometimes went on in a session that had
            lost messages, a gap no replay fills; over WebSocket alone, none was lost. The
            official JS client lost none either way (``tests/clients/test_delivery_interop.py``).

    Counters, for lessons and benchmarks: :attr:`received`, :attr:`acked`,
    :attr:`failed`, :attr:`duplicates_dropped`.
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
        resume: bool = False,
        retries: int = 0,
        ack_timeout: float = 1.0,
        message_ids: bool = False,
        auth: Mapping[str, Any] | None = None,
        transports: Sequence[str] | None = None,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a whole number, 0 or more, not {retries!r}")
        if isinstance(ack_timeout, bool) or not isinstance(ack_timeout, (int, float)):
            raise ValueError(f"ack_timeout must be a number of seconds, not {ack_timeout!r}")
        if not 0 < ack_timeout <= 60:
            raise ValueError(f"ack_timeout must be over 0 and at most 60 s, not {ack_timeout}")
        super().__init__(user)
        self.resume, self.retries, self.message_ids = bool(resume), retries, bool(message_ids)
        self.ack_timeout = float(ack_timeout)
        self._auth = dict(auth or {})
        self.offset: int | None = None
        """The newest offset received (with a store), or the welcome's; None before."""
        self.store: str | None = None
        """The server's store id, from its welcome (with a store)."""
        self._seen: set[int] = set()
        self._floor: int | None = None  # an older offset to resume from, while rooms replay
        self._rejoins = 0  # rejoins whose ack (the end of their replay) has not come
        self.acked = 0
        """Messages the server acknowledged (only asked for with ``retries``)."""
        self.failed: list[ChatMessage] = []
        """Messages given up on after every retry, or when the client closed (in order)."""
        self.duplicates_dropped = 0
        """Messages received again (same offset) and not shown twice (with ``resume``)."""
        self._outbox: deque[_Outgoing] = deque()
        self._pump_task: asyncio.Task[None] | None = None
        self._up = asyncio.Event()  # used on the runtime loop only
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
            auth=self._connect_auth if (self.resume or self._auth) else None,
            transports=transports if transports is not None or not resume else ["websocket"],
            **_backoff(backoff),
        )
        if room is not None:
            self.join(room)

    @property
    def received(self) -> list[ChatMessage]:
        """Every message received and shown, in order (the same as :attr:`messages`)."""
        with self._cond:
            return list(self.messages)

    def _connect_auth(self) -> dict[str, Any]:
        # Called by python-socketio before every CONNECT, on the runtime thread.
        auth = dict(self._auth)
        if self.resume and self.offset is not None:
            offset = self.offset if self._floor is None else self._floor
            auth.update(offset=offset, store=self.store)
            if self.rooms:
                # The rooms' replays come after this connect: until their joins are
                # answered, resume from here, not from the newest offset seen.
                self._floor = offset
        return auth

    def _accept(self, message: ChatMessage, data: Any) -> bool:
        """Whether to show a received message: False for one already seen (by offset)."""
        if message.user == "" and isinstance(data, dict) and "store" in data:
            # The welcome of a server with a store: its id, and the newest offset now.
            store, newest = data.get("store"), data.get("offset")
            if isinstance(store, str) and store != self.store:
                self.store, self.offset, self._seen = store, None, set()
            if self.offset is None and isinstance(newest, int):
                self.offset = newest
            return True
        if not self.resume or message.offset is None:
            return True
        if message.offset in self._seen:
            self.duplicates_dropped += 1
            return False
        self._seen.add(message.offset)
        self.offset = max(self.offset or 0, message.offset)
        return True

    def _event(self, namespace: str, event: str, args: list[Any]) -> None:
        if namespace != self.namespace:
            return
        if event == self.listen_event:
            message = ChatMessage.from_event(args)
            if self._accept(message, args[0] if len(args) == 1 else None):
                self._received(message)
        elif event in ("connect", "disconnect"):
            if event == "connect":
                self._up.set()
            else:
                self._up.clear()
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
            why = str(args[0].get("message", "") if args and isinstance(args[0], dict) else "")
            if "is not this server's" in why and self.store is not None:
                # The server has a new store file: offsets of the old one mean nothing.
                self.store, self.offset, self._floor, self._seen = None, None, None, set()
                self._noted("the server has a new message store: starting over from now")
            if event == "gave up":
                self._fail_all("the client gave up reconnecting")
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
            asked: dict[str, Any] = {"room": room}
            if self.resume and self._floor is not None:
                asked["offset"] = self._floor
                self._rejoins += 1
            self.client.call_soon(
                "join",
                asked,
                namespace=self.namespace,
                then=functools.partial(self._rejoined, room, "offset" in asked),
            )
            self.rejoined += 1
        if self.rooms:
            self._noted(f"reconnected: asked for {', '.join(map(repr, self.rooms))} again")

    def _rejoined(self, room: str, replayed: bool, answer: Any) -> None:
        # On the runtime thread, with the server's answer to a join sent by _restore (or
        # the exception that ended the call: a new drop, no answer in time).
        self._rejoining = max(0, self._rejoining - 1)
        if isinstance(answer, BaseException):
            self._noted(f"could not rejoin {room!r}: {answer or type(answer).__name__}")
        else:
            if replayed:
                # The server answers a join after its replay: that room is up to date again.
                self._rejoins = max(0, self._rejoins - 1)
                if self._rejoins == 0:
                    self._floor = None
            if isinstance(answer, dict) and "error" in answer:
                self._noted(f"refused 'join': {answer['error']}")
        self._state_changed()

    @property
    def room(self) -> str | None:
        """The room messages are sent to: the last one joined, or None (everyone)."""
        return self.rooms[-1] if self.rooms else None

    def send(self, text: str, timeout: float = 5.0) -> None:
        """Send one line to :attr:`room` (or to everyone on the namespace).

        Without ``retries`` it is sent once, now, and :class:`ConnectionError` says why
        when the client is offline. With ``retries`` it joins the messages waiting for
        their ack, in order, and this returns at once, online or not (see
        :meth:`wait_sent`).
        """
        payload: dict[str, Any] = {
            "user": self.user,
            "message": _check_text(text),
            "room": self.room,
        }
        if self.message_ids:
            payload["id"] = f"{self.user}-{uuid.uuid4().hex[:12]}"[-64:]
        if self.retries == 0:
            self._check_online()
            try:
                self.client.emit(self.send_event, payload, namespace=self.namespace)
            except _socketio_errors() as exc:  # the connection went since the check
                raise ConnectionError(f"{self.user} is offline ({exc}); not sent") from None
            return
        if self._outbox_closed:
            raise ConnectionError(f"{self.user} is closed; not sent")
        self._outbox.append(_Outgoing(payload))  # (a deque: safe from any thread)
        runtime.call_soon(self._start_pump)

    _outbox_closed = False

    @property
    def pending(self) -> int:
        """Messages sent with ``retries`` that are not acknowledged (nor failed) yet."""
        return len(self._outbox)

    def wait_sent(self, timeout: float = 10.0) -> None:
        """Wait until every message sent so far is acknowledged or has failed.

        Raises :class:`TimeoutError` naming how many are still waiting.
        """
        with cells.waiting():
            done = runtime.run(self._drained(timeout), timeout + 1, what="waiting for acks")
        if not done:
            raise TimeoutError(
                f"{len(self._outbox)} message(s) of {self.user} still wait for their ack "
                f"after {timeout:g} s (state: {self.state})"
            )

    async def _drained(self, timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while self._outbox:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def _start_pump(self) -> None:
        # On the runtime thread: one pump per client sends the queue in order.
        if self._pump_task is None or self._pump_task.done():
            self._pump_task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        while self._outbox:
            item = self._outbox[0]
            if not self._online:
                self._up.clear()
                await self._up.wait()
                continue
            answer = asyncio.ensure_future(
                self.client.acall(
                    self.send_event,
                    item.payload,
                    namespace=self.namespace,
                    timeout=self.ack_timeout,
                )
            )
            down = asyncio.ensure_future(self._wait_down())
            await asyncio.wait({answer, down}, return_when=asyncio.FIRST_COMPLETED)
            down.cancel()
            if not answer.done():  # cut off before the ack: send again when back
                answer.cancel()
                continue
            error = answer.exception()
            if error is not None and not self._online:
                continue  # the connection went while sending: not an attempt
            reply = None if error is not None else answer.result()
            if not self._outbox or self._outbox[0] is not item:
                continue  # failed meanwhile (the client closed, or kit.stop_all())
            if isinstance(reply, dict) and reply.get("ok") is True:
                self._outbox.popleft()
                self.acked += 1
                continue
            if isinstance(error, _socketio_timeout()):
                why = f"no ack within {self.ack_timeout:g} s"
            elif error is not None:
                why = f"sending failed: {error!r}"
            else:
                why = str(reply.get("error") if isinstance(reply, dict) else reply)
            item.tries += 1
            if item.tries > self.retries or "already used for a different" in why:
                self._outbox.popleft()
                self._failed(item, why)
            elif error is None:
                await asyncio.sleep(min(0.1, self.ack_timeout))  # refused (busy): a breath

    async def _wait_down(self) -> None:
        while self._online:
            await asyncio.sleep(0.02)

    def _failed(self, item: _Outgoing, why: str) -> None:
        payload = item.payload
        message = ChatMessage(self.user, payload["message"], payload["room"], id=payload.get("id"))
        self.failed.append(message)
        tries = f"{item.tries} tr{'y' if item.tries == 1 else 'ies'}"
        self._noted(f"not sent after {tries}: {message.text!r} ({why})")

    def _fail_all(self, why: str) -> None:
        while self._outbox:
            self._failed(self._outbox.popleft(), why)
        self._up.set()  # a pump waiting to be back online sees the empty queue and ends

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
    def online(self) -> bool:
        """True from the server's CONNECT to the disconnect (what :attr:`state` waits for
        is also python-socketio's own flag, set just after its connect handlers ran)."""
        return self._online

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
        """Leave the chat (disconnect); messages still waiting for an ack fail (noted)."""
        self._outbox_closed = True
        self.client.disconnect()
        if self._outbox:
            runtime.call_soon(self._fail_all, "the client was closed")


@dataclass
class _Outgoing:
    """A message sent with retries, waiting for its ack."""

    payload: dict[str, Any]
    tries: int = 0


def _socketio_errors() -> type[BaseException]:
    import socketio

    error: type[BaseException] = socketio.exceptions.SocketIOError
    return error


def _socketio_timeout() -> type[BaseException]:
    import socketio

    error: type[BaseException] = socketio.exceptions.TimeoutError
    return error


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
            if isinstance(conversation, SocketIOChatClient):
                # What still waits for an ack will not get one: failed, and said so.
                conversation._fail_all("kit.stop_all() stopped the client")
            conversation._state_changed()
