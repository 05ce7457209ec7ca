"""Programs the kit runs as child processes (redis-server, haproxy), served like any app.

``kit.serve`` runs anything shaped like a server (``kind``, ``start(sock)``, ``stop()``).
A :class:`ChildProgram` is such a shape around a real program found on ``PATH``:

- ``kit.serve`` binds the port (so a busy port is the usual
  :class:`~kit.runtime.errors.PortInUseError`, naming who holds it); ``start`` reads the
  port, closes that socket and starts the program on it, in a temporary directory of its
  own, its output going to a log file there;
- ``start`` returns once the program accepts TCP connections on its port, or raises
  :class:`~kit.runtime.errors.ChildProgramError` with the end of the program's own log
  when it exits first or stays deaf for ``start_timeout`` seconds: never a hang;
- ``stop`` sends SIGTERM, waits up to ``stop_timeout`` seconds, then SIGKILL, and removes
  the directory. So re-running a cell (a server of the same name is replaced),
  ``kit.stop_all()`` and the interpreter's exit all stop the program, as they stop
  every kit server; ``kit.stop_all()`` signals all programs at once
  (:class:`ChildPrograms`), so that stopping several takes as long as the slowest.
- A kernel does not always exit through ``atexit``: ipykernel ends with ``os._exit`` when
  its parent went away, and a kernel can be killed. On Linux each program is therefore
  started with ``PR_SET_PDEATHSIG`` (``prctl(2)``): the system sends it SIGTERM when the
  thread that started it (the kit's runtime thread) ends, however the kernel ends.

A program missing from ``PATH`` raises :class:`~kit.runtime.errors.ProgramNotFoundError`
naming the packages that install it, before anything is bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kit.runtime.errors import ChildProgramError, ProgramNotFoundError
from kit.runtime.loop import runtime
from kit.runtime.parts import Part

__all__ = ["ChildProgram", "ChildPrograms", "find_program"]

PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal a process gets when its parent thread ends."""


def _parent_death_signal() -> Callable[[], object] | None:
    """A ``preexec_fn`` asking Linux for SIGTERM when the starting thread ends, or None.

    The C function is looked up here, in the parent: the child, between fork and exec,
    only calls it (no import, no allocation).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - no usable libc
        return None
    signal_number = int(signal.SIGTERM)

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signal_number)

    return die_with_parent


LOG_TAIL = 1500
"""How much of the end of a program's log an error quotes, in characters."""


def find_program(names: tuple[str, ...], packages: dict[str, str]) -> str:
    """The full path of the first of ``names`` found on ``PATH``.

    Raises :class:`ProgramNotFoundError` naming ``packages`` (where -> what to install).
    """
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise ProgramNotFoundError(names, packages)


def _sweep_directories_of_dead_kernels() -> None:
    """Remove the directories of programs whose kernel ended without cleaning up.

    A kernel killed (or ended by ``os._exit``) takes its programs with it (see the module
    docstring) but cannot remove their directories; the next kit process that starts a
    program does, for every kernel that is gone (the directory names carry its pid).
    """
    for directory in Path(tempfile.gettempdir()).glob("kit-*-pid*-*"):
        owner = directory.name.split("-pid", 1)[1].split("-", 1)[0]
        if not owner.isdigit() or int(owner) == os.getpid():
            continue
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            shutil.rmtree(directory, ignore_errors=True)
        except PermissionError:  # another user's process, alive
            continue


class ChildProgram:
    """A program on a port of its own, started and stopped by the kit.

    Subclasses say what to run in :meth:`command` (and may write files into
    :attr:`directory` first). Attributes once started: ``port``, ``pid``, ``directory``,
    ``log_path``.
    """

    kind = "program"
    program = "program"
    """The program's name, in messages."""
    start_timeout = 10.0
    stop_timeout = 3.0
    ready_text: str | None = None
    """A line the program writes once it serves; waited for besides the port (a program
    may listen a moment before it gives up, as a server that checks its database)."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.directory: Path | None = None
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: object = None

    # -- what subclasses say ------------------------------------------------------------

    def command(self, directory: Path) -> list[str]:  # pragma: no cover - each program says
        """The command line that runs the program on ``self.host:self.port``."""
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The program's environment (None: this process's own)."""
        return None

    # -- the shape of a server ------------------------------------------------------------

    async def start(self, sock: socket.socket) -> None:
        """Start the program on ``sock``'s port (``kit.serve`` bound it) and wait for it."""
        self.host, self.port = sock.getsockname()[:2]
        sock.close()  # the program binds the port itself, right away
        _sweep_directories_of_dead_kernels()
        self.directory = Path(tempfile.mkdtemp(prefix=f"kit-{self.kind}-pid{os.getpid()}-"))
        self.log_path = self.directory / f"{self.kind}.log"
        argv = self.command(self.directory)
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in _reap
        self._log_file = log
        try:
            self._process = subprocess.Popen(
                argv,
                cwd=self.directory,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: a Ctrl-C in a terminal reaches the kit, which then
                # stops the program in order, instead of both racing.
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )
        except OSError as exc:
            self._cleanup()
            raise ChildProgramError(self.program, f"could not be started: {exc}", "") from exc
        runtime.part(ChildPrograms).running.add(self)
        try:
            await self._wait_until_listening()
        except BaseException:
            await self.stop()
            raise

    async def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                raise ChildProgramError(
                    self.program, f"exited with status {code} while starting", self.log_tail()
                )
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), 1.0
                )
            except (OSError, asyncio.TimeoutError):
                if time.monotonic() > deadline:
                    raise ChildProgramError(
                        self.program,
                        f"did not listen on {self.host}:{self.port} within "
                        f"{self.start_timeout:g} s",
                        self.log_tail(),
                    ) from None
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            if self.ready_text is None or self.ready_text in self.log_tail(size=1 << 16):
                return
            if time.monotonic() > deadline:
                raise ChildProgramError(
                    self.program,
                    f"did not say {self.ready_text!r} within {self.start_timeout:g} s",
                    self.log_tail(),
                )
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout`` s; remove the directory."""
        runtime.part(ChildPrograms).running.discard(self)
        if self._process is not None and self.port:
            await runtime.server_stopping(f"{self.host}:{self.port}")
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            deadline = time.monotonic() + self.stop_timeout
            while process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=2)  # reaped: no zombie
        self._cleanup()

    def kill(self) -> None:
        """End the program at once with SIGKILL, as a crash would (no clean-up by it)."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=2)

    def _cleanup(self) -> None:
        log, self._log_file = self._log_file, None
        if log is not None:
            with contextlib.suppress(OSError):
                log.close()  # type: ignore[attr-defined]
        directory, self.directory = self.directory, None
        if directory is not None:
            # Keep the last words of the program for log_tail() after it stopped.
            self._last_log = self._read_log(directory / f"{self.kind}.log")
            shutil.rmtree(directory, ignore_errors=True)

    # -- what a cell reads ------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The program's process id while it runs, else None."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def alive(self) -> bool:
        """True while the program's process runs."""
        return self.pid is not None

    @staticmethod
    def _read_log(path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, size: int = LOG_TAIL) -> str:
        """The end of what the program wrote (stdout and stderr), at most ``size`` chars."""
        text = (
            self._read_log(self.log_path)
            if self.directory is not None and self.log_path is not None
            else getattr(self, "_last_log", "")
        )
        return text[-size:].strip()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.alive else "not running"
        return f"<{type(self).__name__} {self.host}:{self.port} {state}>"


class ChildPrograms(Part):
    """The programs running now; ``kit.stop_all()`` signals them all at once.

    Stopped before the servers (whose stop then finds each program gone): programs such as
    ``python -m kit.chat`` take a moment to stop cleanly, and stopping them one by one
    could outlast the time an exiting interpreter gives the kit.
    """

    stop_order = 5  # after the clients said goodbye (-10), before the servers (10)

    def __init__(self) -> None:
        self.running: set[ChildProgram] = set()

    async def on_stop(self) -> None:
        programs = list(self.running)
        for program in programs:
            process = program._process
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
        await asyncio.gather(*(program.stop() for program in programs), return_exceptions=True)
