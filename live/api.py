"""The running class over HTTP: teachers open, move, switch and end sessions; students join,
read their state and move; the projector reads its view. Each answers with the role's document
(live/documents.py). Answers themselves are POSTed to responses/api.py.
"""

from typing import Annotated

from django.http import HttpResponse
from ninja import Field, Header, Query, Router, Status
from ninja.decorators import decorate_view

from accounts.auth import teacher_auth
from domain.errors import DomainError
from integrations import firebase
from live import services
from live.documents import projector_state, student_version, student_view, student_view_version, teacher_state
from live.schemas import (
    FirebaseRefresh,
    GoToIn,
    Joined,
    JoinIn,
    MoveIn,
    NewSession,
    PacingIn,
    ProjectorKey,
    ProjectorState,
    QuestionRef,
    SessionIn,
    SessionPage,
    StudentState,
    Tallies,
    TeacherState,
)
from observability import instrument
from responses.selectors import tallies_of
from runtime.snapshot import snapshot
from sessions import live_state
from sessions.auth import active_student, projector_auth, student_auth
from sessions.models import Session, Student
from sessions.selectors import deck_of, session_of, sessions_of
from web import ratelimit
from web.contract import Id, errors
from web.pagination import Keyset, PageParams
from web.polling import conditional
from web.ratelimit import check_rate

router = Router(auth=teacher_auth, tags=["sessions (teacher)"])
student_router = Router(tags=["students and projector"])

# Newest first; ids grow with creation, so the id alone is the order.
SESSION_ORDER = Keyset(("-id",))

# Conditional GETs of the state documents: the ETag (If-None-Match) or the seq held (since).


def _if_none_match():
    # Documented only: web.polling.conditional reads the header itself.
    return Header(
        None,
        alias="If-None-Match",
        description="the ETag of the document you hold: 304, no body, while it is still current",
    )


_SEQ_HELD = Field(
    ge=0,
    description="the seq you hold: 304, no body, when the session is still at it (the ETag is the "
    "finer test: a student's own answer can change without the seq)",
)
Since = Annotated[int, _SEQ_HELD] | None
_ANSWERS_SEQ_HELD = Field(
    ge=0,
    description="the answers_seq you hold (documents that show answers carry it): 304 only when "
    "both it and since are still current; a poll that gives since alone gets the state whenever "
    "answers came in",
)
AnswersSince = Annotated[int, _ANSWERS_SEQ_HELD] | None
NOT_MODIFIED = {304: None}


def _teacher_session(request, session_id: int) -> Session:
    return session_of(request.user, session_id)


# --- sessions -------------------------------------------------------------------------------


@router.get(
    "/sessions", response=SessionPage, operation_id="list_sessions", summary="Your sessions, newest first"
)
def list_sessions(request, page: Query[PageParams]):
    sessions, next_cursor = SESSION_ORDER.page(sessions_of(request.user), page)
    return {
        "items": [
            {
                "id": session.pk,
                "join_code": session.join_code,
                "state": session.state,
                "deck": {"id": session.deck_id, "title": session.deck.title},
                "created_at": session.created_at,
            }
            for session in sessions
        ],
        "next_cursor": next_cursor,
    }


@router.post(
    "/sessions",
    response={201: NewSession},
    operation_id="create_session",
    summary="Open a session of a deck; students can join at once",
    openapi_extra=errors("deck_not_found", "deck_empty"),
)
def create_session(request, payload: SessionIn):
    deck = deck_of(request.user, payload.deck_id)
    session, projector_key = services.create_session(teacher=request.user, deck=deck, pacing=payload.pacing)
    return Status(201, {**teacher_state(session), "projector_key": projector_key})


@router.get(
    "/sessions/{session_id}",
    response={200: TeacherState, **NOT_MODIFIED},
    operation_id="get_session",
    summary="The full state of your session, with the roster (conditional: ETag, since=seq)",
    openapi_extra=errors("session_not_found"),
)
def get_session(
    request,
    session_id: Id,
    response: HttpResponse,
    since: Since = None,
    if_none_match: str | None = _if_none_match(),
):
    session = _teacher_session(request, session_id)
    unchanged = conditional(
        request, response, f"teacher-{session.pk}-{session.seq}", since=since, seq=session.seq
    )
    return unchanged or teacher_state(session)


@router.post(
    "/sessions/{session_id}/start",
    response=TeacherState,
    operation_id="start_session",
    summary="Go live on the first question",
    openapi_extra=errors("session_not_found", "wrong_state"),
)
def start_session(request, session_id: Id):
    return teacher_state(services.start_session(session=_teacher_session(request, session_id)))


@router.post(
    "/sessions/{session_id}/goto",
    response=TeacherState,
    operation_id="go_to_question",
    summary="Move the class to a question",
    openapi_extra=errors("session_not_found", "session_ended", "question_not_found"),
)
def go_to_question(request, session_id: Id, payload: GoToIn):
    session = services.go_to_question(
        session=_teacher_session(request, session_id), question_id=payload.question_id
    )
    return teacher_state(session)


@router.post(
    "/sessions/{session_id}/next",
    response=TeacherState,
    operation_id="next_question",
    summary="Move the class to the next question",
    openapi_extra=errors("session_not_found", "session_ended", "no_such_move"),
)
def next_question(request, session_id: Id):
    return teacher_state(services.step_question(session=_teacher_session(request, session_id), step=1))


@router.post(
    "/sessions/{session_id}/previous",
    response=TeacherState,
    operation_id="previous_question",
    summary="Move the class to the previous question",
    openapi_extra=errors("session_not_found", "session_ended", "no_such_move"),
)
def previous_question(request, session_id: Id):
    return teacher_state(services.step_question(session=_teacher_session(request, session_id), step=-1))


def _flag_endpoint(action: str):
    def flag_question(request, session_id: Id, payload: QuestionRef | None = None):
        question_id = payload.question_id if payload else None
        session = services.flag_question(
            session=_teacher_session(request, session_id), action=action, question_id=question_id
        )
        return teacher_state(session)

    # The URL name and the request metrics' view label (the operation id is pinned below).
    flag_question.__name__ = services.QUESTION_ACTIONS[action].operation
    return flag_question


# POST /sessions/{id}/lock, /unlock, /reveal, /hide, each with {"question_id"} (the current
# question by default): one endpoint per action of the one table, live.services.QUESTION_ACTIONS.
for _action, _flag in services.QUESTION_ACTIONS.items():
    router.post(
        f"/sessions/{{session_id}}/{_action}",
        response=TeacherState,
        operation_id=_flag.operation,
        summary=_flag.summary,
        openapi_extra=errors("session_not_found", "session_ended", "question_not_found"),
    )(_flag_endpoint(_action))


@router.post(
    "/sessions/{session_id}/pacing",
    response=TeacherState,
    operation_id="set_pacing",
    summary="Switch between teacher and student pacing",
    openapi_extra=errors("session_not_found", "session_ended"),
)
def set_pacing(request, session_id: Id, payload: PacingIn):
    session = services.set_pacing(session=_teacher_session(request, session_id), pacing=payload.pacing)
    return teacher_state(session)


@router.delete(
    "/sessions/{session_id}/students/{student_id}",
    response={204: None},
    operation_id="remove_student",
    summary="Remove a student from the session (their answers stay, marked, out of tallies and CSV)",
    openapi_extra=errors("session_not_found", "student_not_found"),
)
def remove_student(request, session_id: Id, student_id: Id):
    services.remove_student(session=_teacher_session(request, session_id), student_id=student_id)
    return Status(204, None)


@router.post(
    "/sessions/{session_id}/end",
    response=TeacherState,
    operation_id="end_session",
    summary="End the session; answers close and takeaways open",
    openapi_extra=errors("session_not_found"),
)
def end_session(request, session_id: Id):
    return teacher_state(services.end_session(session=_teacher_session(request, session_id)))


@router.post(
    "/sessions/{session_id}/projector-key",
    response=ProjectorKey,
    operation_id="rotate_projector_key",
    summary="A new projector key (the previous one stops working)",
    openapi_extra=errors("session_not_found"),
)
def rotate_projector_key(request, session_id: Id):
    session = _teacher_session(request, session_id)
    return {"projector_key": services.rotate_projector_key(session=session), "join_code": session.join_code}


@router.get(
    "/sessions/{session_id}/tallies",
    response=Tallies,
    operation_id="get_tallies",
    summary="Per-question tallies (removed students' answers left out)",
    openapi_extra=errors("session_not_found"),
)
def tallies(request, session_id: Id):
    # The teacher's session is read inside the snapshot, so its versions describe the tallies.
    with snapshot():
        session = _teacher_session(request, session_id)
        return {
            "seq": session.seq,
            "answers_seq": session.answers_seq,
            "tallies": list(tallies_of(session).values()),
        }


# --- students -------------------------------------------------------------------------------


@student_router.post(
    "/join",
    response={201: Joined},
    auth=None,
    operation_id="join_session",
    summary="Join a session with its code and a display name",
    openapi_extra=errors("rate_limited", "session_not_found", "name_taken"),
)
@decorate_view(instrument.count_join_outcome)
def join(request, payload: JoinIn):
    network = ratelimit.check_join(request, payload.join_code)
    try:
        student, token = services.join_session(join_code=payload.join_code, display_name=payload.display_name)
    except DomainError as refusal:
        if refusal.code == "session_not_found":
            ratelimit.note_failed_join(network)
        raise
    ratelimit.note_joined(network)
    state = student_view(student)
    return Status(
        201,
        {
            "token": token,
            "student": state["student"],
            "state": state,
            "firebase": firebase.student_credentials(student),
        },
    )


@student_router.post(
    "/student/firebase",
    auth=student_auth,
    response=FirebaseRefresh,
    operation_id="refresh_firebase_credentials",
    summary="Fresh Firebase credentials (a custom token is good for one hour); null when Firebase is off",
    openapi_extra=errors("student_removed", "rate_limited"),
)
def student_firebase(request):
    student = active_student(request)
    check_rate("firebase_token", f"student-{student.pk}")
    return {"firebase": firebase.student_credentials(student)}


@student_router.get(
    "/student/state",
    auth=student_auth,
    response={200: StudentState, **NOT_MODIFIED},
    operation_id="get_student_state",
    summary="What you see now: your question, lock, your answer (conditional: ETag, since, answers_since)",
    openapi_extra=errors("student_removed"),
)
def student_state(
    request,
    response: HttpResponse,
    since: Since = None,
    answers_since: AnswersSince = None,
    if_none_match: str | None = _if_none_match(),
):
    student = active_student(request)
    # A poll with nothing new is answered from this process's cached live state: no query.
    record = live_state.session(student.session_id)
    if record is not None:
        cached = student_version(
            student.pk, record.seq, record.answers_seq, live_state.student_question_id(student, record)
        )
        unchanged = conditional(
            request,
            response,
            cached,
            since=since,
            seq=record.seq,
            answers_since=answers_since,
            answers_seq=record.answers_seq,
        )
        if unchanged:
            return unchanged
    student = Student.objects.select_related("session").get(pk=student.pk)
    session = student.session
    unchanged = conditional(
        request,
        response,
        student_view_version(student),
        since=since,
        seq=session.seq,
        answers_since=answers_since,
        answers_seq=session.answers_seq,
    )
    return unchanged or student_view(student)


@student_router.post(
    "/student/move",
    auth=student_auth,
    response=StudentState,
    operation_id="move_student",
    summary="Move to a question (student-paced sessions only)",
    openapi_extra=errors("student_removed", "wrong_state", "session_ended", "question_not_found"),
)
def move(request, payload: MoveIn):
    student = services.move_student(student=active_student(request), question_id=payload.question_id)
    return student_view(student)


# --- the projector --------------------------------------------------------------------------


@student_router.get(
    "/projector/state",
    auth=projector_auth,
    response={200: ProjectorState, **NOT_MODIFIED},
    operation_id="get_projector_state",
    summary="The projector's view (key from the dashboard; conditional: ETag, since, answers_since)",
)
def projector_view(
    request,
    response: HttpResponse,
    since: Since = None,
    answers_since: AnswersSince = None,
    if_none_match: str | None = _if_none_match(),
):
    session = request.projector_session
    etag = f"projector-{session.pk}-{session.seq}-{session.answers_seq}"
    unchanged = conditional(
        request,
        response,
        etag,
        since=since,
        seq=session.seq,
        answers_since=answers_since,
        answers_seq=session.answers_seq,
    )
    return unchanged or projector_state(session)
