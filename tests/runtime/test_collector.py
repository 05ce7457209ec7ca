"""kit.serve and the garbage collector: full collections rarer while servers run."""

from __future__ import annotations

import gc

import kit
from kit.runtime import collector


def test_a_server_makes_full_collections_rarer_and_stop_all_puts_the_thresholds_back(
    no_leaks: None, echo_handler: object
) -> None:
    kit.stop_all()
    before = gc.get_threshold()
    assert before[2] < collector.FULL_EVERY, "the test needs CPython's default thresholds"
    kit.serve(echo_handler, name="gc")
    assert gc.get_threshold() == (before[0], before[1], collector.FULL_EVERY)
    assert gc.get_freeze_count() > 0, "what the process held at the first serve is frozen"
    kit.serve(echo_handler, name="gc")  # a re-serve keeps the process's own thresholds saved
    kit.stop_all()
    assert gc.get_threshold() == before


def test_only_the_first_server_freezes(no_leaks: None, echo_handler: object) -> None:
    kit.serve(echo_handler, name="gc")
    frozen = gc.get_freeze_count()
    made_since = [[] for _ in range(1000)]  # objects the collector tracks
    kit.serve(echo_handler, name="gc")
    assert gc.get_freeze_count() == frozen, "later serves must let stopped servers be collected"
    assert len(made_since) == 1000
