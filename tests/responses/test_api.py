import csv
import io

import pytest

from responses.models import Response, Submission
from tests.conftest import error_of, join, new_submission_id
from tests.support.classroom import GOOD_ANSWERS


def answer(student, question, body, submission_id=None):
    return student.post(
        "/api/student/responses",
        {"question_id": question.pk, "submission_id": submission_id or new_submission_id(), "answer": body},
    )


def goto(teacher_api, session, question):
    response = teacher_api.post(f"/api/sessions/{session.pk}/goto", {"question_id": question.pk})
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("kind", list(GOOD_ANSWERS))
def test_a_student_answers_each_kind_of_question(teacher_api, live_session, questions, students, kind):
    goto(teacher_api, live_session, questions[kind])
    accepted = answer(students[0], questions[kind], GOOD_ANSWERS[kind])
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["version"] == 1
    state = students[0].get("/api/student/state").json()
    assert state["answer"]["answer"] == accepted.json()["answer"]
    stored = Response.objects.get(question=questions[kind])
    assert stored.source == "http"


def test_a_student_changes_an_answer_and_the_latest_wins(live_session, questions, students):
    question = questions["multiple_choice"]
    answer(students[0], question, {"choices": [0]})
    changed = answer(students[0], question, {"choices": [1]})
    assert changed.json()["version"] == 2
    response = Response.objects.get(question=question)
    assert response.answer == {"choices": [1]}
    assert response.is_correct is True
    assert Submission.objects.count() == 2


def test_the_same_submission_id_twice_is_one_submission(live_session, questions, students):
    question = questions["multiple_choice"]
    first = answer(students[0], question, {"choices": [0]}, submission_id="retry-1")
    again = answer(students[0], question, {"choices": [0]}, submission_id="retry-1")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["version"] == 1
    assert Submission.objects.count() == 1


def test_a_replayed_old_submission_does_not_overwrite_a_newer_answer(live_session, questions, students):
    question = questions["multiple_choice"]
    answer(students[0], question, {"choices": [0]}, submission_id="old")
    answer(students[0], question, {"choices": [2]}, submission_id="new")
    replay = answer(students[0], question, {"choices": [0]}, submission_id="old")
    assert replay.json()["duplicate"] is True
    assert Response.objects.get(question=question).answer == {"choices": [2]}


def test_an_answer_older_by_the_students_order_is_superseded_by_the_newer_one_already_stored(
    live_session, questions, students
):
    """The student's order decides, not the order of arrival (issue 12)."""
    question = questions["multiple_choice"]
    newer = students[0].post(
        "/api/student/responses",
        {"question_id": question.pk, "submission_id": "newer", "answer": {"choices": [2]}, "order": 20},
    )
    assert newer.status_code == 201
    assert newer.json()["superseded"] is False
    older = students[0].post(
        "/api/student/responses",
        {"question_id": question.pk, "submission_id": "older", "answer": {"choices": [0]}, "order": 10},
    )
    assert older.status_code == 200
    assert older.json()["superseded"] is True
    assert older.json()["answer"] == {"choices": [2]}
    assert older.json()["version"] == newer.json()["version"]
    assert Response.objects.get(question=question).answer == {"choices": [2]}


@pytest.mark.parametrize("order", [-1, 2**53, 1.5, "12", True])
def test_an_order_that_is_not_a_whole_number_below_2_to_the_53_is_refused(
    live_session, questions, students, order
):
    question = questions["multiple_choice"]
    refused = students[0].post(
        "/api/student/responses",
        {"question_id": question.pk, "submission_id": "o1", "answer": {"choices": [2]}, "order": order},
    )
    assert refused.status_code == 422, refused.content
    assert error_of(refused)["field"] == "order"
    assert not Response.objects.exists()


def test_reusing_a_submission_id_for_a_different_answer_is_refused(live_session, questions, students):
    question = questions["multiple_choice"]
    answer(students[0], question, {"choices": [0]}, submission_id="same")
    reused = answer(students[0], question, {"choices": [1]}, submission_id="same")
    assert reused.status_code == 409
    assert error_of(reused)["code"] == "submission_id_reused"
    assert Response.objects.get(question=question).answer == {"choices": [0]}


def test_after_lock_a_change_is_refused_and_nothing_changes(teacher_api, live_session, questions, students):
    question = questions["multiple_choice"]
    answer(students[0], question, {"choices": [0]})
    teacher_api.post(f"/api/sessions/{live_session.pk}/lock")
    assert students[0].get("/api/student/state").json()["locked"] is True
    late = answer(students[0], question, {"choices": [1]})
    assert late.status_code == 409
    assert error_of(late)["code"] == "question_locked"
    assert Response.objects.get(question=question).answer == {"choices": [0]}
    teacher_api.post(f"/api/sessions/{live_session.pk}/unlock")
    assert answer(students[0], question, {"choices": [1]}).status_code == 201


def test_an_answer_to_a_question_the_class_has_left_is_refused(
    teacher_api, live_session, questions, students
):
    goto(teacher_api, live_session, questions["text"])
    stale = answer(students[0], questions["multiple_choice"], {"choices": [0]})
    assert stale.status_code == 409
    assert error_of(stale)["code"] == "question_not_current"


def test_an_ended_session_accepts_no_answers(teacher_api, live_session, questions, students):
    teacher_api.post(f"/api/sessions/{live_session.pk}/end")
    refused = answer(students[0], questions["multiple_choice"], {"choices": [0]})
    assert refused.status_code == 409
    assert error_of(refused)["code"] == "session_ended"
    assert not Response.objects.exists()


def test_a_removed_student_cannot_answer(teacher_api, live_session, questions, students):
    student_id = students[0].get("/api/student/state").json()["student"]["id"]
    teacher_api.delete(f"/api/sessions/{live_session.pk}/students/{student_id}")
    refused = answer(students[0], questions["multiple_choice"], {"choices": [0]})
    assert refused.status_code == 403
    assert not Response.objects.exists()


def test_a_student_cannot_answer_in_another_session(teacher, deck, live_session, questions):

    from live import services as live_services

    other, _ = live_services.create_session(teacher=teacher, deck=deck)
    live_services.start_session(session=other)
    outsider = join(other, "Outsider")
    # The question belongs to the same deck, but the answer lands in the outsider's own session.
    answer(outsider, questions["multiple_choice"], {"choices": [1]})
    assert not Response.objects.filter(session=live_session).exists()
    assert Response.objects.filter(session=other).count() == 1


def test_a_student_never_sees_another_students_answer(live_session, questions, students):
    answer(students[0], questions["multiple_choice"], {"choices": [0]})
    state = students[1].get("/api/student/state").json()
    assert state["answer"] is None
    assert students[1].get(f"/api/sessions/{live_session.pk}/responses").status_code == 401


def test_teacher_sees_responses_and_tallies(teacher_api, live_session, questions, students):
    question = questions["multiple_choice"]
    answer(students[0], question, {"choices": [1]})
    answer(students[1], question, {"choices": [1]})
    answer(students[2], question, {"choices": [0]})
    listed = teacher_api.get(f"/api/sessions/{live_session.pk}/responses?question_id={question.pk}").json()[
        "items"
    ]
    assert sorted(r["student"]["display_name"] for r in listed) == ["Arnold", "Carlos", "Wanda"]
    tallies = teacher_api.get(f"/api/sessions/{live_session.pk}/tallies").json()["tallies"]
    choice = next(t for t in tallies if t["question_id"] == question.pk)
    assert choice["counts"] == [1, 2, 0]
    assert choice["answered"] == 3
    assert choice["students"] == 3


def test_tallies_cost_the_same_few_queries_however_many_students_answer(
    teacher_api, live_session, questions, django_assert_max_num_queries
):
    from live.services import join_session
    from responses.services import submit_response

    for index in range(30):
        student, _token = join_session(join_code=live_session.join_code, display_name=f"Student {index}")
        submit_response(
            student=student,
            question_id=questions["multiple_choice"].pk,
            submission_id=f"s{index}",
            answer={"choices": [index % 3]},
            source="http",
        )
    with django_assert_max_num_queries(8):
        teacher_api.get(f"/api/sessions/{live_session.pk}/tallies")


def test_a_teacher_stars_an_answer(teacher_api, live_session, questions, students):
    answer(students[0], questions["multiple_choice"], {"choices": [0]})
    response_id = Response.objects.get().pk
    starred = teacher_api.post(
        f"/api/sessions/{live_session.pk}/responses/{response_id}/star", {"starred": True}
    )
    assert starred.json()["starred"] is True


def test_takeaways_open_when_the_session_ends(teacher_api, live_session, questions, students):
    answer(students[0], questions["multiple_choice"], {"choices": [2]})
    early = students[0].get("/api/student/takeaways")
    assert early.status_code == 409
    teacher_api.post(f"/api/sessions/{live_session.pk}/end")
    takeaways = students[0].get("/api/student/takeaways").json()["takeaways"]
    assert len(takeaways) == 6
    first = takeaways[0]
    assert first["answer"] == {"choices": [2]}
    assert first["is_correct"] is False
    assert first["question"]["config"]["correct"] == [1]
    assert all(item["answer"] is None for item in takeaways[1:])


def test_the_csv_export_holds_each_students_final_answer(teacher_api, live_session, questions, students):
    answer(students[0], questions["multiple_choice"], {"choices": [0]})
    answer(students[0], questions["multiple_choice"], {"choices": [1]})
    answer(students[1], questions["multiple_choice"], {"choices": [2]})
    goto(teacher_api, live_session, questions["text"])
    answer(students[2], questions["text"], {"text": "=HYPERLINK(evil)"})
    exported = teacher_api.get(f"/api/sessions/{live_session.pk}/export.csv")
    assert exported["Content-Type"].startswith("text/csv")
    assert "attachment" in exported["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    by_student = {(row["student"], row["kind"]): row for row in rows}
    assert len(rows) == 3
    assert by_student[("Arnold", "multiple_choice")]["answer"] == "7"
    assert by_student[("Arnold", "multiple_choice")]["correct"] == "yes"
    assert by_student[("Wanda", "multiple_choice")]["answer"] == "9"
    # A formula typed by a student reaches the spreadsheet as text.
    assert by_student[("Carlos", "text")]["answer"] == "'=HYPERLINK(evil)"


def test_the_teachers_list_marks_a_removed_students_answers(teacher_api, live_session, questions, students):
    question = questions["multiple_choice"]
    answer(students[0], question, {"choices": [1]})
    answer(students[1], question, {"choices": [0]})
    removed_id = students[0].get("/api/student/state").json()["student"]["id"]
    teacher_api.delete(f"/api/sessions/{live_session.pk}/students/{removed_id}")
    listed = teacher_api.get(f"/api/sessions/{live_session.pk}/responses").json()["items"]
    removed = {item["student"]["display_name"]: item["student"]["removed"] for item in listed}
    assert removed == {"Arnold": True, "Wanda": False}
    tally = teacher_api.get(f"/api/sessions/{live_session.pk}/tallies").json()["tallies"][0]
    assert tally["answered"] == 1


def test_the_teachers_list_of_answers_comes_in_pages(teacher_api, live_session, questions, students):
    for student in students:
        answer(student, questions["multiple_choice"], {"choices": [0]})
    first = teacher_api.get(f"/api/sessions/{live_session.pk}/responses?limit=2").json()
    assert len(first["items"]) == 2
    rest = teacher_api.get(f"/api/sessions/{live_session.pk}/responses?cursor={first['next_cursor']}").json()
    assert rest["next_cursor"] is None
    names = [item["student"]["display_name"] for item in first["items"] + rest["items"]]
    assert sorted(names) == ["Arnold", "Carlos", "Wanda"]
    assert len(set(names)) == 3


def test_takeaways_name_the_deck_as_everywhere_else(teacher_api, live_session, deck, students):
    teacher_api.post(f"/api/sessions/{live_session.pk}/end")
    session = students[0].get("/api/student/takeaways").json()["session"]
    assert session == {"id": live_session.pk, "deck": {"id": deck.pk, "title": deck.title}}


def _exported_rows(teacher_api, session) -> list[dict]:
    exported = teacher_api.get(f"/api/sessions/{session.pk}/export.csv")
    return list(csv.DictReader(io.StringIO(exported.content.decode())))


def test_the_csv_names_students_and_questions_by_id_and_position(
    teacher_api, live_session, questions, students
):
    goto(teacher_api, live_session, questions["text"])
    answer(students[0], questions["text"], {"text": "hi"})
    (row,) = _exported_rows(teacher_api, live_session)
    question = questions["text"]
    assert row["student_id"] == str(Response.objects.get().student_id)
    assert row["question_id"] == str(question.pk)
    # The API's own position, 0-based: the second question of the deck is 1.
    assert row["position"] == str(question.position) == "1"
    assert "question_number" not in row


def test_a_negative_number_is_exported_as_a_number_not_as_text(teacher_api, teacher, students):
    from tests.support.classroom import make_deck, number_questions, open_session

    session, _key = open_session(teacher, make_deck(teacher, questions=number_questions("Below zero?")))
    class_member = join(session, "Dorothy Ann")
    question = session.deck.questions.get()
    assert answer(class_member, question, {"value": -3}).status_code == 201
    (row,) = _exported_rows(teacher_api, session)
    assert row["answer"] == "-3"


def test_starring_an_answer_does_not_change_when_it_was_answered(
    teacher_api, live_session, questions, students
):
    answer(students[0], questions["multiple_choice"], {"choices": [0]})
    (before,) = _exported_rows(teacher_api, live_session)
    response_id = Response.objects.get().pk
    starred = teacher_api.post(
        f"/api/sessions/{live_session.pk}/responses/{response_id}/star", {"starred": True}
    )
    assert starred.json()["starred"] is True
    (after,) = _exported_rows(teacher_api, live_session)
    assert after["answered_at"] == before["answered_at"]
    assert starred.json()["updated_at"].replace("Z", "+00:00")[:19] == before["answered_at"][:19]
