"""A round of dashboard updates (runtime/broadcast.py) builds the tallies of every class that was
answered from one snapshot, in the same few queries whether one class answered or twenty."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from live import services as live_services
from responses.selectors import tally_events
from responses.services import submit_response
from sessions.models import Session
from tests.support.classroom import ONE_CHOICE_QUESTION, join_students, make_deck, open_session


def answered_classes(teacher, count: int) -> dict[int, set]:
    """`count` live classes of three students who all answered; what each round is handed."""
    deck = make_deck(teacher, title="One question", questions=ONE_CHOICE_QUESTION)
    changed = {}
    for number in range(count):
        session, _key = open_session(teacher, deck)
        items = set()
        for n, (student, _token) in enumerate(join_students(session, ["Ada", "Bo", "Cy"])):
            submitted = submit_response(
                student=student,
                question_id=session.current_question_id,
                submission_id=f"c{number}-{n}",
                answer={"choices": [n % 2]},
                source="ws",
            )
            items.add((submitted.response.question_id, student.pk))
        items.add(("covers", 0, 3))
        changed[session.pk] = items
    return changed


def test_a_tally_round_runs_as_many_queries_for_twenty_classes_as_for_one(teacher):
    changed = answered_classes(teacher, 20)
    first = next(iter(changed))
    with CaptureQueriesContext(connection) as one:
        tally_events({first: changed[first]})
    with CaptureQueriesContext(connection) as twenty:
        events = tally_events(changed)
    assert len(twenty) == len(one) <= 5
    assert set(events) == set(changed)
    for event in events.values():
        [tally] = event["tallies"]
        assert (tally["answered"], tally["counts"], tally["students"]) == (3, [2, 1, 0, 0], 3)
        assert event["answers_seq"] == 3 and event["covers"] == [[0, 3]]
        assert len(event["responses"]) == 3


def test_a_removed_students_answer_leaves_the_tally(teacher):
    changed = answered_classes(teacher, 1)
    [(session_id, items)] = changed.items()
    student_id = next(item[1] for item in items if item[0] != "covers")
    session = Session.objects.get(pk=session_id)
    live_services.remove_student(session=session, student_id=student_id)
    [tally] = tally_events(changed)[session_id]["tallies"]
    assert (tally["answered"], tally["students"]) == (2, 2)
