"""``kit.chat_app()``: the article's chat server, grown into the socket.io chat demo.

>>> import kit
>>> chat = kit.chat_app()
>>> server = kit.serve(chat, name="chat")           # or kit.serve(chat.app, name="chat")
>>> server.url                                      # doctest: +SKIP
'http://127.0.0.1:40123'

Open ``server.url`` in a browser: the page (``kit/apps/static/index.html``) is served
like the article's Node handler serves it, read from disk on every request and answered
with **500 "Error loading index.html"** when it cannot be read. It loads the official
JavaScript socket.io client 4.x from the same server when a local copy is available (the
``client_js`` argument, the ``KIT_SOCKETIO_JS`` environment variable, or
``node_modules/socket.io-client`` in the working directory, where
``npm install socket.io-client`` puts it) and from the CDN otherwise, and says which.

HTTP routes
-----------
=============================  ==========================================================
``GET /``                      the page; two placeholders in it are filled in on the way
                               out: ``__SOCKETIO_CLIENT_SRC__`` (``socket.io.min.js`` or
                               the CDN address) and ``__SOCKETIO_CLIENT_ORIGIN__``
                               (``local copy`` or ``from the CDN``)
``GET /socket.io.min.js``      the local copy of the client (404 when the page uses the CDN)
``/socket.io/``                engine.io and socket.io (python-socketio, attached to the app)
=============================  ==========================================================

Events (namespace ``/``)
------------------------
Every handler checks what it is given. Bad input (a missing field, a wrong type, text over
``max_text`` characters, an unknown room or user, a second ``add user``) is refused,
never dropped and never a crash: if the client asked for an acknowledgement, the ack is
``{"error": "why"}``; if it did not, the server emits ``error message`` to the sender.
An event the server has no handler for is refused the same way, and so are ``connect``
and ``disconnect`` sent *as events* by a client: python-socketio would run the server's
handlers for them (a client emitting ``disconnect`` would be announced as gone while
still connected), so the chat server checks who is calling.

The article's events::

    server -> client  (on connect)   "new message"   {"mess": "welcome ...", "rooms": [...]}
                                     ("rooms": the rooms to join; null when any name will do)
    client -> server  "recive message"  {"message": "hi", "time": "2024-05-01T08:00:00.000Z"}
                      optional: "room": "room one" (only to that room; join it first),
                                "user": "ann" (a name for a client that did not log in)
                      ack: {"ok": true}
    server -> all     "new message"   {"user": "ann", "mess": "hi", "time": ..., "room": null}

``recive`` is the article's spelling, kept so its pages work unchanged. ``time`` may be
left out (the server stamps it) or be text or a number (``new Date()`` arrives as an
ISO string). A page that only receives (the article's message.html) just listens for
``new message``. Clients that did not log in are called ``anonymous`` unless they give a
``user`` that is not the name of someone logged in.

The socket.io chat demo's events::

    client -> server  "add user"      "ann"               ack: {"numUsers": 2, "users": [...]}
    server -> sender  "login"         {"numUsers": 2, "users": ["bob", "ann"]}
    server -> others  "user joined"   {"username": "ann", "numUsers": 2}
    server -> others  "user left"     {"username": "ann", "numUsers": 1}   (on disconnect)
    server -> all     "users"         {"users": ["bob", "ann"], "numUsers": 2}
                                      (after every login and every leave; login order)
    client -> server  "typing" / "stop typing"   (no payload; log in first)  ack: {"ok": true}
    server -> others  "typing" / "stop typing"   {"username": "ann"}
    client -> server  "users"         (no payload)   ack: {"users": [...], "numUsers": 2},
                                      or, without an ack, "users" back to the sender
    client -> server  "private message"  {"to": "bob", "message": "psst", "time": ...}
                                      ack: {"ok": true, "to": "bob"}
    server -> bob     "private message"  {"from": "ann", "to": "bob", "mess": "psst", "time": ...}
    client -> server  "join" / "leave"   {"room": "room one"}  (or just "room one")
                                      ack: {"ok": true, "room": "room one", "rooms": [...]}
    server -> sender  "error message"    {"event": "join", "error": "no room 'x' here ..."}
    server -> client  "missed messages"  {"count": 3, "why": "..."}  (see below)

Clients that cannot keep up
---------------------------
python-engineio queues every packet for a client until its writer can send it, without
a bound; a PING waits in the same queue, so a backlog delays heartbeats until clients are
dropped as dead. The chat server therefore looks at each recipient's queue before a
broadcast (``max_backlog`` packets, 100 by default):

- a recipient with more than ``max_backlog`` packets waiting is *behind*: the message
  skips it, and when it has caught up it gets ``missed messages`` ``{"count": 3, "why":
  ...}`` before anything else;
- a recipient whose heartbeat answer is over ``MAX_LAG`` (2 s) late is behind as well:
  its queue here may be empty while what it was sent waits in the kernel's socket
  buffers and in its own loop, and its PONG waits behind all of that; left alone it
  would be dropped as dead once the answer is ``ping_timeout`` late;
- when more than half of the recipients are behind, the server is *busy*: the message is
  refused (``{"error": "busy: ..."}``), so the sender knows to try again, instead of
  being queued for everyone;
- a server hands out at most ``MAX_DELIVERIES`` (5,000) deliveries a second, all rooms
  together (a message to 500 clients is 500): past that budget a message is refused as
  busy, before any client has fallen behind. The heartbeat signal above comes only once
  per ``ping_interval`` per client (25 s by default), too late for a burst: a burst into
  a room of 500 would put minutes of work into the clients' sockets and loops before any
  PONG was late. And a client must not fall far behind: a PING reaches it only after
  everything sent before it, and python-engineio's client ends its own connection when
  it has had nothing to send for ``max(ping_interval, ping_timeout) + 5`` seconds (30 s
  by default), which a quiet client more than 5 s behind reaches ("packet queue is
  empty, aborting"). The budget keeps what is sent within what can be handled, so
  heartbeats stay on time and nobody is dropped;
- a server on its own puts a broadcast in each recipient's queue at once, encoded once
  (python-socketio's ``emit`` would start a task per recipient, and those tasks kept a
  notebook cell's ``kit.run`` waiting behind the servers); in a cluster the broadcast
  goes through ``emit`` and Redis. While ``MAX_IN_FLIGHT`` (32) broadcasts are still
  going out (python-socketio's tasks in a cluster; on a server on its own, packets a
  typical recipient's writer has not taken yet) the loop is saturated and the server is
  busy too: a burst is refused rather than queued ahead of heartbeats;
- a private message to a recipient who is behind is refused the same way.

So one slow reader costs the others nothing, memory stays bounded, and heartbeats never
wait behind more than ``max_backlog`` packets.

Rooms live on the server (``sio.enter_room`` / ``sio.leave_room``): a client asks, the
server decides. By default only ``room one`` and ``room two`` exist. ``rooms=None``
allows any name except the sid of a connected client: in python-socketio every client
is alone in a room named after its sid, so joining that room would read its private
messages. One client may be in at most ``MAX_ROOMS_PER_CLIENT`` (50) rooms at once:
each join's ack lists them all, so without a bound 10,000 joins would cost seconds.

One chat, several processes
---------------------------
``kit.chat_app(redis=URL)`` (or ``python -m kit.chat --redis URL``) joins a cluster: every
server given the same Redis URL (and ``channel``) is one chat. python-socketio's
``AsyncRedisManager`` publishes each emit as JSON on the Redis channel, and each server
delivers it to its own clients, so rooms, broadcasts, private messages and a server-side
``disconnect`` reach clients on every process. The online list is the app's own state:
it is kept in the same Redis (:mod:`kit.apps.roster`), so a name is taken cluster-wide
and ``users`` lists everyone. While Redis is unreachable a server goes on serving its own
clients (their messages reach each other), refuses logins with the reason, logs the
outage in ``server.log`` and counts the emits Redis did not take (``chat.cluster``).
In a cluster, one client's events are handled one after the other (python-socketio's
``async_handlers=False``), so that what a client sends reaches every server in order.

Messages that survive: ``store=``
---------------------------------
``kit.chat_app(store="chat.sqlite")`` (or ``python -m kit.chat --store chat.sqlite``) keeps
every chat message in an SQLite file (:class:`~kit.apps.chatstore.ChatStore`) *before*
broadcasting it, under an offset that only grows; without a store nothing below is on
the wire. With one::

    server -> client  (on connect, after the CONNECT answer)  "new message"
                      {"mess": "welcome ...", "rooms": [...], "offset": 40, "store": "9f3c..."}
                                    (the newest offset now, and the file's store id)
    client -> server  "recive message"  {"message": "hi", "id": "ann-1f2e3d4c5b6a"}
                      ("id": optional, 1 to 64 characters, the client's own, unique)
                      ack: {"ok": true, "offset": 41}
                      the same id again, same text and room: {"ok": true, "offset": 41,
                      "duplicate": true}, stored and broadcast once; other text: an error
    server -> all     "new message"  {"user": "ann", "mess": "hi", ..., "id": ..., "offset": 41}
    client -> server  CONNECT auth   {"offset": 41, "store": "9f3c...", "client": "tab-1f2e",
                                     ...anything else}   ("client": optional, see below)
    server -> client  "new message"  {..., "offset": 42, "replay": true}   (each one missed,
                                     to everyone, oldest first, before any live one)
    client -> server  "join"         {"room": "room one", "offset": 41}
                                     (then that room's messages after 41, replayed)

A bad offset (not an integer, negative, newer than the newest, or with another file's
store id) refuses the CONNECT (``connect_error`` naming it) or the ``join``. Every
CONNECT_ERROR names its reason, python-socketio's own too (see
:func:`connect_error_payload`), and says in ``data.retry`` whether connecting again can
help; the chat page retries those that say so. A client that sends the same ``client``
id (8 to 64 letters, digits, ``-``, ``_``; the page makes one per tab) on every CONNECT
takes its name over from an old session of its own that the server still holds (one it
has not seen go: only a heartbeat tells, up to ``ping_interval + ping_timeout`` later);
the old session is disconnected. The welcome and the replay follow the
CONNECT answer: the official JS client drops events that came before it when the
connection breaks before the answer arrives. The store
serves one server: ``store=`` with ``redis=`` is refused (each server would count
offsets of its own). A message that cannot be kept (the file became read-only) is
refused with the reason, so the sender can try again; nothing kept is ever deleted but
a message the server refused as busy before anyone received it. A client that falls
more than ``max_backlog`` packets behind is not sent new messages meanwhile, and not told
"missed messages" either: once its queue is down to half, it gets what it was skipped
for from the store, in order (so a client that resumes never has a gap).

Why this module is long: it is the whole chat protocol in one place, and its docstring
is that protocol's reference.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import functools
import logging
import math
import os
import re
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kit import compat
from kit.apps import admission
from kit.apps.chatstore import MAX_ID, ChatStore, IdReused, StoredMessage
from kit.apps.names import NameRefused, check_name, check_room_name
from kit.apps.pageheaders import page_headers
from kit.apps.ratelimit import RateLimit
from kit.apps.recovery import StoreFileError
from kit.apps.roster import (
    LocalRoster,
    RedisRoster,
    RedisUnavailableError,
    RosterUnavailable,
    check_redis_url,
)
from kit.apps.tokens import TokenSigner
from kit.runtime.adapters import AiohttpAdapter, route_engineio_logs
from kit.runtime.loop import runtime
from kit.wire.text import is_usv, usv

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["CDN_CLIENT_JS", "CHANNEL", "ChatApp", "ClusterState", "chat_app"]

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
DEFAULT_PAGE = STATIC / "index.html"
CDN_CLIENT_JS = "https://cdn.socket.io/4.8.1/socket.io.min.js"
"""The official CDN address of the client the kit's tests pin (socket.io-client 4.8.1)."""
CLIENT_JS_ENV = "KIT_SOCKETIO_JS"
"""An environment variable naming a local copy of ``socket.io.min.js``."""
NPM_CLIENT_JS = Path("node_modules/socket.io-client/dist/socket.io.min.js")
"""Where ``npm install socket.io-client`` puts the client, relative to the working directory."""
LOCAL_CLIENT_PATH = "/socket.io.min.js"

DEFAULT_ROOMS = ("room one", "room two")
MAX_TEXT = 500
MAX_NAME = 32
MAX_ROOM = 64
MAX_ROOMS_PER_CLIENT = 50
"""Rooms one client may be in at once (each join's ack lists them all)."""
MAX_BACKLOG = 100
"""Packets a client may have waiting before broadcasts skip it (see "Clients that cannot
keep up")."""
MAX_LAG = 2.0
"""Seconds a client's heartbeat answer (PONG) may be late before broadcasts skip it, as
if it had ``max_backlog`` packets waiting (see "Clients that cannot keep up")."""
MAX_DELIVERIES = 5_000
"""Deliveries (one message to one client) a server hands out per second to its own
clients, all its rooms together, before it refuses messages as busy: its loop writes
each delivery on its own, and the clients must handle each. A message to a room of 500
costs 500, so a room of 500 gets about 10 messages a second and a room of 30 about 160.
The default comes from the hostile benchmark's burst (500 clients on the same shared
2-core machine as the server): at 10,000 a second the clients fell over 5 s behind and
python-engineio's client dropped 125 of them in one of two runs; at 5,000 none, in three
runs (see the README's hostile figures). ``chat.max_deliveries`` changes it (None: no
budget), as does ``kit.chat_app(max_deliveries=...)``; a server whose clients are on
other machines can take more."""
MAX_IN_FLIGHT = 32
"""Broadcasts that may still be going out before new ones are refused as busy: in a Redis
cluster, those python-socketio is handing out (a task per recipient); on a server on its
own, the packets a typical (median) recipient's writer has not taken yet. Either way,
past this the runtime loop is saturated and a message would wait behind the others."""
"""Rooms one client may be in at once (each join's ack lists them all)."""
MAX_TIME = 64
ANONYMOUS = "anonymous"
PAGE_ERROR = "Error loading index.html"
SUBSCRIBE_TIMEOUT = 5.0
CHANNEL = "wire-to-room"
PING_INTERVAL = 25.0
"""Seconds between the server's heartbeats (python-socketio's default, and Node's)."""
PING_TIMEOUT = 20.0
"""Seconds the server waits for a heartbeat's answer before it drops the client."""
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
"""A client id in a CONNECT's auth (with a store): one per tab, the same on every reconnect."""
CONNECT_WAIT = 5.0  # seconds a welcome waits for python-socketio's CONNECT answer to go out
"""The Redis pub/sub channel (and key prefix) a chat cluster uses by default."""

_ack_wanted: contextvars.ContextVar[bool] = contextvars.ContextVar("ack_wanted", default=False)


class Refused(Exception):
    """A client's event that the chat server will not carry out, and why."""


def check_heartbeat(option: str, value: object, *, whole: bool = False) -> float:
    """``value`` as seconds for ``ping_interval``/``ping_timeout``, or a clear error.

    ``whole=True`` (for ``ping_interval``) also refuses a fraction: python-engineio
    (4.x) announces ``int(ping_interval) * 1000`` ms in its OPEN packet, so 1.5 s would
    be announced as 1000 ms while it pings every 1500 ms, and a client that trusts the
    announcement (the JS client waits ``pingInterval + pingTimeout``) could give up
    on a server that is fine (``tests/apps/test_chat_connect.py`` shows the truncation).

    Raises:
        TypeError: not a number (a bool is not one either).
        ValueError: zero, negative, not finite, or (``whole``) not a whole number.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{option} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{option} must be a positive number of seconds, not {value!r}")
    if whole and not float(value).is_integer():
        raise ValueError(
            f"{option} must be a whole number of seconds, not {value!r}: python-engineio "
            f"would announce {int(value) * 1000} ms to the clients while it pings every "
            f"{round(value * 1000)} ms; use {max(1, round(value))}"
        )
    return float(value)


def check_deliveries(value: object) -> int | None:
    """``value`` as a delivery budget (``max_deliveries``), or a clear error.

    Raises:
        ValueError: not None and not a whole number of at least 1.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"max_deliveries must be a whole number of at least 1 (or None: no budget), "
            f"not {value!r}"
        )
    return value


@functools.cache
def _packet_class() -> type:
    """python-socketio's ``Packet``, noting for each incoming event whether it wants an ack.

    python-socketio sends a handler's return value as the ack when one was asked for and
    drops it otherwise; the handler itself is not told. The chat server needs to know, to
    send a refusal as an ``error message`` event when no ack will carry it.

    The documented way in is the ``serializer`` argument of ``AsyncServer``, which takes a
    ``Packet`` subclass. Decoding an EVENT (or completing a BINARY_EVENT's attachments)
    sets a context variable; python-socketio then starts the event's handler as a task,
    which copies the context, so each handler sees the value for its own packet.
    """
    from socketio import packet

    class AckAwarePacket(packet.Packet):
        def decode(self, encoded_packet: Any) -> Any:
            result = super().decode(encoded_packet)
            if self.packet_type == packet.EVENT:
                _ack_wanted.set(self.id is not None)
            return result

        def add_attachment(self, attachment: Any) -> bool:
            complete = bool(super().add_attachment(attachment))
            if complete and self.packet_type == packet.BINARY_EVENT:
                _ack_wanted.set(self.id is not None)
            return complete

        def encode(self) -> Any:
            said: Any = getattr(self, "data", None)  # python-socketio's, untyped
            if self.packet_type == packet.CONNECT_ERROR and isinstance(said, str):
                self.data = connect_error_payload(said, self.namespace or "/")
            return super().encode()

    return AckAwarePacket


def connect_error_payload(said: str, namespace: str) -> dict[str, Any]:
    """The ``{message, data}`` a CONNECT_ERROR must carry, for one python-socketio sent bare.

    The socket.io protocol (v5) gives a CONNECT_ERROR an object ``{"message": ...,
    "data": ...}``; the official JS client makes ``new Error(packet.data.message)`` of it.
    python-socketio (5.x) sends the bare string ``"Unable to connect"`` when a CONNECT
    comes for a namespace that this engine.io connection is already in (or on its way
    into): the JS client then reports a refusal with an EMPTY message and stops
    reconnecting. A CONNECT comes twice, for example, when a browser sends a long-poll
    POST again after the tap cut it. Here it names what happened, and ``data.retry``
    tells a client whether connecting again can help (the chat page retries then).
    """
    if namespace == "/":
        message = (
            f"{said}: this connection already has a session in namespace '/' (a second "
            "CONNECT came on it, for example a request the browser sent again after a "
            "cut); connect again"
        )
        return {"message": message, "data": {"retry": True}}
    message = f"{said}: this server has no namespace {namespace!r}; connect to '/'"
    return {"message": message, "data": {"retry": False}}


def _find_client_js(client_js: Path | str | None) -> tuple[str, Path | None]:
    """Where the page loads the client from: (script src, local file or None)."""
    if isinstance(client_js, str) and client_js.startswith(("http://", "https://")):
        return client_js, None
    if client_js is None:
        named = os.environ.get(CLIENT_JS_ENV)
        if named:
            client_js = Path(named)
        elif NPM_CLIENT_JS.is_file():
            client_js = NPM_CLIENT_JS.resolve()
        else:
            return CDN_CLIENT_JS, None
    path = Path(client_js)
    if not path.is_file():
        raise FileNotFoundError(
            f"no socket.io client at {path}; pass client_js=None to find one or use the CDN "
            f"({CDN_CLIENT_JS})"
        )
    return LOCAL_CLIENT_PATH.lstrip("/"), path  # relative: works behind a proxy prefix


def _now() -> str:
    """The time as JavaScript's ``new Date().toJSON()`` writes it: ``2024-05-01T08:00:00.000Z``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _one_payload(event: str, args: tuple[Any, ...], example: str) -> Any:
    if len(args) != 1:
        raise Refused(f"{event!r} takes one argument, like {example}; got {len(args)}")
    return args[0]


def _no_payload(event: str, args: tuple[Any, ...]) -> None:
    if args:
        raise Refused(f"{event!r} takes no arguments; got {len(args)}")


def _object(event: str, args: tuple[Any, ...], example: str) -> dict[str, Any]:
    payload = _one_payload(event, args, example)
    if not isinstance(payload, dict):
        raise Refused(f"{event!r} takes an object like {example}, not {type(payload).__name__}")
    return payload


def _text(payload: dict[str, Any], field: str, limit: int) -> str:
    value = payload.get(field)
    if value is None:
        raise Refused(f"the field {field!r} is missing")
    if not isinstance(value, str):
        raise Refused(f"{field!r} must be text, not {type(value).__name__}")
    if not value.strip():
        raise Refused(f"{field!r} is empty")
    if len(value) > limit:
        raise Refused(f"{field!r} has {len(value)} characters; the limit is {limit}")
    return usv(value)  # what a browser would have sent: lone surrogates become U+FFFD


def _identifier(value: str, what: str) -> str:
    """Refuse a name (of a user or a room) that is not valid Unicode text.

    A lone surrogate (``"\\ud800"`` in JSON) cannot be written as UTF-8: let through, it
    would break every page and panel that shows the name. Messages get U+FFFD instead
    (see :func:`_text`); a name is refused, as replacing would make two names look alike.
    """
    if not is_usv(value):
        at = next(i for i, ch in enumerate(value) if "\ud800" <= ch <= "\udfff")
        raise Refused(
            f"{what} {usv(value)!r} is not valid Unicode text: character {at} is a lone "
            f"surrogate (U+{ord(value[at]):04X}), which UTF-8 cannot carry"
        )
    return value


def _time(payload: dict[str, Any]) -> str | int | float:
    value = payload.get("time")
    if value is None:
        return _now()
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Refused(f"'time' must be text or a number, not {type(value).__name__}")
    if isinstance(value, str) and len(value) > MAX_TIME:
        raise Refused(f"'time' has {len(value)} characters; the limit is {MAX_TIME}")
    return usv(value) if isinstance(value, str) else value


def _message_id(payload: dict[str, Any]) -> str | None:
    """The client's own id for a message (``"id"``), checked; None when it gave none."""
    value = payload.get("id")
    if value is None:
        return None
    if not isinstance(value, str):
        raise Refused(f"a message 'id' is text, not {type(value).__name__}")
    if not 1 <= len(value) <= MAX_ID or not is_usv(value):
        raise Refused(
            f"a message 'id' has 1 to {MAX_ID} characters of valid text, not {len(value)}"
        )
    return value


def _checked(check: Callable[..., Any], *args: Any) -> Any:
    """``check(*args)``, with a refusal from :mod:`kit.apps.names` or
    :mod:`kit.apps.admission` turned into the chat's :class:`Refused`."""
    try:
        return check(*args)
    except (NameRefused, admission.AdmissionRefused) as exc:
        raise Refused(str(exc)) from None


Handler = Callable[..., Awaitable[Any]]


def _peer(environ: Any) -> str:
    """Who connected: the TCP peer, and who a balancer says it forwarded (X-Forwarded-For)."""
    if not isinstance(environ, dict):
        return "?"
    request = environ.get("aiohttp.request")
    peer = str(getattr(request, "remote", None) or environ.get("REMOTE_ADDR") or "?")
    forwarded = environ.get("HTTP_X_FORWARDED_FOR")
    return f"{peer} for {forwarded}" if forwarded else peer


@dataclass(frozen=True)
class ClusterState:
    """One chat server's view of its cluster (``chat.cluster``), read without I/O.

    Attributes:
        redis: the Redis URL.
        channel: the pub/sub channel (and key prefix).
        reachable: whether the last heartbeat (every second) reached Redis.
        down_for: seconds Redis has been unreachable (0 when reachable).
        outages: how many times Redis became unreachable while this server ran.
        published: messages Redis took from this server.
        lost_emits: emits Redis did not take: the other servers' clients never got them
            (this server's own clients did).
        receivers: subscribers that got the last message published (the PUBLISH answer).
    """

    redis: str
    channel: str
    reachable: bool
    down_for: float
    outages: int
    published: int
    lost_emits: int
    receivers: int | None

    def __str__(self) -> str:
        state = "reachable" if self.reachable else f"UNREACHABLE for {self.down_for:.0f} s"
        return (
            f"Redis {self.redis} {state}; published {self.published}, lost emits "
            f"{self.lost_emits}, outages {self.outages}"
        )


class ChatApp:
    """A chat server: an aiohttp app serving the page, with python-socketio attached.

    Serve it with ``kit.serve(chat)`` (or ``kit.serve(chat.app)``); the protocol is in
    the module docstring.

    Attributes:
        app: the ``aiohttp.web.Application`` (routes ``/`` and ``/socket.io.min.js``).
        sio: the ``socketio.AsyncServer`` attached to it (``await chat.sio.emit(...)``).
        page: the HTML file ``GET /`` reads, on every request.
        client_src: the page's ``<script src>`` for the socket.io client.
        client_js: the local copy of the client, or None when the page uses the CDN.
        rooms: the rooms clients may join, or None for any name.
        max_text: the longest message, in characters.
        max_backlog: packets a client may have waiting before broadcasts skip it.
        max_deliveries: deliveries a second before messages are refused as busy, or None.
        store: the :class:`~kit.apps.chatstore.ChatStore` messages are kept in, or None.
    """

    def __init__(
        self,
        *,
        page: str | Path | None = None,
        client_js: Path | str | None = None,
        max_text: int = MAX_TEXT,
        rooms: Iterable[str] | None = DEFAULT_ROOMS,
        max_backlog: int = MAX_BACKLOG,
        redis: str | Any = None,
        channel: str = CHANNEL,
        origins: str | Iterable[str] | None = None,
        tokens: TokenSigner | None = None,
        strict_names: bool = True,
        room_members: Mapping[str, Iterable[str]] | None = None,
        rate_limit: RateLimit | None = None,
        join_token: str | None = None,
        store: str | os.PathLike[str] | ChatStore | None = None,
        ping_interval: float = PING_INTERVAL,
        ping_timeout: float = PING_TIMEOUT,
        max_deliveries: int | None = MAX_DELIVERIES,
    ) -> None:
        import socketio
        from aiohttp import web

        if max_text < 1:
            raise ValueError(f"max_text must be at least 1, not {max_text}")
        if max_backlog < 1:
            raise ValueError(f"max_backlog must be at least 1 packet, not {max_backlog}")
        self.ping_interval = check_heartbeat("ping_interval", ping_interval, whole=True)
        self.ping_timeout = check_heartbeat("ping_timeout", ping_timeout)
        self.max_backlog = max_backlog
        self._missed: dict[str, int] = {}  # sid -> broadcasts it was skipped for
        self._late: set[str] = set()  # of those, skipped for a late heartbeat answer
        self._in_flight = 0  # broadcasts python-socketio is still handing out (cluster)
        self.max_deliveries: int | None = check_deliveries(max_deliveries)
        """Deliveries a second this server hands out before it refuses messages as busy
        (``MAX_DELIVERIES`` by default); None: no budget."""
        self._budget = float(max_deliveries or 0)  # deliveries that may go out now
        self._budget_at = time.monotonic()
        self._telling: asyncio.Task[None] | None = None  # tells skipped clients, later
        self.redis_url: str | None = None
        """The Redis this server shares its chat through, or None (a server on its own)."""
        if store is not None and redis is not None:
            raise ValueError(
                "store= and redis= together are not supported: each server of a cluster "
                "would number the messages on its own; use one of them"
            )
        self.store: ChatStore | None = (
            store if isinstance(store, ChatStore) or store is None else ChatStore(store)
        )
        """The message store (``store=``), or None: messages are not kept."""
        self._order = asyncio.Lock()  # with a store: one message, or one replay, at a time
        self._live: set[str] = set()  # sids past their replay: stored messages reach them
        self._behind: dict[str, int] = {}  # with a store: sid -> offset it had when skipped
        self._catching_up: asyncio.Task[None] | None = None
        self._welcoming: set[asyncio.Future[None]] = set()  # welcomes and replays to send
        self._tabs: dict[str, str] = {}  # with a store: sid -> the client id of its auth
        self.channel = channel
        manager = None
        if redis is not None:
            self.redis_url = check_redis_url(getattr(redis, "url", redis))
            try:
                import redis as _redis_py  # noqa: F401 - python-socketio's Redis client
            except ImportError:
                raise ImportError(
                    "a chat cluster needs the redis package: pip install redis "
                    "(or pip install -e '.[lessons]')"
                ) from None
            manager = compat.counting_redis_manager(self.redis_url, channel=channel)
        self.roster: LocalRoster | RedisRoster = (
            RedisRoster(self.redis_url, channel) if self.redis_url else LocalRoster()
        )
        self._manager = manager
        if manager is not None and isinstance(self.roster, RedisRoster):
            stats = manager.stats
            self.roster.lost_emits = lambda: stats.failed_events
        self.page = Path(page) if page is not None else DEFAULT_PAGE
        self.client_src, self.client_js = _find_client_js(client_js)
        self.max_text = max_text
        self.rooms = tuple(rooms) if rooms is not None else None
        self._names: dict[str, str] = {}  # sid -> name of this server's clients, login order
        self._connected: set[str] = set()  # sids whose real connect handler ran
        self._adapter: AiohttpAdapter | None = None
        self._stopping: AiohttpAdapter | None = None
        self.admission = admission.Admission(
            tokens=tokens,
            strict_names=strict_names,
            room_members=room_members,
            rate_limit=rate_limit,
            rooms=self.rooms,
            join_token=join_token,
        )
        """Who may connect, under which name, to which rooms, how fast (see
        :mod:`kit.apps.admission`)."""
        self.origins = admission.origins_option(origins)
        options: dict[str, Any] = {
            "cors_allowed_origins": self.origins,
            "ping_interval": self.ping_interval,
            "ping_timeout": self.ping_timeout,
        }
        if manager is not None:
            # python-socketio runs each event in a task of its own (async_handlers=True);
            # a handler that awaits Redis (the online list, the publish) can then be
            # overtaken by the sender's next event, and a sender's messages would reach
            # the other servers out of order. One client's events run one after the other.
            options.update(client_manager=manager, async_handlers=False)
        self.sio = socketio.AsyncServer(async_mode="aiohttp", serializer=_packet_class(), **options)
        self.app = web.Application()
        self.app.router.add_get("/", self._index)
        self.app.router.add_get(LOCAL_CLIENT_PATH, self._client_bundle)
        self.sio.attach(self.app)
        self._register()

    # -- HTTP --------------------------------------------------------------------------

    @property
    def client_origin(self) -> str:
        """``"local copy"`` or ``"from the CDN"``: what the page tells its reader."""
        return "local copy" if self.client_js is not None else "from the CDN"

    async def _index(self, request: web.Request) -> web.Response:
        from aiohttp import web

        # The article's handler: fs.readFile on every request, 500 when it fails. The
        # file is small, so it is read right here rather than in a worker thread.
        try:
            html = self.page.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            logger.warning("cannot read the chat page %s: %s", self.page, exc)
            return web.Response(status=500, text=PAGE_ERROR)
        html = html.replace("__SOCKETIO_CLIENT_SRC__", self.client_src)
        html = html.replace("__SOCKETIO_CLIENT_ORIGIN__", self.client_origin)
        html, headers = page_headers(html, self.client_src)  # framing, CSP with a nonce
        return web.Response(text=html, content_type="text/html", headers=headers)

    async def _client_bundle(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        if self.client_js is None:
            return web.Response(
                status=404, text=f"no local socket.io client: the page loads {self.client_src}"
            )
        return web.FileResponse(self.client_js, headers={"Content-Type": "text/javascript"})

    # -- who is here -----------------------------------------------------------------------

    @property
    def users(self) -> list[str]:
        """The names of the users logged in now, in the order they logged in.

        In a cluster (``redis=``) that is every server's users, read from Redis; inside a
        handler use ``await chat.online()`` instead.
        """
        if isinstance(self.roster, LocalRoster):
            return self.roster.snapshot()
        return runtime.run(self.online(), 5.0, what="reading the online list from Redis")

    async def online(self) -> list[str]:
        """The async twin of :attr:`users`."""
        return await self.roster.names()

    @property
    def local_users(self) -> list[str]:
        """The users connected to *this* server, in login order."""
        return list(self._names.values())

    @property
    def cluster(self) -> ClusterState | None:
        """How this server's Redis link is doing, or None for a server on its own."""
        roster, manager = self.roster, self._manager
        if not isinstance(roster, RedisRoster) or manager is None:
            return None
        stats = manager.stats
        down = time.time() - roster.down_since if roster.down_since else 0.0
        return ClusterState(
            redis=roster.url,
            channel=self.channel,
            reachable=roster.reachable,
            down_for=down,
            outages=roster.outages,
            published=stats.published,
            lost_emits=stats.failed_events,
            receivers=stats.receivers,
        )

    async def _sid_of(self, name: str, *, local_if_unreachable: bool = False) -> str | None:
        """The sid of the user called ``name``, on any server of the cluster.

        While Redis is unreachable, the users of this server are still found here; the
        others raise :class:`RosterUnavailable` (or are not found, when asked to look
        locally only: a name claimed then is checked against this server's users).
        """
        try:
            return await self.roster.sid_of(name)
        except RosterUnavailable:
            local = next((sid for sid, n in self._names.items() if n == name), None)
            if local is not None or local_if_unreachable:
                return local
            raise

    async def _roster(self) -> dict[str, Any]:
        users = await self.roster.names()
        return {"users": users, "numUsers": len(users)}

    def _local_view(self) -> tuple[dict[str, str], set[str]]:
        return {name: sid for sid, name in self._names.items()}, set(self._connected)

    def _logged_in(self, sid: str) -> str:
        name = self._names.get(sid)
        if name is None:
            raise Refused("log in first: emit 'add user' with your name")
        return name

    def _joined(self, sid: str) -> list[str]:
        return sorted(room for room in self.sio.rooms(sid) if room != sid)

    async def _room(self, event: str, args: tuple[Any, ...]) -> str:
        payload = _one_payload(event, args, '{"room": "room one"}')
        if isinstance(payload, dict):
            payload = payload.get("room")
            if payload is None:
                raise Refused("the field 'room' is missing")
        if not isinstance(payload, str):
            raise Refused(f"a room is named by text, not {type(payload).__name__}")
        room = _identifier(payload.strip(), "the room name")
        if self.admission.strict_names:
            room = _checked(check_room_name, room)
        if not room or len(room) > MAX_ROOM:
            raise Refused(f"a room name has 1 to {MAX_ROOM} characters, not {len(room)}")
        if self.rooms is not None and room not in self.rooms:
            raise Refused(f"no room {room!r} here (rooms: {', '.join(self.rooms)})")
        if self.rooms is None and await self.roster.is_client(room):
            raise Refused(f"{room!r} is a client's own room (its sid)")
        return room

    async def _new_name(self, sid: str, name: str) -> str:
        """A name being taken: the one the client's token names, not like anyone's."""
        _checked(self.admission.check_user, sid, name)
        if not self.admission.strict_names or name == ANONYMOUS:
            return name
        if await self._sid_of(name, local_if_unreachable=True) is not None:
            return name  # (an exact name in use is refused by the caller, as it always was)
        mine = self._names.get(sid)
        try:
            in_use = await self.roster.names()  # the whole cluster's, with Redis
        except RosterUnavailable:
            in_use = list(self._names.values())
        return _checked(check_name, name, [n for n in in_use if n != mine])

    # -- events ----------------------------------------------------------------------------

    def _register(self) -> None:
        sio = self.sio
        sio.on("connect", self._connect)
        sio.on("disconnect", self._disconnect)
        events: dict[str, Handler] = {
            "recive message": self._recive_message,
            "add user": self._add_user,
            "typing": functools.partial(self._typing, "typing"),
            "stop typing": functools.partial(self._typing, "stop typing"),
            "users": self._users,
            "private message": self._private_message,
            "join": self._join,
            "leave": self._leave,
        }
        for event, handler in events.items():
            sio.on(event, self._guarded(event, handler))
        self.events = tuple(events)
        """The events a client may send (``connect`` and ``disconnect`` aside)."""
        sio.on("*", self._unknown)

    def _guarded(self, event: str, handler: Handler) -> Handler:
        """Run ``handler``; turn a refusal (or a bug) into an error for the sender."""

        async def guarded(sid: str, *args: Any) -> Any:
            try:
                _checked(self.admission.before_event, sid, event)  # rate limit, token expiry
                return await handler(sid, *args)
            except Refused as exc:
                return await self._refuse(sid, event, str(exc))
            except RosterUnavailable as exc:
                why = (
                    f"the online list is kept in Redis ({self.redis_url}), which is not "
                    f"reachable now ({exc}); try again when it is back (messages still reach "
                    "the users on this server)"
                )
                return await self._refuse(sid, event, why)
            except Exception as exc:
                logger.exception("the chat server failed on %r from %s", event, sid)
                return await self._refuse(sid, event, f"server error: {exc!r}")

        return guarded

    async def _refuse(self, sid: str, event: str, why: str) -> dict[str, str] | None:
        if _ack_wanted.get():
            return {"error": why}
        await self.sio.emit("error message", {"event": event, "error": why}, to=sid)
        return None

    async def _unknown(self, event: str, sid: str, *args: Any) -> Any:
        known = ", ".join(self.events)
        return await self._refuse(sid, event, f"unknown event {event!r}; this server knows {known}")

    def _sent_by_the_client(self, sid: str) -> bool:
        """True when a ``connect``/``disconnect`` handler runs for a client's own event.

        python-socketio runs the server's ``connect`` and ``disconnect`` handlers for an
        EVENT named so, like any other event: a client that emits ``disconnect`` would be
        announced as gone while still connected. When the library itself calls them, the
        client is "pending" (connecting, or disconnecting), and ``is_connected`` is False;
        for a client's event it is True.
        """
        return bool(self.sio.manager.is_connected(sid, "/"))

    async def _reserved(self, event: str, sid: str) -> Any:
        why = (
            f"{event!r} is reserved: only the socket.io library may fire it "
            f"(use disconnect() to leave); this server ignored it"
        )
        return await self._refuse(sid, event, why)

    async def _connect(self, sid: str, environ: Any = None, auth: Any = None) -> Any:
        if sid in self._connected or self._sent_by_the_client(sid):
            return await self._reserved("connect", sid)
        resume = self._resume_point(auth)  # a bad offset: ConnectionRefusedError too
        tab = self._client_id(auth)  # a bad client id too
        self.admission.admit(sid, auth, self.sio)  # raises ConnectionRefusedError: connect_error
        self._connected.add(sid)
        if tab is not None:
            self._tabs[sid] = tab
        await self.roster.add_client(sid)
        logger.info("connect %s from %s over %s", sid, _peer(environ), self.sio.transport(sid))
        rooms = list(self.rooms) if self.rooms is not None else None  # None: any name
        welcome: dict[str, Any] = {"mess": "welcome to the chat", "rooms": rooms}
        if self.store is None:
            await self.sio.emit("new message", welcome, to=sid)
            return None
        # The welcome and the replay go out after python-socketio has sent the CONNECT
        # answer, which it does only once this handler returned. The official JS client
        # keeps events that come before that answer and throws them away if the
        # connection breaks first: a replay of many messages sent ahead of the answer
        # was lost whole at every cut, and the next CONNECT asked for all of it again.
        task = asyncio.ensure_future(self._welcome(sid, welcome, resume))
        self._welcoming.add(task)
        task.add_done_callback(self._welcoming.discard)
        return None

    async def _welcome(self, sid: str, welcome: dict[str, Any], resume: int | None) -> None:
        assert self.store is not None
        # A task made in the handler runs once the handler's caller paused: by then the
        # CONNECT answer is queued (python-socketio queues it without pausing).
        deadline = time.monotonic() + CONNECT_WAIT
        while not self.sio.manager.is_connected(sid, "/"):
            if sid not in self._connected or time.monotonic() > deadline:
                return  # gone before it was connected: nothing to welcome
            await asyncio.sleep(0.001)
        # Under the lock no message is stored meanwhile: the welcome's offset is the newest,
        # the replay ends there, and every later message reaches this client live.
        async with self._order:
            if sid not in self._connected:
                return
            welcome.update(offset=self.store.newest, store=self.store.id)
            await self.sio.emit("new message", welcome, to=sid)
            if resume is not None:
                await self._replay(sid, self.store.after(resume))
            self._live.add(sid)

    def _resume_point(self, auth: Any) -> int | None:
        """The offset a CONNECT asks to resume after; a bad one refuses the connection."""
        if self.store is None:
            return None
        from socketio.exceptions import ConnectionRefusedError

        try:
            return self.store.resume_point(auth)
        except ValueError as exc:
            raise ConnectionRefusedError(str(exc)) from None

    def _client_id(self, auth: Any) -> str | None:
        """The client id a CONNECT's ``auth`` gives (``{"client": ...}``), with a store.

        A client that comes back with the same id is the same client (the chat page sends
        one per tab): its ``add user`` may take over its name from its old session, which
        the server may still hold (see :meth:`_take_over`). A bad id refuses the CONNECT.
        """
        if self.store is None or not isinstance(auth, dict) or auth.get("client") is None:
            return None
        from socketio.exceptions import ConnectionRefusedError

        tab = auth["client"]
        if not isinstance(tab, str) or not CLIENT_ID.fullmatch(tab):
            raise ConnectionRefusedError(
                f"the client id in your auth must be 8 to 64 letters, digits, '-' or '_', "
                f"not {tab!r}: pick a random one per tab (or leave 'client' out)"
            )
        return tab

    async def _take_over(self, sid: str, name: str) -> None:
        """Let ``sid`` have ``name`` if the session holding it came from the same client.

        Over long-polling (or through a black hole) the server learns that a session is
        gone only from its heartbeat, up to ``ping_interval + ping_timeout`` later; a
        client that reconnected meanwhile would find its own name taken. When the holder
        sent the same client id, it is that client's old session: it is disconnected here
        (its name is released as in any disconnect) and the new session logs in.
        """
        tab = self._tabs.get(sid)
        if tab is None:
            return
        holder = await self.roster.sid_of(name)
        if holder is None or holder == sid or self._tabs.get(holder) != tab:
            return
        logger.info("%s takes %r over from %s, the same client's old session", sid, name, holder)
        await self.sio.disconnect(holder)

    async def _replay(self, sid: str, messages: list[StoredMessage]) -> None:
        for kept in messages:
            data = {**kept.payload, "offset": kept.offset, "replay": True}
            await self.sio.emit("new message", data, to=sid)

    async def _disconnect(self, sid: str, reason: Any = None, *more: Any) -> Any:
        if self._sent_by_the_client(sid):
            return await self._reserved("disconnect", sid)
        self._connected.discard(sid)
        self._tabs.pop(sid, None)
        self._live.discard(sid)
        self._behind.pop(sid, None)
        self._missed.pop(sid, None)
        self._late.discard(sid)
        self.admission.forget(sid)
        await self.roster.remove_client(sid)
        logger.info("disconnect %s (%s)", sid, reason or "gone")
        async with self.roster.lock:
            name = self._names.pop(sid, None)
            try:
                if name is not None:
                    await self.roster.release(name, sid)
            except RosterUnavailable as exc:
                # The heartbeat takes the name out of Redis when it is back.
                logger.warning("%s left while the online list was unreachable: %s", name, exc)
                return None
        if name is not None:
            try:
                roster = await self._roster()
            except RosterUnavailable as exc:
                # The heartbeat takes the name out of Redis when it is back.
                logger.warning("%s left while the online list was unreachable: %s", name, exc)
                return None
            left = {"username": name, "numUsers": roster["numUsers"]}
            await self.sio.emit("user left", left)
            await self.sio.emit("users", roster)
        return None

    async def _recive_message(self, sid: str, *args: Any) -> dict[str, Any]:
        payload = _object("recive message", args, '{"message": "hi", "time": ...}')
        message = _text(payload, "message", self.max_text)
        time = _time(payload)
        room = payload.get("room")
        if room is not None:
            room = await self._room("recive message", (room,))
            if room not in self._joined(sid):
                raise Refused(f"join {room!r} before sending to it")
        user = self._names.get(sid)
        if user is None:
            claimed = payload.get("user")
            if claimed is not None and not isinstance(claimed, str):
                raise Refused(f"'user' must be text, not {type(claimed).__name__}")
            user = _identifier((claimed or "").strip(), "the name") or ANONYMOUS
            if len(user) > MAX_NAME:
                raise Refused(f"a name has 1 to {MAX_NAME} characters, not {len(user)}")
            if user != ANONYMOUS:
                user = await self._new_name(sid, user)
            if await self._sid_of(user, local_if_unreachable=True) is not None:
                raise Refused(f"{user!r} is logged in on another connection")
        data = {"user": user, "mess": message, "time": time, "room": room}
        message_id = _message_id(payload)
        if self.store is None:
            await self._broadcast("new message", data, room=room)
            return {"ok": True}
        if message_id is not None:
            data["id"] = message_id
        return await self._keep_and_broadcast(data, room, message_id)

    async def _keep_and_broadcast(
        self, data: dict[str, Any], room: str | None, message_id: str | None
    ) -> dict[str, Any]:
        """Store, then broadcast with the offset; a known id is answered, not sent again."""
        assert self.store is not None
        async with self._order:  # offsets reach every client in order
            try:
                offset, duplicate = self.store.add(data, message_id=message_id)
            except IdReused as exc:
                raise Refused(str(exc)) from None
            except StoreFileError as exc:
                raise Refused(f"the message was not kept, try again later: {exc}") from None
            if duplicate:
                return {"ok": True, "offset": offset, "duplicate": True}
            # Clients still connecting get it in their replay, in order, not now; clients
            # too far behind get it from the store once they caught up (not a gap).
            skip = []
            for sid, _ in self.sio.manager.get_participants("/", room):
                if sid in self._live and sid not in self._behind:
                    if self._keeping_up(sid, self.max_backlog):
                        continue
                    self._behind[sid] = offset - 1
                skip.append(sid)
            try:
                await self._broadcast(
                    "new message", {**data, "offset": offset}, room=room, skip=skip
                )
            except Refused:
                self.store.forget(offset)  # busy: nobody got it, the sender will retry
                raise
            if self._behind and (self._catching_up is None or self._catching_up.done()):
                self._catching_up = asyncio.ensure_future(self._catch_up())
        return {"ok": True, "offset": offset}

    async def _catch_up(self) -> None:
        """Replay from the store to each client that was too far behind, once it is not.

        With a store, a client whose queue is over ``max_backlog`` is not sent new
        messages (its queue, and the server's memory, stay bounded) and is not left with a
        gap either: when its queue is down to half, it gets what it was skipped for, in
        order, before anything newer.
        """
        assert self.store is not None
        while self._behind:
            await asyncio.sleep(0.05)
            async with self._order:
                for sid, offset in list(self._behind.items()):
                    if sid not in self._live:
                        del self._behind[sid]
                    elif self._keeping_up(sid, self.max_backlog // 2):
                        del self._behind[sid]
                        rooms = self._joined(sid)
                        await self._replay(sid, self.store.after(offset, rooms=[None, *rooms]))

    # -- backpressure ----------------------------------------------------------------------

    def backlog(self, sid: str) -> int:
        """Packets waiting to be written to client ``sid`` (0 for one that left)."""
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        return compat.engineio_queue_size(self.sio.eio, eio_sid) if eio_sid else 0

    async def _broadcast(
        self,
        event: str,
        data: Any,
        *,
        room: str | None = None,
        skip: str | Collection[str] | None = None,
    ) -> None:
        """Emit to ``room`` (everyone: None), skipping who is behind; busy: refuse."""
        skipping = {skip} if isinstance(skip, str) else set(skip or ())
        recipients = [
            (sid, eio_sid)
            for sid, eio_sid in self.sio.manager.get_participants("/", room)
            if sid not in skipping
        ]
        eio, now = self.sio.eio, time.time()
        waiting = [compat.engineio_queue_size(eio, eio_sid) for _, eio_sid in recipients]
        late = [compat.engineio_ping_wait(eio, eio_sid, now) > MAX_LAG for _, eio_sid in recipients]
        behind = [
            sid
            for (sid, _), size, lagging in zip(recipients, waiting, late, strict=True)
            if size > self.max_backlog or lagging
        ]
        if recipients and len(behind) * 2 > len(recipients):
            lagging = sum(late)
            why = f", {lagging} of them answering the heartbeat over {MAX_LAG:g} s late"
            why = why if lagging else ""
            raise Refused(
                f"busy: {len(behind)} of {len(recipients)} recipients still have over "
                f"{self.max_backlog} messages waiting{why}; try again in a moment"
            )
        for sid, _ in recipients:
            if sid in self._missed and sid not in behind:
                await self._tell_missed(sid)
        # Broadcasts not yet written out: python-socketio's tasks still running (in a
        # cluster), or the packets a typical recipient's writer task has not taken yet
        # (the median: one slow reader is the rule above's business, not a busy loop).
        going_out = self._in_flight + (sorted(waiting)[(len(waiting) - 1) // 2] if waiting else 0)
        if going_out >= MAX_IN_FLIGHT:
            raise Refused(
                f"busy: {going_out} messages are still going out to everyone; try again in a moment"
            )
        self._spend(len(recipients) - len(behind))
        # Going out now: only now does it count as missed by those it skips.
        for sid in behind:
            self._missed[sid] = self._missed.get(sid, 0) + 1
        self._late.update(
            sid for (sid, _), lagging in zip(recipients, late, strict=True) if lagging
        )
        if self._late and (self._telling is None or self._telling.done()):
            # A client that was late is told when it answers again, next broadcast or not.
            self._telling = asyncio.ensure_future(self._tell_late_when_caught_up())
        skipped = behind + sorted(skipping)
        if self._manager is None:
            self._hand_out(event, data, recipients, set(behind))
            return
        self._in_flight += 1
        try:
            await self.sio.emit(event, data, to=room, skip_sid=skipped or None)
        finally:
            self._in_flight -= 1

    def _spend(self, deliveries: int) -> None:
        """Take ``deliveries`` from this second's budget, or refuse the message as busy.

        A token bucket: ``max_deliveries`` a second flow in, at most one second's worth
        is kept, and a message to more clients than a second's worth goes out only when
        the bucket is full (then the next messages wait longer).
        """
        rate = self.max_deliveries
        if rate is None:
            return
        now = time.monotonic()
        self._budget = min(float(rate), self._budget + (now - self._budget_at) * rate)
        self._budget_at = now
        if self._budget < min(deliveries, rate):
            raise Refused(
                f"busy: this server hands out at most {rate:,} deliveries a second (this "
                f"message would be {deliveries:,}); try again in a moment"
            )
        self._budget -= deliveries

    def _hand_out(
        self, event: str, data: Any, recipients: list[tuple[str, str]], behind: set[str]
    ) -> None:
        """Put one broadcast in each recipient's queue: encoded once, no task per client.

        python-socketio's ``emit`` makes the same engine.io packets and then starts one
        task per recipient to queue them; at 200 recipients and a few messages a second
        those tasks were most of the runtime loop's work and kept a cell's ``kit.run``
        waiting. The packets, and so the bytes each client reads, are the same. In a
        cluster the broadcast must go through Redis, so ``sio.emit`` is used there.
        """
        packets = compat.socketio_event_packets(self.sio, event, data)
        for sid, eio_sid in recipients:
            if sid not in behind:
                compat.engineio_enqueue(self.sio.eio, eio_sid, packets)

    def lag(self, sid: str) -> float:
        """Seconds client ``sid``'s heartbeat PING has waited for its PONG (0.0: none is
        waiting), as python-engineio's server noted it."""
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        return compat.engineio_ping_wait(self.sio.eio, eio_sid) if eio_sid else 0.0

    def _keeping_up(self, sid: str, packets: int) -> bool:
        """True when client ``sid`` has at most ``packets`` waiting and its heartbeat
        answer is not over ``MAX_LAG`` late: not behind (``max_backlog``), or caught up
        again (half of it)."""
        return self.backlog(sid) <= packets and self.lag(sid) <= MAX_LAG

    async def _tell_late_when_caught_up(self) -> None:
        """Tell each client skipped for a late PONG its count once it answered.

        A burst may be over by then, with no next broadcast to tell it at. (A client
        skipped only for its long queue is told before the next broadcast it gets.)
        """
        while self._late:
            await asyncio.sleep(0.25)
            for sid in list(self._late):
                if sid not in self._missed:
                    self._late.discard(sid)
                elif self._keeping_up(sid, self.max_backlog // 2):
                    await self._tell_missed(sid)

    async def _tell_missed(self, sid: str) -> None:
        count = self._missed.pop(sid, 0)
        late = sid in self._late
        self._late.discard(sid)
        if count:
            behind = (
                f"you answered the heartbeat over {MAX_LAG:g} s late"
                if late
                else f"you were more than {self.max_backlog} messages behind"
            )
            why = f"{behind}, so {count} broadcast(s) skipped you while you caught up"
            await self.sio.emit("missed messages", {"count": count, "why": why}, to=sid)

    async def _add_user(self, sid: str, *args: Any) -> dict[str, Any]:
        name = _one_payload("add user", args, '"ann"')
        if sid in self._names:
            raise Refused(f"already logged in as {self._names[sid]!r}")
        if not isinstance(name, str):
            raise Refused(f"a name is text, not {type(name).__name__}")
        name = _identifier(name.strip(), "the name")
        if not name or len(name) > MAX_NAME:
            raise Refused(f"a name has 1 to {MAX_NAME} characters, not {len(name)}")
        name = await self._new_name(sid, name)
        await self._take_over(sid, name)
        # Under the roster's lock: a heartbeat must never see the name in Redis but not
        # yet here (it would take it out again as stale).
        async with self.roster.lock:
            if name == ANONYMOUS or not await self.roster.claim(name, sid):
                raise Refused(f"the name {name!r} is taken")
            self._names[sid] = name
        roster = await self._roster()
        await self.sio.emit("login", roster, to=sid)
        joined = {"username": name, "numUsers": roster["numUsers"]}
        await self.sio.emit("user joined", joined, skip_sid=sid)
        await self.sio.emit("users", roster)
        return roster

    async def _typing(self, event: str, sid: str, *args: Any) -> dict[str, bool]:
        _no_payload(event, args)
        name = self._logged_in(sid)
        await self._broadcast(event, {"username": name}, skip=sid)
        return {"ok": True}

    async def _users(self, sid: str, *args: Any) -> dict[str, Any] | None:
        _no_payload("users", args)
        roster = await self._roster()
        if _ack_wanted.get():
            return roster
        await self.sio.emit("users", roster, to=sid)
        return None

    async def _private_message(self, sid: str, *args: Any) -> dict[str, Any]:
        payload = _object("private message", args, '{"to": "bob", "message": "psst"}')
        sender = self._logged_in(sid)
        to = payload.get("to")
        if not isinstance(to, str):
            raise Refused("'to' must name a user" if to is None else "'to' must be text")
        to = _identifier(to, "the name in 'to'")
        message = _text(payload, "message", self.max_text)
        time = _time(payload)
        target = await self._sid_of(to)
        if target is None:
            online = ", ".join(await self.roster.names())
            raise Refused(f"no user {to!r} is online (online: {online})")
        if self.backlog(target) > self.max_backlog:
            raise Refused(
                f"busy: {to!r} still has over {self.max_backlog} messages waiting; try again "
                "in a moment"
            )
        data = {"from": sender, "to": to, "mess": message, "time": time}
        await self.sio.emit("private message", data, to=target)
        return {"ok": True, "to": to}

    async def _join(self, sid: str, *args: Any) -> dict[str, Any]:
        room = await self._room("join", args)
        _checked(self.admission.may_join, self._names.get(sid), room)
        joined = self._joined(sid)
        if room not in joined and len(joined) >= MAX_ROOMS_PER_CLIENT:
            raise Refused(
                f"already in {len(joined)} rooms, the most one client may be in; leave one first"
            )
        asked = args[0] if len(args) == 1 and isinstance(args[0], dict) else {}
        if self.store is None or asked.get("offset") is None:
            await self.sio.enter_room(sid, room)
            return {"ok": True, "room": room, "rooms": self._joined(sid)}
        try:
            offset = self.store.check_offset(asked["offset"], "the join's offset")
        except ValueError as exc:
            raise Refused(str(exc)) from None
        async with self._order:  # in the room and replayed before the next message
            await self.sio.enter_room(sid, room)
            await self._replay(sid, self.store.after(offset, room=room))
        return {"ok": True, "room": room, "rooms": self._joined(sid)}

    async def _leave(self, sid: str, *args: Any) -> dict[str, Any]:
        room = await self._room("leave", args)
        if room not in self._joined(sid):
            raise Refused(f"not in room {room!r} (rooms: {', '.join(self._joined(sid)) or 'none'})")
        await self.sio.leave_room(sid, room)
        return {"ok": True, "room": room, "rooms": self._joined(sid)}

    # -- served by kit.serve: the shape of a server (kind, start, stop) ---------------------

    kind = "aiohttp"
    socketio = True

    async def start(self, sock: Any) -> None:
        """Serve :attr:`app` on ``sock`` (``kit.serve(chat)`` calls this).

        In a cluster it first checks that Redis answers (raising
        :class:`~kit.apps.roster.RedisUnavailableError` if not) and subscribes to the
        channel, so this server hears the others before its first client arrives.
        """
        route_engineio_logs(self.sio)  # "Cannot publish to redis" goes to server.log
        await self.roster.start(self._local_view)
        try:
            if self._manager is not None and not self.sio.manager_initialized:
                # What python-socketio does on the first connection, done now.
                self.sio.manager_initialized = True
                self.sio.manager.initialize()
                await self._subscribed()
            self._adapter = AiohttpAdapter(self.app, {})
            await self._adapter.start(sock)
        except BaseException:
            await self._stop_cluster()
            raise

    async def _subscribed(self, timeout: float = SUBSCRIBE_TIMEOUT) -> None:
        """Wait until the Redis listener has subscribed to the channel.

        Then a message another server publishes right after this one started is heard,
        and the listener is never stopped halfway through subscribing.
        """
        manager = self._manager
        assert manager is not None
        deadline = time.monotonic() + timeout
        while not (manager.pubsub is not None and manager.pubsub.subscribed):
            if time.monotonic() > deadline:
                raise RedisUnavailableError(
                    self.redis_url or "", f"subscribing to {self.channel!r} took over {timeout} s"
                )
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Stop serving: every client gets an engine.io CLOSE, then the sockets close."""
        adapter, self._adapter = self._adapter, None
        for task in [*self._welcoming, self._catching_up, self._telling]:
            if task is not None:
                task.cancel()  # they would otherwise outlive the server they serve
        try:
            if adapter is not None:
                self._stopping = adapter
                try:
                    await adapter.stop()
                finally:
                    self._stopping = None
        finally:
            await self._stop_cluster()

    def abort(self) -> int:
        """Drop every connection at once (the kit's last resort when a stop is stuck)."""
        adapter = self._adapter or self._stopping
        return adapter.abort() if adapter is not None else 0

    async def _stop_cluster(self) -> None:
        manager = self._manager
        if manager is not None:
            task = getattr(manager, "thread", None)
            for _ in range(10):
                if task is None or task.done():
                    break
                task.cancel()  # its listener ends at the next step of the loop
                await asyncio.wait([task], timeout=0.2)
            await compat.close_redis_manager(manager)
            self.sio.manager_initialized = False  # served again: subscribe again
        await self.roster.stop()

    def __repr__(self) -> str:
        users = len(self._names)
        where = f" on this server, Redis {self.redis_url}" if self.redis_url else ""
        return f"<ChatApp {users} users{where}, client {self.client_origin}, page {self.page}>"


def chat_app(
    *,
    page: str | Path | None = None,
    client_js: Path | str | None = None,
    max_text: int = MAX_TEXT,
    rooms: Iterable[str] | None = DEFAULT_ROOMS,
    max_backlog: int = MAX_BACKLOG,
    redis: str | Any = None,
    channel: str = CHANNEL,
    origins: str | Iterable[str] | None = None,
    tokens: TokenSigner | None = None,
    strict_names: bool = True,
    room_members: Mapping[str, Iterable[str]] | None = None,
    rate_limit: RateLimit | None = None,
    join_token: str | None = None,
    store: str | os.PathLike[str] | ChatStore | None = None,
    ping_interval: float = PING_INTERVAL,
    ping_timeout: float = PING_TIMEOUT,
    max_deliveries: int | None = MAX_DELIVERIES,
) -> ChatApp:
    """A chat server to hand to ``kit.serve``: the page, the client, the events.

    Args:
        page: the HTML file ``GET /`` answers with (the kit's chat page by default).
        client_js: a local ``socket.io.min.js`` to serve at ``/socket.io.min.js``, or an
            ``https://`` address for the page to load it from. None: the file named by
            ``$KIT_SOCKETIO_JS``, else ``node_modules/socket.io-client`` in the working
            directory, else the CDN (:data:`CDN_CLIENT_JS`).
        max_text: the longest message, in characters.
        rooms: the rooms clients may join (``None``: any name).
        max_backlog: packets a client may have waiting before broadcasts skip it.
        origins: pages from other origins allowed to connect, e.g.
            ``["http://127.0.0.1:5500"]`` (python-socketio's ``cors_allowed_origins``);
            None: the page's own origin only; ``"*"``: any page at all.
        tokens: a :class:`~kit.apps.tokens.TokenSigner`: every client must then connect
            with ``auth={"token": ...}`` it issued, and may only log in as the token's
            user (see :mod:`kit.apps.admission`).
        strict_names: refuse names that could be mistaken for another (case, Unicode
            look-alikes, invisible characters; see :mod:`kit.apps.names`). False
            compares names character by character, as the article's server does.
        room_members: who may join which room, e.g. ``{"staff": ["ann", "bob"]}``; a room
            not listed is open to all.
        rate_limit: a :class:`~kit.apps.ratelimit.RateLimit` per client (a token
            bucket): events beyond it get ``{"error": "slow down: ..."}``.
        join_token: one secret every client must send as ``auth={"token": ...}`` (at
            least 16 characters; classroom mode, :mod:`kit.apps.classroom`). The chat
            page sends what follows ``#join=`` in its address.
        redis: a Redis URL (``redis://127.0.0.1:6379/0``) or ``kit.redis()`` itself: join
            the chat of every server given the same Redis and ``channel``.
        channel: the Redis pub/sub channel, also the prefix of the online list's keys.
        store: an SQLite file (created if missing) or a
            :class:`~kit.apps.chatstore.ChatStore`: every message is kept there with an
            offset, and clients that come back get what they missed (see "Messages that
            survive" in :mod:`kit.apps.chat`). None: nothing is kept, as before.
        ping_interval: seconds between the server's heartbeats (25, as python-socketio
            and Node's socket.io); the OPEN packet tells every client (``pingInterval``,
            in ms).
        ping_timeout: seconds the server waits for a heartbeat's answer (20). A client
            gone without a word (a cut long-poll, a black hole) is noticed, and its name
            given back, within ``ping_interval + ping_timeout``: shorter values free it
            sooner, at the price of more heartbeats.
        max_deliveries: deliveries (one message to one client) a second this server hands
            out, all rooms together, before it refuses messages as busy (5,000; see
            :data:`MAX_DELIVERIES`). None: no budget.

    Raises:
        FileNotFoundError: ``client_js`` (or ``$KIT_SOCKETIO_JS``) names no file.
        ValueError: ``redis`` is not a Redis URL, or both ``redis`` and ``store`` are given;
            ``ping_interval`` or ``ping_timeout`` is not positive; ``max_deliveries`` is
            not a whole number of at least 1 (nor None).
        TypeError: ``ping_interval`` or ``ping_timeout`` is not a number.
        kit.apps.recovery.StoreFileError: the store file is locked, read-only or corrupt.

    Serving it (``kit.serve``) raises :class:`~kit.apps.roster.RedisUnavailableError`
    when that Redis does not answer.
    """
    return ChatApp(
        page=page,
        client_js=client_js,
        max_text=max_text,
        rooms=rooms,
        max_backlog=max_backlog,
        redis=redis,
        channel=channel,
        origins=origins,
        tokens=tokens,
        strict_names=strict_names,
        room_members=room_members,
        rate_limit=rate_limit,
        join_token=join_token,
        store=store,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_deliveries=max_deliveries,
    )
