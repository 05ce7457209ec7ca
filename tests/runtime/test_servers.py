"""kit.serve: every kind of app, re-runs, busy ports, hosts, clean stops."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import subprocess
import sys
import textwrap
import threading
import urllib.request

import pytest
import socketio
from aiohttp import web

import kit
from kit.runtime.errors import PortInUseError, ServeError, UnsafeHostError, UnsupportedAppError
from kit.runtime.loop import runtime

pytestmark = pytest.mark.usefixtures("no_leaks")


def port_is_free(port: int) -> bool:
    """Can a new server listen on ``port``? (TIME_WAIT leftovers do not count, as for kit.)"""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
        return True


def listening_ports() -> set[int]:
    import psutil

    return {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }


def echo_roundtrip(server: kit.Server, text: str = "ping") -> str | bytes:
    ws = kit.WebSocket(server.ws_url)
    ws.wait_open(timeout=5)
    ws.send(text)
    data = ws.wait_message(timeout=5).data
    ws.close()
    ws.wait_closed(timeout=5)
    return data


# -- re-running a cell ------------------------------------------------------------------


def test_rerunning_a_named_start_20_times_leaves_one_server(echo_handler):
    first = kit.serve(echo_handler, name="chat")
    threads = set(threading.enumerate())  # the runtime thread is running from here on
    ports = [first.port]
    for _ in range(20):
        server = kit.serve(echo_handler, name="chat")
        ports.append(server.port)
    assert kit.running_servers() == [server]
    assert set(threading.enumerate()) - threads == set()  # not one thread more
    assert listening_ports() == {server.port}
    assert all(port_is_free(port) for port in ports[:-1])
    assert not first.running
    assert echo_roundtrip(server) == "ping"
    server.stop()
    assert port_is_free(server.port)
    assert kit.running_servers() == []


def test_a_fixed_port_can_be_served_again_under_the_same_name(echo_handler):
    server = kit.serve(echo_handler, name="fixed")
    port = server.port
    for _ in range(3):
        server = kit.serve(echo_handler, name="fixed", port=port)
    assert server.port == port
    assert echo_roundtrip(server) == "ping"


def test_unnamed_servers_outside_a_kernel_are_kept_apart(echo_handler):
    one, two = kit.serve(echo_handler), kit.serve(echo_handler)
    assert one.name != two.name
    assert one.running and two.running
    assert {s.name for s in kit.running_servers()} == {one.name, two.name}


# -- busy ports and hosts ---------------------------------------------------------------


def test_a_busy_port_raises_a_clear_error_and_the_process_survives(echo_handler):
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        port = squatter.getsockname()[1]
        with pytest.raises(PortInUseError) as caught:
            kit.serve(echo_handler, name="busy", port=port)
    message = str(caught.value)
    assert f"port {port}" in message and "port=0" in message
    assert isinstance(caught.value, OSError)
    assert kit.running_servers() == []
    assert echo_roundtrip(kit.serve(echo_handler, name="busy")) == "ping"  # still alive


@pytest.mark.parametrize("port", [-1, 65536])
def test_a_port_out_of_range_is_refused_before_a_socket_is_made(echo_handler, port):
    # bind() would raise OverflowError after socket() made a socket it never closes.
    with pytest.raises(ServeError, match=f"port {port} is out of range"):
        kit.serve(echo_handler, name="range", port=port)
    with pytest.raises(TypeError, match="port must be an int"):
        kit.serve(echo_handler, name="range", port="8000")


def test_a_port_held_by_another_kit_server_names_that_server(echo_handler):
    holder = kit.serve(echo_handler, name="holder")
    with pytest.raises(PortInUseError, match=r"kit server holder.*kit\.stop\('holder'\)"):
        kit.serve(echo_handler, name="intruder", port=holder.port)
    assert holder.running


def test_a_non_loopback_host_needs_allow_remote(echo_handler):
    with pytest.raises(UnsafeHostError, match="allow_remote=True"):
        kit.serve(echo_handler, host="0.0.0.0")
    assert kit.running_servers() == []


def test_allow_remote_warns_and_a_foreign_address_fails_clearly(echo_handler):
    # 192.0.2.1 (TEST-NET-1) is never an address of this machine: the bind fails, so
    # the test checks the warning without listening beyond loopback.
    with (
        pytest.warns(RuntimeWarning, match="other machines"),
        pytest.raises(ServeError, match=r"192\.0\.2\.1"),
    ):
        kit.serve(echo_handler, host="192.0.2.1", allow_remote=True)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.2"])
def test_other_loopback_hosts_need_no_permission(echo_handler, host):
    server = kit.serve(echo_handler, host=host)
    assert echo_roundtrip(server) == "ping"


# -- what kit.serve accepts -------------------------------------------------------------


def sync_function(websocket):
    return None


async def legacy_handler(websocket, path):
    return None


@pytest.mark.parametrize(
    ("app", "hint"),
    [
        (object(), "accepts a socketio.AsyncServer"),
        (sync_function, "coroutine function"),
        (legacy_handler, "legacy form"),
        (socketio.Server(), "synchronous socketio.Server"),
        (socketio.AsyncServer(async_mode="asgi"), "async_mode='aiohttp'"),
    ],
    ids=["object", "sync-function", "legacy-handler", "sync-socketio", "asgi-socketio"],
)
def test_unsupported_apps_are_refused_with_a_reason(app, hint):
    with pytest.raises(UnsupportedAppError, match=hint):
        kit.serve(app)


def test_server_options_are_refused_for_apps_that_take_none():
    with pytest.raises(UnsupportedAppError, match="subprotocols"):
        kit.serve(web.Application(), subprotocols=["chat.v1"])


def test_a_callable_object_with_async_call_is_a_handler():
    class Echo:
        async def __call__(self, websocket):
            async for message in websocket:
                await websocket.send(message)

    assert echo_roundtrip(kit.serve(Echo())) == "ping"


def test_websockets_options_reach_the_server(echo_handler):
    server = kit.serve(echo_handler, subprotocols=["chat.v1"])
    ws = kit.WebSocket(server.ws_url, ["chat.v1"])
    ws.wait_open()
    assert ws.protocol == "chat.v1"
    assert server.kind == "websockets"


def test_an_aiohttp_app_answers_a_blocking_client_from_this_thread():
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": request.query.get("name", "world")})

    app = web.Application()
    app.router.add_get("/hello", hello)
    server = kit.serve(app, name="aiohttp")
    assert server.kind == "aiohttp"
    # urllib blocks this thread; the server keeps running on the runtime thread.
    with urllib.request.urlopen(f"{server.url}/hello?name=kit", timeout=5) as response:
        assert json.load(response) == {"hello": "kit"}


def make_sio() -> socketio.AsyncServer:
    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.on("shout")
    async def shout(sid, data):
        return data.upper()

    return sio


async def socketio_roundtrip(url: str) -> str:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url)
    try:
        return await client.call("shout", "hello", timeout=5)
    finally:
        await client.disconnect()


def test_a_socketio_server_answers_a_real_client():
    server = kit.serve(make_sio(), name="sio")
    assert server.kind == "socketio"
    assert runtime.run(socketio_roundtrip(server.url), timeout=10) == "HELLO"


def test_a_socketio_server_can_be_served_again_after_a_stop():
    sio = make_sio()
    kit.serve(sio, name="sio").stop()
    server = kit.serve(sio, name="sio")
    assert runtime.run(socketio_roundtrip(server.url), timeout=10) == "HELLO"
    assert sio.eio.service_task_handle is not None  # heartbeats run again


def test_a_blocking_polling_handshake_against_socketio():
    server = kit.serve(make_sio(), name="sio")
    url = f"{server.url}/socket.io/?EIO=4&transport=polling"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode()
    assert body.startswith("0{")  # the engine.io OPEN packet
    assert json.loads(body[1:])["pingInterval"] == 25000


# -- stopping ---------------------------------------------------------------------------


def test_stop_is_idempotent_and_the_server_is_a_context_manager(echo_handler):
    with kit.serve(echo_handler, name="ctx") as server:
        assert server.running
        port = server.port
    assert not server.running
    assert port_is_free(port)
    server.stop()
    server.stop()
    assert "stopped" in repr(server)


def test_stopping_a_socketio_server_with_a_client_leaves_no_task(capfd):
    server = kit.serve(make_sio(), name="sio")
    url = f"{server.url}/socket.io/?EIO=4&transport=polling"
    with urllib.request.urlopen(url, timeout=5) as response:  # one polling session open
        assert response.read().startswith(b"0{")
    server.stop()

    async def other_tasks() -> list[asyncio.Task]:
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert runtime.run(other_tasks(), timeout=5) == []
    kit.stop_all()
    gc.collect()
    assert "Task was destroyed" not in capfd.readouterr().err


def test_kit_stop_by_name(echo_handler):
    kit.serve(echo_handler, name="a")
    kit.stop("a")
    assert kit.running_servers() == []
    with pytest.raises(KeyError, match="no running kit server is called 'a'"):
        kit.stop("a")


def test_serve_async_from_another_event_loop(echo_handler):
    async def main() -> kit.Server:
        return await kit.serve_async(echo_handler, name="async")

    server = asyncio.run(main())
    assert echo_roundtrip(server) == "ping"


def test_a_blocking_call_from_the_runtime_thread_is_refused():
    async def inside() -> None:
        kit.serve(make_sio())

    with pytest.raises(RuntimeError, match="would deadlock"):
        runtime.run(inside(), timeout=5)


def test_interpreter_exit_stops_servers_and_frees_the_port():
    script = textwrap.dedent(
        """
        import kit

        async def echo(ws):
            async for message in ws:
                await ws.send(message)

        server = kit.serve(echo, name="exit")
        ws = kit.WebSocket(server.ws_url)
        ws.wait_open()
        print(server.port)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert port_is_free(int(done.stdout))
