"""``python -m kit.chat``: the chat server of lesson 06 as a command, outside Jupyter.

::

    python -m kit.chat --port 8000                       # one server on its own
    python -m kit.chat --port 8001 --redis redis://127.0.0.1:6379/0
    python -m kit.chat --port 8002 --redis redis://127.0.0.1:6379/0   # same chat

Every process started with the same ``--redis`` URL (and ``--channel``) is one chat:
rooms, broadcasts, private messages, the online list and a server-side disconnect work
across them (``kit.chat_app(redis=...)``, lesson 08). It serves the chat page at ``/``,
logs one line per connection and disconnection (and Redis outages) on stderr, and stops
cleanly on Ctrl-C or SIGTERM: every client is sent an engine.io CLOSE, its entries leave
the shared online list, and the process exits with status 0.

Exit status: 0 after a clean stop, 1 when Redis cannot be reached at start, 2 for bad
arguments or a port that is taken.

``--store PATH`` keeps every message in that SQLite file (``kit.chat_app(store=...)``,
lesson 07): clients that come back get what they missed, across restarts of the command
on the same file. A store file that is locked, read-only or corrupt is exit status 2,
with the file and the fix named.

``--ping-interval S`` and ``--ping-timeout S`` set the heartbeat
(``kit.chat_app(ping_interval=..., ping_timeout=...)``, 25 and 20 s by default): a
client gone without a word is dropped, and its name freed, within their sum.

``--max-deliveries N`` is the delivery budget (``kit.chat_app(max_deliveries=...)``,
5,000 a second by default; 0: none): past it, messages are refused as busy.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

import kit
from kit.apps.chat import (
    CHANNEL,
    DEFAULT_ROOMS,
    MAX_BACKLOG,
    MAX_DELIVERIES,
    MAX_TEXT,
    PING_INTERVAL,
    PING_TIMEOUT,
    check_heartbeat,
)
from kit.apps.recovery import StoreFileError
from kit.apps.roster import RedisUnavailableError, check_redis_url

__all__ = ["main", "parser"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def _redis_url(text: str) -> str:
    try:
        return check_redis_url(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a port is a number 0-65535, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number 0-65535, not {port}")
    return port


def _positive(what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} is a whole number, not {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{what} must be at least 1, not {value}")
        return value

    return parse


def _budget(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--max-deliveries is a whole number, not {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"--max-deliveries must be 0 (no budget) or more, not {value}"
        )
    return value or None


def _seconds(what: str, *, whole: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} is a number of seconds, not {text!r}"
            ) from None
        try:
            return check_heartbeat(what, value, whole=whole)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m kit.chat``."""
    commands = argparse.ArgumentParser(
        prog="python -m kit.chat",
        description=(
            "Run kit.chat_app(), the article's chat server with its page, outside Jupyter. "
            "Several processes given the same --redis URL form one chat."
        ),
        epilog=(
            "Stops cleanly on Ctrl-C or SIGTERM. Exit status: 0 after a clean stop, 1 when "
            "Redis cannot be reached, 2 for bad arguments, a taken port or an unusable "
            "--store file."
        ),
    )
    commands.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1, this machine only; any other "
        "address lets other machines connect, and the command says so)",
    )
    commands.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="the TCP port to listen on (default 8000; 0 picks a free one and prints it)",
    )
    commands.add_argument(
        "--redis",
        type=_redis_url,
        metavar="URL",
        help="join a cluster: the Redis every server of the chat shares, e.g. "
        "redis://127.0.0.1:6379/0 (default: no Redis, a chat of one server)",
    )
    commands.add_argument(
        "--channel",
        default=CHANNEL,
        help=f"the Redis pub/sub channel and key prefix of the chat (default {CHANNEL!r}); "
        "servers of one chat use the same",
    )
    rooms = commands.add_mutually_exclusive_group()
    rooms.add_argument(
        "--room",
        action="append",
        dest="rooms",
        metavar="NAME",
        help="a room clients may join; repeat for several (default: "
        + " and ".join(repr(room) for room in DEFAULT_ROOMS)
        + ")",
    )
    rooms.add_argument(
        "--any-room",
        action="store_true",
        help="let clients join a room of any name",
    )
    commands.add_argument(
        "--store",
        metavar="PATH",
        help="keep every message in this SQLite file (created if missing), with offsets: "
        "clients that come back get what they missed, across restarts on the same file "
        "(default: nothing is kept)",
    )
    commands.add_argument(
        "--client-js",
        metavar="PATH",
        help="a local socket.io.min.js for the page (default: $KIT_SOCKETIO_JS, "
        "node_modules/socket.io-client in the working directory, else the CDN)",
    )
    commands.add_argument(
        "--max-text",
        type=_positive("--max-text"),
        default=MAX_TEXT,
        metavar="N",
        help=f"the longest chat message, in characters (default {MAX_TEXT})",
    )
    commands.add_argument(
        "--max-backlog",
        type=_positive("--max-backlog"),
        default=MAX_BACKLOG,
        metavar="N",
        help="packets a client may have waiting before broadcasts skip it and tell it "
        f"'missed messages' (default {MAX_BACKLOG})",
    )
    commands.add_argument(
        "--ping-interval",
        type=_seconds("--ping-interval", whole=True),
        default=PING_INTERVAL,
        metavar="S",
        help=f"seconds between the server's heartbeats (default {PING_INTERVAL:g})",
    )
    commands.add_argument(
        "--ping-timeout",
        type=_seconds("--ping-timeout"),
        default=PING_TIMEOUT,
        metavar="S",
        help="seconds a heartbeat's answer may take before the client is dropped and its "
        f"name freed (default {PING_TIMEOUT:g})",
    )
    commands.add_argument(
        "--max-deliveries",
        type=_budget,
        default=MAX_DELIVERIES,
        metavar="N",
        help="deliveries a second (one message to one client) before messages are refused "
        f"as busy; 0: no budget (default {MAX_DELIVERIES:,})",
    )
    commands.add_argument(
        "--quiet",
        action="store_true",
        help="log warnings only, not one line per connection",
    )
    return commands


def main(argv: list[str] | None = None) -> int:
    """Run the chat server until Ctrl-C or SIGTERM; return the exit status."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("kit.apps.chat").setLevel(logging.WARNING if args.quiet else logging.INFO)
    rooms = None if args.any_room else (args.rooms or DEFAULT_ROOMS)
    try:
        chat = kit.chat_app(
            rooms=rooms,
            redis=args.redis,
            channel=args.channel,
            client_js=args.client_js,
            max_text=args.max_text,
            max_backlog=args.max_backlog,
            store=args.store,
            ping_interval=args.ping_interval,
            ping_timeout=args.ping_timeout,
            max_deliveries=args.max_deliveries,
        )
    except (FileNotFoundError, ValueError, StoreFileError) as exc:
        print(f"kit.chat: {exc}", file=sys.stderr)
        return 2

    # A signal handler only sets a flag: threading.Event.set() takes a lock that the main
    # thread may hold, waiting, when the signal arrives (a second signal then deadlocks).
    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server = kit.serve(
                chat,
                name="chat",
                host=args.host,
                port=args.port,
                allow_remote=args.host not in ("127.0.0.1", "localhost", "::1"),
            )
        except kit.PortInUseError as exc:
            print(f"kit.chat: {exc}", file=sys.stderr)
            return 2
        except RedisUnavailableError as exc:
            print(f"kit.chat: {exc}", file=sys.stderr)
            return 1
        cluster = f", Redis {args.redis} channel {args.channel!r}" if args.redis else ""
        if chat.store is not None:
            cluster += f", store {chat.store.path} (newest offset {chat.store.newest})"
        print(
            f"kit.chat: serving {server.url}/ (port {server.port}{cluster}); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        while not stopping:
            time.sleep(0.1)
        print("kit.chat: stopping", file=sys.stderr, flush=True)
        return 0
    finally:
        kit.stop_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
