"""Canaries for kit.compat: each fails, naming the entry, when a library changes under it."""

from __future__ import annotations

import asyncio
import inspect
import logging
from importlib.metadata import version
from typing import Any

from kit import compat


def test_ipykernel_parent_vars_exist_where_the_kit_reads_them() -> None:
    """ipykernel 7.0-7.3: shell._parent_header and the streams' per-context parents."""
    from ipykernel.iostream import OutStream
    from ipykernel.ipkernel import IPythonKernel  # noqa: F401 - the kernel module loads
    from ipykernel.zmqshell import ZMQInteractiveShell

    source = inspect.getsource(ZMQInteractiveShell.__init__) + inspect.getsource(OutStream)
    assert "_parent_header" in source and "ContextVar" in source, (
        "kit.compat.ipykernel_parent_vars: ipykernel no longer keeps per-context parents in "
        "`_parent_header` ContextVars; route output with shell.set_thread_parent instead"
    )
    major, minor = (int(part) for part in version("ipykernel").split(".")[:2])
    if (major, minor) >= (7, 4):
        assert hasattr(ZMQInteractiveShell, "set_thread_parent"), (
            "ipykernel >= 7.4 should have set_thread_parent (kit.runtime.cells uses it)"
        )


def test_engineio_server_service_task_names() -> None:
    """python-engineio's AsyncServer: service_task_event/handle, start_service_task."""
    import engineio

    eio = engineio.AsyncServer(async_mode="aiohttp", logger=logging.getLogger("canary"))
    for name in ("service_task_event", "service_task_handle", "start_service_task"):
        assert hasattr(eio, name), (
            f"kit.compat: python-engineio's AsyncServer has no `{name}` any more; "
            "engineio_service_stopped / rearm_engineio_service need another way"
        )
    assert not compat.engineio_service_stopped(eio)
    eio.start_service_task = False
    compat.rearm_engineio_service(eio)
    assert eio.start_service_task is True


def test_engineio_client_state_and_http_session() -> None:
    """python-engineio's AsyncClient: state and http, which abort_engineio_client resets."""
    import socketio

    client = socketio.AsyncClient(logger=logging.getLogger("canary"))
    assert hasattr(client, "eio") and hasattr(client.eio, "state"), (
        "kit.compat.abort_engineio_client: socketio.AsyncClient().eio.state is gone"
    )
    assert hasattr(client.eio, "http"), "kit.compat.abort_engineio_client: eio.http is gone"
    asyncio.run(compat.abort_engineio_client(client))
    assert client.eio.state == "disconnected" and client.eio.http is None


def test_socketio_client_final_disconnect_event_and_namespaces() -> None:
    """python-socketio's AsyncClient: the final-disconnect event and ``namespaces``."""
    import socketio

    client = socketio.AsyncClient(logger=logging.getLogger("canary"))
    assert compat.SOCKETIO_FINAL_DISCONNECT in client.reserved_events, (
        "kit.compat.SOCKETIO_FINAL_DISCONNECT: python-socketio no longer reserves "
        f"{compat.SOCKETIO_FINAL_DISCONNECT!r}; SocketIOClient.state cannot say 'gave up'"
    )
    assert client.namespaces == {}, "kit.compat.socketio_client_has_namespaces: no namespaces"
    assert compat.socketio_client_has_namespaces(client) is False
    client.namespaces["/"] = "sid"
    assert compat.socketio_client_has_namespaces(client) is True


def test_the_chat_app_serializer_hook_is_public_api() -> None:
    """kit.chat_app() learns about acks from a Packet subclass passed as `serializer`."""
    import socketio
    from socketio import packet

    sio = socketio.AsyncServer(async_mode="aiohttp", serializer=packet.Packet)
    assert sio.packet_class is packet.Packet, "python-socketio's AsyncServer lost `serializer`"
    assert {"decode", "add_attachment"} <= set(vars(packet.Packet)), (
        "kit.apps.chat._packet_class overrides Packet.decode and add_attachment"
    )


def test_websockets_server_lists_all_connections(no_leaks: None) -> None:
    """websockets: Server.all_connections keeps connections that are already closing."""
    import websockets
    from websockets.asyncio.server import serve

    async def main() -> None:
        async def hold(ws: Any) -> None:
            await ws.wait_closed()

        async with serve(hold, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with websockets.connect(f"ws://127.0.0.1:{port}"):
                await asyncio.sleep(0.05)
                assert hasattr(server, "all_connections"), (
                    "kit.compat.websockets_server_transports: websockets' Server has no "
                    "all_connections any more; kit stops cannot drop closing connections"
                )
                transports = compat.websockets_server_transports(server)
                assert len(transports) == 1 and not transports[0].is_closing()

    asyncio.run(main())


def test_engineio_server_sockets_have_a_packet_queue(no_leaks: None) -> None:
    """python-engineio: eio.sockets[eio_sid].queue, read by engineio_queue_size."""
    import socketio

    import kit

    sio = socketio.AsyncServer(async_mode="aiohttp")
    server = kit.serve(sio, name="canary")
    client = kit.SocketIOClient(server)
    sid = client.sid()
    eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
    socket = sio.eio.sockets.get(eio_sid)
    assert socket is not None and hasattr(socket, "queue"), (
        "kit.compat.engineio_queue_size: python-engineio sockets have no `queue` any more; "
        "the chat app cannot see how far behind a client is"
    )
    assert compat.engineio_queue_size(sio.eio, eio_sid) == socket.queue.qsize()
    assert compat.engineio_queue_size(sio.eio, "no such sid") == 0


def test_engineio_sockets_take_packets_from_their_queue_and_socketio_builds_events(
    no_leaks: None,
) -> None:
    """python-engineio: a packet put in eio.sockets[eio_sid].queue is written by the
    client's writer task (engineio_enqueue); python-socketio: sio.packet_class and
    packet.EVENT build what emit() sends (socketio_event_packets)."""
    import socketio
    from engineio import packet as eio_packet

    import kit

    sio = socketio.AsyncServer(async_mode="aiohttp")
    server = kit.serve(sio, name="canary")
    client = kit.SocketIOClient(server)
    eio_sid = sio.manager.eio_sid_from_sid(client.sid(), "/")
    packets = compat.socketio_event_packets(sio, "canary", {"n": 1})
    assert [type(p) for p in packets] == [eio_packet.Packet], (
        "kit.compat.socketio_event_packets: python-socketio's packet_class or EVENT changed"
    )
    assert packets[0].encode() == '42["canary",{"n":1}]'

    assert kit.run(_enqueue_to(sio, eio_sid, packets)), (
        "kit.compat.engineio_enqueue: the client's socket was not found"
    )
    assert client.wait_for("canary", timeout=5) == [{"n": 1}], (
        "kit.compat.engineio_enqueue: a packet put in the socket's queue was not written; "
        "python-engineio's writer no longer reads AsyncSocket.queue"
    )
    assert kit.run(_enqueue_to(sio, "no such sid", packets)) is False


def test_redis_manager_publish_and_connect_hooks() -> None:
    """python-socketio's AsyncRedisManager: _publish returns PUBLISH's answer, _redis_connect."""
    import socketio

    source = inspect.getsource(socketio.AsyncRedisManager._publish)
    assert "return await self.redis.publish(" in source, (
        "kit.compat.counting_redis_manager: AsyncRedisManager._publish no longer returns "
        "PUBLISH's answer; lost emits cannot be counted this way"
    )
    assert "giving up" in source and "break" in source
    connect = inspect.getsource(socketio.AsyncRedisManager._redis_connect)
    assert "self.pubsub = " in connect and "self.redis = " in connect, (
        "kit.compat.counting_redis_manager: _redis_connect no longer sets redis and pubsub"
    )
    manager = compat.counting_redis_manager("redis://127.0.0.1:1/0", channel="canary")
    assert manager.stats.published == 0 and manager.made == []


async def _enqueue_to(sio: Any, eio_sid: str, packets: list[Any]) -> bool:
    """On the runtime loop, where python-engineio's queues live."""
    return compat.engineio_enqueue(sio.eio, eio_sid, packets)


def test_engineio_sockets_note_when_their_unanswered_ping_was_sent(no_leaks: None) -> None:
    """python-engineio: AsyncSocket.last_ping is the time of the PING still unanswered and
    None once the PONG came (engineio_ping_wait)."""
    import time

    import socketio
    from engineio.async_socket import AsyncSocket

    import kit

    sent = inspect.getsource(AsyncSocket._send_ping)
    answered = inspect.getsource(AsyncSocket.schedule_ping)
    assert "self.last_ping = time.time()" in sent and "self.last_ping = None" in answered, (
        "kit.compat.engineio_ping_wait: python-engineio no longer notes when its PING was "
        "sent in AsyncSocket.last_ping; the chat app cannot see a client's lag"
    )
    sio = socketio.AsyncServer(async_mode="aiohttp")
    server = kit.serve(sio, name="canary")
    client = kit.SocketIOClient(server)
    eio_sid = sio.manager.eio_sid_from_sid(client.sid(), "/")
    socket = sio.eio.sockets[eio_sid]
    assert socket.last_ping is None, "a connected client with no PING out has last_ping None"
    assert compat.engineio_ping_wait(sio.eio, eio_sid) == 0.0
    socket.last_ping = time.time() - 3  # what _send_ping notes, 3 s ago
    assert 3 <= compat.engineio_ping_wait(sio.eio, eio_sid) < 4
    socket.last_ping = None
    assert compat.engineio_ping_wait(sio.eio, "no such sid") == 0.0
