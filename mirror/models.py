"""The outbox: session changes waiting to be mirrored to Firebase."""

from django.db import models
from django.utils import timezone


class OutboxEntry(models.Model):
    """One change of a session, stored in the transaction that made it.

    The entry carries no document: the relay recomputes the session's mirror document from the
    database when it sends, so many entries of one session become one write (latest state wins)
    and a resend after a crash writes the same thing again. `session_id` is a plain number, not a
    foreign key, so that writing an entry takes no lock on the session row beyond the one the
    change already holds, and a deleted session's entries still relay (as a deletion).
    """

    session_id = models.BigIntegerField()
    seq = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "outbox entries"

    def __str__(self) -> str:
        return f"session {self.session_id} seq {self.seq}"


class ClearedSession(models.Model):
    """An ended session whose data the worker has deleted from Firebase (its state document,
    acknowledgements and any inbox entries left), FIREBASE_RETENTION_HOURS after it ended.
    A plain number, like OutboxEntry.session_id: deleting the session leaves this row harmless."""

    session_id = models.BigIntegerField(primary_key=True)
    cleared_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"session {self.session_id} cleared {self.cleared_at:%Y-%m-%d %H:%M}"
