"""mirror/services.py: the outbox, the relay and the inbox, one step at a time."""

import pytest
from django.db import transaction

from integrations import firebase
from live import services as live_services
from mirror import services
from mirror.models import OutboxEntry
from mirror.services import InboxEntry
from responses.models import Response, Submission
from tests.conftest import new_submission_id
from tests.mirror.conftest import namespace_of
from tests.support.classroom import GOOD_ANSWERS


def test_a_session_change_stores_its_outbox_entry_in_the_same_transaction(firebase_settings, live_session):
    before = OutboxEntry.objects.count()
    live_services.step_question(session=live_session, step=1)
    live_session.refresh_from_db()
    assert OutboxEntry.objects.count() == before + 1
    assert OutboxEntry.objects.last().seq == live_session.seq

    class Abandon(Exception):
        pass

    with pytest.raises(Abandon), transaction.atomic():
        live_services.flag_question(session=live_session, action="lock")
        raise Abandon
    assert OutboxEntry.objects.count() == before + 1


def test_the_relay_coalesces_many_changes_of_many_sessions_into_one_write_per_shard(
    firebase_settings, firebase_standin, teacher, deck
):
    sessions = []
    for _ in range(6):
        session, _key = live_services.create_session(teacher=teacher, deck=deck)
        session = live_services.start_session(session=session)
        for _step in range(3):
            live_services.step_question(session=session, step=1)
        live_services.flag_question(session=session, action="lock")
        session.refresh_from_db()
        sessions.append(session)
    assert OutboxEntry.objects.count() == 6 * 5
    firebase_standin.reset_counts()

    outcome = services.relay_outbox()

    shards_used = {namespace_of(session.pk) for session in sessions}
    assert outcome.writes == firebase_standin.write_count() == len(shards_used)
    assert outcome.relayed_entries == 30
    assert OutboxEntry.objects.count() == 0
    for session in sessions:
        mirrored = firebase_standin.data(namespace_of(session.pk), f"/sessions/{session.pk}")
        assert mirrored["seq"] == session.seq
        assert mirrored["question"]["id"] == session.current_question_id
        assert mirrored["locked"] is True


def test_the_mirror_never_holds_the_correct_answers(
    firebase_settings, firebase_standin, live_session, questions
):
    live_services.go_to_question(session=live_session, question_id=questions["multiple_choice"].pk)
    services.relay_outbox()
    mirrored = firebase_standin.data(namespace_of(live_session.pk), f"/sessions/{live_session.pk}")
    assert mirrored["question"]["config"]["choices"] == ["4", "7", "9"]
    assert "correct" not in mirrored["question"]["config"]


def test_a_removed_student_is_listed_by_uid_and_no_name_reaches_the_mirror(
    firebase_settings, firebase_standin, live_session
):
    live_services.join_session(join_code=live_session.join_code, display_name="Stays Here")
    goes, _ = live_services.join_session(join_code=live_session.join_code, display_name="Goes Away")
    services.relay_outbox()
    mirrored = firebase_standin.data(namespace_of(live_session.pk), f"/sessions/{live_session.pk}")
    assert "removed" not in mirrored  # Firebase drops the empty object

    live_services.remove_student(session=live_session, student_id=goes.pk)
    services.relay_outbox()
    mirrored = firebase_standin.data(namespace_of(live_session.pk), f"/sessions/{live_session.pk}")
    assert mirrored["removed"] == {f"student-{goes.pk}": True}
    assert "Goes Away" not in str(mirrored) and "Stays Here" not in str(mirrored)


def test_a_relay_cut_off_between_writing_and_clearing_the_outbox_writes_the_same_again(
    firebase_settings, firebase_standin, live_session, monkeypatch
):
    live_services.step_question(session=live_session, step=1)
    live_session.refresh_from_db()
    pending = OutboxEntry.objects.count()
    real_filter = OutboxEntry.objects.filter

    class Killed(Exception):
        pass

    def killed_before_delete(*args, **kwargs):
        if "id__in" in kwargs:
            raise Killed
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(OutboxEntry.objects, "filter", killed_before_delete)
    with pytest.raises(Killed):
        services.relay_outbox()
    monkeypatch.undo()
    first = firebase_standin.data(namespace_of(live_session.pk), f"/sessions/{live_session.pk}")
    assert OutboxEntry.objects.count() == pending

    services.relay_outbox()

    assert OutboxEntry.objects.count() == 0
    assert firebase_standin.data(namespace_of(live_session.pk), f"/sessions/{live_session.pk}") == first
    assert first["seq"] == live_session.seq


def test_a_shard_that_is_down_keeps_its_entries_for_later(firebase_settings, firebase_standin, live_session):
    live_services.step_question(session=live_session, step=1)
    firebase_standin.go_down("refuse")
    outcome = services.relay_outbox()
    assert outcome.writes == 0 and list(outcome.failures)
    assert OutboxEntry.objects.count() == 2  # the start and the step
    firebase_standin.come_up()
    assert services.relay_outbox().writes == 1
    assert OutboxEntry.objects.count() == 0


def test_a_deleted_session_is_removed_from_the_mirror(db, firebase_settings, firebase_standin):
    firebase_standin_ns = namespace_of(987654)
    firebase.update("/sessions", {"987654": {"seq": 1}}, shard=firebase.shard_of(987654))
    OutboxEntry.objects.create(session_id=987654, seq=2)
    services.relay_outbox()
    assert firebase_standin.data(firebase_standin_ns, "/sessions/987654") is None


# --- reading listener events -------------------------------------------------------------------


def test_the_first_event_of_a_listener_yields_every_pending_entry():
    entries, reread = services.entries_from_event(
        "put",
        "/",
        {"12": {"student-7": {"a": {"question_id": 1, "answer": {"text": "x"}}, "b": {"question_id": 2}}}},
    )
    assert reread == []
    assert {(entry.session_id, entry.uid, entry.submission_id) for entry in entries} == {
        (12, "student-7", "a"),
        (12, "student-7", "b"),
    }


def test_patch_keys_are_paths_and_nulls_are_deletions():
    entries, _ = services.entries_from_event(
        "patch", "/12", {"student-7/a": {"question_id": 1, "answer": {}}, "student-8/b": None}
    )
    assert [(entry.uid, entry.submission_id) for entry in entries] == [("student-7", "a")]


def test_integer_keys_rendered_as_a_list_are_still_read_as_entries():
    entries, _ = services.entries_from_event("put", "/12/student-7", [None, {"question_id": 1, "answer": {}}])
    assert [(entry.session_id, entry.submission_id) for entry in entries] == [(12, "1")]


def test_a_write_inside_an_entry_asks_for_the_whole_entry_to_be_read_again():
    entries, reread = services.entries_from_event("put", "/12/student-7/a/answer", {"text": "x"})
    assert entries == [] and reread == ["12/student-7/a"]


# --- ingesting one entry -------------------------------------------------------------------------


def _entry(session, student_id, question_id, answer, submission_id=None):
    return InboxEntry(
        session.pk,
        f"student-{student_id}",
        submission_id or new_submission_id(),
        {"question_id": question_id, "answer": answer},
    )


@pytest.fixture
def student(live_session):
    student, _token = live_services.join_session(join_code=live_session.join_code, display_name="Arnold")
    return student


def test_an_inbox_answer_is_stored_as_a_firebase_response_and_acknowledged(live_session, student, questions):
    question = questions["multiple_choice"]
    ack = services.ingest_inbox_entry(
        _entry(live_session, student.pk, question.pk, GOOD_ANSWERS["multiple_choice"])
    )
    assert ack == {"status": "stored", "question_id": question.pk, "version": 1}
    response = Response.objects.get(student=student)
    assert response.source == "firebase" and response.answer == {"choices": [1]}


def test_the_same_entry_twice_is_one_response(live_session, student, questions):
    entry = _entry(live_session, student.pk, questions["multiple_choice"].pk, GOOD_ANSWERS["multiple_choice"])
    first = services.ingest_inbox_entry(entry)
    second = services.ingest_inbox_entry(entry)
    assert first == second
    assert Response.objects.count() == 1 and Submission.objects.count() == 1


@pytest.mark.parametrize(
    ("value", "code", "field"),
    [
        ("B", "invalid", "answer"),
        ({"answer": {"choices": [1]}}, "invalid", "answer"),
        ({"question_id": "x", "answer": {"choices": [1]}}, "invalid", "question_id"),
        ({"question_id": None, "answer": {"choices": [9]}, "extra": 1}, "invalid", "answer"),
    ],
    ids=["a bare string", "no question", "a question id that is text", "an extra field"],
)
def test_a_malformed_entry_is_refused_naming_the_field_and_stores_nothing(
    live_session, student, value, code, field
):
    ack = services.ingest_inbox_entry(InboxEntry(live_session.pk, f"student-{student.pk}", "s1", value))
    assert (ack["status"], ack["code"], ack.get("field")) == ("refused", code, field)
    assert Response.objects.count() == 0


def test_an_answer_the_question_kind_refuses_is_acknowledged_as_refused(live_session, student, questions):
    ack = services.ingest_inbox_entry(
        _entry(live_session, student.pk, questions["multiple_choice"].pk, {"choices": [7]})
    )
    assert ack["status"] == "refused" and ack["code"] == "invalid_answer"
    assert Response.objects.count() == 0


def test_an_entry_in_another_sessions_inbox_is_refused(teacher, deck, live_session, student, questions):
    other, _key = live_services.create_session(teacher=teacher, deck=deck)
    ack = services.ingest_inbox_entry(
        _entry(other, student.pk, questions["multiple_choice"].pk, {"choices": [1]})
    )
    assert ack["code"] == "student_not_found"
    ack = services.ingest_inbox_entry(
        InboxEntry(live_session.pk, "teacher-1", "s2", {"question_id": 1, "answer": {"choices": [1]}})
    )
    assert ack["code"] == "student_not_found"
    assert Response.objects.count() == 0


def test_an_answer_to_a_locked_question_is_refused(live_session, student, questions):
    question = questions["multiple_choice"]
    live_services.flag_question(session=live_session, action="lock", question_id=question.pk)
    ack = services.ingest_inbox_entry(_entry(live_session, student.pk, question.pk, {"choices": [1]}))
    assert ack["code"] == "question_locked"


def test_an_inbox_answer_older_by_the_students_order_is_acked_superseded_and_the_newer_stays(
    live_session, student, questions
):
    """The page's order travels in the inbox entry: a Firebase answer made before one the student
    already sent over HTTP does not overwrite it (issue 12)."""
    question = questions["multiple_choice"]
    newer = InboxEntry(
        live_session.pk,
        f"student-{student.pk}",
        "newer",
        {"question_id": question.pk, "answer": {"choices": [2]}, "order": 20},
    )
    older = InboxEntry(
        live_session.pk,
        f"student-{student.pk}",
        "older",
        {"question_id": question.pk, "answer": {"choices": [0]}, "order": 10},
    )
    assert services.ingest_inbox_entry(newer)["status"] == "stored"
    ack = services.ingest_inbox_entry(older)
    assert ack["status"] == "superseded"
    assert ack["answer"] == {"choices": [2]}
    assert Response.objects.get(student=student).answer == {"choices": [2]}
    refused = services.ingest_inbox_entry(
        InboxEntry(
            live_session.pk,
            f"student-{student.pk}",
            "bad",
            {"question_id": question.pk, "answer": {"choices": [1]}, "order": -5},
        )
    )
    assert (refused["status"], refused["field"]) == ("refused", "order")
