"""The threads of a process that run the blocking Django work its event loop hands off.

- `pool()`: requests, HTTP_THREADS of them: plain HTTP (runtime/http_bridge.py) and socket
  messages that touch the database (an answer or a sync over a WebSocket, a socket being
  identified). One pool, whichever way the work came in. Channels' own `database_sync_to_async`
  would run every socket's work on a single thread per process: one answer at a time per worker,
  which is what made answers over WebSockets slower than over HTTP (bench/burst).
- `updates_pool()`: UPDATE_THREADS (2) for the coalesced dashboard updates (runtime/broadcast.py),
  apart, so that a burst of queued answers never holds back the dashboards showing them.
- `control_pool()`: CONTROL_THREADS (3) for the teacher's requests (runtime/http_bridge.py
  routes them): a lock, next or reveal never waits in a queue of answers and state polls.

Together they bound the database connections a worker uses at once: keep HTTP_THREADS +
UPDATE_THREADS + CONTROL_THREADS (+ the answer writer's one) at or below DATABASE_POOL_MAX, or a
teacher's request would wait for a connection held by an answer instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections

UPDATE_THREADS = 2
CONTROL_THREADS = 3

_lock = threading.Lock()
_pools: dict[str, ThreadPoolExecutor] = {}


def _made(name: str, size: int) -> ThreadPoolExecutor:
    with _lock:
        if name not in _pools:
            _pools[name] = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        return _pools[name]


def pool() -> ThreadPoolExecutor:
    """Requests and socket messages: made on first use with HTTP_THREADS threads."""
    return _made("requests", settings.HTTP_THREADS)


def updates_pool() -> ThreadPoolExecutor:
    """The coalesced dashboard updates: made on first use with UPDATE_THREADS threads."""
    return _made("updates", UPDATE_THREADS)


def control_pool() -> ThreadPoolExecutor:
    """The teacher's requests (session control, the dashboard's reads): CONTROL_THREADS threads."""
    return _made("control", CONTROL_THREADS)


def shutdown() -> None:
    """At the end of the server's life: queued work is dropped, work in progress finishes."""
    with _lock:
        for made in _pools.values():
            made.shutdown(wait=False, cancel_futures=True)
        _pools.clear()


def finish_work(timeout: float = 10.0) -> None:
    """Waits until every thread of every pool is idle, each having handed back its database
    connection. For tests: a dashboard update still being built must not run into the next test's
    database setup, and no thread may keep a connection the test database's teardown waits for."""
    with _lock:
        made = list(_pools.values())
    for pool_ in made:
        size = pool_._max_workers
        # One job per thread, all meeting at a barrier: each thread has finished what it was doing.
        barrier = threading.Barrier(size)

        def close_and_meet(barrier=barrier):
            connections.close_all()
            barrier.wait(timeout)

        for job in [pool_.submit(close_and_meet) for _ in range(size)]:
            job.result(timeout)


def in_pool(func: Callable) -> Callable:
    """`func` as a coroutine function that runs on the pool, with Django's stale-connection
    handling around it as `database_sync_to_async` does. Calls from one socket still run one
    after another: a consumer awaits each message's handler before it takes the next."""
    return database_sync_to_async(func, thread_sensitive=False, executor=pool())


def with_fresh_connection(func: Callable, *args):
    """Runs `func(*args)` on a pool thread as a request would run: this thread's database
    connection is dropped first if it broke or aged out, and handed back (to the pool on
    PostgreSQL) after, so an idle thread never keeps one."""
    close_old_connections()
    try:
        return func(*args)
    finally:
        close_old_connections()
