"""Every write to decks and questions (authoring). One transaction per function.

The running class (sessions opened, moved, locked, ended; students joining) is written by
live/services.py; both announce changes through sessions/changes.py.
"""

from django.db import transaction
from django.db.models import Max

from domain import untrusted
from domain.errors import DomainError
from sessions import kinds, live_state
from sessions.changes import question_payload, record_change
from sessions.models import Deck, Question, Session

MAX_QUESTIONS_PER_DECK = 200

# --- decks and questions --------------------------------------------------------------------


def _clean_title(title: str) -> str:
    title = untrusted.clean_text(title, field="title").strip()
    if not title:
        raise DomainError("invalid", "title must not be blank", field="title")
    if len(title) > 200:
        raise DomainError("invalid", "title is longer than 200 characters", field="title")
    return title


@transaction.atomic
def create_deck(*, owner, title: str) -> Deck:
    return Deck.objects.create(owner=owner, title=_clean_title(title))


@transaction.atomic
def rename_deck(*, deck: Deck, title: str) -> Deck:
    deck.title = _clean_title(title)
    deck.save(update_fields=["title", "updated_at"])
    return deck


@transaction.atomic
def delete_deck(*, deck: Deck) -> None:
    """A deck that has been run keeps its questions for the record and is archived instead."""
    if deck.sessions.exists():
        deck.archived = True
        deck.save(update_fields=["archived", "updated_at"])
    else:
        deck.delete()


def _clean_prompt(kind: str, prompt: str) -> str:
    prompt = untrusted.clean_text(prompt, field="prompt", code="invalid_question").strip()
    if not prompt and kind != kinds.SLIDE:
        raise DomainError("invalid_question", "prompt must not be blank", field="prompt")
    if len(prompt) > kinds.MAX_PROMPT_LENGTH:
        raise DomainError(
            "invalid_question", f"prompt is longer than {kinds.MAX_PROMPT_LENGTH} characters", field="prompt"
        )
    return prompt


def _clean_image_url(image_url: str) -> str:
    untrusted.clean_text(image_url, field="image_url", code="invalid_question")
    try:
        image_url = kinds.clean_image_url(image_url)
    except ValueError as exc:
        raise DomainError("invalid_question", f"image_url {exc}", field="image_url") from exc
    if len(image_url) > kinds.MAX_IMAGE_URL_LENGTH:
        raise DomainError("invalid_question", "image_url is too long", field="image_url")
    return image_url


@transaction.atomic
def add_question(
    *, deck: Deck, kind: str, prompt: str, config: dict | None = None, image_url: str = ""
) -> Question:
    deck = Deck.objects.select_for_update().get(pk=deck.pk)
    config = kinds.clean_config(kind, config)
    prompt = _clean_prompt(kind, prompt)
    image_url = _clean_image_url(image_url)
    count = deck.questions.count()
    if count >= MAX_QUESTIONS_PER_DECK:
        raise DomainError(
            "invalid_question", f"a deck holds at most {MAX_QUESTIONS_PER_DECK} questions", field="deck_id"
        )
    last = deck.questions.aggregate(last=Max("position"))["last"]
    question = Question.objects.create(
        deck=deck,
        kind=kind,
        prompt=prompt,
        config=config,
        image_url=image_url,
        position=0 if last is None else last + 1,
    )
    _deck_changed(deck.pk)
    return question


@transaction.atomic
def update_question(
    *, question: Question, prompt: str | None = None, config: dict | None = None, image_url: str | None = None
) -> Question:
    question = Question.objects.select_for_update().get(pk=question.pk)
    if prompt is not None:
        question.prompt = _clean_prompt(question.kind, prompt)
    if image_url is not None:
        question.image_url = _clean_image_url(image_url)
    if config is not None:
        cleaned = kinds.clean_config(question.kind, config)
        if cleaned != question.config and question.responses.exists():
            # Changing choices or bounds under existing answers would change what they mean.
            raise DomainError(
                "question_has_responses",
                "This question already has answers, so its settings can no longer change; add a new one.",
                field="config",
            )
        question.config = cleaned
    question.save()
    _announce_question_edit(question)
    return question


def _deck_changed(deck_id: int) -> None:
    """Every process's cached records of the deck's sessions go (sessions/live_state.py)."""
    live_state.deck_changed(deck_id)
    transaction.on_commit(lambda: live_state.deck_changed(deck_id))


def _announce_question_edit(question: Question) -> None:
    _deck_changed(question.deck_id)
    for session in Session.objects.filter(deck_id=question.deck_id, current_question=question).exclude(
        state=Session.ENDED
    ):
        record_change(session, "question_changed", **question_payload(session, question.id))


@transaction.atomic
def delete_question(*, question: Question) -> None:
    if question.responses.exists():
        raise DomainError(
            "question_has_responses", "This question has answers and cannot be deleted.", field="question_id"
        )
    if Session.objects.filter(current_question=question).exclude(state=Session.ENDED).exists():
        raise DomainError("wrong_state", "An open session is showing this question.", field="question_id")
    deck_id = question.deck_id
    question.delete()
    _renumber(deck_id, list(Question.objects.filter(deck_id=deck_id).values_list("id", flat=True)))
    _deck_changed(deck_id)


def _renumber(deck_id: int, ordered_ids: list[int]) -> None:
    for position, question_id in enumerate(ordered_ids):
        Question.objects.filter(pk=question_id, deck_id=deck_id).update(position=position)


@transaction.atomic
def reorder_questions(*, deck: Deck, question_ids: list[int]) -> None:
    Deck.objects.select_for_update().get(pk=deck.pk)
    current = set(deck.questions.values_list("id", flat=True))
    if len(question_ids) != len(set(question_ids)) or set(question_ids) != current:
        raise DomainError(
            "invalid", "question_ids must list every question of the deck exactly once", field="question_ids"
        )
    _renumber(deck.pk, question_ids)
    _deck_changed(deck.pk)
