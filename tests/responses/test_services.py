"""submit_response, the one service every transport's answers go through (HTTP, WebSocket, the
Firebase inbox): what it stores, what it refuses, and how a replay counts."""

import pytest

from domain.errors import DomainError
from live import services as live_services
from responses.models import FIREBASE, HTTP, WS, Response, Submission
from responses.services import submit_response
from sessions import live_state
from sessions import services as authoring
from tests.support.classroom import GOOD_ANSWERS, join_students, make_deck, open_session


@pytest.fixture
def arnold(live_session):
    [(student, _token)] = join_students(live_session, ["Arnold"])
    return student


@pytest.fixture
def multiple_choice(live_session, questions):
    # The session opens on the deck's first question, the multiple-choice one.
    assert live_session.current_question_id == questions["multiple_choice"].pk
    return questions["multiple_choice"]


def submit(student, question, submission_id: str, answer=None, source: str = HTTP):
    return submit_response(
        student=student,
        question_id=question.pk,
        submission_id=submission_id,
        answer=GOOD_ANSWERS[question.kind] if answer is None else answer,
        source=source,
    )


def refusal(call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


def test_an_answer_to_the_current_question_is_stored_with_its_source_and_correctness(arnold, multiple_choice):
    submitted = submit(arnold, multiple_choice, "a1", {"choices": [1]}, source=WS)
    assert not submitted.duplicate
    assert submitted.kind == "multiple_choice"
    stored = Response.objects.get(student=arnold, question=multiple_choice)
    assert (stored.answer, stored.is_correct, stored.source, stored.version) == (
        {"choices": [1]},
        True,
        WS,
        1,
    )
    assert stored.submission_id == "a1"


def test_the_same_submission_sent_again_is_one_answer_whichever_transport_brings_it(arnold, multiple_choice):
    first = submit(arnold, multiple_choice, "a1", source=HTTP)
    for source in (HTTP, WS, FIREBASE):
        again = submit(arnold, multiple_choice, "a1", source=source)
        assert again.duplicate
        assert again.response.pk == first.response.pk
        assert again.response.version == 1
    assert Submission.objects.filter(student=arnold).count() == 1
    assert Response.objects.get(pk=first.response.pk).source == HTTP


def test_a_submission_id_reused_for_another_answer_is_refused_and_changes_nothing(arnold, multiple_choice):
    submit(arnold, multiple_choice, "a1", {"choices": [1]})
    refused = refusal(lambda: submit(arnold, multiple_choice, "a1", {"choices": [0]}))
    assert (refused.code, refused.field) == ("submission_id_reused", "submission_id")
    assert Response.objects.get(student=arnold).answer == {"choices": [1]}


def test_a_changed_answer_bumps_the_version_and_the_latest_wins(arnold, multiple_choice):
    submit(arnold, multiple_choice, "a1", {"choices": [1]})
    changed = submit(arnold, multiple_choice, "a2", {"choices": [0]})
    assert not changed.duplicate
    assert (changed.response.answer, changed.response.version, changed.response.is_correct) == (
        {"choices": [0]},
        2,
        False,
    )
    # Replaying the first submission now is still that first one: it changes nothing.
    assert submit(arnold, multiple_choice, "a1", {"choices": [1]}).duplicate
    assert Response.objects.get(student=arnold).version == 2


def test_a_locked_question_refuses_answers(live_session, arnold, multiple_choice):
    live_services.flag_question(session=live_session, action="lock")
    refused = refusal(lambda: submit(arnold, multiple_choice, "a1"))
    assert (refused.code, refused.field) == ("question_locked", "question_id")
    assert not Response.objects.exists()


def test_a_question_the_class_moved_on_from_refuses_answers_when_the_teacher_paces(
    live_session, arnold, multiple_choice
):
    live_services.step_question(session=live_session, step=1)
    refused = refusal(lambda: submit(arnold, multiple_choice, "a1"))
    assert refused.code == "question_not_current"


def test_in_a_student_paced_session_any_question_of_the_deck_takes_an_answer(live_session, arnold, questions):
    live_services.set_pacing(session=live_session, pacing="student")
    assert not submit(arnold, questions["number"], "n1").duplicate


def test_an_ended_or_not_yet_started_session_refuses_answers(
    teacher, deck, live_session, arnold, multiple_choice
):
    live_services.end_session(session=live_session)
    assert refusal(lambda: submit(arnold, multiple_choice, "a1")).code == "session_ended"

    waiting, _key = open_session(teacher, deck, start=False)
    [(early, _token)] = join_students(waiting, ["Early"])
    assert refusal(lambda: submit(early, multiple_choice, "e1")).code == "session_not_live"


def test_a_removed_student_is_refused(live_session, arnold, multiple_choice):
    live_services.remove_student(session=live_session, student_id=arnold.pk)
    assert refusal(lambda: submit(arnold, multiple_choice, "a1")).code == "student_removed"


def test_a_question_of_another_deck_or_a_malformed_answer_is_refused(
    teacher, arnold, multiple_choice, questions
):
    elsewhere = make_deck(teacher, title="Elsewhere").questions.first()
    refused = refusal(lambda: submit(arnold, elsewhere, "x1", GOOD_ANSWERS["multiple_choice"]))
    assert (refused.code, refused.field) == ("question_not_found", "question_id")
    refused = refusal(lambda: submit(arnold, multiple_choice, "x2", {"choices": [7]}))
    assert refused.code == "invalid_answer"
    refused = refusal(lambda: submit(arnold, multiple_choice, "not an id!"))
    assert (refused.code, refused.field) == ("invalid", "submission_id")
    assert not Response.objects.exists()


def test_a_question_added_to_the_deck_during_a_student_paced_class_takes_answers_at_once(
    live_session, deck, arnold, questions
):
    live_services.set_pacing(session=live_session, pacing="student")
    submit(arnold, questions["number"], "n1")
    # The class's record is in this process's cache; the new question must not wait for it to age.
    assert live_state.session(live_session.pk) is not None
    added = authoring.add_question(deck=deck, kind="number", prompt="One more?", config={})
    assert not submit(arnold, added, "n2", {"value": 3}).duplicate
