"""Who is online: kept by one chat server, or shared in Redis by a cluster of them.

python-socketio's Redis manager shares *emits* between server processes (rooms,
broadcasts, messages to one sid), but not an application's own state. The chat's online
list is such state: a login on one process must be seen by ``users`` on every process,
and a name taken on one is taken everywhere. So the list lives where all processes can
reach it, in the same Redis, under keys that start with the channel name::

    PREFIX:users    hash     name -> "NODE SID"  (who holds the name, on which server)
    PREFIX:order    sorted   name -> login number (the list is shown in login order)
    PREFIX:seq      counter  the next login number
    PREFIX:sids     hash     sid  -> NODE        (every connected client of the cluster)
    PREFIX:nodes    sorted   NODE -> until when (ms) it is alive

Each server refreshes its ``nodes`` entry every :data:`HEARTBEAT` seconds and, at the same
time, writes its own users and clients again and removes what is no longer there. So

- a server that crashed stops counting after :data:`NODE_TTL` seconds: its users are
  dropped from the list when it is next read;
- a Redis that restarted empty (no persistence) is filled again within a heartbeat;
- a disconnect that happened while Redis was unreachable is applied when it is back.

:class:`LocalRoster` is the same interface in memory, for a server on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

__all__ = [
    "HEARTBEAT",
    "NODE_TTL",
    "LocalRoster",
    "RedisRoster",
    "RedisUnavailableError",
    "RosterUnavailable",
    "check_redis_url",
]

HEARTBEAT = 1.0
"""Seconds between a server's heartbeats (and reconciliations) in Redis."""
NODE_TTL = 5.0
"""Seconds after its last heartbeat that a server still counts as alive."""
COMMAND_TIMEOUT = 3.0
"""Seconds one Redis command may take."""
CONNECT_TIMEOUT = 2.0
"""Seconds to open a connection to Redis."""
SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")

logger = logging.getLogger("kit.apps.chat")

LocalView = Callable[[], tuple[dict[str, str], set[str]]]
"""What a server has itself: ({name: sid} of its logged-in users, {sid} of its clients)."""


class RosterUnavailable(Exception):
    """The shared online list cannot be read or changed now (Redis is unreachable)."""


class RedisUnavailableError(ConnectionError):
    """A chat server could not reach its Redis when it started."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(url, detail)
        self.url, self.detail = url, detail

    def __str__(self) -> str:
        return (
            f"cannot reach Redis at {self.url}: {self.detail}. Is it running? Start one with "
            "kit.redis() (or redis-server), and pass its url"
        )


def check_redis_url(url: str) -> str:
    """``url`` if it names a Redis (``redis://host:port/db``...), else a ValueError saying so."""
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        raise TypeError(f"a Redis URL is text like 'redis://127.0.0.1:6379/0', not {url!r}")
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(
            f"{url!r} is not a Redis URL: it starts with redis:// (or rediss://, unix://), "
            "e.g. 'redis://127.0.0.1:6379/0'; kit.redis().url is one"
        )
    return url


class LocalRoster:
    """The online list of one server, in memory (``kit.chat_app()`` without Redis)."""

    shared = False

    def __init__(self) -> None:
        self._users: dict[str, str] = {}  # name -> sid, in login order
        self._clients: set[str] = set()
        self.lock = asyncio.Lock()
        """Held while a login or a leave changes the list and the server's own users."""

    async def start(self, local: LocalView) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to close."""

    def snapshot(self) -> list[str]:
        """The names, in login order (no I/O)."""
        return list(self._users)

    async def names(self) -> list[str]:
        return list(self._users)

    async def claim(self, name: str, sid: str) -> bool:
        if name in self._users:
            return False
        self._users[name] = sid
        return True

    async def release(self, name: str, sid: str) -> None:
        if self._users.get(name) == sid:
            del self._users[name]

    async def sid_of(self, name: str) -> str | None:
        return self._users.get(name)

    async def add_client(self, sid: str) -> None:
        self._clients.add(sid)

    async def remove_client(self, sid: str) -> None:
        self._clients.discard(sid)

    async def is_client(self, sid: str) -> bool:
        return sid in self._clients


_RELEASE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0
"""
"""Remove a name only if this server's client still holds it (one atomic step)."""

_ORDER = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then
  redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[1])
end
return 1
"""
"""Give a name the next login number unless it has one."""


class RedisRoster:
    """The online list of a cluster, in Redis (see the module docstring for the keys).

    Args:
        url: the Redis every server of the cluster uses.
        prefix: the start of every key (the chat's pub/sub channel name).
    """

    shared = True

    def __init__(self, url: str, prefix: str) -> None:
        self.url = check_redis_url(url)
        self.prefix = prefix
        self.node = uuid.uuid4().hex[:12]
        """This server's id in Redis."""
        self.reachable = False
        """Whether the last heartbeat reached Redis."""
        self.down_since: float | None = None
        """``time.time()`` when Redis became unreachable, or None."""
        self.error = ""
        """Why Redis was unreachable the last time it was."""
        self.outages = 0
        """How many times Redis became unreachable while this server ran."""
        self.lost_emits: Callable[[], int] = lambda: 0
        """How many emits this server could not publish so far (the chat app says)."""
        self._lost_before = 0
        self.lock = asyncio.Lock()
        """Held by a login or a leave (the list and the server's own users change together)
        and by a heartbeat (which compares the two)."""
        self._redis: object = None
        self._local: LocalView = lambda: ({}, set())
        self._heartbeat: asyncio.Task[None] | None = None
        k = prefix
        self.keys = {
            "users": f"{k}:users",
            "order": f"{k}:order",
            "seq": f"{k}:seq",
            "sids": f"{k}:sids",
            "nodes": f"{k}:nodes",
        }

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, local: LocalView) -> None:
        """Connect, check that Redis answers, and start the heartbeat.

        Raises :class:`RedisUnavailableError` when Redis does not answer.
        """
        from redis import asyncio as aioredis

        self._local = local
        self._redis = aioredis.Redis.from_url(
            self.url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
        )
        try:
            await self._beat()
        except RosterUnavailable as exc:
            await self._close()
            raise RedisUnavailableError(self.url, str(exc)) from None
        self.reachable = True
        self._heartbeat = asyncio.ensure_future(self._heartbeats())

    async def stop(self) -> None:
        """Stop the heartbeat and take this server's entries out of Redis (best effort)."""
        task, self._heartbeat = self._heartbeat, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._forget_me(), COMMAND_TIMEOUT)
        await self._close()

    async def _close(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()  # type: ignore[attr-defined]

    async def _forget_me(self) -> None:
        r = self._client()
        users = await r.hgetall(self.keys["users"])
        mine = [name for name, holder in users.items() if holder.split(" ")[0] == self.node]
        sids = await r.hgetall(self.keys["sids"])
        async with r.pipeline(transaction=True) as pipe:
            if mine:
                pipe.hdel(self.keys["users"], *mine)
                pipe.zrem(self.keys["order"], *mine)
            gone = [sid for sid, node in sids.items() if node == self.node]
            if gone:
                pipe.hdel(self.keys["sids"], *gone)
            pipe.zrem(self.keys["nodes"], self.node)
            await pipe.execute()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self._beat()
            except RosterUnavailable as exc:
                if self.reachable:
                    self.reachable, self.down_since, self.error = False, time.time(), str(exc)
                    self.outages += 1
                    logger.warning(
                        "Redis at %s is unreachable (%s): users on this server still chat "
                        "with each other; messages to and from other servers are lost "
                        "until it is back",
                        self.url,
                        exc,
                    )
                continue
            if not self.reachable:
                down = time.time() - (self.down_since or time.time())
                lost = self.lost_emits() - self._lost_before
                logger.warning(
                    "Redis at %s is reachable again after %.1f s; this server's users are "
                    "back in the online list; %d emit(s) from this server could not be "
                    "published meanwhile: clients on other servers never got them",
                    self.url,
                    down,
                    lost,
                )
                self.reachable, self.down_since = True, None
            self._lost_before = self.lost_emits()  # counted from the last good heartbeat

    async def _beat(self) -> None:
        """Say this server is alive, and make Redis hold exactly its users and clients."""
        async with self.lock:
            await self._reconcile()

    async def _reconcile(self) -> None:
        users, clients = self._local()
        r = self._client()
        try:
            until = _now_ms() + int(NODE_TTL * 1000)
            await r.zadd(self.keys["nodes"], {self.node: until})
            held = await r.hgetall(self.keys["users"])
            listed = await r.hgetall(self.keys["sids"])
            async with r.pipeline(transaction=False) as pipe:
                for name, holder in held.items():
                    node, _, sid = holder.partition(" ")
                    if node == self.node and users.get(name) != sid:
                        pipe.eval(_RELEASE, 2, self.keys["users"], self.keys["order"], name, holder)
                for name, sid in users.items():
                    if held.get(name) != f"{self.node} {sid}":
                        pipe.hset(self.keys["users"], name, f"{self.node} {sid}")
                        pipe.eval(_ORDER, 2, self.keys["order"], self.keys["seq"], name)
                gone = [s for s, node in listed.items() if node == self.node and s not in clients]
                if gone:
                    pipe.hdel(self.keys["sids"], *gone)
                missing = {sid: self.node for sid in clients if listed.get(sid) != self.node}
                if missing:
                    pipe.hset(self.keys["sids"], mapping=missing)
                await pipe.execute()
        except Exception as exc:
            raise RosterUnavailable(_why(exc)) from exc

    def _client(self) -> Any:
        if self._redis is None:
            raise RosterUnavailable("this chat server is not running")
        return self._redis

    async def _live_nodes(self) -> set[str]:
        r = self._client()
        return set(await r.zrangebyscore(self.keys["nodes"], _now_ms(), "+inf"))

    # -- the online list ------------------------------------------------------------------

    async def names(self) -> list[str]:
        try:
            r = self._client()
            held = await r.hgetall(self.keys["users"])
            live = await self._live_nodes()
            dead = [n for n, holder in held.items() if holder.split(" ")[0] not in live]
            if dead:
                await self._drop(dead, held)
            order = await r.zrange(self.keys["order"], 0, -1)
        except RosterUnavailable:
            raise
        except Exception as exc:
            raise RosterUnavailable(_why(exc)) from exc
        return [name for name in order if name in held and name not in dead]

    async def _drop(self, names: list[str], held: dict[str, str]) -> None:
        r = self._client()
        for name in names:
            await r.eval(_RELEASE, 2, self.keys["users"], self.keys["order"], name, held[name])

    async def claim(self, name: str, sid: str) -> bool:
        holder = f"{self.node} {sid}"
        try:
            r = self._client()
            for _ in range(2):
                if await r.hsetnx(self.keys["users"], name, holder):
                    await r.eval(_ORDER, 2, self.keys["order"], self.keys["seq"], name)
                    return True
                current = await r.hget(self.keys["users"], name)
                if current is None:
                    continue  # released meanwhile: try again
                if current.split(" ")[0] in await self._live_nodes():
                    return False
                await self._drop([name], {name: current})  # held by a server that died
            return False
        except RosterUnavailable:
            raise
        except Exception as exc:
            raise RosterUnavailable(_why(exc)) from exc

    async def release(self, name: str, sid: str) -> None:
        try:
            r = self._client()
            holder = f"{self.node} {sid}"
            await r.eval(_RELEASE, 2, self.keys["users"], self.keys["order"], name, holder)
        except RosterUnavailable:
            raise
        except Exception as exc:
            raise RosterUnavailable(_why(exc)) from exc

    async def sid_of(self, name: str) -> str | None:
        try:
            holder = await self._client().hget(self.keys["users"], name)
            if holder is None:
                return None
            node, _, sid = holder.partition(" ")
            return sid if node in await self._live_nodes() else None
        except RosterUnavailable:
            raise
        except Exception as exc:
            raise RosterUnavailable(_why(exc)) from exc

    async def add_client(self, sid: str) -> None:
        with contextlib.suppress(Exception):  # the heartbeat writes it when Redis is back
            await self._client().hset(self.keys["sids"], sid, self.node)

    async def remove_client(self, sid: str) -> None:
        with contextlib.suppress(Exception):  # the heartbeat removes it when Redis is back
            await self._client().hdel(self.keys["sids"], sid)

    async def is_client(self, sid: str) -> bool:
        try:
            node = await self._client().hget(self.keys["sids"], sid)
            return node is not None and node in await self._live_nodes()
        except RosterUnavailable:
            raise
        except Exception as exc:
            raise RosterUnavailable(_why(exc)) from exc

    async def live_servers(self) -> int:
        """How many chat servers of this cluster are alive now (heartbeats)."""
        try:
            return len(await self._live_nodes())
        except RosterUnavailable:
            raise
        except Exception as exc:
            raise RosterUnavailable(_why(exc)) from exc


def _now_ms() -> int:
    return int(time.time() * 1000)


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
