"""Browser-style events, delivered in order, at the right time, printing in the right cell.

A browser never runs an event handler while a script is running: events wait in a queue
until the current script has finished. That is why assigning ``ws.onopen`` on the line
after ``new WebSocket(url)`` is never too late. The kit keeps the same promise, with a
notebook cell in the role of the script. Events are queued from the moment they happen,
on the kit's runtime thread, and delivered only

- while no cell is running (between cells, or while you type in a chat panel), or
- while the running cell *waits* for them: ``ws.wait_open()``, ``wait_message()``,
  ``wait_closed()`` or ``kit.settle()``, the notebook's way of yielding to the event loop.

Outside Jupyter there are no cells, and events are delivered while the program waits.

What a listener prints goes to the cell that is waiting when it runs; a listener that runs
between cells prints to the kernel's background (JupyterLab's log console), never under a
cell that has finished (see :mod:`kit.runtime.cells`). Either way the output of a cell is
the same on every run, which is what nbval checks.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kit.runtime import cells
from kit.runtime.loop import runtime

__all__ = [
    "CloseEvent",
    "Event",
    "EventChannel",
    "MessageEvent",
    "settle",
    "touch_activity",
]

Listener = Callable[[Any], object]


@dataclass(frozen=True)
class Event:
    """A plain event (``open``, ``error``), like the DOM's ``Event``."""

    type: str
    target: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class MessageEvent(Event):
    """A message arrived: ``data`` is ``str`` for a text frame, ``bytes`` for binary."""

    data: str | bytes = ""
    origin: str = ""


@dataclass(frozen=True)
class CloseEvent(Event):
    """The connection is closed.

    ``code`` is the status from the server's Close frame (1005 when it carried none,
    1006 when no Close frame arrived at all); ``wasClean`` is True only when the closing
    handshake completed. The camelCase names mirror the browser's ``CloseEvent``.
    """

    code: int = 1006
    reason: str = ""
    wasClean: bool = False

    @property
    def was_clean(self) -> bool:
        """``wasClean`` by its Python name."""
        return self.wasClean


_channels: weakref.WeakSet[EventChannel] = weakref.WeakSet()
_activity = threading.Condition()
_last_activity = [time.monotonic()]


def touch_activity() -> None:
    """Note that something happened (``settle()`` waits for a quiet spell)."""
    with _activity:
        _last_activity[0] = time.monotonic()
        _activity.notify_all()


class EventChannel:
    """The event queue of one source (a WebSocket, a chat client).

    The source calls :meth:`emit` on the runtime thread; listeners run there too, in
    emission order. Other threads wait with :meth:`wait_for`.
    """

    def __init__(self, owner: object) -> None:
        self.owner = owner
        self._handlers: dict[str, Listener] = {}
        self._listeners: dict[str, list[Listener]] = {}
        self._pending: deque[tuple[Event, Callable[[], object] | None]] = deque()
        self._muted = False
        self.delivered = 0
        self._busy = 0  # work in flight that will end in an event or a write
        self._busy_lock = threading.Lock()
        self._cond = threading.Condition()
        _channels.add(self)
        if cells.current_parent() is not None:
            _install_cell_hooks()

    # -- listeners -----------------------------------------------------------------

    def set_handler(self, type_: str, listener: Listener | None) -> None:
        """The ``on<type>`` attribute: one listener, replaced on assignment."""
        if listener is None:
            self._handlers.pop(type_, None)
        elif not callable(listener):
            raise TypeError(f"on{type_} must be a function or None, not {listener!r}")
        else:
            self._handlers[type_] = listener

    def get_handler(self, type_: str) -> Listener | None:
        return self._handlers.get(type_)

    def add_listener(self, type_: str, listener: Listener) -> None:
        """Like ``addEventListener``: several listeners, each called once per event."""
        if not callable(listener):
            raise TypeError(f"a {type_} listener must be a function, not {listener!r}")
        entries = self._listeners.setdefault(type_, [])
        if all(existing is not listener for existing in entries):
            entries.append(listener)

    def remove_listener(self, type_: str, listener: Listener) -> None:
        entries = self._listeners.get(type_, [])
        self._listeners[type_] = [f for f in entries if f is not listener]

    # -- delivery --------------------------------------------------------------------

    def emit(self, event: Event, before: Callable[[], object] | None = None) -> None:
        """Queue ``event``; ``before()`` runs right before it is delivered (state changes).

        If ``before()`` returns False, the event is dropped instead: what it announces did
        not happen after all (an ``open`` after the program called ``close()``).

        Call on the runtime thread only.
        """
        if self._muted:
            return
        self._pending.append((event, before))
        touch_activity()
        if _delivery.allowed:
            self._flush()

    def mute(self) -> None:
        """Drop queued and future events: the owner is being torn down by the kit."""
        self._muted = True
        self._pending.clear()
        _channels.discard(self)

    def _flush(self) -> None:
        while self._pending and _delivery.allowed:
            event, before = self._pending.popleft()
            # The state change, the listeners and the notification happen under the lock
            # a waiting cell checks its condition under: the cell never sees the new state
            # (a message in the inbox) while a listener is still printing about it, and so
            # never finishes before that output is in.
            with self._cond:
                if before is not None and before() is False:
                    continue
                self._deliver(event)
                self.delivered += 1
                self._cond.notify_all()
            touch_activity()

    def _deliver(self, event: Event) -> None:
        entries = []
        if event.type in self._handlers:
            entries.append(self._handlers[event.type])
        entries.extend(self._listeners.get(event.type, ()))
        for listener in entries:  # on the runtime thread: output is routed (cells.py)
            _call_listener(listener, event)

    def begin_work(self) -> None:
        """Something started that ``settle()`` must wait for (a handshake, a send)."""
        with self._busy_lock:
            self._busy += 1
        touch_activity()

    def end_work(self, count: int = 1) -> None:
        """That work is done (from any thread)."""
        with self._busy_lock:
            self._busy -= count
        touch_activity()

    @property
    def idle(self) -> bool:
        """True when nothing is queued or in flight."""
        return not self._pending and self._busy == 0

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Deliver events while blocking until ``predicate()`` holds after a delivery."""
        if runtime.in_runtime_thread():
            raise RuntimeError(
                f"waiting for {what} inside a callback would block the runtime thread that "
                "delivers it; react in the callback itself instead"
            )
        with _waiting(), self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"no {what} within {timeout:g} s")


def _call_listener(listener: Listener, event: Event) -> None:
    try:
        listener(event)
    except Exception:
        # A browser reports a throwing listener on the console and carries on; the kit
        # prints the traceback (into the waiting cell, or the background) and carries on.
        traceback.print_exc()


class _Delivery:
    """When events may be delivered: between cells, or while a cell waits."""

    def __init__(self) -> None:
        self.between_cells = False
        self.waiters = 0
        self.hooks_installed = False

    @property
    def allowed(self) -> bool:
        return self.between_cells or self.waiters > 0


_delivery = _Delivery()


def _flush_all() -> None:
    for channel in list(_channels):
        channel._flush()


def _release() -> None:
    """Deliver what is queued now that delivery is allowed (from any thread)."""
    if runtime.is_running:
        runtime.call_soon(_flush_all)


@contextlib.contextmanager
def _waiting() -> Iterator[None]:
    """The running cell yields to the event loop: deliver events, into this cell."""
    with cells.waiting():
        _delivery.waiters += 1
        _release()
        try:
            yield
        finally:
            _delivery.waiters -= 1


def _install_cell_hooks() -> None:
    """Hold events back while a cell runs (IPython's ``pre_run_cell``/``post_run_cell``)."""
    if _delivery.hooks_installed:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:  # pragma: no cover - current_parent() found a kernel
        return

    def cell_starts(*_: object) -> None:
        _delivery.between_cells = False

    def cell_ends(*_: object) -> None:
        _delivery.between_cells = True
        _release()

    shell.events.register("pre_run_cell", cell_starts)
    shell.events.register("post_run_cell", cell_ends)
    _delivery.hooks_installed = True


def settle(timeout: float = 5.0, quiet: float = 0.1) -> int:
    """Deliver every pending event and wait until the kit has been quiet for ``quiet`` s.

    Use it after actions whose consequences arrive through callbacks::

        ws.onmessage = lambda e: print(e.data)
        ws.send("hello")
        kit.settle()          # the echo is printed before the cell ends

    Returns how many events were delivered while settling. Raises :class:`TimeoutError`
    if events keep coming for ``timeout`` seconds.
    """
    if runtime.in_runtime_thread():
        raise RuntimeError("kit.settle() cannot run inside a callback or a server handler")
    channels = list(_channels)
    before = sum(c.delivered for c in channels)
    deadline = time.monotonic() + timeout
    with _waiting(), _activity:
        while True:
            now = time.monotonic()
            calm = now - _last_activity[0] >= quiet
            if calm and all(c.idle for c in list(_channels)):
                break
            if now >= deadline:
                raise TimeoutError(f"the kit did not settle within {timeout:g} s")
            _activity.wait(min(quiet, deadline - now))
    return sum(c.delivered for c in channels) - before
