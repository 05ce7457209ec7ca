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

Like a browser's socket.io client, by default the client reconnects when the network
drops (``reconnection=False`` turns that off): it tries again, waiting longer after each
failure (python-socketio's backoff: ``reconnection_delay``, doubled each time up to
``reconnection_delay_max``, plus or minus up to ``randomization_factor`` *seconds* of
jitter; the JS client multiplies by 1 ± that factor instead). :attr:`state` says where it
is: ``connecting``, ``connected``, ``reconnecting 2`` (the second attempt is under way),
``gave up`` or ``disconnected``.
A reconnect is a new session: a new sid, no rooms (the server forgot them), and what was
emitted meanwhile was refused (:meth:`emit` raises while not connected).

Every attempt ends with the kit: :meth:`disconnect`, ``kit.stop_all()`` and interpreter
exit stop it, and so does stopping the kit server (or tap, or ``kit.chat_process``) the
client is aimed at, re-serving under the same name included: a re-run cell serves on a
new port, and nobody would ever answer on the old one. A drop the kit did not cause (a
tap's ``cut()``, a server that crashed or was restarted outside the kit) is retried.

Why this module is long: python-socketio's client needs a keeper on the runtime thread
for each of its moods (connecting with bounded steps, reconnecting with a state a panel can
show, and disconnecting without hanging on a long-poll), and they share their state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Sequence
from ssl import SSLContext
from typing import Any

from kit import compat
from kit.runtime import cells
from kit.runtime.logbook import CLIENT_LOGGER
from kit.runtime.loop import Part, runtime
from kit.runtime.servers import Server
from kit.runtime.tls import client_context

__all__ = ["SocketIOClient"]

TIMEOUT = 5.0
DISCONNECT_GRACE = 0.5
GIVE_UP_GRACE = 2.0
"""Seconds :meth:`SocketIOClient.disconnect` waits for a reconnection attempt under way."""


def _check_backoff(
    attempts: object, delay: object, delay_max: object, factor: object
) -> tuple[int, float, float, float]:
    """The reconnection options, or a ``ValueError`` naming the one that is wrong."""
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        raise ValueError(
            f"reconnection_attempts is a whole number, 0 or more (0: never give up), "
            f"not {attempts!r}"
        )
    seconds = []
    for name, value in (("reconnection_delay", delay), ("reconnection_delay_max", delay_max)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} is a number of seconds, more than 0, not {value!r}")
        seconds.append(float(value))
    if seconds[1] < seconds[0]:
        raise ValueError(
            f"reconnection_delay_max={delay_max!r} is shorter than reconnection_delay={delay!r}"
        )
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 <= factor <= 1:
        raise ValueError(f"randomization_factor is a number from 0 to 1, not {factor!r}")
    return attempts, seconds[0], seconds[1], float(factor)


class SocketIOClient:
    """A socket.io client on the kit's runtime thread.

    Args:
        url: the server (``server.url`` of a kit server, or a tap's ``url``).
        namespaces: the namespaces to connect to, e.g. ``["/post", "/get"]`` (default ``/``).
        transports: ``["polling", "websocket"]`` (the default: poll, then upgrade),
            ``["websocket"]`` or ``["polling"]``.
        auth: the CONNECT packet's payload, if the server wants one (a dict, such as
            ``{"token": "..."}``: the server's connect handler gets it as ``auth``), or a
            function returning one, called before every connect and reconnect (what a
            client that resumes uses: its last offset changes).
        headers: extra HTTP headers for the requests that open the connection, e.g.
            ``{"Origin": "http://127.0.0.1:5500"}`` to play a page from that origin.
        ssl: for ``https://``, the ``ssl.SSLContext`` to verify the server with; by
            default the system's authorities plus the kit's local CA
            (:func:`kit.runtime.tls.client_context`).
        timeout: seconds for each step of connecting: the engine.io handshake request,
            then the namespaces' CONNECT answers. A step that takes longer fails with
            python-socketio's own ``ConnectionError``. It is also python-engineio's
            ``request_timeout`` for the HTTP requests that send over long-polling.
        listener: ``listener(namespace, event, args)`` for everything received, from the
            first packet on (see :meth:`add_listener`).
        reconnection: try again after the connection drops (on by default, as in the JS
            client; stopping the kit server the client is aimed at ends the attempts).
        reconnection_attempts: give up after this many failed attempts (0: never).
        reconnection_delay, reconnection_delay_max: the first wait, in seconds, and the
            longest (python-socketio's defaults, like the JS client's: 1 and 5).
        randomization_factor: the jitter, from 0 to 1 (see the module's notes).

    Raises:
        ConnectionRefusedError: the server's connect handler refused the connection; the
            message carries its reason (the ``connect_error`` data). It is also
            python-socketio's ``socketio.exceptions.ConnectionError``.
    """

    def __init__(
        self,
        url: Server | str,
        *,
        namespaces: Sequence[str] | None = None,
        transports: Sequence[str] | None = None,
        auth: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
        timeout: float = TIMEOUT,
        listener: Callable[[str, str, list[Any]], object] | None = None,
        headers: dict[str, str] | None = None,
        ssl: SSLContext | None = None,
        reconnection: bool = True,
        reconnection_attempts: int = 0,
        reconnection_delay: float = 1.0,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
    ) -> None:
        import socketio

        attempts, delay, delay_max, factor = _check_backoff(
            reconnection_attempts, reconnection_delay, reconnection_delay_max, randomization_factor
        )
        self.url = url.url if isinstance(url, Server) else url
        self._namespaces = list(namespaces) if namespaces else ["/"]
        self.reconnection = bool(reconnection)
        self.attempts = 0
        """Reconnection attempts that failed since the connection last dropped."""
        self.reconnects = 0
        """How many times the client connected again after a drop."""
        self._phase = "connecting"  # connecting, connected, reconnecting, gave up, disconnected
        self.received: list[tuple[str, str, list[Any]]] = []
        """(namespace, event, arguments) for every event the server sent, in order."""
        self._sending: set[asyncio.Future[Any]] = set()
        self._taken: set[int] = set()  # positions in `received` that wait_for returned
        self._cond = threading.Condition()
        # A listener given here hears everything, even what the server sends on connect.
        self._listeners: list[Callable[[str, str, list[Any]], object]] = (
            [listener] if listener is not None else []
        )
        # A cookie jar like a browser's, made on the runtime loop where it is used; for
        # https:// its connector verifies with the kit's trust (the system's authorities
        # plus the local CA), for the polling requests and the WebSocket alike.
        context = None
        if self.url.startswith("https://"):
            context = ssl if ssl is not None else client_context()
        self._http = runtime.run(_browser_like_session(context), TIMEOUT, what="an HTTP session")
        # handle_sigint=False: python-socketio would otherwise replace the kernel's
        # SIGINT handler (the notebook's stop button) with its own.
        self._client = socketio.AsyncClient(
            reconnection=self.reconnection,
            reconnection_attempts=attempts,
            reconnection_delay=delay,
            reconnection_delay_max=delay_max,
            randomization_factor=factor,
            handle_sigint=False,
            http_session=self._http,
            logger=CLIENT_LOGGER,  # never python-socketio's own stderr handler
            engineio_logger=CLIENT_LOGGER,
            request_timeout=timeout,
        )
        self._client.on("*", self._record, namespace="*")
        self._client.on("connect", self._connected, namespace="*")
        self._client.on("disconnect", self._disconnected, namespace="*")
        self._client.on("connect_error", self._connect_failed, namespace="*")
        self._client.on(compat.SOCKETIO_FINAL_DISCONNECT, self._gave_up, namespace="*")
        runtime.part(ConnectedClients).clients.add(self)
        try:
            runtime.run(
                _connect(
                    self._client,
                    2 * timeout + DISCONNECT_GRACE,
                    self.url,
                    namespaces=list(namespaces) if namespaces else None,
                    transports=list(transports) if transports else None,
                    auth=auth,
                    headers=headers or {},
                    wait_timeout=timeout,
                ),
                2 * timeout + DISCONNECT_GRACE + TIMEOUT,
                what=f"connecting a socket.io client to {self.url}",
            )
        except BaseException as error:
            runtime.part(ConnectedClients).clients.discard(self)
            runtime.run(_disconnect(self._client, self._http), TIMEOUT)
            refusals = [(ns, args) for ns, ev, args in self.received if ev == "connect_error"]
            if refusals and isinstance(error, Exception):
                namespace, args = refusals[-1]
                why = args[0] if args else None
                if isinstance(why, dict):
                    why = why.get("message", why)
                # None: refused by HTTP before any socket.io packet (a 400 for an Origin
                # that is not accepted, a 403 for a Host): python-engineio's own error,
                # naming the status, is raised as it is.
                if why is not None:
                    raise _errors().refused(
                        f"the server refused the connection to {namespace}: {why}"
                    ) from error
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
        if self._phase == "reconnecting":
            self.reconnects += 1
        self._phase, self.attempts = "connected", 0
        self._append(namespace, "connect", list(data))

    async def _disconnected(self, namespace: str, *reason: Any) -> None:
        # python-socketio reconnects after the transport dropped, not after a DISCONNECT
        # packet (the server or this client said goodbye); it tells `_gave_up` then.
        if self._phase == "connected":  # `disconnect()` switches python-socketio's flag off
            self._phase = "reconnecting" if self._client.reconnection else "disconnected"
        self._append(namespace, "disconnect", [str(r) for r in reason])

    async def _connect_failed(self, namespace: str, *data: Any) -> None:
        # CONNECT_ERROR: the server's connect handler said no; data is {"message": why}.
        # While reconnecting, also an attempt that could not reach the server.
        # Once connected, a "connect_error" is only an event a server chose to emit with
        # a reserved name: python-socketio runs this handler for it too; ignore it, as a
        # client without such a handler does.
        if namespace in self._client.namespaces:
            return
        if self._phase == "reconnecting":
            self.attempts += 1
        self._append(namespace, "connect_error", list(data))

    async def _gave_up(self, namespace: str, *_: Any) -> None:
        # python-socketio's "final" disconnect: after the last failed attempt, or at once
        # when the server said goodbye (no attempt was made: nothing to give up on).
        if self._phase == "reconnecting" and self.attempts:
            self._phase = "gave up"
            self._append(namespace, "gave up", [self.attempts])
        elif self._phase in ("connected", "reconnecting"):
            self._phase = "disconnected"
        with self._cond:
            self._cond.notify_all()

    @property
    def state(self) -> str:
        """``connecting``, ``connected``, ``reconnecting n`` (attempt n is under way),
        ``gave up`` (after ``reconnection_attempts`` failures) or ``disconnected``."""
        # A server may emit a fake "disconnect": trust the connection, not the events. (It
        # has namespaces before python-socketio sets `connected`, after the connect event.)
        if self._client.connected or compat.socketio_client_has_namespaces(self._client):
            return "connected"
        if self._phase == "reconnecting":
            return f"reconnecting {self.attempts + 1}"
        return "disconnected" if self._phase == "connected" else self._phase

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
        """Send ``event`` with ``args``; returns once it is handed to the transport.

        Raises:
            ConnectionError: the client is not connected (say, ``reconnecting 1``):
                python-socketio keeps nothing for later, unlike the JS client's send
                buffer. Also python-socketio's ``BadNamespaceError``.
        """
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)
        try:
            runtime.run(
                self._client.emit(event, data, namespace=namespace),
                TIMEOUT,
                what=f"emit {event!r}",
            )
        except _errors().bad_namespace as error:
            if namespace in self._namespaces:  # a namespace this client did connect to
                raise _errors().not_sent(
                    f"emit {event!r}: not sent, the client is {self.state} ({error}); "
                    "python-socketio keeps nothing for later: send it again once connected"
                ) from None
            raise

    def emit_soon(
        self,
        event: str,
        *args: Any,
        namespace: str = "/",
        callback: Callable[..., Any] | None = None,
    ) -> None:
        """Send ``event`` without waiting: safe inside a listener, on the runtime thread.

        A listener (see :meth:`add_listener`) runs on the kit's runtime thread, where the
        blocking :meth:`emit` would wait for itself; this schedules the emit and returns.
        A ``callback`` asks for an ack and gets ``callback(*answer)`` on the runtime thread.
        """
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)

        def start() -> None:
            sending = self._client.emit(event, data, namespace=namespace, callback=callback)
            task = asyncio.ensure_future(sending)
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

        runtime.call_soon(start)

    def call_soon(
        self,
        event: str,
        *args: Any,
        namespace: str = "/",
        timeout: float = TIMEOUT,
        then: Callable[[Any], object] | None = None,
    ) -> None:
        """:meth:`call` without waiting: safe inside a listener, on the runtime thread.

        ``then(answer)`` runs on the runtime thread with what the server acked, or with
        the exception that ended the call (no answer within ``timeout``, a drop).
        """
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)

        async def ask() -> None:
            try:
                answer = await self._client.call(event, data, namespace=namespace, timeout=timeout)
            except Exception as error:  # handed to `then`, which decides what it means
                answer = error
            if then is not None:
                then(answer)

        def start() -> None:
            task = asyncio.ensure_future(ask())
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

    async def acall(self, event: str, data: Any, *, namespace: str = "/", timeout: float) -> Any:
        """:meth:`call` for code on the runtime loop; python-socketio's errors as they are."""
        return await self._client.call(event, data, namespace=namespace, timeout=timeout)

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
        """Leave every namespace and close the connection (idempotent).

        Reconnection attempts stop too: a client that was reconnecting stays disconnected.
        """
        self._phase = "disconnected"
        runtime.part(ConnectedClients).clients.discard(self)
        if runtime.is_running:
            runtime.run(_disconnect(self._client, self._http), TIMEOUT, what="disconnecting")

    def __repr__(self) -> str:
        state = self.transport if self.connected else "disconnected"
        if not self.connected and self._phase in ("reconnecting", "gave up"):
            state = self.state
        return f"<SocketIOClient {self.url} {state}>"


class _CallErrors:
    """The exceptions :meth:`SocketIOClient.call` raises: builtin and python-socketio's."""

    def __init__(self) -> None:
        import socketio

        class CallTimeoutError(socketio.exceptions.TimeoutError, TimeoutError):
            """No acknowledgement in time, while connected."""

        class CallConnectionError(socketio.exceptions.ConnectionError, ConnectionError):
            """The connection ended (or never was) before the acknowledgement came."""

        class ConnectRefusedError(socketio.exceptions.ConnectionError, ConnectionRefusedError):
            """The server's connect handler refused the connection (``connect_error``)."""

        class NotSentError(socketio.exceptions.BadNamespaceError, ConnectionError):
            """An emit while disconnected: python-socketio sends nothing and keeps nothing."""

        self.bad_namespace = socketio.exceptions.BadNamespaceError
        self.not_sent = NotSentError

        self.library_timeout = socketio.exceptions.TimeoutError
        self.timeout, self.closed = CallTimeoutError, CallConnectionError
        self.refused = ConnectRefusedError


@functools.cache
def _errors() -> _CallErrors:
    return _CallErrors()  # python-socketio is imported on first use, not with kit


async def _browser_like_session(context: SSLContext | None = None) -> Any:
    """An aiohttp session that keeps cookies like a browser, verifying TLS with ``context``."""
    import aiohttp

    connector = aiohttp.TCPConnector(ssl=context) if context is not None else None
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), connector=connector)


async def _connect(client: Any, give_up_after: float, url: str, **options: Any) -> None:
    """python-socketio's ``connect()``, never stuck in its own clean-up.

    Both steps of connecting are bounded by python-socketio: the handshake request by
    ``request_timeout``, the namespaces' answers by ``wait_timeout``. When a namespace
    does not answer in time, ``connect()`` disconnects before it raises, and over
    long-polling that waits for the pending GET, which a server may hold for a whole ping
    interval (25 s): behind a round-robin balancer the GET can reach the server that knows
    the session while the CONNECT went to one that does not. So once both bounds have
    passed, the pending request is ended, and python-socketio raises its own
    ``ConnectionError`` at once.
    """
    connecting = asyncio.ensure_future(client.connect(url, **options))
    done, _ = await asyncio.wait({connecting}, timeout=give_up_after)
    if not done:
        await compat.abort_engineio_client(client)
    await connecting


async def _disconnect(client: Any, http: Any = None) -> None:
    """Disconnect a python-socketio client without hanging on a long-poll.

    A client that is between reconnection attempts is told to stop (``shutdown()``); an
    attempt under way gets ``GIVE_UP_GRACE`` seconds, then it is cancelled.
    """
    await _stop_reconnecting(client)  # a drop from now on is final
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

    async def on_server_stopping(self, netloc: str) -> None:
        # The server these clients are aimed at goes for good: the coming drop is final
        # (a client already between attempts stops trying).
        for client in [c for c in self.clients if _same_place(c.url, netloc)]:
            await _stop_reconnecting(client._client)


_LOOPBACK_NAMES = {"localhost": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def _same_place(url: str, netloc: str) -> bool:
    """True when ``url`` (``http://localhost:8000/...``) reaches ``netloc`` (``127.0.0.1:8000``)."""
    from urllib.parse import urlsplit

    try:
        mine, theirs = urlsplit(url), urlsplit(f"//{netloc}")
        if mine.port is None or mine.port != theirs.port:
            return False
    except ValueError:
        return False
    host = mine.hostname or ""
    other = theirs.hostname or ""
    return _LOOPBACK_NAMES.get(host, host) == _LOOPBACK_NAMES.get(other, other)


async def _stop_reconnecting(client: Any) -> None:
    """Make the next drop of ``client`` final, and end attempts already under way."""
    client.reconnection = False
    if not client.connected:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(client.shutdown(), GIVE_UP_GRACE)
