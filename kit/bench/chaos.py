"""Chaos: chat clients exchanging messages through a tap that keeps cutting, per guarantee.

``python -m kit.bench chaos [--clients 20] [--messages 500] [--cut-every 0.2] [--levels ...]``
runs, for each delivery level of :data:`kit.DELIVERY_LEVELS` (weakest first), the same
scenario on a fresh ``kit.chat_app(store=...)`` (a real SQLite file in a temporary
folder) behind a fresh ``kit.tap`` (counting bytes, not decoding them):

1. N :class:`~kit.clients.chat.SocketIOChatClient` users connect through the tap, with
   reconnection on (short backoff) and the level's keywords;
2. the tap cuts every connection every ``cut_every`` seconds (``tap.schedule("cut")``);
3. each user sends M messages, one every ``pace`` seconds; a send the client refuses
   while it is offline (levels without retries) is lost, as it is for a learner;
4. the cuts stop; everyone reconnects; the run waits until nothing more arrives.

Per level it prints: sent, expected deliveries (every message to every user, the sender's
echo included), delivered, lost, duplicated, out of order (a sender's message arriving
after a later one of the same sender), sends that failed for good, p50/p99 delivery
latency (from ``send()`` to the first arrival), and the time to recover after a fault
(from the client seeing the cut to it being online again, p50). The last line states the
strongest level's lost and duplicated counts.

``kit.bench.chaos.run(clients=3, messages=40)`` is the same as a function, small enough
for a lesson cell; :meth:`ChaosResult.table` with ``stable=True`` prints what varies from
run to run as its shape ("0", "> 0"), never as an exact count.
"""

from __future__ import annotations

import argparse
import collections
import math
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ChaosResult", "LevelResult", "add_arguments", "command", "run"]

FAST_BACKOFF = {
    "reconnection_delay": 0.05,
    "reconnection_delay_max": 0.2,
    "randomization_factor": 0.05,
}
"""The clients' reconnection backoff: quick, so a run spends its time on messages."""


@dataclass(frozen=True)
class LevelResult:
    """What one delivery level did under the faults (counts are deliveries to users)."""

    level: str
    clients: int
    sent: int
    """Messages the users tried to send (clients x messages)."""
    delivered: int
    """Distinct (message, receiver) pairs that arrived."""
    duplicated: int
    """Arrivals beyond the first of the same message at the same user."""
    out_of_order: int
    failed: int
    """Sends refused while offline, or given up after every retry (the sender knows)."""
    cuts: int
    latencies: tuple[float, ...] = field(repr=False)
    recoveries: tuple[float, ...] = field(repr=False)
    seconds: float

    @property
    def expected(self) -> int:
        """Every message sent, at every user (its sender included)."""
        return self.sent * self.clients

    @property
    def lost(self) -> int:
        return self.expected - self.delivered

    @property
    def latency_p50(self) -> float:
        return _percentile(self.latencies, 0.50)

    @property
    def latency_p99(self) -> float:
        return _percentile(self.latencies, 0.99)

    @property
    def recovery_p50(self) -> float:
        return _percentile(self.recoveries, 0.50)


@dataclass(frozen=True)
class ChaosResult:
    """One chaos run: the same faults for every level, weakest level first."""

    clients: int
    messages: int
    cut_every: float
    levels: tuple[LevelResult, ...]

    @property
    def strongest(self) -> LevelResult:
        """The result of the strongest level that ran (the last one)."""
        return self.levels[-1]

    def table(self, *, stable: bool = False) -> str:
        """The per-level table; ``stable``: random counts as shapes, times as magnitudes."""
        rows = [
            ("sent", lambda r: str(r.sent)),
            ("expected deliveries", lambda r: str(r.expected)),
            ("delivered", lambda r: _shape(r.delivered, r.expected, stable)),
            ("lost", lambda r: _shape(r.lost, 0, stable)),
            ("duplicated", lambda r: _shape(r.duplicated, 0, stable)),
            ("out of order", lambda r: _shape(r.out_of_order, 0, stable)),
            ("failed sends", lambda r: _shape(r.failed, 0, stable)),
            ("cuts", lambda r: "> 0" if stable and r.cuts else str(r.cuts)),
            ("latency p50", lambda r: _ms(r.latency_p50, stable)),
            ("latency p99", lambda r: _ms(r.latency_p99, stable)),
            ("recovery p50", lambda r: _ms(r.recovery_p50, stable)),
        ]
        names = [r.level for r in self.levels]
        width = max(len(name) for name, _ in rows) + 2
        column = max(14, *(len(n) + 2 for n in names))
        lines = [" " * width + "".join(n.rjust(column) for n in names)]
        for name, cell in rows:
            lines.append(name.ljust(width) + "".join(cell(r).rjust(column) for r in self.levels))
        return "\n".join(lines)

    def verdict(self, *, stable: bool = False) -> str:
        """The last line: the strongest level's lost and duplicated counts."""
        best = self.strongest
        lost = _shape(best.lost, 0, stable)
        duplicated = _shape(best.duplicated, 0, stable)
        return (
            f"strongest level ({best.level}): lost {lost}, duplicated {duplicated} "
            f"of {best.expected} deliveries"
        )

    def __str__(self) -> str:
        head = (
            f"{self.clients} clients x {self.messages} messages, a cut every {self.cut_every:g} s"
        )
        return f"{head}\n{self.table()}\n{self.verdict()}"


def _percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _shape(value: int, perfect: int, stable: bool) -> str:
    if not stable:
        return str(value)
    if value == perfect:
        return str(value)
    return f"> {perfect}" if value > perfect else f"< {perfect}"


def _ms(seconds: float, stable: bool) -> str:
    if math.isnan(seconds):
        return "-"
    if not stable:
        return f"{seconds * 1000:.0f} ms"
    return "< 1 s" if seconds < 1 else ">= 1 s"


class _Observer:
    """What one user received and when, and how long it was offline after each cut."""

    def __init__(self, client: object) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[tuple[str, int, float]] = []  # (sender, number, when)
        self.offline_since: float | None = None
        self.recoveries: list[float] = []
        self.client = client

    def on_message(self, message: object) -> None:
        user, text = getattr(message, "user", ""), getattr(message, "text", "")
        sender, _, number = text.rpartition(" #")
        if user and number.isdigit():
            with self.lock:
                self.arrivals.append((sender, int(number), time.monotonic()))

    def on_state(self) -> None:
        online = bool(getattr(self.client, "online", False))
        now = time.monotonic()
        with self.lock:
            if not online and self.offline_since is None:
                self.offline_since = now
            elif online and self.offline_since is not None:
                self.recoveries.append(now - self.offline_since)
                self.offline_since = None


def run_level(
    level: str,
    *,
    clients: int = 3,
    messages: int = 40,
    cut_every: float = 0.2,
    pace: float = 0.01,
    folder: Path,
    timeout: float = 300.0,
    transports: Sequence[str] | None = ("websocket",),
) -> LevelResult:
    """One level of a chaos run (see :func:`run`)."""
    import kit
    from kit.clients.chat import DELIVERY_LEVELS, SocketIOChatClient

    keywords = dict(DELIVERY_LEVELS[level])
    chat = kit.chat_app(store=folder / f"{level}.sqlite")
    server = kit.serve(chat, name=f"chaos {level}")
    tap = kit.tap(server, name=f"chaos tap {level}", decode=False)
    users: list[SocketIOChatClient] = []
    observers: list[_Observer] = []
    started = time.monotonic()
    try:
        for i in range(clients):
            user = SocketIOChatClient(
                tap.url,
                user=f"user{i}",
                reconnection=True,
                backoff=FAST_BACKOFF,
                transports=transports,
                **keywords,
            )
            observer = _Observer(user)
            user.on_message(observer.on_message)
            user.on_state(observer.on_state)
            users.append(user)
            observers.append(observer)
        sent_at: dict[tuple[str, int], float] = {}
        refused = 0
        cuts = tap.schedule("cut", every=cut_every, duration=timeout)
        for number in range(messages):
            for user in users:
                sent_at[(user.user, number)] = time.monotonic()
                try:
                    user.send(f"{user.user} #{number}")
                except ConnectionError:
                    refused += 1  # the python client refuses a send while offline
            time.sleep(pace)
        for user in users:
            if user.retries:
                user.wait_sent(timeout)
        cuts.stop()
        fired = tap.faults.cuts
        _quiet(users, observers, clients * clients * messages, timeout)
        return _tally(level, users, observers, sent_at, refused, fired, started)
    finally:
        for user in users:
            user.close()
        tap.stop()
        kit.stop(server.name)
        if chat.store is not None:
            chat.store.close()


def _quiet(users: list, observers: list[_Observer], expected: int, timeout: float) -> None:
    """Wait until every user is online and nothing more arrives for a while."""
    deadline = time.monotonic() + timeout
    last, still_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = sum(len(o.arrivals) for o in observers)
        online = all(u.state == "online" for u in users)
        if count != last or not online:
            last, still_since = count, time.monotonic()
        elif count >= expected or time.monotonic() - still_since > 1.0:
            return
        time.sleep(0.05)


def _tally(
    level: str,
    users: list,
    observers: list[_Observer],
    sent_at: dict[tuple[str, int], float],
    refused: int,
    cuts: int,
    started: float,
) -> LevelResult:
    delivered = duplicated = out_of_order = 0
    latencies: list[float] = []
    recoveries: list[float] = []
    for observer in observers:
        with observer.lock:
            arrivals = list(observer.arrivals)
            recoveries.extend(observer.recoveries)
        counts = collections.Counter((sender, number) for sender, number, _ in arrivals)
        delivered += len(counts)
        duplicated += sum(n - 1 for n in counts.values())
        newest: dict[str, int] = {}
        seen: set[tuple[str, int]] = set()
        for sender, number, when in arrivals:
            if number < newest.get(sender, -1):
                out_of_order += 1
            newest[sender] = max(newest.get(sender, -1), number)
            if (sender, number) not in seen and (sender, number) in sent_at:
                seen.add((sender, number))
                latencies.append(when - sent_at[(sender, number)])
    failed = refused + sum(len(u.failed) for u in users)
    return LevelResult(
        level=level,
        clients=len(users),
        sent=len(sent_at),
        delivered=delivered,
        duplicated=duplicated,
        out_of_order=out_of_order,
        failed=failed,
        cuts=cuts,
        latencies=tuple(latencies),
        recoveries=tuple(recoveries),
        seconds=time.monotonic() - started,
    )


def run(
    clients: int = 3,
    messages: int = 40,
    *,
    cut_every: float = 0.2,
    levels: Sequence[str] | None = None,
    pace: float = 0.01,
    timeout: float = 300.0,
) -> ChaosResult:
    """Run the chaos scenario for each level (all four by default, weakest first).

    Args:
        clients: users, each sending ``messages`` messages and receiving everyone's.
        messages: messages per user.
        cut_every: seconds between two cuts of every connection at the tap.
        levels: names from :data:`kit.DELIVERY_LEVELS`.
        pace: seconds between two rounds of sends (one message per user per round).
        timeout: seconds any one phase may take.

    The servers, taps and clients it starts are stopped before it returns; the SQLite
    files live in a temporary folder that is removed.
    """
    from kit.clients.chat import DELIVERY_LEVELS

    names = list(levels) if levels is not None else list(DELIVERY_LEVELS)
    unknown = [name for name in names if name not in DELIVERY_LEVELS]
    if unknown or not names:
        raise ValueError(
            f"levels are some of {', '.join(DELIVERY_LEVELS)}; not {unknown or 'none at all'}"
        )
    names.sort(key=list(DELIVERY_LEVELS).index)
    for what, value in (("clients", clients), ("messages", messages)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a whole number, 1 or more, not {value!r}")
    if not 0.02 <= cut_every <= 60:
        raise ValueError(f"cut_every must be from 0.02 to 60 seconds, not {cut_every!r}")
    results = []
    with tempfile.TemporaryDirectory(prefix="kit-chaos-") as folder:
        for name in names:
            results.append(
                run_level(
                    name,
                    clients=clients,
                    messages=messages,
                    cut_every=cut_every,
                    pace=pace,
                    folder=Path(folder),
                    timeout=timeout,
                )
            )
    return ChaosResult(clients, messages, cut_every, tuple(results))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from kit.clients.chat import DELIVERY_LEVELS

    parser.add_argument("--clients", type=int, default=20, help="users (default 20)")
    parser.add_argument("--messages", type=int, default=500, help="messages per user (default 500)")
    parser.add_argument(
        "--cut-every",
        type=float,
        default=0.2,
        help="seconds between two cuts of every connection (default 0.2)",
    )
    parser.add_argument(
        "--levels",
        nargs="+",
        choices=list(DELIVERY_LEVELS),
        help="the levels to run (default: all four, weakest first)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1200.0,
        help="seconds any one phase of a level may take (default 1200)",
    )
    parser.add_argument(
        "--pace",
        type=float,
        default=0.01,
        help="seconds between two rounds of sends, one message per user (default 0.01)",
    )


def command(args: argparse.Namespace) -> int:
    """``python -m kit.bench chaos``: print the table; status 1 if the strongest level lost
    or doubled anything."""
    try:
        result = run(
            args.clients,
            args.messages,
            cut_every=args.cut_every,
            levels=args.levels,
            pace=args.pace,
            timeout=args.timeout,
        )
    except ValueError as exc:
        raise SystemExit(f"kit.bench chaos: {exc}") from None
    print(result, flush=True)
    best = result.strongest
    return 1 if best.lost or best.duplicated else 0


if __name__ == "__main__":  # pragma: no cover
    import sys

    parser = argparse.ArgumentParser(prog="python -m kit.bench.chaos")
    add_arguments(parser)
    sys.exit(command(parser.parse_args()))
