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
        "crowd_nice": 0,
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
    with pytest.raises(SystemExit, match="--crowd-nice is 0 to 19"):
        main(["hostile", "--crowd-nice", "20"])
    with pytest.raises(SystemExit, match=r"--max-deliveries is 0 \(no budget\) or more"):
        main(["hostile", "--max-deliveries", "-1"])


def test_a_crowd_reports_the_errors_its_client_libraries_logged() -> None:
    """A client that drops itself logs why (python-engineio's client: "packet queue is
    empty, aborting", an ERROR; "Server has stopped communicating", a WARNING); the crowd
    counts those records and the report shows them."""
    import logging

    from kit.bench import crowd

    counter = crowd._ErrorCounter()
    logger = logging.getLogger("engineio.client")
    level = logger.level  # python-engineio sets ERROR here once a default client is made
    logger.setLevel(logging.WARNING)  # as the crowd does
    logger.addHandler(counter)
    try:
        logger.error("packet queue is empty, aborting")
        logger.error("packet queue is empty, aborting")
        logger.warning("Server has stopped communicating, aborting")
        logger.info("an info record is not counted")
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
    assert counter.counts == {
        "engineio.client: packet queue is empty, aborting": 2,
        "engineio.client: Server has stopped communicating, aborting": 1,
    }
    first = crowd.CrowdReport(1, [], {}, [], 0, {}, {}, 0, {}, {}, [], 1.0, dict(counter.counts))
    second = crowd.CrowdReport(1, [], {}, [], 0, {}, {}, 0, {}, {}, [], 1.0, {"x: y": 1})
    merged = crowd.merge([first, second])
    assert merged.client_errors == {**counter.counts, "x: y": 1}


def test_a_crowd_can_run_at_a_lower_priority_than_the_server(no_leaks: None) -> None:
    """--crowd-nice: the crowd's processes stand for other machines and yield the CPU."""
    result = hostile.paced(options(clients=4, messages=2, crowd_nice=5))
    assert ("crowd processes", "nice +5 (the server's process has the CPU first)") in (
        result.figures
    )
    failed = [bound for bound, ok in result.checks if not ok and bound not in result.timed]
    assert failed == [], hostile.format_result(result)
