"""Reads for the mirror: the documents of the sessions to relay, and the outbox's backlog."""

from collections import defaultdict
from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone

from live.documents import mirror_document
from mirror.models import OutboxEntry
from sessions.models import Session, Student


def mirror_documents(session_ids: set[int] | list[int]) -> dict[int, dict | None]:
    """The state each session's students need, by session id; None for a session that is gone.
    What it holds is decided in live/documents.py (mirror_document); this reads in bulk."""
    sessions = Session.objects.filter(pk__in=list(session_ids)).select_related("current_question")
    removed: dict[int, list[int]] = defaultdict(list)
    for session_id, student_id in Student.objects.filter(
        session_id__in=list(session_ids), removed_at__isnull=False
    ).values_list("session_id", "pk"):
        removed[session_id].append(student_id)
    documents: dict[int, dict | None] = dict.fromkeys(session_ids)
    for session in sessions:
        documents[session.pk] = mirror_document(session, removed[session.pk])
    return documents


def outbox_backlog(now: datetime | None = None) -> tuple[int, float]:
    """(entries not yet relayed, age in seconds of the oldest of them; 0 when there is none)."""
    summary = OutboxEntry.objects.aggregate(count=Count("id"), oldest=Min("created_at"))
    if not summary["count"]:
        return 0, 0.0
    age = ((now or timezone.now()) - summary["oldest"]).total_seconds()
    return summary["count"], max(age, 0.0)
