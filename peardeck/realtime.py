"""Broadcasting session events to connected clients, after the change that caused them commits.

Events are small dicts with a `type` and the session's `seq`; each connection decides by its
role what it may pass on. A broadcast that fails (Redis away) is logged and dropped: clients
notice the gap in `seq` and refetch, and the change itself is already stored.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def group_name(session_id: int) -> str:
    return f"session-{session_id}"


def publish_after_commit(session_id: int, event: dict) -> None:
    transaction.on_commit(lambda: publish(session_id, event))


def publish(session_id: int, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group_name(session_id), {"type": "session.event", "event": event})
    except Exception:
        log.warning("broadcast of %s to session %s failed", event.get("type"), session_id, exc_info=True)
