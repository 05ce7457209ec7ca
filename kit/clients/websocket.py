"""``kit.WebSocket``: the browser's WebSocket API, in Python, on the ``websockets`` library.

The JavaScript the seed article teaches::

    var socket = new WebSocket("ws://127.0.0.1:8000", ["chat.v1"]);
    socket.onopen = function (evt) { socket.send("hello"); };
    socket.onmessage = function (evt) { console.log(evt.data); };
    socket.onclose = function (evt) { console.log(evt.code, evt.reason, evt.wasClean); };

and its Python mirror::

    ws = kit.WebSocket("ws://127.0.0.1:8000", ["chat.v1"])
    ws.onopen = lambda evt: ws.send("hello")
    ws.onmessage = lambda evt: print(evt.data)
    ws.onclose = lambda evt: print(evt.code, evt.reason, evt.wasClean)
    kit.settle()   # a cell may wait; a browser script never blocks

Event order, ``readyState`` changes, close codes and the exceptions follow the WHATWG
WebSockets standard (https://websockets.spec.whatwg.org/): a connection that cannot be
made fires ``error`` then ``close`` with code 1006 and ``wasClean`` False; ``send()``
while CONNECTING raises ``InvalidStateError``. Events are delivered the way a browser
delivers them: never before the creating cell has finished or the program waits (see
:mod:`kit.runtime.events`).

Why this module is long: it mirrors the whole browser API (constructor checks, the four
states, four events, ``send``/``close`` rules, ``bufferedAmount``) in one class, so a
learner can read it next to the standard.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import warnings
from collections import deque
from collections.abc import Iterable
from ssl import SSLContext
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kit.runtime.errors import InvalidAccessError, InvalidStateError, WebSocketSyntaxError
from kit.runtime.events import (
    CloseEvent,
    Event,
    EventChannel,
    Listener,
    MessageEvent,
    done,
)
from kit.runtime.logbook import CLIENT_LOGGER
from kit.runtime.loop import Part, runtime
from kit.runtime.tls import client_context
from kit.wire.text import usv

__all__ = ["WebSocket"]

log = logging.getLogger("kit.runtime")

OPEN_TIMEOUT = 10.0
MAX_MESSAGE_SIZE = 16 * 2**20
INBOX_SIZE = 10_000

# RFC 7230 token characters: what a subprotocol name may contain.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Close codes the closing side sends when it *fails* the connection (RFC 6455 §7.1.7).
_FAILURE_CODES = {1002, 1003, 1007, 1009, 1010, 1011}

_CLOSE = object()  # send-queue marker: start the closing handshake


def _parse_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise WebSocketSyntaxError(f"{url!r} is not a valid URL: {exc}") from None
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise WebSocketSyntaxError(
            f"{url!r}: a WebSocket URL starts with ws:// or wss:// (or http(s):// which "
            f"becomes ws(s)://), not {parts.scheme + '://' if parts.scheme else 'nothing'}"
        )
    if parts.fragment or url.endswith("#"):
        raise WebSocketSyntaxError(f"{url!r}: a WebSocket URL may not have a #fragment")
    if not parts.hostname:
        raise WebSocketSyntaxError(f"{url!r} has no host; try ws://127.0.0.1:PORT")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked for it
    except ValueError:
        port = parts.netloc.rpartition(":")[2]
        raise WebSocketSyntaxError(
            f"{url!r}: the port {port!r} is not a number from 0 to 65535"
        ) from None
    return urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))


def _parse_protocols(protocols: str | Iterable[str] | None) -> list[str]:
    if protocols is None:
        return []
    names = [protocols] if isinstance(protocols, str) else list(protocols)
    for name in names:
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise WebSocketSyntaxError(
                f"subprotocol {name!r} is not a valid token (letters, digits and "
                "!#$%&'*+-.^_`|~ only, no spaces or commas)"
            )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise WebSocketSyntaxError(f"subprotocol {duplicates[0]!r} is listed twice")
    return names


class WebSocket:
    """A WebSocket client with the browser's API.

    Args:
        url: ``ws://`` or ``wss://`` address (``http(s)://`` is converted, as browsers do).
        protocols: a subprotocol name or a list of them, offered in
            ``Sec-WebSocket-Protocol``; the server's choice appears in :attr:`protocol`.
        onopen, onmessage, onerror, onclose: optional handlers, same as assigning them.
        origin: the ``Origin`` header to send, as a page from that origin would (a
            browser sends its page's origin and a script cannot choose it; here you
            choose which page to play). None sends no ``Origin``, like any non-browser
            client.
        ssl: for ``wss://``, the ``ssl.SSLContext`` to verify the server with; by
            default the system's authorities plus the kit's local CA
            (:func:`kit.runtime.tls.client_context`).

    Connecting starts at once, on the kit's runtime thread.
    """

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3
    _STATE_NAMES = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")

    def __init__(
        self,
        url: str,
        protocols: str | Iterable[str] | None = None,
        *,
        onopen: Listener | None = None,
        onmessage: Listener | None = None,
        onerror: Listener | None = None,
        onclose: Listener | None = None,
        origin: str | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        self.url = _parse_url(url)
        self._protocols = _parse_protocols(protocols)
        self._origin_header = origin
        self._ssl = ssl
        self._ready_state = self.CONNECTING
        self._protocol = ""
        self._extensions = ""
        self._buffered = 0
        self.failure: BaseException | None = None
        """Why the connection failed or closed abnormally, for the curious (not in JS)."""
        self._channel = EventChannel(self)
        self._inbox: deque[MessageEvent] = deque(maxlen=INBOX_SIZE)
        self._close_event: CloseEvent | None = None
        self._opened = False
        self._aborted = False  # close() came while CONNECTING, after the handshake succeeded
        self._closer: asyncio.Future[Any] | None = None
        self._closing_emitted = False
        self._connection: Any = None
        self._queue: asyncio.Queue[Any] | None = None
        self._connect_task: asyncio.Task[Any] | None = None
        self._pending_sends: list[Any] = []
        for type_, handler in (
            ("open", onopen),
            ("message", onmessage),
            ("error", onerror),
            ("close", onclose),
        ):
            if handler is not None:
                self._channel.set_handler(type_, handler)
        runtime.part(OpenSockets).sockets.add(self)
        self._opening = self._channel.work()  # the opening handshake, until it ends
        self._task = runtime.submit(self._run())

    # -- the browser's attributes --------------------------------------------------

    @property
    def readyState(self) -> int:
        """0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED (compare with ``WebSocket.OPEN``)."""
        return self._ready_state

    @property
    def protocol(self) -> str:
        """The subprotocol the server selected, or ``""``."""
        return self._protocol

    @property
    def extensions(self) -> str:
        """The extensions the server accepted, e.g. ``"permessage-deflate"``."""
        return self._extensions

    @property
    def bufferedAmount(self) -> int:
        """Bytes passed to :meth:`send` that have not been handed to the network yet."""
        return self._buffered

    binaryType = "bytes"

    @property
    def close_event(self) -> CloseEvent | None:
        """The ``close`` event once it has been delivered, else None (not in JS)."""
        return self._close_event

    def _handler_property(type_: str) -> property:  # type: ignore[misc]
        def get(self: WebSocket) -> Listener | None:
            return self._channel.get_handler(type_)

        def set_(self: WebSocket, listener: Listener | None) -> None:
            self._channel.set_handler(type_, listener)

        return property(get, set_, doc=f"Called with the ``{type_}`` event, or None.")

    onopen = _handler_property("open")
    onmessage = _handler_property("message")
    onerror = _handler_property("error")
    onclose = _handler_property("close")
    del _handler_property

    def add_event_listener(self, type_: str, listener: Listener) -> None:
        """Like ``addEventListener(type, listener)``: listeners add up, handlers replace."""
        self._channel.add_listener(type_, listener)

    def remove_event_listener(self, type_: str, listener: Listener) -> None:
        """Like ``removeEventListener(type, listener)``."""
        self._channel.remove_listener(type_, listener)

    # -- the browser's methods -----------------------------------------------------

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send a text (``str``) or binary (bytes-like) message.

        Raises :class:`InvalidStateError` while CONNECTING. After ``close()`` the data is
        discarded with a warning, as a browser does (it logs "WebSocket is already in
        CLOSING or CLOSED state"). Text is sent as a browser sends it: a lone surrogate
        (``"\ud800"``, which UTF-8 cannot encode) goes out as U+FFFD
        (:func:`kit.wire.usv`), instead of breaking the connection.
        """
        if isinstance(data, str):
            data = usv(data)
            size = len(data.encode("utf-8"))
        elif isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
            size = len(data)
        else:
            raise TypeError(
                f"send() takes str (a text frame) or bytes (a binary frame), not "
                f"{type(data).__name__}; use json.dumps() for objects"
            )
        if self._ready_state == self.CONNECTING:
            raise InvalidStateError(
                "send() while the WebSocket is still CONNECTING; wait for the open event "
                "(ws.onopen, or ws.wait_open() in a cell)"
            )
        self._buffered += size
        if self._ready_state != self.OPEN:
            warnings.warn(
                f"WebSocket is already in {self._STATE_NAMES[self._ready_state]} state; "
                f"the {size}-byte message was not sent",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        runtime.call_soon(self._enqueue, (data, size, self._channel.work()))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake with ``code`` (1000 or 3000-4999) and ``reason``.

        A browser's ``close()`` without a code sends no status (the server sees 1005);
        this mirror sends 1000 by default, the code for a normal closure.
        """
        if code != 1000 and not 3000 <= code <= 4999:
            raise InvalidAccessError(
                f"close code {code} is reserved; a program may send 1000 (normal closure) "
                "or its own code from 3000 to 4999"
            )
        encoded = reason.encode("utf-8")
        if len(encoded) > 123:
            raise WebSocketSyntaxError(
                f"the close reason is {len(encoded)} bytes of UTF-8; at most 123 fit in a "
                "Close frame (RFC 6455 section 5.5)"
            )
        if self._ready_state in (self.CLOSING, self.CLOSED):
            return
        was_connecting = self._ready_state == self.CONNECTING
        self._ready_state = self.CLOSING
        if was_connecting:
            runtime.call_soon(self._abort_connecting)
        else:
            runtime.call_soon(self._enqueue, (_CLOSE, (code, reason), self._channel.work()))

    # -- waiting, for cells and tests ----------------------------------------------

    def wait_open(self, timeout: float = 5.0) -> None:
        """Block until the ``open`` event has been delivered (raise if the connection failed)."""
        self._channel.wait_for(
            lambda: self._opened or self._close_event is not None,
            timeout,
            f"open event from {self.url}",
        )
        if not self._opened:
            raise ConnectionError(f"the WebSocket to {self.url} failed: {self._close_event}")

    def wait_message(self, timeout: float = 5.0) -> MessageEvent:
        """Return the oldest message not yet returned by this method, waiting if needed.

        Listeners have already seen the message when it is returned. Raises
        :class:`TimeoutError` after ``timeout`` seconds, and :class:`ConnectionError` if
        the socket closes with no message left to return.
        """
        self._channel.wait_for(
            lambda: bool(self._inbox) or self._close_event is not None,
            timeout,
            f"message on {self.url} ({self._STATE_NAMES[self._ready_state]})",
        )
        if self._inbox:
            return self._inbox.popleft()
        raise ConnectionError(f"the WebSocket to {self.url} closed: {self._close_event}")

    def wait_closed(self, timeout: float = 5.0) -> CloseEvent:
        """Block until the ``close`` event has been delivered and return it."""
        self._channel.wait_for(
            lambda: self._close_event is not None, timeout, f"close event from {self.url}"
        )
        assert self._close_event is not None
        return self._close_event

    def __repr__(self) -> str:
        state = self._STATE_NAMES[self._ready_state]
        protocol = f" protocol={self._protocol!r}" if self._protocol else ""
        return f"<WebSocket {self.url} {state}{protocol}>"

    # -- the runtime side ----------------------------------------------------------

    def _enqueue(self, item: Any) -> None:
        if self._closing_emitted:  # closed meanwhile; the close event is on its way
            done(item[2])
            return
        if self._queue is None:  # the connection is not open yet (close() raced it)
            self._pending_sends.append(item)
        else:
            self._queue.put_nowait(item)

    def _abort_connecting(self) -> None:
        """``close()`` was called while CONNECTING: fail the connection (WHATWG).

        Three moments are possible on the runtime thread: the handshake has not started
        or is under way (cancel it; ``_connect_and_read`` then fails), or it has just
        succeeded and the ``open`` event is queued but not delivered. In that last case
        the connection is closed here, ``open`` is dropped, and ``error`` then ``close``
        (1006) follow, as for any connection that failed before it opened.
        """
        if self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
            return
        self._aborted = True
        if self._connection is not None:
            self._closer = asyncio.ensure_future(self._connection.close(1000))

    async def _run(self) -> None:
        try:
            await self._connect_and_read()
        except Exception as exc:  # a bug here must still end in a close event, not a hang
            log.exception("kit.WebSocket to %s crashed", self.url)
            self.failure = exc
            if self._close_event is None and not self._closing_emitted:
                self._fail()

    async def _connect_and_read(self) -> None:
        from websockets.asyncio.client import connect

        kwargs: dict[str, Any] = {
            "open_timeout": OPEN_TIMEOUT,
            "max_size": MAX_MESSAGE_SIZE,
            "user_agent_header": "kit.WebSocket (Python)",
            "logger": CLIENT_LOGGER,
        }
        if self._protocols:
            kwargs["subprotocols"] = self._protocols
        if self._origin_header is not None:
            kwargs["origin"] = self._origin_header
        if self.url.startswith("wss://"):
            kwargs["ssl"] = self._ssl if self._ssl is not None else client_context()
        self._connect_task = asyncio.ensure_future(connect(self.url, **kwargs))
        try:
            connection = await self._connect_task
        except asyncio.CancelledError:
            if self._ready_state != self.CLOSING:  # the kit itself is stopping
                raise
            self.failure = ConnectionAbortedError("close() was called while CONNECTING")
            self._fail()
            return
        except Exception as exc:
            self.failure = exc
            self._fail()
            return
        finally:
            done(self._opening)  # the handshake is over, whichever way it went
        self._connection = connection
        self._queue = asyncio.Queue()
        for item in self._pending_sends:
            self._queue.put_nowait(item)
        self._pending_sends.clear()
        if self._ready_state == self.CLOSING:  # close() while the handshake finished
            await connection.close(1000)
            self.failure = ConnectionAbortedError("close() was called while CONNECTING")
            self._fail()
            return

        def opened() -> bool:
            if self._ready_state != self.CONNECTING:
                return False  # close() was called first: this open never happened
            self._ready_state = self.OPEN
            self._protocol = connection.subprotocol or ""
            extensions = connection.response.headers.get("Sec-WebSocket-Extensions", "")
            self._extensions = extensions
            self._opened = True
            return True

        self._channel.emit(Event("open", self), before=opened)
        sender = asyncio.ensure_future(self._send_loop(connection))
        try:
            async for message in connection:
                event = MessageEvent("message", self, data=message, origin=self._origin())
                self._channel.emit(event, before=functools.partial(self._inbox.append, event))
        except Exception as exc:  # ConnectionClosedError and friends: report below
            self.failure = exc
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        await connection.wait_closed()
        if self._aborted:
            self.failure = ConnectionAbortedError("close() was called while CONNECTING")
            self._fail()
            return
        self._closed(connection)

    def _origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    async def _send_loop(self, connection: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        assert self._queue is not None
        while True:
            data, extra, work = await self._queue.get()
            try:
                if data is _CLOSE:
                    code, reason = extra
                    await connection.close(code, reason)  # done when the close event is
                    return
                await connection.send(data)
            except ConnectionClosed:
                pass  # the close event that follows tells the story
            finally:
                if data is not _CLOSE:
                    self._buffered -= extra
                    done(work)

    def _fail(self) -> None:
        """The connection could not be established: error, then close 1006."""
        self._channel.emit(Event("error", self))
        self._finish(CloseEvent("close", self, code=1006, reason="", wasClean=False))

    def _closed(self, connection: Any) -> None:
        received, sent = connection.protocol.close_rcvd, connection.protocol.close_sent
        if received is not None:
            clean = sent is not None  # both Close frames crossed: the handshake completed
            event = CloseEvent(
                "close", self, code=int(received.code), reason=received.reason, wasClean=clean
            )
        else:
            event = CloseEvent("close", self, code=1006, reason="", wasClean=False)
        if received is None and sent is not None and int(sent.code) in _FAILURE_CODES:
            self._channel.emit(Event("error", self))  # this side failed the connection
        self._finish(event)

    def _finish(self, event: CloseEvent) -> None:
        self._closing_emitted = True

        def closed() -> None:
            self._ready_state = self.CLOSED
            self._close_event = event
            runtime.part(OpenSockets).sockets.discard(self)

        # Everything still queued for sending will never go out: all work is over.
        self._pending_sends.clear()
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait()
        self._channel.finish_work()
        self._channel.emit(event, before=closed)

    async def _shutdown(self) -> None:
        """Stop by the kit (``kit.stop_all()``): close fast, deliver nothing more."""
        self._channel.mute()
        if self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._connection.close(1001, "kit stopped"), 1)
        task = asyncio.wrap_future(self._task)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 2)
        self._ready_state = self.CLOSED


class OpenSockets(Part):
    """The kit.WebSocket objects not closed yet; ``kit.stop_all()`` closes them first."""

    stop_order = -10

    def __init__(self) -> None:
        self.sockets: set[WebSocket] = set()

    async def on_stop(self) -> None:
        for socket in list(self.sockets):
            await socket._shutdown()
        self.sockets.clear()
