"""Reconnection: kit.SocketIOClient, SocketIOChatClient and ChatPanel after a tap's fault.

Real servers (kit.chat_app and a bare python-socketio server) behind a real tap; the tap
cuts, refuses or goes silent, and each test reads what the client did about it.
"""

from __future__ import annotations

import time

import pytest

import kit
from kit.clients.chat import SocketIOChatClient
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaks")

FAST = {"reconnection_delay": 0.1, "reconnection_delay_max": 0.2, "randomization_factor": 0}


@pytest.fixture
def chat_tap():
    server = kit.serve(kit.chat_app(), name="reconnecting chat")
    return server, kit.tap(server)


def test_without_reconnection_a_cut_leaves_the_client_disconnected(chat_tap):
    _, tap = chat_tap
    client = kit.SocketIOClient(tap.url, transports=["websocket"], reconnection=False)
    assert client.state == "connected"
    tap.cut()
    client.wait_for("disconnect")
    time.sleep(0.5)  # long enough for an attempt, were there one
    assert client.state == "disconnected" and not client.connected
    assert tap.bytes.connections == 1  # nobody came back
    client.disconnect()


def test_a_cut_client_reconnects_with_a_new_sid_on_a_new_connection(chat_tap):
    _, tap = chat_tap
    client = kit.SocketIOClient(tap.url, transports=["websocket"], reconnection=True, **FAST)
    client.wait_for("connect")  # the first one
    first = client.sid()
    tap.cut()
    assert client.wait_for("disconnect") == ["transport error"]
    client.wait_for("connect")
    assert client.state == "connected" and client.reconnects == 1
    assert client.sid() not in (None, first)  # a new session: the sid does not survive
    assert tap.bytes.connections == 2
    opens = [e for e in tap.select("OPEN", layer="engine.io")]
    assert [e.connection for e in opens] == [1, 2]  # the attempt is seen on the wire
    client.disconnect()
    assert client.state == "disconnected"


def test_refused_attempts_count_up_then_the_client_gives_up(chat_tap):
    _, tap = chat_tap
    client = kit.SocketIOClient(
        tap.url, transports=["websocket"], reconnection=True, reconnection_attempts=3, **FAST
    )
    states: list[str] = []
    client.add_listener(lambda ns, event, args: states.append(client.state))
    tap.refuse()
    tap.cut()
    client.wait_for("gave up", timeout=10)
    assert client.state == "gave up" and client.attempts == 3
    assert [e for _, e, _ in client.received].count("connect_error") == 3
    assert states[-4:] == ["reconnecting 2", "reconnecting 3", "reconnecting 4", "gave up"]
    # Each attempt is refused at the tap (one attempt may open more than one connection).
    refused = [e for e in tap.select(layer="fault") if e.summary.startswith("refused")]
    assert len(refused) == tap.faults.refused >= 3
    tap.heal()
    time.sleep(0.4)
    assert client.state == "gave up"  # no attempt after giving up
    client.disconnect()
    assert client.state == "disconnected"


def test_disconnect_stops_a_client_that_keeps_trying(chat_tap):
    _, tap = chat_tap
    client = kit.SocketIOClient(tap.url, transports=["websocket"], reconnection=True, **FAST)
    tap.refuse()
    tap.cut()
    eventually(lambda: client.attempts >= 2, what="two refused attempts")
    client.disconnect()
    assert client.state == "disconnected"
    refused = tap.faults.refused
    time.sleep(0.5)
    assert tap.faults.refused == refused  # no attempt after disconnect()


def test_a_server_that_says_goodbye_is_not_retried():
    import socketio

    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.on("bye")
    async def bye(sid, *_):
        await sio.disconnect(sid)

    server = kit.serve(sio, name="goodbye")
    client = kit.SocketIOClient(server.url, reconnection=True, **FAST)
    client.emit("bye")
    client.wait_for("disconnect")
    time.sleep(0.4)
    assert client.state == "disconnected" and client.reconnects == 0


def test_the_chat_client_asks_for_its_room_again_after_a_reconnect(chat_tap):
    server, tap = chat_tap
    alice = SocketIOChatClient(
        tap.url, user="alice", room="room one", reconnection=True, backoff=FAST
    )
    bob = SocketIOChatClient(server, user="bob", room="room one")  # not through the tap
    tap.cut()
    eventually(lambda: alice.client.reconnects == 1, what="alice back")
    eventually(lambda: alice.rejoined == 1, what="the rejoin sent")
    # The server forgot the room with the old session; alice's join put her back in it.
    eventually(lambda: tap.select('["join",{"room":"room one"}]', layer="socket.io") != [])
    # "online" again only once the server answered the join: no sleep needed before sending.
    eventually(lambda: alice.state == "online", what="alice back in her room")
    bob.send("still there?")
    assert alice.wait_message().text == "still there?"
    assert alice.state == "online"
    alice.close()
    bob.close()


def test_the_panel_header_shows_reconnecting_and_gave_up(chat_tap):
    _, tap = chat_tap
    backoff = {**FAST, "reconnection_attempts": 2}
    panel = kit.ChatPanel(tap.url, user="carol", reconnection=True, backoff=backoff)
    client = panel.client
    assert isinstance(client, SocketIOChatClient)
    assert "(online)" in panel._header.value
    tap.refuse()
    tap.cut()
    eventually(lambda: "(reconnecting" in panel._header.value, what="reconnecting shown")
    eventually(lambda: "(gave up)" in panel._header.value, what="gave up shown")
    with pytest.raises(ConnectionError, match="carol is offline"):
        client.send("hello?")
    panel.close()


def test_bad_reconnection_options_get_errors_that_name_them(chat_tap):
    _, tap = chat_tap
    for options, message in [
        ({"reconnection_attempts": -1}, "reconnection_attempts is a whole number"),
        ({"reconnection_attempts": 1.5}, "reconnection_attempts is a whole number"),
        ({"reconnection_delay": 0}, "reconnection_delay is a number of seconds"),
        ({"reconnection_delay_max": "5"}, "reconnection_delay_max is a number"),
        ({"reconnection_delay": 2, "reconnection_delay_max": 1}, "is shorter than"),
        ({"randomization_factor": 2}, "randomization_factor is a number from 0 to 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            kit.SocketIOClient(tap.url, reconnection=True, **options)
    assert tap.bytes.connections == 0  # refused before connecting
    with pytest.raises(ValueError, match="backoff has no option 'delay'"):
        SocketIOChatClient(tap.url, user="x", reconnection=True, backoff={"delay": 1})

    async def silent(websocket):
        await websocket.wait_closed()

    plain = kit.serve(silent, name="plain")
    with pytest.raises(ValueError, match=r"reconnection= is for socket\.io panels"):
        kit.ChatPanel(plain, user="x", protocol="websocket", reconnection=True)


def test_python_socketio_jitter_is_in_seconds_not_a_factor(chat_tap, monkeypatch):
    """python-socketio adds up to ``randomization_factor`` *seconds* to each wait; the JS
    client multiplies the wait by 1 ± that factor. With the random part at its maximum, a
    delay of 0.1 s and a factor of 0.4, python-socketio waits 0.1 + 0.4 = 0.5 s before its
    first attempt, where 0.1 x 1.4 would be 0.14 s (lesson 07 shows both formulas)."""
    import random

    _, tap = chat_tap
    client = kit.SocketIOClient(
        tap.url,
        transports=["websocket"],
        reconnection_delay=0.1,
        reconnection_delay_max=0.1,
        randomization_factor=0.4,
    )
    monkeypatch.setattr(random, "random", lambda: 1.0)  # the jitter at its maximum
    tap.refuse()
    tap.cut()
    started = time.monotonic()
    eventually(lambda: tap.faults.refused >= 1, what="the first attempt")
    assert time.monotonic() - started >= 0.45  # a lower bound: a busy machine only adds
    client.disconnect()


# -- on by default, and every attempt ends with the kit ----------------------------------


def test_by_default_the_client_the_chat_client_and_the_panel_reconnect(chat_tap):
    _, tap = chat_tap
    client = kit.SocketIOClient(tap.url, transports=["websocket"], **FAST)
    chat = SocketIOChatClient(tap.url, user="ann", backoff=FAST)
    panel = kit.ChatPanel(tap.url, user="ben", backoff=FAST)
    panel_client = panel.client
    assert isinstance(panel_client, SocketIOChatClient)
    everyone = [client, chat.client, panel_client.client]
    assert all(one.reconnection for one in everyone)  # nobody asked for it
    tap.cut()
    eventually(lambda: all(one.reconnects == 1 for one in everyone), what="all three back")
    eventually(lambda: "(online)" in panel._header.value, what="the panel online again")
    assert all(one.state == "connected" for one in everyone) and panel.state == "online"
    panel.close()
    chat.close()
    client.disconnect()


def test_stopping_the_server_ends_the_attempts_of_its_clients():
    server = kit.serve(kit.chat_app(), name="stopped for good")
    client = kit.SocketIOClient(server.url, transports=["websocket"], **FAST)
    chat = SocketIOChatClient(server, user="cy", backoff=FAST)
    server.stop()
    client.wait_for("disconnect")
    time.sleep(0.5)  # several attempts' worth of FAST backoff, were there any
    assert (client.state, client.attempts, client.reconnects) == ("disconnected", 0, 0)
    assert chat.state == "offline" and chat.client.attempts == 0


def test_stopping_a_tap_ends_attempts_already_under_way(chat_tap):
    _, tap = chat_tap
    client = kit.SocketIOClient(tap.url, transports=["websocket"], **FAST)
    tap.refuse()
    tap.cut()
    eventually(lambda: client.attempts >= 2, what="two refused attempts")
    tap.stop()
    assert not client.state.startswith("reconnecting")
    attempts = client.attempts
    time.sleep(0.5)
    assert client.attempts == attempts  # nobody knocks on the closed port


def test_re_serving_under_the_same_name_ends_the_old_clients_attempts():
    def serve_chat() -> kit.Tap:  # what a lesson's cell does; run twice, as by a learner
        return kit.tap(kit.serve(kit.chat_app(), name="re-served chat"))

    old = serve_chat()
    client = kit.SocketIOClient(old.url, transports=["websocket"], **FAST)
    old.refuse()
    old.cut()
    eventually(lambda: client.attempts >= 1, what="a refused attempt")
    new = serve_chat()  # replaces the server, then the tap, by name
    assert new.url != old.url
    eventually(lambda: not client.state.startswith("reconnecting"), what="the attempts end")
    attempts = client.attempts
    time.sleep(0.5)
    assert client.attempts == attempts
    fresh = kit.SocketIOClient(new.url, **FAST)  # the new server is not affected
    assert fresh.state == "connected"


def test_stop_all_ends_attempts_under_way(chat_tap):
    _, tap = chat_tap
    client = kit.SocketIOClient(tap.url, transports=["websocket"], **FAST)
    tap.refuse()
    tap.cut()
    eventually(lambda: client.attempts >= 1, what="a refused attempt")
    kit.stop_all()  # no_leaks then finds no thread, socket or server left
    assert not client.state.startswith("reconnecting")


def test_interpreter_exit_ends_attempts_under_way():
    """What a kernel shutdown does: the kit's atexit clean-up ends a client between
    attempts, quietly (nothing on stderr), and frees the tap's port."""
    import subprocess
    import sys
    import textwrap

    from tests.runtime.test_servers import port_is_free

    script = textwrap.dedent(
        """
        import time
        import kit

        tap = kit.tap(kit.serve(kit.chat_app(), name="exit"))
        client = kit.SocketIOClient(
            tap.url, transports=["websocket"], reconnection_delay=0.1,
            reconnection_delay_max=0.2,
        )
        tap.refuse()
        tap.cut()
        while client.attempts < 2:
            time.sleep(0.02)
        print(tap.port, client.state)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    port, state = done.stdout.split(maxsplit=1)
    assert state.startswith("reconnecting")
    assert port_is_free(int(port))


# -- what is emitted while disconnected: the JS client buffers it, the python client refuses --

NODE_RECONNECTING = r"""
const { io } = require(process.argv[1]);
const url = process.argv[2];
const say = (data) => console.log(JSON.stringify(data));
setTimeout(() => { say({ timeout: true }); process.exit(2); }, 15000).unref();
// The JS client's defaults, but short: it reconnects by itself (reconnection: true).
const socket = io(url, {
  transports: ["websocket"], reconnectionDelay: 100, reconnectionDelayMax: 200,
});
let first = null;
socket.io.on("reconnect_attempt", (attempt) => say({ attempt }));
socket.on("disconnect", (reason) => {
  // Not connected: the client keeps this in its send buffer and sends it on reconnect.
  socket.emit("recive message", { message: "written while cut off", room: null });
  say({ disconnect: reason, connected: socket.connected });
});
socket.on("connect", () => {
  if (first === null) { first = socket.id; say({ ready: true }); return; }
  say({ reconnected: true, newSid: socket.id !== first });
  setTimeout(() => { socket.off("disconnect"); socket.disconnect(); process.exit(0); }, 300);
});
"""


def test_the_js_client_reconnects_by_default_and_sends_what_it_buffered(
    chat_tap, socketio_client_js
):
    import json
    import shutil
    import subprocess

    server, tap = chat_tap
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (Debian: apt-get install nodejs)"
    listener = kit.SocketIOClient(server.url, transports=["websocket"])  # not through the tap
    package = socketio_client_js.parent.parent
    with subprocess.Popen(
        [node, "-e", NODE_RECONNECTING, str(package), tap.url],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert json.loads(process.stdout.readline()) == {"ready": True}
        tap.cut()
        said = [json.loads(line) for line in process.stdout]
        assert process.wait(timeout=20) == 0, said
    assert said[0] == {"disconnect": "transport close", "connected": False}
    assert said[1] == {"attempt": 1}
    assert said[-1] == {"reconnected": True, "newSid": True}
    heard: list[str] = []
    while "written while cut off" not in heard:  # or a TimeoutError: it was lost
        heard.append(listener.wait_for("new message")[0]["mess"])
    # The python client refuses instead: an emit while disconnected is an error, not a buffer.
    python = kit.SocketIOClient(tap.url, transports=["websocket"])
    tap.cut()
    python.wait_for("disconnect")
    with pytest.raises(Exception, match="not a connected namespace"):
        python.emit("recive message", {"message": "lost", "room": None})
    listener.disconnect()
    python.disconnect()


NODE_HEARTBEAT = r"""
const { io } = require(process.argv[1]);
const url = process.argv[2];
const say = (data) => console.log(JSON.stringify(data));
setTimeout(() => { say({ timeout: true }); process.exit(2); }, 10000).unref();
const socket = io(url, { transports: ["websocket"], reconnection: false });
socket.on("connect", () => say({ ready: true }));
socket.on("disconnect", (reason) => { say({ disconnect: reason }); process.exit(0); });
"""


def test_in_a_black_hole_the_js_client_and_the_server_both_report_a_ping_timeout(
    socketio_client_js,
):
    """engine.io 4: the server pings every pingInterval and waits pingTimeout for the pong;
    the JS client expects a ping within pingInterval + pingTimeout. A black hole silences
    both, so each side gives up on its own clock, with the reason "ping timeout"."""
    import json
    import shutil
    import subprocess

    import socketio

    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=1, ping_timeout=1)
    reasons: list[str] = []

    @sio.on("disconnect")
    async def disconnect(sid, reason=None):
        reasons.append(str(reason))

    tap = kit.tap(kit.serve(sio, name="heartbeats"))
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (Debian: apt-get install nodejs)"
    with subprocess.Popen(
        [node, "-e", NODE_HEARTBEAT, str(socketio_client_js.parent.parent), tap.url],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert json.loads(process.stdout.readline()) == {"ready": True}
        tap.black_hole()
        started = time.monotonic()
        said = json.loads(process.stdout.readline())
        noticed = time.monotonic() - started
        assert process.wait(timeout=10) == 0
    assert said == {"disconnect": "ping timeout"}
    assert noticed < 1 + 1 + 1.5  # pingInterval + pingTimeout, and slack for a busy machine
    eventually(lambda: reasons == ["ping timeout"], what="the server's own ping timeout")
    tap.heal()
