"""Four ways to push news, measured side by side: delay, bytes, idle requests, growth.

``python -m kit.bench push`` prints the comparison table; lesson 00 draws it
(:func:`measure_push`, :func:`compare_push`). One measurement, for N clients per method:

1. **connect**: a :class:`~kit.apps.push.NewsServer` is served, with one wire tap per
   method in front of it (``kit.tap(server, decode=False)``: it counts bytes, nothing
   else), and N clients per method connect through their method's tap;
2. **news**: the server publishes news at random moments (``rate`` per second on
   average, a seeded Poisson process, for ``seconds``); every client records when each
   item arrived. Then the clients are given time to catch up (short polling needs up to
   one interval);
3. **quiet**: the server publishes nothing for ``idle`` seconds (default: twice the
   long-poll ``hold``), starting half a ``hold`` after the last news, so that each
   held long-poll expires inside the window exactly twice; the server counts the
   requests it receives per method and the taps the bytes;
4. the clients, taps and server are stopped: nothing is left running.

The figures, per method:

- **delay**: each client's arrival time minus the publication time in the news item
  (one clock: same process), for every item published in step 2: median, 95th
  percentile, maximum;
- **bytes/news**: everything the method's tap relayed during step 2, both ways, HTTP
  heads and chunk framing included, divided by the news items delivered (TCP/IP headers,
  about 52 bytes per packet, are not counted: the tap sees TCP payload);
- **connect bytes**: what one client cost before news started (step 1, per client: the
  opening request or handshake; a short-polling client also polls while the others
  connect, so with many clients its figure grows);
- **idle req/s**, **idle B/s**: requests the server received and bytes relayed per
  second in step 3, all N clients together;
- **lost**: items published in step 2 that some client never received (target: 0).

Everything runs on the kit's one runtime thread (server, taps and clients alike), so
with many clients the delays also measure how busy that thread is: a method that makes
more requests slows down itself and, when measured ``together``, the others.

Target: no news item lost by any method, and no request while idle for server-sent
events and WebSocket (``--check`` exits with status 1 otherwise). The rest are
measurements to compare, not targets.

Why this module is long: it is both what lesson 00 calls (:func:`measure_push`,
:func:`compare_push` and their results) and the command, and the two must print the
same table; each part is short.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kit.apps.push import NewsServer, PushMethod
from kit.clients.push import NewsClient, news_client
from kit.runtime.loop import runtime
from kit.runtime.servers import serve
from kit.wiretap import ByteCount, Tap, tap

__all__ = [
    "METHODS",
    "MethodResult",
    "PushComparison",
    "PushRun",
    "add_arguments",
    "compare_push",
    "measure_push",
    "run",
]

METHODS = tuple(PushMethod)
"""Short polling, long-polling, server-sent events, WebSocket: the order of every table."""

DRAIN_GRACE = 2.0
"""Seconds, beyond one poll interval and one hold, for the last news to reach everyone."""


@dataclass(frozen=True)
class MethodResult:
    """What one method did for N clients in one measurement (see the module docstring).

    Delays are in seconds; ``*_ms`` properties give milliseconds.
    """

    method: PushMethod
    clients: int
    published: int
    delivered: int
    delays: list[float] = field(repr=False)
    connect_bytes: ByteCount
    news_bytes: ByteCount
    news_requests: int
    idle_seconds: float
    idle_requests: int
    idle_bytes: ByteCount
    errors: list[str]

    @property
    def expected(self) -> int:
        """News items that should have arrived: published x clients."""
        return self.published * self.clients

    @property
    def lost(self) -> int:
        """Expected items that never arrived (target: 0)."""
        return self.expected - self.delivered

    def delay_ms(self, quantile: float) -> float | None:
        """A quantile of the delays in ms (0.5: the median), None without deliveries."""
        if not self.delays:
            return None
        ordered = sorted(self.delays)
        index = min(len(ordered) - 1, max(0, round(quantile * (len(ordered) - 1))))
        return ordered[index] * 1000

    @property
    def bytes_per_news(self) -> float | None:
        """Bytes on the wire (both ways) per news item delivered, while news came."""
        return self.news_bytes.total / self.delivered if self.delivered else None

    @property
    def connect_bytes_per_client(self) -> float:
        """Bytes one client cost before its first news (the opening request or handshake)."""
        return self.connect_bytes.total / self.clients

    @property
    def idle_requests_per_second(self) -> float | None:
        """Requests per second the server received while nothing happened, all clients."""
        return self.idle_requests / self.idle_seconds if self.idle_seconds else None

    @property
    def idle_bytes_per_second(self) -> float | None:
        """Bytes per second on the wire while nothing happened, all clients."""
        return self.idle_bytes.total / self.idle_seconds if self.idle_seconds else None


@dataclass(frozen=True)
class PushRun:
    """One measurement: every method asked for, with the same number of clients."""

    clients: int
    rate: float
    seconds: float
    interval: float
    hold: float
    idle: float
    size: int
    together: bool
    results: dict[PushMethod, MethodResult]

    def __getitem__(self, method: PushMethod | str) -> MethodResult:
        return self.results[PushMethod.parse(method)]

    @property
    def lost(self) -> int:
        """News items lost, all methods together (target: 0)."""
        return sum(result.lost for result in self.results.values())

    @property
    def errors(self) -> list[str]:
        """Every client error, ``method: what``."""
        return [f"{r.method.value}: {e}" for r in self.results.values() for e in r.errors]

    def most_bytes_per_news(self) -> PushMethod:
        """The method that used the most bytes per news item delivered."""
        return max(self.results.values(), key=lambda r: r.bytes_per_news or 0.0).method

    def settings(self) -> str:
        """The parameters in one line, for a table's caption."""
        mode = "all methods at once" if self.together else "one method at a time"
        return (
            f"{self.clients} client{'s' * (self.clients != 1)} per method, {self.rate:g} news/s "
            f"for {self.seconds:g} s ({self.size} B each), short polling every "
            f"{self.interval * 1000:g} ms, long-polls held up to {self.hold * 1000:g} ms, "
            f"{self.idle:g} s quiet; {mode}"
        )

    def table(self) -> str:
        """The figures as a fixed-width table; measured values are marked ``≈``."""
        return format_table([self])

    def plot_delays(self) -> Any:
        """The delay distribution of each method, as a figure (see :mod:`kit.bench.plots`)."""
        from kit.bench.plots import delay_distribution

        return delay_distribution(self)


@dataclass(frozen=True)
class PushComparison:
    """Several measurements, one per number of clients: how the figures grow."""

    runs: list[PushRun]

    @property
    def clients(self) -> list[int]:
        """The numbers of clients measured, in order."""
        return [run.clients for run in self.runs]

    def table(self) -> str:
        """One table for all runs, grouped by number of clients."""
        return format_table(self.runs)

    def plot(self) -> Any:
        """Delay, bytes per news and idle requests against clients, one line per method."""
        from kit.bench.plots import growth

        return growth(self)


# -- measuring --------------------------------------------------------------------------------


def measure_push(
    methods: Iterable[PushMethod | str] = METHODS,
    *,
    clients: int = 1,
    rate: float = 5.0,
    seconds: float = 2.0,
    interval: float = 0.25,
    hold: float = 1.0,
    idle: float | None = None,
    size: int = 80,
    seed: int | None = 0,
    together: bool = True,
) -> PushRun:
    """Measure each method with ``clients`` clients on the same kind of news.

    Args:
        methods: which of the four (names or :class:`~kit.apps.push.PushMethod`).
        clients: clients per method (1 to a few hundred).
        rate: news per second, on average, at random moments.
        seconds: how long news is published.
        interval: seconds between two polls of a short-polling client.
        hold: seconds the server holds a long-poll without news.
        idle: seconds of quiet measured afterwards (default ``2 * hold``; 0 for none).
        size: bytes per news item (JSON).
        seed: the random moments (the same seed, the same moments); None for fresh ones.
        together: measure all methods at once, on the same news (True), or one after
            the other on the same schedule, each alone on the runtime thread (False).

    Everything started is stopped before this returns, even on error or interrupt.
    """
    chosen = list(dict.fromkeys(PushMethod.parse(m) for m in methods))
    if not chosen:
        raise ValueError("measure_push needs at least one method")
    if clients < 1:
        raise ValueError(f"clients must be at least 1, not {clients}")
    if rate <= 0 or seconds <= 0 or interval <= 0 or hold <= 0:
        raise ValueError("rate, seconds, interval and hold must all be positive")
    idle = 2 * hold if idle is None else idle
    if idle < 0:
        raise ValueError(f"idle is seconds of quiet (>= 0), not {idle}")
    groups = [chosen] if together else [[method] for method in chosen]
    results: dict[PushMethod, MethodResult] = {}
    for group in groups:
        results.update(
            _session(
                group,
                clients=clients,
                rate=rate,
                seconds=seconds,
                interval=interval,
                hold=hold,
                idle=idle,
                size=size,
                seed=seed,
            )
        )
    ordered = {method: results[method] for method in METHODS if method in results}
    return PushRun(
        clients=clients,
        rate=rate,
        seconds=seconds,
        interval=interval,
        hold=hold,
        idle=idle,
        size=size,
        together=together,
        results=ordered,
    )


def compare_push(clients: Sequence[int] = (1, 10, 100), **options: Any) -> PushComparison:
    """:func:`measure_push` for each number of ``clients``; ``options`` as there."""
    if not clients:
        raise ValueError("compare_push needs at least one number of clients")
    return PushComparison([measure_push(clients=n, **options) for n in clients])


def _session(
    methods: list[PushMethod],
    *,
    clients: int,
    rate: float,
    seconds: float,
    interval: float,
    hold: float,
    idle: float,
    size: int,
    seed: int | None,
) -> dict[PushMethod, MethodResult]:
    news = NewsServer(hold=hold, size=size, seed=seed)
    server = serve(news, name="kit.bench.push news")
    taps: dict[PushMethod, Tap] = {}
    crowd: dict[PushMethod, list[NewsClient]] = {}
    try:
        for method in methods:
            taps[method] = tap(server, name=f"kit.bench.push tap {method.short}", decode=False)
        started = {method: taps[method].bytes for method in methods}
        for method in methods:
            options: dict[str, Any] = {"timeout": hold + 10.0}
            if method is PushMethod.SHORT_POLLING:
                options["interval"] = interval
            crowd[method] = [news_client(method, taps[method], **options) for _ in range(clients)]
        _wait_open([c for group in crowd.values() for c in group], timeout=10.0 + clients * 0.05)
        connected = time.time()
        before = {m: taps[m].bytes for m in methods}
        requests_before = {m: news.requests[m] for m in methods}

        published = runtime.run(
            news.produce(rate, seconds), timeout=seconds + 30.0, what="publishing news"
        )
        last_seq = published[-1].seq if published else 0
        everyone = [c for group in crowd.values() for c in group]
        _wait_caught_up(everyone, last_seq, timeout=interval + hold + DRAIN_GRACE)
        after_news = {m: taps[m].bytes for m in methods}
        requests_after_news = {m: news.requests[m] for m in methods}

        idle_seconds, idle_requests, idle_bytes = 0.0, dict.fromkeys(methods, 0), {}
        if idle > 0:
            # Start half a hold after the last news (or the connect), on a hold boundary:
            # every held long-poll then expires inside the window, a whole number of times.
            anchor = (published[-1].sent if published else connected) + hold / 2
            now = time.time()
            if now > anchor:
                anchor += -(-(now - anchor) // hold) * hold
            time.sleep(max(0.0, anchor - time.time()))
            quiet_bytes = {m: taps[m].bytes for m in methods}
            quiet_requests = {m: news.requests[m] for m in methods}
            time.sleep(idle)
            idle_seconds = idle
            idle_requests = {m: news.requests[m] - quiet_requests[m] for m in methods}
            idle_bytes = {m: taps[m].bytes - quiet_bytes[m] for m in methods}
        seqs = {item.seq for item in published}
        results = {}
        for method in methods:
            group = crowd[method]
            delays = [d.delay for c in group for d in c.deliveries if d.news.seq in seqs]
            results[method] = MethodResult(
                method=method,
                clients=clients,
                published=len(published),
                delivered=len(delays),
                delays=delays,
                connect_bytes=before[method] - started[method],
                news_bytes=after_news[method] - before[method],
                news_requests=requests_after_news[method] - requests_before[method],
                idle_seconds=idle_seconds,
                idle_requests=idle_requests[method],
                idle_bytes=idle_bytes.get(method, ByteCount()),
                errors=[str(c.error) for c in group if c.error is not None],
            )
        return results
    finally:
        everyone = [c for group in crowd.values() for c in group]
        if everyone and runtime.is_running:
            runtime.run(_close_all(everyone), timeout=30.0, what="closing the news clients")
        for opened in taps.values():
            opened.stop()
        server.stop()


async def _close_all(clients: list[NewsClient]) -> None:
    import asyncio

    await asyncio.gather(*(client.close_async() for client in clients))


def _wait_open(clients: list[NewsClient], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(c.state == "connecting" for c in clients):
        if time.monotonic() > deadline:
            waiting = sum(c.state == "connecting" for c in clients)
            raise TimeoutError(f"{waiting} news clients did not connect within {timeout:g} s")
        time.sleep(0.01)


def _wait_caught_up(clients: list[NewsClient], last_seq: int, timeout: float) -> None:
    """Until every client that still runs has received news ``last_seq``, or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(c.last_seq >= last_seq or c.state != "open" for c in clients):
            return
        time.sleep(0.005)


# -- the table --------------------------------------------------------------------------------

_COLUMNS = [
    ("method", 18),
    ("delay p50", 11),
    ("p95", 10),
    ("max", 10),
    ("bytes/news", 12),
    ("connect", 11),
    ("idle req/s", 12),
    ("idle B/s", 11),
    ("lost", 6),
]


def _measured(value: float | None, unit: str = "") -> str:
    """A measured value, marked ``≈`` (it differs from run to run); ``-`` when none."""
    if value is None:
        return "-"
    if value == 0:
        return f"0{unit}"  # exactly none: not an estimate
    digits = 1 if abs(value) < 10 else 0
    return f"≈{value:,.{digits}f}{unit}"


def format_table(runs: Sequence[PushRun]) -> str:
    """The rows of ``runs``: delays in ms, bytes per news item, requests and bytes per s."""
    header = "".join(
        f"{name:<{width}}" if i == 0 else f"{name:>{width}}"
        for i, (name, width) in enumerate(_COLUMNS)
    )
    lines = []
    for run in runs:
        lines += [f"{run.settings()}", header, "-" * len(header)]
        for result in run.results.values():
            cells = [
                result.method.value,
                _measured(result.delay_ms(0.5), " ms"),
                _measured(result.delay_ms(0.95), " ms"),
                _measured(result.delay_ms(1.0), " ms"),
                _measured(result.bytes_per_news, " B"),
                _measured(result.connect_bytes_per_client, " B"),
                _measured(result.idle_requests_per_second) if run.idle else "-",
                _measured(result.idle_bytes_per_second) if run.idle else "-",
                str(result.lost),
            ]
            lines.append(
                "".join(
                    f"{cell:<{width}}" if i == 0 else f"{cell:>{width}}"
                    for i, (cell, (_, width)) in enumerate(zip(cells, _COLUMNS, strict=True))
                )
            )
        errors = run.errors
        for error in errors[:5]:
            lines.append(f"  error: {error}")
        if len(errors) > 5:
            lines.append(f"  ... and {len(errors) - 5} more errors")
        lines.append("")
    return "\n".join(lines).rstrip("\n")


# -- the command --------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clients",
        default="1,10,50,100,200",
        help="numbers of clients per method, comma-separated (default 1,10,50,100,200)",
    )
    parser.add_argument("--rate", type=float, default=5.0, help="news per second (default 5)")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="seconds of news per run (default 3)"
    )
    parser.add_argument(
        "--interval", type=float, default=0.5, help="short-polling interval, s (default 0.5)"
    )
    parser.add_argument("--hold", type=float, default=2.0, help="long-poll hold, s (default 2)")
    parser.add_argument(
        "--idle", type=float, default=None, help="seconds of quiet measured (default 2 x hold)"
    )
    parser.add_argument("--size", type=int, default=80, help="bytes per news item (default 80)")
    parser.add_argument("--seed", type=int, default=0, help="random moments (default 0)")
    parser.add_argument(
        "--together",
        action="store_true",
        help="measure the four methods at once instead of one after the other",
    )
    parser.add_argument("--plot", metavar="PNG", help="also save the growth plot to this file")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a target is missed"
    )


def _parse_clients(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"--clients takes numbers separated by commas, not {text!r}") from None
    if not counts or min(counts) < 1:
        raise SystemExit("--clients needs at least one number, each 1 or more")
    return counts


def missed_targets(comparison: PushComparison) -> list[str]:
    """The targets a comparison missed: lost news, requests while idle for the streams."""
    missed = []
    for run in comparison.runs:
        for result in run.results.values():
            where = f"{result.method.value} with {run.clients} clients"
            if result.lost:
                missed.append(f"{where}: {result.lost} news lost")
            streams = (PushMethod.SERVER_SENT_EVENTS, PushMethod.WEBSOCKET)
            if result.method in streams and result.idle_requests:
                missed.append(f"{where}: {result.idle_requests} requests while idle")
    return missed


def run(args: argparse.Namespace) -> int:
    counts = _parse_clients(args.clients)
    print(
        f"kit.bench push: short polling, long-polling, server-sent events and WebSocket, "
        f"{', '.join(map(str, counts))} clients per method\n"
    )
    runs = []
    try:
        for count in counts:
            measured = measure_push(
                clients=count,
                rate=args.rate,
                seconds=args.seconds,
                interval=args.interval,
                hold=args.hold,
                idle=args.idle,
                size=args.size,
                seed=args.seed,
                together=args.together,
            )
            runs.append(measured)
            print(format_table([measured]).replace("≈", ""), end="\n\n", flush=True)
    except KeyboardInterrupt:
        print("kit.bench push: interrupted; clients, taps and server stopped", file=sys.stderr)
        return 1
    except ValueError as exc:  # an option out of range: say which, no traceback
        raise SystemExit(f"kit.bench push: {exc}") from None
    except TimeoutError as exc:
        print(f"kit.bench push failed: {exc}; clients, taps and server stopped", file=sys.stderr)
        return 1
    finally:
        from kit.runtime.servers import stop_all

        stop_all()
    comparison = PushComparison(runs)
    if args.plot:
        comparison.plot().save(args.plot)
        print(f"plot saved to {args.plot}")
    missed = missed_targets(comparison)
    print("target: lost news = 0 for every method; 0 requests while idle for SSE and WebSocket")
    print("missed: " + "; ".join(missed) if missed else "all targets met")
    return 1 if missed and args.check else 0
