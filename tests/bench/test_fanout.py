"""kit.bench.fanout: a small broadcast is delivered whole, and the report names every figure.

Functional checks only: these numbers are far too small to say anything about speed.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys

import pytest

import kit
from kit.bench import fanout
from kit.bench.__main__ import BENCHES, main

pytestmark = pytest.mark.usefixtures("no_leaks")

REPORT_ROWS = [
    "clients",
    "messages",
    "transport",
    "connect time, all clients",
    "expected deliveries",
    "deliveries received",
    "lost deliveries",
    "duplicates",
    "out of order",
    "dropped connections",
    "dropped by the server",
    "broadcast wall time",
    "deliveries/s",
    "server CPU per delivery",
    "runtime thread",
    "whole server process",
    "clients processes",
    "clients process busy",
    "delivery latency p50",
    "delivery latency p99",
    "server peak memory",
]


def test_every_client_gets_every_message_once_and_in_order():
    result = fanout.measure(clients=20, messages=5, timeout=60)
    kit.stop_all()
    assert multiprocessing.active_children() == []

    assert (result.connected, result.expected, result.received) == (20, 100, 100)
    assert (result.lost, result.duplicates, result.out_of_order) == (0, 0, 0)
    assert result.dropped_connections == 0
    assert result.broadcast_seconds is not None and result.broadcast_seconds > 0
    assert result.thread_cpu_seconds > 0

    report = fanout.format_report(result)
    for row in REPORT_ROWS:
        assert row in report, f"the report lacks {row!r}:\n{report}"
    assert "LOST" not in report


def test_the_clients_are_spread_over_processes_and_their_counts_add_up():
    result = fanout.measure(clients=7, messages=3, server="scratch", client_processes=3)
    kit.stop_all()
    assert multiprocessing.active_children() == []

    pids = [pid for pid, _ in result.client_processes]
    assert len(set(pids)) == 3 and os.getpid() not in pids, result.client_processes
    assert [clients for _, clients in result.client_processes] == [3, 2, 2]
    assert (result.connected, result.received, result.lost, result.duplicates) == (7, 21, 0, 0)
    assert result.server_drop_reasons == ()  # the goodbyes at the end are not drops
    assert "clients each: 3, 2, 2" in fanout.format_report(result)


def test_the_official_node_client_can_be_the_audience_in_processes_of_its_own(node: str):
    result = fanout.measure(
        clients=9, messages=4, server="scratch", client_kind="node", client_processes=3
    )
    kit.stop_all()
    assert result.client_kind == "node"
    pids = [pid for pid, _ in result.client_processes]
    assert len(set(pids)) == 3 and os.getpid() not in pids, result.client_processes
    assert [clients for _, clients in result.client_processes] == [3, 3, 3]
    assert (result.connected, result.received, result.lost, result.duplicates) == (9, 36, 0, 0)
    assert result.out_of_order == 0 and result.dropped_connections == 0
    assert result.latency_p50 is not None and 0 <= result.latency_p50 < 30
    assert "node, clients each: 3, 3, 3" in fanout.format_report(result)
    assert kit.running_servers() == []


def test_a_node_report_with_unknown_fields_is_refused():
    with pytest.raises(fanout.FanoutError, match=r"does not have: \['surprise'\]"):
        fanout._report_from_json(
            {
                "connected": 1,
                "connect_failures": 0,
                "first_connect_error": "",
                "connect_seconds": 0.1,
                "surprise": 1,
            }
        )
    report = fanout._report_from_json(
        {
            "connected": 1,
            "connect_failures": 0,
            "first_connect_error": "",
            "connect_seconds": 0.1,
            "drop_reasons": [["ping timeout", 2]],
            "processes": [[7, 1]],
            "latencies": [0.5],
        }
    )
    assert report.drop_reasons == (("ping timeout", 2),) and report.processes == ((7, 1),)
    assert report.latencies == (0.5,)


def test_a_plan_is_split_into_even_shares_numbered_across_processes():
    plan = fanout.ClientsPlan("http://127.0.0.1:1", 7, 4, "websocket", 50, urls=("a", "b"))
    shares = fanout.split_plan(plan, 3)
    assert [(s.clients, s.first, s.concurrency) for s in shares] == [
        (3, 0, 16),
        (2, 3, 16),
        (2, 5, 16),
    ]
    assert {(s.messages, s.urls) for s in shares} == {(4, ("a", "b"))}
    assert [s.clients for s in fanout.split_plan(plan, 20)] == [1] * 7  # no empty process
    with pytest.raises(ValueError, match="at least 1"):
        fanout.split_plan(plan, 0)
    assert fanout.default_client_processes(1) == 1
    assert fanout.default_client_processes(1000) >= 2


def test_reports_of_several_processes_merge_into_one():
    def report(pid: int, received: int, latencies: tuple[float, ...], error: str = ""):
        return fanout.ClientsReport(
            connected=2,
            connect_failures=0,
            first_connect_error=error,
            connect_seconds=float(pid),
            received=received,
            distinct=received - 1,
            duplicates=1,
            out_of_order=pid,
            dropped_connections=1,
            drop_reasons=(("transport error", 1),),
            last_received=100.0 + pid,
            busy_fraction=pid / 10,
            processes=((pid, 2),),
            latencies=latencies,
        )

    merged = fanout.merge_reports(
        [report(1, 5, (0.1,) * 5), report(2, 7, (0.3,) * 7, error="boom")]
    )
    assert (merged.connected, merged.received, merged.distinct, merged.duplicates) == (4, 12, 10, 2)
    assert (merged.out_of_order, merged.dropped_connections) == (3, 2)
    assert merged.drop_reasons == (("transport error", 2),)
    assert merged.first_connect_error == "boom" and merged.connect_seconds == 2.0
    assert merged.last_received == 102.0 and merged.busy_fraction == pytest.approx(0.2)
    assert merged.processes == ((1, 2), (2, 2))
    assert merged.latency_p50 == pytest.approx(0.3)  # 7 of the 12 deliveries took 0.3 s
    assert merged.latency_p99 == pytest.approx(0.3) and len(merged.latencies) == 12


def test_the_command_runs_over_polling_and_checks_for_losses(capsys):
    assert BENCHES["fanout"] is fanout
    status = main(["fanout", "--clients", "5", "--messages", "3", "--transport", "polling"])
    assert status == 0
    assert multiprocessing.active_children() == []
    out = capsys.readouterr().out
    assert "5 socket.io clients in one room, 3 broadcasts, polling transport" in out
    kind = fanout.default_client_kind()
    assert f"; {kind} clients in {fanout.default_client_processes(5)} processes" in out
    assert "lost deliveries" in out and "LOST" not in out


def test_a_lost_delivery_is_reported_and_fails_the_check():
    lossy = fanout.FanoutResult(
        clients=2,
        messages=3,
        transport="websocket",
        connected=2,
        connect_seconds=0.1,
        received=5,
        lost=1,
        duplicates=0,
        out_of_order=0,
        dropped_connections=1,
        emit_seconds=0.01,
        broadcast_seconds=0.02,
        thread_cpu_seconds=0.001,
        process_cpu_seconds=0.002,
        latency_p50=0.001,
        latency_p99=0.002,
    )
    report = fanout.format_report(lossy)
    assert "LOST" in report
    assert lossy.expected == 6 and lossy.cpu_us_per_delivery(0.001) == pytest.approx(200)


def test_the_scratch_server_over_polling_and_websocket_loses_nothing():
    for transport in ("websocket", "polling"):
        result = fanout.measure(clients=12, messages=5, transport=transport, server="scratch")
        assert result.server == "scratch"
        assert (result.received, result.lost, result.duplicates) == (60, 0, 0), transport
        assert result.out_of_order == 0 and result.dropped_connections == 0
        assert "scratch" in fanout.format_report(result)
    kit.stop_all()
    assert multiprocessing.active_children() == []


def test_two_servers_side_by_side_with_the_same_clients(capsys):
    status = main(
        [
            *("fanout", "--clients", "5", "--messages", "3"),
            *("--server", "scratch,python-socketio", "--client-processes", "2"),
            *("--client-kind", "python"),
        ]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "server scratch then python-socketio; python clients in 2 processes" in out
    lines = out.splitlines()
    (start,) = [i for i, line in enumerate(lines) if line.startswith("server ") and "x " in line]
    table = lines[start:]
    assert "CPU/delivery" in table[0] and "x scratch" in table[0]
    assert [row.split()[0] for row in table[2:4]] == ["scratch", "python-socketio"]
    assert table[2].split()[4] == "1.00"  # the first server is the reference
    assert [row.split()[-2:] for row in table[2:4]] == [["0", "0"], ["0", "0"]]  # lost, dups
    assert "p50 ms" in table[0] and "p99 ms" in table[0]
    assert "the same python clients for all, in 2 processes" in table[-1]


def test_nodes_own_server_is_measured_with_the_same_clients(node: str):
    result = fanout.measure(clients=10, messages=5, server="node", timeout=120, client_processes=2)
    assert result.server == "node"
    assert (result.received, result.lost, result.duplicates) == (50, 0, 0)
    assert len({pid for pid, _ in result.client_processes}) == 2
    assert result.server_drop_reasons == ()  # Node counts its disconnects too
    assert result.thread_cpu_seconds > 0  # the Node process's CPU over the broadcast
    assert result.server_peak_bytes is not None and result.server_peak_bytes > 10 * 2**20
    assert "Node's process" in fanout.format_report(result)
    assert "x node" in fanout.format_comparison([result, result])


def test_without_node_the_node_server_says_what_to_install(monkeypatch):
    from kit.runtime import npm

    monkeypatch.setattr(npm.shutil, "which", lambda name: None)
    with pytest.raises(fanout.FanoutError, match="node is not installed"):
        fanout.measure(clients=1, messages=1, server="node")
    assert kit.running_servers() == []


def test_bad_arguments_are_refused_before_anything_starts():
    with pytest.raises(SystemExit, match="at least 1"):
        main(["fanout", "--clients", "0"])
    with pytest.raises(ValueError, match="transport"):
        fanout.measure(clients=1, messages=1, transport="carrier-pigeon")
    with pytest.raises(ValueError, match="server must be one of"):
        fanout.measure(clients=1, messages=1, server="carrier-pigeon")
    with pytest.raises(SystemExit, match="--server takes"):
        main(["fanout", "--server", "scratch,carrier-pigeon"])
    with pytest.raises(SystemExit, match="--client-processes must be at least 1"):
        main(["fanout", "--client-processes", "0"])
    with pytest.raises(ValueError, match="client_processes must be at least 1"):
        fanout.measure(clients=1, messages=1, client_processes=0)
    with pytest.raises(ValueError, match="client_kind must be one of"):
        fanout.measure(clients=1, messages=1, client_kind="carrier-pigeon")
    with pytest.raises(SystemExit):
        main(["fanout", "--client-kind", "carrier-pigeon"])
    assert kit.running_servers() == []


def test_too_low_a_file_limit_fails_with_the_numbers(monkeypatch):
    resource = pytest.importorskip("resource")
    monkeypatch.setattr(resource, "getrlimit", lambda which: (256, 512))
    with pytest.raises(fanout.FanoutError, match=r"about 2064 open files .* at most 512"):
        fanout.raise_open_file_limit(2064, "server process")


def test_the_codecs_benchmark_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kit.bench", "codecs", "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "apply_mask, 8 MiB" in done.stdout and "ConnectionDecoder" in done.stdout


def test_cluster_mode_spreads_clients_over_processes_sharing_redis_and_loses_none():
    from kit.bench import cluster

    result = cluster.measure(clients=12, messages=4, servers=3, timeout=120, client_processes=2)
    kit.stop_all()
    assert multiprocessing.active_children() == []
    for run in (result.baseline, result.cluster):
        assert (run.connected, run.received, run.lost, run.duplicates) == (12, 48, 0, 0)
        assert [clients for _, clients in run.client_processes] == [6, 6]
        assert run.out_of_order == 0 and run.dropped_connections == 0
    assert result.cluster.transport == "websocket, 3 servers + Redis"
    assert result.added_latency_p50 is not None
    summary = cluster.format_comparison(result)
    assert "added latency p50" in summary and "(ok)" in summary and "LOST" not in summary


def test_the_cluster_command_checks_its_arguments():
    with pytest.raises(SystemExit, match="--servers must be at least 1"):
        main(["fanout", "--servers", "0"])
    from kit.bench import cluster

    with pytest.raises(ValueError, match="at least 2 server processes"):
        cluster.measure(clients=1, messages=1, servers=1)
