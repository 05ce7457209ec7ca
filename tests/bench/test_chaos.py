"""kit.bench.chaos: a small run through a cutting tap; functional checks, not speed.

The strongest level must lose and double nothing; the weakest must lose at least every
send its clients refused while offline (it is not zero by construction: the tap cuts
during the sends).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import kit
from kit.bench import chaos
from kit.bench.__main__ import BENCHES

pytestmark = pytest.mark.usefixtures("no_leaks")


def test_the_weakest_level_loses_and_the_strongest_loses_and_doubles_nothing() -> None:
    result = chaos.run(3, 60, levels=["exactly-once", "at-most-once"])
    assert [r.level for r in result.levels] == ["at-most-once", "exactly-once"]  # weakest first
    weakest, best = result.levels
    for level in result.levels:
        assert level.cuts > 0 and level.sent == 180 and level.expected == 540
    assert weakest.failed > 0, "no send was refused: the tap did not cut during the sends"
    assert weakest.lost >= weakest.failed * 3  # a refused send is lost for everyone
    assert weakest.duplicated == 0
    assert (best.lost, best.duplicated, best.out_of_order, best.failed) == (0, 0, 0, 0)
    assert best.delivered == 540 and len(best.latencies) == 540
    assert best.recoveries, "no reconnect was timed"
    stable = result.table(stable=True)
    assert "lost" in stable and "> 0" in stable
    assert (
        result.verdict() == "strongest level (exactly-once): lost 0, duplicated 0 of 540 deliveries"
    )
    assert kit.running_servers() == []  # everything it started is stopped


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"levels": ["twice"]}, "levels are some of"),
        ({"clients": 0}, "clients must be a whole number"),
        ({"cut_every": 0.001}, "cut_every must be from 0.02 to 60 seconds"),
    ],
)
def test_bad_arguments_are_refused_by_name(options, why) -> None:
    with pytest.raises(ValueError, match=why):
        chaos.run(**options)


def test_the_command_prints_the_table_and_ends_with_the_strongest_level() -> None:
    assert "chaos" in BENCHES
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kit.bench",
            "chaos",
            "--clients",
            "2",
            "--messages",
            "15",
            "--levels",
            "exactly-once",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "2 clients x 15 messages, a cut every 0.2 s"
    for row in (
        "sent",
        "delivered",
        "lost",
        "duplicated",
        "out of order",
        "latency p99",
        "recovery p50",
    ):
        assert any(line.startswith(row) for line in lines), row
    assert lines[-1] == "strongest level (exactly-once): lost 0, duplicated 0 of 60 deliveries"
