"""Broadcasting session events to connected clients, after the change that caused them commits.

Events are small dicts with a `type` and the session's `seq`; each connection decides by its
role what it may pass on (live/documents.py). Publishing never blocks the caller: the send is
handed to the event loop that owns the channel layer's connections (the ASGI server's loop in a
web worker, a private background loop elsewhere). A send that fails (Redis away) is logged and
dropped: clients notice the gap in `seq` and refetch, and the change itself is already stored.

Answers are not broadcast one by one. `publish_coalesced` gathers what changed per session and
sends one event per session every COALESCE_SECONDS, so a class of 30 answering at once costs
the teacher's dashboard a handful of updates. A round builds the events of all its sessions with
one call of the builder (responses.selectors.tally_events: one snapshot, a few queries, however
many classes answered).
"""

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Hashable

from channels.layers import get_channel_layer
from django.db import transaction

from observability import metrics
from runtime import threads

log = logging.getLogger(__name__)

COALESCE_SECONDS = 0.25

_server_loop: asyncio.AbstractEventLoop | None = None
_private_loop: asyncio.AbstractEventLoop | None = None
_private_lock = threading.Lock()

# (builder, group of a session) -> session id -> items changed since the last flush; guarded
# by _pending_lock.
Builder = Callable[[dict[int, set]], dict[int, dict]]
Group = Callable[[int], str]
_pending: dict[tuple[Builder, Group], dict[int, set]] = {}
_pending_lock = threading.Lock()
_flushing: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def group_name(session_id: int) -> str:
    """Every socket of a session: students, its teacher's dashboards, its projectors."""
    return f"session-{session_id}"


def watchers_group_name(session_id: int) -> str:
    """Only the session's teacher and projector sockets: for what students never receive (tally
    events, a new projector key). Sent to the whole session, a tally event would wake every
    student socket of a big class to be dropped there: with 4,092 students in one class, py-spy
    found 97% of a web worker's time in the channel layer unpacking such events for students."""
    return f"session-{session_id}-watchers"


def teacher_group_name(user_id: int) -> str:
    """Every teacher socket of one teacher: told when a credential of theirs stops working."""
    return f"teacher-{user_id}"


def bind_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called from the ASGI application: sockets and the in-memory layer live on this loop."""
    global _server_loop
    _server_loop = loop


class BindServerLoop:
    """ASGI wrapper: the first connection of any kind tells this module which loop serves sockets."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        loop = asyncio.get_running_loop()
        if _server_loop is not loop:
            bind_server_loop(loop)
        await self.app(scope, receive, send)


def _loop() -> asyncio.AbstractEventLoop:
    global _private_loop
    if _server_loop is not None and _server_loop.is_running():
        return _server_loop
    with _private_lock:
        if _private_loop is None:
            _private_loop = asyncio.new_event_loop()
            threading.Thread(target=_private_loop.run_forever, name="broadcast", daemon=True).start()
        return _private_loop


def publish_after_commit(session_id: int, event: dict) -> None:
    transaction.on_commit(lambda: publish(session_id, event))


def publish(session_id: int, event: dict) -> asyncio.Future | None:
    layer = get_channel_layer()
    if layer is None:
        return None
    return asyncio.run_coroutine_threadsafe(_send(layer, session_id, event, time.monotonic()), _loop())


def notify_after_commit(group: str, message: dict) -> None:
    """After commit, hands `message` (a channel-layer message with its own `type`, not a session
    event: it never reaches a client as is) to every socket in `group`."""
    transaction.on_commit(lambda: notify(group, message))


def notify(group: str, message: dict) -> asyncio.Future | None:
    layer = get_channel_layer()
    if layer is None:
        return None
    return asyncio.run_coroutine_threadsafe(_notify(layer, group, message), _loop())


async def _notify(layer, group: str, message: dict) -> None:
    try:
        await layer.group_send(group, message)
    except Exception:
        log.warning("%s to %s failed", message.get("type"), group, exc_info=True)


def publish_coalesced(changed: dict[int, set[Hashable]], build: Builder, group: Group = group_name) -> None:
    """Notes the items that changed per session; soon `build({session_id: items, ...})` makes
    one event per session, for every session noted meanwhile, in one call, sent to each
    session's `group`."""
    with _pending_lock:
        waiting = _pending.setdefault((build, group), {})
        for session_id, items in changed.items():
            waiting.setdefault(session_id, set()).update(items)
    loop = _loop()
    loop.call_soon_threadsafe(_ensure_flusher, loop)


def _ensure_flusher(loop: asyncio.AbstractEventLoop) -> None:
    task = _flushing.get(loop)
    if task is None or task.done():
        # A fresh context: this callback runs in the context of whichever thread asked for it.
        _flushing[loop] = loop.create_task(_flush_forever(), context=contextvars.Context())


async def _flush_forever() -> None:
    layer = get_channel_layer()
    loop = asyncio.get_running_loop()
    # Batches are taken every COALESCE_SECONDS, or as soon as the last one is out when building it
    # took longer: a slow round under load is not followed by a full wait on top.
    next_take = loop.time() + COALESCE_SECONDS
    while True:
        await asyncio.sleep(max(0.0, next_take - loop.time()))
        next_take = loop.time() + COALESCE_SECONDS
        with _pending_lock:
            rounds = dict(_pending)
            _pending.clear()
        if not rounds:
            return  # restarted by the next publish_coalesced
        # Built on a thread of their own: a burst of queued answers never holds back the
        # dashboards showing them.
        built = await asyncio.gather(
            *(
                loop.run_in_executor(threads.updates_pool(), threads.with_fresh_connection, build, changed)
                for (build, _group), changed in rounds.items()
            ),
            return_exceptions=True,
        )
        for ((_build, group), changed), events in zip(rounds.items(), built, strict=True):
            if isinstance(events, BaseException):
                log.warning("building the events of %d sessions failed", len(changed), exc_info=events)
                continue
            if layer is not None:
                sends = (_send(layer, session_id, event, None, group) for session_id, event in events.items())
                await asyncio.gather(*sends)


def quiesce(timeout: float = 5.0) -> None:
    """For tests: waits for the coalesced updates being flushed on a running loop, then forgets
    what is left (noted on a loop that stopped, nobody would build it but the next test's flush),
    so one test's dashboard updates never touch the next test's database."""
    time.sleep(0.05)  # a publish of the last moment starts its flusher
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [task for loop, task in list(_flushing.items()) if not task.done() and loop.is_running()]:
            break
        time.sleep(0.02)
    with _pending_lock:
        _pending.clear()


async def _send(
    layer, session_id: int, event: dict, started: float | None, group: Group = group_name
) -> None:
    try:
        await layer.group_send(group(session_id), {"type": "session.event", "event": event})
    except Exception:
        log.warning("broadcast of %s to session %s failed", event.get("type"), session_id, exc_info=True)
        return
    if started is not None:
        metrics.BROADCAST_DELAY.observe(time.monotonic() - started)


# --- open sockets of this process, so a shutdown can close them politely ----------------------

_open_sockets: set = set()


def socket_opened(consumer) -> None:
    _open_sockets.add(consumer)


def socket_closed(consumer) -> None:
    _open_sockets.discard(consumer)


async def close_all_sockets(code: int, timeout: float) -> int:
    """Closes every open socket of this process with `code`; returns how many were open."""
    sockets = list(_open_sockets)
    for consumer in sockets:
        try:
            await consumer.close(code=code)
        except Exception:  # a socket already gone is fine
            log.debug("closing a socket failed", exc_info=True)
    deadline = time.monotonic() + timeout
    while _open_sockets and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return len(sockets)
