"""Signed, expiring tokens: who a client is, in a form nobody can forge, with ``hmac``.

A socket.io client may send a payload with its CONNECT packet, the ``auth`` object::

    const socket = io({ auth: { token: "djE.eyJzdWIiOiJhbm4iLCJleHAiOjE3MTgwMDAwMDB9.Qz..." } });

python-socketio hands it to the server's ``connect`` handler as its third argument; a
handler that raises ``socketio.exceptions.ConnectionRefusedError("why")`` refuses the
connection, and the client gets ``connect_error`` with ``{"message": "why"}``
(socket.io protocol v5, the ``CONNECT_ERROR`` packet ``44{"message":"why"}``).

What to put in ``auth``? Not a password on every connect, and not a plain user name
(anyone can type one). A **token** that the server itself issued: who it is for and until
when, signed with a key only the server knows. Checking it needs no database, and
changing a byte of it breaks the signature::

    v1.<payload>.<signature>
    payload   = base64url(JSON {"sub": "ann", "exp": 1718000000})
    signature = base64url(HMAC-SHA256(secret, "v1." + payload))

This is the shape of a JSON Web Token (RFC 7519) with one algorithm fixed in advance, so
none of JWT's "alg" pitfalls apply. The standard library is enough: ``hmac`` signs,
``hmac.compare_digest`` compares in constant time (no timing leak of how many bytes
matched), ``base64.urlsafe_b64encode`` makes it safe for a URL or a header.

    >>> signer = TokenSigner(b"a secret of at least 32 bytes.....", lifetime=60)
    >>> token = signer.issue("ann", now=1000)
    >>> signer.verify(token, now=1030).user
    'ann'
    >>> signer.verify(token, now=1061)                    # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    kit.apps.tokens.ExpiredToken: the token for 'ann' expired 1 s ago ...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "MAX_TOKEN",
    "BadSignature",
    "ExpiredToken",
    "MalformedToken",
    "TokenClaims",
    "TokenError",
    "TokenSigner",
]

VERSION = "v1"
MAX_TOKEN = 1024
"""The longest token accepted, in characters (a real one is about 100)."""
MIN_SECRET = 32


class TokenError(ValueError):
    """A token that does not let its holder in; ``str()`` is what the client is told.

    - :class:`MalformedToken`: not a token at all (wrong shape, too long, bad base64)
    - :class:`BadSignature`: shaped right, but not signed by this server's key
    - :class:`ExpiredToken`: signed, but its time is up
    """


class MalformedToken(TokenError):
    """Not ``v1.<payload>.<signature>``, too long, or a payload that is not ours."""


class BadSignature(TokenError):
    """The signature does not match: forged, altered, or signed with another key."""


class ExpiredToken(TokenError):
    """A genuine token past its ``exp``."""

    def __init__(self, message: str, claims: TokenClaims) -> None:
        super().__init__(message)
        self.claims = claims


@dataclass(frozen=True)
class TokenClaims:
    """What a genuine token says: who (``user``) and until when (``expires``, Unix time)."""

    user: str
    expires: float

    def seconds_left(self, now: float | None = None) -> float:
        """Seconds until it expires (negative once it has)."""
        return self.expires - (time.time() if now is None else now)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and checks tokens with one secret key.

    Args:
        secret: the key, at least 32 bytes; None makes a random one (tokens then die
            with the process, which is right for a lesson).
        lifetime: seconds a token is valid for (an hour by default).
        clock: where the time comes from (``time.time``; a test can pass its own).
    """

    def __init__(
        self,
        secret: bytes | None = None,
        *,
        lifetime: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if secret is None:
            secret = secrets.token_bytes(MIN_SECRET)
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET:
            raise ValueError(
                f"a signing secret is at least {MIN_SECRET} random bytes "
                "(secrets.token_bytes(32)); a short or guessable one can be brute-forced"
            )
        if lifetime <= 0:
            raise ValueError(f"lifetime is a number of seconds above 0, not {lifetime!r}")
        self._secret, self.lifetime, self.clock = secret, lifetime, clock

    def _sign(self, signed_part: str) -> str:
        return _b64(hmac.new(self._secret, signed_part.encode("ascii"), hashlib.sha256).digest())

    def issue(self, user: str, *, lifetime: float | None = None, now: float | None = None) -> str:
        """A token saying ``user`` is who holds it, for ``lifetime`` seconds from now."""
        if not isinstance(user, str) or not user:
            raise ValueError(f"a token is for a user name, not {user!r}")
        start = self.clock() if now is None else now
        expires = start + (self.lifetime if lifetime is None else lifetime)
        claims = json.dumps({"sub": user, "exp": round(expires, 3)}, separators=(",", ":"))
        signed_part = f"{VERSION}.{_b64(claims.encode())}"
        return f"{signed_part}.{self._sign(signed_part)}"

    def verify(self, token: object, *, now: float | None = None) -> TokenClaims:
        """Who ``token`` is for, if this signer issued it and it has not expired.

        The signature is checked before the payload is even decoded: nothing a forger
        wrote is parsed.

        Raises:
            MalformedToken, BadSignature, ExpiredToken: why it does not let its holder in.
        """
        if not isinstance(token, str):
            raise MalformedToken(f"a token is text, not {type(token).__name__}")
        if len(token) > MAX_TOKEN:
            raise MalformedToken(f"the token has {len(token)} characters; at most {MAX_TOKEN}")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION or not all(parts):
            raise MalformedToken(
                f"not a token: expected {VERSION}.<payload>.<signature>, got "
                f"{len(parts)} part(s) starting {token[:12]!r}"
            )
        signed_part = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._sign(signed_part), parts[2]):
            raise BadSignature("the token's signature is wrong: it was not issued by this server")
        try:
            payload = json.loads(_unb64(parts[1]))
            claims = TokenClaims(str(payload["sub"]), float(payload["exp"]))
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise MalformedToken(f"the token's payload cannot be read: {exc}") from None
        left = claims.seconds_left(self.clock() if now is None else now)
        if left <= 0:
            raise ExpiredToken(
                f"the token for {claims.user!r} expired {max(0.0, -left):.0f} s ago: ask for a "
                "new one",
                claims,
            )
        return claims

    def __repr__(self) -> str:
        return f"<TokenSigner lifetime={self.lifetime:g} s>"
