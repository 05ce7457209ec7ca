"""Connection state recovery with the official JavaScript client (socket.io-client 4.8).

The official client in Node.js talks to kit.SocketIOServer through a tap; the tap cuts the
connection (both sockets reset, as a network outage would), and the server emits to the
client's room while it is away. With ``connection_state_recovery`` the client comes back
with ``socket.recovered === true``, its old id and its rooms, and gets what it missed.
Without it, the same cut gives a new id, no rooms and nothing missed: the check can fail.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import kit

pytestmark = pytest.mark.usefixtures("no_leaks")

RECOVERY_JS = Path(__file__).resolve().parent.parent / "js" / "scratch_recovery.mjs"


def recovery_server(**options: Any) -> tuple[kit.SocketIOServer, list[tuple[str, str, str]]]:
    """The server, and the disconnections it saw (sid, reason)."""
    sio = kit.SocketIOServer(**options)
    journal: list[tuple[str, str, str]] = []

    @sio.on("join")
    async def join(sid, room):
        await sio.enter_room(sid, room)
        await sio.emit("news", f"welcome to {room}", to=room)
        return sio.rooms(sid)

    @sio.on("rooms")
    def rooms(sid):
        return sio.rooms(sid)

    @sio.event
    def disconnect(sid, reason):
        journal.append(("disconnect", sid, reason))

    return sio, journal


def line(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    text = process.stdout.readline()
    assert text, f"the Node client ended: {process.stderr.read() if process.stderr else ''}"
    return json.loads(text)


def cut_while_away(
    node: str, sio: kit.SocketIOServer, journal: list[tuple[str, str, str]]
) -> list[dict[str, Any]]:
    """Run the client, cut it at the tap, emit to its room while it is away; its lines."""
    server = kit.serve(sio, name="scratch-sio-recovery")
    tap = kit.tap(server)
    process = subprocess.Popen(
        [node, str(RECOVERY_JS), tap.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=RECOVERY_JS.parent,
    )
    try:
        joined = line(process)
        assert joined["step"] == "joined", joined
        assert tap.cut() == 1
        # The server must have seen the loss before it emits, or the client would get it live.
        for _ in range(100):
            if journal:
                break
            time.sleep(0.02)
        assert journal, "the server never saw the connection go"
        kit.run(sio.emit("news", "while you were away", to="room one"))
        lines = [joined]
        while lines[-1]["step"] not in ("done", "timeout"):
            lines.append(line(process))
        assert process.wait(timeout=10) == 0, lines
        return lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_the_official_client_recovers_after_a_cut_at_the_tap(
    node: str, socketio_client_js: Path
) -> None:
    sio, journal = recovery_server(connection_state_recovery=kit.RecoveryOptions())
    lines = cut_while_away(node, sio, journal)
    joined, *_, reconnected, done = lines
    assert joined["recovered"] is False and joined["rooms"] == [joined["id"], "room one"]
    assert {"step": "disconnected", "reason": "transport close"} in lines
    assert reconnected == {"step": "reconnected", "id": joined["id"], "recovered": True}
    assert done["news"] == ["welcome to room one", "while you were away"]
    assert done["rooms"] == [joined["id"], "room one"]
    assert journal[0][2] == "transport close"


def test_without_recovery_the_same_cut_loses_id_rooms_and_news(
    node: str, socketio_client_js: Path
) -> None:
    sio, journal = recovery_server()
    lines = cut_while_away(node, sio, journal)
    joined, *_, reconnected, done = lines
    # The client's socket.recovered stays undefined (null here): the server sent no pid.
    assert joined["recovered"] is None
    assert reconnected["recovered"] is None and reconnected["id"] != joined["id"]
    assert done["news"] == ["welcome to room one"]
    assert done["rooms"] == [reconnected["id"]]


def test_with_an_sqlite_store_the_official_client_recovers_across_a_server_restart(
    node: str, socketio_client_js: Path, tmp_path: Path
) -> None:
    """Node's in-memory adapter forgets everything on restart; a store in a file does not."""
    path = str(tmp_path / "recovery.sqlite3")
    store = kit.SqliteRecoveryStore(path)
    sio, journal = recovery_server(connection_state_recovery=kit.RecoveryOptions(store=store))
    server = kit.serve(sio, name="scratch-sio-recovery")
    port = server.port
    tap = kit.tap(server)  # the client's address stays the same across the restart
    process = subprocess.Popen(
        [node, str(RECOVERY_JS), tap.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=RECOVERY_JS.parent,
    )
    try:
        joined = line(process)
        assert joined["step"] == "joined", joined
        server.stop()  # its connections drop ("server shutting down"); sessions are kept
        assert journal[0][2] == "server shutting down"
        store.close()
        # A new server object on a new store object: only the file is shared.
        reopened = kit.SqliteRecoveryStore(path)
        again, _ = recovery_server(connection_state_recovery=kit.RecoveryOptions(store=reopened))
        kit.run(again.emit("news", "sent while the server was restarting", to="room one"))
        kit.serve(again, name="scratch-sio-recovery", port=port)
        lines = [joined]
        while lines[-1]["step"] not in ("done", "timeout"):
            lines.append(line(process))
        assert process.wait(timeout=10) == 0, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    reconnected, done = lines[-2], lines[-1]
    assert reconnected == {"step": "reconnected", "id": joined["id"], "recovered": True}
    assert done["news"] == ["welcome to room one", "sent while the server was restarting"]
    assert done["rooms"] == [joined["id"], "room one"]
    reopened.close()
