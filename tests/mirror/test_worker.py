"""The Firebase worker end to end against the stand-in: inbox in, acks and mirror out, outages."""

import time

import pytest
from django.db import transaction

from integrations import firebase
from live import services as live_services
from mirror.models import OutboxEntry
from mirror.worker import Backoff, FirebaseWorker
from observability import metrics
from responses.models import Response, Submission
from tests.conftest import join, new_submission_id
from tests.mirror.conftest import drive, inbox_ref, namespace_of


def _uid(api) -> str:
    return f"student-{api.get('/api/student/state').json()['student']['id']}"


def _student_id(api) -> int:
    return api.get("/api/student/state").json()["student"]["id"]


def _mirror(standin, session):
    return standin.data(namespace_of(session.pk), f"/sessions/{session.pk}")


def _acks(standin, session):
    return standin.data(namespace_of(session.pk), f"/acks/{session.pk}") or {}


def _inbox(standin, session):
    return standin.data(namespace_of(session.pk), f"/inbox/{session.pk}")


@pytest.fixture
def session_with_students(firebase_settings, live_session, questions):
    live_services.go_to_question(session=live_session, question_id=questions["multiple_choice"].pk)
    return live_session, [join(live_session, name) for name in ("Arnold", "Wanda", "Carlos")]


def test_an_answer_written_into_the_inbox_is_stored_broadcast_acknowledged_and_the_mirror_follows_the_teacher(
    session_with_students,
    questions,
    worker,
    firebase_app,
    firebase_standin,
    published,
    django_capture_on_commit_callbacks,
):
    session, (arnold, *_others) = session_with_students
    question = questions["multiple_choice"]
    arnold_id = _student_id(arnold)
    inbox_ref(firebase_app, session.pk, arnold_id, "sub-1").set(
        {"question_id": question.pk, "answer": {"choices": [1]}}
    )

    with django_capture_on_commit_callbacks(execute=True):
        drive(worker, lambda: _acks(firebase_standin, session).get(f"student-{arnold_id}"))

    response = Response.objects.get(student_id=arnold_id)
    assert response.source == "firebase" and response.answer == {"choices": [1]}
    assert _acks(firebase_standin, session)[f"student-{arnold_id}"] == {
        "sub-1": {"status": "stored", "question_id": question.pk, "version": 1}
    }
    assert _inbox(firebase_standin, session) is None  # acknowledged entries leave the inbox
    broadcasts = [event for _sid, event in published if _sid == session.pk]
    assert [event["type"] for event in broadcasts] == ["tallies"]
    assert broadcasts[0]["responses"][0]["source"] == "firebase"
    assert broadcasts[0]["tallies"][0]["counts"] == [0, 1, 0]
    assert _mirror(firebase_standin, session)["question"]["id"] == question.pk

    arnold.post("/api/student/move", {"question_id": question.pk})  # noise: refused, instructor-paced
    live_services.step_question(session=session, step=1)
    session.refresh_from_db()
    drive(worker, lambda: _mirror(firebase_standin, session)["seq"] == session.seq)
    assert _mirror(firebase_standin, session)["question"]["id"] == session.current_question_id != question.pk


def test_a_replayed_or_duplicated_inbox_entry_is_one_response(
    session_with_students, questions, worker, firebase_app, firebase_standin
):
    session, (arnold, *_others) = session_with_students
    arnold_id = _student_id(arnold)
    answer = {"question_id": questions["multiple_choice"].pk, "answer": {"choices": [2]}}
    inbox_ref(firebase_app, session.pk, arnold_id, "again").set(answer)
    drive(worker, lambda: _acks(firebase_standin, session))
    inbox_ref(firebase_app, session.pk, arnold_id, "again").set(answer)  # the browser retries
    drive(worker, lambda: _inbox(firebase_standin, session) is None)

    assert Response.objects.filter(student_id=arnold_id).count() == 1
    assert Submission.objects.filter(student_id=arnold_id).count() == 1
    assert Response.objects.get(student_id=arnold_id).version == 1


def test_a_class_answering_at_once_costs_a_few_firebase_writes_not_one_per_answer(
    firebase_settings, live_session, questions, worker, firebase_app, firebase_standin
):
    live_services.go_to_question(session=live_session, question_id=questions["number"].pk)
    students = [
        live_services.join_session(join_code=live_session.join_code, display_name=f"Student {index}")[0]
        for index in range(30)
    ]
    drive(worker, lambda: OutboxEntry.objects.count() == 0)
    time.sleep(0.3)
    worker.tick()
    firebase_standin.reset_counts()
    for index, student in enumerate(students):
        inbox_ref(firebase_app, live_session.pk, student.pk, f"n-{index}").set(
            {"question_id": questions["number"].pk, "answer": {"value": index}}
        )
    ours = 30  # the writes above stand for the students' browsers
    drive(worker, lambda: Response.objects.count() == 30 and _inbox(firebase_standin, live_session) is None)

    worker_writes = firebase_standin.write_count() - ours
    assert worker_writes <= 2 * 4, worker_writes  # acks + inbox cleanup, once per tick that found answers
    assert len(_acks(firebase_standin, live_session)) == 30


def test_during_an_outage_http_answers_are_accepted_and_the_mirror_catches_up_without_loss_or_duplicates(
    session_with_students, questions, worker, firebase_app, firebase_standin
):
    session, (arnold, wanda, carlos) = session_with_students
    drive(worker, lambda: OutboxEntry.objects.count() == 0)
    inbox_ref(firebase_app, session.pk, _student_id(carlos), "before").set(
        {"question_id": questions["multiple_choice"].pk, "answer": {"choices": [0]}}
    )
    drive(worker, lambda: Response.objects.count() == 1 and _inbox(firebase_standin, session) is None)
    errors_before = metrics.FIREBASE_ERRORS.labels(operation="relay", reason="unavailable")._value.get()

    firebase_standin.go_down("refuse")
    for api, choice in ((arnold, 1), (wanda, 2)):
        answered = api.post(
            "/api/student/responses",
            {
                "question_id": questions["multiple_choice"].pk,
                "submission_id": new_submission_id(),
                "answer": {"choices": [choice]},
            },
        )
        assert answered.status_code in (200, 201), answered.content
    live_services.flag_question(session=session, action="lock")
    live_services.step_question(session=session, step=1)
    session.refresh_from_db()
    deadline = time.monotonic() + 4.0  # longer than the SDK's 3 s reconnection, so the listener dies
    while time.monotonic() < deadline:
        worker.tick()
        time.sleep(0.1)
    assert OutboxEntry.objects.count() == 2
    worker.update_gauges()
    assert metrics.OUTBOX_BACKLOG._value.get() == 2
    assert metrics.FIREBASE_MIRROR_LAG._value.get() >= 3.0
    assert (
        metrics.FIREBASE_ERRORS.labels(operation="relay", reason="unavailable")._value.get() > errors_before
    )

    firebase_standin.come_up()
    drive(worker, lambda: OutboxEntry.objects.count() == 0)
    assert _mirror(firebase_standin, session)["seq"] == session.seq
    assert _mirror(firebase_standin, session)["question"]["id"] == session.current_question_id
    # The listener died with the outage; the worker listens again and takes new answers.
    inbox_ref(firebase_app, session.pk, _student_id(carlos), "after").set(
        {"question_id": session.current_question_id, "answer": {"text": "back again"}}
    )
    drive(worker, lambda: Response.objects.count() == 4)
    assert sorted(Response.objects.values_list("source", flat=True)) == [
        "firebase",
        "firebase",
        "http",
        "http",
    ]
    assert Submission.objects.count() == 4
    worker.update_gauges()
    assert metrics.OUTBOX_BACKLOG._value.get() == 0 and metrics.FIREBASE_MIRROR_LAG._value.get() == 0


def test_a_worker_killed_after_storing_answers_but_before_acknowledging_them_loses_and_doubles_nothing(
    session_with_students, questions, firebase_settings, firebase_app, firebase_standin
):
    session, students = session_with_students
    ids = [_student_id(student) for student in students]
    first = FirebaseWorker(backoff_base=0.05, backoff_cap=0.5)
    try:
        drive(first, lambda: first._listeners and OutboxEntry.objects.count() == 0)
        for student_id in ids:
            inbox_ref(firebase_app, session.pk, student_id, f"k-{student_id}").set(
                {"question_id": questions["multiple_choice"].pk, "answer": {"choices": [1]}}
            )
        deadline = time.monotonic() + 10
        while first._events.qsize() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # let every entry's event arrive
        firebase_standin.go_down("refuse")
        first.tick()  # stores the answers; the acknowledgements cannot be written
        assert Response.objects.count() == 3
        assert len(firebase_standin.data(namespace_of(session.pk), f"/inbox/{session.pk}")) == 3
    finally:
        first.close(timeout=0.5)  # the kill: its pending acknowledgements die with it
    firebase_standin.come_up()

    second = FirebaseWorker(backoff_base=0.05, backoff_cap=0.5)
    try:
        drive(second, lambda: _inbox(firebase_standin, session) is None)
    finally:
        second.close()
    assert Response.objects.count() == 3 and Submission.objects.count() == 3
    assert all(
        ack
        == {
            f"k-{student_id}": {
                "status": "stored",
                "question_id": questions["multiple_choice"].pk,
                "version": 1,
            }
        }
        for student_id, ack in zip(
            ids, (_acks(firebase_standin, session)[f"student-{i}"] for i in ids), strict=True
        )
    )


def test_with_firebase_off_the_worker_only_reports_an_empty_backlog(db):
    worker = FirebaseWorker()
    outcome = worker.tick()
    assert (outcome.writes, outcome.errors) == (0, [])
    assert metrics.OUTBOX_BACKLOG._value.get() == 0


def test_backoff_doubles_up_to_its_cap_with_jitter_and_resets_on_success():
    backoff = Backoff(base=1.0, cap=8.0, rng=lambda: 1.0)
    assert [backoff.failed(0.0) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert not backoff.ready(7.9) and backoff.ready(8.0)
    backoff.succeeded()
    low = Backoff(base=1.0, cap=8.0, rng=lambda: 0.0)
    assert low.failed(0.0) == 0.5  # jitter draws from [half, whole) of the delay
    assert backoff.ready(0.0)


def test_a_transaction_rolled_back_leaves_nothing_to_relay(firebase_settings, live_session):
    before = OutboxEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        live_services.end_session(session=live_session)
        raise RuntimeError
    assert OutboxEntry.objects.count() == before
    assert firebase.is_enabled()


def test_an_answer_that_meets_a_database_error_is_kept_and_stored_on_a_later_tick(
    session_with_students, questions, worker, firebase_app, firebase_standin, monkeypatch
):
    from django.db import OperationalError

    from mirror import services

    session, (arnold, *_others) = session_with_students
    arnold_id = _student_id(arnold)
    real_ingest = services.ingest_inbox_entries
    failures = []

    def database_away_once(entries):
        if not failures:
            failures.extend(entry.key for entry in entries)
            return [OperationalError("the database went away") for _entry in entries]
        return real_ingest(entries)

    monkeypatch.setattr(services, "ingest_inbox_entries", database_away_once)
    inbox_ref(firebase_app, session.pk, arnold_id, "flaky").set(
        {"question_id": questions["multiple_choice"].pk, "answer": {"choices": [1]}}
    )
    deadline = time.monotonic() + 10
    while not failures:
        try:
            worker.tick()
        except OperationalError:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert failures and Response.objects.filter(student_id=arnold_id).count() == 0
    drive(worker, lambda: _acks(firebase_standin, session))
    assert Response.objects.filter(student_id=arnold_id).count() == 1
