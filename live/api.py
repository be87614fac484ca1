"""The running class over HTTP: teachers open, move, switch and end sessions; students join,
read their state and move; the projector reads its view. Each answers with the role's document
(live/documents.py). Answers themselves are POSTed to responses/api.py.
"""

from typing import Literal

from django.http import HttpResponse
from ninja import Field, Router, Schema, Status
from ninja.decorators import decorate_view

from accounts.auth import teacher_auth
from domain.errors import DomainError
from integrations import firebase
from live import services
from live.documents import projector_state, student_version, student_view, student_view_version, teacher_state
from observability import instrument
from responses.selectors import tallies_of
from runtime.snapshot import snapshot
from sessions import live_state
from sessions.auth import active_student, projector_auth, student_auth
from sessions.models import Session, Student
from sessions.selectors import deck_of, session_of, sessions_of
from web import ratelimit
from web.polling import conditional
from web.ratelimit import check_rate

router = Router(auth=teacher_auth, tags=["decks and sessions (teacher)"])
student_router = Router(tags=["student"])


class SessionIn(Schema):
    deck_id: int
    pacing: Literal["instructor", "student"] = "instructor"


class GoToIn(Schema):
    question_id: int


class QuestionRef(Schema):
    question_id: int | None = Field(default=None, description="defaults to the current question")


class PacingIn(Schema):
    pacing: Literal["instructor", "student"]


class JoinIn(Schema):
    join_code: str = Field(min_length=1, max_length=20)
    display_name: str = Field(min_length=1, max_length=100)


class MoveIn(Schema):
    question_id: int


# --- sessions -------------------------------------------------------------------------------


@router.get("/sessions", summary="Your sessions, newest first")
def list_sessions(request):
    return [
        {
            "id": session.pk,
            "join_code": session.join_code,
            "state": session.state,
            "deck": {"id": session.deck_id, "title": session.deck.title},
            "created_at": session.created_at,
        }
        for session in sessions_of(request.user)[:200]
    ]


@router.post("/sessions", response={201: dict}, summary="Open a session of a deck; students can join at once")
def create_session(request, payload: SessionIn):
    deck = deck_of(request.user, payload.deck_id)
    session, projector_key = services.create_session(teacher=request.user, deck=deck, pacing=payload.pacing)
    return Status(201, {**teacher_state(session), "projector_key": projector_key})


def _teacher_session(request, session_id: int) -> Session:
    return session_of(request.user, session_id)


@router.get(
    "/sessions/{session_id}", summary="The full state of your session, with the roster (ETag, since=seq)"
)
def get_session(request, session_id: int, response: HttpResponse, since: int | None = None):
    session = _teacher_session(request, session_id)
    unchanged = conditional(
        request, response, f"teacher-{session.pk}-{session.seq}", since=since, seq=session.seq
    )
    return unchanged or teacher_state(session)


@router.post("/sessions/{session_id}/start", summary="Go live on the first question")
def start_session(request, session_id: int):
    return teacher_state(services.start_session(session=_teacher_session(request, session_id)))


@router.post("/sessions/{session_id}/goto", summary="Move the class to a question")
def go_to_question(request, session_id: int, payload: GoToIn):
    session = services.go_to_question(
        session=_teacher_session(request, session_id), question_id=payload.question_id
    )
    return teacher_state(session)


@router.post("/sessions/{session_id}/next", summary="Move the class to the next question")
def next_question(request, session_id: int):
    return teacher_state(services.step_question(session=_teacher_session(request, session_id), step=1))


@router.post("/sessions/{session_id}/previous", summary="Move the class to the previous question")
def previous_question(request, session_id: int):
    return teacher_state(services.step_question(session=_teacher_session(request, session_id), step=-1))


def _flag_endpoint(action: str):
    def flag_question(request, session_id: int, payload: QuestionRef | None = None):
        question_id = payload.question_id if payload else None
        session = services.flag_question(
            session=_teacher_session(request, session_id), action=action, question_id=question_id
        )
        return teacher_state(session)

    # The operation's name in the OpenAPI document, the URL name and the request metrics' view label.
    flag_question.__name__ = services.QUESTION_ACTIONS[action].operation
    return flag_question


# POST /sessions/{id}/lock, /unlock, /reveal, /hide, each with {"question_id"} (the current
# question by default): one endpoint per action of the one table, live.services.QUESTION_ACTIONS.
for _action, _flag in services.QUESTION_ACTIONS.items():
    router.post(f"/sessions/{{session_id}}/{_action}", summary=_flag.summary)(_flag_endpoint(_action))


@router.post("/sessions/{session_id}/pacing", summary="Switch between teacher and student pacing")
def set_pacing(request, session_id: int, payload: PacingIn):
    session = services.set_pacing(session=_teacher_session(request, session_id), pacing=payload.pacing)
    return teacher_state(session)


@router.delete("/sessions/{session_id}/students/{student_id}", summary="Remove a student from the session")
def remove_student(request, session_id: int, student_id: int):
    session = _teacher_session(request, session_id)
    services.remove_student(session=session, student_id=student_id)
    return teacher_state(session_of(request.user, session_id))


@router.post("/sessions/{session_id}/end", summary="End the session; answers close and takeaways open")
def end_session(request, session_id: int):
    return teacher_state(services.end_session(session=_teacher_session(request, session_id)))


# --- students -------------------------------------------------------------------------------


@student_router.post(
    "/join", response={201: dict}, auth=None, summary="Join a session with its code and a display name"
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
    return Status(
        201, {"token": token, **student_view(student), "firebase": firebase.student_credentials(student)}
    )


@student_router.post(
    "/student/firebase",
    auth=student_auth,
    summary="Fresh Firebase credentials (a custom token is good for one hour); null when Firebase is off",
)
def student_firebase(request):
    student = active_student(request)
    check_rate("firebase_token", f"student-{student.pk}")
    return {"firebase": firebase.student_credentials(student)}


@student_router.get(
    "/student/state",
    auth=student_auth,
    summary="What you see now: your question, lock, your answer (ETag, since=seq&answers_since=answers_seq)",
)
def student_state(
    request, response: HttpResponse, since: int | None = None, answers_since: int | None = None
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


@router.post(
    "/sessions/{session_id}/projector-key", summary="A new projector key (the previous one stops working)"
)
def rotate_projector_key(request, session_id: int):
    session = _teacher_session(request, session_id)
    return {"projector_key": services.rotate_projector_key(session=session), "join_code": session.join_code}


@student_router.get(
    "/projector/state",
    auth=projector_auth,
    summary="The projector's view (key from the dashboard; ETag, since=seq&answers_since=answers_seq)",
)
def projector_view(
    request, response: HttpResponse, since: int | None = None, answers_since: int | None = None
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


@student_router.post(
    "/student/move", auth=student_auth, summary="Move to a question (student-paced sessions only)"
)
def move(request, payload: MoveIn):
    student = services.move_student(student=active_student(request), question_id=payload.question_id)
    return student_view(student)


@router.get("/sessions/{session_id}/tallies", summary="Per-question tallies")
def tallies(request, session_id: int):
    session = _teacher_session(request, session_id)
    with snapshot():
        session = Session.objects.get(pk=session.pk)
        return {
            "seq": session.seq,
            "answers_seq": session.answers_seq,
            "tallies": list(tallies_of(session).values()),
        }
