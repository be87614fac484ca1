"""The worker taking in inbox answers on several threads: each student's answers stay in order.

These run with committed data (the ingest threads have their own connections). On PostgreSQL
the worker uses four threads; on SQLite, which lets one writer in at a time, it takes them in
on its own thread, and the same guarantees are checked there.
"""

import threading
import time

import pytest
from django.db import OperationalError, connection

from live import services as live_services
from mirror import services
from mirror.models import OutboxEntry
from mirror.worker import FirebaseWorker, lanes_by_student
from responses.models import Response, Submission
from tests.mirror.conftest import drive, inbox_ref, namespace_of

pytestmark = pytest.mark.django_db(transaction=True)

STUDENTS = 6
ANSWERS_EACH = 15


@pytest.fixture(autouse=True)
def _broadcasts_built_on_the_answering_thread(published):
    # Not on the broadcast module's own thread: SQLite's shared in-memory test database refuses a read that
    # meets another connection's write at once ("table is locked"), where a file waits its turn.
    return published


@pytest.fixture
def class_on_a_number_question(firebase_settings, live_session, questions):
    live_services.go_to_question(session=live_session, question_id=questions["number"].pk)
    students = [
        live_services.join_session(join_code=live_session.join_code, display_name=f"Student {n}")[0]
        for n in range(STUDENTS)
    ]
    return live_session, students, questions["number"]


@pytest.fixture
def threaded_worker(firebase_settings):
    # Time enough to take in a whole burst in one tick, even on one thread, and every answer of
    # each student in it (a student's own cap per tick is tested in test_worker_fairness.py).
    made = FirebaseWorker(
        ingest_threads=4,
        ingest_seconds=60,
        ingest_per_student=ANSWERS_EACH,
        backoff_base=0.05,
        backoff_cap=0.5,
    )
    yield made
    made.close()


@pytest.fixture
def ingest_calls(monkeypatch):
    """The thread that took in each entry; `slow` entries take a moment longer (as behind a lock),
    and `fail_once` makes one entry meet a database error."""

    class Calls:
        threads: set[str] = set()
        slow: set[str] = set()
        fail_once: set[str] = set()

    real = services.ingest_inbox_entry

    def recorded(entry):
        Calls.threads.add(threading.current_thread().name)
        if entry.key in Calls.slow:
            time.sleep(0.1)
        if entry.key in Calls.fail_once:
            Calls.fail_once.discard(entry.key)
            raise OperationalError("the database went away")
        return real(entry)

    monkeypatch.setattr(services, "ingest_inbox_entry", recorded)
    return Calls


def _listening(worker: FirebaseWorker) -> None:
    drive(worker, lambda: worker._listeners and OutboxEntry.objects.count() == 0)
    worker._events = type(worker._events)()  # the listener's first (empty) snapshot, already read


def _write_answers(app, session, students, question) -> dict[int, list[str]]:
    """Each student answers ANSWERS_EACH times, the class taking turns; the submission ids sort
    backwards, so nothing that orders entries by key passes. Returns each student's ids in the
    order written."""
    written: dict[int, list[str]] = {student.pk: [] for student in students}
    for value in range(ANSWERS_EACH):
        for student in students:
            submission_id = f"s{ANSWERS_EACH - value:03d}"
            inbox_ref(app, session.pk, student.pk, submission_id).set(
                {"question_id": question.pk, "answer": {"value": value}}
            )
            written[student.pk].append(submission_id)
    return written


def _wait_for_events(worker: FirebaseWorker, count: int) -> None:
    deadline = time.monotonic() + 15
    while worker._events.qsize() < count:
        assert time.monotonic() < deadline, "the listener never passed on every entry"
        time.sleep(0.05)


def _assert_each_students_last_answer_won(standin, session, written) -> None:
    acks = standin.data(namespace_of(session.pk), f"/acks/{session.pk}")
    for student_id, submission_ids in written.items():
        response = Response.objects.get(student_id=student_id)
        assert response.answer == {"value": ANSWERS_EACH - 1}
        assert response.version == ANSWERS_EACH
        # The n-th answer written is the n-th version stored: none overtook another.
        versions = [acks[f"student-{student_id}"][sid]["version"] for sid in submission_ids]
        assert versions == list(range(1, ANSWERS_EACH + 1))
    assert Submission.objects.count() == STUDENTS * ANSWERS_EACH


def _expected_threads() -> int:
    return 1 if connection.vendor == "sqlite" else 4


def test_lanes_keep_each_students_entries_together_in_arrival_order_and_share_the_work():
    def entry(uid: str, n: int):
        return (0, f"1/{uid}/{n}", services.InboxEntry(1, uid, str(n), {}))

    batch = [entry(uid, n) for n in range(5) for uid in ("student-1", "student-2", "student-3")]
    batch += [entry("student-4", n) for n in range(5)]

    lanes = lanes_by_student(batch, 3)

    assert sorted(map(len, lanes)) == [5, 5, 10]
    for uid in ("student-1", "student-2", "student-3", "student-4"):
        holding = [lane for lane in lanes if any(item[2].uid == uid for item in lane)]
        assert len(holding) == 1
        assert [item[2].submission_id for item in holding[0] if item[2].uid == uid] == list("01234")
    for lane in lanes:  # arrival order, students interleaved as they came
        assert lane == [item for item in batch if item in lane]
    assert sorted(map(len, lanes_by_student(batch, 8))) == [5, 5, 5, 5]  # no lane without a student
    assert lanes_by_student(batch, 1) == [batch]
    assert lanes_by_student([], 4) == []


def test_many_answers_from_a_few_students_taken_in_at_once_leave_each_students_last_answer(
    class_on_a_number_question, threaded_worker, ingest_calls, firebase_app, firebase_standin
):
    session, students, question = class_on_a_number_question
    _listening(threaded_worker)
    written = _write_answers(firebase_app, session, students, question)
    # A first answer held up must hold up the same student's later ones, not be overtaken.
    ingest_calls.slow.update(f"{session.pk}/student-{pk}/{ids[0]}" for pk, ids in written.items())
    _wait_for_events(threaded_worker, STUDENTS * ANSWERS_EACH)
    firebase_standin.reset_counts()

    outcome = threaded_worker.tick()

    assert threaded_worker.ingest_threads == _expected_threads()
    assert len(ingest_calls.threads) == _expected_threads()  # every lane had a thread of its own
    assert outcome.ingested == outcome.acknowledged == STUDENTS * ANSWERS_EACH
    # One acknowledgement write and one inbox deletion for the whole batch, after it.
    assert firebase_standin.write_count() == outcome.writes == 2
    assert firebase_standin.data(namespace_of(session.pk), f"/inbox/{session.pk}") is None
    _assert_each_students_last_answer_won(firebase_standin, session, written)


def test_a_database_error_holds_back_that_students_later_answers_until_the_earlier_one_is_stored(
    class_on_a_number_question, threaded_worker, ingest_calls, firebase_app, firebase_standin
):
    session, students, question = class_on_a_number_question
    _listening(threaded_worker)
    unlucky = students[2]
    written = _write_answers(firebase_app, session, students, question)
    failing = written[unlucky.pk][1]
    ingest_calls.fail_once.add(f"{session.pk}/student-{unlucky.pk}/{failing}")
    _wait_for_events(threaded_worker, STUDENTS * ANSWERS_EACH)

    outcome = threaded_worker.tick()  # the error stays with that student: the tick goes on

    assert [error for error in outcome.errors if error.startswith("ingest")]
    # Its first answer went in; the failed second and everything after it waited.
    assert list(Submission.objects.filter(student=unlucky).values_list("submission_id", flat=True)) == [
        written[unlucky.pk][0]
    ]
    # Everyone else's answers were stored and acknowledged in that same tick.
    assert outcome.ingested == outcome.acknowledged == STUDENTS * ANSWERS_EACH - (ANSWERS_EACH - 1)
    # What was stored is acknowledged and leaves the inbox on the next tick, with the rest.
    drive(
        threaded_worker,
        lambda: firebase_standin.data(namespace_of(session.pk), f"/inbox/{session.pk}") is None,
    )
    _assert_each_students_last_answer_won(firebase_standin, session, written)


def test_a_burst_is_taken_in_over_several_ticks_when_a_tick_runs_out_of_time_in_order_still(
    class_on_a_number_question, firebase_settings, ingest_calls, firebase_app, firebase_standin
):
    session, students, question = class_on_a_number_question
    worker = FirebaseWorker(ingest_threads=4, ingest_seconds=0.0, backoff_base=0.05, backoff_cap=0.5)
    try:
        _listening(worker)
        written = _write_answers(firebase_app, session, students, question)
        _wait_for_events(worker, STUDENTS * ANSWERS_EACH)

        outcome = worker.tick()  # out of time at once: each lane takes one entry

        assert outcome.ingested == outcome.acknowledged == _expected_threads()
        drive(worker, lambda: firebase_standin.data(namespace_of(session.pk), f"/inbox/{session.pk}") is None)
    finally:
        worker.close()
    _assert_each_students_last_answer_won(firebase_standin, session, written)


def test_a_threaded_worker_killed_before_acknowledging_has_its_answers_replayed_and_stored_once(
    class_on_a_number_question, firebase_settings, firebase_app, firebase_standin
):
    session, students, question = class_on_a_number_question
    first = FirebaseWorker(
        ingest_threads=4,
        ingest_seconds=60,
        ingest_per_student=ANSWERS_EACH,
        backoff_base=0.05,
        backoff_cap=0.5,
    )
    try:
        _listening(first)
        written = _write_answers(firebase_app, session, students, question)
        _wait_for_events(first, STUDENTS * ANSWERS_EACH)
        firebase_standin.go_down("refuse")
        outcome = first.tick()  # stores every answer; no acknowledgement can be written
        assert outcome.ingested == STUDENTS * ANSWERS_EACH and outcome.acknowledged == 0
        assert Submission.objects.count() == STUDENTS * ANSWERS_EACH
    finally:
        first.close(timeout=0.5)  # the kill: its pending acknowledgements die with it
    firebase_standin.come_up()
    inbox = firebase_standin.data(namespace_of(session.pk), f"/inbox/{session.pk}")
    assert sum(len(entries) for entries in inbox.values()) == STUDENTS * ANSWERS_EACH

    # The next worker's listener replays the whole inbox at once, in key order, not write order:
    # every entry is a replay of a stored submission, acknowledged with the response as it is.
    second = FirebaseWorker(ingest_threads=4, backoff_base=0.05, backoff_cap=0.5)
    try:
        drive(second, lambda: firebase_standin.data(namespace_of(session.pk), f"/inbox/{session.pk}") is None)
    finally:
        second.close()
    assert Submission.objects.count() == STUDENTS * ANSWERS_EACH
    acks = firebase_standin.data(namespace_of(session.pk), f"/acks/{session.pk}")
    for student_id, submission_ids in written.items():
        response = Response.objects.get(student_id=student_id)
        assert (response.answer, response.version) == ({"value": ANSWERS_EACH - 1}, ANSWERS_EACH)
        assert [acks[f"student-{student_id}"][sid] for sid in submission_ids] == ANSWERS_EACH * [
            {"status": "stored", "question_id": question.pk, "version": ANSWERS_EACH}
        ]
