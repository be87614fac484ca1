"""Fixed-window rate limits kept in the cache (Redis in production, so shared by every worker).

Used where guessing pays: join codes, logins. A client is its address as the nearest trusted
proxy saw it.
"""

import time

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
