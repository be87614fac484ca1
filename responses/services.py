"""Accepting answers. Every transport (HTTP, WebSocket, Firebase inbox) comes through here."""

import re
import time
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction

from domain import untrusted
from domain.errors import DomainError
from observability import instrument
from responses.models import SOURCE_CHOICES, Response, Submission
from responses.selectors import tally_event
from runtime import broadcast
from sessions import kinds
from sessions.models import Question, Session, Student

SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_SOURCES = {value for value, _label in SOURCE_CHOICES}


@dataclass(frozen=True)
class Submitted:
    response: Response
    # True when this submission_id had been accepted before: nothing was changed this time.
    duplicate: bool
    # The question's kind, for the answer metrics; set when the answer was stored this time.
    kind: str | None = None


def _session_for_answer(session_id: int) -> Session:
    """Reads the session under a key-share lock on PostgreSQL.

    Key-share is the lock the foreign key of a new response takes on the session row anyway, so
    answers to one session still run side by side; but it conflicts with the FOR UPDATE that every
    teacher action takes (sessions.services._locked). A lock therefore waits for answers in flight
    and is seen by every later one: no answer is accepted after the lock that shut it out has
    committed. SQLite serialises writers anyway.
    """
    if connection.vendor == "postgresql":
        table = Session._meta.db_table
        rows = list(Session.objects.raw(f"SELECT * FROM {table} WHERE id = %s FOR KEY SHARE", [session_id]))  # noqa: S608
        return rows[0]
    return Session.objects.get(pk=session_id)


def submit_response(
    *, student: Student, question_id: Any, submission_id: Any, answer: Any, source: str
) -> Submitted:
    if source not in _SOURCES:
        raise ValueError(f"unknown source {source!r}")
    started = time.perf_counter()
    if not isinstance(submission_id, str) or not SUBMISSION_ID.match(submission_id):
        raise DomainError(
            "invalid",
            "submission_id must be 1-64 characters of letters, digits and _.:-",
            field="submission_id",
        )
    if not untrusted.is_id(question_id):
        raise DomainError("invalid", "question_id must be a positive integer", field="question_id")
    # A second attempt happens only when another request with the same submission_id committed
    # first (its Submission row wins the unique constraint); the retry then finds it and answers
    # as a replay, so the response's version is not bumped twice.
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                submitted = _submit(
                    student.pk, student.session_id, question_id, submission_id, answer, source
                )
                if not submitted.duplicate:
                    item = (submitted.response.question_id, submitted.response.student_id)
                    transaction.on_commit(
                        lambda item=item: broadcast.publish_coalesced(student.session_id, item, tally_event)
                    )
            break
        except IntegrityError as exc:
            if attempt == 2:
                raise DomainError(
                    "submission_id_reused",
                    "That submission_id was used for another answer.",
                    field="submission_id",
                ) from exc
    instrument.answer_handled(submitted, transport=source, seconds=time.perf_counter() - started)
    return submitted


def _submit(
    student_id: int, session_id: int, question_id: int, submission_id: str, answer: Any, source: str
) -> Submitted:
    session = _session_for_answer(session_id)
    # Re-read under the session lock: a removal that committed before it is seen here.
    student = Student.objects.get(pk=student_id)
    if student.removed_at is not None:
        raise DomainError("student_removed", "The teacher removed you from this session.")
    question = Question.objects.filter(pk=question_id, deck_id=session.deck_id).first()
    if question is None:
        raise DomainError(
            "question_not_found", f"Question {question_id} is not in this session.", field="question_id"
        )

    earlier = _earlier_submission(student_id, submission_id)
    if earlier is not None:
        return _replayed(earlier, question, answer)

    if session.state == Session.ENDED:
        raise DomainError("session_ended", "This session has ended; answers are closed.")
    if session.state != Session.LIVE:
        raise DomainError("session_not_live", "The session has not started yet.")
    cleaned = kinds.clean_answer(question.kind, question.config, answer)
    current = (
        student.current_question_id if session.pacing == Session.STUDENT else session.current_question_id
    )
    if session.pacing == Session.INSTRUCTOR and question.pk != current:
        raise DomainError(
            "question_not_current", "The class has moved on from this question.", field="question_id"
        )
    if session.is_locked(question.pk):
        raise DomainError(
            "question_locked", "The teacher has locked answers to this question.", field="question_id"
        )

    response, created = _lock_or_create_response(session, question, student, cleaned, submission_id, source)
    if not created:
        # The row is locked by this transaction, so version + 1 cannot race.
        response.answer = cleaned
        response.is_correct = kinds.is_correct(question.kind, question.config, cleaned)
        response.source = source
        response.submission_id = submission_id
        response.version += 1
        response.save(
            update_fields=["answer", "is_correct", "source", "submission_id", "version", "updated_at"]
        )
    Submission.objects.create(
        student_id=student_id,
        submission_id=submission_id,
        question=question,
        response=response,
        answer=cleaned,
        source=source,
    )
    return Submitted(response=response, duplicate=False, kind=question.kind)


def _earlier_submission(student_id: int, submission_id: str) -> Submission | None:
    # No select_related: almost every submission is new (no row), and a replay needs only the
    # row's own columns; a join of response and question cost every answer its compiling.
    return Submission.objects.filter(student_id=student_id, submission_id=submission_id).first()


def _replayed(earlier: Submission, question: Question, answer: Any) -> Submitted:
    same = earlier.question_id == question.pk
    if same:
        try:
            same = kinds.same_answer(
                kinds.clean_answer(question.kind, question.config, answer), earlier.answer
            )
        except DomainError:
            same = False
    if not same:
        raise DomainError(
            "submission_id_reused",
            "That submission_id was already used for a different answer.",
            field="submission_id",
        )
    response = Response.objects.get(pk=earlier.response_id)
    return Submitted(response=response, duplicate=True)


def _lock_or_create_response(
    session, question, student, cleaned, submission_id, source
) -> tuple[Response, bool]:
    existing = Response.objects.select_for_update().filter(question=question, student=student).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            created = Response.objects.create(
                session=session,
                question=question,
                student=student,
                answer=cleaned,
                is_correct=kinds.is_correct(question.kind, question.config, cleaned),
                source=source,
                submission_id=submission_id,
            )
        return created, True
    except IntegrityError:
        # A concurrent first answer won the insert; take its row and update it instead.
        return Response.objects.select_for_update().get(question=question, student=student), False


@transaction.atomic
def set_starred(*, session: Session, response_id: int, starred: bool) -> Response:
    response = Response.objects.select_for_update().filter(session=session, pk=response_id).first()
    if response is None:
        raise DomainError(
            "response_not_found", f"No response {response_id} in this session.", field="response_id"
        )
    if response.starred != starred:
        response.starred = starred
        # Not updated_at: it says when the answer last changed, and the CSV's answered_at reads it.
        response.save(update_fields=["starred"])
    return response
