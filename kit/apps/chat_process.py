"""``kit.chat_process()``: ``python -m kit.chat`` as a child process the kernel owns.

>>> one = kit.chat_process(redis=redis.url, name="one")      # doctest: +SKIP
>>> two = kit.chat_process(redis=redis.url, name="two")      # doctest: +SKIP
>>> kit.ChatPanel(one, user="alice"), kit.ChatPanel(two, user="bob")  # doctest: +SKIP

Each call starts the chat server command (:mod:`kit.chat`) in a process of its own, on a
free loopback port, and returns the kit :class:`~kit.runtime.servers.Server` for it: its
``url``, ``link()``, ``stop()``; ``server.app`` is the :class:`ChatProcess` (``pid``,
``log_tail()``, the process's own log of connections and Redis outages). Like every kit
server it is replaced on re-run by name and stopped (SIGTERM: a clean stop of the
command) by ``kit.stop_all()`` and at the kernel's exit. Several of them given the same
Redis are one chat across processes: lesson 08.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from kit.apps.chat import (
    CHANNEL,
    DEFAULT_ROOMS,
    MAX_BACKLOG,
    MAX_DELIVERIES,
    MAX_TEXT,
    PING_INTERVAL,
    PING_TIMEOUT,
    check_deliveries,
    check_heartbeat,
)
from kit.apps.roster import check_redis_url
from kit.runtime.processes import ChildProgram
from kit.runtime.servers import Server, serve

__all__ = ["ChatProcess", "chat_process"]

ROOT = Path(__file__).resolve().parents[2]


class ChatProcess(ChildProgram):
    """``python -m kit.chat`` on ``127.0.0.1:PORT``, served by ``kit.serve`` like any app."""

    kind = "chat-process"
    program = "python -m kit.chat"
    socketio = True
    """Clients talk socket.io to it (chat panels pick their protocol from this)."""
    start_timeout = 30.0  # a Python interpreter importing aiohttp and socketio, on a busy CI
    ready_text = "kit.chat: serving"  # it listens before it has checked its Redis

    def __init__(
        self,
        *,
        redis: str | None,
        channel: str,
        rooms: Iterable[str] | None,
        max_text: int = MAX_TEXT,
        max_backlog: int = MAX_BACKLOG,
        ping_interval: float = PING_INTERVAL,
        ping_timeout: float = PING_TIMEOUT,
        max_deliveries: int | None = MAX_DELIVERIES,
    ) -> None:
        super().__init__()
        for what, value in (("max_text", max_text), ("max_backlog", max_backlog)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{what} must be a whole number of at least 1, not {value!r}")
        self.ping_interval = check_heartbeat("ping_interval", ping_interval, whole=True)
        self.ping_timeout = check_heartbeat("ping_timeout", ping_timeout)
        self.max_deliveries = check_deliveries(max_deliveries)
        self.redis = check_redis_url(redis) if redis is not None else None
        self.channel = channel
        self.rooms = tuple(rooms) if rooms is not None else None
        self.max_text, self.max_backlog = max_text, max_backlog

    def command(self, directory: Path) -> list[str]:
        argv = [sys.executable, "-m", "kit.chat", "--host", self.host, "--port", str(self.port)]
        if self.redis:
            argv += ["--redis", self.redis, "--channel", self.channel]
        if self.rooms is None:
            argv.append("--any-room")
        else:
            for room in self.rooms:
                argv += ["--room", room]
        argv += ["--max-text", str(self.max_text), "--max-backlog", str(self.max_backlog)]
        argv += ["--ping-interval", repr(self.ping_interval)]
        argv += ["--ping-timeout", repr(self.ping_timeout)]
        argv += ["--max-deliveries", str(self.max_deliveries or 0)]
        return argv

    def environment(self) -> dict[str, str]:
        # The child imports this very kit, wherever it was imported from.
        paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def chat_process(
    *,
    redis: str | object | None = None,
    name: str | None = None,
    port: int = 0,
    channel: str = CHANNEL,
    rooms: Iterable[str] | None = DEFAULT_ROOMS,
    max_text: int = MAX_TEXT,
    max_backlog: int = MAX_BACKLOG,
    ping_interval: float = PING_INTERVAL,
    ping_timeout: float = PING_TIMEOUT,
    max_deliveries: int | None = MAX_DELIVERIES,
) -> Server:
    """Start ``python -m kit.chat`` in a child process and return its kit server.

    Args:
        redis: a Redis URL (or ``kit.redis()``, or a tap in front of it): join that chat.
        name: replaces the running kit server of that name.
        port: 0 lets the system choose a free port.
        channel: the Redis channel (and key prefix) of the chat.
        rooms: the rooms clients may join (None: any name).
        max_text: the longest message, in characters (``kit.chat_app(max_text=...)``).
        max_backlog: packets a client may have waiting before broadcasts skip it.
        ping_interval, ping_timeout: the heartbeat in seconds (25 and 20), as
            ``kit.chat_app(ping_interval=..., ping_timeout=...)``.
        max_deliveries: the delivery budget a second (5,000), or None for none, as
            ``kit.chat_app(max_deliveries=...)``.

    Raises:
        ChildProgramError: the command exited while starting (its log is quoted: an
            unreachable Redis, say).
        ValueError: ``max_text`` or ``max_backlog`` is not a whole number of at least 1;
            ``ping_interval`` or ``ping_timeout`` is not positive; ``max_deliveries`` is
            not a whole number of at least 1 (nor None).
        TypeError: ``ping_interval`` or ``ping_timeout`` is not a number.
    """
    url = getattr(redis, "url", redis)
    process = ChatProcess(
        redis=url if url is None else str(url),
        channel=channel,
        rooms=rooms,
        max_text=max_text,
        max_backlog=max_backlog,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_deliveries=max_deliveries,
    )
    return serve(process, name=name, port=port)
