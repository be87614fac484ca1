"""Reads of decks, questions, sessions and students. What each role is shown of them is
live/documents.py."""

from django.db.models import Count

from domain.errors import DomainError
from domain.tokens import PROJECTOR_PREFIX, STUDENT_PREFIX, token_hash
from sessions import kinds
from sessions.models import Deck, Question, Session, Student


def decks_of(teacher):
    return Deck.objects.filter(owner=teacher, archived=False).order_by("-updated_at")


def deck_of(teacher, deck_id: int) -> Deck:
    # Someone else's deck is "not found": its existence is none of the caller's business.
    deck = Deck.objects.filter(owner=teacher, pk=deck_id, archived=False).first()
    if deck is None:
        raise DomainError("deck_not_found", f"No deck {deck_id}.", field="deck_id")
    return deck


def question_counts(deck_ids: list[int]) -> dict[int, int]:
    """How many questions each of these decks holds, in one query."""
    rows = Question.objects.filter(deck_id__in=deck_ids).values("deck_id").annotate(count=Count("id"))
    return {row["deck_id"]: row["count"] for row in rows}


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
