"""Answers arriving at the same moment, on PostgreSQL, from real threads with their own connections."""

import threading

import pytest
from django.db import connection, connections

from domain.errors import DomainError
from live import services as live_services
from responses.models import Response, Submission
from responses.services import submit_response

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (TEST_DATABASE_URL); SQLite serialises every writer")


def run_together(calls):
    """Starts every call in its own thread at the same instant; returns results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # collected and asserted on by the caller
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_thirty_students_answering_at_once_give_thirty_responses(live_session, questions):
    students = [
        live_services.join_session(join_code=live_session.join_code, display_name=f"Student {n}")[0]
        for n in range(30)
    ]
    question = questions["multiple_choice"]

    def submit(student, n):
        return lambda: submit_response(
            student=student,
            question_id=question.pk,
            submission_id=f"sub-{n}",
            answer={"choices": [n % 3]},
            source="http",
        )

    results = run_together([submit(student, n) for n, student in enumerate(students)])
    failures = [result for result in results if isinstance(result, Exception)]
    assert not failures, failures
    assert Response.objects.filter(question=question).count() == 30
    assert Submission.objects.count() == 30


def test_the_same_submission_sent_twice_at_once_is_one_submission(live_session, questions):
    student, _ = live_services.join_session(join_code=live_session.join_code, display_name="Twice")
    question = questions["multiple_choice"]

    def submit():
        return submit_response(
            student=student,
            question_id=question.pk,
            submission_id="dup",
            answer={"choices": [1]},
            source="http",
        )

    results = run_together([submit, submit])
    failures = [result for result in results if isinstance(result, Exception)]
    assert not failures, failures
    assert sorted(result.duplicate for result in results) == [False, True]
    assert Submission.objects.count() == 1
    response = Response.objects.get(question=question, student=student)
    assert response.version == 1


def test_one_student_changing_an_answer_from_three_tabs_at_once_counts_each_and_stores_one(
    live_session, questions
):
    student, _ = live_services.join_session(join_code=live_session.join_code, display_name="Tabs")
    question = questions["multiple_choice"]

    def submit(n):
        return lambda: submit_response(
            student=student,
            question_id=question.pk,
            submission_id=f"tab-{n}",
            answer={"choices": [n]},
            source="http",
        )

    results = run_together([submit(0), submit(1), submit(2)])
    assert not [result for result in results if isinstance(result, Exception)]
    response = Response.objects.get(question=question, student=student)
    # Answers the writer took in one batch collapse to the one applied last (the others are
    # answered `superseded`), so the version counts the answers applied: one to three of them.
    applied = [result for result in results if not result.superseded]
    assert response.version == len(applied)
    assert response.answer == max(applied, key=lambda result: result.response.version).response.answer
    assert all(result.response.version <= response.version for result in results)
    assert Submission.objects.filter(student=student).count() == 3


def test_no_answer_is_accepted_after_the_lock_that_locked_it_out_commits(live_session, questions):
    students = [
        live_services.join_session(join_code=live_session.join_code, display_name=f"Racer {n}")[0]
        for n in range(10)
    ]
    question = questions["multiple_choice"]
    calls = [lambda: live_services.flag_question(session=live_session, action="lock")]
    calls += [
        (
            lambda s=student, n=n: submit_response(
                student=s,
                question_id=question.pk,
                submission_id=f"race-{n}",
                answer={"choices": [0]},
                source="http",
            )
        )
        for n, student in enumerate(students)
    ]
    results = run_together(calls)
    accepted = [r for r in results[1:] if not isinstance(r, Exception)]
    refused = [r for r in results[1:] if isinstance(r, Exception)]
    assert all(getattr(r, "code", None) == "question_locked" for r in refused), refused
    assert Response.objects.filter(question=question).count() == len(accepted)
    live_session.refresh_from_db()
    assert live_session.is_locked(question.pk)
    with pytest.raises(DomainError) as caught:
        submit_response(
            student=students[0],
            question_id=question.pk,
            submission_id="after",
            answer={"choices": [1]},
            source="http",
        )
    assert caught.value.code == "question_locked"
