"""Teachers' deck, question and session endpoints, and the students' join/state endpoints."""

from typing import Any, Literal

from django.http import HttpResponse
from ninja import Field, Router, Schema, Status
from ninja.decorators import decorate_view

from peardeck import firebase, instrument, ratelimit
from peardeck.auth import active_student, projector_auth, student_auth, teacher_auth
from peardeck.errors import DomainError
from peardeck.polling import conditional
from peardeck.ratelimit import check_rate
from responses.selectors import projector_state, student_view, student_view_version
from sessions import kinds, selectors, services
from sessions.models import Deck, Session

router = Router(auth=teacher_auth, tags=["decks and sessions (teacher)"])
student_router = Router(tags=["student"])

Kind = Literal["multiple_choice", "text", "number", "draggable", "drawing", "slide"]


class DeckIn(Schema):
    title: str = Field(min_length=1, max_length=200)


class QuestionIn(Schema):
    kind: Kind
    prompt: str = Field(default="", max_length=kinds.MAX_PROMPT_LENGTH)
    image_url: str = Field(default="", max_length=kinds.MAX_IMAGE_URL_LENGTH)
    config: dict[str, Any] = Field(default_factory=dict, description="kind-specific settings; see the README")


class QuestionPatch(Schema):
    prompt: str | None = Field(default=None, max_length=kinds.MAX_PROMPT_LENGTH)
    image_url: str | None = Field(default=None, max_length=kinds.MAX_IMAGE_URL_LENGTH)
    config: dict[str, Any] | None = None


class OrderIn(Schema):
    question_ids: list[int] = Field(max_length=services.MAX_QUESTIONS_PER_DECK)


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


def _deck_document(deck: Deck) -> dict:
    return {
        "id": deck.pk,
        "title": deck.title,
        "created_at": deck.created_at,
        "updated_at": deck.updated_at,
        "questions": [
            selectors.question_document(question, for_teacher=True) for question in deck.questions.all()
        ],
    }


# --- decks ----------------------------------------------------------------------------------


@router.get("/decks", summary="Your decks")
def list_decks(request):
    return [
        {
            "id": deck.pk,
            "title": deck.title,
            "updated_at": deck.updated_at,
            "question_count": deck.questions.count(),
        }
        for deck in selectors.decks_of(request.user)
    ]


@router.post("/decks", response={201: dict}, summary="Create a deck")
def create_deck(request, payload: DeckIn):
    return Status(201, _deck_document(services.create_deck(owner=request.user, title=payload.title)))


@router.get("/decks/{deck_id}", summary="A deck with its questions")
def get_deck(request, deck_id: int):
    return _deck_document(selectors.deck_of(request.user, deck_id))


@router.patch("/decks/{deck_id}", summary="Rename a deck")
def rename_deck(request, deck_id: int, payload: DeckIn):
    deck = services.rename_deck(deck=selectors.deck_of(request.user, deck_id), title=payload.title)
    return _deck_document(deck)


@router.delete(
    "/decks/{deck_id}", response={204: None}, summary="Delete a deck (archived if it has been run)"
)
def delete_deck(request, deck_id: int):
    services.delete_deck(deck=selectors.deck_of(request.user, deck_id))
    return Status(204, None)


@router.post(
    "/decks/{deck_id}/questions", response={201: dict}, summary="Add a question at the end of a deck"
)
def add_question(request, deck_id: int, payload: QuestionIn):
    deck = selectors.deck_of(request.user, deck_id)
    question = services.add_question(
        deck=deck,
        kind=payload.kind,
        prompt=payload.prompt,
        config=payload.config,
        image_url=payload.image_url,
    )
    return Status(201, selectors.question_document(question, for_teacher=True))


@router.patch("/decks/{deck_id}/questions/{int:question_id}", summary="Edit a question")
def update_question(request, deck_id: int, question_id: int, payload: QuestionPatch):
    question = selectors.question_of(selectors.deck_of(request.user, deck_id), question_id)
    question = services.update_question(
        question=question, prompt=payload.prompt, config=payload.config, image_url=payload.image_url
    )
    return selectors.question_document(question, for_teacher=True)


@router.delete(
    "/decks/{deck_id}/questions/{int:question_id}", response={204: None}, summary="Delete a question"
)
def delete_question(request, deck_id: int, question_id: int):
    services.delete_question(
        question=selectors.question_of(selectors.deck_of(request.user, deck_id), question_id)
    )
    return Status(204, None)


@router.put("/decks/{deck_id}/questions/order", summary="Reorder a deck's questions")
def reorder_questions(request, deck_id: int, payload: OrderIn):
    deck = selectors.deck_of(request.user, deck_id)
    services.reorder_questions(deck=deck, question_ids=payload.question_ids)
    return _deck_document(deck)


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
        for session in selectors.sessions_of(request.user)[:200]
    ]


@router.post("/sessions", response={201: dict}, summary="Open a session of a deck; students can join at once")
def create_session(request, payload: SessionIn):
    deck = selectors.deck_of(request.user, payload.deck_id)
    session, projector_key = services.create_session(teacher=request.user, deck=deck, pacing=payload.pacing)
    return Status(201, {**selectors.teacher_state(session), "projector_key": projector_key})


def _teacher_session(request, session_id: int) -> Session:
    return selectors.session_of(request.user, session_id)


@router.get(
    "/sessions/{session_id}", summary="The full state of your session, with the roster (ETag, since=seq)"
)
def get_session(request, session_id: int, response: HttpResponse, since: int | None = None):
    session = _teacher_session(request, session_id)
    unchanged = conditional(
        request, response, f"teacher-{session.pk}-{session.seq}", since=since, seq=session.seq
    )
    return unchanged or selectors.teacher_state(session)


@router.post("/sessions/{session_id}/start", summary="Go live on the first question")
def start_session(request, session_id: int):
    return selectors.teacher_state(services.start_session(session=_teacher_session(request, session_id)))


@router.post("/sessions/{session_id}/goto", summary="Move the class to a question")
def go_to_question(request, session_id: int, payload: GoToIn):
    session = services.go_to_question(
        session=_teacher_session(request, session_id), question_id=payload.question_id
    )
    return selectors.teacher_state(session)


@router.post("/sessions/{session_id}/next", summary="Move the class to the next question")
def next_question(request, session_id: int):
    return selectors.teacher_state(
        services.step_question(session=_teacher_session(request, session_id), step=1)
    )


@router.post("/sessions/{session_id}/previous", summary="Move the class to the previous question")
def previous_question(request, session_id: int):
    return selectors.teacher_state(
        services.step_question(session=_teacher_session(request, session_id), step=-1)
    )


@router.post("/sessions/{session_id}/lock", summary="Lock answers to a question")
def lock_question(request, session_id: int, payload: QuestionRef | None = None):
    question_id = payload.question_id if payload else None
    session = services.lock_question(session=_teacher_session(request, session_id), question_id=question_id)
    return selectors.teacher_state(session)


@router.post("/sessions/{session_id}/unlock", summary="Unlock answers to a question")
def unlock_question(request, session_id: int, payload: QuestionRef | None = None):
    question_id = payload.question_id if payload else None
    session = services.unlock_question(session=_teacher_session(request, session_id), question_id=question_id)
    return selectors.teacher_state(session)


@router.post("/sessions/{session_id}/reveal", summary="Show a question's results on the projector")
def reveal_results(request, session_id: int, payload: QuestionRef | None = None):
    question_id = payload.question_id if payload else None
    session = services.reveal_results(session=_teacher_session(request, session_id), question_id=question_id)
    return selectors.teacher_state(session)


@router.post("/sessions/{session_id}/hide", summary="Hide a question's results from the projector")
def hide_results(request, session_id: int, payload: QuestionRef | None = None):
    question_id = payload.question_id if payload else None
    session = services.hide_results(session=_teacher_session(request, session_id), question_id=question_id)
    return selectors.teacher_state(session)


@router.post("/sessions/{session_id}/pacing", summary="Switch between teacher and student pacing")
def set_pacing(request, session_id: int, payload: PacingIn):
    session = services.set_pacing(session=_teacher_session(request, session_id), pacing=payload.pacing)
    return selectors.teacher_state(session)


@router.delete("/sessions/{session_id}/students/{student_id}", summary="Remove a student from the session")
def remove_student(request, session_id: int, student_id: int):
    session = _teacher_session(request, session_id)
    services.remove_student(session=session, student_id=student_id)
    return selectors.teacher_state(selectors.session_of(request.user, session_id))


@router.post("/sessions/{session_id}/end", summary="End the session; answers close and takeaways open")
def end_session(request, session_id: int):
    return selectors.teacher_state(services.end_session(session=_teacher_session(request, session_id)))


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
    summary="What you see now: your question, lock, your answer (ETag, since=seq)",
)
def student_state(request, response: HttpResponse, since: int | None = None):
    student = active_student(request)
    etag = student_view_version(student)
    unchanged = conditional(request, response, etag, since=since, seq=student.session.seq)
    return unchanged or student_view(student)


@router.post(
    "/sessions/{session_id}/projector-key", summary="A new projector key (the previous one stops working)"
)
def rotate_projector_key(request, session_id: int):
    session = _teacher_session(request, session_id)
    return {"projector_key": services.rotate_projector_key(session=session), "join_code": session.join_code}


@student_router.get(
    "/projector/state", auth=projector_auth, summary="The projector's view (key from the dashboard)"
)
def projector_view(request, response: HttpResponse, since: int | None = None):
    session = request.projector_session
    etag = f"projector-{session.pk}-{session.seq}"
    unchanged = conditional(request, response, etag, since=since, seq=session.seq)
    return unchanged or projector_state(session)


@student_router.post(
    "/student/move", auth=student_auth, summary="Move to a question (student-paced sessions only)"
)
def move(request, payload: MoveIn):
    student = services.move_student(student=active_student(request), question_id=payload.question_id)
    return student_view(student)
