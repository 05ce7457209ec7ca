"""Widgets a learner sees and types into: chat panels (and, later, the frame inspector).

Widgets are created on the kernel's main thread and updated from the runtime thread only
through their traits, never by printing.
"""

from __future__ import annotations

from kit.widgets.chat_panel import ChatPanel

__all__ = ["ChatPanel"]
