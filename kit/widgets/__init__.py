"""Widgets a learner sees and types into: chat panels, the frame inspector and its diagrams.

Widgets are created on the kernel's main thread and updated from the runtime thread only
through their traits, never by printing.
"""

from __future__ import annotations

from kit.widgets.chat_panel import ChatPanel
from kit.widgets.frame_inspector import FrameInspector, hex_dump
from kit.widgets.sequence_diagram import sequence_diagram

__all__ = ["ChatPanel", "FrameInspector", "hex_dump", "sequence_diagram"]
