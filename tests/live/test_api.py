"""The running class over HTTP: a session from waiting to ended, joining, pacing, who may do what."""

from sessions.models import Session, Student
from tests.conftest import Api, error_of, join


def test_a_session_runs_from_waiting_to_live_to_ended(teacher_api, deck):
    session = teacher_api.post("/api/sessions", {"deck_id": deck.pk}).json()
    assert session["state"] == "waiting"
    assert session["projector_key"].startswith("pdp_")
    sid = session["id"]
    live = teacher_api.post(f"/api/sessions/{sid}/start").json()
    assert live["state"] == "live"
    first = live["current_question_id"]
    moved = teacher_api.post(f"/api/sessions/{sid}/next").json()
    assert moved["current_question_id"] != first
    assert teacher_api.post(f"/api/sessions/{sid}/previous").json()["current_question_id"] == first
    assert error_of(teacher_api.post(f"/api/sessions/{sid}/previous"))["code"] == "no_such_move"
    locked = teacher_api.post(f"/api/sessions/{sid}/lock").json()
    assert locked["locked_question_ids"] == [first]
    assert teacher_api.post(f"/api/sessions/{sid}/unlock").json()["locked_question_ids"] == []
    assert teacher_api.post(f"/api/sessions/{sid}/reveal").json()["revealed_question_ids"] == [first]
    assert teacher_api.post(f"/api/sessions/{sid}/hide").json()["revealed_question_ids"] == []
    ended = teacher_api.post(f"/api/sessions/{sid}/end").json()
    assert ended["state"] == "ended"
    assert ended["seq"] > live["seq"]
    assert error_of(teacher_api.post(f"/api/sessions/{sid}/start"))["code"] == "wrong_state"


def test_a_student_joins_and_sees_the_question_without_its_correct_answer(live_session):
    student = join(live_session, "Arnold")
    state = student.get("/api/student/state").json()
    assert state["state"] == "live"
    assert state["student"]["display_name"] == "Arnold"
    assert state["question"]["kind"] == "multiple_choice"
    assert "correct" not in state["question"]["config"]
    assert state["answer"] is None
    assert state["locked"] is False


def test_joining_with_a_wrong_code_or_a_blank_name_is_a_clear_error(live_session):
    anonymous = Api()
    wrong = anonymous.post("/api/join", {"join_code": "ZZZZZ9", "display_name": "Arnold"})
    assert wrong.status_code == 404
    assert error_of(wrong)["field"] == "join_code"
    malformed = anonymous.post("/api/join", {"join_code": "0000", "display_name": "Arnold"})
    assert malformed.status_code == 404
    blank = anonymous.post("/api/join", {"join_code": live_session.join_code, "display_name": "   "})
    assert blank.status_code == 422
    assert error_of(blank)["field"] == "display_name"
    assert not Student.objects.exists()


def test_guessing_join_codes_is_rate_limited(live_session, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "join": (5, 60)}
    anonymous = Api()
    statuses = [
        anonymous.post("/api/join", {"join_code": "ZZZZZ9", "display_name": "X"}).status_code
        for _ in range(7)
    ]
    assert statuses[:5] == [404] * 5
    assert statuses[5:] == [429, 429]
    limited = anonymous.post("/api/join", {"join_code": live_session.join_code, "display_name": "Real"})
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0


def test_student_pacing_lets_each_student_move_alone(teacher_api, live_session, questions):
    teacher_api.post(f"/api/sessions/{live_session.pk}/pacing", {"pacing": "student"})
    arnold, wanda = join(live_session, "Arnold"), join(live_session, "Wanda")
    moved = arnold.post("/api/student/move", {"question_id": questions["number"].pk}).json()
    assert moved["question"]["id"] == questions["number"].pk
    assert len(moved["question_ids"]) == 6
    assert wanda.get("/api/student/state").json()["question"]["id"] == questions["multiple_choice"].pk


def test_students_cannot_move_themselves_when_the_teacher_paces(live_session, questions):
    arnold = join(live_session, "Arnold")
    refused = arnold.post("/api/student/move", {"question_id": questions["number"].pk})
    assert refused.status_code == 409


# --- authorization ----------------------------------------------------------------------------


def test_another_teacher_cannot_read_or_change_the_session_or_deck(other_teacher_api, live_session, deck):
    sid = live_session.pk
    for method, path in [
        ("GET", f"/api/sessions/{sid}"),
        ("GET", f"/api/sessions/{sid}/responses"),
        ("GET", f"/api/sessions/{sid}/tallies"),
        ("GET", f"/api/sessions/{sid}/export.csv"),
        ("POST", f"/api/sessions/{sid}/next"),
        ("POST", f"/api/sessions/{sid}/lock"),
        ("POST", f"/api/sessions/{sid}/end"),
        ("GET", f"/api/decks/{deck.pk}"),
        ("DELETE", f"/api/decks/{deck.pk}"),
    ]:
        response = other_teacher_api.call(method, path)
        assert response.status_code == 404, (method, path, response.status_code)
    refused = other_teacher_api.post("/api/sessions", {"deck_id": deck.pk})
    assert refused.status_code == 404
    live_session.refresh_from_db()
    assert live_session.state == Session.LIVE
    assert live_session.current_question.position == 0


def test_a_student_token_cannot_act_as_a_teacher(live_session):
    student = join(live_session, "Arnold")
    for method, path in [
        ("GET", f"/api/sessions/{live_session.pk}"),
        ("POST", f"/api/sessions/{live_session.pk}/next"),
        ("GET", "/api/decks"),
    ]:
        assert student.call(method, path).status_code == 401
    live_session.refresh_from_db()
    assert live_session.current_question.position == 0


def test_requests_without_or_with_a_bad_token_are_refused(live_session):
    assert Api().get("/api/decks").status_code == 401
    assert Api("pdt_not-a-real-token").get("/api/decks").status_code == 401
    assert Api("pds_not-a-real-token").get("/api/student/state").status_code == 401
    assert Api().get("/api/student/state").status_code == 401


def test_a_removed_student_is_refused(teacher_api, live_session):
    arnold = join(live_session, "Arnold")
    arnold_id = arnold.get("/api/student/state").json()["student"]["id"]
    removed = teacher_api.delete(f"/api/sessions/{live_session.pk}/students/{arnold_id}")
    assert removed.status_code == 204
    assert removed.content == b""
    roster = teacher_api.get(f"/api/sessions/{live_session.pk}").json()["students"]
    assert roster[0]["removed"] is True
    refused = arnold.get("/api/student/state")
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "student_removed"


def test_joining_answers_the_token_the_student_and_their_state_each_by_name(live_session):
    joined = Api().post("/api/join", {"join_code": live_session.join_code, "display_name": "Keesha"}).json()
    # No bare top-level id to mistake for the student's: the session's id is the state's.
    assert "id" not in joined
    assert joined["state"]["id"] == live_session.pk
    student_id = joined["student"]["id"]
    assert joined["state"]["student"] == joined["student"]
    assert Api(joined["token"]).get("/api/student/state").json()["student"]["id"] == student_id


def test_every_session_comes_through_the_pages_none_is_cut_off(teacher, teacher_api, deck):
    from live import services as live_services

    created = {live_services.create_session(teacher=teacher, deck=deck)[0].pk for _ in range(205)}
    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = teacher_api.get(f"/api/sessions{query}").json()
        seen.extend(item["id"] for item in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 2
    assert seen == sorted(created, reverse=True)


def test_a_page_larger_than_the_limit_or_a_made_up_cursor_is_refused(teacher_api):
    too_big = teacher_api.get("/api/sessions?limit=201")
    assert too_big.status_code == 422
    assert error_of(too_big)["field"] == "limit"
    made_up = teacher_api.get("/api/sessions?cursor=bm90LWEtY3Vyc29y")
    assert made_up.status_code == 422
    assert error_of(made_up)["field"] == "cursor"
