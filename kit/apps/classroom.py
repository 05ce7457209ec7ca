"""Classroom mode: one chat server a whole class reaches over the local network.

Every other kit server listens on loopback, where only your own machine can reach it.
An instructor who wants the class's laptops in one chat has to expose a server to the
network, and then everything lessons 09 showed matters at once. Classroom mode is that,
and only on request::

    room = kit.classroom_chat(host="192.168.1.20")   # this machine's address on the LAN

It never happens by default (there is no default ``host``), and when it does the server
is defended on every side:

- **one address, local only**: ``host`` must be one of this machine's addresses on a
  private network (RFC 1918, RFC 4193 and link-local ranges, or loopback to try it
  alone); ``0.0.0.0`` and public addresses are refused;
- **TLS**: ``https://`` and ``wss://`` with a certificate for that address from the kit's
  local certificate authority (:mod:`kit.runtime.tls`); learners import the CA
  certificate (its file and SHA-256 fingerprint are printed), or compare the server
  certificate's printed fingerprint with the one their browser's warning shows;
- **a join token**: one random secret (``secrets.token_urlsafe``) that every client sends
  in the CONNECT packet's ``auth``; the chat page reads it from the ``#join=`` part of its
  link, which a browser never sends to any server;
- **an origin allow-list**: the chat page's own origin (``https://HOST:PORT``) and those
  of the extra names given;
- **the Host check**: requests must name ``host`` (or an extra name given).

It prints a warning that says so, and exactly what to hand out (in the cell that called
it; kit.serve's own warning about a non-loopback address is replaced by that one). ``room.stop()``,
``kit.stop_all()`` or a kernel restart ends it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import secrets
import socket
import ssl
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.apps.chat import chat_app
from kit.runtime.servers import Server, serve
from kit.runtime.tls import local_ca

__all__ = ["Classroom", "check_classroom_host", "classroom_chat", "local_addresses"]

JOIN_TOKEN_BYTES = 16
"""Random bytes in a join token (22 characters of base64url)."""


@dataclass
class Classroom:
    """A running classroom chat: what to hand out, and the server behind it."""

    server: Server
    host: str
    port: int
    join_token: str
    ca_file: Path
    """The local CA's certificate (no key): what learners import to trust the server."""
    ca_fingerprint: str
    """SHA-256 of that certificate, as a browser's import dialog shows it."""
    server_fingerprint: str
    """SHA-256 of the server's own certificate, as a browser's certificate warning shows
    it: a learner who accepts the warning instead compares this first."""

    @property
    def url(self) -> str:
        """``https://HOST:PORT`` (IPv6 addresses in brackets)."""
        return self.server.url

    @property
    def link(self) -> str:
        """The chat page's address with the join token after ``#join=``: hand this out."""
        return f"{self.url}/#join={self.join_token}"

    def handout(self) -> str:
        """The text the instructor hands out (and :func:`classroom_chat` prints)."""
        return (
            f"  chat page:  {self.link}\n"
            f"  (or the address {self.url}/ and the join token {self.join_token})\n"
            f"  CA certificate to import: {self.ca_file}\n"
            f"  its SHA-256 fingerprint:  {self.ca_fingerprint}\n"
            f"  the server certificate's SHA-256 fingerprint: {self.server_fingerprint}"
        )

    def stop(self) -> None:
        """Stop the classroom chat (the network can no longer reach it)."""
        self.server.stop()


def local_addresses() -> list[str]:
    """This machine's addresses on private networks, as far as it can tell (may be empty).

    Asks the system which address it would use to reach a private network (a UDP
    ``connect`` sends nothing) and which addresses its host name has.
    """
    found: list[str] = []
    probes = [(socket.AF_INET, "10.255.255.255"), (socket.AF_INET6, "fd00::1")]
    for family, target in probes:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                found.append(probe.getsockname()[0])
        except OSError:
            pass
    with contextlib.suppress(OSError):
        found += [str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)]
    usable = []
    for address in found:
        address = address.split("%", 1)[0]
        try:
            check_classroom_host(address)
        except ValueError:
            continue
        ip = ipaddress.ip_address(address)
        if not ip.is_loopback and address not in usable:
            usable.append(address)
    return usable


def check_classroom_host(host: object) -> str:
    """``host`` if a classroom chat may listen on it, else ``ValueError`` saying why."""
    example = "kit.classroom_chat(host='192.168.1.20')"
    if host is None:
        candidates = ", ".join(local_addresses()) or "none found: see `ip addr` or ipconfig"
        raise ValueError(
            "classroom mode exposes a chat server to your local network, so it needs the "
            f"address to listen on, given explicitly: {example}. This machine's local "
            f"addresses: {candidates}"
        )
    if not isinstance(host, str):
        raise ValueError(f"host is an IP address as text, like '192.168.1.20', not {host!r}")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(
            f"{host!r} is not an IP address: give this machine's address on the local "
            f"network, e.g. {example} (a name for it goes in allowed_hosts=)"
        ) from None
    if ip.is_unspecified:
        raise ValueError(
            f"{host} means every network interface, public ones included: give the one "
            f"address of the classroom's network, e.g. {example}"
        )
    if ip.is_multicast or not (ip.is_private or ip.is_loopback or ip.is_link_local):
        raise ValueError(
            f"{host} is not an address of a private network (10.0.0.0/8, 172.16.0.0/12, "
            "192.168.0.0/16, fc00::/7, link-local): classroom mode is for a local network "
            "only, never the internet"
        )
    return str(ip)


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the first certificate in ``cert_pem``, as AB:CD:... hex."""
    first = cert_pem.decode("ascii").split("-----END CERTIFICATE-----")[0]
    der = ssl.PEM_cert_to_DER_cert(first + "-----END CERTIFICATE-----\n")
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def classroom_chat(
    host: str | None = None,
    *,
    port: int = 0,
    name: str = "classroom",
    allowed_hosts: Iterable[str] = (),
    origins: Iterable[str] = (),
    join_token: str | None = None,
    **chat_options: Any,
) -> Classroom:
    """Serve ``kit.chat_app()`` to the local network, defended, and say what to hand out.

    Args:
        host: this machine's address on the classroom's network (required; see
            :func:`local_addresses`). Loopback works too, to try it on your own.
        port: 0 picks a free one.
        name: the server's name (re-running replaces it, like ``kit.serve``).
        allowed_hosts: names of this machine the class may use besides ``host`` (they
            join the Host check, the certificate and the origin list).
        origins: other pages allowed to connect, e.g. ``["https://teacher.lan:5500"]``.
        join_token: the secret to hand out (16 characters at least); by default a random
            one.
        chat_options: more options for :func:`kit.chat_app` (``rooms=``, ``rate_limit=``...).

    Raises:
        ValueError: no ``host``, or one that is not a private address of this machine's
            networks; a join token too short to be secret.
        PortInUseError: the ``port`` is taken.
    """
    address = check_classroom_host(host)
    names = [allowed_hosts] if isinstance(allowed_hosts, str) else list(allowed_hosts)
    port = port or _free_port(address)
    shown = f"[{address}]" if ":" in address else address
    page_origins = [f"https://{shown}:{port}", *(f"https://{n}:{port}" for n in names)]
    token = join_token if join_token is not None else secrets.token_urlsafe(JOIN_TOKEN_BYTES)
    app = chat_app(origins=[*page_origins, *origins], join_token=token, **chat_options)
    ca = local_ca()
    certificate = ca.issue([address, *names])
    with warnings.catch_warnings():
        # kit.serve warns that other machines can connect: the warning below says more.
        warnings.simplefilter("ignore", RuntimeWarning)
        server = serve(
            app,
            name=name,
            host=address,
            port=port,
            allow_remote=True,
            tls=certificate,
            allowed_hosts=names,
        )
    room = Classroom(
        server,
        address,
        server.port,
        token,
        ca.ca_file,
        _fingerprint(ca.cert_pem),
        _fingerprint(certificate.cert_pem),
    )
    reach = (
        "only this machine can reach it (loopback: a rehearsal before class)"
        if ipaddress.ip_address(address).is_loopback
        else "every machine on your local network can reach it"
    )
    warning = (
        f"classroom mode: the chat at {room.url}/ is running and {reach} until you stop "
        "it (room.stop(), kit.stop_all() or a kernel restart). Only clients with the join "
        "token get in, only from its own page's origin, only under its own address."
    )
    print(f"WARNING: {warning}\nHand out:\n{room.handout()}")
    return room
