"""A socket.io v5 server from scratch, on the kit's own engine.io server.

socket.io (https://github.com/socketio/socket.io-protocol, protocol v5) rides in engine.io
MESSAGE packets: ``42["chat",{"text":"hi"}]`` is engine.io's ``4`` and socket.io's EVENT
``2["chat",...]``. This server reads and writes those packets with
:mod:`kit.wire.socketio` and keeps what the protocol leaves to a server: namespaces,
each client's socket in each namespace, rooms, acks, and binary attachments. Its surface
is python-socketio's, so code written for one reads the same on the other::

    sio = kit.SocketIOServer()

    @sio.event
    async def connect(sid, environ, auth):
        await sio.enter_room(sid, "lobby")

    @sio.on("chat")
    async def chat(sid, data):
        await sio.emit("chat", data, to="lobby", skip_sid=sid)
        return "delivered"                      # the ack the client asked for

    server = kit.serve(sio, name="chat")

What the server does with each packet a client sends:

- CONNECT ``0/admin,{"token":"x"}``: middlewares (:meth:`use`), then the ``connect``
  handler, may refuse (raise ``ConnectionRefusedError("why")`` or return False): the
  answer is CONNECT_ERROR ``4/admin,{"message":"why"}``. Otherwise CONNECT
  ``0/admin,{"sid":"..."}``, then whatever the handler emitted meanwhile. An unknown
  namespace gets ``{"message":"Invalid namespace"}``.
- EVENT ``2["chat","hi"]`` (``21[...]`` with an ack id) runs the handler; its return
  value is the ACK ``31["delivered"]``. BINARY_EVENT waits for its attachments first.
- ACK answers an event the server sent with ``callback=`` or :meth:`call`.
- DISCONNECT ``1/admin,`` leaves the namespace; the engine.io session stays (the client
  closes it when it has no namespace left).
- Anything that breaks the protocol (``4abc``, ``2{}``, ``2["connect"]``, an attachment
  nobody announced) closes the whole connection, as the reference server does.

Broadcasts are the hot path: :meth:`emit` to a room encodes the packet and its WebSocket
frame once (:class:`~kit.apps.engineio.EncodedMessage`) and writes the same bytes to each
recipient's socket buffer, without a task or a wake-up per recipient. A recipient that
does not read is dropped by the engine.io layer once ``max_backlog`` bytes wait for it,
never allowed to grow memory without bound; with connection state recovery it then
catches up when it reconnects (:mod:`kit.apps.recovery`).

What it deliberately leaves out: the v2/v3 protocols (socket.io 2.x clients), adapters
for several processes (Redis and friends: rooms here live in one process), volatile and
compressed emits, ``timeout()`` on broadcasts (acks from many clients), the admin UI, and
the ``Namespace`` class-based handlers of python-socketio.

Why this module is long: socket.io's server-side state (namespaces, sockets, rooms,
acks, attachments, recovery) and its python-socketio-shaped surface are one unit a
lesson reads top to bottom.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any
from urllib.parse import urlencode

from kit.apps.engineio import EncodedMessage, EngineIOServer, EngineSession, new_id
from kit.apps.recovery import (
    RECOVERABLE_REASONS,
    MemoryRecoveryStore,
    RecoveryStore,
    Restored,
    SavedSession,
)
from kit.wire import SocketIOError, SocketPacket, SocketPacketType
from kit.wire.socketio import RESERVED_EVENTS, AttachmentCollector, deconstruct

__all__ = ["RecoveryOptions", "SocketIOServer"]

log = logging.getLogger("kit.apps.socketio")

Handler = Callable[..., Any]


@dataclasses.dataclass
class RecoveryOptions:
    """Connection state recovery, as socket.io 4.6+ offers it (see :mod:`kit.apps.recovery`).

    Attributes:
        max_disconnection_duration: seconds a dropped session can be recovered.
        skip_middlewares: a recovered socket skips the middlewares (as in Node).
        store: where events and sessions are kept; a fresh in-memory store by default,
            ``kit.SqliteRecoveryStore(path)`` to recover clients across a server restart.
    """

    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True
    store: RecoveryStore = dataclasses.field(default_factory=MemoryRecoveryStore)


@dataclasses.dataclass(eq=False)
class _Socket:
    """A client's membership of one namespace (socket.io's server-side ``Socket``)."""

    sid: str
    namespace: _Namespace
    session: EngineSession
    pid: str | None = None
    recovered: bool = False
    connected: bool = False  # False while middlewares and the connect handler run
    rooms: set[str] = dataclasses.field(default_factory=set)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    waiting: list[EncodedMessage] | None = dataclasses.field(default_factory=list)
    inbox: list[SocketPacket] = dataclasses.field(default_factory=list)
    acks: dict[int, Callable[..., Any]] = dataclasses.field(default_factory=dict)
    next_ack: int = 0

    def write(self, messages: list[EncodedMessage]) -> None:
        if self.waiting is not None:  # not connected yet: after the CONNECT answer
            self.waiting.extend(messages)
            return
        for message in messages:
            self.session.send_encoded(message)


@dataclasses.dataclass(eq=False)
class _Namespace:
    name: str
    handlers: dict[str, Handler] = dataclasses.field(default_factory=dict)
    middlewares: list[Handler] = dataclasses.field(default_factory=list)
    sockets: dict[str, _Socket] = dataclasses.field(default_factory=dict)
    rooms: dict[str, set[str]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(eq=False)
class _Client:
    """socket.io's state for one engine.io session: its sockets, by namespace."""

    session: EngineSession
    sockets: dict[str, _Socket] = dataclasses.field(default_factory=dict)
    attachments: AttachmentCollector = dataclasses.field(default_factory=AttachmentCollector)
    connect_timer: asyncio.TimerHandle | None = None


class SocketIOServer:
    """A socket.io v5 server on ``kit.wire``, with python-socketio's surface.

    Args:
        namespaces: which namespaces a client may connect to: None (``/`` and those with
            handlers), ``"*"`` (any), or a list of names and compiled regular
            expressions (``[re.compile(r"^/room-\\d+$")]``: dynamic namespaces).
        connection_state_recovery: True, or :class:`RecoveryOptions`, to let clients
            recover their id, rooms and missed events after a short disconnection.
        connect_timeout: seconds a new connection has to join a namespace.
        ping_interval, ping_timeout, max_payload, max_backlog, cors_allowed_origins,
            transports, path: passed to the :class:`~kit.apps.engineio.EngineIOServer`
            underneath (``path`` defaults to ``"/socket.io/"``).

    Attributes:
        packets_encoded: socket.io packets this server has encoded so far. A broadcast
            counts one, however many sockets receive it: the same bytes go to each.
    """

    kind = "scratch-socketio"
    socketio = True  # kit.serve's Server.socketio: clients talk socket.io to it

    def __init__(
        self,
        *,
        namespaces: str | Collection[str | re.Pattern[str]] | None = None,
        connection_state_recovery: bool | RecoveryOptions = False,
        connect_timeout: float = 45.0,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_payload: int = 1_000_000,
        max_backlog: int = 2**22,
        cors_allowed_origins: str | Collection[str] | None = None,
        transports: Collection[str] = ("polling", "websocket"),
        path: str = "/socket.io/",
    ) -> None:
        self.engine = EngineIOServer(
            on_open=self._on_open,
            on_message=self._on_message,
            on_close=self._on_close,
            path=path,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_payload=max_payload,
            max_backlog=max_backlog,
            cors_allowed_origins=cors_allowed_origins,
            transports=transports,
        )
        if namespaces is not None and namespaces != "*" and isinstance(namespaces, str):
            raise ValueError(
                f"namespaces is '*', or a list of names and patterns, not {namespaces!r}"
            )
        self.allowed = namespaces
        if connection_state_recovery is True:
            connection_state_recovery = RecoveryOptions()
        self.recovery: RecoveryOptions | None = connection_state_recovery or None
        self.connect_timeout = connect_timeout
        self._namespaces: dict[str, _Namespace] = {"/": _Namespace("/")}
        self._any = _Namespace("*")  # handlers for every namespace (namespace="*")
        self._tasks: set[asyncio.Task[Any]] = set()
        self.packets_encoded = 0

    def _encode(self, packet: SocketPacket) -> list[EncodedMessage]:
        self.packets_encoded += 1
        return _encode(packet)

    def __repr__(self) -> str:
        count = sum(len(ns.sockets) for ns in self._namespaces.values())
        return f"SocketIOServer({count} sockets in {len(self._namespaces)} namespaces)"

    # -- registering handlers (python-socketio's decorators) ---------------------------

    def on(self, event: str, handler: Handler | None = None, namespace: str | None = None) -> Any:
        """Register ``handler`` for ``event`` (also usable as ``@sio.on("event")``).

        ``connect(sid, environ[, auth])``, ``disconnect(sid[, reason])``, any other event
        ``handler(sid, *args)`` (its return value is the ack), and ``"*"`` catches every
        event without a handler: ``handler(event, sid, *args)``. Handlers may be
        ``async def`` (run as tasks) or plain functions (run at once). ``namespace="*"``
        registers for every namespace.
        """

        def register(function: Handler) -> Handler:
            self._namespace_for(namespace).handlers[event] = function
            return function

        return register(handler) if handler is not None else register

    def event(self, handler: Handler | None = None, namespace: str | None = None) -> Any:
        """``@sio.event``: register a handler under its function's name."""

        def register(function: Handler) -> Handler:
            return self.on(function.__name__, function, namespace=namespace)

        return register(handler) if handler is not None else register

    def use(self, middleware: Handler, namespace: str | None = None) -> Handler:
        """Run ``middleware(sid, environ, auth)`` before each CONNECT to ``namespace``.

        Raising ``ConnectionRefusedError("why", data)`` refuses the connection: the client
        gets CONNECT_ERROR ``{"message": "why", "data": data}``.
        """
        self._namespace_for(namespace).middlewares.append(middleware)
        return middleware

    def _namespace_for(self, name: str | None) -> _Namespace:
        name = name or "/"
        if name == "*":
            return self._any
        if name not in self._namespaces:
            self._namespaces[name] = _Namespace(name)
        return self._namespaces[name]

    # -- sending ------------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        data: Any = None,
        to: str | Iterable[str] | None = None,
        room: str | Iterable[str] | None = None,
        skip_sid: str | Iterable[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        """Send ``event`` to a socket id or room (``to``), or everyone in the namespace.

        ``data`` is one argument, or a tuple of several; bytes anywhere in it travel as
        binary attachments. ``skip_sid`` leaves out a socket (or every socket of a room).
        ``callback`` (a single recipient only) is called with the client's ack.
        """
        self._emit(event, data, to if to is not None else room, skip_sid, namespace, callback)

    async def send(
        self,
        data: Any,
        to: str | Iterable[str] | None = None,
        skip_sid: str | Iterable[str] | None = None,
        namespace: str | None = None,
    ) -> None:
        """``emit("message", data, ...)``."""
        self._emit("message", data, to, skip_sid, namespace, None)

    async def call(
        self,
        event: str,
        data: Any = None,
        *,
        to: str,
        namespace: str | None = None,
        timeout: float = 60.0,
    ) -> Any:
        """Emit to one socket and wait for its ack; its arguments (one, or a tuple)."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def acknowledged(*args: Any) -> None:
            if not answer.done():
                answer.set_result(args[0] if len(args) == 1 else args)

        self._emit(event, data, to, None, namespace, acknowledged)
        return await asyncio.wait_for(answer, timeout)

    def _emit(
        self,
        event: str,
        data: Any,
        to: str | Iterable[str] | None,
        skip: str | Iterable[str] | None,
        namespace: str | None,
        callback: Callable[..., Any] | None,
    ) -> None:
        if not isinstance(event, str) or event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name (or not a name): pick another")
        args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
        ns = self._namespaces.get(namespace or "/")
        if ns is None:
            return
        rooms, exclude = _names(to), _names(skip)
        if callback is not None:
            recipients = self._recipients(ns, rooms, exclude)
            if len(recipients) != 1:
                raise ValueError("callback= needs exactly one recipient (a socket id in to=)")
            target = recipients[0]
            ack_id, target.next_ack = target.next_ack, target.next_ack + 1
            target.acks[ack_id] = callback
            target.write(
                self._encode(SocketPacket(SocketPacketType.EVENT, ns.name, [event, *args], ack_id))
            )
            return
        self._broadcast(ns, [event, *args], rooms, exclude)

    def _broadcast(
        self, ns: _Namespace, data: list[Any], rooms: set[str], exclude: set[str]
    ) -> None:
        """Encode once, write the same bytes to every recipient: no task per recipient."""
        recipients = self._recipients(ns, rooms, exclude)
        if self.recovery is not None:
            now = time.time()
            offset = self.recovery.store.append(ns.name, data, rooms, exclude, now=now)
            data = [*data, offset]
        messages = self._encode(SocketPacket(SocketPacketType.EVENT, ns.name, data))
        for target in recipients:
            target.write(messages)

    @staticmethod
    def _recipients(ns: _Namespace, rooms: set[str], exclude: set[str]) -> list[_Socket]:
        if rooms:
            sids: set[str] = set()
            for room in rooms:
                sids |= ns.rooms.get(room, set())
        else:
            sids = set(ns.sockets)
        for room in exclude:
            sids -= ns.rooms.get(room, set())
        sockets = ns.sockets
        return [sockets[sid] for sid in sids if sid in sockets]

    # -- rooms, sessions, disconnecting -------------------------------------------------

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Put the socket ``sid`` in ``room`` (the server decides; clients cannot)."""
        target = self._socket(sid, namespace)
        target.rooms.add(room)
        target.namespace.rooms.setdefault(room, set()).add(sid)

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Take the socket ``sid`` out of ``room``."""
        target = self._socket(sid, namespace)
        _leave(target, room)

    async def close_room(self, room: str, namespace: str | None = None) -> None:
        """Take every socket out of ``room``."""
        ns = self._namespaces.get(namespace or "/")
        if ns is not None:
            for sid in list(ns.rooms.get(room, ())):
                _leave(ns.sockets[sid], room)

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        """The rooms of socket ``sid``, its own room (its id) first."""
        target = self._socket(sid, namespace)
        return [sid, *sorted(target.rooms - {sid})]

    def is_recovered(self, sid: str, namespace: str | None = None) -> bool:
        """Whether socket ``sid`` came back by connection state recovery."""
        return self._socket(sid, namespace).recovered

    async def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        """The socket's own dict (recovered with it)."""
        return self._socket(sid, namespace).data

    async def save_session(
        self, sid: str, session: dict[str, Any], namespace: str | None = None
    ) -> None:
        """Replace the socket's own dict."""
        self._socket(sid, namespace).data = dict(session)

    async def disconnect(self, sid: str, namespace: str | None = None) -> None:
        """Disconnect socket ``sid`` from its namespace (the client hears DISCONNECT)."""
        target = self._socket(sid, namespace)
        target.write(self._encode(SocketPacket(SocketPacketType.DISCONNECT, target.namespace.name)))
        self._disconnected(target, "server namespace disconnect")

    def sockets(self, namespace: str | None = None) -> list[str]:
        """The ids of the sockets connected to ``namespace``."""
        ns = self._namespaces.get(namespace or "/")
        return [] if ns is None else [s.sid for s in ns.sockets.values() if s.connected]

    def _socket(self, sid: str, namespace: str | None) -> _Socket:
        ns = self._namespaces.get(namespace or "/")
        found = None if ns is None else ns.sockets.get(sid)
        if found is None:
            raise KeyError(f"no socket {sid!r} is connected to namespace {namespace or '/'!r}")
        return found

    # -- engine.io sessions -------------------------------------------------------------

    def _on_open(self, session: EngineSession) -> None:
        client = _Client(session)
        session.data["socketio"] = client
        client.connect_timer = asyncio.get_running_loop().call_later(
            self.connect_timeout, self._connect_timed_out, client
        )

    def _connect_timed_out(self, client: _Client) -> None:
        if not client.sockets:
            self.engine._note(f"{client.session.sid} joined no namespace in time: closed")
            client.session.close("forced close")

    def _on_close(self, session: EngineSession, reason: str) -> None:
        client: _Client | None = session.data.get("socketio")
        if client is None:
            return
        if client.connect_timer is not None:
            client.connect_timer.cancel()
        for target in list(client.sockets.values()):
            self._disconnected(target, reason)

    def _on_message(self, session: EngineSession, data: str | bytes) -> None:
        client: _Client = session.data["socketio"]
        try:
            if isinstance(data, bytes):
                packet = client.attachments.add(data)[2]
                if packet is None:
                    return  # more attachments to come
            else:
                if client.attachments.expected:
                    raise ValueError(
                        f"a text packet arrived while {client.attachments.expected} "
                        "attachment(s) were still expected"
                    )
                packet = SocketPacket.parse(data)
                if packet.attachments:
                    client.attachments.expect(packet)
                    return
        except (SocketIOError, ValueError) as error:
            self.engine._note(f"{session.sid} sent a bad socket.io packet: {error} -> closed")
            session.close("parse error")
            return
        self._on_packet(client, packet)

    def _on_packet(self, client: _Client, packet: SocketPacket) -> None:
        kind = packet.type
        target = client.sockets.get(packet.namespace)
        if kind == SocketPacketType.CONNECT:
            if target is not None:
                return  # already connected (or connecting) to it: nothing to do
            self._connect(client, packet.namespace, packet.data)
        elif target is None or kind == SocketPacketType.CONNECT_ERROR:
            self.engine._note(
                f"{client.session.sid} sent {packet.type.name} for {packet.namespace!r} "
                "without being connected to it -> closed"
            )
            client.session.close("parse error")
        elif not target.connected:
            target.inbox.append(packet)  # handled once the connect handler said yes
        elif kind == SocketPacketType.DISCONNECT:
            self._disconnected(target, "client namespace disconnect")
        elif kind in (SocketPacketType.EVENT, SocketPacketType.BINARY_EVENT):
            self._on_event(target, packet)
        else:  # ACK, BINARY_ACK
            callback = target.acks.pop(packet.id or 0, None)
            if callback is not None:
                self._run(callback, *packet.args)

    # -- connecting ---------------------------------------------------------------------

    def _allowed(self, name: str) -> bool:
        allowed = self.allowed
        if allowed == "*" or name in self._namespaces:
            return True
        if allowed is None:
            return False
        return any(
            pattern.fullmatch(name) if isinstance(pattern, re.Pattern) else pattern == name
            for pattern in allowed
        )

    def _connect(self, client: _Client, name: str, auth: Any) -> None:
        auth = auth if isinstance(auth, dict) else {}
        if not self._allowed(name):
            refusal = SocketPacket(
                SocketPacketType.CONNECT_ERROR, name, {"message": "Invalid namespace"}
            )
            client.session.send(refusal.serialize())
            return
        ns = self._namespace_for(name)
        restored = self._restore(ns, auth)
        if restored is not None:
            target = _Socket(restored.session.sid, ns, client.session, pid=restored.session.pid)
            target.recovered, target.data = True, dict(restored.session.data)
            rooms: Iterable[str] = restored.session.rooms
        else:
            target = _Socket(new_id(), ns, client.session)
            if self.recovery is not None:
                target.pid = new_id()
            rooms = ()
        client.sockets[name] = target
        ns.sockets[target.sid] = target
        for room in {target.sid, *rooms}:
            target.rooms.add(room)
            ns.rooms.setdefault(room, set()).add(target.sid)
        if client.connect_timer is not None:
            client.connect_timer.cancel()
            client.connect_timer = None
        missed = restored.missed if restored is not None else []
        task = asyncio.create_task(self._admit(client, target, auth, missed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _restore(self, ns: _Namespace, auth: dict[str, Any]) -> Restored | None:
        pid, offset = auth.get("pid"), auth.get("offset")
        if self.recovery is None or not isinstance(pid, str) or not isinstance(offset, str):
            return None
        store, now = self.recovery.store, time.time()
        limit = self.recovery.max_disconnection_duration
        store.prune(max_age=limit, now=now)
        restored = store.restore(pid, offset, max_age=limit, now=now)
        if restored is None or restored.session.namespace != ns.name:
            return None
        if restored.session.sid in ns.sockets:
            return None  # that id is back already
        return restored

    async def _admit(
        self, client: _Client, target: _Socket, auth: dict[str, Any], missed: list[list[Any]]
    ) -> None:
        """Middlewares, then the connect handler; then CONNECT or CONNECT_ERROR."""
        ns, environ = target.namespace, _environ(client.session)
        refusal: dict[str, Any] | None = None
        try:
            if not (target.recovered and self.recovery and self.recovery.skip_middlewares):
                for middleware in [*self._any.middlewares, *ns.middlewares]:
                    await _maybe_await(middleware(target.sid, environ, auth))
            handler = ns.handlers.get("connect") or self._any.handlers.get("connect")
            if handler is not None:
                args = (
                    (target.sid, environ, auth) if _arity(handler) >= 3 else (target.sid, environ)
                )
                if await _maybe_await(handler(*args)) is False:
                    refusal = {"message": "Connection rejected by server"}
        except Exception as error:
            if type(error).__name__ != "ConnectionRefusedError":
                log.exception("socket.io server: the connect handler of %s raised", ns.name)
            refusal = _refusal(error)
        if client.session.closed or client.sockets.get(ns.name) is not target:
            return
        if refusal is not None:
            client.sockets.pop(ns.name, None)
            _forget(target)
            client.session.send(
                SocketPacket(SocketPacketType.CONNECT_ERROR, ns.name, refusal).serialize()
            )
            return
        answer = (
            {"sid": target.sid} if target.pid is None else {"sid": target.sid, "pid": target.pid}
        )
        waiting, target.waiting = target.waiting or [], None
        target.connected = True
        client.session.send(SocketPacket(SocketPacketType.CONNECT, ns.name, answer).serialize())
        for data in missed:
            target.write(self._encode(SocketPacket(SocketPacketType.EVENT, ns.name, data)))
        target.write(waiting)
        inbox, target.inbox = target.inbox, []
        for packet in inbox:
            self._on_packet(client, packet)

    # -- events and disconnections ------------------------------------------------------

    def _on_event(self, target: _Socket, packet: SocketPacket) -> None:
        event, args = packet.event, packet.args
        ns = target.namespace
        handler = ns.handlers.get(str(event)) or self._any.handlers.get(str(event))
        call_args: tuple[Any, ...] = (target.sid, *args)
        if handler is None:
            handler = ns.handlers.get("*") or self._any.handlers.get("*")
            call_args = (event, target.sid, *args)
        if handler is None:
            return
        ack = None
        if packet.id is not None:
            ack_id = packet.id

            def ack(result: Any) -> None:
                answers = (
                    list(result)
                    if isinstance(result, tuple)
                    else ([] if result is None else [result])
                )
                reply = SocketPacket(SocketPacketType.ACK, ns.name, answers, id=ack_id)
                target.write(self._encode(reply))

        self._run(handler, *call_args, then=ack)

    def _disconnected(self, target: _Socket, reason: str) -> None:
        """The socket left its namespace: forget it, keep it for recovery, tell the app."""
        client: _Client | None = target.session.data.get("socketio")
        ns = target.namespace
        if client is None or client.sockets.get(ns.name) is not target:
            return
        del client.sockets[ns.name]
        was_connected = target.connected
        _forget(target)
        recoverable = reason in RECOVERABLE_REASONS and target.pid is not None
        if self.recovery is not None and was_connected and recoverable:
            self.recovery.store.save(_saved(target, time.time()))
        handler = ns.handlers.get("disconnect") or self._any.handlers.get("disconnect")
        if handler is not None and was_connected:
            args = (target.sid, reason)[: max(1, min(2, _arity(handler)))]
            self._run(handler, *args)

    def _run(
        self, function: Handler, *args: Any, then: Callable[[Any], None] | None = None
    ) -> None:
        """Call a handler: a plain function now, a coroutine function as a task."""
        if not inspect.iscoroutinefunction(function):
            try:
                result = function(*args)
            except Exception:
                log.exception("socket.io server: handler %r raised", function)
                return
            if then is not None:
                then(result)
            return

        async def run() -> None:
            try:
                result = await function(*args)
            except Exception:
                log.exception("socket.io server: handler %r raised", function)
                return
            if then is not None:
                then(result)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the AppAdapter protocol (kit.serve) -------------------------------------------

    async def start(self, sock: socket.socket) -> None:
        """Serve on ``sock`` (called by ``kit.serve``)."""
        await self.engine.start(sock)

    async def stop(self) -> None:
        """Close every connection (sockets are kept for recovery), cancel running handlers."""
        await self.engine.stop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)

    def abort(self) -> int:
        """Drop every connection now, without goodbye."""
        return self.engine.abort()


# -- helpers -------------------------------------------------------------------------------


def _names(value: str | Iterable[str] | None) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {value}
    return set(value)


def _encode(packet: SocketPacket) -> list[EncodedMessage]:
    """A packet as engine.io messages: its text, then one per binary attachment."""
    packet, attachments = deconstruct(packet)
    return [EncodedMessage.of(packet.serialize()), *map(EncodedMessage.of, attachments)]


def _leave(target: _Socket, room: str) -> None:
    target.rooms.discard(room)
    members = target.namespace.rooms.get(room)
    if members is not None:
        members.discard(target.sid)
        if not members:
            del target.namespace.rooms[room]


def _forget(target: _Socket) -> None:
    saved_rooms = set(target.rooms)
    for room in saved_rooms:
        _leave(target, room)
    target.rooms = saved_rooms  # kept on the object, for recovery
    target.namespace.sockets.pop(target.sid, None)
    target.connected = False


def _saved(target: _Socket, now: float) -> SavedSession:
    assert target.pid is not None
    return SavedSession(
        pid=target.pid,
        sid=target.sid,
        namespace=target.namespace.name,
        rooms=tuple(sorted(target.rooms)),
        data=dict(target.data),
        disconnected_at=now,
    )


def _refusal(error: BaseException) -> dict[str, Any]:
    """CONNECT_ERROR data for a refusal, as python-socketio builds it."""
    given = getattr(error, "error_args", None)  # python-socketio's ConnectionRefusedError
    if isinstance(given, dict):
        return given
    if type(error).__name__ != "ConnectionRefusedError":
        return {"message": "server error"}
    args = error.args
    if not args:
        return {"message": "Connection rejected by server"}
    refusal: dict[str, Any] = {"message": str(args[0])}
    if len(args) == 2:
        refusal["data"] = args[1]
    elif len(args) > 2:
        refusal["data"] = list(args[1:])
    return refusal


def _environ(session: EngineSession) -> dict[str, Any]:
    """A WSGI-style environ for the connect handler, as python-socketio passes one."""
    host, _, port = session.peer.rpartition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": session.server.path,
        "QUERY_STRING": urlencode(session.query),
        "REMOTE_ADDR": host,
        "REMOTE_PORT": port,
    }
    for name, value in session.headers.items():
        environ[f"HTTP_{name.upper().replace('-', '_')}"] = value
    return environ


def _arity(function: Handler) -> int:
    """How many positional arguments ``function`` takes (a large number for ``*args``)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 99
    count = 0
    for parameter in parameters:
        if parameter.kind == parameter.VAR_POSITIONAL:
            return 99
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


async def _maybe_await(value: Awaitable[Any] | Any) -> Any:
    return await value if inspect.isawaitable(value) else value
