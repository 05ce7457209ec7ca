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

import concurrent.futures
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
from kit.runtime.loop import Part, runtime

__all__ = [
    "CloseEvent",
    "Event",
    "EventChannel",
    "EventHub",
    "MessageEvent",
    "done",
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


class EventHub(Part):
    """Every event channel of the process, and when events may be delivered.

    Events are delivered between cells (``between_cells``, set by IPython's cell hooks)
    or while a cell waits for them (``waiters`` > 0). ``settle()`` waits until nothing has
    happened for a while (``last_activity``) and no channel has work in flight.
    """

    def __init__(self) -> None:
        self.channels: weakref.WeakSet[EventChannel] = weakref.WeakSet()
        self.activity = threading.Condition()
        self.last_activity = time.monotonic()
        self.between_cells = False
        self.waiters = 0
        self.hooks_installed = False

    @property
    def delivery_allowed(self) -> bool:
        return self.between_cells or self.waiters > 0


def _hub() -> EventHub:
    return runtime.part(EventHub)


def touch_activity() -> None:
    """Note that something happened (``settle()`` waits for a quiet spell)."""
    hub = _hub()
    with hub.activity:
        hub.last_activity = time.monotonic()
        hub.activity.notify_all()


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
        # Work in flight that will end in an event or a write (a handshake, a send): each
        # is a future, done when the work is; settle() waits for them.
        self._inflight: set[concurrent.futures.Future[None]] = set()
        self._inflight_lock = threading.Lock()
        self._cond = threading.Condition()
        _hub().channels.add(self)
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
        if _hub().delivery_allowed:
            self._flush()

    def mute(self) -> None:
        """Drop queued and future events: the owner is being torn down by the kit."""
        self._muted = True
        self._pending.clear()
        self.finish_work()
        _hub().channels.discard(self)

    def _flush(self) -> None:
        hub = _hub()
        while self._pending and hub.delivery_allowed:
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

    def work(self) -> concurrent.futures.Future[None]:
        """A piece of work ``settle()`` must wait for: done when its future is done.

        The owner finishes it with :func:`done` (any thread, any number of times), and
        :meth:`finish_work` finishes whatever is left when the owner itself is finished:
        an early return or an exception can leave nothing counted forever.
        """
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._inflight_lock:
            self._inflight.add(future)
        future.add_done_callback(self._work_done)
        touch_activity()
        return future

    def _work_done(self, future: concurrent.futures.Future[None]) -> None:
        with self._inflight_lock:
            self._inflight.discard(future)
        touch_activity()

    def finish_work(self) -> None:
        """Every piece of work in flight is over (the connection ended, or was stopped)."""
        with self._inflight_lock:
            left = list(self._inflight)
        for future in left:
            done(future)

    @property
    def idle(self) -> bool:
        """True when nothing is queued or in flight."""
        with self._inflight_lock:
            return not self._pending and not self._inflight

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


def done(future: concurrent.futures.Future[None] | None) -> None:
    """Mark a piece of work (see :meth:`EventChannel.work`) done; harmless if it was."""
    if future is not None and not future.done():
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            future.set_result(None)


def _call_listener(listener: Listener, event: Event) -> None:
    try:
        listener(event)
    except Exception:
        # A browser reports a throwing listener on the console and carries on; the kit
        # prints the traceback (into the waiting cell, or the background) and carries on.
        traceback.print_exc()


def _flush_all() -> None:
    for channel in list(_hub().channels):
        channel._flush()


def _release() -> None:
    """Deliver what is queued now that delivery is allowed (from any thread)."""
    if runtime.is_running:
        runtime.call_soon(_flush_all)


@contextlib.contextmanager
def _waiting() -> Iterator[None]:
    """The running cell yields to the event loop: deliver events, into this cell."""
    hub = _hub()
    with cells.waiting():
        with hub.activity:
            hub.waiters += 1
        _release()
        try:
            yield
        finally:
            with hub.activity:
                hub.waiters -= 1


def _install_cell_hooks() -> None:
    """Hold events back while a cell runs (IPython's ``pre_run_cell``/``post_run_cell``)."""
    hub = _hub()
    if hub.hooks_installed:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:  # pragma: no cover - current_parent() found a kernel
        return

    def cell_starts(*_: object) -> None:
        hub.between_cells = False

    def cell_ends(*_: object) -> None:
        hub.between_cells = True
        _release()

    shell.events.register("pre_run_cell", cell_starts)
    shell.events.register("post_run_cell", cell_ends)
    hub.hooks_installed = True


def settle(*, timeout: float = 5.0, quiet: float = 0.1) -> int:
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
    hub = _hub()
    channels = list(hub.channels)
    before = sum(c.delivered for c in channels)
    deadline = time.monotonic() + timeout
    with _waiting(), hub.activity:
        while True:
            now = time.monotonic()
            calm = now - hub.last_activity >= quiet
            if calm and all(c.idle for c in list(hub.channels)):
                break
            if now >= deadline:
                busy = [repr(c.owner) for c in list(hub.channels) if not c.idle]
                raise TimeoutError(
                    f"the kit did not settle within {timeout:g} s"
                    + (f" (still busy: {', '.join(busy)})" if busy else "")
                )
            hub.activity.wait(min(quiet, deadline - now))
    return sum(c.delivered for c in channels) - before
