"""Server start, first connect plus one round trip, and stop, for each kind of app.

What a learner waits for when a lesson cell starts a server and talks to it. Times are
measured from the notebook's side (the main thread), so they include the hop to the kit's
runtime thread. Targets: start and stop at most 5 ms median, first round trip at most 20 ms
median.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import kit
from kit.runtime.loop import runtime

TARGETS_MS = {"start": 5.0, "first round trip": 20.0, "stop": 5.0}


async def _echo(websocket: Any) -> None:
    async for message in websocket:
        await websocket.send(message)


def _aiohttp_app() -> Any:
    from aiohttp import WSMsgType, web

    async def ws_echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str(message.data)
        return ws

    app = web.Application()
    app.router.add_get("/", ws_echo)
    return app


def _socketio_app() -> Any:
    import socketio

    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.on("echo")
    async def echo(sid: str, data: object) -> object:
        return data

    return sio


def _websocket_roundtrip(server: kit.Server) -> None:
    ws = kit.WebSocket(server.ws_url)
    ws.wait_open()
    ws.send("ping")
    assert ws.wait_message().data == "ping"
    ws.close()
    ws.wait_closed()


def _socketio_roundtrip(server: kit.Server) -> None:
    import socketio

    async def talk() -> None:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(server.url)
        assert await client.call("echo", "ping", timeout=5) == "ping"
        await client.disconnect()

    runtime.run(talk(), timeout=10)


APPS: dict[str, tuple[Callable[[], Any], Callable[[kit.Server], None]]] = {
    "websockets handler": (lambda: _echo, _websocket_roundtrip),
    "aiohttp app": (_aiohttp_app, _websocket_roundtrip),
    "socketio AsyncServer": (_socketio_app, _socketio_roundtrip),
}


def measure(make_app: Callable[[], Any], roundtrip: Callable[[kit.Server], None], runs: int):
    """Return {phase: [milliseconds per run]} for one kind of app."""
    samples: dict[str, list[float]] = {phase: [] for phase in TARGETS_MS}
    for _ in range(runs):
        app = make_app()
        started = time.perf_counter()
        server = kit.serve(app, name="bench")
        served = time.perf_counter()
        roundtrip(server)
        talked = time.perf_counter()
        server.stop()
        stopped = time.perf_counter()
        samples["start"].append((served - started) * 1000)
        samples["first round trip"].append((talked - served) * 1000)
        samples["stop"].append((stopped - talked) * 1000)
    return samples


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=50, help="runs per kind of app (default 50)")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a median misses its target"
    )


def run(args: argparse.Namespace) -> int:
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    # Warm up once: the first start pays for imports and the runtime thread.
    for make_app, roundtrip in APPS.values():
        measure(make_app, roundtrip, 1)
    print(f"kit.bench startup: medians (p90) over {args.runs} runs, milliseconds\n")
    header = f"{'app':<22}" + "".join(f"{phase:>22}" for phase in TARGETS_MS)
    print(header)
    print("-" * len(header))
    missed = []
    for name, (make_app, roundtrip) in APPS.items():
        samples = measure(make_app, roundtrip, args.runs)
        cells = []
        for phase, values in samples.items():
            median = statistics.median(values)
            p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
            mark = "ok" if median <= TARGETS_MS[phase] else "SLOW"
            if mark == "SLOW":
                missed.append(f"{name} {phase}")
            cells.append(f"{median:7.2f} ({p90:6.2f}) {mark:>4}")
        print(f"{name:<22}" + "".join(f"{cell:>22}" for cell in cells))
    targets = ", ".join(f"{phase} <= {ms:g} ms" for phase, ms in TARGETS_MS.items())
    print(f"\ntargets (median): {targets}")
    kit.stop_all()
    if missed:
        print("missed: " + "; ".join(missed))
    return 1 if missed and args.check else 0
