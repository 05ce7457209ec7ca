"""A real Jupyter kernel for tests, driven over the Jupyter protocol like JupyterLab and nbval.

Every output message is recorded with the id of the cell run (``msg_id``) it belongs to,
and each cell run is marked finished when the kernel reports it idle. Output that arrives
for a cell after that is *late*: a front end would append it under a finished cell, where
nobody looks and nbval never compares it.
"""

from __future__ import annotations

import queue
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client import BlockingKernelClient
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, start_new_kernel

OUTPUT_TYPES = ("stream", "display_data", "execute_result", "error", "update_display_data")


@dataclass(frozen=True)
class Output:
    """One output message: which cell run it belongs to, its type and content."""

    parent: str
    msg_type: str
    content: dict[str, Any]
    late: bool

    @property
    def text(self) -> str:
        if self.msg_type == "stream":
            return self.content["text"]
        if self.msg_type == "error":
            return f"{self.content['ename']}: {self.content['evalue']}"
        return str(self.content.get("data", {}).get("text/plain", ""))


class Kernel:
    """A kernel of this interpreter, started in ``cwd``, plus a record of its output."""

    def __init__(self, cwd: Path | None = None) -> None:
        kwargs = {"cwd": str(cwd)} if cwd is not None else {}
        self.manager, self.client = start_new_kernel(kernel_name=CURRENT_ENV_KERNEL_NAME, **kwargs)
        self.client: BlockingKernelClient
        self.outputs: list[Output] = []
        self.idle: set[str] = set()  # cell runs that have finished

    # -- running cells --------------------------------------------------------------------

    def reply_to(self, msg_id: str, timeout: float) -> dict[str, Any]:
        """The shell reply to ``msg_id``, skipping replies to other requests.

        The first shell message is not always ours: a late ``kernel_info_reply`` from the
        client's start-up can come first on a loaded machine.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply to {msg_id} within {timeout:g} s")
            reply = self.client.get_shell_msg(timeout=left)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def execute(self, code: str, timeout: float = 60) -> tuple[str, dict[str, Any]]:
        """Run a cell; wait until it is idle; return its msg_id and the reply content."""
        msg_id = self.client.execute(textwrap.dedent(code))
        reply = self.reply_to(msg_id, timeout)
        self.drain(until_idle=msg_id, timeout=timeout)
        self.idle.add(msg_id)
        return msg_id, reply["content"]

    def run(self, code: str, timeout: float = 60) -> str:
        """Run a cell that must succeed; return its msg_id."""
        msg_id, content = self.execute(code, timeout)
        assert content["status"] == "ok", f"{content.get('ename')}: {content.get('evalue')}"
        return msg_id

    def drain(self, until_idle: str | None = None, timeout: float = 1.0) -> None:
        """Record iopub output until ``until_idle`` goes idle, or for ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.client.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            parent = msg["parent_header"].get("msg_id", "")
            msg_type = msg["msg_type"]
            if msg_type in OUTPUT_TYPES:
                self.outputs.append(Output(parent, msg_type, msg["content"], parent in self.idle))
            if (
                until_idle is not None
                and parent == until_idle
                and msg_type == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                return
        if until_idle is not None:
            raise TimeoutError(f"cell {until_idle} did not go idle within {timeout:g} s")

    # -- reading what came out -----------------------------------------------------------

    def output_of(self, msg_id: str) -> str:
        """The stream text a cell run printed."""
        return "".join(
            o.text for o in self.outputs if o.parent == msg_id and o.msg_type == "stream"
        )

    @property
    def late(self) -> list[Output]:
        """Output that reached a cell after it had finished."""
        return [o for o in self.outputs if o.late]

    def background(self) -> str:
        """Stream text attributed to the kit's background parent (no cell has it)."""
        return "".join(
            o.text
            for o in self.outputs
            if o.msg_type == "stream" and o.parent.startswith("kit-background-")
        )

    def value(self, expression: str) -> str:
        """The repr of ``expression`` evaluated in the kernel."""
        msg_id = self.client.execute("", user_expressions={"v": expression})
        reply = self.reply_to(msg_id, timeout=10)
        self.drain(until_idle=msg_id, timeout=10)
        self.idle.add(msg_id)
        return reply["content"]["user_expressions"]["v"]["data"]["text/plain"]

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=False)
