"""Reads of decks, sessions and students, and the state documents each role is shown."""

from accounts.services import use_api_token
from domain.errors import DomainError
from domain.tokens import PROJECTOR_PREFIX, STUDENT_PREFIX, token_hash
from peardeck.darklaunch import websocket_dark_launch
from sessions import kinds
from sessions.joincodes import normalize_join_code
from sessions.models import Deck, Question, Session, Student


def decks_of(teacher):
    return Deck.objects.filter(owner=teacher, archived=False).order_by("-updated_at")


def deck_of(teacher, deck_id: int) -> Deck:
    # Someone else's deck is "not found": its existence is none of the caller's business.
    deck = Deck.objects.filter(owner=teacher, pk=deck_id, archived=False).first()
    if deck is None:
        raise DomainError("deck_not_found", f"No deck {deck_id}.", field="deck_id")
    return deck


def question_of(deck: Deck, question_id: int) -> Question:
    question = deck.questions.filter(pk=question_id).first()
    if question is None:
        raise DomainError(
            "question_not_found", f"No question {question_id} in deck {deck.pk}.", field="question_id"
        )
    return question


def sessions_of(teacher):
    return Session.objects.filter(teacher=teacher).select_related("deck").order_by("-created_at")


def session_of(teacher, session_id: int) -> Session:
    session = Session.objects.filter(teacher=teacher, pk=session_id).select_related("deck").first()
    if session is None:
        raise DomainError("session_not_found", f"No session {session_id}.", field="session_id")
    return session


def count_open_sessions() -> int:
    """Sessions waiting or live (the peardeck_open_sessions gauge)."""
    return Session.objects.exclude(state=Session.ENDED).count()


def student_for_token(plaintext: str) -> Student | None:
    if not plaintext.startswith(STUDENT_PREFIX):
        return None
    return Student.objects.select_related("session").filter(token_hash=token_hash(plaintext)).first()


def session_for_projector_key(plaintext: str) -> Session | None:
    if not plaintext.startswith(PROJECTOR_PREFIX):
        return None
    return (
        Session.objects.filter(projector_key_hash=token_hash(plaintext))
        .select_related("current_question")
        .first()
    )


def questions_of_session(session: Session) -> list[Question]:
    return list(Question.objects.filter(deck_id=session.deck_id).order_by("position", "id"))


def question_document(question: Question, *, for_teacher: bool) -> dict:
    config = question.config if for_teacher else kinds.public_config(question.kind, question.config)
    return {
        "id": question.pk,
        "position": question.position,
        "kind": question.kind,
        "prompt": question.prompt,
        "image_url": question.image_url,
        "config": config,
    }


def _session_core(session: Session) -> dict:
    return {
        "id": session.pk,
        "join_code": session.join_code,
        "state": session.state,
        "pacing": session.pacing,
        "seq": session.seq,
        "current_question_id": session.current_question_id,
    }


def teacher_state(session: Session) -> dict:
    questions = questions_of_session(session)
    students = list(session.students.all())
    return {
        **_session_core(session),
        "deck": {"id": session.deck_id, "title": session.deck.title},
        "locked_question_ids": session.locked_question_ids,
        "revealed_question_ids": session.revealed_question_ids,
        "created_at": session.created_at,
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "questions": [question_document(question, for_teacher=True) for question in questions],
        "students": [
            {
                "id": student.pk,
                "display_name": student.display_name,
                "removed": student.is_removed,
                "joined_at": student.joined_at,
            }
            for student in students
        ],
    }


def student_question(student: Student) -> Question | None:
    session = student.session
    if session.pacing == Session.STUDENT and student.current_question_id is not None:
        return student.current_question
    return session.current_question


def student_state(student: Student, own_answer: dict | None) -> dict:
    """What one student may see: their question without its correct answers, and their own answer."""
    session = student.session
    question = student_question(student) if session.state != Session.WAITING else None
    document = {
        **_session_core(session),
        "student": {"id": student.pk, "display_name": student.display_name},
        "question": question_document(question, for_teacher=False) if question else None,
        "locked": bool(question and session.is_locked(question.pk)) or session.state == Session.ENDED,
        "answer": own_answer,
        # Firebase-mode clients in this share also try a WebSocket in the background and report it.
        "websocket_dark_launch": websocket_dark_launch(student.pk),
    }
    if session.pacing == Session.STUDENT:
        document["question_ids"] = [question.pk for question in questions_of_session(session)]
    return document


def session_for_socket(
    *, join_code: str, role: str, user=None, token: str = ""
) -> tuple[Session, Student | None]:
    """Who a WebSocket connection is, for the session with that join code; refuses by DomainError.

    Teachers come with their browser login or an API token, students with their token, the
    projector with the read-only key the teacher's dashboard gets.
    """
    code = normalize_join_code(join_code)
    if code is None:
        raise DomainError("session_not_found", "No session has that join code.", field="join_code")
    if role == "teacher":
        teacher = user if user is not None and user.is_authenticated else use_api_token(token)
        if teacher is None:
            raise DomainError("not_authenticated", "Log in or send an API token.")
        # Codes are reused after a session ends; the teacher means their newest session with it.
        session = Session.objects.filter(teacher=teacher, join_code=code).order_by("-created_at").first()
        if session is None:
            raise DomainError(
                "session_not_found", "None of your sessions has that join code.", field="join_code"
            )
        return session, None
    if role == "student":
        student = student_for_token(token)
        if student is None:
            raise DomainError(
                "not_authenticated", "Join the session first: your token is missing or unknown."
            )
        if student.session.join_code != code:
            raise DomainError(
                "session_not_found", "Your token belongs to another session.", field="join_code"
            )
        if student.is_removed:
            raise DomainError("student_removed", "The teacher removed you from this session.")
        return student.session, student
    if role == "projector":
        session = session_for_projector_key(token)
        if session is None or session.join_code != code:
            raise DomainError("not_authenticated", "The projector key is missing or out of date.")
        return session, None
    raise DomainError("not_found", f"No role {role!r}; use teacher, student or projector.", field="role")
