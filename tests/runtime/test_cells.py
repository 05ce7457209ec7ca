"""In a real Jupyter kernel: output lands in the right cell, re-runs replace, shutdown frees.

These tests start an ipykernel (the one of this interpreter) and talk to it over the
Jupyter protocol, the way JupyterLab and nbval do, then look at the parent of every
output message: that id decides which cell shows the output. The rule under test
(kit.runtime.cells): runtime output goes into the cell waiting for the kit, else to a
background parent no cell has; never into a cell after it finished.
"""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Iterator

import pytest

from tests.kernel import Kernel


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    started = Kernel()
    yield started
    started.shutdown()


SETUP = """
    import asyncio

    import kit

    async def echo(websocket):
        async for message in websocket:
            await asyncio.sleep(0.05)  # by now the cell that sent it waits, or has not
            print("server saw", message)
            await websocket.send(message)

    server = kit.serve(echo, name="echo")
    ws = kit.WebSocket(server.ws_url)
    ws.onmessage = lambda event: print("got", event.data)
    ws.wait_open()
"""


def test_runtime_output_goes_to_the_waiting_cell_or_the_background_never_a_finished_one(
    kernel,
):
    setup = kernel.run(SETUP)
    waiting = kernel.run('ws.send("during-wait"); ws.wait_message()')
    busy = kernel.run('import time\nws.send("no-wait")\ntime.sleep(0.5)')
    later = kernel.run('time.sleep(0.3)\nprint("later cell")')
    kernel.drain(timeout=0.5)

    # The cell that waits gets what the server and the listener printed meanwhile.
    assert kernel.output_of(waiting) == "server saw during-wait\ngot during-wait\n"
    # Sent by a cell that did not wait: the server printed while that cell ran, the echo
    # was delivered after it: neither belongs to a cell, so both went to the background.
    assert kernel.output_of(busy) == ""
    assert kernel.output_of(later) == "later cell\n"
    assert kernel.output_of(setup) == ""
    assert "server saw no-wait\n" in kernel.background()
    assert "got no-wait\n" in kernel.background()
    assert kernel.late == []


def test_a_blocking_kit_call_counts_as_waiting(kernel):
    kernel.run(SETUP)
    ran = kernel.run(
        """
        async def shout():
            print("printed on the runtime thread")
            return 42

        kit.run(shout())
        """
    )
    kernel.drain(timeout=0.3)
    assert kernel.output_of(ran) == "printed on the runtime thread\n"
    assert kernel.late == []


def test_a_failing_handler_is_filed_with_its_server_not_printed(kernel):
    started = kernel.run(
        """
        import kit

        async def broken(websocket):
            await websocket.recv()
            1 / 0

        server = kit.serve(broken, name="broken")
        ws = kit.WebSocket(server.ws_url)
        ws.wait_open()
        """
    )
    sent = kernel.run('ws.send("boom"); print(ws.wait_closed().code)')
    kernel.drain(timeout=0.5)
    assert kernel.output_of(sent) == "1011\n"  # the server's "internal error" close
    assert kernel.output_of(started) == ""
    assert "Traceback" not in kernel.background()
    assert "ZeroDivisionError" in kernel.value("server.errors[-1]")
    assert kernel.late == []


def test_rerunning_a_cell_replaces_its_unnamed_server(kernel):
    start = textwrap.dedent(
        """
        import kit

        async def echo(websocket):
            async for message in websocket:
                await websocket.send(message)

        server = kit.serve(echo)
        """
    )
    for _ in range(3):
        kernel.run(start)
    assert kernel.value("len(kit.running_servers())") == "1"
    two = "first = kit.serve(echo)\nsecond = kit.serve(echo)"
    for _ in range(3):
        kernel.run(two)  # a cell with two servers keeps both, and replaces both on a re-run
    assert kernel.value("len(kit.running_servers())") == "3"
    assert kernel.value("first.port != second.port") == "True"


def test_a_busy_port_error_leaves_the_kernel_alive(kernel):
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        port = squatter.getsockname()[1]
        msg_id = kernel.client.execute(
            f"import kit\nasync def h(ws): pass\nkit.serve(h, port={port})"
        )
        reply = kernel.reply_to(msg_id, timeout=30)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "PortInUseError"
        kernel.drain(until_idle=msg_id, timeout=30)
    assert kernel.value("1 + 1") == "2"  # the kernel survived


def test_kernel_shutdown_frees_the_port():
    kernel = Kernel()
    kernel.run(SETUP)
    port = int(kernel.value("server.port"))
    kernel.shutdown()
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))  # raises if the kernel left the server behind
        probe.listen()


def test_the_late_output_detector_catches_a_thread_printing_after_its_cell(kernel):
    """The helper that guards every lesson (tests/notebooks/test_late_output.py) can fail."""
    started = kernel.run(
        """
        import threading, time
        threading.Thread(target=lambda: (time.sleep(0.3), print("too late"))).start()
        """
    )
    kernel.drain(timeout=1.0)
    assert [(o.parent, o.text) for o in kernel.late] == [(started, "too late\n")]
