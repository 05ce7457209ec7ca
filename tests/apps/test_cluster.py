"""One chat across several server processes, through a real redis-server.

Every test here runs the real program (``kit.redis()`` starts Debian's redis-server) and,
where it says "process", real ``python -m kit.chat`` processes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import kit
from kit.apps import roster

pytestmark = pytest.mark.usefixtures("no_leaks")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis() -> kit.Redis:
    return kit.redis()


class ChatProcess:
    """``python -m kit.chat`` in a process of its own; its stderr in a file."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.log_path = tmp_path / f"chat-{time.monotonic_ns()}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kit.chat", "--port", "0", *args],
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        self.url = ""

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_serving(self, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"serving (http://127\.0\.0\.1:\d+)/", self.log)
            if found:
                self.url = found.group(1)
                return self.url
            if self.process.poll() is not None:
                raise AssertionError(f"kit.chat exited {self.process.returncode}: {self.log}")
            time.sleep(0.05)
        raise AssertionError(f"kit.chat did not serve within {timeout} s: {self.log}")

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@pytest.fixture
def chat_processes(tmp_path: Path) -> Iterator[list[ChatProcess]]:
    started: list[ChatProcess] = []
    yield started
    for chat in started:
        if chat.process.poll() is None:
            chat.process.kill()
            chat.process.wait(5)


def two_processes(tmp_path: Path, started: list[ChatProcess], url: str) -> list[ChatProcess]:
    for _ in range(2):
        started.append(ChatProcess(tmp_path, "--redis", url))
    for chat in started:
        chat.wait_serving()
    return started


def client(url: str, name: str | None = None) -> kit.SocketIOClient:
    connected = kit.SocketIOClient(url, transports=["websocket"])
    connected.wait_for("new message")  # the welcome
    if name is not None:
        assert name in connected.call("add user", name)["users"]
    return connected


# -- kit.redis(): the real program, owned like any kit server ---------------------------------


def test_kit_redis_is_a_real_redis_server_without_persistence(redis) -> None:
    assert redis.url == f"redis://127.0.0.1:{redis.port}/0"
    assert redis.command("PING") is True
    assert "redis_version" in redis.command("INFO", "server")
    assert redis.command("CONFIG", "GET", "save") == {b"save": b""}
    assert redis.command("CONFIG", "GET", "appendonly") == {b"appendonly": b"no"}
    assert redis.command("CONFIG", "GET", "bind") == {b"bind": b"127.0.0.1"}
    pid = redis.process.pid
    again = kit.redis()  # the same name: the first one is replaced, not leaked
    assert again.port != redis.port or again.process.pid != pid
    assert not redis.running and _gone(pid)
    kit.stop_all()
    assert not again.running and again.process.directory is None


def _gone(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_without_redis_server_on_path_the_error_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(kit.ProgramNotFoundError) as caught:
        kit.redis()
    text = str(caught.value)
    assert "redis-server or valkey-server is not installed" in text
    assert "apt-get install redis-server" in text
    assert "conda-forge redis-server" in text and "brew install redis" in text
    assert isinstance(caught.value, FileNotFoundError)
    assert kit.running_servers() == []


def test_a_program_that_dies_at_start_is_an_error_quoting_its_log(tmp_path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho 'FATAL CONFIG FILE ERROR: no such option' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(kit.ChildProgramError, match=r"(?s)exited with status 1.*FATAL CONFIG"):
        kit.redis(binary=str(fake))
    assert kit.running_servers() == []


def test_a_taken_port_is_refused_before_redis_starts(redis) -> None:
    with pytest.raises(kit.PortInUseError, match="kit server redis"):
        kit.redis(name="second", port=redis.port)


# -- kit.chat_app(redis=...): one chat, several servers ---------------------------------------


def test_a_wrong_redis_url_and_a_redis_that_is_not_running_are_clear_errors(redis) -> None:
    with pytest.raises(ValueError, match="not a Redis URL"):
        kit.chat_app(redis="http://127.0.0.1:6379")
    port = redis.port
    redis.stop()
    started = time.monotonic()
    with pytest.raises(kit.RedisUnavailableError, match=f"cannot reach Redis at .*:{port}"):
        kit.serve(kit.chat_app(redis=f"redis://127.0.0.1:{port}/0"), name="chat")
    assert time.monotonic() - started < 5
    assert kit.running_servers() == []


def test_rooms_broadcasts_private_messages_and_the_online_list_cross_servers(redis) -> None:
    one = kit.serve(kit.chat_app(redis=redis), name="one")
    two = kit.serve(kit.chat_app(redis=redis.url), name="two")
    ann, bob, cid = client(one.url, "ann"), client(two.url, "bob"), client(two.url)
    assert ann.wait_for("user joined") == [{"username": "bob", "numUsers": 2}]
    assert one.app.users == two.app.users == ["ann", "bob"]
    assert one.app.local_users == ["ann"] and two.app.local_users == ["bob"]
    assert cid.call("add user", "ann") == {"error": "the name 'ann' is taken"}

    for who in (ann, bob):
        who.call("join", "room one")
    ann.call("recive message", {"message": "to the room", "room": "room one"})
    assert bob.wait_for("new message")[0]["mess"] == "to the room"
    ann.call("recive message", {"message": "to everyone"})
    assert cid.wait_for("new message")[0]["mess"] == "to everyone"
    assert bob.call("private message", {"to": "ann", "message": "psst"}) == {
        "ok": True,
        "to": "ann",
    }
    assert ann.wait_for("private message")[0] == {
        "from": "bob",
        "to": "ann",
        "mess": "psst",
        "time": ann.received[-1][2][0]["time"],
    }
    # A server-side disconnect of a client on the other server.
    kit.run(one.app.sio.disconnect(bob.sid()))
    assert bob.wait_for("disconnect")
    assert ann.wait_for("user left") == [{"username": "bob", "numUsers": 1}]
    assert two.app.users == ["ann"]
    assert one.app.cluster is not None and one.app.cluster.lost_emits == 0


def test_a_cluster_refuses_to_join_a_clients_sid_from_another_server(redis) -> None:
    one = kit.serve(kit.chat_app(redis=redis, rooms=None), name="one")
    two = kit.serve(kit.chat_app(redis=redis, rooms=None), name="two")
    ann, eve = client(one.url), client(two.url)
    answer = eve.call("join", ann.sid())
    assert answer == {"error": f"{ann.sid()!r} is a client's own room (its sid)"}


def test_a_server_that_died_leaves_the_online_list_after_its_ttl(redis) -> None:
    one = kit.serve(kit.chat_app(redis=redis), name="one")
    ghost = kit.chat_app(redis=redis)
    ghost_server = kit.serve(ghost, name="ghost")
    client(ghost_server.url, "casper")
    client(one.url, "ann")
    assert one.app.users == ["casper", "ann"]
    # Its heartbeat stops as if the process were killed; its entries stay in Redis.
    task = ghost.roster._heartbeat
    assert task is not None
    task.cancel()
    connection, ghost.roster._redis = ghost.roster._redis, None  # a killed process says nothing
    deadline = time.monotonic() + roster.NODE_TTL + 5
    while "casper" in one.app.users:
        assert time.monotonic() < deadline, "a dead server's users never left the list"
        time.sleep(0.2)
    assert one.app.users == ["ann"]
    assert client(one.url).call("add user", "casper")["users"] == ["ann", "casper"]
    kit.run(connection.aclose())


def test_redis_killed_mid_run_what_is_lost_is_counted_and_the_cluster_recovers(redis) -> None:
    one = kit.serve(kit.chat_app(redis=redis), name="one")
    two = kit.serve(kit.chat_app(redis=redis), name="two")
    ann, amy, bob = client(one.url, "ann"), client(one.url, "amy"), client(two.url, "bob")
    ann.call("recive message", {"message": "before"})
    assert bob.wait_for("new message")[0]["mess"] == "before"

    redis.kill()
    # The servers keep serving their own clients...
    ann.call("recive message", {"message": "while down"})
    assert amy.wait_for("new message")[0]["mess"] == "before"
    assert amy.wait_for("new message")[0]["mess"] == "while down"
    # ...say that Redis is gone, and count what the other server never got.
    state = one.app.cluster
    assert state is not None and state.lost_emits >= 1
    refused = client(one.url).call("add user", "zed")
    assert "not reachable now" in refused["error"] and "zed" not in str(one.app.local_users)
    _wait(lambda: not one.app.cluster.reachable, "the heartbeat to notice the outage")
    assert any("is unreachable" in entry.message for entry in one.log)

    redis.restart()  # a fresh, empty Redis on the same port
    _wait(lambda: one.app.cluster.reachable and two.app.cluster.reachable, "reconnection")
    _wait(lambda: sorted(two.app.users) == ["amy", "ann", "bob"], "the online list refilled")

    def crosses() -> bool:
        token = f"after {time.monotonic_ns()}"
        ann.call("recive message", {"message": token})
        try:
            while True:
                if bob.wait_for("new message", timeout=0.5)[0]["mess"] == token:
                    return True
        except TimeoutError:
            return False

    _wait(crosses, "messages to cross servers again", timeout=40)
    assert one.app.cluster.outages == 1
    assert any("reachable again" in entry.message for entry in one.log)


def _wait(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.1)


# -- python -m kit.chat: separate processes --------------------------------------------------


def test_help_documents_every_option() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kit.chat", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0
    for option in ("--host", "--port", "--redis URL", "--channel", "--room", "--any-room"):
        assert option in done.stdout, option
    assert "--client-js" in done.stdout and "--quiet" in done.stdout
    assert "--max-text N" in done.stdout and "--max-backlog N" in done.stdout
    assert "--store PATH" in done.stdout and "SQLite file" in done.stdout
    assert "--ping-interval S" in done.stdout and "--ping-timeout S" in done.stdout
    assert "--max-deliveries N" in done.stdout and "(default 5,000)" in " ".join(
        done.stdout.split()
    )
    assert "--ping-interval S" in done.stdout and "--ping-timeout S" in done.stdout
    assert "SIGTERM" in done.stdout


@pytest.mark.parametrize(
    ("option", "value", "why"),
    [
        ("--max-text", "0", "must be at least 1"),
        ("--max-backlog", "many", "whole number"),
        ("--ping-interval", "0", "must be a positive number of seconds"),
        ("--ping-interval", "2.5", "must be a whole number of seconds"),
        ("--max-deliveries", "-1", "must be 0 (no budget) or more, not -1"),
        ("--max-deliveries", "lots", "is a whole number, not 'lots'"),
        ("--ping-timeout", "soon", "is a number of seconds, not 'soon'"),
    ],
)
def test_a_bad_limit_is_a_clear_usage_error(option: str, value: str, why: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kit.chat", "--port", "0", option, value],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2
    assert option in done.stderr and why in done.stderr, done.stderr


def test_chat_process_passes_its_limits_to_the_child(no_leaks) -> None:
    with pytest.raises(ValueError, match="max_backlog must be a whole number of at least 1"):
        kit.chat_process(max_backlog=0)
    with pytest.raises(ValueError, match="ping_timeout must be a positive number"):
        kit.chat_process(ping_timeout=0)
    with pytest.raises(ValueError, match="max_deliveries must be a whole number"):
        kit.chat_process(max_deliveries=0)
    server = kit.chat_process(
        max_text=20,
        max_backlog=3,
        ping_interval=2,
        ping_timeout=4.5,
        max_deliveries=1000,
        name="limits",
    )
    assert server.app.command(server.app.directory)[-10:] == [
        "--max-text", "20", "--max-backlog", "3", "--ping-interval", "2.0", "--ping-timeout", "4.5",
        "--max-deliveries", "1000",
    ]  # fmt: skip
    with urllib.request.urlopen(f"{server.url}/socket.io/?EIO=4&transport=polling") as answer:
        opened = json.loads(answer.read().decode()[1:])  # "0" + the OPEN packet's JSON
    assert (opened["pingInterval"], opened["pingTimeout"]) == (2000, 4500)
    sender = kit.SocketIOClient(server)
    assert sender.call("recive message", {"message": "x" * 20}) == {"ok": True}
    answer = sender.call("recive message", {"message": "x" * 21})
    assert "20" in answer["error"], answer


def test_two_processes_are_one_chat_and_stop_cleanly_on_sigterm(
    redis, tmp_path, chat_processes
) -> None:
    one, two = two_processes(tmp_path, chat_processes, redis.url)
    ann, bob = client(one.url, "ann"), client(two.url, "bob")
    assert ann.wait_for("user joined") == [{"username": "bob", "numUsers": 2}]
    assert ann.call("users") == {"users": ["ann", "bob"], "numUsers": 2}
    ann.call("join", "room two")
    bob.call("join", "room two")
    bob.call("recive message", {"message": "across processes", "room": "room two"})
    assert ann.wait_for("new message")[0]["mess"] == "across processes"
    assert bob.call("private message", {"to": "ann", "message": "hi"})["ok"]
    assert ann.wait_for("private message")[0]["from"] == "bob"

    assert two.stop() == 0
    assert bob.wait_for("disconnect")
    assert ann.wait_for("user left") == [{"username": "bob", "numUsers": 1}]
    assert "kit.chat: stopping" in two.log
    assert re.search(r"INFO connect \S+ from 127\.0\.0\.1 over websocket", two.log)
    assert re.search(r"INFO disconnect \S+", two.log)
    assert "Traceback" not in two.log
    assert redis.command("HKEYS", "wire-to-room:users") == [b"ann"]
    assert one.stop() == 0


def test_the_command_fails_clearly_on_bad_redis_and_a_taken_port(
    redis, tmp_path, chat_processes
) -> None:
    bad = ChatProcess(tmp_path, "--redis", "http://nowhere")
    chat_processes.append(bad)
    assert bad.process.wait(20) == 2 and "not a Redis URL" in bad.log
    port = redis.port
    redis.stop()
    down = ChatProcess(tmp_path, "--redis", f"redis://127.0.0.1:{port}/0")
    chat_processes.append(down)
    assert down.process.wait(20) == 1 and "cannot reach Redis" in down.log
    server = kit.serve(kit.chat_app(), name="holder")
    taken = subprocess.Popen(
        [sys.executable, "-m", "kit.chat", "--port", str(server.port)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    _, err = taken.communicate(timeout=20)
    assert taken.returncode == 2 and f"port {server.port}" in err and "in use" in err


PUSH = textwrap.dedent(
    """
    import sys
    import redis
    import socketio

    url, channel = sys.argv[1], sys.argv[2]
    queue = socketio.RedisManager(url, channel=channel, write_only=True)
    queue.emit("new message", {"user": "backend", "mess": "to everyone"})
    queue.emit("new message", {"user": "backend", "mess": "to room two"}, room="room two")
    holder = redis.Redis.from_url(url, decode_responses=True).hget(channel + ":users", "bob")
    queue.emit("private message", {"from": "backend", "to": "bob", "mess": "only bob"},
               room=holder.split(" ")[1])
    """
)


def test_a_backend_process_without_clients_pushes_through_redis(
    redis, tmp_path, chat_processes
) -> None:
    one, two = two_processes(tmp_path, chat_processes, redis.url)
    ann, bob = client(one.url, "ann"), client(two.url, "bob")
    bob.call("join", "room two")
    script = tmp_path / "push.py"
    script.write_text(PUSH)
    done = subprocess.run(
        [sys.executable, str(script), redis.url, "wire-to-room"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert ann.wait_for("new message")[0]["mess"] == "to everyone"
    assert bob.wait_for("new message")[0]["mess"] == "to everyone"
    assert bob.wait_for("new message")[0]["mess"] == "to room two"
    assert bob.wait_for("private message")[0]["mess"] == "only bob"
    ann.call("recive message", {"message": "sentinel"})
    assert ann.wait_for("new message")[0]["mess"] == "sentinel"
    assert [e for _, e, a in ann.received if e == "private message"] == []
    assert all(a[0].get("mess") != "to room two" for _, e, a in ann.received if a)
    for chat in (one, two):
        assert chat.stop() == 0


def test_a_tap_in_front_of_redis_shows_the_json_each_server_publishes(redis) -> None:
    wire = kit.tap(redis)
    assert wire.url == f"redis://127.0.0.1:{wire.port}/0"
    one = kit.serve(kit.chat_app(redis=wire.url), name="one")
    two = kit.serve(kit.chat_app(redis=wire.url), name="two")
    ann, bob = client(one.url, "ann"), client(two.url, "bob")
    ann.call("recive message", {"message": "over Redis", "time": "12:00"})
    assert bob.wait_for("new message")[0]["mess"] == "over Redis"
    wire.wait_for(lambda e: e.carries("over Redis"), layer="redis", count=3)
    published = wire.select(lambda e: e.carries("over Redis"), direction="client->server")
    assert [e.summary.split(" ")[:2] for e in published] == [["PUBLISH", "wire-to-room"]]
    message = json.loads(published[0].content)
    assert message["method"] == "emit" and message["event"] == "new message"
    assert message["data"] == [{"user": "ann", "mess": "over Redis", "time": "12:00", "room": None}]
    pushed = wire.select(lambda e: e.carries("over Redis"), direction="server->client")
    assert len(pushed) == 2  # one per subscribed server, the sender's own included
    assert all(e.summary.startswith("message wire-to-room '{") for e in pushed)
    answer = next(
        e
        for e in wire.events
        if e.seq > published[0].seq and e.connection == published[0].connection
    )
    assert answer.summary == "integer 2"  # PUBLISH answers how many subscribers got it
    assert wire.select("not decoded", layer="tcp") == []


def test_a_chat_process_whose_redis_is_gone_fails_quoting_why(redis) -> None:
    port = redis.port
    redis.stop()
    with pytest.raises(
        kit.ChildProgramError, match=r"(?s)exited with status 1.*cannot reach Redis"
    ):
        kit.chat_process(redis=f"redis://127.0.0.1:{port}/0", name="lonely")
    assert kit.running_servers() == []
