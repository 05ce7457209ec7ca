"""kit.runtime.processes: child programs die with the kernel, however the kernel ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kit

ROOT = Path(__file__).resolve().parents[2]

KERNEL = """
import os, sys, time
import kit
redis = kit.redis()
one = kit.chat_process(redis=redis, name="one")
lb = kit.balancer([one])
print(redis.process.pid, one.app.pid, lb.process.pid, flush=True)
if sys.argv[1] == "os._exit":
    os._exit(1)  # what ipykernel does when its parent went away: no atexit
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped by its new parent.
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[1].startswith("Z"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("ending", ["os._exit", "SIGKILL"])
def test_programs_end_when_the_process_that_started_them_ends(ending: str) -> None:
    kernel = subprocess.Popen(
        [sys.executable, "-c", KERNEL, ending],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert kernel.stdout is not None
    pids = [int(pid) for pid in kernel.stdout.readline().split()]
    assert len(pids) == 3 and all(_alive(pid) for pid in pids)
    if ending == "SIGKILL":
        kernel.send_signal(signal.SIGKILL)
    kernel.wait(30)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"left running: {[p for p in pids if _alive(p)]}"
        time.sleep(0.1)


def test_stop_all_stops_every_program(no_leaks) -> None:
    redis = kit.redis()
    servers = [kit.chat_process(redis=redis, name=f"chat {n}") for n in range(3)]
    pids = [redis.process.pid, *(server.app.pid for server in servers)]
    kit.stop_all()
    assert not any(_alive(pid) for pid in pids if pid is not None)


def test_directories_left_by_a_dead_kernel_are_removed_by_the_next_start(no_leaks, tmp_path):
    import tempfile

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path(tempfile.gettempdir()) / f"kit-redis-pid{dead.pid}-abc123"
    stale.mkdir()
    (stale / "redis.log").write_text("left behind")
    mine = Path(tempfile.mkdtemp(prefix=f"kit-redis-pid{os.getpid()}-"))
    try:
        redis = kit.redis()
        assert not stale.exists()
        assert mine.exists()  # this process is alive: its directories are its own business
        assert f"pid{os.getpid()}-" in str(redis.process.directory)
    finally:
        import shutil

        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(mine, ignore_errors=True)


def test_stopping_a_crashed_chat_process_ends_its_clients_attempts(no_leaks) -> None:
    """A crash is retried (the program may come back on its port); the kit stopping the
    program for good ends the attempts of the kit clients aimed at it."""
    server = kit.chat_process(name="crashing chat")
    client = kit.SocketIOClient(
        server.url, transports=["websocket"], reconnection_delay=0.1, reconnection_delay_max=0.2
    )
    server.app.kill()  # SIGKILL: no goodbye, as in a crash
    deadline = time.monotonic() + 10
    while client.attempts < 2:
        assert time.monotonic() < deadline, f"no attempts after the crash: {client.state}"
        time.sleep(0.02)
    server.stop()
    assert not client.state.startswith("reconnecting")
    attempts = client.attempts
    time.sleep(0.5)
    assert client.attempts == attempts  # nobody knocks on the dead port
