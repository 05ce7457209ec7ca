"""Where library log records go: to the server or client they came from, never to a cell.

A handler you write runs on the kit's runtime thread. When it raises, the library that
called it logs the traceback: websockets says ``connection handler failed``,
python-engineio ``message async handler error``, aiohttp ``Error handling request``.
Left to Python's defaults, those records are printed on ``sys.stderr``, and in a kernel
that text from a background thread lands under some cell that finished long ago (a red
traceback under cell 1, minutes later).

So every server and client the kit starts is handed a logger under ``kit``
(:data:`SERVER_LOGGER`, :data:`CLIENT_LOGGER`), and the ``kit`` logger has one handler,
:class:`LogBook`, that files each record with the server whose task logged it. A server's
records are in ``server.log``, its errors in ``server.errors``::

    >>> server.errors[-1]                                   # doctest: +SKIP
    LogEntry(ERROR connection handler failed: NotImplementedError: write shout())

Nothing is printed. To watch the records as they happen, configure logging yourself
(``logging.basicConfig(level="INFO")``, or ``logging.getLogger("kit").setLevel("INFO")``
to record more than warnings and errors): kit records also propagate to the root logger.
"""

from __future__ import annotations

import logging
import traceback
from collections import deque
from dataclasses import dataclass, field

from kit.runtime.loop import TASK_OWNER, runtime
from kit.runtime.parts import Part

__all__ = [
    "CLIENT_LOGGER",
    "LOG_SIZE",
    "SERVER_LOGGER",
    "LogBook",
    "LogEntry",
    "recent",
]

LOG_SIZE = 200
"""How many records each server (and the runtime as a whole) keeps, newest last."""

KIT_LOGGER = logging.getLogger("kit")
SERVER_LOGGER = logging.getLogger("kit.server")
"""The logger the kit gives the libraries that run its servers."""
CLIENT_LOGGER = logging.getLogger("kit.client")
"""The logger the kit gives the libraries behind its clients."""


@dataclass(frozen=True)
class LogEntry:
    """One log record, kept as data: when, how bad, what, and the exception if any."""

    time: float
    level: str
    source: str
    message: str
    exception: BaseException | None = field(default=None, compare=False)

    @property
    def is_error(self) -> bool:
        """True for ERROR and CRITICAL records (a handler that raised, for one)."""
        return self.level in ("ERROR", "CRITICAL")

    @property
    def traceback(self) -> str:
        """The exception's traceback as text, or ``""``."""
        if self.exception is None:
            return ""
        return "".join(traceback.format_exception(self.exception))

    def __str__(self) -> str:
        text = f"{self.level} {self.message}"
        if self.exception is not None:
            text += f": {type(self.exception).__name__}: {self.exception}"
        return text

    def __repr__(self) -> str:
        return f"LogEntry({self})"


class LogBook(logging.Handler, Part):
    """A logging handler that keeps records with the server (task owner) that made them.

    A task started for a server carries that server's owner tag (``TASK_OWNER``); records
    logged from such a task go to ``owner.log``. Anything else goes to :func:`recent`.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.unowned: deque[LogEntry] = deque(maxlen=LOG_SIZE)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exception = record.exc_info[1] if record.exc_info else None
            entry = LogEntry(
                time=record.created,
                level=record.levelname,
                source=record.name,
                message=record.getMessage(),
                exception=exception,
            )
        except Exception:  # pragma: no cover - a malformed record: never raise from logging
            return
        book = getattr(TASK_OWNER.get(), "log", None)
        (book if isinstance(book, deque) else self.unowned).append(entry)


def _book() -> LogBook:
    return runtime.part(LogBook)


if _book() not in KIT_LOGGER.handlers:
    KIT_LOGGER.addHandler(_book())


def recent() -> list[LogEntry]:
    """Records no server claims (clients, the runtime itself), oldest first."""
    return list(_book().unowned)


def new_log() -> deque[LogEntry]:
    """A bounded log for one server."""
    return deque(maxlen=LOG_SIZE)
