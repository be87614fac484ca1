"""Teachers' deck and question endpoints (authoring). The running class's endpoints are live/api.py."""

from typing import Any, Literal

from ninja import Field, Router, Schema, Status

from accounts.auth import teacher_auth
from sessions import kinds, selectors, services
from sessions.models import Deck

router = Router(auth=teacher_auth, tags=["decks and sessions (teacher)"])

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
