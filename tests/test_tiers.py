"""The test tiers: every test in exactly one, the fast one free of servers, a profile each."""

from __future__ import annotations

import pytest
from hypothesis import is_hypothesis_test, settings

from tests.conftest import FAST_EXAMPLES, TIERS, examples, profile_for

_HEAVY_FIXTURES = {
    "no_leaks",
    "browser",
    "page",
    "lab",
    "nss_chromium",
    "socketio_client_js",
    "node",
}


def test_every_collected_test_is_in_exactly_one_tier(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    assert items
    for item in items:
        tiers = [mark.name for mark in item.iter_markers() if mark.name in TIERS]
        assert len(tiers) == 1, f"{item.nodeid} is in {tiers}"


def test_no_fast_test_starts_servers_browsers_or_javascript(request: pytest.FixtureRequest) -> None:
    for item in request.session.items:
        if item.get_closest_marker("fast") is not None:
            heavy = set(getattr(item, "fixturenames", ())) & _HEAVY_FIXTURES
            assert not heavy, f"{item.nodeid} is in the fast tier but uses {heavy}"
            assert not item.nodeid.endswith(".ipynb") and ".ipynb::" not in item.nodeid


def test_only_the_fast_tier_gets_the_small_profile() -> None:
    assert profile_for("fast") == profile_for(" fast ") == "kit-fast"
    for markexpr in ("", "e2e", "not browser", "fast or e2e", "kernel"):
        assert profile_for(markexpr) == "kit"
    assert settings.get_profile("kit-fast").max_examples == FAST_EXAMPLES
    assert settings.get_profile("kit").max_examples == settings.get_profile("default").max_examples
    assert settings.get_profile("kit").deadline is None
    assert settings.get_profile("kit-fast").deadline is None


def test_this_run_loaded_the_profile_its_marker_expression_asks_for(
    request: pytest.FixtureRequest,
) -> None:
    config = request.config
    chosen = config.getoption("hypothesis_profile", None)
    chosen = chosen or profile_for(config.option.markexpr or "")
    assert settings.default.max_examples == settings.get_profile(chosen).max_examples
    assert examples(300) == 300 * settings.get_profile(chosen).max_examples // 100


def test_every_property_test_and_fuzz_file_and_only_those_carry_the_fuzz_label(
    request: pytest.FixtureRequest,
) -> None:
    for item in request.session.items:
        labelled = item.get_closest_marker("fuzz") is not None
        in_fuzz_file = "fuzz" in item.nodeid.split("::")[0].rsplit("/", 1)[-1]
        expected = in_fuzz_file or is_hypothesis_test(getattr(item, "function", None))
        assert labelled == expected, item.nodeid
