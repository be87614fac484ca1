"""The answer writer (responses/intake.py) on PostgreSQL, where its batches meet teachers' actions
and other connections for real: each test is one of the invariants at the top of that module.

Batches are made two ways: by handing the writer answers while a teacher's transaction holds the
session row (everything queued meanwhile is taken as one batch when it commits), or by calling
intake.write on a list, which is what the writer thread does with what it takes.
"""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from domain.errors import DomainError
from live import services as live_services
from responses import intake
from responses.models import Response, Submission
from responses.services import submit_response, submit_responses
from sessions.models import Session

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (TEST_DATABASE_URL): row locks and other connections")


@pytest.fixture
def question(live_session, questions):
    return questions["multiple_choice"]


@pytest.fixture
def class_of_ten(live_session):
    return [
        live_services.join_session(join_code=live_session.join_code, display_name=f"Student {n}")[0]
        for n in range(10)
    ]


def answer(student, question, submission_id, choice=0, *, order=None) -> intake.Answer:
    """An answer as the front door hands it to the writer (checked against its question)."""
    return intake.cleaned(
        student_id=student.pk,
        session_id=student.session_id,
        question_id=question.pk,
        submission_id=submission_id,
        answer={"choices": [choice]},
        source="http",
        order=order,
    )


def submitted_from_threads(calls):
    """Runs each call on its own thread with its own connection; returns results or exceptions."""
    results = [None] * len(calls)

    def run(index, call):
        try:
            results[index] = call()
        except Exception as exc:  # collected for the test to look at
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    return threads, results


def held_by_teacher(session, action, *, hold: float = 0.5):
    """Runs a teacher's action in a transaction kept open `hold` seconds on another thread;
    returns the thread, an event set once the row is locked, and one set once it has committed."""
    locked, committed = threading.Event(), threading.Event()

    def run():
        try:
            with transaction.atomic():
                action(Session.objects.get(pk=session.pk))
                locked.set()
                time.sleep(hold)
            committed.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    assert locked.wait(10)
    return thread, committed


def stored_count(question) -> int:
    return Response.objects.filter(question=question).count()


# --- 2. the database decides the races -----------------------------------------------------------


def test_no_answer_racing_the_lock_is_stored_after_the_lock_commits(live_session, question, class_of_ten):
    stop = threading.Event()
    acked: list[tuple[int, str]] = []
    refused: list[str] = []

    def keep_answering(student):
        n = 0
        try:
            while not stop.is_set():
                n += 1
                try:
                    submit_response(
                        student=student,
                        question_id=question.pk,
                        submission_id=f"race-{n}",
                        answer={"choices": [n % 3]},
                        source="http",
                    )
                    acked.append((student.pk, f"race-{n}"))
                except DomainError as refusal:
                    refused.append(refusal.code)
        finally:
            connections.close_all()

    answering = [threading.Thread(target=keep_answering, args=(student,)) for student in class_of_ten]
    for thread in answering:
        thread.start()
    time.sleep(0.5)
    live_services.flag_question(session=live_session, action="lock")
    # The lock has committed: whatever is stored now is all that will ever be stored.
    at_lock = set(Submission.objects.values_list("student_id", "submission_id"))
    time.sleep(0.5)
    stop.set()
    for thread in answering:
        thread.join(30)
    after = set(Submission.objects.values_list("student_id", "submission_id"))
    assert len(at_lock) > 10, "the answers did not race the lock"
    assert after == at_lock
    assert refused and set(refused) == {"question_locked"}
    # Every acknowledgement is stored, and nothing unacknowledged is.
    assert set(acked) == after


def test_a_removal_and_an_end_committing_while_a_batch_waits_for_the_row_refuse_its_answers(
    live_session, question, class_of_ten
):
    removed, *others = class_of_ten[:4]
    held, committed = held_by_teacher(
        live_session, lambda session: live_services.remove_student(session=session, student_id=removed.pk)
    )
    threads, results = submitted_from_threads(
        [
            lambda s=student: submit_response(
                student=s, question_id=question.pk, submission_id="mid", answer={"choices": [1]}, source="ws"
            )
            for student in (removed, *others)
        ]
    )
    held.join(10)
    for thread in threads:
        thread.join(30)
    assert committed.is_set()
    assert isinstance(results[0], DomainError) and results[0].code == "student_removed"
    assert all(not isinstance(result, Exception) for result in results[1:]), results
    assert set(Response.objects.values_list("student_id", flat=True)) == {s.pk for s in others}

    held, _committed = held_by_teacher(
        live_session, lambda session: live_services.end_session(session=session)
    )
    threads, results = submitted_from_threads(
        [
            lambda s=student: submit_response(
                student=s, question_id=question.pk, submission_id="late", answer={"choices": [2]}, source="ws"
            )
            for student in others
        ]
    )
    held.join(10)
    for thread in threads:
        thread.join(30)
    assert [getattr(result, "code", result) for result in results] == ["session_ended"] * len(others)
    assert not Response.objects.filter(answer={"choices": [2]}).exists()


# --- 3. a submission_id counts once --------------------------------------------------------------


def test_replays_inside_one_batch_and_across_batches_count_once(live_session, question, class_of_ten):
    arnold, wanda = class_of_ten[:2]
    outcomes, _effects = intake.write(
        [
            answer(arnold, question, "a1", 1),
            answer(wanda, question, "w1", 2),
            answer(arnold, question, "a1", 1),  # the same submission again in the same batch
            answer(arnold, question, "a1", 0),  # the same id for another answer
        ]
    )
    first, _wanda, replay, reused = outcomes
    assert not first.duplicate and replay.duplicate
    assert replay.response.pk == first.response.pk and replay.response.version == 1
    assert isinstance(reused, DomainError) and reused.code == "submission_id_reused"

    live_services.flag_question(session=live_session, action="lock")
    # A later batch, after a lock: the replay of an accepted answer is still accepted, as it was.
    outcomes, _effects = intake.write([answer(arnold, question, "a1", 1), answer(wanda, question, "w2", 0)])
    again, locked_out = outcomes
    assert again.duplicate and again.response.answer == {"choices": [1]}
    assert isinstance(locked_out, DomainError) and locked_out.code == "question_locked"
    assert Submission.objects.filter(student=arnold).count() == 1
    assert Response.objects.get(student=arnold).version == 1


# --- 4. a student's answers in the student's order ----------------------------------------------


def test_two_answers_of_one_student_in_one_batch_the_later_wins(live_session, question, class_of_ten):
    arnold, wanda = class_of_ten[:2]
    outcomes, _effects = intake.write(
        [
            answer(arnold, question, "a1", 0),
            answer(wanda, question, "w1", 0, order=20),
            answer(arnold, question, "a2", 2),  # arrived later, no order: it wins
            answer(wanda, question, "w2", 1, order=10),  # arrived later, but sent earlier
        ]
    )
    a1, w1, a2, w2 = outcomes
    assert a1.superseded and not a2.superseded
    assert a1.response.answer == a2.response.answer == {"choices": [2]}
    assert not w1.superseded and w2.superseded and w2.response.answer == {"choices": [0]}
    assert Response.objects.get(student=arnold).answer == {"choices": [2]}
    assert Response.objects.get(student=wanda).answer == {"choices": [0]}
    # Each change the batch stored counts once in the version and in answers_seq.
    assert Response.objects.get(student=arnold).version == 1
    live_session.refresh_from_db()
    assert live_session.answers_seq == 2
    assert Submission.objects.count() == 4

    # Across batches the stored answer's order is kept: an answer sent before it does not replace it.
    [older], _effects = intake.write([answer(wanda, question, "w3", 2, order=15)])
    assert older.superseded and older.response.answer == {"choices": [0]}
    [newer], _effects = intake.write([answer(wanda, question, "w4", 1, order=21)])
    assert not newer.superseded and newer.response.version == 2
    live_session.refresh_from_db()
    assert live_session.answers_seq == 3


# --- 5. one bad row never fails its batch mates ----------------------------------------------------


def test_one_row_the_database_refuses_fails_alone(live_session, questions, class_of_ten):
    text = questions["text"]
    live_services.go_to_question(session=live_session, question_id=text.pk)
    bad = intake.Answer(
        student_id=class_of_ten[0].pk,
        session_id=live_session.pk,
        question_id=text.pk,
        kind="text",
        submission_id="nul",
        # PostgreSQL's jsonb takes no NUL character: a row that passed every check here and fails there.
        answer={"text": "a\u0000b"},
        is_correct=None,
        source="firebase",
    )
    good = [
        intake.cleaned(
            student_id=student.pk,
            session_id=live_session.pk,
            question_id=text.pk,
            submission_id="fine",
            answer={"text": f"hello {n}"},
            source="http",
            order=None,
        )
        for n, student in enumerate(class_of_ten[1:])
    ]
    outcomes, effects = intake.write([good[0], bad, *good[1:]])
    assert isinstance(outcomes[1], DomainError) and outcomes[1].code == "invalid_answer"
    assert all(not isinstance(outcome, Exception) for outcome in outcomes[:1] + outcomes[2:])
    assert Response.objects.filter(question=text).count() == len(good)
    assert not Submission.objects.filter(submission_id="nul").exists()
    assert effects.answers_seq == {live_session.pk: len(good)}


# --- 1. acknowledged means committed ---------------------------------------------------------------


def test_the_writer_thread_takes_what_queued_while_it_waited_as_one_batch(
    live_session, question, class_of_ten
):
    held, committed = held_by_teacher(
        live_session, lambda session: live_services.flag_question(session=session, action="reveal"), hold=0.3
    )
    futures = submit_responses(
        [
            {
                "student": student,
                "question_id": question.pk,
                "submission_id": "together",
                "answer": {"choices": [1]},
                "source": "firebase",
            }
            for student in class_of_ten
        ]
    )
    time.sleep(0.1)
    assert not any(future.done() for future in futures), "acknowledged before the batch could commit"
    held.join(10)
    outcomes = [future.result(timeout=30) for future in futures]
    assert committed.is_set()
    assert all(not outcome.duplicate for outcome in outcomes)
    live_session.refresh_from_db()
    assert live_session.answers_seq == len(class_of_ten)
    assert stored_count(question) == len(class_of_ten)
