"""What a tap recorded: a bounded, thread-safe list of rows that others can follow live.

The relay adds rows on the runtime thread; cells read, wait for and clear them; the frame
inspector follows them. Data flows one way: relay -> decoder -> capture -> readers.

A capture is bounded (``max_events`` rows and ``max_bytes`` of recorded bytes). When it is
full it says so once, in a row of its own, and counts what it drops (``dropped``): a
capture never stops silently. ``clear()`` empties it and starts counting again.

``max_bytes`` counts each row's ``raw`` bytes. A row also keeps what they decode to (a
frame's payload, an inflated message), which is about as big again: a full capture holds
about twice ``max_bytes`` (64 MiB with the defaults).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kit.runtime import cells
from kit.wire.decoder import Record
from kit.wiretap.records import Direction, Layer, WireEvent, as_direction, as_layer

__all__ = ["MAX_BYTES", "MAX_EVENTS", "Capture", "Match", "matches"]

MAX_EVENTS = 100_000
"""Rows a capture keeps at most."""
MAX_BYTES = 32 * 2**20
"""Recorded bytes (the ``raw`` of every row) a capture keeps at most."""

log = logging.getLogger("kit.wiretap")

OnEvent = Callable[[WireEvent], object]
OnClear = Callable[[], object]
Match = str | Callable[[WireEvent], bool] | None
"""A text the summary contains, a test on the row, or None (any row)."""


def matches(
    event: WireEvent,
    match: Match,
    layer: Layer | str | None = None,
    direction: Direction | str | None = None,
) -> bool:
    """True when ``event`` is at ``layer``, goes ``direction`` and fits ``match``.

    A fault row (layer ``fault``) goes both ways: any ``direction`` keeps it.
    """
    if layer is not None and event.layer is not as_layer(layer):
        return False
    way = as_direction(direction)  # None: both ways; a fault row concerns both
    if way is not None and event.direction is not way and event.layer is not Layer.FAULT:
        return False
    if match is None:
        return True
    return match(event) if callable(match) else match in event.summary


class Capture:
    """Rows recorded by a tap, numbered from 0 in the order they were seen."""

    def __init__(self, *, max_events: int = MAX_EVENTS, max_bytes: int = MAX_BYTES) -> None:
        self.max_events, self.max_bytes = max_events, max_bytes
        self._cond = threading.Condition()
        self._events: list[WireEvent] = []
        self._bytes = 0
        self._started = time.monotonic()
        self.last_activity = self._started
        self.dropped = 0
        """Rows not kept because the capture was full."""
        self._followers: list[tuple[OnEvent, OnClear | None]] = []

    # -- writing (the relay, on the runtime thread) ------------------------------------

    def add(self, connection: int, record: Record) -> None:
        """Keep ``record``, seen on TCP connection ``connection``, and tell the followers."""
        with self._cond:
            self.last_activity = time.monotonic()
            if self.dropped or self._full(record):
                self.dropped += 1
                if self.dropped > 1:
                    self._cond.notify_all()
                    return
                note = (
                    f"capture full ({self.max_events} rows or {self.max_bytes} bytes): later "
                    "rows are counted in tap.dropped, not kept; tap.clear() makes room"
                )
                record = Record(record.direction, record.transport, Layer.TCP, note)
            event = WireEvent(
                seq=len(self._events),
                time=self.last_activity - self._started,
                connection=connection,
                direction=record.direction,
                transport=record.transport,
                layer=record.layer,
                summary=record.summary,
                raw=record.raw,
                decoded=record.decoded,
            )
            self._events.append(event)
            self._bytes += len(event.raw)
            self._cond.notify_all()
            followers = list(self._followers)
        for on_event, _ in followers:
            _call(on_event, event)

    def _full(self, record: Record) -> bool:
        return (
            len(self._events) + 1 >= self.max_events
            or self._bytes + len(record.raw) > self.max_bytes
        )

    # -- reading --------------------------------------------------------------------

    @property
    def events(self) -> list[WireEvent]:
        """Every row kept, oldest first (a copy)."""
        with self._cond:
            return list(self._events)

    def subscribe(
        self,
        on_event: Callable[[WireEvent], object],
        *,
        replay: bool = True,
        on_clear: Callable[[], object] | None = None,
    ) -> Callable[[], None]:
        """Follow the capture: ``on_event(row)`` for every row, ``on_clear()`` on a clear.

        With ``replay`` the rows already kept are passed first, in order, before any new
        one: a follower never misses a row and never sees one twice. New rows arrive on
        the thread that records them (the kit's runtime thread). Returns the function
        that stops following.
        """
        entry = (on_event, on_clear)
        with self._cond:
            if replay:
                for event in self._events:
                    _call(on_event, event)
            self._followers.append(entry)

        def unsubscribe() -> None:
            with self._cond:
                if entry in self._followers:
                    self._followers.remove(entry)

        return unsubscribe

    def clear(self) -> None:
        """Forget every row (new rows are numbered from 0 again); followers are told."""
        with self._cond:
            self._events.clear()
            self._bytes = self.dropped = 0
            followers = list(self._followers)
        for _, on_clear in followers:
            if on_clear is not None:
                _call(on_clear)

    def select(
        self,
        match: Match = None,
        *,
        layer: Layer | str | None = None,
        direction: Direction | str | None = None,
    ) -> list[WireEvent]:
        """The rows whose summary contains ``match`` (or that it accepts)."""
        return [e for e in self.events if matches(e, match, layer, direction)]

    def wait_for(
        self,
        match: Match = None,
        *,
        layer: Layer | str | None = None,
        direction: Direction | str | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> WireEvent:
        """Block until ``count`` matching rows were kept; return the last of them."""
        deadline = time.monotonic() + timeout
        with cells.waiting(), self._cond:
            while True:
                found = [e for e in self._events if matches(e, match, layer, direction)]
                if len(found) >= count:
                    return found[count - 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    what = f"{match!r}" if match is not None else "an event"
                    where = f" at layer {as_layer(layer).value}" if layer is not None else ""
                    full = f"; {self.dropped} rows dropped, capture full" if self.dropped else ""
                    raise TimeoutError(
                        f"the tap saw {len(found)} of {count} x {what}{where} within "
                        f"{timeout:g} s ({len(self._events)} events in all{full})"
                    )
                self._cond.wait(remaining)

    def settle(self, *, quiet: float = 0.2, timeout: float = 5.0) -> int:
        """Wait until nothing new was seen for ``quiet`` seconds; return the row count.

        The quiet spell is counted from the call at the earliest, so bytes already on
        their way when it is called (an answer to what the cell just sent) are waited for.
        """
        asked = time.monotonic()
        deadline = asked + timeout
        with cells.waiting(), self._cond:
            while True:
                now = time.monotonic()
                idle = now - max(self.last_activity, asked)
                if idle >= quiet:
                    return len(self._events)
                if now >= deadline:
                    raise TimeoutError(f"the tap kept recording for {timeout:g} s")
                self._cond.wait(min(quiet - idle, deadline - now))

    def __len__(self) -> int:
        with self._cond:
            return len(self._events)


def _call(callback: Callable[..., object], *args: object) -> None:
    try:
        callback(*args)
    except Exception:  # a broken viewer must not break the relay
        log.exception("a tap follower failed")
