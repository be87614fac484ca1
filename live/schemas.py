"""The API's schemas of a running class: what each role's document holds (live/documents.py builds
them; ninja checks every answer against these, so the two cannot part), and the live endpoints'
request bodies. A field added to a document is added here too (Document refuses unknown keys).
"""

from datetime import datetime
from typing import Literal

from ninja import Field

from responses.schemas import OwnAnswer
from sessions import kinds
from sessions.schemas import DeckRef, PublicQuestion, Question
from web.contract import Document, Id, Input
from web.pagination import Page

SessionState = Literal["waiting", "live", "ended"]
Pacing = Literal["instructor", "student"]


# --- requests -------------------------------------------------------------------------------


class SessionIn(Input):
    deck_id: Id
    pacing: Pacing = "instructor"


class GoToIn(Input):
    question_id: Id


class QuestionRef(Input):
    question_id: Id | None = Field(default=None, description="defaults to the current question")


class PacingIn(Input):
    pacing: Pacing


class JoinIn(Input):
    join_code: str = Field(min_length=1, max_length=20, description="case-insensitive")
    display_name: str = Field(min_length=1, max_length=100, description="at most 40 characters once trimmed")


class MoveIn(Input):
    question_id: Id


# --- the teacher's documents ----------------------------------------------------------------


class RosterStudent(Document):
    id: int
    display_name: str
    removed: bool = Field(description="the teacher removed them; their answers no longer count")
    joined_at: datetime


class TeacherState(Document):
    """The teacher's view of a session: every question in full, the roster with names."""

    id: int
    join_code: str
    state: SessionState
    pacing: Pacing
    seq: int = Field(description="the session's version: every change raises it")
    current_question_id: int | None
    deck: DeckRef
    locked_question_ids: list[int]
    revealed_question_ids: list[int]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    questions: list[Question]
    students: list[RosterStudent]


class NewSession(TeacherState):
    projector_key: str = Field(description="the projector's key (ProjectorKey), shown this once")


class SessionSummary(Document):
    id: int
    join_code: str
    state: SessionState
    deck: DeckRef
    created_at: datetime


class SessionPage(Page):
    items: list[SessionSummary] = Field(description="newest first")


class ProjectorKey(Document):
    projector_key: str = Field(description="shown this once; the previous key stops working")
    join_code: str


class Tallies(Document):
    seq: int
    answers_seq: int = Field(
        description="the session's answers version: every committed batch of answers raises it"
    )
    tallies: list[kinds.Tally] = Field(description="one per answerable question, in deck order")


# --- the student's documents ----------------------------------------------------------------


class StudentRef(Document):
    id: int
    display_name: str


class StudentState(Document):
    """What one student sees: their question without its correct answers, and their own answer."""

    id: int = Field(description="the session's id")
    join_code: str
    state: SessionState
    pacing: Pacing
    seq: int
    answers_seq: int = Field(
        description="the session's answers version: every committed batch of answers raises it"
    )
    current_question_id: int | None = Field(description="where the teacher has the class")
    student: StudentRef
    question: PublicQuestion | None = Field(description="the student's question; null while waiting")
    locked: bool = Field(description="answers to this question are closed (always, once ended)")
    answer: OwnAnswer | None = Field(description="the student's own answer to this question, if any")
    websocket_dark_launch: bool = Field(description="Firebase mode: also try a WebSocket once, and report it")
    question_ids: list[int] | None = Field(
        default=None, description="every question in order, for student pacing; null otherwise"
    )


class FirebaseEmulator(Document):
    host: str
    port: int
    auth_url: str


class FirebasePaths(Document):
    state: str
    inbox: str
    acks: str
    sent: str = Field(
        description="the student's marker {id, at}, moved with every answer (the rules limit its rate)"
    )


class FirebaseCredentials(Document):
    """What a student's page needs to use the Firebase mirror (mirror/README.md)."""

    token: str = Field(description="a Firebase custom token, good for one hour")
    config: dict[str, str] = Field(description="the Firebase web app's configuration, databaseURL included")
    uid: str
    paths: FirebasePaths
    emulator: FirebaseEmulator | None = Field(default=None, description="development and tests only")


class Joined(Document):
    token: str = Field(description="the student's token (StudentToken), shown this once")
    student: StudentRef
    state: StudentState = Field(description="what GET /api/student/state would answer")
    firebase: FirebaseCredentials | None = Field(description="null when Firebase is off")


class FirebaseRefresh(Document):
    firebase: FirebaseCredentials | None = Field(description="null when Firebase is off")


# --- the projector's document ---------------------------------------------------------------


class ProjectorState(Document):
    """The class's screen: the join code, the current question, a head count, results once revealed."""

    id: int = Field(description="the session's id")
    join_code: str
    state: SessionState
    seq: int
    answers_seq: int = Field(
        description="the session's answers version: every committed batch of answers raises it"
    )
    current_question_id: int | None
    question: PublicQuestion | None
    locked: bool
    revealed: bool
    students: int = Field(description="students in the session (removed ones not counted)")
    tally: kinds.Tally | None = Field(description="the current question's tally, once revealed")
