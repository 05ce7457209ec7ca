"""Route output from the runtime thread: into the cell that waits, never a finished one.

In a Jupyter kernel every piece of output carries a *parent header*: the id of the
execute request (the cell run) it belongs to. Text printed by the kit's runtime thread (a
learner's ``onmessage`` that prints, a ``print`` inside a server handler, a warning) needs
a parent too, and the obvious choices are both wrong:

- the *current* parent (ipykernel's default) is whichever cell happens to be running: a
  different cell, at a random moment;
- the parent of the cell that registered the callback or started the server is a cell
  that has usually *finished*: the text is appended under it long after it ran, where
  nobody looks, and a test that compares a cell's output (nbval) never sees it.

The kit keeps one rule instead. **Output from the runtime thread goes to the cell that is
waiting for the kit right now** (``ws.wait_message()``, ``kit.settle()``, ``kit.run()``,
``client.call()``...): that cell asked for these events and is still running, so the
text is part of its output, on every run. **With no cell waiting, it goes to the
kernel's background**, a parent that belongs to no cell: JupyterLab lists it in its log
console (View > Show Log Console, level "info"), and no cell ever changes after it ran.

How: the runtime thread's output is attributed to one *live header*, a dict the kit
updates in place whenever a cell starts or stops waiting (ipykernel 7 reads the parent
at the moment of each ``write``). Every task and callback on the runtime thread runs
with that live header as its parent (see :func:`routed`).

Outside a kernel all of this is a no-op.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from kit.runtime.parts import Part

__all__ = [
    "BACKGROUND_ID",
    "Parent",
    "cell_key",
    "current_parent",
    "live_header",
    "route_thread",
    "routed",
    "run_routed",
    "waiting",
    "waiting_parent",
]

T = TypeVar("T")

Parent = dict[str, Any]
"""A Jupyter message dict, as returned by ``get_ipython().get_parent()``."""

BACKGROUND_ID = f"kit-background-{uuid.uuid4().hex}"
"""The ``msg_id`` of the background parent: no cell has it, so no cell shows its output."""


def _shell() -> Any:
    """The ipykernel shell, if this runs in a kernel with per-context parents (7.x)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is always there with ipywidgets
        return None
    from kit.compat import ipykernel_has_context_parents

    shell = get_ipython()
    if shell is None or not ipykernel_has_context_parents(shell):
        return None  # a terminal IPython, or ipykernel 6 (one global parent)
    return shell


class Router(Part):
    """The live header and the stack of waiting cells (one per process, the runtime's)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.header: dict[str, Any] = {}
        self.message: Parent = {"header": self.header, "metadata": {}, "content": {}}
        self.stack: list[Parent] = []
        self.template: dict[str, Any] | None = None  # a real header, for the keys

    def background(self) -> dict[str, Any]:
        base = dict(self.template or {})
        base.update(msg_id=BACKGROUND_ID, msg_type="kit_background")
        return base

    def point_at(self, parent: Parent | None) -> None:
        """Make the live header ``parent``'s header (None: the background), in place."""
        if parent is not None:
            header = dict(parent.get("header") or {})
            if self.template is None and header:
                self.template = header
        else:
            header = self.background()
        # One dict.update of str keys runs without releasing the GIL: a write on the
        # runtime thread sees the old header or the new one, never a mix of both.
        missing = [key for key in self.header if key not in header]
        for key in missing:
            header[key] = ""
        self.header.update(header)
        self.message["metadata"] = dict((parent or {}).get("metadata") or {})


def _router_part() -> Router:
    from kit.runtime.loop import runtime  # loop.py imports this module

    return runtime.part(Router)


def live_header() -> dict[str, Any]:
    """The header runtime-thread output is attributed to now (a copy, for tests)."""
    return dict(_router_part().header)


def current_parent() -> Parent | None:
    """The running cell's parent message, or None outside a kernel or off the main flow.

    On the runtime thread there is no "current cell" (output there is routed, see the
    module docstring), so this returns None.
    """
    shell = _shell()
    if shell is None:
        return None
    parent = shell.get_parent()
    if not parent or parent is _router_part().message:
        return None
    return parent


def cell_key(parent: Parent | None = None) -> str | None:
    """A stable id of the cell behind ``parent``: the same on every run of that cell.

    JupyterLab and nbclient send the notebook's cell id in the request metadata; other
    front ends do not, and then the hash of the cell's source stands in for it.
    """
    parent = parent if parent is not None else current_parent()
    if not parent:
        return None
    cell_id = (parent.get("metadata") or {}).get("cellId")
    if cell_id:
        return f"cell {cell_id}"
    code = (parent.get("content") or {}).get("code")
    if code is None:
        return None
    return "cell " + hashlib.sha1(code.encode()).hexdigest()[:12]


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """Mark the running cell as waiting for the kit: runtime output goes into it.

    Nested waits stack; leaving the outermost one points the output back at the
    background *before* returning, so nothing printed afterwards reaches this cell late.
    """
    parent = current_parent()
    if parent is None:
        yield
        return
    _router = _router_part()
    with _router.lock:
        _router.stack.append(parent)
        _router.point_at(parent)
    try:
        yield
    finally:
        with _router.lock:
            _router.stack.remove(parent)
            _router.point_at(_router.stack[-1] if _router.stack else None)


def waiting_parent() -> Parent | None:
    """The parent of the cell blocked in a kit wait right now, if any."""
    _router = _router_part()
    with _router.lock:
        return _router.stack[-1] if _router.stack else None


Tokens = list[tuple[Callable[[Any], None], Any]]


def _set_thread_parent(shell: Any, parent: Parent) -> Tokens:
    """Give output from this context (thread or task) the parent ``parent``."""
    if hasattr(shell, "set_thread_parent"):  # ipykernel >= 7.4
        return [(shell.reset_thread_parent, shell.set_thread_parent(parent))]
    # ipykernel 7.0-7.3 (the last for Python 3.10) keeps the same per-context parents but
    # has no helper to set them: do what 7.4's set_thread_parent does. The compat home
    # for this private name is kit.compat (see there for the canary test).
    from kit.compat import ipykernel_parent_vars

    return [(var.reset, var.set(value)) for var, value in ipykernel_parent_vars(shell, parent)]


def _route_this_context() -> Tokens | None:
    shell = _shell()
    if shell is None:
        return None
    _router = _router_part()
    if not _router.header:
        with _router.lock:
            if not _router.header:
                _router.point_at(_router.stack[-1] if _router.stack else None)
    return _set_thread_parent(shell, _router.message)


def route_thread() -> None:
    """Route the output of the calling thread (the runtime thread, once, at its start)."""
    _route_this_context()


def run_routed(callback: Callable[..., T], *args: Any) -> T:
    """Call ``callback(*args)`` with its output routed (see the module docstring)."""
    tokens = _route_this_context()
    try:
        return callback(*args)
    finally:
        if tokens:
            for reset, token in reversed(tokens):
                reset(token)


async def routed(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` with its output, and that of every task it starts, routed.

    The live parent is set in this task's context, which every task and server callback
    created from inside ``coro`` inherits: a server started here prints into whichever
    cell waits when it prints, or else into the background.
    """
    _route_this_context()  # this task's own context: no reset needed
    return await coro


def in_kernel() -> bool:
    """True inside an ipykernel 7 kernel (where routing applies)."""
    return _shell() is not None and "ipykernel" in sys.modules
