"""Connection state recovery: what a socket.io server keeps so a client can come back.

A client that loses its connection for a moment (a train enters a tunnel, a proxy
restarts) reconnects. Without recovery it is a new client: a new id, no rooms, and the
messages sent meanwhile are lost. With recovery, as socket.io 4.6+ does it and as its
official client expects:

1. the server's CONNECT answer carries a private id next to the public one:
   ``40{"sid":"hLq...","pid":"Zx9..."}``;
2. every event the server broadcasts carries one more argument, its *offset*:
   ``42["tick",7,"a1b2-41"]``; the client remembers the last offset it received;
3. when the connection drops (not when either side disconnects on purpose), the server
   keeps the socket's id, rooms and data under its private id (a :class:`SavedSession`);
4. the client reconnects with ``40{"pid":"Zx9...","offset":"a1b2-41"}``; the server
   finds the session, answers with the *same* ``pid`` (the client then says
   ``socket.recovered === true``), puts the socket back in its rooms under its old id,
   and sends it every kept event after that offset that it would have received.

What is kept lives in a store with the small interface :class:`RecoveryStore`, so that a
durable store (a database: a server restart then loses nothing) can replace the
in-memory one (:class:`MemoryRecoveryStore`, lost when the process ends);
:class:`SqliteRecoveryStore` keeps the same in an SQLite file, so a server restarted on
the same file recovers the clients of the one before. Both keep a bounded number of
events, for a bounded time: a client that was away longer, or whose
offset is gone, simply gets a new session (``recovered`` is false) and learns it.

Both SQLite stores of the kit (this one and the chat's message store,
:class:`kit.apps.chatstore.ChatStore`) open their file with :func:`open_sqlite`: the same
pragmas, and the same clear :class:`StoreFileError` for a file that is locked, read-only
or corrupt. They may share one file (each keeps its own tables).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import secrets
import sqlite3
from collections import deque
from collections.abc import Collection
from typing import Any, Protocol

LOCK_WAIT = 0.5
"""Seconds a store waits for another connection's lock before saying the file is locked."""

__all__ = [
    "RECOVERABLE_REASONS",
    "MemoryRecoveryStore",
    "RecoveryStore",
    "Restored",
    "SavedSession",
    "SqliteRecoveryStore",
    "StoreFileError",
    "open_sqlite",
    "should_receive",
    "sqlite_problem",
    "store_key",
]

RECOVERABLE_REASONS = frozenset(
    {
        "transport close",
        "transport error",
        "ping timeout",
        "forced close",
        "server shutting down",
        "too slow",
    }
)
"""Disconnections after which a session is kept (the reference server's list, plus the
kit's "too slow"): the connection was lost, nobody meant to leave."""


@dataclasses.dataclass(frozen=True)
class SavedSession:
    """What a socket was when its connection dropped: enough to put it back."""

    pid: str
    """The private id the client presents to recover (never shown to other clients)."""
    sid: str
    """The socket's public id, kept across the recovery."""
    namespace: str
    rooms: tuple[str, ...]
    data: dict[str, Any]
    disconnected_at: float
    """``time.time()`` when the connection dropped."""


@dataclasses.dataclass(frozen=True)
class Restored:
    """A session found again, with the events it missed (each ends with its offset)."""

    session: SavedSession
    missed: list[list[Any]]


def should_receive(rooms: Collection[str], to: Collection[str], exclude: Collection[str]) -> bool:
    """Whether a socket in ``rooms`` received an event sent ``to`` rooms, ``exclude`` others.

    No ``to`` rooms means everyone in the namespace; a socket is in its own room (its id).
    """
    included = not to or any(room in to for room in rooms)
    return included and not any(room in exclude for room in rooms)


class RecoveryStore(Protocol):
    """Where a socket.io server keeps events and dropped sessions for recovery.

    Four calls; a durable store implements the same with a database. Offsets are strings
    the store makes up; they only have to be unique and to say where an event is.
    """

    def append(
        self,
        namespace: str,
        data: list[Any],
        to: Collection[str],
        exclude: Collection[str],
        *,
        now: float,
    ) -> str:
        """Keep one event sent on ``namespace`` at ``now``; return its offset."""
        ...

    def save(self, session: SavedSession) -> None:
        """Keep a session whose connection dropped."""
        ...

    def restore(self, pid: str, offset: str, *, max_age: float, now: float) -> Restored | None:
        """Take back the session ``pid`` and the events after ``offset`` it should get.

        None when the session is unknown, older than ``max_age`` seconds, or when the
        offset is no longer kept (the client then starts a new session).
        """
        ...

    def prune(self, *, max_age: float, now: float) -> None:
        """Forget events and sessions older than ``max_age`` seconds."""
        ...


class MemoryRecoveryStore:
    """The in-memory :class:`RecoveryStore`: lost with the process, bounded in size.

    Args:
        max_events: events kept per store; the oldest go first (a client whose offset
            went is not recovered).
        max_sessions: dropped sessions kept; the oldest go first.
    """

    def __init__(self, *, max_events: int = 10_000, max_sessions: int = 10_000) -> None:
        self.max_events, self.max_sessions = max_events, max_sessions
        self._prefix = secrets.token_hex(4)  # offsets of another store never match
        self._first = 0  # the number of the oldest event kept
        self._events: deque[tuple[float, str, list[Any], frozenset[str], frozenset[str]]] = deque()
        self._sessions: dict[str, SavedSession] = {}

    def __repr__(self) -> str:
        return f"<MemoryRecoveryStore {len(self._events)} events, {len(self._sessions)} sessions>"

    def append(
        self,
        namespace: str,
        data: list[Any],
        to: Collection[str],
        exclude: Collection[str],
        *,
        now: float,
    ) -> str:
        number = self._first + len(self._events)
        self._events.append((now, namespace, data, frozenset(to), frozenset(exclude)))
        if len(self._events) > self.max_events:
            self._events.popleft()
            self._first += 1
        return f"{self._prefix}-{number}"

    def save(self, session: SavedSession) -> None:
        self._sessions[session.pid] = session
        while len(self._sessions) > self.max_sessions:
            del self._sessions[next(iter(self._sessions))]

    def restore(self, pid: str, offset: str, *, max_age: float, now: float) -> Restored | None:
        session = self._sessions.pop(pid, None)
        if session is None or now - session.disconnected_at > max_age:
            return None
        prefix, _, number = offset.rpartition("-")
        if prefix != self._prefix or not number.isdigit():
            return None
        index = int(number) - self._first
        if not 0 <= index < len(self._events):
            return None
        rooms = session.rooms
        missed = [
            [*data, f"{self._prefix}-{self._first + position}"]  # each with its offset
            for position, (_, namespace, data, to, exclude) in enumerate(self._events)
            if position > index
            and namespace == session.namespace
            and should_receive(rooms, to, exclude)
        ]
        return Restored(session, missed)

    def prune(self, *, max_age: float, now: float) -> None:
        while self._events and now - self._events[0][0] > max_age:
            self._events.popleft()
            self._first += 1
        for pid, session in list(self._sessions.items()):
            if now - session.disconnected_at > max_age:
                del self._sessions[pid]


def _dumps(value: Any) -> str:
    """JSON, with bytes (binary attachments) as ``{"$bytes": base64}``."""

    def encode(item: Any) -> Any:
        if isinstance(item, (bytes, bytearray)):
            return {"$bytes": base64.b64encode(bytes(item)).decode("ascii")}
        raise TypeError(f"{type(item).__name__} cannot be kept for recovery")

    return json.dumps(value, default=encode, separators=(",", ":"))


def _loads(text: str) -> Any:
    def decode(item: dict[str, Any]) -> Any:
        if set(item) == {"$bytes"}:
            return base64.b64decode(item["$bytes"])
        return item

    return json.loads(text, object_hook=decode)


STORE_FILE_REMEDIES = {
    "locked": "another program holds a lock on it (another server, or an sqlite3 shell "
    "inside a transaction): stop that program, or use another file",
    "read-only": "this process may not write to it: make it writable "
    "(chmod u+w, and the folder too) or use another file",
    "corrupt": "it is not a readable SQLite database: move it away (keep it, it may "
    "be someone's data) and start with a new file",
    "not openable": "check that its folder exists and that the path names a file",
}
"""What to do about each problem a :class:`StoreFileError` names."""


class StoreFileError(RuntimeError):
    """An SQLite store file the kit cannot use, naming the file, the problem and the fix.

    Attributes:
        path: the file.
        problem: ``"locked"``, ``"read-only"``, ``"corrupt"`` or ``"not openable"``.
    """

    def __init__(self, path: str, problem: str, detail: str) -> None:
        self.path, self.problem, self.detail = path, problem, detail
        super().__init__(
            f"the store file {path} cannot be used, it is {problem} ({detail}): "
            f"{STORE_FILE_REMEDIES[problem]}"
        )


def sqlite_problem(error: sqlite3.Error) -> str:
    """What an SQLite error says is wrong with the file: a :class:`StoreFileError` problem."""
    text = str(error).lower()
    if "locked" in text or "busy" in text:
        return "locked"
    if "readonly" in text or "read-only" in text:
        return "read-only"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return "corrupt"
    return "not openable"


def open_sqlite(path: str | os.PathLike[str], schema: str) -> sqlite3.Connection:
    """Open (or create) the SQLite file ``path`` for a store, checked, with ``schema`` in it.

    The connection is in autocommit mode (``isolation_level=None``), usable from any
    thread, with the write-ahead log (WAL: readers do not wait for the writer) and
    ``synchronous=NORMAL`` (a write survives the process being killed). Opening also
    proves the file usable: ``PRAGMA quick_check`` reads every page, and ``schema`` is
    applied in a write transaction, so a locked, read-only or corrupt file fails *here*,
    not at the first message.

    Raises:
        StoreFileError: naming the file, what is wrong and what to do.
    """
    name = os.fspath(path)
    try:
        db = sqlite3.connect(name, timeout=LOCK_WAIT, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreFileError(name, sqlite_problem(exc), str(exc)) from exc
    try:
        (check,) = db.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise StoreFileError(name, "corrupt", f"quick_check says {check!r}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("BEGIN IMMEDIATE")  # takes the write lock: locked and read-only show here
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            for statement in schema.split(";"):
                if statement.strip():
                    db.execute(statement)
            # A write that always writes: a read-only file refuses it.
            db.execute("INSERT OR REPLACE INTO meta VALUES ('opened', datetime('now'))")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        db.close()
        raise StoreFileError(name, sqlite_problem(exc), str(exc)) from exc
    except BaseException:
        db.close()
        raise
    return db


def store_key(db: sqlite3.Connection, key: str) -> str:
    """The random value kept under ``key`` in the store's ``meta`` table, made on first use."""
    db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, secrets.token_hex(8)))
    (value,) = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(value)


class SqliteRecoveryStore:
    """A :class:`RecoveryStore` in an SQLite file: it survives a server restart.

    A server started again with a store on the same file finds the sessions the previous
    one kept when it stopped (its connections dropped with "server shutting down") and
    the events sent since, so the official client comes back with
    ``socket.recovered === true`` even though the process is new (Node's default
    adapter keeps them in its process's memory). Writes are small and synchronous (one
    row per broadcast), fine for a lesson's rates; a busy server would batch them.

    Args:
        path: the database file (created if missing), or ``":memory:"``.
        max_events, max_sessions: as :class:`MemoryRecoveryStore`.

    Raises:
        StoreFileError: the file is locked, read-only or corrupt (see :func:`open_sqlite`).
    """

    def __init__(self, path: str, *, max_events: int = 10_000, max_sessions: int = 10_000) -> None:
        self.path, self.max_events, self.max_sessions = str(path), max_events, max_sessions
        self._db = open_sqlite(
            self.path,
            """
            CREATE TABLE IF NOT EXISTS events (
                number INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,
                namespace TEXT NOT NULL, data TEXT NOT NULL, rooms_to TEXT NOT NULL,
                rooms_excluded TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS sessions (
                pid TEXT PRIMARY KEY, body TEXT NOT NULL, disconnected_at REAL NOT NULL);
            """,
        )
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('prefix', ?)", (secrets.token_hex(4),))
        (self._prefix,) = self._db.execute("SELECT value FROM meta WHERE key = 'prefix'").fetchone()

    def __repr__(self) -> str:
        (events,) = self._db.execute("SELECT count(*) FROM events").fetchone()
        (sessions,) = self._db.execute("SELECT count(*) FROM sessions").fetchone()
        return f"<SqliteRecoveryStore {self.path} {events} events, {sessions} sessions>"

    def close(self) -> None:
        """Close the database connection (the file stays)."""
        self._db.close()

    def append(
        self,
        namespace: str,
        data: list[Any],
        to: Collection[str],
        exclude: Collection[str],
        *,
        now: float,
    ) -> str:
        cursor = self._db.execute(
            "INSERT INTO events (at, namespace, data, rooms_to, rooms_excluded) "
            "VALUES (?, ?, ?, ?, ?)",
            (now, namespace, _dumps(data), _dumps(sorted(to)), _dumps(sorted(exclude))),
        )
        number = cursor.lastrowid
        assert number is not None
        self._db.execute("DELETE FROM events WHERE number <= ?", (number - self.max_events,))
        return f"{self._prefix}-{number}"

    def save(self, session: SavedSession) -> None:
        body = _dumps(dataclasses.asdict(session))
        self._db.execute(
            "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)",
            (session.pid, body, session.disconnected_at),
        )
        self._db.execute(
            "DELETE FROM sessions WHERE pid NOT IN "
            "(SELECT pid FROM sessions ORDER BY disconnected_at DESC LIMIT ?)",
            (self.max_sessions,),
        )

    def restore(self, pid: str, offset: str, *, max_age: float, now: float) -> Restored | None:
        row = self._db.execute("SELECT body FROM sessions WHERE pid = ?", (pid,)).fetchone()
        if row is None:
            return None
        self._db.execute("DELETE FROM sessions WHERE pid = ?", (pid,))
        fields = _loads(row[0])
        session = SavedSession(**{**fields, "rooms": tuple(fields["rooms"])})
        if now - session.disconnected_at > max_age:
            return None
        prefix, _, number = offset.rpartition("-")
        if prefix != self._prefix or not number.isdigit():
            return None
        kept = self._db.execute("SELECT 1 FROM events WHERE number = ?", (int(number),))
        if kept.fetchone() is None:
            return None
        missed = [
            [*_loads(data), f"{self._prefix}-{event}"]  # each with its offset
            for event, data, to, exclude in self._db.execute(
                "SELECT number, data, rooms_to, rooms_excluded FROM events "
                "WHERE number > ? AND namespace = ? ORDER BY number",
                (int(number), session.namespace),
            )
            if should_receive(session.rooms, _loads(to), _loads(exclude))
        ]
        return Restored(session, missed)

    def prune(self, *, max_age: float, now: float) -> None:
        self._db.execute("DELETE FROM events WHERE at < ?", (now - max_age,))
        self._db.execute("DELETE FROM sessions WHERE disconnected_at < ?", (now - max_age,))
