"""python -m kit.bench deflate: its table's shape and what compression must do (no timings)."""

from __future__ import annotations

from kit.bench import deflate
from kit.bench.__main__ import main


def test_rows_cover_every_kind_size_and_context_and_sizes_make_sense() -> None:
    rows = deflate.measure(sizes=(16, 4096), messages=5)
    keys = [(r.kind, r.size, r.context) for r in rows]
    assert len(keys) == len(set(keys)) == len(deflate.KINDS) * 2 * 2
    share = {key: r.wire_share for key, r in zip(keys, rows, strict=True)}
    for size in (16, 4096):
        assert share[("random bytes", size, "fresh")] >= 1.0  # never smaller: only cost
        # Repeated JSON keys: context takeover never loses to a fresh start.
        assert share[("chat JSON", size, "takeover")] <= share[("chat JSON", size, "fresh")]
    assert share[("chat JSON", 4096, "fresh")] < 0.5
    assert all(r.deflate_us >= 0 and r.inflate_us >= 0 for r in rows)


def test_the_command_prints_one_line_per_row(capsys) -> None:
    assert main(["deflate", "--messages", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("kit.bench deflate:")
    table = [line for line in lines if line.startswith(("chat JSON", "random bytes"))]
    assert len(table) == len(deflate.KINDS) * len(deflate.SIZES) * 2
