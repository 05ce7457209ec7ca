"""The shape of the process-wide state the runtime owns (see :meth:`RuntimeLoop.part`)."""

from __future__ import annotations

from typing import ClassVar

__all__ = ["Part"]


class Part:
    """Process-wide state the runtime owns: one instance per runtime, made on first use.

    Everything the kit keeps for the whole process (the servers running, the sockets
    open, the event channels, where output goes) is a part, reached with
    ``runtime.part(Kind)``, never a module global. A part that holds something to close
    says so in :meth:`on_stop`: ``kit.stop_all()`` (and interpreter exit) calls every
    part's ``on_stop`` on the loop, lowest ``stop_order`` first (clients say goodbye
    before the servers they talk to go away).
    """

    stop_order: ClassVar[int] = 0

    async def on_stop(self) -> None:
        """Close what this part holds (on the runtime loop, while stopping)."""

    async def on_server_stopping(self, netloc: str) -> None:
        """A kit server (or tap, or child program) at ``netloc`` (``127.0.0.1:PORT``) is
        about to stop for good: forget what depends on it (on the runtime loop).

        Clients that reconnect on their own use it to stop knocking on a port nobody will
        open again (a re-run cell serves on a new port).
        """
