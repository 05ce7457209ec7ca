"""A crowd of socket.io chat clients in a process of their own, for ``kit.bench hostile``.

Each client connects to a ``kit.chat_app()`` over WebSocket, then sends its messages as
``recive message`` calls at the times it was given, and keeps: which of its messages were
accepted (ack ``{"ok": true}``), refused (ack ``{"error": ...}``) or unanswered; every
``new message`` it received (by sender and number); every ``missed messages`` count; and
how its connection ended if it did. The process reports all of that at the end, so the
benchmark can say whether each accepted message reached every client, was skipped with a
count, or was lost. It also counts the errors the clients' own libraries logged
(python-engineio's client says ``packet queue is empty, aborting`` when it drops its own
connection because its loop fell behind), so that a dropped client comes with a cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CrowdPlan", "CrowdReport", "crowd_process", "merge"]


@dataclass(frozen=True)
class CrowdPlan:
    """What the crowd does: ``clients`` each send ``messages`` within ``spread`` seconds."""

    url: str
    clients: int
    messages: int
    spread: float
    first: int = 0
    """The number of this process's first client (clients are numbered across processes)."""
    quiet: float = 3.0
    """Seconds without any delivery after the last send before the crowd reports."""
    timeout: float = 120.0
    nice: int = 0
    """Added to the crowd process's nice value: its clients stand for other machines, so a
    positive value lets the server under test have the CPU first."""


@dataclass
class ClientLog:
    accepted: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unanswered: int = 0
    received: set[tuple[int, int]] = field(default_factory=set)
    duplicates: int = 0
    missed: int = 0
    disconnect: str | None = None
    latencies: list[float] = field(default_factory=list)


@dataclass
class CrowdReport:
    """What the crowd saw (only plain data: it crosses a process boundary)."""

    connected: int
    failed_to_connect: list[str]
    accepted: dict[int, list[int]]  # client -> its accepted message numbers
    refused: list[str]
    unanswered: int
    received: dict[int, int]  # client -> deliveries received
    received_pairs: dict[int, list[tuple[int, int]]]
    duplicates: int
    missed: dict[int, int]
    disconnects: dict[int, str]
    latencies: list[float]
    elapsed: float
    client_errors: dict[str, int] = field(default_factory=dict)
    """Warnings and errors the client libraries logged (python-engineio, python-socketio),
    with counts."""


async def _client(index: int, plan: CrowdPlan, log: ClientLog, start: float) -> Any:
    import socketio

    client = socketio.AsyncClient(reconnection=False)

    @client.on("new message")
    async def on_message(data: dict[str, Any]) -> None:
        text = data.get("mess", "")
        if not isinstance(text, str) or ":" not in text:
            return
        sender, _, rest = text.partition(":")
        number, _, stamp = rest.partition("@")
        with contextlib.suppress(ValueError):
            key = (int(sender), int(number))
            if key in log.received:
                log.duplicates += 1
            log.received.add(key)
            log.latencies.append(time.time() - float(stamp))

    @client.on("missed messages")
    async def on_missed(data: dict[str, Any]) -> None:
        log.missed += int(data.get("count", 0))

    @client.on("disconnect")
    async def on_disconnect(reason: Any = None) -> None:
        log.disconnect = str(reason)

    await client.connect(plan.url, transports=["websocket"], wait_timeout=30)
    return client


async def _talk(index: int, client: Any, plan: CrowdPlan, log: ClientLog, start: float) -> None:
    rng = random.Random(index)
    times = sorted(rng.uniform(0, plan.spread) for _ in range(plan.messages))
    for number, at in enumerate(times):
        delay = start + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if not client.connected:
            return
        text = f"{index}:{number}@{time.time():.6f}"
        try:
            answer = await client.call("recive message", {"message": text}, timeout=30)
        except Exception:  # timeout, or the connection went away
            log.unanswered += 1
            continue
        if isinstance(answer, dict) and answer.get("ok"):
            log.accepted.append(number)
        else:
            error = answer.get("error", repr(answer)) if isinstance(answer, dict) else answer
            log.refused.append(str(error))


class _ErrorCounter(logging.Handler):
    """Counts the WARNING and ERROR records of the client libraries by message."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[f"{record.name}: {record.getMessage()}"[:200]] += 1


async def _crowd(plan: CrowdPlan, conn: Any = None) -> CrowdReport:
    """Connect, send, wait for the deliveries to stop; ``conn``: start when the parent says.

    With several crowd processes, each sends ``("connected", n)`` down ``conn`` once its
    clients are connected and waits for the parent's start time (``time.time()``), so no
    process sends before every client of every process is there to receive.
    """
    errors = _ErrorCounter()
    for name in ("engineio.client", "socketio.client"):
        # python-engineio's client sets ERROR on its logger when it has no level; a
        # connection it ends because the server went quiet or closed is a WARNING.
        logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger(name).addHandler(errors)
    logs = [ClientLog() for _ in range(plan.clients)]
    started = time.monotonic()
    limit = asyncio.Semaphore(50)

    async def connect(index: int) -> Any:
        async with limit:
            try:
                return await _client(index, plan, logs[index], started)
            except Exception as exc:
                return exc

    clients = await asyncio.gather(*(connect(i) for i in range(plan.clients)))
    failed = [f"client {i}: {c!r}" for i, c in enumerate(clients) if isinstance(c, Exception)]
    live = [(i, c) for i, c in enumerate(clients) if not isinstance(c, Exception)]
    start = time.monotonic() + 0.5
    if conn is not None:
        conn.send(("connected", len(live)))
        start_at = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        start = time.monotonic() + max(0.0, float(start_at) - time.time())
    await asyncio.gather(*(_talk(plan.first + i, c, plan, logs[i], start) for i, c in live))
    # Wait for the deliveries to stop arriving.
    last, deadline = -1, time.monotonic() + plan.timeout
    while time.monotonic() < deadline:
        total = sum(len(log.received) for log in logs)
        if total == last:
            break
        last = total
        await asyncio.sleep(plan.quiet)
    for name in ("engineio.client", "socketio.client"):
        # What the clients log while the crowd hangs up ("Server sent close packet") is
        # not about the run.
        logging.getLogger(name).removeHandler(errors)
        logging.getLogger(name).setLevel(logging.ERROR)  # and Python's last resort not print it
    for _, client in live:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 2)
    first = plan.first
    return CrowdReport(
        connected=len(live),
        failed_to_connect=failed,
        accepted={first + i: logs[i].accepted for i, _ in live},
        refused=[error for log in logs for error in log.refused],
        unanswered=sum(log.unanswered for log in logs),
        received={first + i: len(logs[i].received) for i, _ in live},
        received_pairs={first + i: sorted(logs[i].received) for i, _ in live},
        duplicates=sum(log.duplicates for log in logs),
        missed={first + i: logs[i].missed for i, _ in live},
        disconnects={
            first + i: str(logs[i].disconnect)
            for i, _ in live
            if logs[i].disconnect is not None and logs[i].disconnect != "client disconnect"
        },
        latencies=[x for log in logs for x in log.latencies],
        elapsed=time.monotonic() - started,
        client_errors=dict(errors.counts),
    )


def merge(reports: list[CrowdReport]) -> CrowdReport:
    """One report for crowds that ran in several processes."""
    merged = CrowdReport(0, [], {}, [], 0, {}, {}, 0, {}, {}, [], 0.0)
    for report in reports:
        merged.connected += report.connected
        merged.failed_to_connect += report.failed_to_connect
        merged.accepted.update(report.accepted)
        merged.refused += report.refused
        merged.unanswered += report.unanswered
        merged.received.update(report.received)
        merged.received_pairs.update(report.received_pairs)
        merged.duplicates += report.duplicates
        merged.missed.update(report.missed)
        merged.disconnects.update(report.disconnects)
        merged.latencies += report.latencies
        merged.elapsed = max(merged.elapsed, report.elapsed)
        for error, count in report.client_errors.items():
            merged.client_errors[error] = merged.client_errors.get(error, 0) + count
    return merged


def crowd_process(conn: Any, plan: CrowdPlan) -> None:
    """Entry point of the crowd's process: run it, send the report down ``conn``."""
    try:
        if plan.nice:
            os.nice(plan.nice)
        conn.send(("report", asyncio.run(_crowd(plan, conn))))
    except BaseException as exc:  # the parent must hear about it, whatever it is
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()
