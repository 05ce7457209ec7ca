"""python -m kit.bench hostile: every scenario runs and its bounds that are not about
speed hold (the speed bounds are the benchmark's to report, never a unit test's)."""

from __future__ import annotations

import argparse

import pytest

from kit.bench import hostile


def options(**overrides: object) -> argparse.Namespace:
    values = {
        "clients": 12,
        "messages": 3,
        "spread": 1.0,
        "paced_spread": 2.0,
        "crowd_processes": 2,
        "only": None,
        "check": True,
    }
    values.update(overrides)
    return argparse.Namespace(**values)


@pytest.mark.parametrize("name", sorted(hostile.SCENARIOS))
def test_each_scenario_runs_and_holds_its_bounds_that_are_not_about_speed(
    name: str, no_leaks: None
) -> None:
    result = hostile.SCENARIOS[name](options())
    assert result.figures and result.checks
    failed = [bound for bound, ok in result.checks if not ok and bound not in result.timed]
    assert failed == [], hostile.format_result(result)


def test_the_command_checks_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    from kit.bench.__main__ import main

    with pytest.raises(SystemExit, match="must be positive"):
        main(["hostile", "--clients", "0"])
