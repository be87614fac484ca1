"""A short lesson played with `peardeck_client`, the client openapi-python-client generates from
/api/openapi.json (tests/test_generated_client.py): a teacher signs up, builds a deck, opens a
session; a student joins, reads their state and answers; the projector shows the revealed result;
the teacher reads answers and tallies and ends; the student reads their takeaways.

mypy checks it strictly and with disallow_any_expr: every document of the lesson must come out of
the generated client fully typed, or this file does not type-check. The one exception is marked
where it happens: the generator types a bodiless response (the conditional reads' 304) as Any, which
leaks into those calls' return type; their 200 document is typed all the same. Run as
`python lesson.py <base URL>`.
"""

import sys
import uuid
from typing import TypeVar

from peardeck_client import AuthenticatedClient, Client
from peardeck_client.api.decks_teacher import add_question, create_deck
from peardeck_client.api.responses import get_takeaways, list_responses, submit_answer
from peardeck_client.api.sessions_teacher import (
    create_session as open_session,
)
from peardeck_client.api.sessions_teacher import (
    end_session,
    get_session,
    get_tallies,
    reveal_results,
    start_session,
)
from peardeck_client.api.students_and_projector import get_projector_state, get_student_state, join_session
from peardeck_client.api.teacher_accounts import sign_up
from peardeck_client.models import (
    AnswerIn,
    ChoiceAnswer,
    ChoiceTally,
    Deck,
    DeckIn,
    Error,
    Joined,
    JoinIn,
    MultipleChoiceConfig,
    MultipleChoiceQuestion,
    NewMultipleChoiceQuestion,
    NewSession,
    ProjectorState,
    PublicMultipleChoiceQuestion,
    QuestionRef,
    ResponsePage,
    SessionIn,
    SignedUp,
    SignupIn,
    StudentState,
    Submitted,
    Takeaways,
    Tallies,
    TeacherState,
)

T = TypeVar("T")


def expect(answer: object, kind: type[T]) -> T:
    if isinstance(answer, Error):
        raise SystemExit(f"refused: {answer.error.code}: {answer.error.message}")
    if not isinstance(answer, kind):
        raise SystemExit(f"expected {kind.__name__}, got {answer!r}")
    return answer


def play(base: str) -> None:
    anyone = Client(base_url=base)
    signed = expect(
        sign_up.sync(
            client=anyone, body=SignupIn(username=f"t-{uuid.uuid4().hex[:8]}", password="a-long-passphrase-1")
        ),
        SignedUp,
    )
    teacher = AuthenticatedClient(base_url=base, token=signed.api_token.token)

    deck = expect(create_deck.sync(client=teacher, body=DeckIn(title="Capitals")), Deck)
    question = expect(
        add_question.sync(
            deck.id,
            client=teacher,
            body=NewMultipleChoiceQuestion(
                kind="multiple_choice",
                prompt="Capital of France?",
                config=MultipleChoiceConfig(choices=["Paris", "Rome"], correct=[0]),
            ),
        ),
        MultipleChoiceQuestion,
    )
    session = expect(open_session.sync(client=teacher, body=SessionIn(deck_id=deck.id)), NewSession)
    expect(start_session.sync(session.id, client=teacher), TeacherState)

    joined = expect(
        join_session.sync(client=anyone, body=JoinIn(join_code=session.join_code, display_name="Ada")), Joined
    )
    student = AuthenticatedClient(base_url=base, token=joined.token)
    state = expect(get_student_state.sync(client=student), StudentState)  # type: ignore[misc]  # 304
    shown = state.question
    assert isinstance(shown, PublicMultipleChoiceQuestion), shown
    choices: list[str] = shown.config.choices
    submitted = expect(
        submit_answer.sync(
            client=student,
            body=AnswerIn(
                question_id=shown.id,
                submission_id="a1",
                answer=ChoiceAnswer(choices=[choices.index("Paris")]),
            ),
        ),
        Submitted,
    )
    assert submitted.version == 1 and not submitted.duplicate

    expect(
        reveal_results.sync(session.id, client=teacher, body=QuestionRef(question_id=question.id)),
        TeacherState,
    )
    projector = AuthenticatedClient(base_url=base, token=session.projector_key)
    screen = expect(get_projector_state.sync(client=projector), ProjectorState)  # type: ignore[misc]  # 304
    assert isinstance(screen.tally, ChoiceTally) and screen.tally.counts == [1, 0], screen.tally

    answers = expect(list_responses.sync(session.id, client=teacher), ResponsePage)
    assert [(item.student.display_name, item.is_correct) for item in answers.items] == [("Ada", True)]
    tallies = expect(get_tallies.sync(session.id, client=teacher), Tallies)
    counts = [tally.counts for tally in tallies.tallies if isinstance(tally, ChoiceTally)]
    assert counts == [[1, 0]], counts
    ended = expect(end_session.sync(session.id, client=teacher), TeacherState)
    assert ended.state == "ended"
    final = expect(get_session.sync(session.id, client=teacher), TeacherState)  # type: ignore[misc]  # 304
    roster = final.students
    assert [(pupil.display_name, pupil.removed) for pupil in roster] == [("Ada", False)]

    takeaways = expect(get_takeaways.sync(client=student), Takeaways)
    assert takeaways.session.deck.title == "Capitals"
    (takeaway,) = takeaways.takeaways
    assert isinstance(takeaway.answer, ChoiceAnswer) and takeaway.is_correct is True
    print(f"lesson played: {takeaways.session.deck.title}, {len(roster)} student, answer correct")


if __name__ == "__main__":
    play(sys.argv[1])
