"""The recovery stores: what a dropped socket gets back, from memory or from an SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kit.apps.recovery import (
    MemoryRecoveryStore,
    RecoveryStore,
    SavedSession,
    SqliteRecoveryStore,
)

NOW = 1_000_000.0


def ann(rooms: tuple[str, ...] = ("ann-sid", "room one")) -> SavedSession:
    return SavedSession("ann-pid", "ann-sid", "/", rooms, {"name": "ann"}, NOW)


@pytest.fixture(params=["memory", "sqlite"])
def make(request, tmp_path: Path) -> Callable[..., RecoveryStore]:
    def make(**options: int) -> RecoveryStore:
        if request.param == "memory":
            return MemoryRecoveryStore(**options)
        return SqliteRecoveryStore(str(tmp_path / "recovery.sqlite3"), **options)

    return make


def test_the_events_a_session_missed_come_back_with_their_offsets(make) -> None:
    store = make()
    last_seen = store.append("/", ["tick", 0], ["room one"], [], now=NOW)
    store.save(ann())
    kept = [
        store.append("/", ["tick", 1], ["room one"], [], now=NOW + 1),
        store.append("/", ["elsewhere"], ["room two"], [], now=NOW + 1),
        store.append("/", ["not for ann"], [], ["ann-sid"], now=NOW + 1),
        store.append("/other", ["tick", 2], [], [], now=NOW + 1),
        store.append("/", ["everyone", b"\x00\xff"], [], [], now=NOW + 1),
    ]
    restored = store.restore("ann-pid", last_seen, max_age=60, now=NOW + 2)
    assert restored is not None and restored.session == ann()
    assert restored.missed == [["tick", 1, kept[0]], ["everyone", b"\x00\xff", kept[4]]]
    assert len(set(kept)) == len(kept)  # offsets are unique
    # A session is taken back once.
    assert store.restore("ann-pid", last_seen, max_age=60, now=NOW + 2) is None


def test_too_late_an_unknown_pid_or_a_forgotten_offset_is_a_new_session(make) -> None:
    store = make(max_events=2)
    first = store.append("/", ["tick", 0], [], [], now=NOW)
    store.save(ann())
    assert store.restore("ann-pid", first, max_age=60, now=NOW + 61) is None  # too late
    store.save(ann())
    assert store.restore("mallory", first, max_age=60, now=NOW + 1) is None
    assert store.restore("ann-pid", "not-an-offset", max_age=60, now=NOW + 1) is None
    store.save(ann())
    for n in range(1, 3):
        store.append("/", ["tick", n], [], [], now=NOW)
    assert store.restore("ann-pid", first, max_age=60, now=NOW + 1) is None  # gone (max 2)


def test_an_sqlite_store_survives_a_new_process_on_the_same_file(tmp_path: Path) -> None:
    path = str(tmp_path / "recovery.sqlite3")
    before = SqliteRecoveryStore(path)
    seen = before.append("/", ["tick", 0], ["room one"], [], now=NOW)
    before.save(ann())
    before.close()
    after = SqliteRecoveryStore(path)  # what a restarted server opens
    missed = after.append("/", ["tick", 1], ["room one"], [], now=NOW + 1)
    restored = after.restore("ann-pid", seen, max_age=60, now=NOW + 2)
    assert restored is not None
    assert restored.session.rooms == ("ann-sid", "room one")
    assert restored.missed == [["tick", 1, missed]]
    after.close()
    # Another file's offsets never match this one's.
    other = SqliteRecoveryStore(str(tmp_path / "other.sqlite3"))
    other.save(ann())
    assert other.restore("ann-pid", seen, max_age=60, now=NOW + 2) is None
    other.close()
