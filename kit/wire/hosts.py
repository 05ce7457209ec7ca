"""The ``Host`` header: which name a request was sent to, and whether to answer it.

Every HTTP/1.1 request names the server it is for (RFC 9110 section 7.2)::

    GET /socket.io/?EIO=4&transport=polling HTTP/1.1
    Host: 127.0.0.1:8000

A browser writes there the name from the page's address bar, not the address it
connected to. That is what gives **DNS rebinding** away: a page from
``http://evil.example:8000`` whose DNS answer is switched to ``127.0.0.1`` talks to a
server on your loopback interface, same-origin as far as the browser knows, but every
request it makes says ``Host: evil.example:8000``. A server that only answers to its own
names (``127.0.0.1``, ``localhost``, ``[::1]``, the address it listens on) refuses it.
Jupyter's own server does exactly this (``jupyter_server``'s ``check_host``).

The port is not compared: a rebinding page gives itself away by its *name*, and a
request that passed through a relay on another port (the kit's tap, Jupyter's proxy)
still names the right host.

    >>> parse_host("[::1]:8000")
    ('::1', 8000)
    >>> HostAllowList.loopback().check("localhost:8000")
    'localhost'
    >>> HostAllowList.loopback().check("evil.example:8000")   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    kit.wire.errors.ForbiddenHost: Host header is 'evil.example:8000': this server answers ...
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from kit.wire.errors import ForbiddenHost, InvalidHost

__all__ = ["ANY_HOST", "LOOPBACK_NAMES", "HostAllowList", "normalise_host", "parse_host"]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
"""The names every kit server answers to (any ``127.x.y.z`` too)."""
ANY_HOST = "*"
"""In an allow-list: answer whatever the request names (the check is off)."""

# RFC 3986 reg-name characters, minus percent-encoding (no DNS name needs it).
_REG_NAME = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=-]+$")


def normalise_host(name: str) -> str:
    """A host name as compared: lower case, no brackets, no final dot (``LocalHost.``)."""
    name = name.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name[:-1] if name.endswith(".") and not name.endswith("..") else name


def parse_host(value: str | None) -> tuple[str, int | None]:
    """Split a ``Host`` value into (name, port); the port is None when absent.

    Raises:
        InvalidHost: missing, empty, an IPv6 address without brackets, a port that is
            not a number from 0 to 65535, or characters no host name has.
    """
    if value is None:
        raise InvalidHost(None, "every HTTP/1.1 request must name its server")
    text = value.strip()
    if not text:
        raise InvalidHost(value, "the name is empty")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise InvalidHost(value, "an IPv6 address opened with '[' is never closed")
        name, rest = text[1:end], text[end + 1 :]
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            raise InvalidHost(value, f"{name!r} in brackets is not an IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise InvalidHost(value, f"{rest!r} after the address is not ':port'")
        port_text = rest[1:] if rest else None
    else:
        if text.count(":") > 1:
            raise InvalidHost(value, "an IPv6 address must be written in brackets: [::1]:8000")
        name, colon, port_text_ = text.partition(":")
        port_text = port_text_ if colon else None
        if not _REG_NAME.match(name):
            raise InvalidHost(value, f"{name!r} is not a host name or address")
    port: int | None = None
    if port_text:  # "host:" (an empty port) is allowed by RFC 3986 and means no port
        if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
            raise InvalidHost(value, f"the port {port_text!r} is not a number from 0 to 65535")
        port = int(port_text)
    return normalise_host(name), port


def _allowed_name(entry: str) -> str:
    """An allow-list entry as compared: ``"::1"`` and ``"[::1]"`` alike, no port."""
    bare = normalise_host(entry)
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    try:
        return parse_host(entry)[0]
    except InvalidHost as error:
        raise ValueError(f"{entry!r} is not a host name or address: {error.detail}") from None


def _is_loopback(name: str) -> bool:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return address.is_loopback or bool(mapped is not None and mapped.is_loopback)


@dataclass(frozen=True)
class HostAllowList:
    """The names a server answers to; ``check`` refuses a request sent to any other.

    Attributes:
        names: lower-case names and addresses (IPv6 without brackets), compared without
            the port. Loopback addresses (``127.0.0.0/8``, ``::1``) are always allowed.
        any_name: True when the list holds ``"*"``: every name is answered.
    """

    names: frozenset[str]
    any_name: bool = False

    @classmethod
    def loopback(cls, extra: Iterable[str] = ()) -> HostAllowList:
        """The loopback names, plus ``extra`` (names, addresses, or ``"*"`` for any)."""
        return cls.of([*LOOPBACK_NAMES, *extra])

    @classmethod
    def of(cls, names: Iterable[str]) -> HostAllowList:
        """An allow-list of exactly ``names`` (loopback addresses are always in)."""
        cleaned: set[str] = set()
        for name in names:
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"an allowed host is a name like 'chat.lan', not {name!r}")
            if name.strip() == ANY_HOST:
                return cls(frozenset(cleaned | {ANY_HOST}), any_name=True)
            cleaned.add(_allowed_name(name))
        return cls(frozenset(cleaned))

    def allows_name(self, name: str) -> bool:
        """True when a request naming ``name`` (no port) is answered."""
        name = normalise_host(name)
        return self.any_name or name in self.names or _is_loopback(name)

    def check(self, value: str | None) -> str:
        """The name a ``Host`` value names, if this server answers to it.

        Raises:
            InvalidHost: the value is malformed (answer 400).
            ForbiddenHost: it names a server this one is not (answer 403).
        """
        name, _port = parse_host(value)
        if not self.allows_name(name):
            raise ForbiddenHost(value, self.shown)
        return name

    @property
    def shown(self) -> list[str]:
        """The names, in the order a person reads them (loopback names first)."""
        first = [name for name in LOOPBACK_NAMES if name in self.names]
        return first + sorted(self.names - set(first))
