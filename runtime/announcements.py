"""One process-wide channel of small announcements ("session 7 is at seq 12"), heard by every
process: the per-process caches of live state (sessions/live_state.py) drop what they hear is old.

With REDIS_URL set, an announcement is published on one Redis pub/sub channel, and every process
(web workers, the Firebase worker) subscribes to it on a thread of its own; without Redis there is
one process, and an announcement is handed to this process's listeners directly. Either way the
announcing process's own listeners hear it at once, before the publish, so a process never waits
for Redis to see its own change.

Publishing never holds up the announcer (the answer writer announces after every batch): messages
go to a queue that a thread of the process publishes, many in one Redis round trip.

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
import queue
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
_state = {"pid": None, "client": None, "thread": None, "publisher": None}
_outbox: queue.SimpleQueue = queue.SimpleQueue()
PUBLISH_BATCH = 500


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
    _outbox.put(json.dumps(message, separators=(",", ":")))


def ensure_subscribed() -> None:
    """Starts this process's subscription (once per process) when Redis is configured."""
    url = getattr(settings, "REDIS_URL", None)
    if url and not _running():
        _ensure_subscribed(url)


def _running() -> bool:
    # Asked on every cache read: no lock while all is well.
    thread, publisher = _state["thread"], _state["publisher"]
    return (
        _state["pid"] == os.getpid()
        and thread is not None
        and publisher is not None
        and thread.is_alive()
        and publisher.is_alive()
    )


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
            # A forked child has no threads of its own yet.
            _state["thread"] = _state["publisher"] = None
        return _state["client"]


def _ensure_subscribed(url: str) -> None:
    _client(url)
    started = []
    with _lock:
        for key, target, name in (
            ("thread", _subscribe_forever, "announcements"),
            ("publisher", _publish_forever, "announcing"),
        ):
            thread = _state[key]
            if thread is None or not thread.is_alive():
                _state[key] = thread = threading.Thread(target=target, args=(url,), name=name, daemon=True)
                started.append(thread)
    for thread in started:
        thread.start()


def _publish_forever(url: str) -> None:
    while True:
        messages = [_outbox.get()]
        while len(messages) < PUBLISH_BATCH:
            try:
                messages.append(_outbox.get_nowait())
            except queue.Empty:
                break
        try:
            pipeline = _client(url).pipeline(transaction=False)
            for message in messages:
                pipeline.publish(CHANNEL, message)
            pipeline.execute()
        except Exception:  # Redis away: the other processes' records age out (see above)
            log.warning("publishing %d announcements failed", len(messages), exc_info=True)


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
