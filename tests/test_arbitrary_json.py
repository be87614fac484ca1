"""Property-based: arbitrary JSON thrown at every answer kind, through HTTP, the WebSocket and the
Firebase intake (issue 14). Whatever comes, no 5xx, no socket dropped without an error frame, no
exception out of the worker's intake; and afterwards the teacher's dashboard, tallies, reveal and
CSV export still work on what was stored. The values are deep, huge, oddly numbered and oddly
written (NUL, lone surrogates, every Unicode category); examples are bounded so that the suite
stays fast. Run in both passes; the PostgreSQL one is where NUL and 309-digit numbers bite.
"""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations import firebase
from mirror.services import InboxEntry, ingest_inbox_entry
from sessions import services
from tests.conftest import Api
from tests.support.classroom import join_students, open_session

ANSWERABLE = ["multiple_choice", "text", "number", "draggable", "drawing"]
STUDENTS = 6
EXAMPLES = 15

# Each strategy picks one of its branches about equally often, so the nastiest values come often.
SPECIAL_TEXT = st.sampled_from(
    ["a\x00b", "\ud800", "x\udfff\ud800", "\x00", "\u212aate", "\u0130", "\u202e", "=1+1"]
)
ODD_TEXT = st.one_of(
    SPECIAL_TEXT,
    st.text(alphabet=st.characters(exclude_categories=()), max_size=30),  # surrogates, controls...
)
ODD_NUMBERS = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, -0.0, 0.5]),
    st.sampled_from([2**63, 2**53 + 1, 10**308, 0, 1, 2, 9, 10]),
)
SCALARS = st.one_of(st.none(), st.booleans(), ODD_NUMBERS, ODD_TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(ODD_TEXT, inner, max_size=5)),
    max_leaves=20,
)


@st.composite
def deep(draw, leaf=JSON):
    """A value under 0-300 levels of lists and objects (the reader stops at 32)."""
    value = draw(leaf)
    for level in range(draw(st.integers(0, 300))):
        value = [value] if level % 2 else {"k": value}
    return value


@st.composite
def answers(draw, kind: str):
    """Mostly near misses for the kind (its own keys with odd values), sometimes anything."""
    near_misses = {
        "multiple_choice": lambda: {"choices": draw(st.one_of(st.lists(ODD_NUMBERS, max_size=12), JSON))},
        "text": lambda: {
            "text": draw(st.one_of(ODD_TEXT, st.sampled_from([1, 5001, 70_000, 600_000]).map("y".__mul__)))
        },
        "number": lambda: {"value": draw(ODD_NUMBERS)},
        "draggable": lambda: {"x": draw(ODD_NUMBERS), "y": draw(ODD_NUMBERS)},
        "drawing": lambda: {
            "strokes": draw(
                st.one_of(
                    st.lists(
                        st.fixed_dictionaries(
                            {"points": st.lists(st.lists(ODD_NUMBERS, max_size=3), max_size=8)},
                            optional={"color": ODD_TEXT, "width": ODD_NUMBERS},
                        ),
                        max_size=3,
                    ),
                    st.just(json.dumps([{"points": [[0.1, 0.2], [0.3, 0.4]]}])),  # Firebase's form
                    deep(),
                )
            )
        },
    }
    if draw(st.integers(0, 4)) == 0:
        return draw(st.one_of(JSON, deep()))
    return near_misses[kind]()


def body_text(question_id, submission_id, answer) -> str:
    # allow_nan writes NaN and Infinity literals, as a careless client would.
    return json.dumps(
        {"question_id": question_id, "submission_id": submission_id, "answer": answer}, allow_nan=True
    )


@pytest.fixture
def classroom(teacher, deck, teacher_api):
    session, _projector_key = open_session(teacher, deck, pacing="student")
    # Unbounded numbers too, so that ±1e308 are stored, not refused.
    services.add_question(deck=deck, kind="number", prompt="Anything?", config={})
    questions = {}
    for question in deck.questions.all():
        questions.setdefault(question.kind, []).append(question)
    students = join_students(session, [f"Student {n}" for n in range(STUDENTS)])
    return {"session": session, "questions": questions, "students": students, "teacher_api": teacher_api}


def assert_the_dashboard_still_works(classroom) -> None:
    teacher_api, session = classroom["teacher_api"], classroom["session"]
    for path in (
        f"/api/sessions/{session.pk}",
        f"/api/sessions/{session.pk}/tallies",
        f"/api/sessions/{session.pk}/responses",
        f"/api/sessions/{session.pk}/export.csv",
    ):
        assert teacher_api.get(path).status_code == 200, path
    for kind in ANSWERABLE:
        for question in classroom["questions"][kind]:
            shown = teacher_api.post(f"/api/sessions/{session.pk}/reveal", {"question_id": question.pk})
            assert shown.status_code == 200
    tallies = teacher_api.get(f"/api/sessions/{session.pk}/tallies").json()["tallies"]
    assert {t["kind"] for t in tallies} == set(ANSWERABLE)


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


# Tried first, every run, for each kind: the values that broke something once (issue 14).
NASTY = {
    "multiple_choice": [{"choices": [2**63]}, {"choices": [-1]}, {"choices": "a\x00b"}, {"choices": [1e308]}],
    "text": [{"text": "a\x00b"}, {"text": "\ud800"}, {"text": "\x00"}, {"text": "y" * 600_000}],
    "number": [{"value": 1e308}, {"value": -1e308}, {"value": 1.7976931348623157e308}, {"value": 10**308}],
    "draggable": [{"x": 1e308, "y": -0.0}, {"x": 0.5, "y": "\x00"}],
    "drawing": [
        {"strokes": "[" * 40 + "]" * 40},
        {"strokes": [{"points": [[1e308, 0.5]]}]},
        {"strokes": [{"points": [[0.5, 0.5]], "color": "\x00"}]},
        {"strokes": [{"points": [[0.5, 0.5]] * 30_000}]},
    ],
}


def _questions_and_students(classroom, kind):
    """Each of the kind's questions with each student moved to it (the session is student-paced),
    so that every nasty value is stored side by side with the others."""
    for question in classroom["questions"][kind]:
        for index, (student, token) in enumerate(classroom["students"]):
            Api(token).post("/api/student/move", {"question_id": question.pk})
            yield question, student, token, NASTY[kind][index % len(NASTY[kind])]


def _question_and_student(classroom, data, kind):
    """One of the kind's questions, and a student moved to it."""
    question = data.draw(st.sampled_from(classroom["questions"][kind]))
    index = data.draw(st.integers(0, STUDENTS - 1))
    student, token = classroom["students"][index]
    Api(token).post("/api/student/move", {"question_id": question.pk})
    return question, student, token


def _tallies_still_work(classroom) -> None:
    session = classroom["session"]
    assert classroom["teacher_api"].get(f"/api/sessions/{session.pk}/tallies").status_code == 200


def _over_http(token: str, raw: str) -> None:
    answered = Api(token).post("/api/student/responses", raw=raw)  # Api asserts no 5xx
    assert answered.status_code in {200, 201, 400, 404, 409, 413, 422}, answered.content[:300]
    assert answered.status_code in {200, 201} or "error" in answered.json()


@pytest.mark.parametrize("kind", ANSWERABLE)
@pytest.mark.django_db
def test_arbitrary_json_over_http_is_never_a_5xx_and_the_dashboard_survives_it(classroom, kind):
    for question, _student, token, answer in _questions_and_students(classroom, kind):
        _over_http(token, body_text(question.pk, "nasty", answer))
        _tallies_still_work(classroom)

    @SETTINGS
    @given(data=st.data())
    def throw(data):
        question, _student, token = _question_and_student(classroom, data, kind)
        submission_id = data.draw(st.text("ab12", min_size=1, max_size=8))
        raw = data.draw(
            st.one_of(
                answers(kind).map(lambda answer: body_text(question.pk, submission_id, answer)),
                answers(kind).map(lambda answer: body_text(question.pk, submission_id, answer)),
                deep(st.just(1)).map(json.dumps),
                st.sampled_from(["[" * 20_000, '{"question_id": 1e999}', "NaN", '"\\ud800"', "{}", ""]),
            )
        )
        _over_http(token, raw)
        _tallies_still_work(classroom)

    throw()
    assert_the_dashboard_still_works(classroom)


def _through_firebase(classroom, student, submission_id: str, value) -> None:
    ack = ingest_inbox_entry(
        InboxEntry(classroom["session"].pk, firebase.student_uid(student.pk), submission_id, value)
    )
    assert ack["status"] in {"stored", "refused"}
    # The worker writes it as is to Firebase: JSON without NaN, in valid Unicode.
    json.dumps(ack, allow_nan=False).encode("utf-8")


@pytest.mark.parametrize("kind", ANSWERABLE)
@pytest.mark.django_db
def test_arbitrary_json_through_the_firebase_intake_is_acknowledged_never_raised(classroom, kind):
    for question, student, _token, answer in _questions_and_students(classroom, kind):
        _through_firebase(classroom, student, "nasty", {"question_id": question.pk, "answer": answer})
        _tallies_still_work(classroom)

    @SETTINGS
    @given(data=st.data())
    def throw(data):
        question, student, _token = _question_and_student(classroom, data, kind)
        value = data.draw(
            st.one_of(
                answers(kind).map(lambda answer: {"question_id": question.pk, "answer": answer, "at": 1}),
                answers(kind).map(lambda answer: {"question_id": question.pk, "answer": answer}),
                st.fixed_dictionaries({"question_id": ODD_NUMBERS, "answer": JSON}),
                JSON,
            )
        )
        _through_firebase(classroom, student, data.draw(st.text("abc123:_-", min_size=1, max_size=10)), value)
        _tallies_still_work(classroom)

    throw()
    assert_the_dashboard_still_works(classroom)


ORIGIN = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]


async def _one_frame(join_code: str, token: str, frame: str) -> tuple[dict, dict]:
    """Sends one frame on a fresh student socket; returns the reply and the answer to a ping after
    it (which shows the socket is still open)."""
    from peardeck.asgi import application

    communicator = WebsocketCommunicator(
        application, f"/ws/sessions/{join_code}/student/?token={token}", headers=ORIGIN
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    hello = await communicator.receive_json_from(timeout=10)
    assert hello["type"] == "hello"
    try:
        await communicator.send_to(text_data=frame)
        reply = await _next_reply(communicator)
        await communicator.send_json_to({"type": "ping"})
        pong = await _next_reply(communicator)
    finally:
        await communicator.disconnect()
    return reply, pong


async def _next_reply(communicator) -> dict:
    while True:
        output = await communicator.receive_output(timeout=10)
        assert output["type"] == "websocket.send", f"the socket was closed: {output}"
        message = json.loads(output["text"])
        if message["type"] not in {"tallies", "seq", "student_count"}:
            return message


def _over_the_socket(classroom, token: str, frame: str) -> None:
    reply, pong = async_to_sync(_one_frame)(classroom["session"].join_code, token, frame)
    assert reply["type"] in {"submitted", "error", "state", "in_sync", "pong"}, reply
    if reply["type"] == "error":
        assert reply["code"] and reply["message"]
    assert pong == {"type": "pong"}


def _submit_frame(question, answer) -> str:
    body = {"type": "submit", "question_id": question.pk, "submission_id": "w1", "answer": answer}
    return json.dumps(body, allow_nan=True)


@pytest.mark.parametrize("kind", ANSWERABLE)
@pytest.mark.django_db(transaction=True)
def test_arbitrary_frames_over_the_websocket_get_an_error_frame_and_the_socket_stays_open(classroom, kind):
    for question, _student, token, answer in _questions_and_students(classroom, kind):
        _over_the_socket(classroom, token, _submit_frame(question, answer))
        _tallies_still_work(classroom)

    @SETTINGS
    @given(data=st.data())
    def throw(data):
        question, _student, token = _question_and_student(classroom, data, kind)
        frame = data.draw(
            st.one_of(
                answers(kind).map(lambda answer: _submit_frame(question, answer)),
                JSON.map(lambda value: json.dumps(value, allow_nan=True)),
                deep(st.just({"type": "submit"})).map(json.dumps),
                st.sampled_from(
                    ["[" * 20_000, "not json", '{"type": "sync", "seq": 1e999}', '{"type": "\\u0000"}']
                ),
            )
        )
        _over_the_socket(classroom, token, frame)
        _tallies_still_work(classroom)

    throw()
    assert_the_dashboard_still_works(classroom)
