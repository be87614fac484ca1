"""The API's schemas of decks and questions.

A question's `config` and a student's `answer` are documented by the very pydantic models that
sessions/kinds.py validates them with, so the OpenAPI document and the validation cannot part:
each question document is one variant of a union discriminated on `kind`, built below from
kinds.CONFIGS (what a teacher sees) and kinds.PUBLIC_CONFIGS (what students and the projector see).
Request bodies carry config and answer through as they came (`as_sent`), for kinds.clean_config and
kinds.clean_answer to check with the question's own rules and answer with a DomainError naming the
field; the document still shows their schemas.
"""

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from ninja import Field, Schema
from pydantic import PlainValidator, create_model

from sessions import kinds
from web.contract import Document, Id, Input
from web.pagination import Page


def as_sent(documented_as: Any) -> Any:
    """A body field passed on unchecked (its service checks it), documented as `documented_as`."""
    return Annotated[Any, PlainValidator(lambda value: value, json_schema_input_type=documented_as)]


# --- questions ------------------------------------------------------------------------------

_TITLES = {
    kinds.MULTIPLE_CHOICE: "MultipleChoice",
    kinds.TEXT: "Text",
    kinds.NUMBER: "Number",
    kinds.DRAGGABLE: "Draggable",
    kinds.DRAWING: "Drawing",
    kinds.SLIDE: "Slide",
}


def _question(name: str, kind: str, config: type, doc: str) -> type[Document]:
    return create_model(
        name,
        __base__=Document,
        __doc__=doc,
        id=(int, ...),
        position=(int, Field(description="0-based place in the deck")),
        kind=(Literal[kind], ...),
        prompt=(str, ...),
        image_url=(str, Field(description="an image shown with the prompt; may be empty")),
        config=(config, ...),
    )


def _union(models: list[type]) -> Any:
    return Annotated[Union[tuple(models)], Field(discriminator="kind")]  # noqa: UP007


TEACHER_QUESTIONS = {
    kind: _question(f"{_TITLES[kind]}Question", kind, config, f"A {kind} question, with its settings.")
    for kind, config in kinds.CONFIGS.items()
}
# Only a kind whose settings are partly withheld gets a public variant of its own.
PUBLIC_QUESTIONS = {
    kind: (
        TEACHER_QUESTIONS[kind]
        if config is kinds.CONFIGS[kind]
        else _question(
            f"Public{_TITLES[kind]}Question", kind, config, f"A {kind} question as students see it."
        )
    )
    for kind, config in kinds.PUBLIC_CONFIGS.items()
}
# A question with everything the teacher set (the correct choices too); discriminated on `kind`.
Question = _union(list(TEACHER_QUESTIONS.values()))
# A question as students and the projector see it: kinds.public_config's withholdings applied.
PublicQuestion = _union(list(PUBLIC_QUESTIONS.values()))


def _question_in(kind: str, config: type) -> type[Schema]:
    return create_model(
        f"New{_TITLES[kind]}Question",
        __base__=Input,
        kind=(Literal[kind], ...),
        prompt=(
            str,
            Field(default="", max_length=kinds.MAX_PROMPT_LENGTH, description="not blank, but for slides"),
        ),
        image_url=(
            str,
            Field(default="", max_length=kinds.MAX_IMAGE_URL_LENGTH, description="http(s) address or a path"),
        ),
        config=(as_sent(config), Field(default=None, description="defaults filled in when left out")),
    )


# POST /decks/{deck_id}/questions: one variant per kind, each with that kind's config schema.
QuestionIn = _union([_question_in(kind, config) for kind, config in kinds.CONFIGS.items()])


class QuestionPatch(Input):
    prompt: str | None = Field(default=None, max_length=kinds.MAX_PROMPT_LENGTH)
    image_url: str | None = Field(default=None, max_length=kinds.MAX_IMAGE_URL_LENGTH)
    config: as_sent(Union[tuple(kinds.CONFIGS.values())] | None) = Field(  # noqa: UP007
        default=None,
        description="the question's kind's settings, whole; refused once the question has answers",
    )


# --- decks ----------------------------------------------------------------------------------


class DeckIn(Input):
    title: str = Field(min_length=1, max_length=200)


class OrderIn(Input):
    question_ids: list[Id] = Field(description="every question of the deck, each once, in the new order")


class DeckRef(Document):
    id: int
    title: str


class Deck(Document):
    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    questions: list[Question]


class DeckSummary(Document):
    id: int
    title: str
    updated_at: datetime
    question_count: int


class DeckPage(Page):
    items: list[DeckSummary] = Field(description="most recently changed first")
