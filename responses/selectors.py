"""Reads of responses: lists for the teacher, tallies, a student's own answers, the export."""

from responses.models import Response
from sessions import kinds
from sessions.models import Question, Session, Student
from sessions.selectors import (
    question_document,
    questions_of_session,
    student_question,
    student_state,
    teacher_state,
)


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
        document["student"] = {"id": response.student_id, "display_name": response.student.display_name}
    return document


def responses_of(session: Session, *, question_id: int | None = None) -> list[Response]:
    responses = (
        Response.objects.filter(session=session)
        .select_related("student")
        .order_by("question_id", "student_id")
    )
    if question_id is not None:
        responses = responses.filter(question_id=question_id)
    return list(responses)


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


def tally_event(session_id: int, changed: set[tuple[int, int]]) -> dict | None:
    """One coalesced update for a session: fresh tallies of the questions that were answered, and
    the changed responses themselves (only teachers receive those; see sessions/events.py)."""
    session = Session.objects.filter(pk=session_id).first()
    if session is None:
        return None
    question_ids = sorted({question_id for question_id, _student in changed})
    student_ids = {student_id for _question, student_id in changed}
    responses = Response.objects.filter(
        session=session, question_id__in=question_ids, student_id__in=student_ids
    )
    return {
        "type": "tallies",
        "seq": session.seq,
        "revealed_question_ids": session.revealed_question_ids,
        "tallies": list(tallies_of(session, question_ids=question_ids).values()),
        "responses": [
            {
                "id": response.pk,
                "question_id": response.question_id,
                "student_id": response.student_id,
                "answer": response.answer,
                "is_correct": response.is_correct,
                "version": response.version,
                "source": response.source,
            }
            for response in responses
            if (response.question_id, response.student_id) in changed
        ],
    }


# --- the documents each role starts from (HTTP state endpoints and WebSocket hello) ------------


def dashboard_state(session: Session) -> dict:
    """The teacher's dashboard: the session, roster, every current answer and every tally."""
    return {
        **teacher_state(session),
        "responses": [response_document(r, with_student=False) for r in responses_of(session)],
        "tallies": list(tallies_of(session).values()),
    }


def student_view_version(student: Student) -> str:
    """Changes whenever student_view(student) would: the session's seq, where the student is, and
    the version of their own answer there. One small query."""
    question = student.current_question_id if student.session.pacing == Session.STUDENT else None
    question = question or student.session.current_question_id
    version = (
        Response.objects.filter(student=student, question_id=question)
        .values_list("version", flat=True)
        .first()
        or 0
    )
    return f"student-{student.pk}-{student.session.seq}-{question}-{version}"


def student_view(student: Student) -> dict:
    question = student_question(student)
    return student_state(student, own_answer(student, question))


def projector_state(session: Session) -> dict:
    """The projector: join code, the current question, a head count, and results only if revealed."""
    question = session.current_question
    revealed = bool(question and session.is_revealed(question.pk))
    return {
        "id": session.pk,
        "join_code": session.join_code,
        "state": session.state,
        "seq": session.seq,
        "current_question_id": session.current_question_id,
        "question": question_document(question, for_teacher=False) if question else None,
        "locked": bool(question and session.is_locked(question.pk)),
        "revealed": revealed,
        "students": session.students.filter(removed_at__isnull=True).count(),
        "tally": tallies_of(session, question_ids=[question.pk]).get(question.pk) if revealed else None,
    }
