"""kit.balancer(): a real HAProxy in front of two chat servers sharing a real Redis.

Round-robin breaks a long-polling client at its second request (the tap shows the other
server's 400); a WebSocket-only client works; the sticky cookie fixes polling.
"""

from __future__ import annotations

import os

import pytest
import socketio

import kit
from kit.apps.balancer import COOKIE, NODE_HEADER

pytestmark = pytest.mark.usefixtures("no_leaks")


@pytest.fixture
def nodes() -> list[kit.Server]:
    redis = kit.redis()
    return [kit.serve(kit.chat_app(redis=redis), name=f"node {n}") for n in (1, 2)]


def responses(tap: kit.Tap) -> list[tuple[int, str, str]]:
    """(connection, status line, X-Kit-Node) of every HTTP response the tap saw."""
    found = []
    for event in tap.select(layer="http", direction="server->client"):
        headers = dict(getattr(event.decoded, "headers", []) or [])
        node = headers.get(NODE_HEADER.lower().encode(), b"").decode()
        if hasattr(event.decoded, "status_code"):
            found.append((event.connection, event.summary.split(" (")[0], node))
    return found


def test_round_robin_breaks_long_polling_at_the_second_request(nodes) -> None:
    lb = kit.balancer(nodes)
    assert lb.method == "round-robin" and "balance roundrobin" in lb.config
    assert "cookie" not in lb.config
    tap = kit.tap(lb.server)
    with pytest.raises(socketio.exceptions.ConnectionError):
        kit.SocketIOClient(tap.url, transports=["polling"])
    tap.wait_for("400 Bad Request", layer="http")
    tap.settle()
    answers = responses(tap)
    handshake = next(a for a in answers if a[1] == "200 OK")
    refused = next(a for a in answers if a[1] == "400 Bad Request")
    assert handshake[2] != refused[2], f"both answered by {handshake[2]}: {answers}"
    rows = tap.select(layer="http", direction="server->client")
    head = next(e for e in rows if e.summary.startswith("400 Bad Request"))
    body = next(e for e in rows if e.seq > head.seq and e.connection == head.connection)
    assert body.raw.startswith(b'"Invalid session')  # python-engineio's words


def test_a_websocket_only_client_works_through_round_robin(nodes) -> None:
    lb = kit.balancer(nodes)
    ann = kit.SocketIOClient(lb.url, transports=["websocket"])
    bob = kit.SocketIOClient(lb.url, transports=["websocket"])
    assert ann.call("add user", "ann")["numUsers"] == 1
    assert bob.call("add user", "bob")["numUsers"] == 2
    # Round-robin put them on different servers; Redis makes it one chat.
    assert sorted(n.app.local_users for n in nodes) == [["ann"], ["bob"]]
    bob.call("recive message", {"message": "over the balancer"})
    assert ann.wait_for("new message")  # the welcome
    assert ann.wait_for("new message")[0]["mess"] == "over the balancer"


def test_a_sticky_cookie_keeps_a_polling_client_on_one_server(nodes) -> None:
    lb = kit.balancer(nodes, sticky=True, name="sticky")
    assert f"cookie {COOKIE} insert indirect nocache" in lb.config
    assert "cookie node1" in lb.config and "cookie node2" in lb.config
    tap = kit.tap(lb.server)
    clients = [kit.SocketIOClient(tap.url, transports=["polling"]) for _ in range(4)]
    for number, client in enumerate(clients):
        assert client.transport == "polling"
        assert client.call("add user", f"user{number}")["numUsers"] == number + 1
    tap.settle()
    answers = responses(tap)
    assert answers and all(status == "200 OK" for _, status, _ in answers)
    assert {node for _, _, node in answers} == {"node1", "node2"}  # both servers used
    heads = [e.raw.lower() for e in tap.select(layer="http", direction="server->client")]
    cookies = [raw for raw in heads if b"set-cookie" in raw]
    assert len(cookies) == 4  # one per client, on its handshake; sent back, never set again
    assert all(f"set-cookie: {COOKIE}=node".lower().encode() in raw for raw in cookies)
    assert sorted(len(n.app.local_users) for n in nodes) == [2, 2]


def test_a_configuration_haproxy_refuses_is_an_error_with_its_message(nodes) -> None:
    with pytest.raises(kit.ChildProgramError, match="refused its configuration") as caught:
        kit.balancer(nodes, extra=["no-such-keyword here"])
    assert "no-such-keyword" in str(caught.value)
    assert [s.name for s in kit.running_servers()] == ["redis", "node 1", "node 2"]


def test_without_haproxy_the_error_says_how_to_install_it(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(kit.ProgramNotFoundError, match="apt-get install haproxy"):
        kit.balancer(["http://127.0.0.1:1"])


def test_stop_all_ends_haproxy(nodes) -> None:
    lb = kit.balancer(nodes)
    pid = lb.process.pid
    assert pid is not None
    kit.stop_all()
    assert not lb.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
