"""``kit.redis()``: a real Redis server, started by the kit as a child process.

>>> import kit
>>> redis = kit.redis()                  # redis-server on a free loopback port
>>> redis.url                                            # doctest: +SKIP
'redis://127.0.0.1:40123/0'
>>> redis.command("PING")                                # doctest: +SKIP
True

Several chat server processes that share one Redis form one chat (lesson 08): python-socketio's
``AsyncRedisManager`` publishes every emit as JSON on a Redis pub/sub channel, and every
server subscribed to that channel delivers it to its own clients.

What the kit does for you:

- it runs the ``redis-server`` (or ``valkey-server``) found on ``PATH``, bound to
  ``127.0.0.1`` only, on a free port (or the ``port`` you ask for), in a temporary
  directory of its own, **with no persistence** (``--save ""``, ``--appendonly no``):
  what it holds is gone when it stops, so every run of a lesson starts empty;
- started under a name (``"redis"`` by default) it replaces the Redis of the same name,
  like ``kit.serve``; ``kit.stop_all()`` and the kernel's exit stop it;
- ``redis.kill()`` ends it with SIGKILL, as a crash would, and ``redis.restart()`` starts
  a fresh, empty one on the same port: the faults lesson 08 shows.

Without the program it raises :class:`~kit.runtime.errors.ProgramNotFoundError`, naming the
packages that install it (:data:`INSTALL`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kit.runtime.processes import ChildProgram, find_program
from kit.runtime.servers import STOP_TIMEOUT, Server, serve

__all__ = ["INSTALL", "PROGRAMS", "Redis", "RedisProcess", "redis"]

PROGRAMS = ("redis-server", "valkey-server")
"""The programs looked for on ``PATH``, in order (Valkey is Redis's open-source fork)."""

INSTALL = {
    "Debian/Ubuntu": "sudo apt-get install redis-server",
    "conda": "conda install -c conda-forge redis-server",
    "macOS": "brew install redis",
}
"""Where to get ``redis-server``."""


class RedisProcess(ChildProgram):
    """``redis-server`` on ``127.0.0.1:PORT``: no persistence, its files in a temp dir."""

    kind = "redis"

    def __init__(self, binary: str) -> None:
        super().__init__()
        self.binary = binary
        self.program = Path(binary).name

    def command(self, directory: Path) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",  # no RDB snapshots
            "--appendonly",
            "no",  # no append-only file
            "--dir",
            str(directory),
            "--daemonize",
            "no",
            "--loglevel",
            "notice",
        ]


class Redis:
    """A running Redis started by :func:`redis`: its URL, its log, and the faults to try.

    Attributes:
        url: ``redis://127.0.0.1:PORT/0``, what ``AsyncRedisManager`` and redis-py take.
        host, port: where it listens.
        name: the kit server name (``kit.stop(name)`` stops it too).
        server: the kit :class:`~kit.runtime.servers.Server` that runs it.
        process: the :class:`RedisProcess` (``pid``, ``log_tail()``).
    """

    def __init__(self, server: Server, process: RedisProcess, binary: str) -> None:
        self.server, self.process, self._binary = server, process, binary
        self.name, self.host, self.port = server.name, server.host, server.port
        self.url = f"redis://{self.host}:{self.port}/0"

    @property
    def kind(self) -> str:
        """``"redis"``: what ``kit.tap`` reads to decode RESP rather than HTTP."""
        return self.process.kind

    @property
    def running(self) -> bool:
        """True while the redis-server process runs."""
        return self.server.running and self.process.alive

    @property
    def log(self) -> str:
        """The end of redis-server's own log."""
        return self.process.log_tail()

    def command(self, *args: Any, timeout: float = 2.0) -> Any:
        """Send one Redis command with redis-py and return the answer (``"PING"`` -> True).

        Raises redis-py's ``ConnectionError`` when the server is not there.
        """
        import redis as redis_py

        client = redis_py.Redis.from_url(
            self.url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def kill(self) -> None:
        """End redis-server with SIGKILL, as a crash would: clients see the connection drop."""
        self.process.kill()

    def restart(self) -> Redis:
        """Start a fresh, empty redis-server on the same port under the same name."""
        return redis(name=self.name, port=self.port, binary=self._binary)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop redis-server (SIGTERM, then SIGKILL) and remove its directory."""
        self.server.stop(timeout)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Redis {self.name!r} {self.url} {state}>"


def redis(*, name: str = "redis", port: int = 0, binary: str | None = None) -> Redis:
    """Start a real Redis server for this kernel and return it (``.url``).

    Args:
        name: replaces the running Redis (or any kit server) of that name.
        port: 0 lets the system choose a free port; a busy fixed port raises
            :class:`~kit.runtime.errors.PortInUseError`.
        binary: the program to run; by default ``redis-server`` or ``valkey-server``
            from ``PATH``.

    Raises:
        ProgramNotFoundError: no redis-server on PATH (the message says how to install it).
        ChildProgramError: redis-server exited or did not listen (its log is quoted).
    """
    program = binary if binary is not None else find_program(PROGRAMS, INSTALL)
    process = RedisProcess(program)
    return Redis(serve(process, name=name, port=port), process, program)
