"""Who may connect to ``kit.chat_app()``, as whom, to which rooms, and how fast.

Each rule is an option of :func:`kit.chat_app`, and each refusal says why:

==================  ==============================================  =========================
option              what it checks, and when                        the client gets
==================  ==============================================  =========================
``origins``         the page's ``Origin`` on the first request      HTTP 400 "not an accepted
                    (python-socketio's ``cors_allowed_origins``)    origin" (python-socketio)
``tokens``          ``auth={"token": ...}`` on CONNECT: a token     ``connect_error``
                    this server issued, not expired                 ``{"message": why}``
                    (:mod:`kit.apps.tokens`)
``tokens``          ``add user`` / a claimed ``user``: the          ``{"error": "your token
                    token's own name only                           is for 'ann' ..."}``
``tokens``          the token expiring during the session           ``error message``, then
                                                                    disconnected
``join_token``      ``auth={"token": ...}`` on CONNECT: one shared  ``connect_error``
                    secret for a whole class (classroom mode)       ``{"message": why}``
``room_members``    ``join``: who may enter which room              ``{"error": ...}``
``rate_limit``      every event: a token bucket per client          ``{"error": "slow
                    (:mod:`kit.apps.ratelimit`)                     down: ..."}``
==================  ==============================================  =========================

A connect handler refuses by raising ``socketio.exceptions.ConnectionRefusedError(why)``:
python-socketio answers the CONNECT with a ``CONNECT_ERROR`` packet carrying
``{"message": why}``, which a client sees as its ``connect_error`` event (the JavaScript
client, and python-socketio's client as a ``ConnectionError``). A reconnecting client
(lesson 07) tries again with the same ``auth``, and is refused again once its token has
expired: the socket.io client's ``auth`` may be a *function*, called before each attempt,
which is where a page fetches a fresh token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kit.apps.names import name_key
from kit.apps.ratelimit import RateLimit, RateLimiter
from kit.apps.tokens import TokenClaims, TokenError, TokenSigner

__all__ = ["MAX_AUTH", "Admission", "AdmissionRefused", "origins_option"]

MAX_AUTH = 4096
"""The largest ``auth`` payload accepted, in bytes of JSON (a token is about 100)."""


class AdmissionRefused(ValueError):
    """An event refused by one of the admission rules; ``str()`` says why."""


def origins_option(origins: str | Iterable[str] | None) -> str | list[str] | None:
    """Check ``origins`` the way a browser writes an ``Origin``: ``scheme://host[:port]``.

    Raises:
        ValueError: an entry with a path, a trailing slash or no scheme: it would never
            match, because a browser's ``Origin`` has none of them.
    """
    if origins is None or origins == "*":
        return origins
    if isinstance(origins, str):
        origins = [origins]
    checked = []
    for origin in origins:
        if not isinstance(origin, str) or "://" not in origin:
            raise ValueError(
                f"an origin is scheme://host[:port] like 'http://127.0.0.1:5500', not {origin!r}"
            )
        scheme, _, rest = origin.partition("://")
        if "/" in rest or not rest or scheme not in ("http", "https"):
            raise ValueError(
                f"{origin!r} never matches: a browser's Origin is scheme://host[:port] with no "
                f"path or trailing slash, e.g. {scheme}://{rest.split('/')[0] or '127.0.0.1'}"
            )
        checked.append(origin)
    return checked


class Admission:
    """The admission rules of one chat server (made by ``ChatApp``)."""

    def __init__(
        self,
        *,
        tokens: TokenSigner | None = None,
        strict_names: bool = True,
        room_members: Mapping[str, Iterable[str]] | None = None,
        rate_limit: RateLimit | None = None,
        rooms: Iterable[str] | None = None,
        join_token: str | None = None,
    ) -> None:
        if join_token is not None:
            if tokens is not None:
                raise ValueError(
                    "give tokens= (one signed token per user) or join_token= (one secret "
                    "for everyone), not both"
                )
            if not isinstance(join_token, str) or len(join_token) < 16:
                raise ValueError(
                    "a join token is a string of at least 16 characters "
                    "(secrets.token_urlsafe(16)); a short one can be guessed"
                )
        self.join_token = join_token
        self.tokens = tokens
        self.strict_names = strict_names
        self.room_members: dict[str, frozenset[str]] = {}
        for room, members in (room_members or {}).items():
            if isinstance(members, str):
                raise ValueError(f"room_members[{room!r}] is a list of names, not one string")
            if rooms is not None and room not in rooms:
                raise ValueError(f"room_members names {room!r}, which is not one of the rooms")
            self.room_members[room] = frozenset(name_key(m) for m in members)
        self.limiter = RateLimiter(rate_limit) if rate_limit is not None else None
        self._claims: dict[str, TokenClaims] = {}  # sid -> what its token says
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._ending: set[asyncio.Future[None]] = set()  # disconnects under way

    # -- CONNECT --------------------------------------------------------------------

    def admit(self, sid: str, auth: Any, sio: Any) -> None:
        """Let ``sid`` connect, or raise ``ConnectionRefusedError`` saying why."""
        from socketio.exceptions import ConnectionRefusedError

        if self.join_token is not None:
            try:
                self.check_join(auth)
            except AdmissionRefused as exc:
                raise ConnectionRefusedError(str(exc)) from None
            return
        if self.tokens is None:
            return
        try:
            claims = self.verify(auth)
        except (TokenError, AdmissionRefused) as exc:
            raise ConnectionRefusedError(str(exc)) from None
        self._claims[sid] = claims
        loop = asyncio.get_running_loop()
        self._timers[sid] = loop.call_later(
            max(0.0, claims.seconds_left(self.tokens.clock())), self._expired, sid, sio
        )

    def check_join(self, auth: Any) -> None:
        """Raise :class:`AdmissionRefused` unless ``auth`` holds the join token.

        The comparison takes the same time however many characters match
        (``hmac.compare_digest``), so timing tells a guesser nothing.
        """
        assert self.join_token is not None
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str):
            raise AdmissionRefused(
                "this chat wants the join token your instructor handed out: connect with "
                "auth={'token': '...'} (the chat page reads it from the #join= part of its link)"
            )
        if len(token) > MAX_AUTH or not hmac.compare_digest(
            token.encode("utf-8", "replace"), self.join_token.encode()
        ):
            raise AdmissionRefused("that is not this chat's join token: check the link you got")

    def verify(self, auth: Any) -> TokenClaims:
        """What the token in a CONNECT's ``auth`` says.

        Raises:
            AdmissionRefused: no ``auth``, not an object, too big, or no ``token`` in it.
            TokenError: the token is malformed, forged or expired.
        """
        assert self.tokens is not None
        if auth is None:
            raise AdmissionRefused("this server wants a token: connect with auth={'token': '...'}")
        if not isinstance(auth, dict):
            raise AdmissionRefused(
                f"auth must be an object like {{'token': '...'}}, not {type(auth).__name__}"
            )
        size = len(json.dumps(auth, default=str))
        if size > MAX_AUTH:
            raise AdmissionRefused(f"the auth payload has {size} bytes of JSON; at most {MAX_AUTH}")
        if "token" not in auth:
            raise AdmissionRefused("auth has no 'token': connect with auth={'token': '...'}")
        return self.tokens.verify(auth["token"])

    def _expired(self, sid: str, sio: Any) -> None:
        self._timers.pop(sid, None)
        task = asyncio.ensure_future(self._disconnect_expired(sid, sio))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def _disconnect_expired(self, sid: str, sio: Any) -> None:
        with contextlib.suppress(Exception):  # the client may be gone already
            why = "your token expired: reconnect with a new one"
            await sio.emit("error message", {"event": "connect", "error": why}, to=sid)
            await sio.disconnect(sid)

    def forget(self, sid: str) -> None:
        """``sid`` disconnected: drop its token, its expiry timer and its bucket."""
        self._claims.pop(sid, None)
        timer = self._timers.pop(sid, None)
        if timer is not None:
            timer.cancel()
        if self.limiter is not None:
            self.limiter.forget(sid)

    def user_of(self, sid: str) -> str | None:
        """The user ``sid``'s token names (None without tokens)."""
        claims = self._claims.get(sid)
        return claims.user if claims is not None else None

    # -- events ---------------------------------------------------------------------

    def before_event(self, sid: str, event: str) -> None:
        """Raise :class:`AdmissionRefused` if ``sid`` may not send ``event`` now."""
        if self.limiter is not None:
            wait = self.limiter.allow(sid)
            if wait is not None:
                limit = self.limiter.limit
                raise AdmissionRefused(
                    f"slow down: at most {limit.burst} events at once and "
                    f"{limit.per_second:g} a second; try again in {wait:.1f} s"
                )
        claims = self._claims.get(sid)
        if self.tokens is not None and claims and claims.seconds_left(self.tokens.clock()) <= 0:
            raise AdmissionRefused("your token expired: reconnect with a new one")

    def check_user(self, sid: str, name: str) -> None:
        """Refuse a name other than the one ``sid``'s token was issued for."""
        if self.tokens is None:
            return
        user = self.user_of(sid)
        if user is None or name_key(user) != name_key(name):
            raise AdmissionRefused(f"your token is for {user!r}: you cannot log in as {name!r}")

    def may_join(self, user: str | None, room: str) -> None:
        """Refuse ``user`` a room whose members are listed without them."""
        members = self.room_members.get(room)
        if members is None:
            return
        if user is None:
            raise AdmissionRefused(f"room {room!r} is for its members only: log in first")
        if name_key(user) not in members:
            raise AdmissionRefused(f"room {room!r} is for its members only, not {user!r}")
