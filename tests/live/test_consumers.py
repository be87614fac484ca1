"""WebSockets against the real ASGI application, for every role, through WebsocketCommunicator."""

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.services import issue_api_token
from live import documents
from live import services as live_services
from peardeck.asgi import application
from responses.models import Response
from runtime import broadcast
from tests.support.classroom import ALL_KIND_QUESTIONS, join_students, open_session

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]


@pytest.fixture
def classroom(teacher, deck):
    session, projector_key = open_session(teacher, deck)
    names = ("Arnold", "Wanda")
    students = dict(zip(names, join_students(session, names), strict=True))
    _token, teacher_token = issue_api_token(user=teacher, name="ws")
    questions = {q.kind: q for q in deck.questions.all()}
    return {
        "session": session,
        "projector_key": projector_key,
        "students": students,
        "teacher_token": teacher_token,
        "questions": questions,
    }


async def connect(path: str, headers=ORIGIN, subprotocols=None) -> tuple[WebsocketCommunicator, dict]:
    communicator = WebsocketCommunicator(application, path, headers=headers, subprotocols=subprotocols)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    first = await communicator.receive_json_from(timeout=5)
    return communicator, first


def url(session, role, token="", since=None):
    query = f"?token={token}" if token else ""
    if since is not None:
        query += ("&" if query else "?") + f"since={since}"
    return f"/ws/sessions/{session.join_code}/{role}/{query}"


async def receive_until(communicator, kind: str, timeout: float = 5.0) -> dict:
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == kind:
            return message


async def drain(communicator, seconds: float = 0.6) -> list[dict]:
    """Everything that arrives until `seconds` pass in silence (a plain receive timeout would
    cancel the application under test)."""
    messages = []
    while not await communicator.receive_nothing(timeout=seconds):
        messages.append(await communicator.receive_json_from())
    return messages


async def test_a_student_connects_and_is_greeted_with_their_state(classroom):
    _student, token = classroom["students"]["Arnold"]
    communicator, hello = await connect(url(classroom["session"], "student", token))
    assert hello["type"] == "hello"
    assert hello["role"] == "student"
    assert hello["state"]["student"]["display_name"] == "Arnold"
    assert "correct" not in hello["state"]["question"]["config"]
    assert hello["seq"] == hello["state"]["seq"]
    await communicator.disconnect()


async def test_a_token_can_come_as_a_subprotocol(classroom):
    _student, token = classroom["students"]["Arnold"]
    communicator = WebsocketCommunicator(
        application,
        url(classroom["session"], "student"),
        headers=ORIGIN,
        subprotocols=["peardeck.v1", f"token.{token}"],
    )
    connected, subprotocol = await communicator.connect(timeout=5)
    assert connected
    assert subprotocol == "peardeck.v1"
    assert (await communicator.receive_json_from())["type"] == "hello"
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("who", "expected_close"),
    [("bad token", 4401), ("other session", 4404), ("removed", 4403), ("no token", 4401), ("bad role", 4400)],
)
async def test_refused_connections_are_closed_with_a_reason(classroom, teacher, deck, who, expected_close):
    session = classroom["session"]
    _student, token = classroom["students"]["Arnold"]
    role = "student"
    if who == "bad token":
        token = "pds_" + "x" * 32
    elif who == "other session":
        other, _ = await database_sync_to_async(live_services.create_session)(teacher=teacher, deck=deck)
        _outsider, token = await database_sync_to_async(live_services.join_session)(
            join_code=other.join_code, display_name="Out"
        )
    elif who == "removed":
        student = classroom["students"]["Arnold"][0]
        await database_sync_to_async(live_services.remove_student)(session=session, student_id=student.pk)
    elif who == "no token":
        token = ""
    elif who == "bad role":
        role = "principal"
    communicator, first = await connect(url(session, role, token))
    assert first["type"] == "refused"
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": expected_close}


async def test_a_foreign_origin_is_refused(classroom):
    _student, token = classroom["students"]["Arnold"]
    communicator = WebsocketCommunicator(
        application,
        url(classroom["session"], "student", token),
        headers=[(b"origin", b"https://evil.example")],
    )
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_another_teacher_cannot_watch_the_session(classroom, other_teacher):
    _t, token = await database_sync_to_async(issue_api_token)(user=other_teacher, name="ws")
    communicator, first = await connect(url(classroom["session"], "teacher", token))
    assert first["type"] == "refused"
    assert (await communicator.receive_output(timeout=5))["code"] == 4404


async def test_the_projector_needs_the_current_key(classroom):
    session = classroom["session"]
    communicator, hello = await connect(url(session, "projector", classroom["projector_key"]))
    assert hello["type"] == "hello"
    assert hello["state"]["join_code"] == session.join_code
    await communicator.disconnect()
    new_key = await database_sync_to_async(live_services.rotate_projector_key)(session=session)
    _stale, first = await connect(url(session, "projector", classroom["projector_key"]))
    assert first["type"] == "refused"
    fresh, hello = await connect(url(session, "projector", new_key))
    assert hello["type"] == "hello"
    await fresh.disconnect()


async def test_the_next_question_reaches_every_role_with_its_seq(classroom):
    session = classroom["session"]
    _s, token = classroom["students"]["Arnold"]
    student, _ = await connect(url(session, "student", token))
    teacher, teacher_hello = await connect(url(session, "teacher", classroom["teacher_token"]))
    projector, _ = await connect(url(session, "projector", classroom["projector_key"]))
    await database_sync_to_async(live_services.step_question)(session=session, step=1)
    for communicator in (student, teacher, projector):
        event = await receive_until(communicator, "question_changed")
        assert event["seq"] == teacher_hello["seq"] + 1
        assert event["question"]["kind"] == ALL_KIND_QUESTIONS[1]["kind"]
        await communicator.disconnect()


async def test_a_student_answers_over_the_socket_and_the_teacher_gets_a_coalesced_tally(classroom):
    session = classroom["session"]
    question = classroom["questions"]["multiple_choice"]
    teacher, _ = await connect(url(session, "teacher", classroom["teacher_token"]))
    sockets = {}
    for name, (_student, token) in classroom["students"].items():
        sockets[name], _ = await connect(url(session, "student", token))
    for index, (name, communicator) in enumerate(sockets.items()):
        body = {
            "type": "submit",
            "question_id": question.pk,
            "submission_id": f"ws-{name}",
            "answer": {"choices": [index]},
        }
        await communicator.send_json_to(body)
        reply = await receive_until(communicator, "submitted")
        assert reply["version"] == 1
        assert reply["duplicate"] is False
    # The same submission again (a reconnect replaying its queue) is one submission.
    await sockets["Arnold"].send_json_to(
        {
            "type": "submit",
            "question_id": question.pk,
            "submission_id": "ws-Arnold",
            "answer": {"choices": [0]},
        }
    )
    assert (await receive_until(sockets["Arnold"], "submitted"))["duplicate"] is True
    counts = None
    for _ in range(5):
        tallies = await receive_until(teacher, "tallies")
        counts = next(t for t in tallies["tallies"] if t["question_id"] == question.pk)["counts"]
        if sum(counts) == 2:
            break
    assert counts == [1, 1, 0]
    assert await database_sync_to_async(Response.objects.filter(source="ws").count)() == 2
    for communicator in (teacher, *sockets.values()):
        await communicator.disconnect()


async def test_tally_events_reach_only_the_teacher_and_the_projector_never_a_students_socket(
    classroom, monkeypatch
):
    """A tally event sent to the whole session woke every student socket just to be dropped
    there: in a class of 4,092 that was 97% of a web worker's time (py-spy, bench/burst)."""
    session = classroom["session"]
    question = classroom["questions"]["multiple_choice"]
    layer = get_channel_layer()
    delivered = []  # (channel, event type) of every session event the layer hands a socket
    real_send = layer.send

    async def send(channel, message):
        if message.get("type") == "session.event":
            delivered.append((channel, message["event"]["type"]))
        return await real_send(channel, message)

    monkeypatch.setattr(layer, "send", send)
    teacher, _ = await connect(url(session, "teacher", classroom["teacher_token"]))
    projector, _ = await connect(url(session, "projector", classroom["projector_key"]))
    students = [
        (await connect(url(session, "student", token)))[0]
        for _student, token in classroom["students"].values()
    ]
    await students[0].send_json_to(
        {"type": "submit", "question_id": question.pk, "submission_id": "only", "answer": {"choices": [1]}}
    )
    await receive_until(students[0], "submitted")
    await receive_until(teacher, "tallies")
    await receive_until(projector, "tallies")
    await drain(teacher)
    tally_receivers = {channel for channel, kind in delivered if kind == "tallies"}
    assert len(tally_receivers) == 2  # the dashboard and the projector, no student
    watchers = set(layer.groups[broadcast.watchers_group_name(session.pk)])
    assert tally_receivers == watchers
    assert len(layer.groups[broadcast.group_name(session.pk)]) == 4  # everyone still hears the class
    for communicator in (teacher, projector, *students):
        await communicator.disconnect()


async def test_a_bad_answer_over_the_socket_is_an_error_naming_the_field(classroom):
    session = classroom["session"]
    _s, token = classroom["students"]["Arnold"]
    student, _ = await connect(url(session, "student", token))
    question = classroom["questions"]["multiple_choice"]
    await student.send_json_to(
        {"type": "submit", "question_id": question.pk, "submission_id": "bad", "answer": {"choices": [9]}}
    )
    error = await receive_until(student, "error")
    assert error["code"] == "invalid_answer"
    assert error["field"] == "answer.choices"
    assert error["submission_id"] == "bad"
    await student.send_to(text_data="{not json")
    assert (await receive_until(student, "error"))["code"] == "malformed_json"
    await student.disconnect()


async def test_the_projector_never_receives_a_name_or_an_unrevealed_result(classroom):
    session = classroom["session"]
    question = classroom["questions"]["multiple_choice"]
    projector, hello = await connect(url(session, "projector", classroom["projector_key"]))
    received = [hello]
    _s, token = classroom["students"]["Arnold"]
    student, _ = await connect(url(session, "student", token))
    await database_sync_to_async(live_services.join_session)(
        join_code=session.join_code, display_name="Keesha Franklin"
    )
    await student.send_json_to(
        {"type": "submit", "question_id": question.pk, "submission_id": "p1", "answer": {"choices": [1]}}
    )
    received += await drain(projector, 0.8)
    leaked = [m for m in received if m["type"] == "tallies" and m["tallies"]]
    assert not leaked, "results leaked before reveal"
    await database_sync_to_async(live_services.flag_question)(session=session, action="reveal")
    received += await drain(projector, 0.8)
    revealed = next(message for message in received if message["type"] == "results_revealed")
    assert revealed["tally"]["counts"] == [0, 1, 0]
    text = json.dumps(received)
    for name in ("Arnold", "Wanda", "Keesha", "display_name"):
        assert name not in text
    assert "student_id" not in text
    assert any(message["type"] == "student_count" and message["students"] == 3 for message in received)
    await projector.disconnect()
    await student.disconnect()


async def test_a_student_never_receives_another_students_answer_or_name(classroom):
    session = classroom["session"]
    question = classroom["questions"]["multiple_choice"]
    _a, arnold_token = classroom["students"]["Arnold"]
    _w, wanda_token = classroom["students"]["Wanda"]
    arnold, hello = await connect(url(session, "student", arnold_token))
    wanda, _ = await connect(url(session, "student", wanda_token))
    await wanda.send_json_to(
        {"type": "submit", "question_id": question.pk, "submission_id": "w1", "answer": {"choices": [2]}}
    )
    await receive_until(wanda, "submitted")
    await database_sync_to_async(live_services.join_session)(
        join_code=session.join_code, display_name="Dorothy Ann"
    )
    await database_sync_to_async(live_services.flag_question)(session=session, action="reveal")
    received = [hello, *await drain(arnold, 0.8)]
    text = json.dumps(received)
    assert "Wanda" not in text and "Dorothy" not in text
    assert not any(message["type"] in {"tallies"} for message in received)
    assert all("responses" not in message for message in received)
    # Every seq-bumping event arrived in some form: no gap in what Arnold saw.
    seqs = [message["seq"] for message in received if "seq" in message]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    await arnold.disconnect()
    await wanda.disconnect()


async def test_a_removed_student_is_told_and_disconnected(classroom):
    session = classroom["session"]
    student, token = classroom["students"]["Arnold"]
    communicator, _ = await connect(url(session, "student", token))
    await database_sync_to_async(live_services.remove_student)(session=session, student_id=student.pk)
    assert (await receive_until(communicator, "removed"))["type"] == "removed"
    assert (await communicator.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4403}


async def test_a_client_that_missed_events_ends_with_the_same_state_as_a_fresh_fetch(classroom, client):
    session = classroom["session"]
    _s, token = classroom["students"]["Arnold"]
    communicator, hello = await connect(url(session, "student", token))
    last_seq = hello["seq"]
    await communicator.disconnect()
    # While it is away: the class moves on twice and the question is locked.
    await database_sync_to_async(live_services.step_question)(session=session, step=1)
    await database_sync_to_async(live_services.step_question)(session=session, step=1)
    await database_sync_to_async(live_services.flag_question)(session=session, action="lock")
    again, hello = await connect(url(session, "student", token, since=last_seq))
    assert hello["seq"] == last_seq + 3
    fresh = await database_sync_to_async(
        lambda: client.get("/api/student/state", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    )()
    assert hello["state"] == fresh
    # Asking with the current versions says "nothing new", with an old one sends the state; and
    # so does asking with a seq alone (it says nothing of the answers this role sees).
    current = {"seq": hello["seq"], "answers_seq": hello["answers_seq"]}
    await again.send_json_to({"type": "sync", **current})
    assert (await receive_until(again, "in_sync"))["seq"] == hello["seq"]
    await again.send_json_to({"type": "sync", **current, "seq": last_seq})
    assert (await receive_until(again, "state"))["state"] == fresh
    await again.send_json_to({"type": "sync", "seq": hello["seq"]})
    assert (await receive_until(again, "state"))["state"] == fresh
    await again.disconnect()
    path = url(session, "student", token, since=fresh["seq"])
    unchanged, hello = await connect(f"{path}&answers_since={fresh['answers_seq']}")
    assert hello["state"] is None
    await unchanged.disconnect()


async def test_a_teacher_logged_in_through_the_browser_connects_with_the_session_cookie(classroom, client):
    await database_sync_to_async(client.login)(username="ms-frizzle", password="magic-school-bus-42")
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator, hello = await connect(
        url(classroom["session"], "teacher"), headers=[*ORIGIN, (b"cookie", cookie)]
    )
    assert hello["type"] == "hello"
    assert [s["display_name"] for s in hello["state"]["students"]] == ["Arnold", "Wanda"]
    await communicator.disconnect()


# --- convergence (issue 12): subscribe before reading, every version compared on reconnect ------


async def test_a_lock_committed_while_a_student_connects_reaches_them_in_the_hello_or_after_it(
    classroom, monkeypatch
):
    """The socket joins its group before it reads its hello: a change that commits between the
    read and the join is not lost. The lock below commits right after the hello's state is read."""
    session = classroom["session"]
    _student, token = classroom["students"]["Arnold"]
    real_student_view = documents.student_view
    locked_during_read = []

    def student_view_then_lock(student):
        view = real_student_view(student)
        if not locked_during_read:
            locked_during_read.append(live_services.flag_question(session=session, action="lock"))
            time.sleep(0.3)  # the lock's event goes out now, while this socket is still connecting
        return view

    monkeypatch.setattr(documents, "student_view", student_view_then_lock)
    communicator, hello = await connect(url(session, "student", token))
    assert locked_during_read
    assert hello["state"]["locked"] is False  # read before the lock committed
    locked = await receive_until(communicator, "question_locked", timeout=3)
    assert locked["seq"] == hello["seq"] + 1
    await communicator.disconnect()


async def answer_over_http(token: str, question_id: int, submission_id: str, answer: dict, **extra):
    response = await database_sync_to_async(Client().post)(
        "/api/student/responses",
        json.dumps({"question_id": question_id, "submission_id": submission_id, "answer": answer, **extra}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


async def test_a_dashboard_that_reconnects_with_since_gets_the_answers_given_while_it_was_away(classroom):
    session = classroom["session"]
    question = classroom["questions"]["multiple_choice"]
    teacher, hello = await connect(url(session, "teacher", classroom["teacher_token"]))
    assert hello["answers_seq"] == hello["state"]["answers_seq"]
    await teacher.disconnect()
    _arnold, token = classroom["students"]["Arnold"]
    await answer_over_http(token, question.pk, "away-1", {"choices": [2]})

    path = url(session, "teacher", classroom["teacher_token"], since=hello["seq"])
    again, back = await connect(f"{path}&answers_since={hello['answers_seq']}")
    assert back["seq"] == hello["seq"]  # no session change: only answers came in
    assert back["answers_seq"] > hello["answers_seq"]
    assert back["state"] is not None, "the hello said 'unchanged' though an answer came in"
    tally = next(t for t in back["state"]["tallies"] if t["question_id"] == question.pk)
    assert tally["counts"] == [0, 0, 1]
    # sync compares both versions too: the old answers version is behind, the new one in sync.
    await again.send_json_to({"type": "sync", "seq": hello["seq"], "answers_seq": hello["answers_seq"]})
    assert (await receive_until(again, "state"))["state"]["tallies"] == back["state"]["tallies"]
    await again.send_json_to({"type": "sync", "seq": back["seq"], "answers_seq": back["answers_seq"]})
    assert (await receive_until(again, "in_sync"))["answers_seq"] == back["answers_seq"]
    await again.disconnect()
    unchanged, same = await connect(
        f"{url(session, 'teacher', classroom['teacher_token'], since=back['seq'])}"
        f"&answers_since={back['answers_seq']}"
    )
    assert same["state"] is None
    await unchanged.disconnect()


async def test_a_projector_that_reconnects_with_since_gets_the_revealed_results_that_changed(classroom):
    session = classroom["session"]
    question = classroom["questions"]["multiple_choice"]
    await database_sync_to_async(live_services.flag_question)(session=session, action="reveal")
    projector, hello = await connect(url(session, "projector", classroom["projector_key"]))
    await projector.disconnect()
    _arnold, token = classroom["students"]["Arnold"]
    await answer_over_http(token, question.pk, "away-2", {"choices": [1]})
    path = url(session, "projector", classroom["projector_key"], since=hello["seq"])
    again, back = await connect(f"{path}&answers_since={hello['answers_seq']}")
    assert back["state"] is not None
    assert back["state"]["tally"]["counts"] == [0, 1, 0]
    await again.disconnect()


async def test_an_older_answer_that_arrives_after_a_newer_one_is_superseded_and_the_newer_stays(classroom):
    """Answer A went out first on a slow socket, B after it over HTTP: B arrives first. A must not
    overwrite B (issue 12: B acked as version 1, A as version 2, and A stayed)."""
    session = classroom["session"]
    question = classroom["questions"]["multiple_choice"]
    _arnold, token = classroom["students"]["Arnold"]
    socket, _hello = await connect(url(session, "student", token))
    order_a, order_b = 1_733_328_000_000_001, 1_733_328_000_000_002
    b = await answer_over_http(token, question.pk, "b", {"choices": [2]}, order=order_b)
    assert b["superseded"] is False
    await socket.send_json_to(
        {
            "type": "submit",
            "question_id": question.pk,
            "submission_id": "a",
            "answer": {"choices": [0]},
            "order": order_a,
        }
    )
    a = await receive_until(socket, "submitted")
    assert a["superseded"] is True
    assert a["answer"] == {"choices": [2]}  # what the server holds: B
    assert a["version"] == b["version"]
    stored = await database_sync_to_async(Response.objects.get)(question=question, student=_arnold)
    assert stored.answer == {"choices": [2]}
    # A newer answer still replaces it, whichever way it comes.
    await socket.send_json_to(
        {
            "type": "submit",
            "question_id": question.pk,
            "submission_id": "c",
            "answer": {"choices": [1]},
            "order": order_b + 1,
        }
    )
    c = await receive_until(socket, "submitted")
    assert (c["superseded"], c["answer"]) == (False, {"choices": [1]})
    await socket.disconnect()


async def test_removing_a_student_takes_their_answers_out_of_the_tallies_under_a_new_answers_version(
    classroom,
):
    session = classroom["session"]
    question = classroom["questions"]["multiple_choice"]
    arnold, token = classroom["students"]["Arnold"]
    await answer_over_http(token, question.pk, "gone-1", {"choices": [1]})
    # Let that answer's round go out first: it runs on a loop of its own until a socket binds this one.
    await asyncio.to_thread(broadcast.quiesce)
    teacher, hello = await connect(url(session, "teacher", classroom["teacher_token"]))
    before = hello["answers_seq"]
    await database_sync_to_async(live_services.remove_student)(session=session, student_id=arnold.pk)
    event = await receive_until(teacher, "tallies")
    while [before, before + 1] not in event["covers"]:  # the answer's own round may come first
        event = await receive_until(teacher, "tallies")
    assert event["answers_seq"] == before + 1
    tally = next(t for t in event["tallies"] if t["question_id"] == question.pk)
    assert (tally["counts"], tally["answered"]) == ([0, 0, 0], 0)
    await teacher.disconnect()
