"""Codec speed: masking, frame parsing and the tap's decoder, on large inputs.

Pure computation, no sockets: what the codecs cost per megabyte, so a change that makes
one of them slow shows up here (unit tests check behaviour only, never time). Target:
masking 8 MiB takes at most 1 s (a per-byte Python loop takes several seconds).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from kit.wire import Frame, Opcode, apply_mask
from kit.wire.decoder import ConnectionDecoder, Direction
from kit.wire.frames import FrameReader

MIB = 2**20
TARGETS_S = {"apply_mask, 8 MiB": 1.0}


def _time(job: Callable[[], object], runs: int) -> float:
    """The median wall time of ``job`` over ``runs`` runs, in seconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        job()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(runs: int) -> dict[str, tuple[float, float]]:
    """{what: (median seconds, MiB per second)} for each codec job."""
    payload = random.Random(1).randbytes(8 * MIB)
    mask = b"\x37\xfa\x21\x3d"
    frames = b"".join(
        Frame(Opcode.BINARY, payload[i : i + 4096]).serialize() for i in range(0, 8 * MIB, 4096)
    )
    upgrade = (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    )

    def parse_frames() -> None:
        reader = FrameReader()
        reader.feed(frames)
        for _ in reader:
            pass

    def decode_connection() -> None:
        decoder = ConnectionDecoder(max_message=8 * MIB)
        decoder.feed(Direction.CLIENT_TO_SERVER, upgrade[0])
        decoder.feed(Direction.SERVER_TO_CLIENT, upgrade[1])
        for start in range(0, len(frames), 65536):
            decoder.feed(Direction.SERVER_TO_CLIENT, frames[start : start + 65536])

    jobs = {
        "apply_mask, 8 MiB": lambda: apply_mask(payload, mask),
        "FrameReader, 8 MiB in 4 KiB frames": parse_frames,
        "ConnectionDecoder, the same stream": decode_connection,
    }
    results = {}
    for name, job in jobs.items():
        seconds = _time(job, runs)
        results[name] = (seconds, 8 / seconds if seconds else float("inf"))
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=5, help="runs per job (default 5)")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a job misses its target"
    )


def run(args: argparse.Namespace) -> int:
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    print(f"kit.bench codecs: medians over {args.runs} runs\n")
    print(f"{'job':<40}{'seconds':>10}{'MiB/s':>10}{'target':>10}")
    missed = []
    for name, (seconds, rate) in measure(args.runs).items():
        target = TARGETS_S.get(name)
        shown = f"<= {target:g} s" if target else ""
        print(f"{name:<40}{seconds:>10.3f}{rate:>10.0f}{shown:>10}")
        if target is not None and seconds > target:
            missed.append(name)
    if missed:
        print(f"\nmissed: {', '.join(missed)}")
    return 1 if missed and args.check else 0
