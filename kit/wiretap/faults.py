"""Faults on demand: the tap breaks the network on purpose, like a fault proxy.

Real networks fail in a few distinct ways, and each one looks different to the programs at
both ends. The tap can play each of them between a client and a server:

=================  =========================================================================
``cut("reset")``   every connection is dropped with a TCP reset (RST): the next read or
                   write at each end fails with "connection reset by peer", at once
``cut("fin")``     every connection is closed cleanly (a FIN each way): each end reads the
                   end of the stream, as if the other side had closed it
``black_hole()``   nothing is delivered any more, and nothing is closed: bytes are held by
                   the tap (and, beyond one read, in the kernel's buffers, so TCP slows the
                   sender down). Neither end can tell a silent peer from a slow one; only
                   a heartbeat that stops arriving gives it away
``refuse()``       new connections are reset as soon as they arrive (a server that is down
                   or restarting); open ones are left alone
``latency(s)``     every chunk waits ``s`` seconds before it is passed on, both ways
``heal()``         back to normal: held bytes are delivered, latency and refusals end, and
                   schedules stop
=================  =========================================================================

``schedule("cut", every=0.2, duration=5)`` repeats a fault: a cut every 200 ms for 5 s, for
tests and benchmarks; a black hole, a refusal or latency (``schedule("latency", every=1,
duration=10, lasting=0.3, delay=0.2)``: 200 ms of latency for 300 ms, every second)
lasts ``lasting`` seconds each time. Each fault is a row of the capture at the ``fault`` layer
(:attr:`~kit.wire.decoder.Layer.FAULT`), so an inspector or a sequence diagram shows the
fault, then what each end did about it::

    #0 !! tcp       fault     black hole: bytes are held, both ways, until heal()
    #3 !! websocket fault     holding 3 bytes server->client (black hole)
    #0 !! tcp       fault     healed: black hole over after 2.0 s

Rows about the whole tap are on connection ``#0``; rows about one connection carry its
number. A fault row concerns both directions: direction filters keep it.

This module holds the fault state and the schedules; the relay
(:mod:`kit.wiretap.relay`) asks it what to do with each connection and each chunk. Both run
on the kit's runtime loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CUTS",
    "SCHEDULED",
    "FaultSchedule",
    "FaultState",
    "Faults",
    "check_seconds",
]

CUTS = ("reset", "fin")
"""How :meth:`Tap.cut` ends connections: a TCP reset, or a clean close (FIN)."""
SCHEDULED = ("cut", "black hole", "refuse", "latency")
"""The faults :meth:`Tap.schedule` can repeat."""
MAX_SECONDS = 24 * 3600.0
"""The longest duration or interval a fault accepts (a day: anything longer is a typo)."""


def check_seconds(name: str, value: object, *, zero: bool = False, none: bool = False) -> float:
    """``value`` as seconds, or a ``ValueError`` that names the argument and the rule."""
    if value is None and none:
        return math.inf
    allowed = "0 or more" if zero else "more than 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} is a number of seconds ({allowed}), not {value!r}")
    seconds = float(value)
    if seconds < 0 or (seconds == 0 and not zero) or seconds > MAX_SECONDS:
        raise ValueError(
            f"{name} must be {allowed} seconds and at most {MAX_SECONDS:g}, not {value!r}"
        )
    return seconds


def check_cut(how: object) -> str:
    """``"reset"`` or ``"fin"``, or a ``ValueError`` saying what is allowed."""
    if how not in CUTS:
        raise ValueError(
            f"how must be 'reset' (a TCP reset, RST) or 'fin' (a clean close), not {how!r}"
        )
    return str(how)


@dataclass(frozen=True)
class FaultState:
    """What the tap does to traffic now (``tap.faults``), read without waiting.

    Attributes:
        black_hole: True while bytes are held instead of delivered.
        refusing: True while new connections are reset as they arrive.
        latency: seconds each chunk waits before it is passed on (0: none).
        schedules: schedules still running.
        cuts: connections cut since the tap started (by ``cut()`` or a schedule).
        refused: connections refused since the tap started.
    """

    black_hole: bool
    refusing: bool
    latency: float
    schedules: int
    cuts: int
    refused: int

    @property
    def healthy(self) -> bool:
        """True when the tap relays normally (no fault in force, no schedule running)."""
        return not (self.black_hole or self.refusing or self.latency or self.schedules)

    def __str__(self) -> str:
        faults = [
            *(["black hole"] if self.black_hole else []),
            *(["refusing new connections"] if self.refusing else []),
            *([f"latency {self.latency * 1000:g} ms"] if self.latency else []),
            *([f"{self.schedules} schedule(s) running"] if self.schedules else []),
        ]
        now = ", ".join(faults) if faults else "relaying normally"
        return f"{now} ({self.cuts} connection(s) cut, {self.refused} refused so far)"


Note = Callable[[str], None]
"""Records one tap-wide fault row (connection #0)."""


class Faults:
    """The fault state of one relay, and the timers and schedules that change it.

    ``note`` records a tap-wide row; ``cut`` is the relay's own cut (it knows the
    connections). Everything here runs on the runtime loop.
    """

    def __init__(self, note: Note, cut: Callable[[str], int]) -> None:
        self._note, self._cut = note, cut
        self._open = asyncio.Event()
        self._open.set()
        self._black_hole_since: float | None = None
        self._refuse_until: float | None = None
        self.latency = 0.0
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.schedules: set[FaultSchedule] = set()
        self.cuts = 0
        self.refused = 0

    # -- what the relay asks --------------------------------------------------------------

    @property
    def holding(self) -> bool:
        """True while a black hole holds every byte."""
        return not self._open.is_set()

    @property
    def refusing(self) -> bool:
        """True while new connections are to be reset as they arrive."""
        if self._refuse_until is None:
            return False
        if time.monotonic() >= self._refuse_until:
            self._refuse_until = None
            return False
        return True

    async def released(self, dropped: asyncio.Event) -> bool:
        """Wait while a black hole holds traffic; False if ``dropped`` came first."""
        if self._open.is_set():
            return not dropped.is_set()
        waits = {
            asyncio.ensure_future(self._open.wait()),
            asyncio.ensure_future(dropped.wait()),
        }
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return not dropped.is_set()

    def state(self) -> FaultState:
        """A snapshot of what is in force."""
        return FaultState(
            black_hole=self.holding,
            refusing=self.refusing,
            latency=self.latency,
            schedules=sum(1 for s in self.schedules if not s.done),
            cuts=self.cuts,
            refused=self.refused,
        )

    # -- faults -----------------------------------------------------------------------------

    def cut(self, how: str) -> int:
        """Cut every connection now; return how many."""
        count = self._cut(how)
        self.cuts += count
        return count

    def black_hole(self, duration: float = math.inf) -> None:
        """Hold every byte from now on (for ``duration`` seconds, or until heal)."""
        if self._black_hole_since is None:
            self._black_hole_since = time.monotonic()
        self._open.clear()
        self._note(f"black hole: bytes are held, both ways, {_until(duration)}")
        self._heal_later("black hole", duration, self._end_black_hole)

    def refuse(self, duration: float = math.inf) -> None:
        """Reset new connections as they arrive (for ``duration`` seconds, or until heal)."""
        self._refuse_until = time.monotonic() + duration
        self._note(f"refusing new connections (reset at once), {_until(duration)}")
        self._heal_later("refuse", duration, self._end_refusal)

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk by ``seconds`` (0: no added latency)."""
        self.latency = seconds
        if seconds:
            self._note(f"latency: each chunk waits {seconds * 1000:g} ms, both ways")
        else:
            self._note("latency removed")

    def heal(self, *, quiet: bool = False) -> None:
        """End every fault and stop every schedule: traffic flows as before."""
        for schedule in list(self.schedules):
            schedule.cancel()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        was = self.state()
        over = []
        if self._black_hole_since is not None:
            held = time.monotonic() - self._black_hole_since
            over.append(f"black hole over after {held:.1f} s")
        self._black_hole_since = None
        self._open.set()
        if was.refusing:
            over.append("new connections accepted again")
        self._refuse_until = None
        if self.latency:
            over.append("latency removed")
        self.latency = 0.0
        if not quiet:
            self._note("healed: " + ("; ".join(over) if over else "nothing was in force"))

    def _heal_later(self, name: str, duration: float, end: Callable[[], None]) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        if math.isfinite(duration):
            self._timers[name] = asyncio.get_running_loop().call_later(duration, end)

    def _end_black_hole(self) -> None:
        self._timers.pop("black hole", None)
        if self._black_hole_since is not None:
            held = time.monotonic() - self._black_hole_since
            self._black_hole_since = None
            self._open.set()
            self._note(f"black hole over after {held:.1f} s: held bytes go on")

    def _end_refusal(self) -> None:
        self._timers.pop("refuse", None)
        if self._refuse_until is not None:
            self._refuse_until = None
            self._note("refusal over: new connections accepted again")

    # -- schedules ----------------------------------------------------------------------

    def latency_for(self, seconds: float, duration: float) -> None:
        """Add ``seconds`` of latency for ``duration`` seconds, then remove it."""
        self.set_latency(seconds)
        self._heal_later("latency", duration, self._end_latency)

    def _end_latency(self) -> None:
        self._timers.pop("latency", None)
        if self.latency:
            self.set_latency(0.0)

    def schedule(
        self,
        fault: str,
        every: float,
        duration: float,
        how: str,
        lasting: float,
        delay: float = 0.0,
    ) -> FaultSchedule:
        """Start repeating ``fault`` (see :data:`SCHEDULED`); return its handle."""
        actions: dict[str, Callable[[], object]] = {
            "cut": lambda: self.cut(how),
            "black hole": lambda: self.black_hole(lasting),
            "refuse": lambda: self.refuse(lasting),
            "latency": lambda: self.latency_for(delay, lasting),
        }
        what = {
            "cut": f"cut ({how})",
            "black hole": f"black hole for {lasting:g} s",
            "refuse": f"refuse for {lasting:g} s",
            "latency": f"latency {delay * 1000:g} ms for {lasting:g} s",
        }[fault]
        schedule = FaultSchedule(what, every, duration, actions[fault], self._note)
        self.schedules.add(schedule)
        schedule.start(lambda: self.schedules.discard(schedule))
        return schedule


def _until(duration: float) -> str:
    return "until heal()" if not math.isfinite(duration) else f"for {duration:g} s"


class FaultSchedule:
    """A fault repeated ``every`` seconds for ``duration`` seconds (``tap.schedule(...)``).

    The first fault comes ``every`` seconds after the start, the last at or before
    ``duration``. Attributes: ``what`` (``"cut (reset)"``), ``fired`` (faults so far),
    ``done`` (over, or stopped).
    """

    def __init__(
        self,
        what: str,
        every: float,
        duration: float,
        action: Callable[[], object],
        note: Note,
    ) -> None:
        self.what, self.every, self.duration = what, every, duration
        self._action, self._note = action, note
        self.fired = 0
        self.done = False
        self._task: asyncio.Future[None] | None = None
        self._finished = asyncio.Event()

    def start(self, on_done: Callable[[], None]) -> None:
        self._note(f"schedule: {self.what} every {self.every:g} s for {self.duration:g} s")
        self._task = asyncio.ensure_future(self._run())

        def finished(_: object) -> None:
            self.done = True
            self._finished.set()
            on_done()

        self._task.add_done_callback(finished)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            while True:
                due = start + (self.fired + 1) * self.every
                if due - start > self.duration + 1e-9:
                    break
                await asyncio.sleep(max(due - loop.time(), 0))
                self._action()
                self.fired += 1
        except asyncio.CancelledError:
            self._note(f"schedule stopped: {self.what}, {self.fired} time(s)")
            raise
        self._note(f"schedule over: {self.what}, {self.fired} time(s)")

    def cancel(self) -> None:
        """Stop repeating (on the runtime loop)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def finished(self) -> None:
        """Wait until the schedule is over or stopped."""
        await self._finished.wait()

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        return (
            f"<FaultSchedule {self.what} every {self.every:g} s for {self.duration:g} s: "
            f"{self.fired} so far, {state}>"
        )


async def sleep_unless(event: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``event`` is set first; True if the sleep ran out."""
    if seconds <= 0:
        return not event.is_set()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
        return False
    return True
