"""How ``kit.serve`` runs each kind of app on a socket the kit has already bound.

One rule, checked in this order by :func:`adapter_for`:

1. **Anything shaped like a server** runs itself: an object with a ``kind`` (a short
   name), ``async start(sock)`` and ``async stop()`` (:class:`AppAdapter`). The kit's own
   servers are such objects: ``ScratchServer``, ``ChatApp``, a tap's relay.
2. **Otherwise, a kind from the table below**, recognised by its type:

==========================================  ==================  =========================
app                                          served by           stopped by
==========================================  ==================  =========================
``socketio.AsyncServer`` (aiohttp mode)      aiohttp AppRunner   ``shutdown()``, close all
                                                                 engine.io sockets, cleanup
``aiohttp.web.Application``                  aiohttp AppRunner   the same for an attached
                                                                 socket.io server, cleanup
``async def handler(websocket)``             websockets.serve    close (1001), wait closed
==========================================  ==================  =========================

Nothing registers itself at import time: what can be served is decided here, in one place.

aiohttp's runner starts and stops in about a millisecond inside a thread, never calls
``sys.exit`` and never installs signal handlers (``handle_signals=False``), which is why
the kit uses it rather than uvicorn.
"""

from __future__ import annotations

import inspect
import socket
import sys
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from kit import compat
from kit.runtime.errors import UnsupportedAppError
from kit.runtime.hosts import RequestGuard, current_serving, refusal_text
from kit.runtime.logbook import SERVER_LOGGER

__all__ = [
    "AiohttpAdapter",
    "AppAdapter",
    "abort_connections",
    "abort_transports",
    "adapter_for",
    "is_servable",
]

# aiohttp waits this long for open requests (long-polls, websockets) before cancelling
# them; it waits the whole grace period (twice) whenever a WebSocket is open, so keep it
# short: a re-run cell must not pause. Clients were already sent a CLOSE by then.
SHUTDOWN_GRACE = 0.1


class AppAdapter(Protocol):
    """Runs one app on a bound, listening socket: the shape of anything ``kit.serve`` runs.

    ``stop()`` says goodbye to every peer and stops listening. It may wait on peers: a
    peer that does not read never lets a goodbye through. So an app may also have
    ``abort() -> int``: drop every connection at once, without goodbye, and return how
    many it dropped. The kit calls it when ``stop()`` has not finished within its grace
    (``kit.runtime.servers.STOP_GRACE``), which unblocks the writes ``stop()`` waits on.
    """

    kind: str

    async def start(self, sock: socket.socket) -> None: ...

    async def stop(self) -> None: ...


def abort_connections(adapter: object) -> int:
    """Drop every connection ``adapter`` serves (its ``abort()``, if it has one)."""
    abort = getattr(adapter, "abort", None)
    if not callable(abort):
        return 0
    try:
        return int(abort())
    except Exception:  # pragma: no cover - an abort must not stop the stop
        SERVER_LOGGER.exception("aborting the connections of %r failed", adapter)
        return 0


def abort_transports(transports: Iterable[Any]) -> int:
    """``transport.abort()`` each open transport (RST, no flush); how many there were."""
    count = 0
    for transport in transports:
        if transport is not None and not transport.is_closing():
            count += 1
        if transport is not None:
            transport.abort()
    return count


def is_servable(app: object) -> bool:
    """True for an object that runs itself: ``kind``, ``start(sock)`` and ``stop()``."""
    return (
        isinstance(getattr(app, "kind", None), str)
        and inspect.iscoroutinefunction(getattr(app, "start", None))
        and inspect.iscoroutinefunction(getattr(app, "stop", None))
    )


_GUARDS: dict[int, tuple[RequestGuard, bool]] = {}
"""The Host check of each aiohttp server the kit runs, and whether it speaks TLS, by the
port it listens on."""


def _guard_middleware() -> Any:
    """The aiohttp middleware that checks ``Host`` (see :mod:`kit.runtime.hosts`)."""
    global _MIDDLEWARE
    if _MIDDLEWARE is None:
        from aiohttp import web

        @web.middleware
        async def kit_host_check(request: Any, handler: Any) -> Any:
            sockname = request.transport.get_extra_info("sockname") if request.transport else None
            guard, tls = _GUARDS.get(sockname[1], (None, False)) if sockname else (None, False)
            error = guard.refusal(request.headers) if guard is not None else None
            if error is not None:
                status, reason, body = refusal_text(error)
                SERVER_LOGGER.info("refused %s %s: %s", request.method, request.path_qs, error)
                return web.Response(status=status, reason=reason, text=body)
            if tls:
                # python-engineio's aiohttp driver takes the scheme from X-Forwarded-Proto
                # only, else "http": its same-origin check would compare an https page's
                # Origin with http://HOST and refuse it. The kit terminates TLS itself, so
                # it says so (and overrides whatever a client sent in that header).
                headers = request.headers.copy()
                headers["X-Forwarded-Proto"] = "https"
                request = request.clone(headers=headers)
            return await handler(request)

        _MIDDLEWARE = kit_host_check
    return _MIDDLEWARE


_MIDDLEWARE: Any = None


def install_host_check(app: Any) -> None:
    """Put the kit's Host check in front of every route of ``app`` (once per app).

    Raises:
        UnsupportedAppError: ``app`` already ran elsewhere without it (its middleware
            list is frozen): make a fresh ``web.Application()`` for the kit.
    """
    middleware = _guard_middleware()
    if middleware in app.middlewares:
        return
    try:
        app.middlewares.append(middleware)
    except RuntimeError:
        raise UnsupportedAppError(
            app,
            "this aiohttp app was already started outside the kit, so the kit cannot add "
            "its Host check; make a fresh web.Application() for kit.serve",
        ) from None


class AiohttpAdapter:
    """An ``aiohttp.web.Application``."""

    kind = "aiohttp"

    def __init__(
        self, app: Any, options: dict[str, Any], *, handler_cancellation: bool = False
    ) -> None:
        _no_options(app, options)
        self.app = app
        self.handler_cancellation = handler_cancellation
        """Cancel a request's handler when its client goes away (aiohttp's option, off by
        default): a kit app that holds requests open (long-polls, event streams) sets it."""
        self._runner: Any = None
        self._web: Any = None  # aiohttp's low-level server: its .connections, until stopped
        self._port: int | None = None

    async def start(self, sock: socket.socket) -> None:
        from aiohttp import web

        for eio in _attached_engineio_servers(self.app):
            route_engineio_logs(eio)
        serving = current_serving(sock)
        install_host_check(self.app)
        self._port = sock.getsockname()[1]
        _GUARDS[self._port] = (serving.guard, serving.ssl is not None)
        self._runner = web.AppRunner(
            self.app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=SHUTDOWN_GRACE,
            logger=SERVER_LOGGER,  # "Error handling request" goes to server.errors
            handler_cancellation=self.handler_cancellation,
        )
        await self._runner.setup()
        self._web = self._runner.server
        await web.SockSite(self._runner, sock, ssl_context=serving.ssl).start()

    def abort(self) -> int:
        """Drop every HTTP connection (long-polls and WebSockets included) at once."""
        if self._web is None:
            return 0
        return abort_transports(handler.transport for handler in self._web.connections)

    @property
    def socketio(self) -> bool:
        """True when a socket.io server is attached to this app (``sio.attach(app)``)."""
        return bool(_attached_engineio_servers(self.app))

    async def stop(self) -> None:
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        tls = self._port is not None and _GUARDS.get(self._port, (None, False))[1]
        try:
            # A socket.io server attached to this app (sio.attach(app)) is shut down
            # first, as if it had been served on its own.
            for eio in _attached_engineio_servers(self.app):
                await _stop_engineio(eio)
        finally:
            open_now = [h.transport for h in self._web.connections] if self._web else []
            await runner.cleanup()
            if tls:
                # Closing a TLS connection waits for the peer's close_notify (asyncio
                # gives it 30 s); a peer that does not answer would keep its socket
                # open that long. Goodbyes were said: drop what is left.
                abort_transports(open_now)
            self._web = None
            if self._port is not None:
                _GUARDS.pop(self._port, None)


def _attached_engineio_servers(app: Any) -> list[Any]:
    """The python-engineio servers whose request handler is routed in ``app``."""
    found: list[Any] = []
    engineio = sys.modules.get("engineio")
    if engineio is None:
        return found
    for route in app.router.routes():
        owner = getattr(route.handler, "__self__", None)
        if isinstance(owner, engineio.AsyncServer) and owner not in found:
            found.append(owner)
    return found


async def _stop_engineio(eio: Any) -> None:
    """Stop heartbeats and send every client an engine.io CLOSE packet."""
    try:
        # Stop the ping/timeout service task, unless a lesson already did: a second
        # python-engineio shutdown() awaits a task handle it has set to None.
        if not compat.engineio_service_stopped(eio):
            await eio.shutdown()
        # Not eio.disconnect(): it waits until each client has *fetched* the CLOSE
        # packet, forever for a polling client that stopped polling.
        reason = getattr(getattr(eio, "reason", None), "SERVER_DISCONNECT", None)
        for client in list(eio.sockets.values()):
            await client.close(wait=False, reason=reason)
        eio.sockets = {}
    finally:
        # Let the same server be served again after a re-run.
        compat.rearm_engineio_service(eio)


def route_engineio_logs(server: Any) -> None:
    """Send a python-engineio or python-socketio server's log to the kit's log book.

    Both libraries default to a module logger with a ``StreamHandler`` on stderr, which in a
    kernel prints a handler's traceback under whatever cell the runtime thread points at.
    A logger the user passed (``AsyncServer(logger=my_logger)``) is left alone.
    """
    import logging

    default = logging.getLogger(f"{type(server).__module__.split('.')[0]}.server")
    if getattr(server, "logger", None) is default:
        server.logger = SERVER_LOGGER


class SocketIOAdapter(AiohttpAdapter):
    """A python-socketio ``AsyncServer``, attached to a fresh aiohttp app each time."""

    kind = "socketio"

    def __init__(self, sio: Any, options: dict[str, Any]) -> None:
        from aiohttp import web

        _no_options(sio, options)
        mode = getattr(sio, "async_mode", None)
        if mode != "aiohttp":
            raise UnsupportedAppError(
                sio,
                f"this AsyncServer uses async_mode={mode!r}; the kit serves it with aiohttp, "
                "so create it as socketio.AsyncServer(async_mode='aiohttp')",
            )
        app = web.Application()
        sio.attach(app)
        route_engineio_logs(sio)
        super().__init__(app, {})
        self.sio = sio


class WebSocketsAdapter:
    """A ``websockets`` connection handler: ``async def handler(websocket)``."""

    kind = "websockets"

    def __init__(self, handler: Callable[..., Any], options: dict[str, Any]) -> None:
        self.handler, self.options = handler, options
        self._server: Any = None
        self._connections: Any = None  # the websockets server, for abort() while stopping

    async def start(self, sock: socket.socket) -> None:
        from websockets.asyncio.server import serve

        serving = current_serving(sock)
        options = {"logger": SERVER_LOGGER, **self.options}  # "connection handler failed"
        options["process_request"] = _checking_host(serving.guard, options.get("process_request"))
        if serving.ssl is not None:
            options["ssl"] = serving.ssl
        self._server = self._connections = await serve(self.handler, sock=sock, **options)

    def abort(self) -> int:
        """Drop every WebSocket connection at once, without a closing handshake."""
        if self._connections is None:
            return 0
        return abort_transports(compat.websockets_server_transports(self._connections))

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            try:
                server.close()  # closes every connection with 1001 (going away)
                await server.wait_closed()
            finally:
                self._connections = None


def _checking_host(guard: RequestGuard, theirs: Any) -> Any:
    """websockets' ``process_request``: the Host check, then the user's own, if any."""

    async def check_host_then_theirs(connection: Any, request: Any) -> Any:
        error = guard.refusal(request.headers)
        if error is not None:
            status, _reason, body = refusal_text(error)
            return connection.respond(status, body)
        if theirs is None:
            return None
        response = theirs(connection, request)
        return await response if inspect.isawaitable(response) else response

    return check_host_then_theirs


def _no_options(app: object, options: dict[str, Any]) -> None:
    if options:
        names = ", ".join(sorted(options))
        raise UnsupportedAppError(
            app,
            f"server options ({names}) apply to websockets handlers only; configure "
            "this app itself instead",
        )


def _is_instance(app: object, module: str, qualname: str) -> bool:
    # Only look at libraries already imported: an app of a library nobody imported
    # cannot exist, and `import kit` stays fast.
    if module not in sys.modules:
        return False
    target: Any = sys.modules[module]
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            return False
    return isinstance(app, target)


def _is_handler(app: object) -> bool:
    # A coroutine function, or an object whose class defines `async def __call__`.
    return inspect.iscoroutinefunction(app) or (
        callable(app) and inspect.iscoroutinefunction(type(app).__call__)
    )


def _check_handler_signature(app: Callable[..., Any]) -> None:
    try:
        params = inspect.signature(app).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - builtins have no signature
        return
    required = [
        p
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(required) != 1:
        names = ", ".join(p.name for p in required) or "nothing"
        raise UnsupportedAppError(
            app,
            f"a websockets handler takes exactly one argument, the connection, but this one "
            f"needs {names}; (websocket, path) is the legacy form: drop path and read "
            "websocket.request.path",
        )


def adapter_for(app: object, options: dict[str, Any]) -> AppAdapter:
    """Pick the adapter for ``app``, or raise :class:`UnsupportedAppError` saying why."""
    if is_servable(app):
        _no_options(app, options)
        return app  # type: ignore[return-value]
    if _is_instance(app, "socketio", "AsyncServer"):
        return SocketIOAdapter(app, options)
    if _is_instance(app, "aiohttp.web", "Application"):
        return AiohttpAdapter(app, options)
    if _is_instance(app, "socketio", "Server"):
        raise UnsupportedAppError(
            app,
            "this is the synchronous socketio.Server; the kit runs "
            "socketio.AsyncServer(async_mode='aiohttp')",
        )
    if _is_handler(app):
        _check_handler_signature(app)  # type: ignore[arg-type]
        return WebSocketsAdapter(app, options)  # type: ignore[arg-type]
    if callable(app):
        raise UnsupportedAppError(
            app, "a websockets handler must be a coroutine function: `async def handler(ws)`"
        )
    raise UnsupportedAppError(app)
