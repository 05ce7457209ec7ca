"""Events and settle(): work in flight is tracked by futures, so nothing can unbalance it."""

from __future__ import annotations

import threading

import pytest

import kit
from kit.runtime.events import EventChannel, done


class Owner:
    def __repr__(self) -> str:
        return "<the test's owner>"


def test_work_is_done_once_whatever_the_order_of_calls() -> None:
    channel = EventChannel(Owner())
    first, second = channel.work(), channel.work()
    assert not channel.idle
    done(first)
    done(first)  # twice is harmless: no counter can go below zero
    assert not channel.idle
    done(second)
    assert channel.idle


def test_finishing_the_owner_finishes_its_work_even_after_an_early_return() -> None:
    channel = EventChannel(Owner())
    forgotten = channel.work()  # an owner that returned early and never said done
    threading.Thread(target=channel.finish_work).start()
    forgotten.result(timeout=2)
    assert channel.idle


def test_settle_says_who_is_still_busy_and_takes_keywords_only() -> None:
    channel = EventChannel(Owner())
    work = channel.work()
    with pytest.raises(TimeoutError, match=r"still busy: <the test's owner>"):
        kit.settle(timeout=0.05)
    done(work)
    assert kit.settle(timeout=2) == 0
    with pytest.raises(TypeError):
        kit.settle(1.0)  # type: ignore[misc]


def test_a_send_to_a_socket_that_fails_leaves_nothing_in_flight(echo_handler, no_leaks):
    server = kit.serve(echo_handler, name="echo")
    ws = kit.WebSocket(server.ws_url)
    ws.wait_open()
    server.stop()
    ws.send("into the void")  # may race the close: either way it must not count forever
    ws.wait_closed()
    kit.settle(timeout=2)
