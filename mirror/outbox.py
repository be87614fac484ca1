"""The mirror's outbox entry for a session change, written inside that change's transaction.

Kept apart from mirror/services.py so that sessions/changes.py, the seam every session change goes
through, can write it without importing the rest of the mirror (which reads sessions, responses
and live): this module imports only the outbox model and the Firebase switch.
"""

from integrations import firebase
from mirror.models import OutboxEntry


def record_session_change(session) -> None:
    """Called inside the transaction of every session change (sessions.changes.record_change).

    Stores an outbox entry in that same transaction, so the change and its Firebase write are
    committed together or not at all. With Firebase off it does nothing.
    """
    if firebase.is_enabled():
        OutboxEntry.objects.create(session_id=session.pk, seq=session.seq)
