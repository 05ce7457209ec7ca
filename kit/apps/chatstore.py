"""The chat's message store: every chat message in an SQLite file, with an offset.

``kit.chat_app(store="chat.sqlite")`` keeps each message it accepts here *before* it
broadcasts it. The store numbers messages with an *offset*, an integer that only grows
(SQLite's ``AUTOINCREMENT``: a number is never given twice, even after a delete), and the
broadcast carries it::

    server -> all   "new message"  {"user": "ann", "mess": "hi", "room": null, ..., "offset": 41}

A client remembers the last offset it saw; when it comes back it says so, and the server
sends what it missed (:meth:`ChatStore.after`). A client may also give each message an
``id`` of its own; ids are unique in the store (a ``UNIQUE`` constraint), so a message
sent twice (a retry after a lost acknowledgement) is kept, and broadcast, once.

Each store file has a random *store id* (kept in the file): an offset means nothing in
another file, so a client sends the store id with its offset and the server refuses one
from another store.

The file is opened with :func:`kit.apps.recovery.open_sqlite`, like the recovery store of
:mod:`kit.apps.recovery`, and may be the same file: a locked, read-only or corrupt file
raises :class:`~kit.apps.recovery.StoreFileError` at once, naming the file and the fix.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kit.apps.recovery import StoreFileError, open_sqlite, sqlite_problem, store_key

__all__ = ["MAX_ID", "ChatStore", "IdReused", "StoredMessage", "check_offset"]

MAX_ID = 64
"""The longest message id a client may choose, in characters."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_messages (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE,
    room TEXT,
    body TEXT NOT NULL)
"""


class IdReused(ValueError):
    """A message id that the store already holds, for a message with other content."""


@dataclass(frozen=True)
class StoredMessage:
    """One kept message: its offset and the ``new message`` payload broadcast for it."""

    offset: int
    payload: dict[str, Any]


def check_offset(value: Any, what: str = "offset") -> int:
    """``value`` as an offset (an integer, 0 or more), or :class:`ValueError` saying why.

    ``True`` is refused although Python counts it as 1: JSON's ``true`` is no number.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer (the last offset you saw), not {value!r}")
    if value < 0:
        raise ValueError(f"{what} must be 0 or more, not {value}")
    return value


class ChatStore:
    """Chat messages kept in an SQLite file, each under an offset that only grows.

    Args:
        path: the database file, created if missing (``":memory:"``: lost with the
            process, for tests).

    Raises:
        StoreFileError: the file is locked, read-only or corrupt; the message names the
            file and what to do.

    Every call is short and synchronous (one indexed query); a lock makes the store safe
    to use from the runtime thread and a cell at the same time.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._db = open_sqlite(self.path, SCHEMA)
        self._lock = threading.Lock()
        self.id = store_key(self._db, "chat store id")
        """This file's random store id (a client sends it with its offset)."""

    def __repr__(self) -> str:
        return f"<ChatStore {self.path} id {self.id}, {self.count} messages, newest {self.newest}>"

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreFileError(self.path, sqlite_problem(exc), str(exc)) from exc

    @property
    def newest(self) -> int:
        """The offset of the newest message kept (0 when there is none yet)."""
        rows = self._run("SELECT seq FROM sqlite_sequence WHERE name = 'chat_messages'")
        return int(rows[0][0]) if rows else 0

    @property
    def count(self) -> int:
        """How many messages the file holds."""
        return int(self._run("SELECT count(*) FROM chat_messages")[0][0])

    def add(self, payload: dict[str, Any], *, message_id: str | None = None) -> tuple[int, bool]:
        """Keep one message; return ``(offset, duplicate)``.

        ``payload`` is the ``new message`` payload (``user``, ``mess``, ``room``, ...).
        With a ``message_id`` already kept for the same text and room, nothing is added:
        the answer is the first one's offset and ``duplicate=True``.

        Raises:
            IdReused: ``message_id`` is kept for a message with other text or room.
            StoreFileError: the file cannot be written now (locked, read-only...).
        """
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        room = payload.get("room")
        with self._lock:
            try:
                if message_id is not None:
                    row = self._db.execute(
                        "SELECT number, body FROM chat_messages WHERE id = ?", (message_id,)
                    ).fetchone()
                    if row is not None:
                        kept = json.loads(row[1])
                        if (kept.get("mess"), kept.get("room")) != (payload.get("mess"), room):
                            raise IdReused(
                                f"id {message_id!r} was already used for a different message"
                            )
                        return int(row[0]), True
                cursor = self._db.execute(
                    "INSERT INTO chat_messages (id, room, body) VALUES (?, ?, ?)",
                    (message_id, room, body),
                )
            except sqlite3.Error as exc:
                raise StoreFileError(self.path, sqlite_problem(exc), str(exc)) from exc
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid), False

    def forget(self, offset: int) -> None:
        """Take back a message that was never delivered (the server was busy)."""
        self._run("DELETE FROM chat_messages WHERE number = ?", (offset,))

    def after(
        self,
        offset: int,
        *,
        room: str | None = None,
        rooms: Sequence[str | None] | None = None,
    ) -> list[StoredMessage]:
        """The messages after ``offset``, oldest first: to everyone, or to ``room``.

        ``rooms`` instead: the messages to any of them (``None`` in it: to everyone).
        """
        wanted: list[str | None] = list(rooms) if rooms is not None else [room]
        named = [r for r in wanted if r is not None]
        where = []
        if None in wanted:
            where.append("room IS NULL")
        if named:
            where.append(f"room IN ({', '.join('?' * len(named))})")
        if not where:
            return []
        rows = self._run(
            f"SELECT number, body FROM chat_messages WHERE number > ? AND ({' OR '.join(where)}) "
            "ORDER BY number",
            (offset, *named),
        )
        return [StoredMessage(int(number), json.loads(body)) for number, body in rows]

    def resume_point(self, auth: Any) -> int | None:
        """The offset a CONNECT's ``auth`` asks to resume after, checked; None: no replay.

        ``auth`` may hold ``{"offset": 41, "store": "<id>"}`` beside anything else (a
        token). Raises :class:`ValueError` naming the problem: an offset that is not an
        integer, negative or newer than the newest kept, or the id of another store.
        """
        if not isinstance(auth, dict) or ("offset" not in auth and "store" not in auth):
            return None
        store = auth.get("store")
        if store is not None and store != self.id:
            raise ValueError(
                f"the store {store!r} in your auth is not this server's (its store is "
                f"{self.id!r}): your offset counts another file's messages; connect "
                "without offset and store to start again"
            )
        if auth.get("offset") is None:
            return None
        return self.check_offset(auth["offset"])

    def check_offset(self, value: Any, what: str = "offset") -> int:
        """:func:`check_offset`, also refusing an offset newer than the newest kept."""
        offset = check_offset(value, what)
        newest = self.newest
        if offset > newest:
            raise ValueError(
                f"{what} {offset} is from the future: the newest message kept is {newest}"
                " (is it another store's offset?)"
            )
        return offset

    def close(self) -> None:
        """Close the database connection (the file stays)."""
        with self._lock:
            self._db.close()
