"""Errors raised by the kit runtime, each saying what went wrong and what to do.

- :class:`ServeError` - a server could not start
    - :class:`PortInUseError` - the fixed port is taken (also an ``OSError``)
    - :class:`UnsafeHostError` - a non-loopback host without ``allow_remote=True``
    - :class:`UnsupportedAppError` - ``kit.serve`` does not know how to run the object
    - :class:`ProgramNotFoundError` - a program the kit runs (redis-server, haproxy) is not
      installed (also a ``FileNotFoundError``)
    - :class:`ChildProgramError` - such a program exited or stayed deaf while starting
- :class:`WebSocketAPIError` - misuse of :class:`kit.WebSocket`, named after the
  browser's ``DOMException`` that the same mistake raises in JavaScript
    - :class:`InvalidStateError` - e.g. ``send()`` while still CONNECTING
    - :class:`InvalidAccessError` - e.g. ``close(1006)``, a code only a browser may report
    - :class:`WebSocketSyntaxError` - a bad URL, subprotocol or close reason
"""

from __future__ import annotations

__all__ = [
    "ChildProgramError",
    "InvalidAccessError",
    "InvalidStateError",
    "PortInUseError",
    "ProgramNotFoundError",
    "ServeError",
    "UnsafeHostError",
    "UnsupportedAppError",
    "WebSocketAPIError",
    "WebSocketSyntaxError",
]


class ServeError(Exception):
    """A kit server could not be started."""


class PortInUseError(ServeError, OSError):
    """The fixed port asked for is already bound by another socket."""

    def __init__(self, host: str, port: int, holder: str | None = None) -> None:
        super().__init__(host, port, holder)
        self.host, self.port, self.holder = host, port, holder

    def __str__(self) -> str:
        who = f"the kit server {self.holder}" if self.holder else "another program or server"
        fix = (
            f"stop it with kit.stop({self.holder!r}), or pass port=0 to let the system choose"
            if self.holder
            else "pass port=0 to let the system choose a free port, or stop the other server"
        )
        return f"port {self.port} on {self.host} is already in use by {who}; {fix}"


class UnsafeHostError(ServeError, ValueError):
    """A host other than loopback was asked for without saying so explicitly."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host

    def __str__(self) -> str:
        return (
            f"host={self.host!r} would accept connections from other machines; lesson "
            "servers bind 127.0.0.1. If you really mean to expose it, pass allow_remote=True"
        )


class UnsupportedAppError(ServeError, TypeError):
    """``kit.serve`` was given an object it cannot run."""

    def __init__(self, app: object, hint: str = "") -> None:
        super().__init__(app, hint)
        self.app, self.hint = app, hint

    def __str__(self) -> str:
        accepted = (
            "a socketio.AsyncServer, an aiohttp web.Application, a kit ScratchServer, "
            "or a websockets connection handler `async def handler(websocket)`"
        )
        text = f"kit.serve() cannot run {type(self.app).__name__} {self.app!r:.60}"
        return f"{text}: {self.hint or 'it accepts ' + accepted}"


class ProgramNotFoundError(ServeError, FileNotFoundError):
    """A program the kit starts as a child process is not on ``PATH``.

    ``names`` are the program names looked for, ``packages`` says where to get one
    (``{"Debian/Ubuntu": "apt-get install redis-server", ...}``).
    """

    def __init__(self, names: tuple[str, ...], packages: dict[str, str]) -> None:
        super().__init__(names, packages)
        self.names, self.packages = tuple(names), dict(packages)

    def __str__(self) -> str:
        looked = " or ".join(self.names)
        how = "; ".join(f"{where}: {command}" for where, command in self.packages.items())
        return f"{looked} is not installed (not found on PATH); install it. {how}"


class ChildProgramError(ServeError):
    """A program the kit started exited, or did not listen, while starting.

    ``program`` is its name, ``problem`` what happened, ``log`` the end of its own output
    (its error message is usually there).
    """

    def __init__(self, program: str, problem: str, log: str) -> None:
        super().__init__(program, problem, log)
        self.program, self.problem, self.log = program, problem, log

    def __str__(self) -> str:
        said = f"; it said:\n{self.log}" if self.log else " (it wrote nothing)"
        return f"{self.program} {self.problem}{said}"


class WebSocketAPIError(Exception):
    """Misuse of the WebSocket API; ``dom_name`` is the JavaScript exception's name."""

    dom_name = "Error"


class InvalidStateError(WebSocketAPIError, RuntimeError):
    """The call is not allowed in the socket's current ``readyState``."""

    dom_name = "InvalidStateError"


class InvalidAccessError(WebSocketAPIError, ValueError):
    """An argument a program may not use (a reserved close code)."""

    dom_name = "InvalidAccessError"


class WebSocketSyntaxError(WebSocketAPIError, ValueError):
    """A malformed URL, subprotocol list or close reason (JavaScript: ``SyntaxError``)."""

    dom_name = "SyntaxError"
