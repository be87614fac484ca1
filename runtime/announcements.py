"""One process-wide channel of small announcements ("session 7 is at seq 12"), heard by every
process: the per-process caches of live state (sessions/live_state.py) drop what they hear is old.

With REDIS_URL set, an announcement is published on one Redis pub/sub channel, and every process
(web workers, the Firebase worker) subscribes to it on a thread of its own; without Redis there is
one process, and an announcement is handed to this process's listeners directly. Either way the
announcing process's own listeners hear it at once, before the publish, so a process never waits
for Redis to see its own change.

Delivery is best effort, as pub/sub is: a message published while a subscriber is reconnecting is
lost to it. So a (re)connected subscription first tells the listeners to forget everything
(`on_reset`), and the caches trust a record only for a few seconds anyway: a lost announcement
costs seconds of staleness in what a poll is told, never a wrong acceptance (the answer writer
checks again in SQL, under the session's row lock).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable

from django.conf import settings

log = logging.getLogger(__name__)

CHANNEL = "peardeck:live-state"
RECONNECT_SECONDS = 1.0

_listeners: list[Callable[[dict], None]] = []
_reset_listeners: list[Callable[[], None]] = []
_lock = threading.Lock()
_state = {"pid": None, "client": None, "thread": None}


def listen(on_message: Callable[[dict], None], on_reset: Callable[[], None]) -> None:
    """Registers a listener of every announcement, and of subscription (re)connects."""
    with _lock:
        _listeners.append(on_message)
        _reset_listeners.append(on_reset)


def announce(message: dict) -> None:
    """Tells every process (this one first, at once) `message`, a small JSON-able dict."""
    _deliver(message)
    url = getattr(settings, "REDIS_URL", None)
    if not url:
        return
    _ensure_subscribed(url)
    try:
        _client(url).publish(CHANNEL, json.dumps(message, separators=(",", ":")))
    except Exception:  # Redis away: the other processes' records age out (see above)
        log.warning("announcing %s failed", message, exc_info=True)


def ensure_subscribed() -> None:
    """Starts this process's subscription (once per process) when Redis is configured."""
    url = getattr(settings, "REDIS_URL", None)
    if url:
        _ensure_subscribed(url)


def _deliver(message: dict) -> None:
    for listener in list(_listeners):
        try:
            listener(message)
        except Exception:
            log.exception("a live-state listener failed on %s", message)


def _reset() -> None:
    for listener in list(_reset_listeners):
        try:
            listener()
        except Exception:
            log.exception("a live-state listener failed to reset")


def _client(url: str):
    import redis

    with _lock:
        if _state["client"] is None or _state["pid"] != os.getpid():
            _state["client"] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            _state["pid"] = os.getpid()
            _state["thread"] = None  # a forked child has no subscriber thread of its own yet
        return _state["client"]


def _ensure_subscribed(url: str) -> None:
    _client(url)
    with _lock:
        thread = _state["thread"]
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(target=_subscribe_forever, args=(url,), name="announcements", daemon=True)
        _state["thread"] = thread
    thread.start()


def _subscribe_forever(url: str) -> None:
    import redis

    while True:
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=10)
            pubsub = client.pubsub(ignore_subscribe_messages=False)
            pubsub.subscribe(CHANNEL)
            for item in pubsub.listen():
                if item["type"] == "subscribe":
                    # Whatever was announced while we were not subscribed is lost to us.
                    _reset()
                elif item["type"] == "message":
                    try:
                        message = json.loads(item["data"])
                    except ValueError:
                        continue
                    if isinstance(message, dict):
                        _deliver(message)
        except Exception:
            log.warning("the live-state subscription broke; subscribing again", exc_info=True)
        _reset()
        time.sleep(RECONNECT_SECONDS)
