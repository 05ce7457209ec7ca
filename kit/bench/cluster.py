"""socket.io fan-out across a cluster: N server processes, one Redis, clients spread over them.

``python -m kit.bench fanout --servers 2`` runs the fan-out of :mod:`kit.bench.fanout` twice
with the same clients and messages: once on one server process (the baseline, no Redis),
then on N server processes that share a real ``redis-server`` through python-socketio's
``AsyncRedisManager``, client *i* connecting to server *i mod N*. In the cluster run
server 1 emits every message to the room: its own clients get it directly, the other
servers' clients through Redis (one PUBLISH per message, one pub/sub delivery per other
server). What it reports, besides the fan-out table of each run:

- deliveries/s of each run, and lost deliveries (target: 0 in both);
- **added latency per message**: the cluster's delivery latency p50 and p99 minus the
  baseline's (``time.time()`` stamped at the emit, read at the client, as in the fan-out);
- server CPU per delivery, summed over the cluster's server processes (their runtime
  threads, and their whole processes).

The server processes, the clients process and Redis are all stopped at the end, also on
errors and Ctrl-C. Numbers are this machine's: all processes share its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import kit
from kit.bench import fanout

__all__ = ["ClusterResult", "format_comparison", "measure", "run"]

CHANNEL = "kit-bench-fanout"
"""The Redis channel the benchmark's servers share."""
NODE_START_TIMEOUT = 60.0
"""Seconds a server process may take to start and subscribe."""


@dataclass(frozen=True)
class ClusterResult:
    """The baseline (one process) and the cluster run, with the same clients and messages."""

    servers: int
    baseline: fanout.FanoutResult
    cluster: fanout.FanoutResult

    @property
    def added_latency_p50(self) -> float | None:
        """Seconds the cluster adds to the median delivery latency."""
        a, b = self.cluster.latency_p50, self.baseline.latency_p50
        return None if a is None or b is None else a - b

    @property
    def added_latency_p99(self) -> float | None:
        """Seconds the cluster adds to the 99th percentile delivery latency."""
        a, b = self.cluster.latency_p99, self.baseline.latency_p99
        return None if a is None or b is None else a - b


# -- a server process of the cluster ---------------------------------------------------------


async def _subscribed(sio: Any) -> None:
    # What python-socketio does on the first connection, done now, then wait for the
    # subscription: a message published before it would be missed by this server.
    if not sio.manager_initialized:
        sio.manager_initialized = True
        sio.manager.initialize()
    while not (sio.manager.pubsub is not None and sio.manager.pubsub.subscribed):
        await asyncio.sleep(0.005)


def _node_process(conn: Any, redis_url: str, clients: int) -> None:
    """Entry point of one server process (spawned: it imports the kit afresh)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the benchmark's process stops us in order
    try:
        import socketio

        from kit.runtime.loop import runtime

        fanout.raise_open_file_limit(clients + fanout.FILES_PER_PROCESS, "server process")
        manager = socketio.AsyncRedisManager(redis_url, channel=CHANNEL)
        sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)

        @sio.event
        async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> None:
            await sio.enter_room(sid, fanout.ROOM)

        server = kit.serve(sio, name="bench-cluster-node")
        runtime.run(asyncio.wait_for(_subscribed(sio), NODE_START_TIMEOUT), NODE_START_TIMEOUT + 1)
        conn.send(("ready", server.url))
        while True:
            try:
                command = conn.recv()
            except (EOFError, OSError):
                break
            if command[0] == "room":
                conn.send(("room", runtime.run(fanout._room_size(sio), 30)))
            elif command[0] == "cpu":
                conn.send(("cpu", (runtime.run(fanout._thread_cpu(), 30), time.process_time())))
            elif command[0] == "broadcast":
                done = runtime.run(fanout._broadcast(sio, command[1]), command[2])
                conn.send(("broadcast", done))
            else:
                break
    except Exception:
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc()))
    finally:
        kit.stop_all()


class _Node:
    """The benchmark's end of one server process."""

    def __init__(self, context: Any, redis_url: str, clients: int, number: int) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_node_process,
            args=(child, redis_url, clients),
            name=f"kit-bench-cluster-node-{number}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.url = ""

    def ask(self, command: tuple[Any, ...], budget: Any, phase: str) -> Any:
        with contextlib.suppress(OSError):
            self.conn.send(command)
        return self.expect(command[0], budget, phase)

    def expect(self, kind: str, budget: Any, phase: str) -> Any:
        return fanout._expect(self.conn, self.process, kind, budget, phase)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("stop",))
        self.process.join(fanout.STOP_GRACE)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():  # pragma: no cover - SIGTERM ignored
            self.process.kill()
            self.process.join(5)
        self.conn.close()


def _run_cluster(
    clients: int,
    messages: int,
    servers: int,
    transport: str,
    *,
    timeout: float,
    concurrency: int,
    quiet_seconds: float,
    client_processes: int,
    client_kind: str,
) -> fanout.FanoutResult:
    budget = fanout._Budget(timeout)
    redis = kit.redis(name="bench-redis")
    context = multiprocessing.get_context("spawn")
    nodes: list[_Node] = []
    try:
        nodes = [_Node(context, redis.url, clients, n) for n in range(servers)]
        for node in nodes:
            node.url = node.expect("ready", budget, "starting the server processes")
        plan = fanout.ClientsPlan(
            nodes[0].url,
            clients,
            messages,
            transport,
            concurrency,
            quiet_seconds=quiet_seconds,
            urls=tuple(node.url for node in nodes),
        )
        return _with_clients(nodes, plan, (client_processes, client_kind), budget)
    finally:
        for node in nodes:
            node.stop()
        redis.stop()


def _with_clients(
    nodes: list[_Node], plan: fanout.ClientsPlan, clients: tuple[int, str], budget: Any
) -> fanout.FanoutResult:
    phase = f"connecting {plan.clients} clients to {len(nodes)} servers"
    audience = fanout.ClientsProcesses(plan, *clients)
    try:
        connect = audience.connect(budget, phase)
        phase = "checking the room"
        in_room = sum(node.ask(("room",), budget, phase) for node in nodes)
        if in_room != plan.clients:
            raise fanout.FanoutError(f"{in_room} clients are in the room, expected {plan.clients}")
        phase = "reading CPU times"
        before = [node.ask(("cpu",), budget, phase) for node in nodes]
        phase = f"emitting {plan.messages} messages from server 1"
        started, _, emitted = nodes[0].ask(
            ("broadcast", plan.messages, budget.left(phase)), budget, phase
        )
        report = audience.collect(budget, "waiting for the deliveries")
        after = [node.ask(("cpu",), budget, "reading CPU times") for node in nodes]
        audience.disconnect(budget, "disconnecting the clients")
    finally:
        audience.end()
    return fanout.fanout_result(
        plan,
        connect,
        report,
        started=started,
        emitted=emitted,
        thread_cpu_seconds=sum(a[0] - b[0] for a, b in zip(after, before, strict=True)),
        process_cpu_seconds=sum(a[1] - b[1] for a, b in zip(after, before, strict=True)),
        transport=f"{plan.transport}, {len(nodes)} servers + Redis",
        client_kind=clients[1],
    )


def measure(
    clients: int,
    messages: int,
    servers: int,
    transport: str = "websocket",
    *,
    timeout: float = 300.0,
    concurrency: int = 50,
    quiet_seconds: float = fanout.QUIET_SECONDS,
    client_processes: int | None = None,
    client_kind: str = "python",
) -> ClusterResult:
    """The baseline on one process, then ``servers`` processes sharing one Redis.

    Both runs spread the same clients (of ``client_kind``) over ``client_processes``
    processes (default :func:`kit.bench.fanout.default_client_processes`).

    Raises:
        FanoutError: a process failed, a client could not connect, or a run took longer
            than ``timeout`` seconds.
        ProgramNotFoundError: redis-server is not installed.
    """
    if servers < 2:
        raise ValueError(f"a cluster has at least 2 server processes, not {servers}")
    if transport not in fanout.TRANSPORTS:
        raise ValueError(f"transport must be one of {fanout.TRANSPORTS}, not {transport!r}")
    if client_processes is None:
        client_processes = fanout.default_client_processes(clients)
    baseline = fanout.measure(
        clients,
        messages,
        transport,
        timeout=timeout,
        concurrency=concurrency,
        quiet_seconds=quiet_seconds,
        client_processes=client_processes,
        client_kind=client_kind,
    )
    cluster = _run_cluster(
        clients,
        messages,
        servers,
        transport,
        timeout=timeout,
        concurrency=concurrency,
        quiet_seconds=quiet_seconds,
        client_processes=client_processes,
        client_kind=client_kind,
    )
    return ClusterResult(servers=servers, baseline=baseline, cluster=cluster)


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:+,.1f} ms"


def format_comparison(result: ClusterResult) -> str:
    """The summary lines printed after both tables."""
    base, cluster = result.baseline, result.cluster
    rate_base, rate_cluster = base.deliveries_per_second, cluster.deliveries_per_second
    rates = "n/a"
    if rate_base and rate_cluster:
        rates = f"{rate_base:,.0f} -> {rate_cluster:,.0f} ({rate_cluster / rate_base:.2f}x)"
    lost = "ok" if base.lost == 0 and cluster.lost == 0 else "LOST"
    return "\n".join(
        [
            f"1 process vs {result.servers} processes + Redis",
            f"  deliveries/s           {rates}",
            f"  added latency p50      {_ms(result.added_latency_p50)}",
            f"  added latency p99      {_ms(result.added_latency_p99)}",
            f"  lost deliveries        {base.lost} and {cluster.lost} ({lost})",
            "  (cluster CPU figures are sums over its server processes)",
        ]
    )


def run(args: argparse.Namespace) -> int:
    """``python -m kit.bench fanout --servers N`` with N >= 2."""
    print(
        f"kit.bench fanout: {args.clients} socket.io clients in one room, {args.messages} "
        f"broadcasts, {args.transport} transport; 1 process, then {args.servers} processes "
        "sharing one Redis\n",
        flush=True,
    )
    try:
        result = measure(
            args.clients,
            args.messages,
            args.servers,
            args.transport,
            timeout=args.timeout,
            concurrency=args.concurrency,
            client_processes=args.client_processes,
            client_kind=args.client_kind or fanout.default_client_kind(),
        )
    except (fanout.FanoutError, kit.ProgramNotFoundError, kit.ChildProgramError) as exc:
        print(f"kit.bench fanout failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kit.bench fanout: interrupted; clients, servers and Redis stopped", file=sys.stderr)
        return 130
    finally:
        kit.stop_all()
    print("one process:\n" + fanout.format_report(result.baseline) + "\n")
    print(f"{args.servers} processes + Redis:\n" + fanout.format_report(result.cluster) + "\n")
    print(format_comparison(result))
    lost = result.baseline.lost or result.cluster.lost
    return 1 if args.check and lost else 0
