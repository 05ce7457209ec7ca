"""kit.bench.fanout: a small broadcast is delivered whole, and the report names every figure.

Functional checks only: these numbers are far too small to say anything about speed.
"""

from __future__ import annotations

import multiprocessing
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
    "broadcast wall time",
    "deliveries/s",
    "server CPU per delivery",
    "runtime thread",
    "whole server process",
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


def test_the_command_runs_over_polling_and_checks_for_losses(capsys):
    assert BENCHES["fanout"] is fanout
    status = main(["fanout", "--clients", "5", "--messages", "3", "--transport", "polling"])
    assert status == 0
    assert multiprocessing.active_children() == []
    out = capsys.readouterr().out
    assert "5 socket.io clients in one room, 3 broadcasts, polling transport" in out
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
        ["fanout", "--clients", "5", "--messages", "3", "--server", "scratch,python-socketio"]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "server scratch then python-socketio" in out
    lines = out.splitlines()
    (start,) = [i for i, line in enumerate(lines) if line.startswith("server ") and "x " in line]
    table = lines[start:]
    assert "CPU/delivery" in table[0] and "x scratch" in table[0]
    assert [row.split()[0] for row in table[2:4]] == ["scratch", "python-socketio"]
    assert table[2].split()[4] == "1.00"  # the first server is the reference
    assert [row.split()[-2:] for row in table[2:4]] == [["0", "0"], ["0", "0"]]  # lost, dups


def test_nodes_own_server_is_measured_with_the_same_clients(node: str):
    result = fanout.measure(clients=10, messages=5, server="node", timeout=120)
    assert result.server == "node"
    assert (result.received, result.lost, result.duplicates) == (50, 0, 0)
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

    result = cluster.measure(clients=12, messages=4, servers=3, timeout=120)
    kit.stop_all()
    assert multiprocessing.active_children() == []
    for run in (result.baseline, result.cluster):
        assert (run.connected, run.received, run.lost, run.duplicates) == (12, 48, 0, 0)
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
