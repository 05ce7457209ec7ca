"""In a real Jupyter kernel: output lands in the right cell, re-runs replace, shutdown frees.

These tests start an ipykernel (the one of this interpreter) and talk to it over the
Jupyter protocol, the way JupyterLab and nbval do, then look at the parent of every
output message: that id decides which cell shows the output.
"""

from __future__ import annotations

import queue
import socket
import textwrap
import time
from collections.abc import Iterator

import pytest
from jupyter_client import BlockingKernelClient
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, start_new_kernel


class Kernel:
    """A kernel plus a record of every stream output: (cell msg_id, text)."""

    def __init__(self) -> None:
        self.manager, self.client = start_new_kernel(kernel_name=CURRENT_ENV_KERNEL_NAME)
        self.client: BlockingKernelClient
        self.streams: list[tuple[str, str]] = []

    def run(self, code: str, timeout: float = 30) -> str:
        """Execute a cell, wait until it is idle, return its msg_id."""
        msg_id = self.client.execute(textwrap.dedent(code))
        reply = self.client.get_shell_msg(timeout=timeout)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "ok", reply["content"]
        self.drain(until_idle=msg_id, timeout=timeout)
        return msg_id

    def drain(self, until_idle: str | None = None, timeout: float = 1.0) -> None:
        """Record iopub output until ``until_idle`` goes idle, or ``timeout`` of silence."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.client.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                if until_idle is None:
                    continue
                continue
            parent = msg["parent_header"].get("msg_id", "")
            if msg["msg_type"] == "stream":
                self.streams.append((parent, msg["content"]["text"]))
            if (
                until_idle is not None
                and parent == until_idle
                and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                return

    def output_of(self, msg_id: str) -> str:
        return "".join(text for parent, text in self.streams if parent == msg_id)

    def value(self, expression: str) -> str:
        msg_id = self.client.execute("", user_expressions={"v": expression})
        reply = self.client.get_shell_msg(timeout=10)
        assert reply["parent_header"]["msg_id"] == msg_id
        self.drain(until_idle=msg_id)
        return reply["content"]["user_expressions"]["v"]["data"]["text/plain"]

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=False)


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    started = Kernel()
    yield started
    started.shutdown()


SETUP = """
    import kit

    async def echo(websocket):
        async for message in websocket:
            print("server saw", message)
            await websocket.send(message)

    server = kit.serve(echo, name="echo")
    ws = kit.WebSocket(server.ws_url)
    ws.onmessage = lambda event: print("got", event.data)
    ws.wait_open()
"""


def test_callbacks_print_into_the_waiting_cell_or_their_own_never_a_later_one(kernel):
    setup = kernel.run(SETUP)
    waiting = kernel.run('ws.send("during-wait"); ws.wait_message()')
    busy = kernel.run('import time\nws.send("no-wait")\ntime.sleep(0.5)')
    later = kernel.run('time.sleep(0.3)\nprint("later cell")')
    kernel.drain(timeout=0.5)

    assert kernel.output_of(waiting) == "got during-wait\n"
    # Sent by a cell that did not wait: held while it ran, then delivered into the cell
    # that registered the handler, never into the cell running at that moment.
    assert kernel.output_of(busy) == ""
    assert kernel.output_of(later) == "later cell\n"
    setup_output = kernel.output_of(setup)
    assert "got no-wait\n" in setup_output
    # The server was started by the first cell: its prints always go there.
    assert "server saw during-wait\n" in setup_output
    assert "server saw no-wait\n" in setup_output


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
        reply = kernel.client.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "PortInUseError"
        kernel.drain(until_idle=msg_id)
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
