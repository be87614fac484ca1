"""The web pods' own counters: answers by transport and kind, join attempts by outcome, rate-limit
refusals by scope, all present at zero from a worker's start."""

import pytest
from prometheus_client import REGISTRY

from observability import instrument
from responses import services as response_services
from runtime import metrics_exporter
from sessions import kinds, selectors
from sessions.models import Student
from tests.conftest import Api, new_submission_id
from tests.support.classroom import GOOD_ANSWERS


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def joins(outcome: str) -> float:
    return sample("peardeck_join_attempts_total", outcome=outcome)


def test_every_join_outcome_is_counted(live_session, settings):
    before = {outcome: joins(outcome) for outcome in instrument.JOIN_OUTCOMES}
    api = Api()
    assert (
        api.post("/api/join", {"join_code": live_session.join_code, "display_name": "Ada"}).status_code == 201
    )
    assert (
        api.post("/api/join", {"join_code": live_session.join_code, "display_name": "ada"}).status_code == 409
    )
    assert api.post("/api/join", {"join_code": "ZZZZZZ", "display_name": "Bo"}).status_code == 404
    assert api.post("/api/join", {"join_code": live_session.join_code}).status_code == 422
    assert api.post("/api/join", raw="{nope").status_code == 400
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "join": (0, 60)}
    assert (
        api.post("/api/join", {"join_code": live_session.join_code, "display_name": "Cy"}).status_code == 429
    )
    after = {outcome: joins(outcome) - before[outcome] for outcome in instrument.JOIN_OUTCOMES}
    assert after == {"joined": 1, "name_taken": 1, "bad_code": 1, "invalid": 2, "rate_limited": 1}
    assert sample("peardeck_rate_limited_total", scope="join") >= 1


@pytest.mark.parametrize("kind", sorted(GOOD_ANSWERS))
def test_a_stored_answer_is_counted_by_transport_and_kind_and_a_replay_is_not(students, questions, kind):
    live = questions[kind]
    session = live.deck.sessions.get()
    session.current_question = live
    session.save()
    student = Student.objects.filter(session=session).first()
    counted = sample("peardeck_answers_total", transport="ws", kind=kind)
    timed = sample("peardeck_answer_duration_seconds_count", transport="ws")
    submission_id = new_submission_id()
    for _ in range(2):
        response_services.submit_response(
            student=student,
            question_id=live.pk,
            submission_id=submission_id,
            answer=GOOD_ANSWERS[kind],
            source="ws",
        )
    assert sample("peardeck_answers_total", transport="ws", kind=kind) == counted + 1
    assert sample("peardeck_answer_duration_seconds_count", transport="ws") == timed + 2


def test_a_refused_answer_is_not_counted(students, questions):
    before = sample("peardeck_answers_total", transport="http", kind="text")
    response = students[0].post(
        "/api/student/responses",
        {"question_id": questions["text"].pk, "submission_id": new_submission_id(), "answer": {"text": 5}},
    )
    assert response.status_code in (409, 422)
    assert sample("peardeck_answers_total", transport="http", kind="text") == before


def test_every_declared_web_series_exists_at_zero_after_a_worker_starts(db):
    metrics_exporter.worker_started(
        None, answer_kinds=kinds.ANSWERABLE_KINDS, count_open_sessions=selectors.count_open_sessions
    )
    for outcome in instrument.JOIN_OUTCOMES:
        assert REGISTRY.get_sample_value("peardeck_join_attempts_total", {"outcome": outcome}) is not None
    for transport in instrument.TRANSPORTS:
        for kind in GOOD_ANSWERS:
            labels = {"transport": transport, "kind": kind}
            assert REGISTRY.get_sample_value("peardeck_answers_total", labels) is not None
    for scope in ("join", "login", "browser_metrics"):
        assert REGISTRY.get_sample_value("peardeck_rate_limited_total", {"scope": scope}) is not None
