"""In a real kernel, where widget updates travel as UTF-8 JSON, content cannot freeze a panel."""

from __future__ import annotations

import pytest

from tests.kernel import Kernel


@pytest.fixture
def kernel():
    started = Kernel()
    try:
        yield started
    finally:
        started.shutdown()


def test_a_lone_surrogate_neither_freezes_a_panel_nor_prints_a_traceback(kernel: Kernel) -> None:
    kernel.run(
        """
        import socketio, kit
        sio = socketio.AsyncServer(async_mode="aiohttp")
        server = kit.serve(sio, name="raw")
        panel = kit.ChatPanel(server, user="alice")
        display(panel)
        """
    )
    kernel.run(
        """
        kit.run(sio.emit("new message", {"user": "x\\ud800", "mess": "bad \\ud800"}))
        kit.run(sio.emit("new message", {"user": "bob", "mess": "after"}))
        panel.wait_message(timeout=5)
        panel.wait_message(timeout=5)
        """
    )
    kernel.drain(timeout=1.0)
    shown = kernel.value("panel._log.value")
    assert "after" in shown and "bad \ufffd" in shown
    problems = [o.text for o in kernel.outputs if "Error" in o.text or o.msg_type == "error"]
    assert problems == []
    assert kernel.late == []
