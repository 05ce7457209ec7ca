"""Shorter garbage-collector pauses while the kit's servers run.

CPython's cyclic garbage collector stops the thread that triggers it, and, holding the
GIL, every other thread: the kit's runtime loop too. A full (generation 2) collection
walks every object the process tracks, and a Jupyter kernel that has imported IPython,
aiohttp, python-socketio and the kit tracks hundreds of thousands of them: the hostile
benchmark's paced run saw full collections of 0.4 s, each one a 0.4 s stall of every
server and of every ``kit.run`` a cell was waiting for.

Almost all of those objects live as long as the kernel (modules, classes, functions, the
servers' apps). ``gc.freeze()`` (Python 3.7+) moves every object tracked now into a
permanent generation that collections skip; what is made later (connections, messages,
tasks) is collected as before, and a full collection walks only that. The kit freezes
once, when the process's first server starts (:func:`freeze_long_lived`), after the
server's libraries and app exist; later servers do not freeze again, so what a stopped
server leaves behind is collected as usual.

Freezing shortens each full collection; the connections a busy server holds are still
walked by each. While servers run, the kit also makes full collections rarer
(:data:`FULL_EVERY`): CPython considers one after every ``threshold[2]`` collections of
the middle generation (10 by default, a few times a second under load); the kit raises
that to 100 while a server runs and puts the process's own thresholds back on
``kit.stop_all()`` (:func:`restore`). Garbage cycles that reached the oldest generation
then wait about ten times longer to be freed.

The price of freezing: garbage cycles that exist at that moment, unreferenced but not yet collected,
are kept until the process ends (``gc.unfreeze()`` gives them back to the collector). A
young-generation collection first (a few milliseconds) leaves little of that.
"""

from __future__ import annotations

import gc

__all__ = ["FULL_EVERY", "freeze_long_lived", "restore"]

FULL_EVERY = 100
"""Collections of the middle generation between two full ones while a kit server runs
(CPython's ``gc.get_threshold()[2]``, 10 by default)."""

_saved: tuple[int, int, int] | None = None


def freeze_long_lived() -> int:
    """Collect the young generations, freeze what is left, make full collections rarer.

    Returns how many objects are frozen. Only the first call in a process freezes (or
    none, if something else froze objects already); every call raises the threshold.
    """
    global _saved
    if gc.get_freeze_count() == 0:
        gc.collect(1)
        gc.freeze()
    thresholds = gc.get_threshold()
    if _saved is None:
        _saved = thresholds
    if thresholds[2] < FULL_EVERY:
        gc.set_threshold(thresholds[0], thresholds[1], FULL_EVERY)
    return gc.get_freeze_count()


def restore() -> None:
    """Put back the collector thresholds the process had before the first server started."""
    global _saved
    if _saved is not None:
        gc.set_threshold(*_saved)
        _saved = None
