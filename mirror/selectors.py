"""Reads for the mirror: the document each session is mirrored as, and the outbox's backlog."""

from collections import defaultdict
from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone

from integrations import firebase
from mirror.models import OutboxEntry
from sessions.models import Question, Session, Student
from sessions.selectors import question_document


def mirror_documents(session_ids: set[int] | list[int]) -> dict[int, dict | None]:
    """The state each session's students need, by session id; None for a session that is gone.

    Never the correct answers (questions go through the students' public view) and never
    anything about other students but the uids of those removed. Firebase drops empty lists,
    objects and nulls, so a client reads a missing `question` as none and a missing
    `locked_question_ids` or `removed` as empty.
    """
    sessions = Session.objects.filter(pk__in=list(session_ids)).select_related("current_question")
    removed: dict[int, list[int]] = defaultdict(list)
    for session_id, student_id in Student.objects.filter(
        session_id__in=list(session_ids), removed_at__isnull=False
    ).values_list("session_id", "pk"):
        removed[session_id].append(student_id)
    documents: dict[int, dict | None] = dict.fromkeys(session_ids)
    for session in sessions:
        documents[session.pk] = _document(session, removed[session.pk])
    return documents


def _document(session: Session, removed_student_ids: list[int]) -> dict:
    question = session.current_question if session.state != Session.WAITING else None
    document = {
        "seq": session.seq,
        "state": session.state,
        "pacing": session.pacing,
        "question": question_document(question, for_teacher=False) if question else None,
        "locked": bool(question and session.is_locked(question.pk)) or session.state == Session.ENDED,
        "locked_question_ids": list(session.locked_question_ids),
        # Uids only, never names. The rules shut these students out of the session's state and
        # their inbox; a page that still gets the document sees itself here and stops.
        "removed": {firebase.student_uid(student_id): True for student_id in sorted(removed_student_ids)},
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
