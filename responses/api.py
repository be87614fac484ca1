"""Answer submission and takeaways for students; responses, stars and the CSV export for teachers."""

from django.http import HttpResponse
from ninja import Query, Router, Status

from accounts.auth import teacher_auth
from domain.errors import DomainError
from responses import selectors, services
from responses.export import session_csv
from responses.models import HTTP
from responses.schemas import AnswerIn, ResponsePage, StarIn, Submitted, Takeaways
from responses.schemas import Response as ResponseOut
from sessions.auth import active_student, student_auth
from sessions.models import Session
from sessions.selectors import session_of
from web.contract import Id, errors
from web.pagination import Keyset, PageParams

router = Router(tags=["responses"])


RESPONSE_ORDER = Keyset(("question_id", "student_id"))


@router.post(
    "/student/responses",
    auth=student_auth,
    response={200: Submitted, 201: Submitted},
    operation_id="submit_answer",
    summary="Submit or change your answer (201 stored; 200 a replay, or superseded by a later one)",
    openapi_extra=errors(
        "student_removed",
        "question_not_found",
        "session_ended",
        "session_not_live",
        "question_not_current",
        "question_locked",
        "not_answerable",
        "submission_id_reused",
        "invalid_answer",
        "unavailable",
    ),
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
    "/student/takeaways",
    auth=student_auth,
    response=Takeaways,
    operation_id="get_takeaways",
    summary="Your answers beside each question, after the session",
    openapi_extra=errors("student_removed", "session_not_ended"),
)
def takeaways(request):
    student = active_student(request)
    session = student.session
    if session.state != Session.ENDED:
        raise DomainError("session_not_ended", "Takeaways open when the teacher ends the session.")
    return {
        "session": {"id": session.pk, "deck": {"id": session.deck_id, "title": session.deck.title}},
        "takeaways": selectors.takeaways_of(student),
    }


@router.get(
    "/sessions/{session_id}/responses",
    auth=teacher_auth,
    response=ResponsePage,
    operation_id="list_responses",
    summary="Every student's current answer, removed students' marked, a page at a time",
    openapi_extra=errors("session_not_found"),
)
def list_responses(request, session_id: Id, page: Query[PageParams], question_id: Id | None = None):
    session = session_of(request.user, session_id)
    responses, next_cursor = RESPONSE_ORDER.page(
        selectors.responses_query(session, question_id=question_id), page
    )
    return {
        "items": [selectors.response_document(r, with_student=True) for r in responses],
        "next_cursor": next_cursor,
    }


@router.post(
    "/sessions/{session_id}/responses/{response_id}/star",
    auth=teacher_auth,
    response=ResponseOut,
    operation_id="star_response",
    summary="Star or unstar an answer",
    openapi_extra=errors("session_not_found", "response_not_found"),
)
def star(request, session_id: Id, response_id: Id, payload: StarIn):
    response = services.set_starred(
        session=session_of(request.user, session_id), response_id=response_id, starred=payload.starred
    )
    return selectors.response_document(response, with_student=True)


@router.get(
    "/sessions/{session_id}/export.csv",
    auth=teacher_auth,
    response={200: None},
    operation_id="export_responses_csv",
    summary="All final answers of the session as CSV (the README lists the columns)",
    openapi_extra={
        **errors("session_not_found"),
        "responses": {
            200: {
                "description": "One row per answer of each student on the roster",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
    },
)
def export(request, session_id: Id):
    session = session_of(request.user, session_id)
    response = HttpResponse(session_csv(session), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="peardeck-{session.join_code}-{session.pk}.csv"'
    return response
