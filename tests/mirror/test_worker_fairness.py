"""One student cannot stop, hold up or litter the Firebase worker (issue 14, points 2 and 8).

The worker runs as in production (tick, then wait for the rest of its 0.25 s interval) against
the stand-in, with committed data, on this thread; the stand-in has no rules, so these entries
are what a student could write if the rules let anything through.
"""

import json
import time

import pytest
from firebase_admin import db

from live import services as session_services
from mirror import services
from mirror.models import ClearedSession
from mirror.worker import FirebaseWorker, fair_batch
from responses.models import Response
from tests.mirror.conftest import drive, inbox_ref, namespace_of

pytestmark = pytest.mark.django_db(transaction=True)

INTERVAL = 0.25


@pytest.fixture(autouse=True)
def _broadcasts_built_on_the_answering_thread(published):
    return published


@pytest.fixture
def number_class(firebase_settings, live_session, questions):
    session_services.go_to_question(session=live_session, question_id=questions["number"].pk)
    students = [
        session_services.join_session(join_code=live_session.join_code, display_name=name)[0]
        for name in ("Flooder", "Quiet", "Third")
    ]
    return live_session, students, questions["number"]


@pytest.fixture
def worker(firebase_settings):
    made = FirebaseWorker(backoff_base=0.05, backoff_cap=0.5)
    yield made
    made.close(timeout=1)


def _ack(standin, session, student, submission_id):
    return standin.data(namespace_of(session.pk), f"/acks/{session.pk}/student-{student.pk}/{submission_id}")


def _run_until(worker, done, timeout: float = 30.0) -> float:
    """Runs the worker's loop until done(); returns the seconds it took."""
    started = time.monotonic()
    while not done():
        tick_started = time.monotonic()
        worker.tick()
        assert time.monotonic() - started < timeout, "the worker never got there"
        time.sleep(max(0.0, INTERVAL - (time.monotonic() - tick_started)))
    return time.monotonic() - started


def _listening(worker):
    drive(worker, lambda: bool(worker._listeners))


def _answer_latency(worker, app, standin, session, student, question, submission_id) -> float:
    inbox_ref(app, session.pk, student.pk, submission_id).set(
        {"question_id": question.pk, "answer": {"value": 7}}
    )
    return _run_until(worker, lambda: _ack(standin, session, student, submission_id))


# --- 2. a failing entry is refused alone; the tick goes on ------------------------------------


def test_an_entry_with_a_nul_is_refused_with_an_ack_and_the_rest_of_the_tick_goes_on(
    number_class, questions, worker, firebase_app, firebase_standin
):
    session, (flooder, quiet, _third), _question = number_class
    text = questions["text"]
    session_services.go_to_question(session=session, question_id=text.pk)
    _listening(worker)
    inbox_ref(firebase_app, session.pk, flooder.pk, "poison").set(
        {"question_id": text.pk, "answer": {"text": "a\u0000b"}}
    )
    inbox_ref(firebase_app, session.pk, quiet.pk, "fine").set(
        {"question_id": text.pk, "answer": {"text": "ok"}}
    )

    drive(worker, lambda: _ack(firebase_standin, session, quiet, "fine"))
    assert _ack(firebase_standin, session, flooder, "poison")["code"] == "invalid_answer"
    assert _ack(firebase_standin, session, flooder, "poison")["field"] == "answer.text"
    assert _ack(firebase_standin, session, quiet, "fine")["status"] == "stored"
    session_services.step_question(session=session, step=1)  # and the mirror still follows
    session.refresh_from_db()
    drive(
        worker,
        lambda: (
            firebase_standin.data(namespace_of(session.pk), f"/sessions/{session.pk}")["seq"] == session.seq
        ),
    )
    assert firebase_standin.data(namespace_of(session.pk), f"/inbox/{session.pk}") is None


def test_an_entry_that_fails_unexpectedly_is_refused_and_the_others_are_stored_in_the_same_tick(
    number_class, worker, firebase_app, firebase_standin, monkeypatch
):
    from responses import services as answers

    session, (flooder, quiet, _third), question = number_class
    real = answers._checked  # where every answer is checked before the writer takes it

    def breaks_on_the_flooder(**kwargs):
        if kwargs["student"].pk == flooder.pk:
            raise RuntimeError("a bug that one odd answer finds")
        return real(**kwargs)

    monkeypatch.setattr(answers, "_checked", breaks_on_the_flooder)
    _listening(worker)
    inbox_ref(firebase_app, session.pk, flooder.pk, "odd").set(
        {"question_id": question.pk, "answer": {"value": 1}}
    )
    inbox_ref(firebase_app, session.pk, quiet.pk, "fine").set(
        {"question_id": question.pk, "answer": {"value": 2}}
    )
    drive(
        worker,
        lambda: (
            _ack(firebase_standin, session, flooder, "odd") and _ack(firebase_standin, session, quiet, "fine")
        ),
    )

    assert _ack(firebase_standin, session, flooder, "odd")["code"] == "internal"
    assert _ack(firebase_standin, session, quiet, "fine")["status"] == "stored"
    assert Response.objects.get(student=quiet).answer == {"value": 2}


# --- 8. fairness: a flood or one huge entry delays nobody else by a second -------------------


def test_one_students_thousand_entries_delay_another_students_answer_by_under_a_second(
    number_class, worker, firebase_app, firebase_standin
):
    session, (flooder, quiet, _third), question = number_class
    _listening(worker)
    alone = _answer_latency(worker, firebase_app, firebase_standin, session, quiet, question, "alone")

    entry = {"question_id": question.pk, "answer": {"value": 1}}
    db.reference(f"/inbox/{session.pk}/student-{flooder.pk}", app=firebase_app, url=_url(session)).update(
        {f"flood-{n:04d}": entry for n in range(1000)}
    )
    behind_the_flood = _answer_latency(
        worker, firebase_app, firebase_standin, session, quiet, question, "after"
    )

    print(
        f"\nquiet student's ack: alone {alone:.2f} s, after 1,000 entries of another {behind_the_flood:.2f} s"
    )
    assert behind_the_flood - alone < 1.0
    assert Response.objects.filter(student=flooder).exists()  # the flooder is taken in too, slowly


def test_one_students_entry_of_one_and_a_half_megabytes_delays_another_students_answer_by_under_a_second(
    number_class, worker, firebase_app, firebase_standin
):
    session, (flooder, quiet, _third), question = number_class
    _listening(worker)
    alone = _answer_latency(worker, firebase_app, firebase_standin, session, quiet, question, "alone")

    inbox_ref(firebase_app, session.pk, flooder.pk, "huge").set(
        {"question_id": question.pk, "answer": {"text": "x" * 1_500_000}}
    )
    behind_it = _answer_latency(worker, firebase_app, firebase_standin, session, quiet, question, "after")

    print(f"\nquiet student's ack: alone {alone:.2f} s, after a 1.5 MB entry of another {behind_it:.2f} s")
    assert behind_it - alone < 1.0
    _run_until(worker, lambda: _ack(firebase_standin, session, flooder, "huge"))
    assert _ack(firebase_standin, session, flooder, "huge")["code"] == "payload_too_large"


def _url(session) -> str:
    return f"https://{namespace_of(session.pk)}.firebaseio.com"


def test_a_tick_takes_students_round_robin_and_caps_each():
    def pending(*uids):
        return {
            (0, f"1/{uid}/{n}"): services.InboxEntry(1, uid, f"{uid}-{n}", {}) for n, uid in enumerate(uids)
        }

    waiting = pending(*(["student-1"] * 8 + ["student-2", "student-3", "student-2"]))
    taken = [entry.submission_id for _shard, _key, entry in fair_batch(waiting, limit=100, per_student=3)]
    assert taken == [
        "student-1-0", "student-2-8", "student-3-9",  # everyone's first
        "student-1-1", "student-2-10",  # then everyone's second
        "student-1-2",  # and the flooder's third: the cap
    ]  # fmt: skip
    assert len(fair_batch(waiting, limit=2, per_student=3)) == 2


# --- what is left behind in Firebase -----------------------------------------------------------


def test_no_ack_is_left_behind_for_a_session_already_cleared(
    number_class, worker, firebase_app, firebase_standin
):
    session, (flooder, _quiet, _third), question = number_class
    session_services.end_session(session=session)
    drive(worker, lambda: not worker._pending and not services.relay_outbox().relayed_entries)
    ClearedSession.objects.create(session_id=session.pk)
    _listening(worker)
    inbox_ref(firebase_app, session.pk, flooder.pk, "late").set(
        {"question_id": question.pk, "answer": {"value": 1}}
    )

    drive(worker, lambda: firebase_standin.data(namespace_of(session.pk), f"/inbox/{session.pk}") is None)
    assert firebase_standin.data(namespace_of(session.pk), f"/acks/{session.pk}") is None


def test_clearing_a_session_deletes_its_students_sent_markers_too(
    number_class, firebase_app, firebase_standin
):
    from datetime import timedelta

    from django.utils import timezone

    session, (flooder, _quiet, _third), _question = number_class
    marker = f"/sent/{session.pk}/student-{flooder.pk}"
    db.reference(marker, app=firebase_app, url=_url(session)).set({"id": "s1", "at": 1})
    session_services.end_session(session=session)
    services.relay_outbox()

    services.clear_ended_sessions(now=timezone.now() + timedelta(days=2))

    assert firebase_standin.data(namespace_of(session.pk), marker) is None


# --- the shapes Firebase carries ---------------------------------------------------------------


def test_a_drawing_whose_strokes_come_as_one_json_string_is_stored_as_a_drawing(
    firebase_settings, live_session, questions, worker, firebase_app, firebase_standin
):
    drawing = questions["drawing"]
    session_services.go_to_question(session=live_session, question_id=drawing.pk)
    student, _token = session_services.join_session(join_code=live_session.join_code, display_name="Artie")
    strokes = [{"points": [[0.1, 0.1], [0.2, 0.3]], "color": "#ff0000", "width": 4}]
    _listening(worker)
    inbox_ref(firebase_app, live_session.pk, student.pk, "d1").set(
        {"question_id": drawing.pk, "answer": {"strokes": json.dumps(strokes)}, "at": 1}
    )
    inbox_ref(firebase_app, live_session.pk, student.pk, "d2").set(
        {"question_id": drawing.pk, "answer": {"strokes": "[" * 40 + "]" * 40}, "at": 2}
    )
    drive(worker, lambda: _ack(firebase_standin, live_session, student, "d2"))
    assert _ack(firebase_standin, live_session, student, "d1")["status"] == "stored"
    assert Response.objects.get(student=student).answer == {"strokes": strokes}
    refused = _ack(firebase_standin, live_session, student, "d2")
    assert (refused["code"], refused["field"]) == ("invalid_answer", "answer.strokes")
