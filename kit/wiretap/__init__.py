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

It can also break the network on purpose (:mod:`kit.wiretap.faults`): ``tap.cut()`` (a TCP
reset; ``tap.cut("fin")`` a clean close), ``tap.black_hole()`` (bytes held, nothing closed),
``tap.refuse()`` (new connections reset), ``tap.latency(0.1)``, ``tap.heal()``, and
``tap.schedule("cut", every=0.2, duration=5)``. Each fault is a row at the ``fault`` layer.

In front of a Redis (``kit.tap(kit.redis())``) it decodes RESP instead: ``tap.url`` is then
a ``redis://`` URL to give the chat servers, and each command and reply is a row at the
``redis`` layer (``PUBLISH wire-to-room '{"method":"emit",...}'``).

The parts, each in its own module, data flowing one way:

- :mod:`kit.wiretap.relay`: accepts clients, connects to the server, moves the bytes;
- :mod:`kit.wire.decoder`: turns each connection's bytes into rows, without I/O;
- :mod:`kit.wiretap.capture`: keeps the rows (bounded), and lets cells and widgets wait for
  them or follow them live (``subscribe``);
- :mod:`kit.wiretap.faults`: the faults in force and the schedules that repeat them;
- this module: :class:`Tap`, what a cell holds.
"""

from __future__ import annotations

import functools
import math
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
from kit.wiretap.faults import (
    SCHEDULED,
    FaultSchedule,
    FaultState,
    check_cut,
    check_seconds,
)
from kit.wiretap.records import Direction, Layer, WireEvent, as_layers
from kit.wiretap.relay import ByteCount, TapRelay

HTTP_LAYERS = (
    Layer.TCP,
    Layer.HTTP,
    Layer.WEBSOCKET,
    Layer.ENGINEIO,
    Layer.SOCKETIO,
    Layer.FAULT,
)
"""What a tap in front of an HTTP, WebSocket or socket.io server records."""

FAULT_TIMEOUT = 5.0
"""Seconds a cell waits for the runtime loop to apply a fault."""

__all__ = [
    "ByteCount",
    "Capture",
    "FaultSchedule",
    "FaultState",
    "Schedule",
    "Tap",
    "TapRelay",
    "WireEvent",
    "tap",
]


class Schedule:
    """A running fault schedule, seen from a cell (``tap.schedule(...)`` returns one).

    Attributes: ``what`` (``"cut (reset)"``), ``every``, ``duration``, ``fired`` (faults
    so far), ``done`` (over or stopped).
    """

    def __init__(self, schedule: FaultSchedule) -> None:
        self._schedule = schedule
        self.what, self.every, self.duration = schedule.what, schedule.every, schedule.duration

    @property
    def fired(self) -> int:
        """How many times the fault was applied so far."""
        return self._schedule.fired

    @property
    def done(self) -> bool:
        """True once the schedule is over (or was stopped)."""
        return self._schedule.done

    def wait(self, timeout: float | None = None) -> int:
        """Block until the schedule is over; return how many faults it applied.

        Raises :class:`TimeoutError` after ``timeout`` seconds (default: the schedule's
        duration plus 5 s).
        """
        limit = self.duration + FAULT_TIMEOUT if timeout is None else timeout
        runtime.run(self._schedule.finished(), limit, what=f"the schedule {self.what}")
        return self.fired

    def stop(self) -> None:
        """Stop repeating the fault (faults already in force stay until they end)."""
        if runtime.is_running:
            runtime.run(_call(self._schedule.cancel), FAULT_TIMEOUT, what="stopping a schedule")

    def __repr__(self) -> str:
        return repr(self._schedule)


async def _call(function: Callable[[], object]) -> object:
    return function()


class Tap:
    """A running wire tap: connect clients to :attr:`url`, read :attr:`events`.

    Attributes:
        url, ws_url, port: where clients connect instead of the server (for a Redis,
            ``url`` is ``redis://127.0.0.1:PORT/0``).
        target: ``host:port`` of the server behind the tap.
        capture: the rows recorded (:class:`~kit.wiretap.capture.Capture`).
    """

    def __init__(
        self, server: Server, relay: TapRelay, *, redis: bool = False, tls: bool = False
    ) -> None:
        self._server, self._relay, self.capture = server, relay, relay.capture
        self.url, self.ws_url, self.port = server.url, server.ws_url, server.port
        if redis:
            self.url = f"redis://{server.url.split('://', 1)[1]}/0"
        if tls:  # the relay passes TLS through untouched: clients speak it to the server
            self.url = self.url.replace("http://", "https://", 1)
            self.ws_url = self.ws_url.replace("ws://", "wss://", 1)
        self.layers = (
            (Layer.TCP, Layer.REDIS, Layer.FAULT)
            if redis
            else (Layer.TCP, Layer.TLS, Layer.FAULT)
            if tls
            else HTTP_LAYERS
        )
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

    # -- faults (kit.wiretap.faults) ---------------------------------------------------------

    @property
    def faults(self) -> FaultState:
        """What the tap does to traffic now (black hole, refusals, latency, schedules)."""
        return self._relay.faults.state()

    def _apply(self, what: str, function: Callable[[], object]) -> object:
        if not self._server.running:
            raise RuntimeError(f"{what}: {self!r} is stopped; start a new tap with kit.tap()")
        return runtime.run(_call(function), FAULT_TIMEOUT, what=what)

    def cut(self, how: str = "reset") -> int:
        """Cut every connection through the tap now; return how many were cut.

        Args:
            how: ``"reset"``: a TCP reset (RST) to both ends, whose next read or write
                fails with "connection reset by peer"; ``"fin"``: a clean close (FIN) to
                both ends, which read the end of the stream. A cut connection is gone
                within a second, whatever its peers do.
        """
        how = check_cut(how)
        count = self._apply(f"cut({how!r})", lambda: self._relay.faults.cut(how))
        assert isinstance(count, int)
        return count

    def black_hole(self, duration: float | None = None) -> None:
        """Stop delivering bytes, both ways, without closing anything.

        Bytes are held (one read per direction by the tap, the rest in the kernel, which
        makes TCP slow the senders down) and delivered when the black hole ends: after
        ``duration`` seconds, or at :meth:`heal` (None: until then). New connections are
        accepted but not passed on meanwhile. Only a heartbeat can tell: each end stops
        hearing the other's pings or pongs.
        """
        seconds = check_seconds("duration", duration, none=True)
        self._apply("black_hole()", lambda: self._relay.faults.black_hole(seconds))

    def refuse(self, duration: float | None = None) -> None:
        """Reset every new connection as it arrives, for ``duration`` s (None: until heal).

        Connections already open are left alone. (A server that is down answers the
        client's SYN with a reset; here the TCP handshake completes first and the reset
        follows at once: the client sees "connection reset" rather than "refused".)
        """
        seconds = check_seconds("duration", duration, none=True)
        self._apply("refuse()", lambda: self._relay.faults.refuse(seconds))

    def latency(self, seconds: float) -> None:
        """Hold every chunk ``seconds`` before passing it on, both ways (0 removes it).

        The relay reads no further while a chunk waits, so a steady stream is delayed by
        between ``seconds`` and twice that; a ping or a single message by ``seconds``.
        """
        delay = check_seconds("seconds", seconds, zero=True)
        self._apply("latency()", lambda: self._relay.faults.set_latency(delay))

    def heal(self) -> None:
        """End every fault and stop every schedule: held bytes go on, relaying is normal."""
        self._apply("heal()", self._relay.faults.heal)

    def schedule(
        self,
        fault: str = "cut",
        *,
        every: float,
        duration: float,
        how: str = "reset",
        lasting: float | None = None,
        delay: float | None = None,
    ) -> Schedule:
        """Repeat ``fault`` every ``every`` seconds for ``duration`` seconds, in the background.

        ``tap.schedule("cut", every=0.2, duration=5)`` cuts every connection 25 times,
        the first 0.2 s from now. Returns a :class:`Schedule` (``wait()``, ``stop()``,
        ``fired``); :meth:`heal` stops every schedule.

        Args:
            fault: ``"cut"``, ``"black hole"``, ``"refuse"`` or ``"latency"``.
            every: seconds between two faults.
            duration: seconds the schedule runs.
            how: for ``"cut"``: ``"reset"`` or ``"fin"`` (see :meth:`cut`).
            lasting: for ``"black hole"``, ``"refuse"`` and ``"latency"``: how long each
                one lasts, at most ``every``.
            delay: for ``"latency"``: the seconds each chunk waits while it lasts
                (``tap.schedule("latency", every=1, duration=10, lasting=0.3, delay=0.2)``:
                every second, 200 ms of latency for 300 ms).
        """
        if fault not in SCHEDULED:
            choices = ", ".join(repr(name) for name in SCHEDULED)
            raise ValueError(f"fault must be one of {choices}, not {fault!r}")
        period = check_seconds("every", every)
        length = check_seconds("duration", duration)
        if period > length:
            raise ValueError(
                f"every={every!r} is longer than duration={duration!r}: the fault would never "
                "happen"
            )
        how = check_cut(how)
        hold = math.nan
        wait = 0.0
        if fault == "latency":
            if delay is None:
                raise ValueError("a scheduled 'latency' needs delay= (seconds each chunk waits)")
            wait = check_seconds("delay", delay)
        elif delay is not None:
            raise ValueError(f"delay= is for 'latency' only, not for {fault!r}")
        if fault == "cut":
            if lasting is not None:
                raise ValueError(
                    "lasting= is for 'black hole', 'refuse' and 'latency'; a cut is instant"
                )
        else:
            if lasting is None:
                raise ValueError(f"a scheduled {fault!r} needs lasting= (seconds, at most every)")
            hold = check_seconds("lasting", lasting)
            if hold > period:
                raise ValueError(f"lasting={lasting!r} must be at most every={every!r}")
        made = self._apply(
            f"schedule({fault!r})",
            lambda: self._relay.faults.schedule(fault, period, length, how, hold, wait),
        )
        assert isinstance(made, FaultSchedule)
        return Schedule(made)

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
        faults = self._relay._faults
        if faults is not None and self._server.running and not faults.state().healthy:
            state += ", faults: " + str(faults.state()).split(" (")[0]
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
            ``redis://host:port``) of any local server (``https://`` for one that speaks
            TLS: the tap then relays TLS records it cannot read, and shows their headers).
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
        host, port, tls = server.host, server.port, server.tls
        name = name or f"tap {server.name}"
    else:
        parts = urlsplit(server) if isinstance(server, str) else urlsplit("")
        if not parts.hostname or not parts.port:
            raise ValueError(f"{server!r}: pass a kit Server or an http://host:port URL")
        host, port, tls = parts.hostname, parts.port, parts.scheme in ("https", "wss")
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
    return Tap(serve(relay, name=name), relay, redis=redis, tls=tls)
