"""Rate limits.

Fixed windows kept in the cache (Redis in production, so shared by every worker), where guessing
pays: join codes, logins. A client is its address as the nearest trusted proxy saw it.

Budgets kept in each process, where a round trip per request would cost too much: every request
a student's token makes (a loop in a browser console must not take the database from the rest of
the class).
"""

import math
import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.core.cache import cache

from domain.errors import DomainError
from observability import instrument


def _now() -> float:
    return time.time()


def client_address(request) -> str:
    trusted = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= trusted:
            return hops[-trusted]
    return request.META.get("REMOTE_ADDR", "unknown")


def check_rate(scope: str, client: str) -> None:
    limit, window = settings.RATE_LIMITS[scope]
    now = int(_now())
    bucket = now // window
    key = f"ratelimit:{scope}:{client}:{bucket}"
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.add(key, 1, timeout=window + 1)
        count = 1
    if count > limit:
        instrument.count_rate_limited(scope)
        retry_after = window - (now % window)
        raise DomainError(
            "rate_limited",
            f"Too many {scope} attempts; try again in {retry_after} s.",
            retry_after=retry_after,
        )


class Budgets:
    """Token buckets by key, in this process: `rate` requests a second, up to `burst` at once.
    Each process keeps its own, so a flood spread over W workers gets W times the rate: bounded,
    and free of any round trip. The least recently seen keys are forgotten past `max_keys`."""

    def __init__(self, *, rate: float, burst: float, max_keys: int = 100_000):
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[object, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key) -> float:
        """0 when `key` may go on (and spends one), else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            allowance, then = self._buckets.pop(key, (self.burst, now))
            allowance = min(self.burst, allowance + (now - then) * self.rate)
            allowed = allowance >= 1
            if allowed:
                allowance -= 1
            self._buckets[key] = (allowance, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return 0.0 if allowed else (1 - allowance) / self.rate

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


def check_budget(budgets: Budgets, scope: str, key) -> None:
    """Refuses with `rate_limited` (429) when `key` has spent its budget; counted under `scope`."""
    wait = budgets.take(key)
    if wait:
        instrument.count_rate_limited(scope)
        retry_after = max(1, math.ceil(wait))
        raise DomainError(
            "rate_limited", f"Too many requests; try again in {retry_after} s.", retry_after=retry_after
        )
