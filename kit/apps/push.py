"""``kit.NewsServer``: one source of news, four ways for a client to hear about it.

HTTP answers requests; it never speaks first. So how does a page learn that something
happened on the server? Four ways, all served here side by side from the same news, so
that they can be measured against each other (``python -m kit.bench push``, lesson 00)::

    >>> import kit
    >>> news = kit.NewsServer(rate=2)            # a message at random moments, 2/s on average
    >>> server = kit.serve(news, name="news")
    >>> kit.EventSourceClient(server.url).wait_news()        # doctest: +SKIP
    News(seq=1, ...)

=====================  =====================  ============================================
method                 route                  what goes over the wire
=====================  =====================  ============================================
short polling          ``GET /poll``          a request every T ms; the answer lists the
                       ``?after=SEQ``         news after SEQ, often none: ``{"after": 3,
                                              "news": []}``
long-polling           ``GET /long-poll``     the same request, but the server *holds* it
                       ``?after=SEQ``         until there is news (or ``hold`` s passed),
                                              then the client asks again at once
server-sent events     ``GET /events``        one response that never ends
                                              (``text/event-stream``, WHATWG HTML 9.2):
                                              ``id: 4\\ndata: {...}\\n\\n`` per news
WebSocket              ``GET /ws``            one upgraded connection (RFC 6455); one
                                              text frame per news
=====================  =====================  ============================================

More routes: ``GET /`` is a page for your browser that hears the news all four ways
with the browser's own ``fetch``, ``EventSource`` and ``WebSocket``
(``kit/apps/static/push.html``); ``POST /publish`` publishes a news item (the page's
button) and answers it as JSON; ``POST /echo`` answers a request *while it is still
arriving*, sending back each chunk of the body as it comes (HTTP/1.1 runs over a
full-duplex TCP connection: both directions can carry bytes at once). Every response
says ``Server: kit-news/0.1``, so that header bytes are the same on every machine.

A news item is one JSON object of exactly ``size`` bytes (the ``text`` is padded), so
bytes on the wire compare fairly: ``{"seq":4,"sent":1718000000.123456,"text":"news 4..."}``.
``sent`` is the server's ``time.time()`` when it published the news; a client's delivery
delay is its own ``time.time()`` on arrival minus ``sent`` (one clock: same machine).

Polls carry a cursor: ``after`` is the last ``seq`` the client has seen. The first poll
has none and is answered at once with the current cursor and no news, so every client
hears only the news published after it started, as with the two streams. No compression
anywhere (no gzip, no permessage-deflate), no pings: the four are compared bare.

What the server does about bad clients:

- a client that goes away (mid-stream, or while its long-poll is held) has its handler
  cancelled at once (aiohttp's ``handler_cancellation``): nothing waits for it;
- a stream reader that falls more than ``max_queue`` news behind (it reads too slowly, or
  not at all) is dropped: its connection is reset (what was queued for it is discarded),
  the reason is kept in :attr:`dropped` and logged to ``server.log``; the other clients
  never wait for it;
- on stop, held long-polls are answered ``503`` with the reason, event streams get a
  last ``event: close`` and end, WebSockets are closed with 1001 (going away): every
  client learns that the server went away, none is left hanging.

Why this module is long: the four methods are served side by side on purpose, so that
a reader compares their handlers (a poll is five lines, a held poll fifteen, a stream
thirty) in one file, with the bad-client rules they share.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import random
import socket
import struct
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kit.runtime.adapters import AiohttpAdapter
from kit.runtime.loop import TASK_OWNER, runtime
from kit.wire.eventstream import EVENT_STREAM, ServerSentEvent

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["SERVER_HEADER", "News", "NewsServer", "PushMethod"]

logger = logging.getLogger("kit.server.push")

SERVER_HEADER = "kit-news/0.1"
"""What every response says in its ``Server`` header (aiohttp's own names its version)."""

PAGE = Path(__file__).resolve().parent / "static" / "push.html"
"""The page ``GET /`` serves: four columns, one per method, in your browser."""

STOPPING = "the news server is stopping"
"""The reason every client is given when the server stops."""


class PushMethod(enum.Enum):
    """The four ways to learn of news from a server; the value is the name tables show."""

    SHORT_POLLING = "short polling"
    """A request every ``interval`` seconds; most answers are empty."""
    LONG_POLLING = "long-polling"
    """A request the server holds until there is news, then the next request at once."""
    SERVER_SENT_EVENTS = "server-sent events"
    """One HTTP response that never ends: ``text/event-stream``."""
    WEBSOCKET = "WebSocket"
    """One upgraded TCP connection carrying frames both ways."""

    @property
    def path(self) -> str:
        """The server route of this method: ``/poll``, ``/long-poll``, ``/events``, ``/ws``."""
        return _PATHS[self]

    @property
    def short(self) -> str:
        """A short label for plots: ``poll``, ``long-poll``, ``SSE``, ``WebSocket``."""
        return _SHORT[self]

    @classmethod
    def parse(cls, value: PushMethod | str) -> PushMethod:
        """A method from itself, its name (``"websocket"``, ``"sse"``, ``"long-polling"``...)."""
        if isinstance(value, PushMethod):
            return value
        key = str(value).strip().lower().replace("_", " ").replace("-", " ")
        for method in cls:
            names = {method.value.lower().replace("-", " "), method.name.lower().replace("_", " ")}
            if key in names | _ALIASES[method]:
                return method
        choices = ", ".join(repr(method.value) for method in cls)
        raise ValueError(f"unknown push method {value!r}: choose among {choices}")


_PATHS = {
    PushMethod.SHORT_POLLING: "/poll",
    PushMethod.LONG_POLLING: "/long-poll",
    PushMethod.SERVER_SENT_EVENTS: "/events",
    PushMethod.WEBSOCKET: "/ws",
}
_SHORT = {
    PushMethod.SHORT_POLLING: "short polling",
    PushMethod.LONG_POLLING: "long-polling",
    PushMethod.SERVER_SENT_EVENTS: "SSE",
    PushMethod.WEBSOCKET: "WebSocket",
}
_ALIASES = {
    PushMethod.SHORT_POLLING: {"short", "poll", "polling"},
    PushMethod.LONG_POLLING: {"long", "long poll", "longpolling"},
    PushMethod.SERVER_SENT_EVENTS: {"sse", "eventsource", "event source", "events"},
    PushMethod.WEBSOCKET: {"ws", "websockets", "web socket"},
}


@dataclass(frozen=True)
class News:
    """One news item: its number, when the server published it, and some text.

    Attributes:
        seq: 1, 2, 3... in the order the server published them.
        sent: the server's ``time.time()`` at publication.
        text: the news itself, padded so the JSON has the server's ``size``.
    """

    seq: int
    sent: float
    text: str

    def to_json(self) -> str:
        """The news on the wire: ``{"seq":4,"sent":1718000000.123456,"text":"..."}``."""
        return f'{{"seq":{self.seq},"sent":{self.sent:.6f},"text":{json.dumps(self.text)}}}'

    @classmethod
    def from_json(cls, data: str | bytes | dict[str, Any]) -> News:
        """Read a news item back, from its JSON or the decoded object.

        Raises:
            ValueError: the data is not a news item, saying what is missing.
        """
        obj = json.loads(data) if isinstance(data, (str, bytes)) else data
        if not isinstance(obj, dict):
            raise ValueError(f"a news item is a JSON object, not {type(obj).__name__}")
        seq, sent, text = obj.get("seq"), obj.get("sent"), obj.get("text")
        if not isinstance(seq, int) or not isinstance(sent, (int, float)):
            raise ValueError(f"a news item has an int 'seq' and a number 'sent', not {obj!r}")
        return cls(seq, float(sent), str(text))

    def __str__(self) -> str:
        return f"#{self.seq} {self.text.rstrip('.')}"


def _padded(seq: int, sent: float, size: int) -> News:
    text = f"news {seq}"
    bare = len(News(seq, sent, text).to_json())
    if bare > size:
        raise ValueError(f"size={size} is too small for news #{seq} ({bare} bytes at least)")
    return News(seq, sent, text + "." * (size - bare))


class _Stream:
    """One open event stream or WebSocket: its queue, filled by ``publish``.

    ``wake`` ends its pump: the server dropped it (``dropped``) or is stopping.
    """

    def __init__(self, method: PushMethod, peer: str, max_queue: int) -> None:
        self.method, self.peer = method, peer
        self.queue: asyncio.Queue[News] = asyncio.Queue(maxsize=max_queue)
        self.wake = asyncio.Event()
        self.dropped = False


class NewsServer:
    """A server that publishes news and offers it four ways (see the module docstring).

    Serve it with ``kit.serve(news)``; the routes are in :class:`PushMethod`.

    Args:
        rate: news per second, published at random moments (a Poisson process: the gaps
            are exponential, so news sometimes bunches up and sometimes pauses) from the
            moment the server starts until it stops; 0 (the default) publishes only when
            told (:meth:`publish`, :meth:`produce`).
        size: bytes of JSON per news item (at least about 60).
        hold: seconds a long-poll is held when there is no news; then it is answered with
            none, and the client asks again. (engine.io holds its polls up to its ping
            interval, 25 s.)
        keepalive: seconds between comment lines on an idle event stream (proxies close
            silent connections), or None for none.
        max_queue: news waiting for one slow stream reader before it is dropped.
        backlog: news kept for polls and for ``Last-Event-ID`` (an event stream resumed).
        seed: makes the random moments repeat from run to run.

    Attributes:
        requests: HTTP requests received, by method (a ``Counter``).
        dropped: why each dropped client was dropped, in order.
        published: how many news items were published so far.
    """

    kind = "push"

    def __init__(
        self,
        *,
        rate: float = 0.0,
        size: int = 80,
        hold: float = 20.0,
        keepalive: float | None = 15.0,
        max_queue: int = 1000,
        backlog: int = 1000,
        seed: int | None = None,
    ) -> None:
        from aiohttp import web

        if rate < 0:
            raise ValueError(f"rate is news per second, at least 0, not {rate}")
        if hold <= 0:
            raise ValueError(f"hold is how long a long-poll may wait, in seconds (> 0), not {hold}")
        if keepalive is not None and keepalive <= 0:
            raise ValueError(f"keepalive is seconds (> 0) or None, not {keepalive}")
        if max_queue < 1 or backlog < 1:
            raise ValueError("max_queue and backlog must be at least 1")
        _padded(1, time.time(), size)  # refuses a size too small, here and not later
        self.rate, self.size, self.hold, self.keepalive = rate, size, hold, keepalive
        self.max_queue = max_queue
        self.random = random.Random(seed)
        self.requests: Counter[PushMethod | str] = Counter()
        self.dropped: list[str] = []
        self.published = 0
        self._backlog: deque[News] = deque(maxlen=backlog)
        self._streams: set[_Stream] = set()
        self._waiting = 0
        self._arrived: asyncio.Event | None = None
        self._stopping = False
        self._producer: asyncio.Task[None] | None = None
        self._owner: object | None = None
        self._adapter: AiohttpAdapter | None = None

        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            self.requests[self._method_of(request.path)] += 1
            response: web.StreamResponse = await handler(request)
            return response

        async def name_the_server(request: web.Request, response: web.StreamResponse) -> None:
            response.headers["Server"] = SERVER_HEADER

        self.app = web.Application(middlewares=[count])
        self.app.on_response_prepare.append(name_the_server)
        self.app.router.add_get("/", self._page)
        self.app.router.add_post("/echo", self._echo)
        self.app.router.add_post("/publish", self._publish_now)
        """The ``aiohttp.web.Application`` with the four routes."""
        self.app.router.add_get(PushMethod.SHORT_POLLING.path, self._poll)
        self.app.router.add_get(PushMethod.LONG_POLLING.path, self._long_poll)
        self.app.router.add_get(PushMethod.SERVER_SENT_EVENTS.path, self._events)
        self.app.router.add_get(PushMethod.WEBSOCKET.path, self._websocket)

    # -- publishing ----------------------------------------------------------------------

    def publish(self, text: str | None = None) -> News:
        """Publish one news item now, to every client, and return it (from a cell).

        ``text`` replaces the default ``news N`` (the item is still padded to ``size``
        bytes, or refused with :class:`ValueError` when it does not fit).
        """
        return runtime.run(self.publish_async(text), timeout=5, what="publishing news")

    async def publish_async(self, text: str | None = None) -> News:
        """The async twin of :meth:`publish` (it runs on the kit's loop)."""
        return await runtime.run_async(self._publish(text))

    async def _publish(self, text: str | None = None) -> News:
        seq = self.published + 1
        news = _padded(seq, round(time.time(), 6), self.size)  # as the wire carries it
        if text is not None:
            bare = len(News(seq, news.sent, text).to_json())
            if bare > self.size:
                raise ValueError(
                    f"{text!r} does not fit in a news item of {self.size} bytes ({bare} "
                    "with it): shorten it or serve a NewsServer(size=...) with room"
                )
            news = News(seq, news.sent, text + "." * (self.size - bare))
        self.published = seq
        self._backlog.append(news)
        for stream in list(self._streams):
            try:
                stream.queue.put_nowait(news)
            except asyncio.QueueFull:
                self._drop(stream)
        if self._arrived is not None:
            arrived, self._arrived = self._arrived, asyncio.Event()
            arrived.set()  # every held long-poll answers now
        return news

    async def produce(self, rate: float, seconds: float, *, count: int | None = None) -> list[News]:
        """Publish news at random moments, ``rate`` per second on average, for ``seconds``.

        The moments come from :attr:`random` (seeded by ``seed``): the same seed gives
        the same moments. Stops early after ``count`` items. Returns what was published.
        Runs on the kit's loop: ``await news.produce(...)`` inside it, or
        ``kit.run(news.produce(...), timeout=...)`` from a cell.
        """
        if rate <= 0 or seconds < 0:
            raise ValueError(f"produce needs rate > 0 and seconds >= 0, not {rate}, {seconds}")
        loop = asyncio.get_running_loop()
        start, at = loop.time(), 0.0
        produced: list[News] = []
        while count is None or len(produced) < count:
            at += self.random.expovariate(rate)
            if at > seconds:
                break
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            produced.append(await self._publish())
        remaining = start + seconds - loop.time()
        if remaining > 0 and (count is None or len(produced) < count):
            await asyncio.sleep(remaining)
        return produced

    async def _produce_forever(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await self.produce(self.rate, 3600.0)

    # -- what the server holds ---------------------------------------------------------------

    @property
    def news(self) -> list[News]:
        """The news kept for polls (the last ``backlog`` items), oldest first."""
        return list(self._backlog)

    @property
    def open_streams(self) -> dict[PushMethod, int]:
        """Event streams and WebSockets open now, and long-polls being held."""
        counts = Counter(stream.method for stream in self._streams)
        return {
            PushMethod.LONG_POLLING: self._waiting,
            PushMethod.SERVER_SENT_EVENTS: counts[PushMethod.SERVER_SENT_EVENTS],
            PushMethod.WEBSOCKET: counts[PushMethod.WEBSOCKET],
        }

    def _drop(self, stream: _Stream) -> None:
        why = (
            f"{stream.method.value} client {stream.peer} dropped: {stream.queue.qsize()} news "
            "waiting for it (it reads too slowly)"
        )
        self.dropped.append(why)
        # Filed with this server (server.log) even when a cell's publish() caused it.
        token = TASK_OWNER.set(self._owner)
        try:
            logger.warning(why)
        finally:
            TASK_OWNER.reset(token)
        self._streams.discard(stream)
        stream.dropped = True
        stream.wake.set()

    def _after(self, news_after: int) -> list[News]:
        return [news for news in self._backlog if news.seq > news_after]

    # -- HTTP ------------------------------------------------------------------------------------

    @staticmethod
    def _method_of(path: str) -> PushMethod | str:
        return next((m for m in PushMethod if m.path == path), path)

    def _cursor(self, request: web.Request) -> int | None:
        from aiohttp import web

        value = request.query.get("after")
        if value is None:
            return None
        if not value.isdigit():
            raise web.HTTPBadRequest(
                text=json.dumps({"error": f"after={value!r}: the cursor is a news seq, 0 or more"}),
                content_type="application/json",
            )
        return int(value)

    def _answer(self, cursor: int, news: list[News]) -> web.Response:
        from aiohttp import web

        after = news[-1].seq if news else cursor
        items = ",".join(item.to_json() for item in news)
        body = f'{{"after":{after},"news":[{items}]}}'
        return web.Response(text=body, content_type="application/json")

    def _refuse_when_stopping(self) -> None:
        from aiohttp import web

        if self._stopping:
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"error": STOPPING}), content_type="application/json"
            )

    async def _page(self, request: web.Request) -> web.Response:
        from aiohttp import web

        return web.Response(text=PAGE.read_text(encoding="utf-8"), content_type="text/html")

    async def _publish_now(self, request: web.Request) -> web.Response:
        from aiohttp import web

        self._refuse_when_stopping()
        news = await self._publish()
        return web.Response(text=news.to_json(), content_type="application/json")

    async def _echo(self, request: web.Request) -> web.StreamResponse:
        """Send each chunk of the request body back as soon as it arrives.

        The response starts before the request has ended: a client that sends ``hello``,
        then waits, reads ``hello`` back while its request is still open (RFC 9112,
        section 9.5: a client keeps watching for a response while it sends a body).
        """
        from aiohttp import web

        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        while chunk := await request.content.readany():
            await response.write(chunk)
        await response.write_eof()
        return response

    async def _poll(self, request: web.Request) -> web.Response:
        self._refuse_when_stopping()
        cursor = self._cursor(request)
        if cursor is None:  # the first poll: the cursor to start from, no news
            return self._answer(self.published, [])
        return self._answer(cursor, self._after(cursor))

    async def _long_poll(self, request: web.Request) -> web.Response:
        self._refuse_when_stopping()
        cursor = self._cursor(request)
        if cursor is None:
            return self._answer(self.published, [])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hold
        self._waiting += 1
        try:
            while not (news := self._after(cursor)):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                if self._arrived is None:
                    self._arrived = asyncio.Event()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                self._refuse_when_stopping()
        finally:
            self._waiting -= 1
        return self._answer(cursor, news)

    def _resume_from(self, request: web.Request) -> int:
        last = request.headers.get("Last-Event-ID", "")
        return int(last) if last.isdigit() else self.published

    async def _events(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        self._refuse_when_stopping()
        response = web.StreamResponse(
            headers={"Content-Type": EVENT_STREAM, "Cache-Control": "no-store"}
        )
        stream = _Stream(PushMethod.SERVER_SENT_EVENTS, _peer(request), self.max_queue)
        for news in self._after(self._resume_from(request)):  # a resumed stream catches up
            stream.queue.put_nowait(news)
        self._streams.add(stream)
        try:
            await response.prepare(request)
            ended = await self._pump(stream, response.write, _event_bytes, keepalive=True)
            if stream.dropped:
                _reset(request)  # its buffers are full: no goodbye can get through
            elif not ended:  # the server is stopping: say so, then end the response
                await self._write_briefly(response.write, _closing_event())
                await self._write_briefly(response.write_eof)
        except (ConnectionError, OSError):
            pass  # the client went away: nothing to tell it
        finally:
            self._streams.discard(stream)
        return response

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import WSCloseCode, web

        self._refuse_when_stopping()
        ws = web.WebSocketResponse(heartbeat=None, compress=False, autoping=True)
        await ws.prepare(request)
        stream = _Stream(PushMethod.WEBSOCKET, _peer(request), self.max_queue)
        self._streams.add(stream)

        async def send(data: bytes) -> None:
            await ws.send_str(data.decode())

        try:
            ended = await self._pump(stream, send, _frame_text, keepalive=False, until=ws)
            if stream.dropped:
                _reset(request)
            elif not ended and not ws.closed:
                await self._write_briefly(
                    ws.close, code=WSCloseCode.GOING_AWAY, message=STOPPING.encode()
                )
        except (ConnectionError, OSError):
            pass
        finally:
            self._streams.discard(stream)
        return ws

    async def _pump(
        self, stream: _Stream, write: Any, encode: Any, *, keepalive: bool, until: Any = None
    ) -> bool:
        """Write the stream's news as it comes until it is woken (dropped, or the server
        stops: returns False) or, for a WebSocket, the client closes (returns True)."""
        pump = asyncio.ensure_future(self._write_news(stream, write, encode, keepalive))
        waiting = {pump, asyncio.ensure_future(stream.wake.wait())}
        if until is not None:
            waiting.add(asyncio.ensure_future(_drain_incoming(until)))
        try:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiting:
                task.cancel()
            await asyncio.wait(waiting)
        if pump in done and not pump.cancelled() and pump.exception() is not None:
            raise pump.exception()  # type: ignore[misc]
        return not stream.wake.is_set()

    async def _write_news(self, stream: _Stream, write: Any, encode: Any, keepalive: bool) -> None:
        idle = self.keepalive if keepalive else None
        while True:
            try:
                news = await asyncio.wait_for(stream.queue.get(), idle)
            except asyncio.TimeoutError:
                await write(_keepalive_bytes())  # nothing for a while: keep it open
                continue
            await write(encode(news))

    @staticmethod
    async def _write_briefly(write: Any, *args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(write(*args, **kwargs), 1.0)

    # -- served by kit.serve: the shape of a server (kind, start, stop) -------------------------

    async def start(self, sock: Any) -> None:
        """Start serving on ``sock`` (``kit.serve`` calls this)."""
        self._stopping = False
        self._owner = TASK_OWNER.get()  # kit.serve set it: whose log is ours
        self._arrived = asyncio.Event()
        self._adapter = AiohttpAdapter(self.app, {}, handler_cancellation=True)
        await self._adapter.start(sock)
        if self.rate > 0:
            self._producer = asyncio.ensure_future(self._produce_forever())

    async def stop(self) -> None:
        """Tell every client the server is going away, then stop serving."""
        if self._adapter is None:
            return
        adapter, self._adapter = self._adapter, None
        self._stopping = True
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
            self._producer = None
        if self._arrived is not None:
            self._arrived.set()  # held long-polls answer 503 now
        for stream in list(self._streams):
            stream.wake.set()  # the pumps stop and say goodbye
        await asyncio.sleep(0)
        for _ in range(50):  # up to 0.5 s for the goodbyes to be written
            if not self._streams and not self._waiting:
                break
            await asyncio.sleep(0.01)
        await adapter.stop()

    def __repr__(self) -> str:
        rate = f"{self.rate:g}/s" if self.rate else "on demand"
        return f"<NewsServer {rate}, {self.published} published, {self.size} B each>"


def _peer(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peer[0]}:{peer[1]}" if peer else "?"


def _reset(request: web.Request) -> None:
    """Cut a dropped reader's connection now: a TCP reset, whatever was still queued for
    it is discarded (a plain close would first send all of it, megabytes, slowly)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _event_bytes(news: News) -> bytes:
    return ServerSentEvent(news.to_json(), id=str(news.seq)).serialize()


def _keepalive_bytes() -> bytes:
    return b": keep-alive\n\n"


def _closing_event() -> bytes:
    return ServerSentEvent(STOPPING, event="close").serialize()


def _frame_text(news: News) -> bytes:
    return news.to_json().encode()


async def _drain_incoming(ws: Any) -> None:
    """Read (and ignore) what a WebSocket client sends, until it closes."""
    async for _ in ws:
        pass
