"""Slow, flooding and rude peers against the kit's servers: who pays, and how much.

``python -m kit.bench hostile [--only NAME ...]`` runs each scenario against servers started
with ``kit.serve`` on the kit's runtime thread, exactly as in a lesson's kernel, with the
hostile peers of :mod:`kit.bench.peers` (raw sockets) and, for the crowd scenarios, a
process of python-socketio clients (:mod:`kit.bench.crowd`). Per scenario it prints the
figures below and checks them against the bounds the kit promises:

==============  ===================================================  =====================
scenario        what happens                                         bound
==============  ===================================================  =====================
slow-reader     a from-scratch broadcast server; one client never    every message reaches
                reads; another sends 160 x 64 KiB; a bystander       the bystander, p99
                measures each message's delay                        under 1 s
chat-reader     the same with kit.chat_app(): a raw socket.io peer   all delivered, p99
                stops reading; 300 messages of 4 KiB                  under 1 s
stuck-stop      websockets, from-scratch, chat and tap servers,      re-serve and
                each with a peer that does not read: re-serve the    stop_all() under 1 s,
                name, then kit.stop_all()                            no error, no "Task was
                                                                     destroyed" log
tap-bomb        a permessage-deflate frame of ~200 KB that inflates  RSS +64 MiB at most,
                to 200 MiB, sent through kit.tap to a websockets     loop never blocked
                server                                               100 ms, closed 1009
tap-leave       through the tap, a client floods an echo server      the relay lets go
                without reading, then leaves                         within 2 s
fragments       1,000,000 empty CONT frames at the from-scratch      closed with 1009;
                server while a bystander measures round trips        bystander p99 < 100 ms
burst           N chat clients each send M messages within S         nobody dropped; every
                seconds into one room (default 200 x 10 in 5 s)      accepted message
                                                                     delivered or counted
                                                                     as missed
paced           the same spread over a longer time                   also kit.run() p99
                                                                     under 50 ms
==============  ===================================================  =====================

The crowd's clients stand for a class's machines; on one machine they compete with the
kernel's servers for the CPU. ``--crowd-nice N`` runs their processes N nice steps lower,
so the servers have the CPU first, as they would with the clients elsewhere.

"Loop blocked" is the longest the kit's runtime loop went without running a watchdog
task that asks to wake every 10 ms. "kit.run p99" is the time a cell waits for
``kit.run(<no-op>)`` while the scenario runs, sampled every 20 ms from the main thread.
"Runtime thread CPU / wall" (crowd scenarios) is the CPU time that thread used against
the time the crowd ran: a long ``kit.run`` wait with a low share means the loop had little
to do and the thread was waiting for a core (on a machine shared with the crowd's
processes, or anything else). "What the clients logged" counts the warnings and errors
of the clients' own libraries (a client that drops itself says why there). "Garbage
collections" counts the collector's runs in the kernel's process per generation and the
longest of each (``gc.callbacks``): a collection holds the GIL, so it stalls the loop and
every waiting cell. "Delivery budget" is the chat's ``max_deliveries`` (``--max-deliveries``).
Peak RSS is the whole process's (the servers and the tap live in it).

Why this module is long: each scenario is a small program of its own (a server, its rude
peers, a bystander and their measurements); they share only the reporting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import kit
from kit.apps.scratch import ScratchServer
from kit.bench import peers
from kit.bench.crowd import CrowdPlan, CrowdReport, crowd_process, merge
from kit.runtime.loop import runtime
from kit.wire import Frame, Opcode

__all__ = ["SCENARIOS", "Result", "add_arguments", "run"]


@dataclass
class Result:
    """One scenario: figures to print and bounds checked."""

    name: str
    figures: list[tuple[str, str]] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)
    timed: set[str] = field(default_factory=set)
    """The checks that are about speed (the others hold whatever the machine)."""

    def figure(self, label: str, value: str) -> None:
        self.figures.append((label, value))

    def check(self, bound: str, ok: bool, *, timed: bool = False) -> None:
        self.checks.append((bound, ok))
        if timed:
            self.timed.add(bound)

    @property
    def passed(self) -> bool:
        return all(ok for _, ok in self.checks)


# -- measuring while something runs ------------------------------------------------------


class LoopWatch:
    """The runtime loop's longest stall, seen by a task that wakes every 10 ms."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: Any = None

    async def _watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.longest = max(self.longest, time.perf_counter() - before - 0.01)

    def __enter__(self) -> LoopWatch:
        async def start() -> None:
            self._task = asyncio.ensure_future(self._watch())

        runtime.run(start(), 5)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

        runtime.run(stop(), 5)


class CallSampler:
    """``kit.run(<no-op>)`` from the main thread every 20 ms: what a cell would wait."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()

    def sample_while(self, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            before = time.perf_counter()
            kit.run(asyncio.sleep(0), timeout=30)
            self.samples.append(time.perf_counter() - before)
            time.sleep(0.02)


class RuntimeCPU:
    """CPU time the kit's runtime thread used while the block ran, against the wall clock.

    The thread reads its own ``time.thread_time()``. When a cell's ``kit.run`` waits long
    while this share is low, the loop was not busy: the thread was waiting for a core.
    """

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0

    @staticmethod
    async def _thread_time() -> float:
        return time.thread_time()

    def __enter__(self) -> RuntimeCPU:
        self._cpu, self._wall = runtime.run(self._thread_time(), 5), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = runtime.run(self._thread_time(), 30) - self._cpu
        self.wall = time.perf_counter() - self._wall


class GCWatch:
    """The garbage collector's pauses while the block runs (``gc.callbacks``).

    A full (generation 2) collection walks every object the process keeps; in a kernel
    running servers for hundreds of clients it stops whichever thread triggered it, the
    runtime loop included, for tens of milliseconds.
    """

    def __init__(self) -> None:
        self.longest = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        self.counts[generation] += 1
        self.longest[generation] = max(
            self.longest[generation], time.perf_counter() - self._started
        )

    def __enter__(self) -> GCWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def __str__(self) -> str:
        return ", ".join(
            f"gen {generation}: {count} x, longest {ms(longest)}"
            for generation, (count, longest) in enumerate(
                zip(self.counts, self.longest, strict=True)
            )
        )


class RSSPeak:
    """The process's peak resident memory while the block runs (sampled every 10 ms)."""

    def __init__(self) -> None:
        import psutil  # the tests extra has it; only this benchmark needs it

        self.process = psutil.Process()
        self.before = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="rss-peak")

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> RSSPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def grown(self) -> int:
        return self.peak - self.before


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def mib(size: float) -> str:
    return f"{size / 2**20:,.1f} MiB"


@contextlib.contextmanager
def fresh_kit() -> Iterator[None]:
    """Each scenario starts and ends with nothing running."""
    kit.stop_all()
    try:
        yield
    finally:
        kit.stop_all()


# -- scenarios ---------------------------------------------------------------------------


async def _flood(websocket: Any) -> None:
    import websockets

    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            await websocket.send("x" * 65536)


async def _echo(websocket: Any) -> None:
    import websockets

    with contextlib.suppress(websockets.ConnectionClosed):
        async for message in websocket:
            await websocket.send(message)


def slow_reader(args: argparse.Namespace) -> Result:
    result = Result("slow-reader")
    with fresh_kit():
        server = kit.serve(ScratchServer("broadcast"), name="room")
        stalled = peers.stalled_websocket(server.port)
        bystander, sender = kit.WebSocket(server.ws_url), kit.WebSocket(server.ws_url)
        bystander.wait_open()
        sender.wait_open()
        delays, count = [], 160
        for _ in range(count):
            sender.send(f"{time.time():.6f} " + "y" * 65536)
        with contextlib.suppress(TimeoutError):
            for _ in range(count):
                message = bystander.wait_message(timeout=5)
                delays.append(time.time() - float(str(message.data).split(" ", 1)[0]))
        stalled.close()
    result.figure("bystander received", f"{len(delays)} of {count}")
    result.figure("bystander delay p99", ms(percentile(delays, 0.99)))
    result.check("bystander receives every message", len(delays) == count)
    result.check("bystander delay p99 < 1 s", percentile(delays, 0.99) < 1.0, timed=True)
    return result


def chat_reader(args: argparse.Namespace) -> Result:
    result = Result("chat-reader")
    with fresh_kit():
        chat = kit.chat_app(max_text=5000)
        server = kit.serve(chat, name="chat")
        bystander = kit.SocketIOClient(server)
        bystander.wait_for("new message")  # the welcome
        stalled = peers.stalled_socketio(server.port)
        sender = kit.SocketIOClient(server)
        count, text = 300, "z" * 4000
        answers = [
            sender.call("recive message", {"message": f"{time.time():.6f} {text}"})
            for _ in range(count)
        ]
        delays = []
        with contextlib.suppress(TimeoutError):
            for _ in range(count):
                (data,) = bystander.wait_for("new message", timeout=5)
                delays.append(time.time() - float(data["mess"].split(" ", 1)[0]))
        behind = max(
            (chat.backlog(sid) for sid, _ in chat.sio.manager.get_participants("/", None)),
            default=0,
        )
        stalled.close()
    accepted = sum(1 for answer in answers if answer == {"ok": True})
    result.figure("messages accepted", f"{accepted} of {count}")
    result.figure("bystander received", f"{len(delays)} of {accepted}")
    result.figure("bystander delay p99", ms(percentile(delays, 0.99)))
    result.figure("largest queue left", f"{behind} packets (max_backlog {chat.max_backlog})")
    result.check("bystander receives every accepted message", len(delays) == accepted > 0)
    result.check("bystander delay p99 < 1 s", percentile(delays, 0.99) < 1.0, timed=True)
    result.check("no queue grows past max_backlog", behind <= chat.max_backlog + 2)
    return result


class _TaskDestroyed(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Task was destroyed" in record.getMessage():
            self.seen += 1


def _load(kind: str, server: kit.Server) -> None:
    """Make ``server`` write to its peers, so that a peer that does not read is stuck."""
    if kind == "scratch":
        talker = kit.WebSocket(server.ws_url)
        talker.wait_open()
        for _ in range(100):
            talker.send("y" * 65536)
    elif kind == "chat":
        chatter = kit.SocketIOClient(server.url)
        for _ in range(300):
            chatter.emit("recive message", {"message": "w" * 480})
    time.sleep(0.5)  # the flood (websockets, tap) fills the buffers meanwhile


def stuck_stop(args: argparse.Namespace) -> Result:
    result = Result("stuck-stop")
    watcher = _TaskDestroyed()
    logging.getLogger("asyncio").addHandler(watcher)
    kinds: list[tuple[str, Callable[[], Any], Callable[[int], socket.socket]]] = [
        ("websockets", lambda: _flood, peers.stalled_websocket),
        ("scratch", lambda: ScratchServer("broadcast"), peers.stalled_websocket),
        ("chat", kit.chat_app, peers.stalled_socketio),
        ("tap", lambda: _flood, peers.stalled_websocket),
    ]
    try:
        for kind, make, stall in kinds:
            with fresh_kit():
                old = kit.serve(make(), name="s")
                target = kit.tap(old) if kind == "tap" else old
                rude = stall(target.port)
                _load(kind, old)
                before = time.perf_counter()
                error = ""
                try:
                    if kind == "tap":
                        kit.tap(old)
                    else:
                        kit.serve(make(), name="s")
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                reserve = time.perf_counter() - before
                running = len(kit.running_servers())
                # And stop_all() with a peer stuck on the new server.
                new = next(
                    s
                    for s in kit.running_servers()
                    if s.name.startswith("tap" if kind == "tap" else "s")
                )
                second = stall(new.port)
                _load(kind, kit.running_servers()[0])
                before = time.perf_counter()
                kit.stop_all()
                stop_all = time.perf_counter() - before
                rude.close()
                second.close()
            result.figure(f"{kind}: re-serve", ms(reserve) + (f" ({error})" if error else ""))
            result.figure(f"{kind}: stop_all()", ms(stop_all))
            result.check(f"{kind}: re-serve without error", not error)
            result.check(f"{kind}: re-serve < 1 s", reserve < 1.0, timed=True)
            result.check(f"{kind}: the new server runs", running >= 1)
            result.check(f"{kind}: stop_all() < 1 s", stop_all < 1.0, timed=True)
    finally:
        logging.getLogger("asyncio").removeHandler(watcher)
    result.figure("'Task was destroyed' logged", str(watcher.seen))
    result.check("no 'Task was destroyed'", watcher.seen == 0)
    return result


def tap_bomb(args: argparse.Namespace) -> Result:
    result = Result("tap-bomb")
    bomb = peers.masked(peers.deflate_bomb(200 * 2**20))
    with fresh_kit():
        server = kit.serve(_echo, name="echo")
        tap = kit.tap(server)
        sock, _ = peers.websocket_upgrade(
            tap.port, extensions="permessage-deflate; client_max_window_bits", rcvbuf=None
        )
        close_code = None
        with RSSPeak() as rss, LoopWatch() as loop:
            sock.sendall(bomb)
            sock.settimeout(10)
            data = b""
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    data += chunk
            if len(data) >= 4 and data[0] & 0x0F == Opcode.CLOSE:
                close_code = int.from_bytes(data[2:4], "big")
        sock.close()
        rows = tap.select("invalid message")
    result.figure("bomb", f"{mib(len(bomb) * 1.0)} on the wire, 200 MiB inflated")
    result.figure("RSS grew by (peak)", mib(rss.grown))
    result.figure("loop blocked at most", ms(loop.longest))
    result.figure("close code", str(close_code))
    result.figure("tap's row", rows[0].summary[:70] + "..." if rows else "none")
    result.check("RSS grows by less than 64 MiB", rss.grown < 64 * 2**20)
    result.check("loop never blocked 100 ms", loop.longest < 0.1, timed=True)
    result.check("the connection ends with 1009", close_code == 1009)
    return result


def tap_leave(args: argparse.Namespace) -> Result:
    result = Result("tap-leave")
    with fresh_kit():
        server = kit.serve(_echo, name="echo")
        tap = kit.tap(server)
        rude, _ = peers.websocket_upgrade(tap.port)
        rude.setblocking(False)
        message = peers.masked(Frame(Opcode.BINARY, b"e" * 65536))
        pending, refused = memoryview(b""), 0
        while refused < 3:
            try:
                pending = pending or memoryview(message)
                pending = pending[rude.send(pending) :]
                refused = 0
            except BlockingIOError:
                refused += 1
                time.sleep(0.2)
        rude.close()
        left = time.perf_counter()
        while tap.connections and time.perf_counter() - left < 10:
            time.sleep(0.01)
        let_go = time.perf_counter() - left
        connections = tap.connections
    result.figure("relay let go after", ms(let_go))
    result.check("the relay lets go", connections == 0)
    result.check("relay lets go within 2 s", let_go < 2.0, timed=True)
    return result


def fragments(args: argparse.Namespace) -> Result:
    result = Result("fragments")
    flood = peers.empty_fragments(1_000_000)
    with fresh_kit():
        server = kit.serve(ScratchServer("echo"), name="scratch")
        bystander = kit.WebSocket(server.ws_url)
        bystander.wait_open()
        sock, _ = peers.websocket_upgrade(server.port, rcvbuf=None)
        done = threading.Event()
        close_code: list[int] = []

        def attack() -> None:
            with contextlib.suppress(OSError):
                sock.sendall(flood)
            with contextlib.suppress(OSError):
                sock.settimeout(5)
                data = sock.recv(65536)
                if len(data) >= 4 and data[0] & 0x0F == Opcode.CLOSE:
                    close_code.append(int.from_bytes(data[2:4], "big"))
            done.set()

        attacker = threading.Thread(target=attack, name="fragment-flood")
        started = time.process_time()
        attacker.start()
        round_trips: list[float] = []
        while not done.is_set() or len(round_trips) < 20:
            before = time.perf_counter()
            bystander.send("ping")
            bystander.wait_message(timeout=10)
            round_trips.append(time.perf_counter() - before)
            if len(round_trips) > 2000:
                break
        attacker.join()
        cpu = time.process_time() - started
        sock.close()
    result.figure("flood", f"{mib(len(flood))} of empty CONT frames")
    result.figure("close code", str(close_code[0] if close_code else None))
    result.figure("process CPU during the flood", f"{cpu:.2f} s")
    result.figure("bystander round trip p99", ms(percentile(round_trips, 0.99)))
    result.check("the flood is cut off with 1009", close_code == [1009])
    result.check("bystander p99 < 100 ms", percentile(round_trips, 0.99) < 0.1, timed=True)
    return result


def _crowd(name: str, args: argparse.Namespace, spread: float, call_bound: float | None) -> Result:
    result = Result(name)
    with fresh_kit():
        chat = kit.chat_app()
        budget = getattr(args, "max_deliveries", None)
        if budget is not None:
            chat.max_deliveries = budget or None
        server = kit.serve(chat, name="chat")
        plan = CrowdPlan(server.url, args.clients, args.messages, spread, nice=args.crowd_nice)
        # The crowd is split over processes so that a delivery the clients cannot take in
        # time is the clients' lag, not the server's: each process has a share.
        shares = [len(part) for part in _split(args.clients, args.crowd_processes)]
        context = multiprocessing.get_context("spawn")
        pipes, processes, first = [], [], 0
        for share in shares:
            parent, child = context.Pipe()
            part = CrowdPlan(
                server.url, share, args.messages, spread, first=first, nice=args.crowd_nice
            )
            process = context.Process(target=crowd_process, args=(child, part), name="crowd")
            pipes.append(parent)
            processes.append((process, child))
            first += share
        reports: list[CrowdReport] = []
        errors: list[object] = []
        with RSSPeak() as rss, LoopWatch() as loop, RuntimeCPU() as cpu, GCWatch() as collections:
            for process, child in processes:
                process.start()
                child.close()
            sampler = CallSampler()
            # The crowd connects (500 clients take minutes on a busy machine); once every
            # process says its clients are connected, all start sending at one time (a
            # process that started early would send to clients not there yet), for
            # `spread` seconds, then wait up to plan.timeout for the deliveries to stop;
            # the processes end on their own, so wait for their reports or their end.
            early: dict[int, tuple[str, object]] = {}

            def all_connected() -> bool:
                for index, pipe in enumerate(pipes):
                    if index not in early and pipe.poll():
                        early[index] = pipe.recv()
                return len(early) == len(pipes) or not any(p.is_alive() for p, _ in processes)

            sampler.sample_while(all_connected, timeout=600)
            start_at = time.time() + 0.5
            for index, pipe in enumerate(pipes):
                if early.get(index, ("",))[0] == "connected":
                    pipe.send(start_at)
            sampler.sample_while(
                lambda: (
                    all(pipe.poll() for pipe in pipes)
                    or not any(process.is_alive() for process, _ in processes)
                ),
                timeout=spread + plan.timeout + 600,
            )
            for index, pipe in enumerate(pipes):
                said = early.get(index)
                if said is not None and said[0] != "connected":
                    kind, report = said  # it failed before it was connected
                else:
                    kind, report = pipe.recv() if pipe.poll(30) else ("error", "no report")
                if kind == "report" and isinstance(report, CrowdReport):
                    reports.append(report)
                else:
                    errors.append(report)
        for process, _ in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    if errors:
        result.figure("crowd failed", "; ".join(str(error) for error in errors))
        result.check("the crowd ran", False)
        return result
    return _crowd_result(
        result,
        merge(reports),
        plan,
        sampler,
        rss,
        loop,
        cpu,
        collections,
        call_bound,
        chat.max_deliveries,
    )


def _split(count: int, parts: int) -> list[range]:
    size, extra = divmod(count, parts)
    ranges, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        if end > start:
            ranges.append(range(start, end))
        start = end
    return ranges


def _crowd_result(
    result: Result,
    report: CrowdReport,
    plan: CrowdPlan,
    sampler: CallSampler,
    rss: RSSPeak,
    loop: LoopWatch,
    cpu: RuntimeCPU,
    collections: GCWatch,
    call_bound: float | None,
    chat_budget: int | None,
) -> Result:
    accepted = sum(len(numbers) for numbers in report.accepted.values())
    expected = accepted * report.connected
    received = sum(report.received.values())
    missed = sum(report.missed.values())
    lost = expected - received - missed
    reasons = sorted({reason.split(":")[0] for reason in report.refused})
    result.figure("clients connected", f"{report.connected} of {plan.clients}")
    result.figure("messages", f"{plan.clients * plan.messages} sent within {plan.spread:g} s")
    if plan.nice:
        result.figure(
            "crowd processes", f"nice +{plan.nice} (the server's process has the CPU first)"
        )
    result.figure("delivery budget", f"{chat_budget:,} a second" if chat_budget else "none")
    result.figure("accepted / refused", f"{accepted} / {len(report.refused)} {reasons}")
    result.figure("unanswered", str(report.unanswered))
    result.figure("deliveries expected", f"{expected:,}")
    result.figure("received / missed (told)", f"{received:,} / {missed:,}")
    result.figure("lost", f"{lost:,}")
    if lost:
        result.figure("where deliveries are short", _shortfall(report))
    result.figure("duplicates", str(report.duplicates))
    result.figure(
        "clients dropped", f"{len(report.disconnects)} {sorted(set(report.disconnects.values()))}"
    )
    if report.client_errors:
        causes = "; ".join(f"{count} x {error}" for error, count in report.client_errors.items())
        result.figure("what the clients logged", causes)
    result.figure(
        "delivery latency p50 / p99",
        f"{ms(percentile(report.latencies, 0.5))} / {ms(percentile(report.latencies, 0.99))}",
    )
    calls = sampler.samples
    result.figure(
        "kit.run p50 / p99",
        f"{ms(percentile(calls, 0.5))} / {ms(percentile(calls, 0.99))} ({len(calls)} samples)",
    )
    result.figure("loop blocked at most", ms(loop.longest))
    result.figure(
        "runtime thread CPU / wall",
        f"{cpu.cpu:,.1f} s / {cpu.wall:,.1f} s ({cpu.cpu / max(cpu.wall, 1e-9):.0%})",
    )
    result.figure("garbage collections", str(collections))
    result.figure("peak RSS growth", mib(rss.grown))
    result.check("every client connected", report.connected == plan.clients)
    result.check("no client dropped", not report.disconnects)
    result.check("every message answered", report.unanswered == 0)
    result.check("0 lost (received + missed-and-told = expected)", lost == 0)
    if call_bound is not None:
        p99 = percentile(sampler.samples, 0.99)
        result.check(f"kit.run p99 < {call_bound * 1000:.0f} ms", p99 < call_bound, timed=True)
    return result


def _shortfall(report: CrowdReport) -> str:
    """Which clients lack accepted messages (beyond what they were told they missed)."""
    sent = {(sender, number) for sender, numbers in report.accepted.items() for number in numbers}
    short = []
    for client, pairs in sorted(report.received_pairs.items()):
        missing = sorted(sent - set(pairs))
        told = report.missed.get(client, 0)
        if len(missing) > told:
            short.append(
                f"client {client}: {len(missing)} missing, {told} told, e.g. {missing[:3]}"
            )
    return f"{len(short)} clients; " + "; ".join(short[:5])


def burst(args: argparse.Namespace) -> Result:
    return _crowd("burst", args, args.spread, None)


def paced(args: argparse.Namespace) -> Result:
    return _crowd("paced", args, args.paced_spread, 0.05)


SCENARIOS: dict[str, Callable[[argparse.Namespace], Result]] = {
    "slow-reader": slow_reader,
    "chat-reader": chat_reader,
    "stuck-stop": stuck_stop,
    "tap-bomb": tap_bomb,
    "tap-leave": tap_leave,
    "fragments": fragments,
    "burst": burst,
    "paced": paced,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only", nargs="+", choices=sorted(SCENARIOS), help="run these scenarios only"
    )
    parser.add_argument("--clients", type=int, default=200, help="crowd size (default 200)")
    parser.add_argument(
        "--messages", type=int, default=10, help="messages per crowd client (default 10)"
    )
    parser.add_argument(
        "--spread", type=float, default=5.0, help="seconds a burst is sent within (default 5)"
    )
    parser.add_argument(
        "--paced-spread",
        type=float,
        default=40.0,
        help="seconds the paced run is sent within (default 40)",
    )
    parser.add_argument(
        "--crowd-processes",
        type=int,
        default=2,
        help="processes the crowd's clients are spread over (default 2)",
    )
    parser.add_argument(
        "--crowd-nice",
        type=int,
        default=0,
        help="nice increment for the crowd's processes: they stand for other machines, so a "
        "positive value lets the kernel's servers have the CPU first (default 0)",
    )
    parser.add_argument(
        "--max-deliveries",
        type=int,
        default=None,
        help="the chat's delivery budget, deliveries a second (default: the chat's own, "
        "kit.apps.chat.MAX_DELIVERIES; 0: no budget)",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a bound is not met"
    )


def format_result(result: Result) -> str:
    lines = [f"== {result.name}: {'pass' if result.passed else 'FAIL'}"]
    lines += [f"   {label:<34}{value}" for label, value in result.figures]
    lines += [f"   [{'ok' if ok else 'FAIL'}] {bound}" for bound, ok in result.checks]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if (
        min(args.clients, args.messages, args.crowd_processes) < 1
        or min(args.spread, args.paced_spread) <= 0
    ):
        raise SystemExit(
            "--clients, --messages, --crowd-processes, --spread and --paced-spread must be positive"
        )
    if args.max_deliveries is not None and args.max_deliveries < 0:
        raise SystemExit(f"--max-deliveries is 0 (no budget) or more, not {args.max_deliveries}")
    if not 0 <= args.crowd_nice <= 19:
        raise SystemExit(f"--crowd-nice is 0 to 19 (a nice increment), not {args.crowd_nice}")
    names = args.only or list(SCENARIOS)
    print(f"kit.bench hostile: {', '.join(names)}\n", flush=True)
    results = []
    for name in names:
        result = SCENARIOS[name](args)
        results.append(result)
        print(format_result(result) + "\n", flush=True)
    failed = [r.name for r in results if not r.passed]
    print(
        f"{len(results) - len(failed)} of {len(results)} scenarios pass"
        + (f"; failing: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed and args.check else 0
