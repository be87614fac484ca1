"""Broadcasting session events to connected clients, after the change that caused them commits.

Events are small dicts with a `type` and the session's `seq`; each connection decides by its
role what it may pass on. Publishing never blocks the caller: the send is handed to the event
loop that owns the channel layer's connections (the ASGI server's loop in a web worker, a
private background loop elsewhere). A send that fails (Redis away) is logged and dropped:
clients notice the gap in `seq` and refetch, and the change itself is already stored.
"""

import asyncio
import logging
import threading

from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

_server_loop: asyncio.AbstractEventLoop | None = None
_private_loop: asyncio.AbstractEventLoop | None = None
_private_lock = threading.Lock()


def group_name(session_id: int) -> str:
    return f"session-{session_id}"


def bind_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called from the ASGI application: sockets and the in-memory layer live on this loop."""
    global _server_loop
    _server_loop = loop


def _loop() -> asyncio.AbstractEventLoop:
    global _private_loop
    if _server_loop is not None and _server_loop.is_running():
        return _server_loop
    with _private_lock:
        if _private_loop is None:
            _private_loop = asyncio.new_event_loop()
            threading.Thread(target=_private_loop.run_forever, name="realtime", daemon=True).start()
        return _private_loop


def publish_after_commit(session_id: int, event: dict) -> None:
    transaction.on_commit(lambda: publish(session_id, event))


def publish(session_id: int, event: dict) -> asyncio.Future | None:
    layer = get_channel_layer()
    if layer is None:
        return None
    return asyncio.run_coroutine_threadsafe(_send(layer, session_id, event), _loop())


async def _send(layer, session_id: int, event: dict) -> None:
    try:
        await layer.group_send(group_name(session_id), {"type": "session.event", "event": event})
    except Exception:
        log.warning("broadcast of %s to session %s failed", event.get("type"), session_id, exc_info=True)
