"""The kit's own event loop, running in one background thread per process.

Why a thread of our own? A Jupyter cell may block (``time.sleep(1)``, a synchronous
client waiting for an answer). If the servers ran on the kernel's loop, a blocked cell
would freeze them, and a synchronous client talking to an in-kernel server would wait
forever for an answer that can never be computed. Here every server and async client
lives on the loop of the ``kit-runtime`` thread, and cells talk to it through blocking,
time-limited calls:

>>> from kit.runtime.loop import runtime
>>> async def add(a, b):
...     return a + b
>>> runtime.run(add(1, 2), timeout=1)
3

The thread starts on first use and is stopped by :func:`kit.stop_all` and at interpreter
exit; the next use starts a fresh one.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import functools
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from kit.runtime import cells
from kit.runtime.parts import Part

__all__ = ["TASK_OWNER", "Part", "RuntimeLoop", "connection_handler", "run", "runtime"]

T = TypeVar("T")
P = TypeVar("P", bound="Part")

log = logging.getLogger("kit.runtime")

THREAD_NAME = "kit-runtime"

TASK_OWNER: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "kit_task_owner", default=None
)
"""Who a task belongs to. Set it before starting a server: every task created for that
server (connection handlers, heartbeats...) inherits it, so stopping the server can cancel
exactly its own leftovers and leave no pending task behind."""


class RuntimeLoop:
    """One asyncio loop in one daemon thread, started lazily, stopped on request.

    Every public method is safe to call from any thread except the loop's own
    (blocking there would deadlock: the loop would wait for itself).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._parts: dict[type[Part], Part] = {}
        # Which server (owner tag) each task belongs to: one weak entry per owned task.
        self._owner_of: weakref.WeakKeyDictionary[asyncio.Task[Any], object] = (
            weakref.WeakKeyDictionary()
        )

    # -- lifecycle -----------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, starting the thread if needed."""
        with self._lock:
            if self._loop is None or not self._loop.is_running():
                self._start_locked()
            assert self._loop is not None
            return self._loop

    @property
    def is_running(self) -> bool:
        """True while the runtime thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _start_locked(self) -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(_log_loop_exception)
        loop.set_task_factory(self._make_task)
        started = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            cells.route_thread()  # anything on this thread prints where cells.py says
            loop.call_soon(started.set)
            loop.run_forever()

        thread = threading.Thread(target=main, name=THREAD_NAME, daemon=True)
        thread.start()
        if not started.wait(timeout=10):  # pragma: no cover - a machine this slow is broken
            raise RuntimeError("the kit runtime thread did not start within 10 s")
        self._loop, self._thread = loop, thread

    def _make_task(
        self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
    ) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
        context = kwargs.get("context")
        owner = context.get(TASK_OWNER) if context is not None else TASK_OWNER.get()
        if owner is not None:
            # This runs for every task (twice per delivery in a broadcast): one weak entry,
            # nothing else.
            self._owner_of[task] = owner
        return task

    def owner_of(self, task: object) -> object | None:
        """The owner tag (server) a task was created for, or None."""
        try:
            return self._owner_of.get(task)  # type: ignore[call-overload]
        except TypeError:  # not a task (a plain future cannot be weakly keyed)
            return None

    async def cancel_owned(self, owner: object, timeout: float = 2.0) -> None:
        """Cancel the tasks ``owner`` left behind and wait for them (on the loop)."""
        me = asyncio.current_task()
        tasks = [
            t
            for t, tagged in list(self._owner_of.items())
            if tagged is owner and not t.done() and t is not me
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def part(self, kind: type[P]) -> P:
        """The runtime's one instance of ``kind``, made on first use (see :class:`Part`)."""
        found = self._parts.get(kind)
        if found is None:
            with self._lock:
                found = self._parts.get(kind)
                if found is None:
                    found = self._parts[kind] = kind()
        return found  # type: ignore[return-value]

    async def server_stopping(self, netloc: str) -> None:
        """Tell every part that the server at ``netloc`` stops for good (on the loop)."""
        for part in list(self._parts.values()):
            try:
                await part.on_server_stopping(netloc)
            except Exception:  # pragma: no cover - a part must not stop the others
                log.exception("kit: telling %r about %s stopping failed", part, netloc)

    def stop(self, timeout: float = 5.0) -> None:
        """Close everything the kit started, cancel leftover tasks, end the thread.

        Idempotent; a later call to :meth:`run` starts a new thread.
        """
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return
            if threading.current_thread() is thread:
                raise RuntimeError(
                    "kit.stop_all() was called from the kit's own runtime thread "
                    "(from a server handler or a socket callback); call it from a cell instead"
                )
            if loop.is_running():
                future = asyncio.run_coroutine_threadsafe(self._drain(), loop)
                with contextlib.suppress(Exception):
                    future.result(timeout)
                loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            if not loop.is_running():
                loop.close()
            self._loop = self._thread = None

    async def _drain(self) -> None:
        for part in sorted(list(self._parts.values()), key=lambda part: part.stop_order):
            try:
                await part.on_stop()
            except Exception:  # pragma: no cover - a part must not stop the others
                log.exception("kit: stopping %r failed", part)
        me = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not me]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=2)
        loop = asyncio.get_running_loop()
        await loop.shutdown_asyncgens()
        await loop.shutdown_default_executor()  # getaddrinfo() threads, for one

    # -- calling into the loop ------------------------------------------------------

    def in_runtime_thread(self) -> bool:
        """True when called from the runtime thread itself (a handler or a callback)."""
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop and return at once.

        Its output, and that of every task it starts, is routed: into the cell waiting for
        the kit when it prints, else to the background (see :mod:`kit.runtime.cells`).
        """
        return asyncio.run_coroutine_threadsafe(cells.routed(coro), self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float, what: str = "") -> T:
        """Run ``coro`` on the loop and block until it returns, at most ``timeout`` seconds.

        Raises the coroutine's own exception, or :class:`TimeoutError` naming ``what``
        was being waited for. A :class:`KeyboardInterrupt` (the notebook's stop button)
        cancels the coroutine before it propagates.
        """
        if self.in_runtime_thread():
            coro.close()
            raise RuntimeError(
                f"blocking call {what or 'into the kit runtime'} from the kit's own thread "
                "would deadlock; inside a server handler or a callback use the async "
                "variant (the name ending in _async) with await"
            )
        # What the call prints while the cell blocks belongs to the cell: mark it waiting
        # before the coroutine can run.
        with cells.waiting():
            future = self.submit(coro)
            try:
                return future.result(timeout)
            except concurrent.futures.TimeoutError:
                if future.done():
                    # The coroutine's own TimeoutError (an alias of this one since
                    # Python 3.11): it is the coroutine's to explain, not ours.
                    raise
                future.cancel()
                raise TimeoutError(
                    f"{what or 'the kit runtime call'} did not finish within {timeout:g} s"
                ) from None
            except BaseException:
                future.cancel()
                raise

    async def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the runtime loop from any loop (the async twin of :meth:`run`)."""
        if self.in_runtime_thread():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def call_soon(self, callback: Callable[..., object], *args: object) -> None:
        """Run ``callback(*args)`` on the loop soon; safe from any thread."""
        loop = self.loop
        if self.in_runtime_thread():
            loop.call_soon(callback, *args)
        else:
            loop.call_soon_threadsafe(cells.run_routed, callback, *args)


def connection_handler(
    handler: Callable[..., Coroutine[Any, Any, None]],
) -> Callable[..., Coroutine[Any, Any, None]]:
    """Wrap an ``asyncio.start_server`` callback so that cancelling it ends it quietly.

    Stopping a server cancels the connection tasks it left; on Python 3.10 and 3.11
    asyncio then logs "Exception in callback ... connection_made" for each one.
    """

    @functools.wraps(handler)
    async def quietly(*args: Any) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await handler(*args)

    return quietly


def _log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Never print from the runtime thread: log it (kit.runtime.logbook keeps it with the
    # server it belongs to), where a learner can also turn it on with logging.basicConfig().
    exc = context.get("exception")
    message = context.get("message", "error")
    # "Task exception was never retrieved" (a handler that raised in a task nobody awaits,
    # as python-socketio runs event handlers) is reported when the task is freed, outside
    # it: log it as its server's, so it is filed with that server.
    owner = runtime.owner_of(context.get("task") or context.get("future"))

    def report() -> None:
        if owner is not None:
            TASK_OWNER.set(owner)
        log.error("kit runtime: %s", message, exc_info=exc)

    contextvars.copy_context().run(report)


runtime = RuntimeLoop()
"""The process-wide runtime loop every kit server and client shares."""


def run(coro: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
    """Run ``coro`` where the kit's servers live and return its result.

    For server-side calls from a cell, e.g. ``kit.run(sio.emit("news", data))`` or
    ``kit.run(sio.disconnect(sid))``. Raises :class:`TimeoutError` after ``timeout`` s.
    """
    name = getattr(coro, "__qualname__", "the coroutine")
    return runtime.run(coro, timeout, what=f"kit.run({name})")


@atexit.register
def _stop_at_exit() -> None:
    runtime.stop(timeout=3)
