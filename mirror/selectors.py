"""Reads for the mirror: the document each session is mirrored as, and the outbox's backlog."""

from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone

from mirror.models import OutboxEntry
from sessions.models import Question, Session
from sessions.selectors import question_document


def mirror_documents(session_ids: set[int] | list[int]) -> dict[int, dict | None]:
    """The state each session's students need, by session id; None for a session that is gone.

    Never the correct answers (questions go through the students' public view) and never
    anything about other students. Firebase drops empty lists and nulls, so a client reads a
    missing `question` as none and a missing `locked_question_ids` as empty.
    """
    sessions = Session.objects.filter(pk__in=list(session_ids)).select_related("current_question")
    documents: dict[int, dict | None] = dict.fromkeys(session_ids)
    for session in sessions:
        documents[session.pk] = _document(session)
    return documents


def _document(session: Session) -> dict:
    question = session.current_question if session.state != Session.WAITING else None
    document = {
        "seq": session.seq,
        "state": session.state,
        "pacing": session.pacing,
        "question": question_document(question, for_teacher=False) if question else None,
        "locked": bool(question and session.is_locked(question.pk)) or session.state == Session.ENDED,
        "locked_question_ids": list(session.locked_question_ids),
    }
    if session.pacing == Session.STUDENT and session.state != Session.WAITING:
        # Each student moves alone, so each needs every question; keys are question ids.
        questions = Question.objects.filter(deck_id=session.deck_id).order_by("position", "id")
        document["questions"] = {
            str(question.pk): question_document(question, for_teacher=False) for question in questions
        }
    return document


def outbox_backlog(now: datetime | None = None) -> tuple[int, float]:
    """(entries not yet relayed, age in seconds of the oldest of them; 0 when there is none)."""
    summary = OutboxEntry.objects.aggregate(count=Count("id"), oldest=Min("created_at"))
    if not summary["count"]:
        return 0, 0.0
    age = ((now or timezone.now()) - summary["oldest"]).total_seconds()
    return summary["count"], max(age, 0.0)
