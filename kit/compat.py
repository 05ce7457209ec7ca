"""Every use of another package's private names, in one place.

The kit runs on public APIs wherever the libraries offer one. Where they do not, the
private name is used *here and nowhere else*, with a comment saying why, what public API
was looked for, and which version range was checked. ``tests/test_compat.py`` has a canary
per entry: when a library changes, that test fails with a message naming the entry, instead
of a lesson failing somewhere far away.

================================  =================================================  ============
library                           private name, and why                              since
================================  =================================================  ============
ipykernel 7.0-7.3                 ``shell._parent_header`` and friends: the          7.0; 7.4 has
                                  per-context parent before ``set_thread_parent``    a public API
                                  existed (Python 3.10's last ipykernel releases)
python-engineio server            ``eio.service_task_event/handle``,                 4.x
                                  ``start_service_task``: stop the heartbeat task
                                  once and let the same server be served again
python-engineio client            ``eio.state``, ``eio.http``: end a pending         4.x
                                  long-poll that ``disconnect()`` would wait 25 s for
python-socketio client            the ``"__disconnect_final"`` event: the client     5.x
                                  gave up reconnecting (or will not try); and
                                  ``client.namespaces`` (public name, not
                                  documented): filled before ``connected`` is set
python-engineio server            ``eio.sockets[eio_sid].queue``: how many packets   4.x
                                  wait to be written to one client (the chat app's
                                  backpressure); no public API reports it. And
                                  ``queue.put_nowait``: hand one packet, encoded
                                  once, to many clients without a task per client
python-engineio server            ``eio.sockets[eio_sid].last_ping``: when the       4.x
                                  PING still unanswered was sent (None once the
                                  PONG came): how far behind a client's own loop
                                  is, which no public API reports
python-socketio server            ``sio.packet_class`` and ``socketio.packet.EVENT``:  5.x
                                  the EVENT packet ``emit()`` builds, made once for
                                  the chat app's own fan-out
websockets asyncio server         ``server.all_connections`` (public name, not       13-17
                                  documented): every connection, also those already
                                  closing, which a stop must be able to drop
python-socketio AsyncRedisManager ``_publish``: count what Redis did not take, and   5.x
                                  how many servers it reached (PUBLISH's answer);
                                  the library only logs "giving up".
                                  ``_redis_connect``: each reconnection makes a new
                                  client; keep them all, to close them on stop
================================  =================================================  ============

Version bounds in ``pyproject.toml`` stop at the next major release of each library.
"""

from __future__ import annotations

import sys
import time
from contextvars import ContextVar
from typing import Any

__all__ = [
    "SOCKETIO_FINAL_DISCONNECT",
    "RedisManagerStats",
    "abort_engineio_client",
    "close_redis_manager",
    "counting_redis_manager",
    "engineio_enqueue",
    "engineio_ping_wait",
    "engineio_queue_size",
    "engineio_service_stopped",
    "ipykernel_has_context_parents",
    "ipykernel_parent_vars",
    "rearm_engineio_service",
    "socketio_client_has_namespaces",
    "socketio_event_packets",
    "websockets_server_transports",
]


# -- ipykernel ------------------------------------------------------------------------


def ipykernel_has_context_parents(shell: Any) -> bool:
    """True for ipykernel 7, which keeps the parent per thread and task (a ContextVar).

    ipykernel 6 kept one global parent, and a terminal IPython has none: output routing
    (kit.runtime.cells) then does nothing.
    """
    return isinstance(getattr(shell, "_parent_header", None), ContextVar)


def ipykernel_parent_vars(shell: Any, parent: dict[str, Any]) -> list[tuple[ContextVar[Any], Any]]:
    """The per-context parent variables of ipykernel 7.0-7.3, each with its new value.

    ipykernel 7.4 added ``shell.set_thread_parent(parent)``, which sets exactly these; the
    kit uses it when present. Before 7.4 the same ``ContextVar`` objects exist under the
    private name ``_parent_header`` on the shell (holding the parent message) and on the
    display hook, the display publisher and the two output streams (holding its header).
    """
    from jupyter_client.session import extract_header

    pairs: list[tuple[ContextVar[Any], Any]] = [(shell._parent_header, parent)]
    for obj in (shell.displayhook, shell.display_pub, sys.stdout, sys.stderr):
        var = getattr(obj, "_parent_header", None)
        if isinstance(var, ContextVar):
            pairs.append((var, extract_header(parent)))
    return pairs


# -- python-engineio, server side -------------------------------------------------------


def engineio_service_stopped(eio: Any) -> bool:
    """True when ``eio.shutdown()`` already ran (a second call would fail).

    python-engineio's ``AsyncServer.shutdown()`` awaits its service task handle and then
    sets it to None; calling it twice raises ``TypeError``. No public flag says whether the
    service task still runs.
    """
    return eio.service_task_event is not None and eio.service_task_handle is None


def rearm_engineio_service(eio: Any) -> None:
    """Let a stopped python-engineio server start its heartbeat task again when served.

    The server starts its ping/timeout service task on the first request only while
    ``start_service_task`` is set; ``shutdown()`` clears it, and nothing public sets it
    again, so a server stopped and served anew would never ping.
    """
    eio.start_service_task = True


# -- python-engineio, client side -------------------------------------------------------


def engineio_queue_size(eio: Any, eio_sid: str) -> int:
    """Packets waiting in a python-engineio server's queue for one client (0 if gone).

    Every packet for a client goes through ``AsyncSocket.queue`` (an ``asyncio.Queue``)
    and a writer task takes them out as fast as the client reads: a client that reads
    slowly, or not at all, has a queue that grows without bound.
    """
    socket = eio.sockets.get(eio_sid)
    return socket.queue.qsize() if socket is not None else 0


def engineio_ping_wait(eio: Any, eio_sid: str, now: float | None = None) -> float:
    """Seconds one client's heartbeat PING has waited for its PONG (0.0 if answered or gone).

    python-engineio's server sends a PING every ``ping_interval`` and notes the time in
    ``AsyncSocket.last_ping``; the client's PONG sets it back to None. A client that
    reads its socket but handles what it read late (its own loop behind a backlog of
    messages) answers late, while its queue on the server stays empty: the kernel's
    socket buffers and the client's loop hold the backlog. ``now`` is ``time.time()``
    (the clock python-engineio uses), passed in when many clients are asked at once.
    """
    socket = eio.sockets.get(eio_sid)
    sent = socket.last_ping if socket is not None and not socket.closed else None
    if not sent:
        return 0.0
    return max(0.0, (time.time() if now is None else now) - sent)


def engineio_enqueue(eio: Any, eio_sid: str, packets: list[Any]) -> bool:
    """Queue engine.io ``packets`` for one client at once, without a task; False if gone.

    This is what ``AsyncSocket.send()`` ends in (``await self.queue.put(pkt)`` on an
    unbounded queue, which never waits), without the coroutine around it: python-socketio
    runs that coroutine in one task per recipient, and for a broadcast to hundreds of
    clients those tasks are most of the runtime loop's work. The client's writer task
    takes the packets out and writes them exactly as it writes any other. A client that
    is gone or closing gets nothing (``send()`` would refuse it too); a client that went
    silent is still found by python-engineio's own heartbeat task.
    """
    socket = eio.sockets.get(eio_sid)
    if socket is None or socket.closed:
        return False
    for packet in packets:
        socket.queue.put_nowait(packet)
    return True


# -- python-socketio, server side --------------------------------------------------------


def socketio_event_packets(sio: Any, event: str, data: Any, namespace: str = "/") -> list[Any]:
    """The engine.io packets ``sio.emit(event, data)`` sends each recipient, built once.

    python-socketio's ``AsyncManager.emit`` (without a callback) encodes one EVENT packet
    with the server's ``packet_class`` and wraps each encoded part in an engine.io
    MESSAGE packet; every recipient gets those same objects. This builds them the same
    way, so the bytes on the wire are the same (``42["new message",{...}]``).
    """
    from engineio import packet as eio_packet
    from socketio import packet

    pkt = sio.packet_class(packet.EVENT, namespace=namespace, data=[event, data])
    encoded = pkt.encode()
    parts = encoded if isinstance(encoded, list) else [encoded]
    return [eio_packet.Packet(eio_packet.MESSAGE, part) for part in parts]


SOCKETIO_FINAL_DISCONNECT = "__disconnect_final"
"""python-socketio's client triggers this event when a disconnect is final: after the last
failed reconnection attempt, after a server's DISCONNECT, or at once without reconnection.
The public ``disconnect`` event cannot tell: it comes before the attempts start."""


def socketio_client_has_namespaces(client: Any) -> bool:
    """True while a python-socketio client is connected to at least one namespace.

    ``client.connected`` is only set after the ``connect`` handlers ran, at the end of
    ``connect()``; ``client.namespaces`` is filled before them, and emptied when the
    transport drops, whatever events a server sends.
    """
    return bool(client.namespaces)


async def abort_engineio_client(client: Any) -> None:
    """Drop a python-socketio client's engine.io connection without waiting.

    Over long-polling, ``disconnect()`` waits for the pending GET to return, which the
    server may hold for a whole ping interval (25 s). This marks the engine.io client
    disconnected and closes its HTTP session, which ends the pending request at once.
    """
    eio = client.eio
    eio.state = "disconnected"
    if eio.http is not None and not eio.http.closed:
        await eio.http.close()
    eio.http = None


# -- websockets -----------------------------------------------------------------------


def websockets_server_transports(server: Any) -> list[Any]:
    """The transports of every connection a websockets asyncio ``Server`` holds.

    The documented ``server.connections`` lists only connections still OPEN; once
    ``server.close()`` has started the closing handshakes they are CLOSING and vanish from
    it, while a peer that does not read keeps them alive. ``all_connections`` has them all.
    """
    return [connection.transport for connection in server.all_connections]


# -- python-socketio, AsyncRedisManager ---------------------------------------------------


class RedisManagerStats:
    """What one server's Redis manager published, and what Redis did not take.

    ``published``: messages Redis accepted; ``failed``: messages python-socketio gave up
    on (Redis unreachable: the other servers never get them); ``receivers``: the answer
    to the last PUBLISH, the number of subscribers (servers) that got it.
    """

    def __init__(self) -> None:
        self.published = 0
        self.failed = 0
        self.failed_events = 0
        self.receivers: int | None = None
        self.last_error = ""
        self.on_publish: list[Any] = []
        """Callbacks ``f(message, receivers or None)`` after each publish attempt."""


CONNECT_TIMEOUT = 2.0
"""Seconds a Redis manager waits for a TCP connection to Redis."""


def counting_redis_manager(
    url: str, *, channel: str, write_only: bool = False, logger: Any = None
) -> Any:
    """A ``socketio.AsyncRedisManager`` whose ``stats`` count each publish's outcome.

    python-socketio's ``_publish`` returns PUBLISH's answer (how many subscribers got the
    message) on success, and None after logging "Cannot publish to redis... giving up":
    no public API says that a message was lost. This subclass keeps the count.
    """
    import socketio

    class CountingRedisManager(socketio.AsyncRedisManager):
        def __init__(self) -> None:
            super().__init__(
                url,
                channel=channel,
                write_only=write_only,
                logger=logger,
                # A Redis that is not there is refused at once, never waited for.
                redis_options={"socket_connect_timeout": CONNECT_TIMEOUT},
            )
            self.stats = RedisManagerStats()
            self.made: list[Any] = []  # every Redis client and pub/sub object made

        def _redis_connect(self) -> None:
            super()._redis_connect()
            self.made += [self.pubsub, self.redis]

        async def _publish(self, data: Any) -> Any:
            receivers = await super()._publish(data)
            stats = self.stats
            if receivers is None:
                stats.failed += 1
                if isinstance(data, dict) and data.get("method") == "emit":
                    stats.failed_events += 1
            else:
                stats.published += 1
                stats.receivers = int(receivers)
            for callback in list(stats.on_publish):
                callback(data, receivers)
            return receivers

    return CountingRedisManager()


async def close_redis_manager(manager: Any) -> None:
    """Close every connection a :func:`counting_redis_manager` opened (after its listener)."""
    import contextlib

    for client in reversed(getattr(manager, "made", [])):
        with contextlib.suppress(Exception):
            await client.aclose()
    manager.made = []
    manager.pubsub = manager.redis = None
    manager.connected = False
