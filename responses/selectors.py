"""Reads of responses: lists for the teacher, tallies, a student's own answers, the export."""

from django.db import connection, transaction
from django.db.models import Count, OuterRef, Subquery

from responses.models import Response
from sessions import kinds
from sessions.models import Question, Session, Student
from sessions.selectors import questions_of_session


def response_document(response: Response, *, with_student: bool) -> dict:
    document = {
        "id": response.pk,
        "question_id": response.question_id,
        "student_id": response.student_id,
        "answer": response.answer,
        "is_correct": response.is_correct,
        "source": response.source,
        "version": response.version,
        "starred": response.starred,
        "updated_at": response.updated_at,
    }
    if with_student:
        student = response.student
        document["student"] = {
            "id": student.pk,
            "display_name": student.display_name,
            "removed": student.is_removed,
        }
    return document


def responses_query(session: Session, *, question_id: int | None = None):
    """Every current answer of the session (removed students' too), by question then student."""
    responses = (
        Response.objects.filter(session=session)
        .select_related("student")
        .order_by("question_id", "student_id")
    )
    if question_id is not None:
        responses = responses.filter(question_id=question_id)
    return responses


def responses_of(session: Session, *, question_id: int | None = None) -> list[Response]:
    return list(responses_query(session, question_id=question_id))


def _active_student_count(session: Session) -> int:
    return session.students.filter(removed_at__isnull=True).count()


def tallies_of(session: Session, *, question_ids: list[int] | None = None) -> dict[int, dict]:
    """Tallies of a session's questions, in three queries however many students answered.

    Answers of removed students are left out, as they are from the teacher's roster.
    """
    questions = [q for q in questions_of_session(session) if question_ids is None or q.pk in question_ids]
    answers: dict[int, list[dict]] = {question.pk: [] for question in questions}
    rows = Response.objects.filter(
        session=session, student__removed_at__isnull=True, question_id__in=list(answers)
    )
    for question_id, answer in rows.values_list("question_id", "answer"):
        answers[question_id].append(answer)
    students = _active_student_count(session)
    return {
        question.pk: {
            "question_id": question.pk,
            "kind": question.kind,
            "students": students,
            **kinds.tally(question.kind, question.config, answers[question.pk]),
        }
        for question in questions
        if kinds.is_answerable(question.kind)
    }


def own_answer(student: Student, question: Question | None) -> dict | None:
    if question is None:
        return None
    response = Response.objects.filter(student=student, question=question).first()
    if response is None:
        return None
    return {"answer": response.answer, "version": response.version, "submission_id": response.submission_id}


def takeaways_of(student: Student) -> list[dict]:
    """Each question of the session beside the student's own answer; correct choices are shown now."""
    session = student.session
    mine = {response.question_id: response for response in Response.objects.filter(student=student)}
    takeaways = []
    for question in questions_of_session(session):
        response = mine.get(question.pk)
        takeaways.append(
            {
                "question": {
                    "id": question.pk,
                    "position": question.position,
                    "kind": question.kind,
                    "prompt": question.prompt,
                    "image_url": question.image_url,
                    "config": question.config,
                },
                "answer": response.answer if response else None,
                "is_correct": response.is_correct if response else None,
                "starred": response.starred if response else False,
            }
        )
    return takeaways


def tally_events(changed: dict[int, set[tuple]]) -> dict[int, dict]:
    """One coalesced update per session of a round, for every session of the round together:
    fresh tallies of the questions that were answered, the changed responses themselves (only
    teachers receive those; see live/documents.py), and `covers`, the answers_seq ranges
    [before, after] of the batches (and removals) the event settles, sorted.

    `changed` holds per session (question_id, student_id) pairs and ("covers", before, after)
    items, as the answer writer and remove_student publish them.

    All sessions are read from one snapshot (one REPEATABLE READ transaction on PostgreSQL; a
    SQLite transaction is one anyway), in three queries whatever the number of classes: the
    sessions with their versions, revealed ids and head counts; the questions; the responses to
    the answered questions. So each event's answers_seq is the version of exactly what it shows.
    Answers of removed students are left out, as they are from the teacher's roster.
    """
    if not changed:
        return {}
    covers = {
        session_id: sorted([item[1], item[2]] for item in items if item[0] == "covers")
        for session_id, items in changed.items()
    }
    changed = {
        session_id: {item for item in items if item[0] != "covers"} for session_id, items in changed.items()
    }
    own_transaction = not connection.in_atomic_block  # else the caller's snapshot is the one
    with transaction.atomic():
        if own_transaction and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        active = Student.objects.filter(session_id=OuterRef("pk"), removed_at__isnull=True)
        sessions = {
            row["id"]: row
            for row in Session.objects.filter(pk__in=list(changed))
            .annotate(head_count=Subquery(active.values("session_id").annotate(n=Count("pk")).values("n")))
            .values("id", "seq", "answers_seq", "revealed_question_ids", "head_count")
        }
        pairs = {
            (session_id, question_id) for session_id, items in changed.items() for question_id, _ in items
        }
        question_ids = {question_id for _session, question_id in pairs}
        questions = {
            question.pk: question
            for question in Question.objects.filter(pk__in=question_ids).only("kind", "config")
        }
        rows = (
            Response.objects.filter(
                session_id__in=list(sessions), question_id__in=question_ids, student__removed_at__isnull=True
            )
            .values_list(
                "id", "session_id", "question_id", "student_id", "answer", "is_correct", "version", "source"
            )
            .order_by()
        )
        answers: dict[tuple[int, int], list[dict]] = {pair: [] for pair in pairs}
        responses: dict[int, list[dict]] = {session_id: [] for session_id in sessions}
        for pk, session_id, question_id, student_id, answer, is_correct, version, source in rows:
            if (session_id, question_id) not in answers:
                continue  # a question answered in another session of the round
            answers[(session_id, question_id)].append(answer)
            if (question_id, student_id) in changed[session_id]:
                responses[session_id].append(
                    {
                        "id": pk,
                        "question_id": question_id,
                        "student_id": student_id,
                        "answer": answer,
                        "is_correct": is_correct,
                        "version": version,
                        "source": source,
                    }
                )
    events = {}
    for session_id, session in sessions.items():
        tallies = []
        for question_id in sorted({question_id for question_id, _ in changed[session_id]}):
            question = questions.get(question_id)
            if question is None or not kinds.is_answerable(question.kind):
                continue
            tallies.append(
                {
                    "question_id": question_id,
                    "kind": question.kind,
                    "students": session["head_count"] or 0,
                    **kinds.tally(question.kind, question.config, answers[(session_id, question_id)]),
                }
            )
        events[session_id] = {
            "type": "tallies",
            "seq": session["seq"],
            "answers_seq": session["answers_seq"],
            "covers": covers[session_id],
            "revealed_question_ids": session["revealed_question_ids"],
            "tallies": tallies,
            "responses": sorted(responses[session_id], key=lambda r: (r["question_id"], r["student_id"])),
        }
    return events
