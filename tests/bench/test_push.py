"""kit.bench.push: every method delivers everything, and the tap's byte counts add up.

Functional checks on small runs; speed is the benchmark's business, never asserted here.
"""

from __future__ import annotations

import pytest

import kit
from kit.apps.push import PushMethod
from kit.bench import push
from kit.bench.__main__ import BENCHES, main
from kit.wire import ServerSentEvent

pytestmark = pytest.mark.usefixtures("no_leaks")

SMALL = {"rate": 20.0, "seconds": 0.5, "interval": 0.05, "hold": 0.5, "seed": 3}


@pytest.fixture(scope="module")
def measured() -> push.PushRun:
    run = push.measure_push(clients=3, **SMALL)
    kit.stop_all()
    return run


def test_every_method_delivers_every_news_item_to_every_client(measured) -> None:
    assert list(measured.results) == list(PushMethod)
    for result in measured.results.values():
        assert result.published > 3 and result.clients == 3
        assert (result.lost, result.errors) == (0, []), result.method
        assert result.delivered == result.published * 3 == len(result.delays)
        assert all(delay >= 0 for delay in result.delays)
    assert measured.lost == 0 and kit.running_servers() == []


def test_a_websocket_news_item_costs_its_json_plus_a_two_byte_frame_header(measured) -> None:
    # Server frames are unmasked; 80 bytes need no extended length (RFC 6455 section 5.2).
    assert measured[PushMethod.WEBSOCKET].bytes_per_news == 80 + 2


def test_an_event_costs_its_lines_plus_the_chunk_framing(measured) -> None:
    result = measured[PushMethod.SERVER_SENT_EVENTS]
    expected = 0
    for seq in range(1, result.published + 1):
        event = ServerSentEvent("x" * 80, id=str(seq)).serialize()
        expected += len(b"%x\r\n" % len(event)) + len(event) + len(b"\r\n")
    assert result.news_bytes.total == expected * result.clients
    assert result.news_bytes.client_to_server == 0  # nothing is asked once the stream runs


def test_streams_ask_nothing_while_idle_and_held_polls_expire_twice(measured) -> None:
    assert measured.idle == 2 * SMALL["hold"]
    for method in (PushMethod.SERVER_SENT_EVENTS, PushMethod.WEBSOCKET):
        assert (measured[method].idle_requests, measured[method].idle_bytes.total) == (0, 0)
    assert measured[PushMethod.LONG_POLLING].idle_requests == 2 * 3  # each hold ran out twice
    polls = measured[PushMethod.SHORT_POLLING].idle_requests
    expected = 3 * measured.idle / SMALL["interval"]
    assert 0.5 * expected <= polls <= expected + 3, polls


def test_the_table_has_one_row_per_method_and_marks_measured_values(measured) -> None:
    table = measured.table()
    lines = table.splitlines()
    assert lines[0].startswith("3 clients per method, 20 news/s for 0.5 s (80 B each)")
    assert lines[1].split() == [
        "method", "delay", "p50", "p95", "max", "bytes/news", "connect", "idle", "req/s",
        "idle", "B/s", "lost",
    ]  # fmt: skip
    rows = lines[3:]
    assert [row[:18].strip() for row in rows] == [m.value for m in PushMethod]
    assert all(row.rstrip().endswith(" 0") for row in rows)  # nothing lost
    assert "≈82 B" in rows[3] and rows[3].split()[-3:] == ["0", "0", "0"]
    assert measured.most_bytes_per_news() in (PushMethod.SHORT_POLLING, PushMethod.LONG_POLLING)


def test_methods_can_be_measured_one_at_a_time() -> None:
    run = push.measure_push(["websocket", "sse"], clients=2, together=False, idle=0, **SMALL)
    assert list(run.results) == [PushMethod.SERVER_SENT_EVENTS, PushMethod.WEBSOCKET]
    assert run.lost == 0 and run[PushMethod.WEBSOCKET].idle_requests_per_second is None
    assert "one method at a time" in run.settings()
    with pytest.raises(ValueError, match="unknown push method"):
        push.measure_push(["pigeon"])


def test_a_comparison_draws_its_plots_with_units(tmp_path) -> None:
    comparison = push.compare_push(clients=[1, 2], idle=0, **SMALL)
    assert comparison.clients == [1, 2]
    plot = comparison.plot()
    assert "(ms, log scale)" in plot.summary and "(req/s, symlog scale)" in plot.summary
    assert "clients per method (1, 2)" in plot.summary
    axes = plot.figure.axes
    assert [a.get_ylabel() for a in axes] == [
        "delay (ms)",
        "bytes per news item (B)",
        "requests per second, all clients (req/s)",
    ]
    assert plot.save(tmp_path / "growth.png").read_bytes().startswith(b"\x89PNG")
    bundle = plot._repr_mimebundle_()
    assert set(bundle) == {"image/png", "text/plain"} and bundle["text/plain"] == plot.summary
    delays = comparison.runs[-1].plot_delays()
    assert delays.figure.axes[0].get_xlabel().endswith("(ms, log scale)")
    assert "2 clients per method" in delays.summary


def test_the_command_prints_the_table_and_the_target(capsys, tmp_path) -> None:
    assert BENCHES["push"] is push
    picture = tmp_path / "push.png"
    args = ["push", "--clients", "1,2", "--rate", "20", "--seconds", "0.4", "--interval"]
    args += ["0.05", "--hold", "0.3", "--plot", str(picture), "--check"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("server-sent events") >= 3 and "≈" not in out
    assert "target: lost news = 0 for every method" in out
    assert "all targets met" in out
    assert picture.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(SystemExit, match="--clients takes numbers"):
        main(["push", "--clients", "many"])
    with pytest.raises(SystemExit, match=r"kit\.bench push: rate, seconds, interval and hold"):
        main(["push", "--clients", "1", "--rate", "0"])
