"""``kit.tap(server)``: a loopback relay that records and decodes every byte, both ways.

Browser DevTools show one layer at a time, for one browser. The tap sits between *any*
client and a kit server, passes the bytes through unchanged, and decodes them layer by
layer as they go by::

    client  --TCP-->  tap (127.0.0.1:TAP_PORT)  --TCP-->  server (127.0.0.1:PORT)
                       |
                       +-- HTTP heads and bodies   (long-polling GET/POST, the upgrade)
                       +-- WebSocket frames         (opcode, mask, length; inflated)
                       +-- engine.io packets        (open, ping, pong, message, upgrade...)
                       +-- socket.io packets        (connect, event, ack...)

Connect the client to ``tap.url`` instead of ``server.url``; read ``tap.events`` (a list of
:class:`~kit.wiretap.records.WireEvent`) or show them live with ``kit.FrameInspector(tap)``.
``tap.bytes`` counts the bytes relayed each way (:class:`~kit.wiretap.relay.ByteCount`);
``kit.tap(server, decode=False)`` only counts, for measurements with many clients.

In front of a Redis (``kit.tap(kit.redis())``) it decodes RESP instead: ``tap.url`` is then
a ``redis://`` URL to give the chat servers, and each command and reply is a row at the
``redis`` layer (``PUBLISH wire-to-room '{"method":"emit",...}'``).

The parts, each in its own module, data flowing one way:

- :mod:`kit.wiretap.relay`: accepts clients, connects to the server, moves the bytes;
- :mod:`kit.wire.decoder`: turns each connection's bytes into rows, without I/O;
- :mod:`kit.wiretap.capture`: keeps the rows (bounded), and lets cells and widgets wait for
  them or follow them live (``subscribe``);
- this module: :class:`Tap`, what a cell holds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from kit.runtime.loop import runtime
from kit.runtime.servers import Server, serve
from kit.wire.decoder import (
    DEFAULT_MAX_MESSAGE,
    ConnectionDecoder,
    Decoder,
    RespConnectionDecoder,
)
from kit.wiretap.capture import MAX_BYTES, MAX_EVENTS, Capture, Match, matches
from kit.wiretap.records import Direction, Layer, WireEvent, as_layers
from kit.wiretap.relay import ByteCount, TapRelay

HTTP_LAYERS = (Layer.TCP, Layer.HTTP, Layer.WEBSOCKET, Layer.ENGINEIO, Layer.SOCKETIO)
"""What a tap in front of an HTTP, WebSocket or socket.io server records."""

__all__ = ["ByteCount", "Capture", "Tap", "TapRelay", "WireEvent", "tap"]


class Tap:
    """A running wire tap: connect clients to :attr:`url`, read :attr:`events`.

    Attributes:
        url, ws_url, port: where clients connect instead of the server (for a Redis,
            ``url`` is ``redis://127.0.0.1:PORT/0``).
        target: ``host:port`` of the server behind the tap.
        capture: the rows recorded (:class:`~kit.wiretap.capture.Capture`).
    """

    def __init__(self, server: Server, relay: TapRelay, *, redis: bool = False) -> None:
        self._server, self._relay, self.capture = server, relay, relay.capture
        self.url, self.ws_url, self.port = server.url, server.ws_url, server.port
        if redis:
            self.url = f"redis://{server.url.split('://', 1)[1]}/0"
        self.layers = (Layer.TCP, Layer.REDIS) if redis else HTTP_LAYERS
        """The layers this tap can record (what an inspector offers to filter on)."""
        self.target = f"{relay.target[0]}:{relay.target[1]}"

    @property
    def connections(self) -> int:
        """TCP connections the tap is relaying now."""
        return self._relay.connections

    @property
    def events(self) -> list[WireEvent]:
        """Everything recorded so far, oldest first (a snapshot)."""
        return self.capture.events

    @property
    def bytes(self) -> ByteCount:
        """Bytes relayed each way since the tap started, and connections accepted.

        A snapshot: subtract two of them to count what went by in between. Kept when
        the capture is cleared (``clear()`` forgets rows, not traffic).
        """
        return self._relay.bytes

    @property
    def dropped(self) -> int:
        """Rows not kept because the capture was full (see :mod:`kit.wiretap.capture`)."""
        return self.capture.dropped

    def subscribe(
        self,
        on_event: Callable[[WireEvent], object],
        *,
        replay: bool = True,
        on_clear: Callable[[], object] | None = None,
    ) -> Callable[[], None]:
        """Follow the capture live; see :meth:`Capture.subscribe`."""
        return self.capture.subscribe(on_event, replay=replay, on_clear=on_clear)

    def clear(self) -> None:
        """Forget what was recorded (new events are numbered from 0 again)."""
        self.capture.clear()

    def select(
        self,
        match: Match = None,
        *,
        layer: Layer | str | None = None,
        direction: Direction | str | None = None,
    ) -> list[WireEvent]:
        """The recorded events whose summary contains ``match`` (or that it accepts)."""
        return self.capture.select(match, layer=layer, direction=direction)

    def wait_for(
        self,
        match: Match = None,
        *,
        layer: Layer | str | None = None,
        direction: Direction | str | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> WireEvent:
        """Block until ``count`` matching events were recorded; return the last of them."""
        return self.capture.wait_for(
            match, layer=layer, direction=direction, count=count, timeout=timeout
        )

    def settle(self, *, quiet: float = 0.2, timeout: float = 5.0) -> int:
        """Wait until nothing new was recorded for ``quiet`` seconds; return the count."""
        return self.capture.settle(quiet=quiet, timeout=timeout)

    def text(
        self,
        layers: Iterable[Layer | str] | None = None,
        *,
        direction: Direction | str | None = None,
        times: bool = False,
    ) -> str:
        """The capture as plain text, one line per event (stable: no times by default)."""
        wanted = as_layers(layers)
        return "\n".join(
            event.line(times=times)
            for event in self.events
            if event.layer in wanted and matches(event, None, None, direction)
        )

    def cut(self) -> int:
        """Cut every connection through the tap now, as a network outage would.

        Both sockets of each relayed connection are reset at once (no CLOSE frame, no
        goodbye); the tap keeps listening, so clients that reconnect get through again.
        Each side sees its connection lost, which is what connection state recovery is
        for. Returns how many connections were cut.

        >>> tap.cut()                                           # doctest: +SKIP
        2
        """

        async def cut_now() -> int:
            return self._relay.abort()

        return runtime.run(cut_now(), timeout=5.0, what="tap.cut()")

    def stop(self) -> None:
        """Stop relaying; open connections through the tap are closed.

        WebSocket connections get a CLOSE 1001 ("tap stopped") at both ends; every
        connection is dropped within about a second, whatever its peers do.
        """
        self._server.stop()

    def __enter__(self) -> Tap:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._server.running else "stopped"
        return f"<Tap {self.url} -> {self.target} {len(self.capture)} events {state}>"


def tap(
    server: Server | str | object,
    *,
    name: str | None = None,
    decode: bool = True,
    max_events: int = MAX_EVENTS,
    max_bytes: int = MAX_BYTES,
    max_message: int = DEFAULT_MAX_MESSAGE,
) -> Tap:
    """Put a recording relay in front of ``server`` and return it.

    Args:
        server: a running kit server (or anything with one in ``.server``, such as
            ``kit.redis()`` or ``kit.balancer()``), or the ``http://host:port`` (or
            ``redis://host:port``) of any local server.
        name: the relay's server name (default ``"tap <server name>"``): starting a
            tap of the same name again replaces the old one, as for ``kit.serve``.
        decode: False to count bytes only (``tap.bytes``), recording no rows but the
            connections opening and closing.
        max_events: rows the capture keeps (100,000); then it says so and counts.
        max_bytes: recorded bytes the capture keeps (32 MiB; about twice that in memory).
        max_message: the largest WebSocket message or HTTP body the tap decodes (1 MiB,
            after inflating); a bigger one is recorded as too big (1009) and relayed
            untouched: the tap never decides for the server.
    """
    for option, value in (
        ("max_events", max_events),
        ("max_bytes", max_bytes),
        ("max_message", max_message),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{option} must be a positive int, not {value!r}")
    inner = getattr(server, "server", None)
    if isinstance(inner, Server):
        server = inner
    redis = (
        server.kind == "redis"
        if isinstance(server, Server)
        else isinstance(server, str) and server.startswith("redis://")
    )
    if isinstance(server, Server):
        host, port = server.host, server.port
        name = name or f"tap {server.name}"
    else:
        parts = urlsplit(server) if isinstance(server, str) else urlsplit("")
        if not parts.hostname or not parts.port:
            raise ValueError(f"{server!r}: pass a kit Server or an http://host:port URL")
        host, port = parts.hostname, parts.port
        name = name or f"tap {host}:{port}"
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    capture = Capture(max_events=max_events, max_bytes=max_bytes)
    decoder: Callable[[], Decoder] = (
        RespConnectionDecoder
        if redis
        else functools.partial(ConnectionDecoder, max_message=max_message)
    )
    relay = TapRelay(host, port, capture, decoder=decoder, decode=decode)
    return Tap(serve(relay, name=name), relay, redis=redis)
