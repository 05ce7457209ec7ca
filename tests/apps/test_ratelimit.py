"""kit.apps.ratelimit: a token bucket per client."""

from __future__ import annotations

import pytest

from kit.apps.ratelimit import RateLimit, RateLimiter, TokenBucket


def test_a_bucket_allows_a_burst_then_its_rate() -> None:
    bucket = TokenBucket(burst=3, per_second=2.0, now=0.0)
    assert [bucket.take(now=0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait() == pytest.approx(0.5)
    assert bucket.take(now=0.25) is False  # half a token
    assert bucket.take(now=0.5) is True
    assert [bucket.take(now=100.0) for _ in range(4)] == [True, True, True, False]  # capped


def test_each_client_has_its_own_bucket_and_loses_it_on_leaving() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimit(burst=2, per_second=1.0), clock=lambda: now[0])
    assert [limiter.allow("flooder") for _ in range(3)] == [None, None, pytest.approx(1.0)]
    assert limiter.allow("quiet") is None  # untouched by the flood
    assert limiter.refused == 1
    limiter.forget("flooder")
    assert limiter.allow("flooder") is None  # a fresh bucket


@pytest.mark.parametrize(
    ("burst", "per_second", "says"),
    [(0, 1.0, "burst"), (True, 1.0, "burst"), (1.5, 1.0, "burst"), (1, 0, "per_second")],
)
def test_a_limit_that_allows_nothing_is_refused(burst, per_second, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        RateLimit(burst, per_second)
