"""Which names a kit server answers to: the ``Host`` check every kit server makes.

A kit server listens on loopback, so only programs on your machine can reach it. Your
browser is one of them, and it runs pages from anywhere: **DNS rebinding** lets a page from
``http://evil.example:PORT`` re-point its own name at ``127.0.0.1`` and then talk to your
server as if it were its own origin. What it cannot change is the name it sent the
request to: ``Host: evil.example:PORT`` (see :mod:`kit.wire.hosts`). So every kit server
answers only to

- the loopback names (``127.0.0.1`` and all of ``127.0.0.0/8``, ``localhost``, ``::1``);
- the address it is bound to, and when bound to every interface (``0.0.0.0``, with
  ``allow_remote=True``), this machine's name and addresses;
- the host of ``$KIT_PUBLIC_URL``, when set (an SSH tunnel or a custom proxy);
- on JupyterHub, requests that jupyter-server-proxy forwarded to *this* port: they carry
  ``X-Forwarded-Context: /user/NAME/proxy/PORT`` and the hub's own ``Host``, which
  Jupyter checked before forwarding (the browser's loopback is not the kernel's there);
- whatever you add: ``kit.serve(app, allowed_hosts=["chat.lan"])``, or ``["*"]`` to
  answer any name (the check is then off).

Anything else gets ``403 Forbidden`` with a body that says which name was refused and how
to allow it; a malformed ``Host`` gets ``400``. Each kind of server checks in its own place:
an aiohttp middleware (socket.io and aiohttp apps, the chat app), websockets'
``process_request`` (a websockets handler) and the handshake of the from-scratch server.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import socket
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

from kit.runtime import links
from kit.wire.errors import HandshakeError
from kit.wire.hosts import HostAllowList

__all__ = [
    "FORWARDED_CONTEXT",
    "SERVING",
    "RequestGuard",
    "Serving",
    "allowed_hosts_for",
    "current_serving",
    "refusal_text",
]

FORWARDED_CONTEXT = "X-Forwarded-Context"
"""The header jupyter-server-proxy adds: the path prefix it forwarded from."""

WILDCARDS = ("0.0.0.0", "::", "")


def _public_url_host(environ: Mapping[str, str]) -> list[str]:
    from urllib.parse import urlsplit

    template = environ.get(links.PUBLIC_URL_ENV)
    if not template:
        return []
    host = urlsplit(template.replace("{port}", "1")).hostname
    return [host] if host else []


def _this_machine() -> list[str]:
    """This machine's name and the addresses it resolves to (for a wildcard bind)."""
    names = [socket.gethostname()]
    with contextlib.suppress(OSError):  # a name the resolver does not know: the name only
        names += socket.gethostbyname_ex(names[0])[2]
    return names


def allowed_hosts_for(
    host: str,
    extra: Iterable[str] | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> HostAllowList:
    """The names a server bound to ``host`` answers to (see the module docstring).

    Raises:
        ValueError: an entry of ``extra`` is not a host name (``"chat.lan"``, ``"*"``).
    """
    environ = os.environ if environ is None else environ
    if isinstance(extra, str):
        extra = [extra]
    names = list(extra or ())
    if host in WILDCARDS:
        names += _this_machine()
    else:
        names.append(host)
    names += _public_url_host(environ)
    return HostAllowList.loopback(names)


@dataclass(frozen=True)
class RequestGuard:
    """Checks each request's ``Host`` for one server (port ``port``)."""

    hosts: HostAllowList
    port: int
    hub_prefix: str | None = None
    """``/user/NAME/`` on JupyterHub with jupyter-server-proxy installed, else None."""

    @classmethod
    def for_server(
        cls, hosts: HostAllowList, port: int, environ: Mapping[str, str] | None = None
    ) -> RequestGuard:
        environ = os.environ if environ is None else environ
        prefix = environ.get(links.HUB_PREFIX_ENV)
        return cls(hosts, port, prefix if prefix and links.proxy_available() else None)

    def refusal(
        self, headers: Mapping[str, str] | Callable[[str], str | None]
    ) -> HandshakeError | None:
        """Why this request must be refused (an error carrying its status), or None.

        ``headers`` maps names to values (case-insensitive, like aiohttp's and
        websockets' headers) or is a ``get(name)`` function.
        """
        get = headers if callable(headers) else headers.get
        host = get("Host")
        if self.hub_prefix is not None and get(FORWARDED_CONTEXT) == self.forwarded_context:
            return None  # jupyter-server-proxy, for this port: Jupyter checked Host
        try:
            self.hosts.check(host)
        except HandshakeError as error:
            return error
        return None

    @property
    def forwarded_context(self) -> str | None:
        """What jupyter-server-proxy sends in ``X-Forwarded-Context`` for this port."""
        if self.hub_prefix is None:
            return None
        return f"{self.hub_prefix.rstrip('/')}/proxy/{self.port}"


@dataclass(frozen=True)
class Serving:
    """What ``kit.serve`` tells a server as it starts it: the Host check, and TLS.

    Set in :data:`SERVING` around ``start(sock)``; the kit's servers and adapters read it
    with :func:`current_serving`.
    """

    guard: RequestGuard
    ssl: ssl.SSLContext | None = None


SERVING: contextvars.ContextVar[Serving | None] = contextvars.ContextVar(
    "kit_serving", default=None
)
"""Set by ``kit.serve`` while it starts a server (like ``TASK_OWNER``)."""


def current_serving(sock: socket.socket) -> Serving:
    """What ``kit.serve`` asked for, or the defaults for ``sock`` (loopback names, no TLS)."""
    serving = SERVING.get()
    if serving is not None:
        return serving
    host, port = sock.getsockname()[:2]
    return Serving(RequestGuard.for_server(allowed_hosts_for(host), port))


def refusal_text(error: HandshakeError) -> tuple[int, str, str]:
    """(status, reason phrase, body) to answer a refused request with."""
    status = error.status or 400
    return status, HTTPStatus(status).phrase, f"{error}\n"
