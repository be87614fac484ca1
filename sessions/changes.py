"""The one seam every change of a live session goes through: `seq` + 1, the mirror's outbox entry
in the same transaction, and the event to the session's sockets after commit.

Events are built here, by the change that causes them, in the form a teacher may see; what each
role receives of them is decided in live/documents.py (for_role). A question travels in an event
only in its public form (question_payload): never its correct answers, for any role.

The one import up the layers in the project is here, on purpose: the outbox entry must be written
in the change's own transaction, so this seam calls mirror.outbox.record_session_change, a module
that imports nothing but the outbox model and the Firebase switch. The import-layer test
(tests/test_layers.py) allows exactly this edge.
"""

from django.db import transaction
from django.db.models import F

from mirror.outbox import record_session_change
from runtime import broadcast
from sessions import live_state
from sessions.models import Question, Session
from sessions.selectors import question_document


def record_change(session: Session, event_type: str, **payload) -> None:
    """Records one change of a session row the caller holds locked: seq + 1, the outbox entry,
    then `{"type": event_type, "seq": ..., **payload}` to the session's sockets after commit."""
    Session.objects.filter(pk=session.pk).update(seq=F("seq") + 1)
    session.refresh_from_db(fields=["seq"])
    record_session_change(session)
    # Every process's cached record of the session goes: this one's now, all after commit.
    live_state.session_changed(session.pk)
    transaction.on_commit(lambda pk=session.pk, seq=session.seq: live_state.session_changed(pk, seq))
    broadcast.publish_after_commit(session.pk, {"type": event_type, "seq": session.seq, **payload})


def question_payload(session: Session, question_id: int | None) -> dict:
    """What every role needs to show a question: never its correct answers."""
    question = Question.objects.filter(pk=question_id).first() if question_id else None
    return {
        "question_id": question_id,
        "question": question_document(question, for_teacher=False) if question else None,
        "locked": bool(question_id and session.is_locked(question_id)),
        "revealed": bool(question_id and session.is_revealed(question_id)),
    }
