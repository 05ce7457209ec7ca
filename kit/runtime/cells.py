"""Route output from the runtime thread to the cell that asked for it.

In a Jupyter kernel every piece of output carries a *parent header*: the id of the
execute request (the cell run) it belongs to. A ``print`` from another thread takes the
kernel's *current* parent, so text printed by a late callback would land in whichever
cell happens to be running: a different cell, at a random moment.

The fix: capture the parent when a cell registers a callback or starts a server, and set
it again (for the runtime thread only: ipykernel 7 keeps the parent per context) before that
callback runs. Which parent:

- while a cell *waits* for the kit (``ws.wait_message()``, ``kit.settle()``...), callbacks
  print into that waiting cell: it asked for those events and is still running;
- otherwise a callback prints into the cell that registered it, even after that cell
  finished (the front end appends to it), and never into an unrelated running cell.

Outside a kernel all of this is a no-op.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = [
    "Parent",
    "call_in_cell",
    "cell_key",
    "current_parent",
    "in_cell",
    "waiting",
    "waiting_parent",
]

T = TypeVar("T")

Parent = dict[str, Any]
"""A Jupyter message header dict, as returned by ``get_ipython().get_parent()``."""


def _shell() -> Any:
    """The ipykernel shell, if this runs in a kernel with per-context parents (7.x)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is always there with ipywidgets
        return None
    shell = get_ipython()
    if shell is None or not isinstance(getattr(shell, "_parent_header", None), ContextVar):
        return None  # a terminal IPython, or ipykernel 6 (one global parent)
    return shell


Tokens = list[tuple[Callable[[Any], None], Any]]


def _set_thread_parent(shell: Any, parent: Parent) -> Tokens:
    """Give output from this context (thread or task) the parent ``parent``."""
    if hasattr(shell, "set_thread_parent"):  # ipykernel >= 7.4
        return [(shell.reset_thread_parent, shell.set_thread_parent(parent))]
    # ipykernel 7.0-7.3 (the last for Python 3.10) keeps the same per-context parents but
    # has no helper to set them: do what 7.4's set_thread_parent does.
    from jupyter_client.session import extract_header

    tokens: Tokens = [(shell._parent_header.reset, shell._parent_header.set(parent))]
    for obj in (shell.displayhook, shell.display_pub, sys.stdout, sys.stderr):
        var = getattr(obj, "_parent_header", None)
        if isinstance(var, ContextVar):
            tokens.append((var.reset, var.set(extract_header(parent))))
    return tokens


def _reset_thread_parent(tokens: Tokens) -> None:
    for reset, token in reversed(tokens):
        reset(token)


def current_parent() -> Parent | None:
    """The running cell's parent message, or None outside an ipykernel 7 kernel."""
    shell = _shell()
    if shell is None:
        return None
    parent = shell.get_parent()
    return parent or None


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


_waiting: list[Parent | None] = [None]


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """Mark the running cell as waiting for kit events (see the module docstring)."""
    parent = current_parent()
    previous, _waiting[0] = _waiting[0], parent
    try:
        yield
    finally:
        _waiting[0] = previous


def waiting_parent() -> Parent | None:
    """The parent of the cell blocked in a kit wait right now, if any."""
    return _waiting[0]


def call_in_cell(parent: Parent | None, callback: Callable[..., T], *args: Any) -> T:
    """Call ``callback(*args)`` with output routed to the cell of ``parent``."""
    shell = _shell() if parent else None
    if shell is None:
        return callback(*args)
    tokens = _set_thread_parent(shell, parent)
    try:
        return callback(*args)
    finally:
        _reset_thread_parent(tokens)


async def in_cell(parent: Parent | None, coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` with output routed to the cell of ``parent``.

    The parent is set in this task's context, which every task and server callback
    created from inside ``coro`` inherits: a server started here prints into the cell
    that started it, whenever it prints.
    """
    shell = _shell() if parent else None
    if shell is not None:
        _set_thread_parent(shell, parent)  # this task's own context: no reset needed
    return await coro
