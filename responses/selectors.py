"""Reads of responses: lists for the teacher, tallies, a student's own answers, the export."""

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


def tally_event(session_id: int, changed: set[tuple[int, int]]) -> dict | None:
    """One coalesced update for a session: fresh tallies of the questions that were answered, and
    the changed responses themselves (only teachers receive those; see live/documents.py)."""
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
