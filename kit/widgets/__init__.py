"""Widgets a learner sees and types into: chat panels, the frame inspector and its diagrams,
and the push race (four ways of hearing news, live).

Widgets are created on the kernel's main thread and updated from the runtime thread only
through their traits, never by printing. Saved in a notebook, each also shows a static
picture of itself where no kernel runs it (see :mod:`kit.widgets.static`).
"""

from __future__ import annotations

from kit.widgets.chat_panel import ChatPanel
from kit.widgets.frame_inspector import FrameInspector, hex_dump
from kit.widgets.push_race import PushRace
from kit.widgets.sequence_diagram import SequenceDiagram, sequence_diagram, sequence_png
from kit.widgets.static import side_by_side

__all__ = [
    "ChatPanel",
    "FrameInspector",
    "PushRace",
    "SequenceDiagram",
    "hex_dump",
    "sequence_diagram",
    "sequence_png",
    "side_by_side",
]
