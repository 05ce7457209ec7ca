"""kit.exercise: verdicts for each way an answer can be, and stubs told from answers."""

from __future__ import annotations

import pytest

import kit
from kit.exercises import Exercise, is_stub


def stub_with_ellipsis(websocket):
    """Answer in upper case."""
    ...


def stub_with_pass(x):
    pass


def stub_that_raises(x):
    raise NotImplementedError("write me")


def one_liner(x):
    return x * 2


async def async_stub(websocket): ...


@pytest.mark.parametrize(
    "answer", [None, stub_with_ellipsis, stub_with_pass, stub_that_raises, async_stub]
)
def test_stubs_are_recognised(answer) -> None:
    assert is_stub(answer)


@pytest.mark.parametrize("answer", [one_liner, lambda x: x, len, 42, "text"])
def test_anything_written_is_not_a_stub(answer) -> None:
    assert not is_stub(answer)


def run(exercise: Exercise, body) -> str:
    with exercise as check:
        body(check)
    return exercise.report()


def test_each_verdict_and_what_it_prints(capsys) -> None:
    def solved(check):
        check.written(one_liner)
        assert one_liner(2) == 4

    def not_solved(check):
        check.written(stub_with_ellipsis)
        raise AssertionError("never reached")

    def wrong(check):
        assert one_liner(2) == 5, "2 doubled is not 5"

    def broken(check):
        {}["missing"]

    def undefined(check):
        return undefined_name  # noqa: F821

    ex = kit.exercise("f()", hint="double it", solution="00_f.py")
    assert run(ex, solved) == "✓ f(): solved, all checks passed." and ex.passed
    assert run(ex, not_solved).splitlines()[:2] == [
        "○ f(): not solved yet.",
        "  Write f() in the answer cell above, run it, then run this cell.",
    ]
    assert ex.verdict == "not solved" and not ex.passed
    assert run(ex, wrong).startswith("✗ f(): not right yet: 2 doubled is not 5")
    assert run(ex, broken).startswith("✗ f(): your code raised KeyError: 'missing'")
    report = run(ex, undefined)
    assert report.startswith("○ f(): not solved yet.\n  name 'undefined_name' is not defined")
    assert report.endswith(
        "Hint: double it\n  Stuck? `%load solutions/00_f.py` in the answer cell."
    )
    printed = capsys.readouterr().out
    assert printed.count("f():") == 5  # every verdict is printed in the cell


def test_the_stop_button_is_never_swallowed() -> None:
    with pytest.raises(KeyboardInterrupt), kit.exercise("f()"):
        raise KeyboardInterrupt


@pytest.mark.usefixtures("no_leaks")
def test_a_failing_handler_in_a_server_the_check_started_is_quoted(capsys) -> None:
    async def broken(websocket):
        await websocket.recv()
        raise ValueError("my handler is wrong")

    with kit.exercise("broken()") as check, kit.serve(broken, name="exercise") as server:
        probe = kit.WebSocket(server.ws_url)
        probe.wait_open()
        probe.send("hi")
        probe.wait_message(2)
    assert check.verdict == "error"
    assert check.message.startswith("ConnectionError: the WebSocket to ws://127.0.0.1:")
    assert "The server reported: ValueError: my handler is wrong" in check.report()
