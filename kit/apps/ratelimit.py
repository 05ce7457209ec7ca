"""A token bucket per client: how many events one chat client may send, and how fast.

Each client has a bucket of ``burst`` tokens. Every event it sends takes one; the bucket
refills at ``per_second`` tokens a second, never above ``burst``. So a client may send
``burst`` events at once, and ``per_second`` a second for as long as it likes, but a
flood empties its bucket and is refused, event by event, with an error ack saying when
to try again. Nobody else's bucket is touched: a flooder slows only itself.

    >>> bucket = TokenBucket(burst=2, per_second=1.0, now=0.0)
    >>> bucket.take(now=0.0), bucket.take(now=0.0), bucket.take(now=0.0)
    (True, True, False)
    >>> bucket.take(now=1.0)          # one token came back in a second
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimit", "RateLimiter", "TokenBucket"]


@dataclass(frozen=True)
class RateLimit:
    """``burst`` events at once, then ``per_second`` a second (``RateLimit(10, 5.0)``)."""

    burst: int = 10
    per_second: float = 5.0

    def __post_init__(self) -> None:
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"burst is a whole number of events, at least 1, not {self.burst!r}")
        if not self.per_second > 0:
            raise ValueError(f"per_second must be above 0, not {self.per_second!r}")


class TokenBucket:
    """One client's bucket (see the module docstring)."""

    def __init__(self, burst: int, per_second: float, *, now: float) -> None:
        self.burst, self.per_second = burst, per_second
        self.tokens = float(burst)
        self._at = now

    def take(self, *, now: float) -> bool:
        """Take one token if there is one; False when the client must wait."""
        self.tokens = min(self.burst, self.tokens + (now - self._at) * self.per_second)
        self._at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait(self) -> float:
        """Seconds until the next token (0 when there is one)."""
        return max(0.0, (1 - self.tokens) / self.per_second)


class RateLimiter:
    """The buckets of every client, by id; a client that leaves takes its bucket along."""

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.clock = limit, clock
        self._buckets: dict[str, TokenBucket] = {}
        self.refused = 0
        """Events refused so far, over all clients."""

    def allow(self, client: str) -> float | None:
        """None when ``client`` may send one more event now, else the seconds to wait."""
        now = self.clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = TokenBucket(
                self.limit.burst, self.limit.per_second, now=now
            )
        if bucket.take(now=now):
            return None
        self.refused += 1
        return bucket.wait()

    def forget(self, client: str) -> None:
        """Drop the bucket of a client that left."""
        self._buckets.pop(client, None)
