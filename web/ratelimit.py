"""Rate limits.

Fixed windows kept in the cache (Redis in production, so shared by every worker), where guessing
pays: join codes, logins. A client is its address as the nearest trusted proxy saw it
(`client_address`); join limits group addresses by network (`client_network`), since a whole
school shares one IPv4 address and one IPv6 host owns a /64.

Budgets kept in each process, where a round trip per request would cost too much: every request
a student's token makes (a loop in a browser console must not take the database from the rest of
the class).
"""

import ipaddress
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
    """The address the client connected from, as our own proxies recorded it.

    TRUSTED_PROXY_COUNT is how many X-Forwarded-For entries, counted from the right, were written
    by proxies we trust; the client's address is the left-most of them. Google's external
    Application Load Balancer appends two, `<client>, <its own address>`, so behind it the count is
    2 (with 1 every student would share the balancer's address). Entries further left came from
    the client itself and are never believed. With 0, or a header shorter than that (a request that
    did not come through the proxies), the socket's peer counts."""
    trusted = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= trusted:
            candidate = _bare_address(hops[-trusted])
            if candidate is not None:
                return candidate
    return request.META.get("REMOTE_ADDR", "unknown")


def _bare_address(hop: str) -> str | None:
    """The IP address in an X-Forwarded-For entry (which may carry a port), or None."""
    text = hop
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def network_of(address: str) -> str:
    """The unit a limit counts: an IPv4 address, or the /64 of an IPv6 address (one host or home
    network gets a whole /64, so single IPv6 addresses cost an attacker nothing)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_network(request) -> str:
    return network_of(client_address(request))


def _window(scope: str, client: str) -> tuple[str, int, int, int]:
    limit, window = settings.RATE_LIMITS[scope]
    now = int(_now())
    return f"ratelimit:{scope}:{client}:{now // window}", limit, window, window - (now % window)


def _refuse(scope: str, retry_after: int) -> None:
    instrument.count_rate_limited(scope)
    raise DomainError(
        "rate_limited",
        f"Too many {scope.replace('_', ' ')} attempts; try again in {retry_after} s.",
        retry_after=retry_after,
    )


def count(scope: str, client: str) -> int:
    """Adds one to the client's count in this window; returns the new count."""
    key, _limit, window, _retry = _window(scope, client)
    cache.add(key, 0, timeout=window + 1)
    try:
        return cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.add(key, 1, timeout=window + 1)
        return 1


def used(scope: str, client: str) -> int:
    key, *_ = _window(scope, client)
    return cache.get(key, 0)


def check_rate(scope: str, client: str) -> None:
    """Counts this request and refuses it once the client is over the scope's limit."""
    if count(scope, client) > settings.RATE_LIMITS[scope][0]:
        _refuse(scope, _window(scope, client)[3])


def check_budget(scope: str, client: str) -> None:
    """Refuses while the client has used up the scope's budget; spending is `count`'s job, for
    budgets only some outcomes spend (failed joins)."""
    if used(scope, client) >= settings.RATE_LIMITS[scope][0]:
        _refuse(scope, _window(scope, client)[3])


# --- joins ------------------------------------------------------------------------------------------

EVERYONE = "all"
KNOWN_NETWORK_SECONDS = 3600


def check_join(request, raw_code: str) -> str:
    """The limits a join passes before its code is looked up; returns the client's network.

    - `join`: every attempt, per network: roomy enough for several classes behind one school NAT;
    - `join_code`: every attempt, per code: a class, its reloads and late joiners;
    - `join_failed`: wrong codes, per network: a few typos fit, guessing does not;
    - `join_failed_all`: wrong codes from everyone together. Past it, only networks that someone
      joined from successfully in the last hour (schools in session) may join until the window
      ends, so guessers spread over many addresses are held to this rate overall; everyone else
      is told to retry within the minute.
    """
    network = client_network(request)
    check_rate("join", network)
    check_rate("join_code", raw_code.strip().upper()[:20])
    check_budget("join_failed", network)
    over_all = used("join_failed_all", EVERYONE) >= settings.RATE_LIMITS["join_failed_all"][0]
    if over_all and not cache.get(_known_key(network)):
        _refuse("join_failed_all", _window("join_failed_all", EVERYONE)[3])
    return network


def _known_key(network: str) -> str:
    return f"ratelimit:join_ok:{network}"


def note_joined(network: str) -> None:
    cache.set(_known_key(network), 1, timeout=KNOWN_NETWORK_SECONDS)


def note_failed_join(network: str) -> None:
    count("join_failed", network)
    count("join_failed_all", EVERYONE)


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


def check_token_budget(budgets: Budgets, scope: str, key) -> None:
    """Refuses with `rate_limited` (429) when `key` has spent its budget; counted under `scope`."""
    wait = budgets.take(key)
    if wait:
        instrument.count_rate_limited(scope)
        retry_after = max(1, math.ceil(wait))
        raise DomainError(
            "rate_limited", f"Too many requests; try again in {retry_after} s.", retry_after=retry_after
        )
