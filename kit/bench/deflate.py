"""permessage-deflate: bytes saved and CPU spent, by message size, content and context.

Pure computation with the kit's own :class:`~kit.wire.deflate.Deflater` and
:class:`~kit.wire.deflate.Inflater` (zlib underneath), no sockets: for each kind of
message and size, the bytes that would travel as a share of the message, and the time to
deflate and inflate one message, with context takeover (each message may refer back to
the ones before) and without (each starts afresh).

What it shows: tiny messages do not shrink (a deflate block has a few bytes of overhead),
which is why a server may leave small messages uncompressed (the scratch server's
``DeflateSettings.min_size``, 32 bytes by default);
chat messages that repeat the same JSON keys shrink a lot more *with* context takeover;
random bytes never shrink and only cost CPU.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from kit.wire.deflate import Deflater, Inflater

SIZES = (16, 64, 256, 1024, 16 * 1024, 256 * 1024)


def _chat(size: int, rng: random.Random) -> Callable[[int], bytes]:
    """Chat messages: the same JSON keys each time, a few words of varying text."""
    words = ["hello", "room", "one", "two", "welcome", "chat", "message", "typing"]
    words += ["user", "left", "joined", "again"]

    def make(index: int) -> bytes:
        text = " ".join(rng.choice(words) for _ in range(size // 5))
        body = {"user": f"user{index % 7}", "mess": text, "room": "room one", "time": index}
        return json.dumps(body).encode()[:size].ljust(size, b" ")

    return make


def _random(size: int, rng: random.Random) -> Callable[[int], bytes]:
    return lambda index: rng.randbytes(size)


KINDS: dict[str, Callable[[int, random.Random], Callable[[int], bytes]]] = {
    "chat JSON": _chat,
    "random bytes": _random,
}


@dataclass(frozen=True)
class Row:
    """One kind of message at one size, with or without context takeover."""

    kind: str
    size: int
    context: str  # "takeover" or "fresh"
    wire_share: float  # bytes on the wire / bytes of the messages
    deflate_us: float  # microseconds to deflate one message
    inflate_us: float  # and to inflate it back


def measure(sizes: tuple[int, ...] = SIZES, messages: int = 50, seed: int = 1) -> list[Row]:
    """One row per (kind, size, context): wire share and microseconds per message."""
    rows: list[Row] = []
    for kind, factory in KINDS.items():
        for size in sizes:
            count = max(3, min(messages, (4 * 2**20) // size))
            make = factory(size, random.Random(seed))
            batch = [make(i) for i in range(count)]
            for keep in (True, False):
                deflater = Deflater(keep_context=keep)
                inflater = Inflater(keep_context=keep, max_size=None)
                started = time.perf_counter()
                wire = [deflater.deflate(m) for m in batch]
                deflated = time.perf_counter()
                back = [inflater.inflate(w) for w in wire]
                inflated = time.perf_counter()
                assert back == batch, "deflate then inflate must give the message back"
                raw = sum(len(m) for m in batch)
                rows.append(
                    Row(
                        kind,
                        size,
                        "takeover" if keep else "fresh",
                        sum(len(w) for w in wire) / raw,
                        (deflated - started) / count * 1e6,
                        (inflated - deflated) / count * 1e6,
                    )
                )
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--messages", type=int, default=50, help="messages per row (fewer for large sizes)"
    )


def _size(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def run(args: argparse.Namespace) -> int:
    if args.messages < 1:
        raise SystemExit("--messages must be at least 1")
    rows = measure(messages=args.messages)
    print("kit.bench deflate: permessage-deflate, zlib level 6, 15-bit window\n")
    print(
        f"{'message':<14}{'size':>8}  {'context':<9}{'on the wire':>12}"
        f"{'deflate µs':>12}{'inflate µs':>12}"
    )
    for row in rows:
        print(
            f"{row.kind:<14}{_size(row.size):>8}  {row.context:<9}{row.wire_share:>11.0%} "
            f"{row.deflate_us:>11.0f} {row.inflate_us:>11.0f}"
        )
    median = statistics.median(row.deflate_us for row in rows)
    print(f"\n(median deflate time over all rows: {median:.0f} µs per message)")
    return 0
