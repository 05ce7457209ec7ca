"""Four news clients, one per way of hearing from a server, each timing what it hears.

Each client talks to a :class:`~kit.apps.push.NewsServer` (or a tap in front of it) the
way a page would, with its own HTTP connection pool, like a browser tab::

    poller = kit.ShortPollingClient(server.url, interval=0.5)   # fetch() every 500 ms
    waiter = kit.LongPollingClient(server.url)                  # fetch() held by the server
    source = kit.EventSourceClient(server.url)                  # new EventSource("/events")
    socket = kit.WebSocketNewsClient(server.url)                # new WebSocket("/ws")
    news.publish()
    source.wait_news()            # -> News(seq=1, ...), as soon as it arrived
    source.deliveries[-1].delay   # seconds between publishing and arrival

Every client keeps a :class:`Delivery` per news item (when it arrived, so how late) and
counts the HTTP requests it made. It starts at once (from a cell or inside the kit's
loop) and runs on the kit's runtime thread until :meth:`NewsClient.close`,
``kit.stop_all()``, or an error.

A client never retries and never hangs: the first thing that goes wrong ends it, with
:attr:`NewsClient.error` saying what, where, and what to do
(:class:`NewsClientError`: the server cannot be reached, went away, answered something
unexpected, or did not answer in time). A browser's ``EventSource`` would reconnect by
itself and send ``Last-Event-ID``; this one stops and says why, so that a measurement
sees every failure.

Why this module is long: the four clients read best next to each other (each ``_run``
is what a page's script would do), and they share one set of errors whose messages a
learner reads; the shared part (waiting, delivering, failing) is written once.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from kit.apps.push import News, PushMethod
from kit.runtime import cells
from kit.runtime.loop import Part, runtime
from kit.runtime.servers import Server
from kit.wire.eventstream import EVENT_STREAM, EventStreamParser

__all__ = [
    "CLIENT_HEADERS",
    "Delivery",
    "EventSourceClient",
    "LongPollingClient",
    "NewsClient",
    "NewsClientError",
    "NoAnswer",
    "ServerUnreachable",
    "ServerWentAway",
    "ShortPollingClient",
    "UnexpectedAnswer",
    "WebSocketNewsClient",
    "news_client",
]

CLIENT_HEADERS = {"User-Agent": "kit-news-client/0.1", "Accept-Encoding": "gzip, deflate"}
"""The headers every request carries besides ``Host`` and ``Accept``: fixed, so that bytes
on the wire are the same on every machine. (A browser sends far more: its User-Agent
alone is about 100 bytes, then Accept-Language, cookies...)"""

CONNECT_TIMEOUT = 5.0
"""Seconds to open a connection before :class:`ServerUnreachable`."""


# -- what goes wrong ------------------------------------------------------------------------


class NewsClientError(Exception):
    """What ended a news client; ``str()`` says what, where, and what to do.

    Attributes:
        method: the client's :class:`~kit.apps.push.PushMethod`.
        url: the address it was talking to.
    """

    def __init__(self, method: PushMethod, url: str, problem: str) -> None:
        super().__init__(f"{method.value} client, {url}: {problem}")
        self.method, self.url, self.problem = method, url, problem


class ServerUnreachable(NewsClientError):
    """No connection could be opened: nothing listens there (a stopped server, say)."""


class ServerWentAway(NewsClientError):
    """The server ended the exchange: it is stopping, it dropped this client, or the
    connection was cut in the middle of an answer or a stream."""


class UnexpectedAnswer(NewsClientError):
    """The server answered, but not as a news server does (a wrong status or body)."""


class NoAnswer(NewsClientError):
    """The server accepted the request and said nothing for ``timeout`` seconds."""


# -- what a client keeps ------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One news item as one client received it.

    Attributes:
        news: what arrived.
        received: the client's ``time.time()`` on arrival.
    """

    news: News
    received: float

    @property
    def delay(self) -> float:
        """Seconds from publication on the server to arrival here."""
        return self.received - self.news.sent


class NewsClient:
    """What the four clients share: deliveries, requests, state, errors, waiting.

    Args:
        url: the server (a kit ``Server``, a tap, or ``http://127.0.0.1:PORT``).
        timeout: seconds an answer may take (a long-poll's, too: keep it above the
            server's ``hold``); event streams and WebSockets wait for news as long as
            they stay open.
    """

    method: ClassVar[PushMethod]

    def __init__(self, url: Server | str | Any, *, timeout: float = 30.0) -> None:
        base = getattr(url, "url", url)
        if not isinstance(base, str) or not base.startswith(("http://", "https://")):
            raise ValueError(f"url must be a kit Server, a tap or http://host:port, not {url!r}")
        self.url = base.rstrip("/")
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        """Every news item received, in arrival order."""
        self.requests = 0
        """HTTP requests this client sent (a WebSocket's upgrade counts as one)."""
        self.error: NewsClientError | None = None
        """What ended the client, or None."""
        self._state = "connecting"
        self._cond = threading.Condition()
        self._taken = 0  # deliveries wait_news() returned
        self._seen: set[int] = set()
        self._watchers: list[Callable[[Delivery], object]] = []
        self._task: asyncio.Task[None] | None = None
        self._session: Any = None
        runtime.part(NewsClients).clients.add(self)
        if runtime.in_runtime_thread():
            self._task = asyncio.get_running_loop().create_task(self._main())
        else:
            runtime.call_soon(self._start_on_loop)

    def _start_on_loop(self) -> None:
        if self._state == "connecting" and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._main())

    # -- what a cell reads -------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``connecting``, ``open`` (news can arrive), ``closed`` or ``failed`` (see error)."""
        return self._state

    @property
    def delays(self) -> list[float]:
        """The delay of every delivery, in seconds, in arrival order."""
        return [delivery.delay for delivery in self.deliveries]

    @property
    def last_seq(self) -> int:
        """The highest news ``seq`` received so far (0 before the first)."""
        return max(self._seen, default=0)

    def on_news(self, watcher: Callable[[Delivery], object]) -> None:
        """Call ``watcher(delivery)`` for each news item (on the kit's runtime thread)."""
        self._watchers.append(watcher)

    def wait_open(self, timeout: float = 5.0) -> None:
        """Block until the client is ready to receive news; raise its error if it failed."""
        self._wait(lambda: self._state != "connecting", timeout, "to open")
        if self.error is not None:
            raise self.error

    def wait_news(self, timeout: float = 5.0) -> News:
        """Block until a news item not returned before has arrived, and return it.

        Raises the client's error if it ends first, :class:`TimeoutError` if nothing came.
        """

        def ready() -> bool:
            return len(self.deliveries) > self._taken or self._state in ("closed", "failed")

        self._wait(ready, timeout, "for news")
        with self._cond:
            if len(self.deliveries) > self._taken:
                self._taken += 1
                return self.deliveries[self._taken - 1].news
        if self.error is not None:
            raise self.error
        raise ConnectionError(f"{self.method.value} client {self.url} was closed")

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with cells.waiting(), self._cond:
            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{self.method.value} client {self.url}: nothing {what} within "
                        f"{timeout:g} s (state {self._state}, {len(self.deliveries)} news so far)"
                    )
                self._cond.wait(remaining)

    def close(self) -> None:
        """Stop the client and close its connections (from a cell); again does nothing."""
        if runtime.is_running and not runtime.in_runtime_thread():
            runtime.run(self.close_async(), 5.0, what=f"closing {self!r}")

    async def close_async(self) -> None:
        """The async twin of :meth:`close`."""
        task = self._task
        if task is None:
            self._set_state("closed")
            return
        if not task.done():
            task.cancel()
        await asyncio.wait({task})

    # -- on the loop ------------------------------------------------------------------------

    async def _main(self) -> None:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
        self._session = aiohttp.ClientSession(headers=CLIENT_HEADERS, timeout=timeout)
        try:
            await self._run(self._session)
            self._set_state("closed")
        except NewsClientError as exc:
            self.error = exc
            self._set_state("failed")
        except asyncio.CancelledError:
            self._set_state("closed")
        except Exception as exc:  # a bug of ours must still end the client clearly
            self.error = NewsClientError(self.method, self.url, f"{type(exc).__name__}: {exc}")
            self._set_state("failed")
        finally:
            await self._session.close()
            runtime.part(NewsClients).clients.discard(self)

    async def _run(self, session: Any) -> None:  # pragma: no cover - each client says
        raise NotImplementedError

    def _set_state(self, state: str) -> None:
        with self._cond:
            self._state = state
            self._cond.notify_all()

    def _deliver(self, news: News) -> None:
        received = time.time()
        if news.seq in self._seen:
            return  # (a poll cursor or a resumed stream never repeats one; be safe)
        self._seen.add(news.seq)
        delivery = Delivery(news, received)
        with self._cond:
            self.deliveries.append(delivery)
            self._cond.notify_all()
        for watcher in list(self._watchers):
            watcher(delivery)

    def _fail(self, kind: type[NewsClientError], problem: str) -> NewsClientError:
        return kind(self.method, self.url, problem)

    async def _get_json(self, session: Any, path: str) -> dict[str, Any]:
        """GET ``path``; return the JSON object answered, or raise the error that fits."""
        import aiohttp

        self.requests += 1
        where = f"GET {path}"
        try:
            async with session.get(self.url + path, timeout=self._request_timeout()) as answer:
                body = await answer.read()
        except aiohttp.ClientConnectorError as exc:
            raise self._unreachable(where, exc) from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise self._fail(
                ServerWentAway, f"{where}: the connection was closed before the answer ({exc})"
            ) from None
        except asyncio.TimeoutError:
            raise self._fail(
                NoAnswer, f"{where}: no answer within {self.timeout:g} s; is the server busy?"
            ) from None
        except aiohttp.ClientError as exc:
            raise self._fail(ServerWentAway, f"{where}: {type(exc).__name__}: {exc}") from None
        if answer.status == 503:
            raise self._fail(ServerWentAway, f"{where} answered 503: {_reason(body)}")
        if answer.status != 200:
            raise self._fail(
                UnexpectedAnswer,
                f"{where} answered {answer.status} {answer.reason}: {_reason(body)}; a news "
                "server answers 200 with {'after': SEQ, 'news': [...]} (is this a NewsServer?)",
            )
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("news"), list):
                raise ValueError("not {'after': SEQ, 'news': [...]}")
            return data
        except ValueError as exc:
            raise self._fail(UnexpectedAnswer, f"{where}: the answer is not news: {exc}") from None

    def _request_timeout(self) -> Any:
        import aiohttp

        return aiohttp.ClientTimeout(total=self.timeout, sock_connect=CONNECT_TIMEOUT)

    def _unreachable(self, where: str, exc: Exception) -> NewsClientError:
        cause = getattr(exc, "os_error", exc)
        return self._fail(
            ServerUnreachable,
            f"{where}: cannot connect ({getattr(cause, 'strerror', None) or cause}); nothing "
            "listens there: was the server stopped? (kit.running_servers() lists those running)",
        )

    async def _poll_news(self, session: Any, path: str, cursor: int) -> int:
        data = await self._get_json(session, f"{path}?after={cursor}")
        for item in data["news"]:
            try:
                self._deliver(News.from_json(item))
            except ValueError as exc:
                raise self._fail(UnexpectedAnswer, f"GET {path}: {exc}") from None
        after = data.get("after")
        return after if isinstance(after, int) else cursor

    def __repr__(self) -> str:
        count = len(self.deliveries)
        last = f", last delay {self.deliveries[-1].delay * 1000:.1f} ms" if count else ""
        error = f": {self.error.problem}" if self.error is not None else ""
        return f"<{type(self).__name__} {self.url} {self._state}, {count} news{last}{error}>"


class ShortPollingClient(NewsClient):
    """Asks ``GET /poll?after=SEQ`` every ``interval`` seconds, news or not.

    The ticks are fixed (0, T, 2T...), like ``setInterval``: a slow answer does not push
    the next poll back; a tick missed while an answer was late is skipped.
    """

    method = PushMethod.SHORT_POLLING

    def __init__(
        self, url: Server | str | Any, *, interval: float = 1.0, timeout: float = 30.0
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval is seconds between polls (> 0), not {interval}")
        self.interval = interval
        super().__init__(url, timeout=timeout)

    async def _run(self, session: Any) -> None:
        path = self.method.path
        cursor = (await self._get_json(session, path)).get("after", 0)
        self._set_state("open")
        loop = asyncio.get_running_loop()
        tick = loop.time()
        while True:
            tick += self.interval
            now = loop.time()
            if tick < now:  # answers were late: skip the ticks already past
                tick += (now - tick) // self.interval * self.interval + self.interval
            await asyncio.sleep(tick - now)
            cursor = await self._poll_news(session, path, cursor)


class LongPollingClient(NewsClient):
    """Asks ``GET /long-poll?after=SEQ``; the server holds it until there is news (or its
    ``hold`` ran out), and the client asks again at once."""

    method = PushMethod.LONG_POLLING

    async def _run(self, session: Any) -> None:
        path = self.method.path
        cursor = (await self._get_json(session, path)).get("after", 0)
        self._set_state("open")
        while True:
            cursor = await self._poll_news(session, path, cursor)


class _StreamClient(NewsClient):
    """A client that reads one long response: ``pause`` makes it a slow reader."""

    def __init__(
        self, url: Server | str | Any, *, pause: float = 0.0, timeout: float = 30.0
    ) -> None:
        if pause < 0:
            raise ValueError(f"pause is seconds (>= 0), not {pause}")
        self.pause = pause
        """Seconds this client waits after each news item before reading on (a slow
        reader, for experiments: the server drops readers that fall too far behind)."""
        super().__init__(url, timeout=timeout)

    def _cut(self, what: str) -> NewsClientError:
        last = f"after news #{self.last_seq}" if self._seen else "before any news"
        return self._fail(
            ServerWentAway,
            f"{what} {last}: the server stopped, or dropped this client for reading too "
            "slowly (see the server's .dropped)",
        )


class EventSourceClient(_StreamClient):
    """Opens ``GET /events`` (``Accept: text/event-stream``) and reads events as they come.

    Like a browser's ``EventSource``, it reads the stream with the WHATWG rules
    (:class:`~kit.wire.eventstream.EventStreamParser`); unlike it, it does not reconnect.
    An ``event: close`` from the server ends it with :class:`ServerWentAway` and the
    server's reason.
    """

    method = PushMethod.SERVER_SENT_EVENTS

    async def _run(self, session: Any) -> None:
        import aiohttp

        path = self.method.path
        where = f"GET {path}"
        self.requests += 1
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
        try:
            async with session.get(
                self.url + path, headers={"Accept": EVENT_STREAM}, timeout=timeout
            ) as answer:
                if answer.status == 503:
                    body = await answer.read()
                    raise self._fail(ServerWentAway, f"{where} answered 503: {_reason(body)}")
                kind = answer.headers.get("Content-Type", "")
                if answer.status != 200 or not kind.startswith(EVENT_STREAM):
                    raise self._fail(
                        UnexpectedAnswer,
                        f"{where} answered {answer.status} {answer.reason} ({kind or 'no type'})"
                        f"; an event stream is 200 with Content-Type: {EVENT_STREAM}",
                    )
                self._set_state("open")
                parser = EventStreamParser()
                async for chunk in answer.content.iter_any():
                    for event in parser.feed(chunk):
                        if event.event == "close":
                            raise self._fail(ServerWentAway, f"the server said: {event.data}")
                        try:
                            self._deliver(News.from_json(event.data))
                        except ValueError as exc:
                            raise self._fail(UnexpectedAnswer, f"event: {exc}") from None
                        if self.pause:
                            await asyncio.sleep(self.pause)
        except aiohttp.ClientConnectorError as exc:
            raise self._unreachable(where, exc) from None
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError):
            raise self._cut("the event stream was cut") from None
        except aiohttp.ClientError as exc:
            raise self._fail(ServerWentAway, f"{where}: {type(exc).__name__}: {exc}") from None
        raise self._cut("the event stream ended")


class WebSocketNewsClient(_StreamClient):
    """Opens a WebSocket to ``/ws`` (no compression, no pings) and reads one news item
    per text frame. A close from the server ends it with :class:`ServerWentAway`, its
    code and reason (1001 "going away" when the server stops)."""

    method = PushMethod.WEBSOCKET

    async def _run(self, session: Any) -> None:
        import aiohttp

        where = f"WebSocket {self.method.path}"
        self.requests += 1
        ws_url = "ws" + self.url[len("http") :] + self.method.path
        try:
            ws = await session.ws_connect(
                ws_url, autoping=True, heartbeat=None, compress=0, timeout=self._ws_timeout()
            )
        except aiohttp.ClientConnectorError as exc:
            raise self._unreachable(where, exc) from None
        except aiohttp.WSServerHandshakeError as exc:
            problem = f"{where}: the upgrade was refused ({exc.status} {exc.message})"
            kind = ServerWentAway if exc.status == 503 else UnexpectedAnswer
            raise self._fail(kind, problem) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise self._fail(ServerWentAway, f"{where}: {type(exc).__name__}: {exc}") from None
        self._set_state("open")
        closing = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)
        try:
            while True:
                message = await ws.receive()
                if message.type == aiohttp.WSMsgType.TEXT:
                    try:
                        self._deliver(News.from_json(message.data))
                    except ValueError as exc:
                        raise self._fail(UnexpectedAnswer, f"frame: {exc}") from None
                    if self.pause:
                        await asyncio.sleep(self.pause)
                elif message.type in closing or message.type == aiohttp.WSMsgType.ERROR:
                    break
        finally:
            await ws.close()
        if message.type == aiohttp.WSMsgType.CLOSE and message.data != 1006:
            reason = f" {message.extra!r}" if message.extra else ""
            raise self._fail(
                ServerWentAway, f"the server closed the WebSocket: {message.data}{reason}"
            )
        raise self._cut("the WebSocket connection was cut")

    def _ws_timeout(self) -> Any:
        import aiohttp

        return aiohttp.ClientWSTimeout(ws_receive=None, ws_close=1.0)


_CLIENTS: dict[PushMethod, type[NewsClient]] = {
    PushMethod.SHORT_POLLING: ShortPollingClient,
    PushMethod.LONG_POLLING: LongPollingClient,
    PushMethod.SERVER_SENT_EVENTS: EventSourceClient,
    PushMethod.WEBSOCKET: WebSocketNewsClient,
}


def news_client(method: PushMethod | str, url: Server | str | Any, **options: Any) -> NewsClient:
    """The client for ``method`` (``"short polling"``, ``"sse"``, ``"websocket"``...).

    ``options`` go to its class: ``interval`` for short polling, ``pause`` for the two
    streams, ``timeout`` for all.
    """
    return _CLIENTS[PushMethod.parse(method)](url, **options)


def _reason(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace") or "no body"
    return str(data.get("error", data)) if isinstance(data, dict) else str(data)


class NewsClients(Part):
    """The news clients running; ``kit.stop_all()`` closes them before the servers stop."""

    stop_order = -10

    def __init__(self) -> None:
        self.clients: set[NewsClient] = set()

    async def on_stop(self) -> None:
        clients = list(self.clients)
        for client in clients:
            if client._task is not None and not client._task.done():
                client._task.cancel()
        tasks = [client._task for client in clients if client._task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        self.clients.clear()
