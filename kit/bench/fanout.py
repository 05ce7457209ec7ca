"""socket.io fan-out: one kit server broadcasts to N clients in one room; none may be lost.

(``--servers N`` spreads the clients over N server processes sharing one Redis:
:mod:`kit.bench.cluster`.)

The server is a python-socketio ``AsyncServer(async_mode="aiohttp")`` started with
``kit.serve``, so it runs on the kit's runtime thread exactly as in a lesson's kernel; with
``--server scratch`` it is ``kit.SocketIOServer`` (socket.io from scratch), and with
``--server node`` it is Node's own socket.io 4.8.1 in a child process
(:mod:`kit.bench.node`). ``--server node,scratch,python-socketio`` measures each with the
same clients, one after the other, and prints them side by side (CPU per delivery as a
ratio to the first, peak server memory). Each server's
``connect`` handler puts every client in the room ``"audience"`` (the server decides rooms;
clients never join by themselves). Then the benchmark runs, on the runtime thread::

    for seq in range(M):
        await sio.emit("tick", {"seq": seq, "sent": time.time()}, to="audience")

and every client records what it receives. On the wire each delivery is one engine.io
MESSAGE carrying a socket.io EVENT, a WebSocket text frame such as
``42["tick",{"seq":7,"sent":1718000000.123}]``.

The N clients are spread over ``--client-processes`` processes (default one per core,
at least 2), each running its share on its own event loop, so that the server's CPU time
is not mixed with theirs and no single loop has to keep up with every connection (see
:class:`ClientsProcesses`: a lagging client loop drops its own connections, and those
losses are not the server's). ``--client-kind`` says what they are: ``node``, the official
socket.io client in Node processes (:class:`kit.bench.node.NodeClients`; the default where
Node.js and npm are installed), or ``python``, python-socketio ``AsyncClient`` objects in
Python processes (``multiprocessing``, start method ``spawn``). On the shared 2-core
machine the Python clients, at about ten times the Node client's CPU per delivery, fell
behind Node's and the scratch server at 200 clients x 2,000 messages and dropped their own
connections ("transport error" at the clients, "transport close" at the server); Node's
clients lost nothing there. They connect at most ``--concurrency`` at a time in all, each
within ``CONNECT_TIMEOUT`` seconds, and talk to the server over loopback only.

How each figure is measured:

- deliveries: every client keeps the sequence numbers it received. ``lost`` is N*M minus
  the distinct (client, seq) pairs received; ``duplicates`` counts repeats; ``out of
  order`` counts deliveries that arrived after a later message to the same client.
- broadcast wall time: from just before the first ``emit`` (server side) to the last
  delivery (client side). Both ends read ``time.time()``: the wall clock is one clock
  for every process of a machine (``time.perf_counter`` has no common origin across
  processes, and ``time.monotonic`` only happens to share one on some systems).
- server CPU per delivery: CPU seconds spent during the broadcast phase divided by the
  deliveries received. "runtime thread" reads ``time.thread_time()`` on the kit's runtime
  thread itself, before the first emit and after the clients have reported the last
  delivery: that thread runs the whole server (encoding, per-socket writer tasks, frames,
  heartbeats) and nothing else here. "whole process" is ``time.process_time()`` of the
  server process over the same phase, so it also includes the main thread waiting on the
  clients' pipe; the gap between the two is that overhead. Both are deltas over the
  phase, so the CPU used before it (imports, connects) is the baseline subtracted.
- connect time: from the first connect attempt to the last client connected and in the
  room (the server sends the socket.io CONNECT reply after its ``connect`` handler).
- clients process busy: each clients process's CPU time over wall time from its first
  delivery to its last; the busiest is reported. Near 100 % means the clients, not the
  server, set the pace: deliveries/s is then a floor for the server, while CPU per
  delivery stays the server's own cost.
- delivery latency p50/p99: receive time minus the ``sent`` stamp in the payload, both
  ``time.time()``, over every delivery of every clients process, so it includes queueing
  in the server and in the clients' busy loops.
- dropped connections, and dropped by the server: the first is what the clients saw
  ("transport error", "transport close"), the second what the server's own ``disconnect``
  handler was told before the clients said goodbye ("ping timeout": the server gave up on
  a client whose PONG came too late). Together they say whose loss it was.

Target: no lost delivery, ever (``--check`` exits with status 1 otherwise). Every other
figure is a measurement to compare between runs and transports, not a target. A run that
fails (a client cannot connect, a process dies, ``--timeout`` is exceeded) prints why and
exits with status 1; Ctrl-C disconnects the clients, joins their process and stops the
server before it returns.

Limits of the setup, seen on a 2-core machine:

- All processes share the machine, so deliveries/s is a figure for this machine, not
  for the server alone; one Python clients process on one loop tops out near 10-15 thousand
  deliveries/s.
- A python-engineio client whose loop lags more than about 5 s behind drops its own
  connection: its writer gives up after ``max(ping_interval, ping_timeout) + 5`` = 30 s
  with nothing to send, and the PONG it owes for the server's PING (sent 25 s after
  connecting) is still waiting behind unread messages ("packet queue is empty,
  aborting" on stderr, "transport error" under dropped connections). That is why the
  clients are spread over processes; if "dropped by the server" stays at 0 while
  clients drop, the loss is still theirs, and more ``--client-processes`` help.
- Over polling, a python-engineio client refuses a long-poll response of more than 16
  packets (``Payload.max_decode_packets``) and drops the connection; the clients process
  raises that limit for itself (see :func:`_accept_long_payloads`).

Why this module is long: one benchmark drives several processes (the server's and the
clients') and reports on all of them; it is a maintainer's tool, not lesson material.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
import os
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import kit
from kit import compat
from kit.runtime.loop import runtime

__all__ = [
    "ClientsReport",
    "FanoutError",
    "FanoutResult",
    "add_arguments",
    "format_report",
    "measure",
    "raise_open_file_limit",
    "run",
]

T = TypeVar("T")

ROOM = "audience"
EVENT = "tick"
TRANSPORTS = ("websocket", "polling")
SERVERS = ("python-socketio", "scratch", "node")
"""The servers ``--server`` can measure: python-socketio's ``AsyncServer``,
``kit.SocketIOServer`` (socket.io from scratch, broadcasts encoded once and written to
every recipient's socket without a task per recipient), or Node's socket.io 4.8.1 in a
child process (:mod:`kit.bench.node`, when Node.js and npm are installed)."""

CONNECT_TIMEOUT = 20.0
"""Seconds one client may take to connect (and be put in the room)."""
QUIET_SECONDS = 5.0
"""After the last emit, a delivery still missing after this long without any delivery is lost."""
DISCONNECT_GRACE = 2.0
"""Seconds one client may take to say goodbye before its HTTP session is closed under it."""
STOP_GRACE = 15.0
"""Seconds the clients process gets to disconnect its clients and exit before it is killed."""
CONTROL_PACKETS = 16
"""Room for engine.io control packets (pings, noops) in one polling payload."""
FILES_PER_PROCESS = 64
"""Open files a process needs besides its sockets: the interpreter, pipes, the listener."""


class FanoutError(RuntimeError):
    """The benchmark could not run to the end; the message says where and why."""


@dataclass(frozen=True)
class ClientsPlan:
    """What the clients process is asked to do (sent to it when it starts)."""

    url: str
    clients: int
    messages: int
    transport: str
    concurrency: int
    connect_timeout: float = CONNECT_TIMEOUT
    quiet_seconds: float = QUIET_SECONDS
    urls: tuple[str, ...] = ()
    """Several servers of one cluster: client i connects to ``urls[i % len(urls)]``."""
    first: int = 0
    """The number of this process's first client (clients are numbered across processes)."""


@dataclass(frozen=True)
class ClientsReport:
    """What the clients process saw, sent back to the server process."""

    connected: int
    connect_failures: int
    first_connect_error: str
    connect_seconds: float
    received: int = 0
    distinct: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    dropped_connections: int = 0
    drop_reasons: tuple[tuple[str, int], ...] = ()
    last_received: float | None = None
    latency_p50: float | None = None
    latency_p99: float | None = None
    busy_fraction: float | None = None
    """The clients process's CPU time over wall time, from the first delivery to the last
    (merged over several processes: the busiest one's)."""
    processes: tuple[tuple[int, int], ...] = ()
    """(process id, clients it connected) for each clients process."""
    latencies: tuple[float, ...] = ()
    """Every delivery's latency in seconds, kept so that reports of several processes
    can be merged into one p50 and p99."""


@dataclass(frozen=True)
class FanoutResult:
    """One run's figures, times and CPU times in seconds (see :meth:`cpu_us_per_delivery`)."""

    clients: int
    messages: int
    transport: str
    connected: int
    connect_seconds: float
    received: int
    lost: int
    duplicates: int
    out_of_order: int
    dropped_connections: int
    emit_seconds: float
    broadcast_seconds: float | None
    thread_cpu_seconds: float
    process_cpu_seconds: float
    latency_p50: float | None
    latency_p99: float | None
    drop_reasons: tuple[tuple[str, int], ...] = ()
    """Why connections dropped during the run, as (reason, count), most frequent first."""
    clients_busy: float | None = None
    """CPU over wall time of the clients process while receiving; near 1: they set the pace."""
    server: str = "python-socketio"
    """Which server was measured (one of :data:`SERVERS`)."""
    server_peak_bytes: int | None = None
    """Peak resident memory of the server's process: Node's, or (Python servers) the
    benchmark's own process, which runs them, since it started."""
    client_processes: tuple[tuple[int, int], ...] = ()
    """(process id, clients it connected) for each clients process."""
    client_kind: str = "python"
    """What the clients were (one of :data:`CLIENT_KINDS`)."""
    server_drop_reasons: tuple[tuple[str, int], ...] = ()
    """Why the *server* saw connections end before the clients said goodbye, as (reason,
    count): its own view of the drops above ("ping timeout" is the server giving up on a
    client whose PONG came too late)."""

    @property
    def expected(self) -> int:
        """Deliveries a loss-free run makes: every client gets every message."""
        return self.clients * self.messages

    @property
    def deliveries_per_second(self) -> float | None:
        if not self.broadcast_seconds:
            return None
        return self.received / self.broadcast_seconds

    def cpu_us_per_delivery(self, cpu_seconds: float) -> float | None:
        """``cpu_seconds`` (one of the CPU times above) per delivery, in microseconds."""
        return cpu_seconds / self.received * 1e6 if self.received else None


# -- limits ------------------------------------------------------------------------------


def raise_open_file_limit(needed: int, who: str) -> int:
    """Raise this process's soft limit on open files to ``needed`` if the hard limit allows.

    Returns the soft limit now in force. Raises :class:`FanoutError` naming the numbers
    when the hard limit is too low. Where there is no such limit (Windows) it does nothing.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return needed
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise FanoutError(
            f"the {who} needs about {needed} open files but this system allows at most "
            f"{hard} (hard limit, `ulimit -Hn`); use fewer --clients or raise the hard limit"
        )
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    except (ValueError, OSError) as exc:
        raise FanoutError(
            f"the {who} needs about {needed} open files; raising the limit from {soft} "
            f"failed: {exc}"
        ) from exc
    return needed


def _files_needed(clients: int, transport: str, side: str) -> int:
    # A server socket per client; a WebSocket client holds one socket, a polling client
    # up to two (its pending long-poll GET, and a POST for its pongs).
    per_client = 2 if side == "clients" and transport == "polling" else 1
    return clients * per_client + FILES_PER_PROCESS


class _Budget:
    """The total time a run may take (``--timeout``), shared by all its phases."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self, phase: str) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise FanoutError(f"the run took longer than --timeout {self.seconds:g} s ({phase})")
        return remaining


# -- the clients process -----------------------------------------------------------------


class _Audience:
    """N python-socketio clients on one loop, each recording the sequence numbers it gets."""

    def __init__(self, plan: ClientsPlan) -> None:
        self.plan = plan
        self.clients: list[Any] = []
        self.sequences: list[list[int]] = []
        self.latencies: list[float] = []
        self.received = 0
        self.last_received: float | None = None
        self.last_cpu = 0.0
        self.drop_reasons: collections.Counter[str] = collections.Counter()
        self.tearing_down = False
        self.first_received: tuple[float, float] | None = None  # time(), process_time()

    def _new_client(self) -> Any:
        import socketio

        # handle_sigint=False: python-socketio would otherwise take over SIGINT and, on
        # Ctrl-C, cancel every task here, including this process's orderly teardown.
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        sequence: list[int] = []

        def tick(data: dict[str, Any]) -> None:
            now = time.time()
            if self.first_received is None:
                self.first_received = (now, time.process_time())
            sequence.append(data["seq"])
            self.latencies.append(now - data["sent"])
            self.received += 1
            self.last_received, self.last_cpu = now, time.process_time()

        def disconnect(*reason: object) -> None:
            if not self.tearing_down:
                self.drop_reasons[str(reason[0]) if reason else "unknown"] += 1

        client.on(EVENT, tick)
        client.on("disconnect", disconnect)
        self.clients.append(client)
        self.sequences.append(sequence)
        return client

    async def connect_all(self) -> ClientsReport:
        plan = self.plan
        gate = asyncio.Semaphore(plan.concurrency)
        errors: list[str] = []

        async def connect_one(index: int) -> bool:
            url = plan.urls[(plan.first + index) % len(plan.urls)] if plan.urls else plan.url
            async with gate:
                client = self._new_client()
                try:
                    await asyncio.wait_for(
                        client.connect(
                            url,
                            transports=[plan.transport],
                            wait_timeout=plan.connect_timeout,
                        ),
                        plan.connect_timeout,
                    )
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}".rstrip(": "))
                    return False
                return True

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(connect_one(i) for i in range(plan.clients)))
        return ClientsReport(
            connected=sum(outcomes),
            connect_failures=len(errors),
            first_connect_error=errors[0] if errors else "",
            connect_seconds=time.perf_counter() - started,
            processes=((os.getpid(), sum(outcomes)),),
        )

    async def collect(self, connect: ClientsReport, max_seconds: float) -> ClientsReport:
        """Wait for every delivery (or a quiet spell, or ``max_seconds``) and count."""
        expected = connect.connected * self.plan.messages
        give_up = time.monotonic() + max_seconds
        seen, quiet_since = self.received, time.monotonic()
        while self.received < expected:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            if self.received != seen:
                seen, quiet_since = self.received, now
            elif now - quiet_since >= self.plan.quiet_seconds or now >= give_up:
                break
        return self._report(connect)

    def _report(self, connect: ClientsReport) -> ClientsReport:
        valid = range(self.plan.messages)
        distinct = duplicates = out_of_order = 0
        for sequence in self.sequences:
            got = set(sequence)
            distinct += len(got.intersection(valid))
            duplicates += len(sequence) - len(got)
            highest = -1
            for seq in sequence:
                if seq < highest:
                    out_of_order += 1
                highest = max(highest, seq)
        busy = None
        if self.first_received is not None and self.last_received is not None:
            wall_started, cpu_started = self.first_received
            elapsed = self.last_received - wall_started
            if elapsed > 0:
                busy = (self.last_cpu - cpu_started) / elapsed
        p50, p99 = _percentiles(self.latencies)
        return ClientsReport(
            connected=connect.connected,
            connect_failures=connect.connect_failures,
            first_connect_error=connect.first_connect_error,
            connect_seconds=connect.connect_seconds,
            received=self.received,
            distinct=distinct,
            duplicates=duplicates,
            out_of_order=out_of_order,
            dropped_connections=sum(self.drop_reasons.values()),
            drop_reasons=tuple(self.drop_reasons.most_common()),
            last_received=self.last_received,
            latency_p50=p50,
            latency_p99=p99,
            busy_fraction=busy,
            processes=((os.getpid(), connect.connected),),
            latencies=tuple(self.latencies),
        )

    async def disconnect_all(self, timeout: float) -> int:
        """Disconnect every client (at most ``timeout`` seconds); return how many were."""
        self.tearing_down = True
        tasks = [asyncio.ensure_future(_disconnect(client)) for client in self.clients]
        if not tasks:
            return 0
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        return sum(1 for task in done if not task.cancelled() and task.result())

    async def play(self, conn: Any, commands: asyncio.Queue[tuple[Any, ...]]) -> None:
        """The clients' side of the run, one step per command from the server process."""
        connect = await self.connect_all()
        _send(conn, ("connected", connect))
        command = await commands.get()
        if command[0] != "collect":
            return
        _send(conn, ("received", await self.collect(connect, max_seconds=command[1])))
        await commands.get()  # "disconnect": the server process has its figures


async def _disconnect(client: Any) -> bool:
    """Disconnect one client without hanging on a long-poll; True if it was connected."""
    was_connected = client.connected
    with contextlib.suppress(Exception):
        # Over polling, python-engineio's disconnect() waits for the pending long-poll
        # GET to return, which the server holds until its next PING (up to 25 s).
        await asyncio.wait_for(client.disconnect(), DISCONNECT_GRACE)
    with contextlib.suppress(Exception):
        await compat.abort_engineio_client(client)  # ends the pending GET, frees its socket
    return was_connected


def _send(conn: Any, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(OSError):  # the server process is gone: nobody to tell
        conn.send(message)


def _listen(
    conn: Any, loop: asyncio.AbstractEventLoop, on_command: Callable[[tuple[Any, ...]], None]
) -> None:
    """Forward commands from the pipe to the loop; a closed pipe means "stop"."""
    while True:
        try:
            command = conn.recv()
        except (EOFError, OSError):
            command = ("stop",)
        try:
            loop.call_soon_threadsafe(on_command, command)
        except RuntimeError:  # the loop is closed: the process is ending
            return
        if command[0] == "stop":
            return


async def _clients_main(conn: Any, plan: ClientsPlan) -> None:
    audience = _Audience(plan)
    commands: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    play = asyncio.ensure_future(audience.play(conn, commands))

    def on_command(command: tuple[Any, ...]) -> None:
        if command[0] == "stop":
            play.cancel()
        else:
            commands.put_nowait(command)

    loop = asyncio.get_running_loop()
    threading.Thread(
        target=_listen, args=(conn, loop, on_command), name="kit-bench-pipe", daemon=True
    ).start()
    try:
        await play
    except asyncio.CancelledError:
        pass  # told to stop: tear down below
    except Exception:
        _send(conn, ("error", traceback.format_exc()))
    finally:
        closed = await audience.disconnect_all(timeout=STOP_GRACE / 2)
        _send(conn, ("closed", closed))


def _accept_long_payloads(messages: int) -> None:
    """Let this process's python-engineio clients decode a poll carrying every message.

    A long-poll response carries every packet queued since the previous poll, and the
    server puts no limit on how many. python-engineio's *decoder* refuses more than
    ``Payload.max_decode_packets`` (16) packets in one payload, a guard meant for
    servers, and its client then drops the connection ("transport error"): with the
    default, most polling clients here would be lost after a few broadcasts. This
    raises the limit in the clients process only; the server keeps its default.
    """
    from engineio.payload import Payload

    Payload.max_decode_packets = max(Payload.max_decode_packets, messages + CONTROL_PACKETS)


def _clients_process(conn: Any, plan: ClientsPlan) -> None:
    """Entry point of the clients process (spawned: it imports this module afresh)."""
    import signal

    # Ctrl-C reaches the whole process group; the server process handles it and tells
    # this process to disconnect its clients, so the teardown happens in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if plan.transport == "polling":
        _accept_long_payloads(plan.messages)
    try:
        raise_open_file_limit(
            _files_needed(plan.clients, plan.transport, "clients"), "clients process"
        )
        asyncio.run(_clients_main(conn, plan))
    except Exception:
        _send(conn, ("error", traceback.format_exc()))
        _send(conn, ("closed", 0))


# -- the clients processes, from the benchmark's side ---------------------------------------


def default_client_processes(clients: int) -> int:
    """How many clients processes ``--client-processes`` defaults to: one per core, at
    least two, never more than there are clients."""
    return max(1, min(clients, max(2, os.cpu_count() or 2)))


def split_plan(plan: ClientsPlan, processes: int) -> list[ClientsPlan]:
    """``plan`` cut into ``processes`` shares as even as possible, numbered across them.

    Each share keeps its clients' numbers (``first``), so client *i* connects to the same
    server of a cluster whichever process it runs in; the connect concurrency is shared
    out too, so the server sees as many connects at once as with one process.
    """
    if processes < 1:
        raise ValueError(f"client processes must be at least 1, not {processes}")
    processes = min(processes, plan.clients)
    size, extra = divmod(plan.clients, processes)
    shares, first = [], plan.first
    for number in range(processes):
        clients = size + (1 if number < extra else 0)
        shares.append(
            dataclasses.replace(
                plan,
                clients=clients,
                first=first,
                concurrency=max(1, plan.concurrency // processes),
            )
        )
        first += clients
    return shares


def _percentiles(latencies: Sequence[float]) -> tuple[float | None, float | None]:
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100)
        return cuts[49], cuts[98]
    if latencies:
        return latencies[0], latencies[0]
    return None, None


def merge_reports(reports: Sequence[ClientsReport]) -> ClientsReport:
    """One report for clients that ran in several processes: counts add up, the latency
    percentiles are taken over every delivery, and "busy" is the busiest process's."""
    reasons: collections.Counter[str] = collections.Counter()
    for report in reports:
        reasons.update(dict(report.drop_reasons))
    latencies = tuple(latency for report in reports for latency in report.latencies)
    p50, p99 = _percentiles(latencies)
    errors = [report.first_connect_error for report in reports if report.first_connect_error]
    lasts = [report.last_received for report in reports if report.last_received is not None]
    busy = [report.busy_fraction for report in reports if report.busy_fraction is not None]
    return ClientsReport(
        connected=sum(report.connected for report in reports),
        connect_failures=sum(report.connect_failures for report in reports),
        first_connect_error=errors[0] if errors else "",
        connect_seconds=max((report.connect_seconds for report in reports), default=0.0),
        received=sum(report.received for report in reports),
        distinct=sum(report.distinct for report in reports),
        duplicates=sum(report.duplicates for report in reports),
        out_of_order=sum(report.out_of_order for report in reports),
        dropped_connections=sum(report.dropped_connections for report in reports),
        drop_reasons=tuple(reasons.most_common()),
        last_received=max(lasts, default=None),
        latency_p50=p50,
        latency_p99=p99,
        busy_fraction=max(busy, default=None),
        processes=tuple(process for report in reports for process in report.processes),
        latencies=latencies,
    )


class _PythonClients:
    """One clients process of python-socketio clients (an :class:`_Audience`)."""

    def __init__(self, context: Any, share: ClientsPlan, number: int) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_clients_process,
            args=(child, share),
            name=f"kit-bench-fanout-clients-{number}",
            daemon=True,
        )
        try:
            self.process.start()
        finally:
            child.close()

    def send(self, command: tuple[Any, ...]) -> None:
        _send(self.conn, command)

    def expect(self, kind: str, budget: _Budget, phase: str) -> Any:
        return _expect(self.conn, self.process, kind, budget, phase)

    def join(self, timeout: float) -> None:
        self.process.join(timeout)

    def end(self) -> None:
        _end_clients_process(self.conn, self.process)
        self.conn.close()


class _NodeClients:
    """One Node process of official socket.io clients (:class:`kit.bench.node.NodeClients`)."""

    def __init__(self, share: ClientsPlan) -> None:
        from kit.bench.node import NodeClients, NodeUnavailable

        try:
            self.clients = NodeClients(dataclasses.asdict(share))
        except NodeUnavailable as exc:
            raise FanoutError(str(exc)) from None

    def send(self, command: tuple[Any, ...]) -> None:
        self.clients.send(" ".join(str(part) for part in command))

    def expect(self, kind: str, budget: _Budget, phase: str) -> Any:
        from kit.bench.node import NodeUnavailable

        while True:
            try:
                answer = self.clients.next(min(0.5, budget.left(phase)))
            except NodeUnavailable as exc:
                raise FanoutError(f"a Node clients process failed while {phase}: {exc}") from None
            if answer is None:
                continue
            if kind not in answer:
                raise FanoutError(f"expected {kind!r} from Node's clients, got {answer}"[:300])
            value = answer[kind]
            return _report_from_json(value) if isinstance(value, dict) else value

    def join(self, timeout: float) -> None:
        self.clients.join(timeout)

    def end(self) -> None:
        self.clients.stop()


def _report_from_json(data: dict[str, Any]) -> ClientsReport:
    """A :class:`ClientsReport` from the JSON a Node clients process sends."""
    fields = {field.name for field in dataclasses.fields(ClientsReport)}
    unknown = set(data) - fields
    if unknown:
        raise FanoutError(f"Node's clients sent fields a report does not have: {sorted(unknown)}")
    data = dict(data)
    for name in ("drop_reasons", "processes"):
        data[name] = tuple(tuple(item) for item in data.get(name, ()))
    data["latencies"] = tuple(data.get("latencies", ()))
    return ClientsReport(**data)


CLIENT_KINDS = ("python", "node")
"""What the clients are: python-socketio ``AsyncClient`` objects, or the official JS client
(socket.io-client 4.8.1) in Node processes, several times lighter per delivery."""


def default_client_kind() -> str:
    """``node`` where Node.js and npm are installed (its clients keep up far better),
    else ``python``."""
    import shutil

    return "node" if shutil.which("node") and shutil.which("npm") else "python"


class ClientsProcesses:
    """The benchmark's end of the clients processes: it starts, drives and always ends them.

    The plan's clients are split over ``processes`` processes, each running its share on
    its own event loop: python-socketio clients (``kind="python"``, start method
    ``spawn``) or the official JS client in Node (``kind="node"``). One loop for every
    client falls behind a fast server: a python-engineio client whose loop lags answers
    the server's PING too late, or gives up on its own connection, and those losses would
    be counted as the server's. Every step waits for every process and merges what they
    say.
    """

    def __init__(self, plan: ClientsPlan, processes: int, kind: str = "python") -> None:
        if kind not in CLIENT_KINDS:
            raise ValueError(f"the clients are one of {CLIENT_KINDS}, not {kind!r}")
        self.plan = plan
        self.kind = kind
        self.shares = split_plan(plan, processes)
        context = multiprocessing.get_context("spawn")
        self.links: list[_PythonClients | _NodeClients] = []
        try:
            for number, share in enumerate(self.shares):
                if kind == "node":
                    self.links.append(_NodeClients(share))
                else:
                    self.links.append(_PythonClients(context, share, number))
        except BaseException:
            self.end()
            raise

    def _expect_all(self, kind: str, budget: _Budget, phase: str) -> list[Any]:
        return [link.expect(kind, budget, phase) for link in self.links]

    def connect(self, budget: _Budget, phase: str) -> ClientsReport:
        """Wait until every process has connected its clients; fail if one could not."""
        report = merge_reports(self._expect_all("connected", budget, phase))
        if report.connected < self.plan.clients:
            raise FanoutError(
                f"only {report.connected} of {self.plan.clients} clients connected "
                f"({report.connect_failures} failed; first error: "
                f"{report.first_connect_error or 'none'})"
            )
        return report

    def collect(self, budget: _Budget, phase: str) -> ClientsReport:
        """Let every process wait for its deliveries, then merge what they received."""
        for link in self.links:
            link.send(("collect", budget.left(phase)))
        return merge_reports(self._expect_all("received", budget, phase))

    def disconnect(self, budget: _Budget, phase: str) -> None:
        """Disconnect every client, and wait for the processes to exit."""
        for link in self.links:
            link.send(("disconnect",))
        self._expect_all("closed", budget, phase)
        for link in self.links:
            link.join(min(STOP_GRACE, budget.left(phase)))

    def end(self) -> None:
        """Ask each process to stop, kill it if it does not; safe to call more than once."""
        for link in self.links:
            link.end()


def fanout_result(
    plan: ClientsPlan,
    connect: ClientsReport,
    report: ClientsReport,
    *,
    started: float,
    emitted: float,
    thread_cpu_seconds: float,
    process_cpu_seconds: float,
    server: str = "python-socketio",
    client_kind: str = "python",
    transport: str | None = None,
    server_peak_bytes: int | None = None,
    server_drop_reasons: tuple[tuple[str, int], ...] = (),
) -> FanoutResult:
    """One run's :class:`FanoutResult` from the plan, the clients' merged reports and the
    server's figures (wall times from ``time.time()``, CPU times in seconds)."""
    last = report.last_received
    return FanoutResult(
        clients=plan.clients,
        messages=plan.messages,
        transport=transport or plan.transport,
        connected=connect.connected,
        connect_seconds=connect.connect_seconds,
        received=report.received,
        lost=plan.clients * plan.messages - report.distinct,
        duplicates=report.duplicates,
        out_of_order=report.out_of_order,
        dropped_connections=report.dropped_connections,
        drop_reasons=report.drop_reasons,
        clients_busy=report.busy_fraction,
        emit_seconds=emitted - started,
        broadcast_seconds=None if last is None else last - started,
        thread_cpu_seconds=thread_cpu_seconds,
        process_cpu_seconds=process_cpu_seconds,
        latency_p50=report.latency_p50,
        latency_p99=report.latency_p99,
        server=server,
        server_peak_bytes=server_peak_bytes,
        client_processes=report.processes,
        client_kind=client_kind,
        server_drop_reasons=server_drop_reasons,
    )


# -- the server process ------------------------------------------------------------------


def _fanout_server(kind: str = "python-socketio") -> tuple[Any, collections.Counter[str]]:
    """The server to measure, and the count of its disconnects by reason (as it sees them)."""
    drops: collections.Counter[str] = collections.Counter()
    if kind == "scratch":
        from kit.apps.socketio import SocketIOServer

        scratch = SocketIOServer()

        async def join(sid: str, environ: dict[str, Any], auth: object = None) -> None:
            await scratch.enter_room(sid, ROOM)

        def gone(sid: str, reason: str) -> None:
            drops[reason] += 1

        scratch.on("connect", join)
        scratch.on("disconnect", gone)
        return scratch, drops

    import socketio

    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> None:
        await sio.enter_room(sid, ROOM)

    @sio.event
    def disconnect(sid: str, reason: object = None) -> None:
        drops[str(reason)] += 1

    return sio, drops


async def _room_size(sio: Any) -> int:
    from kit.apps.socketio import SocketIOServer

    if isinstance(sio, SocketIOServer):
        return sum(1 for sid in sio.sockets() if ROOM in sio.rooms(sid))
    return sum(1 for _ in sio.manager.get_participants("/", ROOM))


async def _thread_cpu() -> float:
    return time.thread_time()


async def _server_figures(drops: collections.Counter[str] | None) -> tuple[float, dict[str, int]]:
    return time.thread_time(), dict(drops or {})


async def _broadcast(sio: Any, messages: int) -> tuple[float, float, float]:
    """Emit ``messages`` ticks to the room; return (wall start, thread CPU start, wall end)."""
    cpu_started = time.thread_time()
    started = time.time()
    for seq in range(messages):
        await sio.emit(EVENT, {"seq": seq, "sent": time.time()}, to=ROOM)
    return started, cpu_started, time.time()


def _on_runtime(coro: Coroutine[Any, Any, T], budget: _Budget, phase: str) -> T:
    """Run ``coro`` on the kit's runtime thread within the budget.

    Like ``runtime.run``, but waits in short slices: a Ctrl-C that the system delivers to
    the busy runtime thread is then still acted on by the main thread within a moment.
    """
    future = runtime.submit(coro)
    try:
        while not future.done():
            concurrent.futures.wait([future], timeout=min(0.25, budget.left(phase)))
        return future.result()
    except BaseException:
        future.cancel()
        raise


def _expect(conn: Any, process: Any, kind: str, budget: _Budget, phase: str) -> Any:
    """The next message from the clients process, which must be ``kind``."""
    while True:
        if conn.poll(min(0.5, budget.left(phase))):
            try:
                tag, *payload = conn.recv()
            except EOFError:
                raise FanoutError(
                    f"the clients process ended while {phase} (exit code {process.exitcode})"
                ) from None
            if tag == "error":
                raise FanoutError(f"the clients process failed while {phase}:\n{payload[0]}")
            if tag != kind:
                raise FanoutError(f"expected {kind!r} from the clients process, got {tag!r}")
            return payload[0] if payload else None
        if not process.is_alive() and not conn.poll(0):
            raise FanoutError(
                f"the clients process exited with code {process.exitcode} while {phase}"
            )


def _end_clients_process(conn: Any, process: Any) -> None:
    """Ask the clients process to disconnect and exit; kill it if it does not."""
    if process.is_alive():
        _send(conn, ("stop",))
        process.join(STOP_GRACE)
    if process.is_alive():
        process.terminate()
        process.join(5)
    if process.is_alive():  # pragma: no cover - SIGTERM ignored
        process.kill()
        process.join(5)


def measure(
    clients: int,
    messages: int,
    transport: str = "websocket",
    *,
    timeout: float = 300.0,
    concurrency: int = 50,
    quiet_seconds: float = QUIET_SECONDS,
    server: str = "python-socketio",
    client_processes: int | None = None,
    client_kind: str = "python",
) -> FanoutResult:
    """Run one fan-out: serve, connect ``clients`` clients, broadcast ``messages``, count.

    ``server`` is one of :data:`SERVERS`; the clients are the same for each: of
    ``client_kind`` (one of :data:`CLIENT_KINDS`), spread over ``client_processes``
    processes (default :func:`default_client_processes`).

    Leaves nothing behind: the clients processes are joined (or killed) and the server
    stopped, also on errors and Ctrl-C. The kit's runtime thread stays up; call
    ``kit.stop_all()`` to end it too.

    Raises:
        FanoutError: a client could not connect, a process failed, or the run took longer
            than ``timeout`` seconds.
    """
    if clients < 1 or messages < 1 or concurrency < 1:
        raise ValueError("clients, messages and concurrency must be at least 1")
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {TRANSPORTS}, not {transport!r}")
    if server not in SERVERS:
        raise ValueError(f"server must be one of {SERVERS}, not {server!r}")
    if client_processes is None:
        client_processes = default_client_processes(clients)
    if client_processes < 1:
        raise ValueError(f"client_processes must be at least 1, not {client_processes}")
    if client_kind not in CLIENT_KINDS:
        raise ValueError(f"client_kind must be one of {CLIENT_KINDS}, not {client_kind!r}")
    budget = _Budget(timeout)
    raise_open_file_limit(_files_needed(clients, transport, "server"), "server process")
    if server == "node":
        from kit.bench.node import NodeServer, NodeUnavailable

        try:
            node = NodeServer()
        except NodeUnavailable as exc:
            raise FanoutError(str(exc)) from None
        try:
            plan = ClientsPlan(
                node.url, clients, messages, transport, concurrency, quiet_seconds=quiet_seconds
            )
            return _run_with_clients(node, None, plan, (client_processes, client_kind), budget)
        finally:
            node.stop()
    sio, drops = _fanout_server(server)
    served = kit.serve(sio, name="bench-fanout")
    try:
        plan = ClientsPlan(
            served.url, clients, messages, transport, concurrency, quiet_seconds=quiet_seconds
        )
        result = _run_with_clients(sio, drops, plan, (client_processes, client_kind), budget)
        return dataclasses.replace(result, server=server)
    finally:
        served.stop()


def _run_with_clients(
    sio: Any,
    drops: collections.Counter[str] | None,
    plan: ClientsPlan,
    clients: tuple[int, str],
    budget: _Budget,
) -> FanoutResult:
    """Start the clients processes (how many, what kind), drive them through the run, and
    always end them."""
    from kit.bench.node import NodeServer

    node = sio if isinstance(sio, NodeServer) else None
    phase = f"connecting {plan.clients} clients"
    audience = ClientsProcesses(plan, *clients)
    try:
        connect = audience.connect(budget, phase)
        phase = "checking the room"
        in_room = node.room_size() if node else _on_runtime(_room_size(sio), budget, phase)
        if in_room != plan.clients:
            raise FanoutError(f"{in_room} clients are in the room, expected {plan.clients}")

        phase = f"emitting {plan.messages} messages"
        process_cpu_started = time.process_time()
        if node:
            started, thread_cpu_started, emitted = node.broadcast(plan.messages)
        else:
            started, thread_cpu_started, emitted = _on_runtime(
                _broadcast(sio, plan.messages), budget, phase
            )
        phase = "waiting for the deliveries"
        report = audience.collect(budget, phase)
        peak: int | None
        if node:  # its CPU is the whole Node process's: it runs the server only
            thread_cpu, peak, server_drops = node.cpu()
            process_cpu = thread_cpu - thread_cpu_started
        else:
            # Read on the runtime thread, which counts the drops; before the goodbyes.
            thread_cpu, server_drops = _on_runtime(_server_figures(drops), budget, phase)
            process_cpu = time.process_time() - process_cpu_started
            peak = _peak_rss()

        phase = "disconnecting the clients"
        audience.disconnect(budget, phase)
    finally:
        audience.end()

    return fanout_result(
        plan,
        connect,
        report,
        started=started,
        emitted=emitted,
        thread_cpu_seconds=thread_cpu - thread_cpu_started,
        process_cpu_seconds=process_cpu,
        server="node" if node else "python-socketio",
        client_kind=clients[1],
        server_peak_bytes=peak,
        server_drop_reasons=tuple(collections.Counter(server_drops).most_common()),
    )


def _peak_rss() -> int | None:
    """This process's peak resident set in bytes (Linux and macOS), or None."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# -- the report --------------------------------------------------------------------------


def _number(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}" if unit else text


def _reasons(result: FanoutResult, *, server: bool = False) -> str:
    reasons = result.server_drop_reasons if server else result.drop_reasons
    return ", ".join(f"{reason} x{count}" for reason, count in reasons[:3])


def _shares(result: FanoutResult) -> str:
    shares = ", ".join(str(clients) for _, clients in result.client_processes)
    return f"{result.client_kind}, clients each: {shares}"


def format_report(result: FanoutResult) -> str:
    """The table ``python -m kit.bench fanout`` prints, one figure per row."""
    ms = 1000.0
    p50 = None if result.latency_p50 is None else result.latency_p50 * ms
    p99 = None if result.latency_p99 is None else result.latency_p99 * ms
    rows = [
        ("server", result.server, ""),
        ("clients", _number(result.clients), ""),
        ("messages", _number(result.messages), ""),
        ("transport", result.transport, ""),
        ("connect time, all clients", _number(result.connect_seconds, "s", 2), ""),
        ("expected deliveries", _number(result.expected), "clients x messages"),
        ("deliveries received", _number(result.received), ""),
        ("lost deliveries", _number(result.lost), "ok" if result.lost == 0 else "LOST"),
        ("duplicates", _number(result.duplicates), ""),
        ("out of order", _number(result.out_of_order), ""),
        ("dropped connections", _number(result.dropped_connections), _reasons(result)),
        (
            "dropped by the server",
            _number(sum(count for _, count in result.server_drop_reasons)),
            _reasons(result, server=True),
        ),
        ("emit calls returned", _number(result.emit_seconds, "s", 3), "after the first emit"),
        ("broadcast wall time", _number(result.broadcast_seconds, "s", 3), "to last delivery"),
        ("deliveries/s", _number(result.deliveries_per_second), ""),
        (
            "server CPU per delivery",
            _number(result.cpu_us_per_delivery(result.thread_cpu_seconds), "us", 1),
            "runtime thread",
        ),
        (
            "server CPU per delivery",
            _number(result.cpu_us_per_delivery(result.process_cpu_seconds), "us", 1),
            "whole server process",
        ),
        ("clients processes", _number(len(result.client_processes)), _shares(result)),
        (
            "clients process busy",
            _number(None if result.clients_busy is None else result.clients_busy * 100, "%"),
            "CPU/wall while receiving, the busiest",
        ),
        ("delivery latency p50", _number(p50, "ms", 1), "time.time() across processes"),
        ("delivery latency p99", _number(p99, "ms", 1), ""),
        ("server peak memory", _number(_mb(result.server_peak_bytes), "MB"), _peak_note(result)),
    ]
    header = f"{'measure':<28}{'value':>16}  note"
    lines = [header, "-" * (len(header) + 26)]
    lines += [f"{name:<28}{value:>16}  {note}".rstrip() for name, value, note in rows]
    lines.append("\ntarget: lost deliveries = 0")
    return "\n".join(lines)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _mb(size: int | None) -> float | None:
    return None if size is None else size / 2**20


def _peak_note(result: FanoutResult) -> str:
    if result.server == "node":
        return "Node's process, sampled every 50 ms"
    return "this process since it started (it runs the server)"


def format_comparison(results: list[FanoutResult]) -> str:
    """Several servers side by side, each against the first: what ``--server a,b`` prints."""
    base = results[0]
    base_cpu = base.cpu_us_per_delivery(base.thread_cpu_seconds)
    header = (
        f"{'server':<18}{'deliveries/s':>14}{'CPU/delivery':>14}{'x ' + base.server:>18}"
        f"{'peak MB':>9}{'p50 ms':>9}{'p99 ms':>9}{'lost':>9}{'dups':>7}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        cpu = result.cpu_us_per_delivery(result.thread_cpu_seconds)
        ratio = None if cpu is None or not base_cpu else cpu / base_cpu
        lines.append(
            f"{result.server:<18}{_number(result.deliveries_per_second):>14}"
            f"{_number(cpu, 'us', 1):>14}{_number(ratio, '', 2):>18}"
            f"{_number(_mb(result.server_peak_bytes)):>9}"
            f"{_number(_ms(result.latency_p50)):>9}{_number(_ms(result.latency_p99)):>9}"
            f"{_number(result.lost):>9}{_number(result.duplicates):>7}"
        )
    lines.append(
        "CPU/delivery: during the broadcast, the runtime thread (Python servers) or the Node "
        f"process; the same {base.client_kind} clients for all, in "
        f"{len(base.client_processes)} processes"
    )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clients", type=int, default=1000, help="clients in the room (default 1000)"
    )
    parser.add_argument(
        "--messages", type=int, default=100, help="messages broadcast to the room (default 100)"
    )
    parser.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default="websocket",
        help="the clients' only engine.io transport (default websocket)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=50,
        help="clients connecting at the same time (default 50)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds the whole run may take before it fails (default 300)",
    )
    parser.add_argument(
        "--servers",
        type=int,
        default=1,
        help="server processes sharing one Redis (default 1: one process, no Redis); with "
        "2 or more, a one-process baseline runs first and the added latency is reported",
    )
    parser.add_argument(
        "--server",
        default="python-socketio",
        help="the server(s) to measure, comma-separated and side by side: "
        f"{', '.join(SERVERS)} (default python-socketio)",
    )
    parser.add_argument(
        "--client-processes",
        type=int,
        default=None,
        help="processes the clients are spread over, so that they keep up with the server "
        "(default: one per core, at least 2)",
    )
    parser.add_argument(
        "--client-kind",
        choices=CLIENT_KINDS,
        default=None,
        help="python-socketio clients, or the official JS client in Node (default: node "
        "where Node.js and npm are installed, else python)",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a delivery is lost"
    )


def run(args: argparse.Namespace) -> int:
    if args.clients < 1 or args.messages < 1 or args.concurrency < 1:
        raise SystemExit("--clients, --messages and --concurrency must be at least 1")
    if args.timeout <= 0:
        raise SystemExit("--timeout must be positive")
    if args.servers < 1:
        raise SystemExit("--servers must be at least 1")
    if args.client_processes is not None and args.client_processes < 1:
        raise SystemExit("--client-processes must be at least 1")
    processes = args.client_processes or default_client_processes(args.clients)
    kind = args.client_kind or default_client_kind()
    servers = [name.strip() for name in args.server.split(",") if name.strip()]
    unknown = [name for name in servers if name not in SERVERS]
    if unknown or not servers:
        raise SystemExit(f"--server takes {', '.join(SERVERS)} (comma-separated), not {unknown}")
    if args.servers > 1 and servers != ["python-socketio"]:
        raise SystemExit("--servers N runs python-socketio processes on Redis; drop --server")
    if args.servers > 1:
        from kit.bench import cluster

        return cluster.run(args)
    print(
        f"kit.bench fanout: {args.clients} socket.io clients in one room, "
        f"{args.messages} broadcasts, {args.transport} transport, "
        f"server {' then '.join(servers)}; {kind} clients in {processes} processes\n",
        flush=True,
    )
    results: list[FanoutResult] = []
    try:
        for name in servers:
            result = measure(
                args.clients,
                args.messages,
                args.transport,
                timeout=args.timeout,
                concurrency=args.concurrency,
                server=name,
                client_processes=processes,
                client_kind=kind,
            )
            results.append(result)
            print(format_report(result) + "\n", flush=True)
    except FanoutError as exc:
        print(f"kit.bench fanout failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kit.bench fanout: interrupted; clients and server stopped", file=sys.stderr)
        return 130
    finally:
        kit.stop_all()
    if len(results) > 1:
        print(format_comparison(results))
    return 1 if args.check and any(result.lost for result in results) else 0
