"""``kit.SocketIOClient``: the python-socketio client, usable from plain notebook cells.

python-socketio's ``AsyncClient`` needs an event loop that keeps running; a notebook cell
does not. This wrapper runs the client on the kit's runtime thread and gives cells
blocking, time-limited calls::

    client = kit.SocketIOClient(server.url)               # connects (polling, then upgrade)
    client.wait_for("new message")                        # -> [{'mess': 'welcome'}]
    client.emit("recive message", {"message": "hi"})
    client.call("shout", "hi")                            # an event with an ack -> 'HI'
    client.disconnect()

Like a browser, the client keeps the cookies servers set and sends them back, also to
``127.0.0.1`` (aiohttp's default cookie jar refuses cookies from an IP address): a load
balancer that pins a client to one server with a cookie (lesson 08) works with it.

Every event the server sends, on every namespace, is kept in :attr:`received` in arrival
order, so a cell can wait for it after the fact without missing it; :meth:`wait_for`
returns each one once (``received`` itself is never changed: it is the history).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from kit import compat
from kit.runtime import cells
from kit.runtime.logbook import CLIENT_LOGGER
from kit.runtime.loop import Part, runtime
from kit.runtime.servers import Server

__all__ = ["SocketIOClient"]

TIMEOUT = 5.0
DISCONNECT_GRACE = 0.5


class SocketIOClient:
    """A socket.io client on the kit's runtime thread.

    Args:
        url: the server (``server.url`` of a kit server, or a tap's ``url``).
        namespaces: the namespaces to connect to, e.g. ``["/post", "/get"]`` (default ``/``).
        transports: ``["polling", "websocket"]`` (the default: poll, then upgrade),
            ``["websocket"]`` or ``["polling"]``.
        auth: the CONNECT packet's payload, if the server wants one.
        listener: ``listener(namespace, event, args)`` for everything received, from the
            first packet on (see :meth:`add_listener`).
    """

    def __init__(
        self,
        url: Server | str,
        *,
        namespaces: Sequence[str] | None = None,
        transports: Sequence[str] | None = None,
        auth: dict[str, Any] | None = None,
        timeout: float = TIMEOUT,
        listener: Callable[[str, str, list[Any]], object] | None = None,
    ) -> None:
        import socketio

        self.url = url.url if isinstance(url, Server) else url
        self.received: list[tuple[str, str, list[Any]]] = []
        """(namespace, event, arguments) for every event the server sent, in order."""
        self._sending: set[asyncio.Future[Any]] = set()
        self._taken: set[int] = set()  # positions in `received` that wait_for returned
        self._cond = threading.Condition()
        # A listener given here hears everything, even what the server sends on connect.
        self._listeners: list[Callable[[str, str, list[Any]], object]] = (
            [listener] if listener is not None else []
        )
        # A cookie jar like a browser's; made on the runtime loop, where it is used.
        self._http = runtime.run(_browser_like_session(), TIMEOUT, what="an HTTP session")
        # handle_sigint=False: python-socketio would otherwise replace the kernel's
        # SIGINT handler (the notebook's stop button) with its own.
        self._client = socketio.AsyncClient(
            reconnection=False,
            handle_sigint=False,
            http_session=self._http,
            logger=CLIENT_LOGGER,  # never python-socketio's own stderr handler
            engineio_logger=CLIENT_LOGGER,
        )
        self._client.on("*", self._record, namespace="*")
        self._client.on("connect", self._connected, namespace="*")
        self._client.on("disconnect", self._disconnected, namespace="*")
        runtime.part(ConnectedClients).clients.add(self)
        try:
            runtime.run(
                self._client.connect(
                    self.url,
                    namespaces=list(namespaces) if namespaces else None,
                    transports=list(transports) if transports else None,
                    auth=auth,
                    wait_timeout=timeout,
                ),
                timeout + 1,
                what=f"connecting a socket.io client to {self.url}",
            )
        except BaseException:
            runtime.part(ConnectedClients).clients.discard(self)
            runtime.run(_disconnect(self._client, self._http), TIMEOUT)
            raise

    # -- what arrives -------------------------------------------------------------------

    def _append(self, namespace: str, event: str, args: list[Any]) -> None:
        # Listeners run under the lock wait_for() checks under: a cell waiting for this
        # event only goes on once what the listeners do about it (print...) is done.
        with self._cond:
            self.received.append((namespace, event, args))
            for listener in list(self._listeners):
                listener(namespace, event, args)
            self._cond.notify_all()

    def add_listener(self, listener: Callable[[str, str, list[Any]], object]) -> None:
        """Call ``listener(namespace, event, args)`` for everything received.

        It runs on the kit's runtime thread: update widget traits there, never print.
        """
        with self._cond:
            self._listeners.append(listener)

    async def _record(self, event: str, namespace: str, *args: Any) -> None:
        self._append(namespace, event, list(args))

    async def _connected(self, namespace: str, *data: Any) -> None:
        # A server may (wrongly) emit a "connect" event with data; keep it, never crash.
        self._append(namespace, "connect", list(data))

    async def _disconnected(self, namespace: str, *reason: Any) -> None:
        self._append(namespace, "disconnect", [str(r) for r in reason])

    def wait_for(self, event: str, *, namespace: str = "/", timeout: float = TIMEOUT) -> list[Any]:
        """Return the arguments of the next ``event`` on ``namespace`` not yet returned."""
        if runtime.in_runtime_thread():
            raise RuntimeError("wait_for() cannot run inside a handler: it would deadlock")
        with cells.waiting(), self._cond:
            found = self._cond.wait_for(lambda: self._find(event, namespace), timeout)
            if not found:
                seen = ", ".join(f"{ns} {ev}" for ns, ev, _ in self.received) or "nothing"
                raise TimeoutError(
                    f"no {event!r} on {namespace} within {timeout:g} s (received: {seen})"
                )
            index, args = found
            self._taken.add(index)
            return args

    def _find(self, event: str, namespace: str) -> tuple[int, list[Any]] | None:
        for index, (ns, ev, args) in enumerate(self.received):
            if ns == namespace and ev == event and index not in self._taken:
                return index, args
        return None

    # -- what we send ---------------------------------------------------------------------

    def emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        """Send ``event`` with ``args``; returns once it is handed to the transport."""
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)
        runtime.run(
            self._client.emit(event, data, namespace=namespace), TIMEOUT, what=f"emit {event!r}"
        )

    def emit_soon(self, event: str, *args: Any, namespace: str = "/") -> None:
        """Send ``event`` without waiting: safe inside a listener, on the runtime thread.

        A listener (see :meth:`add_listener`) runs on the kit's runtime thread, where the
        blocking :meth:`emit` would wait for itself; this schedules the emit and returns.
        """
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)

        def start() -> None:
            task = asyncio.ensure_future(self._client.emit(event, data, namespace=namespace))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

        runtime.call_soon(start)

    def call(self, event: str, *args: Any, namespace: str = "/", timeout: float = TIMEOUT) -> Any:
        """Send ``event`` asking for an acknowledgement, and return what the server acked.

        Raises:
            TimeoutError: no acknowledgement within ``timeout`` seconds, while connected
                (the server's handler returned nothing, or is slow).
            ConnectionError: the connection ended before the answer came; python-socketio
                would wait out the whole timeout and raise an empty error. A server closes
                the connection on a message bigger than it accepts (python-socketio:
                ``max_http_buffer_size``, 1,000,000 bytes by default).

        Both are also python-socketio's own exceptions (``socketio.exceptions.TimeoutError``
        and ``ConnectionError``), so code written for ``AsyncClient.call`` still catches them.
        """
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)
        return runtime.run(
            self._call(event, data, namespace, timeout), timeout + 1, what=f"call {event!r}"
        )

    async def _call(self, event: str, data: Any, namespace: str, timeout: float) -> Any:
        if not self._client.connected:
            raise _errors().closed(f"call {event!r}: {self!r} is not connected")
        answer = asyncio.ensure_future(
            self._client.call(event, data, namespace=namespace, timeout=timeout)
        )
        while not answer.done():
            await asyncio.wait({answer}, timeout=0.05)
            if not answer.done() and not self._client.connected:
                answer.cancel()
                reasons = [args for ns, ev, args in self.received if ev == "disconnect"]
                why = f" ({reasons[-1][0]})" if reasons and reasons[-1] else ""
                raise _errors().closed(
                    f"call {event!r}: the connection closed before the server answered{why}; "
                    "a server drops a client whose message is bigger than it accepts "
                    "(python-socketio: max_http_buffer_size, 1,000,000 bytes by default)"
                )
        try:
            return answer.result()
        except _errors().library_timeout:
            raise _errors().timeout(
                f"call {event!r}: no acknowledgement within {timeout:g} s; does the server's "
                f"handler for {event!r} on {namespace} return a value?"
            ) from None

    def sid(self, namespace: str = "/") -> str | None:
        """This client's socket.io id on ``namespace`` (also the name of its own room)."""
        return self._client.get_sid(namespace)

    @property
    def transport(self) -> str:
        """``"polling"`` or ``"websocket"``: what the connection runs on now."""
        return self._client.transport() or "disconnected"

    @property
    def connected(self) -> bool:
        """True while the client is connected."""
        return bool(self._client.connected)

    def disconnect(self) -> None:
        """Leave every namespace and close the connection (idempotent)."""
        runtime.part(ConnectedClients).clients.discard(self)
        if runtime.is_running:
            runtime.run(_disconnect(self._client, self._http), TIMEOUT, what="disconnecting")

    def __repr__(self) -> str:
        state = self.transport if self.connected else "disconnected"
        return f"<SocketIOClient {self.url} {state}>"


class _CallErrors:
    """The exceptions :meth:`SocketIOClient.call` raises: builtin and python-socketio's."""

    def __init__(self) -> None:
        import socketio

        class CallTimeoutError(socketio.exceptions.TimeoutError, TimeoutError):
            """No acknowledgement in time, while connected."""

        class CallConnectionError(socketio.exceptions.ConnectionError, ConnectionError):
            """The connection ended (or never was) before the acknowledgement came."""

        self.library_timeout = socketio.exceptions.TimeoutError
        self.timeout, self.closed = CallTimeoutError, CallConnectionError


@functools.cache
def _errors() -> _CallErrors:
    return _CallErrors()  # python-socketio is imported on first use, not with kit


async def _browser_like_session() -> Any:
    import aiohttp

    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _disconnect(client: Any, http: Any = None) -> None:
    """Disconnect a python-socketio client without hanging on a long-poll."""
    try:
        # Over polling, python-engineio's disconnect() waits for the pending long-poll
        # GET to return, which the server may hold for a whole ping interval (25 s).
        await asyncio.wait_for(client.disconnect(), DISCONNECT_GRACE)
    except asyncio.TimeoutError:
        await compat.abort_engineio_client(client)  # ends the pending GET, frees its socket
    finally:
        if http is not None and not http.closed:
            await http.close()  # the session is ours: python-engineio leaves it open


class ConnectedClients(Part):
    """The SocketIOClients not disconnected yet; ``kit.stop_all()`` disconnects them first."""

    stop_order = -10

    def __init__(self) -> None:
        self.clients: set[SocketIOClient] = set()

    async def on_stop(self) -> None:
        for client in list(self.clients):
            await _disconnect(client._client, client._http)
        self.clients.clear()
