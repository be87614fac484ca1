"""The last fallback: a student polls. A poll with nothing new is a bodiless 304."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from live import services as live_services
from tests.conftest import Api, join, new_submission_id


def test_a_poll_with_the_current_etag_or_seq_gets_a_304_without_a_body(teacher_api, live_session):
    student = join(live_session, "Arnold")
    first = student.get("/api/student/state")
    etag = first["ETag"]
    held = f"since={first.json()['seq']}&answers_since={first.json()['answers_seq']}"
    again = student.client.get(
        "/api/student/state", HTTP_AUTHORIZATION=f"Bearer {student.token}", HTTP_IF_NONE_MATCH=etag
    )
    assert again.status_code == 304
    assert again.content == b""
    assert student.get(f"/api/student/state?{held}").status_code == 304


def test_a_change_in_the_session_or_in_my_answer_makes_the_poll_return_the_state(
    teacher_api, live_session, questions
):
    student = join(live_session, "Arnold")
    first = student.get("/api/student/state")
    etag = first["ETag"]
    student.post(
        "/api/student/responses",
        {
            "question_id": questions["multiple_choice"].pk,
            "submission_id": new_submission_id(),
            "answer": {"choices": [0]},
        },
    )
    after_answer = student.client.get(
        "/api/student/state", HTTP_AUTHORIZATION=f"Bearer {student.token}", HTTP_IF_NONE_MATCH=etag
    )
    assert after_answer.status_code == 200
    assert after_answer.json()["answer"]["answer"] == {"choices": [0]}
    teacher_api.post(f"/api/sessions/{live_session.pk}/next")
    moved = student.get(f"/api/student/state?since={first.json()['seq']}")
    assert moved.status_code == 200
    assert moved.json()["question"]["id"] == questions["text"].pk


def test_the_teacher_state_is_conditional_on_seq(teacher_api, live_session):
    first = teacher_api.get(f"/api/sessions/{live_session.pk}")
    seq = first.json()["seq"]
    assert teacher_api.get(f"/api/sessions/{live_session.pk}?since={seq}").status_code == 304
    join(live_session, "Wanda")
    assert teacher_api.get(f"/api/sessions/{live_session.pk}?since={seq}").status_code == 200


def test_the_projector_polls_with_its_key_and_never_sees_names(teacher_api, live_session, questions):
    key = teacher_api.post(f"/api/sessions/{live_session.pk}/projector-key").json()["projector_key"]
    projector = Api(key)
    arnold = join(live_session, "Arnold")
    arnold.post(
        "/api/student/responses",
        {"question_id": questions["multiple_choice"].pk, "submission_id": "a", "answer": {"choices": [1]}},
    )
    hidden = projector.get("/api/projector/state").json()
    assert hidden["tally"] is None
    assert hidden["students"] == 1
    live_services.flag_question(session=live_session, action="reveal")
    shown = projector.get("/api/projector/state").json()
    assert shown["tally"]["counts"] == [0, 1, 0]
    assert "Arnold" not in str(shown)
    assert "correct" not in shown["question"]["config"]
    assert Api("pdp_stale").get("/api/projector/state").status_code == 401


def test_a_poll_with_since_alone_is_not_answered_unchanged_once_answers_moved(
    teacher_api, live_session, questions
):
    """`since` is the session's seq; answers do not bump it. A poll says what it holds of both
    (`since` and `answers_since`) and gets a 304 only when neither moved (issue 12)."""
    student = join(live_session, "Arnold")
    first = student.get("/api/student/state").json()
    held = f"since={first['seq']}&answers_since={first['answers_seq']}"
    assert student.get(f"/api/student/state?{held}").status_code == 304
    student.post(
        "/api/student/responses",
        {"question_id": questions["multiple_choice"].pk, "submission_id": "x1", "answer": {"choices": [2]}},
    )
    for query in (f"since={first['seq']}", held):
        moved = student.get(f"/api/student/state?{query}")
        assert moved.status_code == 200, query
        assert moved.json()["answer"]["answer"] == {"choices": [2]}
    now = moved.json()
    assert (
        student.get(f"/api/student/state?since={now['seq']}&answers_since={now['answers_seq']}").status_code
        == 304
    )


def test_the_projector_poll_with_since_sees_a_revealed_tally_move(teacher_api, live_session, questions):
    key = teacher_api.post(f"/api/sessions/{live_session.pk}/projector-key").json()["projector_key"]
    projector = Api(key)
    arnold = join(live_session, "Arnold")
    teacher_api.post(f"/api/sessions/{live_session.pk}/reveal")
    first = projector.get("/api/projector/state").json()
    arnold.post(
        "/api/student/responses",
        {"question_id": questions["multiple_choice"].pk, "submission_id": "r1", "answer": {"choices": [1]}},
    )
    for query in (f"since={first['seq']}", f"since={first['seq']}&answers_since={first['answers_seq']}"):
        moved = projector.get(f"/api/projector/state?{query}")
        assert moved.status_code == 200, query
        assert moved.json()["tally"]["counts"] == [0, 1, 0]


def test_the_dashboards_tallies_carry_the_answers_version_they_were_read_at(
    teacher_api, live_session, questions
):
    before = teacher_api.get(f"/api/sessions/{live_session.pk}/tallies").json()
    join(live_session, "Arnold").post(
        "/api/student/responses",
        {"question_id": questions["multiple_choice"].pk, "submission_id": "t1", "answer": {"choices": [0]}},
    )
    after = teacher_api.get(f"/api/sessions/{live_session.pk}/tallies").json()
    assert after["answers_seq"] > before["answers_seq"]


def test_a_poll_with_nothing_new_runs_no_query_and_a_change_still_reaches_it(teacher_api, live_session):
    student = join(live_session, "Arnold")
    etag = student.get("/api/student/state")["ETag"]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {student.token}", "HTTP_IF_NONE_MATCH": etag}
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert student.client.get("/api/student/state", **headers).status_code == 304
    assert [query["sql"] for query in queries] == []
    # The cache is no excuse for a stale answer: a lock (a seq bump) changes what the poll gets.
    teacher_api.post(f"/api/sessions/{live_session.pk}/lock")
    locked = student.client.get("/api/student/state", **headers)
    assert locked.status_code == 200 and locked.json()["locked"] is True
