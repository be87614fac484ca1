"""Answer submission and takeaways for students; responses, stars and the CSV export for teachers."""

from typing import Any

from django.http import HttpResponse
from ninja import Field, Router, Schema, Status

from accounts.auth import teacher_auth
from domain.errors import DomainError
from responses import selectors, services
from responses.export import session_csv
from responses.models import HTTP
from sessions.auth import active_student, student_auth
from sessions.models import Session
from sessions.selectors import session_of

router = Router(tags=["responses"])


class AnswerIn(Schema):
    question_id: int
    submission_id: str = Field(
        min_length=1, max_length=64, description="made by the client; a retry reuses it"
    )
    answer: Any = Field(description="depends on the question kind; see the README")
    order: int | None = Field(
        default=None,
        ge=0,
        lt=2**53,
        strict=True,
        description=(
            "the student's own order of their answers (the pages send microseconds of their clock, "
            "strictly increasing): the answer with the highest order is kept, whichever transport "
            "each came by; an older one is answered superseded"
        ),
    )


class StarIn(Schema):
    starred: bool


@router.post(
    "/student/responses",
    auth=student_auth,
    response={200: dict, 201: dict},
    summary="Submit or change your answer (201 stored; 200 a replay, or superseded by a later one)",
)
def submit(request, payload: AnswerIn):
    submitted = services.submit_response(
        student=request.student,
        question_id=payload.question_id,
        submission_id=payload.submission_id,
        answer=payload.answer,
        source=HTTP,
        order=payload.order,
    )
    body = {
        "question_id": submitted.response.question_id,
        "answer": submitted.response.answer,
        "version": submitted.response.version,
        "submission_id": payload.submission_id,
        "duplicate": submitted.duplicate,
        # A later answer of this student (by their order) is stored: `answer` is that one.
        "superseded": submitted.superseded,
    }
    return Status((200 if submitted.duplicate or submitted.superseded else 201), body)


@router.get(
    "/student/takeaways", auth=student_auth, summary="Your answers beside each question, after the session"
)
def takeaways(request):
    student = active_student(request)
    if student.session.state != Session.ENDED:
        raise DomainError("session_not_ended", "Takeaways open when the teacher ends the session.")
    return {
        "session": {"id": student.session_id, "deck": student.session.deck.title},
        "takeaways": selectors.takeaways_of(student),
    }


@router.get("/sessions/{session_id}/responses", auth=teacher_auth, summary="Every student's current answers")
def list_responses(request, session_id: int, question_id: int | None = None):
    session = session_of(request.user, session_id)
    return [
        selectors.response_document(r, with_student=True)
        for r in selectors.responses_of(session, question_id=question_id)
    ]


@router.post(
    "/sessions/{session_id}/responses/{response_id}/star",
    auth=teacher_auth,
    summary="Star or unstar an answer",
)
def star(request, session_id: int, response_id: int, payload: StarIn):
    response = services.set_starred(
        session=session_of(request.user, session_id), response_id=response_id, starred=payload.starred
    )
    return selectors.response_document(response, with_student=True)


@router.get(
    "/sessions/{session_id}/export.csv", auth=teacher_auth, summary="All final answers of the session as CSV"
)
def export(request, session_id: int):
    session = session_of(request.user, session_id)
    response = HttpResponse(session_csv(session), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="peardeck-{session.join_code}-{session.pk}.csv"'
    return response
