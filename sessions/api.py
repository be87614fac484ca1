"""Teachers' deck and question endpoints (authoring). The running class's endpoints are live/api.py."""

from ninja import Query, Router, Status

from accounts.auth import teacher_auth
from sessions import selectors, services
from sessions.models import Deck
from sessions.schemas import Deck as DeckOut
from sessions.schemas import DeckIn, DeckPage, OrderIn, Question, QuestionIn, QuestionPatch
from web.contract import Id, errors
from web.pagination import Keyset, PageParams

router = Router(auth=teacher_auth, tags=["decks (teacher)"])

# Most recently changed first; the id breaks ties.
DECK_ORDER = Keyset(("-updated_at", "-id"))


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


@router.get("/decks", response=DeckPage, operation_id="list_decks", summary="Your decks, a page at a time")
def list_decks(request, page: Query[PageParams]):
    decks, next_cursor = DECK_ORDER.page(selectors.decks_of(request.user), page)
    counts = selectors.question_counts([deck.pk for deck in decks])
    return {
        "items": [
            {
                "id": deck.pk,
                "title": deck.title,
                "updated_at": deck.updated_at,
                "question_count": counts.get(deck.pk, 0),
            }
            for deck in decks
        ],
        "next_cursor": next_cursor,
    }


@router.post("/decks", response={201: DeckOut}, operation_id="create_deck", summary="Create a deck")
def create_deck(request, payload: DeckIn):
    return Status(201, _deck_document(services.create_deck(owner=request.user, title=payload.title)))


@router.get(
    "/decks/{deck_id}",
    response=DeckOut,
    operation_id="get_deck",
    summary="A deck with its questions",
    openapi_extra=errors("deck_not_found"),
)
def get_deck(request, deck_id: Id):
    return _deck_document(selectors.deck_of(request.user, deck_id))


@router.patch(
    "/decks/{deck_id}",
    response=DeckOut,
    operation_id="rename_deck",
    summary="Rename a deck",
    openapi_extra=errors("deck_not_found"),
)
def rename_deck(request, deck_id: Id, payload: DeckIn):
    deck = services.rename_deck(deck=selectors.deck_of(request.user, deck_id), title=payload.title)
    return _deck_document(deck)


@router.delete(
    "/decks/{deck_id}",
    response={204: None},
    operation_id="delete_deck",
    summary="Delete a deck (archived if it has been run)",
    openapi_extra=errors("deck_not_found"),
)
def delete_deck(request, deck_id: Id):
    services.delete_deck(deck=selectors.deck_of(request.user, deck_id))
    return Status(204, None)


@router.post(
    "/decks/{deck_id}/questions",
    response={201: Question},
    operation_id="add_question",
    summary="Add a question at the end of a deck",
    openapi_extra=errors("deck_not_found", "invalid_question"),
)
def add_question(request, deck_id: Id, payload: QuestionIn):
    deck = selectors.deck_of(request.user, deck_id)
    question = services.add_question(
        deck=deck,
        kind=payload.kind,
        prompt=payload.prompt,
        config=payload.config,
        image_url=payload.image_url,
    )
    return Status(201, selectors.question_document(question, for_teacher=True))


@router.patch(
    "/decks/{deck_id}/questions/{int:question_id}",
    response=Question,
    operation_id="update_question",
    summary="Edit a question",
    # A negative id matches no route: the not_found of any unknown path.
    openapi_extra=errors(
        "not_found", "deck_not_found", "question_not_found", "invalid_question", "question_has_responses"
    ),
)
def update_question(request, deck_id: Id, question_id: Id, payload: QuestionPatch):
    question = selectors.question_of(selectors.deck_of(request.user, deck_id), question_id)
    question = services.update_question(
        question=question, prompt=payload.prompt, config=payload.config, image_url=payload.image_url
    )
    return selectors.question_document(question, for_teacher=True)


@router.delete(
    "/decks/{deck_id}/questions/{int:question_id}",
    response={204: None},
    operation_id="delete_question",
    summary="Delete a question",
    openapi_extra=errors(
        "not_found", "deck_not_found", "question_not_found", "question_has_responses", "wrong_state"
    ),
)
def delete_question(request, deck_id: Id, question_id: Id):
    services.delete_question(
        question=selectors.question_of(selectors.deck_of(request.user, deck_id), question_id)
    )
    return Status(204, None)


@router.put(
    "/decks/{deck_id}/questions/order",
    response=DeckOut,
    operation_id="reorder_questions",
    summary="Reorder a deck's questions",
    openapi_extra=errors("deck_not_found"),
)
def reorder_questions(request, deck_id: Id, payload: OrderIn):
    deck = selectors.deck_of(request.user, deck_id)
    services.reorder_questions(deck=deck, question_ids=payload.question_ids)
    return _deck_document(deck)
