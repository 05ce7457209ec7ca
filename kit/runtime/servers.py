"""``kit.serve``: start a real server inside the kernel, safely, again and again.

>>> import kit
>>> async def echo(ws):
...     async for message in ws:
...         await ws.send(message)
>>> server = kit.serve(echo, name="echo")
>>> server.url                                      # doctest: +SKIP
'http://127.0.0.1:40123'

Rules the kit keeps for you:

- it binds ``127.0.0.1`` and port ``0`` (the system picks a free port) unless told otherwise;
- a server started under a name replaces the earlier server of that name, and a server
  started without a name replaces the one the same cell started on its previous run, so
  re-running a cell never fails with "address already in use" and never leaks a server;
- a busy fixed port raises :class:`~kit.runtime.errors.PortInUseError` in the cell;
- every server runs on the kit's runtime thread and is stopped by ``server.stop()``,
  ``kit.stop_all()`` or, at the latest, when the interpreter exits;
- while servers run, the garbage collector's full collections are rarer and skip what
  the process held when its first server started (:mod:`kit.runtime.collector`), so they
  do not stall the servers and the waiting cell for tenths of a second.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import itertools
import socket
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterable
from typing import Any

from kit.runtime import cells, collector
from kit.runtime.adapters import AppAdapter, abort_connections, adapter_for
from kit.runtime.errors import PortInUseError, ServeError, UnsafeHostError
from kit.runtime.hosts import SERVING, RequestGuard, Serving, allowed_hosts_for
from kit.runtime.links import Link, browser_url, link_for
from kit.runtime.logbook import LogEntry, new_log
from kit.runtime.loop import TASK_OWNER, Part, runtime
from kit.runtime.tls import ServerCertificate, TLSOption, server_context
from kit.wire.hosts import HostAllowList

__all__ = ["Server", "running_servers", "serve", "serve_async", "stop", "stop_all"]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
STOP_GRACE = 0.4
"""Seconds a server gets to say goodbye (CLOSE frames, engine.io CLOSE packets) before
the connections still open are dropped. A peer that does not read can hold a goodbye up
forever (the write waits for room in a full socket buffer): a stop never waits for it."""


class _Owner:
    """The tag on a server's tasks (weakly referenced by the runtime's task table).

    It also holds the server's log: records logged from the server's tasks (a handler
    that raised, a refused request) are filed here by :mod:`kit.runtime.logbook`.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.log: deque[LogEntry] = new_log()

    def __repr__(self) -> str:
        return f"<tasks of server {self.name!r}>"


class Server:
    """A running kit server: where to reach it, and how to stop it.

    Attributes:
        name: the registry name (``kit.serve(..., name="chat")``) or an automatic one.
        kind: ``"socketio"``, ``"aiohttp"``, ``"websockets"``, ``"scratch"`` or ``"tap"``.
        socketio: True when clients talk socket.io to it.
        host, port: what the listening socket is bound to (the real port, never 0).
        url: ``http://127.0.0.1:PORT`` (``https://`` with TLS), for HTTP and socket.io
            clients.
        ws_url: ``ws://127.0.0.1:PORT`` (``wss://`` with TLS), for WebSocket clients.
        tls: True when the server speaks TLS (``kit.serve(..., tls=...)``).
        certificate: the certificate the kit made for it (``tls=True``), else None.
        allowed_hosts: the names it answers to (the ``Host`` check, see
            :mod:`kit.runtime.hosts`).
    """

    def __init__(
        self,
        name: str,
        app: object,
        adapter: AppAdapter,
        host: str,
        port: int,
        owner: _Owner,
        *,
        serving: Serving | None = None,
        certificate: ServerCertificate | None = None,
    ) -> None:
        self.name, self.app, self.host, self.port = name, app, host, port
        self.tls = serving is not None and serving.ssl is not None
        self.certificate = certificate
        self._guard = serving.guard if serving is not None else None
        self.kind = adapter.kind
        self.socketio: bool = bool(getattr(adapter, "socketio", False))
        """True when clients talk socket.io to it (a socket.io server, or an app with one)."""
        self._adapter = adapter
        self._running = True
        self._owner = owner
        self.serial = next(_registry().serials)
        """This server's place in the order servers were started (1, 2, 3...)."""
        shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        netloc = f"[{shown}]:{port}" if ":" in shown else f"{shown}:{port}"
        secure = "s" if self.tls else ""
        self._netloc = netloc
        self.url = f"http{secure}://{netloc}"
        self.ws_url = f"ws{secure}://{netloc}"

    @property
    def allowed_hosts(self) -> list[str]:
        """The names this server answers to (any port); ``["*"]`` when it answers all."""
        if self._guard is None:
            return ["*"]
        return ["*"] if self._guard.hosts.any_name else self._guard.hosts.shown

    @property
    def running(self) -> bool:
        """True until the server has been stopped."""
        return self._running

    @property
    def browser_url(self) -> str:
        """Where a browser reaches this server: ``url``, or a proxied address on JupyterHub.

        See :mod:`kit.runtime.links`.
        """
        return browser_url(
            self.port,
            self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1",
            scheme="https" if self.tls else "http",
        )

    def link(self, text: str = "open it in your browser") -> Link:
        """A clickable link to :attr:`browser_url`, for the last line of a cell."""
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        return link_for(self.port, text, host, scheme="https" if self.tls else "http")

    @property
    def log(self) -> list[LogEntry]:
        """What the libraries running this server logged (warnings and errors), oldest first.

        Nothing a server logs is printed into a cell (see :mod:`kit.runtime.logbook`).
        """
        return list(self._owner.log)

    @property
    def errors(self) -> list[LogEntry]:
        """The errors in :attr:`log`: a handler of yours that raised shows up here.

        >>> server.errors[-1]                                  # doctest: +SKIP
        LogEntry(ERROR connection handler failed: ZeroDivisionError: division by zero)
        >>> print(server.errors[-1].traceback)                 # doctest: +SKIP
        """
        return [entry for entry in self._owner.log if entry.is_error]

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop serving and close every connection; calling it again does nothing."""
        if self._running and runtime.is_running:
            runtime.run(self.stop_async(), timeout, what=f"stopping {self!r}")
        self._running = False

    async def stop_async(self) -> None:
        """The async twin of :meth:`stop`."""
        if not self._running:
            return
        self._running = False
        _forget(self)
        await runtime.run_async(self._stop_on_loop())

    async def _stop_on_loop(self) -> None:
        """Stop politely for :data:`STOP_GRACE` seconds, then drop whoever is left.

        Nothing a peer does can make this take much longer than twice the grace, and
        nothing here raises: what went wrong is filed in :attr:`log`.
        """
        # First, so that a client of this server that reconnects on its own takes the
        # coming drop as final instead of trying a dead port forever.
        await runtime.server_stopping(self._netloc)
        stopping = asyncio.ensure_future(self._adapter.stop())
        try:
            done, _ = await asyncio.wait({stopping}, timeout=STOP_GRACE)
            if not done:
                # Someone is not reading: their goodbye cannot be delivered. Drop every
                # connection of this server, which unblocks the writes stop() waits on.
                dropped = abort_connections(self._adapter)
                self._file(
                    "WARNING",
                    f"stop: goodbyes not delivered within {STOP_GRACE:g} s "
                    f"(a peer is not reading); dropped {dropped} connection(s)",
                )
                done, _ = await asyncio.wait({stopping}, timeout=STOP_GRACE)
            if not done:
                stopping.cancel()
                await asyncio.wait({stopping}, timeout=STOP_GRACE)
                self._file("WARNING", "stop: the app's stop() did not finish; cancelled")
            elif stopping.exception() is not None:
                error = stopping.exception()
                self._file("ERROR", f"stop: {type(error).__name__}: {error}", error)
        finally:
            # Whatever the library left running for this server (a heartbeat sleeping
            # 25 s, a handler that ignores the close) is cancelled now, not later.
            await runtime.cancel_owned(self._owner)

    def _file(self, level: str, message: str, error: BaseException | None = None) -> None:
        """Put a line in this server's log (never printed; see :attr:`log`)."""
        self._owner.log.append(LogEntry(time.time(), level, "kit.server", message, error))

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        errors = len(self.errors)
        problems = f", {errors} error{'s' * (errors != 1)} in .errors" if errors else ""
        return f"<Server {self.name!r} {self.kind} {self.url} {state}{problems}>"


class ServerRegistry(Part):
    """The servers the kit runs (by name) and the ones it ran lately, for the process."""

    stop_order = 10  # after the clients (-10): they say goodbye first

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.running: dict[str, Server] = {}
        self.serials = itertools.count(1)
        self.history: deque[Server] = deque(maxlen=100)  # recently started, running or not
        self.unnamed = itertools.count(1)
        self.cell_runs: dict[str, tuple[str, itertools.count[int]]] = {}

    async def on_stop(self) -> None:
        for server in reversed(running_servers()):
            await server.stop_async()


def _registry() -> ServerRegistry:
    return runtime.part(ServerRegistry)


def running_servers() -> list[Server]:
    """Every server the kit is running now, oldest first."""
    registry = _registry()
    with registry.lock:
        return list(registry.running.values())


def started_count() -> int:
    """The serial of the last server started (0 before the first)."""
    registry = _registry()
    with registry.lock:
        return registry.history[-1].serial if registry.history else 0


def servers_started_after(serial: int) -> list[Server]:
    """The recent servers (running or stopped) whose serial is above ``serial``."""
    registry = _registry()
    with registry.lock:
        return [server for server in registry.history if server.serial > serial]


def _forget(server: Server) -> None:
    registry = _registry()
    with registry.lock:
        if registry.running.get(server.name) is server:
            del registry.running[server.name]


def _default_name() -> str:
    """Name an unnamed server after the cell that starts it (and its place in that cell)."""
    registry = _registry()
    parent = cells.current_parent()
    key = cells.cell_key(parent)
    if key is None or parent is None:
        return f"server-{next(registry.unnamed)}"
    run_id = (parent.get("header") or {}).get("msg_id") or str(id(parent))
    with registry.lock:
        last_run, ordinal = registry.cell_runs.get(key, (None, None))
        if last_run != run_id or ordinal is None:
            ordinal = itertools.count()
            registry.cell_runs[key] = (run_id, ordinal)
        return f"{key} #{next(ordinal)}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_port(port: object) -> None:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int (0: any free port), not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ServeError(
            f"port {port} is out of range: a TCP port is 0-65535 (0, the default, lets the "
            "system pick a free one)"
        )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
            holder = next((s.name for s in running_servers() if s.port == port), None)
            raise PortInUseError(host, port, holder) from None
        raise ServeError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; is {host!r} an address "
            "of this machine? The default host 127.0.0.1 always works"
        ) from exc


def _check_host(host: str, allow_remote: bool) -> None:
    if _is_loopback(host):
        return
    if not allow_remote:
        raise UnsafeHostError(host)
    warnings.warn(
        f"kit server listening on {host}: other machines on your network can connect to it",
        RuntimeWarning,
        stacklevel=4,
    )


async def _start(
    app: object,
    name: str,
    host: str,
    port: int,
    options: dict[str, Any],
    hosts: HostAllowList,
    tls: TLSOption = None,
) -> Server:
    context, certificate = server_context(tls)
    adapter = adapter_for(app, options)
    registry = _registry()
    with registry.lock:
        previous = registry.running.pop(name, None)
    if previous is not None:
        await previous.stop_async()  # bounded, never raises: problems go to previous.log
    sock = _bind(host, port)
    bound = sock.getsockname()[1]  # read now: a child program's start closes the socket
    owner = _Owner(name)
    TASK_OWNER.set(owner)  # every task the server creates from now on is tagged as its own
    serving = Serving(RequestGuard.for_server(hosts, bound), context)
    SERVING.set(serving)  # what adapters read as they start: the Host check and TLS
    try:
        await adapter.start(sock)
    except BaseException:
        sock.close()
        await runtime.cancel_owned(owner)
        raise
    server = Server(
        name, app, adapter, host, bound, owner, serving=serving, certificate=certificate
    )
    with registry.lock:
        registry.running[name] = server
        registry.history.append(server)
    collector.freeze_long_lived()  # full collections skip the kernel's libraries and this app
    return server


def serve(
    app: object,
    *,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_remote: bool = False,
    tls: TLSOption = None,
    allowed_hosts: Iterable[str] | str | None = None,
    **options: Any,
) -> Server:
    """Start ``app`` on the kit's runtime thread and return the running :class:`Server`.

    Args:
        app: a ``socketio.AsyncServer`` (created with ``async_mode="aiohttp"``), an
            ``aiohttp.web.Application``, or a websockets connection handler
            ``async def handler(websocket)``.
        name: replaces the running server of the same name. Without a name, a server
            replaces the one started by the previous run of the same cell.
        host: the address to listen on; anything but loopback needs ``allow_remote=True``
            and warns.
        port: 0 (the default) lets the system choose a free port; read it from ``.port``.
        tls: serve ``https://`` and ``wss://``: True for a certificate from the kit's local
            certificate authority (see :mod:`kit.runtime.tls`), or an ``ssl.SSLContext``,
            or ``(certificate file, key file)``.
        allowed_hosts: names to answer to besides the loopback names and ``host`` (the
            ``Host`` check, see :mod:`kit.runtime.hosts`); ``["*"]`` answers any name.
        options: for websockets handlers only, passed to ``websockets.asyncio.server.serve``
            (for example ``subprotocols=["chat.v1"]``).

    Raises:
        PortInUseError: the fixed ``port`` is taken.
        UnsafeHostError: a non-loopback ``host`` without ``allow_remote=True``.
        UnsupportedAppError: ``app`` is none of the kinds above.
        TLSSetupError: ``tls`` names no usable certificate and key.
        ValueError: an entry of ``allowed_hosts`` is not a host name.
    """
    _check_host(host, allow_remote)
    _check_port(port)
    hosts = allowed_hosts_for(host, allowed_hosts)
    name = name if name is not None else _default_name()
    return runtime.run(
        _start(app, name, host, port, options, hosts, tls),
        START_TIMEOUT,
        what=f"starting server {name!r}",
    )


async def serve_async(
    app: object,
    *,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_remote: bool = False,
    tls: TLSOption = None,
    allowed_hosts: Iterable[str] | str | None = None,
    **options: Any,
) -> Server:
    """The async twin of :func:`serve`, for ``await`` in a cell or inside a handler."""
    _check_host(host, allow_remote)
    _check_port(port)
    hosts = allowed_hosts_for(host, allowed_hosts)
    name = name if name is not None else _default_name()
    return await runtime.run_async(_start(app, name, host, port, options, hosts, tls))


def stop(name: str) -> None:
    """Stop the running server called ``name``; a name that is not running is an error."""
    registry = _registry()
    with registry.lock:
        server = registry.running.get(name)
        names = ", ".join(repr(n) for n in registry.running) or "none"
    if server is None:
        raise KeyError(f"no running kit server is called {name!r} (running: {names})")
    server.stop()


def stop_all() -> None:
    """Stop every kit server and client, and the runtime thread itself.

    Afterwards no kit thread, socket or task is left; the next kit call starts afresh,
    and the garbage collector has the thresholds it had before the first server.
    """
    runtime.stop()
    collector.restore()
