"""The tap's faults: cuts (RST and FIN), a black hole, refusals, latency, heal, schedules.

Each fault is checked where it shows: on a raw TCP client (what its socket reads), on a
server behind the tap, and in the capture (its own row at the ``fault`` layer).
"""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET

import pytest
import socketio

import kit
from kit.wiretap.records import Layer
from kit.wiretap.relay import LINGER
from tests.waiting import eventually
from tests.wiretap.test_tap import RawEcho

pytestmark = pytest.mark.usefixtures("no_leaks")
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def echo_tap():
    echo = RawEcho()
    server = kit.serve(echo, name="raw-echo")
    return echo, kit.tap(server)


def connect(tap: kit.Tap, timeout: float = 3.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", tap.port), timeout=timeout)


def round_trip(client: socket.socket, data: bytes) -> bytes:
    client.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = client.recv(65536)
        assert chunk, f"closed after {got!r}"
        got += chunk
    return got


def faults(tap: kit.Tap) -> list[str]:
    return [event.summary for event in tap.select(layer="fault")]


def test_a_reset_cut_makes_both_ends_read_connection_reset(echo_tap):
    _, tap = echo_tap
    client = connect(tap)
    assert round_trip(client, b"hello") == b"hello"
    assert tap.cut() == 1
    with pytest.raises(ConnectionResetError):
        client.recv(10)
    client.close()
    eventually(lambda: tap.connections == 0, what="the relay let go of the cut connection")
    assert faults(tap) == ["cut: reset (RST) both ways by the tap"]
    row = tap.select(layer="fault")[0]
    assert row.connection == 1 and row.line().startswith("#1 !! tcp       fault")
    # The cut is not reported again as a close by either peer.
    assert not tap.select("closed the connection") and not tap.select("connection lost")
    assert tap.faults.cuts == 1


def test_a_fin_cut_makes_both_ends_read_the_end_of_the_stream(echo_tap):
    _, tap = echo_tap
    client = connect(tap)
    assert round_trip(client, b"hi") == b"hi"
    assert tap.cut("fin") == 1
    assert client.recv(10) == b""  # a clean end of stream, not an error
    client.close()
    eventually(lambda: tap.connections == 0, what="the relay let go")
    assert faults(tap) == ["cut: closed (FIN) both ways by the tap"]


def test_a_fin_cut_peer_that_never_closes_is_dropped_after_linger(echo_tap):
    _, tap = echo_tap
    client = connect(tap)
    assert round_trip(client, b"x") == b"x"
    tap.cut("fin")
    assert client.recv(10) == b""
    # The client neither closes nor reads: the relay drops it anyway.
    eventually(lambda: tap.connections == 0, timeout=LINGER + 3, what="dropped after LINGER")
    client.close()


def test_a_black_hole_holds_bytes_without_closing_and_heal_delivers_them(echo_tap):
    echo, tap = echo_tap
    client = connect(tap)
    assert round_trip(client, b"before") == b"before"
    before = tap.bytes
    tap.black_hole()
    assert tap.faults.black_hole and not tap.faults.healthy
    client.sendall(b"held")
    client.settimeout(0.3)
    with pytest.raises(socket.timeout):
        client.recv(10)  # not delivered, not closed
    assert bytes(echo.received) == b"before"  # the server never got it either
    assert (tap.bytes - before).total == 0  # held bytes are not counted as relayed
    assert tap.connections == 1
    tap.heal()
    client.settimeout(3)
    assert client.recv(10) == b"held"
    assert faults(tap) == [
        "black hole: bytes are held, both ways, until heal()",
        "holding 4 bytes client->server (black hole)",
        faults(tap)[2],
    ]
    assert faults(tap)[2].startswith("healed: black hole over after")
    assert tap.faults.healthy
    client.close()


def test_a_black_hole_with_a_duration_ends_by_itself(echo_tap):
    _, tap = echo_tap
    client = connect(tap)
    tap.black_hole(duration=0.3)
    client.sendall(b"later")
    assert client.recv(10) == b"later"  # within the socket's 3 s timeout
    assert any(s.startswith("black hole over after") for s in faults(tap))
    client.close()


def test_a_connection_opened_during_a_black_hole_waits_for_the_heal(echo_tap):
    echo, tap = echo_tap
    tap.black_hole()
    client = connect(tap)
    client.sendall(b"first words")
    time.sleep(0.2)
    assert bytes(echo.received) == b""
    assert "held: not connected to the server (black hole)" in faults(tap)
    tap.heal()
    assert round_trip(client, b"") == b""
    client.settimeout(3)
    assert client.recv(20) == b"first words"
    client.close()


def test_refusing_resets_new_connections_and_leaves_open_ones_alone(echo_tap):
    _, tap = echo_tap
    open_one = connect(tap)
    assert round_trip(open_one, b"a") == b"a"
    tap.refuse(duration=0.5)
    with pytest.raises(ConnectionResetError):
        refused = connect(tap)  # the reset may even beat connect() returning
        try:
            refused.recv(10)
        finally:
            refused.close()
    assert round_trip(open_one, b"still here") == b"still here"
    assert tap.faults.refused == 1
    time.sleep(0.6)
    again = connect(tap)
    assert round_trip(again, b"ok") == b"ok"
    assert "refusal over: new connections accepted again" in faults(tap)
    again.close()
    open_one.close()


def test_latency_delays_each_way_and_zero_removes_it(echo_tap):
    _, tap = echo_tap
    client = connect(tap)
    tap.latency(0.2)
    started = time.monotonic()
    assert round_trip(client, b"slow") == b"slow"
    assert time.monotonic() - started >= 0.4  # 0.2 s there, 0.2 s back
    assert tap.faults.latency == 0.2
    tap.latency(0)
    assert tap.faults.healthy
    assert faults(tap) == ["latency: each chunk waits 200 ms, both ways", "latency removed"]
    client.close()


def test_a_schedule_cuts_every_interval_and_heal_stops_it(echo_tap):
    _, tap = echo_tap
    schedule = tap.schedule("cut", every=0.1, duration=0.45)
    assert schedule.wait() == 4
    assert schedule.done
    rows = faults(tap)
    assert rows[0] == "schedule: cut (reset) every 0.1 s for 0.45 s"
    assert rows[-1] == "schedule over: cut (reset), 4 time(s)"

    forever = tap.schedule("refuse", every=0.2, duration=60, lasting=0.1)
    time.sleep(0.3)
    assert forever.fired >= 1 and not forever.done
    tap.heal()
    eventually(lambda: forever.done, what="heal() stopped the schedule")
    assert tap.faults.healthy
    assert any(s.startswith("schedule stopped: refuse for 0.1 s") for s in faults(tap))


def test_a_latency_schedule_delays_while_it_lasts_then_relays_at_once(echo_tap):
    _, tap = echo_tap
    client = connect(tap)
    schedule = tap.schedule("latency", every=1.0, duration=2.0, lasting=0.8, delay=0.2)
    eventually(lambda: tap.faults.latency == 0.2, what="the first latency (at 1 s)")
    started = time.monotonic()
    assert round_trip(client, b"slow") == b"slow"
    assert time.monotonic() - started >= 0.35  # 200 ms each way
    eventually(lambda: not tap.faults.latency, what="the latency ended after 0.8 s")
    started = time.monotonic()
    assert round_trip(client, b"fast") == b"fast"
    assert time.monotonic() - started < 0.2
    assert schedule.wait() == 2
    # The last one (at 2 s) lasts its 0.8 s beyond the schedule's end.
    eventually(lambda: tap.faults.healthy, what="healthy after the schedule")
    rows = faults(tap)
    assert rows[0] == "schedule: latency 200 ms for 0.8 s every 1 s for 2 s"
    assert rows.count("latency: each chunk waits 200 ms, both ways") == 2
    assert rows.count("latency removed") == 2
    assert "schedule over: latency 200 ms for 0.8 s, 2 time(s)" in rows
    client.close()


def test_a_scheduled_cut_keeps_cutting_new_connections(echo_tap):
    _, tap = echo_tap
    schedule = tap.schedule("cut", every=0.15, duration=0.9)
    resets = 0
    while not schedule.done:
        client = connect(tap)
        try:
            while not schedule.done:  # the last connection may outlive the schedule
                round_trip(client, b"ping")
        except (ConnectionResetError, BrokenPipeError, AssertionError):
            resets += 1
        finally:
            client.close()
    assert schedule.fired == 6
    assert resets >= 3
    assert tap.faults.cuts >= 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda tap: tap.cut("rst"), "how must be 'reset'"),
        (lambda tap: tap.black_hole(duration=-1), "duration must be more than 0"),
        (lambda tap: tap.black_hole(duration="2 s"), "duration is a number of seconds"),
        (lambda tap: tap.refuse(duration=float("nan")), "duration is a number of seconds"),
        (lambda tap: tap.latency(-0.1), "seconds must be 0 or more"),
        (lambda tap: tap.latency(True), "seconds is a number of seconds"),
        (lambda tap: tap.schedule("explode", every=1, duration=2), "fault must be one of"),
        (lambda tap: tap.schedule("cut", every=0, duration=2), "every must be more than 0"),
        (lambda tap: tap.schedule("cut", every=3, duration=2), "the fault would never happen"),
        (lambda tap: tap.schedule("cut", every=1, duration=2, lasting=1), "a cut is instant"),
        (lambda tap: tap.schedule("black hole", every=1, duration=2), "needs lasting="),
        (lambda tap: tap.schedule("latency", every=1, duration=2, lasting=1), "needs delay="),
        (
            lambda tap: tap.schedule("latency", every=1, duration=2, lasting=1, delay=-1),
            "delay must be more than 0",
        ),
        (
            lambda tap: tap.schedule("cut", every=1, duration=2, delay=0.1),
            "delay= is for 'latency' only",
        ),
        (
            lambda tap: tap.schedule("refuse", every=1, duration=2, lasting=2),
            "must be at most every",
        ),
    ],
)
def test_bad_arguments_get_errors_that_name_them(echo_tap, call, message):
    _, tap = echo_tap
    with pytest.raises(ValueError, match=message):
        call(tap)
    assert tap.faults.healthy  # nothing was half applied


def test_a_stopped_tap_says_so_instead_of_applying_a_fault(echo_tap):
    _, tap = echo_tap
    tap.stop()
    with pytest.raises(RuntimeError, match="is stopped"):
        tap.cut()


def test_stopping_a_tap_in_a_black_hole_with_a_schedule_drops_everything_in_time(echo_tap):
    echo, tap = echo_tap
    client = connect(tap)
    assert round_trip(client, b"a") == b"a"
    tap.black_hole()
    client.sendall(b"held forever")
    late = connect(tap)  # waits for the heal before reaching the server
    tap.schedule("refuse", every=0.5, duration=30, lasting=0.1)
    started = time.monotonic()
    tap.stop()
    assert time.monotonic() - started < LINGER + 2
    assert tap.connections == 0
    assert bytes(echo.received) == b"a"  # held bytes were dropped, not delivered late
    client.close()
    late.close()


def test_faults_on_a_redis_tap_are_rows_of_their_own():
    tap = kit.tap(kit.redis())
    client = connect(tap)
    assert round_trip(client, b"*1\r\n$4\r\nPING\r\n"[:0]) == b""
    client.sendall(b"*1\r\n$4\r\nPING\r\n")
    assert client.recv(10) == b"+PONG\r\n"
    tap.cut()
    with pytest.raises(ConnectionResetError):
        client.recv(10)
    client.close()
    assert Layer.FAULT in tap.layers
    assert faults(tap) == ["cut: reset (RST) both ways by the tap"]
    assert tap.select(layer="fault")[0].transport == "redis"


# -- heartbeats: only they notice a black hole ---------------------------------------------


def test_only_heartbeats_notice_a_black_hole_and_each_side_says_so():
    """python-engineio: the server reports "ping timeout"; the python client gives up
    reading after pingInterval + pingTimeout and reports "transport error"."""
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=1, ping_timeout=0.5)
    reasons: list[str] = []

    @sio.on("disconnect")
    async def disconnect(sid, reason=None):
        reasons.append(str(reason))

    tap = kit.tap(kit.serve(sio, name="heartbeats"))
    client = kit.SocketIOClient(tap.url, transports=["websocket"])
    client.wait_for("connect")
    tap.black_hole()
    started = time.monotonic()
    assert client.wait_for("disconnect", timeout=5) == ["transport error"]
    eventually(lambda: reasons == ["ping timeout"], what="the server's own timeout")
    assert time.monotonic() - started < 1 + 0.5 + 1.5  # pingInterval + pingTimeout, + slack
    tap.heal()
    held = [s for s in faults(tap) if s.startswith("holding")]
    assert held, "the tap held something (a PING or a PONG) that never arrived in time"
    client.disconnect()


def test_python_engineio_announces_a_ping_interval_in_whole_seconds():
    """python-engineio 4 writes pingInterval as int(seconds) * 1000: 0.5 s is sent as 0,
    so sub-second heartbeats need whole seconds (or the client times out at once)."""
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=0.5, ping_timeout=0.5)
    tap = kit.tap(kit.serve(sio, name="half a second"))
    client = kit.SocketIOClient(tap.url, transports=["websocket"])
    opened = tap.wait_for("OPEN", layer="engine.io")
    assert "pingInterval=0 pingTimeout=500" in opened.summary
    client.disconnect()


# -- the fault rows in the inspector and the sequence diagram ------------------------------


def test_fault_rows_show_in_the_inspector_and_the_diagram_whatever_the_direction(echo_tap):
    from kit.widgets import FrameInspector, SequenceDiagram, sequence_diagram

    _, tap = echo_tap
    client = connect(tap)
    assert round_trip(client, b"hi") == b"hi"
    tap.cut()
    client.close()
    eventually(lambda: tap.connections == 0, what="the relay let go")
    for direction in ("client->server", "server->client", None):
        inspector = FrameInspector(tap, direction=direction)
        try:
            assert [e.summary for e in inspector.events if e.layer is Layer.FAULT] == [
                "cut: reset (RST) both ways by the tap"
            ]
            assert "kit-inspector-row kit-layer-fault" in inspector._table.value
            assert "!!" in inspector.text()
        finally:
            inspector.close()
    svg = sequence_diagram(tap.events)
    root = ET.fromstring(svg)
    rows = [g for g in root.iter(SVG + "g") if "kit-fault" in g.get("class", "").split()]
    assert len(rows) == 1
    assert not [p for p in rows[0].iter(SVG + "polygon")]  # no arrowhead: it goes both ways
    assert "cut: reset (RST)" in "".join(rows[0].itertext())
    png = SequenceDiagram(tap.events).png
    assert png is None or png.startswith(b"\x89PNG")
