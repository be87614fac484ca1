"""The API's schemas of answers: submitting one, the teacher's list, stars, the takeaways.

An answer is documented as one of kinds.ANSWERS' models (the union kinds.Answer): which one is
set by the kind of the question it answers, which the request does not carry, so the body passes
it through as sent and kinds.clean_answer checks it against the question.
"""

from datetime import datetime
from typing import Literal

from ninja import Field

from sessions import kinds
from sessions.schemas import DeckRef, Question, as_sent
from web.contract import Document, Id, Input
from web.pagination import Page

Source = Literal["ws", "http", "firebase"]


class AnswerIn(Input):
    question_id: Id
    submission_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="made by the client; a retry reuses it, and counts once",
    )
    answer: as_sent(kinds.Answer) = Field(description="the schema of the question's kind")
    order: int | None = Field(
        default=None,
        ge=0,
        lt=2**53,
        strict=True,
        description=(
            "the student's own order of their answers (the pages send microseconds of their clock, "
            "strictly increasing): the answer with the highest order is kept, whichever transport "
            "each came by; an older one is answered superseded"
        ),
    )


class StarIn(Input):
    starred: bool


class OwnAnswer(Document):
    answer: kinds.Answer
    version: int = Field(description="how many accepted submissions the answer has seen")
    submission_id: str


class Submitted(Document):
    question_id: int
    answer: kinds.Answer = Field(description="as stored (normalised: choices sorted, text trimmed)")
    version: int
    submission_id: str
    duplicate: bool = Field(description="this submission_id was accepted before; nothing changed now")
    superseded: bool = Field(
        description="a later answer of this student (by their order) is stored: `answer` and "
        "`version` are that one's; nothing changed now"
    )


class ResponseStudent(Document):
    id: int
    display_name: str
    removed: bool = Field(description="the teacher removed this student: tallies and the CSV leave them out")


class Response(Document):
    """A student's current answer to a question."""

    id: int
    question_id: int
    student_id: int
    answer: kinds.Answer
    is_correct: bool | None = Field(description="null when the question has no correct answer")
    source: Source = Field(description="the transport of the latest accepted submission")
    version: int
    starred: bool
    updated_at: datetime = Field(description="when the answer last changed (a star does not change it)")
    student: ResponseStudent


class ResponsePage(Page):
    items: list[Response] = Field(description="by question, then student")


class Takeaway(Document):
    question: Question = Field(description="with its correct choices, now that the session has ended")
    answer: kinds.Answer | None
    is_correct: bool | None
    starred: bool


class TakeawaySession(Document):
    id: int
    deck: DeckRef


class Takeaways(Document):
    session: TakeawaySession
    takeaways: list[Takeaway] = Field(description="every question of the session, in deck order")
